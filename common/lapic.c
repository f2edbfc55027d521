// The local APIC of each CPU (xAPIC, memory-mapped; Intel SDM vol. 3, chapter 11):
// inter-processor interrupts, INIT-SIPI-SIPI to start a CPU, and each AP's timer.
// CPU 0 keeps the 8259 PIC and the PIT (timer.c): its LAPIC is used to send IPIs and
// to receive them, and its LINT0 stays as the firmware left it (ExtINT from the PIC).
#include "kernel.h"
#include "smp.h"
#include "timer.h"
#include "x86.h"

#define LAPIC_ID 0x020
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0		// spurious vector register; bit 8 enables the LAPIC
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define SVR_ENABLE (1U << 8)
#define LVT_MASKED (1U << 16)
#define LVT_PERIODIC (1U << 17)
#define ICR_PENDING (1U << 12)	// delivery status: the last IPI is not sent yet
#define ICR_FIXED 0x00000
#define ICR_INIT 0x00500
#define ICR_STARTUP 0x00600
#define ICR_ASSERT (1U << 14)
#define TIMER_DIV_16 0x3
#define CALIBRATE_TICKS 2	// PIT ticks the calibration counts over

static volatile u32 *lapic;
static u32 timer_count;	// LAPIC timer counts (divide by 16) per 1/TIMER_HZ s

static u32
rd(u32 reg)
{
	return lapic[reg / 4];
}

static void
wr(u32 reg, u32 v)
{
	lapic[reg / 4] = v;
	(void)lapic[LAPIC_ID / 4];	// wait for the write, as the SDM advises
}

// Initial APIC id from CPUID leaf 1 (EBX[31:24]): usable before the LAPIC is mapped.
u32
lapic_id(void)
{
	u32 a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

// Map (the direct map covers the first 4 GiB) and software-enable this CPU's LAPIC.
// An AP masks LINT0/LINT1 so the PIC's interrupts reach CPU 0 only.
void
lapic_init(u64 pa)
{
	lapic = P2V(pa);
	wr(LAPIC_SVR, SVR_ENABLE | T_LAPIC_SPURIOUS);
	if (this_cpu()->id != 0) {
		wr(LAPIC_LVT_LINT0, LVT_MASKED);
		wr(LAPIC_LVT_LINT1, LVT_MASKED);
		wr(LAPIC_LVT_TIMER, LVT_MASKED);
	}
}

void
lapic_eoi(void)
{
	if (lapic)
		wr(LAPIC_EOI, 0);
}

static void
icr_send(u32 dest, u32 lo)
{
	while (rd(LAPIC_ICR_LO) & ICR_PENDING)
		__asm__ volatile("pause");
	wr(LAPIC_ICR_HI, dest << 24);
	wr(LAPIC_ICR_LO, lo);
}

void
lapic_send_ipi(u32 dest, int vector)
{
	if (lapic)
		icr_send(dest, ICR_FIXED | ICR_ASSERT | vector);
}

static void
delay_us(u64 us)
{
	u64 end = time_ns() + us * 1000;
	while (time_ns() < end)
		__asm__ volatile("pause");
}

// The universal start-up algorithm (SDM vol. 3, 8.4.4.1): INIT, 10 ms, then two
// STARTUP IPIs 200 us apart; the AP begins in real mode at trampoline_pa (page
// aligned, below 1 MiB: the SIPI carries only its page number).
void
lapic_send_init_sipi(u32 dest, u32 trampoline_pa)
{
	icr_send(dest, ICR_INIT | ICR_ASSERT);
	delay_us(10000);
	for (int i = 0; i < 2; i++) {
		icr_send(dest, ICR_STARTUP | ICR_ASSERT | (trampoline_pa >> 12));
		delay_us(200);
	}
}

// CPU 0, after timer_init: count the LAPIC timer down over CALIBRATE_TICKS PIT ticks.
void
lapic_timer_calibrate(void)
{
	wr(LAPIC_TIMER_DIV, TIMER_DIV_16);
	wr(LAPIC_LVT_TIMER, LVT_MASKED);
	u64 t0 = ticks;
	while (ticks == t0)
		idle_wait();
	wr(LAPIC_TIMER_INIT, 0xffffffff);
	t0 = ticks;
	while (ticks < t0 + CALIBRATE_TICKS)
		idle_wait();
	u32 left = rd(LAPIC_TIMER_CUR);
	wr(LAPIC_TIMER_INIT, 0);
	timer_count = (0xffffffffU - left) / CALIBRATE_TICKS;
	if (!timer_count)
		timer_count = 1000000;
}

// This AP's periodic tick at TIMER_HZ (preemption and its `cpus` tick count).
void
lapic_timer_start(void)
{
	wr(LAPIC_TIMER_DIV, TIMER_DIV_16);
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | T_LAPIC_TIMER);
	wr(LAPIC_TIMER_INIT, timer_count);
}
