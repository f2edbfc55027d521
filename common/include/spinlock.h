// Spinlocks: mutual exclusion between CPUs. Interrupts are off on this CPU while a
// lock is held (an interrupt handler that wanted the same lock would spin forever on
// the CPU that holds it). The kernel itself runs with IF=0 except while idle, so
// "off" is usually already true; spin_lock returns the old RFLAGS all the same.
#pragma once
#include "types.h"

struct spinlock {
	volatile u32 locked;	// 0 free, 1 held
	int cpu;		// holder's CPU number, for panic messages (-1 free)
	const char *name;
};

#define SPINLOCK_INIT(n) { 0, -1, n }

// Take l with interrupts off on this CPU; returns the RFLAGS to give spin_unlock.
// While it waits it serves TLB shootdown requests (smp.c), so two CPUs that wait
// for each other's flush and for a lock cannot deadlock.
u64 spin_lock(struct spinlock *l);
// Release l and restore IF from flags (the value spin_lock returned).
void spin_unlock(struct spinlock *l, u64 flags);
int spin_holding(struct spinlock *l);	// held by this CPU
