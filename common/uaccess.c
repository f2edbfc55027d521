// Access to user memory. The kernel runs on the user's page tables (CR3 = the
// process's PML4), so after the checks below it reads and writes user addresses
// directly. One CPU and IF=0 in the kernel: nothing can unmap a page between the
// check and the copy.
#include "kernel.h"
#include "mm.h"
#include "proc.h"
#include "trap.h"

#define UACCESS_WINDOW_PAGES 1024	// ~40 µs of lookups between interrupt windows

// [va, va+len) is canonical, below USER_TOP, does not wrap, and every page is mapped
// present + user (+ writable when write).
int
user_range_ok(u64 va, u64 len, int write)
{
	if (len == 0)
		return 1;
	if (va >= USER_TOP || len > USER_TOP - va)
		return 0;
	if (!current || !current->pml4)
		return 0;
	u64 need = PTE_P | PTE_U | (write ? PTE_W : 0);
	u64 n = 0;
	for (u64 p = ALIGN_DOWN(va, PAGE_SIZE); p < va + len; p += PAGE_SIZE) {
		if ((vm_lookup(current->pml4, p) & need) != need)
			return 0;
		if (++n % UACCESS_WINDOW_PAGES == 0)
			irq_window();	// a range of many pages: let the timer in
	}
	return 1;
}

// Linux's access_ok (arch/x86/include/asm/uaccess_64.h): [va, va+len) does not
// wrap and ends at or below USER_TOP (TASK_SIZE_MAX). Nothing is looked up: len 0
// at a kernel address fails, len 0 at NULL passes, as on Linux.
int
user_access_ok(u64 va, u64 len)
{
	return va + len >= va && va + len <= USER_TOP;
}

int
copy_from_user(void *dst, u64 usrc, size_t len)
{
	if (!user_range_ok(usrc, len, 0))
		return -EFAULT;
	memcpy(dst, (const void *)usrc, len);
	return 0;
}

int
copy_to_user(u64 udst, const void *src, size_t len)
{
	if (!user_range_ok(udst, len, 1))
		return -EFAULT;
	memcpy((void *)udst, src, len);
	return 0;
}
