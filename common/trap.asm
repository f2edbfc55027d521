; trap.asm — IDT entry stubs. Every vector gets a stub that makes the stack look the
; same (a struct trapframe) and calls trap(tf) in C.
;
; State on entry (set by the CPU delivering an interrupt or exception):
;   from ring 3: rsp = TSS.rsp0 (or the IST stack), ss:rsp, rflags, cs:rip of the
;                user pushed, then an error code for some exceptions
;   from ring 0: the same frame on the current kernel stack (or the IST stack)
;   IF = 0 (interrupt gates)

%include "trapframe.inc"
%include "gsswap.inc"           ; the phase's GS handling (labs/phaseN/gsswap.inc)

extern trap


section .text

; Vectors where the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30.
; NMI (2), #DF (8) and #MC (18) can arrive anywhere, even between two instructions
; of an entry path: they take the paranoid path (see gsswap.inc).
%macro STUB 1
trap_stub_%1:
%if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
	push qword %1           ; tf.vector (tf.err pushed by the CPU)
%else
	push qword 0            ; tf.err (none for this vector)
	push qword %1           ; tf.vector
%endif
%if %1 == 2 || %1 == 8 || %1 == 18
	jmp trap_paranoid
%else
	jmp trap_common
%endif
%endmacro

%assign i 0
%rep NVEC
STUB i
%assign i i + 1
%endrep

trap_common:
	TRAP_ENTRY_GS
	SAVE_GPRS
	cld                     ; the C ABI wants DF = 0
	mov rdi, rsp            ; struct trapframe *
	call trap
global trap_return:function
trap_return:
	RESTORE_GPRS
	add rsp, TF_RIP         ; drop the registers, tf.vector and tf.err
	TRAP_EXIT_GS
	iretq

trap_paranoid:
	SAVE_GPRS
	cld
	PARANOID_ENTRY_GS       ; rbx (callee-saved) keeps what the exit needs
	mov rdi, rsp            ; struct trapframe *
	call trap
	PARANOID_EXIT_GS
	RESTORE_GPRS
	add rsp, TF_RIP
	iretq

section .rodata
global trap_stubs
trap_stubs:
%assign i 0
%rep NVEC
	dq trap_stub_ %+ i
%assign i i + 1
%endrep
