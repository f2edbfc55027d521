; entry.asm — phase 2: the system-call entry on THIS process's kernel stack.
;
; The scheduler publishes the running process's stack top in current_kernel_stack
; (kstack.c, a C11 atomic stored with release order on every switch); the entry
; loads it before it touches memory through rsp. The user rsp is parked in a
; scratch slot for two instructions only, then saved in this process's own frame.
; Still one CPU's worth of design: the scratch slot and current_kernel_stack are
; single globals, which is exactly why this is not "multi-core ready" (that needs
; swapgs and per-CPU data). Interrupts from ring 3 still use one static stack
; (TSS.rsp0): lab 3 fixes that.

%include "trapframe.inc"

extern syscall_dispatch
extern current_kernel_stack
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
	; LAB2 FULL BEGIN: load this process's kernel stack top, and refuse the fallback
	; LAB2 BEGIN: load this process's kernel stack top
	mov rsp, [rel current_kernel_stack]   ; a plain load: an acquire on x86 (TSO)
	; LAB2 END
	cmp rsp, [rel kstack_fallback_top]
	je .on_fallback                       ; nobody published a process stack
	; LAB2 FULL END

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
	; LAB2 BEGIN: back to the user stack
	mov rsp, [rsp + TF_RSP]         ; tf.rsp: this process's own saved user rsp
	; LAB2 END
	o64 sysret

.on_fallback:
	call sys_fallback_panic         ; panics with a message; never returns
