// panic(): a broken kernel invariant. Print why, the registers (when a trap frame is
// at hand), a symbolised backtrace, then leave QEMU through isa-debug-exit.
#include <stdarg.h>
#include "kernel.h"
#include "trap.h"
#include "x86.h"
#include "multiboot2.h"
#include "smp.h"

#define DEBUG_EXIT_PORT 0xf4	// -device isa-debug-exit,iobase=0xf4: QEMU exits (v << 1) | 1

// Leave QEMU with exit status (code << 1) | 1; halt if the device is absent.
void
qemu_exit(int code)
{
	outb(DEBUG_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

struct elf64_sym {
	u32 name;
	u8 info, other;
	u16 shndx;
	u64 value, size;
};

// ELF symbol types and the undefined section (System V gABI, "Symbol Table").
#define STT_FUNC 2
#define STT_SECTION 3
#define STT_FILE 4
#define SHN_UNDEF 0

static const struct elf64_sym *symtab;
static size_t nsyms;
static const char *strtab;

// The kernel's .symtab and its string table, at the physical addresses main.c found
// in the boot information (the frame allocator leaves them reserved). After vm_init.
void
symbols_init(u64 symtab_pa, u64 symtab_size, u64 strtab_pa)
{
	if (!symtab_pa || !strtab_pa)
		return;
	symtab = P2V(symtab_pa);
	nsyms = symtab_size / sizeof(struct elf64_sym);
	strtab = P2V(strtab_pa);
}

// The function containing addr, or NULL. *offset = addr - symbol start. A function
// with a size (C) holds [start, start + size); one without (nasm's, unless it
// declares one) ends at the next symbol of any kind, and at most SIZELESS_MAX bytes
// on: a garbage address in .rodata or in a gap is "?", never some asm function
// "+0x23db" that sends a student hunting in the wrong file.
#define SIZELESS_MAX 0x1000UL
const char *
symbol_lookup(u64 addr, u64 *offset)
{
	const struct elf64_sym *best = NULL;
	u64 next = ~0UL;	// the lowest symbol start above best's
	for (size_t i = 0; i < nsyms; i++) {
		const struct elf64_sym *s = &symtab[i];
		if ((s->info & 0xf) != STT_FUNC || s->value > addr)
			continue;
		if (!best || s->value > best->value)
			best = s;
	}
	if (!best)
		return NULL;
	for (size_t i = 0; i < nsyms; i++) {
		const struct elf64_sym *s = &symtab[i];
		if (s->value > best->value && s->value < next && s->shndx != SHN_UNDEF &&
		    (s->info & 0xf) != STT_SECTION && (s->info & 0xf) != STT_FILE)
			next = s->value;
	}
	u64 end = best->size ? best->value + best->size
			     : MIN(next, best->value + SIZELESS_MAX);
	if (addr >= end)
		return NULL;
	*offset = addr - best->value;
	return strtab + best->name;
}

static void
print_addr(u64 a)
{
	u64 off;
	const char *name = symbol_lookup(a, &off);
	if (name)
		kprintf("  0x%016lx %s+0x%lx\n", a, name, off);
	else
		kprintf("  0x%016lx ?\n", a);
}

// Follow the rbp chain (the kernel is built with frame pointers).
static void
backtrace(u64 rip, u64 rbp)
{
	kprintf("backtrace:\n");
	print_addr(rip);
	for (int depth = 0; depth < 16 && rbp >= KERNBASE - (1UL << 40); depth++) {
		if (rbp & 7)
			break;
		u64 *frame = (u64 *)rbp;
		u64 ret = frame[1];
		if (ret < KERNBASE)
			break;
		print_addr(ret);
		rbp = frame[0];
	}
}

void
trap_dump(struct trapframe *tf)
{
	kprintf("trap %ld (%s) err=0x%lx cr2=0x%016lx\n", tf->vector, trap_name(tf->vector),
		tf->err, read_cr2());
	kprintf("rip=0x%016lx cs=0x%lx rflags=0x%lx rsp=0x%016lx ss=0x%lx\n", tf->rip, tf->cs,
		tf->rflags, tf->rsp, tf->ss);
	kprintf("rax=0x%016lx rbx=0x%016lx rcx=0x%016lx rdx=0x%016lx\n", tf->rax, tf->rbx,
		tf->rcx, tf->rdx);
	kprintf("rsi=0x%016lx rdi=0x%016lx rbp=0x%016lx r8 =0x%016lx\n", tf->rsi, tf->rdi,
		tf->rbp, tf->r8);
	kprintf("r9 =0x%016lx r10=0x%016lx r11=0x%016lx r12=0x%016lx\n", tf->r9, tf->r10,
		tf->r11, tf->r12);
	kprintf("r13=0x%016lx r14=0x%016lx r15=0x%016lx cr3=0x%016lx\n", tf->r13, tf->r14,
		tf->r15, read_cr3());
}

// With several CPUs, phases 1-3 let a process run on a kernel stack that is not its
// own, or (phase 1) on the one stack another CPU's process runs on too: lab 4's
// lesson, and a panic is usually where it ends; the entry's own kstack-foreign line
// may have been lost with the stack it ran on. So the panic says it too: tf's rsp for
// a fault in ring 0, else this code's. One CPU: nothing (phase 2's interrupts use
// irq_stack by design).
static void
panic_stack_note(struct trapframe *tf)
{
	struct proc *p = current;
	u64 rsp;
	if (ncpu_up < 2 || !p || !p->kstack_top || (tf && (tf->cs & 3)))
		return;
	if (tf)
		rsp = tf->rsp;
	else
		__asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
	if (rsp <= p->kstack_base || rsp > p->kstack_top) {
		klog("kstack-foreign pid=%d cpu=%d via=panic rsp=0x%lx own=0x%lx-0x%lx", p->pid,
		     this_cpu()->id, rsp, p->kstack_base, p->kstack_top);
		return;
	}
	// Phase 1: every process's stack is the one global stack, so on its own stack
	// is not enough: is another CPU running a process on the same one?
	for (int i = 0; i < ncpu; i++) {
		struct proc *q = cpus[i].proc;
		if (&cpus[i] != this_cpu() && cpus[i].started && q && q != &cpus[i].idle &&
		    q->kstack_top == p->kstack_top) {
			klog("kstack-shared pid=%d cpu=%d pid=%d cpu=%d stack=0x%lx-0x%lx", p->pid,
			     this_cpu()->id, q->pid, i, p->kstack_base, p->kstack_top);
			return;
		}
	}
}

static void __noreturn
vpanic(struct trapframe *tf, const char *fmt, va_list ap)
{
	char msg[160];
	cli();
	console_panic();
	smp_halt_others();
	vksnprintf(msg, sizeof msg, fmt, ap);
	for (char *c = msg; *c; c++)
		if (*c == '"')
			*c = '\'';
	klog("panic msg=\"%s\"", msg);
	panic_stack_note(tf);
	if (tf) {
		trap_dump(tf);
		backtrace(tf->rip, tf->rbp);
	} else {
		u64 rbp;
		__asm__ volatile("mov %%rbp, %0" : "=r"(rbp));
		backtrace((u64)__builtin_return_address(0), ((u64 *)rbp)[0]);
	}
	qemu_exit(1);
}

void
panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vpanic(NULL, fmt, ap);
}

void
panic_trap(struct trapframe *tf, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vpanic(tf, fmt, ap);
}
