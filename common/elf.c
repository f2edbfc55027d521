// The ELF64 loader: static x86_64 executables only (what musl-gcc -static makes).
// Every field that could send the kernel astray is checked before anything is
// mapped; a bad file costs a one-line reason, never a kernel fault.
#include "kernel.h"
#include "mm.h"
#include "proc.h"
#include "loader.h"
#include "trap.h"
#include "x86.h"

struct elf64_ehdr {
	u8 ident[16];
	u16 type, machine;
	u32 version;
	u64 entry, phoff, shoff;
	u32 flags;
	u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

struct elf64_phdr {
	u32 type, flags;
	u64 offset, vaddr, paddr, filesz, memsz, align;
};

#define ET_EXEC 2
#define ET_DYN 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_INTERP 3
#define PT_PHDR 6
#define PF_X 1
#define PF_W 2
#define PF_R 4
#define MAX_PHNUM 64
#define MAX_IMAGE (64UL << 20)		// total memsz of all segments
#define USER_STACK_SIZE (128UL << 10)	// mapped at once, below USER_TOP
#define MAX_ARGS 32

// Auxiliary vector keys (Linux include/uapi/linux/auxvec.h).
#define AT_NULL 0
#define AT_PHDR 3
#define AT_PHENT 4
#define AT_PHNUM 5
#define AT_PAGESZ 6
#define AT_BASE 7
#define AT_ENTRY 9
#define AT_UID 11
#define AT_EUID 12
#define AT_GID 13
#define AT_EGID 14
#define AT_CLKTCK 17
#define AT_SECURE 23
#define AT_RANDOM 25
#define AT_EXECFN 31

static const char *
check_header(const struct elf64_ehdr *eh, size_t size)
{
	if (size < 4 || memcmp(eh->ident, "\177ELF", 4) != 0)
		return "not an ELF file (bad magic)";
	if (size < sizeof *eh)
		return "file too small for an ELF header";
	if (eh->ident[4] != 2)
		return "not a 64-bit ELF (EI_CLASS)";
	if (eh->ident[5] != 1)
		return "not little-endian (EI_DATA)";
	if (eh->machine != EM_X86_64)
		return "not an x86_64 executable (e_machine)";
	if (eh->type == ET_DYN)
		return "position-independent executable: build with -static -no-pie";
	if (eh->type != ET_EXEC)
		return "not an executable (e_type)";
	if (eh->phentsize != sizeof(struct elf64_phdr))
		return "bad program header size (e_phentsize)";
	if (eh->phnum == 0 || eh->phnum > MAX_PHNUM)
		return "bad program header count (e_phnum)";
	if (eh->phoff > size || (u64)eh->phnum * sizeof(struct elf64_phdr) > size - eh->phoff)
		return "program headers run past the end of the file";
	if (eh->phoff % 8)
		return "misaligned program headers";
	return NULL;
}

static const char *
check_segment(const struct elf64_phdr *ph, size_t size)
{
	if (ph->type == PT_INTERP)
		return "dynamically linked (has an interpreter): build with -static";
	if (ph->type != PT_LOAD)
		return NULL;
	if (ph->filesz > ph->memsz)
		return "segment file size exceeds memory size";
	if (ph->offset > size || ph->filesz > size - ph->offset)
		return "segment data runs past the end of the file";
	if (ph->vaddr + ph->memsz < ph->vaddr)
		return "segment wraps around the address space";
	if (ph->vaddr < USER_MIN || ph->vaddr + ph->memsz > USER_TOP)
		return "segment outside user space";
	if (ph->memsz > MAX_IMAGE)
		return "segment too large";
	if ((ph->vaddr ^ ph->offset) & (PAGE_SIZE - 1))
		return "segment offset and address disagree modulo the page size";
	return NULL;
}

// Validate the whole file: header, every segment, the total size, and that e_entry
// lies inside an executable segment. NULL, or the reason it is refused.
static const char *
check_image(const u8 *image, size_t size)
{
	const struct elf64_ehdr *eh = (const void *)image;
	const char *why = check_header(eh, size);
	if (why)
		return why;
	const struct elf64_phdr *ph = (const void *)(image + eh->phoff);
	u64 total = 0;
	int entry_ok = 0, loads = 0;
	for (int i = 0; i < eh->phnum; i++) {
		if ((why = check_segment(&ph[i], size)))
			return why;
		if (ph[i].type != PT_LOAD)
			continue;
		loads++;
		total += ph[i].memsz;
		if ((ph[i].flags & PF_X) && eh->entry >= ph[i].vaddr &&
		    eh->entry < ph[i].vaddr + ph[i].memsz)
			entry_ok = 1;
	}
	if (!loads)
		return "no loadable segment";
	if (total > MAX_IMAGE)
		return "program too large";
	if (!entry_ok)
		return "entry point outside every executable segment";
	return NULL;
}

// Map one PT_LOAD segment and copy its file bytes. Pages shared with a previous
// segment keep their frame and gain this segment's permissions.
static int
load_segment(pagetable_t pml4, const struct elf64_phdr *ph, const u8 *image)
{
	u64 start = ALIGN_DOWN(ph->vaddr, PAGE_SIZE), end = ALIGN_UP(ph->vaddr + ph->memsz, PAGE_SIZE);
	for (u64 va = start; va < end; va += PAGE_SIZE) {
		if ((va - start) / PAGE_SIZE % IRQ_WINDOW_PAGES == IRQ_WINDOW_PAGES - 1)
			irq_window();
		u64 *pte = vm_walk(pml4, va, 1);
		if (!pte)
			return -ENOMEM;
		if (!(*pte & PTE_P)) {
			u64 pa = pmm_alloc();
			if (!pa)
				return -ENOMEM;
			*pte = pa | PTE_P | PTE_U | PTE_NX;
		}
		if (ph->flags & PF_W)
			*pte |= PTE_W;
		if (ph->flags & PF_X)
			*pte &= ~PTE_NX;
	}
	return vm_copyout(pml4, ph->vaddr, image + ph->offset, ph->filesz);
}

// Record a segment's pages as image regions: the parts no earlier segment holds
// (segments may share a page). A segment over any other region (the stack) is
// refused. NULL, or the reason.
static const char *
add_segment_regions(struct vmas *m, const struct elf64_phdr *ph)
{
	u64 start = ALIGN_DOWN(ph->vaddr, PAGE_SIZE), end = ALIGN_UP(ph->vaddr + ph->memsz, PAGE_SIZE);
	int prot = (ph->flags & PF_R ? PROT_READ : 0) | (ph->flags & PF_W ? PROT_WRITE : 0) |
		   (ph->flags & PF_X ? PROT_EXEC : 0);
	for (u64 at = start; at < end;) {
		const struct vma *r = vma_overlap(m, at, end);
		if (r && r->kind != VMA_IMAGE)
			return "segment overlaps the user stack";
		u64 upto = r ? MAX(r->start, at) : end;
		if (upto > at && vma_add(m, at, upto, VMA_IMAGE, prot) < 0)
			return "too many segments";
		at = r ? r->end : end;
	}
	return NULL;
}

// Where the program headers sit in memory (for AT_PHDR), or 0.
static u64
phdr_address(const struct elf64_ehdr *eh, const struct elf64_phdr *ph)
{
	for (int i = 0; i < eh->phnum; i++)
		if (ph[i].type == PT_PHDR)
			return ph[i].vaddr;
	for (int i = 0; i < eh->phnum; i++)
		if (ph[i].type == PT_LOAD && eh->phoff >= ph[i].offset &&
		    eh->phoff + eh->phnum * sizeof *ph <= ph[i].offset + ph[i].filesz)
			return ph[i].vaddr + (eh->phoff - ph[i].offset);
	return 0;
}

// Push bytes onto the new user stack (growing down). Returns the new sp, or 0 when
// sp is already 0 (an earlier push failed) or the bytes do not fit in the stack.
static u64
push_bytes(pagetable_t pml4, u64 sp, const void *src, size_t len)
{
	if (!sp || sp - (USER_TOP - USER_STACK_SIZE) < len)
		return 0;
	sp -= len;
	return vm_copyout(pml4, sp, src, len) < 0 ? 0 : sp;
}

// The initial stack, as Linux lays it out (System V x86_64 ABI, 3.4.1):
//   sp -> argc, argv[0..argc-1], NULL, envp[..], NULL, auxv pairs, AT_NULL
// then, higher up, the strings and AT_RANDOM's 16 bytes. sp is 16-byte aligned.
// Returns 0 when it does not fit (every push after a failed one fails too).
static u64
build_stack(pagetable_t pml4, const struct elf64_ehdr *eh, u64 phdr, int argc, char **argv)
{
	static const char *const envp[] = { "HOME=/", "TERM=vt100", "PATH=/" };
	const int envc = ARRAY_SIZE(envp);
	u64 sp = USER_TOP, uargv[MAX_ARGS], uenvp[ARRAY_SIZE(envp)];
	for (int i = argc - 1; i >= 0; i--)
		uargv[i] = sp = push_bytes(pml4, sp, argv[i], strlen(argv[i]) + 1);
	for (int i = envc - 1; i >= 0; i--)
		uenvp[i] = sp = push_bytes(pml4, sp, envp[i], strlen(envp[i]) + 1);
	u64 rnd[2] = { rdtsc() * 0x9e3779b97f4a7c15UL, (rdtsc() ^ (u64)eh) * 0xbf58476d1ce4e5b9UL };
	u64 random = sp = push_bytes(pml4, ALIGN_DOWN(sp, 16), rnd, sizeof rnd);

	u64 auxv[] = {
		AT_PHDR, phdr, AT_PHENT, sizeof(struct elf64_phdr), AT_PHNUM, eh->phnum,
		AT_PAGESZ, PAGE_SIZE, AT_BASE, 0, AT_ENTRY, eh->entry,
		AT_UID, 0, AT_EUID, 0, AT_GID, 0, AT_EGID, 0,
		AT_CLKTCK, 100, AT_SECURE, 0, AT_RANDOM, random,
		AT_EXECFN, uargv[0], AT_NULL, 0,
	};
	u64 words = 1 + argc + 1 + envc + 1 + ARRAY_SIZE(auxv);
	sp = ALIGN_DOWN(sp, 16);
	if (words % 2 && sp)
		sp -= 8;	// so that sp is 16-aligned once everything is pushed
	u64 zero = 0;
	sp = push_bytes(pml4, sp, auxv, sizeof auxv);
	sp = push_bytes(pml4, sp, &zero, 8);
	sp = push_bytes(pml4, sp, uenvp, envc * 8);
	sp = push_bytes(pml4, sp, &zero, 8);
	sp = push_bytes(pml4, sp, uargv, argc * 8);
	u64 argc64 = argc;
	return push_bytes(pml4, sp, &argc64, 8);
}

int
elf_load(struct proc *p, const u8 *image, size_t size, int argc, char **argv, const char **why)
{
	if ((*why = check_image(image, size)))
		return -1;
	if (argc < 1 || argc > MAX_ARGS) {
		*why = "too many arguments";
		return -1;
	}
	const struct elf64_ehdr *eh = (const void *)image;
	const struct elf64_phdr *ph = (const void *)(image + eh->phoff);
	u64 phdr = phdr_address(eh, ph);
	if (!phdr) {
		*why = "program headers are not inside a loadable segment";
		return -1;
	}
	// The regions first: a segment that overlaps the stack is refused before
	// anything is mapped.
	struct vmas *m = &p->vmas;
	m->n = 0;
	vma_add(m, USER_TOP - USER_STACK_SIZE, USER_TOP, VMA_STACK, PROT_READ | PROT_WRITE);
	for (int i = 0; i < eh->phnum; i++)
		if (ph[i].type == PT_LOAD && (*why = add_segment_regions(m, &ph[i]))) {
			m->n = 0;
			return -1;
		}
	pagetable_t pml4 = vm_new_space();
	if (!pml4)
		goto nomem;
	u64 image_end = 0;
	for (int i = 0; i < eh->phnum; i++) {
		if (ph[i].type != PT_LOAD)
			continue;
		if (load_segment(pml4, &ph[i], image) < 0)
			goto nomem_free;
		image_end = MAX(image_end, ph[i].vaddr + ph[i].memsz);
	}
	if (vm_alloc_range(pml4, USER_TOP - USER_STACK_SIZE, USER_STACK_SIZE,
			   prot_pte_flags(PROT_READ | PROT_WRITE)) < 0)
		goto nomem_free;

	p->pml4 = pml4;
	p->brk_start = p->brk = ALIGN_UP(image_end, PAGE_SIZE);
	memset(&p->init_tf, 0, sizeof p->init_tf);
	p->init_tf.rip = eh->entry;
	p->init_tf.rsp = build_stack(pml4, eh, phdr, argc, argv);
	if (!p->init_tf.rsp) {
		p->pml4 = 0;
		m->n = 0;
		vm_free_space(pml4);
		*why = "arguments do not fit on the stack";
		return -1;
	}
	p->init_tf.cs = SEL_UCODE;
	p->init_tf.ss = SEL_UDATA;
	p->init_tf.rflags = RFLAGS_IF | RFLAGS_RSVD1;
	return 0;

nomem_free:
	vm_free_space(pml4);
nomem:
	m->n = 0;
	*why = "out of memory";
	return -1;
}
