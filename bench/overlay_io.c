/* SPDX-License-Identifier: MIT */
/*
 * overlay_io: throughput of the virtio-blk storage layer (blk_disk.h) on a
 * raw image vs a base + copy-on-write overlay, 4 KiB and 64 KiB clusters,
 * and the cost of a checkpoint copy of the overlay (overlay_copy).  Run by
 * hand; the numbers are host page cache + syscall cost, which is what the
 * guest sees between flushes.  Flushes are timed separately.
 *
 *   cc -O2 -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc bench/overlay_io.c \
 *      build/libvmm.a build/libkiln.a -o build/overlay_io
 *   build/overlay_io [DIR [SIZE_MIB]]        (default: /var/tmp, 512)
 *
 * Requests are what Linux sends: 128 KiB made of 32 page-sized iovecs for
 * sequential I/O, single 4 KiB pages at random 4 KiB offsets for random
 * writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/overlay_copy.h"
#include "vmm/dev/blk_disk.h"
#include "vmm/dev/blk_overlay.h"

#define REQ (128u * 1024)
#define PAGE 4096u
#define RANDOM_WRITES 20000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "overlay_io: %s failed\n", what);
	exit(1);
}

static uint8_t *buf;

/* Sequential pass over the disk in REQ-sized, page-split requests. */
static double seq(struct blk_disk *d, bool write)
{
	uint64_t size = blk_disk_size(d), done;
	struct iovec iov[REQ / PAGE];
	double t = now();

	for (uint64_t off = 0; off + REQ <= size; off += REQ) {
		for (unsigned int i = 0; i < REQ / PAGE; i++)
			iov[i] = (struct iovec){buf + i * PAGE, PAGE};
		if ((write ? blk_disk_write(d, iov, REQ / PAGE, off, &done)
			   : blk_disk_read(d, iov, REQ / PAGE, off, &done)) ||
		    done != REQ)
			die(write ? "write" : "read");
	}
	return (double)size / (now() - t) / 1e6;
}

/* Random page writes; returns writes per second. */
static double random_writes(struct blk_disk *d)
{
	uint64_t pages = blk_disk_size(d) / PAGE, x = 88172645463325252ULL;
	uint64_t done;
	double t = now();

	for (int i = 0; i < RANDOM_WRITES; i++) {
		struct iovec iov = {buf, PAGE};

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (blk_disk_write(d, &iov, 1, x % pages * PAGE, &done))
			die("random write");
	}
	return RANDOM_WRITES / (now() - t);
}

static double flush_ms(struct blk_disk *d)
{
	double t = now();

	if (blk_disk_flush(d))
		die("flush");
	return (now() - t) * 1e3;
}

static uint64_t allocated_kib(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		die("stat");
	return (uint64_t)st.st_blocks / 2;
}

static struct blk_disk *overlay_new(const char *base, const char *ovl,
				    uint32_t cs, double *ms)
{
	struct blk_disk *d;
	double t = now();

	unlink(ovl);
	if (blk_disk_open_overlay(base, ovl, false, cs, &d))
		die("overlay create+open");
	*ms = (now() - t) * 1e3;
	return d;
}

static void overlay_runs(const char *dir, const char *base, uint32_t cs)
{
	char ovl[512], copy[512], err[256];
	unsigned int k = cs / 1024;
	struct blk_disk *d;
	double t, v, ms;
	uint64_t copied;

	snprintf(ovl, sizeof(ovl), "%s/bench-%u.ovl", dir, cs);
	snprintf(copy, sizeof(copy), "%s/bench-%u.copy", dir, cs);

	d = overlay_new(base, ovl, cs, &ms);
	printf("overlay %2u KiB: create+open %.2f ms\n", k, ms);
	v = seq(d, false);
	printf("overlay %2u KiB: seq read, untouched (base)   %7.0f MB/s\n", k,
	       v);
	v = seq(d, true);
	printf("overlay %2u KiB: seq write, fresh (allocates) %7.0f MB/s, ", k,
	       v);
	printf("flush %.1f ms\n", flush_ms(d));
	v = seq(d, true);
	printf("overlay %2u KiB: seq write, allocated         %7.0f MB/s, ", k,
	       v);
	printf("flush %.1f ms\n", flush_ms(d));
	v = seq(d, false);
	printf("overlay %2u KiB: seq read, allocated          %7.0f MB/s\n", k,
	       v);
	blk_disk_close(d);
	t = now();
	if (blk_disk_open_overlay(base, ovl, false, cs, &d))
		die("overlay reopen");
	printf("overlay %2u KiB: reopen (fingerprint+bitmap)  %.2f ms\n", k,
	       (now() - t) * 1e3);
	blk_disk_close(d);

	d = overlay_new(base, ovl, cs, &ms);
	v = random_writes(d);
	printf("overlay %2u KiB: random 4 KiB writes, fresh   %7.0f /s, ", k,
	       v);
	printf("flush %.1f ms, ", flush_ms(d));
	printf("overlay %" PRIu64 " KiB on disk\n", allocated_kib(ovl));
	unlink(copy);
	t = now();
	if (overlay_copy(ovl, copy, &copied, err, sizeof(err)))
		die(err);
	printf("overlay %2u KiB: checkpoint copy of that      %.1f ms "
	       "(%" PRIu64 " KiB of data)\n",
	       k, (now() - t) * 1e3, copied / 1024);
	unlink(copy);
	blk_disk_close(d);
	unlink(ovl);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/var/tmp";
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 0) : 512) << 20;
	char base[512], raw[512];
	struct blk_disk *d;
	double w, r;
	int fd;

	buf = aligned_alloc(PAGE, REQ);
	if (!buf)
		die("malloc");
	for (unsigned int i = 0; i < REQ; i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	snprintf(base, sizeof(base), "%s/bench-base.img", dir);
	snprintf(raw, sizeof(raw), "%s/bench-raw.img", dir);
	for (int f = 0; f < 2; f++) {
		const char *p = f ? raw : base;

		unlink(p);
		fd = open(p, O_CREAT | O_WRONLY, 0600);
		if (fd < 0)
			die("create image");
		for (uint64_t off = 0; off < size; off += REQ)
			if (pwrite(fd, buf, REQ, (off_t)off) != REQ)
				die("fill image");
		fsync(fd);
		close(fd);
	}
	printf("disk %" PRIu64 " MiB in %s, %u KiB requests\n", size >> 20, dir,
	       REQ / 1024);

	if (blk_disk_open_raw(raw, false, &d))
		die("raw open");
	r = seq(d, false);
	printf("raw:            seq read                     %7.0f MB/s\n", r);
	w = seq(d, true);
	printf("raw:            seq write                    %7.0f MB/s, "
	       "flush %.1f ms\n",
	       w, flush_ms(d));
	r = random_writes(d);
	printf("raw:            random 4 KiB writes          %7.0f /s, ", r);
	printf("flush %.1f ms\n", flush_ms(d));
	blk_disk_close(d);
	/* Baseline for allocating writes: a raw image that is all holes. */
	unlink(raw);
	fd = open(raw, O_CREAT | O_WRONLY, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		die("sparse raw image");
	close(fd);
	if (blk_disk_open_raw(raw, false, &d))
		die("raw open");
	w = seq(d, true);
	printf("raw:            seq write, sparse (allocates) %6.0f MB/s, ", w);
	printf("flush %.1f ms\n", flush_ms(d));
	blk_disk_close(d);

	overlay_runs(dir, base, 4096);
	overlay_runs(dir, base, 65536);
	unlink(base);
	unlink(raw);
	free(buf);
	return 0;
}
