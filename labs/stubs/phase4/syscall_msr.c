// Stubs for labs/phaseN/syscall_msr.c: what `make handout` puts in place of each
// region of that file, in the student's starter. One block per region,
// headed by the region's exact task line; the reference never compiles these.

// STUB program the SYSCALL MSRs: EFER.SCE, STAR, LSTAR, FMASK
// Stub: no MSR is programmed. With EFER.SCE clear, `syscall` is an invalid opcode:
// every program dies at its first system call with [k] kill ... reason=#UD.
void
syscall_init(void)
{
	klog("todo lab=1 what=\"syscall_init: EFER.SCE, STAR, LSTAR and FMASK are not set\"");
}
