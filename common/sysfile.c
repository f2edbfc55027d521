// Console I/O system calls: read, write, writev, ioctl. fd 0 reads the console,
// fds 1 and 2 write it; there are no other files.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"
#include "timer.h"
#include "trap.h"

#define TIOCGWINSZ 0x5413
#define IOV_MAX 1024
#define MAX_RW_COUNT 0x7ffff000UL	// INT_MAX & PAGE_MASK: Linux's cap on one read/write
#define TTY_CHUNK 2048			// Linux's tty layer copies and writes this much at once
// Console output goes out WRITE_CHUNK bytes at a time with an interrupt window after
// each, so a long write never keeps interrupts off for more than one chunk's worth.
#define WRITE_CHUNK 256
#define READ_POLL_NS 10000000UL	// console read re-checks for input every 10 ms

struct iovec {
	u64 base, len;
};

struct winsize {
	u16 row, col, xpixel, ypixel;
};

// Linux takes fds as unsigned int: the upper 32 bits of the register are ignored.
static int
fd_of(u64 fd)
{
	return (u32)fd;
}

// Where a write's bytes come from: one buffer (uiov == 0) or a user iovec array.
struct wsrc {
	u64 uiov;
	struct iovec one;
};

static void
wsrc_get(const struct wsrc *w, u64 i, struct iovec *iov)
{
	if (w->uiov)
		copy_from_user(iov, w->uiov + i * sizeof *iov, sizeof *iov);
	else
		*iov = w->one;
}

// Walk n bytes of w from (*i, *off). emit = 0: are they all readable? emit = 1:
// write them (and advance *i, *off). Zero-length iovecs are skipped.
static int
wsrc_walk(const struct wsrc *w, u64 *i, u64 *off, u64 n, int emit)
{
	u64 ii = *i, o = *off;
	struct iovec iov;
	while (n > 0) {
		wsrc_get(w, ii, &iov);
		u64 k = MIN(iov.len - o, n);
		if (k > 0 && !emit && !user_range_ok(iov.base + o, k, 0))
			return 0;
		for (u64 c = 0; emit && c < k; c += WRITE_CHUNK) {
			console_write_user((const char *)(iov.base + o + c), MIN(WRITE_CHUNK, k - c));
			irq_window();	// a chunk of newlines scrolls the VGA screen once a byte
		}
		n -= k;
		o += k;
		if (o == iov.len) {
			ii++;
			o = 0;
		}
	}
	if (emit) {
		*i = ii;
		*off = o;
	}
	return 1;
}

// Write total bytes of w the way Linux's tty layer does (drivers/tty/tty_io.c,
// iterate_tty_write): in chunks of TTY_CHUNK bytes, each copied whole before it is
// written; a chunk that cannot be read whole ends the call. Returns the bytes
// written, or -EFAULT if that is none.
static long
console_write_from(const struct wsrc *w, u64 total)
{
	u64 done = 0, i = 0, off = 0;
	while (done < total) {
		u64 n = MIN(total - done, TTY_CHUNK);
		if (!wsrc_walk(w, &i, &off, n, 0))
			return done ? (long)done : -EFAULT;
		console_lock();	// a chunk (a line musl writes as two iovecs) stays whole
		wsrc_walk(w, &i, &off, n, 1);
		console_unlock();
		done += n;
	}
	return done;
}

// Linux order (fs/read_write.c): fd, access_ok of the whole range, then at most
// MAX_RW_COUNT bytes.
long
sys_write(u64 fd, u64 buf, u64 len, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	if (fd_of(fd) != 1 && fd_of(fd) != 2)
		return -EBADF;
	if (!user_access_ok(buf, len))
		return -EFAULT;
	struct wsrc w = { 0, { buf, len } };
	return console_write_from(&w, MIN(len, MAX_RW_COUNT));
}

// Linux order (lib/iov_iter.c, __import_iovec): count, the array, every length as a
// signed value (EINVAL), then access_ok of every buffer (EFAULT); the total is cut
// to MAX_RW_COUNT. Then the bytes go out as sys_write's do.
long
sys_writev(u64 fd, u64 uiov, u64 cnt, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	struct iovec iov;
	u64 total = 0;
	if (fd_of(fd) != 1 && fd_of(fd) != 2)
		return -EBADF;
	if (cnt > IOV_MAX)
		return -EINVAL;
	if (cnt == 0)
		return 0;
	if (!user_range_ok(uiov, cnt * sizeof iov, 0))
		return -EFAULT;
	for (u64 i = 0; i < cnt; i++) {
		copy_from_user(&iov, uiov + i * sizeof iov, sizeof iov);
		if ((s64)iov.len < 0)
			return -EINVAL;
	}
	for (u64 i = 0; i < cnt; i++) {
		copy_from_user(&iov, uiov + i * sizeof iov, sizeof iov);
		if (!user_access_ok(iov.base, iov.len))
			return -EFAULT;
		total += MIN(iov.len, MAX_RW_COUNT - total);
	}
	struct wsrc w = { uiov, { 0, 0 } };
	return console_write_from(&w, total);
}

// Block until at least one byte of console input, then return what is waiting
// (up to len, stopping after a newline). CR arrives as LF, as from a tty. Linux
// order: fd, access_ok, then len 0 answers 0. Unlike Linux (which would wait, then
// fault part-way), a buffer that is not writable whole is refused before waiting,
// so that no input is taken and lost: user/syscalls.c checks this.
long
sys_read(u64 fd, u64 buf, u64 len, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	if (fd_of(fd) != 0)
		return -EBADF;
	if (!user_access_ok(buf, len))
		return -EFAULT;
	if (len == 0)
		return 0;
	len = MIN(len, MAX_RW_COUNT);
	if (!user_range_ok(buf, len, 1))
		return -EFAULT;
	int c;
	while ((c = console_getc_nowait()) < 0)
		proc_sleep_until(time_ns() + READ_POLL_NS);
	char *u = (char *)buf;
	u64 n = 0;
	do {
		u[n++] = c == '\r' ? '\n' : c;
	} while (n < len && u[n - 1] != '\n' && (c = console_getc_nowait()) >= 0);
	return n;
}

// TIOCGWINSZ answers 80x25 on the console, so musl line-buffers stdout as on a tty.
long
sys_ioctl(u64 fd, u64 req, u64 arg, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	if ((u32)fd > 2)
		return -EBADF;
	if (req != TIOCGWINSZ)
		return -ENOTTY;
	struct winsize ws = { 25, 80, 0, 0 };
	return copy_to_user(arg, &ws, sizeof ws);
}
