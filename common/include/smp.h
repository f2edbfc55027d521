// Several CPUs: the per-CPU record every CPU has in common code, how a CPU finds its
// own (without GS: phases 1-3 never set it up), the local APIC, and TLB shootdowns.
//
// Each CPU has its own GDT inside struct cpu, so `sgdt` (which CPL 0 may always run,
// and which touches no shared variable) names the CPU: this_cpu() is the struct the
// GDT base points into. That is what makes `current` per CPU in every phase.
#pragma once
#include "types.h"
#include "trap.h"
#include "proc.h"

#define NCPU 8
#define GDT_ENTRIES 7

struct cpu {
	u64 gdt[GDT_ENTRIES];	// first: this_cpu() finds the struct from the GDT base
	int id;			// 0 .. ncpu-1; 0 is the CPU that booted (BSP)
	u32 lapic_id;		// from the ACPI MADT
	struct tss *tss;	// this CPU's TSS (CPU 0: the global `tss`)
	struct proc *proc;	// running process (`current`); &idle while idle
	struct proc idle;	// this CPU's idle thread (not in proc_table)
	volatile u64 ticks;	// timer interrupts taken on this CPU
	volatile int started;	// set by the CPU itself once it can take interrupts
	volatile int idling;	// halted in the idle loop, waiting for work
	int last_slot;		// proc_table slot it last ran: round robin goes on from it
	u64 kstack_area;	// phase 4: this CPU's per-CPU area (kstack.c), else 0
};

extern struct cpu cpus[NCPU];
extern int ncpu;		// CPUs found in the MADT (at most NCPU)
extern volatile int ncpu_up;	// CPUs started and scheduling

struct __packed desc_ptr {
	u16 limit;
	u64 base;
};

// The CPU this code runs on: its GDT is the first member of its struct cpu, so the
// GDT base is the struct's address (two instructions, no shared variable). Valid from
// gdt_init_cpu() on, which is the first thing each CPU does in C. IF=0 keeps the
// answer true: a process moves to another CPU only through sched(), never in the
// middle of kernel code; across a sched() call, ask again (hence asm volatile).
static inline struct cpu *
this_cpu(void)
{
	struct desc_ptr p;
	__asm__ volatile("sgdt %0" : "=m"(p));
	return (struct cpu *)p.base;
}

#define current (this_cpu()->proc)
#define cpu_tss() (this_cpu()->tss)

// acpi.c: fill cpus[].lapic_id and ncpu from the MADT; returns the LAPIC's
// physical address (0xfee00000 when the MADT says nothing else).
u64 acpi_find_cpus(void *mb2_info);

// lapic.c (Intel SDM vol. 3, chapter 11)
#define T_LAPIC_TIMER 48	// each AP's own timer (CPU 0 keeps the PIT)
#define T_IPI_TLB 49		// flush your TLB (smp.c)
#define T_IPI_WAKE 50		// leave the idle halt: there is work
#define T_IPI_HALT 51		// stop: another CPU panicked
#define T_LAPIC_SPURIOUS 63
void lapic_init(u64 pa);		// map and enable this CPU's LAPIC
u32 lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(u32 lapic_id, int vector);
void lapic_send_init_sipi(u32 lapic_id, u32 trampoline_pa);
void lapic_timer_calibrate(void);	// CPU 0, after timer_init
void lapic_timer_start(void);		// periodic T_LAPIC_TIMER at TIMER_HZ

// smp.c
void smp_init(void *mb2_info);		// CPU 0: find and start the others
void smp_kick_idle(void);		// wake halted CPUs: something became runnable
void smp_halt_others(void);		// panic: stop every other CPU
void tlb_shootdown(void);		// flush every CPU's TLB (IF=0, no lock held)
void tlb_service(void);			// flush if asked to (the IPI; spinning waiters)
// proc.c
void proc_init_idle(struct cpu *c);	// the running thread becomes c's idle thread
void idle_loop(void) __noreturn;	// the idle thread's loop; ptable_lock held
