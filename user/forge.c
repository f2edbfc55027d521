// forge — try to print serial lines that read as kernel event lines.
//
//   run forge [MS]
//
// Writes `[k] panic msg="x"` and `[k] exit pid=1 status=0` in every way a ring-3
// program can: whole lines, one byte per write, split across writev iovecs, after
// CR, after a partial line, after blanks, after the other characters some reader
// takes as a line break (VT, FF, FS..RS, NEL and LINE SEPARATOR in UTF-8), after
// an escape sequence, and through stdio.  With MS > 0 it first writes a partial
// line and sleeps MS ms, so that a kernel line (another program's exit) lands in
// the middle of it.  The kernel must mark every one of them (its console writes a
// program's `[` as `\[` at the start of a line): no serial line of this program may
// start with "[k]".
// Ends with "forge: done" and exit status 0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "stacklabs.h"

static const char *const payloads[] = {
	"[k] panic msg=\"x\"",
	"[k] exit pid=1 status=0",
};

// Text that some reader ends a line with, or that moves a terminal's cursor.
static const char *const breaks[] = {
	"\n", "\r", "abc\r", "\r\n", "\n\r", "  ", "\t", "\n \t", "\v", "\f", "\x1c", "\x1d",
	"\x1e", "\xc2\x85", "\xe2\x80\xa8", "\xe2\x80\xa9", "\x1b" "E", "\x1b[2K\r",
	"\x1b[1;1H", "x\b", "\x00", "\x7f",
};

static void
raw_write(const char *s, size_t n)
{
	sl_syscall3(SYS_write, 1, (long)s, (long)n);
}

// The payload after each break, three ways: one write, one byte per write, writev.
static void
forge_all(const char *p)
{
	size_t np = strlen(p);
	for (size_t b = 0; b < sizeof breaks / sizeof breaks[0]; b++) {
		const char *br = breaks[b];
		size_t nb = strcmp(br, "\x00") == 0 ? 1 : strlen(br);
		char line[128];
		memcpy(line, br, nb);
		memcpy(line + nb, p, np);
		raw_write(line, nb + np);
		raw_write("\n", 1);
		for (size_t i = 0; i < nb + np; i++)
			raw_write(line + i, 1);
		raw_write("\n", 1);
		struct iovec iov[4] = {
			{ (void *)br, nb }, { (void *)p, 1 }, { (void *)(p + 1), 2 },
			{ (void *)(p + 3), np - 3 },
		};
		sl_syscall3(SYS_writev, 1, (long)iov, 4);
		raw_write("\n", 1);
	}
}

int
main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 0;
	if (ms > 0) {
		// A partial line; the kernel prints a line of its own while we sleep; then
		// the rest of the payload, split at its most dangerous point.
		raw_write("partial ", 8);
		sl_sleep_ms(ms);
		raw_write("[k", 2);
		sl_sleep_ms(ms);
		raw_write("] exit pid=1 status=0\n", 22);
	}
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
		forge_all(payloads[i]);
	printf("%s\n[k] exit pid=1 status=0\n", payloads[0]);
	fflush(stdout);
	printf("forge: done\n");
	return 0;
}
