// The kernel monitor: a line-oriented console on COM1 (and VGA). It runs as the
// kernel thread pid 0 on its own stack and never goes through the system-call path,
// so it keeps answering even when a lab's entry code is broken.
#include "kernel.h"
#include "phase.h"
#include "proc.h"
#include "kstack.h"
#include "loader.h"
#include "mm.h"
#include "trap.h"
#include "smp.h"
#include "x86.h"

#define LINE_MAX 256
#define MAX_TOKENS 64

struct command {
	const char *name, *usage, *help;
	void (*fn)(int argc, char **argv);
};

static void cmd_help(int argc, char **argv);
static void cmd_ls(int argc, char **argv);
static void cmd_run(int argc, char **argv);
static void cmd_ps(int argc, char **argv);
static void cmd_kstacks(int argc, char **argv);
static void cmd_set(int argc, char **argv);
static void cmd_halt(int argc, char **argv);
static void cmd_cpus(int argc, char **argv);

static const struct command commands[] = {
	{ "help", "help", "list the commands", cmd_help },
	{ "ls", "ls", "list the programs in the initrd", cmd_ls },
	{ "run", "run PROG [ARGS...] [& PROG [ARGS...]]...", "start programs, wait for all",
	  cmd_run },
	{ "ps", "ps", "list processes", cmd_ps },
	{ "kstacks", "kstacks", "map of kernel stacks, guard pages, TSS.rsp0", cmd_kstacks },
	{ "set", "set preempt on|off", "preempt user processes on timer ticks", cmd_set },
	{ "cpus", "cpus", "per CPU: LAPIC id, running pid, TSS.rsp0, GS bases, ticks",
	  cmd_cpus },
	{ "halt", "halt", "power off (QEMU exits with status 1)", cmd_halt },
};

static void
cmd_help(int argc __unused, char **argv __unused)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		kprintf("  %-42s %s\n", commands[i].usage, commands[i].help);
}

static void
cmd_ls(int argc __unused, char **argv __unused)
{
	initrd_list();
}

// Start every "&"-separated program, then wait until all have exited or died.
static void
cmd_run(int argc, char **argv)
{
	if (argc < 2) {
		kprintf("usage: run PROG [ARGS...] [& PROG [ARGS...]]...\n");
		return;
	}
	int start = 1;
	for (int i = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "&") != 0)
			continue;
		if (i > start) {
			argv[i < argc ? i : argc] = NULL;
			proc_spawn(argv[start], i - start, &argv[start]);
		}
		start = i + 1;
	}
	proc_wait_children();
	proc_reap();
}

// "-" for a process that has not run yet, else the CPU it runs or last ran on.
static const char *
cpu_name(struct proc *p, char *buf, size_t n)
{
	if (p->last_cpu < 0)
		return "-";
	ksnprintf(buf, n, "%d", p->last_cpu);
	return buf;
}

static void
cmd_ps(int argc __unused, char **argv __unused)
{
	char c[8];
	kprintf("  PID  STATE     CPU  NAME\n");
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &proc_table[i];
		if (p->state != P_UNUSED)
			kprintf("  %3d  %-8s  %3s  %s\n", p->pid, proc_state_name(p->state),
				cpu_name(p, c, sizeof c), p->name);
	}
}

// The MSRs are this CPU's; other CPUs' are read from what they last loaded: a
// CPU's GS base in phases 1-3 is its running process's gs_base, and in phase 4 the
// per-CPU area while in the kernel (kstack.c keeps it in cpu->kstack_area).
static void
cmd_cpus(int argc __unused, char **argv __unused)
{
	struct cpu *me = this_cpu();
	kprintf("  CPU  LAPIC  PID  TSS.RSP0            GS_BASE             KERNEL_GS_BASE      TICKS\n");
	for (int i = 0; i < ncpu; i++) {
		struct cpu *c = &cpus[i];
		if (!c->started) {
			kprintf("  %3d  %5u  (not started)\n", i, c->lapic_id);
			continue;
		}
		struct proc *p = c->proc;
		u64 gs = c == me ? rdmsr(MSR_GS_BASE) : c->kstack_area ? c->kstack_area : p->gs_base;
		u64 kgs = c == me ? rdmsr(MSR_KERNEL_GS_BASE) : c->kstack_area ? p->gs_base : 0;
		kprintf("  %3d  %5u  %3d  0x%016lx  0x%016lx  0x%016lx  %lu%s\n", i, c->lapic_id,
			p->pid, c->tss->rsp0, gs, kgs, c->ticks, c == me ? "  (this CPU)" : "");
	}
}

static void
cmd_kstacks(int argc __unused, char **argv __unused)
{
	char c[8];
	kprintf("  PID  NAME          BASE                TOP                 GUARD               SAVED_RSP           CPU\n");
	for (int i = 0; i < NPROC; i++) {
		struct proc *p = &proc_table[i];
		if (p->state == P_UNUSED)
			continue;
		kprintf("  %3d  %-12s  0x%016lx  0x%016lx  0x%016lx  0x%016lx  %s\n", p->pid,
			p->name, p->kstack_base, p->kstack_top, kstack_guard(p),
			p->state == P_RUNNING ? 0UL : p->ctx.rsp, cpu_name(p, c, sizeof c));
	}
	kprintf("  TSS.rsp0 = 0x%016lx   syscall entry rsp = 0x%016lx   (CPU %d)\n",
		cpu_tss()->rsp0, kstack_entry_top(), this_cpu()->id);
	for (int i = 0; i < ncpu; i++)
		if (cpus[i].started && &cpus[i] != this_cpu())
			kprintf("  CPU %d: TSS.rsp0 = 0x%016lx\n", i, cpus[i].tss->rsp0);
	kstack_describe();
}

static void
cmd_set(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "preempt") == 0 &&
	    (strcmp(argv[2], "on") == 0 || strcmp(argv[2], "off") == 0)) {
		preempt_enabled = strcmp(argv[2], "on") == 0;
		klog("preempt %s", preempt_enabled ? "on" : "off");
		return;
	}
	kprintf("usage: set preempt on|off\n");
}

static void
cmd_halt(int argc __unused, char **argv __unused)
{
	klog("halt");
	qemu_exit(0);
}

// Split line into words; "&" is always a word of its own ("a&b" is a & b).
static int
tokenize(char *line, char **tok)
{
	static char amp[] = "&";
	int n = 0;
	char *s = line;
	while (*s && n < MAX_TOKENS - 1) {
		if (*s == ' ' || *s == '\t') {
			*s++ = 0;
		} else if (*s == '&') {
			*s++ = 0;
			tok[n++] = amp;
		} else {
			tok[n++] = s;
			while (*s && *s != ' ' && *s != '\t' && *s != '&')
				s++;
		}
	}
	tok[n] = NULL;
	return n;
}

// Read one line with echo and backspace. CR, LF and CRLF all end a line.
static void
read_line(char *buf, size_t cap)
{
	static int last_cr;
	size_t n = 0;
	for (;;) {
		int c = console_getc();
		if (c == '\n' && last_cr) {
			last_cr = 0;
			continue;	// the LF of a CRLF
		}
		last_cr = c == '\r';
		if (c == '\r' || c == '\n') {
			console_putc('\n');
			break;
		}
		if ((c == '\b' || c == 0x7f) && n > 0) {
			n--;
			console_write("\b \b", 3);
		} else if (c >= ' ' && c < 0x7f && n + 1 < cap) {
			buf[n++] = c;
			console_putc(c);
		}
	}
	buf[n] = 0;
}

static void
execute(char *line)
{
	char *tok[MAX_TOKENS];
	int n = tokenize(line, tok);
	if (n == 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(tok[0], commands[i].name) == 0) {
			commands[i].fn(n, tok);
			return;
		}
	}
	kprintf("unknown command: %s (try help)\n", tok[0]);
}

void
monitor_main(void)
{
	static char line[LINE_MAX];
	klog("ready");
	kprintf("stacklabs lab %d monitor: type help\n", PHASE);
	for (;;) {
		kprintf("lab%d> ", PHASE);
		read_line(line, sizeof line);
		execute(line);
	}
}
