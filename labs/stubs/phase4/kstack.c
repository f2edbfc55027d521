// Stubs for labs/phase4/kstack.c: what `make handout` puts in place of each LAB4
// region of that file, in the student's starter. One block per region,
// headed by the region's exact task line; the reference never compiles these.

// STUB each CPU's own IST stacks and per-CPU area
	// Stub: phase 3's one-CPU design. CPU 0 gets the IST stacks, every other CPU a
	// copy of CPU 0's TSS (same IST stacks); no per-CPU area, GS stays the user's.
	c->tss->rsp0 = kstack_fallback_top;
	if (c->id != 0) {
		memcpy(c->tss->ist, tss.ist, sizeof tss.ist);
		return;
	}
	klog("todo lab=4 what=\"kstack_init_cpu: no per-CPU area; syscall_entry uses one "
	     "global slot and CPU 0's TSS.rsp0 on every CPU\"");
	for (int i = 0; i < NIST; i++) {
		if (slot_map(i) < 0)
			panic("kstack_init: no memory for IST stacks");
		slot_used[i] = 1;
		tss.ist[i] = slot_base(i) + KSTACK_SIZE;
	}

// STUB where the user's GS base waits
	// Stub: phase 3: the kernel never uses GS, so the user's stays loaded.
	wrmsr(MSR_GS_BASE, base);

// STUB this CPU's stack top, process and TSS.rsp0
	// Stub: phase 3: `tss` is CPU 0's TSS, whichever CPU runs this.
	tss.rsp0 = top;

// STUB the per-CPU area: its layout, one per CPU, and this CPU's through GS
// Stub: no per-CPU area yet, as in phase 3. Define struct percpu, one per CPU
// (percpu_area[NCPU]), and percpu(): this CPU's own, through GS (handouts/lab4.md,
// "Full depth").

// STUB what kstacks reads: this CPU's area, found without GS
// Stub: phase 3's answers: one TSS (CPU 0's, the symbol `tss`) and no per-CPU area.
u64
kstack_entry_top(void)
{
	return tss.rsp0;
}

void
kstack_describe(void)
{
	for (int i = 0; i < NIST; i++)
		kprintf("  IST%d (%s): 0x%016lx-0x%016lx guard 0x%016lx\n", i + 1,
			i == 0 ? "#DF" : i == 1 ? "NMI" : "#MC", slot_base(i),
			slot_base(i) + KSTACK_SIZE, slot_guard(i));
	kprintf("  phase 4: guarded range at 0x%016lx, %d slots of guard + 16 KiB;\n"
		"  fallback 0x%016lx\n", KSTACK_VBASE, NSLOTS, kstack_fallback_top);
}
