// Phase 2: per-process kernel stacks, published to the entry code through an atomic.
#pragma once

#define PHASE 2
#define PREEMPT_DEFAULT 0	// cooperative; `set preempt on` is allowed, and unsafe
