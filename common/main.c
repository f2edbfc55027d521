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
void monitor_main(void);

// Find the initrd module and the ELF sections tag; check the module is sane (its
// 32-bit addresses always fall inside the 4 GiB direct map).
static void
scan_boot_info(void)
{
	mb2_for_each_tag(t, mb2) {
		if (t->type == MB2_TAG_ELF_SECTIONS)
			symbols_init(t);
		if (t->type == MB2_TAG_MODULE && !initrd_present()) {
			struct mb2_tag_module *m = (void *)t;
			if (m->mod_end <= m->mod_start)
				klog("initrd-error reason=\"empty module\"");
			else
				initrd_init(m->mod_start, m->mod_end);
		}
	}
	if (!initrd_present())
		klog("initrd-error reason=\"no initrd module: run and ls will find nothing\"");
}

void
kmain(u32 magic, u32 info_pa)
{
	gdt_init();	// first: this CPU's GDT is how the kernel knows which CPU it is
	console_init();
	if (magic != MB2_BOOTLOADER_MAGIC)
		panic("not booted by a multiboot2 loader (magic 0x%x)", magic);
	pmm_init((void *)(KERNBASE + info_pa));
	vm_init();
	mb2 = P2V(info_pa);
	scan_boot_info();
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
