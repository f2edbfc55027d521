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

// STUB per-process stacks: publish, allocate, zero, free, switch
// Stub: the lab-2 stubs together (one shared stack, nothing published), and
// kstack_init as in the reference. At this depth you write all of it.
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

void
kstack_init(void)
{
	init_kernel_stack();
	tss.rsp0 = (u64)irq_stack + KSTACK_SIZE;
}

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
