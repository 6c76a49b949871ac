/* SPDX-License-Identifier: MIT */
/*
 * Runtime directories: private modes, refusal of unsafe bases (symlink,
 * shared, foreign), and complete removal.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/rundir.h"

struct fixture {
	char top[64];
	char base[128];
	char err[512];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-rundir-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->base, sizeof(f->base), "%s/a/b/kiln", f->top);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_new_id(void **state)
{
	char a[RUNDIR_ID_LEN + 1], b[RUNDIR_ID_LEN + 1];

	assert_int_equal(rundir_new_id(a), 0);
	assert_int_equal(rundir_new_id(b), 0);
	assert_int_equal(strlen(a), RUNDIR_ID_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), RUNDIR_ID_LEN);
	assert_string_not_equal(a, b);
}

static void test_create_remove(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *dir, path[256];
	struct stat st;
	int fd, s;

	assert_int_equal(rundir_create(f->base, "0123abcd4567", &dir, f->err,
				       sizeof(f->err)),
			 0);
	assert_int_equal(lstat(f->base, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* a second sandbox with the same id is refused */
	{
		char *dup;

		assert_int_equal(rundir_create(f->base, "0123abcd4567", &dup,
					       f->err, sizeof(f->err)),
				 KILN_ESYS);
		assert_null(dup);
	}

	/* what a sandbox leaves: files and a socket */
	snprintf(path, sizeof(path), "%s/console.log", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/vsock.sock", dir);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);

	assert_int_equal(rundir_remove(dir, f->err, sizeof(f->err)), 0);
	assert_int_equal(lstat(dir, &st), -1);
	/* removing twice is fine */
	assert_int_equal(rundir_remove(dir, f->err, sizeof(f->err)), 0);
	free(dir);
}

static void test_unsafe_base(void **state)
{
	struct fixture *f = *state;
	char target[160], *dir;

	/* a symlink planted where the base should be */
	snprintf(target, sizeof(target), "%s/elsewhere", f->top);
	assert_int_equal(mkdir(target, 0700), 0);
	snprintf(f->base, sizeof(f->base), "%s/link", f->top);
	assert_int_equal(symlink(target, f->base), 0);
	assert_int_equal(
		rundir_create(f->base, "id1", &dir, f->err, sizeof(f->err)),
		KILN_ESYS);
	assert_non_null(strstr(f->err, "not a directory"));
	assert_null(dir);

	/* a world-writable base */
	snprintf(f->base, sizeof(f->base), "%s/shared", f->top);
	assert_int_equal(mkdir(f->base, 0700), 0);
	assert_int_equal(chmod(f->base, 0777), 0);
	assert_int_equal(
		rundir_create(f->base, "id1", &dir, f->err, sizeof(f->err)),
		KILN_ESYS);
	assert_non_null(strstr(f->err, "not private"));

	/* a file */
	snprintf(f->base, sizeof(f->base), "%s/file", f->top);
	close(open(f->base, O_CREAT | O_WRONLY, 0600));
	assert_int_equal(
		rundir_create(f->base, "id1", &dir, f->err, sizeof(f->err)),
		KILN_ESYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_id),
		cmocka_unit_test_setup_teardown(test_create_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_base, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
