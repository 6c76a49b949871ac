/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of snapshots on the VMM side: the MSR list, vCPU record
 * framing, the VM_CONFIG / VM_INFO codecs and checks, memory files (sparse,
 * identity checks), the launch flags, and the pause handshake with fake
 * vCPU threads (no KVM needed).
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/config.h"
#include "vmm/guest_mem.h"
#include "vmm/mem_file.h"
#include "vmm/snapshot.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"
#include "vmm/vmm.h"

static void test_msr_list(void **state)
{
	const uint32_t kvm[] = {0xc0000082, 0x10, 0x3b, 0x4b564d01, 0x3b};
	uint32_t out[64];
	size_t n = vcpu_msr_list(kvm, 5, out, 64);

	(void)state;
	assert_int_equal(out[0], 0x10); /* IA32_TSC first */
	for (size_t i = 1; i < n; i++)
		assert_true(out[i - 1] < out[i]); /* sorted, no duplicates */
	for (size_t k = 0; k < 5; k++) {
		bool found = false;

		for (size_t i = 0; i < n; i++)
			found |= out[i] == kvm[k];
		assert_true(found);
	}
	assert_true(vcpu_msr_essential(0x6e0));
	assert_true(vcpu_msr_essential(0x4b564d01));
	assert_false(vcpu_msr_essential(0x3b));
	/* cap respected */
	assert_int_equal(vcpu_msr_list(kvm, 5, out, 3), 3);
}

static void put_rec(struct snap_buf *b, uint32_t kind, uint32_t len)
{
	snap_put_u32(b, kind);
	snap_put_u32(b, len);
	for (uint32_t i = 0; i < len; i++)
		snap_put_u8(b, (uint8_t)i);
}

static int parse(struct snap_buf *b)
{
	const uint8_t *rec[VCPU_REC_MAX];
	uint32_t len[VCPU_REC_MAX];
	struct snap_reader r;

	snap_reader_init(&r, b->data, b->len);
	return vcpu_state_parse(&r, rec, len);
}

static void test_vcpu_records(void **state)
{
	struct snap_buf b;
	const uint8_t *rec[VCPU_REC_MAX];
	uint32_t len[VCPU_REC_MAX];
	struct snap_reader r;

	(void)state;
	snap_buf_init(&b);
	put_rec(&b, VCPU_REC_REGS, 16);
	put_rec(&b, VCPU_REC_LAPIC, 0);
	snap_reader_init(&r, b.data, b.len);
	assert_int_equal(vcpu_state_parse(&r, rec, len), 0);
	assert_int_equal(len[VCPU_REC_REGS], 16);
	assert_int_equal(rec[VCPU_REC_REGS][15], 15);
	assert_non_null(rec[VCPU_REC_LAPIC]);
	assert_null(rec[VCPU_REC_SREGS]);

	put_rec(&b, VCPU_REC_REGS, 4); /* repeated */
	assert_int_equal(parse(&b), -1);
	snap_buf_free(&b);

	snap_buf_init(&b);
	put_rec(&b, VCPU_REC_MAX, 4); /* unknown */
	assert_int_equal(parse(&b), -1);
	snap_buf_free(&b);

	snap_buf_init(&b);
	put_rec(&b, VCPU_REC_REGS, 8);
	b.len -= 1; /* record runs past the end */
	assert_int_equal(parse(&b), -1);
	b.len -= 10; /* header cut */
	assert_int_equal(parse(&b), -1);
	snap_buf_free(&b);
}

static void sample_config(struct vmm_config *c)
{
	config_init(c);
	c->cmdline = strdup("console=ttyS0 init=/sbin/kiln-agent");
	c->ncpus = 2;
	c->mem_mib = 512;
	c->cpu_template = CPU_TEMPLATE_BASELINE;
	c->ndrives = 2;
	c->drives[0] = (struct config_drive){.id = strdup("rootfs"),
					     .path = strdup("/img/base.ext4"),
					     .read_only = true,
					     .is_root = true};
	c->drives[1] = (struct config_drive){.id = strdup("data"),
					     .path = strdup("/d")};
	c->drives[1].overlay_path = strdup("/run/data.ovl");
	c->nnets = 2;
	c->nets[0] = (struct config_net){.id = strdup("eth0"),
					 .tap = strdup("tap0")};
	c->nets[1] = (struct config_net){.id = strdup("up"),
					 .tap = strdup("kiln-up"),
					 .has_mac = true,
					 .mac = {2, 0, 0, 0, 0, 9}};
	c->vsock = true;
	c->vsock_cid = 7;
	c->vsock_uds = strdup("/run/v.sock");
	c->rng = true;
	c->console = CONSOLE_FILE;
	c->console_path = strdup("/run/console.log");
}

static void test_config_codec(void **state)
{
	struct vmm_config c, d;
	struct snap_buf b;
	struct snap_reader r;
	char err[256];

	(void)state;
	sample_config(&c);
	snap_buf_init(&b);
	vmm_config_put(&b, &c);
	config_init(&d);
	snap_reader_init(&r, b.data, b.len);
	assert_int_equal(vmm_config_get(&r, &d, err, sizeof(err)), 0);
	assert_string_equal(d.cmdline, c.cmdline);
	assert_int_equal(d.ncpus, 2);
	assert_int_equal(d.mem_mib, 512);
	assert_int_equal(d.cpu_template, CPU_TEMPLATE_BASELINE);
	assert_int_equal(d.ndrives, 2);
	assert_string_equal(d.drives[1].id, "data");
	assert_string_equal(d.drives[0].path, "/img/base.ext4");
	assert_true(d.drives[0].read_only && d.drives[0].is_root);
	assert_false(d.drives[1].read_only || d.drives[1].is_root);
	assert_null(d.drives[0].overlay_path);
	assert_string_equal(d.drives[1].overlay_path, "/run/data.ovl");
	assert_int_equal(d.nnets, 2);
	assert_string_equal(d.nets[0].tap, "tap0");
	assert_false(d.nets[0].has_mac);
	assert_string_equal(d.nets[1].id, "up");
	assert_true(d.nets[1].has_mac);
	assert_int_equal(d.nets[1].mac[5], 9);
	assert_true(d.vsock && d.vsock_cid == 7 && d.rng);
	assert_string_equal(d.vsock_uds, "/run/v.sock");
	assert_int_equal(d.console, CONSOLE_FILE);
	assert_string_equal(d.console_path, "/run/console.log");
	config_free(&d);

	/* every truncation is refused */
	for (size_t n = 0; n < b.len; n++) {
		config_init(&d);
		snap_reader_init(&r, b.data, n);
		assert_int_equal(vmm_config_get(&r, &d, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "corrupt"));
		config_free(&d);
	}
	/* out-of-range values are refused */
	c.ncpus = 0;
	snap_buf_free(&b);
	snap_buf_init(&b);
	vmm_config_put(&b, &c);
	config_init(&d);
	snap_reader_init(&r, b.data, b.len);
	assert_int_equal(vmm_config_get(&r, &d, err, sizeof(err)), -1);
	config_free(&d);
	snap_buf_free(&b);
	config_free(&c);
}

static void test_info(void **state)
{
	struct vmm_config c;
	struct vmm_info a, b;
	struct snap_buf buf;
	struct snap_reader r;
	char err[512];

	(void)state;
	sample_config(&c);
	vmm_info_host(&a, &c);
	assert_int_equal(strlen(a.vendor), 12);
	snap_buf_init(&buf);
	vmm_info_put(&buf, &a);
	snap_reader_init(&r, buf.data, buf.len);
	assert_int_equal(vmm_info_get(&r, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(vmm_info_check(&a, &b, err, sizeof(err)), 0);

	/* another CPU model: fine with baseline, refused with host */
	b.model ^= 1;
	assert_int_equal(vmm_info_check(&a, &b, err, sizeof(err)), 0);
	a.cpu_template = b.cpu_template = CPU_TEMPLATE_HOST;
	assert_int_equal(vmm_info_check(&a, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "model"));
	b = a;
	memcpy(b.vendor, "AuthenticAMD", 12);
	memcpy(a.vendor, "GenuineIntel", 12);
	assert_int_equal(vmm_info_check(&a, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "GenuineIntel"));
	b = a;
	b.ncpus++;
	assert_int_equal(vmm_info_check(&a, &b, err, sizeof(err)), -1);
	snap_reader_init(&r, buf.data, buf.len - 1);
	assert_int_equal(vmm_info_get(&r, &b), -1);
	snap_buf_free(&buf);
	config_free(&c);
}

static void test_mem_runs(void **state)
{
	uint8_t *p = calloc(8, 4096);

	(void)state;
	assert_non_null(p);
	assert_int_equal(mem_next_nonzero(p, 8, 0), 8);
	p[2 * 4096 + 4095] = 1;
	p[3 * 4096] = 1;
	p[6 * 4096 + 7] = 1;
	assert_int_equal(mem_next_nonzero(p, 8, 0), 2);
	assert_int_equal(mem_next_zero(p, 8, 2), 4);
	assert_int_equal(mem_next_nonzero(p, 8, 4), 6);
	assert_int_equal(mem_next_zero(p, 8, 6), 7);
	assert_int_equal(mem_next_zero(p, 7, 6), 7);
	free(p);
}

static void test_mem_file(void **state)
{
	char dir[] = "/tmp/kiln-memfile-XXXXXX", path[256], other[256];
	struct guest_mem m, layout;
	struct mem_file_id id, back;
	struct snap_buf b;
	struct snap_reader r;
	struct stat st;
	char err[512];
	uint8_t page[4096];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mem", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	assert_int_equal(guest_mem_alloc(&m, 128 << 20), 0);
	memset(m.r[0].hva + 5 * 4096, 0xab, 4096);
	m.r[0].hva[(64 << 20) + 3] = 0x5a;
	assert_int_equal(mem_file_write(&m, path, &id, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 128 << 20);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* sparse */
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, page, 4096, 5 * 4096), 4096);
	assert_int_equal(page[0], 0xab);
	assert_int_equal(page[4095], 0xab);
	assert_int_equal(pread(fd, page, 4096, 64 << 20), 4096);
	assert_int_equal(page[3], 0x5a);
	close(fd);

	/* the MEMORY section round trip, and the checks on open */
	snap_buf_init(&b);
	mem_file_id_put(&b, &id);
	snap_reader_init(&r, b.data, b.len);
	assert_true(mem_file_id_get(&r, &back));
	assert_true(snap_reader_done(&r));
	assert_int_equal(guest_mem_layout(&layout, 128 << 20), 0);
	fd = mem_file_open(path, &back, &layout, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	/* a copy is another file */
	assert_int_equal(mem_file_write(&m, other, &id, err, sizeof(err)), 0);
	assert_int_equal(rename(other, path), 0);
	assert_int_equal(mem_file_open(path, &back, &layout, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "not the one written"));
	/* truncated */
	back = id;
	assert_int_equal(truncate(path, 64 << 20), 0);
	assert_int_equal(mem_file_open(path, &back, &layout, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "truncated"));
	/* layout from another memory size */
	assert_int_equal(guest_mem_layout(&layout, 256 << 20), 0);
	assert_int_equal(mem_file_open(path, &back, &layout, err, sizeof(err)),
			 -1);
	/* a missing file */
	assert_int_equal(mem_file_open(other, &back, &layout, err, sizeof(err)),
			 -1);

	/* restore mapping: private, the file is never written */
	assert_int_equal(mem_file_write(&m, path, &id, err, sizeof(err)), 0);
	guest_mem_free(&m);
	fd = open(path, O_RDONLY);
	assert_int_equal(guest_mem_map_file(&m, 128 << 20, fd), 0);
	close(fd);
	assert_int_equal(m.r[0].hva[5 * 4096], 0xab);
	m.r[0].hva[5 * 4096] = 1;
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, page, 1, 5 * 4096), 1);
	assert_int_equal(page[0], 0xab);
	close(fd);
	guest_mem_free(&m);
	snap_buf_free(&b);
	unlink(path);
	rmdir(dir);
}

static void test_mem_file_diff(void **state)
{
	char dir[] = "/tmp/kiln-memdiff-XXXXXX", base[256], diff[256];
	struct guest_mem m;
	struct mem_file_id id, base_id;
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS] = {NULL};
	uint8_t page[4096];
	char err[512];
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(base, sizeof(base), "%s/base", dir);
	snprintf(diff, sizeof(diff), "%s/diff", dir);
	assert_int_equal(guest_mem_alloc(&m, 128 << 20), 0);
	memset(m.r[0].hva + 1 * 4096, 0x11, 4096);
	memset(m.r[0].hva + 2 * 4096, 0x22, 4096);
	memset(m.r[0].hva + 9 * 4096, 0x99, 4096);
	assert_int_equal(mem_file_write(&m, base, &base_id, err, sizeof(err)),
			 0);

	/* after the base: page 1 changed, page 2 zeroed, page 7 new; page 9
	 * changed but not marked dirty (so the diff keeps the base's) */
	memset(m.r[0].hva + 1 * 4096, 0x33, 4096);
	memset(m.r[0].hva + 2 * 4096, 0, 4096);
	memset(m.r[0].hva + 7 * 4096, 0x77, 4096);
	memset(m.r[0].hva + 9 * 4096, 0xee, 4096);
	dirty[0] = calloc(1, guest_mem_bitmap_bytes(m.r[0].size));
	assert_non_null(dirty[0]);
	dirty[0][0] = (1u << 1) | (1u << 2) | (1u << 7);
	assert_int_equal(mem_file_write_diff(&m, base, &base_id, diff, dirty,
					     &id, err, sizeof(err)),
			 0);
	assert_int_equal(stat(diff, &st), 0);
	assert_int_equal(st.st_size, 128 << 20);
	assert_true(st.st_blocks * 512 < (1 << 20)); /* still sparse */
	fd = open(diff, O_RDONLY);
	assert_true(fd >= 0);
	const struct {
		int page;
		uint8_t want;
	} expect[] = {{0, 0}, {1, 0x33}, {2, 0}, {7, 0x77}, {9, 0x99}};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		assert_int_equal(pread(fd, page, 4096, expect[i].page * 4096),
				 4096);
		assert_int_equal(page[0], expect[i].want);
		assert_int_equal(page[4095], expect[i].want);
	}
	close(fd);
	/* a base that is not the one recorded is refused: the diff itself
	 * (another inode), then a truncated base */
	assert_int_equal(mem_file_write_diff(&m, diff, &base_id, base, dirty,
					     &id, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "not the one written"));
	assert_int_equal(truncate(base, 4096), 0);
	assert_int_equal(mem_file_write_diff(&m, base, &base_id, diff, dirty,
					     &id, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "truncated"));
	free(dirty[0]);
	guest_mem_free(&m);
	unlink(base);
	unlink(diff);
	rmdir(dir);
}

#define LARGS(...) ((char *const[]){"kiln-vmm", __VA_ARGS__})
#define LNARGS(...) \
	((int)(sizeof((char *[]){"kiln-vmm", __VA_ARGS__}) / sizeof(char *)))
#define LAUNCH(c, l, err, ...)                                             \
	config_parse_launch(c, l, LNARGS(__VA_ARGS__), LARGS(__VA_ARGS__), \
			    err, sizeof(err))

static void test_launch_flags(void **state)
{
	struct vmm_config c;
	struct vmm_launch l;
	char err[512];

	(void)state;
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--restore", "s", "--restore-mem",
				"m", "--vsock-uds", "/x.sock",
				"--drive-override", "rootfs=/b.ext4",
				"--paused"),
			 CONFIG_OK);
	assert_string_equal(l.restore_path, "s");
	assert_string_equal(l.restore_mem, "m");
	assert_true(l.paused && l.vsock_uds_set && !l.console_set);
	assert_int_equal(l.ndrive_overrides, 1);
	assert_true(config_override_matches(&l.drive_overrides[0], "rootfs"));
	assert_false(config_override_matches(&l.drive_overrides[0], "root"));
	assert_false(config_override_matches(&l.drive_overrides[0], "rootfs2"));
	assert_string_equal(l.drive_overrides[0].path, "/b.ext4");
	config_free(&c);

	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--restore", "s"), CONFIG_ERROR);
	assert_non_null(strstr(err, "--restore-mem"));
	config_free(&c);
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--restore", "s", "--restore-mem",
				"m", "--kernel", "k"),
			 CONFIG_ERROR);
	config_free(&c);
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--restore", "s", "--restore-mem",
				"m", "--cpus", "2"),
			 CONFIG_ERROR);
	assert_non_null(strstr(err, "from the snapshot"));
	config_free(&c);
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--paused"), CONFIG_ERROR);
	config_free(&c);
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--restore", "s", "--restore-mem",
				"m", "--drive-override", "noequals"),
			 CONFIG_ERROR);
	config_free(&c);
	/* the API alone: no kernel needed yet */
	config_init(&c);
	assert_int_equal(LAUNCH(&c, &l, err, "--api-sock", "/a.sock"),
			 CONFIG_OK);
	assert_string_equal(l.api_sock, "/a.sock");
	config_free(&c);
	/* without launch, the launch flags are unknown */
	config_init(&c);
	assert_int_equal(config_parse_args(&c, LNARGS("--api-sock", "/a"),
					   LARGS("--api-sock", "/a"), err,
					   sizeof(err)),
			 CONFIG_ERROR);
	config_free(&c);
}

/* --- the pause handshake with fake vCPU threads --- */

static void *fake_vcpu(void *arg)
{
	struct vcpu *v = arg;

	/* What vcpu_thread does between KVM_RUNs, minus KVM. */
	while (!vm_exiting(v->vm)) {
		vm_vcpu_park_if_paused(v->vm, v);
		sched_yield();
	}
	pthread_mutex_lock(&v->vm->run_lock);
	v->exited = true;
	pthread_cond_broadcast(&v->vm->run_cond);
	pthread_mutex_unlock(&v->vm->run_lock);
	return NULL;
}

static void fake_vm(struct vm *vm, struct vcpu *vcpus, int n)
{
	pthread_condattr_t ca;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	pthread_mutex_init(&vm->exit_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->run_cond, &ca);
	vm->ncpus = n;
	vm->vcpus = vcpus;
	memset(vcpus, 0, sizeof(*vcpus) * (size_t)n);
	assert_int_equal(vcpu_kick_install(), 0);
	for (int i = 0; i < n; i++) {
		vcpus[i].vm = vm;
		vcpus[i].id = i;
		vcpus[i].fd = -1;
		assert_int_equal(pthread_create(&vcpus[i].thread, NULL,
						fake_vcpu, &vcpus[i]),
				 0);
		vcpus[i].started = true;
	}
}

static void test_pause_cycles(void **state)
{
	struct vcpu vcpus[3];
	struct vm vm;
	char err[256];

	(void)state;
	fake_vm(&vm, vcpus, 3);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(vm_pause(&vm, 5000, err, sizeof(err)), 0);
		assert_true(vm_is_paused(&vm));
		pthread_mutex_lock(&vm.run_lock);
		for (int k = 0; k < 3; k++)
			assert_true(vcpus[k].parked &&
				    vcpus[k].parked_epoch == vm.pause_epoch);
		pthread_mutex_unlock(&vm.run_lock);
		/* pausing twice is a no-op */
		assert_int_equal(vm_pause(&vm, 5000, err, sizeof(err)), 0);
		vm_resume(&vm);
		assert_false(vm_is_paused(&vm));
	}
	/* ending while paused: every thread leaves */
	assert_int_equal(vm_pause(&vm, 5000, err, sizeof(err)), 0);
	vm_request_exit(&vm, VM_EXIT_SIGNAL);
	for (int k = 0; k < 3; k++)
		pthread_join(vcpus[k].thread, NULL);
	assert_int_equal(vm_pause(&vm, 100, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "shutting down"));
}

static void *stuck_vcpu(void *arg)
{
	struct vcpu *v = arg;

	while (!vm_exiting(v->vm))
		sched_yield(); /* never reaches a park point */
	return NULL;
}

static void test_pause_timeout(void **state)
{
	struct vcpu vcpus[2];
	struct vm vm;
	char err[256];

	(void)state;
	fake_vm(&vm, vcpus, 1);
	memset(&vcpus[1], 0, sizeof(vcpus[1]));
	vcpus[1].vm = &vm;
	vcpus[1].id = 1;
	vcpus[1].fd = -1;
	assert_int_equal(
		pthread_create(&vcpus[1].thread, NULL, stuck_vcpu, &vcpus[1]),
		0);
	vcpus[1].started = true;
	vm.ncpus = 2;
	assert_int_equal(vm_pause(&vm, 200, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "vCPU 1 did not stop"));
	assert_false(vm_is_paused(&vm));
	vm_request_exit(&vm, VM_EXIT_SIGNAL);
	for (int k = 0; k < 2; k++)
		pthread_join(vcpus[k].thread, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msr_list),
		cmocka_unit_test(test_vcpu_records),
		cmocka_unit_test(test_config_codec),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_mem_runs),
		cmocka_unit_test(test_mem_file),
		cmocka_unit_test(test_mem_file_diff),
		cmocka_unit_test(test_launch_flags),
		cmocka_unit_test(test_pause_cycles),
		cmocka_unit_test(test_pause_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
