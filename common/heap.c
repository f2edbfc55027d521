// The kernel heap: power-of-two size classes from 16 to 2048 bytes carved out of
// whole frames (2032 bytes is the largest request).
// Blocks come from the direct map, so kfree finds the class in a header word.
#include "kernel.h"
#include "mm.h"
#include "spinlock.h"

#define MIN_SHIFT 4
#define MAX_SHIFT 11
#define NCLASS (MAX_SHIFT - MIN_SHIFT + 1)

struct block {
	struct block *next;
};

static struct block *freelist[NCLASS];
static u64 nframes;
static struct spinlock heap_lock = SPINLOCK_INIT("heap");	// every freelist

// Split a fresh frame into blocks of class c.
static int
refill(int c)
{
	u64 pa = pmm_alloc();
	if (!pa)
		return -ENOMEM;
	nframes++;
	size_t sz = 1UL << (c + MIN_SHIFT);
	u8 *page = P2V(pa);
	for (size_t off = 0; off + sz <= PAGE_SIZE; off += sz) {
		struct block *b = (void *)(page + off);
		b->next = freelist[c];
		freelist[c] = b;
	}
	return 0;
}

// n bytes (n <= 2032), 16-byte aligned (FXSAVE needs it), or NULL. A 16-byte
// header before the block records its class.
#define HEADER 16

void *
kmalloc(size_t n)
{
	n += HEADER;
	int c = 0;
	while (c < NCLASS && (1UL << (c + MIN_SHIFT)) < n)
		c++;
	if (c == NCLASS)
		return NULL;
	u64 flags = spin_lock(&heap_lock);
	if (!freelist[c] && refill(c) < 0) {
		spin_unlock(&heap_lock, flags);
		return NULL;
	}
	struct block *b = freelist[c];
	freelist[c] = b->next;
	spin_unlock(&heap_lock, flags);
	*(u64 *)b = c;
	return (u8 *)b + HEADER;
}

void
kfree(void *p)
{
	if (!p)
		return;
	u64 *h = (u64 *)((u8 *)p - HEADER);
	if (*h >= NCLASS)
		panic("kfree: bad block %p", p);
	struct block *b = (void *)h;
	int c = *h;
	u64 flags = spin_lock(&heap_lock);
	b->next = freelist[c];
	freelist[c] = b;
	spin_unlock(&heap_lock, flags);
}

u64
heap_frames(void)
{
	return nframes;
}
