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
// with IF=0. The kernel enables interrupts only in ring 3 and while idle, so the next
// timer tick is a safe place to log them. Written only by nmi(), read only by
// nmi_flush(): a single CPU needs no lock, only the order of the two counters.
#define NMI_PENDING 16
static u64 nmi_rips[NMI_PENDING];
static volatile u32 nmi_head, nmi_tail;	// next to log, next free
static volatile u64 nmi_lost;		// more pending than the ring holds

static void
nmi_flush(void)
{
	while (nmi_head != nmi_tail) {
		u64 rip = nmi_rips[nmi_head % NMI_PENDING];
		nmi_head++;
		klog("nmi cpu=0 rip=0x%lx", rip);
	}
	if (nmi_lost) {
		u64 n = nmi_lost;
		nmi_lost = 0;
		klog("nmi cpu=0 unlogged=%lu", n);
	}
}

// Vector 2: not a fault of whoever runs. Log it ([k] nmi cpu=0 rip=...) and return to
// where it landed, kernel or user, whatever the stack: phases 1-2 take it on the
// interrupted stack (in ring 0 that may still be the user stack, for the two
// instructions of syscall_entry before the switch), phase 3 on IST2. NMIs stay
// blocked until the IRETQ that ends this, so it never nests.
static void
nmi(struct trapframe *tf)
{
	if (nmi_tail - nmi_head < NMI_PENDING)
		nmi_rips[nmi_tail % NMI_PENDING] = tf->rip, nmi_tail++;
	else
		nmi_lost++;
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

void
trap(struct trapframe *tf)
{
	if (tf->vector < 32) {
		trap_exception(tf);
		return;
	}
	switch (tf->vector) {
	case T_TIMER:
		nmi_flush();
		timer_tick();
		pic_eoi(tf->vector);
		// Preempt only a process caught in ring 3: the kernel itself is not
		// preemptible (it runs with IF=0 except while idle).
		if (preempt_enabled && from_user(tf) && current && current->pid > 0)
			sched_yield();
		return;
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
