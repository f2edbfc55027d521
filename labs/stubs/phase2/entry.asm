; Stubs for labs/phase2/entry.asm: what `make handout` puts in place of each LAB2
; region of that file, in the student's starter. One block per region,
; headed by the region's exact task line; the reference never compiles these.

; STUB load this process's kernel stack top
	; Stub: every process enters on ONE shared stack, as in phase 1.
	section .bss
	alignb 16
		resb 16384
	.todo_shared_top:
	section .text
	lea rsp, [rel .todo_shared_top]

; STUB back to the user stack
	; Stub: phase 1's global slot, which the next caller overwrites.
	mov rsp, [rel syscall_user_rsp]

; STUB load this process's kernel stack top, and refuse the fallback
	; Stub: one shared stack, as in phase 1, and no check for the fallback stack.
	; Stub: every process enters on ONE shared stack, as in phase 1.
	section .bss
	alignb 16
		resb 16384
	.todo_shared_top:
	section .text
	lea rsp, [rel .todo_shared_top]
