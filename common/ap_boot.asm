; ap_boot.asm — the real-mode trampoline an application processor (AP) starts in.
;
; State on entry (after INIT and a STARTUP IPI whose vector is TRAMP_PA >> 12;
; Intel SDM vol. 3, 8.4.4): real mode, cs = TRAMP_PA >> 4, ip = 0, interrupts off,
; no stack, paging off, a cold CPU: none of CPU 0's control registers.
;
; smp.c copies ap_tramp_start..ap_tramp_end to TRAMP_PA (below 1 MiB, identity
; mapped by the page table it passes) and fills the parameter block at its end with
; CPU 0's CR0/CR4/EFER, that page table, a stack and the C entry point. The code
; here is never run where it is linked: every address it uses is TRAMP_PA + offset.
; Path: real mode -> 32-bit protected mode (a GDT of its own) -> paging + EFER.LME
; -> 64-bit mode -> ap_main(cpu) on the given stack, in the kernel half.

TRAMP_PA equ 0x8000

%define TA(l) (TRAMP_PA + ((l) - ap_tramp_start))

section .rodata
global ap_tramp_start
global ap_tramp_end
global ap_tramp_params

bits 16
ap_tramp_start:
	cli
	cld
	xor ax, ax
	mov ds, ax                      ; data at absolute TRAMP_PA + offset (< 64 KiB)
	lgdt [TA(tr_gdt_ptr)]
	mov eax, cr0
	or eax, 1                       ; PE
	mov cr0, eax
	jmp dword 0x08:TA(tr32)         ; reload cs: 32-bit protected mode

bits 32
tr32:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov eax, [TA(p_cr4)]            ; CPU 0's CR4 (PAE among others)
	mov cr4, eax
	mov eax, [TA(p_cr3)]            ; page table: identity low memory + kernel half
	mov cr3, eax
	mov ecx, 0xc0000080             ; EFER: LME, NXE, SCE as CPU 0 has them
	mov eax, [TA(p_efer)]
	mov edx, [TA(p_efer) + 4]
	wrmsr
	mov eax, [TA(p_cr0)]            ; CPU 0's CR0: PG|PE on -> long mode (compat)
	mov cr0, eax
	jmp 0x18:TA(tr64)               ; 64-bit code segment

bits 64
tr64:
	xor eax, eax
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov rsp, [TA(p_stack)]
	mov rdi, [TA(p_cpu)]            ; ap_main's argument: its struct cpu
	mov rax, [TA(p_entry)]
	xor ebp, ebp                    ; end of the backtrace chain
	call rax                        ; ap_main never returns
.hang:
	cli
	hlt
	jmp .hang

align 8
tr_gdt:
	dq 0
	dq 0x00cf9a000000ffff           ; 0x08: 32-bit code, 4 GiB
	dq 0x00cf92000000ffff           ; 0x10: data, 4 GiB
	dq 0x00209a0000000000           ; 0x18: 64-bit code
tr_gdt_ptr:
	dw tr_gdt_ptr - tr_gdt - 1
	dd TA(tr_gdt)

; The parameter block (struct ap_params in smp.c: same order).
align 8
ap_tramp_params:
p_cr3:   dq 0
p_cr0:   dq 0
p_cr4:   dq 0
p_efer:  dq 0
p_stack: dq 0
p_cpu:   dq 0
p_entry: dq 0
ap_tramp_end:
