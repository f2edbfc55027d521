// Physical memory: a bitmap of 4 KiB frames built from the multiboot2 memory map.
// The ranges main.c lists in struct boot_info (below 1 MiB, the kernel image, the boot
// information, the initrd, the symbol table) are never handed out.
#include "kernel.h"
#include "mm.h"
#include "multiboot2.h"
#include "spinlock.h"

static int direct_map_ready;	// set by vm_init through pmm_use_direct_map
static struct spinlock pmm_lock = SPINLOCK_INIT("pmm");	// bitmap, nfree, search_from

#define MAX_PHYS (4UL << 30)	// frames above 4 GiB are not used
#define NFRAMES (MAX_PHYS / PAGE_SIZE)

static u64 bitmap[NFRAMES / 64];	// bit set = frame in use (or not RAM)
static u64 nfree, total_bytes, search_from;

// A pointer to physical memory: through the direct map once vm_init built it, before
// that through the boot tables' KERNBASE window (the first 1 GiB).
void *
phys_ptr(u64 pa)
{
	if (direct_map_ready)
		return P2V(pa);
	if (pa >= (1UL << 30))
		panic("phys_ptr: 0x%lx above 1 GiB before the direct map exists", pa);
	return (void *)(pa + KERNBASE);
}

// vm_init built the direct map: phys_ptr uses it from now on.
void
pmm_use_direct_map(void)
{
	direct_map_ready = 1;
}

static void
mark(u64 f, int used)
{
	u64 bit = 1UL << (f % 64);
	if (used && !(bitmap[f / 64] & bit)) {
		bitmap[f / 64] |= bit;
		nfree--;
	} else if (!used && (bitmap[f / 64] & bit)) {
		bitmap[f / 64] &= ~bit;
		nfree++;
	}
}

void
pmm_reserve(u64 start, u64 end)
{
	for (u64 f = start / PAGE_SIZE; f < ALIGN_UP(end, PAGE_SIZE) / PAGE_SIZE && f < NFRAMES; f++)
		mark(f, 1);
}

void
pmm_init(const struct boot_info *bi)
{
	memset(bitmap, 0xff, sizeof bitmap);
	if (!bi->mmap)
		panic("pmm: the boot information has no memory map");
	const struct mb2_tag_mmap *m = bi->mmap;
	for (const u8 *e = (const u8 *)m->entries; e < (const u8 *)m + m->size; e += m->entry_size) {
		const struct mb2_mmap_entry *r = (const void *)e;
		if (r->type != MB2_MEMORY_AVAILABLE)
			continue;
		total_bytes += r->len;
		u64 lo = ALIGN_UP(r->addr, PAGE_SIZE), hi = ALIGN_DOWN(r->addr + r->len, PAGE_SIZE);
		for (u64 a = lo; a < hi && a < MAX_PHYS; a += PAGE_SIZE)
			mark(a / PAGE_SIZE, 0);
	}
	for (int i = 0; i < bi->nreserved; i++)
		pmm_reserve(bi->reserved[i].start, bi->reserved[i].end);
	if (!nfree)
		panic("pmm: the memory map has no usable RAM");
}

// One zeroed frame, or 0 when memory is exhausted.
u64
pmm_alloc(void)
{
	u64 flags = spin_lock(&pmm_lock);
	for (u64 n = 0; n < NFRAMES / 64; n++) {
		u64 w = (search_from + n) % (NFRAMES / 64);
		if (bitmap[w] == ~0UL)
			continue;
		u64 f = w * 64 + __builtin_ctzl(~bitmap[w]);
		mark(f, 1);
		search_from = w;
		spin_unlock(&pmm_lock, flags);
		memset(phys_ptr(f * PAGE_SIZE), 0, PAGE_SIZE);	// ours alone now
		return f * PAGE_SIZE;
	}
	spin_unlock(&pmm_lock, flags);
	return 0;
}

void
pmm_free(u64 pa)
{
	u64 f = pa / PAGE_SIZE;
	u64 flags = spin_lock(&pmm_lock);
	if (pa % PAGE_SIZE || f >= NFRAMES || !(bitmap[f / 64] & (1UL << (f % 64))))
		panic("pmm_free: bad frame 0x%lx", pa);
	mark(f, 0);
	spin_unlock(&pmm_lock, flags);
}

// Frames free now, and usable frames in all (free or in use), for the `mem` command.
u64
pmm_free_frames(void)
{
	return nfree;
}

u64
pmm_total_bytes(void)
{
	return total_bytes;
}
