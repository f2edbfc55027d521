// Phase 1: one shared global kernel stack for every system call and interrupt.
#pragma once

#define PHASE 1
#define PREEMPT_DEFAULT 0	// cooperative; `set preempt on` is allowed, and unsafe
