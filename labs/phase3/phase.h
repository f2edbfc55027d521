// Phase 3: TSS.rsp0 follows the running process, guard pages, #DF on an IST stack.
#pragma once

#define PHASE 3
#define PREEMPT_DEFAULT 1	// preemptive: safe now that every process has its own rsp0
