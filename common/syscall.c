// The dispatcher that syscall_entry calls. The entry stub (labs/phaseN/entry.asm) and
// the SYSCALL MSRs (labs/phaseN/syscall_msr.c) are the labs'.
#include "kernel.h"
#include "syscall.h"
#include "proc.h"
#include "trap.h"
#include "x86.h"

static const syscall_fn syscalls[NSYSCALL] = {
	[SYS_read] = sys_read,
	[SYS_write] = sys_write,
	[SYS_mmap] = sys_mmap_checked,
	[SYS_mprotect] = sys_mprotect,
	[SYS_munmap] = sys_munmap,
	[SYS_brk] = sys_brk,
	[SYS_ioctl] = sys_ioctl,
	[SYS_writev] = sys_writev,
	[SYS_sched_yield] = sys_sched_yield,
	[SYS_nanosleep] = sys_nanosleep,
	[SYS_getpid] = sys_getpid,
	[SYS_exit] = sys_exit,
	[SYS_getcpu] = sys_getcpu,
	[SYS_arch_prctl] = sys_arch_prctl,
	[SYS_set_tid_address] = sys_set_tid_address,
	[SYS_clock_gettime] = sys_clock_gettime,
	[SYS_exit_group] = sys_exit,
	[SYS_kstack_info] = sys_kstack_info,
	[SYS_kstack_scribble] = sys_kstack_scribble,
	[SYS_kstack_peek] = sys_kstack_peek,
	[SYS_kstack_burn] = sys_kstack_burn,
};

// The system-call number is an int on Linux: the upper half of rax is ignored.
// Reading only the low half (little-endian) costs no instruction over rax itself.
typedef u32 __attribute__((may_alias)) u32_low_half;

// Called by syscall_entry with the user's registers in *tf; the result goes back
// in tf->rax. tf->err is stamped with the caller's pid on the way in and checked on
// the way out: if another process's frame sits there now, the kernel stack was
// shared and reused under us (phase 1's flaw), and the caller cannot safely return.
// A process whose entry frame (tf, built by syscall_entry or an interrupt from ring
// 3) is not on its own kernel stack came in through another's: on several CPUs,
// phases 1-3's one global entry variable or one TSS. Said once per process, so the
// flaw is visible in [k] lines without flooding the console.
void
kstack_check_own(struct proc *p, struct trapframe *tf, const char *via)
{
	u64 end = (u64)(tf + 1);
	if (p->smp_flaw_told || !p->kstack_top || (end > p->kstack_base && end <= p->kstack_top))
		return;
	p->smp_flaw_told = 1;
	klog("kstack-foreign pid=%d cpu=%d via=%s entry_rsp=0x%lx own=0x%lx-0x%lx", p->pid,
	     this_cpu()->id, via, end, p->kstack_base, p->kstack_top);
}

void
syscall_dispatch(struct trapframe *tf)
{
	struct proc *p = current;	// the caller, whichever CPU it comes back on
	u32 nr = *(const u32_low_half *)&tf->rax;
	long ret = -ENOSYS;
	tf->err = p->pid;
	p->syscall_tf = tf;
	if (ncpu_up > 1)	// with one CPU no phase enters off its own stack
		kstack_check_own(p, tf, "syscall");
	if (nr < NSYSCALL && syscalls[nr])
		ret = syscalls[nr](tf->rdi, tf->rsi, tf->rdx, tf->r10, tf->r8, tf->r9);
	if (tf->err != (u64)p->pid) {
		klog("kstack-clobbered pid=%d frame-owner=%ld", p->pid, (long)tf->err);
		proc_kill(p, "kstack-clobbered", tf->rip, 0);
	}
	tf->rax = ret;
	// SYSRET to a non-canonical rip would fault in ring 0 on the user's stack.
	if (tf->rip >= USER_TOP)
		proc_kill(p, "bad-sysret-rip", tf->rip, 0);
}

// Phases 2 and 3: syscall_entry found rsp at the fallback stack, meaning no process
// stack was published before a process ran.
long
sys_fallback_panic(void)
{
	panic("system call entered on the fallback stack (pid %d): the scheduler did not "
	      "publish this process's kernel stack",
	      current ? current->pid : -1);
}
