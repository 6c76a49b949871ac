/* SPDX-License-Identifier: MIT */
/*
 * kiln_doctor(): the judging functions on made-up inputs, and the whole
 * list against a handle whose cache, state and runtime directories are
 * temporary directories (so the kernel, image and state checks see what
 * the test put there).
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sqlite3.h>

#include "kiln.h"
#include "lib/doctor.h"
#include "lib/state.h"

static void test_kvm_judge(void **state)
{
	struct doctor_result r;

	doctor_kvm_judge(ENOENT, -1, 0, &r);
	assert_int_equal(r.status, KILN_CHECK_FAIL);
	assert_non_null(strstr(r.detail, "does not exist"));
	assert_non_null(strstr(r.fix, "modprobe kvm_intel"));
	assert_non_null(strstr(r.fix, "nested"));
	doctor_kvm_judge(EACCES, -1, 0, &r);
	assert_int_equal(r.status, KILN_CHECK_FAIL);
	assert_non_null(strstr(r.fix, "usermod -aG kvm"));
	doctor_kvm_judge(0, -1, ENOTTY, &r);
	assert_int_equal(r.status, KILN_CHECK_FAIL);
	assert_non_null(strstr(r.detail, "KVM_GET_API_VERSION"));
	doctor_kvm_judge(0, 11, 0, &r);
	assert_int_equal(r.status, KILN_CHECK_FAIL);
	doctor_kvm_judge(0, 12, 0, &r);
	assert_int_equal(r.status, KILN_CHECK_OK);
	assert_string_equal(r.fix, "");
}

static void test_cpu_judge(void **state)
{
	/* lm syscall nx / sse2 fxsr cmov cx8 */
	struct doctor_cpuid c = {
		.l1_edx = (1u << 26) | (1u << 24) | (1u << 15) | (1u << 8),
		.e1_edx = (1u << 29) | (1u << 11) | (1u << 20),
	};
	struct doctor_result r;

	doctor_cpu_judge(&c, true, false, &r);
	assert_int_equal(r.status, KILN_CHECK_OK);
	assert_non_null(strstr(r.detail, "KVM's supported CPUID"));
	doctor_cpu_judge(&c, true, true, &r);
	assert_int_equal(r.status, KILN_CHECK_WARN);
	assert_non_null(strstr(r.detail, "PVM"));
	/* no KVM to ask and no VMX/SVM: KVM cannot work */
	doctor_cpu_judge(&c, false, false, &r);
	assert_int_equal(r.status, KILN_CHECK_WARN);
	assert_non_null(strstr(r.fix, "nested"));
	c.l1_ecx = 1u << 5; /* vmx */
	doctor_cpu_judge(&c, false, false, &r);
	assert_int_equal(r.status, KILN_CHECK_OK);
	c.e1_edx &= ~(1u << 29);
	c.l1_edx &= ~(1u << 26);
	doctor_cpu_judge(&c, true, false, &r);
	assert_int_equal(r.status, KILN_CHECK_FAIL);
	assert_non_null(strstr(r.detail, "lacks: lm sse2"));
}

static void test_cgroup_controllers(void **state)
{
	bool cpu, mem;

	doctor_cgroup_v2_controllers("cpuset cpu io memory hugetlb pids\n",
				     &cpu, &mem);
	assert_true(cpu && mem);
	doctor_cgroup_v2_controllers("cpuset io memory\n", &cpu, &mem);
	assert_false(cpu);
	assert_true(mem);
	doctor_cgroup_v2_controllers("cpuacct memoryx", &cpu, &mem);
	assert_false(cpu || mem);
	doctor_cgroup_v2_controllers("", &cpu, &mem);
	assert_false(cpu || mem);
}

struct dirs {
	char root[64], cache[96], st[96], rt[96];
};

static void dirs_make(struct dirs *d)
{
	snprintf(d->root, sizeof(d->root), "/tmp/kiln-doctor-XXXXXX");
	assert_non_null(mkdtemp(d->root));
	snprintf(d->cache, sizeof(d->cache), "%s/cache", d->root);
	snprintf(d->st, sizeof(d->st), "%s/state", d->root);
	snprintf(d->rt, sizeof(d->rt), "%s/run", d->root);
	assert_int_equal(mkdir(d->cache, 0700), 0);
	assert_int_equal(mkdir(d->st, 0700), 0);
}

static void dirs_remove(struct dirs *d)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	assert_int_equal(system(cmd), 0);
}

static struct kiln *open_in(const struct dirs *d)
{
	struct kiln_options o;
	struct kiln *k;

	kiln_options_init(&o);
	o.cache_dir = d->cache;
	o.state_dir = d->st;
	o.runtime_dir = d->rt;
	o.vmm_path = "/nonexistent/kiln-vmm";
	assert_int_equal(kiln_open(&o, &k), KILN_OK);
	return k;
}

static const struct kiln_check *find(const struct kiln_check *l, size_t n,
				     const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name))
			return &l[i];
	fail_msg("no check named %s", name);
	return NULL;
}

static void test_doctor_empty_cache(void **state)
{
	static const char *const names[] = {
		"kvm",	  "cpu",	 "kiln-vmm",
		"kernel", "image",	 "snapshot-cache",
		"cgroup", "tun",	 "nftables",
		"state",  "runtime-dir",
	};
	const struct kiln_check *c;
	struct kiln_check *l;
	struct dirs d;
	struct kiln *k;
	size_t n;

	dirs_make(&d);
	k = open_in(&d);
	assert_int_equal(kiln_doctor(k, &l, &n), KILN_OK);
	assert_int_equal(n, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(l[i].name, names[i]);
		assert_true(l[i].status <= KILN_CHECK_FAIL);
		assert_non_null(l[i].detail);
		assert_true(*l[i].detail);
		assert_null(strchr(l[i].detail, '\n'));
		/* a fix exactly when something is wrong */
		if (l[i].status == KILN_CHECK_OK)
			assert_null(l[i].fix);
		else
			assert_true(l[i].fix && *l[i].fix);
	}
	c = find(l, n, "kernel");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->detail, d.cache));
	assert_non_null(strstr(c->fix, "make kernel"));
	c = find(l, n, "image");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->fix, "make image"));
	c = find(l, n, "kiln-vmm");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->detail, "/nonexistent/kiln-vmm"));
	c = find(l, n, "snapshot-cache");
	assert_int_equal(c->status, KILN_CHECK_WARN);
	c = find(l, n, "state");
	assert_int_equal(c->status, KILN_CHECK_OK);
	assert_non_null(strstr(c->detail, "does not exist yet"));
	c = find(l, n, "runtime-dir");
	assert_int_equal(c->status, KILN_CHECK_OK);
	assert_non_null(strstr(c->detail, "will be created"));
	kiln_check_list_free(l, n);
	/* nothing was created by looking */
	assert_int_equal(access(d.rt, F_OK), -1);
	{
		char db[160];

		snprintf(db, sizeof(db), "%s/state.db", d.st);
		assert_int_equal(access(db, F_OK), -1);
	}
	assert_string_equal(kiln_check_status_name(KILN_CHECK_WARN), "warn");
	assert_string_equal(kiln_check_status_name((enum kiln_check_status)7),
			    "unknown");
	kiln_close(k);
	dirs_remove(&d);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_doctor_state_and_runtime(void **state)
{
	const struct kiln_check *c;
	struct kiln_check *l;
	struct state *s;
	struct dirs d;
	struct kiln *k;
	char db[160], err[256];
	size_t n;
	sqlite3 *h;

	dirs_make(&d);
	snprintf(db, sizeof(db), "%s/state.db", d.st);
	/* a good database */
	assert_int_equal(state_open(db, &s, err, sizeof(err)), 0);
	state_close(s);
	assert_int_equal(mkdir(d.rt, 0700), 0);
	k = open_in(&d);
	assert_int_equal(kiln_doctor(k, &l, &n), KILN_OK);
	c = find(l, n, "state");
	assert_int_equal(c->status, KILN_CHECK_OK);
	assert_non_null(strstr(c->detail, "integrity ok, 0 sandbox(es)"));
	c = find(l, n, "runtime-dir");
	assert_int_equal(c->status, KILN_CHECK_OK);
	assert_non_null(strstr(c->detail, "is writable"));
	kiln_check_list_free(l, n);

	/* another program's SQLite file */
	unlink(db);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h,
				      "PRAGMA application_id = 7; CREATE "
				      "TABLE t (x)",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(h);
	/* and a runtime directory others may write */
	assert_int_equal(chmod(d.rt, 0777), 0);
	assert_int_equal(kiln_doctor(k, &l, &n), KILN_OK);
	c = find(l, n, "state");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->detail, "not a kiln state database"));
	c = find(l, n, "runtime-dir");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->detail, "writable by others"));
	kiln_check_list_free(l, n);

	/* not a database at all */
	unlink(db);
	write_file(db, "this is not SQLite, just some text of a file.....");
	assert_int_equal(kiln_doctor(k, &l, &n), KILN_OK);
	c = find(l, n, "state");
	assert_int_equal(c->status, KILN_CHECK_FAIL);
	assert_non_null(strstr(c->detail, "cannot read"));
	assert_non_null(strstr(c->fix, "move it"));
	kiln_check_list_free(l, n);
	kiln_close(k);
	dirs_remove(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_judge),
		cmocka_unit_test(test_cpu_judge),
		cmocka_unit_test(test_cgroup_controllers),
		cmocka_unit_test(test_doctor_empty_cache),
		cmocka_unit_test(test_doctor_state_and_runtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
