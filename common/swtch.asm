; swtch.asm — switch kernel threads of control, and the first entry to ring 3.

%include "trapframe.inc"
%include "gsswap.inc"

section .text

; void swtch(struct context *old, struct context *new)
; State on entry: rdi = old, rsi = new, IF = 0, [rsp] = return address.
; Saves the callee-saved registers, rsp and the return address into *old, loads
; *new and jumps to new->rip. The caller-saved registers need no saving: the C
; caller of swtch already assumes they are clobbered.
global swtch:function
swtch:
	pop rax                         ; where old resumes: our caller
	mov [rdi + CTX_RSP], rsp
	mov [rdi + CTX_RBX], rbx
	mov [rdi + CTX_RBP], rbp
	mov [rdi + CTX_R12], r12
	mov [rdi + CTX_R13], r13
	mov [rdi + CTX_R14], r14
	mov [rdi + CTX_R15], r15
	mov [rdi + CTX_RIP], rax

	mov rsp, [rsi + CTX_RSP]
	mov rbx, [rsi + CTX_RBX]
	mov rbp, [rsi + CTX_RBP]
	mov r12, [rsi + CTX_R12]
	mov r13, [rsi + CTX_R13]
	mov r14, [rsi + CTX_R14]
	mov r15, [rsi + CTX_R15]
	jmp [rsi + CTX_RIP]

; void user_enter(struct trapframe *tf)
; State on entry: rdi = a trap frame holding the user registers (the process's
; init_tf, inside proc_table), rsp = this process's kernel stack, IF = 0, CR3 = the
; process's address space. Never returns: IRETQ loads cs:rip, rflags (IF=1) and
; ss:rsp from the frame and drops to ring 3.
; The frame is copied onto the kernel stack first: an NMI or exception taken in ring 0
; pushes at rsp, which must never point into struct proc.
global user_enter:function
user_enter:
	sub rsp, TF_SIZE
	mov rsi, rdi
	mov rdi, rsp
	mov ecx, TF_SIZE / 8
	rep movsq                       ; DF = 0 (the C ABI)
	RESTORE_GPRS
	add rsp, TF_RIP                 ; skip the registers, tf.vector and tf.err
	USER_ENTER_GS
	iretq
