// t_sleepers — are a process's registers intact after it slept in the kernel?
//
//   run t_sleepers NONCE ROUNDS MS [& t_sleepers NONCE ROUNDS MS ...]
//
// Each round makes one nanosleep(MS ms) SYSCALL from a single asm block that has
// loaded a pattern into every register (rdi = &req and rsi = 0 are nanosleep's
// arguments; rbx rbp rdx r8 r9 r10 r12..r15 get values derived from the nonce,
// the pid and the round) and stores every register right after the SYSCALL.
// Several sleepers blocked at once on one shared kernel stack clobber each
// other's saved registers; per-process stacks do not.
//
// Output: on the first bad round
//   DETAIL reg=<name> expected=0x<16 hex> got=0x<16 hex>
// and at the end
//   RESULT sleep rounds=N bad=B tag=...
// Exit status 0 iff no round was bad.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stacklabs.h"

// One round: nanosleep(ms) with the patterns of (seed, pid, round) loaded.
// Returns -1 if every register came back as it should (rax = 0), else the first
// register that did not, after printing its DETAIL line if *detailed is 0.
static int
ts_round(uint64_t seed, long pid, int round, long ms, int *detailed)
{
	struct sl_regframe f;
	int bad = sl_sleep_checked(&f, seed, pid, round, ms);

	if (bad >= 0 && !*detailed) {
		printf("DETAIL reg=%s expected=0x%016llx got=0x%016llx\n",
		       sl_reg_name(bad), (unsigned long long)f.in[bad],
		       (unsigned long long)f.out[bad]);
		*detailed = 1;
	}
	return bad;
}

int
main(int argc, char **argv)
{
	const char *nonce;
	int rounds, bad = 0, detailed = 0;
	long ms, pid;
	uint64_t seed;

	if (argc != 4) {
		printf("usage: t_sleepers NONCE ROUNDS MS\n");
		return 2;
	}
	nonce = argv[1];
	rounds = atoi(argv[2]);
	ms = atol(argv[3]);
	seed = sl_fnv1a64_str(nonce);
	pid = (long)getpid();
	for (int r = 1; r <= rounds; r++)
		if (ts_round(seed, pid, r, ms, &detailed) >= 0)
			bad++;
	sl_result(nonce, "sleep rounds=%d bad=%d", rounds, bad);
	return bad == 0 ? 0 : 1;
}
