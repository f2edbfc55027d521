// Process and time system calls: exit, getpid, sched_yield, nanosleep,
// clock_gettime, getcpu, set_tid_address, arch_prctl.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"
#include "timer.h"
#include "x86.h"
#include "kstack.h"

#define NSEC 1000000000UL
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_PROCESS_CPUTIME_ID 2
#define CLOCK_THREAD_CPUTIME_ID 3
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11	// REALTIME + the TAI offset, which is 0 until NTP sets it
#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

struct timespec {
	s64 sec, nsec;
};

long
sys_exit(u64 status, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	 u64 a5 __unused)
{
	proc_exit(status);
}

long
sys_getpid(u64 a0 __unused, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused,
	   u64 a4 __unused, u64 a5 __unused)
{
	return current->pid;
}

long
sys_sched_yield(u64 a0 __unused, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused,
		u64 a4 __unused, u64 a5 __unused)
{
	sched_yield();
	return 0;
}

long
sys_nanosleep(u64 ureq, u64 urem __unused, u64 a2 __unused, u64 a3 __unused,
	      u64 a4 __unused, u64 a5 __unused)
{
	struct timespec req;
	if (copy_from_user(&req, ureq, sizeof req) < 0)
		return -EFAULT;
	if (req.sec < 0 || req.nsec < 0 || req.nsec >= (s64)NSEC)
		return -EINVAL;
	u64 ns = (u64)req.sec > 1000000000UL ? ~0UL / 2 : req.sec * NSEC + req.nsec;
	proc_sleep_until(time_ns() + ns);
	return 0;
}

// Linux order (kernel/time/posix-timers.c): the clock id (an int) first, then the
// copy-out. The CPU-time clocks of this process and its one thread count the time
// since it was spawned: the only process on its CPU for all that time, as far as
// this kernel keeps track.
long
sys_clock_gettime(u64 clk, u64 utp, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
		  u64 a5 __unused)
{
	u64 ns = time_ns();
	switch ((s32)clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		ns += time_realtime_base() * NSEC;
		break;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_RAW:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_BOOTTIME:
		break;
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
		ns -= current->start_ns;
		break;
	default:
		return -EINVAL;
	}
	struct timespec ts = { ns / NSEC, ns % NSEC };
	return copy_to_user(utp, &ts, sizeof ts);
}

// No threads: the clear-child-tid address is never used. Returns the tid (= pid).
long
sys_set_tid_address(u64 tidptr __unused, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused,
		    u64 a4 __unused, u64 a5 __unused)
{
	return current->pid;
}

// The FS base holds musl's thread pointer; it is saved per process and reloaded
// into MSR_FS_BASE on every switch to that process. The GS base likewise, through
// the phase's kstack_set_user_gs (phase 4 keeps the kernel's own GS while in the
// kernel, so the user's waits in KERNEL_GS_BASE for the swapgs on the way out).
// Linux (arch/x86/kernel/process_64.c): an address at or above TASK_SIZE_MAX is
// -EPERM; an unknown code -EINVAL.
long
sys_arch_prctl(u64 code, u64 addr, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	       u64 a5 __unused)
{
	switch ((s32)code) {
	case ARCH_SET_FS:
		if (addr >= USER_TOP)
			return -EPERM;
		current->fs_base = addr;
		wrmsr(MSR_FS_BASE, addr);
		return 0;
	case ARCH_GET_FS:
		return copy_to_user(addr, &current->fs_base, sizeof(u64));
	case ARCH_SET_GS:
		if (addr >= USER_TOP)
			return -EPERM;
		current->gs_base = addr;
		kstack_set_user_gs(addr);
		return 0;
	case ARCH_GET_GS:
		return copy_to_user(addr, &current->gs_base, sizeof(u64));
	default:
		return -EINVAL;
	}
}

// getcpu(unsigned *cpu, unsigned *node, void *cache): the CPU this call runs on
// (0 .. ncpu-1) and NUMA node 0; either pointer may be NULL; the cache argument is
// ignored (Linux kernel/sys.c).
long
sys_getcpu(u64 ucpu, u64 unode, u64 cache __unused, u64 a3 __unused, u64 a4 __unused,
	   u64 a5 __unused)
{
	u32 cpu = this_cpu()->id, node = 0;
	int bad = 0;
	if (ucpu)	// Linux writes both before it reports a fault in either
		bad |= copy_to_user(ucpu, &cpu, sizeof cpu) < 0;
	if (unode)
		bad |= copy_to_user(unode, &node, sizeof node) < 0;
	return bad ? -EFAULT : 0;
}
