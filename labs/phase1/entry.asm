; entry.asm — phase 1: the system-call entry on ONE global kernel stack.
;
; This is the deliberate design of phase 1, and its flaw: every process enters the
; kernel at the same kernel_stack_top, and the user rsp waits in one global slot
; for the whole call. While one process is blocked in the kernel (nanosleep,
; sched_yield), the next one to make a system call reuses the same stack bytes and
; overwrites the first one's frames and saved rsp. Lab 2 fixes it.

%include "trapframe.inc"

extern syscall_dispatch
extern kstack_global_top

section .bss
global syscall_user_rsp
syscall_user_rsp: resq 1       ; THE user rsp of whoever is in a system call

section .text

; syscall_entry — state on entry (set by the SYSCALL instruction):
;   rax = system call number   rdi rsi rdx r10 r8 r9 = arguments
;   rcx = user rip             r11 = user rflags
;   rsp = USER stack (untrusted)   IF = 0 (FMASK)   CPL = 0   cs/ss = kernel
global syscall_entry:function
syscall_entry:
	; LAB1 FULL BEGIN: syscall_entry: onto the kernel stack, the trap frame, the dispatch call and back
	mov [rel syscall_user_rsp], rsp       ; the one global slot
	; LAB1 BEGIN: switch to the global kernel stack
	mov rsp, [rel kstack_global_top]      ; the one global stack
	; LAB1 END

	push qword SEL_UDATA            ; tf.ss
	push qword [rel syscall_user_rsp] ; tf.rsp
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
	; LAB1 BEGIN: back to the user stack
	mov rsp, [rel syscall_user_rsp] ; back to the user stack, from the global slot
	; LAB1 END
	o64 sysret
	; LAB1 FULL END
