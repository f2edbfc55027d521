; Stubs for labs/phase3/entry.asm: what `make handout` puts in place of each LAB3
; region of that file, in the student's starter. One block per region,
; headed by the region's exact task line; the reference never compiles these.

; STUB load this process's kernel stack top
	; Stub: phase 2's second source of truth, the variable kstack_switch_to's
	; stub (kstack.c) publishes; replace the two stubs together.
	extern todo_lab3_kernel_stack
	mov rsp, [rel todo_lab3_kernel_stack]
