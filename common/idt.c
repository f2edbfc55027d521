// The IDT, shared by every CPU: 32 exception vectors, 16 PIC interrupt vectors and
// the LAPIC's (timer, IPIs, spurious: smp.h), all interrupt gates
// (IF cleared on entry), DPL 0 so user code cannot raise them with INT n.
#include "kernel.h"
#include "trap.h"
#include "kstack.h"
#include "smp.h"

#define GATE_INTR 0x8e	// present, DPL 0, 64-bit interrupt gate

struct __packed gate {
	u16 off_lo, sel;
	u8 ist, type;
	u16 off_mid;
	u32 off_hi, reserved;
};

static struct gate idt[256] __aligned(16);

static const char *const names[32] = {
	[T_DE] = "#DE", [T_DB] = "#DB", [T_NMI] = "NMI", [T_BP] = "#BP",
	[T_OF] = "#OF", [T_BR] = "#BR", [T_UD] = "#UD", [T_NM] = "#NM",
	[T_DF] = "#DF", [9] = "#CSO", [T_TS] = "#TS", [T_NP] = "#NP",
	[T_SS] = "#SS", [T_GP] = "#GP", [T_PF] = "#PF", [T_MF] = "#MF",
	[T_AC] = "#AC", [T_MC] = "#MC", [T_XM] = "#XM", [20] = "#VE",
	[21] = "#CP",
};

// The SDM's mnemonic for a vector (Vol. 3A, 6.15), "irq" for the PIC's, "syscall" for
// frames built by syscall_entry.
const char *
trap_name(u64 vector)
{
	if (vector == T_SYSCALL)
		return "syscall";
	if (vector < 32)
		return names[vector] ? names[vector] : "reserved";
	return vector < NVEC ? "irq" : "?";
}

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
	idt_load();
}

// Load the IDT on this CPU (CPU 0 from idt_init, each AP from ap_main).
void
idt_load(void)
{
	struct desc_ptr p = { sizeof idt - 1, (u64)idt };
	__asm__ volatile("lidt %0" : : "m"(p));
}
