// Time: the PIT tick (100 Hz) and a TSC clock calibrated against it.
#pragma once
#include "types.h"

#define TIMER_HZ 100

void timer_init(void);
void timer_tick(void);
u64 time_ns(void);		// monotonic ns since boot
int time_calibrated(void);	// time_ns runs on the TSC (after timer_init)
u64 time_realtime_base(void);	// seconds since the epoch at boot (CMOS RTC)
u64 timer_max_gap_ns(int reset);	// longest time between two ticks (IF=0 time)
extern volatile u64 ticks;
