// Stubs for labs/phase3/kstack.c: what `make handout` puts in place of each LAB3
// region of that file, in the student's starter. One block per region,
// headed by the region's exact task line; the reference never compiles these.

// STUB the guarded stack range
// Stub: no guarded range yet. 0 means "none" to kstack_guard and kstack_describe;
// slot_map fails loudly (kstack_alloc's stub does not use it).
static u64
slot_guard(int i __unused)
{
	return 0;
}

static u64
slot_base(int i __unused)
{
	return 0;
}

static __unused int
slot_map(int i)
{
	klog("todo lab=3 what=\"slot_map: slot %d has no stack\"", i);
	return -ENOSYS;
}

static __unused void
slot_unmap(int i __unused)
{
}

// STUB IST stacks for #DF, NMI and #MC
	// Stub: no IST stacks, as in phase 2: #DF, NMI and #MC use the current stack.
	klog("todo lab=3 what=\"kstack_init: no IST stacks for #DF, NMI and #MC\"");

// STUB allocate and free guarded stacks
// Stub: phase 2's stacks, zeroed, but adjacent in a static arena with no guard
// page, so an overflow runs silently into the stack below (announced once).
static u8 todo_arena[NPROC][KSTACK_SIZE] __aligned(PAGE_SIZE);

int
kstack_alloc(struct proc *p)
{
	static int told;
	if (!told) {
		told = 1;
		klog("todo lab=3 what=\"kstack_alloc: adjacent stacks, no guard pages\"");
	}
	for (int i = NIST; i < NSLOTS; i++) {
		if (slot_used[i])
			continue;
		slot_used[i] = 1;
		memset(todo_arena[i - NIST], 0, KSTACK_SIZE);
		p->kstack_slot = i;
		p->kstack_base = (u64)todo_arena[i - NIST];
		p->kstack_top = p->kstack_base + KSTACK_SIZE;
		return 0;
	}
	return -ENOMEM;
}

void
kstack_free(struct proc *p)
{
	if (p->kstack_slot >= 0)
		slot_used[p->kstack_slot] = 0;
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}

// STUB TSS.rsp0 follows the running process
// Stub: as in phase 2, publish next's stack to syscall_entry's stub (entry.asm)
// in a variable of its own; TSS.rsp0 stays at the fallback stack, one stack for
// every interrupt from ring 3 (announced once). Replace the two stubs together.
u64 todo_lab3_kernel_stack;

void
kstack_switch_to(struct proc *next)
{
	static int told;
	if (!told && next->kstack_slot >= 0) {
		told = 1;
		klog("todo lab=3 what=\"kstack_switch_to: TSS.rsp0 stays on one shared stack\"");
	}
	todo_lab3_kernel_stack = next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top;
}

// STUB IST vectors and the double-fault handler
// Stub: as in phase 2, no vector has an IST stack and no #DF is a guard-page hit.
int
kstack_ist(int vector __unused)
{
	return 0;
}

void
kstack_double_fault(struct trapframe *tf __unused)
{
	// Returns unless it kills a process whose guard page was hit; trap() then panics.
}

// STUB kstack.c for phase 3, from kstack.h: guarded stacks, IST stacks, TSS.rsp0 and the double-fault handler
// Stub: phase 2's design again: a zeroed stack per process, adjacent in a static
// arena with no guard pages, published in a variable of its own for entry.asm's
// stub; TSS.rsp0 stays on one stack and no vector has an IST stack (announced at
// boot). At this depth you write the whole file: common/include/kstack.h says
// what each function must do.
#define FALLBACK_SIZE (8 * 1024)

static u8 todo_arena[NPROC][KSTACK_SIZE] __aligned(PAGE_SIZE);
static u8 todo_used[NPROC];
static u8 fallback_stack[FALLBACK_SIZE] __aligned(16);
u64 kstack_fallback_top;	// entry.asm panics if it finds rsp here
u64 todo_lab3_kernel_stack;	// read by entry.asm's stub

void
kstack_init(void)
{
	klog("todo lab=3 what=\"kstack.c: adjacent stacks, no guard pages, no IST, one TSS.rsp0\"");
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
	todo_lab3_kernel_stack = kstack_fallback_top;
}

void
kstack_init_cpu(struct cpu *c)
{
	c->tss->rsp0 = kstack_fallback_top;
}

// The kernel never uses GS: the user's GS base simply stays loaded.
void
kstack_set_user_gs(u64 base)
{
	wrmsr(MSR_GS_BASE, base);
}

int
kstack_alloc(struct proc *p)
{
	for (int i = 0; i < NPROC; i++) {
		if (todo_used[i])
			continue;
		todo_used[i] = 1;
		memset(todo_arena[i], 0, KSTACK_SIZE);
		p->kstack_slot = i;
		p->kstack_base = (u64)todo_arena[i];
		p->kstack_top = p->kstack_base + KSTACK_SIZE;
		return 0;
	}
	return -ENOMEM;
}

void
kstack_free(struct proc *p)
{
	if (p->kstack_slot >= 0)
		todo_used[p->kstack_slot] = 0;
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}

void
kstack_switch_to(struct proc *next)
{
	todo_lab3_kernel_stack = next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top;
}

int
kstack_ist(int vector __unused)
{
	return 0;
}

void
kstack_double_fault(struct trapframe *tf __unused)
{
	// Returns: trap() then panics, as for any double fault that kills no process.
}

u64
kstack_guard(struct proc *p __unused)
{
	return 0;
}

u64
kstack_entry_top(void)
{
	return todo_lab3_kernel_stack;
}

void
kstack_describe(void)
{
	kprintf("  phase 3 (stub): adjacent stacks at 0x%016lx, no guard pages, no IST\n",
		(u64)todo_arena);
}
