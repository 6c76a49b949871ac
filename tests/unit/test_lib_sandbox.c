/* SPDX-License-Identifier: MIT */
/*
 * The public sandbox API on paths that need no KVM: every failure before a
 * VM runs returns the right status and message and leaves nothing in the
 * runtime directory.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"

struct fixture {
	char top[64];
	char cache[128];
	char run[128];
	struct kiln *k;
};

static void write_bytes(const char *path, const void *buf, size_t len,
			off_t size)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(truncate(path, size), 0);
}

/* A cache with a kernel and an image that pass the checks. */
static void good_cache(struct fixture *f)
{
	static const unsigned char elf[20] = {0x7f, 'E', 'L', 'F', 2,  1, 1,
					      0,    0,	 0,   0,   0,  0, 0,
					      0,    0,	 2,   0,   62, 0};
	unsigned char sb[2048] = {0};
	char p[256];

	snprintf(p, sizeof(p), "%s/kernel", f->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/images", f->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/kernel/vmlinux", f->cache);
	write_bytes(p, elf, sizeof(elf), 4096);
	sb[1024 + 4] = 0x04; /* 1024 blocks */
	sb[1024 + 24] = 0; /* of 1 KiB */
	sb[1024 + 56] = 0x53;
	sb[1024 + 57] = 0xEF;
	snprintf(p, sizeof(p), "%s/images/base.ext4", f->cache);
	write_bytes(p, sb, sizeof(sb), 1 << 20);
}

static int open_with(struct fixture *f, const char *vmm)
{
	struct kiln_options o;

	kiln_options_init(&o);
	o.cache_dir = f->cache;
	o.state_dir = f->top;
	o.runtime_dir = f->run;
	o.vmm_path = vmm;
	kiln_close(f->k);
	f->k = NULL;
	return kiln_open(&o, &f->k);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-sandbox-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->top);
	snprintf(f->run, sizeof(f->run), "%s/run", f->top);
	assert_int_equal(mkdir(f->cache, 0700), 0);
	assert_int_equal(open_with(f, NULL), KILN_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kiln_close(f->k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The runtime directory holds no sandbox directories. */
static void assert_no_leftovers(struct fixture *f)
{
	DIR *d = opendir(f->run);
	struct dirent *de;

	if (!d)
		return; /* never created */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			fail_msg("left behind: %s/%s", f->run, de->d_name);
	}
	closedir(d);
}

static void test_check_ranges(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_config cfg = {.cpus = 33};

	assert_int_equal(kiln_sandbox_check(f->k, &cfg), KILN_EINVAL);
	assert_string_equal(kiln_errmsg(f->k), "cpus must be 1..32, not 33");
	cfg.cpus = 2;
	cfg.memory_mib = 64;
	assert_int_equal(kiln_sandbox_check(f->k, &cfg), KILN_EINVAL);
	assert_string_equal(kiln_errmsg(f->k),
			    "memory must be 128..16384 MiB, not 64");
}

static void test_create_missing_kernel(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox *sb = (struct kiln_sandbox *)1;
	char want[256];

	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_ENOTFOUND);
	assert_null(sb);
	snprintf(want, sizeof(want),
		 "kernel not found at %s/kernel/vmlinux; build it with 'make "
		 "kernel'",
		 f->cache);
	assert_string_equal(kiln_errmsg(f->k), want);
	assert_no_leftovers(f);
}

static void test_create_missing_vmm(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox *sb;

	good_cache(f);
	assert_int_equal(kiln_sandbox_check(f->k, NULL), KILN_OK);

	assert_int_equal(open_with(f, "/nonexistent/kiln-vmm"), KILN_OK);
	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k),
			       "kiln-vmm not found at /nonexistent/kiln-vmm"));

	assert_int_equal(open_with(f, "kiln-vmm-not-in-path"), KILN_OK);
	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k),
			       "kiln-vmm-not-in-path not found in PATH"));
	assert_no_leftovers(f);
}

static void test_create_no_kvm(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox *sb;

	if (access("/dev/kvm", F_OK) == 0)
		skip(); /* this host has KVM: nothing to provoke */
	good_cache(f);
	/* any executable will do: KVM is checked before it would run */
	assert_int_equal(open_with(f, "/bin/true"), KILN_OK);
	assert_int_equal(kiln_sandbox_create(f->k, NULL, &sb), KILN_EKVM);
	assert_null(sb);
	assert_non_null(strstr(kiln_errmsg(f->k), "/dev/kvm does not exist"));
	assert_no_leftovers(f);
}

static void test_run_and_exec_args(void **state)
{
	struct fixture *f = *state;
	static const char *const empty[] = {"", NULL};
	struct kiln_exec_result res;
	struct kiln_exec ex;

	kiln_exec_init(&ex);
	assert_int_equal(ex.stdin_fd, -1);
	assert_int_equal(kiln_run(f->k, NULL, &ex, &res), KILN_EINVAL);
	assert_string_equal(kiln_errmsg(f->k), "no command given");
	ex.argv = empty;
	assert_int_equal(kiln_run(f->k, NULL, &ex, &res), KILN_EINVAL);
	assert_int_equal(kiln_run(f->k, NULL, NULL, &res), KILN_EINVAL);
	assert_int_equal(kiln_sandbox_destroy(NULL), KILN_OK);
	assert_no_leftovers(f);
}

static void test_attach_errors(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox *sb = (struct kiln_sandbox *)1;
	char ep[160];

	assert_int_equal(kiln_sandbox_attach(f->k, "tcp:1.2.3.4:5", &sb),
			 KILN_EINVAL);
	assert_null(sb);
	assert_int_equal(kiln_sandbox_attach(f->k, "unix:", &sb), KILN_EINVAL);
	snprintf(ep, sizeof(ep), "unix:%s/no-agent.sock", f->top);
	assert_int_equal(kiln_sandbox_attach(f->k, ep, &sb), KILN_EGUEST);
	assert_null(sb);
	assert_non_null(strstr(kiln_errmsg(f->k), "cannot reach the agent"));
	assert_no_leftovers(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_check_ranges, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_missing_kernel,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_missing_vmm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_no_kvm, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_run_and_exec_args, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_attach_errors, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
