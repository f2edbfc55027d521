; Stubs for labs/phase4/entry.asm: what `make handout` puts in place of each LAB4
; region of that file, in the student's starter. One block per region,
; headed by the region's exact task line; the reference never compiles these.

; STUB enter through this CPU's per-CPU area
	; Stub: phase 3's entry, announced at boot by kstack.c's stub: one global
	; slot for the user rsp, and CPU 0's TSS.rsp0 (the symbol `tss`) on every CPU.
	extern tss
	section .bss
	.todo_user_rsp: resq 1
	section .text
	mov [rel .todo_user_rsp], rsp
	mov rsp, [rel tss + TSS_RSP0]

; STUB save the parked user rsp
	push qword [rel .todo_user_rsp] ; tf.rsp (from the one global slot)

; STUB give the user its GS base back
	; Stub: nothing to undo, the entry stub did not swap.

; STUB syscall_entry through this CPU's per-CPU area, and back
	; Stub: phase 3's entry, announced at boot by kstack.c's stub: one global
	; slot for the user rsp, and CPU 0's TSS.rsp0 (the symbol `tss`) on every CPU.
	extern tss
	section .bss
	.todo_user_rsp: resq 1
	section .text
	mov [rel .todo_user_rsp], rsp
	mov rsp, [rel tss + TSS_RSP0]
	cmp rsp, [rel kstack_fallback_top]
	je .on_fallback                       ; nobody published a process stack

	push qword SEL_UDATA            ; tf.ss
	push qword [rel .todo_user_rsp] ; tf.rsp (from the one global slot)
	push r11                        ; tf.rflags (saved by SYSCALL)
	push qword SEL_UCODE            ; tf.cs
	push rcx                        ; tf.rip (saved by SYSCALL)
	push qword 0                    ; tf.err (syscall_dispatch stamps the pid here)
	push qword T_SYSCALL            ; tf.vector
	SAVE_GPRS
	mov rdi, rsp                    ; struct trapframe *
	call syscall_dispatch

	RESTORE_GPRS                    ; rax = the result syscall_dispatch stored
	mov rcx, [rsp + TF_RIP]         ; SYSRET loads rip from rcx
	mov r11, [rsp + TF_RFLAGS]      ; and rflags from r11
	mov rsp, [rsp + TF_RSP]         ; tf.rsp: this process's own saved user rsp
	o64 sysret
