// initrd (ustar) and the ELF64 loader.
#pragma once
#include "types.h"
#include "proc.h"

void initrd_init(u64 start, u64 end);
const void *initrd_find(const char *name, size_t *size);
void initrd_list(void);
int initrd_present(void);

// Load a static ELF64 executable into a new address space for p and set up its
// initial stack. Returns 0, or -1 with *why set to a one-line reason.
int elf_load(struct proc *p, const u8 *image, size_t size, int argc, char **argv,
	     const char **why);
