// Physical frames, page tables and the kernel heap.
#pragma once
#include "types.h"

// Page-table entry bits.
#define PTE_P (1UL << 0)	// present
#define PTE_W (1UL << 1)	// writable
#define PTE_U (1UL << 2)	// user-accessible
#define PTE_PS (1UL << 7)	// 2 MiB page (in a PD entry)
#define PTE_NX (1UL << 63)	// no-execute (EFER.NXE is set at boot)
#define PTE_ADDR(e) ((e) & 0x000ffffffffff000UL)

// pmm.c
struct boot_info;
void pmm_init(const struct boot_info *bi);	// free RAM minus bi's reserved ranges
u64 pmm_alloc(void);		// one zeroed 4 KiB frame (physical address), or 0
void pmm_free(u64 pa);
u64 pmm_total_bytes(void);
u64 pmm_free_frames(void);
void pmm_reserve(u64 start, u64 end);
void *phys_ptr(u64 pa);		// usable before and after vm_init
void pmm_use_direct_map(void);	// vm_init: the direct map exists now

// vm.c
extern pagetable_t kernel_pml4;
void vm_init(void);
pagetable_t vm_new_space(void);				// user half empty, kernel half shared
void vm_free_space(pagetable_t pml4);
int vm_map(pagetable_t pml4, u64 va, u64 pa, u64 flags);	// 0, -ENOMEM, -EEXIST (present)
u64 vm_unmap(pagetable_t pml4, u64 va);			// returns the frame, or 0
u64 *vm_walk(pagetable_t pml4, u64 va, int create);	// leaf PTE pointer, or NULL
u64 vm_lookup(pagetable_t pml4, u64 va);		// leaf PTE value, 0 if not mapped
int vm_alloc_range(pagetable_t pml4, u64 va, u64 len, u64 flags);	// 0, -ENOMEM, -EEXIST
void vm_free_range(pagetable_t pml4, u64 va, u64 len);	// cost: what is mapped
void vm_protect_range(pagetable_t pml4, u64 va, u64 len, u64 flags);
u64 vm_count_frames(pagetable_t pml4);			// pages + tables of the user half
#define IRQ_WINDOW_PAGES 16	// pages between two interrupt windows (~0.2 ms of zeroing)
int vm_copyout(pagetable_t pml4, u64 va, const void *src, size_t len);

// mmap/mprotect protection bits (Linux include/uapi/asm-generic/mman-common.h).
#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define PROT_RWX (PROT_READ | PROT_WRITE | PROT_EXEC)
u64 prot_pte_flags(int prot);	// sysmem.c: PTE bits for PROT_* (NONE: not user-accessible)

// Address-space bookkeeping (vma.c): per process, what each range of the user half
// is. Page-aligned [start, end) regions, sorted, never overlapping.
enum vma_kind { VMA_IMAGE = 1, VMA_HEAP, VMA_MMAP, VMA_STACK };
#define NVMA 64	// regions per process (mmap answers -ENOMEM beyond, as Linux past max_map_count)

struct vma {
	u64 start, end;
	u8 kind;	// enum vma_kind
	u8 prot;	// PROT_READ | PROT_WRITE | PROT_EXEC, as mmap/mprotect set them
};

struct vmas {
	int n;
	struct vma v[NVMA];
};

const struct vma *vma_overlap(const struct vmas *m, u64 start, u64 end);
const struct vma *vma_at(const struct vmas *m, u64 va);
int vma_add(struct vmas *m, u64 start, u64 end, int kind, int prot);	// 0, -EEXIST, -ENOMEM
int vma_remove(struct vmas *m, u64 start, u64 end);			// 0, -ENOMEM
u64 vma_covered_end(const struct vmas *m, u64 start, u64 end);
int vma_protect(struct vmas *m, u64 start, u64 end, int prot);		// 0, -ENOMEM
u64 vma_find_free(const struct vmas *m, u64 len, u64 lo, u64 hi);	// 0: none

// User memory access (uaccess.c). Every user pointer goes through these: they check
// the range is canonical, below USER_TOP, does not wrap, and is mapped user (and
// writable for copy_to_user) in the current address space. -EFAULT otherwise.
int user_range_ok(u64 va, u64 len, int write);
int user_access_ok(u64 va, u64 len);	// Linux's access_ok: range only, no lookup
int copy_from_user(void *dst, u64 usrc, size_t len);
int copy_to_user(u64 udst, const void *src, size_t len);

// heap.c
void *kmalloc(size_t n);
void kfree(void *p);
u64 heap_frames(void);	// frames the heap took from pmm (it never gives them back)
