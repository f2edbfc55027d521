// t_spin — do a process's registers survive being preempted in ring 3?
//
//   run t_spin NONCE MS [& t_spin NONCE MS ...]      (with "set preempt on")
//
// Rounds run until MS milliseconds of CLOCK_MONOTONIC have passed.  Each round
// is one asm block: it loads a pattern (from the nonce, the pid and the round)
// into rbx rcx rdx rsi rdi rbp r8..r15, counts rax down from SPIN_LOOP_ITERS in
// a loop that touches nothing else, then compares every pattern register, and rsp
// against its value at the block's entry.  No system call happens inside the
// block, so only an interrupt (a timer tick and a switch to another process) can
// change those registers: the kernel must save and restore all of them.
//
// Output: on the first bad round
//   DETAIL reg=<name> expected=0x<16 hex> got=0x<16 hex>
// and at the end
//   RESULT spin start=S end=E rounds=R bad=B tag=...
// with S and E in ns of CLOCK_MONOTONIC.  Exit status 0 iff no round was bad.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "stacklabs.h"

// Iterations of the tight loop in one round: a few milliseconds under QEMU
// TCG, so a round spans several timer ticks.
#define SPIN_LOOP_ITERS 2000000

// One round's registers: the sl_regframe tables (in: patterns, in[SL_RAX]: the
// loop count; out: every register after the loop; keep: the compiler's
// callee-saved registers and rsp at entry) and the verdict written by the asm.
struct spin_frame {
	struct sl_regframe fr;
	int64_t bad; // -1, or the number of the first register that changed
};

// Byte offset of spin_frame.bad, for the assembly.
#define SPIN_BAD 384
_Static_assert(offsetof(struct spin_frame, bad) == SPIN_BAD, "spin_frame.bad");

// Text of "disp(%rax)" for register r's slot in table t.
#define SPIN_SLOT(t, r) SL_STR(((t) + 8 * (r))) "(%%rax)"

// Store register r into out[] ("mov %%reg, out_r(%rax)").
#define SPIN_OUT(reg, r) "mov %%" reg ", " SPIN_SLOT(SL_FR_OUT, r) "\n\t"
// Load register r from in[].
#define SPIN_IN(reg, r) "mov " SPIN_SLOT(SL_FR_IN, r) ", %%" reg "\n\t"
// Compare out[r] with want (in[r], or keep[r] for rsp); on a difference leave
// r in rcx and jump to the failure exit 2:.
#define SPIN_CMP(r, t)                                         \
	"mov " SPIN_SLOT(SL_FR_OUT, r) ", %%rdx\n\t"           \
	"cmp " SPIN_SLOT(t, r) ", %%rdx\n\t"                    \
	"mov $" SL_STR(r) ", %%ecx\n\t"                          \
	"jne 2f\n\t"

// Run one round on frame sf (static: after the loop the asm reaches it through
// a RIP-relative address, since every register holds a pattern).
static void
spin_round(struct spin_frame *sf)
{
	static struct spin_frame f;

	f = *sf;
	__asm__ volatile(
		"lea %[f], %%rax\n\t"
		"mov %%rbx, " SPIN_SLOT(SL_FR_KEEP, SL_RBX) "\n\t"
		"mov %%rbp, " SPIN_SLOT(SL_FR_KEEP, SL_RBP) "\n\t"
		"mov %%r12, " SPIN_SLOT(SL_FR_KEEP, SL_R12) "\n\t"
		"mov %%r13, " SPIN_SLOT(SL_FR_KEEP, SL_R13) "\n\t"
		"mov %%r14, " SPIN_SLOT(SL_FR_KEEP, SL_R14) "\n\t"
		"mov %%r15, " SPIN_SLOT(SL_FR_KEEP, SL_R15) "\n\t"
		"mov %%rsp, " SPIN_SLOT(SL_FR_KEEP, SL_RSP) "\n\t"
		SPIN_IN("rbx", SL_RBX)
		SPIN_IN("rcx", SL_RCX)
		SPIN_IN("rdx", SL_RDX)
		SPIN_IN("rsi", SL_RSI)
		SPIN_IN("rdi", SL_RDI)
		SPIN_IN("rbp", SL_RBP)
		SPIN_IN("r8", SL_R8)
		SPIN_IN("r9", SL_R9)
		SPIN_IN("r10", SL_R10)
		SPIN_IN("r11", SL_R11)
		SPIN_IN("r12", SL_R12)
		SPIN_IN("r13", SL_R13)
		SPIN_IN("r14", SL_R14)
		SPIN_IN("r15", SL_R15)
		SPIN_IN("rax", SL_RAX)
		"1:\n\t"
		"dec %%rax\n\t"
		"jnz 1b\n\t"
		"lea %[f], %%rax\n\t"
		SPIN_OUT("rbx", SL_RBX)
		SPIN_OUT("rcx", SL_RCX)
		SPIN_OUT("rdx", SL_RDX)
		SPIN_OUT("rsp", SL_RSP)
		SPIN_OUT("rbp", SL_RBP)
		SPIN_OUT("rsi", SL_RSI)
		SPIN_OUT("rdi", SL_RDI)
		SPIN_OUT("r8", SL_R8)
		SPIN_OUT("r9", SL_R9)
		SPIN_OUT("r10", SL_R10)
		SPIN_OUT("r11", SL_R11)
		SPIN_OUT("r12", SL_R12)
		SPIN_OUT("r13", SL_R13)
		SPIN_OUT("r14", SL_R14)
		SPIN_OUT("r15", SL_R15)
		SPIN_CMP(SL_RBX, SL_FR_IN)
		SPIN_CMP(SL_RCX, SL_FR_IN)
		SPIN_CMP(SL_RDX, SL_FR_IN)
		SPIN_CMP(SL_RSP, SL_FR_KEEP)
		SPIN_CMP(SL_RBP, SL_FR_IN)
		SPIN_CMP(SL_RSI, SL_FR_IN)
		SPIN_CMP(SL_RDI, SL_FR_IN)
		SPIN_CMP(SL_R8, SL_FR_IN)
		SPIN_CMP(SL_R9, SL_FR_IN)
		SPIN_CMP(SL_R10, SL_FR_IN)
		SPIN_CMP(SL_R11, SL_FR_IN)
		SPIN_CMP(SL_R12, SL_FR_IN)
		SPIN_CMP(SL_R13, SL_FR_IN)
		SPIN_CMP(SL_R14, SL_FR_IN)
		SPIN_CMP(SL_R15, SL_FR_IN)
		"mov $-1, %%rcx\n\t"
		"2:\n\t"
		"mov %%rcx, " SL_STR(SPIN_BAD) "(%%rax)\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_RSP) ", %%rsp\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_RBX) ", %%rbx\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_RBP) ", %%rbp\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_R12) ", %%r12\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_R13) ", %%r13\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_R14) ", %%r14\n\t"
		"mov " SPIN_SLOT(SL_FR_KEEP, SL_R15) ", %%r15\n\t"
		:
		: [f] "m"(f)
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "memory", "cc");
	*sf = f;
}

// Fill sf for round `round` of process pid: a pattern in every register but
// rax (the loop counter) and rsp.
static void
spin_setup(struct spin_frame *sf, uint64_t seed, long pid, long round)
{
	for (int r = 0; r < SL_NREGS; r++)
		sf->fr.in[r] = sl_pattern(seed, (uint64_t)pid, (uint64_t)round, (uint64_t)r);
	sf->fr.in[SL_RAX] = SPIN_LOOP_ITERS;
	sf->fr.in[SL_RSP] = 0;
	sf->bad = -1;
}

// Print the DETAIL line for the bad register of sf.
static void
spin_detail(const struct spin_frame *sf)
{
	int r = (int)sf->bad;
	uint64_t want = r == SL_RSP ? sf->fr.keep[SL_RSP] : sf->fr.in[r];

	printf("DETAIL reg=%s expected=0x%016llx got=0x%016llx\n", sl_reg_name(r),
	       (unsigned long long)want, (unsigned long long)sf->fr.out[r]);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct spin_frame sf;
	uint64_t seed, start, end, limit;
	long pid, rounds = 0, bad = 0;

	if (argc != 3) {
		printf("usage: t_spin NONCE MS\n");
		return 2;
	}
	seed = sl_fnv1a64_str(argv[1]);
	pid = (long)getpid();
	limit = (uint64_t)atol(argv[2]) * 1000000ULL;
	start = sl_now_ns();
	do {
		spin_setup(&sf, seed, pid, ++rounds);
		spin_round(&sf);
		if (sf.bad >= 0 && bad++ == 0)
			spin_detail(&sf);
		end = sl_now_ns();
	} while (end - start < limit);
	sl_result(argv[1], "spin start=%llu end=%llu rounds=%ld bad=%ld",
		  (unsigned long long)start, (unsigned long long)end, rounds, bad);
	return bad == 0 ? 0 : 1;
}
