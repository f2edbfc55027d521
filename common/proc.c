// Processes and the scheduler. One CPU; the kernel runs with interrupts off except
// while idle, so nothing here needs a lock. Slot 0 of the table is the monitor, a
// kernel thread on its own stack; user processes take the other slots.
#include "kernel.h"
#include "proc.h"
#include "kstack.h"
#include "loader.h"
#include "mm.h"
#include "x86.h"
#include "timer.h"

struct proc proc_table[NPROC];
struct proc *current;
int sched_started;
static int next_pid = 1;
#define FPU_SIZE 512
static u8 fpu_initial[FPU_SIZE] __aligned(16);	// FXSAVE image after FNINIT
static struct context boot_ctx;		// the boot thread, abandoned at the first switch

#define MONITOR_STACK (32 * 1024)
static u8 monitor_stack[MONITOR_STACK] __aligned(16);

static const char *const state_names[] = {
	[P_UNUSED] = "unused", [P_RUNNABLE] = "runnable", [P_RUNNING] = "running",
	[P_SLEEPING] = "sleeping", [P_WAITING] = "waiting", [P_ZOMBIE] = "zombie",
};

const char *
proc_state_name(enum proc_state s)
{
	return state_names[s];
}

void
proc_init(void)
{
	__asm__ volatile("fninit; fxsave64 %0" : "=m"(fpu_initial));
	for (int i = 0; i < NPROC; i++)
		proc_table[i].kstack_slot = -1;
}

// A new process starts here, on its own kernel stack, after its first swtch.
static void __noreturn
proc_first_run(void)
{
	user_enter(&current->init_tf);
}

static void
fpu_save(struct proc *p)
{
	__asm__ volatile("fxsave64 (%0)" : : "r"(p->fpu) : "memory");
}

static void
fpu_restore(struct proc *p)
{
	__asm__ volatile("fxrstor64 (%0)" : : "r"(p->fpu) : "memory");
}

static u64 gs_loaded;	// MSR_GS_BASE now: written only when it must change

// Switch from prev (whose state the caller has set) to next. IF=0.
static void
switch_to(struct proc *prev, struct proc *next)
{
	if (prev->pml4)
		fpu_save(prev);
	current = next;
	next->state = P_RUNNING;
	kstack_switch_to(next);
	pagetable_t want = next->pml4 ? next->pml4 : kernel_pml4;
	if (read_cr3() != want)
		write_cr3(want);
	if (next->pml4) {
		wrmsr(MSR_FS_BASE, next->fs_base);
		if (next->gs_base != gs_loaded) {
			wrmsr(MSR_GS_BASE, next->gs_base);
			gs_loaded = next->gs_base;
		}
		fpu_restore(next);
	}
	swtch(&prev->ctx, &next->ctx);
}

// Round robin: the first runnable slot after prev, prev itself last.
static struct proc *
pick_next(struct proc *prev)
{
	int start = prev - proc_table;
	for (int i = 1; i <= NPROC; i++) {
		struct proc *p = &proc_table[(start + i) % NPROC];
		if (p->state == P_RUNNABLE)
			return p;
	}
	return NULL;
}

// Give up the CPU. The caller has set current->state (runnable, sleeping, waiting
// or zombie). With nothing runnable, idle here until an interrupt wakes someone.
void
sched(void)
{
	struct proc *prev = current, *next;
	while (!(next = pick_next(prev)))
		idle_wait();
	if (next == prev) {
		prev->state = P_RUNNING;
		return;
	}
	switch_to(prev, next);
}

void
sched_yield(void)
{
	current->state = P_RUNNABLE;
	sched();
}

void
proc_sleep_until(u64 wake_ns)
{
	current->wake_ns = wake_ns;
	current->state = P_SLEEPING;
	sched();
}

void
proc_wake_sleepers(u64 now_ns)
{
	for (int i = 0; i < NPROC; i++)
		if (proc_table[i].state == P_SLEEPING && proc_table[i].wake_ns <= now_ns)
			proc_table[i].state = P_RUNNABLE;
}

// The monitor sleeps in P_WAITING while it has children; any exit wakes it.
static void __noreturn
finish(struct proc *p, int status)
{
	p->exit_status = status;
	p->state = P_ZOMBIE;
	if (proc_table[0].state == P_WAITING)
		proc_table[0].state = P_RUNNABLE;
	sched();
	panic("zombie pid %d was scheduled", p->pid);
}

void
proc_exit(int status)
{
	// frames: what the process holds now (pages and page tables); reaping frees them.
	klog("exit pid=%d status=%d frames=%lu", current->pid, status & 0xff,
	     vm_count_frames(current->pml4));
	finish(current, status & 0xff);
}

// Kill the current process (the only one that can fault). Never returns.
void
proc_kill(struct proc *p, const char *reason, u64 rip, u64 cr2)
{
	if (!p || p != current || p->pid == 0)
		panic("proc_kill: pid %d is not a running user process", p ? p->pid : -1);
	klog("kill pid=%d reason=%s rip=0x%lx cr2=0x%lx", p->pid, reason, rip, cr2);
	p->killed = 1;
	finish(p, 128 + 9);
}

// Free every zombie: it switched away for the last time, so its kernel stack and
// address space are no longer in use.
void
proc_reap(void)
{
	for (int i = 1; i < NPROC; i++) {
		struct proc *p = &proc_table[i];
		if (p->state != P_ZOMBIE || p == current)
			continue;
		kstack_free(p);
		vm_free_space(p->pml4);
		kfree(p->fpu);
		memset(p, 0, sizeof *p);
		p->kstack_slot = -1;
	}
}

int
proc_children(void)
{
	int n = 0;
	for (int i = 1; i < NPROC; i++)
		if (proc_table[i].state != P_UNUSED && proc_table[i].state != P_ZOMBIE)
			n++;
	return n;
}

// Create a process running the initrd program name. Prints [k] spawn on success,
// [k] load-error (and returns NULL) when the program is missing or malformed.
struct proc *
proc_spawn(const char *name, int argc, char **argv)
{
	size_t size;
	const char *why = NULL;
	const u8 *image = initrd_find(name, &size);
	struct proc *p = NULL;
	for (int i = 1; i < NPROC && !p; i++)
		if (proc_table[i].state == P_UNUSED)
			p = &proc_table[i];
	if (!image)
		why = "not found";
	else if (!p)
		why = "process table full";
	else if (elf_load(p, image, size, argc, argv, &why) < 0)
		p->pml4 = 0;
	else if (!(p->fpu = kmalloc(FPU_SIZE)) || kstack_alloc(p) < 0) {
		why = p->fpu ? "out of kernel stacks" : "out of memory";
		vm_free_space(p->pml4);
		kfree(p->fpu);
		p->pml4 = 0;
		p->fpu = NULL;
	}
	if (why) {
		klog("load-error prog=%s reason=\"%s\"", name, why);
		return NULL;
	}
	p->pid = next_pid++;
	strncpy_z(p->name, name, PROC_NAME);
	p->fs_base = 0;
	p->gs_base = 0;
	p->start_ns = time_ns();
	p->killed = 0;
	memcpy(p->fpu, fpu_initial, FPU_SIZE);
	memset(&p->ctx, 0, sizeof p->ctx);
	p->ctx.rsp = p->kstack_top - 8;	// as if proc_first_run had been called
	p->ctx.rip = (u64)proc_first_run;
	p->state = P_RUNNABLE;
	klog("spawn pid=%d prog=%s", p->pid, p->name);
	return p;
}

// Become the monitor thread (pid 0) on its own stack. Never returns.
void
proc_start_monitor(void (*fn)(void))
{
	struct proc *m = &proc_table[0];
	m->pid = 0;
	strncpy_z(m->name, "monitor", PROC_NAME);
	m->state = P_RUNNING;
	m->kstack_base = (u64)monitor_stack;
	m->kstack_top = (u64)monitor_stack + MONITOR_STACK;
	m->ctx.rsp = m->kstack_top - 8;
	m->ctx.rip = (u64)fn;
	current = m;
	sched_started = 1;
	swtch(&boot_ctx, &m->ctx);
	panic("boot thread resumed");
}
