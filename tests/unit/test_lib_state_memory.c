/* SPDX-License-Identifier: MIT */
/*
 * The in-memory state store (kiln_options.state_store = KILN_STATE_MEMORY):
 * nothing on disk, the whole schema (sandboxes, checkpoints), CID and
 * network slot allocation that never hands out one twice and reuses what
 * a removal released, privacy to one handle, and kiln_close() removing
 * the sandboxes only it knew of (their "VMM", a detached sleep, stopped).
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
#include "lib/handle.h"
#include "lib/rundir.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

#define CONFIG                                                  \
	"{\"kernel\":\"/nonexistent/vmlinux\",\"image\":"       \
	"\"/nonexistent/base.ext4\",\"cpus\":1,\"memory_mib\":" \
	"256}"
#define NROWS 64

struct fixture {
	char top[64];
	char state[128];
	char run[128];
	char err[1024];
	struct kiln *k;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-memstore-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	/* the state directory is never created for an in-memory store */
	snprintf(f->state, sizeof(f->state), "%s/state", f->top);
	snprintf(f->run, sizeof(f->run), "%s/run", f->top);
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

static struct kiln *open_memory(struct fixture *f, enum kiln_state_store s)
{
	struct kiln_options o;
	struct kiln *k = NULL;

	kiln_options_init(&o);
	assert_int_equal(o.state_store, KILN_STATE_FILE);
	o.cache_dir = f->top;
	o.state_dir = f->state;
	o.runtime_dir = f->run;
	o.hooks_file = "";
	o.state_store = s;
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	return k;
}

/* A stopped sandbox recorded in k's store, as a create leaves one. */
static void row_add(struct fixture *f, struct kiln *k, const char *name,
		    struct state_sandbox *out)
{
	struct state_new n = {
		.name = name, .runtime_base = f->run, .config = CONFIG};
	struct state_update u = {.status = STATE_SB_STOPPED};
	struct state *st;

	assert_int_equal(store_open(k, &st), KILN_OK);
	assert_int_equal(
		state_sandbox_create(st, &n, out, f->err, sizeof(f->err)), 0);
	assert_int_equal(state_sandbox_transition(st, out->id,
						  STATE_SB_CREATING, &u, f->err,
						  sizeof(f->err)),
			 0);
}

static void test_nothing_on_disk(void **state)
{
	struct fixture *f = *state;
	struct kiln_options o;
	struct kiln_sandbox_info *list = NULL;
	struct kiln *bad = NULL;
	struct state *st;
	struct stat sb;
	size_t n = 1;
	int v = 0;

	kiln_options_init(&o);
	o.state_store = (enum kiln_state_store)7;
	assert_int_equal(kiln_open(&o, &bad), KILN_EINVAL);
	assert_null(bad);

	f->k = open_memory(f, KILN_STATE_MEMORY);
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 0);
	assert_null(list);
	assert_int_equal(store_open(f->k, &st), KILN_OK);
	assert_int_equal(state_schema_version(st, &v, f->err, sizeof(f->err)),
			 0);
	assert_int_equal(v, STATE_SCHEMA_VERSION);
	/* no state.db, not even its directory */
	assert_int_equal(stat(f->state, &sb), -1);
	assert_int_equal(
		kiln_sandbox_get(f->k, "nope", &(struct kiln_sandbox_info){0}),
		KILN_ENOTFOUND);
}

/* Every CID and slot distinct; a removal's are the next ones handed out. */
static void test_allocate_release(void **state)
{
	struct fixture *f = *state;
	struct state_sandbox rows[NROWS], again;
	struct kiln_sandbox_info *list = NULL, info;
	struct state_checkpoint cp = {.size = 1, .dir = "/nonexistent"}, got;
	struct state *st;
	char name[32];
	size_t n = 0;

	f->k = open_memory(f, KILN_STATE_MEMORY);
	for (int i = 0; i < NROWS; i++) {
		snprintf(name, sizeof(name), "m%d", i);
		row_add(f, f->k, name, &rows[i]);
		for (int j = 0; j < i; j++) {
			assert_int_not_equal(rows[i].cid, rows[j].cid);
			assert_int_not_equal(rows[i].net_slot,
					     rows[j].net_slot);
			assert_string_not_equal(rows[i].id, rows[j].id);
		}
	}
	/* the lowest free ones, in order */
	assert_int_equal(rows[0].cid, STATE_CID_MIN);
	assert_int_equal(rows[NROWS - 1].cid, STATE_CID_MIN + NROWS - 1);
	assert_int_equal(rows[NROWS - 1].net_slot, NROWS - 1);

	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, NROWS);
	assert_string_equal(list[5].name, "m5");
	assert_int_equal(list[5].state, KILN_SB_STOPPED);
	assert_int_equal(list[5].memory_mib, 256);
	kiln_sandbox_info_list_free(list, n);

	/* checkpoints (schema 3) work and go with their sandbox */
	assert_int_equal(store_open(f->k, &st), KILN_OK);
	memcpy(cp.sandbox, rows[7].id, sizeof(cp.sandbox));
	snprintf(cp.name, sizeof(cp.name), "c1");
	assert_int_equal(
		state_checkpoint_insert(st, &cp, f->err, sizeof(f->err)), 0);
	assert_int_equal(
		state_checkpoint_insert(st, &cp, f->err, sizeof(f->err)),
		KILN_EINVAL);

	/* released through the public API, then reused lowest first */
	assert_int_equal(kiln_sandbox_remove(f->k, "m7", 0), KILN_OK);
	assert_int_equal(kiln_sandbox_remove(f->k, rows[3].id, 0), KILN_OK);
	assert_int_equal(kiln_sandbox_get(f->k, "m7", &info), KILN_ENOTFOUND);
	assert_int_equal(state_checkpoint_get(st, rows[7].id, "c1", &got,
					      f->err, sizeof(f->err)),
			 KILN_ENOTFOUND);
	row_add(f, f->k, "n1", &again);
	assert_int_equal(again.cid, rows[3].cid);
	assert_int_equal(again.net_slot, rows[3].net_slot);
	state_sandbox_clear(&again);
	row_add(f, f->k, "n2", &again);
	assert_int_equal(again.cid, rows[7].cid);
	assert_int_equal(again.net_slot, rows[7].net_slot);
	state_sandbox_clear(&again);
	row_add(f, f->k, "n3", &again);
	assert_int_equal(again.cid, STATE_CID_MIN + NROWS);
	assert_int_equal(again.net_slot, NROWS);
	/* names stay unique too */
	{
		struct state_new dup = {.name = "n3", .config = CONFIG};
		struct state_sandbox x;

		assert_int_equal(state_sandbox_create(st, &dup, &x, f->err,
						      sizeof(f->err)),
				 KILN_EINVAL);
	}
	assert_int_equal(kiln_sandbox_get(f->k, "n3", &info), KILN_OK);
	assert_int_equal(info.cid, again.cid);
	kiln_sandbox_info_clear(&info);
	state_sandbox_clear(&again);
	for (int i = 0; i < NROWS; i++)
		state_sandbox_clear(&rows[i]);
}

/* One handle, one store: nobody else sees it, nor it them. */
static void test_private(void **state)
{
	struct fixture *f = *state;
	struct kiln *other = open_memory(f, KILN_STATE_MEMORY), *file;
	struct kiln_sandbox_info *list = NULL;
	struct state_sandbox a, b;
	size_t n = 1;

	f->k = open_memory(f, KILN_STATE_MEMORY);
	row_add(f, f->k, "mine", &a);
	assert_int_equal(kiln_sandbox_list(other, &list, &n), KILN_OK);
	assert_int_equal(n, 0);
	/* its allocations are its own: the same first CID */
	row_add(f, other, "theirs", &b);
	assert_int_equal(a.cid, b.cid);
	assert_int_equal(kiln_sandbox_get(f->k, "theirs",
					  &(struct kiln_sandbox_info){0}),
			 KILN_ENOTFOUND);
	kiln_close(other);
	/* a file store in the same state directory sees nothing either */
	file = open_memory(f, KILN_STATE_FILE);
	assert_int_equal(kiln_sandbox_list(file, &list, &n), KILN_OK);
	assert_int_equal(n, 0);
	kiln_close(file);
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "mine");
	kiln_sandbox_info_list_free(list, n);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
}

/* kiln_close() removes what only its store recorded, VMM included. */
static void test_close_removes(void **state)
{
	struct fixture *f = *state;
	char *argv[] = {"/bin/sleep", "1000", NULL};
	struct state_update u = {.status = STATE_SB_RUNNING};
	struct state_sandbox row;
	struct vmm_proc v;
	struct state *st;
	struct stat sb;
	uint64_t now;
	char *dir;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), i;

	f->k = open_memory(f, KILN_STATE_MEMORY);
	assert_true(null >= 0);
	assert_int_equal(
		vmm_proc_spawn_detached(&v, argv, null, f->err, sizeof(f->err)),
		0);
	assert_int_equal(vmm_proc_release(&v, f->err, sizeof(f->err)), 0);
	close(null);
	row_add(f, f->k, "run", &row);
	assert_int_equal(
		rundir_create(f->run, row.id, &dir, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_open(f->k, &st), KILN_OK);
	u.vmm_pid = v.pid;
	u.vmm_start = v.start_time;
	assert_int_equal(state_sandbox_transition(st, row.id, STATE_SB_STOPPED,
						  &u, f->err, sizeof(f->err)),
			 0);
	kiln_close(f->k);
	f->k = NULL;
	assert_int_equal(stat(dir, &sb), -1);
	/* init reaps it asynchronously: poll, bounded */
	for (i = 0; i < 3000; i++) {
		if (proc_start_time(v.pid, &now) != 0 || now != v.start_time)
			break;
		usleep(1000);
	}
	if (i == 3000) {
		vmm_proc_stop(&v, 0, 0);
		fail_msg("the sandbox's VMM survived kiln_close()");
	}
	free(dir);
	state_sandbox_clear(&row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_on_disk, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_allocate_release, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_removes, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
