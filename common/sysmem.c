// Memory system calls: brk, and anonymous private mmap/munmap. Pages are mapped
// (zeroed) at once; there is no demand paging.
#include "kernel.h"
#include "syscall.h"
#include "mm.h"
#include "proc.h"

#define MAX_BRK (256UL << 20)	// heap may grow this far above the image
#define MAX_MMAP (1UL << 30)	// largest single mapping
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20

static u64
prot_flags(u64 prot)
{
	u64 f = PTE_P | PTE_U;
	if (prot & PROT_WRITE)
		f |= PTE_W;
	if (!(prot & PROT_EXEC))
		f |= PTE_NX;
	return f;
}

// brk(addr): move the program break; returns the (possibly unchanged) break, as
// Linux does: a failed request returns the old value.
long
sys_brk(u64 addr, u64 a1 __unused, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	u64 a5 __unused)
{
	struct proc *p = current;
	if (addr < p->brk_start || addr > p->brk_start + MAX_BRK)
		return p->brk;
	u64 old_end = ALIGN_UP(p->brk, PAGE_SIZE), new_end = ALIGN_UP(addr, PAGE_SIZE);
	if (new_end > old_end) {
		for (u64 va = old_end; va < new_end; va += PAGE_SIZE)
			if (vm_lookup(p->pml4, va))
				return p->brk;	// would run into an existing mapping
		if (vm_alloc_range(p->pml4, old_end, new_end - old_end, prot_flags(PROT_WRITE)) < 0)
			return p->brk;
	} else if (new_end < old_end) {
		vm_free_range(p->pml4, new_end, old_end - new_end);
	}
	p->brk = addr;
	return addr;
}

long
sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd __unused, u64 off __unused)
{
	struct proc *p = current;
	if (!(flags & MAP_ANONYMOUS))
		return -ENODEV;	// there are no files to map
	if (!(flags & (MAP_PRIVATE | MAP_SHARED)) || len == 0)
		return -EINVAL;
	if (len > MAX_MMAP)
		return -ENOMEM;
	len = ALIGN_UP(len, PAGE_SIZE);
	u64 va = p->mmap_next;
	if (flags & MAP_FIXED) {
		if (addr % PAGE_SIZE || addr < USER_MIN || addr >= USER_TOP || len > USER_TOP - addr)
			return -EINVAL;
		va = addr;
		vm_free_range(p->pml4, va, len);
	} else if (len > USER_TOP - PAGE_SIZE - va) {
		return -ENOMEM;
	}
	if (vm_alloc_range(p->pml4, va, len, prot_flags(prot)) < 0)
		return -ENOMEM;
	if (!(flags & MAP_FIXED))
		p->mmap_next = va + len + PAGE_SIZE;	// one unmapped page between mappings
	return va;
}

long
sys_munmap(u64 addr, u64 len, u64 a2 __unused, u64 a3 __unused, u64 a4 __unused,
	   u64 a5 __unused)
{
	if (addr % PAGE_SIZE || len == 0 || addr >= USER_TOP || len > USER_TOP - addr)
		return -EINVAL;
	vm_free_range(current->pml4, addr, ALIGN_UP(len, PAGE_SIZE));
	return 0;
}
