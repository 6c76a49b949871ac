/* SPDX-License-Identifier: MIT */
/*
 * Kernel image checks and loading, zero page, e820, initrd and the CPU
 * tables for a direct 64-bit boot.  See boot.h for the layout.  Every field
 * read from an image is checked against the file size before use: a
 * truncated or hostile image gets an error naming the file, not a crash.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "boot.h"

#define SETUP_HDR_OFFSET 0x1f1
#define SETUP_MAGIC 0x53726448 /* "HdrS" */
#define SETUP_MIN_VERSION 0x020c
#define SETUP_BOOT_FLAG 0xaa55
#define ELF_MAX_PHDRS 64

const uint64_t boot_gdt[BOOT_GDT_ENTRIES] = {
	0, /* null */
	0, /* unused, so the selectors match boot.rst's __BOOT_CS/__BOOT_DS */
	0x00af9b000000ffffULL, /* 0x10: 64-bit code, DPL 0 */
	0x00cf93000000ffffULL, /* 0x18: flat data */
	0x008f8b000000ffffULL, /* 0x20: TSS (busy); base 0 */
};

/* pread all of len bytes or fail (short file = corrupt image). */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static int boot_parse_elf(struct boot_kernel *k, char *err, size_t errlen)
{
	const char *path = k->path;
	Elf64_Phdr ph[ELF_MAX_PHDRS];
	Elf64_Ehdr eh;
	uint64_t lo = UINT64_MAX, hi = 0;
	bool entry_found = false;

	if (k->file_size < sizeof(eh) || pread_full(k->fd, &eh, sizeof(eh), 0))
		return errbuf_set(err, errlen, "%s: truncated ELF header",
				  path);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return errbuf_set(err, errlen,
				  "%s: not an x86-64 kernel (ELF class %u, "
				  "machine %u); kiln boots 64-bit x86 vmlinux "
				  "or bzImage",
				  path, eh.e_ident[EI_CLASS], eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return errbuf_set(
			err, errlen,
			"%s: ELF type %u is not an executable (ET_EXEC) "
			"like vmlinux; this looks like a program, "
			"library or kernel module",
			path, eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > ELF_MAX_PHDRS || eh.e_phoff > k->file_size ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) >
		    k->file_size - eh.e_phoff)
		return errbuf_set(err, errlen,
				  "%s: corrupt ELF program header table "
				  "(offset %#llx, %u entries of %u bytes)",
				  path, (unsigned long long)eh.e_phoff,
				  eh.e_phnum, eh.e_phentsize);
	if (pread_full(k->fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), eh.e_phoff))
		return errbuf_set(err, errlen,
				  "%s: cannot read program headers", path);

	k->nsegs = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (p->p_filesz > p->p_memsz || p->p_offset > k->file_size ||
		    p->p_filesz > k->file_size - p->p_offset ||
		    p->p_paddr + p->p_memsz < p->p_paddr)
			return errbuf_set(err, errlen,
					  "%s: corrupt PT_LOAD segment %d "
					  "(offset %#llx, file size %#llx, "
					  "memory size %#llx, file is %#llx "
					  "bytes)",
					  path, i,
					  (unsigned long long)p->p_offset,
					  (unsigned long long)p->p_filesz,
					  (unsigned long long)p->p_memsz,
					  (unsigned long long)k->file_size);
		if (k->nsegs >= BOOT_MAX_SEGMENTS)
			return errbuf_set(err, errlen,
					  "%s: more than %d loadable segments",
					  path, BOOT_MAX_SEGMENTS);
		k->segs[k->nsegs++] = (struct boot_segment){
			.file_off = p->p_offset,
			.filesz = p->p_filesz,
			.paddr = p->p_paddr,
			.memsz = p->p_memsz,
		};
		if (p->p_paddr < lo)
			lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz > hi)
			hi = p->p_paddr + p->p_memsz;
		/* vmlinux links its entry at the physical load address;
		 * accept a virtual one and translate it. */
		if (!entry_found && eh.e_entry >= p->p_paddr &&
		    eh.e_entry - p->p_paddr < p->p_memsz) {
			k->entry = eh.e_entry;
			entry_found = true;
		}
	}
	if (k->nsegs == 0)
		return errbuf_set(err, errlen, "%s: no loadable segments",
				  path);
	for (int i = 0; !entry_found && i < eh.e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];

		if (p->p_type == PT_LOAD && eh.e_entry >= p->p_vaddr &&
		    eh.e_entry - p->p_vaddr < p->p_memsz) {
			k->entry = eh.e_entry - p->p_vaddr + p->p_paddr;
			entry_found = true;
		}
	}
	if (!entry_found)
		return errbuf_set(err, errlen,
				  "%s: entry point %#llx is outside every "
				  "loadable segment",
				  path, (unsigned long long)eh.e_entry);
	k->format = BOOT_KERNEL_ELF;
	k->load_start = lo;
	k->end = hi;
	k->cmdline_max = BOOT_DEFAULT_CMDLINE_MAX;
	k->initrd_addr_max = BOOT_DEFAULT_INITRD_ADDR_MAX;
	k->setup_hdr_len = 0;
	return 0;
}

static int boot_parse_bzimage(struct boot_kernel *k, const uint8_t *b,
			      size_t blen, char *err, size_t errlen)
{
	const char *path = k->path;
	uint32_t setup_sects, version, xload, loadflags, init_size, align;
	uint64_t setup_size, payload, pref, base, hdr_end;

	/* The caller read at least up to the end of the 2.12 header. */
	version = (uint32_t)rd_le(b + 0x206, 2);
	if (version < SETUP_MIN_VERSION)
		return errbuf_set(
			err, errlen,
			"%s: bzImage boot protocol %u.%02u is too old; "
			"kiln needs 2.12 or newer (Linux 3.8+)",
			path, version >> 8, version & 0xff);
	if (rd_le(b + 0x1fe, 2) != SETUP_BOOT_FLAG)
		return errbuf_set(err, errlen, "%s: bzImage boot flag missing",
				  path);
	xload = (uint32_t)rd_le(b + 0x236, 2);
	loadflags = b[0x211];
	if (!(xload & XLF_KERNEL_64))
		return errbuf_set(
			err, errlen,
			"%s: bzImage has no 64-bit entry point (not an "
			"x86-64 kernel?)",
			path);
	if (!(loadflags & LOADED_HIGH))
		return errbuf_set(err, errlen,
				  "%s: zImage (loaded low) is not supported; "
				  "use a bzImage or vmlinux",
				  path);
	setup_sects = b[0x1f1] ? b[0x1f1] : 4;
	setup_size = ((uint64_t)setup_sects + 1) * 512;
	if (setup_size >= k->file_size)
		return errbuf_set(err, errlen,
				  "%s: truncated bzImage (setup is %llu bytes, "
				  "file %llu)",
				  path, (unsigned long long)setup_size,
				  (unsigned long long)k->file_size);
	payload = k->file_size - setup_size;
	init_size = (uint32_t)rd_le(b + 0x260, 4);
	pref = rd_le(b + 0x258, 8);
	align = (uint32_t)rd_le(b + 0x230, 4);

	/*
	 * The decompressor runs at the load address rounded up to
	 * kernel_alignment, but never below LOAD_PHYSICAL_ADDR (pref_address)
	 * and needs init_size bytes from there.
	 */
	base = BOOT_BZIMAGE_LOAD_ADDR;
	if (align && (align & (align - 1)) == 0)
		base = (base + align - 1) & ~((uint64_t)align - 1);
	if (pref > base && pref < (1ULL << 40))
		base = pref;
	k->format = BOOT_KERNEL_BZIMAGE;
	k->nsegs = 1;
	k->segs[0] = (struct boot_segment){.file_off = setup_size,
					   .filesz = payload,
					   .paddr = BOOT_BZIMAGE_LOAD_ADDR,
					   .memsz = payload};
	k->entry = BOOT_BZIMAGE_LOAD_ADDR + BOOT_BZIMAGE_ENTRY_OFFSET;
	k->load_start = BOOT_BZIMAGE_LOAD_ADDR;
	k->end = base + init_size;
	if (k->end < BOOT_BZIMAGE_LOAD_ADDR + payload)
		k->end = BOOT_BZIMAGE_LOAD_ADDR + payload;
	k->cmdline_max = (uint32_t)rd_le(b + 0x238, 4);
	if (k->cmdline_max == 0 || k->cmdline_max > BOOT_CMDLINE_SPACE - 1)
		k->cmdline_max = BOOT_DEFAULT_CMDLINE_MAX;
	k->initrd_addr_max = rd_le(b + 0x22c, 4);

	/* The header ends at 0x202 + the jump displacement at 0x201. */
	hdr_end = 0x202 + (uint64_t)b[0x201];
	if (hdr_end > SETUP_HDR_OFFSET + sizeof(struct setup_header))
		hdr_end = SETUP_HDR_OFFSET + sizeof(struct setup_header);
	if (hdr_end > blen)
		hdr_end = blen;
	k->setup_hdr_len = (size_t)(hdr_end - SETUP_HDR_OFFSET);
	memset(k->setup_hdr, 0, sizeof(k->setup_hdr));
	memcpy(k->setup_hdr, b + SETUP_HDR_OFFSET, k->setup_hdr_len);
	return 0;
}

int boot_kernel_open(struct boot_kernel *k, const char *path, char *err,
		     size_t errlen)
{
	uint8_t head[0x280];
	struct stat st;
	int rc;

	memset(k, 0, sizeof(*k));
	k->fd = -1;
	k->path = strdup(path);
	if (!k->path)
		return errbuf_set(err, errlen, "out of memory");
	k->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (k->fd < 0) {
		rc = errbuf_set(err, errlen, "cannot open kernel %s: %s", path,
				strerror(errno));
		goto fail;
	}
	if (fstat(k->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = errbuf_set(err, errlen, "kernel %s is not a regular file",
				path);
		goto fail;
	}
	k->file_size = (uint64_t)st.st_size;
	memset(head, 0, sizeof(head));
	if (k->file_size < 4 ||
	    pread_full(k->fd, head,
		       k->file_size < sizeof(head) ? (size_t)k->file_size
						   : sizeof(head),
		       0)) {
		rc = errbuf_set(err, errlen,
				"kernel %s is empty or unreadable (%llu bytes)",
				path, (unsigned long long)k->file_size);
		goto fail;
	}
	if (!memcmp(head, ELFMAG, SELFMAG)) {
		rc = boot_parse_elf(k, err, errlen);
	} else if (k->file_size >= sizeof(head) &&
		   rd_le(head + 0x202, 4) == SETUP_MAGIC) {
		rc = boot_parse_bzimage(k, head, sizeof(head), err, errlen);
	} else {
		rc = errbuf_set(err, errlen,
				"%s is not a Linux kernel: expected an ELF "
				"vmlinux or a bzImage",
				path);
	}
	if (rc)
		goto fail;
	return 0;
fail:
	boot_kernel_close(k);
	return -1;
}

void boot_kernel_close(struct boot_kernel *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	free(k->path);
	k->path = NULL;
}

int boot_kernel_check_fit(const struct boot_kernel *k,
			  const struct guest_mem *layout, char *err,
			  size_t errlen)
{
	uint64_t low_end = guest_mem_low_end(layout);

	for (int i = 0; i < k->nsegs; i++) {
		const struct boot_segment *s = &k->segs[i];

		if (s->paddr < BOOT_HIGH_MEM_ADDR)
			return errbuf_set(
				err, errlen,
				"%s: segment at %#llx is below 1 MiB, "
				"where the boot structures live",
				k->path, (unsigned long long)s->paddr);
	}
	if (k->end > low_end || k->end > BOOT_IDENTITY_MAP_SIZE)
		return errbuf_set(
			err, errlen,
			"%s: the kernel needs guest memory up to "
			"%#llx but the guest has RAM only up to %#llx "
			"below 4 GiB (identity map: %#llx); give the "
			"VM more memory or use a smaller kernel",
			k->path, (unsigned long long)k->end,
			(unsigned long long)low_end,
			(unsigned long long)BOOT_IDENTITY_MAP_SIZE);
	return 0;
}

int boot_kernel_load(const struct boot_kernel *k, const struct guest_mem *m,
		     char *err, size_t errlen)
{
	if (boot_kernel_check_fit(k, m, err, errlen))
		return -1;
	for (int i = 0; i < k->nsegs; i++) {
		const struct boot_segment *s = &k->segs[i];
		uint8_t *dst = guest_mem_ptr(m, s->paddr, s->memsz);
		int rc;

		if (!dst)
			return errbuf_set(
				err, errlen,
				"%s: segment [%#llx, %#llx) is not in "
				"guest RAM",
				k->path, (unsigned long long)s->paddr,
				(unsigned long long)(s->paddr + s->memsz));
		rc = pread_full(k->fd, dst, s->filesz, s->file_off);
		if (rc)
			return errbuf_set(
				err, errlen, "%s: read failed: %s", k->path,
				rc == -ENODATA ? "file shrank" : strerror(-rc));
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}

int boot_initrd_place(uint64_t low_end, uint64_t kernel_end, uint64_t addr_max,
		      uint64_t size, uint64_t *gpa)
{
	uint64_t top = low_end, addr;

	if (addr_max < UINT64_MAX && addr_max + 1 < top)
		top = addr_max + 1;
	if (size == 0 || size > top)
		return -ENOSPC;
	addr = (top - size) & ~0xfffULL;
	if (addr < kernel_end)
		return -ENOSPC;
	*gpa = addr;
	return 0;
}

int boot_initrd_load(const struct guest_mem *m, const struct boot_kernel *k,
		     const char *path, struct boot_initrd *out, char *err,
		     size_t errlen)
{
	struct stat st;
	uint64_t gpa;
	uint8_t *dst;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errbuf_set(err, errlen, "cannot open initrd %s: %s",
				  path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return errbuf_set(err, errlen,
				  "initrd %s is not a non-empty regular file",
				  path);
	}
	if (boot_initrd_place(guest_mem_low_end(m), k->end, k->initrd_addr_max,
			      (uint64_t)st.st_size, &gpa)) {
		close(fd);
		return errbuf_set(err, errlen,
				  "initrd %s (%llu bytes) does not fit between "
				  "the kernel (ends at %#llx) and the top of "
				  "low RAM / initrd_addr_max; give the VM more "
				  "memory",
				  path, (unsigned long long)st.st_size,
				  (unsigned long long)k->end);
	}
	dst = guest_mem_ptr(m, gpa, (uint64_t)st.st_size);
	rc = dst ? pread_full(fd, dst, (size_t)st.st_size, 0) : -EFAULT;
	close(fd);
	if (rc)
		return errbuf_set(
			err, errlen, "cannot read initrd %s: %s", path,
			rc == -ENODATA ? "file shrank" : strerror(-rc));
	out->gpa = gpa;
	out->size = (uint64_t)st.st_size;
	return 0;
}

static int e820_add(struct boot_e820_entry *tab, int n, int max, uint64_t addr,
		    uint64_t size, uint32_t type)
{
	if (n >= max || size == 0)
		return n;
	tab[n].addr = addr;
	tab[n].size = size;
	tab[n].type = type;
	return n + 1;
}

int boot_e820_build(const struct guest_mem *m, struct boot_e820_entry *tab,
		    int max)
{
	uint64_t low_end = guest_mem_low_end(m);
	int n = 0;

	if (low_end <= BOOT_HIGH_MEM_ADDR)
		return 0; /* guest_mem_layout never makes this */
	n = e820_add(tab, n, max, 0, BOOT_EBDA_ADDR, BOOT_E820_RAM);
	n = e820_add(tab, n, max, BOOT_EBDA_ADDR,
		     BOOT_HIGH_MEM_ADDR - BOOT_EBDA_ADDR, BOOT_E820_RESERVED);
	n = e820_add(tab, n, max, BOOT_HIGH_MEM_ADDR,
		     low_end - BOOT_HIGH_MEM_ADDR, BOOT_E820_RAM);
	for (int i = 1; i < m->nregions; i++)
		n = e820_add(tab, n, max, m->r[i].gpa, m->r[i].size,
			     BOOT_E820_RAM);
	return n;
}

int boot_params_write(const struct guest_mem *m, const struct boot_kernel *k,
		      const char *cmdline, const struct boot_initrd *initrd,
		      char *err, size_t errlen)
{
	struct boot_params *bp;
	size_t len = strlen(cmdline);
	char *cl;

	if (len > k->cmdline_max)
		return errbuf_set(
			err, errlen,
			"kernel command line is %zu bytes; %s accepts "
			"at most %u",
			len, k->path, k->cmdline_max);
	bp = guest_mem_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	cl = guest_mem_ptr(m, BOOT_CMDLINE_ADDR, len + 1);
	if (!bp || !cl)
		return errbuf_set(err, errlen,
				  "guest RAM too small for boot data");
	memset(bp, 0, sizeof(*bp));
	memcpy(cl, cmdline, len + 1);

	if (k->setup_hdr_len) {
		memcpy(&bp->hdr, k->setup_hdr, k->setup_hdr_len);
	} else {
		/* ELF: no header in the image; describe ourselves. */
		bp->hdr.boot_flag = SETUP_BOOT_FLAG;
		bp->hdr.header = SETUP_MAGIC;
		bp->hdr.version = 0x020f;
		bp->hdr.kernel_alignment = 0x1000000;
		bp->hdr.cmdline_size = k->cmdline_max;
		bp->hdr.initrd_addr_max = (uint32_t)k->initrd_addr_max;
	}
	bp->hdr.type_of_loader = 0xff; /* undefined boot loader */
	bp->hdr.loadflags |= LOADED_HIGH;
	if (k->format == BOOT_KERNEL_BZIMAGE)
		bp->hdr.code32_start = BOOT_BZIMAGE_LOAD_ADDR;
	bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	bp->ext_cmd_line_ptr = 0;
	if (initrd) {
		bp->hdr.ramdisk_image = (uint32_t)initrd->gpa;
		bp->hdr.ramdisk_size = (uint32_t)initrd->size;
		bp->ext_ramdisk_image = (uint32_t)(initrd->gpa >> 32);
		bp->ext_ramdisk_size = (uint32_t)(initrd->size >> 32);
	}
	bp->e820_entries = (uint8_t)boot_e820_build(m, bp->e820_table,
						    E820_MAX_ENTRIES_ZEROPAGE);
	return 0;
}

int boot_write_cpu_tables(const struct guest_mem *m)
{
	uint64_t *gdt = guest_mem_ptr(m, BOOT_GDT_ADDR, sizeof(boot_gdt));
	uint64_t *pml4 = guest_mem_ptr(m, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(m, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = guest_mem_ptr(m, BOOT_PD_ADDR, 4096);

	if (!gdt || !pml4 || !pdpt || !pd)
		return -EFAULT;
	memcpy(gdt, boot_gdt, sizeof(boot_gdt));
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* present | writable */
	pml4[0] = BOOT_PDPT_ADDR | 0x3;
	pdpt[0] = BOOT_PD_ADDR | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83; /* present | writable | 2 MiB page */
	return 0;
}

struct kvm_segment boot_gdt_to_segment(uint64_t desc, uint16_t selector)
{
	uint32_t limit = (uint32_t)((desc & 0xffff) | ((desc >> 32) & 0xf0000));
	struct kvm_segment s = {
		.base = ((desc >> 16) & 0xffffff) |
			(((desc >> 56) & 0xff) << 24),
		.selector = selector,
		.type = (uint8_t)((desc >> 40) & 0xf),
		.s = (uint8_t)((desc >> 44) & 1),
		.dpl = (uint8_t)((desc >> 45) & 3),
		.present = (uint8_t)((desc >> 47) & 1),
		.avl = (uint8_t)((desc >> 52) & 1),
		.l = (uint8_t)((desc >> 53) & 1),
		.db = (uint8_t)((desc >> 54) & 1),
		.g = (uint8_t)((desc >> 55) & 1),
	};

	/* KVM wants the limit in bytes. */
	s.limit = s.g ? (limit << 12) | 0xfff : limit;
	s.unusable = !s.present;
	return s;
}

void boot_sregs_long_mode(struct kvm_sregs *s)
{
	struct kvm_segment data =
		boot_gdt_to_segment(boot_gdt[BOOT_SEL_DATA / 8], BOOT_SEL_DATA);

	s->gdt.base = BOOT_GDT_ADDR;
	s->gdt.limit = sizeof(boot_gdt) - 1;
	/* No IDT: the kernel installs its own before enabling interrupts. */
	s->idt.base = 0;
	s->idt.limit = 0;
	s->cs = boot_gdt_to_segment(boot_gdt[BOOT_SEL_CODE / 8], BOOT_SEL_CODE);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = boot_gdt_to_segment(boot_gdt[BOOT_SEL_TSS / 8], BOOT_SEL_TSS);
	s->cr3 = BOOT_PML4_ADDR;
	s->cr4 = 0x20; /* PAE */
	s->cr0 = 0x80000011; /* PG | ET | PE */
	s->efer = 0x500; /* LMA | LME */
}
