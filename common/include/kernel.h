// Kernel-wide declarations: memory layout, console output, panic, strings.
#pragma once
#include "types.h"
#include "errno.h"

// Virtual memory layout (see handouts/lab1.md for the picture).
#define KERNBASE 0xffffffff80000000UL	// kernel image: phys + KERNBASE (PML4 slot 511)
#define DIRECT_MAP 0xffff800000000000UL	// all of RAM: phys + DIRECT_MAP (PML4 slot 256)
#define KSTACK_VBASE 0xffffff0000000000UL	// guarded kernel stacks, phase 3 (PML4 slot 510)
#define USER_TOP 0x00007ffffffff000UL	// first address user space never gets: the top
					// user page stays unmapped so SYSRET never sees
					// a non-canonical rcx
#define USER_MIN 0x10000UL		// lowest user mapping (NULL + 64 KiB stay unmapped)
#define PAGE_SIZE 4096UL

#define P2V(pa) ((void *)((u64)(pa) + DIRECT_MAP))
#define V2P(va) ((u64)(va) - DIRECT_MAP)
#define KIMG2P(va) ((u64)(va) - KERNBASE)

// console.c
void console_init(void);
void console_putc(char c);
void console_write(const char *s, size_t n);
void console_write_user(const char *s, size_t n);	// marks what could forge a [k] line
int console_getc_nowait(void);	// -1 when no input is waiting
int console_getc(void);		// blocks (halts) until a byte arrives
void console_irq(void);
void console_bol(void);		// start a new line unless at the start of one
void console_lock(void);	// this CPU alone prints until console_unlock (nests)
void console_unlock(void);
void console_panic(void);	// a panic takes the console for good

// A kernel event line: "[k] " + key=value fields, always alone on its line, and
// never mixed with another CPU's output.
#define klog(fmt, ...) \
	do { \
		console_lock(); \
		console_bol(); \
		kprintf("[k] " fmt "\n", ##__VA_ARGS__); \
		console_unlock(); \
	} while (0)

// The linker script's end of the kernel image (common/kernel.ld).
extern char __kernel_end[];

// printf.c
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vksnprintf(char *buf, size_t n, const char *fmt, __builtin_va_list ap);
int ksnprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// panic.c
struct trapframe;
void panic(const char *fmt, ...) __noreturn __attribute__((format(printf, 1, 2)));
void panic_trap(struct trapframe *tf, const char *fmt, ...) __noreturn
	__attribute__((format(printf, 2, 3)));
void qemu_exit(int code) __noreturn;
const char *symbol_lookup(u64 addr, u64 *offset);
void symbols_init(u64 symtab_pa, u64 symtab_size, u64 strtab_pa);

// monitor.c
void monitor_main(void);

// string.c
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *d, const char *s, size_t n);	// always NUL-terminates

#define assert(c) \
	do { \
		if (!(c)) \
			panic("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__); \
	} while (0)
