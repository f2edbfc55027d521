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

// Print the DETAIL line for the bad register of sf.
static void
spin_detail(const struct sl_spin_frame *sf)
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
	struct sl_spin_frame sf;
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
		sl_spin_setup(&sf, seed, pid, ++rounds, SPIN_LOOP_ITERS);
		sl_spin_round(&sf);
		if (sf.bad >= 0 && bad++ == 0)
			spin_detail(&sf);
		end = sl_now_ns();
	} while (end - start < limit);
	sl_result(argv[1], "spin start=%llu end=%llu rounds=%ld bad=%ld",
		  (unsigned long long)start, (unsigned long long)end, rounds, bad);
	return bad == 0 ? 0 : 1;
}
