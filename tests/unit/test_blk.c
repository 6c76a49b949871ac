/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk against a temporary image: reads, writes, flush, GET_ID,
 * range checks, read-only drives, malformed requests, short transfers,
 * locking and image validation.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "virtio_test.h"
#include "vmm/dev/blk.h"

#define RAM_SIZE (1024 * 1024)
#define RING 0x1000
#define HDR 0x10000
#define DATA 0x20000
#define STATUS 0x40000
#define IMG_SECTORS 2048
#define IMG_SIZE (IMG_SECTORS * 512)

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

#define F_RO (1ULL << 5)

struct fix {
	struct vm vm;
	char path[64];
	struct virtio_dev *d;
	struct test_ring r;
};

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static void make_image(char *path, uint64_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	strcpy(path, "/tmp/kiln-blk-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	free(buf);
}

static struct fix *fix_new(bool read_only)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_vm_init(&f->vm, RAM_SIZE);
	make_image(f->path, IMG_SIZE);
	assert_int_equal(blk_create(&f->vm, f->path, read_only, &f->d), 0);
	test_ring_init(&f->r, &f->vm.mem, BLK_QUEUE_SIZE, RING);
	mmio_driver_init(f->d, 1ULL << VIRTIO_F_VERSION_1, &f->r, 1);
	return f;
}

static void fix_free(struct fix *f)
{
	blk_destroy(f->d);
	unlink(f->path);
	test_vm_free(&f->vm);
	free(f);
}

static uint8_t *ram(struct fix *f, uint64_t gpa)
{
	return test_gpa(&f->vm.mem, gpa, 1);
}

static void put_hdr(struct fix *f, uint64_t gpa, uint32_t type, uint64_t sector)
{
	memcpy(ram(f, gpa), &type, 4);
	memset(ram(f, gpa + 4), 0, 4);
	memcpy(ram(f, gpa + 8), &sector, 8);
}

/* Publish a chain, kick, and return the used length (status in *status). */
static uint32_t run(struct fix *f, const struct test_buf *b, int n,
		    uint64_t status_gpa, uint8_t *status)
{
	uint16_t before = test_used_idx(&f->r);
	uint32_t id, len;

	*ram(f, status_gpa) = 0xee;
	test_ring_add(&f->r, b, n);
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), (uint16_t)(before + 1));
	test_used_elem(&f->r, before, &id, &len);
	*status = *ram(f, status_gpa);
	return len;
}

/* The usual three-descriptor request: header, data, status. */
static uint32_t request(struct fix *f, uint32_t type, uint64_t sector,
			uint32_t data_len, uint8_t *status)
{
	struct test_buf b[3] = {{HDR, 16, false},
				{DATA, data_len, type != T_OUT},
				{STATUS, 1, true}};

	put_hdr(f, HDR, type, sector);
	if (data_len == 0) {
		b[1] = b[2];
		return run(f, b, 2, STATUS, status);
	}
	return run(f, b, 3, STATUS, status);
}

static void file_read(struct fix *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_features_and_config(void **state)
{
	struct fix *f = fix_new(false);
	uint64_t cap;
	uint32_t feat;

	mmio_write(f->d, 0x014, 0);
	feat = mmio_read(f->d, 0x010);
	assert_true(feat & (1U << 2)); /* SEG_MAX */
	assert_true(feat & (1U << 6)); /* BLK_SIZE */
	assert_true(feat & (1U << 9)); /* FLUSH */
	assert_false(feat & F_RO);
	assert_int_equal(mmio_read(f->d, 0x008), 2);

	cap = mmio_read(f->d, 0x100) | (uint64_t)mmio_read(f->d, 0x104) << 32;
	assert_int_equal(cap, IMG_SECTORS);
	assert_int_equal(mmio_read(f->d, 0x10c), BLK_QUEUE_SIZE - 2);
	assert_int_equal(mmio_read(f->d, 0x114), 512);
	assert_int_equal(mmio_read(f->d, 0x200), 0); /* beyond the config */
	fix_free(f);

	f = fix_new(true);
	mmio_write(f->d, 0x014, 0);
	assert_true(mmio_read(f->d, 0x010) & F_RO);
	fix_free(f);
}

static void test_read(void **state)
{
	struct fix *f = fix_new(false);
	uint8_t st;

	assert_int_equal(request(f, T_IN, 3, 1536, &st), 1536 + 1);
	assert_int_equal(st, S_OK);
	for (uint64_t i = 0; i < 1536; i++)
		assert_int_equal(*ram(f, DATA + i), pattern(3 * 512 + i));

	/* The last sector of the disk. */
	assert_int_equal(request(f, T_IN, IMG_SECTORS - 1, 512, &st), 513);
	assert_int_equal(st, S_OK);
	assert_int_equal(*ram(f, DATA + 511), pattern(IMG_SIZE - 1));
	fix_free(f);
}

/* The guest picks the segmentation: split header, odd data segments and a
 * status byte sharing the last data descriptor. */
static void test_read_odd_segments(void **state)
{
	struct fix *f = fix_new(false);
	struct test_buf b[5] = {{HDR, 10, false},
				{HDR + 10, 6, false},
				{DATA, 100, true},
				{DATA + 0x1000, 1000, true},
				{DATA + 0x2000, 437, true}};
	uint8_t st;

	put_hdr(f, HDR, T_IN, 8);
	assert_int_equal(run(f, b, 5, DATA + 0x2000 + 436, &st), 1536 + 1);
	assert_int_equal(st, S_OK);
	assert_int_equal(*ram(f, DATA), pattern(8 * 512));
	assert_int_equal(*ram(f, DATA + 99), pattern(8 * 512 + 99));
	assert_int_equal(*ram(f, DATA + 0x1000), pattern(8 * 512 + 100));
	assert_int_equal(*ram(f, DATA + 0x2000 + 435), pattern(8 * 512 + 1535));
	fix_free(f);
}

static void test_write(void **state)
{
	struct fix *f = fix_new(false);
	uint8_t buf[1024], st;
	/* Header and data in one descriptor. */
	struct test_buf b[2] = {{HDR, 16 + 1024, false}, {STATUS, 1, true}};

	memset(ram(f, DATA), 0x5a, 1024);
	assert_int_equal(request(f, T_OUT, 10, 1024, &st), 1);
	assert_int_equal(st, S_OK);
	file_read(f, 10 * 512, buf, 1024);
	for (int i = 0; i < 1024; i++)
		assert_int_equal(buf[i], 0x5a);
	file_read(f, 12 * 512, buf, 1);
	assert_int_equal(buf[0], pattern(12 * 512));

	put_hdr(f, HDR, T_OUT, 100);
	memset(ram(f, HDR + 16), 0xc3, 1024);
	assert_int_equal(run(f, b, 2, STATUS, &st), 1);
	assert_int_equal(st, S_OK);
	file_read(f, 100 * 512, buf, 1024);
	assert_int_equal(buf[0], 0xc3);
	assert_int_equal(buf[1023], 0xc3);
	fix_free(f);
}

static void test_flush_and_get_id(void **state)
{
	struct fix *f = fix_new(false);
	char want[BLK_ID_BYTES] = {0};
	const char *base;
	uint8_t st;

	assert_int_equal(request(f, T_FLUSH, 0, 0, &st), 1);
	assert_int_equal(st, S_OK);

	memset(ram(f, DATA), 0xff, BLK_ID_BYTES);
	assert_int_equal(request(f, T_GET_ID, 0, BLK_ID_BYTES, &st),
			 BLK_ID_BYTES + 1);
	assert_int_equal(st, S_OK);
	base = strrchr(f->path, '/') + 1;
	memcpy(want, base, strlen(base)); /* "kiln-blk-XXXXXX": 15 bytes */
	assert_memory_equal(ram(f, DATA), want, BLK_ID_BYTES);

	/* A smaller ID buffer gets what fits. */
	assert_int_equal(request(f, T_GET_ID, 0, 4, &st), 4 + 1);
	assert_int_equal(st, S_OK);
	fix_free(f);
}

static void test_out_of_range(void **state)
{
	struct fix *f = fix_new(false);
	const uint64_t bad[] = {IMG_SECTORS - 1, IMG_SECTORS, IMG_SECTORS + 1,
				1ULL << 55,	 1ULL << 63,  UINT64_MAX};
	uint8_t st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(request(f, T_IN, bad[i], 1024, &st), 1);
		assert_int_equal(st, S_IOERR);
		assert_int_equal(request(f, T_OUT, bad[i], 1024, &st), 1);
		assert_int_equal(st, S_IOERR);
	}
	assert_true(virtio_dev_live(f->d)); /* a request error, not fatal */
	fix_free(f);
}

static void test_read_only_drive(void **state)
{
	struct fix *f = fix_new(true);
	uint8_t buf[512], st;

	memset(ram(f, DATA), 0x77, 512);
	assert_int_equal(request(f, T_OUT, 0, 512, &st), 1);
	assert_int_equal(st, S_IOERR);
	file_read(f, 0, buf, 512);
	assert_int_equal(buf[0], pattern(0));
	assert_int_equal(buf[511], pattern(511));
	assert_int_equal(request(f, T_IN, 0, 512, &st), 513);
	assert_int_equal(st, S_OK);
	fix_free(f);
}

static void test_malformed_requests(void **state)
{
	struct fix *f = fix_new(false);
	struct test_buf short_hdr[2] = {{HDR, 8, false}, {STATUS, 1, true}};
	struct test_buf in_extra[4] = {{HDR, 16, false},
				       {HDR + 16, 512, false},
				       {DATA, 512, true},
				       {STATUS, 1, true}};
	struct test_buf out_extra[4] = {{HDR, 16, false},
					{DATA, 512, false},
					{DATA + 0x1000, 512, true},
					{STATUS, 1, true}};
	uint8_t st;

	put_hdr(f, HDR, T_IN, 0);
	assert_int_equal(run(f, short_hdr, 2, STATUS, &st), 1);
	assert_int_equal(st, S_IOERR);
	assert_int_equal(run(f, in_extra, 4, STATUS, &st), 1);
	assert_int_equal(st, S_IOERR);
	put_hdr(f, HDR, T_OUT, 0);
	assert_int_equal(run(f, out_extra, 4, STATUS, &st), 1);
	assert_int_equal(st, S_IOERR);

	/* Data must be whole sectors. */
	assert_int_equal(request(f, T_IN, 0, 511, &st), 1);
	assert_int_equal(st, S_IOERR);
	assert_int_equal(request(f, T_OUT, 0, 513, &st), 1);
	assert_int_equal(st, S_IOERR);

	/* Unknown request types. */
	assert_int_equal(request(f, 11, 0, 0, &st), 1); /* DISCARD */
	assert_int_equal(st, S_UNSUPP);
	assert_int_equal(request(f, 0xffffffffU, 0, 0, &st), 1);
	assert_int_equal(st, S_UNSUPP);
	assert_true(virtio_dev_live(f->d));
	fix_free(f);
}

/* No writable byte to report a status in: the driver is broken. */
static void test_status_byte_missing(void **state)
{
	struct fix *f = fix_new(false);
	struct test_buf b[2] = {{HDR, 16, false}, {DATA, 512, false}};

	put_hdr(f, HDR, T_OUT, 0);
	test_ring_add(&f->r, b, 2);
	mmio_write(f->d, 0x050, 0);
	assert_true(mmio_read(f->d, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(test_used_idx(&f->r), 0);
	fix_free(f);
}

/* The image shrank under us: reads past its end give zeros. */
static void test_read_past_eof(void **state)
{
	struct fix *f = fix_new(false);
	uint8_t st;

	assert_int_equal(truncate(f->path, 1000), 0);
	memset(ram(f, DATA), 0xee, 1024);
	assert_int_equal(request(f, T_IN, 1, 1024, &st), 1024 + 1);
	assert_int_equal(st, S_OK);
	assert_int_equal(*ram(f, DATA), pattern(512));
	assert_int_equal(*ram(f, DATA + 487), pattern(999));
	for (int i = 488; i < 1024; i++)
		assert_int_equal(*ram(f, DATA + i), 0);
	fix_free(f);
}

/* A write that the kernel cuts short (RLIMIT_FSIZE) and then refuses. */
static void test_short_write_then_error(void **state)
{
	struct fix *f = fix_new(false);
	struct rlimit old, lim;
	uint8_t buf[1024], st;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = IMG_SIZE - 256;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	memset(ram(f, DATA), 0x11, 1024);
	assert_int_equal(request(f, T_OUT, IMG_SECTORS - 2, 1024, &st), 1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(st, S_IOERR);
	/* The part before the limit was written, the rest was not. */
	file_read(f, IMG_SIZE - 1024, buf, 1024);
	assert_int_equal(buf[0], 0x11);
	assert_int_equal(buf[767], 0x11);
	assert_int_equal(buf[768], pattern(IMG_SIZE - 256));
	fix_free(f);
}

static void test_image_checks_and_locking(void **state)
{
	struct vm vm;
	struct virtio_dev *a, *b, *c;
	char path[64];

	test_vm_init(&vm, RAM_SIZE);
	make_image(path, 1000); /* not a multiple of 512 */
	assert_int_equal(blk_create(&vm, path, true, &a), -EINVAL);
	unlink(path);
	assert_int_equal(blk_create(&vm, path, true, &a), -ENOENT);
	assert_int_equal(blk_create(&vm, "/tmp", true, &a), -EINVAL);

	make_image(path, 4096);
	assert_int_equal(blk_create(&vm, path, false, &a), 0);
	assert_int_equal(blk_create(&vm, path, false, &b), -EBUSY);
	assert_int_equal(blk_create(&vm, path, true, &b), -EBUSY);
	blk_destroy(a);
	assert_int_equal(blk_create(&vm, path, true, &a), 0);
	assert_int_equal(blk_create(&vm, path, true, &b), 0);
	assert_int_equal(blk_create(&vm, path, false, &c), -EBUSY);
	blk_destroy(a);
	blk_destroy(b);
	unlink(path);
	test_vm_free(&vm);
}

/* A full ring of requests is served and answered in order. */
static void test_full_ring(void **state)
{
	struct fix *f = fix_new(false);
	uint32_t id, len;

	for (int i = 0; i < BLK_QUEUE_SIZE / 3; i++) {
		struct test_buf b[3] = {{HDR + 16ULL * i, 16, false},
					{DATA + 512ULL * i, 512, true},
					{STATUS + (uint64_t)i, 1, true}};

		put_hdr(f, HDR + 16ULL * i, T_IN, (uint64_t)i);
		test_ring_add(&f->r, b, 3);
	}
	mmio_write(f->d, 0x050, 0);
	assert_int_equal(test_used_idx(&f->r), BLK_QUEUE_SIZE / 3);
	for (int i = 0; i < BLK_QUEUE_SIZE / 3; i++) {
		test_used_elem(&f->r, (uint16_t)i, &id, &len);
		assert_int_equal(id, 3 * i);
		assert_int_equal(len, 513);
		assert_int_equal(*ram(f, STATUS + (uint64_t)i), S_OK);
		assert_int_equal(*ram(f, DATA + 512ULL * i),
				 pattern(512ULL * i));
	}
	assert_int_equal(f->d->interrupts, 1);
	fix_free(f);
}

/* The same device on base + overlay: the guest's writes land in the
 * overlay, the base is untouched, GET_ID names the base, reopening the
 * overlay (a restart) keeps the flushed data. */
static void test_overlay_drive(void **state)
{
	struct fix f = {0};
	char ovl[80], dir[] = "/tmp/kiln-blkovl-XXXXXX";
	uint8_t buf[1024], st;

	assert_non_null(mkdtemp(dir));
	snprintf(ovl, sizeof(ovl), "%s/root.ovl", dir);
	test_vm_init(&f.vm, RAM_SIZE);
	make_image(f.path, IMG_SIZE);
	assert_int_equal(blk_create_overlay(&f.vm, f.path, ovl, false, &f.d),
			 0);
	test_ring_init(&f.r, &f.vm.mem, BLK_QUEUE_SIZE, RING);
	mmio_driver_init(f.d, 1ULL << VIRTIO_F_VERSION_1, &f.r, 1);
	mmio_write(f.d, 0x014, 0);
	assert_false(mmio_read(f.d, 0x010) & F_RO);
	assert_int_equal(mmio_read(f.d, 0x100), IMG_SECTORS);

	/* Untouched: the base's bytes. */
	assert_int_equal(request(&f, T_IN, 3, 1536, &st), 1536 + 1);
	assert_int_equal(st, S_OK);
	for (uint64_t i = 0; i < 1536; i++)
		assert_int_equal(*ram(&f, DATA + i), pattern(3 * 512 + i));
	/* One sector in the middle of a cluster: copy-up around it. */
	memset(ram(&f, DATA), 0x5a, 512);
	assert_int_equal(request(&f, T_OUT, 9, 512, &st), 1);
	assert_int_equal(st, S_OK);
	assert_int_equal(request(&f, T_IN, 8, 1536, &st), 1536 + 1);
	assert_int_equal(st, S_OK);
	assert_int_equal(*ram(&f, DATA), pattern(8 * 512));
	assert_int_equal(*ram(&f, DATA + 511), pattern(8 * 512 + 511));
	for (int i = 512; i < 1024; i++)
		assert_int_equal(*ram(&f, DATA + i), 0x5a);
	assert_int_equal(*ram(&f, DATA + 1024), pattern(10 * 512));
	assert_int_equal(request(&f, T_FLUSH, 0, 0, &st), 1);
	assert_int_equal(st, S_OK);
	/* Out of range is refused as on a raw image. */
	assert_int_equal(request(&f, T_OUT, IMG_SECTORS - 1, 1024, &st), 1);
	assert_int_equal(st, S_IOERR);
	assert_int_equal(request(&f, T_IN, UINT64_MAX, 512, &st), 1);
	assert_int_equal(st, S_IOERR);
	assert_int_equal(blk_sync(f.d), 0);

	/* The base was never written. */
	file_read(&f, 9 * 512, buf, 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(buf[i], pattern(9 * 512 + i));
	blk_destroy(f.d);

	/* Restart on the same overlay, read-only this time. */
	assert_int_equal(blk_create_overlay(&f.vm, f.path, ovl, true, &f.d), 0);
	test_ring_init(&f.r, &f.vm.mem, BLK_QUEUE_SIZE, RING);
	mmio_driver_init(f.d, 1ULL << VIRTIO_F_VERSION_1, &f.r, 1);
	mmio_write(f.d, 0x014, 0);
	assert_true(mmio_read(f.d, 0x010) & F_RO);
	assert_int_equal(request(&f, T_IN, 9, 512, &st), 513);
	assert_int_equal(st, S_OK);
	assert_int_equal(*ram(&f, DATA + 100), 0x5a);
	assert_int_equal(request(&f, T_OUT, 9, 512, &st), 1);
	assert_int_equal(st, S_IOERR);
	blk_destroy(f.d);

	/* An overlay for another base is refused. */
	memset(buf, 0, sizeof(buf));
	int fd = open(f.path, O_WRONLY);
	assert_int_equal(pwrite(fd, buf, 512, 0), 512);
	close(fd);
	assert_int_equal(blk_create_overlay(&f.vm, f.path, ovl, false, &f.d),
			 -EINVAL);
	unlink(ovl);
	rmdir(dir);
	unlink(f.path);
	test_vm_free(&f.vm);
}

/* blk_sync() finishes a request the guest made available but whose kick
 * has not been handled yet (as when the vCPUs pause for a checkpoint). */
static void test_sync_drains_queue(void **state)
{
	struct fix *f = fix_new(false);
	struct test_buf b[3] = {
		{HDR, 16, false}, {DATA, 512, false}, {STATUS, 1, true}};
	uint8_t buf[512];
	uint32_t id, len;

	(void)state;
	put_hdr(f, HDR, T_OUT, 5);
	memset(ram(f, DATA), 0xc3, 512);
	*ram(f, STATUS) = 0xee;
	test_ring_add(&f->r, b, 3); /* no kick */
	assert_int_equal(test_used_idx(&f->r), 0);
	assert_int_equal(blk_sync(f->d), 0);
	assert_int_equal(test_used_idx(&f->r), 1);
	test_used_elem(&f->r, 0, &id, &len);
	assert_int_equal(len, 1);
	assert_int_equal(*ram(f, STATUS), S_OK);
	file_read(f, 5 * 512, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xc3);
	/* Nothing left: a second sync changes nothing. */
	assert_int_equal(blk_sync(f->d), 0);
	assert_int_equal(test_used_idx(&f->r), 1);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_features_and_config),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_read_odd_segments),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_flush_and_get_id),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_read_only_drive),
		cmocka_unit_test(test_malformed_requests),
		cmocka_unit_test(test_status_byte_missing),
		cmocka_unit_test(test_read_past_eof),
		cmocka_unit_test(test_short_write_then_error),
		cmocka_unit_test(test_image_checks_and_locking),
		cmocka_unit_test(test_full_ring),
		cmocka_unit_test(test_overlay_drive),
		cmocka_unit_test(test_sync_drains_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
