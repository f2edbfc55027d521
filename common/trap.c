// trap(): every interrupt and exception lands here with a trap frame.
//   - a fault in ring 3 kills only that process ([k] kill ...);
//   - a fault in ring 0 is a kernel bug: panic with the registers (a #DF first goes to
//     the phase's kstack code, which in phase 3 may recognise a guard-page hit);
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

static void
trap_exception(struct trapframe *tf)
{
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
