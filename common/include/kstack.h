// Kernel stacks: the part of the kernel each lab rewrites (labs/phaseN/kstack.c).
// Every phase implements exactly this interface; the rest of the kernel calls only it.
#pragma once
#include "types.h"
#include "proc.h"

#define KSTACK_SIZE (16 * 1024)

struct cpu;
void kstack_init(void);				// boot, once: shared stacks
void kstack_init_cpu(struct cpu *c);		// each CPU, on it: its TSS.rsp0, IST
void kstack_set_user_gs(u64 base);		// the GS base ring 3 gets back (switch,
						// arch_prctl); IF=0
int kstack_alloc(struct proc *p);		// give p a kernel stack; 0 or -ENOMEM
void kstack_free(struct proc *p);		// p has switched away for the last time
void kstack_switch_to(struct proc *next);	// context switch, IF=0, before swtch
int kstack_ist(int vector);			// IST index for an IDT vector, 0 = none
void kstack_double_fault(struct trapframe *tf);	// #DF: kill (no return) or return
u64 kstack_guard(struct proc *p);		// guard page below p's stack, 0 = none
void kstack_describe(void);			// phase-specific lines for `kstacks`
u64 kstack_entry_top(void);			// where syscall_entry puts rsp now
