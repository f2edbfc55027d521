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
#include "smp.h"
#include "syscall.h"

_Static_assert(offsetof(struct trapframe, r15) == 0, "trapframe.inc");
_Static_assert(offsetof(struct trapframe, rax) == 112, "trapframe.inc");
_Static_assert(offsetof(struct trapframe, vector) == 120, "trapframe.inc");
_Static_assert(offsetof(struct trapframe, err) == 128, "trapframe.inc");
_Static_assert(offsetof(struct trapframe, rip) == 136, "trapframe.inc");
_Static_assert(offsetof(struct trapframe, rsp) == 160, "trapframe.inc");
_Static_assert(sizeof(struct trapframe) == 176, "trapframe.inc");
_Static_assert(offsetof(struct tss, rsp0) == 4, "trapframe.inc TSS_RSP0");
_Static_assert(offsetof(struct tss, ist) == 36, "TSS layout");
_Static_assert(sizeof(struct tss) == 104, "TSS layout");

volatile int preempt_enabled;

#define PIC1_CMD 0x20
#define PIC2_CMD 0xa0
#define PIC_EOI 0x20

static const char *const names[32] = {
	[T_DE] = "#DE", [T_DB] = "#DB", [T_NMI] = "NMI", [T_BP] = "#BP",
	[T_OF] = "#OF", [T_BR] = "#BR", [T_UD] = "#UD", [T_NM] = "#NM",
	[T_DF] = "#DF", [9] = "#CSO", [T_TS] = "#TS", [T_NP] = "#NP",
	[T_SS] = "#SS", [T_GP] = "#GP", [T_PF] = "#PF", [T_MF] = "#MF",
	[T_AC] = "#AC", [T_MC] = "#MC", [T_XM] = "#XM", [20] = "#VE",
	[21] = "#CP",
};

const char *
trap_name(u64 vector)
{
	if (vector == T_SYSCALL)
		return "syscall";
	if (vector < 32)
		return names[vector] ? names[vector] : "reserved";
	return vector < 48 ? "irq" : "?";
}

static int
from_user(struct trapframe *tf)
{
	return (tf->cs & 3) == 3;
}

static void
pic_eoi(u64 vector)
{
	if (vector >= T_IRQ0 + 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
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
		timer_tick();
		pic_eoi(tf->vector);
		preempt(tf);
		return;
	case T_LAPIC_TIMER:	// each AP's own tick
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
