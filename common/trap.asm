; trap.asm — IDT entry stubs. Every vector gets a stub that makes the stack look the
; same (a struct trapframe) and calls trap(tf) in C.
;
; State on entry (set by the CPU delivering an interrupt or exception):
;   from ring 3: rsp = TSS.rsp0 (or the IST stack), ss:rsp, rflags, cs:rip of the
;                user pushed, then an error code for some exceptions
;   from ring 0: the same frame on the current kernel stack (or the IST stack)
;   IF = 0 (interrupt gates)

%include "trapframe.inc"

extern trap

NVEC equ 64                     ; stubs for vectors 0-63 (smp.h: NVEC)

section .text

; Vectors where the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30.
%macro STUB 1
trap_stub_%1:
%if %1 == 8 || (%1 >= 10 && %1 <= 14) || %1 == 17 || %1 == 21 || %1 == 29 || %1 == 30
	push qword %1           ; tf.vector (tf.err pushed by the CPU)
%else
	push qword 0            ; tf.err (none for this vector)
	push qword %1           ; tf.vector
%endif
	jmp trap_common
%endmacro

%assign i 0
%rep NVEC
STUB i
%assign i i + 1
%endrep

trap_common:
	PUSH_GPRS
	cld                     ; the C ABI wants DF = 0
	mov rdi, rsp            ; struct trapframe *
	call trap
global trap_return:function
trap_return:
	POP_GPRS
	add rsp, 16             ; drop tf.vector and tf.err
	iretq

section .rodata
global trap_stubs
trap_stubs:
%assign i 0
%rep NVEC
	dq trap_stub_ %+ i
%assign i i + 1
%endrep
