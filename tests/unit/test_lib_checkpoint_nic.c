/* SPDX-License-Identifier: MIT */
/*
 * checkpoint_state_has_nic(): which NICs a kiln-vmm state file has, read
 * from files written by the VMM's own writer (snap_file_write() of a body
 * with vmm_config_put()), so a change of the VMM's format that the reader
 * misses fails here.  Decides whether a rollback may connect eth0 to the
 * sandbox's TAP (sandbox_launch.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/checkpoint.h"
#include "vmm/config.h"
#include "vmm/snapshot.h"
#include "vmm/vmm.h"

static char dir[] = "/tmp/kiln-test-cpnic-XXXXXX";
static char path[128];

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/state", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

/* A state file like a real one: another section before VM_CONFIG (to be
 * skipped), one after; nnets NICs named eth0, eth1... */
static void write_state(int nnets, const char *first_id, bool drive)
{
	struct vmm_config c;
	struct snap_buf b;
	char err[256], ids[4][8];
	size_t mark;

	memset(&c, 0, sizeof(c));
	c.cmdline = "console=ttyS0 reboot=t panic=-1";
	c.ncpus = 1;
	c.mem_mib = 256;
	if (drive) {
		c.ndrives = 1;
		c.drives[0] =
			(struct config_drive){.id = "rootfs",
					      .path = "/img/base.ext4",
					      .is_root = true,
					      .overlay_path = "/r/root.ovl"};
	}
	c.vsock = true;
	c.vsock_cid = 3;
	c.vsock_uds = "/r/vsock.sock";
	c.rng = true;
	c.console = CONSOLE_FILE;
	c.console_path = "/r/console.log";
	c.nnets = nnets;
	for (int i = 0; i < nnets; i++) {
		snprintf(ids[i], sizeof(ids[i]), "eth%d", i);
		c.nets[i] = (struct config_net){
			.id = i == 0 && first_id ? (char *)first_id : ids[i],
			.tap = "none",
			.has_mac = true,
			.mac = {2, 0, 0, 0, 0, (uint8_t)i}};
	}
	snap_buf_init(&b);
	mark = snap_section_begin(&b, SNAP_TAG_VM_INFO, 0);
	snap_put_u64(&b, 0x1234);
	snap_put_str(&b, "eth0"); /* not VM_CONFIG: must not count */
	snap_section_end(&b, mark);
	mark = snap_section_begin(&b, SNAP_TAG_VM_CONFIG, 0);
	vmm_config_put(&b, &c);
	snap_section_end(&b, mark);
	mark = snap_section_begin(&b, SNAP_TAG_CLOCK, 0);
	snap_put_u64(&b, 42);
	snap_section_end(&b, mark);
	assert_false(b.oom);
	assert_int_equal(snap_file_write(path, &b, err, sizeof(err)), 0);
	snap_buf_free(&b);
}

static void test_with_nic(void **state)
{
	(void)state;
	write_state(1, NULL, true);
	assert_int_equal(checkpoint_state_has_nic(path, "eth0"), 1);
	assert_int_equal(checkpoint_state_has_nic(path, "eth1"), 0);
	write_state(2, "net9", false);
	assert_int_equal(checkpoint_state_has_nic(path, "eth0"), 0);
	assert_int_equal(checkpoint_state_has_nic(path, "eth1"), 1);
	assert_int_equal(checkpoint_state_has_nic(path, "net9"), 1);
	/* a prefix of a name is not the name */
	assert_int_equal(checkpoint_state_has_nic(path, "net"), 0);
}

static void test_without_nic(void **state)
{
	(void)state;
	write_state(0, NULL, true);
	assert_int_equal(checkpoint_state_has_nic(path, "eth0"), 0);
}

/* Anything not readable is "not known" (-1): the caller keeps the TAP and
 * lets the VMM report what is wrong. */
static void test_unknown(void **state)
{
	FILE *f;
	long size;
	char *buf;

	(void)state;
	assert_int_equal(checkpoint_state_has_nic("/nonexistent/x", "eth0"),
			 -1);
	assert_int_equal(checkpoint_state_has_nic(NULL, "eth0"), -1);
	write_state(1, NULL, true);
	assert_int_equal(checkpoint_state_has_nic(path, NULL), -1);

	/* every truncation of a valid file: never a crash, never "yes" or
	 * "no" from a file whose VM_CONFIG is cut */
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	buf = malloc((size_t)size);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	for (long n = 0; n < size; n++) {
		int r;

		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		r = checkpoint_state_has_nic(path, "eth0");
		/* the CLOCK section after VM_CONFIG may be cut: VM_CONFIG
		 * complete still answers */
		assert_true(r == -1 || r == 1);
	}
	/* a wrong magic and a wrong version */
	buf[0] = 'X';
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	assert_int_equal(checkpoint_state_has_nic(path, "eth0"), -1);
	buf[0] = 'K';
	buf[8] = 7;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	assert_int_equal(checkpoint_state_has_nic(path, "eth0"), -1);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_with_nic),
		cmocka_unit_test(test_without_nic),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
