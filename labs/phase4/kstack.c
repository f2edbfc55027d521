// Phase 4: phase 3's guarded stacks, on every CPU. Each CPU has its own per-CPU area
// (struct percpu below), reached through the GS base in the kernel: syscall_entry finds the
// running process's stack top there, and the scheduler keeps it and this CPU's own
// TSS.rsp0 on the process this CPU runs. Each CPU has its own IST stacks too: two
// CPUs can take a #DF at the same time.
#include "kernel.h"
#include "kstack.h"
#include "mm.h"
#include "trap.h"
#include "x86.h"
#include "smp.h"

#define FALLBACK_SIZE (8 * 1024)
#define SLOT_SIZE (PAGE_SIZE + KSTACK_SIZE)	// guard page, then the stack
#define NIST 3				// IST1 #DF, IST2 NMI, IST3 #MC
#define PROC_SLOT0 (NIST * NCPU)	// slots below: each CPU's IST stacks
#define NSLOTS (PROC_SLOT0 + NPROC)
#define KSTACK_FLAGS (PTE_P | PTE_W | PTE_NX)

// LAB4 FULL BEGIN: the per-CPU area: its layout, one per CPU, and this CPU's through GS
// The per-CPU area. Each CPU's GS base points at its own struct percpu while the CPU
// runs kernel code; the user's GS base waits in KERNEL_GS_BASE and swapgs exchanges
// the two on every way in and out of ring 3 (gsswap.inc, entry.asm). gsswap.inc
// gives the offsets to nasm; the asserts below check them.
struct percpu {
	struct percpu *self;	// its own address: C reads it with one gs-relative load
	u64 user_rsp;		// syscall_entry parks the user rsp here (this CPU only)
	u64 kstack_top;		// the running process's kernel stack top: the entry rsp
	struct proc *proc;	// the process on this CPU now
	u64 cpu;		// this CPU's number
	struct tss *tss;	// this CPU's TSS (rsp0 = kstack_top while a process runs)
} __aligned(64);	// a cache line each: CPUs never write each other's lines

// This CPU's area, through GS (kernel code only: in ring 0 GS is always the kernel's).
static inline struct percpu *
percpu(void)
{
	struct percpu *p;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(p));
	return p;
}

_Static_assert(offsetof(struct percpu, self) == 0, "gsswap.inc PCPU_SELF");
_Static_assert(offsetof(struct percpu, user_rsp) == 8, "gsswap.inc PCPU_USER_RSP");
_Static_assert(offsetof(struct percpu, kstack_top) == 16, "gsswap.inc PCPU_KSTACK_TOP");
_Static_assert(offsetof(struct percpu, proc) == 24, "gsswap.inc PCPU_PROC");
_Static_assert(offsetof(struct percpu, cpu) == 32, "gsswap.inc PCPU_CPU");
_Static_assert(offsetof(struct percpu, tss) == 40, "gsswap.inc PCPU_TSS");

struct percpu percpu_area[NCPU];	// one per CPU
// LAB4 FULL END

static u8 slot_used[NSLOTS];
static u8 fallback_stack[FALLBACK_SIZE] __aligned(16);
u64 kstack_fallback_top;	// entry.asm panics if it finds rsp here

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

void
kstack_init(void)
{
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
}

// Every CPU, on itself, before its first interrupt: its own TSS.rsp0 and IST
// stacks (slots c->id * NIST ...), and its per-CPU area, which becomes this CPU's
// kernel GS base (KERNEL_GS_BASE, the user's, starts at 0).
void
kstack_init_cpu(struct cpu *c)
{
	// LAB4 BEGIN: each CPU's own IST stacks and per-CPU area
	c->tss->rsp0 = kstack_fallback_top;
	for (int i = 0; i < NIST; i++) {
		int s = c->id * NIST + i;
		if (slot_map(s) < 0)
			panic("kstack_init: no memory for IST stacks");
		slot_used[s] = 1;
		c->tss->ist[i] = slot_base(s) + KSTACK_SIZE;
	}
	struct percpu *a = &percpu_area[c->id];
	a->self = a;
	a->kstack_top = kstack_fallback_top;
	a->proc = c->proc;
	a->cpu = c->id;
	a->tss = c->tss;
	c->kstack_area = (u64)a;
	wrmsr(MSR_GS_BASE, (u64)a);
	wrmsr(MSR_KERNEL_GS_BASE, 0);
	// LAB4 END
}

// In the kernel the GS base is this CPU's area: the user's waits in KERNEL_GS_BASE
// until the swapgs on the way back to ring 3. IF=0.
void
kstack_set_user_gs(u64 base)
{
	// LAB4 BEGIN: where the user's GS base waits
	wrmsr(MSR_KERNEL_GS_BASE, base);
	// LAB4 END
}

// The lowest free slot, mapped with zeroed frames.
int
kstack_alloc(struct proc *p)
{
	for (int i = PROC_SLOT0; i < NSLOTS; i++) {
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

// IF=0 here: no interrupt can see rsp0 half-way. Kernel threads get the fallback.
// Everything written is this CPU's: its area (through GS) and its own TSS.
void
kstack_switch_to(struct proc *next)
{
	u64 top = next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top;
	// LAB4 BEGIN: this CPU's stack top, process and TSS.rsp0
	struct percpu *a = percpu();
	a->kstack_top = top;
	a->proc = next;
	a->tss->rsp0 = top;
	// LAB4 END
}

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
	if (p && p->kstack_slot >= PROC_SLOT0 && cr2 >= slot_guard(p->kstack_slot) &&
	    cr2 < slot_base(p->kstack_slot))
		proc_kill(p, "kstack-guard", tf->rip, cr2);
}

u64
kstack_guard(struct proc *p)
{
	return p->kstack_slot >= 0 ? slot_guard(p->kstack_slot) : 0;
}

// LAB4 FULL BEGIN: what kstacks reads: this CPU's area, found without GS
// This CPU's per-CPU area (found without GS: `kstacks` may run on any CPU).
static struct percpu *
this_area(void)
{
	return (struct percpu *)this_cpu()->kstack_area;
}

u64
kstack_entry_top(void)
{
	struct percpu *a = this_area();
	return a ? a->kstack_top : tss.rsp0;
}

void
kstack_describe(void)
{
	struct percpu *a = this_area();
	int s = this_cpu()->id * NIST;
	for (int i = 0; i < NIST; i++)
		kprintf("  IST%d (%s): 0x%016lx-0x%016lx guard 0x%016lx\n", i + 1,
			i == 0 ? "#DF" : i == 1 ? "NMI" : "#MC", slot_base(s + i),
			slot_base(s + i) + KSTACK_SIZE, slot_guard(s + i));
	kprintf("  phase 4: guarded range at 0x%016lx, %d slots of guard + 16 KiB;\n"
		"  fallback 0x%016lx\n", KSTACK_VBASE, NSLOTS, kstack_fallback_top);
	if (a)
		kprintf("  per-CPU area of CPU %lu at 0x%016lx: kstack_top 0x%016lx, user_rsp "
			"slot 0x%016lx\n", a->cpu, (u64)a, a->kstack_top, a->user_rsp);
}
// LAB4 FULL END
