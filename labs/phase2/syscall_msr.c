// The SYSCALL MSRs: what the CPU does on `syscall` and `sysretq` (Intel SDM Vol. 3A
// 5.8.8, "Fast System Calls in 64-Bit Mode"; AMD APM Vol. 2 6.1.1). The same in every
// phase: lab 1's course-length starter (its full depth) has the student write it.
#include "kernel.h"
#include "syscall.h"
#include "trap.h"
#include "x86.h"

extern char syscall_entry[];

// LAB1 FULL BEGIN: program the SYSCALL MSRs: EFER.SCE, STAR, LSTAR, FMASK
// Bits SYSCALL clears in RFLAGS on entry, and why each one:
//   IF  no interrupt may arrive while rsp still points at the user stack;
//   TF  a single-step trap would fire in ring 0, on the user stack;
//   DF  the C ABI requires DF=0 and user code may have left it set;
//   AC  alignment checks are for user code; with SMAP, AC=1 would open user memory;
//   NT  a stale nested-task flag would make a later IRETQ fault.
#define FMASK_BITS (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT)

// STAR[47:32]: SYSCALL loads CS from it and SS = CS + 8 (kernel code 0x08, data 0x10).
// STAR[63:48]: SYSRETQ loads CS = base + 16 and SS = base + 8, both with RPL 3:
// base 0x10 gives user data 0x18 and user code 0x20, the GDT's order.
#define STAR_VALUE (((u64)SEL_KDATA << 48) | ((u64)SEL_KCODE << 32))

// Enable SYSCALL/SYSRET (EFER.SCE) and point the CPU at syscall_entry. Once, at boot,
// before the first process runs.
void
syscall_init(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_STAR, STAR_VALUE);
	wrmsr(MSR_LSTAR, (u64)syscall_entry);
	wrmsr(MSR_FMASK, FMASK_BITS);
}
// LAB1 FULL END
