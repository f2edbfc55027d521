// The two 8259A PICs (master, and the slave cascaded on its IRQ 2): remapped to
// vectors 32-47, only the timer (IRQ 0) and COM1 (IRQ 4) unmasked. The one owner of
// their ports. Facts from the Intel 8259A data sheet (ICW1-ICW4, OCW2).
#include "kernel.h"
#include "trap.h"
#include "x86.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_EOI 0x20	// OCW2: non-specific end of interrupt

static int pic_ready;	// remapped (and the IDT loaded before): IRQs may be taken

// Boot, IF = 0: remap IRQ 0-15 to T_IRQ0..T_IRQ0+15, mask all but IRQ 0 and 4.
void
pic_init(void)
{
	outb(PIC1_CMD, 0x11);	// ICW1: init, ICW4 follows
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, T_IRQ0);	// ICW2: vector base
	outb(PIC2_DATA, T_IRQ0 + 8);
	outb(PIC1_DATA, 4);	// ICW3: slave on IRQ 2
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, 1);	// ICW4: 8086 mode
	outb(PIC2_DATA, 1);
	outb(PIC1_DATA, ~((1 << 0) | (1 << 4)) & 0xff);
	outb(PIC2_DATA, 0xff);
	pic_ready = 1;
}

// A point in a long kernel loop (IF = 0) where pending interrupts run: sti's
// one-instruction shadow covers the nop, so one window lets the timer tick and COM1
// in and then closes. Never schedules: the kernel stays non-preemptible, only the
// interrupts-off time is bounded. A no-op before pic_init.
void
irq_window(void)
{
	if (pic_ready)
		__asm__ volatile("sti; nop; cli" ::: "memory");
}

// End of interrupt for a PIC vector (T_IRQ0..T_IRQ0+15): the slave's IRQs need an EOI
// at both chips. Not for a spurious IRQ 7, which was never in service.
void
pic_eoi(u64 vector)
{
	if (vector >= T_IRQ0 + 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}
