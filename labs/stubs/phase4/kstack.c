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
