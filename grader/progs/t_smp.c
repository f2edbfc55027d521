// t_smp — several processes on several CPUs, in the kernel and in ring 3 at once.
//
//   run t_smp NONCE sys ROUNDS  [& ...]   ROUNDS x { checked kstack_info; getcpu; sched_yield }
//   run t_smp NONCE spin MS     [& ...]   for MS ms { spin round; checked kstack_info; getcpu }
//
// A checked kstack_info is one SYSCALL from an asm block with a pattern (from the
// nonce, the pid and the round) in every register the call does not use; after it,
// every register and the user rsp must hold what they held (sl_regs_first_bad), the
// entry_rsp the kernel reports must lie on this process's own kernel stack
// (base < entry_rsp <= top), and TSS.rsp0 of the CPU the call ran on must be this
// process's own stack top. A spin round (sl_spin_round, as in t_spin) loads
// patterns, counts down in ring 3 with no system call and checks every register:
// only a timer tick and a switch can disturb it. getcpu records which CPUs the process ran on.
//
// Output: on the first bad check of each kind a DETAIL line, and at the end
//   RESULT smp mode=M rounds=R bad=B outside=O tssbad=T cpus=MASK start=S end=E tag=...
// bad: rounds whose registers or user rsp changed; outside: calls whose entry_rsp
// was not on the own stack; tssbad: calls where TSS.rsp0 != own top; MASK: bit n
// set iff getcpu answered n once; S, E: CLOCK_MONOTONIC ns. Exit 0 iff B=O=T=0.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stacklabs.h"

#ifndef SYS_getcpu
#define SYS_getcpu 309
#endif

struct smp_counts {
	long rounds, bad, outside, tssbad;
	unsigned long cpus;
};

// Iterations of the tight loop in one spin round: about a millisecond of
// TCG, so timer ticks land inside rounds as well as between them.
#define SPIN_LOOP_ITERS 400000

// One kstack_info SYSCALL with patterns in rbx rbp rdx rsi r8 r9 r10 r12-r15
// (rdi carries &k), judged as the header says.
static void
smp_checked_kinfo(struct smp_counts *c, uint64_t seed, long pid)
{
	static const int regs[] = {
		SL_RBX, SL_RBP, SL_RDX, SL_RSI, SL_R8, SL_R9, SL_R10, SL_R12, SL_R13,
		SL_R14, SL_R15,
	};
	struct kstack_info k;
	struct sl_regframe f;
	int bad;

	memset(&f, 0, sizeof f);
	memset(&k, 0, sizeof k);
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
		f.in[regs[i]] = sl_pattern(seed, (uint64_t)pid, (uint64_t)c->rounds, (uint64_t)regs[i]);
	f.in[SL_RAX] = SYS_kstack_info;
	f.in[SL_RDI] = (uint64_t)&k;
	sl_regs_syscall(&f);
	bad = sl_regs_first_bad(&f, 0);
	if (bad >= 0 && c->bad++ == 0)
		printf("DETAIL what=syscall reg=%s expected=0x%016llx got=0x%016llx\n",
		       sl_reg_name(bad), (unsigned long long)f.in[bad],
		       (unsigned long long)f.out[bad]);
	if (!(k.base < k.entry_rsp && k.entry_rsp <= k.top) && c->outside++ == 0)
		printf("DETAIL what=entry entry_rsp=0x%016llx base=0x%016llx top=0x%016llx\n",
		       (unsigned long long)k.entry_rsp, (unsigned long long)k.base,
		       (unsigned long long)k.top);
	if (k.tss_rsp0 != k.top && c->tssbad++ == 0)
		printf("DETAIL what=tss tss_rsp0=0x%016llx top=0x%016llx\n",
		       (unsigned long long)k.tss_rsp0, (unsigned long long)k.top);
}

static void
smp_note_cpu(struct smp_counts *c)
{
	unsigned cpu = 0;

	if (sl_syscall3(SYS_getcpu, (long)&cpu, 0, 0) == 0 && cpu < 64)
		c->cpus |= 1UL << cpu;
}

int
main(int argc, char **argv)
{
	struct smp_counts c = { 0, 0, 0, 0, 0 };
	struct sl_spin_frame sf;
	uint64_t seed, start, end, limit;
	long pid, n;
	int spin;

	if (argc != 4 || (strcmp(argv[2], "sys") != 0 && strcmp(argv[2], "spin") != 0)) {
		printf("usage: t_smp NONCE sys ROUNDS | t_smp NONCE spin MS\n");
		return 2;
	}
	spin = strcmp(argv[2], "spin") == 0;
	seed = sl_fnv1a64_str(argv[1]);
	pid = (long)getpid();
	n = atol(argv[3]);
	limit = (uint64_t)n * 1000000ULL;
	start = end = sl_now_ns();
	for (;;) {
		c.rounds++;
		if (spin) {
			sl_spin_setup(&sf, seed, pid, c.rounds, SPIN_LOOP_ITERS);
			sl_spin_round(&sf);
			if (sf.bad >= 0 && c.bad++ == 0)
				printf("DETAIL what=spin reg=%s\n", sl_reg_name((int)sf.bad));
		}
		smp_checked_kinfo(&c, seed, pid);
		smp_note_cpu(&c);
		if (!spin)
			sl_syscall3(SYS_sched_yield, 0, 0, 0);
		end = sl_now_ns();
		if (spin ? end - start >= limit : c.rounds >= n)
			break;
	}
	fflush(stdout);
	sl_result(argv[1], "smp mode=%s rounds=%ld bad=%ld outside=%ld tssbad=%ld cpus=%lu "
		  "start=%llu end=%llu", argv[2], c.rounds, c.bad, c.outside, c.tssbad, c.cpus,
		  (unsigned long long)start, (unsigned long long)end);
	return c.bad == 0 && c.outside == 0 && c.tssbad == 0 ? 0 : 1;
}
