// sleeper — the phase-1 flaw, live.
//
//   run sleeper 100 5 & sleeper 100 5
//
// Each round prints "sleeper pid=P round=R", then sleeps MS milliseconds
// (default 100) in one nanosleep SYSCALL made with a pattern in every register,
// and checks that the registers came back.  With one shared kernel stack, two
// sleepers blocked in the kernel at once overwrite each other's saved registers:
//   sleeper: registers corrupted (round R: rbx expected 0x.. got 0x..)
// and exit 2.  Otherwise exit 0 after ROUNDS rounds (default 5).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stacklabs.h"

// Defaults when MS or ROUNDS is not given.
#define SLEEPER_MS 100
#define SLEEPER_ROUNDS 5

// A seed for the register patterns; any constant does.
#define SLEEPER_SEED 0x51ee9e7ULL

// One nanosleep of ms with patterns for (pid, round) in the registers.
// Returns -1 if every register survived (and nanosleep returned 0), else the
// number of the first register that did not, with *want / *got its values.
static int
sleeper_round(long pid, int round, long ms, uint64_t *want, uint64_t *got)
{
	struct sl_regframe f;
	int bad = sl_sleep_checked(&f, SLEEPER_SEED, pid, round, ms);

	if (bad >= 0) {
		*want = f.in[bad];
		*got = f.out[bad];
	}
	return bad;
}

int
main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : SLEEPER_MS;
	int rounds = argc > 2 ? atoi(argv[2]) : SLEEPER_ROUNDS;
	long pid = (long)getpid();
	uint64_t want, got;
	int bad;

	for (int r = 1; r <= rounds; r++) {
		printf("sleeper pid=%ld round=%d\n", pid, r);
		fflush(stdout);
		bad = sleeper_round(pid, r, ms, &want, &got);
		if (bad >= 0) {
			printf("sleeper: registers corrupted (round %d: %s expected "
			       "0x%016llx got 0x%016llx)\n", r, sl_reg_name(bad),
			       (unsigned long long)want, (unsigned long long)got);
			return 2;
		}
	}
	printf("sleeper pid=%ld done\n", pid);
	return 0;
}
