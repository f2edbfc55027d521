// The initrd: a ustar archive that GRUB loads as a multiboot2 module. Each regular
// file is a program the monitor can run, under its file name.
#include "kernel.h"
#include "loader.h"
#include "spinlock.h"

#define TAR_BLOCK 512

struct ustar {
	char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], chksum[8];
	char type, linkname[100], magic[6], version[2], uname[32], gname[32];
	char devmajor[8], devminor[8], prefix[155], pad[12];
};
_Static_assert(sizeof(struct ustar) == TAR_BLOCK, "ustar header");

static const u8 *tar;
static size_t tar_len;
// The archive is read-only; the lock keeps one walker at a time, so a bad header is
// reported once per walk and not interleaved.
static struct spinlock initrd_lock = SPINLOCK_INIT("initrd");

// Parse an octal field; -1 when it holds anything but octal digits.
static s64
octal(const char *f, size_t n)
{
	s64 v = 0;
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++)
		v = v * 8 + (f[i] - '0');
	if (i < n && f[i] != 0 && f[i] != ' ')
		return -1;
	return v;
}

static int
header_ok(const struct ustar *h)
{
	u64 sum = 0;
	const u8 *b = (const u8 *)h;
	for (int i = 0; i < TAR_BLOCK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : b[i];
	return memcmp(h->magic, "ustar", 5) == 0 && octal(h->chksum, 8) == (s64)sum;
}

// Walk the archive; fn returns nonzero to stop. Stops at the end marker or at the
// first malformed header (reported once).
static const struct ustar *
walk(int (*fn)(const struct ustar *, const u8 *, size_t, void *), void *arg)
{
	size_t off = 0;
	while (off + TAR_BLOCK <= tar_len) {
		const struct ustar *h = (const void *)(tar + off);
		if (h->name[0] == 0)
			return NULL;
		s64 size = octal(h->size, 12);
		if (!header_ok(h) || size < 0 || (u64)size > tar_len - off - TAR_BLOCK) {
			klog("initrd-error offset=%lu reason=\"bad header\"", off);
			return NULL;
		}
		if ((h->type == '0' || h->type == 0) && fn(h, tar + off + TAR_BLOCK, size, arg))
			return h;
		off += TAR_BLOCK + ALIGN_UP((u64)size, TAR_BLOCK);
	}
	return NULL;
}

static const char *
base_name(const struct ustar *h)
{
	const char *n = h->name;
	if (n[0] == '.' && n[1] == '/')
		n += 2;
	return n;
}

void
initrd_init(u64 start, u64 end)
{
	tar = P2V(start);
	tar_len = end - start;
}

int
initrd_present(void)
{
	return tar != NULL;
}

struct find {
	const char *name;
	const u8 *data;
	size_t size;
};

static int
match(const struct ustar *h, const u8 *data, size_t size, void *arg)
{
	struct find *f = arg;
	if (strnlen(h->name, 100) == 100 || strcmp(base_name(h), f->name) != 0)
		return 0;
	f->data = data;
	f->size = size;
	return 1;
}

const void *
initrd_find(const char *name, size_t *size)
{
	struct find f = { name, NULL, 0 };
	u64 flags = spin_lock(&initrd_lock);
	const struct ustar *h = tar ? walk(match, &f) : NULL;
	spin_unlock(&initrd_lock, flags);
	if (!h)
		return NULL;
	*size = f.size;
	return f.data;
}

static int
list_one(const struct ustar *h, const u8 *data __unused, size_t size, void *arg __unused)
{
	if (strnlen(h->name, 100) < 100)
		kprintf("  %-16s %8lu\n", base_name(h), size);
	return 0;
}

void
initrd_list(void)
{
	if (!tar) {
		kprintf("no initrd\n");
		return;
	}
	u64 flags = spin_lock(&initrd_lock);
	walk(list_one, NULL);
	spin_unlock(&initrd_lock, flags);
}
