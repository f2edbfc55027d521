// Processes: the table, their states, and the scheduler.
#pragma once
#include "types.h"
#include "trap.h"
#include "mm.h"
#include "spinlock.h"

#define NPROC 64
#define PROC_NAME 16

// Callee-saved registers, stack pointer and resume address of a kernel thread of
// control that is switched away (swtch.asm, through the generated CTX_* offsets).
struct context {
	u64 rsp, rbx, rbp, r12, r13, r14, r15, rip;
};

enum proc_state {
	P_UNUSED,
	P_RUNNABLE,
	P_RUNNING,
	P_SLEEPING,	// waits for wake_ns (nanosleep, console read)
	P_WAITING,	// the monitor, waiting for its children
	P_ZOMBIE,	// exited or killed; the monitor frees it
};

struct proc {
	int pid;
	enum proc_state state;
	char name[PROC_NAME];
	struct context ctx;
	u64 kstack_base;	// lowest byte of this process's kernel stack (kstack.c)
	u64 kstack_top;		// one past the highest byte: the entry rsp
	int kstack_slot;	// kstack.c's bookkeeping (-1: none)
	pagetable_t pml4;	// 0 for kernel threads (the monitor)
	u64 brk_start, brk;	// the heap: [brk_start, brk), a VMA_HEAP region once grown
	struct vmas vmas;	// what each range of the user half is (vma.c)
	u64 fs_base;
	u64 gs_base;		// the user's GS base (arch_prctl ARCH_SET_GS)
	u64 start_ns;		// time_ns() at spawn: its CPU-time clocks count from here
	int last_cpu;		// the CPU it last ran on (ps, kstacks)
	int smp_flaw_told;	// syscall_dispatch reported a foreign entry stack once
	u64 wake_ns;
	int exit_status;
	int killed;
	struct trapframe init_tf;	// user registers for the first entry to ring 3
	struct trapframe *syscall_tf;	// the frame of the system call being served
	u8 *fpu;		// FXSAVE image of the user's x87/SSE state (kmalloc, 512 bytes)
};

extern struct proc proc_table[NPROC];
extern int sched_started;
// Guards every proc's state and the scheduler. Held across swtch: the thread
// switched to releases it (the xv6 discipline), so no other CPU picks a process
// until it is off its old CPU's stack.
extern struct spinlock ptable_lock;

void proc_init(void);
struct proc *proc_spawn(const char *name, int argc, char **argv);
void proc_exit(int status) __noreturn;
void proc_kill(struct proc *p, const char *reason, u64 rip, u64 cr2) __noreturn;
void proc_reap(void);
int proc_children(void);
void sched(void);
void sched_yield(void);
void proc_sleep_until(u64 wake_ns);
void proc_wake_sleepers(u64 now_ns);
void proc_start_monitor(void (*fn)(void)) __noreturn;
void proc_wait_children(void);
void proc_make_runnable(struct proc *p);
const char *proc_state_name(enum proc_state s);

// swtch.asm
void swtch(struct context *old, struct context *new);
void user_enter(struct trapframe *tf) __noreturn;

// `current` (this CPU's running process) and this_cpu() are in smp.h.
#include "smp.h"
