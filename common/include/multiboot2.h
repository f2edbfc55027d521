// The parts of the multiboot2 boot information the kernel reads (multiboot2 spec,
// section 3.6; field widths as GRUB 2 writes them).
#pragma once
#include "types.h"

#define MB2_BOOTLOADER_MAGIC 0x36d76289
#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_MODULE 3
#define MB2_TAG_MMAP 6
#define MB2_TAG_ELF_SECTIONS 9
#define MB2_MEMORY_AVAILABLE 1

struct mb2_info {
	u32 total_size;
	u32 reserved;
};

struct mb2_tag {
	u32 type;
	u32 size;
};

struct mb2_tag_module {
	u32 type, size;
	u32 mod_start, mod_end;
	char cmdline[];
};

struct mb2_mmap_entry {
	u64 addr, len;
	u32 type, reserved;
};

struct mb2_tag_mmap {
	u32 type, size;
	u32 entry_size, entry_version;
	struct mb2_mmap_entry entries[];
};

struct mb2_tag_elf_sections {
	u32 type, size;
	u32 num, entsize, shndx;
	u8 sections[];
};

// Iterate tags: tags are 8-byte aligned and end with a type-0 tag.
#define mb2_for_each_tag(t, info) \
	for (struct mb2_tag *t = (struct mb2_tag *)((u8 *)(info) + 8); \
	     t->type != MB2_TAG_END; \
	     t = (struct mb2_tag *)((u8 *)t + ALIGN_UP(t->size, 8)))

extern struct mb2_info *mb2;

// What the kernel takes from the boot information, decoded once by main.c (each tag
// in one place): the memory map, every physical range the frame allocator must never
// hand out, the initrd module and the kernel's symbol table (physical addresses).
#define BOOT_MAX_RESERVED 8

struct boot_range {
	u64 start, end;		// physical, [start, end)
	const char *what;
};

struct boot_info {
	struct mb2_tag_mmap *mmap;	// NULL: no memory map
	struct boot_range reserved[BOOT_MAX_RESERVED];
	int nreserved;
	u64 initrd_start, initrd_end;	// 0, 0: no module
	u64 symtab, symtab_size, strtab, strtab_size;	// 0: no symbols
};
