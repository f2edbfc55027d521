// Phase 4: the per-CPU area. Each CPU's GS base points at its own struct percpu
// while the CPU runs kernel code; the user's GS base waits in KERNEL_GS_BASE and
// swapgs exchanges the two on every way in and out of ring 3 (gsswap.inc,
// entry.asm). percpu.inc gives the offsets to nasm; kstack.c checks them.
#pragma once
#include "types.h"
#include "trap.h"

struct proc;

struct percpu {
	struct percpu *self;	// its own address: C reads it with one gs-relative load
	u64 user_rsp;		// syscall_entry parks the user rsp here (this CPU only)
	u64 kstack_top;		// the running process's kernel stack top: the entry rsp
	struct proc *proc;	// the process this CPU runs
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
