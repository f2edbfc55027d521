// Page tables. The kernel half (PML4 slots 256-511) is built once at boot and shared
// by every address space: each user PML4 copies those slots, so kernel mappings made
// later below them (heap, phase-3 kernel stacks) appear everywhere at once.
#include "kernel.h"
#include "mm.h"
#include "multiboot2.h"
#include "x86.h"
#include "smp.h"

#define PML4_DIRECT 256
#define PML4_KSTACK 510
#define PML4_KERNEL 511
#define HUGE (2UL << 20)

pagetable_t kernel_pml4;
int direct_map_ready;

static u64 *
table(u64 pa)
{
	return phys_ptr(pa);
}

static int
idx(u64 va, int level)	// level 3 = PML4 ... 0 = PT
{
	return (va >> (12 + 9 * level)) & 511;
}

// Next-level table under entry *e, created (user-accessible, writable: the leaf
// decides the real permissions) when create is set.
static u64 *
next_table(u64 *e, int create)
{
	if (!(*e & PTE_P)) {
		if (!create)
			return NULL;
		u64 pa = pmm_alloc();
		if (!pa)
			return NULL;
		*e = pa | PTE_P | PTE_W | PTE_U;
	}
	if (*e & PTE_PS)
		return NULL;
	return table(PTE_ADDR(*e));
}

u64 *
vm_walk(pagetable_t pml4, u64 va, int create)
{
	u64 *t = table(pml4);
	for (int level = 3; level > 0; level--) {
		t = next_table(&t[idx(va, level)], create);
		if (!t)
			return NULL;
	}
	return &t[idx(va, 0)];
}

int
vm_map(pagetable_t pml4, u64 va, u64 pa, u64 flags)
{
	u64 *pte = vm_walk(pml4, va, 1);
	if (!pte)
		return -ENOMEM;
	*pte = pa | flags | PTE_P;
	return 0;
}

u64
vm_unmap(pagetable_t pml4, u64 va)
{
	u64 *pte = vm_walk(pml4, va, 0);
	if (!pte || !(*pte & PTE_P))
		return 0;
	u64 pa = PTE_ADDR(*pte);
	*pte = 0;
	invlpg(va);
	return pa;
}

u64
vm_lookup(pagetable_t pml4, u64 va)
{
	u64 *pte = vm_walk(pml4, va, 0);
	return pte && (*pte & PTE_P) ? *pte : 0;
}

// Map [va, va+len) with fresh zeroed frames. On failure unmaps what it mapped.
int
vm_alloc_range(pagetable_t pml4, u64 va, u64 len, u64 flags)
{
	for (u64 a = va; a < va + len; a += PAGE_SIZE) {
		u64 pa = pmm_alloc();
		if (!pa || vm_map(pml4, a, pa, flags) < 0) {
			if (pa)
				pmm_free(pa);
			vm_free_range(pml4, va, a - va);
			return -ENOMEM;
		}
	}
	return 0;
}

// Unmap and free [va, va+len). A kernel-half range (phase 3's stacks) may sit in
// any CPU's TLB: every CPU flushes (tlb_shootdown) before the frames go back. A user
// range is cached only where its CR3 is loaded, which is this CPU (a process runs on
// one CPU at a time, and every switch reloads CR3): vm_unmap's invlpg is enough.
void
vm_free_range(pagetable_t pml4, u64 va, u64 len)
{
	int kernel = va >= DIRECT_MAP;
	u64 freed[16], n = 0;
	for (u64 a = va; a < va + len; a += PAGE_SIZE) {
		u64 pa = vm_unmap(pml4, a);
		if (pa && kernel && n < ARRAY_SIZE(freed))
			freed[n++] = pa;
		else if (pa && kernel) {
			tlb_shootdown();
			pmm_free(pa);
		} else if (pa)
			pmm_free(pa);
	}
	if (n)
		tlb_shootdown();
	for (u64 i = 0; i < n; i++)
		pmm_free(freed[i]);
}

// Map [0, bytes) of physical memory at base with 2 MiB pages.
static void
map_huge(u64 *pml4, u64 base, u64 bytes)
{
	for (u64 off = 0; off < bytes; off += HUGE) {
		u64 va = base + off;
		u64 *pdpt = next_table(&pml4[idx(va, 3)], 1);
		u64 *pd = pdpt ? next_table(&pdpt[idx(va, 2)], 1) : NULL;
		if (!pd)
			panic("vm_init: out of memory for kernel page tables");
		pd[idx(va, 1)] = off | PTE_P | PTE_W | PTE_PS;
	}
}

// Build the kernel's own tables: the direct map of all RAM, the kernel image at
// KERNBASE, and an empty (but present) slot for phase 3's kernel stacks. The kernel
// half entries are not user-accessible: clear U on the PML4 slots.
void
vm_init(void)
{
	kernel_pml4 = pmm_alloc();
	u64 *pml4 = table(kernel_pml4);
	map_huge(pml4, DIRECT_MAP, 4UL << 30);	// pmm uses frames below 4 GiB only
	map_huge(pml4, KERNBASE, 1UL << 30);
	next_table(&pml4[PML4_KSTACK], 1);
	for (int i = 256; i < 512; i++)
		if (pml4[i] & PTE_P)
			pml4[i] &= ~PTE_U;
	write_cr3(kernel_pml4);
	direct_map_ready = 1;
}

pagetable_t
vm_new_space(void)
{
	u64 pa = pmm_alloc();
	if (!pa)
		return 0;
	memcpy((u64 *)table(pa) + 256, (u64 *)table(kernel_pml4) + 256, 256 * 8);
	return pa;
}

static void
free_level(u64 pa, int level)
{
	u64 *t = table(pa);
	for (int i = 0; i < 512; i++) {
		if (!(t[i] & PTE_P))
			continue;
		if (level > 0)
			free_level(PTE_ADDR(t[i]), level - 1);
		else
			pmm_free(PTE_ADDR(t[i]));
	}
	pmm_free(pa);
}

// Free the user half: every frame and every table; the kernel half is shared.
void
vm_free_space(pagetable_t pml4)
{
	u64 *t = table(pml4);
	for (int i = 0; i < 256; i++)
		if (t[i] & PTE_P)
			free_level(PTE_ADDR(t[i]), 2);
	pmm_free(pml4);
}

// Copy len bytes into the address space pml4 at va (mapped already), through the
// direct map: the caller need not be running on pml4.
int
vm_copyout(pagetable_t pml4, u64 va, const void *src, size_t len)
{
	const u8 *s = src;
	while (len) {
		u64 pte = vm_lookup(pml4, va);
		if (!pte)
			return -EFAULT;
		size_t n = MIN(len, PAGE_SIZE - (va & (PAGE_SIZE - 1)));
		memcpy((u8 *)P2V(PTE_ADDR(pte)) + (va & (PAGE_SIZE - 1)), s, n);
		va += n;
		s += n;
		len -= n;
	}
	return 0;
}
