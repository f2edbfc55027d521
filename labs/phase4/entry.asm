; entry.asm — phase 4: the system-call entry through THIS CPU's per-CPU area.
;
; With several CPUs no global variable can name "the running process's stack" or
; hold "the user rsp during the entry": each CPU has its own. swapgs makes the GS
; base this CPU's struct percpu (kstack.c) in one instruction that needs no free
; register, so the entry can park the user rsp in this CPU's slot and load this
; CPU's stack top before it touches any memory through rsp. On the way out the
; reverse, with swapgs right before sysretq so the user gets its own GS base back.

%include "trapframe.inc"
%include "gsswap.inc"            ; struct percpu offsets (PCPU_*)

extern syscall_dispatch
extern kstack_fallback_top
extern sys_fallback_panic

section .text

; syscall_entry — state on entry (set by the SYSCALL instruction):
;   rax = system call number   rdi rsi rdx r10 r8 r9 = arguments
;   rcx = user rip             r11 = user rflags
;   rsp = USER stack (untrusted)   IF = 0 (FMASK)   CPL = 0   cs/ss = kernel
;   GS base = the USER's (KERNEL_GS_BASE = this CPU's struct percpu)
global syscall_entry:function
syscall_entry:
	; LAB4 FULL BEGIN: syscall_entry through this CPU's per-CPU area, and back
	; LAB4 BEGIN: enter through this CPU's per-CPU area
	swapgs                                ; GS base = this CPU's struct percpu
	mov [gs:PCPU_USER_RSP], rsp           ; park the user rsp in THIS CPU's slot
	mov rsp, [gs:PCPU_KSTACK_TOP]         ; this CPU's running process's stack
	; LAB4 END
	cmp rsp, [rel kstack_fallback_top]
	je .on_fallback                       ; nobody published a process stack

	push qword SEL_UDATA            ; tf.ss
	; LAB4 BEGIN: save the parked user rsp
	push qword [gs:PCPU_USER_RSP]   ; tf.rsp (from this CPU's slot)
	; LAB4 END
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
	; LAB4 BEGIN: give the user its GS base back
	swapgs                          ; GS base = the user's again; nothing after
	                                ; this may touch per-CPU data
	; LAB4 END
	o64 sysret
	; LAB4 FULL END

.on_fallback:
	call sys_fallback_panic         ; panics with a message; never returns
