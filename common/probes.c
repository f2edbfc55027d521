// The lab probes (system calls 500-503): deliberately instrumented calls that make
// kernel-stack behaviour visible from user space. Same numbers and layout in every
// phase; what they reveal is what changes.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"
#include "trap.h"

#define PROBE_LOCAL 512	// bytes of the kernel-stack local scribble and peek share
#define BURN_FRAME 232	// + return address, saved rbp and alignment: ~256 bytes a frame

struct kstack_info {
	u64 base, top, entry_rsp, tss_rsp0;
};

// 500: this process's kernel stack, where this call's entry put rsp (the trap frame
// ends exactly there), and TSS.rsp0 now, of this CPU.
long
sys_kstack_info(u64 out, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused,
		u64 a4 __unused, u64 a5 __unused)
{
	struct kstack_info ki = {
		.base = current->kstack_base,
		.top = current->kstack_top,
		.entry_rsp = (u64)(current->syscall_tf + 1),
		.tss_rsp0 = cpu_tss()->rsp0,	// of the CPU this call runs on
	};
	return copy_to_user(out, &ki, sizeof ki);
}

// The one function behind scribble and peek, so that both put local[] at the same
// depth below the entry frame. Peek copies it out uninitialised: on a shared stack,
// it still holds whatever the last caller left there.
static __noinline long
probe_local(int peek, u64 ubuf, u64 len)
{
	volatile u8 local[PROBE_LOCAL];
	len = MIN(len, PROBE_LOCAL);
	if (!user_range_ok(ubuf, len, peek))
		return -EFAULT;
	u8 *u = (u8 *)ubuf;
	for (u64 i = 0; i < len; i++) {
		if (peek)
			u[i] = local[i];
		else
			local[i] = u[i];
	}
	return len;
}

// Both probes reach probe_local through this frame, so local[] sits PROBE_GAP bytes
// deeper than the entry frame: below what ordinary system calls (write, exit, the
// scheduler) use, so a scribble survives its caller's own later calls and only a
// peek at the same depth finds it.
#define PROBE_GAP 2048

static __noinline long
probe_deep(int peek, u64 ubuf, u64 len)
{
	volatile u8 gap[PROBE_GAP];
	gap[0] = 0;
	long r = probe_local(peek, ubuf, len);
	return r + gap[0];	// keeps gap[] live across the call
}

// 501
long
sys_kstack_scribble(u64 buf, u64 len, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
		    u64 a5 __unused)
{
	return probe_deep(0, buf, len);
}

// 502
long
sys_kstack_peek(u64 buf, u64 len, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
		u64 a5 __unused)
{
	return probe_deep(1, buf, len);
}

static __noinline u64
burn(u64 depth)
{
	volatile u8 pad[BURN_FRAME];
	pad[0] = (u8)depth;
	pad[BURN_FRAME - 1] = (u8)depth;
	if (depth == 0)
		return 0;
	u64 r = burn(depth - 1) + 1;
	return r + (pad[0] != pad[BURN_FRAME - 1]);	// keeps the frame live after the call
}

// 503: recurse depth times, ~256 bytes of kernel stack a frame.
long
sys_kstack_burn(u64 depth, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused,
		u64 a4 __unused, u64 a5 __unused)
{
	return burn(depth);
}
