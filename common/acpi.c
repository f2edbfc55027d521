// ACPI, only as far as finding the CPUs: RSDP -> RSDT/XSDT -> MADT ("APIC"), whose
// type-0 entries list each processor's local APIC id (ACPI 6.x, section 5.2.12).
// Tables are read through the direct map and never written.
#include "kernel.h"
#include "mm.h"
#include "smp.h"
#include "multiboot2.h"

#define MB2_TAG_ACPI_OLD 14	// a copy of the ACPI 1.0 RSDP
#define MB2_TAG_ACPI_NEW 15	// a copy of the ACPI 2.0+ RSDP
#define MADT_LAPIC 0		// entry type: processor local APIC
#define MADT_LAPIC_ENABLED 1	// flags bit 0: usable
#define MADT_LAPIC_ONLINE_CAPABLE 2	// flags bit 1: may be enabled later
#define LAPIC_DEFAULT_PA 0xfee00000UL

struct __packed rsdp {
	char sig[8];		// "RSD PTR "
	u8 checksum;
	char oem[6];
	u8 revision;		// 0: ACPI 1.0 (RSDT only); 2: XSDT too
	u32 rsdt;
	u32 length;
	u64 xsdt;
};

struct __packed sdt_header {
	char sig[4];
	u32 length;
	u8 revision, checksum;
	char oem[6], oem_table[8];
	u32 oem_rev, creator, creator_rev;
};

struct __packed madt {
	struct sdt_header h;
	u32 lapic_pa;
	u32 flags;
	u8 entries[];
};

struct __packed madt_lapic {
	u8 type, length;
	u8 acpi_id, apic_id;
	u32 flags;
};

static int
sum_ok(const void *p, size_t n)
{
	u8 s = 0;
	for (size_t i = 0; i < n; i++)
		s += ((const u8 *)p)[i];
	return s == 0;
}

// The RSDP GRUB copied into the boot information, else the BIOS area search the
// spec describes (16-byte boundaries in 0xe0000-0xfffff).
static const struct rsdp *
find_rsdp(void *info)
{
	mb2_for_each_tag(t, info)
		if (t->type == MB2_TAG_ACPI_NEW || t->type == MB2_TAG_ACPI_OLD)
			return (const struct rsdp *)((u8 *)t + 8);
	for (u64 pa = 0xe0000; pa < 0x100000; pa += 16) {
		const struct rsdp *r = P2V(pa);
		if (memcmp(r->sig, "RSD PTR ", 8) == 0 && sum_ok(r, 20))
			return r;
	}
	return NULL;
}

static const struct madt *
find_madt(const struct rsdp *r)
{
	int x = r->revision >= 2 && r->xsdt;
	const struct sdt_header *root = P2V(x ? r->xsdt : (u64)r->rsdt);
	if (!sum_ok(root, root->length))
		return NULL;
	size_t n = (root->length - sizeof *root) / (x ? 8 : 4);
	const u8 *ent = (const u8 *)(root + 1);
	for (size_t i = 0; i < n; i++) {
		u64 pa = x ? ((const u64 *)ent)[i] : ((const u32 *)ent)[i];
		const struct sdt_header *h = P2V(pa);
		if (memcmp(h->sig, "APIC", 4) == 0 && sum_ok(h, h->length))
			return (const struct madt *)h;
	}
	return NULL;
}

// Fill cpus[i].lapic_id for each usable processor, the booting CPU first (it is
// cpus[0] whatever its place in the table). Without a MADT: one CPU.
u64
acpi_find_cpus(void *info)
{
	const struct rsdp *r = find_rsdp(info);
	const struct madt *m = r ? find_madt(r) : NULL;
	u32 me = lapic_id();
	ncpu = 1;
	cpus[0].lapic_id = me;
	if (!m) {
		klog("acpi-error reason=\"no MADT: one CPU\"");
		return LAPIC_DEFAULT_PA;
	}
	for (const u8 *e = m->entries; e + 2 <= (const u8 *)m + m->h.length && e[1] >= 2;
	     e += e[1]) {
		const struct madt_lapic *l = (const void *)e;
		if (l->type != MADT_LAPIC || !(l->flags & MADT_LAPIC_ENABLED) || l->apic_id == me)
			continue;
		if (ncpu == NCPU) {
			klog("acpi-error reason=\"more than %d CPUs: the rest stay off\"", NCPU);
			break;
		}
		cpus[ncpu++].lapic_id = l->apic_id;
	}
	return m->lapic_pa ? m->lapic_pa : LAPIC_DEFAULT_PA;
}
