// asm-offsets.c — the offsets and constants the nasm files use, generated from the
// C definitions so the two can never drift apart (the idea of Linux's
// arch/x86/kernel/asm-offsets.c). Never linked: the Makefile compiles it with -S
// per phase and turns every marker line "->NAME value" of the assembly into
// "NAME equ value" in build/phaseN/include/asm-offsets.inc, which
// common/include/trapframe.inc includes.
#include "kernel.h"
#include "proc.h"
#include "trap.h"

// One marker line in the compiler's assembly output; %c0 prints the bare constant.
#define DEFINE(sym, val) __asm__ volatile("\n.ascii \"->" #sym " %c0\"" : : "i"((u64)(val)))
#define OFFSET(sym, str, mem) DEFINE(sym, offsetof(struct str, mem))

void asm_offsets(void);

void
asm_offsets(void)
{
	// struct trapframe (trap.h): what every entry path saves on a kernel stack.
	OFFSET(TF_R15, trapframe, r15);
	OFFSET(TF_R14, trapframe, r14);
	OFFSET(TF_R13, trapframe, r13);
	OFFSET(TF_R12, trapframe, r12);
	OFFSET(TF_R11, trapframe, r11);
	OFFSET(TF_R10, trapframe, r10);
	OFFSET(TF_R9, trapframe, r9);
	OFFSET(TF_R8, trapframe, r8);
	OFFSET(TF_RBP, trapframe, rbp);
	OFFSET(TF_RDI, trapframe, rdi);
	OFFSET(TF_RSI, trapframe, rsi);
	OFFSET(TF_RDX, trapframe, rdx);
	OFFSET(TF_RCX, trapframe, rcx);
	OFFSET(TF_RBX, trapframe, rbx);
	OFFSET(TF_RAX, trapframe, rax);
	OFFSET(TF_VECTOR, trapframe, vector);
	OFFSET(TF_ERR, trapframe, err);
	OFFSET(TF_RIP, trapframe, rip);
	OFFSET(TF_CS, trapframe, cs);
	OFFSET(TF_RFLAGS, trapframe, rflags);
	OFFSET(TF_RSP, trapframe, rsp);
	OFFSET(TF_SS, trapframe, ss);
	DEFINE(TF_SIZE, sizeof(struct trapframe));

	// struct context (proc.h): what swtch saves for a switched-away kernel thread.
	OFFSET(CTX_RSP, context, rsp);
	OFFSET(CTX_RBX, context, rbx);
	OFFSET(CTX_RBP, context, rbp);
	OFFSET(CTX_R12, context, r12);
	OFFSET(CTX_R13, context, r13);
	OFFSET(CTX_R14, context, r14);
	OFFSET(CTX_R15, context, r15);
	OFFSET(CTX_RIP, context, rip);
	DEFINE(CTX_SIZE, sizeof(struct context));

	// struct tss (trap.h), selectors and the system-call vector.
	OFFSET(TSS_RSP0, tss, rsp0);
	DEFINE(T_SYSCALL, T_SYSCALL);
	DEFINE(NVEC, NVEC);	// trap.asm: one stub per IDT vector
	DEFINE(SEL_KCODE, SEL_KCODE);
	DEFINE(SEL_KDATA, SEL_KDATA);
	DEFINE(SEL_UDATA, SEL_UDATA);
	DEFINE(SEL_UCODE, SEL_UCODE);
}
