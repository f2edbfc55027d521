// xfault — the ring-3 exceptions that need a control bit set by the kernel.
//
//   run xfault x87|ac|sse
//
// x87  unmask the x87 zero-divide exception, divide 1 by 0, fwait   -> #MF (CR0.NE)
// ac   set EFLAGS.AC, load 4 bytes from an odd address              -> #AC (CR0.AM)
// sse  unmask the SSE zero-divide exception, divss by 0             -> #XM (CR4.OSXMMEXCPT)
//
// Prints "xfault: about to KIND", then faults; the kernel should print
//   [k] kill pid=P reason=#MF|#AC|#XM ...
// If the program is still alive it prints "xfault: survived KIND" and exits 1
// (Linux: SIGFPE, SIGBUS, SIGFPE).  Unknown KIND: usage, exit 2.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// x87 control word: every exception masked except zero-divide (bit 2, ZM).
#define X87_CW_UNMASK_ZE 0x037b
// MXCSR: default 0x1f80 with ZM (bit 9) cleared.
#define MXCSR_UNMASK_ZE 0x1d80
// EFLAGS.AC, the alignment-check flag.
#define RFLAGS_AC (1UL << 18)

static void
x87_divide_by_zero(void)
{
	uint16_t cw = X87_CW_UNMASK_ZE;
	__asm__ volatile("fninit\n\tfldcw %0\n\tfld1\n\tfldz\n\tfdivrp\n\tfwait\n\tfstp %%st(0)"
			 : : "m"(cw) : "memory");
}

static void
misaligned_load_with_ac(void)
{
	static char buf[16] __attribute__((aligned(16)));
	uint32_t v;
	__asm__ volatile("pushfq\n\torq %2, (%%rsp)\n\tpopfq\n\t"
			 "movl (%1), %0\n\t"
			 "pushfq\n\tandq %3, (%%rsp)\n\tpopfq"
			 : "=&r"(v) : "r"(buf + 1), "r"(RFLAGS_AC), "r"(~RFLAGS_AC) : "cc", "memory");
	(void)v;
}

static void
sse_divide_by_zero(void)
{
	uint32_t csr = MXCSR_UNMASK_ZE;
	float one = 1.0f, zero = 0.0f;
	__asm__ volatile("ldmxcsr %2\n\tdivss %1, %0" : "+x"(one) : "x"(zero), "m"(csr));
}

int
main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "";
	void (*fn)(void) = strcmp(kind, "x87") == 0 ? x87_divide_by_zero
			   : strcmp(kind, "ac") == 0 ? misaligned_load_with_ac
			   : strcmp(kind, "sse") == 0 ? sse_divide_by_zero : NULL;
	if (!fn) {
		printf("usage: xfault x87|ac|sse\n");
		return 2;
	}
	printf("xfault: about to %s\n", kind);
	fflush(stdout);
	fn();
	printf("xfault: survived %s\n", kind);
	return 1;
}
