// Bringing up the other CPUs, and what several CPUs need from each other: spinlocks,
// TLB shootdowns, waking an idle CPU, stopping them all on a panic.
//
// CPU 0 (the one GRUB started) finds the others in the ACPI MADT and starts each
// with INIT-SIPI-SIPI through the real-mode trampoline of ap_boot.asm. Each AP gets
// its own GDT and TSS (a busy TSS cannot be loaded on a second CPU), the shared IDT,
// the SYSCALL MSRs, its phase's per-CPU stacks (kstack_init_cpu), its own LAPIC
// timer, and then becomes its idle thread, taking processes from the shared table.
#include "kernel.h"
#include "smp.h"
#include "kstack.h"
#include "mm.h"
#include "syscall.h"
#include "timer.h"
#include "x86.h"
#include "multiboot2.h"

#define TRAMP_PA 0x8000UL	// ap_boot.asm assembles for this address
#define AP_STACK (16 * 1024)	// an AP's boot stack, later its idle thread's
#define AP_START_MS 200		// how long an AP may take to say it started
#define EFER_LMA (1UL << 10)	// read-only "long mode active": never written

struct cpu cpus[NCPU] __aligned(64);
_Static_assert(offsetof(struct cpu, gdt) == 0, "this_cpu() reads the GDT base as struct cpu *");
int ncpu = 1;
volatile int ncpu_up = 1;
static u64 lapic_pa;
static u8 ap_stacks[NCPU][AP_STACK] __aligned(16);

// The trampoline's parameter block (ap_boot.asm, same order).
struct ap_params {
	u64 cr3, cr0, cr4, efer, stack, cpu, entry;
};

extern u8 ap_tramp_start[], ap_tramp_end[], ap_tramp_params[];

// ---- spinlocks ----------------------------------------------------------------------

#define SPIN_PATIENCE_NS 2000000000UL	// a lock held this long is a broken kernel

// Held for SPIN_PATIENCE_NS: the holder will never let go (its stack was corrupted,
// say, by a phase whose entry code is not multi-CPU safe). Say so instead of hanging.
static void
spin_stuck(struct spinlock *l)
{
	panic("spinlock %s held by CPU %d for over %lu s (waiting: CPU %d)", l->name, l->cpu,
	      SPIN_PATIENCE_NS / 1000000000UL, this_cpu()->id);
}

u64
spin_lock(struct spinlock *l)
{
	u64 flags = read_rflags();
	u64 t0 = 0;
	cli();
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
		for (u64 n = 1; l->locked; n++) {
			__asm__ volatile("pause");
			tlb_service();
			if (n % 4096 || !time_calibrated())
				continue;
			if (!t0)
				t0 = time_ns();
			else if (time_ns() - t0 > SPIN_PATIENCE_NS)
				spin_stuck(l);
		}
	}
	l->cpu = this_cpu()->id;
	return flags;
}

void
spin_unlock(struct spinlock *l, u64 flags)
{
	l->cpu = -1;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
	if (flags & RFLAGS_IF)
		sti();
}

int
spin_holding(struct spinlock *l)
{
	return l->locked && l->cpu == this_cpu()->id;
}

// ---- TLB shootdowns -----------------------------------------------------------------

// One shootdown at a time. The initiator sets one bit per other running CPU in
// tlb_pending, sends T_IPI_TLB and waits until every CPU has flushed and cleared
// its bit. No PCID and no global pages: reloading CR3 drops every translation.
static struct spinlock tlb_lock = SPINLOCK_INIT("tlb");
static volatile u64 tlb_pending;

static void
flush_local(void)
{
	write_cr3(read_cr3());
}

// Flush if another CPU asked this one to. Called from the IPI handler and from
// every spin loop, so a CPU that waits with IF=0 still answers.
void
tlb_service(void)
{
	u64 bit = 1UL << this_cpu()->id;
	if (tlb_pending & bit) {
		flush_local();
		__atomic_and_fetch(&tlb_pending, ~bit, __ATOMIC_RELEASE);
	}
}

// Flush this CPU's TLB and every other started CPU's, and wait until they have.
// For kernel mappings every CPU may cache (phase 3's stack range). User mappings
// need no IPI: a CPU caches an address space only while its CR3 is loaded, and every
// switch reloads CR3. IF=0; the caller holds no spinlock another CPU may wait on
// with IF=0 for long (a waiter serves the request while it spins, see spin_lock).
void
tlb_shootdown(void)
{
	flush_local();
	if (ncpu_up == 1)
		return;
	struct cpu *me = this_cpu();
	u64 flags = spin_lock(&tlb_lock);
	u64 mask = 0;
	for (int i = 0; i < ncpu; i++)
		if (cpus[i].started && i != me->id)
			mask |= 1UL << i;
	__atomic_store_n(&tlb_pending, mask, __ATOMIC_RELEASE);
	for (int i = 0; i < ncpu; i++)
		if (mask & (1UL << i))
			lapic_send_ipi(cpus[i].lapic_id, T_IPI_TLB);
	while (__atomic_load_n(&tlb_pending, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	spin_unlock(&tlb_lock, flags);
}

// ---- waking and stopping other CPUs -------------------------------------------------

// A process became runnable: wake the CPUs halted in their idle loop. (CPU 0's PIT
// and the APs' LAPIC timers would wake them within a tick anyway; this is latency.)
void
smp_kick_idle(void)
{
	int me = this_cpu()->id;
	for (int i = 0; i < ncpu; i++)
		if (i != me && cpus[i].started && cpus[i].idling)
			lapic_send_ipi(cpus[i].lapic_id, T_IPI_WAKE);
}

// A panic: the other CPUs stop at their next interrupt window (never while holding
// a lock: locks are never held into ring 3 or the idle halt).
void
smp_halt_others(void)
{
	int me = this_cpu()->id;
	for (int i = 0; i < ncpu; i++)
		if (i != me && cpus[i].started)
			lapic_send_ipi(cpus[i].lapic_id, T_IPI_HALT);
}

// ---- bring-up -----------------------------------------------------------------------

static inline u64
read_cr0(void)
{
	u64 v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline u64
read_cr4(void)
{
	u64 v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

// An AP's first C code: on its boot stack, paging on the trampoline's tables.
static void __noreturn
ap_main(struct cpu *c)
{
	gdt_init_cpu(c);	// from here on this_cpu() == c
	write_cr3(kernel_pml4);
	idt_load();
	syscall_init();
	__asm__ volatile("fninit");
	proc_init_idle(c);
	kstack_init_cpu(c);
	lapic_init(lapic_pa);
	lapic_timer_start();
	spin_lock(&ptable_lock);
	c->started = 1;
	__atomic_add_fetch(&ncpu_up, 1, __ATOMIC_RELEASE);
	idle_loop();
}

// The page table the trampoline turns paging on with: the kernel half of
// kernel_pml4, plus the first 2 MiB identity-mapped so the instructions right after
// "paging on" (at TRAMP_PA) are still there. Frees nothing: see smp_init.
static pagetable_t
tramp_pagetable(u64 *pdpt_pa, u64 *pd_pa)
{
	pagetable_t pml4 = vm_new_space();
	*pdpt_pa = pmm_alloc();
	*pd_pa = pmm_alloc();
	if (!pml4 || !*pdpt_pa || !*pd_pa)
		panic("smp: no memory for the AP trampoline's page table");
	((u64 *)P2V(*pd_pa))[0] = 0 | PTE_P | PTE_W | PTE_PS;
	((u64 *)P2V(*pdpt_pa))[0] = *pd_pa | PTE_P | PTE_W;
	((u64 *)P2V(pml4))[0] = *pdpt_pa | PTE_P | PTE_W;
	return pml4;
}

static void
start_ap(struct cpu *c, struct ap_params *prm)
{
	prm->stack = (u64)ap_stacks[c->id] + AP_STACK;
	prm->cpu = (u64)c;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	lapic_send_init_sipi(c->lapic_id, TRAMP_PA);
	u64 until = time_ns() + AP_START_MS * 1000000L;
	while (!c->started && time_ns() < until)
		__asm__ volatile("pause");
	if (!c->started)
		klog("smp-error cpu=%d lapic=%u reason=\"did not start\"", c->id, c->lapic_id);
}

// CPU 0, after timer_init: find the CPUs, start every AP, one after the other.
void
smp_init(void *mb2_info)
{
	lapic_pa = acpi_find_cpus(mb2_info);
	lapic_init(lapic_pa);
	cpus[0].started = 1;
	if (ncpu == 1)
		return;
	u64 info = V2P(mb2_info), info_end = info + ((struct mb2_info *)mb2_info)->total_size;
	if (info < TRAMP_PA + PAGE_SIZE && info_end > TRAMP_PA) {
		klog("smp-error reason=\"the boot information sits on the trampoline page: one CPU\"");
		return;
	}
	lapic_timer_calibrate();
	u64 pdpt, pd;
	pagetable_t pml4 = tramp_pagetable(&pdpt, &pd);
	size_t n = ap_tramp_end - ap_tramp_start;
	memcpy(P2V(TRAMP_PA), ap_tramp_start, n);
	struct ap_params *prm = P2V(TRAMP_PA + (ap_tramp_params - ap_tramp_start));
	prm->cr3 = pml4;
	prm->cr0 = read_cr0();
	prm->cr4 = read_cr4();
	prm->efer = rdmsr(MSR_EFER) & ~EFER_LMA;
	prm->entry = (u64)ap_main;
	for (int i = 1; i < ncpu; i++)
		start_ap(&cpus[i], prm);
	// An AP that never started could still wake up on these tables: keep them
	// unless every AP is up and has left them for kernel_pml4.
	if (ncpu_up == ncpu) {
		pmm_free(pd);
		pmm_free(pdpt);
		pmm_free(pml4);
	}
}
