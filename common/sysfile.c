// Console I/O system calls: read, write, writev, ioctl. fd 0 reads the console,
// fds 1 and 2 write it; there are no other files.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"
#include "timer.h"

#define TIOCGWINSZ 0x5413
#define IOV_MAX 1024
#define READ_POLL_NS 10000000UL	// console read re-checks for input every 10 ms

struct iovec {
	u64 base, len;
};

struct winsize {
	u16 row, col, xpixel, ypixel;
};

long
sys_write(u64 fd, u64 buf, u64 len, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	if (fd != 1 && fd != 2)
		return -EBADF;
	if (!user_range_ok(buf, len, 0))
		return -EFAULT;
	console_write((const char *)buf, len);
	return len;
}

// All of the iovec array and every buffer are checked before anything is written.
long
sys_writev(u64 fd, u64 uiov, u64 cnt, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	struct iovec iov;
	u64 total = 0;
	if (fd != 1 && fd != 2)
		return -EBADF;
	if (cnt > IOV_MAX)
		return -EINVAL;
	if (!user_range_ok(uiov, cnt * sizeof iov, 0))
		return -EFAULT;
	for (u64 i = 0; i < cnt; i++) {
		copy_from_user(&iov, uiov + i * sizeof iov, sizeof iov);
		if (!user_range_ok(iov.base, iov.len, 0))
			return -EFAULT;
		if (iov.len > (1UL << 62) - total)
			return -EINVAL;
		total += iov.len;
	}
	console_lock();	// one line from musl is two iovecs: keep them together
	for (u64 i = 0; i < cnt; i++) {
		copy_from_user(&iov, uiov + i * sizeof iov, sizeof iov);
		console_write((const char *)iov.base, iov.len);
	}
	console_unlock();
	return total;
}

// Block until at least one byte of console input, then return what is waiting
// (up to len, stopping after a newline). CR arrives as LF, as from a tty.
long
sys_read(u64 fd, u64 buf, u64 len, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	if (fd != 0)
		return -EBADF;
	if (len == 0)
		return 0;
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
	if (fd > 2)
		return -EBADF;
	if (req != TIOCGWINSZ)
		return -ENOTTY;
	struct winsize ws = { 25, 80, 0, 0 };
	return copy_to_user(arg, &ws, sizeof ws);
}
