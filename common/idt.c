// The IDT: 32 exception vectors and 16 PIC interrupt vectors, all interrupt gates
// (IF cleared on entry), DPL 0 so user code cannot raise them with INT n.
#include "kernel.h"
#include "trap.h"
#include "kstack.h"

#define NVEC 48
#define GATE_INTR 0x8e	// present, DPL 0, 64-bit interrupt gate

struct __packed gate {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, reserved;
};

static struct gate idt[256] __aligned(16);
extern u64 trap_stubs[NVEC];

struct __packed desc_ptr {
	u16 limit;
	u64 base;
};

void
idt_init(void)
{
	for (int v = 0; v < NVEC; v++) {
		u64 a = trap_stubs[v];
		idt[v] = (struct gate){
			.off_lo = a & 0xffff,
			.sel = SEL_KCODE,
			.ist = kstack_ist(v),	// each phase decides which vectors use an IST
			.type = GATE_INTR,
			.off_mid = (a >> 16) & 0xffff,
			.off_hi = a >> 32,
		};
	}
	struct desc_ptr p = { sizeof idt - 1, (u64)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}
