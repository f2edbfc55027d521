// conform — the system-call ABI, case by case, for a differential test against Linux.
//
//   run conform            (in a phase)        build/user/conform   (on the Linux host)
//
// Prints one line per case, "<call>-<case>: <answer>", where the answer is the raw
// return value (an -errno shown as its name, e.g. EFAULT; a count as a number; a
// value that must differ between machines, such as an address or a pid, as its
// class: "addr", "pid", "same"). The same static binary runs in each phase and natively
// on Linux x86_64 (the kit's conformance test, with fds 0-2 on a pseudo-terminal: 0
// read-only, 1 and 2 write-only, as the console is); the outputs must be identical
// except for the few cases that test lists, each with its reason.
// Ends with exit(0x105): both must report exit status 5.
//
// Argument classes: NULL, a low unmapped page, a kernel address, a non-canonical
// one, the top user page (never mapped on either), a buffer straddling the end of a
// mapping, ranges that wrap around 2^64, zero and huge lengths, unaligned
// addresses, invalid flags, fds and clock ids, and arguments bad in two ways at
// once (which error Linux reports first).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stacklabs.h"

#define PAGE 4096UL
#define A_NULL 0UL
#define A_LOW 0x1000UL			// below every mapping (mmap_min_addr too)
#define A_KERN 0xffffffff80000000UL	// the kernel image on both
#define A_NONCANON 0x8000000000000000UL
#define A_TOP 0x7ffffffff000UL		// the top user page: TASK_SIZE_MAX on Linux
#define A_WRAP 0xfffffffffffff000UL
#define HUGE (1UL << 62)
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004
#define TIOCGWINSZ 0x5413
#define TCGETS 0x5401
#define CLOCK_IDS 16

static const char *const errnames[] = {
	[EPERM] = "EPERM", [ENOENT] = "ENOENT", [EINTR] = "EINTR", [EBADF] = "EBADF",
	[EAGAIN] = "EAGAIN", [ENOMEM] = "ENOMEM", [EACCES] = "EACCES", [EFAULT] = "EFAULT",
	[EEXIST] = "EEXIST", [ENODEV] = "ENODEV", [EINVAL] = "EINVAL", [ENOTTY] = "ENOTTY",
	[ENOSYS] = "ENOSYS", [EOVERFLOW] = "EOVERFLOW", [EOPNOTSUPP] = "EOPNOTSUPP",
};

static long
sc(long nr, long a, long b, long c, long d, long e, long f)
{
	return sl_syscall6(nr, a, b, c, d, e, f);
}

// The answer as a word: an errno name, or the number.
static void
show(const char *name, long r)
{
	if (r < 0 && r > -4096) {
		long e = -r;
		if (e < (long)(sizeof errnames / sizeof errnames[0]) && errnames[e])
			printf("%s: %s\n", name, errnames[e]);
		else
			printf("%s: errno %ld\n", name, e);
	} else {
		printf("%s: %ld\n", name, r);
	}
}

// An address result: "addr" if it is a page-aligned user address, else show().
static void
show_addr(const char *name, long r)
{
	if (r > 0 && (unsigned long)r < A_TOP && r % PAGE == 0)
		printf("%s: addr\n", name);
	else
		show(name, r);
}

static char *straddle;	// 8 readable bytes "abcdefg\n", then an unmapped page
static char *page;	// one mapped, writable page

static void
setup(void)
{
	long a = sc(SYS_mmap, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	long b = sc(SYS_mmap, 0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sc(SYS_munmap, a + PAGE, PAGE, 0, 0, 0, 0);
	straddle = (char *)a + PAGE - 8;
	memcpy(straddle, "abcdefg\n", 8);
	page = (char *)b;
}

static void
t_write(void)
{
	static const struct { const char *name; unsigned long buf, len; } c[] = {
		{ "write-null-0", A_NULL, 0 }, { "write-low-0", A_LOW, 0 },
		{ "write-kern-0", A_KERN, 0 }, { "write-noncanon-0", A_NONCANON, 0 },
		{ "write-top-0", A_TOP, 0 }, { "write-null-1", A_NULL, 1 },
		{ "write-low-1", A_LOW, 1 }, { "write-kern-1", A_KERN, 1 },
		{ "write-noncanon-1", A_NONCANON, 1 }, { "write-top-1", A_TOP, 1 },
		{ "write-top-last", A_TOP - 1, 2 }, { "write-wrap", A_WRAP, 0x2000 },
		{ "write-kern-huge", A_KERN, ~0UL },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
		show(c[i].name, sc(SYS_write, 1, c[i].buf, c[i].len, 0, 0, 0));
	fflush(stdout);
	show("write-straddle", sc(SYS_write, 1, (long)straddle, 16, 0, 0, 0));
	show("write-straddle-huge", sc(SYS_write, 1, (long)straddle, 0x7fffffff, 0, 0, 0));
	show("write-straddle-2^62", sc(SYS_write, 1, (long)straddle, HUGE, 0, 0, 0));
	show("write-straddle-max", sc(SYS_write, 1, (long)straddle, ~0UL, 0, 0, 0));
	show("write-unaligned", sc(SYS_write, 1, (long)straddle + 5, 3, 0, 0, 0));
	show("write-fd0", sc(SYS_write, 0, (long)straddle, 8, 0, 0, 0));
	show("write-fd3", sc(SYS_write, 3, (long)straddle, 8, 0, 0, 0));
	show("write-fd-1", sc(SYS_write, -1, (long)straddle, 8, 0, 0, 0));
	show("write-fd2^32+1", sc(SYS_write, (1L << 32) + 1, (long)straddle, 8, 0, 0, 0));
	show("write-fd3-kern", sc(SYS_write, 3, A_KERN, 8, 0, 0, 0));
}

static void
t_read(void)
{
	show("read-null-0", sc(SYS_read, 0, A_NULL, 0, 0, 0, 0));
	show("read-kern-0", sc(SYS_read, 0, A_KERN, 0, 0, 0, 0));
	show("read-noncanon-0", sc(SYS_read, 0, A_NONCANON, 0, 0, 0, 0));
	show("read-top-0", sc(SYS_read, 0, A_TOP, 0, 0, 0, 0));
	show("read-kern-1", sc(SYS_read, 0, A_KERN, 1, 0, 0, 0));
	show("read-noncanon-1", sc(SYS_read, 0, A_NONCANON, 1, 0, 0, 0));
	show("read-wrap", sc(SYS_read, 0, A_WRAP, 0x2000, 0, 0, 0));
	show("read-huge", sc(SYS_read, 0, (long)page, HUGE, 0, 0, 0));
	show("read-fd1", sc(SYS_read, 1, (long)page, 1, 0, 0, 0));
	show("read-fd3", sc(SYS_read, 3, (long)page, 1, 0, 0, 0));
	show("read-fd-1-kern", sc(SYS_read, -1, A_KERN, 1, 0, 0, 0));
}

static void
t_writev(void)
{
	struct iovec *iov = (struct iovec *)page;
	show("writev-null-0", sc(SYS_writev, 1, A_NULL, 0, 0, 0, 0));
	show("writev-null-1", sc(SYS_writev, 1, A_NULL, 1, 0, 0, 0));
	show("writev-kern-1", sc(SYS_writev, 1, A_KERN, 1, 0, 0, 0));
	show("writev-cnt-neg", sc(SYS_writev, 1, (long)iov, -1, 0, 0, 0));
	show("writev-cnt-1025", sc(SYS_writev, 1, (long)iov, 1025, 0, 0, 0));
	show("writev-fd3-cnt-neg", sc(SYS_writev, 3, A_KERN, -1, 0, 0, 0));
	show("writev-cnt-neg-null", sc(SYS_writev, 1, A_NULL, -1, 0, 0, 0));
	memset(page, 0, PAGE);
	show("writev-256-empty", sc(SYS_writev, 1, (long)iov, 256, 0, 0, 0));
	show("writev-straddle-array", sc(SYS_writev, 1, (long)(straddle - 8), 2, 0, 0, 0));
	struct { const char *name; unsigned long b0, l0, b1, l1; } c[] = {
		{ "writev-len-2^63", (long)straddle, 1UL << 63, 0, 0 },
		{ "writev-len-max", (long)straddle, ~0UL, 0, 0 },
		{ "writev-len-2^62-twice", (long)straddle, HUGE, (long)straddle, HUGE },
		{ "writev-kern-0", A_KERN, 0, 0, 0 },
		{ "writev-null-0-len", A_NULL, 0, (long)straddle, 8 },
		{ "writev-ok-then-kern", (long)straddle, 8, A_KERN, 1 },
		{ "writev-ok-then-null", (long)straddle, 8, A_NULL, 1 },
		{ "writev-ok-then-2^63", (long)straddle, 8, 0, 1UL << 63 },
		{ "writev-kern-then-2^63", A_KERN, 1, 0, 1UL << 63 },
		{ "writev-straddle", (long)straddle, 16, 0, 0 },
		{ "writev-ok-then-straddle", (long)straddle, 8, (long)straddle, 16 },
		{ "writev-huge-first", (long)straddle, 0x7ffff000, (long)straddle, 8 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		iov[0] = (struct iovec){ (void *)c[i].b0, c[i].l0 };
		iov[1] = (struct iovec){ (void *)c[i].b1, c[i].l1 };
		fflush(stdout);
		show(c[i].name, sc(SYS_writev, 1, (long)iov, 2, 0, 0, 0));
	}
}

static void
t_proc(void)
{
	long pid = sc(SYS_getpid, 0, 0, 0, 0, 0, 0);
	printf("getpid: %s\n", pid > 0 ? "pid" : "bad");
	long r = sc(SYS_set_tid_address, 0, 0, 0, 0, 0, 0);
	printf("set_tid_address-null: %s\n", r == pid ? "pid" : "bad");
	r = sc(SYS_set_tid_address, A_KERN, 0, 0, 0, 0, 0);
	printf("set_tid_address-kern: %s\n", r == pid ? "pid" : "bad");
	show("sched_yield", sc(SYS_sched_yield, 0, 0, 0, 0, 0, 0));
	show("sched_yield-args", sc(SYS_sched_yield, -1, -1, -1, 0, 0, 0));
	show("nosys-9999", sc(9999, 0, 0, 0, 0, 0, 0));
	show("nosys-neg", sc(-1, 0, 0, 0, 0, 0, 0));
	show("nosys-2^32", sc(1L << 32, 0, 0, 0, 0, 0, 0));
	show("probe-500", sc(500, 0, 0, 0, 0, 0, 0));
	unsigned *cpu = (unsigned *)page;
	show("getcpu-null", sc(SYS_getcpu, 0, 0, 0, 0, 0, 0));
	cpu[0] = cpu[1] = 77;
	r = sc(SYS_getcpu, (long)&cpu[0], (long)&cpu[1], 0, 0, 0, 0);
	printf("getcpu: %ld cpu-ok=%d node=%u\n", r, cpu[0] < 64, cpu[1]);
	show("getcpu-kern", sc(SYS_getcpu, A_KERN, 0, 0, 0, 0, 0));
	show("getcpu-node-kern", sc(SYS_getcpu, 0, A_KERN, 0, 0, 0, 0));
	show("getcpu-straddle", sc(SYS_getcpu, (long)straddle + 6, 0, 0, 0, 0, 0));
	show("getcpu-cache-kern", sc(SYS_getcpu, 0, 0, A_KERN, 0, 0, 0));
}

static void
t_time(void)
{
	struct timespec *ts = (struct timespec *)page;
	char name[48];
	for (long id = -1; id < CLOCK_IDS; id++) {
		snprintf(name, sizeof name, "clock_gettime-%ld", id);
		show(name, sc(SYS_clock_gettime, id, (long)ts, 0, 0, 0, 0));
	}
	show("clock_gettime-1000", sc(SYS_clock_gettime, 1000, (long)ts, 0, 0, 0, 0));
	show("clock_gettime-2^32", sc(SYS_clock_gettime, 1L << 32, (long)ts, 0, 0, 0, 0));
	show("clock_gettime-null", sc(SYS_clock_gettime, 1, 0, 0, 0, 0, 0));
	show("clock_gettime-kern", sc(SYS_clock_gettime, 1, A_KERN, 0, 0, 0, 0));
	show("clock_gettime-noncanon", sc(SYS_clock_gettime, 1, A_NONCANON, 0, 0, 0, 0));
	show("clock_gettime-top", sc(SYS_clock_gettime, 1, A_TOP, 0, 0, 0, 0));
	show("clock_gettime-straddle", sc(SYS_clock_gettime, 1, (long)straddle, 0, 0, 0, 0));
	show("clock_gettime-unaligned", sc(SYS_clock_gettime, 1, (long)page + 3, 0, 0, 0, 0));
	show("clock_gettime-bad-null", sc(SYS_clock_gettime, 99, 0, 0, 0, 0, 0));
	long r = sc(SYS_clock_gettime, 2, (long)ts, 0, 0, 0, 0);
	printf("clock_gettime-cputime-sane: %d\n", r == 0 && ts->tv_sec >= 0 && ts->tv_nsec >= 0 &&
	       ts->tv_nsec < 1000000000);
	printf("clock: %s\n", clock() == (clock_t)-1 ? "-1" : "ok");
	struct { const char *name; long sec, nsec; } c[] = {
		{ "nanosleep-0", 0, 0 }, { "nanosleep-1ns", 0, 1 },
		{ "nanosleep-nsec-neg", 0, -1 }, { "nanosleep-nsec-1e9", 0, 1000000000 },
		{ "nanosleep-sec-neg", -1, 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		ts[0] = (struct timespec){ c[i].sec, c[i].nsec };
		show(c[i].name, sc(SYS_nanosleep, (long)ts, 0, 0, 0, 0, 0));
	}
	ts[0] = (struct timespec){ 0, 1 };
	show("nanosleep-rem-kern", sc(SYS_nanosleep, (long)ts, A_KERN, 0, 0, 0, 0));
	show("nanosleep-null", sc(SYS_nanosleep, 0, 0, 0, 0, 0, 0));
	show("nanosleep-kern", sc(SYS_nanosleep, A_KERN, 0, 0, 0, 0, 0));
	show("nanosleep-straddle", sc(SYS_nanosleep, (long)straddle, 0, 0, 0, 0, 0));
	memcpy(page + 3, &(struct timespec){ 0, 1 }, sizeof(struct timespec));
	show("nanosleep-unaligned", sc(SYS_nanosleep, (long)page + 3, 0, 0, 0, 0, 0));
}

static void
t_ioctl(void)
{
	show("ioctl-winsz", sc(SYS_ioctl, 1, TIOCGWINSZ, (long)page, 0, 0, 0));
	show("ioctl-winsz-fd0", sc(SYS_ioctl, 0, TIOCGWINSZ, (long)page, 0, 0, 0));
	show("ioctl-winsz-null", sc(SYS_ioctl, 1, TIOCGWINSZ, 0, 0, 0, 0));
	show("ioctl-winsz-kern", sc(SYS_ioctl, 1, TIOCGWINSZ, A_KERN, 0, 0, 0));
	show("ioctl-winsz-straddle", sc(SYS_ioctl, 1, TIOCGWINSZ, (long)straddle + 4, 0, 0, 0));
	show("ioctl-unknown", sc(SYS_ioctl, 1, 0x1234, (long)page, 0, 0, 0));
	show("ioctl-fd3", sc(SYS_ioctl, 3, TIOCGWINSZ, (long)page, 0, 0, 0));
	show("ioctl-fd-1-kern", sc(SYS_ioctl, -1, TIOCGWINSZ, A_KERN, 0, 0, 0));
	show("ioctl-tcgets", sc(SYS_ioctl, 1, TCGETS, (long)page, 0, 0, 0));
}

static void
t_arch(void)
{
	unsigned long *v = (unsigned long *)page;
	show("arch_prctl-get_fs", sc(SYS_arch_prctl, ARCH_GET_FS, (long)v, 0, 0, 0, 0));
	unsigned long fs = v[0];
	show("arch_prctl-set_fs-same", sc(SYS_arch_prctl, ARCH_SET_FS, fs, 0, 0, 0, 0));
	show("arch_prctl-set_fs-kern", sc(SYS_arch_prctl, ARCH_SET_FS, A_KERN, 0, 0, 0, 0));
	show("arch_prctl-set_fs-noncanon", sc(SYS_arch_prctl, ARCH_SET_FS, A_NONCANON, 0, 0, 0, 0));
	show("arch_prctl-set_fs-top", sc(SYS_arch_prctl, ARCH_SET_FS, A_TOP, 0, 0, 0, 0));
	show("arch_prctl-get_fs-null", sc(SYS_arch_prctl, ARCH_GET_FS, 0, 0, 0, 0, 0));
	show("arch_prctl-get_fs-kern", sc(SYS_arch_prctl, ARCH_GET_FS, A_KERN, 0, 0, 0, 0));
	show("arch_prctl-get_fs-straddle", sc(SYS_arch_prctl, ARCH_GET_FS, (long)straddle + 4, 0, 0, 0, 0));
	show("arch_prctl-set_gs", sc(SYS_arch_prctl, ARCH_SET_GS, 0x12345000, 0, 0, 0, 0));
	v[1] = 0;
	show("arch_prctl-get_gs", sc(SYS_arch_prctl, ARCH_GET_GS, (long)&v[1], 0, 0, 0, 0));
	printf("arch_prctl-gs-value: %s\n", v[1] == 0x12345000 ? "same" : "bad");
	sc(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	v[1] = 0;
	sc(SYS_arch_prctl, ARCH_GET_GS, (long)&v[1], 0, 0, 0, 0);
	printf("arch_prctl-gs-after-yield: %s\n", v[1] == 0x12345000 ? "same" : "bad");
	show("arch_prctl-set_gs-kern", sc(SYS_arch_prctl, ARCH_SET_GS, A_KERN, 0, 0, 0, 0));
	show("arch_prctl-set_gs-0", sc(SYS_arch_prctl, ARCH_SET_GS, 0, 0, 0, 0, 0));
	show("arch_prctl-get_gs-kern", sc(SYS_arch_prctl, ARCH_GET_GS, A_KERN, 0, 0, 0, 0));
	show("arch_prctl-code-0", sc(SYS_arch_prctl, 0, (long)v, 0, 0, 0, 0));
	show("arch_prctl-code-9999", sc(SYS_arch_prctl, 0x9999, (long)v, 0, 0, 0, 0));
}

static void
t_mem(void)
{
	const long P = PROT_READ | PROT_WRITE, F = MAP_PRIVATE | MAP_ANONYMOUS;
	show_addr("mmap-anon", sc(SYS_mmap, 0, PAGE, P, F, -1, 0));
	show_addr("mmap-anon-odd-len", sc(SYS_mmap, 0, 10, P, F, -1, 0));
	show_addr("mmap-anon-fd5", sc(SYS_mmap, 0, PAGE, P, F, 5, 0));
	show_addr("mmap-hint-kern", sc(SYS_mmap, A_KERN, PAGE, P, F, -1, 0));
	show_addr("mmap-hint-unaligned", sc(SYS_mmap, 0x10000001, PAGE, P, F, -1, 0));
	show_addr("mmap-prot-none", sc(SYS_mmap, 0, PAGE, PROT_NONE, F, -1, 0));
	show_addr("mmap-shared-anon", sc(SYS_mmap, 0, PAGE, P, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
	show("mmap-len-0", sc(SYS_mmap, 0, 0, P, F, -1, 0));
	show("mmap-len-max", sc(SYS_mmap, 0, ~0UL, P, F, -1, 0));
	show("mmap-len-2^47", sc(SYS_mmap, 0, 1UL << 47, P, F, -1, 0));
	show("mmap-no-type", sc(SYS_mmap, 0, PAGE, P, MAP_ANONYMOUS, -1, 0));
	show("mmap-file-fd-1", sc(SYS_mmap, 0, PAGE, P, MAP_PRIVATE, -1, 0));
	show("mmap-file-fd5", sc(SYS_mmap, 0, PAGE, P, MAP_PRIVATE, 5, 0));
	show("mmap-file-fd1", sc(SYS_mmap, 0, PAGE, P, MAP_PRIVATE, 1, 0));
	show("mmap-off-unaligned", sc(SYS_mmap, 0, PAGE, P, F, -1, 1));
	show("mmap-off-unaligned-len-0", sc(SYS_mmap, 0, 0, P, F, -1, 1));
	show("mmap-len-0-fd-1-file", sc(SYS_mmap, 0, 0, P, MAP_PRIVATE, -1, 0));
	show("mmap-fixed-unaligned", sc(SYS_mmap, 0x10000001, PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-top", sc(SYS_mmap, A_TOP, PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-over-top", sc(SYS_mmap, A_TOP - PAGE, 2 * PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-kern", sc(SYS_mmap, A_KERN, PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-noncanon", sc(SYS_mmap, A_NONCANON, PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-wrap", sc(SYS_mmap, A_WRAP, 0x2000, P, F | MAP_FIXED, -1, 0));
	show_addr("mmap-fixed-ok", sc(SYS_mmap, 0x200000000, PAGE, P, F | MAP_FIXED, -1, 0));
	show("mmap-fixed-len-0", sc(SYS_mmap, 0x200000000, 0, P, F | MAP_FIXED, -1, 0));

	show("munmap-ok", sc(SYS_munmap, 0x200000000, PAGE, 0, 0, 0, 0));
	show("munmap-unmapped", sc(SYS_munmap, 0x200000000, PAGE, 0, 0, 0, 0));
	show("munmap-unaligned", sc(SYS_munmap, 0x200000001, PAGE, 0, 0, 0, 0));
	show("munmap-len-0", sc(SYS_munmap, 0x200000000, 0, 0, 0, 0, 0));
	show("munmap-odd-len", sc(SYS_munmap, 0x200000000, 10, 0, 0, 0, 0));
	show("munmap-null", sc(SYS_munmap, 0, PAGE, 0, 0, 0, 0));
	show("munmap-kern", sc(SYS_munmap, A_KERN, PAGE, 0, 0, 0, 0));
	show("munmap-noncanon", sc(SYS_munmap, A_NONCANON, PAGE, 0, 0, 0, 0));
	show("munmap-top", sc(SYS_munmap, A_TOP, PAGE, 0, 0, 0, 0));
	show("munmap-over-top", sc(SYS_munmap, A_TOP - PAGE, 2 * PAGE, 0, 0, 0, 0));
	show("munmap-len-max", sc(SYS_munmap, 0x200000000, ~0UL, 0, 0, 0, 0));
	show("munmap-wrap", sc(SYS_munmap, A_WRAP, 0x2000, 0, 0, 0, 0));

	show("mprotect-ok", sc(SYS_mprotect, (long)page, PAGE, PROT_READ | PROT_WRITE, 0, 0, 0));
	show("mprotect-len-0", sc(SYS_mprotect, (long)page, 0, PROT_READ, 0, 0, 0));
	show("mprotect-unaligned", sc(SYS_mprotect, (long)page + 1, PAGE, PROT_READ, 0, 0, 0));
	show("mprotect-bad-prot", sc(SYS_mprotect, (long)page, PAGE, 0x80, 0, 0, 0));
	show("mprotect-unmapped", sc(SYS_mprotect, 0x200000000, PAGE, PROT_READ, 0, 0, 0));
	show("mprotect-kern", sc(SYS_mprotect, A_KERN, PAGE, PROT_READ, 0, 0, 0));
	show("mprotect-wrap", sc(SYS_mprotect, A_WRAP, 0x2000, PROT_READ, 0, 0, 0));
	show("mprotect-straddle", sc(SYS_mprotect, (long)straddle & ~(PAGE - 1), 2 * PAGE,
				     PROT_READ | PROT_WRITE, 0, 0, 0));

	long b0 = sc(SYS_brk, 0, 0, 0, 0, 0, 0);
	printf("brk-0: %s\n", b0 > 0 ? "addr" : "bad");
	long r = sc(SYS_brk, b0 + 3 * PAGE, 0, 0, 0, 0, 0);
	printf("brk-grow: %s\n", r == b0 + 3 * (long)PAGE ? "moved" : r == b0 ? "same" : "bad");
	((char *)b0)[2 * PAGE] = 1;
	r = sc(SYS_brk, b0 + 5, 0, 0, 0, 0, 0);
	printf("brk-shrink-odd: %s\n", r == b0 + 5 ? "moved" : r == b0 + 3 * (long)PAGE ? "same" : "bad");
	static const struct { const char *name; unsigned long a; } c[] = {
		{ "brk-low", A_LOW }, { "brk-kern", A_KERN }, { "brk-noncanon", A_NONCANON },
		{ "brk-top", A_TOP }, { "brk-max", ~0UL },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		r = sc(SYS_brk, c[i].a, 0, 0, 0, 0, 0);
		printf("%s: %s\n", c[i].name, r == b0 + 5 ? "same" : "bad");
	}
	printf("brk-back: %s\n", sc(SYS_brk, b0, 0, 0, 0, 0, 0) == b0 ? "moved" : "bad");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	printf("conform: start\n");
	t_write();
	t_read();
	t_writev();
	t_proc();
	t_time();
	t_ioctl();
	t_arch();
	t_mem();
	printf("conform: end\n");
	fflush(stdout);
	sc(SYS_exit_group, 0x105, 0, 0, 0, 0, 0);
	return 1;
}
