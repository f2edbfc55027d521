// Page tables. The kernel half (PML4 slots 256-511) is built once at boot and shared
// by every address space: each user PML4 copies those slots, so kernel mappings made
// later below them (heap, phase-3 kernel stacks) appear everywhere at once.
#include "kernel.h"
#include "mm.h"
#include "trap.h"
#include "x86.h"
#include "smp.h"

#define PML4_DIRECT 256
#define PML4_KSTACK 510
#define PML4_KERNEL 511
#define HUGE (2UL << 20)

pagetable_t kernel_pml4;

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

// Never over a present entry: replacing a mapping is the caller's explicit unmap
// first (its frame freed, its TLB entry flushed), not a silent overwrite.
int
vm_map(pagetable_t pml4, u64 va, u64 pa, u64 flags)
{
	u64 *pte = vm_walk(pml4, va, 1);
	if (!pte)
		return -ENOMEM;
	if (*pte & PTE_P)
		return -EEXIST;
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

// Map [va, va+len) with fresh zeroed frames; every page must be unmapped (-EEXIST
// otherwise). On failure unmaps what it mapped. Opens an interrupt window every
// IRQ_WINDOW_PAGES pages, so a large range never keeps interrupts off for long.
int
vm_alloc_range(pagetable_t pml4, u64 va, u64 len, u64 flags)
{
	for (u64 a = va; a < va + len; a += PAGE_SIZE) {
		if (((a - va) / PAGE_SIZE) % IRQ_WINDOW_PAGES == IRQ_WINDOW_PAGES - 1)
			irq_window();
		u64 pa = pmm_alloc();
		int r = pa ? vm_map(pml4, a, pa, flags) : -ENOMEM;
		if (r < 0) {
			if (pa)
				pmm_free(pa);
			vm_free_range(pml4, va, a - va);
			return r;
		}
	}
	return 0;
}

// Visit every present leaf entry for [start, end) under table t (level 3 = PML4),
// skipping absent tables whole: the work is proportional to what is mapped, not to
// the size of the range. fn gets the entry and its address.
struct range_op {
	void (*fn)(struct range_op *op, u64 *pte, u64 va);
	u64 flags;	// vm_protect_range: the new permission bits
	u64 seen;	// entries visited, for the interrupt windows
	int kernel;	// vm_free_range of a kernel-half range: frames wait for a shootdown
	u64 nfreed, freed[16];
};

static void
walk_range(struct range_op *op, u64 *t, int level, u64 base, u64 start, u64 end)
{
	u64 span = 1UL << (12 + 9 * level);	// bytes one entry covers
	for (int i = idx(MAX(start, base), level); i < 512; i++) {
		u64 lo = base + (u64)i * span;
		if (level == 3 && i >= 256)
			lo |= 0xffffUL << 48;	// the kernel half: sign-extended (canonical)
		if (lo >= end)
			break;
		if (!(t[i] & PTE_P) || (level > 0 && (t[i] & PTE_PS)))
			continue;
		if (level == 0) {
			op->fn(op, &t[i], lo);
			if (++op->seen % IRQ_WINDOW_PAGES == 0)
				irq_window();
		} else {
			walk_range(op, table(PTE_ADDR(t[i])), level - 1, lo, start, end);
			if (level == 1)
				irq_window();	// after each page table: empty ones cost 512 checks
		}
	}
}

static void
for_each_present(pagetable_t pml4, u64 start, u64 end, struct range_op *op)
{
	if (start < end)
		walk_range(op, table(pml4), 3, 0, start, end);
}

// A kernel-half range (phase 3's stacks) may sit in any CPU's TLB: every CPU flushes
// (tlb_shootdown) before its frames go back to the allocator.
static void
free_deferred(struct range_op *op)
{
	if (!op->nfreed)
		return;
	tlb_shootdown();
	for (u64 i = 0; i < op->nfreed; i++)
		pmm_free(op->freed[i]);
	op->nfreed = 0;
}

static void
free_one(struct range_op *op, u64 *pte, u64 va)
{
	u64 pa = PTE_ADDR(*pte);
	*pte = 0;
	invlpg(va);
	if (!op->kernel) {
		pmm_free(pa);
		return;
	}
	if (op->nfreed == ARRAY_SIZE(op->freed))
		free_deferred(op);
	op->freed[op->nfreed++] = pa;
}

// Unmap [va, va+len) and free its frames (TLB entries flushed); absent pages and
// absent page tables cost nothing. The page tables themselves stay until
// vm_free_space. A user range is cached only where its CR3 is loaded, which is this
// CPU (a process runs on one CPU at a time, and every switch reloads CR3): invlpg is
// enough there.
void
vm_free_range(pagetable_t pml4, u64 va, u64 len)
{
	struct range_op op = { .fn = free_one, .kernel = va >= DIRECT_MAP };
	for_each_present(pml4, va, va + len, &op);
	free_deferred(&op);
}

static void
protect_one(struct range_op *op, u64 *pte, u64 va)
{
	*pte = PTE_ADDR(*pte) | op->flags | PTE_P;
	invlpg(va);
}

// Give every present page of [va, va+len) the permission bits flags (PTE_U, PTE_W,
// PTE_NX; PTE_P is implied), keeping its frame.
void
vm_protect_range(pagetable_t pml4, u64 va, u64 len, u64 flags)
{
	struct range_op op = { .fn = protect_one, .flags = flags & (PTE_U | PTE_W | PTE_NX) };
	for_each_present(pml4, va, va + len, &op);
}

static void
count_one(struct range_op *op __unused, u64 *pte __unused, u64 va __unused)
{
}

// Frames the user half of pml4 holds: its pages, its page tables and the PML4.
u64
vm_count_frames(pagetable_t pml4)
{
	struct range_op op = { .fn = count_one };
	u64 tables = 1, *t = table(pml4);
	for (int i = 0; i < 256; i++) {
		if (!(t[i] & PTE_P))
			continue;
		u64 *pdpt = table(PTE_ADDR(t[i]));
		tables++;
		for (int j = 0; j < 512; j++) {
			if (!(pdpt[j] & PTE_P))
				continue;
			u64 *pd = table(PTE_ADDR(pdpt[j]));
			tables++;
			for (int k = 0; k < 512; k++)
				tables += (pd[k] & PTE_P) && !(pd[k] & PTE_PS);
			irq_window();
		}
	}
	for_each_present(pml4, 0, USER_TOP, &op);
	return tables + op.seen;
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
	pmm_use_direct_map();
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
	irq_window();	// one window per table: at most 512 frames freed in between
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
	for (u64 n = 1; len; n++) {
		if (n % IRQ_WINDOW_PAGES == 0)
			irq_window();	// a large image: let the timer in between pages
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
