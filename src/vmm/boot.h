/* SPDX-License-Identifier: MIT */
/*
 * Direct 64-bit boot of a Linux kernel (Documentation/x86/boot.rst,
 * "64-bit Boot Protocol"): the kernel is loaded into guest RAM, a zero page
 * (struct boot_params) with the command line, initrd and e820 map is
 * written, and the boot vCPU starts in long mode at the kernel's 64-bit
 * entry with identity-mapped page tables and RSI = zero page.
 *
 * Two image formats:
 *   ELF vmlinux  every PT_LOAD at its p_paddr, entry e_entry (physical; a
 *                virtual entry inside a segment is translated).  No
 *                in-guest decompression.
 *   bzImage      setup header checked ("HdrS", protocol >= 2.12, 64-bit
 *                entry); protected-mode part at 1 MiB, entry 1 MiB + 0x200.
 *
 * Guest physical layout below 1 MiB (all in e820 RAM except the EBDA):
 *   0x00500  GDT            0x07000  zero page       0x08ff0  boot stack
 *   0x09000  PML4, PDPT 0x0a000, PD 0x0b000 (1 GiB of 2 MiB pages)
 *   0x20000  command line   0x9fc00  MP table (e820 reserved to 1 MiB)
 */
#ifndef KILN_VMM_BOOT_H
#define KILN_VMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <asm/bootparam.h>
#include <linux/kvm.h>

#include "guest_mem.h"

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL
#define BOOT_STACK_ADDR 0x8ff0ULL
#define BOOT_PML4_ADDR 0x9000ULL
#define BOOT_PDPT_ADDR 0xa000ULL
#define BOOT_PD_ADDR 0xb000ULL
#define BOOT_IDENTITY_MAP_SIZE (1ULL << 30)
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_SPACE 0x10000ULL
#define BOOT_EBDA_ADDR 0x9fc00ULL
#define BOOT_HIGH_MEM_ADDR 0x100000ULL /* first byte a kernel may use */
#define BOOT_BZIMAGE_LOAD_ADDR 0x100000ULL
#define BOOT_BZIMAGE_ENTRY_OFFSET 0x200ULL

/* Selectors per boot.rst: __BOOT_CS 0x10, __BOOT_DS 0x18; TSS after them. */
#define BOOT_SEL_CODE 0x10
#define BOOT_SEL_DATA 0x18
#define BOOT_SEL_TSS 0x20
#define BOOT_GDT_ENTRIES 5

#define BOOT_E820_RAM 1
#define BOOT_E820_RESERVED 2

/* Command line limit when the image does not state one (ELF). */
#define BOOT_DEFAULT_CMDLINE_MAX 2047
/* initrd_addr_max for images without a setup header (x86_64 kernels). */
#define BOOT_DEFAULT_INITRD_ADDR_MAX 0x7fffffffULL

#define BOOT_MAX_SEGMENTS 16

enum boot_kernel_format { BOOT_KERNEL_ELF, BOOT_KERNEL_BZIMAGE };

struct boot_segment {
	uint64_t file_off, filesz; /* bytes copied from the file */
	uint64_t paddr, memsz; /* memsz - filesz bytes are zeroed */
};

struct boot_kernel {
	char *path;
	int fd;
	uint64_t file_size;
	enum boot_kernel_format format;
	uint64_t entry; /* guest physical 64-bit entry */
	int nsegs;
	struct boot_segment segs[BOOT_MAX_SEGMENTS];
	uint64_t load_start; /* lowest byte the kernel occupies */
	uint64_t end; /* one past the highest byte it needs (incl. init_size) */
	uint32_t cmdline_max; /* longest command line it accepts, no NUL */
	uint64_t initrd_addr_max; /* highest byte an initrd may occupy */
	/* bzImage: the setup header as in the file (offset 0x1f1 on) */
	uint8_t setup_hdr[sizeof(struct setup_header)];
	size_t setup_hdr_len; /* 0 for ELF */
};

struct boot_initrd {
	uint64_t gpa;
	uint64_t size;
};

/*
 * Open and check a kernel image without loading it: readable regular file,
 * ELF x86-64 vmlinux or 64-bit bzImage, all headers inside the file.
 * Messages name the file.  0 or -1 with err.
 */
int boot_kernel_open(struct boot_kernel *k, const char *path, char *err,
		     size_t errlen);
void boot_kernel_close(struct boot_kernel *k);

/*
 * Check that the kernel fits a guest with this memory layout: every
 * segment in RAM at or above 1 MiB, inside the identity map.  0 or -1.
 */
int boot_kernel_check_fit(const struct boot_kernel *k,
			  const struct guest_mem *layout, char *err,
			  size_t errlen);

/* Copy the kernel into guest memory.  0 or -1 with err. */
int boot_kernel_load(const struct boot_kernel *k, const struct guest_mem *m,
		     char *err, size_t errlen);

/*
 * Where an initrd of size bytes goes: page aligned, as high as possible
 * below min(low_end, addr_max + 1) and not below kernel_end.
 * 0 or -ENOSPC.
 */
int boot_initrd_place(uint64_t low_end, uint64_t kernel_end, uint64_t addr_max,
		      uint64_t size, uint64_t *gpa);

/* Read the initrd file into guest memory.  0 or -1 with err. */
int boot_initrd_load(const struct guest_mem *m, const struct boot_kernel *k,
		     const char *path, struct boot_initrd *out, char *err,
		     size_t errlen);

/* The e820 map for layout m.  Returns the number of entries (<= max). */
int boot_e820_build(const struct guest_mem *m, struct boot_e820_entry *tab,
		    int max);

/*
 * Write the zero page and the command line.  initrd may be NULL.
 * 0 or -1 with err (command line too long for the kernel).
 */
int boot_params_write(const struct guest_mem *m, const struct boot_kernel *k,
		      const char *cmdline, const struct boot_initrd *initrd,
		      char *err, size_t errlen);

/* Write the GDT and identity page tables.  0 or -EFAULT (no RAM there). */
int boot_write_cpu_tables(const struct guest_mem *m);

/* Long-mode segment and control registers matching boot_write_cpu_tables. */
void boot_sregs_long_mode(struct kvm_sregs *s);

/* 64-bit GDT descriptor -> KVM segment (limit in bytes). */
struct kvm_segment boot_gdt_to_segment(uint64_t desc, uint16_t selector);

/* The descriptors written at BOOT_GDT_ADDR. */
extern const uint64_t boot_gdt[BOOT_GDT_ENTRIES];

#endif
