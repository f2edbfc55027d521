// hello — the first program every phase runs.
//
//   run hello world   ->  Hello, world! (pid P, argc 2)
//                         hello: malloc ok
//
// The name greeted is argv[1..] joined by spaces ("world" when there is none).
// Then a few malloc/free rounds, one of them bigger than musl's mmap threshold,
// so brk, mmap and munmap all get used once before the labs start.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Longest greeting name kept; longer argument lists are cut.
#define HELLO_NAME_MAX 200

// musl serves requests above 128 KiB (its MMAP_THRESHOLD) with their own mmap;
// this block is comfortably past it.
#define HELLO_BIG_BLOCK (256 * 1024)

// Join argv[1..argc-1] with single spaces into name (size n).  "world" if none.
static void
hello_name(int argc, char **argv, char *name, size_t n)
{
	name[0] = '\0';
	for (int i = 1; i < argc; i++) {
		if (i > 1)
			strncat(name, " ", n - strlen(name) - 1);
		strncat(name, argv[i], n - strlen(name) - 1);
	}
	if (name[0] == '\0')
		snprintf(name, n, "world");
}

// Fill len bytes at p with a pattern derived from seed.
static void
hello_fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

// Returns 1 iff the len bytes at p still hold hello_fill's pattern for seed.
static int
hello_intact(const unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(i * 31 + seed))
			return 0;
	return 1;
}

// Allocate blocks of several sizes (one past the mmap threshold), fill them,
// check them, free them.  Returns 0, or -1 after printing what went wrong.
static int
hello_malloc(void)
{
	static const size_t sizes[] = {
		16,
		100,
		4096,
		40000,
		HELLO_BIG_BLOCK,
	};
	enum { N = sizeof sizes / sizeof sizes[0] };
	unsigned char *p[N];

	for (int i = 0; i < N; i++) {
		p[i] = malloc(sizes[i]);
		if (p[i] == NULL) {
			printf("hello: malloc FAIL size=%zu returned NULL\n", sizes[i]);
			return -1;
		}
		hello_fill(p[i], sizes[i], (unsigned)i);
	}
	for (int i = 0; i < N; i++) {
		if (!hello_intact(p[i], sizes[i], (unsigned)i)) {
			printf("hello: malloc FAIL size=%zu contents changed\n", sizes[i]);
			return -1;
		}
	}
	for (int i = N - 1; i >= 0; i--)
		free(p[i]);
	return 0;
}

int
main(int argc, char **argv)
{
	char name[HELLO_NAME_MAX];

	hello_name(argc, argv, name, sizeof name);
	printf("Hello, %s! (pid %d, argc %d)\n", name, (int)getpid(), argc);
	if (hello_malloc() != 0)
		return 1;
	printf("hello: malloc ok\n");
	return 0;
}
