; boot.asm — from GRUB's 32-bit protected mode to the 64-bit higher-half kernel.
;
; State on entry (multiboot2 spec, 3.3): 32-bit protected mode, paging off,
;   eax = 0x36d76289 (bootloader magic)   ebx = physical address of the boot info
;   cs/ds flat 4 GiB, interrupts off, no usable stack.
;
; We build temporary page tables that map the first 1 GiB twice (identity, so the
; instruction after "paging on" still runs, and at KERNBASE for the kernel proper),
; switch to long mode, and call kmain(magic, info) on the boot stack. vm_init() then
; replaces these tables with the kernel's own.

KERNBASE equ 0xffffffff80000000

section .multiboot2 progbits alloc noexec nowrite
align 8
mb2_header:
	dd 0xe85250d6                   ; multiboot2 header magic
	dd 0                            ; architecture: i386 protected mode
	dd mb2_header_end - mb2_header  ; header length
	dd -(0xe85250d6 + 0 + (mb2_header_end - mb2_header))
	; module-alignment tag: modules (the initrd) start on a page boundary
	dw 6, 0
	dd 8
	; end tag
	dw 0, 0
	dd 8
mb2_header_end:

section .boot.text progbits alloc exec nowrite
bits 32
global _start
_start:
	cmp eax, 0x36d76289
	jne .not_multiboot
	mov edi, eax                    ; kept in edi/esi across the switch
	mov esi, ebx

	; Long mode needs CPUID leaf 0x80000001 EDX.LM (bit 29).
	mov eax, 0x80000000
	cpuid
	cmp eax, 0x80000001
	jb .no_long_mode
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 29
	jz .no_long_mode

	; The tables live in NOLOAD memory: zero all four pages first.
	mov ebp, edi                    ; no stack yet: park the magic in ebp
	mov edi, boot_pml4
	mov ecx, 4 * 4096 / 4
	xor eax, eax
	rep stosd
	mov edi, ebp

	; PD: 512 entries x 2 MiB = the first 1 GiB, present + writable + PS.
	mov ecx, 0
.fill_pd:
	mov eax, ecx
	shl eax, 21
	or eax, 0x83
	mov [boot_pd + ecx * 8], eax
	mov dword [boot_pd + ecx * 8 + 4], 0
	inc ecx
	cmp ecx, 512
	jne .fill_pd

	mov eax, boot_pd
	or eax, 0x3
	mov [boot_pdpt_low], eax               ; 0 .. 1 GiB identity
	mov [boot_pdpt_high + 510 * 8], eax    ; KERNBASE .. +1 GiB
	mov eax, boot_pdpt_low
	or eax, 0x3
	mov [boot_pml4], eax
	mov eax, boot_pdpt_high
	or eax, 0x3
	mov [boot_pml4 + 511 * 8], eax

	mov eax, cr4
	or eax, (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10) ; PAE, MCE, OSFXSR, OSXMMEXCPT
	mov cr4, eax
	mov eax, boot_pml4
	mov cr3, eax
	mov ecx, 0xc0000080                       ; EFER
	rdmsr
	or eax, (1 << 8) | (1 << 11)              ; LME, NXE
	wrmsr
	mov eax, cr0
	and eax, ~(1 << 2)                        ; EM off: SSE instructions allowed
	; PG, AM (EFLAGS.AC checks alignment in ring 3: #AC), WP, NE (x87 errors raise #MF,
	; not the legacy FERR# interrupt), MP
	or eax, (1 << 31) | (1 << 18) | (1 << 16) | (1 << 5) | (1 << 1)
	mov cr0, eax

	lgdt [boot_gdt_ptr]
	jmp 0x08:long_mode_entry

.not_multiboot:
	mov esi, msg_not_mb2
	jmp boot_fail
.no_long_mode:
	mov esi, msg_no_lm
	jmp boot_fail

; Print the NUL-terminated string at esi on COM1 and stop.
boot_fail:
	mov dx, 0x3f8
.next:
	lodsb
	test al, al
	jz .halt
	out dx, al
	jmp .next
.halt:
	cli
	hlt
	jmp .halt

bits 64
long_mode_entry:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	xor ax, ax
	mov fs, ax
	mov gs, ax
	mov rsp, boot_stack_top         ; higher-half address
	xor ebp, ebp                    ; end of the backtrace chain
	; edi = magic, esi = boot info physical address: kmain's two arguments
	mov rax, kmain
	call rax
.hang:
	cli
	hlt
	jmp .hang

section .boot.rodata progbits alloc noexec nowrite
msg_not_mb2: db "stacklabs: not loaded by a multiboot2 loader", 13, 10, 0
msg_no_lm:   db "stacklabs: this CPU has no long mode (x86_64)", 13, 10, 0
align 8
boot_gdt:
	dq 0
	dq 0x00209a0000000000           ; 0x08: 64-bit code, DPL 0
	dq 0x0000920000000000           ; 0x10: data, DPL 0
boot_gdt_ptr:
	dw boot_gdt_ptr - boot_gdt - 1
	dd boot_gdt

section .boot.bss nobits
alignb 4096
boot_pml4:      resb 4096
boot_pdpt_low:  resb 4096
boot_pdpt_high: resb 4096
boot_pd:        resb 4096

section .bss
alignb 16
global boot_stack_top
boot_stack:     resb 16384
boot_stack_top:

extern kmain
