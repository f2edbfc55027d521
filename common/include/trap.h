// The trap frame: what the entry stubs save on a kernel stack when the CPU enters
// the kernel (exception, interrupt or system call). One layout for all three, so a
// student reads one picture. The nasm offsets (TF_*) are generated from this struct
// (common/asm-offsets.c -> build/phaseN/include/asm-offsets.inc).
#pragma once
#include "types.h"

struct trapframe {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector;	// IDT vector, or T_SYSCALL
	u64 err;	// CPU error code; for a system call, the pid that entered (see syscall.c)
	// From here on the layout is the CPU's interrupt frame (IRETQ pops it).
	u64 rip, cs, rflags, rsp, ss;
};

#define T_DE 0	// divide error
#define T_DB 1
#define T_NMI 2
#define T_BP 3
#define T_OF 4
#define T_BR 5
#define T_UD 6	// invalid opcode
#define T_NM 7
#define T_DF 8	// double fault
#define T_TS 10
#define T_NP 11
#define T_SS 12
#define T_GP 13	// general protection
#define T_PF 14	// page fault
#define T_MF 16
#define T_AC 17
#define T_MC 18	// machine check
#define T_XM 19
#define T_IRQ0 32	// PIC IRQs 0-15 arrive on vectors 32-47
#define T_TIMER (T_IRQ0 + 0)
#define T_COM1 (T_IRQ0 + 4)
#define T_SPURIOUS (T_IRQ0 + 7)
#define T_SYSCALL 0x100	// not an IDT vector: marks frames built by syscall_entry

// Selectors (gdt.c). SYSCALL/SYSRET fix the order: see syscall_init().
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA (0x18 | 3)
#define SEL_UCODE (0x20 | 3)
#define SEL_TSS 0x28

struct tss {
	u32 reserved0;
	u64 rsp0;	// stack the CPU loads on an interrupt from ring 3
	u64 rsp1, rsp2;
	u64 reserved1;
	u64 ist[7];	// ist[0] is IST1
	u64 reserved2;
	u16 reserved3;
	u16 iomap_base;
} __packed;

extern struct tss tss;	// CPU 0's; this CPU's is cpu_tss() (smp.h)

// IDT entries with a stub: exceptions 0-31, PIC IRQs 32-47, LAPIC vectors 48-63 (smp.h)
#define NVEC 64

// gdt.c, idt.c, trap.c, trap.asm, panic.c
struct cpu;
void gdt_init(void);
void gdt_init_cpu(struct cpu *c);
void idt_init(void);
void idt_load(void);
const char *trap_name(u64 vector);	// idt.c
void trap(struct trapframe *tf);
void trap_dump(struct trapframe *tf);	// panic.c
extern u64 trap_stubs[NVEC];		// trap.asm: one entry stub per vector

// pic.c
void pic_init(void);
void pic_eoi(u64 vector);
void irq_window(void);	// let pending IRQs in, from a long loop with IF = 0
extern volatile int preempt_enabled;
