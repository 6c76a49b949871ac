/* SPDX-License-Identifier: MIT */
/* kiln-vmm flags and the Firecracker-shaped JSON config, good and bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/config.h"

#define ARGS(...) ((char *const[]){"kiln-vmm", __VA_ARGS__})
#define NARGS(...) \
	((int)(sizeof((char *[]){"kiln-vmm", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...)                                               \
	config_parse_args(c, NARGS(__VA_ARGS__), ARGS(__VA_ARGS__), err, \
			  sizeof(err))

/* Expect a parse error whose message contains want. */
#define EXPECT_ERR(want, ...)                                                \
	do {                                                                 \
		struct vmm_config c_;                                        \
		char e_[512] = "";                                           \
		config_init(&c_);                                            \
		assert_int_equal(PARSE(&c_, e_, __VA_ARGS__), CONFIG_ERROR); \
		if (!strstr(e_, want))                                       \
			fail_msg("expected \"%s\" in \"%s\"", want, e_);     \
		config_free(&c_);                                            \
	} while (0)

static void test_defaults(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel", "/k"), CONFIG_OK);
	assert_string_equal(c.kernel_path, "/k");
	assert_int_equal(c.ncpus, 1);
	assert_int_equal(c.mem_mib, 256);
	assert_int_equal(c.cpu_template, CPU_TEMPLATE_HOST);
	assert_int_equal(c.console, CONSOLE_STDOUT);
	assert_int_equal(c.ndrives, 0);
	assert_false(c.vsock);
	assert_false(c.rng);
	assert_null(c.initrd_path);
	assert_string_equal(config_cmdline(&c), CONFIG_DEFAULT_CMDLINE);
	config_free(&c);
}

static void test_all_flags(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(
		PARSE(&c, err, "--kernel", "/k", "--initrd=/i", "--cmdline",
		      "console=ttyS0 root=/dev/vda", "--cpus", "4",
		      "--memory=2048", "--drive", "/a.ext4,ro", "--drive",
		      "/b.img", "--drive", "/c,d.img,rw", "--vsock-cid", "3",
		      "--vsock-uds", "/run/v.sock", "--rng", "--console",
		      "/tmp/console.log", "--cpu-template", "baseline"),
		CONFIG_OK);
	assert_string_equal(c.initrd_path, "/i");
	assert_string_equal(config_cmdline(&c), "console=ttyS0 root=/dev/vda");
	assert_int_equal(c.ncpus, 4);
	assert_int_equal(c.mem_mib, 2048);
	assert_int_equal(c.ndrives, 3);
	assert_string_equal(c.drives[0].path, "/a.ext4");
	assert_true(c.drives[0].read_only);
	assert_string_equal(c.drives[0].id, "drive0");
	assert_string_equal(c.drives[1].path, "/b.img");
	assert_false(c.drives[1].read_only);
	assert_string_equal(c.drives[2].path, "/c,d.img");
	assert_false(c.drives[2].read_only);
	assert_true(c.vsock);
	assert_int_equal(c.vsock_cid, 3);
	assert_string_equal(c.vsock_uds, "/run/v.sock");
	assert_true(c.rng);
	assert_int_equal(c.console, CONSOLE_FILE);
	assert_string_equal(c.console_path, "/tmp/console.log");
	assert_int_equal(c.cpu_template, CPU_TEMPLATE_BASELINE);
	config_free(&c);

	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel", "/k", "--console", "none",
			       "--kernel", "/k2"),
			 CONFIG_OK);
	assert_int_equal(c.console, CONSOLE_NONE);
	assert_string_equal(c.kernel_path, "/k2"); /* last one wins */
	config_free(&c);
}

static void test_help(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--cpus", "2", "--help"), CONFIG_HELP);
	config_free(&c);
	assert_non_null(strstr(config_usage(), "--kernel PATH"));
	assert_non_null(strstr(config_usage(), "--config FILE.json"));
}

static void test_flag_errors(void **state)
{
	(void)state;
	EXPECT_ERR("no kernel given", "--cpus", "2");
	EXPECT_ERR("unknown option --bogus", "--kernel", "/k", "--bogus");
	EXPECT_ERR("unknown option --bogus", "--bogus=1", "--kernel", "/k");
	EXPECT_ERR("unexpected argument \"vmlinux\"", "vmlinux");
	EXPECT_ERR("--cpus needs a value", "--kernel", "/k", "--cpus");
	EXPECT_ERR("--cpus 0: must be", "--kernel", "/k", "--cpus", "0");
	EXPECT_ERR("--cpus 33: must be", "--kernel", "/k", "--cpus", "33");
	EXPECT_ERR("--cpus two", "--kernel", "/k", "--cpus", "two");
	EXPECT_ERR("--cpus -1", "--kernel", "/k", "--cpus", "-1");
	EXPECT_ERR("--cpus 2x", "--kernel", "/k", "--cpus", "2x");
	EXPECT_ERR("--cpus 99999999999999999999999", "--kernel", "/k", "--cpus",
		   "99999999999999999999999");
	EXPECT_ERR("--memory 127", "--kernel", "/k", "--memory", "127");
	EXPECT_ERR("--memory 16385", "--kernel", "/k", "--memory", "16385");
	EXPECT_ERR("--memory : must", "--kernel", "/k", "--memory", "");
	EXPECT_ERR("unknown option \"xx\"", "--kernel", "/k", "--drive",
		   "/a,xx");
	EXPECT_ERR("empty path", "--kernel", "/k", "--drive", ",ro");
	EXPECT_ERR("--vsock-cid 2", "--kernel", "/k", "--vsock-cid", "2",
		   "--vsock-uds", "/s");
	EXPECT_ERR("--vsock-cid 4294967296", "--kernel", "/k", "--vsock-cid",
		   "4294967296", "--vsock-uds", "/s");
	EXPECT_ERR("needs --vsock-uds", "--kernel", "/k", "--vsock-cid", "3");
	EXPECT_ERR("needs --vsock-cid", "--kernel", "/k", "--vsock-uds", "/s");
	EXPECT_ERR("too long for a Unix socket", "--kernel", "/k",
		   "--vsock-cid", "3", "--vsock-uds",
		   "/tmp/"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	EXPECT_ERR("--cpu-template fast", "--kernel", "/k", "--cpu-template",
		   "fast");
	EXPECT_ERR("--console: empty", "--kernel", "/k", "--console", "");
	EXPECT_ERR("--kernel: empty", "--kernel", "");
	EXPECT_ERR("printable", "--kernel", "/k", "--cmdline", "a\nb");
	EXPECT_ERR("cannot open config /nonexistent.json", "--config",
		   "/nonexistent.json");
}

static void test_too_many_drives(void **state)
{
	char *argv[2 + 2 * (CONFIG_MAX_DRIVES + 1)];
	char paths[CONFIG_MAX_DRIVES + 1][16];
	struct vmm_config c;
	char err[256];
	int n = 0;

	(void)state;
	argv[n++] = "kiln-vmm";
	argv[n++] = "--kernel=/k";
	for (int i = 0; i <= CONFIG_MAX_DRIVES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "/d%d", i);
		argv[n++] = "--drive";
		argv[n++] = paths[i];
	}
	config_init(&c);
	assert_int_equal(config_parse_args(&c, n, argv, err, sizeof(err)),
			 CONFIG_ERROR);
	assert_non_null(strstr(err, "too many drives"));
	config_free(&c);
}

static const char good_json[] =
	"{\n"
	"  \"boot-source\": {\n"
	"    \"kernel_image_path\": \"/vmlinux\",\n"
	"    \"boot_args\": \"console=ttyS0 reboot=k\",\n"
	"    \"initrd_path\": \"/initrd\"\n"
	"  },\n"
	"  \"drives\": [\n"
	"    { \"drive_id\": \"scratch\", \"path_on_host\": \"/s.img\",\n"
	"      \"is_root_device\": false },\n"
	"    { \"drive_id\": \"rootfs\", \"path_on_host\": \"/r.ext4\",\n"
	"      \"is_root_device\": true, \"is_read_only\": true }\n"
	"  ],\n"
	"  \"machine-config\": { \"vcpu_count\": 2, \"mem_size_mib\": 1024,\n"
	"                        \"smt\": false, \"cpu_template\": "
	"\"baseline\" },\n"
	"  \"vsock\": { \"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\" },\n"
	"  \"entropy\": {}\n"
	"}\n";

static void test_json_good(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(
		config_parse_json(&c, good_json, "vm.json", err, sizeof(err)),
		0);
	assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
	assert_string_equal(c.kernel_path, "/vmlinux");
	assert_string_equal(config_cmdline(&c), "console=ttyS0 reboot=k");
	assert_string_equal(c.initrd_path, "/initrd");
	assert_int_equal(c.ncpus, 2);
	assert_int_equal(c.mem_mib, 1024);
	assert_int_equal(c.cpu_template, CPU_TEMPLATE_BASELINE);
	assert_int_equal(c.ndrives, 2);
	/* the root device is moved first: it becomes /dev/vda */
	assert_string_equal(c.drives[0].id, "rootfs");
	assert_true(c.drives[0].is_root);
	assert_true(c.drives[0].read_only);
	assert_string_equal(c.drives[1].id, "scratch");
	assert_false(c.drives[1].read_only);
	assert_true(c.vsock);
	assert_int_equal(c.vsock_cid, 3);
	assert_string_equal(c.vsock_uds, "/tmp/v.sock");
	assert_true(c.rng);
	config_free(&c);
}

static void test_json_file_and_override(void **state)
{
	char path[] = "/tmp/kiln-test-config-XXXXXX";
	struct vmm_config c;
	char err[256];
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, good_json, strlen(good_json)),
			 (ssize_t)strlen(good_json));
	close(fd);
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--config", path, "--cpus", "3",
			       "--drive", "/extra.img"),
			 CONFIG_OK);
	assert_int_equal(c.ncpus, 3); /* the later flag wins */
	assert_int_equal(c.mem_mib, 1024);
	assert_int_equal(c.ndrives, 3);
	assert_string_equal(c.drives[0].id, "rootfs");
	assert_string_equal(c.drives[2].path, "/extra.img");
	config_free(&c);
	unlink(path);
}

static void expect_json_err(const char *json, const char *want)
{
	struct vmm_config c;
	char err[512] = "";
	int rc;

	config_init(&c);
	rc = config_parse_json(&c, json, "vm.json", err, sizeof(err));
	if (rc == 0)
		rc = config_validate(&c, err, sizeof(err));
	assert_int_equal(rc, -1);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in \"%s\"", want, err);
	config_free(&c);
}

static void test_json_errors(void **state)
{
	(void)state;
	expect_json_err("{", "vm.json:1:");
	expect_json_err("[]", "top level must be an object");
	expect_json_err("{\"network-interfaces\": []}",
			"unknown key \"network-interfaces\"");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": 1, "
			"\"mem_size_mib\": 256, \"track_dirty_pages\": true}}",
			"unknown key \"track_dirty_pages\" in machine-config");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": \"2\", "
			"\"mem_size_mib\": 256}}",
			"machine-config.vcpu_count must be an integer");
	expect_json_err("{\"machine-config\": {\"mem_size_mib\": 256}}",
			"machine-config needs \"vcpu_count\"");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": 64, "
			"\"mem_size_mib\": 256}}",
			"vcpu_count 64");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": 1, "
			"\"mem_size_mib\": 64}}",
			"mem_size_mib 64");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": 1, "
			"\"mem_size_mib\": 256, \"cpu_template\": \"T2\"}}",
			"cpu_template \"T2\"");
	expect_json_err("{\"machine-config\": {\"vcpu_count\": 3, "
			"\"mem_size_mib\": 256, \"smt\": true}, "
			"\"boot-source\": {\"kernel_image_path\": \"/k\"}}",
			"smt needs an even vCPU count");
	expect_json_err("{\"boot-source\": {\"boot_args\": \"x\"}}",
			"boot-source needs \"kernel_image_path\"");
	expect_json_err("{\"boot-source\": {\"kernel_image_path\": 5}}",
			"kernel_image_path must be a string");
	expect_json_err("{\"drives\": {}}", "drives must be an array");
	expect_json_err("{\"drives\": [{\"drive_id\": \"a\", "
			"\"path_on_host\": \"/a\", \"is_root_device\": 1}]}",
			"drives[0].is_root_device must be true or false");
	expect_json_err("{\"drives\": [{\"drive_id\": \"a\", "
			"\"path_on_host\": \"/a\", \"is_root_device\": false, "
			"\"cache_type\": \"Unsafe\"}]}",
			"unknown key \"cache_type\" in drives[0]");
	expect_json_err("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, "
			"\"drives\": ["
			"{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
			"\"is_root_device\": true},"
			"{\"drive_id\": \"b\", \"path_on_host\": \"/b\", "
			"\"is_root_device\": true}]}",
			"at most one may be");
	expect_json_err("{\"drives\": ["
			"{\"drive_id\": \"a\", \"path_on_host\": \"/a\", "
			"\"is_root_device\": false},"
			"{\"drive_id\": \"a\", \"path_on_host\": \"/b\", "
			"\"is_root_device\": false}]}",
			"drive id \"a\" is used twice");
	expect_json_err("{\"vsock\": {\"guest_cid\": 1, \"uds_path\": \"/v\"}}",
			"guest_cid 1");
	expect_json_err("{\"vsock\": {\"guest_cid\": 3}}",
			"vsock needs \"uds_path\"");
	expect_json_err("{\"entropy\": {\"rate_limiter\": {}}}",
			"unknown key \"rate_limiter\" in entropy");
	expect_json_err("{\"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/v\"},"
			" \"vsock\": {\"guest_cid\": 4, \"uds_path\": \"/w\"}}",
			"duplicate object key");
	/* valid JSON, but no kernel anywhere */
	expect_json_err("{}", "no kernel given");
}

static void test_json_none_template(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	c.cpu_template = CPU_TEMPLATE_BASELINE;
	assert_int_equal(
		config_parse_json(&c,
				  "{\"machine-config\": {\"vcpu_count\": 1, "
				  "\"mem_size_mib\": 128, "
				  "\"cpu_template\": \"None\"}}",
				  "x", err, sizeof(err)),
		0);
	assert_int_equal(c.cpu_template, CPU_TEMPLATE_HOST);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_flags),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_too_many_drives),
		cmocka_unit_test(test_json_good),
		cmocka_unit_test(test_json_file_and_override),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_json_none_template),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
