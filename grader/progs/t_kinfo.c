// t_kinfo — where is this process's kernel stack?
//
//   run t_kinfo NONCE once    one kstack_info call
//   run t_kinfo NONCE live    8 times { kstack_info; sched_yield }
//
// Output (addresses as 0x<16 hex>, values from the first call):
//   RESULT kinfo mode=M pid=P base=0x.. top=0x.. entry=0x.. tss=0x.. consistent=C inside=I tag=...
// consistent=1 iff base and top were the same in every call; inside=1 iff every
// call's entry_rsp satisfied base < entry_rsp <= top.  If a probe call does not
// return 0:
//   RESULT kinfo mode=M error=<rax> tag=...
// Exit status 0 when the probe answered, 1 on error, 2 on bad usage.
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stacklabs.h"

// kstack_info calls in live mode, each followed by a sched_yield so other
// processes run in between.
#define KINFO_LIVE_CALLS 8

// Returns 1 iff k's entry_rsp lies on the stack k describes.
static int
kinfo_inside(const struct kstack_info *k)
{
	return k->base < k->entry_rsp && k->entry_rsp <= k->top;
}

// Make n kstack_info calls (yielding after each when n > 1), judging them
// against the first, which is left in *first.  Returns 0, or the first
// nonzero rax.
static long
kinfo_calls(int n, struct kstack_info *first, int *consistent, int *inside)
{
	struct kstack_info k;
	long r;

	*consistent = 1;
	*inside = 1;
	for (int i = 0; i < n; i++) {
		memset(&k, 0, sizeof k);
		r = sl_kstack_info(&k);
		if (r != 0)
			return r;
		if (i == 0)
			*first = k;
		*consistent &= k.base == first->base && k.top == first->top;
		*inside &= kinfo_inside(&k);
		if (n > 1)
			sl_syscall3(SYS_sched_yield, 0, 0, 0);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct kstack_info k = { 0, 0, 0, 0 };
	int n, consistent, inside;
	long pid, r;

	if (argc != 3 || (strcmp(argv[2], "once") != 0 && strcmp(argv[2], "live") != 0)) {
		printf("usage: t_kinfo NONCE once|live\n");
		return 2;
	}
	n = strcmp(argv[2], "once") == 0 ? 1 : KINFO_LIVE_CALLS;
	pid = (long)getpid();
	r = kinfo_calls(n, &k, &consistent, &inside);
	if (r != 0) {
		sl_probe_failed("t_kinfo", "kstack_info", r);
		sl_result(argv[1], "kinfo mode=%s error=%ld", argv[2], r);
		return 1;
	}
	sl_result(argv[1], "kinfo mode=%s pid=%ld base=0x%016llx top=0x%016llx "
		  "entry=0x%016llx tss=0x%016llx consistent=%d inside=%d", argv[2], pid,
		  (unsigned long long)k.base, (unsigned long long)k.top,
		  (unsigned long long)k.entry_rsp, (unsigned long long)k.tss_rsp0,
		  consistent, inside);
	return 0;
}
