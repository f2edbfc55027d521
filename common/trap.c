// trap(): every interrupt and exception lands here with a trap frame.
//   - a fault in ring 3 kills only that process ([k] kill ...);
//   - a fault in ring 0 is a kernel bug: panic with the registers (a #DF first goes to
//     the phase's kstack code, which in phase 3 may recognise a guard-page hit);
//   - an NMI is logged and returns wherever it landed; a machine check (#MC) is a
//     hardware error, so a panic that says so, whichever ring it interrupted;
//   - the timer ticks, wakes sleepers and, with preemption on, takes the CPU from a
//     process that was running in ring 3.
#include "kernel.h"
#include "trap.h"
#include "proc.h"
#include "kstack.h"
#include "timer.h"
#include "x86.h"
#include "smp.h"
#include "syscall.h"

_Static_assert(offsetof(struct tss, rsp0) == 4, "TSS layout");
_Static_assert(offsetof(struct tss, ist) == 36, "TSS layout");
_Static_assert(sizeof(struct tss) == 104, "TSS layout");

volatile int preempt_enabled;

static int
from_user(struct trapframe *tf)
{
	return (tf->cs & 3) == 3;
}

// NMIs that landed where the kernel may be in the middle of printing a line: ring 0
// with IF=0. The kernel enables interrupts only in ring 3 and while idle, so the
// CPU's next timer tick is a safe place to log them. One ring per CPU (QEMU's `nmi`
// reaches every CPU at once), written only by that CPU's nmi() and read only by that
// CPU's nmi_flush(): no lock, only the order of the two counters.
#define NMI_PENDING 16
static struct {
	u64 rips[NMI_PENDING];
	volatile u32 head, tail;	// next to log, next free
	volatile u64 lost;		// more pending than the ring holds
} nmi_ring[NCPU];

static void
nmi_flush(void)
{
	int id = this_cpu()->id;
	typeof(&nmi_ring[0]) r = &nmi_ring[id];
	while (r->head != r->tail) {
		u64 rip = r->rips[r->head % NMI_PENDING];
		r->head++;
		klog("nmi cpu=%d rip=0x%lx", id, rip);
	}
	if (r->lost) {
		u64 n = r->lost;
		r->lost = 0;
		klog("nmi cpu=%d unlogged=%lu", id, n);
	}
}

// Vector 2: not a fault of whoever runs. Log it ([k] nmi cpu=N rip=...) and return to
// where it landed, kernel or user, whatever the stack: phases 1-2 take it on the
// interrupted stack (in ring 0 that may still be the user stack, for the two
// instructions of syscall_entry before the switch), phases 3-4 on IST2. NMIs stay
// blocked until the IRETQ that ends this, so it never nests.
static void
nmi(struct trapframe *tf)
{
	typeof(&nmi_ring[0]) r = &nmi_ring[this_cpu()->id];
	if (r->tail - r->head < NMI_PENDING)
		r->rips[r->tail % NMI_PENDING] = tf->rip, r->tail++;
	else
		r->lost++;
	if (tf->rflags & RFLAGS_IF)
		nmi_flush();	// ring 3 or idle: no line of the kernel's is half written
}

static void
trap_exception(struct trapframe *tf)
{
	if (tf->vector == T_NMI) {
		nmi(tf);
		return;
	}
	if (tf->vector == T_MC)
		panic_trap(tf, "machine check (#MC) at rip 0x%lx (pid %d): the hardware reports "
			   "an error it could not correct", tf->rip, current ? current->pid : -1);
	if (from_user(tf)) {
		u64 cr2 = tf->vector == T_PF ? read_cr2() : 0;
		proc_kill(current, trap_name(tf->vector), tf->rip, cr2);
	}
	if (tf->vector == T_DF)
		kstack_double_fault(tf);	// returns only if it is not a guard-page hit
	panic_trap(tf, "%s in kernel at rip 0x%lx (pid %d)", trap_name(tf->vector), tf->rip,
		   current ? current->pid : -1);
}

// Preempt only a process caught in ring 3: the kernel itself is not preemptible
// (it runs with IF=0 except while idle).
static void
preempt(struct trapframe *tf)
{
	if (preempt_enabled && from_user(tf) && current->pid > 0)
		sched_yield();
}

void
trap(struct trapframe *tf)
{
	// With one CPU, phase 2's interrupts from ring 3 share one stack by design;
	// with several, any phase's may land on another process's stack: say so.
	if (from_user(tf) && ncpu_up > 1 && current->pid > 0)
		kstack_check_own(current, tf, "interrupt");
	if (tf->vector < 32) {
		trap_exception(tf);
		return;
	}
	switch (tf->vector) {
	case T_TIMER:	// the PIT, on CPU 0 only
		nmi_flush();
		timer_tick();
		pic_eoi(tf->vector);
		preempt(tf);
		return;
	case T_LAPIC_TIMER:	// each AP's own tick
		nmi_flush();
		this_cpu()->ticks++;
		lapic_eoi();
		preempt(tf);
		return;
	case T_IPI_TLB:
		tlb_service();
		lapic_eoi();
		return;
	case T_IPI_WAKE:	// the idle loop looks for work once this returns
		lapic_eoi();
		return;
	case T_IPI_HALT:
		for (;;)
			__asm__ volatile("cli; hlt");
	case T_LAPIC_SPURIOUS:
		return;	// no EOI for a spurious LAPIC interrupt (SDM 11.9)
	case T_COM1:
		console_irq();
		pic_eoi(tf->vector);
		return;
	case T_SPURIOUS:
		return;	// spurious IRQ 7: no EOI
	default:
		pic_eoi(tf->vector);
	}
}
