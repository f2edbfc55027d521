// t_fault — make one CPU exception in ring 3 and expect to be killed for it.
//
//   run t_fault [NONCE] KIND
//
// Prints "t_fault: about to KIND" (and, given a NONCE, the tagged line
// "RESULT fault kind=KIND pid=P" that proves it ran), then faults.  The kernel should print
//   [k] kill pid=P reason=#XX rip=0x... cr2=0x...
// and go on.  If the program is still alive afterwards it prints
// "t_fault: survived KIND" and exits 1.  An unknown KIND prints the usage
// line and exits 2.
//
// KIND         what it does                                  expected
// null-read    load from address 0                           #PF
// null-write   store to address 0                            #PF
// ud2          execute ud2                                   #UD
// div0         integer divide by a (volatile) zero           #DE
// priv         hlt in ring 3                                 #GP
// kernel-read  load from 0xffffffff80000000 (kernel half)    #PF
// noncanon     load from 0x8000000000000000 (non-canonical)  #GP
// text-write   store into this program's own code            #PF
// stack-exec   call a "ret" placed in a stack buffer         #PF (NX)
//
// The memory accesses are inline asm, so the compiler can neither drop them nor
// turn them into something else.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stacklabs.h"

// Start of the kernel half: where the kernel image is mapped.
#define FAULT_KERNEL_ADDR 0xffffffff80000000UL
// In the middle of the non-canonical hole: bits 63..47 are not all equal.
#define FAULT_NONCANON_ADDR 0x8000000000000000UL
// The x86 "ret" opcode.
#define FAULT_RET_OPCODE 0xc3

// Load 8 bytes from addr.
static uint64_t
fault_load(uintptr_t addr)
{
	uint64_t v;

	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(addr) : "memory");
	return v;
}

// Store 8 bytes of v at addr.
static void
fault_store(uintptr_t addr, uint64_t v)
{
	__asm__ volatile("movq %1, (%0)" : : "r"(addr), "r"(v) : "memory");
}

// Divide 1 by a zero the compiler cannot see, with the idiv instruction itself
// (GCC rewrites a C "1 / x" into compares that never divide).
static void
fault_div0(void)
{
	volatile int zero = 0;
	int divisor = zero;
	int quot, rem;

	__asm__ volatile("cltd\n\tidivl %2"
			 : "=a"(quot), "=&d"(rem)
			 : "r"(divisor), "a"(1)
			 : "cc");
	(void)quot;
	(void)rem;
}

// Store into the first byte of this function's own code.
static void
fault_text_write(void)
{
	uintptr_t here = (uintptr_t)fault_text_write;

	__asm__ volatile("movb $0xc3, (%0)" : : "r"(here) : "memory");
}

// Put a "ret" in a stack buffer and call it.
static void
fault_stack_exec(void)
{
	unsigned char code[16];
	void (*fn)(void) = (void (*)(void))(uintptr_t)code;

	memset(code, FAULT_RET_OPCODE, sizeof code);
	__asm__ volatile("" : : "r"(code) : "memory");
	fn();
}

// Do fault `kind`.  Returns 0 if the kind is known (and we came back), -1 if not.
static int
fault_do(const char *kind)
{
	if (strcmp(kind, "null-read") == 0)
		fault_load(0);
	else if (strcmp(kind, "null-write") == 0)
		fault_store(0, 1);
	else if (strcmp(kind, "ud2") == 0)
		__asm__ volatile("ud2");
	else if (strcmp(kind, "div0") == 0)
		fault_div0();
	else if (strcmp(kind, "priv") == 0)
		__asm__ volatile("hlt");
	else if (strcmp(kind, "kernel-read") == 0)
		fault_load(FAULT_KERNEL_ADDR);
	else if (strcmp(kind, "noncanon") == 0)
		fault_load(FAULT_NONCANON_ADDR);
	else if (strcmp(kind, "text-write") == 0)
		fault_text_write();
	else if (strcmp(kind, "stack-exec") == 0)
		fault_stack_exec();
	else
		return -1;
	return 0;
}

// Every KIND, in the order of the table above.
static const char *const fault_kinds[] = {
	"null-read",
	"null-write",
	"ud2",
	"div0",
	"priv",
	"kernel-read",
	"noncanon",
	"text-write",
	"stack-exec",
};

// Returns 1 iff kind is one of fault_kinds.
static int
fault_known(const char *kind)
{
	for (size_t i = 0; i < sizeof fault_kinds / sizeof fault_kinds[0]; i++)
		if (strcmp(kind, fault_kinds[i]) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *kind = argv[argc - 1];
	if (argc < 2 || argc > 3 || !fault_known(kind)) {
		printf("usage: t_fault [NONCE] null-read|null-write|ud2|div0|priv|kernel-read|"
		       "noncanon|text-write|stack-exec\n");
		return 2;
	}
	printf("t_fault: about to %s\n", kind);
	if (argc == 3)
		sl_result(argv[1], "fault kind=%s pid=%d", kind, (int)getpid());
	fflush(stdout);
	fault_do(kind);
	printf("t_fault: survived %s\n", kind);
	return 1;
}
