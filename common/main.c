// kmain: bring the machine up in dependency order, then become the monitor.
#include "kernel.h"
#include "phase.h"
#include "mm.h"
#include "trap.h"
#include "kstack.h"
#include "proc.h"
#include "loader.h"
#include "syscall.h"
#include "timer.h"
#include "multiboot2.h"
#include "smp.h"

struct mb2_info *mb2;
static struct boot_info boot;

// An ELF section header, as in the multiboot2 ELF-sections tag (ELF-64 spec, fig. 3).
struct elf64_shdr {
	u32 name, type;
	u64 flags, addr, offset, size;
	u32 link, info;
	u64 addralign, entsize;
};

#define SHT_SYMTAB 2

static void
reserve(u64 start, u64 end, const char *what)
{
	if (boot.nreserved == BOOT_MAX_RESERVED)
		panic("boot: more than %d reserved ranges (%s)", BOOT_MAX_RESERVED, what);
	boot.reserved[boot.nreserved++] = (struct boot_range){ start, end, what };
}

// The symbol table and its strings: GRUB loads the sections outside the image at a
// low physical address and writes that address into sh_addr.
static void
find_symbols(const struct mb2_tag_elf_sections *t)
{
	if (t->entsize != sizeof(struct elf64_shdr))
		return;
	const struct elf64_shdr *sh = (const void *)t->sections;
	for (u32 i = 0; i < t->num; i++) {
		if (sh[i].type != SHT_SYMTAB || sh[i].link >= t->num)
			continue;
		const struct elf64_shdr *str = &sh[sh[i].link];
		if (sh[i].addr >= KERNBASE || str->addr >= KERNBASE || !sh[i].addr || !str->addr)
			continue;
		boot.symtab = sh[i].addr;
		boot.symtab_size = sh[i].size;
		boot.strtab = str->addr;
		boot.strtab_size = str->size;
		reserve(boot.symtab, boot.symtab + boot.symtab_size, "symtab");
		reserve(boot.strtab, boot.strtab + boot.strtab_size, "strtab");
		return;
	}
}

// Decode the boot information once, through the boot tables' KERNBASE window (before
// vm_init): the memory map, the ranges pmm must never hand out, the initrd (the first
// module; its 32-bit addresses fall inside the 4 GiB direct map) and the symbols.
static void
scan_boot_info(struct mb2_info *info, u64 info_pa)
{
	reserve(0, 1UL << 20, "low 1 MiB");
	reserve(1UL << 20, KIMG2P(__kernel_end), "kernel image");
	reserve(info_pa, info_pa + info->total_size, "boot information");
	mb2_for_each_tag(t, info) {
		if (t->type == MB2_TAG_MMAP)
			boot.mmap = (struct mb2_tag_mmap *)t;
		if (t->type == MB2_TAG_ELF_SECTIONS)
			find_symbols((const struct mb2_tag_elf_sections *)t);
		if (t->type == MB2_TAG_MODULE && !boot.initrd_end) {
			struct mb2_tag_module *m = (void *)t;
			boot.initrd_start = m->mod_start;
			boot.initrd_end = m->mod_end;
			reserve(m->mod_start, m->mod_end, "initrd");
		}
	}
}

// After vm_init: hand the symbols and the initrd to their owners.
static void
use_boot_info(void)
{
	symbols_init(boot.symtab, boot.symtab_size, boot.strtab);
	if (!boot.initrd_end)
		klog("initrd-error reason=\"no initrd module: run and ls will find nothing\"");
	else if (boot.initrd_end <= boot.initrd_start)
		klog("initrd-error reason=\"empty module\"");
	else
		initrd_init(boot.initrd_start, boot.initrd_end);
}

void
kmain(u32 magic, u32 info_pa)
{
	gdt_init();	// first: this CPU's GDT is how the kernel knows which CPU it is
	console_init();
	if (magic != MB2_BOOTLOADER_MAGIC)
		panic("not booted by a multiboot2 loader (magic 0x%x)", magic);
	scan_boot_info((struct mb2_info *)(KERNBASE + info_pa), info_pa);
	pmm_init(&boot);
	vm_init();
	mb2 = P2V(info_pa);
	use_boot_info();
	kstack_init();
	proc_init_idle(&cpus[0]);
	kstack_init_cpu(&cpus[0]);
	idt_init();
	syscall_init();
	proc_init();
	timer_init();
	smp_init(mb2);
	klog("boot phase=%d cpus=%d mem=%luKiB", PHASE, ncpu_up, pmm_total_bytes() >> 10);
	preempt_enabled = PREEMPT_DEFAULT;
	proc_start_monitor(monitor_main);
}
