// Phase 1: one global kernel stack, shared by every process, every system call and
// every interrupt from ring 3. kstack_alloc hands out the same stack to everyone.
#include "kernel.h"
#include "kstack.h"
#include "trap.h"
#include "smp.h"
#include "x86.h"

static u8 global_kstack[KSTACK_SIZE] __aligned(16);
u64 kstack_global_top;	// read by syscall_entry (entry.asm)

void
kstack_init(void)
{
	kstack_global_top = (u64)global_kstack + KSTACK_SIZE;
}

// Every CPU: interrupts from ring 3 land on the one global stack too.
void
kstack_init_cpu(struct cpu *c)
{
	c->tss->rsp0 = kstack_global_top;
}

// The kernel never uses GS: the user's GS base simply stays loaded.
void
kstack_set_user_gs(u64 base)
{
	wrmsr(MSR_GS_BASE, base);
}

// Every process "gets" the global stack.
int
kstack_alloc(struct proc *p)
{
	p->kstack_base = (u64)global_kstack;
	p->kstack_top = kstack_global_top;
	return 0;
}

void
kstack_free(struct proc *p)
{
	p->kstack_base = p->kstack_top = 0;
}

// Nothing to publish: the entry code always uses the global stack.
void
kstack_switch_to(struct proc *next __unused)
{
}

int
kstack_ist(int vector __unused)
{
	return 0;
}

void
kstack_double_fault(struct trapframe *tf __unused)
{
	// Returns unless it kills a process whose guard page was hit; trap() then panics.
}

u64
kstack_guard(struct proc *p __unused)
{
	return 0;
}

u64
kstack_entry_top(void)
{
	return kstack_global_top;
}

void
kstack_describe(void)
{
	kprintf("  phase 1: one global kernel stack 0x%016lx-0x%016lx for every process;\n"
		"  no guard pages; #DF, NMI and #MC run on the current stack\n",
		(u64)global_kstack, kstack_global_top);
}
