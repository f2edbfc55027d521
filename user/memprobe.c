// memprobe — how much memory can one fresh process map?
//
//   run memprobe
//
// Maps anonymous memory, 1 MiB at a time and then 4 KiB at a time, until the kernel
// refuses, and prints "memprobe: pages=N" (4 KiB pages it got), then exits 0 and
// gives it all back.  Run before and after a test, the two counts must be equal: a
// frame the kernel lost (a leak) shows as a page fewer.  (A stand-in for a free-frame
// count the kernel itself reports.)
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "stacklabs.h"

#define PAGE 4096L
#define CHUNK (256 * PAGE)

static long
grab(long len)
{
	long n = 0;
	for (;;) {
		long a = sl_syscall6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a < 0 && a > -4096)
			return n;
		n += len / PAGE;
	}
}

int
main(void)
{
	long pages = grab(CHUNK);
	pages += grab(PAGE);
	printf("memprobe: pages=%ld\n", pages);
	return 0;
}
