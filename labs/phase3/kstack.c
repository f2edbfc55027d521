// Phase 3: every kernel stack lives in a dedicated virtual range, 16 KiB mapped with
// 4 KiB pages over one unmapped guard page. TSS.rsp0 follows the running process
// (interrupts from ring 3 and syscall_entry both read it), and #DF, NMI and #MC run
// on IST stacks of their own, so a stack overflow becomes a clean kill.
#include "kernel.h"
#include "kstack.h"
#include "mm.h"
#include "trap.h"
#include "x86.h"
#include "smp.h"

// LAB3 FULL BEGIN: kstack.c for phase 3, from kstack.h: guarded stacks, IST stacks, TSS.rsp0 and the double-fault handler
#define FALLBACK_SIZE (8 * 1024)
#define SLOT_SIZE (PAGE_SIZE + KSTACK_SIZE)	// guard page, then the stack
#define NIST 3				// IST1 #DF, IST2 NMI, IST3 #MC
#define NSLOTS (NIST + NPROC)
#define KSTACK_FLAGS (PTE_P | PTE_W | PTE_NX)

static u8 slot_used[NSLOTS];
static u8 fallback_stack[FALLBACK_SIZE] __aligned(16);
u64 kstack_fallback_top;	// entry.asm panics if it finds rsp here

// LAB3 BEGIN: the guarded stack range
static u64
slot_guard(int i)
{
	return KSTACK_VBASE + (u64)i * SLOT_SIZE;
}

static u64
slot_base(int i)
{
	return slot_guard(i) + PAGE_SIZE;
}

// Map the 16 KiB above slot i's guard page with fresh zeroed frames; the guard page
// itself stays unmapped. The range's page tables hang under PML4 slot 510, created
// at boot, so every address space sees these mappings.
static int
slot_map(int i)
{
	return vm_alloc_range(kernel_pml4, slot_base(i), KSTACK_SIZE, KSTACK_FLAGS);
}

static void
slot_unmap(int i)
{
	vm_free_range(kernel_pml4, slot_base(i), KSTACK_SIZE);
}
// LAB3 END

void
kstack_init(void)
{
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
	tss.rsp0 = kstack_fallback_top;
	// LAB3 BEGIN: IST stacks for #DF, NMI and #MC
	for (int i = 0; i < NIST; i++) {
		if (slot_map(i) < 0)
			panic("kstack_init: no memory for IST stacks");
		slot_used[i] = 1;
		tss.ist[i] = slot_base(i) + KSTACK_SIZE;
	}
	// LAB3 END
}

// Another CPU's TSS, as a one-CPU design sees it: a copy of CPU 0's (the fallback
// as rsp0, the same IST stacks). Nothing updates it afterwards: kstack_switch_to
// writes `tss`, which is CPU 0's, whichever CPU it runs on.
void
kstack_init_cpu(struct cpu *c)
{
	if (c->tss == &tss)
		return;	// CPU 0: kstack_init set it up
	c->tss->rsp0 = kstack_fallback_top;
	memcpy(c->tss->ist, tss.ist, sizeof tss.ist);
}

// The kernel never uses GS: the user's GS base simply stays loaded.
void
kstack_set_user_gs(u64 base)
{
	wrmsr(MSR_GS_BASE, base);
}

// LAB3 BEGIN: allocate and free guarded stacks
// The lowest free slot, mapped with zeroed frames.
int
kstack_alloc(struct proc *p)
{
	for (int i = NIST; i < NSLOTS; i++) {
		if (slot_used[i])
			continue;
		if (slot_map(i) < 0)
			return -ENOMEM;
		slot_used[i] = 1;
		p->kstack_slot = i;
		p->kstack_base = slot_base(i);
		p->kstack_top = slot_base(i) + KSTACK_SIZE;
		return 0;
	}
	return -ENOMEM;
}

// Called only once p has switched away for the last time (proc_reap).
void
kstack_free(struct proc *p)
{
	if (p->kstack_slot >= 0) {
		slot_unmap(p->kstack_slot);
		slot_used[p->kstack_slot] = 0;
	}
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}
// LAB3 END

// LAB3 BEGIN: TSS.rsp0 follows the running process
// IF=0 here: no interrupt can see rsp0 half-way. Kernel threads get the fallback.
void
kstack_switch_to(struct proc *next)
{
	tss.rsp0 = next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top;
}
// LAB3 END

// LAB3 BEGIN: IST vectors and the double-fault handler
int
kstack_ist(int vector)
{
	switch (vector) {
	case T_DF:
		return 1;
	case T_NMI:
		return 2;
	case T_MC:
		return 3;
	default:
		return 0;
	}
}

// A kernel stack overflow touches the guard page; the CPU cannot push the #PF frame
// there either, so it raises #DF, which arrives here on IST1 with a good stack.
// A guard hit by the running process kills it; anything else returns (-> panic).
void
kstack_double_fault(struct trapframe *tf)
{
	// Returns unless it kills a process whose guard page was hit; trap() then panics.
	u64 cr2 = read_cr2();
	struct proc *p = current;
	if (p && p->kstack_slot >= NIST && cr2 >= slot_guard(p->kstack_slot) &&
	    cr2 < slot_base(p->kstack_slot))
		proc_kill(p, "kstack-guard", tf->rip, cr2);
}
// LAB3 END

u64
kstack_guard(struct proc *p)
{
	return p->kstack_slot >= 0 ? slot_guard(p->kstack_slot) : 0;
}

u64
kstack_entry_top(void)
{
	return tss.rsp0;
}

void
kstack_describe(void)
{
	for (int i = 0; i < NIST; i++)
		kprintf("  IST%d (%s): 0x%016lx-0x%016lx guard 0x%016lx\n", i + 1,
			i == 0 ? "#DF" : i == 1 ? "NMI" : "#MC", slot_base(i),
			slot_base(i) + KSTACK_SIZE, slot_guard(i));
	kprintf("  phase 3: guarded range at 0x%016lx, %d slots of guard + 16 KiB;\n"
		"  fallback 0x%016lx\n", KSTACK_VBASE, NSLOTS, kstack_fallback_top);
}
// LAB3 FULL END
