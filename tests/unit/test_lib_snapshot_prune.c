/* SPDX-License-Identifier: MIT */
/*
 * Base snapshot pruning (snapshot_prune.c) on a made-up cache: the
 * current/other/stale decisions from the inputs record, snapshots without a
 * record, the /proc scan that finds a mapped memory file (this test maps
 * one itself; a crafted /proc tree for the pid and "unreadable" cases),
 * and kiln_base_snapshot_list()/_prune() through the public API.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/sandbox_config.h"
#include "lib/snapshot_base.h"
#include "lib/snapshot_prune.h"

struct tree {
	char root[64];
	char cache[96], snaps[128], kernel[128], image[128], vmm[96];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void mkdirs(const char *path)
{
	char cmd[2 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A cache with a kernel, an image, and a kiln-vmm next to it. */
static void tree_make(struct tree *t)
{
	char d[160];

	snprintf(t->root, sizeof(t->root), "/tmp/kiln-prune-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(t->cache, sizeof(t->cache), "%s/cache", t->root);
	snprintf(t->snaps, sizeof(t->snaps), "%s/snapshots", t->cache);
	snprintf(t->kernel, sizeof(t->kernel), "%s/kernel/vmlinux", t->cache);
	snprintf(t->image, sizeof(t->image), "%s/images/base.ext4", t->cache);
	snprintf(t->vmm, sizeof(t->vmm), "%s/kiln-vmm", t->root);
	mkdirs(t->snaps);
	snprintf(d, sizeof(d), "%s/kernel", t->cache);
	mkdirs(d);
	snprintf(d, sizeof(d), "%s/images", t->cache);
	mkdirs(d);
	write_file(t->kernel, "kernel");
	write_file(t->image, "image");
	write_file(t->vmm, "#!/bin/sh\n");
	assert_int_equal(chmod(t->vmm, 0755), 0);
}

static void tree_remove(struct tree *t)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
}

static void params(const struct tree *t, struct sandbox_params *p,
		   unsigned int mib)
{
	memset(p, 0, sizeof(*p));
	p->kernel = (char *)t->kernel;
	p->image = (char *)t->image;
	p->cpus = 1;
	p->memory_mib = mib;
}

/*
 * A snapshot directory for p and vmm in t, with state and mem files (mem
 * of 8 KiB) and, if record, its inputs record.  Its path in dir.
 */
static void snap_make(const struct tree *t, const struct sandbox_params *p,
		      const char *vmm, bool record, char *key, char *dir,
		      size_t len)
{
	char err[256], f[PATH_MAX];

	assert_int_equal(snapshot_base_key(p, vmm, key, err, sizeof(err)), 0);
	snprintf(dir, len, "%s/%s", t->snaps, key);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(f, sizeof(f), "%s/state", dir);
	write_file(f, "state");
	snprintf(f, sizeof(f), "%s/mem", dir);
	write_file(f, "");
	assert_int_equal(truncate(f, 8192), 0);
	snprintf(f, sizeof(f), "%s/%s.lock", t->snaps, key);
	write_file(f, "");
	if (record)
		assert_int_equal(
			snapshot_prune_record(dir, p, vmm, err, sizeof(err)),
			0);
}

static void test_judge_record(void **state)
{
	struct kiln_base_snapshot_info i;
	struct sandbox_params p, now;
	char key[17], key512[17], dir[PATH_MAX], dir512[PATH_MAX];
	char other_kernel[160];
	struct tree t;

	tree_make(&t);
	params(&t, &p, 256);
	snap_make(&t, &p, t.vmm, true, key, dir, sizeof(dir));
	params(&t, &p, 512);
	snap_make(&t, &p, t.vmm, true, key512, dir512, sizeof(dir512));
	params(&t, &now, 256);

	snapshot_prune_judge(dir, key, &now, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_CURRENT);
	assert_string_equal(i.reason, "");
	assert_int_equal(i.cpus, 1);
	assert_int_equal(i.memory_mib, 256);
	/* the record's memory size counts, not the default's */
	snapshot_prune_judge(dir512, key512, &now, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_CURRENT);
	assert_int_equal(i.memory_mib, 512);

	/* this kiln uses another kernel: still valid for the recorded one */
	snprintf(other_kernel, sizeof(other_kernel), "%s/vmlinux.new", t.root);
	write_file(other_kernel, "another kernel");
	now.kernel = other_kernel;
	snapshot_prune_judge(dir, key, &now, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_OTHER);
	assert_non_null(strstr(i.reason, t.kernel));
	/* no kiln-vmm for this kiln: nothing is current */
	params(&t, &now, 256);
	snapshot_prune_judge(dir, key, &now, NULL, &i);
	assert_int_equal(i.status, KILN_BASE_OTHER);

	/* made on another host sharing the cache: not ours to judge */
	{
		char f[PATH_MAX + 32], cmd[2 * PATH_MAX];

		snprintf(f, sizeof(f), "%s/" SNAPSHOT_RECORD, dir512);
		snprintf(cmd, sizeof(cmd),
			 "sed -i 's/\"host\": \"host /\"host\": \"other /' "
			 "'%s'",
			 f);
		assert_int_equal(system(cmd), 0);
		snapshot_prune_judge(dir512, key512, &now, t.vmm, &i);
		assert_int_equal(i.status, KILN_BASE_OTHER);
		assert_non_null(strstr(i.reason, "another host"));
		assert_int_equal(i.memory_mib, 512);
		snprintf(cmd, sizeof(cmd),
			 "sed -i 's/\"host\": \"other /\"host\": \"host /' "
			 "'%s'",
			 f);
		assert_int_equal(system(cmd), 0);
	}

	/* a rebuilt kiln-vmm (new inode, size, mtime): stale, and why */
	assert_int_equal(unlink(t.vmm), 0);
	write_file(t.vmm, "#!/bin/sh\n# rebuilt\n");
	snapshot_prune_judge(dir, key, &now, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_STALE);
	assert_non_null(strstr(i.reason, "kiln-vmm"));
	assert_non_null(strstr(i.reason, "changed since"));
	assert_null(strstr(i.reason, "kernel"));

	/* and a kernel that is gone */
	assert_int_equal(unlink(t.kernel), 0);
	snapshot_prune_judge(dir512, key512, &now, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_STALE);
	assert_non_null(strstr(i.reason, "kernel"));
	assert_non_null(strstr(i.reason, "is gone"));
	tree_remove(&t);
}

static void test_judge_no_record(void **state)
{
	struct kiln_base_snapshot_info i;
	struct sandbox_params p;
	char key[17], dir[PATH_MAX], f[PATH_MAX + 16];
	struct tree t;

	tree_make(&t);
	params(&t, &p, 256);
	snap_make(&t, &p, t.vmm, false, key, dir, sizeof(dir));
	/* an older kiln's snapshot of the default configuration */
	snapshot_prune_judge(dir, key, &p, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_CURRENT);
	assert_int_equal(i.memory_mib, 0);
	/* of anything else: cannot be told, so stale */
	p.memory_mib = 1024;
	snapshot_prune_judge(dir, key, &p, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_STALE);
	assert_non_null(strstr(i.reason, "no record"));

	/* a damaged record, or one with a key this kiln does not know, is
	 * no record: strict parsing */
	p.memory_mib = 256;
	snprintf(f, sizeof(f), "%s/" SNAPSHOT_RECORD, dir);
	write_file(f, "{\"layout\": ");
	snapshot_prune_judge(dir, key, &p, t.vmm, &i);
	assert_int_equal(i.status, KILN_BASE_CURRENT);
	assert_int_equal(i.memory_mib, 0);
	assert_int_equal(unlink(f), 0);
	assert_int_equal(snapshot_prune_record(dir, &p, t.vmm, f, 256), 0);
	snprintf(f, sizeof(f), "%s/" SNAPSHOT_RECORD, dir);
	{
		char cmd[PATH_MAX + 64];

		snprintf(cmd, sizeof(cmd),
			 "sed -i 's/\"layout\"/\"x\": 1, "
			 "\"layout\"/' '%s'",
			 f);
		assert_int_equal(system(cmd), 0);
	}
	snapshot_prune_judge(dir, key, &p, t.vmm, &i);
	assert_int_equal(i.memory_mib, 0);
	tree_remove(&t);
}

static void test_maps(void **state)
{
	struct snapshot_maps m;
	struct stat st;
	char mem[PATH_MAX], other[PATH_MAX], proc[PATH_MAX], f[PATH_MAX + 32];
	char err[256], line[PATH_MAX + 128];
	struct tree t;
	void *map;
	int fd;

	tree_make(&t);
	snprintf(mem, sizeof(mem), "%s/mem", t.root);
	snprintf(other, sizeof(other), "%s/x/mem", t.root);
	write_file(mem, "");
	assert_int_equal(truncate(mem, 8192), 0);
	snprintf(f, sizeof(f), "%s/x", t.root);
	mkdirs(f);
	write_file(other, "");

	/* the real /proc: our own mapping of mem */
	fd = open(mem, O_RDONLY);
	assert_true(fd >= 0);
	map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	assert_int_equal(snapshot_maps_scan("/proc", &m, err, sizeof(err)), 0);
	assert_int_equal(snapshot_maps_user(&m, mem), (int)getpid());
	assert_int_equal(snapshot_maps_user(&m, other), 0);
	assert_int_equal(snapshot_maps_user(&m, "/nonexistent/mem"), 0);
	snapshot_maps_free(&m);
	assert_int_equal(munmap(map, 8192), 0);
	assert_int_equal(snapshot_maps_scan("/proc", &m, err, sizeof(err)), 0);
	assert_int_equal(snapshot_maps_user(&m, mem), 0);
	snapshot_maps_free(&m);

	/* a crafted /proc: pid 123 maps "other" (by device and inode, the
	 * path it shows may be another mount's) */
	assert_int_equal(stat(other, &st), 0);
	snprintf(proc, sizeof(proc), "%s/proc", t.root);
	snprintf(f, sizeof(f), "%s/123", proc);
	mkdirs(f);
	snprintf(f, sizeof(f), "%s/123/maps", proc);
	snprintf(line, sizeof(line),
		 "7f0000000000-7f0000002000 r--p 00000000 %02x:%02x %llu "
		 "      /jail/root/some/mem\n"
		 "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n",
		 major(st.st_dev), minor(st.st_dev),
		 (unsigned long long)st.st_ino);
	write_file(f, line);
	assert_int_equal(snapshot_maps_scan(proc, &m, err, sizeof(err)), 0);
	assert_int_equal(snapshot_maps_user(&m, other), 123);
	assert_int_equal(snapshot_maps_user(&m, mem), 0);
	assert_int_equal(m.unreadable, 0);
	snapshot_maps_free(&m);

	/* a kiln-vmm whose maps cannot be read: nothing is known unused */
	snprintf(f, sizeof(f), "%s/456", proc);
	mkdirs(f);
	snprintf(f, sizeof(f), "%s/456/comm", proc);
	write_file(f, "kiln-vmm\n");
	snprintf(f, sizeof(f), "%s/456/maps", proc);
	assert_int_equal(symlink("maps", f), 0); /* ELOOP */
	assert_int_equal(snapshot_maps_scan(proc, &m, err, sizeof(err)), 0);
	assert_int_equal(m.unreadable, 456);
	assert_int_equal(snapshot_maps_user(&m, other), 123);
	assert_int_equal(snapshot_maps_user(&m, mem), -1);
	snapshot_maps_free(&m);
	/* another program's unreadable maps do not matter */
	snprintf(f, sizeof(f), "%s/456/comm", proc);
	write_file(f, "bash\n");
	assert_int_equal(snapshot_maps_scan(proc, &m, err, sizeof(err)), 0);
	assert_int_equal(snapshot_maps_user(&m, mem), 0);
	snapshot_maps_free(&m);
	assert_int_not_equal(
		snapshot_maps_scan("/nonexistent", &m, err, sizeof(err)), 0);
	tree_remove(&t);
}

static struct kiln *open_on(const struct tree *t)
{
	char st[128], rt[128];
	struct kiln_options o;
	struct kiln *k;

	snprintf(st, sizeof(st), "%s/state", t->root);
	snprintf(rt, sizeof(rt), "%s/run", t->root);
	kiln_options_init(&o);
	o.cache_dir = t->cache;
	o.state_dir = st;
	o.runtime_dir = rt;
	o.vmm_path = t->vmm;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	return k;
}

static const struct kiln_base_snapshot_info *
find(const struct kiln_base_snapshot_info *l, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].key, key))
			return &l[i];
	fail_msg("no snapshot %s in the list", key);
	return NULL;
}

static void test_list_prune(void **state)
{
	struct kiln_base_snapshot_info *l;
	struct sandbox_params p;
	char cur[17], old[17], busy[17], legacy[17] = "00000000000000ff";
	char dcur[PATH_MAX], dold[PATH_MAX], dbusy[PATH_MAX], f[PATH_MAX + 32];
	char oldvmm[160], tmp[PATH_MAX];
	struct tree t;
	struct kiln *k;
	size_t n;
	void *map;
	int fd;

	tree_make(&t);
	params(&t, &p, 256);
	snap_make(&t, &p, t.vmm, true, cur, dcur, sizeof(dcur));
	/* made by a kiln-vmm that has been rebuilt since */
	snprintf(oldvmm, sizeof(oldvmm), "%s/old-vmm", t.root);
	write_file(oldvmm, "old");
	snap_make(&t, &p, oldvmm, true, old, dold, sizeof(dold));
	p.memory_mib = 512;
	snap_make(&t, &p, oldvmm, true, busy, dbusy, sizeof(dbusy));
	write_file(oldvmm, "rebuilt, longer");
	/* an older kiln's, not the default configuration */
	snprintf(f, sizeof(f), "%s/%s", t.snaps, legacy);
	mkdirs(f);
	/* a build that was killed, and a stray file */
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", t.snaps, cur);
	mkdirs(tmp);
	snprintf(f, sizeof(f), "%s/README", t.snaps);
	write_file(f, "not a snapshot");
	/* a running sandbox maps busy's memory */
	snprintf(f, sizeof(f), "%s/mem", dbusy);
	fd = open(f, O_RDONLY);
	assert_true(fd >= 0);
	map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);

	k = open_on(&t);
	assert_int_equal(kiln_base_snapshot_list(k, &l, &n), KILN_OK);
	assert_int_equal(n, 5);
	assert_int_equal(find(l, n, cur)->status, KILN_BASE_CURRENT);
	assert_int_equal(find(l, n, cur)->in_use_pid, 0);
	assert_int_equal(find(l, n, old)->status, KILN_BASE_STALE);
	assert_non_null(strstr(find(l, n, old)->reason, "old-vmm"));
	assert_int_equal(find(l, n, busy)->status, KILN_BASE_STALE);
	assert_int_equal(find(l, n, busy)->in_use_pid, (int)getpid());
	assert_int_equal(find(l, n, busy)->memory_mib, 512);
	assert_int_equal(find(l, n, legacy)->status, KILN_BASE_STALE);
	snprintf(f, sizeof(f), "%s.tmp", cur);
	assert_int_equal(find(l, n, f)->status, KILN_BASE_STALE);
	assert_true(find(l, n, cur)->size_bytes > 0);
	kiln_base_snapshot_info_list_free(l, n);

	/* dry run: decisions, nothing removed */
	assert_int_equal(
		kiln_base_snapshot_prune(k, KILN_PRUNE_DRY_RUN, &l, &n),
		KILN_OK);
	assert_int_equal(find(l, n, old)->action, KILN_BASE_WOULD_REMOVE);
	assert_int_equal(find(l, n, busy)->action, KILN_BASE_SKIPPED);
	assert_non_null(strstr(find(l, n, busy)->note, "in use"));
	assert_int_equal(find(l, n, cur)->action, KILN_BASE_KEPT);
	kiln_base_snapshot_info_list_free(l, n);
	assert_true(exists(dold));

	/* prune: the stale unused ones and their locks */
	assert_int_equal(kiln_base_snapshot_prune(k, 0, &l, &n), KILN_OK);
	assert_int_equal(find(l, n, old)->action, KILN_BASE_REMOVED);
	assert_int_equal(find(l, n, legacy)->action, KILN_BASE_REMOVED);
	assert_int_equal(find(l, n, busy)->action, KILN_BASE_SKIPPED);
	assert_int_equal(find(l, n, cur)->action, KILN_BASE_KEPT);
	kiln_base_snapshot_info_list_free(l, n);
	assert_false(exists(dold));
	assert_false(exists(tmp));
	snprintf(f, sizeof(f), "%s.lock", dold);
	assert_false(exists(f));
	assert_true(exists(dbusy));
	assert_true(exists(dcur));

	/* --all: the current one too (its lock stays); busy still kept */
	assert_int_equal(kiln_base_snapshot_prune(k, KILN_PRUNE_ALL, &l, &n),
			 KILN_OK);
	assert_int_equal(n, 2);
	assert_int_equal(find(l, n, cur)->action, KILN_BASE_REMOVED);
	assert_int_equal(find(l, n, busy)->action, KILN_BASE_SKIPPED);
	kiln_base_snapshot_info_list_free(l, n);
	assert_false(exists(dcur));
	snprintf(f, sizeof(f), "%s.lock", dcur);
	assert_true(exists(f));

	/* unmapped: now it goes */
	assert_int_equal(munmap(map, 8192), 0);
	assert_int_equal(kiln_base_snapshot_prune(k, 0, &l, &n), KILN_OK);
	assert_int_equal(n, 1);
	assert_int_equal(l[0].action, KILN_BASE_REMOVED);
	kiln_base_snapshot_info_list_free(l, n);
	assert_false(exists(dbusy));

	assert_int_equal(kiln_base_snapshot_prune(k, 4, &l, &n), KILN_EINVAL);
	assert_null(l);
	kiln_close(k);
	tree_remove(&t);
}

static void test_no_cache(void **state)
{
	struct kiln_base_snapshot_info *l;
	struct tree t;
	struct kiln *k;
	size_t n;

	tree_make(&t);
	assert_int_equal(rmdir(t.snaps), 0);
	k = open_on(&t);
	assert_int_equal(kiln_base_snapshot_list(k, &l, &n), KILN_OK);
	assert_int_equal(n, 0);
	assert_null(l);
	assert_int_equal(kiln_base_snapshot_prune(k, KILN_PRUNE_ALL, &l, &n),
			 KILN_OK);
	assert_int_equal(n, 0);
	kiln_close(k);
	tree_remove(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge_record),
		cmocka_unit_test(test_judge_no_record),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_list_prune),
		cmocka_unit_test(test_no_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
