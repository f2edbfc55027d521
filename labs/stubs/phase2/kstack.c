// Stubs for labs/phase2/kstack.c: what `make handout` puts in place of each LAB2
// region of that file, in the student's starter. One block per region,
// headed by the region's exact task line; the reference never compiles these.

// STUB the published stack top and its accessors
// Stub: nothing is ever published, so current_kernel_stack stays at the fallback
// (announced at boot). syscall_entry's stub does not read it.
u64 current_kernel_stack;

void
set_kernel_stack(u64 top __unused)
{
}

u64
get_kernel_stack(void)
{
	return current_kernel_stack;
}

void
init_kernel_stack(void)
{
	klog("todo lab=2 what=\"current_kernel_stack: no stack is ever published\"");
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
	current_kernel_stack = kstack_fallback_top;
}

// STUB allocate, zero and free a per-process stack
// Stub: every process gets arena slot 0, one stack for all, as in phase 1
// (announced once), and nothing is published for the entry code.
int
kstack_alloc(struct proc *p)
{
	static int told;
	if (!told) {
		told = 1;
		klog("todo lab=2 what=\"kstack_alloc: every process shares one stack\"");
	}
	slot_used[0] = 1;
	p->kstack_slot = 0;
	p->kstack_base = (u64)arena[0];
	p->kstack_top = (u64)arena[0] + KSTACK_SIZE;
	return 0;
}

void
kstack_free(struct proc *p)
{
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}

void
kstack_switch_to(struct proc *next __unused)
{
}

// STUB kstack.c for phase 2, from kstack.h: per-process stacks, published to the entry code
// Stub: phase 1's design again: ONE stack shared by every process, never zeroed,
// and nothing published (announced at boot). At this depth you write the whole
// file: common/include/kstack.h says what each function must do.
#define FALLBACK_SIZE (8 * 1024)

static u8 todo_stack[KSTACK_SIZE] __aligned(PAGE_SIZE);
static u8 fallback_stack[FALLBACK_SIZE] __aligned(16);
u64 kstack_fallback_top;	// entry.asm panics if it finds rsp here
u64 current_kernel_stack;	// never published: syscall_entry's stub does not read it

void
kstack_init(void)
{
	klog("todo lab=2 what=\"kstack.c: one stack shared by every process, nothing published\"");
	kstack_fallback_top = (u64)fallback_stack + FALLBACK_SIZE;
	current_kernel_stack = kstack_fallback_top;
}

void
kstack_init_cpu(struct cpu *c)
{
	c->tss->rsp0 = (u64)todo_stack + KSTACK_SIZE;
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
	p->kstack_slot = 0;
	p->kstack_base = (u64)todo_stack;
	p->kstack_top = (u64)todo_stack + KSTACK_SIZE;
	return 0;
}

void
kstack_free(struct proc *p)
{
	p->kstack_slot = -1;
	p->kstack_base = p->kstack_top = 0;
}

void
kstack_switch_to(struct proc *next __unused)
{
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
	return current_kernel_stack;
}

void
kstack_describe(void)
{
	kprintf("  phase 2 (stub): one stack 0x%016lx-0x%016lx for every process\n",
		(u64)todo_stack, (u64)todo_stack + KSTACK_SIZE);
}
