// bench — time a cheap system call.
//
//   run bench null 100000    getpid, 100000 times
//   run bench yield 100000   sched_yield, 100000 times
//
// Prints one line:
//   BENCH <mode> iters=N elapsed_ns=E ns_per_op=X.XX
// The calls are raw SYSCALLs (no libc wrapper), so the time is the entry path,
// the handler and the return, plus one loop iteration.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "stacklabs.h"

// Warm-up calls before the clock starts (fewer if ITERS is smaller): enough to
// bring the code and the kernel path into the caches, not enough to matter.
#define BENCH_WARMUP 1000

// Print how to call bench; returns the exit status for bad usage.
static int
bench_usage(void)
{
	printf("usage: bench null|yield ITERS\n");
	return 2;
}

// Make system call nr n times.
static void
bench_loop(long nr, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sl_syscall3(nr, 0, 0, 0);
}

int
main(int argc, char **argv)
{
	unsigned long iters;
	uint64_t t0, dt;
	char *end;
	long nr;

	if (argc != 3)
		return bench_usage();
	if (strcmp(argv[1], "null") == 0)
		nr = SYS_getpid;
	else if (strcmp(argv[1], "yield") == 0)
		nr = SYS_sched_yield;
	else
		return bench_usage();
	iters = strtoul(argv[2], &end, 10);
	if (*end != '\0' || iters == 0)
		return bench_usage();

	bench_loop(nr, iters < BENCH_WARMUP ? iters : BENCH_WARMUP);
	t0 = sl_now_ns();
	bench_loop(nr, iters);
	dt = sl_now_ns() - t0;
	printf("BENCH %s iters=%lu elapsed_ns=%llu ns_per_op=%.2f\n", argv[1], iters,
	       (unsigned long long)dt, (double)dt / (double)iters);
	return 0;
}
