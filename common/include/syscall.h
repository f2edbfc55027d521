// System calls: Linux x86_64 numbers, plus the lab probes at 500+.
#pragma once
#include "types.h"
#include "trap.h"
struct proc;

#define SYS_read 0
#define SYS_write 1
#define SYS_mmap 9
#define SYS_mprotect 10
#define SYS_munmap 11
#define SYS_brk 12
#define SYS_ioctl 16
#define SYS_writev 20
#define SYS_sched_yield 24
#define SYS_nanosleep 35
#define SYS_getpid 39
#define SYS_exit 60
#define SYS_getcpu 309
#define SYS_arch_prctl 158
#define SYS_set_tid_address 218
#define SYS_clock_gettime 228
#define SYS_exit_group 231
#define SYS_kstack_info 500
#define SYS_kstack_scribble 501
#define SYS_kstack_peek 502
#define SYS_kstack_burn 503
#define NSYSCALL 504

typedef long (*syscall_fn)(u64, u64, u64, u64, u64, u64);

void syscall_init(void);	// the SYSCALL MSRs (labs/phaseN/syscall_msr.c)
void syscall_dispatch(struct trapframe *tf);
long sys_fallback_panic(void);
void kstack_check_own(struct proc *p, struct trapframe *tf, const char *via);

// The handlers, by file.
long sys_read(u64 fd, u64 buf, u64 len, u64, u64, u64);
long sys_write(u64 fd, u64 buf, u64 len, u64, u64, u64);
long sys_writev(u64 fd, u64 iov, u64 cnt, u64, u64, u64);
long sys_ioctl(u64 fd, u64 req, u64 arg, u64, u64, u64);
long sys_exit(u64 status, u64, u64, u64, u64, u64);
long sys_getpid(u64, u64, u64, u64, u64, u64);
long sys_sched_yield(u64, u64, u64, u64, u64, u64);
long sys_nanosleep(u64 req, u64 rem, u64, u64, u64, u64);
long sys_clock_gettime(u64 clk, u64 tp, u64, u64, u64, u64);
long sys_set_tid_address(u64 tidptr, u64, u64, u64, u64, u64);
long sys_brk(u64 addr, u64, u64, u64, u64, u64);
long sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off);
long sys_munmap(u64 addr, u64 len, u64, u64, u64, u64);
long sys_mprotect(u64 addr, u64 len, u64 prot, u64, u64, u64);
long sys_arch_prctl(u64 code, u64 addr, u64, u64, u64, u64);
long sys_getcpu(u64 cpu, u64 node, u64, u64, u64, u64);
long sys_mmap_checked(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off);
long sys_kstack_info(u64 out, u64, u64, u64, u64, u64);
long sys_kstack_scribble(u64 buf, u64 len, u64, u64, u64, u64);
long sys_kstack_peek(u64 buf, u64 len, u64, u64, u64, u64);
long sys_kstack_burn(u64 depth, u64, u64, u64, u64, u64);

// labs/phaseN/entry.asm: the SYSCALL entry point (MSR_LSTAR).
extern char syscall_entry[];
