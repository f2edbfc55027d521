// Phase 2: a 16 KiB kernel stack per process, from one arena handed out in
// ascending address order, and current_kernel_stack, the atomic through which the
// scheduler tells syscall_entry which stack to use. TSS.rsp0 still points at one
// static stack for every interrupt from ring 3.
#include <stdatomic.h>
#include "kernel.h"
#include "kstack.h"
#include "trap.h"
#include "smp.h"
#include "x86.h"

// LAB2 FULL BEGIN: kstack.c for phase 2, from kstack.h: per-process stacks, published to the entry code
#define ARENA_SLOTS NPROC
#define FALLBACK_SIZE (8 * 1024)

// Adjacent stacks: overflowing slot i runs into slot i-1, the process created
// just before (allocation takes the lowest free slot).
static u8 arena[ARENA_SLOTS][KSTACK_SIZE] __aligned(PAGE_SIZE);
static u8 slot_used[ARENA_SLOTS];
static u8 fallback_stack[FALLBACK_SIZE] __aligned(16);
static u8 irq_stack[KSTACK_SIZE] __aligned(16);	// TSS.rsp0: shared by all interrupts
u64 kstack_fallback_top;	// entry.asm panics if it finds rsp here

// LAB2 BEGIN: the published stack top and its accessors
// Read by syscall_entry with a plain mov. On x86 (TSO) every load already has
// acquire semantics and every store release semantics, so the atomics below compile
// to plain movs: what they buy is that the *compiler* may not move the store before
// the writes that prepare the stack, nor cache the value. On one CPU that is all
// that is needed; with several CPUs one variable cannot name every CPU's process.
_Atomic u64 current_kernel_stack;

void
set_kernel_stack(u64 top)
{
	atomic_store_explicit(&current_kernel_stack, top, memory_order_release);
}

u64
get_kernel_stack(void)
{
	return atomic_load_explicit(&current_kernel_stack, memory_order_acquire);
}

void
init_kernel_stack(void)
{
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
	set_kernel_stack(kstack_fallback_top);
}
// LAB2 END

void
kstack_init(void)
{
	init_kernel_stack();
}

// Every CPU's TSS.rsp0 is the one static interrupt stack.
void
kstack_init_cpu(struct cpu *c)
{
	c->tss->rsp0 = (u64)irq_stack + KSTACK_SIZE;
}

// The kernel never uses GS: the user's GS base simply stays loaded.
void
kstack_set_user_gs(u64 base)
{
	wrmsr(MSR_GS_BASE, base);
}

// LAB2 BEGIN: allocate, zero and free a per-process stack
// The lowest free arena slot, zeroed so no earlier owner's bytes survive.
int
kstack_alloc(struct proc *p)
{
	for (int i = 0; i < ARENA_SLOTS; i++) {
		if (slot_used[i])
			continue;
		slot_used[i] = 1;
		memset(arena[i], 0, KSTACK_SIZE);
		p->kstack_slot = i;
		p->kstack_base = (u64)arena[i];
		p->kstack_top = (u64)arena[i] + KSTACK_SIZE;
		return 0;
	}
	return -ENOMEM;
}

// Called only once p has switched away for the last time (proc_reap).
void
kstack_free(struct proc *p)
{
	if (p->kstack_slot >= 0)
		slot_used[p->kstack_slot] = 0;
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}

// Publish next's stack before it can run (IF=0). Kernel threads get the fallback.
void
kstack_switch_to(struct proc *next)
{
	set_kernel_stack(next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top);
}
// LAB2 END

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
	return get_kernel_stack();
}

void
kstack_describe(void)
{
	kprintf("  phase 2: arena 0x%016lx-0x%016lx (%d x 16 KiB, adjacent, no guards);\n"
		"  fallback 0x%016lx; interrupts from ring 3 use one static stack (TSS.rsp0)\n",
		(u64)arena, (u64)arena + sizeof arena, ARENA_SLOTS, kstack_fallback_top);
}
// LAB2 FULL END
