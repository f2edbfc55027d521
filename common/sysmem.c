// Memory system calls: brk, anonymous mmap, munmap, mprotect. Pages are mapped
// (zeroed) at once; there is no demand paging. Every range is recorded in the
// process's region table (vma.c) first, so nothing is ever mapped over by accident.
// Argument checks follow Linux's order (mm/mmap.c do_mmap, __vm_munmap; mm/mprotect.c
// do_mprotect_pkey; mm/mmap.c brk) and give its errnos.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"

#define MAX_BRK (256UL << 20)	// heap may grow this far above the image
#define MAX_MMAP (1UL << 30)	// largest single mapping: all of it is allocated at once
#define MMAP_BASE 0x0000100000000000UL	// mmap(NULL) takes the lowest free range from here
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_SHARED_VALIDATE 0x03
#define MAP_TYPE 0x0f
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define PROT_SEM 0x8
#define PROT_GROWSDOWN 0x01000000
#define PROT_GROWSUP 0x02000000

// PTE bits for PROT_* bits. PROT_NONE pages stay mapped (the frame is the process's)
// but not user-accessible, so any access from ring 3 faults; x86 pages are always
// readable when user-accessible (PROT_WRITE or PROT_EXEC alone imply read, as on Linux).
u64
prot_pte_flags(int prot)
{
	u64 f = PTE_P;
	if (prot & PROT_RWX)
		f |= PTE_U;
	if (prot & PROT_WRITE)
		f |= PTE_W;
	if (!(prot & PROT_EXEC))
		f |= PTE_NX;
	return f;
}

// Unmap [start, end) and forget its regions. 0, or -ENOMEM (nothing changed) when
// the region table has no slot for a split.
static int
unmap(struct proc *p, u64 start, u64 end)
{
	int r = vma_remove(&p->vmas, start, end);
	if (r < 0)
		return r;
	vm_free_range(p->pml4, start, end - start);
	return 0;
}

// Map fresh zeroed pages over [start, end), which no region covers, and record them.
static int
map_new(struct proc *p, u64 start, u64 end, int kind, int prot)
{
	if (p->vmas.n == NVMA)
		return -ENOMEM;
	int r = vm_alloc_range(p->pml4, start, end - start, prot_pte_flags(prot));
	if (r < 0)
		return r == -EEXIST ? -EFAULT : r;	// a page no region knows: a kernel bug
	if (vma_add(&p->vmas, start, end, kind, prot) < 0) {
		vm_free_range(p->pml4, start, end - start);
		return -ENOMEM;
	}
	return 0;
}

// brk(addr): move the program break; returns the (possibly unchanged) break, as
// Linux does: a failed request returns the old value. The heap grows only into
// pages no region holds, with one free page left above it (Linux's stack guard gap
// rule for brk).
long
sys_brk(u64 addr, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	u64 a5 __unused)
{
	struct proc *p = current;
	if (addr < p->brk_start || addr > p->brk_start + MAX_BRK)
		return p->brk;
	u64 old_end = ALIGN_UP(p->brk, PAGE_SIZE), new_end = ALIGN_UP(addr, PAGE_SIZE);
	if (new_end > old_end) {
		if (new_end + PAGE_SIZE > USER_TOP ||
		    vma_overlap(&p->vmas, old_end, new_end + PAGE_SIZE))
			return p->brk;	// would run into another region or the top
		if (map_new(p, old_end, new_end, VMA_HEAP, PROT_READ | PROT_WRITE) < 0)
			return p->brk;
	} else if (new_end < old_end) {
		if (unmap(p, new_end, old_end) < 0)
			return p->brk;
	}
	p->brk = addr;
	return addr;
}

long
sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off)
{
	struct proc *p = current;
	if (off % PAGE_SIZE)
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return (int)fd >= 0 && (int)fd <= 2 ? -ENODEV : -EBADF;	// no file can be mapped
	if (len == 0)
		return -EINVAL;
	if (flags & MAP_FIXED_NOREPLACE)
		flags |= MAP_FIXED;
	if (!(flags & MAP_FIXED) && addr && addr < USER_MIN)
		addr = USER_MIN;	// Linux round_hint_to_min
	if (len > USER_TOP)
		return -ENOMEM;
	len = ALIGN_UP(len, PAGE_SIZE);
	if ((off >> 12) + (len >> 12) < (off >> 12))
		return -EOVERFLOW;
	if (p->vmas.n >= NVMA)
		return -ENOMEM;
	u64 va;
	if (flags & MAP_FIXED) {
		if (addr > USER_TOP - len)
			return -ENOMEM;	// checked before the alignment, as __get_unmapped_area does
		if (addr % PAGE_SIZE)
			return -EINVAL;
		if (addr < USER_MIN)
			return -EPERM;	// Linux: below mmap_min_addr
		if ((flags & MAP_FIXED_NOREPLACE) && vma_overlap(&p->vmas, addr, addr + len))
			return -EEXIST;
		va = addr;
	} else {
		addr = ALIGN_UP(addr, PAGE_SIZE);
		if (addr && addr <= USER_TOP - len && !vma_overlap(&p->vmas, addr, addr + len))
			va = addr;	// the hint is free: take it
		else if (!(va = vma_find_free(&p->vmas, len, MMAP_BASE, USER_TOP)) &&
			 !(va = vma_find_free(&p->vmas, len, USER_MIN, MMAP_BASE)))
			return -ENOMEM;
	}
	switch (flags & MAP_TYPE) {
	case MAP_SHARED:
	case MAP_PRIVATE:
	case MAP_SHARED_VALIDATE:
		break;
	default:
		return -EINVAL;
	}
	if (len > MAX_MMAP)
		return -ENOMEM;
	if (flags & MAP_FIXED) {
		if (p->vmas.n + 2 > NVMA)
			return -ENOMEM;
		unmap(p, va, va + len);	// whatever was there: frames freed, TLB flushed
	}
	int r = map_new(p, va, va + len, VMA_MMAP, prot & PROT_RWX);
	return r < 0 ? r : (long)va;
}

long
sys_munmap(u64 addr, u64 len, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	   u64 a5 __unused)
{
	if (addr % PAGE_SIZE || len == 0 || addr >= USER_TOP || len > USER_TOP - addr)
		return -EINVAL;
	return unmap(current, addr, addr + ALIGN_UP(len, PAGE_SIZE));
}

// mprotect(addr, len, prot): Linux semantics. The range must be mapped from addr on
// without a hole: the pieces before the first hole change, then -ENOMEM.
long
sys_mprotect(u64 addr, u64 len, u64 prot, u64 a3 __unused, u64 a4 __unused, u64 a5 __unused)
{
	struct proc *p = current;
	u64 grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
	prot &= ~grows;
	if (grows == (PROT_GROWSDOWN | PROT_GROWSUP))
		return -EINVAL;
	if (addr % PAGE_SIZE)
		return -EINVAL;
	if (len == 0)
		return 0;
	len = ALIGN_UP(len, PAGE_SIZE);
	u64 end = addr + len;
	if (end <= addr)
		return -ENOMEM;
	if (prot & ~(u64)(PROT_RWX | PROT_SEM))
		return -EINVAL;
	if (!vma_at(&p->vmas, addr))
		return -ENOMEM;
	if (grows)
		return -EINVAL;	// no region here grows (Linux: only VM_GROWSDOWN/UP ones)
	u64 covered = vma_covered_end(&p->vmas, addr, end);
	if (vma_protect(&p->vmas, addr, covered, prot & PROT_RWX) < 0)
		return -ENOMEM;
	vm_protect_range(p->pml4, addr, covered - addr, prot_pte_flags(prot & PROT_RWX));
	return covered < end ? -ENOMEM : 0;
}
