; entry.asm — phase 3: the system-call entry on THIS process's kernel stack, read
; from TSS.rsp0: the same field the CPU uses for interrupts from ring 3, so the two
; ways into the kernel can never disagree. The scheduler writes it on every switch.
; The user rsp is parked in a scratch slot for two instructions only, then saved in
; this process's own frame (one CPU: per-CPU data and swapgs would replace the slot).

%include "trapframe.inc"

extern syscall_dispatch
extern tss
extern kstack_fallback_top
extern sys_fallback_panic

section .bss
global syscall_user_rsp
syscall_user_rsp: resq 1       ; scratch: live only until the push below

section .text

; syscall_entry — state on entry (set by the SYSCALL instruction):
;   rax = system call number   rdi rsi rdx r10 r8 r9 = arguments
;   rcx = user rip             r11 = user rflags
;   rsp = USER stack (untrusted)   IF = 0 (FMASK)   CPL = 0   cs/ss = kernel
global syscall_entry:function
syscall_entry:
	mov [rel syscall_user_rsp], rsp       ; park the user rsp (IF=0, one CPU)
	; LAB3 BEGIN: load this process's kernel stack top
	mov rsp, [rel tss + TSS_RSP0]         ; one source of truth: TSS.rsp0
	; LAB3 END
	cmp rsp, [rel kstack_fallback_top]
	je .on_fallback                       ; nobody published a process stack

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
	mov rsp, [rsp + TF_RSP]         ; tf.rsp: this process's own saved user rsp
	o64 sysret

.on_fallback:
	call sys_fallback_panic         ; panics with a message; never returns
