// Address-space bookkeeping: what each range of a process's user half is. A sorted
// table of non-overlapping regions (image segments, heap, mmap areas, stack), each
// page-aligned [start, end) with its PROT_* bits. The page tables say what is mapped;
// this says what it is for, so that nothing is ever mapped over by accident:
// mmap(NULL) takes a free range from here, brk and mmap hints stay out of every other
// region, and a segment of a new program may not overlap the stack.
// Neighbours of the same kind and protection are merged (as Linux merges vmas).
#include "kernel.h"
#include "mm.h"

static void
remove_at(struct vmas *m, int i)
{
	memmove(&m->v[i], &m->v[i + 1], (m->n - i - 1) * sizeof m->v[0]);
	m->n--;
}

static void
insert_at(struct vmas *m, int i, struct vma r)
{
	memmove(&m->v[i + 1], &m->v[i], (m->n - i) * sizeof m->v[0]);
	m->v[i] = r;
	m->n++;
}

static int
mergeable(const struct vma *a, const struct vma *b)
{
	return a->end == b->start && a->kind == b->kind && a->prot == b->prot;
}

// The first region that intersects [start, end), or NULL.
const struct vma *
vma_overlap(const struct vmas *m, u64 start, u64 end)
{
	for (int i = 0; i < m->n; i++)
		if (m->v[i].start < end && start < m->v[i].end)
			return &m->v[i];
	return NULL;
}

// The region that contains va, or NULL.
const struct vma *
vma_at(const struct vmas *m, u64 va)
{
	return vma_overlap(m, va, va + 1);
}

// Record [start, end) as a region of kind with protection prot. 0, -EEXIST if it
// overlaps a region, -ENOMEM if the table is full.
int
vma_add(struct vmas *m, u64 start, u64 end, int kind, int prot)
{
	if (start >= end)
		return 0;
	if (vma_overlap(m, start, end))
		return -EEXIST;
	int i = 0;
	while (i < m->n && m->v[i].start < start)
		i++;
	struct vma r = { start, end, kind, prot };
	if (i > 0 && mergeable(&m->v[i - 1], &r)) {
		m->v[i - 1].end = end;
		if (i < m->n && mergeable(&m->v[i - 1], &m->v[i])) {
			m->v[i - 1].end = m->v[i].end;
			remove_at(m, i);
		}
		return 0;
	}
	if (i < m->n && mergeable(&r, &m->v[i])) {
		m->v[i].start = start;
		return 0;
	}
	if (m->n == NVMA)
		return -ENOMEM;
	insert_at(m, i, r);
	return 0;
}

// Forget [start, end): regions inside go, regions across an edge are cut, a region
// around the whole range is split in two. 0, or -ENOMEM (nothing changed) when a
// split needs a slot the full table does not have.
int
vma_remove(struct vmas *m, u64 start, u64 end)
{
	for (int i = 0; i < m->n; i++) {
		struct vma *r = &m->v[i];
		if (r->start < start && r->end > end) {
			if (m->n == NVMA)
				return -ENOMEM;
			struct vma hi = *r;
			hi.start = end;
			r->end = start;
			insert_at(m, i + 1, hi);
			return 0;
		}
	}
	for (int i = 0; i < m->n;) {
		struct vma *r = &m->v[i];
		if (r->end <= start || r->start >= end) {
			i++;
		} else if (r->start >= start && r->end <= end) {
			remove_at(m, i);
		} else {
			if (r->start < start)
				r->end = start;
			else
				r->start = end;
			i++;
		}
	}
	return 0;
}

// End of the run of regions that covers [start, ...) without a hole, capped at end;
// start itself when no region contains start.
u64
vma_covered_end(const struct vmas *m, u64 start, u64 end)
{
	u64 at = start;
	for (int i = 0; i < m->n && at < end; i++)
		if (m->v[i].start <= at && m->v[i].end > at)
			at = m->v[i].end;
	return MIN(at, end);
}

// Give every region piece inside [start, end) the protection prot, keeping its kind.
// [start, end) must be covered (vma_covered_end). 0 or -ENOMEM (nothing changed).
int
vma_protect(struct vmas *m, u64 start, u64 end, int prot)
{
	if (m->n + 2 > NVMA)
		return -ENOMEM;
	struct vma pieces[NVMA];
	int np = 0;
	for (int i = 0; i < m->n; i++) {
		const struct vma *r = &m->v[i];
		if (r->start < end && start < r->end)
			pieces[np++] = (struct vma){ MAX(r->start, start), MIN(r->end, end), r->kind, prot };
	}
	vma_remove(m, start, end);
	for (int i = 0; i < np; i++)
		if (vma_add(m, pieces[i].start, pieces[i].end, pieces[i].kind, prot) < 0)
			panic("vma_protect: lost a region piece");
	return 0;
}

// The lowest page-aligned start >= lo such that [start, start+len) is free and ends
// at or below hi; 0 when there is none.
u64
vma_find_free(const struct vmas *m, u64 len, u64 lo, u64 hi)
{
	u64 at = lo;
	for (int i = 0; i < m->n; i++) {
		const struct vma *r = &m->v[i];
		if (r->end <= at)
			continue;
		if (r->start >= at && r->start - at >= len)
			break;
		at = MAX(at, r->end);
	}
	return at <= hi && hi - at >= len ? at : 0;
}
