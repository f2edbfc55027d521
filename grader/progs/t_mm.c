// t_mm — the address-space bookkeeping of mmap, munmap, mprotect and brk.
//
//   run t_mm check             every check below, one line each
//   run t_mm bss ADDR LEN      [ADDR, ADDR+LEN) is part of this image (a test
//                              adds it as a PT_LOAD): fill it, then mmap(NULL, LEN)
//                              must land elsewhere and leave the pattern intact
//   run t_mm protnone-read     read a PROT_NONE page: must be killed (#PF)
//   run t_mm readonly-write    write a page made PROT_READ by mprotect: killed (#PF)
//   run t_mm worst             the calls that walk the most with interrupts off
//                              (munmap of 1 TiB ranges, of all above 4 GiB and over 4096 empty page
//                              tables, mprotect, writev of 1024 iovecs of one
//                              large buffer, big mmap/brk); prints "t_mm: worst done"
//
// Each check prints "CHECK mm.<name>: ok" or "CHECK mm.<name>: FAIL <why>", then
// "t_mm: N checks, M failed"; exit status 0 iff every check passed. The death modes
// print "t_mm: about to <mode>" and, if still alive, "t_mm: survived <mode>" (exit 1).
// Answers are Linux's (x86_64, 4 KiB pages); every call is raw (sl_syscall6).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#include "stacklabs.h"

#define MM_PAGE 4096UL
#define MM_USER_TOP 0x00007ffffffff000UL	// first address user space never gets
#define MM_STACK_SIZE (128UL << 10)		// the kernel maps this much below USER_TOP
#define MM_BIG (8UL << 20)			// "32 MiB" of the bug report, scaled down
#define MM_TIB (1UL << 40)
#define MM_IOVS 1024
#define MM_WRITEV_BUF (4UL << 20)
#define MM_SPARSE 4096UL	// empty page tables left for the worst munmap

static int mm_checks, mm_failed;

static void
mm_check(const char *name, int ok, const char *why, long a, long b)
{
	mm_checks++;
	if (ok) {
		printf("CHECK mm.%s: ok\n", name);
		return;
	}
	mm_failed++;
	printf("CHECK mm.%s: FAIL %s (%#lx, %#lx)\n", name, why, a, b);
}

static long
mm_map(unsigned long addr, unsigned long len, long prot, long flags)
{
	return sl_syscall6(SYS_mmap, addr, len, prot, flags, -1, 0);
}

#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define RW (PROT_READ | PROT_WRITE)

static int
mm_overlap(unsigned long a, unsigned long alen, unsigned long b, unsigned long blen)
{
	return a < b + blen && b < a + alen;
}

static void
mm_fill(unsigned long p, unsigned long len, unsigned char seed)
{
	for (unsigned long i = 0; i < len; i += 512)
		((volatile unsigned char *)p)[i] = (unsigned char)(seed + (i >> 9));
}

static int
mm_intact(unsigned long p, unsigned long len, unsigned char seed)
{
	for (unsigned long i = 0; i < len; i += 512)
		if (((volatile unsigned char *)p)[i] != (unsigned char)(seed + (i >> 9)))
			return 0;
	return 1;
}

// The bug report's case: MAP_FIXED over where the next mmap(NULL) will land (found by
// mapping and unmapping one page: the range from there on, twice MM_BIG), a pattern,
// then mmap(NULL, MM_BIG): a different range, and the pattern intact.
static void
check_fixed_then_null(void)
{
	long p = mm_map(0, MM_PAGE, RW, ANON);
	long z = p > 0 ? sl_syscall3(SYS_munmap, p, MM_PAGE, 0) : -1;
	long q = z == 0 ? mm_map(p, 2 * MM_BIG, RW, ANON | MAP_FIXED) : -1;
	mm_check("fixed_at_next", q == p, "MAP_FIXED at the next mmap address", p, q);
	if (q != p)
		return;
	mm_fill(q, 2 * MM_BIG, 7);
	long r = mm_map(0, MM_BIG, RW, ANON);
	mm_check("null_avoids_fixed", r > 0 && !mm_overlap(r, MM_BIG, q, 2 * MM_BIG),
		 "mmap(NULL) landed on a live mapping", q, r);
	mm_check("fixed_pattern_kept", mm_intact(q, 2 * MM_BIG, 7), "pattern lost", q, r);
	sl_syscall3(SYS_munmap, q, 2 * MM_BIG, 0);
	if (r > 0)
		sl_syscall3(SYS_munmap, r, MM_BIG, 0);
}

// MAP_FIXED over the middle page of three: that page is fresh (zero), its
// neighbours keep their bytes.
static void
check_fixed_replaces(void)
{
	long a = mm_map(0, 3 * MM_PAGE, RW, ANON);
	if (a < 0) {
		mm_check("fixed_replaces", 0, "mmap failed", a, 0);
		return;
	}
	memset((void *)a, 0xaa, 3 * MM_PAGE);
	long b = mm_map(a + MM_PAGE, MM_PAGE, RW, ANON | MAP_FIXED);
	unsigned char *c = (unsigned char *)a;
	mm_check("fixed_replaces", b == (long)(a + MM_PAGE) && c[MM_PAGE] == 0 &&
		 c[2 * MM_PAGE - 1] == 0 && c[0] == 0xaa && c[3 * MM_PAGE - 1] == 0xaa,
		 "expected a zero middle page between intact ones", a, b);
	long h = mm_map(a, MM_PAGE, RW, ANON);
	mm_check("hint_avoids_live", h > 0 && !mm_overlap(h, MM_PAGE, a, 3 * MM_PAGE),
		 "a hint on a live mapping was taken", a, h);
	long n = mm_map(a, MM_PAGE, RW, ANON | MAP_FIXED_NOREPLACE);
	mm_check("noreplace_eexist", n == -EEXIST, "expected -EEXIST", n, 0);
	sl_syscall3(SYS_munmap, a, 3 * MM_PAGE, 0);
	if (h > 0)
		sl_syscall3(SYS_munmap, h, MM_PAGE, 0);
	long f = mm_map(a, MM_PAGE, RW, ANON);
	mm_check("hint_taken_when_free", f == a, "a free hint was not taken", a, f);
	if (f > 0)
		sl_syscall3(SYS_munmap, f, MM_PAGE, 0);
}

// Nothing lands on the stack or the top page; MAP_FIXED at the top is ENOMEM.
static void
check_limits(void)
{
	long top = mm_map(MM_USER_TOP, MM_PAGE, RW, ANON | MAP_FIXED);
	mm_check("fixed_top_enomem", top == -ENOMEM, "expected -ENOMEM", top, 0);
	long h = mm_map(MM_USER_TOP - MM_PAGE, MM_PAGE, RW, ANON);
	mm_check("hint_on_stack_moved", h > 0 && !mm_overlap(h, MM_PAGE, MM_USER_TOP -
		 MM_STACK_SIZE, MM_STACK_SIZE), "a hint on the stack was taken", h, 0);
	if (h > 0)
		sl_syscall3(SYS_munmap, h, MM_PAGE, 0);
	long b = sl_syscall6(SYS_mmap, 0, MM_PAGE, RW, MAP_PRIVATE, -1, 0);
	mm_check("file_badfd", b == -EBADF, "expected -EBADF", b, 0);
	long z = mm_map(0, 0, RW, ANON);
	mm_check("len0_einval", z == -EINVAL, "expected -EINVAL", z, 0);
	long t = mm_map(0, MM_PAGE, RW, MAP_ANONYMOUS);
	mm_check("notype_einval", t == -EINVAL, "expected -EINVAL", t, 0);
	long u = sl_syscall3(SYS_munmap, 0x200000000000UL, MM_TIB, 0);
	mm_check("munmap_tib", u == 0, "expected 0", u, 0);
}

// mprotect: Linux's answers, and protections that hold (checked through the kernel:
// copy_to_user needs a writable page, copy_from_user a user-readable one).
static void
check_mprotect(void)
{
	long m = mm_map(0, 2 * MM_PAGE, RW, ANON);
	if (m < 0) {
		mm_check("mprotect", 0, "mmap failed", m, 0);
		return;
	}
	struct timespec *ts = (struct timespec *)m;
	long r = sl_syscall3(SYS_mprotect, m, MM_PAGE, PROT_READ);
	mm_check("mprotect_read", r == 0, "expected 0", r, 0);
	r = sl_syscall3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)ts, 0);
	mm_check("readonly_no_write", r == -EFAULT, "the kernel wrote a PROT_READ page", r, 0);
	r = sl_syscall3(SYS_nanosleep, m, 0, 0);	// a zero timespec: returns at once
	mm_check("readonly_readable", r == 0, "a PROT_READ page is not readable", r, 0);
	r = sl_syscall3(SYS_mprotect, m, MM_PAGE, RW);
	long g = sl_syscall3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)ts, 0);
	mm_check("mprotect_back_rw", r == 0 && g == 0, "expected 0, 0", r, g);
	r = sl_syscall3(SYS_mprotect, m + 1, MM_PAGE, PROT_READ);
	mm_check("mprotect_unaligned", r == -EINVAL, "expected -EINVAL", r, 0);
	r = sl_syscall3(SYS_mprotect, m, MM_PAGE, 0x10);
	mm_check("mprotect_badprot", r == -EINVAL, "expected -EINVAL", r, 0);
	r = sl_syscall3(SYS_mprotect, m, 0, PROT_READ);
	mm_check("mprotect_len0", r == 0, "expected 0", r, 0);
	r = sl_syscall3(SYS_mprotect, 0x300000000000UL, MM_PAGE, PROT_READ);
	mm_check("mprotect_unmapped", r == -ENOMEM, "expected -ENOMEM", r, 0);
	r = sl_syscall3(SYS_mprotect, m, 3 * MM_PAGE, PROT_READ);
	mm_check("mprotect_hole", r == -ENOMEM, "expected -ENOMEM", r, 0);
	r = sl_syscall3(SYS_mprotect, m, MM_TIB, PROT_READ);
	mm_check("mprotect_tib", r == -ENOMEM, "expected -ENOMEM", r, 0);
	sl_syscall3(SYS_munmap, m, 2 * MM_PAGE, 0);

	long n = mm_map(0, MM_PAGE, PROT_NONE, ANON);
	r = n > 0 ? sl_syscall3(SYS_nanosleep, n, 0, 0) : n;
	mm_check("protnone_unreadable", r == -EFAULT, "the kernel read a PROT_NONE page", n, r);
	if (n > 0)
		sl_syscall3(SYS_munmap, n, MM_PAGE, 0);
}

// brk grows only into free pages, one free page short of the next region.
static void
check_brk(void)
{
	unsigned long cur = sl_syscall3(SYS_brk, 0, 0, 0);
	unsigned long end = (cur + MM_PAGE - 1) & ~(MM_PAGE - 1);
	long f = mm_map(end + 3 * MM_PAGE, MM_PAGE, RW, ANON | MAP_FIXED);
	unsigned long r = sl_syscall3(SYS_brk, end + 3 * MM_PAGE, 0, 0);
	mm_check("brk_stops_before_mapping", f > 0 && r == cur,
		 "brk grew up to a mapping", f, r);
	r = sl_syscall3(SYS_brk, end + 2 * MM_PAGE, 0, 0);
	mm_check("brk_gap_ok", r == end + 2 * MM_PAGE, "brk refused a free range", r, 0);
	if (f > 0)
		sl_syscall3(SYS_munmap, f, MM_PAGE, 0);
	r = sl_syscall3(SYS_brk, end + 8 * MM_PAGE, 0, 0);
	mm_check("brk_after_unmap", r == end + 8 * MM_PAGE, "brk refused a freed range", r, 0);
	sl_syscall3(SYS_brk, cur, 0, 0);
}

static int
mm_check_all(void)
{
	check_fixed_then_null();
	check_fixed_replaces();
	check_limits();
	check_mprotect();
	check_brk();
	printf("t_mm: %d checks, %d failed\n", mm_checks, mm_failed);
	return mm_failed ? 1 : 0;
}

static int
mm_bss(unsigned long addr, unsigned long len)
{
	mm_fill(addr, len, 3);
	long r = mm_map(0, len, RW, ANON);
	mm_check("bss_avoided", r > 0 && !mm_overlap(r, len, addr, len),
		 "mmap(NULL) landed on the image", addr, r);
	mm_check("bss_pattern_kept", mm_intact(addr, len, 3), "pattern lost", addr, r);
	printf("t_mm: %d checks, %d failed\n", mm_checks, mm_failed);
	return mm_failed ? 1 : 0;
}

static int
mm_die(const char *mode)
{
	printf("t_mm: about to %s\n", mode);
	fflush(stdout);
	if (strcmp(mode, "protnone-read") == 0) {
		long n = mm_map(0, MM_PAGE, PROT_NONE, ANON);
		if (n > 0)
			(void)*(volatile unsigned char *)n;
	} else {
		long m = mm_map(0, MM_PAGE, RW, ANON);
		if (m > 0 && sl_syscall3(SYS_mprotect, m, MM_PAGE, PROT_READ) == 0)
			*(volatile unsigned char *)m = 1;
	}
	printf("t_mm: survived %s\n", mode);
	return 1;
}

// The worst calls found: each would keep interrupts off for a long time in a kernel
// that walks page by page or validates without interrupt windows.
static int
mm_worst(void)
{
	for (int i = 0; i < 4; i++)
		sl_syscall3(SYS_munmap, 0x200000000000UL + i * MM_TIB, MM_TIB, 0);
	// Leave MM_SPARSE empty page tables behind (one page mapped and unmapped in each
	// 2 MiB), then unmap over all of them: a walk that skips only absent tables
	// still scans every entry of every empty one.
	for (unsigned long i = 0; i < MM_SPARSE; i++) {
		unsigned long a = 0x400000000000UL + (i << 21);
		if (mm_map(a, MM_PAGE, RW, ANON | MAP_FIXED) == (long)a)
			sl_syscall3(SYS_munmap, a, MM_PAGE, 0);
	}
	sl_syscall3(SYS_munmap, 0x400000000000UL, MM_SPARSE << 21, 0);
	// The largest legal range above the image: 4 GiB up to the stack (~128 TiB).
	sl_syscall3(SYS_munmap, 1UL << 32, MM_USER_TOP - MM_STACK_SIZE - (1UL << 32), 0);
	long buf = mm_map(0, MM_WRITEV_BUF, PROT_READ, ANON);
	sl_syscall3(SYS_mprotect, buf, MM_TIB, PROT_READ);	// the buffer, then a hole
	static struct iovec iov[MM_IOVS];
	for (int i = 0; i < MM_IOVS; i++)
		iov[i] = (struct iovec){ (void *)buf, MM_WRITEV_BUF };
	// The last one is a kernel address: access_ok refuses it before any byte goes out
	// (Linux, lib/iov_iter.c), so all 1024 are checked and nothing is written. (A user
	// address that is merely unmapped would let the first 2 GiB out, as on Linux.)
	iov[MM_IOVS - 1].iov_base = (void *)0xffff800000000000UL;
	long w = sl_syscall3(SYS_writev, 1, (long)iov, MM_IOVS);
	sl_syscall3(SYS_munmap, buf, MM_WRITEV_BUF, 0);
	long big = mm_map(0, 16UL << 20, RW, ANON);
	if (big > 0)
		sl_syscall3(SYS_munmap, big, 16UL << 20, 0);
	unsigned long cur = sl_syscall3(SYS_brk, 0, 0, 0);
	sl_syscall3(SYS_brk, cur + (16UL << 20), 0, 0);
	sl_syscall3(SYS_brk, cur, 0, 0);
	printf("t_mm: worst done (writev %ld, mmap %s)\n", w, big > 0 ? "ok" : "failed");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "check") == 0 && argc == 2)
		return mm_check_all();
	if (strcmp(mode, "bss") == 0 && argc == 4)
		return mm_bss(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0));
	if ((strcmp(mode, "protnone-read") == 0 || strcmp(mode, "readonly-write") == 0) &&
	    argc == 2)
		return mm_die(mode);
	if (strcmp(mode, "worst") == 0 && argc == 2)
		return mm_worst();
	printf("usage: t_mm check|bss ADDR LEN|protnone-read|readonly-write|worst\n");
	return 2;
}
