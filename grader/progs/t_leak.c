// t_leak — does one process's secret stay on the kernel stack for the next?
//
//   run t_leak NONCE scribble        kstack_scribble(secret, 512)
//   run t_leak NONCE scribble-hold   the same, then sleep 300 ms in the kernel
//   run t_leak NONCE peek            kstack_peek(buf, 512) as main's first call
//   run t_leak NONCE peek-late       sleep 100 ms, then the same peek
//
// The secret is 512 bytes of the PRNG seeded by the nonce (sl_rng_fill), so a
// scribbler and a later peeker given the same nonce agree on it without talking.
// Output:
//   RESULT leak role=scribble copied=N tag=...
//   RESULT leak role=peek copied=N matched=M run=R tag=...
// matched = positions i with buf[i] == secret[i]; run = the longest stretch of
// consecutive matching positions.  Both -peek modes report role=peek and both
// scribble modes role=scribble.  If the probe fails:
//   RESULT leak role=ROLE error=<rax> tag=...
// Exit status 0 when the probe answered, 1 on error, 2 on bad usage.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "stacklabs.h"

// How long scribble-hold stays asleep in the kernel after scribbling, and how
// long peek-late sleeps before peeking.
#define LEAK_HOLD_MS 300
#define LEAK_LATE_MS 100

// The secret and the peek buffer (static, so nothing on the user stack moves).
static unsigned char leak_secret[SL_PROBE_BUF_LEN];
static unsigned char leak_buf[SL_PROBE_BUF_LEN];

// Count the positions of the first n bytes where leak_buf matches the secret,
// and the longest run of consecutive matches.
static void
leak_compare(long n, int *matched, int *run)
{
	int cur = 0;

	*matched = 0;
	*run = 0;
	for (long i = 0; i < n; i++) {
		if (leak_buf[i] == leak_secret[i]) {
			(*matched)++;
			if (++cur > *run)
				*run = cur;
		} else {
			cur = 0;
		}
	}
}

// Scribble the secret; if hold, sleep LEAK_HOLD_MS before reporting.
static int
leak_scribble(const char *nonce, int hold)
{
	long r = sl_kstack_scribble(leak_secret, sizeof leak_secret);

	if (hold)
		sl_sleep_ms(LEAK_HOLD_MS);
	if (r < 0) {
		sl_probe_failed("t_leak", "kstack_scribble", r);
		sl_result(nonce, "leak role=scribble error=%ld", r);
		return 1;
	}
	sl_result(nonce, "leak role=scribble copied=%ld", r);
	return 0;
}

// Report a peek that returned r (already made: nothing may run before it).
static int
leak_report_peek(const char *nonce, long r)
{
	int matched, run;

	if (r < 0) {
		sl_probe_failed("t_leak", "kstack_peek", r);
		sl_result(nonce, "leak role=peek error=%ld", r);
		return 1;
	}
	leak_compare(r < SL_PROBE_BUF_LEN ? r : SL_PROBE_BUF_LEN, &matched, &run);
	sl_result(nonce, "leak role=peek copied=%ld matched=%d run=%d", r, matched, run);
	return 0;
}

int
main(int argc, char **argv)
{
	struct sl_rng rng;
	const char *mode;
	long r;

	if (argc != 3) {
		printf("usage: t_leak NONCE scribble|scribble-hold|peek|peek-late\n");
		return 2;
	}
	mode = argv[2];
	sl_rng_seed(&rng, argv[1]);
	sl_rng_fill(&rng, leak_secret, sizeof leak_secret);
	// No system call may come before the peek: it would reuse the kernel stack.
	if (strcmp(mode, "peek") == 0) {
		r = sl_kstack_peek(leak_buf, sizeof leak_buf);
		return leak_report_peek(argv[1], r);
	}
	if (strcmp(mode, "peek-late") == 0) {
		sl_sleep_ms(LEAK_LATE_MS);
		r = sl_kstack_peek(leak_buf, sizeof leak_buf);
		return leak_report_peek(argv[1], r);
	}
	if (strcmp(mode, "scribble") == 0)
		return leak_scribble(argv[1], 0);
	if (strcmp(mode, "scribble-hold") == 0)
		return leak_scribble(argv[1], 1);
	printf("usage: t_leak NONCE scribble|scribble-hold|peek|peek-late\n");
	return 2;
}
