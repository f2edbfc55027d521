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
void pmm_init(void *mbi);
u64 pmm_alloc(void);		// one zeroed 4 KiB frame (physical address), or 0
void pmm_free(u64 pa);
u64 pmm_total_bytes(void);
void pmm_reserve(u64 start, u64 end);
void *phys_ptr(u64 pa);		// usable before and after vm_init

// vm.c
extern pagetable_t kernel_pml4;
void vm_init(void);
pagetable_t vm_new_space(void);				// user half empty, kernel half shared
void vm_free_space(pagetable_t pml4);
int vm_map(pagetable_t pml4, u64 va, u64 pa, u64 flags);	// 0 or -ENOMEM
u64 vm_unmap(pagetable_t pml4, u64 va);			// returns the frame, or 0
u64 *vm_walk(pagetable_t pml4, u64 va, int create);	// leaf PTE pointer, or NULL
u64 vm_lookup(pagetable_t pml4, u64 va);		// leaf PTE value, 0 if not mapped
int vm_alloc_range(pagetable_t pml4, u64 va, u64 len, u64 flags);
void vm_free_range(pagetable_t pml4, u64 va, u64 len);
int vm_copyout(pagetable_t pml4, u64 va, const void *src, size_t len);

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
