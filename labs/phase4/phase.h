// Phase 4: per-CPU data through swapgs and the GS base; every CPU its own TSS and IST.
#pragma once

#define PHASE 4
#define PREEMPT_DEFAULT 1	// preemptive, on every CPU
