// The GDT (flat segments for ring 0 and ring 3, in the order SYSCALL/SYSRET need)
// and the TSS, whose rsp0 and IST slots the kstack code of each phase fills in.
// One of each per CPU: the GDT lives in struct cpu (which is how this_cpu() finds
// it), and a TSS descriptor goes busy when loaded, so no two CPUs can share a TSS.
#include "kernel.h"
#include "trap.h"
#include "smp.h"

struct tss tss __aligned(16);	// CPU 0's TSS (the symbol a one-CPU kernel reads)
static struct tss ap_tss[NCPU] __aligned(16);	// the others': ap_tss[id]

// 64-bit code/data descriptors; base and limit are ignored in long mode.
#define GDT_KCODE 0x00209a0000000000UL	// present, DPL 0, code, L=1
#define GDT_KDATA 0x0000920000000000UL	// present, DPL 0, data, writable
#define GDT_UDATA 0x0000f20000000000UL	// present, DPL 3, data, writable
#define GDT_UCODE 0x0020fa0000000000UL	// present, DPL 3, code, L=1

// Build and load c's GDT, reload the segment registers, load c's TSS. From here on
// this_cpu() on this CPU answers c.
void
gdt_init_cpu(struct cpu *c)
{
	u64 *gdt = c->gdt;
	c->tss = c->id == 0 ? &tss : &ap_tss[c->id];
	u64 base = (u64)c->tss, limit = sizeof(struct tss) - 1;
	gdt[0] = 0;
	gdt[SEL_KCODE >> 3] = GDT_KCODE;
	gdt[SEL_KDATA >> 3] = GDT_KDATA;
	gdt[SEL_UDATA >> 3] = GDT_UDATA;
	gdt[SEL_UCODE >> 3] = GDT_UCODE;
	// A 64-bit TSS descriptor takes two slots: type 9 (available TSS), present.
	gdt[SEL_TSS >> 3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) |
			    (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[(SEL_TSS >> 3) + 1] = base >> 32;
	c->tss->iomap_base = sizeof(struct tss);	// no I/O permission bitmap: no ports

	struct desc_ptr p = { sizeof c->gdt - 1, (u64)gdt };
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "movw %w2, %%ax\n\t"
			 "movw %%ax, %%ds\n\t"
			 "movw %%ax, %%es\n\t"
			 "movw %%ax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(SEL_KCODE), "r"(SEL_KDATA), "r"(SEL_TSS)
			 : "rax", "memory");
}

// CPU 0, first thing in kmain.
void
gdt_init(void)
{
	cpus[0].id = 0;
	for (int i = 1; i < NCPU; i++)
		cpus[i].id = i;
	gdt_init_cpu(&cpus[0]);
}
