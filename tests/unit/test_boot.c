/* SPDX-License-Identifier: MIT */
/*
 * Kernel loading and boot data: synthetic ELF vmlinux and bzImage files
 * are built here, loaded into guest RAM, and the zero page, e820 map,
 * initrd placement and CPU tables are checked field by field.  Corrupt
 * images must be rejected with a message naming the file.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/boot.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kiln-test-boot-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* ---- synthetic ELF vmlinux: two PT_LOADs, the second with .bss ---- */

#define ELF_PADDR 0x1000000ULL
#define ELF_VADDR 0xffffffff81000000ULL
#define SEG0_SIZE 0x3000
#define SEG1_FILESZ 0x800
#define SEG1_MEMSZ 0x5000
#define ELF_DATA_OFF 0x1000

struct elf_image {
	uint8_t *buf;
	size_t len;
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

static struct elf_image elf_build(void)
{
	struct elf_image im;

	im.len = ELF_DATA_OFF + SEG0_SIZE + SEG1_FILESZ;
	im.buf = calloc(1, im.len);
	assert_non_null(im.buf);
	im.eh = (Elf64_Ehdr *)im.buf;
	im.ph = (Elf64_Phdr *)(im.buf + sizeof(Elf64_Ehdr));
	memcpy(im.eh->e_ident, ELFMAG, SELFMAG);
	im.eh->e_ident[EI_CLASS] = ELFCLASS64;
	im.eh->e_ident[EI_DATA] = ELFDATA2LSB;
	im.eh->e_ident[EI_VERSION] = EV_CURRENT;
	im.eh->e_type = ET_EXEC;
	im.eh->e_machine = EM_X86_64;
	im.eh->e_version = EV_CURRENT;
	im.eh->e_entry = ELF_PADDR + 0x40; /* physical, like vmlinux */
	im.eh->e_phoff = sizeof(Elf64_Ehdr);
	im.eh->e_ehsize = sizeof(Elf64_Ehdr);
	im.eh->e_phentsize = sizeof(Elf64_Phdr);
	im.eh->e_phnum = 3;
	im.ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_offset = ELF_DATA_OFF,
				.p_vaddr = ELF_VADDR,
				.p_paddr = ELF_PADDR,
				.p_filesz = SEG0_SIZE,
				.p_memsz = SEG0_SIZE};
	im.ph[1] = (Elf64_Phdr){.p_type = PT_NOTE,
				.p_offset = 0x200,
				.p_filesz = 0x10,
				.p_memsz = 0x10};
	im.ph[2] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_offset = ELF_DATA_OFF + SEG0_SIZE,
				.p_vaddr = ELF_VADDR + 0x10000,
				.p_paddr = ELF_PADDR + 0x10000,
				.p_filesz = SEG1_FILESZ,
				.p_memsz = SEG1_MEMSZ};
	memset(im.buf + ELF_DATA_OFF, 0xa1, SEG0_SIZE);
	memset(im.buf + ELF_DATA_OFF + SEG0_SIZE, 0xb2, SEG1_FILESZ);
	return im;
}

static void test_elf_load(void **state)
{
	struct elf_image im = elf_build();
	struct boot_kernel k;
	struct guest_mem m;
	char err[256];
	const char *path = write_file("vmlinux", im.buf, im.len);
	uint8_t *p;

	(void)state;
	assert_int_equal(boot_kernel_open(&k, path, err, sizeof(err)), 0);
	assert_int_equal(k.format, BOOT_KERNEL_ELF);
	assert_int_equal(k.entry, ELF_PADDR + 0x40);
	assert_int_equal(k.nsegs, 2);
	assert_int_equal(k.load_start, ELF_PADDR);
	assert_int_equal(k.end, ELF_PADDR + 0x10000 + SEG1_MEMSZ);
	assert_int_equal(k.setup_hdr_len, 0);

	assert_int_equal(guest_mem_alloc(&m, 128 * MIB), 0);
	/* dirty the .bss area: loading must zero it */
	memset(guest_mem_ptr(&m, ELF_PADDR + 0x10000, SEG1_MEMSZ), 0xee,
	       SEG1_MEMSZ);
	assert_int_equal(boot_kernel_load(&k, &m, err, sizeof(err)), 0);
	p = guest_mem_ptr(&m, ELF_PADDR, SEG0_SIZE);
	assert_int_equal(p[0], 0xa1);
	assert_int_equal(p[SEG0_SIZE - 1], 0xa1);
	p = guest_mem_ptr(&m, ELF_PADDR + 0x10000, SEG1_MEMSZ);
	assert_int_equal(p[0], 0xb2);
	assert_int_equal(p[SEG1_FILESZ - 1], 0xb2);
	assert_int_equal(p[SEG1_FILESZ], 0);
	assert_int_equal(p[SEG1_MEMSZ - 1], 0);
	guest_mem_free(&m);
	boot_kernel_close(&k);
	free(im.buf);
}

static void test_elf_virtual_entry(void **state)
{
	struct elf_image im = elf_build();
	struct boot_kernel k;
	char err[256];

	(void)state;
	im.eh->e_entry = ELF_VADDR + 0x123;
	assert_int_equal(boot_kernel_open(&k, write_file("v", im.buf, im.len),
					  err, sizeof(err)),
			 0);
	assert_int_equal(k.entry, ELF_PADDR + 0x123);
	boot_kernel_close(&k);
	free(im.buf);
}

/* Open must fail and the message must name the file. */
static void expect_reject(const void *data, size_t len, const char *what)
{
	struct boot_kernel k;
	char err[256] = "";
	const char *path = write_file("bad", data, len);

	assert_int_equal(boot_kernel_open(&k, path, err, sizeof(err)), -1);
	if (!strstr(err, path))
		fail_msg("%s: message does not name the file: %s", what, err);
	if (!strstr(err, what))
		fail_msg("expected \"%s\" in: %s", what, err);
	assert_int_equal(k.fd, -1);
}

static void test_elf_corrupt(void **state)
{
	struct elf_image im;

	(void)state;
	im = elf_build();
	expect_reject(im.buf, 40, "truncated ELF header");

	im.eh->e_machine = EM_AARCH64;
	expect_reject(im.buf, im.len, "not an x86-64 kernel");
	im.eh->e_machine = EM_X86_64;

	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	expect_reject(im.buf, im.len, "not an x86-64 kernel");
	im.eh->e_ident[EI_CLASS] = ELFCLASS64;

	im.eh->e_type = ET_DYN;
	expect_reject(im.buf, im.len, "not an executable");
	im.eh->e_type = ET_EXEC;

	im.eh->e_phoff = im.len - 8;
	expect_reject(im.buf, im.len, "program header table");
	im.eh->e_phoff = sizeof(Elf64_Ehdr);

	im.eh->e_phentsize = 32;
	expect_reject(im.buf, im.len, "program header table");
	im.eh->e_phentsize = sizeof(Elf64_Phdr);

	im.eh->e_phnum = 0;
	expect_reject(im.buf, im.len, "program header table");
	im.eh->e_phnum = 3;

	/* segment data beyond the end of the file (truncated vmlinux) */
	expect_reject(im.buf, im.len - 1, "corrupt PT_LOAD");

	im.ph[0].p_offset = UINT64_MAX - 4;
	expect_reject(im.buf, im.len, "corrupt PT_LOAD");
	im.ph[0].p_offset = ELF_DATA_OFF;

	im.ph[2].p_filesz = SEG1_MEMSZ + 1;
	expect_reject(im.buf, im.len, "corrupt PT_LOAD");
	im.ph[2].p_filesz = SEG1_FILESZ;

	im.ph[2].p_paddr = UINT64_MAX - 0x100;
	expect_reject(im.buf, im.len, "corrupt PT_LOAD");
	im.ph[2].p_paddr = ELF_PADDR + 0x10000;

	im.eh->e_entry = 0x5000;
	expect_reject(im.buf, im.len, "entry point");
	im.eh->e_entry = ELF_PADDR;

	im.ph[0].p_type = PT_NULL;
	im.ph[2].p_type = PT_NULL;
	expect_reject(im.buf, im.len, "no loadable segments");
	free(im.buf);
}

static void test_not_a_kernel(void **state)
{
	uint8_t junk[4096];
	struct boot_kernel k;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	expect_reject(junk, sizeof(junk), "is not a Linux kernel");
	expect_reject("#!/bin/sh\n", 10, "is not a Linux kernel");
	expect_reject("", 0, "empty");

	assert_int_equal(
		boot_kernel_open(&k, "/nonexistent/vmlinux", err, sizeof(err)),
		-1);
	assert_non_null(strstr(err, "/nonexistent/vmlinux"));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(boot_kernel_open(&k, tmpdir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_fit(void **state)
{
	struct elf_image im = elf_build();
	struct boot_kernel k;
	struct guest_mem layout;
	char err[256];

	(void)state;
	assert_int_equal(guest_mem_layout(&layout, 128 * MIB), 0);
	/* a kernel linked at 200 MiB does not fit a 128 MiB guest */
	im.ph[2].p_paddr = 200 * MIB;
	assert_int_equal(boot_kernel_open(&k, write_file("big", im.buf, im.len),
					  err, sizeof(err)),
			 0);
	assert_int_equal(boot_kernel_check_fit(&k, &layout, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "more memory"));
	boot_kernel_close(&k);

	/* below 1 MiB it would overwrite the zero page and page tables */
	im.ph[2].p_paddr = ELF_PADDR + 0x10000;
	im.ph[0].p_paddr = 0x8000;
	im.eh->e_entry = 0x8000;
	assert_int_equal(boot_kernel_open(&k, write_file("low", im.buf, im.len),
					  err, sizeof(err)),
			 0);
	assert_int_equal(boot_kernel_check_fit(&k, &layout, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "below 1 MiB"));
	boot_kernel_close(&k);
	free(im.buf);
}

/* ---- synthetic bzImage ---- */

#define BZ_SETUP_SECTS 4
#define BZ_PAYLOAD 0x2000
#define BZ_INIT_SIZE 0x800000
#define BZ_PREF 0x1000000

static void put(uint8_t *b, size_t off, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *bz_build(size_t *len)
{
	size_t setup = (BZ_SETUP_SECTS + 1) * 512;
	uint8_t *b = calloc(1, setup + BZ_PAYLOAD);

	assert_non_null(b);
	b[0x1f1] = BZ_SETUP_SECTS;
	put(b, 0x1fe, 0xaa55, 2);
	b[0x200] = 0xeb;
	b[0x201] = 0x6a; /* header ends at 0x26c */
	put(b, 0x202, 0x53726448, 4);
	put(b, 0x206, 0x020f, 2);
	b[0x211] = 0x01; /* LOADED_HIGH */
	put(b, 0x214, 0x100000, 4); /* code32_start */
	put(b, 0x22c, 0x7fffffff, 4); /* initrd_addr_max */
	put(b, 0x230, 0x200000, 4); /* kernel_alignment */
	b[0x234] = 1; /* relocatable */
	put(b, 0x236, 0x1, 2); /* XLF_KERNEL_64 */
	put(b, 0x238, 2047, 4); /* cmdline_size */
	put(b, 0x258, BZ_PREF, 8);
	put(b, 0x260, BZ_INIT_SIZE, 4);
	memset(b + setup, 0xc3, BZ_PAYLOAD);
	*len = setup + BZ_PAYLOAD;
	return b;
}

static void test_bzimage_params(void **state)
{
	size_t len;
	uint8_t *b = bz_build(&len);
	struct boot_kernel k;
	struct guest_mem m;
	struct boot_params *bp;
	struct boot_initrd initrd = {.gpa = 0x7f00000, .size = 0x1234};
	char err[256];
	const char *cmd = "console=ttyS0 panic=-1";
	uint8_t *p;

	(void)state;
	assert_int_equal(boot_kernel_open(&k, write_file("bzImage", b, len),
					  err, sizeof(err)),
			 0);
	assert_int_equal(k.format, BOOT_KERNEL_BZIMAGE);
	assert_int_equal(k.entry, 0x100200);
	assert_int_equal(k.nsegs, 1);
	assert_int_equal(k.segs[0].paddr, 0x100000);
	assert_int_equal(k.segs[0].file_off, (BZ_SETUP_SECTS + 1) * 512);
	assert_int_equal(k.segs[0].filesz, BZ_PAYLOAD);
	/* the decompressor works at pref_address for init_size bytes */
	assert_int_equal(k.end, BZ_PREF + BZ_INIT_SIZE);
	assert_int_equal(k.cmdline_max, 2047);
	assert_int_equal(k.initrd_addr_max, 0x7fffffff);
	assert_int_equal(k.setup_hdr_len, 0x26c - 0x1f1);

	assert_int_equal(guest_mem_alloc(&m, 256 * MIB), 0);
	assert_int_equal(boot_kernel_load(&k, &m, err, sizeof(err)), 0);
	p = guest_mem_ptr(&m, 0x100000, BZ_PAYLOAD);
	assert_int_equal(p[0], 0xc3);
	assert_int_equal(p[BZ_PAYLOAD - 1], 0xc3);

	assert_int_equal(
		boot_params_write(&m, &k, cmd, &initrd, err, sizeof(err)), 0);
	bp = guest_mem_ptr(&m, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	/* copied from the image */
	assert_int_equal(bp->hdr.setup_sects, BZ_SETUP_SECTS);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.xloadflags, 1);
	assert_int_equal(bp->hdr.init_size, BZ_INIT_SIZE);
	assert_int_equal(bp->hdr.pref_address, BZ_PREF);
	/* filled in by the loader */
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_true(bp->hdr.loadflags & 1);
	assert_int_equal(bp->hdr.code32_start, 0x100000);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_string_equal((char *)guest_mem_ptr(&m, BOOT_CMDLINE_ADDR, 1),
			    cmd);
	assert_int_equal(bp->hdr.ramdisk_image, 0x7f00000);
	assert_int_equal(bp->hdr.ramdisk_size, 0x1234);
	assert_int_equal(bp->ext_ramdisk_image, 0);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	assert_int_equal(bp->e820_entries, 3);
	guest_mem_free(&m);
	boot_kernel_close(&k);
	free(b);
}

static void test_bzimage_reject(void **state)
{
	size_t len;
	uint8_t *b = bz_build(&len);

	(void)state;
	put(b, 0x206, 0x020b, 2);
	expect_reject(b, len, "too old");
	put(b, 0x206, 0x020f, 2);

	put(b, 0x236, 0, 2);
	expect_reject(b, len, "no 64-bit entry");
	put(b, 0x236, 1, 2);

	b[0x211] = 0;
	expect_reject(b, len, "loaded low");
	b[0x211] = 1;

	put(b, 0x1fe, 0, 2);
	expect_reject(b, len, "boot flag");
	put(b, 0x1fe, 0xaa55, 2);

	/* setup sectors cover the whole file: no kernel payload */
	b[0x1f1] = 0x7f;
	expect_reject(b, len, "truncated bzImage");
	free(b);
}

static void test_elf_params(void **state)
{
	struct elf_image im = elf_build();
	struct boot_kernel k;
	struct guest_mem m;
	struct boot_params *bp;
	char err[256], longcmd[3000];

	(void)state;
	assert_int_equal(boot_kernel_open(&k, write_file("vm", im.buf, im.len),
					  err, sizeof(err)),
			 0);
	assert_int_equal(guest_mem_alloc(&m, 128 * MIB), 0);
	assert_int_equal(boot_params_write(&m, &k, "root=/dev/vda", NULL, err,
					   sizeof(err)),
			 0);
	bp = guest_mem_ptr(&m, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_true(bp->hdr.version >= 0x020c);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	assert_int_equal(bp->hdr.code32_start, 0);
	assert_int_equal(bp->e820_entries, 3);
	assert_int_equal(bp->e820_table[2].size, 127 * MIB);

	memset(longcmd, 'a', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = '\0';
	assert_int_equal(
		boot_params_write(&m, &k, longcmd, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 2047"));
	guest_mem_free(&m);
	boot_kernel_close(&k);
	free(im.buf);
}

static void test_e820(void **state)
{
	struct boot_e820_entry t[8];
	struct guest_mem m;
	int n;

	(void)state;
	assert_int_equal(guest_mem_layout(&m, 256 * MIB), 0);
	n = boot_e820_build(&m, t, 8);
	assert_int_equal(n, 3);
	assert_int_equal(t[0].addr, 0);
	assert_int_equal(t[0].size, 0x9fc00);
	assert_int_equal(t[0].type, BOOT_E820_RAM);
	assert_int_equal(t[1].addr, 0x9fc00);
	assert_int_equal(t[1].addr + t[1].size, 0x100000);
	assert_int_equal(t[1].type, BOOT_E820_RESERVED);
	assert_int_equal(t[2].addr, 0x100000);
	assert_int_equal(t[2].size, 255 * MIB);
	assert_int_equal(t[2].type, BOOT_E820_RAM);

	/* above the hole: the hole is not RAM, the rest is at 4 GiB */
	assert_int_equal(guest_mem_layout(&m, 5 * GIB), 0);
	n = boot_e820_build(&m, t, 8);
	assert_int_equal(n, 4);
	assert_int_equal(t[2].addr + t[2].size, 3 * GIB);
	assert_int_equal(t[3].addr, 4 * GIB);
	assert_int_equal(t[3].size, 2 * GIB);
	assert_int_equal(t[3].type, BOOT_E820_RAM);

	/* a short table is never overrun */
	assert_int_equal(boot_e820_build(&m, t, 2), 2);
}

static void test_initrd_place(void **state)
{
	uint64_t gpa;

	(void)state;
	/* top of a 128 MiB guest, page aligned */
	assert_int_equal(boot_initrd_place(128 * MIB, 17 * MIB, 0x7fffffff,
					   0x1801, &gpa),
			 0);
	assert_int_equal(gpa, 128 * MIB - 0x2000);
	assert_int_equal(gpa & 0xfff, 0);
	/* initrd_addr_max below the top of RAM wins */
	assert_int_equal(
		boot_initrd_place(3 * GIB, 17 * MIB, 0x37ffffff, 0x1000, &gpa),
		0);
	assert_int_equal(gpa, 0x38000000 - 0x1000);
	/* would overlap the kernel */
	assert_int_equal(boot_initrd_place(128 * MIB, 100 * MIB, 0x7fffffff,
					   40 * MIB, &gpa),
			 -ENOSPC);
	assert_int_equal(boot_initrd_place(128 * MIB, 1 * MIB, 0x7fffffff,
					   200 * MIB, &gpa),
			 -ENOSPC);
	assert_int_equal(
		boot_initrd_place(128 * MIB, 1 * MIB, 0x7fffffff, 0, &gpa),
		-ENOSPC);
}

static void test_initrd_load(void **state)
{
	struct elf_image im = elf_build();
	struct boot_kernel k;
	struct boot_initrd rd;
	struct guest_mem m;
	uint8_t data[10000];
	char err[256];
	const char *kpath = strdup(write_file("vmlinux", im.buf, im.len));

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	assert_int_equal(boot_kernel_open(&k, kpath, err, sizeof(err)), 0);
	assert_int_equal(guest_mem_alloc(&m, 128 * MIB), 0);
	assert_int_equal(
		boot_initrd_load(&m, &k,
				 write_file("initrd", data, sizeof(data)), &rd,
				 err, sizeof(err)),
		0);
	assert_int_equal(rd.size, sizeof(data));
	assert_int_equal(rd.gpa & 0xfff, 0);
	assert_true(rd.gpa >= k.end);
	assert_true(rd.gpa + rd.size <= 128 * MIB);
	assert_memory_equal(guest_mem_ptr(&m, rd.gpa, rd.size), data,
			    sizeof(data));

	assert_int_equal(boot_initrd_load(&m, &k, write_file("empty", "", 0),
					  &rd, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(boot_initrd_load(&m, &k, "/nonexistent/initrd", &rd,
					  err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/initrd"));
	guest_mem_free(&m);
	boot_kernel_close(&k);
	free((void *)kpath);
	free(im.buf);
}

static void test_cpu_tables(void **state)
{
	struct guest_mem m;
	struct kvm_sregs s;
	struct kvm_segment seg;
	uint64_t *pml4, *pdpt, *pd, *gdt;

	(void)state;
	assert_int_equal(guest_mem_alloc(&m, 128 * MIB), 0);
	assert_int_equal(boot_write_cpu_tables(&m), 0);
	pml4 = guest_mem_ptr(&m, BOOT_PML4_ADDR, 4096);
	pdpt = guest_mem_ptr(&m, BOOT_PDPT_ADDR, 4096);
	pd = guest_mem_ptr(&m, BOOT_PD_ADDR, 4096);
	gdt = guest_mem_ptr(&m, BOOT_GDT_ADDR, 8 * BOOT_GDT_ENTRIES);
	assert_int_equal(pml4[0], BOOT_PDPT_ADDR | 3);
	assert_int_equal(pml4[1], 0);
	assert_int_equal(pdpt[0], BOOT_PD_ADDR | 3);
	assert_int_equal(pd[0], 0x83);
	assert_int_equal(pd[511], (511ULL << 21) | 0x83);
	assert_int_equal(gdt[BOOT_SEL_CODE / 8], 0x00af9b000000ffffULL);
	assert_int_equal(gdt[BOOT_SEL_DATA / 8], 0x00cf93000000ffffULL);

	memset(&s, 0, sizeof(s));
	boot_sregs_long_mode(&s);
	assert_int_equal(s.cs.selector, 0x10); /* __BOOT_CS */
	assert_int_equal(s.cs.l, 1);
	assert_int_equal(s.cs.db, 0);
	assert_int_equal(s.cs.type, 0xb);
	assert_int_equal(s.cs.present, 1);
	assert_int_equal(s.cs.limit, 0xffffffff);
	assert_int_equal(s.ds.selector, 0x18); /* __BOOT_DS */
	assert_int_equal(s.ss.selector, 0x18);
	assert_int_equal(s.ds.type, 0x3);
	assert_int_equal(s.ds.db, 1);
	assert_int_equal(s.tr.selector, 0x20);
	assert_int_equal(s.tr.type, 0xb);
	assert_int_equal(s.tr.s, 0);
	assert_int_equal(s.cr3, BOOT_PML4_ADDR);
	assert_true(s.cr0 & 0x80000000); /* PG */
	assert_true(s.cr0 & 1); /* PE */
	assert_true(s.cr4 & 0x20); /* PAE */
	assert_int_equal(s.efer & 0x500, 0x500);
	assert_int_equal(s.gdt.base, BOOT_GDT_ADDR);
	assert_int_equal(s.gdt.limit, 8 * BOOT_GDT_ENTRIES - 1);

	/* base 0xab561234, limit 0x5678 bytes, D/B set, code */
	seg = boot_gdt_to_segment(0xab409a5612345678ULL, 0x8);
	assert_int_equal(seg.base, 0xab561234);
	assert_int_equal(seg.type, 0xa);
	assert_int_equal(seg.limit, 0x5678);
	assert_int_equal(seg.g, 0);
	assert_int_equal(seg.db, 1);
	guest_mem_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_load),
		cmocka_unit_test(test_elf_virtual_entry),
		cmocka_unit_test(test_elf_corrupt),
		cmocka_unit_test(test_not_a_kernel),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_bzimage_params),
		cmocka_unit_test(test_bzimage_reject),
		cmocka_unit_test(test_elf_params),
		cmocka_unit_test(test_e820),
		cmocka_unit_test(test_initrd_place),
		cmocka_unit_test(test_initrd_load),
		cmocka_unit_test(test_cpu_tables),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
