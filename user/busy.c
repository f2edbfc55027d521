// busy — keep the CPU busy in ring 3 while something from outside happens (an NMI
// injected through QEMU's monitor, a timer tick).
//
//   run busy spin MS      loop in ring 3 (one clock_gettime every 2^16 rounds)
//   run busy getpid MS    loop on raw getpid, checking every answer
//
// Prints "busy: ready pid=P" before the loop and "busy: done mode=M rounds=R" after
// MS milliseconds of CLOCK_MONOTONIC, then exits 0; exits 1 with "busy: bad getpid"
// if getpid ever answers another pid, 2 on bad arguments.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stacklabs.h"

static long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "spin") && strcmp(argv[1], "getpid"))) {
		printf("usage: busy spin|getpid MS\n");
		return 2;
	}
	int spin = strcmp(argv[1], "spin") == 0;
	long pid = sl_syscall3(SYS_getpid, 0, 0, 0);
	long end = now_ms() + atol(argv[2]);
	unsigned long rounds = 0;
	printf("busy: ready pid=%ld\n", pid);
	fflush(stdout);
	for (;;) {
		if (spin) {
			__asm__ volatile("" : "+r"(rounds));
			rounds++;
		} else {
			if (sl_syscall3(SYS_getpid, 0, 0, 0) != pid) {
				printf("busy: bad getpid\n");
				return 1;
			}
			rounds++;
		}
		if ((rounds & 0xffff) == 0 && now_ms() >= end)
			break;
	}
	printf("busy: done mode=%s rounds=%lu\n", argv[1], rounds);
	return 0;
}
