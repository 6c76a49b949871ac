/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables.  Without ACPI this is how
 * the guest kernel (CONFIG_X86_MPPARSE) learns about the vCPUs, the I/O
 * APIC and how interrupt lines reach it.  The floating pointer and the
 * configuration table go at the start of the EBDA (0x9fc00), one of the
 * places Linux scans ("the top 1 KiB of base memory").
 *
 * Routing: ISA IRQs 0-15 go to I/O APIC pins 0-15 unchanged (KVM's default
 * GSI routing does the same); virtio GSIs 16-23 get their own entries so
 * the kernel allocates them.  All are ISA-bus, edge, active high, which is
 * what the irqfd pulses of virtio-mmio need.
 */
#ifndef KILN_VMM_MPTABLE_H
#define KILN_VMM_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#define MPTABLE_MAX_SIZE 0x400 /* the EBDA KiB Linux scans */
#define MPTABLE_LAPIC_ADDR 0xfee00000U
#define MPTABLE_IOAPIC_ADDR 0xfec00000U
#define MPTABLE_IOAPIC_PINS 24
#define MPTABLE_APIC_VERSION 0x14 /* integrated APIC, as KVM's LAPIC */
#define MPTABLE_IOAPIC_VERSION 0x11 /* KVM's in-kernel I/O APIC */

/* Entry types and fields (MP spec 1.4, chapter 4). */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS 1
#define MP_ENTRY_IOAPIC 2
#define MP_ENTRY_INTSRC 3
#define MP_ENTRY_LINTSRC 4
#define MP_IRQ_INT 0
#define MP_IRQ_NMI 1
#define MP_IRQ_EXTINT 3
#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2

struct mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1; /* 0: a configuration table is present */
	uint8_t feature2; /* bit 7 = IMCR present; 0: virtual wire */
	uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length; /* header + entries */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* number of entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature; /* CPUID 1 EAX: stepping, model, family */
	uint32_t featureflag; /* CPUID 1 EDX */
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag; /* 0: conforms to the bus (ISA: edge, high) */
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

struct mpc_lintsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbusid;
	uint8_t srcbusirq;
	uint8_t destapic; /* 0xff: all local APICs */
	uint8_t destapiclint;
} __attribute__((packed));

/* Bytes mptable_write() needs for ncpus and these extra GSIs. */
size_t mptable_size(int ncpus, const uint32_t *gsis, int ngsis);

/*
 * Write the floating pointer and configuration table into buf, which the
 * guest sees at physical address gpa.  gsis: interrupt lines of devices
 * (< MPTABLE_IOAPIC_PINS; those below 16 are already ISA entries).
 * Returns the bytes written, -EINVAL on bad arguments or -ENOSPC if cap
 * is too small.
 */
int mptable_write(void *buf, size_t cap, uint32_t gpa, int ncpus,
		  const uint32_t *gsis, int ngsis, uint32_t cpu_signature,
		  uint32_t cpu_features);

/* Sum of n bytes modulo 256 (0 for a valid table). */
uint8_t mptable_checksum(const void *p, size_t n);

#endif
