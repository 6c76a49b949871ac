/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/jail.sh's driver: start VMM in a sandbox's jail the
 * way libkiln does (sandbox_prepare_dir(), sandbox_jail_setup(),
 * vmm_proc_spawn_jailed()), with --api-sock only, so no guest is needed.
 *
 *   jail_run RUNTIME_DIR VMM [VMM-ARG...]
 *
 * Prints "pid PID dir DIR" once the VMM runs, then waits until the VMM
 * exits or stdin reaches EOF (then stops it), prints "exit: HOW" and the
 * VMM's log, and tears the sandbox down (rundir_remove() and with it the
 * jail).  Each VMM-ARG "@DIR" becomes the runtime directory.
 * $JAIL_RUN_OFF=1: no jail, as with KILN_JAIL=0 (the note says so).
 * $JAIL_RUN_NETNS=1: a network namespace kiln-<id> with a root-owned
 * persistent tap0 (made with ip(8), as net_ns.c would), which the VMM joins.
 * Before the exit line it prints "status: " and kiln_sandbox_jail_status().
 * $KILN_JAIL_RELAX (read by kiln_open()) relaxes the jail as for
 * `kiln create --no-seccomp/--no-cgroup-limits`: the jail's configuration
 * and the VMM's argv go through libkiln's sandbox_jail_argv().
 */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/net.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"
#include "lib/vmm_proc.h"

#define MAX_ARGS 16

int main(int argc, char **argv)
{
	struct kiln_options o;
	struct kiln *k;
	struct kiln_sandbox *sb;
	struct sandbox_jail j;
	struct vmm_launch l = {0};
	struct vmm_argv a = {0};
	struct kiln_sandbox_info info = {0};
	const char *off = getenv("JAIL_RUN_OFF"),
		   *net = getenv("JAIL_RUN_NETNS");
	char cmd[256];
	int nsfd = -1;
	bool jailed = !(off && !strcmp(off, "1"));
	char *vargv[MAX_ARGS + 4], err[1024], what[256], buf[4096];
	int log_fd = -1, n = 0, rc = 0;
	FILE *f;

	if (argc < 3 || argc > MAX_ARGS) {
		fprintf(stderr, "usage: jail_run RUNTIME_DIR VMM [ARG...]\n");
		return 2;
	}
	kiln_options_init(&o);
	o.runtime_dir = argv[1];
	if (kiln_open(&o, &k) != KILN_OK) {
		fprintf(stderr, "jail_run: kiln_open failed\n");
		return 1;
	}
	sb = sandbox_alloc(k);
	if (!sb || sandbox_prepare_dir(sb, NULL, NULL, &log_fd)) {
		fprintf(stderr, "jail_run: %s\n", kiln_errmsg(k));
		return 1;
	}
	if (net && !strcmp(net, "1")) {
		snprintf(cmd, sizeof(cmd),
			 "ip netns add kiln-%s && ip -n kiln-%s tuntap add dev "
			 "tap0 mode tap vnet_hdr",
			 sb->id, sb->id);
		nsfd = system(cmd) == 0 ? net_ns_open(sb->id, err, sizeof(err))
					: -1;
		if (nsfd < 0) {
			fprintf(stderr, "jail_run: netns: %s\n", err);
			rc = 1;
			goto out;
		}
		sb->netns = true;
	}
	l.vmm_path = argv[2];
	l.cpus = 1;
	l.memory_mib = 128;
	l.vsock_uds = sb->uds_path;
	l.console = sb->console_path;
	l.api_sock = sb->api_path;
	if (jailed)
		rc = sandbox_jail_setup(sb, &l, &j, err, sizeof(err));
	else
		sandbox_jail_note_off(sb, "JAIL_RUN_OFF=1");
	if (rc) {
		fprintf(stderr, "jail_run: %s\n", err);
		goto out;
	}
	vargv[n++] = argv[2];
	for (int i = 3; i < argc; i++)
		vargv[n++] = strcmp(argv[i], "@DIR") ? argv[i] : sb->dir;
	vargv[n++] = "--api-sock";
	vargv[n++] = sb->api_path;
	vargv[n] = NULL;
	/* libkiln's argv, owned copies: what sandbox_jail_argv() appends */
	for (a.argc = 0; a.argc < n; a.argc++)
		if (!(a.argv[a.argc] = strdup(vargv[a.argc])))
			rc = KILN_ENOMEM;
	if (!rc)
		rc = sandbox_jail_argv(sb, &a, err, sizeof(err));
	if (!rc)
		rc = vmm_proc_spawn_jailed(&sb->vmm, a.argv, log_fd, nsfd,
					   false, jailed ? &j.cfg : NULL, err,
					   sizeof(err));
	vmm_argv_free(&a);
	if (jailed)
		sandbox_jail_free(&j);
	if (rc) {
		fprintf(stderr, "jail_run: %s\n", err);
		goto out;
	}
	printf("pid %d dir %s\n", (int)sb->vmm.pid, sb->dir);
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = {{.fd = sb->vmm.pidfd, .events = POLLIN},
				      {.fd = 0, .events = POLLIN}};

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents)
			break;
		if (p[1].revents && read(0, buf, sizeof(buf)) <= 0)
			break;
	}
	info.runtime_dir = sb->dir;
	if (kiln_sandbox_jail_status(&info, buf, sizeof(buf)) == KILN_OK)
		printf("status: %s\n", buf);
	vmm_proc_stop(&sb->vmm, 0, 2000);
	vmm_proc_describe(&sb->vmm, what, sizeof(what));
	printf("exit: %s\n", what);
	if (WIFSIGNALED(sb->vmm.wstatus))
		printf("signal: %d\n", WTERMSIG(sb->vmm.wstatus));
	f = fopen(sb->vmm_log_path, "r");
	while (f && fgets(buf, sizeof(buf), f))
		fputs(buf, stdout);
	if (f)
		fclose(f);
out:
	if (nsfd >= 0) {
		close(nsfd);
		snprintf(cmd, sizeof(cmd), "ip netns del kiln-%s", sb->id);
		if (system(cmd) != 0)
			printf("cannot remove netns kiln-%s\n", sb->id);
	}
	close(log_fd);
	if (sandbox_teardown(sb, false, err, sizeof(err)))
		printf("teardown: %s\n", err);
	kiln_close(k);
	return rc ? 1 : 0;
}
