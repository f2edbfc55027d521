; Stubs for labs/phase1/entry.asm: what `make handout` puts in place of each LAB1
; region of that file, in the student's starter. One block per region,
; headed by the region's exact task line; the reference never compiles these.

; STUB switch to the global kernel stack
	; Stub: no kernel stack yet, so every system call kills its caller
	; ([k] kill ... reason=todo-lab1), on a small stack of the stub's own.
	extern proc_kill
	section .bss
	alignb 16
		resb 4096
	.todo_stack_top:
	section .rodata
	.todo_reason: db "todo-lab1", 0
	section .text
	lea rsp, [rel .todo_stack_top]
	xor edi, edi                          ; proc_kill(NULL = current, "todo-lab1",
	lea rsi, [rel .todo_reason]           ;           user rip, 0)
	mov rdx, rcx
	xor ecx, ecx
	call proc_kill                        ; never returns

; STUB back to the user stack
	; Stub: rsp is still on the kernel stack, so kill the caller instead of
	; returning ([k] kill ... reason=todo-lab1).
	extern proc_kill
	section .rodata
	.todo_ret_reason: db "todo-lab1", 0
	section .text
	and rsp, -16                          ; the C ABI: rsp 16-byte aligned at a call
	xor edi, edi                          ; proc_kill(NULL = current, "todo-lab1",
	lea rsi, [rel .todo_ret_reason]       ;           tf.rip, 0)
	mov rdx, rcx
	xor ecx, ecx
	call proc_kill                        ; never returns

; STUB syscall_entry: onto the kernel stack, the trap frame, the dispatch call and back
	; Stub: no entry path yet, so every system call kills its caller
	; ([k] kill ... reason=todo-lab1), on a small stack of the stub's own.
	extern proc_kill
	section .bss
	alignb 16
		resb 4096
	.todo_stack_top:
	section .rodata
	.todo_reason: db "todo-lab1", 0
	section .text
	lea rsp, [rel .todo_stack_top]
	xor edi, edi                          ; proc_kill(NULL = current, "todo-lab1",
	lea rsi, [rel .todo_reason]           ;           user rip, 0)
	mov rdx, rcx
	xor ecx, ecx
	call proc_kill                        ; never returns
