// Time: the 8254 PIT at TIMER_HZ, a TSC clock calibrated against the
// PIT, and the CMOS real-time clock read once at boot.
#include "kernel.h"
#include "timer.h"
#include "proc.h"
#include "trap.h"
#include "x86.h"
#include "smp.h"

#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_HZ 1193182	// the PIT's input clock
#define CALIBRATE_TICKS 5

volatile u64 ticks;
static u64 last_tick_ns, max_gap_ns;	// the longest time between two ticks
static u64 tsc_boot;
static u64 ns_mult;	// ns = (tsc delta * ns_mult) >> 32
static u64 rtc_boot;

static u8
cmos_read(u8 reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static u32
bcd(u8 v)
{
	return (v & 0xf) + (v >> 4) * 10;
}

// Seconds since 1970 from the CMOS clock (BCD, 24-hour, as QEMU presents it).
static u64
rtc_read(void)
{
	while (cmos_read(0x0a) & 0x80)	// update in progress
		;
	u32 s = bcd(cmos_read(0)), mi = bcd(cmos_read(2)), h = bcd(cmos_read(4));
	u32 d = bcd(cmos_read(7)), mo = bcd(cmos_read(8)), y = 2000 + bcd(cmos_read(9));
	// Days from the civil date (H. Hinnant's algorithm).
	y -= mo <= 2;
	u32 era = y / 400, yoe = y - era * 400;
	u32 doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	u32 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	u64 days = (u64)era * 146097 + doe - 719468;
	return days * 86400 + h * 3600 + mi * 60 + s;
}

void
timer_init(void)
{
	pic_init();
	u16 div = PIT_HZ / TIMER_HZ;
	outb(PIT_CMD, 0x34);	// channel 0, lo/hi byte, rate generator
	outb(PIT_CH0, div & 0xff);
	outb(PIT_CH0, div >> 8);

	// Calibrate the TSC over CALIBRATE_TICKS timer ticks.
	u64 t0 = ticks;
	while (ticks == t0)
		idle_wait();
	u64 c0 = rdtsc();
	t0 = ticks;
	while (ticks < t0 + CALIBRATE_TICKS)
		idle_wait();
	u64 c1 = rdtsc();
	u64 ns = CALIBRATE_TICKS * (1000000000UL / TIMER_HZ);
	ns_mult = (ns << 32) / (c1 - c0);
	tsc_boot = c0;
	rtc_boot = rtc_read();
}

u64
time_ns(void)
{
	if (!ns_mult)
		return ticks * (1000000000UL / TIMER_HZ);
	return (u64)(((unsigned __int128)(rdtsc() - tsc_boot) * ns_mult) >> 32);
}

int
time_calibrated(void)
{
	return ns_mult != 0;
}

u64
time_realtime_base(void)
{
	return rtc_boot;
}

void
timer_tick(void)
{
	ticks++;
	cpus[0].ticks++;
	if (ns_mult) {
		u64 now = time_ns();
		if (last_tick_ns && now - last_tick_ns > max_gap_ns)
			max_gap_ns = now - last_tick_ns;
		last_tick_ns = now;
		proc_wake_sleepers(now);
	}
}

// The longest gap between two timer ticks since boot or the last reset, in ns: a
// tick is 1e9 / TIMER_HZ; anything longer is time the kernel kept interrupts off.
u64
timer_max_gap_ns(int reset)
{
	u64 g = max_gap_ns;
	if (reset) {
		max_gap_ns = 0;
		last_tick_ns = 0;
	}
	return g;
}
