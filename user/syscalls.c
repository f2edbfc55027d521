// syscalls — exercise every system call of the contract, one line per check.
//
//   run syscalls [NONCE]
//
// Each check prints one line:
//   CHECK basic.<name>: ok
//   CHECK basic.<name>: FAIL <what was expected, what came back>
// Group basic.*  : each call does what the contract says (counts, errors, auxv,
//                  registers preserved across SYSCALL).
// Group efault.* : every pointer-taking call, given a bad pointer, returns exactly
//                  -EFAULT (and the kernel does not fall over).
// Then a summary line "syscalls: N checks, M failed", and with a NONCE also
//   RESULT syscalls basic_pass=A basic_fail=B efault_pass=C efault_fail=D tag=...
// Exit status 0 iff every check passed.
//
// Every call under test is made with sl_syscall6 (raw rax, no libc wrapper), so
// the kernel's own answer is what gets compared.
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "stacklabs.h"

// The ELF header of this very program (GNU ld defines the symbol when the
// header is part of the first loaded segment, as in every static binary).
extern const Elf64_Ehdr __ehdr_start;
// The program entry point, in musl's crt1.o.
extern void _start(void);
extern char **environ;

// The contract's page size and the first address no user mapping may reach:
// the top user page 0x00007ffffffff000 and everything above are never mapped.
#define SC_PAGE 4096UL
#define SC_USER_TOP 0x00007ffffffff000UL

// arch_prctl sub-functions (Linux asm/prctl.h).
#define SC_ARCH_SET_FS 0x1002
#define SC_ARCH_GET_FS 0x1003

// The console's fixed size in the contract (TIOCGWINSZ answers 80x25).
#define SC_CONSOLE_COLS 80
#define SC_CONSOLE_ROWS 25

// An ioctl request no kernel implements (not a tty, socket or generic file
// ioctl on Linux either), so the contract's answer is -ENOTTY.
#define SC_IOCTL_BOGUS 0xdead

// A descriptor number the contract does not define.
#define SC_BAD_FD 99

// How far brk grows in the brk check, and how long the nanosleep check sleeps.
#define SC_BRK_GROW (64 * 1024L)
#define SC_SLEEP_MS 10

// Seed of the register patterns in the regs check; any constant does.
#define SC_REGS_SEED 0x5a17ca11ULL

// Bytes read or written by the -EFAULT checks on read/write/writev.
#define SC_EF_LEN 16

// The two check groups and their pass/fail counters.
enum {
	G_BASIC,
	G_EFAULT,
	G_N,
};
static const char *const sc_group_name[G_N] = {
	"basic",
	"efault",
};
static int sc_pass[G_N];
static int sc_fail[G_N];

// Record one check of group g and print its line.  On failure fmt/... say what
// was expected and what came back.
static void
sc_check(int g, const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
sc_check(int g, const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		sc_pass[g]++;
		printf("CHECK %s.%s: ok\n", sc_group_name[g], name);
		return;
	}
	sc_fail[g]++;
	printf("CHECK %s.%s: FAIL ", sc_group_name[g], name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

// Check that a raw return value r equals want.
static void
sc_expect(int g, const char *name, long r, long want)
{
	sc_check(g, name, r == want, "expected %ld, got %ld", want, r);
}

// ---------------------------------------------------------------------------
// basic.*: read, write, writev, getpid, yield, bad fd, unknown numbers.

// read(0, buf, 0) returns 0 at once.
static void
basic_read0(void)
{
	char buf[1];

	sc_expect(G_BASIC, "read0", sl_syscall3(SYS_read, 0, (long)buf, 0), 0);
}

// write and writev return the number of bytes written.
static void
basic_write(void)
{
	static const char line[] = "syscalls: raw write ok\n";
	static const char a[] = "syscalls: raw ";
	static const char b[] = "writev ok\n";
	struct iovec iov[2] = {
		{ (void *)a, sizeof a - 1 },
		{ (void *)b, sizeof b - 1 },
	};
	long r;

	fflush(stdout);
	r = sl_syscall3(SYS_write, 1, (long)line, sizeof line - 1);
	sc_expect(G_BASIC, "write", r, sizeof line - 1);
	fflush(stdout);
	r = sl_syscall3(SYS_writev, 1, (long)iov, 2);
	sc_expect(G_BASIC, "writev", r, sizeof a - 1 + sizeof b - 1);
}

// getpid is positive and the same on every call.
static void
basic_getpid(void)
{
	long a = sl_syscall3(SYS_getpid, 0, 0, 0);
	long b = sl_syscall3(SYS_getpid, 0, 0, 0);

	sc_check(G_BASIC, "getpid", a > 0 && a == b,
		 "expected a stable pid > 0, got %ld then %ld", a, b);
}

// sched_yield returns 0; write to an undefined fd is -EBADF.
static void
basic_yield_badfd(void)
{
	sc_expect(G_BASIC, "sched_yield", sl_syscall3(SYS_sched_yield, 0, 0, 0), 0);
	sc_expect(G_BASIC, "badfd_write",
		  sl_syscall3(SYS_write, SC_BAD_FD, (long)"x", 1), -EBADF);
}

// Numbers the kernel does not implement return -ENOSYS.
static void
basic_enosys(void)
{
	static const long nrs[] = {
		499,
		1000,
		100000,
	};
	char name[32];

	for (size_t i = 0; i < sizeof nrs / sizeof nrs[0]; i++) {
		snprintf(name, sizeof name, "enosys_%ld", nrs[i]);
		sc_expect(G_BASIC, name, sl_syscall3(nrs[i], 0, 0, 0), -ENOSYS);
	}
}

// ---------------------------------------------------------------------------
// basic.*: memory (brk, mmap, munmap).

// Returns 1 iff len bytes at p can be written and read back.
static int
sc_touch(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 512)
		p[i] = (unsigned char)(i >> 9);
	for (size_t i = 0; i < len; i += 512)
		if (p[i] != (unsigned char)(i >> 9))
			return 0;
	return 1;
}

// brk(0) reports the break; growing, touching and shrinking it all work.
static void
basic_brk(void)
{
	long cur = sl_syscall3(SYS_brk, 0, 0, 0);
	long want = cur + SC_BRK_GROW;
	long r;

	sc_check(G_BASIC, "brk_query", cur > 0 && (unsigned long)cur < SC_USER_TOP,
		 "expected a user address, got %#lx", cur);
	if (cur <= 0)
		return;
	r = sl_syscall3(SYS_brk, want, 0, 0);
	sc_expect(G_BASIC, "brk_grow", r, want);
	if (r == want)
		sc_check(G_BASIC, "brk_touch", sc_touch((unsigned char *)cur, SC_BRK_GROW),
			 "expected to read back what was written at %#lx", cur);
	sc_expect(G_BASIC, "brk_shrink", sl_syscall3(SYS_brk, cur, 0, 0), cur);
}

// Returns 1 iff len bytes at p are all zero.
static int
sc_zeroed(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

// Anonymous private mmap gives zeroed, usable, page-aligned memory; munmap
// returns 0; a request that is not anonymous is refused.
static void
basic_mmap(void)
{
	const size_t len = 3 * SC_PAGE;
	long p = sl_syscall6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ok = p > 0 && p % SC_PAGE == 0 && (unsigned long)p < SC_USER_TOP;
	long r;

	sc_check(G_BASIC, "mmap_anon", ok,
		 "expected a page-aligned user address, got %#lx", p);
	if (ok) {
		sc_check(G_BASIC, "mmap_zeroed", sc_zeroed((unsigned char *)p, len),
			 "expected zero-filled pages at %#lx", p);
		sc_check(G_BASIC, "mmap_touch", sc_touch((unsigned char *)p, len),
			 "expected to read back what was written at %#lx", p);
		sc_expect(G_BASIC, "munmap", sl_syscall3(SYS_munmap, p, len, 0), 0);
	}
	r = sl_syscall6(SYS_mmap, 0, SC_PAGE, PROT_READ, MAP_PRIVATE, SC_BAD_FD, 0);
	sc_check(G_BASIC, "mmap_file", r < 0 && r >= -4095,
		 "expected -errno for a file mapping, got %ld", r);
}

// ---------------------------------------------------------------------------
// basic.*: time.

// nanosleep(10 ms) returns 0 and takes at least 10 ms of CLOCK_MONOTONIC.
static void
basic_nanosleep(void)
{
	uint64_t t0 = sl_now_ns();
	long r = sl_sleep_ms(SC_SLEEP_MS);
	uint64_t dt = sl_now_ns() - t0;

	sc_check(G_BASIC, "nanosleep", r == 0 && dt >= SC_SLEEP_MS * 1000000ULL,
		 "expected 0 after >= %d ms, got %ld after %llu ns",
		 SC_SLEEP_MS, r, (unsigned long long)dt);
}

// Raw clock_gettime(clk) into *ts.  Returns rax.
static long
sc_clock(long clk, struct timespec *ts)
{
	return sl_syscall3(SYS_clock_gettime, clk, (long)ts, 0);
}

// Returns 1 iff ts is a well-formed time (seconds >= 0, 0 <= ns < 1e9).
static int
sc_ts_sane(const struct timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

// Returns 1 iff b is not earlier than a.
static int
sc_ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

// Both clocks answer 0 with well-formed values that never go backwards.
static void
basic_clocks(void)
{
	static const struct {
		const char *name;
		long clk;
	} clocks[] = {
		{ "clock_realtime", CLOCK_REALTIME },
		{ "clock_monotonic", CLOCK_MONOTONIC },
	};

	for (size_t i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		struct timespec a = { -1, -1 }, b = { -1, -1 };
		long ra = sc_clock(clocks[i].clk, &a);
		long rb = sc_clock(clocks[i].clk, &b);

		sc_check(G_BASIC, clocks[i].name,
			 ra == 0 && rb == 0 && sc_ts_sane(&a) && sc_ts_sane(&b) &&
				 sc_ts_le(&a, &b),
			 "expected 0 and two ordered times, got %ld %lld.%09ld then "
			 "%ld %lld.%09ld", ra, (long long)a.tv_sec, a.tv_nsec,
			 rb, (long long)b.tv_sec, b.tv_nsec);
	}
}

// ---------------------------------------------------------------------------
// basic.*: thread pointer, tid address, ioctl.

// The quadword at %fs:0 (musl keeps a pointer to the thread block there).
static uint64_t
sc_fs0(void)
{
	uint64_t v;

	__asm__ volatile("mov %%fs:0, %0" : "=r"(v));
	return v;
}

// ARCH_GET_FS returns the base musl set up, whose first quadword points to itself.
static void
basic_get_fs(void)
{
	uint64_t fs = 0;
	long r = sl_syscall3(SYS_arch_prctl, SC_ARCH_GET_FS, (long)&fs, 0);
	uint64_t self = sc_fs0();

	sc_check(G_BASIC, "arch_prctl_get_fs", r == 0 && fs != 0 && fs == self,
		 "expected 0 and %%fs:0 = %#llx, got %ld and %#llx", (unsigned long long)self,
		 r, (unsigned long long)fs);
}

// ARCH_SET_FS moves the thread pointer and back.  No libc call may run while
// it points at the scratch block (errno and the stack canary live in TLS), so
// the whole round trip is raw calls, checked afterwards.
static void
basic_set_fs(void)
{
	static uint64_t scratch[8];
	uint64_t orig = 0, got = 0, back = 0, seen;
	long r1, r2;

	sl_syscall3(SYS_arch_prctl, SC_ARCH_GET_FS, (long)&orig, 0);
	memcpy(scratch, (void *)orig, sizeof scratch);
	scratch[0] = (uint64_t)scratch;
	r1 = sl_syscall3(SYS_arch_prctl, SC_ARCH_SET_FS, (long)scratch, 0);
	sl_syscall3(SYS_arch_prctl, SC_ARCH_GET_FS, (long)&got, 0);
	seen = sc_fs0();
	r2 = sl_syscall3(SYS_arch_prctl, SC_ARCH_SET_FS, (long)orig, 0);
	sl_syscall3(SYS_arch_prctl, SC_ARCH_GET_FS, (long)&back, 0);
	sc_check(G_BASIC, "arch_prctl_set_fs",
		 r1 == 0 && r2 == 0 && got == (uint64_t)scratch &&
			 seen == (uint64_t)scratch && back == orig,
		 "expected 0,0 and fs %p then %#llx, got %ld,%ld, fs %#llx "
		 "(%%fs:0 %#llx) then %#llx", (void *)scratch,
		 (unsigned long long)orig, r1, r2, (unsigned long long)got,
		 (unsigned long long)seen, (unsigned long long)back);
}

// set_tid_address returns the caller's thread id, which is its pid.
static void
basic_set_tid_address(void)
{
	static int tid_word;
	long pid = sl_syscall3(SYS_getpid, 0, 0, 0);

	sc_expect(G_BASIC, "set_tid_address",
		  sl_syscall3(SYS_set_tid_address, (long)&tid_word, 0, 0), pid);
}

// TIOCGWINSZ on stdout says 80x25; any other request is -ENOTTY.
static void
basic_ioctl(void)
{
	struct winsize ws = { 0, 0, 0, 0 };
	long r = sl_syscall3(SYS_ioctl, 1, TIOCGWINSZ, (long)&ws);

	sc_check(G_BASIC, "ioctl_tiocgwinsz",
		 r == 0 && ws.ws_col == SC_CONSOLE_COLS && ws.ws_row == SC_CONSOLE_ROWS,
		 "expected 0 and %dx%d, got %ld and %ux%u", SC_CONSOLE_COLS,
		 SC_CONSOLE_ROWS, r, ws.ws_col, ws.ws_row);
	sc_expect(G_BASIC, "ioctl_other",
		  sl_syscall3(SYS_ioctl, 1, SC_IOCTL_BOGUS, 0), -ENOTTY);
}

// ---------------------------------------------------------------------------
// basic.*: the initial stack (argv, envp, auxv).

// argv has argc non-NULL strings in user space, then NULL.
static void
basic_argv(int argc, char **argv)
{
	int ok = argc >= 1 && argv != NULL && argv[argc] == NULL;

	for (int i = 0; ok && i < argc; i++)
		ok = argv[i] != NULL && (uintptr_t)argv[i] < SC_USER_TOP;
	ok = ok && argv[0][0] != '\0';
	sc_check(G_BASIC, "argv", ok,
		 "expected argc >= 1, argc non-NULL strings, argv[argc] = NULL, "
		 "got argc %d", argc);
}

// Most environment entries the envp check walks before giving up.
#define SC_ENV_MAX 4096

// envp follows argv's NULL and holds non-NULL entries up to its own NULL.
static void
basic_envp(int argc, char **argv)
{
	int n = 0;

	while (environ != NULL && n < SC_ENV_MAX && environ[n] != NULL)
		n++;
	sc_check(G_BASIC, "envp",
		 environ == argv + argc + 1 && n < SC_ENV_MAX,
		 "expected envp = argv + argc + 1 ending in NULL, got %p (argv %p), "
		 "%d entries", (void *)environ, (void *)argv, n);
}

// Most auxv pairs the layout check walks before giving up.
#define SC_AUXV_MAX 64

// auxv pairs follow envp's NULL and end with AT_NULL; AT_PAGESZ is among them.
static void
basic_auxv_layout(void)
{
	char **e = environ;
	uint64_t *av;
	int i, pagesz_seen = 0;

	while (*e != NULL)
		e++;
	av = (uint64_t *)(e + 1);
	for (i = 0; i < SC_AUXV_MAX && av[2 * i] != AT_NULL; i++)
		pagesz_seen |= av[2 * i] == AT_PAGESZ;
	sc_check(G_BASIC, "auxv_layout", i < SC_AUXV_MAX && pagesz_seen,
		 "expected AT_NULL within %d pairs after envp and an AT_PAGESZ, "
		 "got %d pairs, AT_PAGESZ %s", SC_AUXV_MAX, i,
		 pagesz_seen ? "seen" : "missing");
}

// Check getauxval(type) == want.
static void
sc_auxv(const char *name, unsigned long type, unsigned long want)
{
	unsigned long got = getauxval(type);

	sc_check(G_BASIC, name, got == want, "expected %#lx, got %#lx", want, got);
}

// auxv values agree with what this program knows about itself.
static void
basic_auxv(void)
{
	const Elf64_Ehdr *eh = &__ehdr_start;
	unsigned long rnd = getauxval(AT_RANDOM);

	basic_auxv_layout();
	sc_auxv("auxv_pagesz", AT_PAGESZ, SC_PAGE);
	sc_check(G_BASIC, "auxv_random", rnd != 0 && rnd < SC_USER_TOP,
		 "expected a user address, got %#lx", rnd);
	sc_auxv("auxv_phdr", AT_PHDR, (unsigned long)eh + eh->e_phoff);
	sc_auxv("auxv_phnum", AT_PHNUM, eh->e_phnum);
	sc_auxv("auxv_phent", AT_PHENT, eh->e_phentsize);
	sc_auxv("auxv_entry", AT_ENTRY, (unsigned long)_start);
}

// ---------------------------------------------------------------------------
// basic.regs: what a SYSCALL may change.

// getpid with a pattern in every register: afterwards only rax (the pid), rcx
// and r11 may differ; rsp must be exactly as before.
static void
basic_regs(void)
{
	struct sl_regframe f;
	long pid = sl_syscall3(SYS_getpid, 0, 0, 0);
	int bad;

	memset(&f, 0, sizeof f);
	for (int r = 0; r < SL_NREGS; r++)
		f.in[r] = sl_pattern(SC_REGS_SEED, (uint64_t)pid, 0, (uint64_t)r);
	f.in[SL_RAX] = SYS_getpid;
	sl_regs_syscall(&f);
	bad = sl_regs_first_bad(&f, (uint64_t)pid);
	sc_check(G_BASIC, "regs", bad < 0, "expected %s=0x%016llx, got 0x%016llx",
		 sl_reg_name(bad), (unsigned long long)f.in[bad < 0 ? 0 : bad],
		 (unsigned long long)f.out[bad < 0 ? 0 : bad]);
}

// ---------------------------------------------------------------------------
// efault.*: bad pointers.

// The kinds of bad pointer every pointer-taking call is given.
enum {
	BP_NULL,        // NULL
	BP_LOW,         // 0x1000: a low page nothing maps
	BP_KERNEL,      // 0xffffffff80000000: the kernel image
	BP_NONCANON_LO, // 0x0000800000000000: first non-canonical address
	BP_NONCANON_HI, // 0x8000000000000000: middle of the non-canonical hole
	BP_TOPPAGE,     // 0x00007ffffffff000: the top user page, never mapped
	BP_STRADDLE,    // starts in a mapped page, runs into an unmapped one
	BP_PASTTOP,     // starts below the top user page, runs into it
	BP_N,
};
static const char *const bp_name[BP_N] = {
	"null",
	"low",
	"kernel",
	"noncanon_lo",
	"noncanon_hi",
	"toppage",
	"straddle",
	"pasttop",
};

// End of a mapped page whose next page was unmapped again (0 if mmap failed).
static uintptr_t ef_map_end;

// Map two pages and unmap the second, so ef_map_end is mapped memory's edge.
// The mapped page is all newlines: if a broken kernel writes some of it to the
// console before noticing the bad part, the output gains only blank lines.
static void
ef_setup(void)
{
	long p = sl_syscall6(SYS_mmap, 0, 2 * SC_PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p <= 0 || p % SC_PAGE != 0)
		return;
	if (sl_syscall3(SYS_munmap, p + SC_PAGE, SC_PAGE, 0) == 0)
		ef_map_end = (uintptr_t)p + SC_PAGE;
}

// Fill the page below the mapping edge with newlines again (a kernel may have
// stored part of a result there before it found the unmapped part).
static void
ef_refill(void)
{
	if (ef_map_end != 0)
		memset((void *)(ef_map_end - SC_PAGE), '\n', SC_PAGE);
}

// Bad pointer of kind k for an object of len bytes: the straddling kinds put
// half of the object on each side of the edge.
static uintptr_t
ef_addr(int k, size_t len)
{
	static const uintptr_t fixed[] = {
		[BP_NULL] = 0,
		[BP_LOW] = 0x1000,
		[BP_KERNEL] = 0xffffffff80000000UL,
		[BP_NONCANON_LO] = 0x0000800000000000UL,
		[BP_NONCANON_HI] = 0x8000000000000000UL,
		[BP_TOPPAGE] = SC_USER_TOP,
	};

	if (k == BP_STRADDLE)
		return ef_map_end - len / 2;
	if (k == BP_PASTTOP)
		return SC_USER_TOP - len / 2;
	return fixed[k];
}

// A call under test: given the bad pointer p, make the call, return rax.
typedef long (*ef_call_fn)(uintptr_t p);

// write(1, p, 16)
static long
ef_write(uintptr_t p)
{
	return sl_syscall3(SYS_write, 1, (long)p, SC_EF_LEN);
}

// read(0, p, 16): the kernel must refuse p before waiting for input.
static long
ef_read(uintptr_t p)
{
	return sl_syscall3(SYS_read, 0, (long)p, SC_EF_LEN);
}

// writev(1, p, 1): the iovec array itself is bad.
static long
ef_writev_iov(uintptr_t p)
{
	return sl_syscall3(SYS_writev, 1, (long)p, 1);
}

// writev(1, {p, 16}, 1): the array is fine, the buffer it names is bad.
static long
ef_writev_base(uintptr_t p)
{
	struct iovec iov = { (void *)p, SC_EF_LEN };

	return sl_syscall3(SYS_writev, 1, (long)&iov, 1);
}

// nanosleep(p, NULL): bad request.
static long
ef_nanosleep(uintptr_t p)
{
	return sl_syscall3(SYS_nanosleep, (long)p, 0, 0);
}

// clock_gettime(CLOCK_MONOTONIC, p): bad result pointer.
static long
ef_clock_gettime(uintptr_t p)
{
	return sl_syscall3(SYS_clock_gettime, CLOCK_MONOTONIC, (long)p, 0);
}

// arch_prctl(ARCH_GET_FS, p): bad result pointer.
static long
ef_get_fs(uintptr_t p)
{
	return sl_syscall3(SYS_arch_prctl, SC_ARCH_GET_FS, (long)p, 0);
}

// kstack_info(p)
static long
ef_kstack_info(uintptr_t p)
{
	return sl_kstack_info((struct kstack_info *)p);
}

// kstack_scribble(p, 512)
static long
ef_kstack_scribble(uintptr_t p)
{
	return sl_kstack_scribble((const void *)p, SL_PROBE_BUF_LEN);
}

// kstack_peek(p, 512)
static long
ef_kstack_peek(uintptr_t p)
{
	return sl_kstack_peek((void *)p, SL_PROBE_BUF_LEN);
}

// Every pointer-taking call, with the size of what it reads or writes at p.
static const struct {
	const char *name;
	ef_call_fn call;
	size_t len;
} ef_calls[] = {
	{ "write", ef_write, SC_EF_LEN },
	{ "read", ef_read, SC_EF_LEN },
	{ "writev_iov", ef_writev_iov, sizeof(struct iovec) },
	{ "writev_base", ef_writev_base, SC_EF_LEN },
	{ "nanosleep", ef_nanosleep, sizeof(struct timespec) },
	{ "clock_gettime", ef_clock_gettime, sizeof(struct timespec) },
	{ "arch_prctl_get_fs", ef_get_fs, sizeof(uint64_t) },
	{ "kstack_info", ef_kstack_info, sizeof(struct kstack_info) },
	{ "kstack_scribble", ef_kstack_scribble, SL_PROBE_BUF_LEN },
	{ "kstack_peek", ef_kstack_peek, SL_PROBE_BUF_LEN },
};

// Run one call with every kind of bad pointer; each must give -EFAULT.
static void
ef_run_call(int c)
{
	char name[64];

	for (int k = 0; k < BP_N; k++) {
		snprintf(name, sizeof name, "%s.%s", ef_calls[c].name, bp_name[k]);
		if (k == BP_STRADDLE && ef_map_end == 0) {
			sc_check(G_EFAULT, name, 0, "setup failed: no mapping edge");
			continue;
		}
		sc_expect(G_EFAULT, name,
			  ef_calls[c].call(ef_addr(k, ef_calls[c].len)), -EFAULT);
	}
}

// A valid buffer with a length that runs out of user space: ~0 wraps past 2^64,
// ~0 >> 1 ends far above the user half without wrapping.  The buffer is the
// last 16 bytes before the mapping edge, so a kernel that ignores the length
// meets unmapped memory (and prints newlines) instead of dumping the program.
static void
ef_lengths(void)
{
	static char fallback[SC_EF_LEN];
	char *buf = ef_map_end ? (char *)ef_map_end - SC_EF_LEN : fallback;
	const unsigned long wrap = ~0UL;
	const unsigned long huge = ~0UL >> 1;
	struct iovec iov = { buf, huge };

	sc_expect(G_EFAULT, "write.len_wrap",
		  sl_syscall3(SYS_write, 1, (long)buf, (long)wrap), -EFAULT);
	sc_expect(G_EFAULT, "write.len_huge",
		  sl_syscall3(SYS_write, 1, (long)buf, (long)huge), -EFAULT);
	sc_expect(G_EFAULT, "read.len_wrap",
		  sl_syscall3(SYS_read, 0, (long)buf, (long)wrap), -EFAULT);
	sc_expect(G_EFAULT, "read.len_huge",
		  sl_syscall3(SYS_read, 0, (long)buf, (long)huge), -EFAULT);
	sc_expect(G_EFAULT, "writev_base.len_huge",
		  sl_syscall3(SYS_writev, 1, (long)&iov, 1), -EFAULT);
}

// The whole efault group, then proof that an ordinary write still works.
static void
efault_all(void)
{
	static const char line[] = "syscalls: write after efault ok\n";

	ef_setup();
	for (size_t c = 0; c < sizeof ef_calls / sizeof ef_calls[0]; c++) {
		ef_refill();
		ef_run_call((int)c);
	}
	ef_refill();
	ef_lengths();
	fflush(stdout);
	sc_expect(G_EFAULT, "write_after",
		  sl_syscall3(SYS_write, 1, (long)line, sizeof line - 1),
		  sizeof line - 1);
}

// ---------------------------------------------------------------------------

// All basic.* checks, in the contract's order.
static void
basic_all(int argc, char **argv)
{
	basic_read0();
	basic_write();
	basic_getpid();
	basic_brk();
	basic_mmap();
	basic_yield_badfd();
	basic_nanosleep();
	basic_clocks();
	basic_get_fs();
	basic_set_fs();
	basic_set_tid_address();
	basic_ioctl();
	basic_enosys();
	basic_argv(argc, argv);
	basic_envp(argc, argv);
	basic_auxv();
	basic_regs();
}

int
main(int argc, char **argv)
{
	const char *nonce = argc > 1 ? argv[1] : NULL;
	int total, failed;

	// Line buffering even into a pipe, so printf lines and raw writes keep order.
	setvbuf(stdout, NULL, _IOLBF, 0);
	basic_all(argc, argv);
	efault_all();
	failed = sc_fail[G_BASIC] + sc_fail[G_EFAULT];
	total = failed + sc_pass[G_BASIC] + sc_pass[G_EFAULT];
	printf("syscalls: %d checks, %d failed\n", total, failed);
	if (nonce)
		sl_result(nonce, "syscalls basic_pass=%d basic_fail=%d efault_pass=%d "
			  "efault_fail=%d", sc_pass[G_BASIC], sc_fail[G_BASIC],
			  sc_pass[G_EFAULT], sc_fail[G_EFAULT]);
	fflush(stdout);
	return failed == 0 ? 0 : 1;
}
