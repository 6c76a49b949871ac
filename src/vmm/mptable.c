/* SPDX-License-Identifier: MIT */
/*
 * MP table writer (see mptable.h).  Checksums make each structure's bytes
 * sum to zero, which is what the kernel verifies before trusting it.
 */
#include <errno.h>
#include <string.h>

#include "mptable.h"
#include "vm.h"

#define MP_ISA_IRQS 16

uint8_t mptable_checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum += *b++;
	return sum;
}

/* GSIs that need an entry of their own (>= 16, no duplicates). */
static int mptable_extra_gsis(const uint32_t *gsis, int ngsis, uint32_t *out)
{
	int n = 0;

	for (int i = 0; i < ngsis; i++) {
		bool dup = false;

		if (gsis[i] < MP_ISA_IRQS)
			continue;
		for (int j = 0; j < n; j++)
			dup |= out[j] == gsis[i];
		if (!dup)
			out[n++] = gsis[i];
	}
	return n;
}

static size_t mptable_size_n(int ncpus, int nextra)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       (size_t)ncpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) +
	       (size_t)(MP_ISA_IRQS + nextra) * sizeof(struct mpc_intsrc) +
	       2 * sizeof(struct mpc_lintsrc);
}

size_t mptable_size(int ncpus, const uint32_t *gsis, int ngsis)
{
	uint32_t extra[MPTABLE_IOAPIC_PINS];
	int ok = 1;

	for (int i = 0; i < ngsis; i++)
		ok &= gsis[i] < MPTABLE_IOAPIC_PINS;
	if (!ok)
		return 0;
	return mptable_size_n(ncpus, mptable_extra_gsis(gsis, ngsis, extra));
}

int mptable_write(void *buf, size_t cap, uint32_t gpa, int ncpus,
		  const uint32_t *gsis, int ngsis, uint32_t cpu_signature,
		  uint32_t cpu_features)
{
	uint32_t extra[MPTABLE_IOAPIC_PINS];
	uint8_t *p = buf, *start = buf;
	struct mpf_intel *mpf;
	struct mpc_table *mpc;
	uint8_t ioapic_id = (uint8_t)ncpus; /* after the LAPIC IDs */
	uint16_t count = 0;
	int nextra;
	size_t size;

	if (ncpus < 1 || ncpus > VM_MAX_VCPUS || ngsis < 0 ||
	    ngsis > MPTABLE_IOAPIC_PINS)
		return -EINVAL;
	for (int i = 0; i < ngsis; i++)
		if (gsis[i] >= MPTABLE_IOAPIC_PINS)
			return -EINVAL;
	nextra = mptable_extra_gsis(gsis, ngsis, extra);
	size = mptable_size_n(ncpus, nextra);
	if (size > cap)
		return -ENOSPC;
	memset(buf, 0, size);

	mpf = (struct mpf_intel *)p;
	p += sizeof(*mpf);
	mpc = (struct mpc_table *)p;
	p += sizeof(*mpc);

	for (int i = 0; i < ncpus; i++) {
		struct mpc_cpu *c = (struct mpc_cpu *)p;

		c->type = MP_ENTRY_PROCESSOR;
		c->apicid = (uint8_t)i;
		c->apicver = MPTABLE_APIC_VERSION;
		c->cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		c->cpufeature = cpu_signature;
		c->featureflag = cpu_features;
		p += sizeof(*c);
		count++;
	}
	{
		struct mpc_bus *b = (struct mpc_bus *)p;

		b->type = MP_ENTRY_BUS;
		b->busid = 0;
		memcpy(b->bustype, "ISA   ", 6);
		p += sizeof(*b);
		count++;
	}
	{
		struct mpc_ioapic *io = (struct mpc_ioapic *)p;

		io->type = MP_ENTRY_IOAPIC;
		io->apicid = ioapic_id;
		io->apicver = MPTABLE_IOAPIC_VERSION;
		io->flags = 1; /* enabled */
		io->apicaddr = MPTABLE_IOAPIC_ADDR;
		p += sizeof(*io);
		count++;
	}
	for (int i = 0; i < MP_ISA_IRQS + nextra; i++) {
		struct mpc_intsrc *s = (struct mpc_intsrc *)p;
		uint32_t irq =
			i < MP_ISA_IRQS ? (uint32_t)i : extra[i - MP_ISA_IRQS];

		s->type = MP_ENTRY_INTSRC;
		s->irqtype = MP_IRQ_INT;
		s->irqflag = 0;
		s->srcbus = 0;
		s->srcbusirq = (uint8_t)irq;
		s->dstapic = ioapic_id;
		s->dstirq = (uint8_t)irq;
		p += sizeof(*s);
		count++;
	}
	{
		struct mpc_lintsrc *l = (struct mpc_lintsrc *)p;

		/* The PIC's output reaches the BSP's LINT0 (virtual wire)... */
		l->type = MP_ENTRY_LINTSRC;
		l->irqtype = MP_IRQ_EXTINT;
		l->destapic = 0;
		l->destapiclint = 0;
		l++;
		/* ...and NMI every LAPIC's LINT1. */
		l->type = MP_ENTRY_LINTSRC;
		l->irqtype = MP_IRQ_NMI;
		l->destapic = 0xff;
		l->destapiclint = 1;
		p += 2 * sizeof(*l);
		count += 2;
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "KILN    ", 8);
	memcpy(mpc->productid, "KILN-VMM    ", 12);
	mpc->oemcount = count;
	mpc->lapic = MPTABLE_LAPIC_ADDR;
	mpc->checksum = (uint8_t)-mptable_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = gpa + (uint32_t)sizeof(*mpf);
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = (uint8_t)-mptable_checksum(mpf, sizeof(*mpf));
	return (int)(p - start);
}
