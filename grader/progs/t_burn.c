// t_burn — run deep in the kernel.
//
//   run t_burn NONCE DEPTH [DELAY_MS]
//
// Sleeps DELAY_MS (default 20, so processes started together are all alive),
// then calls kstack_burn(DEPTH): DEPTH nested kernel frames of about 256 bytes.
// A 16 KiB kernel stack holds about 60 of them; deeper overflows it.  If the call
// comes back:
//   RESULT burn depth=D ret=R tag=...
// (R = the raw rax: D on success, -errno if the probe failed) and exit 0.
// Phase 3 is expected to kill the process instead ([k] kill ... kstack-guard).
#include <stdio.h>
#include <stdlib.h>

#include "stacklabs.h"

// Default sleep before burning.
#define BURN_DELAY_MS 20

int
main(int argc, char **argv)
{
	unsigned long depth;
	long delay, r;

	if (argc != 3 && argc != 4) {
		printf("usage: t_burn NONCE DEPTH [DELAY_MS]\n");
		return 2;
	}
	depth = strtoul(argv[2], NULL, 10);
	delay = argc == 4 ? atol(argv[3]) : BURN_DELAY_MS;
	sl_sleep_ms(delay);
	r = sl_kstack_burn(depth);
	if (r < 0)
		sl_probe_failed("t_burn", "kstack_burn", r);
	sl_result(argv[1], "burn depth=%lu ret=%ld", depth, r);
	return 0;
}
