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
#include "timer.h"
#include "smp.h"
#include "x86.h"

// A line holds LINE_MAX - 1 characters: enough for a `run` of one program in every
// process slot ("run " + 63 x "hello & "). Longer lines are refused whole.
#define LINE_MAX 1024
#define MAX_TOKENS LINE_MAX	// a line of n characters has at most n words

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
static void cmd_mem(int argc, char **argv);
static void cmd_ticks(int argc, char **argv);
static void cmd_cpus(int argc, char **argv);

static const struct command commands[] = {
	{ "help", "help", "list the commands", cmd_help },
	{ "ls", "ls", "list the programs in the initrd", cmd_ls },
	{ "run", "run PROG [ARGS...] [& PROG [ARGS...]]...", "start programs, wait for all",
	  cmd_run },
	{ "ps", "ps", "list processes", cmd_ps },
	{ "kstacks", "kstacks", "map of kernel stacks, guard pages, TSS.rsp0", cmd_kstacks },
	{ "set", "set preempt on|off", "preempt user processes on timer ticks", cmd_set },
	{ "mem", "mem", "free frames (and the heap's, which it keeps)", cmd_mem },
	{ "ticks", "ticks", "longest gap between timer ticks since the last `ticks`", cmd_ticks },
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
	// An empty program ("run & a", "a & & b", "a &") refuses the whole line.
	for (int i = 1, start = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "&") != 0)
			continue;
		if (i == start) {
			kprintf("error: run: empty program before or after '&' (word %d): nothing "
				"run\n", i);
			return;
		}
		start = i + 1;
	}
	// Each program that cannot start (not found, process table full, ...) gets its
	// own [k] load-error line; the others run.
	int start = 1;
	for (int i = 1; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "&") != 0)
			continue;
		if (i > start) {	// always, after the check above
			argv[i] = NULL;
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

// free + heap is what a process's exit must give back: the heap keeps its frames.
static void
cmd_mem(int argc __unused, char **argv __unused)
{
	kprintf("  frames free=%lu heap=%lu total=%lu\n", pmm_free_frames(), heap_frames(),
		pmm_total_bytes() / PAGE_SIZE);
}

static void
cmd_ticks(int argc __unused, char **argv __unused)
{
	kprintf("  max-tick-gap us=%lu\n", timer_max_gap_ns(1) / 1000);
}

static void
cmd_halt(int argc __unused, char **argv __unused)
{
	klog("halt");
	qemu_exit(0);
}

// Split line into words at blanks (space, TAB); "&" is always a word of its own
// ("a&b" is a & b). A line of n characters has at most n words, so tok (MAX_TOKENS
// = LINE_MAX entries) always holds them all: no word is ever dropped.
static int
tokenize(char *line, char **tok)
{
	static char amp[] = "&";
	int n = 0;
	char *s = line;
	while (*s) {
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

// Why read_line refused a line (NULL: it did not).
static const char *refused;
static char why[64];

// Skip the rest of an escape sequence whose ESC has been read: CSI (ESC [ params
// final), as arrow keys send them, SS3 (ESC O x), or ESC + one byte. Returns -1, or
// the CR or LF that cut the sequence short (the line ends there).
static int
skip_escape(void)
{
	int c = console_getc();
	if (c == 'O')
		c = console_getc();
	else if (c == '[')
		do
			c = console_getc();
		while ((c < 0x40 || c > 0x7e) && c != '\r' && c != '\n');
	return c == '\r' || c == '\n' ? c : -1;
}

// Read one line with echo and backspace. CR, LF and CRLF all end a line; TAB is a
// blank; escape sequences (arrow keys) are ignored. A line longer than cap - 1
// characters, or one with another control character in it, is read to its end and
// refused: buf is then empty and `refused` says why.
static void
read_line(char *buf, size_t cap)
{
	static int last_cr;
	size_t n = 0, len = 0;
	refused = NULL;
	for (;;) {
		int c = console_getc();
		if (c == 0x1b && (c = skip_escape()) < 0)
			continue;
		if (c == '\n' && last_cr) {
			last_cr = 0;
			continue;	// the LF of a CRLF
		}
		last_cr = c == '\r';
		if (c == '\r' || c == '\n') {
			console_putc('\n');
			break;
		}
		if (c == '\b' || c == 0x7f) {
			if (len > 0 && --len < n) {
				n = len;
				console_write("\b \b", 3);
			}
		} else if (c < ' ' && c != '\t') {
			if (!refused)
				ksnprintf(why, sizeof why, "control character 0x%02x", c);
			refused = why;
		} else {
			if (len++ < cap - 1) {
				buf[n++] = c;
				console_putc(c);
			}
		}
	}
	if (len > cap - 1 && !refused) {
		ksnprintf(why, sizeof why, "too long (%lu characters, at most %lu)", len, cap - 1);
		refused = why;
	}
	buf[refused ? 0 : n] = 0;
}

static void
execute(char *line)
{
	static char *tok[MAX_TOKENS + 1];
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
		if (refused)
			kprintf("error: line refused, nothing run: %s\n", refused);
		else
			execute(line);
	}
}
