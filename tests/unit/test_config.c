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
	expect_json_err("{\"mmds-config\": {}}", "unknown key \"mmds-config\"");
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

/* --drive PATH[,ro|,rw][,overlay=OVL], and kiln_overlay_path in JSON. */
static void test_drive_overlay(void **state)
{
	struct vmm_config c;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel", "/k", "--drive",
			       "/base.ext4,overlay=/run/ovl", "--drive",
			       "/b,c.img,overlay=/o2,ro", "--drive",
			       "/d.img,rw,overlay=/o3", "--drive",
			       "/plain.img"),
			 CONFIG_OK);
	assert_int_equal(c.ndrives, 4);
	assert_string_equal(c.drives[0].path, "/base.ext4");
	assert_string_equal(c.drives[0].overlay_path, "/run/ovl");
	assert_false(c.drives[0].read_only);
	assert_string_equal(c.drives[1].path, "/b,c.img");
	assert_string_equal(c.drives[1].overlay_path, "/o2");
	assert_true(c.drives[1].read_only);
	assert_string_equal(c.drives[2].path, "/d.img");
	assert_string_equal(c.drives[2].overlay_path, "/o3");
	assert_false(c.drives[2].read_only);
	assert_null(c.drives[3].overlay_path);
	config_free(&c);

	EXPECT_ERR("empty overlay= path", "--kernel", "/k", "--drive",
		   "/a,overlay=");
	EXPECT_ERR("overlay= given twice", "--kernel", "/k", "--drive",
		   "/a,overlay=/x,overlay=/y");
	EXPECT_ERR("ro/rw given twice", "--kernel", "/k", "--drive",
		   "/a,ro,overlay=/x,rw");
	EXPECT_ERR("unknown option \"overlay\"", "--kernel", "/k", "--drive",
		   "/a,overlay");
	EXPECT_ERR("is the base image itself", "--kernel", "/k", "--drive",
		   "/a,overlay=/a");
	EXPECT_ERR("empty path", "--kernel", "/k", "--drive", ",overlay=/o");

	config_init(&c);
	assert_int_equal(
		config_parse_json(&c,
				  "{\"drives\": [{\"drive_id\": \"root\", "
				  "\"path_on_host\": \"/base.ext4\", "
				  "\"is_root_device\": true, "
				  "\"kiln_overlay_path\": \"/ovl\"}]}",
				  "vm.json", err, sizeof(err)),
		0);
	assert_int_equal(c.ndrives, 1);
	assert_string_equal(c.drives[0].overlay_path, "/ovl");
	config_free(&c);
	expect_json_err("{\"drives\": [{\"drive_id\": \"a\", "
			"\"path_on_host\": \"/a\", \"is_root_device\": false, "
			"\"kiln_overlay_path\": 1}]}",
			"drives[0].kiln_overlay_path must be a string");
	expect_json_err("{\"drives\": [{\"drive_id\": \"a\", "
			"\"path_on_host\": \"/a\", \"is_root_device\": false, "
			"\"kiln_overlay_path\": \"\"}]}",
			"empty overlay path");
	expect_json_err("{\"drives\": [{\"drive_id\": \"a\", "
			"\"path_on_host\": \"/a\", \"is_root_device\": false, "
			"\"kiln_overlay_path\": \"/o\", \"overlay\": \"/o\"}]}",
			"unknown key \"overlay\" in drives[0]");
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

/* --net TAP[,mac=MAC][,id=ID], "network-interfaces" and --net-override. */
static void test_net(void **state)
{
	struct vmm_config c;
	struct vmm_launch l;
	char err[256];

	(void)state;
	config_init(&c);
	assert_int_equal(PARSE(&c, err, "--kernel", "/k", "--net", "tap0",
			       "--net", "tap1,mac=02:AB:cd:00:00:01",
			       "--net=kiln-t2,id=uplink,mac=06:00:00:00:00:ff"),
			 CONFIG_OK);
	assert_int_equal(c.nnets, 3);
	assert_string_equal(c.nets[0].id, "eth0");
	assert_string_equal(c.nets[0].tap, "tap0");
	assert_false(c.nets[0].has_mac);
	assert_string_equal(c.nets[1].id, "eth1");
	assert_true(c.nets[1].has_mac);
	assert_memory_equal(c.nets[1].mac,
			    ((uint8_t[]){0x02, 0xab, 0xcd, 0, 0, 1}), 6);
	assert_string_equal(c.nets[2].id, "uplink");
	assert_string_equal(c.nets[2].tap, "kiln-t2");
	config_free(&c);

	EXPECT_ERR("expected TAP[,mac=MAC][,id=ID]", "--kernel", "/k", "--net",
		   ",mac=02:00:00:00:00:01");
	EXPECT_ERR("unknown option \"ip=1\"", "--kernel", "/k", "--net",
		   "tap0,ip=1");
	EXPECT_ERR("mac given twice", "--kernel", "/k", "--net",
		   "tap0,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02");
	EXPECT_ERR("MAC \"01:00:00:00:00:01\"", "--kernel", "/k", "--net",
		   "tap0,mac=01:00:00:00:00:01"); /* multicast */
	EXPECT_ERR("MAC \"00:00:00:00:00:00\"", "--kernel", "/k", "--net",
		   "tap0,mac=00:00:00:00:00:00");
	EXPECT_ERR("MAC \"02:00:00:00:00\"", "--kernel", "/k", "--net",
		   "tap0,mac=02:00:00:00:00");
	EXPECT_ERR("MAC \"02-00-00-00-00-01\"", "--kernel", "/k", "--net",
		   "tap0,mac=02-00-00-00-00-01");
	EXPECT_ERR("not a valid interface name", "--kernel", "/k", "--net",
		   "a/b");
	EXPECT_ERR("not a valid interface name", "--kernel", "/k", "--net",
		   "tap%d");
	EXPECT_ERR("not a valid interface name", "--kernel", "/k", "--net",
		   "a-very-long-tap-name");
	EXPECT_ERR("interface id \"x y\"", "--kernel", "/k", "--net",
		   "tap0,id=x y");
	EXPECT_ERR("id \"eth0\" is used twice", "--kernel", "/k", "--net",
		   "tap0", "--net", "tap1,id=eth0");
	EXPECT_ERR("TAP tap0 is used by two", "--kernel", "/k", "--net", "tap0",
		   "--net", "tap0");
	EXPECT_ERR("too many network interfaces", "--kernel", "/k", "--net",
		   "t0", "--net", "t1", "--net", "t2", "--net", "t3", "--net",
		   "t4");

	config_init(&c);
	assert_int_equal(
		config_parse_json(
			&c,
			"{\"network-interfaces\": [{\"iface_id\": \"eth0\", "
			"\"host_dev_name\": \"tap5\", \"guest_mac\": "
			"\"AA:FC:00:00:00:01\"}, {\"iface_id\": \"eth1\", "
			"\"host_dev_name\": \"tap6\"}]}",
			"vm.json", err, sizeof(err)),
		0);
	assert_int_equal(c.nnets, 2);
	assert_string_equal(c.nets[0].tap, "tap5");
	assert_int_equal(c.nets[0].mac[0], 0xaa);
	assert_false(c.nets[1].has_mac);
	config_free(&c);
	expect_json_err("{\"network-interfaces\": {}}",
			"network-interfaces must be an array");
	expect_json_err("{\"network-interfaces\": [{\"iface_id\": \"eth0\", "
			"\"host_dev_name\": \"tap5\", \"rx_rate_limiter\": "
			"{}}]}",
			"unknown key \"rx_rate_limiter\" in "
			"network-interfaces[0]");
	expect_json_err("{\"network-interfaces\": [{\"iface_id\": \"eth0\"}]}",
			"network-interfaces[0] needs \"host_dev_name\"");
	expect_json_err("{\"network-interfaces\": [{\"iface_id\": \"eth0\", "
			"\"host_dev_name\": \"tap5\", \"guest_mac\": "
			"\"ff:ff:ff:ff:ff:ff\"}]}",
			"network-interfaces[0]: network interface eth0: MAC");

	/* --net-override goes with --restore only; --net does not. */
	config_init(&c);
	assert_int_equal(
		config_parse_launch(&c, &l,
				    NARGS("--restore", "/s", "--restore-mem",
					  "/m", "--net-override", "eth0=tap9"),
				    ARGS("--restore", "/s", "--restore-mem",
					 "/m", "--net-override", "eth0=tap9"),
				    err, sizeof(err)),
		CONFIG_OK);
	assert_int_equal(l.nnet_overrides, 1);
	assert_true(config_override_matches(&l.net_overrides[0], "eth0"));
	assert_false(config_override_matches(&l.net_overrides[0], "eth"));
	assert_string_equal(l.net_overrides[0].path, "tap9");
	config_free(&c);
	config_init(&c);
	assert_int_equal(
		config_parse_launch(
			&c, &l,
			NARGS("--kernel", "/k", "--net-override", "eth0=tap9"),
			ARGS("--kernel", "/k", "--net-override", "eth0=tap9"),
			err, sizeof(err)),
		CONFIG_ERROR);
	assert_non_null(strstr(err, "only go with --restore"));
	config_free(&c);
	config_init(&c);
	assert_int_equal(
		config_parse_launch(&c, &l,
				    NARGS("--restore", "/s", "--restore-mem",
					  "/m", "--net-override", "eth0"),
				    ARGS("--restore", "/s", "--restore-mem",
					 "/m", "--net-override", "eth0"),
				    err, sizeof(err)),
		CONFIG_ERROR);
	assert_non_null(strstr(err, "expected ID=TAP"));
	config_free(&c);
	config_init(&c);
	assert_int_equal(
		config_parse_launch(&c, &l,
				    NARGS("--restore", "/s", "--restore-mem",
					  "/m", "--net", "tap0"),
				    ARGS("--restore", "/s", "--restore-mem",
					 "/m", "--net", "tap0"),
				    err, sizeof(err)),
		CONFIG_ERROR);
	assert_non_null(strstr(err, "--net-override ID=TAP"));
	config_free(&c);
}

/* "none": a disconnected interface, in every place a TAP name goes. */
static void test_net_none(void **state)
{
	struct vmm_config c;
	struct vmm_launch l;
	char err[256];

	(void)state;
	config_init(&c);
	/* two disconnected ones share no TAP: allowed */
	assert_int_equal(PARSE(&c, err, "--kernel", "/k", "--net",
			       "none,id=eth0,mac=02:00:00:00:00:01", "--net",
			       "none"),
			 CONFIG_OK);
	assert_int_equal(c.nnets, 2);
	assert_string_equal(c.nets[0].tap, CONFIG_NET_NONE);
	assert_true(config_net_is_none(c.nets[0].tap));
	assert_true(c.nets[0].has_mac);
	assert_string_equal(c.nets[1].id, "eth1");
	assert_true(config_net_is_none(c.nets[1].tap));
	assert_false(config_net_is_none("tap0"));
	assert_false(config_net_is_none("None"));
	assert_false(config_net_is_none(NULL));
	config_free(&c);
	EXPECT_ERR("id \"eth0\" is used twice", "--kernel", "/k", "--net",
		   "none", "--net", "none,id=eth0");
	EXPECT_ERR("MAC \"01:00:00:00:00:01\"", "--kernel", "/k", "--net",
		   "none,mac=01:00:00:00:00:01");
	EXPECT_ERR("expected TAP[,mac=MAC][,id=ID]", "--kernel", "/k", "--net",
		   ",none");

	config_init(&c);
	assert_int_equal(
		config_parse_json(&c,
				  "{\"network-interfaces\": [{\"iface_id\": "
				  "\"eth0\", \"host_dev_name\": \"none\"}]}",
				  "vm.json", err, sizeof(err)),
		0);
	assert_true(config_net_is_none(c.nets[0].tap));
	config_free(&c);

	/* --net-override ID=none disconnects; a bare ID= is refused */
	config_init(&c);
	assert_int_equal(
		config_parse_launch(&c, &l,
				    NARGS("--restore", "/s", "--restore-mem",
					  "/m", "--net-override", "eth0=none"),
				    ARGS("--restore", "/s", "--restore-mem",
					 "/m", "--net-override", "eth0=none"),
				    err, sizeof(err)),
		CONFIG_OK);
	assert_int_equal(l.nnet_overrides, 1);
	assert_true(config_net_is_none(l.net_overrides[0].path));
	config_free(&c);
	config_init(&c);
	assert_int_equal(
		config_parse_launch(&c, &l,
				    NARGS("--restore", "/s", "--restore-mem",
					  "/m", "--net-override", "eth0="),
				    ARGS("--restore", "/s", "--restore-mem",
					 "/m", "--net-override", "eth0="),
				    err, sizeof(err)),
		CONFIG_ERROR);
	assert_non_null(strstr(err, "ID=none to disconnect"));
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
		cmocka_unit_test(test_drive_overlay),
		cmocka_unit_test(test_net),
		cmocka_unit_test(test_net_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
