/* SPDX-License-Identifier: MIT */
/*
 * The kiln-vmm command line libkiln builds: exact argv, and refusal of
 * what the VMM's syntax cannot carry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/vmm_argv.h"

static struct vmm_launch launch(void)
{
	struct vmm_launch l = {
		.vmm_path = "/opt/kiln/kiln-vmm",
		.kernel = "/c/kernel/vmlinux",
		.image = "/c/images/base.ext4",
		.cpus = 2,
		.memory_mib = 512,
		.cid = 3,
		.vsock_uds = "/run/kiln/abc/vsock.sock",
		.console = "/run/kiln/abc/console.log",
	};
	return l;
}

static void test_argv_exact(void **state)
{
	static const char *const want[] = {
		"/opt/kiln/kiln-vmm",
		"--kernel",
		"/c/kernel/vmlinux",
		"--cmdline",
		"console=ttyS0 panic=-1 reboot=t root=/dev/vda ro "
		"init=/sbin/kiln-agent",
		"--cpus",
		"2",
		"--memory",
		"512",
		"--drive",
		"/c/images/base.ext4,ro",
		"--vsock-cid",
		"3",
		"--vsock-uds",
		"/run/kiln/abc/vsock.sock",
		"--rng",
		"--console",
		"/run/kiln/abc/console.log",
	};
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256];

	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < a.argc; i++)
		assert_string_equal(a.argv[i], want[i]);
	assert_null(a.argv[a.argc]);
	vmm_argv_free(&a);
	assert_int_equal(a.argc, 0);
}

static void test_argv_cmdline_extra(void **state)
{
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256];

	l.cmdline_extra = "loglevel=8 quiet";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_string_equal(a.argv[4], VMM_BASE_CMDLINE " loglevel=8 quiet");
	vmm_argv_free(&a);

	l.cmdline_extra = ""; /* empty: no trailing space */
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_string_equal(a.argv[4], VMM_BASE_CMDLINE);
	vmm_argv_free(&a);
}

static void test_argv_rejects(void **state)
{
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256], big[VMM_CMDLINE_EXTRA_MAX + 2];

	l.image = "/c/images/a,b.ext4";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), KILN_EINVAL);
	assert_non_null(strstr(err, "contains ','"));
	vmm_argv_free(&a);

	l = launch();
	l.cmdline_extra = "init=/bin/sh\nroot=/dev/vdb";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), KILN_EINVAL);
	assert_non_null(strstr(err, "printable"));
	vmm_argv_free(&a);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	l.cmdline_extra = big;
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), KILN_EINVAL);
	vmm_argv_free(&a);
	big[VMM_CMDLINE_EXTRA_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	vmm_argv_free(&a);

	l = launch();
	l.vsock_uds = NULL;
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), KILN_EINVAL);
	vmm_argv_free(&a);
}

/* A disk overlay: the root is writable, the image stays the base. */
static void test_argv_overlay(void **state)
{
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256];

	l.overlay = "/run/kiln/abc/root.ovl";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_string_equal(a.argv[4],
			    "console=ttyS0 panic=-1 reboot=t "
			    "root=/dev/vda rw init=/sbin/kiln-agent");
	assert_string_equal(a.argv[9], "--drive");
	assert_string_equal(
		a.argv[10],
		"/c/images/base.ext4,overlay=/run/kiln/abc/root.ovl");
	vmm_argv_free(&a);

	l.overlay = "/run/kiln/a,b/root.ovl";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), KILN_EINVAL);
	vmm_argv_free(&a);
}

/* A restore with the root overlay replaced. */
static void test_argv_restore_override(void **state)
{
	static const char *const want[] = {
		"/opt/kiln/kiln-vmm",
		"--restore",
		"/s/state",
		"--restore-mem",
		"/s/mem",
		"--vsock-uds",
		"/run/kiln/abc/vsock.sock",
		"--console",
		"/run/kiln/abc/console.log",
		"--drive-override",
		"drive0=/run/kiln/abc/root.ovl",
	};
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256];

	l.restore_state = "/s/state";
	l.restore_mem = "/s/mem";
	l.overlay_override = "/run/kiln/abc/root.ovl";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_int_equal(a.argc, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < a.argc; i++)
		assert_string_equal(a.argv[i], want[i]);
	vmm_argv_free(&a);
}

/* The NIC: --net on a boot (the base snapshot's has no cable),
 * --net-override on a restore. */
static void test_argv_net(void **state)
{
	struct vmm_launch l = launch();
	struct vmm_argv a;
	char err[256];

	(void)state;
	l.net_tap = VMM_NET_NONE;
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_string_equal(a.argv[a.argc - 2], "--net");
	assert_string_equal(a.argv[a.argc - 1], "none,id=eth0");
	vmm_argv_free(&a);
	l.restore_state = "/s/state";
	l.restore_mem = "/s/mem";
	l.net_tap = "tap0";
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	assert_string_equal(a.argv[a.argc - 2], "--net-override");
	assert_string_equal(a.argv[a.argc - 1], "eth0=tap0");
	vmm_argv_free(&a);
	/* none given: no flag at all */
	l.net_tap = NULL;
	assert_int_equal(vmm_argv_build(&l, &a, err, sizeof(err)), 0);
	for (int i = 0; i < a.argc; i++)
		assert_null(strstr(a.argv[i], "--net"));
	vmm_argv_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_exact),
		cmocka_unit_test(test_argv_cmdline_extra),
		cmocka_unit_test(test_argv_rejects),
		cmocka_unit_test(test_argv_overlay),
		cmocka_unit_test(test_argv_restore_override),
		cmocka_unit_test(test_argv_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
