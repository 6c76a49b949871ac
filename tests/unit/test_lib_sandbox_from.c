/* SPDX-License-Identifier: MIT */
/*
 * Creating a sandbox from a checkpoint (kiln_sandbox_config
 * .from_checkpoint, src/lib/sandbox_from.c) without a VM: the
 * "SANDBOX:NAME" syntax, the merge with the checkpointed sandbox's
 * configuration (its kernel, image, vCPUs and memory win; conflicting
 * values are refused), and kiln_sandbox_create()'s errors for unknown
 * sandboxes and checkpoints against an in-memory state store, which leave
 * nothing recorded.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/sandbox_from.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"

struct fixture {
	char top[64];
	char cp[128]; /* a checkpoint's directory: state, mem, root.ovl */
	char kernel[256], image[256];
	char err[1024];
	struct kiln *k;
	struct state_sandbox src;
};

static void touch(const char *dir, const char *name, char *out, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	if (out)
		snprintf(out, len, "%s", path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kiln_options o;
	struct state_new n = {.name = "src"};
	struct state_update u = {.status = STATE_SB_STOPPED};
	struct state_checkpoint cp = {0};
	struct state *st;
	char config[1024], run[128];

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-from-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->cp, sizeof(f->cp), "%s/cp", f->top);
	assert_int_equal(mkdir(f->cp, 0700), 0);
	touch(f->cp, "state", NULL, 0);
	touch(f->cp, "mem", NULL, 0);
	touch(f->cp, "root.ovl", NULL, 0);
	/* not a real kernel and image: a create gets as far as checking them */
	touch(f->top, "vmlinux", f->kernel, sizeof(f->kernel));
	touch(f->top, "base.ext4", f->image, sizeof(f->image));
	snprintf(run, sizeof(run), "%s/run", f->top);

	kiln_options_init(&o);
	o.cache_dir = f->top;
	o.state_dir = f->top;
	o.runtime_dir = run;
	o.hooks_file = "";
	o.state_store = KILN_STATE_MEMORY;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);

	snprintf(config, sizeof(config),
		 "{\"kernel\":\"%s\",\"image\":\"%s\",\"cpus\":2,"
		 "\"memory_mib\":384}",
		 f->kernel, f->image);
	n.config = config;
	n.runtime_base = run;
	assert_int_equal(store_open(f->k, &st), KILN_OK);
	assert_int_equal(
		state_sandbox_create(st, &n, &f->src, f->err, sizeof(f->err)),
		0);
	assert_int_equal(state_sandbox_transition(st, f->src.id,
						  STATE_SB_CREATING, &u, f->err,
						  sizeof(f->err)),
			 0);
	memcpy(cp.sandbox, f->src.id, sizeof(cp.sandbox));
	strcpy(cp.name, "cp1");
	cp.created_at = 1;
	cp.dir = f->cp;
	assert_int_equal(
		state_checkpoint_insert(st, &cp, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	kiln_close(f->k);
	state_sandbox_clear(&f->src);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_parse(void **state)
{
	static const char *const bad[] = {
		"",	 "abc",	    ":cp",     "abc:",	  "a:b:c",
		"-x:cp", "abc:.cp", "abc:c/p", "abc:c p",
	};
	char sb[STATE_NAME_MAX + 1], name[STATE_NAME_MAX + 1], err[512];
	char longref[100];

	(void)state;
	assert_int_equal(sandbox_from_parse("web:before-upgrade", sb, name, err,
					    sizeof(err)),
			 KILN_OK);
	assert_string_equal(sb, "web");
	assert_string_equal(name, "before-upgrade");
	assert_int_equal(sandbox_from_parse("0123456789ab:cp.1", sb, name, err,
					    sizeof(err)),
			 KILN_OK);
	assert_string_equal(sb, "0123456789ab");
	assert_string_equal(name, "cp.1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
			sandbox_from_parse(bad[i], sb, name, err, sizeof(err)),
			KILN_EINVAL);
		assert_true(err[0]);
		assert_string_equal(sb, "");
		assert_string_equal(name, "");
	}
	assert_int_equal(sandbox_from_parse(NULL, sb, name, err, sizeof(err)),
			 KILN_EINVAL);
	assert_non_null(strstr(
		(sandbox_from_parse("abc", sb, name, err, sizeof(err)), err),
		"SANDBOX:CHECKPOINT"));
	memset(longref, 'a', 64);
	strcpy(longref + 64, ":cp");
	assert_int_equal(
		sandbox_from_parse(longref, sb, name, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "too long"));
}

static void test_merge(void **state)
{
	struct fixture *f = *state;
	struct kiln_net_policy pol = {0};
	struct kiln_sandbox_config src = {.kernel_path = f->kernel,
					  .image_path = f->image,
					  .cpus = 2,
					  .memory_mib = 384};
	struct kiln_sandbox_config cfg = {.persistent = 1,
					  .name = "b",
					  .network = &pol,
					  .from_checkpoint = "src:cp1"};
	struct kiln_sandbox_config out;
	char rel[256], err[1024];

	/* nothing set: everything from the checkpoint, the rest kept */
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_OK);
	assert_string_equal(out.kernel_path, f->kernel);
	assert_string_equal(out.image_path, f->image);
	assert_int_equal(out.cpus, 2);
	assert_int_equal(out.memory_mib, 384);
	assert_null(out.cmdline_extra);
	assert_string_equal(out.name, "b");
	assert_ptr_equal(out.network, &pol);
	assert_int_equal(out.persistent, 1);
	assert_null(out.from_checkpoint);

	/* equal values, also another path of the same file, are fine */
	cfg.cpus = 2;
	cfg.memory_mib = 384;
	snprintf(rel, sizeof(rel), "%s/../%s/base.ext4", f->top,
		 strrchr(f->top, '/') + 1);
	cfg.image_path = rel;
	cfg.kernel_path = f->kernel;
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_OK);
	assert_string_equal(out.image_path, f->image);

	/* each conflicting value is refused, naming both */
	cfg.memory_mib = 512;
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "memory 512 MiB conflicts with W"));
	assert_non_null(strstr(err, "384 MiB"));
	assert_non_null(strstr(err, "--memory"));
	cfg.memory_mib = 0;
	cfg.cpus = 1;
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "cpus 1 conflicts"));
	assert_non_null(strstr(err, "--cpus"));
	cfg.cpus = 0;
	cfg.image_path = f->kernel; /* another file */
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "image"));
	assert_non_null(strstr(err, "--image"));
	cfg.image_path = "/nonexistent/other.ext4";
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	cfg.image_path = NULL;
	cfg.kernel_path = f->image;
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "--kernel"));
	cfg.kernel_path = NULL;
	cfg.cmdline_extra = "quiet";
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_EINVAL);
	assert_non_null(strstr(err, "which has none"));
	src.cmdline_extra = "quiet";
	assert_int_equal(
		sandbox_from_merge(&cfg, &src, "W", &out, err, sizeof(err)),
		KILN_OK);
	assert_string_equal(out.cmdline_extra, "quiet");
}

static size_t sandbox_count(struct kiln *k)
{
	struct kiln_sandbox_info *list;
	size_t n;

	assert_int_equal(kiln_sandbox_list(k, &list, &n), KILN_OK);
	kiln_sandbox_info_list_free(list, n);
	return n;
}

static void test_create_errors(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_config cfg = {.persistent = 1};
	struct kiln_sandbox *sb = (struct kiln_sandbox *)1;

	cfg.from_checkpoint = "nosuch:cp1";
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_ENOTFOUND);
	assert_null(sb);
	assert_non_null(strstr(kiln_errmsg(f->k), "'nosuch:cp1'"));
	assert_non_null(strstr(kiln_errmsg(f->k), "kiln snapshot ls"));

	cfg.from_checkpoint = "src:nosuch";
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k), "no checkpoint named"));
	assert_non_null(strstr(kiln_errmsg(f->k), "kiln checkpoint"));

	cfg.from_checkpoint = "src";
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "SANDBOX:CHECKPOINT"));

	cfg.from_checkpoint = "src:cp1";
	cfg.memory_mib = 1024;
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "memory 1024 MiB"));
	assert_non_null(strstr(kiln_errmsg(f->k), f->src.id));
	cfg.memory_mib = 0;

	/* only persistent sandboxes */
	cfg.persistent = 0;
	assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb), KILN_EINVAL);
	assert_non_null(strstr(kiln_errmsg(f->k), "persistent"));

	/* files of the checkpoint gone: said so, with the way out */
	cfg.persistent = 1;
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/mem", f->cp);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(kiln_sandbox_create(f->k, &cfg, &sb),
				 KILN_ENOTFOUND);
		assert_non_null(strstr(kiln_errmsg(f->k), "missing"));
		assert_non_null(strstr(kiln_errmsg(f->k), "kiln snapshot rm"));
	}
	/* none of it recorded a sandbox */
	assert_int_equal(sandbox_count(f->k), 1);
}

/*
 * A valid checkpoint gets as far as the new sandbox's own checks (here
 * the kernel file, which is not one), with the checkpoint's
 * configuration: nothing is recorded when they fail.
 */
static void test_create_reaches_checks(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_config cfg = {
		.persistent = 1, .name = "b", .from_checkpoint = "src:cp1"};
	struct kiln_sandbox *sb = NULL;
	int rc;

	rc = kiln_sandbox_create(f->k, &cfg, &sb);
	assert_int_not_equal(rc, KILN_OK);
	assert_null(sb);
	/* the checkpointed sandbox's kernel, not the cache's default */
	assert_non_null(strstr(kiln_errmsg(f->k), f->kernel));
	assert_int_equal(sandbox_count(f->k), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_reaches_checks,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
