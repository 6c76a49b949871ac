/* SPDX-License-Identifier: MIT */
/*
 * kiln-vmm: one microVM per process.  Parse the command line, then boot
 * (--kernel), restore (--restore) or wait for the API (--api-sock), and exit
 * with the status that says how the guest ended (see config_usage()).  The
 * work is in vmm.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef KILN_JAIL_TEST
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#endif

#include "config.h"
#include "seccomp.h"
#include "vm.h"
#include "vmm.h"

#ifdef __SANITIZE_ADDRESS__
#include <unistd.h>
const char *__asan_default_options(void);
/*
 * Sanitizer builds only: in the jail (no /proc) LeakSanitizer cannot stop
 * the world at exit and dies instead; leaks are checked unjailed.
 */
const char *__asan_default_options(void)
{
	return access("/proc/self/maps", R_OK) == 0 ? "" : "detect_leaks=0";
}
#endif

static int64_t start_time_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int vmm_launch(struct vmm *v, const struct vmm_launch *l, char *err,
		      size_t errlen)
{
	struct vmm_restore_req r = {0};

	if (l->api_sock && vmm_api_start(v, l->api_sock, err, errlen))
		return -1;
	if (l->restore_path) {
		r.state_path = l->restore_path;
		r.mem_path = l->restore_mem;
		r.vsock_uds = l->vsock_uds_set ? v->cfg->vsock_uds : NULL;
		r.ndrives = l->ndrive_overrides;
		memcpy(r.drives, l->drive_overrides, sizeof(r.drives));
		r.nnets = l->nnet_overrides;
		memcpy(r.nets, l->net_overrides, sizeof(r.nets));
		r.paused = l->paused;
		r.track_dirty = l->track_dirty;
		return vmm_restore(v, &r, err, errlen);
	}
	if (v->cfg->kernel_path)
		return vmm_boot(v, err, errlen);
	return 0; /* --api-sock alone: configured through the API */
}

#ifdef KILN_JAIL_TEST
/*
 * Test build only (make build/kiln-vmm-jailtest, tests/integration/jail.sh):
 * --jail-test=probe DIR (first arguments) reports what the jail lets the
 * started process do and exits; --jail-test=syscall makes a system call no
 * allowlist has, after the filters are in place, and must not survive it.
 */
static void jail_probe_one(const char *what, int rc)
{
	printf("jailtest: %s: %s\n", what,
	       rc < 0 ? strerrorname_np(errno) : "ok");
}

static int jail_probe(const char *dir)
{
	char *const sh_argv[] = {"/bin/sh", "-c", "true", NULL};
	char path[4096];
	int fd;

	fd = open("/etc/shadow", O_RDONLY | O_CLOEXEC);
	jail_probe_one("open /etc/shadow", fd);
	fd = open("/../../../etc/passwd", O_RDONLY | O_CLOEXEC);
	jail_probe_one("open /../../../etc/passwd", fd);
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	jail_probe_one("open /dev/kvm", fd);
	jail_probe_one("mknod /dev/sda",
		       mknod("/dev/sda", S_IFBLK | 0600, makedev(8, 0)));
	jail_probe_one("exec /bin/sh", execve("/bin/sh", sh_argv, NULL));
	/* a program the jail wrote itself, in its writable directory */
	snprintf(path, sizeof(path), "%s/jailtest-prog", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	jail_probe_one("create in the runtime directory", fd);
	if (fd >= 0) {
		if (write(fd, "#!/bin/sh\n", 10) != 10)
			perror("write");
		close(fd);
	}
	jail_probe_one("exec a written file", execve(path, sh_argv, NULL));
	fflush(stdout);
	return 0;
}
#endif

int main(int argc, char **argv)
{
	int64_t t0 = start_time_ns();
	struct vmm_config cfg;
	struct vmm_launch launch;
	struct vmm v;
	char err[1024];
	enum vm_exit status;
	int rc;
#ifdef KILN_JAIL_TEST
	bool syscall_test = false;

	if (argc > 2 && !strcmp(argv[1], "--jail-test=probe"))
		return jail_probe(argv[2]);
	if (argc > 1 && !strcmp(argv[1], "--jail-test=syscall")) {
		syscall_test = true;
		argv[1] = argv[0];
		argv++;
		argc--;
	}
#endif

	config_init(&cfg);
	switch (config_parse_launch(&cfg, &launch, argc, argv, err,
				    sizeof(err))) {
	case CONFIG_HELP:
		fputs(config_usage(), stdout);
		config_free(&cfg);
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "kiln-vmm: %s\n", err);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	case CONFIG_OK:
		break;
	}
	rc = vm_block_signals();
	if (rc) {
		fprintf(stderr, "kiln-vmm: cannot set up signals: %s\n",
			strerror(-rc));
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	/* Before any VM, file or socket exists: everything after this runs
	 * under the main thread's allowlist (vCPU threads add their own). */
	seccomp_set_mode(launch.no_seccomp    ? SECCOMP_OFF
			 : launch.seccomp_log ? SECCOMP_LOG
					      : SECCOMP_ENFORCE);
	if (seccomp_install(SECCOMP_VMM_MAIN, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: %s\n", err);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
#ifdef KILN_JAIL_TEST
	if (syscall_test) {
		long r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);

		printf("jailtest: ptrace survived (%ld, %s)\n", r,
		       strerrorname_np(errno));
		fflush(stdout);
		return 0;
	}
#endif
	if (vmm_init(&v, &cfg, &launch, t0, err, sizeof(err)) ||
	    vmm_launch(&v, &launch, err, sizeof(err))) {
		fprintf(stderr, "kiln-vmm: %s\n", err);
		vmm_teardown(&v);
		config_free(&cfg);
		return VM_EXIT_ERROR;
	}
	status = vmm_run(&v);
	vmm_report_end(&v, status);
	vmm_teardown(&v);
	config_free(&cfg);
	return (int)status;
}
