// stacklabs.h — helpers shared by the user programs (user/) and the grader's
// test programs (grader/progs/).  Header only: every function is static inline,
// so each program is still one .c file built with
//     musl-gcc -static -O2 -g -Wall -Wextra -Iuser/include -o build/user/NAME user/NAME.c
//
// What is here:
//   - raw system calls (sl_syscall6): rax comes back untouched, negative errno on
//     error, so a test sees exactly what the kernel returned (no libc errno);
//   - wrappers for the four lab probes 500..503;
//   - fnv1a64, the RESULT line with its tag, a monotonic clock, a small PRNG;
//   - sl_regs_syscall: one system call with every register loaded from a table
//     and every register stored back, to see what the kernel preserved.
#ifndef STACKLABS_H
#define STACKLABS_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

// ---------------------------------------------------------------------------
// Lab probe numbers (the same in every phase; handouts/lab1.md describes each one).

// Fill a struct kstack_info for the calling process; returns 0.
#define SYS_kstack_info 500
// Copy min(len, 512) bytes from the user buffer into a kernel-stack local.
#define SYS_kstack_scribble 501
// Copy min(len, 512) bytes of an uninitialised kernel-stack local out.
#define SYS_kstack_peek 502
// Recurse depth times in the kernel, about 256 bytes of stack a frame.
#define SYS_kstack_burn 503

// The kernel-stack local that scribble fills and peek reads is this big.
#define SL_PROBE_BUF_LEN 512

// What kstack_info reports.  base/top: the kernel stack the system-call entry
// uses for this process (phase 1: the one global stack); entry_rsp: rsp right
// after the entry stub switched stacks for this very call; tss_rsp0: TSS.rsp0 now.
struct kstack_info {
	uint64_t base;
	uint64_t top;
	uint64_t entry_rsp;
	uint64_t tss_rsp0;
};

// ---------------------------------------------------------------------------
// Raw system calls.

// Issue system call nr with six arguments, Linux x86_64 convention
// (rdi rsi rdx r10 r8 r9).  Returns rax as the kernel left it: a result,
// or -errno.  errno is not touched.
static inline long
sl_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	// SYSCALL itself overwrites rcx (user rip) and r11 (user rflags).
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3),
			   "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

// sl_syscall6 for the common three-argument case.
static inline long
sl_syscall3(long nr, long a1, long a2, long a3)
{
	return sl_syscall6(nr, a1, a2, a3, 0, 0, 0);
}

// Probe 500.  Returns 0 with *out filled, or -errno (-EFAULT, -ENOSYS on Linux).
static inline long
sl_kstack_info(struct kstack_info *out)
{
	return sl_syscall3(SYS_kstack_info, (long)out, 0, 0);
}

// Probe 501.  Returns the number of bytes copied into the kernel, or -errno.
static inline long
sl_kstack_scribble(const void *buf, size_t len)
{
	return sl_syscall3(SYS_kstack_scribble, (long)buf, (long)len, 0);
}

// Probe 502.  Returns the number of bytes copied out of the kernel, or -errno.
static inline long
sl_kstack_peek(void *buf, size_t len)
{
	return sl_syscall3(SYS_kstack_peek, (long)buf, (long)len, 0);
}

// Probe 503.  Returns depth once the recursion came back, or -errno.
static inline long
sl_kstack_burn(size_t depth)
{
	return sl_syscall3(SYS_kstack_burn, (long)depth, 0, 0);
}

// Print one line "<who>: <probe> failed: <r> (<why>)" for a probe call that
// returned r < 0 (on Linux every probe is -ENOSYS).
static inline void
sl_probe_failed(const char *who, const char *probe, long r)
{
	printf("%s: %s failed: %ld (%s)\n", who, probe, r,
	       r == -ENOSYS ? "ENOSYS: this kernel has no lab probes"
			    : strerror((int)-r));
}

// Sleep ms milliseconds with one raw nanosleep, and no other system call.
// Returns the raw rax: 0, or -errno.
static inline long
sl_sleep_ms(long ms)
{
	struct timespec req;

	req.tv_sec = ms / 1000;
	req.tv_nsec = (ms % 1000) * 1000000L;
	return sl_syscall3(SYS_nanosleep, (long)&req, 0, 0);
}

// ---------------------------------------------------------------------------
// Hashing, the RESULT line, time.

// FNV-1a 64-bit: offset basis and prime from the published FNV parameters.
#define SL_FNV_OFFSET 0xcbf29ce484222325ULL
#define SL_FNV_PRIME 0x100000001b3ULL

// Continue an FNV-1a hash h over len bytes at p.  Returns the new hash.
static inline uint64_t
sl_fnv1a64_more(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= SL_FNV_PRIME;
	}
	return h;
}

// FNV-1a 64 of len bytes at p.
static inline uint64_t
sl_fnv1a64(const void *p, size_t len)
{
	return sl_fnv1a64_more(SL_FNV_OFFSET, p, len);
}

// FNV-1a 64 of the bytes of a NUL-terminated string (NULL counts as "").
static inline uint64_t
sl_fnv1a64_str(const char *s)
{
	return s ? sl_fnv1a64(s, strlen(s)) : SL_FNV_OFFSET;
}

// The tag that binds a RESULT payload to the grader's nonce:
// fnv1a64 over the bytes of "<nonce>|<payload>" (no NUL, no newline).
static inline uint64_t
sl_tag(const char *nonce, const char *payload)
{
	uint64_t h = SL_FNV_OFFSET;

	if (nonce)
		h = sl_fnv1a64_more(h, nonce, strlen(nonce));
	h = sl_fnv1a64_more(h, "|", 1);
	return sl_fnv1a64_more(h, payload, strlen(payload));
}

// Longest RESULT payload; longer ones are cut (and then fail the grader's match).
#define SL_RESULT_MAX 400

#ifdef SL_KEY_LEN
// Built by the grader: sl_key[SL_KEY_LEN] is this grading run's secret (sl_hmac.h).
#include "sl_hmac.h"
#endif

// Print exactly one line "RESULT <payload> tag=<tag>" and flush stdout.
// payload is printf(fmt, ...); it is the text between "RESULT " and " tag=".
// The tag: built by the grader (SL_KEY_LEN defined), HMAC-SHA-256 under its key of
// "<nonce>|<payload>" in 64 hex digits; otherwise sl_tag's public 16 (which the
// grader never accepts: anyone can compute it).
static inline void
sl_result(const char *nonce, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void
sl_result(const char *nonce, const char *fmt, ...)
{
	char payload[SL_RESULT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(payload, sizeof payload, fmt, ap);
	va_end(ap);
#ifdef SL_KEY_LEN
	unsigned char mac[SL_SHA256_LEN];
	const void *parts[3] = {nonce ? nonce : "", "|", payload};
	size_t lens[3] = {nonce ? strlen(nonce) : 0, 1, strlen(payload)};
	sl_hmac_sha256(sl_key, SL_KEY_LEN, 3, parts, lens, mac);
	printf("RESULT %s tag=", payload);
	for (int i = 0; i < SL_SHA256_LEN; i++)
		printf("%02x", mac[i]);
	printf("\n");
#else
	printf("RESULT %s tag=%016llx\n", payload,
	       (unsigned long long)sl_tag(nonce, payload));
#endif
	fflush(stdout);
}

// CLOCK_MONOTONIC now, in nanoseconds (0 if the clock failed).
static inline uint64_t
sl_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------------------
// Deterministic PRNG: xorshift64* (Vigna), shifts 12/25/27 and the published
// multiplier.  Seeded with fnv1a64(nonce) | 1 (the state must never be 0), so the
// grader, knowing the nonce, can recompute every secret and pattern.
#define SL_XORSHIFT_MUL 0x2545f4914f6cdd1dULL

struct sl_rng {
	uint64_t s;
};

// Seed r from the nonce string.
static inline void
sl_rng_seed(struct sl_rng *r, const char *nonce)
{
	r->s = sl_fnv1a64_str(nonce) | 1;
}

// Next 64 random bits.
static inline uint64_t
sl_rng_next(struct sl_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * SL_XORSHIFT_MUL;
}

// Fill len bytes: each sl_rng_next() gives 8 bytes, least significant first.
static inline void
sl_rng_fill(struct sl_rng *r, void *buf, size_t len)
{
	unsigned char *b = buf;
	uint64_t v = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = sl_rng_next(r);
		b[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
}

// splitmix64's constants (Steele, Lea, Flood): the increment, 2^64 divided by
// the golden ratio, and the two multipliers of its finaliser.
#define SL_MIX_GOLDEN 0x9e3779b97f4a7c15ULL
#define SL_MIX_MUL1 0xbf58476d1ce4e5b9ULL
#define SL_MIX_MUL2 0x94d049bb133111ebULL

// A 64-bit pattern from a seed and three small numbers (splitmix64 finaliser),
// e.g. sl_pattern(fnv(nonce), pid, round, reg): distinct registers get
// unrelated values, and 0 is avoided so a zeroed register never matches.
static inline uint64_t
sl_pattern(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t z = seed ^ (a * SL_MIX_GOLDEN) ^ (b * SL_MIX_MUL1) ^ (c * SL_MIX_MUL2);

	z = (z ^ (z >> 30)) * SL_MIX_MUL1;
	z = (z ^ (z >> 27)) * SL_MIX_MUL2;
	z ^= z >> 31;
	return z ? z : 1;
}

// ---------------------------------------------------------------------------
// Register images: one system call with all sixteen registers under control.
//
// Register numbers follow the hardware encoding (the ModRM order), so the
// table reads like an instruction-set manual.
#define SL_RAX 0
#define SL_RCX 1
#define SL_RDX 2
#define SL_RBX 3
#define SL_RSP 4
#define SL_RBP 5
#define SL_RSI 6
#define SL_RDI 7
#define SL_R8 8
#define SL_R9 9
#define SL_R10 10
#define SL_R11 11
#define SL_R12 12
#define SL_R13 13
#define SL_R14 14
#define SL_R15 15
#define SL_NREGS 16

// Name of register number i ("rax" .. "r15"), "?" when out of range.
static inline const char *
sl_reg_name(int i)
{
	static const char *const names[SL_NREGS] = {
		"rax",
		"rcx",
		"rdx",
		"rbx",
		"rsp",
		"rbp",
		"rsi",
		"rdi",
		"r8",
		"r9",
		"r10",
		"r11",
		"r12",
		"r13",
		"r14",
		"r15",
	};

	return (i >= 0 && i < SL_NREGS) ? names[i] : "?";
}

// in: what the asm loads before the SYSCALL (in[SL_RAX] = the call number;
// in[SL_RCX], in[SL_R11], in[SL_RSP] are not loaded).  out: every register
// right after the SYSCALL, except rcx (SYSCALL put the user rip there, and the
// asm needs rcx to reach the frame; out[SL_RCX] is left as it was).  keep: the
// compiler's own callee-saved registers and rsp, put back before the asm ends.
struct sl_regframe {
	uint64_t in[SL_NREGS];
	uint64_t out[SL_NREGS];
	uint64_t keep[SL_NREGS];
};

// Byte offsets of the three tables, for the assembly below.
#define SL_FR_IN 0
#define SL_FR_OUT 128
#define SL_FR_KEEP 256
_Static_assert(offsetof(struct sl_regframe, out) == SL_FR_OUT, "sl_regframe.out");
_Static_assert(offsetof(struct sl_regframe, keep) == SL_FR_KEEP, "sl_regframe.keep");

#define SL_XSTR(x) #x
#define SL_STR(x) SL_XSTR(x)
// "disp(%rcx)" text of register r's slot in table t, e.g. SL_SLOT(SL_FR_OUT, SL_RBX).
#define SL_SLOT(t, r) SL_STR(((t) + 8 * (r))) "(%%rcx)"

// Save the compiler's callee-saved registers and rsp into the keep table, and put
// them back; S is the slot macro of the register that holds the frame (SL_SLOT: rcx).
#define SL_KEEP_SAVE(S)                                \
	"mov %%rbx, " S(SL_FR_KEEP, SL_RBX) "\n\t"      \
	"mov %%rbp, " S(SL_FR_KEEP, SL_RBP) "\n\t"      \
	"mov %%r12, " S(SL_FR_KEEP, SL_R12) "\n\t"      \
	"mov %%r13, " S(SL_FR_KEEP, SL_R13) "\n\t"      \
	"mov %%r14, " S(SL_FR_KEEP, SL_R14) "\n\t"      \
	"mov %%r15, " S(SL_FR_KEEP, SL_R15) "\n\t"      \
	"mov %%rsp, " S(SL_FR_KEEP, SL_RSP) "\n\t"
#define SL_KEEP_RESTORE(S)                             \
	"mov " S(SL_FR_KEEP, SL_RSP) ", %%rsp\n\t"      \
	"mov " S(SL_FR_KEEP, SL_RBX) ", %%rbx\n\t"      \
	"mov " S(SL_FR_KEEP, SL_RBP) ", %%rbp\n\t"      \
	"mov " S(SL_FR_KEEP, SL_R12) ", %%r12\n\t"      \
	"mov " S(SL_FR_KEEP, SL_R13) ", %%r13\n\t"      \
	"mov " S(SL_FR_KEEP, SL_R14) ", %%r14\n\t"      \
	"mov " S(SL_FR_KEEP, SL_R15) ", %%r15\n\t"

// Load f->in into rax rbx rdx rsi rdi rbp r8 r9 r10 r12 r13 r14 r15, execute one
// SYSCALL, store every register but rcx into f->out, then restore the compiler's
// registers.  Returns f->out[SL_RAX].
//
// Why a static frame: after the SYSCALL every register may hold a pattern (or
// garbage, if the kernel is broken), so the only way back to memory that needs no
// register is a RIP-relative address.  rcx is free for it: SYSCALL overwrote it.
static inline long
sl_regs_syscall(struct sl_regframe *f)
{
	static struct sl_regframe fr;

	fr = *f;
	__asm__ volatile(
		"lea %[fr], %%rcx\n\t"
		SL_KEEP_SAVE(SL_SLOT)
		"mov " SL_SLOT(SL_FR_IN, SL_RBX) ", %%rbx\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_RBP) ", %%rbp\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_RDX) ", %%rdx\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_RSI) ", %%rsi\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_RDI) ", %%rdi\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R8) ", %%r8\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R9) ", %%r9\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R10) ", %%r10\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R12) ", %%r12\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R13) ", %%r13\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R14) ", %%r14\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_R15) ", %%r15\n\t"
		"mov " SL_SLOT(SL_FR_IN, SL_RAX) ", %%rax\n\t"
		"syscall\n\t"
		"lea %[fr], %%rcx\n\t"
		"mov %%rax, " SL_SLOT(SL_FR_OUT, SL_RAX) "\n\t"
		"mov %%rbx, " SL_SLOT(SL_FR_OUT, SL_RBX) "\n\t"
		"mov %%rdx, " SL_SLOT(SL_FR_OUT, SL_RDX) "\n\t"
		"mov %%rsp, " SL_SLOT(SL_FR_OUT, SL_RSP) "\n\t"
		"mov %%rbp, " SL_SLOT(SL_FR_OUT, SL_RBP) "\n\t"
		"mov %%rsi, " SL_SLOT(SL_FR_OUT, SL_RSI) "\n\t"
		"mov %%rdi, " SL_SLOT(SL_FR_OUT, SL_RDI) "\n\t"
		"mov %%r8, " SL_SLOT(SL_FR_OUT, SL_R8) "\n\t"
		"mov %%r9, " SL_SLOT(SL_FR_OUT, SL_R9) "\n\t"
		"mov %%r10, " SL_SLOT(SL_FR_OUT, SL_R10) "\n\t"
		"mov %%r11, " SL_SLOT(SL_FR_OUT, SL_R11) "\n\t"
		"mov %%r12, " SL_SLOT(SL_FR_OUT, SL_R12) "\n\t"
		"mov %%r13, " SL_SLOT(SL_FR_OUT, SL_R13) "\n\t"
		"mov %%r14, " SL_SLOT(SL_FR_OUT, SL_R14) "\n\t"
		"mov %%r15, " SL_SLOT(SL_FR_OUT, SL_R15) "\n\t"
		SL_KEEP_RESTORE(SL_SLOT)
		:
		: [fr] "m"(fr)
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "memory", "cc");
	*f = fr;
	return (long)f->out[SL_RAX];
}

// After sl_regs_syscall(f): the number of the first register that does not hold
// what it should, or -1 if all do.  What they should hold: in[] for the twelve
// loaded registers, want_rax for rax, rsp as before the call; rcx and r11 are
// skipped (SYSCALL overwrites them).  On return f->in[SL_RAX] = want_rax and
// f->in[SL_RSP] = the old rsp, so in[r] / out[r] print as expected / got.
static inline int
sl_regs_first_bad(struct sl_regframe *f, uint64_t want_rax)
{
	f->in[SL_RAX] = want_rax;
	f->in[SL_RSP] = f->keep[SL_RSP];
	for (int r = 0; r < SL_NREGS; r++) {
		if (r == SL_RCX || r == SL_R11)
			continue;
		if (f->out[r] != f->in[r])
			return r;
	}
	return -1;
}

// One nanosleep(ms) with patterns of (seed, pid, round) in every register the call
// does not use (rax, rdi, rsi carry the call itself). Returns sl_regs_first_bad:
// -1 if every register survived and nanosleep returned 0; f holds expected / got.
static inline int
sl_sleep_checked(struct sl_regframe *f, uint64_t seed, long pid, int round, long ms)
{
	static const int regs[] = {
		SL_RBX,
		SL_RBP,
		SL_RDX,
		SL_R8,
		SL_R9,
		SL_R10,
		SL_R12,
		SL_R13,
		SL_R14,
		SL_R15,
	};
	struct timespec req = { ms / 1000, (ms % 1000) * 1000000L };

	memset(f, 0, sizeof *f);
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
		f->in[regs[i]] = sl_pattern(seed, (uint64_t)pid, (uint64_t)round, (uint64_t)regs[i]);
	f->in[SL_RAX] = SYS_nanosleep;
	f->in[SL_RDI] = (uint64_t)&req;
	f->in[SL_RSI] = 0;
	sl_regs_syscall(f);
	return sl_regs_first_bad(f, 0);
}

// ---------------------------------------------------------------------------
// Spin rounds: ring-3 work that only a timer tick and a context switch can
// disturb (t_spin, t_smp). sl_spin_setup puts a pattern in every register but
// rsp and the loop count in rax; sl_spin_round loads them, counts rax down with no
// system call, stores every register and compares it with its pattern (rsp with
// its value at entry), and leaves the first that changed in sf->bad (-1: none).
//
// One round's registers: the sl_regframe tables (in: patterns, in[SL_RAX]: the
// loop count; out: every register after the loop; keep: the compiler's
// callee-saved registers and rsp at entry) and the verdict written by the asm.
struct sl_spin_frame {
	struct sl_regframe fr;
	int64_t bad; // -1, or the number of the first register that changed
};

// Byte offset of sl_spin_frame.bad, for the assembly.
#define SL_SPIN_BAD 384
_Static_assert(offsetof(struct sl_spin_frame, bad) == SL_SPIN_BAD, "sl_spin_frame.bad");

// Text of "disp(%rax)" for register r's slot in table t.
#define SL_SPIN_SLOT(t, r) SL_STR(((t) + 8 * (r))) "(%%rax)"

// Store register r into out[] ("mov %%reg, out_r(%rax)").
#define SL_SPIN_OUT(reg, r) "mov %%" reg ", " SL_SPIN_SLOT(SL_FR_OUT, r) "\n\t"
// Load register r from in[].
#define SL_SPIN_IN(reg, r) "mov " SL_SPIN_SLOT(SL_FR_IN, r) ", %%" reg "\n\t"
// Compare out[r] with want (in[r], or keep[r] for rsp); on a difference leave
// r in rcx and jump to the failure exit 2:.
#define SL_SPIN_CMP(r, t)                                         \
	"mov " SL_SPIN_SLOT(SL_FR_OUT, r) ", %%rdx\n\t"           \
	"cmp " SL_SPIN_SLOT(t, r) ", %%rdx\n\t"                    \
	"mov $" SL_STR(r) ", %%ecx\n\t"                          \
	"jne 2f\n\t"

// Run one round on frame sf (static: after the loop the asm reaches it through
// a RIP-relative address, since every register holds a pattern).
static inline void
sl_spin_round(struct sl_spin_frame *sf)
{
	static struct sl_spin_frame f;

	f = *sf;
	__asm__ volatile(
		"lea %[f], %%rax\n\t"
		SL_KEEP_SAVE(SL_SPIN_SLOT)
		SL_SPIN_IN("rbx", SL_RBX)
		SL_SPIN_IN("rcx", SL_RCX)
		SL_SPIN_IN("rdx", SL_RDX)
		SL_SPIN_IN("rsi", SL_RSI)
		SL_SPIN_IN("rdi", SL_RDI)
		SL_SPIN_IN("rbp", SL_RBP)
		SL_SPIN_IN("r8", SL_R8)
		SL_SPIN_IN("r9", SL_R9)
		SL_SPIN_IN("r10", SL_R10)
		SL_SPIN_IN("r11", SL_R11)
		SL_SPIN_IN("r12", SL_R12)
		SL_SPIN_IN("r13", SL_R13)
		SL_SPIN_IN("r14", SL_R14)
		SL_SPIN_IN("r15", SL_R15)
		SL_SPIN_IN("rax", SL_RAX)
		"1:\n\t"
		"dec %%rax\n\t"
		"jnz 1b\n\t"
		"lea %[f], %%rax\n\t"
		SL_SPIN_OUT("rbx", SL_RBX)
		SL_SPIN_OUT("rcx", SL_RCX)
		SL_SPIN_OUT("rdx", SL_RDX)
		SL_SPIN_OUT("rsp", SL_RSP)
		SL_SPIN_OUT("rbp", SL_RBP)
		SL_SPIN_OUT("rsi", SL_RSI)
		SL_SPIN_OUT("rdi", SL_RDI)
		SL_SPIN_OUT("r8", SL_R8)
		SL_SPIN_OUT("r9", SL_R9)
		SL_SPIN_OUT("r10", SL_R10)
		SL_SPIN_OUT("r11", SL_R11)
		SL_SPIN_OUT("r12", SL_R12)
		SL_SPIN_OUT("r13", SL_R13)
		SL_SPIN_OUT("r14", SL_R14)
		SL_SPIN_OUT("r15", SL_R15)
		SL_SPIN_CMP(SL_RBX, SL_FR_IN)
		SL_SPIN_CMP(SL_RCX, SL_FR_IN)
		SL_SPIN_CMP(SL_RDX, SL_FR_IN)
		SL_SPIN_CMP(SL_RSP, SL_FR_KEEP)
		SL_SPIN_CMP(SL_RBP, SL_FR_IN)
		SL_SPIN_CMP(SL_RSI, SL_FR_IN)
		SL_SPIN_CMP(SL_RDI, SL_FR_IN)
		SL_SPIN_CMP(SL_R8, SL_FR_IN)
		SL_SPIN_CMP(SL_R9, SL_FR_IN)
		SL_SPIN_CMP(SL_R10, SL_FR_IN)
		SL_SPIN_CMP(SL_R11, SL_FR_IN)
		SL_SPIN_CMP(SL_R12, SL_FR_IN)
		SL_SPIN_CMP(SL_R13, SL_FR_IN)
		SL_SPIN_CMP(SL_R14, SL_FR_IN)
		SL_SPIN_CMP(SL_R15, SL_FR_IN)
		"mov $-1, %%rcx\n\t"
		"2:\n\t"
		"mov %%rcx, " SL_STR(SL_SPIN_BAD) "(%%rax)\n\t"
		SL_KEEP_RESTORE(SL_SPIN_SLOT)
		:
		: [f] "m"(f)
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "memory", "cc");
	*sf = f;
}

// Fill sf for round `round` of process pid: a pattern in every register but
// rax (the loop counter: iters) and rsp.
static inline void
sl_spin_setup(struct sl_spin_frame *sf, uint64_t seed, long pid, long round, uint64_t iters)
{
	for (int r = 0; r < SL_NREGS; r++)
		sf->fr.in[r] = sl_pattern(seed, (uint64_t)pid, (uint64_t)round, (uint64_t)r);
	sf->fr.in[SL_RAX] = iters;
	sf->fr.in[SL_RSP] = 0;
	sf->bad = -1;
}

#endif // STACKLABS_H
