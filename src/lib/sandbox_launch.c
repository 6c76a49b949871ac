/* SPDX-License-Identifier: MIT */
/*
 * How a sandbox's VMM comes to life (split from sandbox.c): finding
 * kiln-vmm and /dev/kvm, the runtime directory, the kiln-vmm command line
 * (boot, base snapshot build, restore), spawning it (network namespace,
 * jail), and waiting for the agent, which then gets the clone's identity
 * and, with a network namespace, its address.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/proto.h"
#include "kiln.h"
#include "lib/checkpoint.h"
#include "lib/console.h"
#include "lib/handle.h"
#include "lib/net.h"
#include "lib/overlay_copy.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/sandbox_jail.h"
#include "lib/snapshot_base.h"
#include "lib/vmm_argv.h"

#define ERRLEN 1024
/*
 * One vsock connect up to the VMM's "OK".  While the guest's vsock driver
 * is not up yet the VMM holds CONNECT requests, so attempts run into this
 * timeout; it also bounds how late progress reports are made.
 *
 * The agent's hello after "OK" gets CONNECT_ATTEMPT_MS on the first
 * attempt and twice as long on each next one (up to HELLO_MAX_MS): a
 * guest starved of CPU answers late, and a fixed 2 s threw its work away
 * on every attempt (ten clones restoring at once on an emulating host all
 * failed so); but a connection accepted just before the guest handled its
 * vsock transport reset (a restore) is dropped without a word, and a long
 * first wait would hang on it.  Identity and network replies, on a
 * connection that has answered, get the rest of the boot deadline up to
 * REPLY_MAX_MS (at least their fixed times below).
 */
#define CONNECT_ATTEMPT_MS 2000
#define HELLO_MAX_MS 64000
#define REPLY_MAX_MS 60000
#define RETRY_MIN_MS 10
#define RETRY_MAX_MS 250
#define PROGRESS_EVERY_MS 1000
#define IDENTITY_TIMEOUT_MS 10000 /* a restored guest takes its identity */
/* the guest sets its address (and waits up to 5 s for its link) */
#define NET_CONFIG_TIMEOUT_MS 15000

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* What is left until deadline, at least min_ms, at most REPLY_MAX_MS. */
static int left_ms(uint64_t deadline, int min_ms)
{
	uint64_t now = now_ms();
	uint64_t left = deadline > now ? deadline - now : 0;

	if (left > REPLY_MAX_MS)
		left = REPLY_MAX_MS;
	return left > (uint64_t)min_ms ? (int)left : min_ms;
}

static char *path_in(const char *dir, const char *name)
{
	char *s;

	if (asprintf(&s, "%s/%s", dir, name) < 0)
		return NULL;
	return s;
}

/* Find the VMM program: a path with '/' as is, else a $PATH lookup. */
int sandbox_vmm_resolve(struct kiln *k, char **out)
{
	const char *p = k->path_env;

	*out = NULL;
	if (strchr(k->vmm_path, '/')) {
		if (access(k->vmm_path, X_OK) < 0)
			return handle_fail(
				k, KILN_ENOTFOUND,
				"kiln-vmm not found at %s (%s); build it with "
				"'make' or set KILN_VMM",
				k->vmm_path, strerror(errno));
		*out = strdup(k->vmm_path);
		return *out ? KILN_OK : KILN_ENOMEM;
	}
	while (*p) {
		size_t n = strcspn(p, ":");
		char *cand;

		if (n &&
		    asprintf(&cand, "%.*s/%s", (int)n, p, k->vmm_path) >= 0) {
			if (cand[0] == '/' && access(cand, X_OK) == 0) {
				*out = cand;
				return KILN_OK;
			}
			free(cand);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return handle_fail(k, KILN_ENOTFOUND,
			   "%s not found in PATH; build it with 'make' or set "
			   "KILN_VMM to its path",
			   k->vmm_path);
}

int sandbox_kvm_check(struct kiln *k)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return KILN_OK;
	}
	if (errno == ENOENT)
		return handle_fail(k, KILN_EKVM,
				   "/dev/kvm does not exist: this host has no "
				   "KVM (enable virtualisation and load "
				   "kvm_intel or kvm_amd)");
	if (errno == EACCES || errno == EPERM)
		return handle_fail(k, KILN_EKVM,
				   "no permission to open /dev/kvm; add your "
				   "user to the group that owns it (usually "
				   "'kvm')");
	return handle_fail(k, KILN_EKVM, "cannot open /dev/kvm: %s",
			   strerror(errno));
}

static void progress_report(const struct kiln_sandbox_config *cfg,
			    struct kiln_sandbox *sb, enum kiln_phase phase,
			    uint64_t elapsed)
{
	char line[CONSOLE_LINE_MAX + 8];

	if (!cfg || !cfg->progress)
		return;
	if (!console_file_tail(sb->console_path, 1, "", line, sizeof(line)))
		line[0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	cfg->progress(cfg->progress_ctx, phase, elapsed, line);
}

/*
 * A restored guest is a clone: without this it would share the snapshot's
 * random pool, clock and hostname with every other clone.  Fresh host
 * entropy reseeds its CRNG, the clock jumps to now, the hostname names
 * the sandbox.
 */
static int sandbox_give_identity(struct kiln_sandbox *sb, int timeout_ms)
{
	char host[64], err[ERRLEN];
	struct agent_identity id = {.hostname = host, .sandbox_id = sb->id};
	struct agent_identity_result res;
	int r;

	snprintf(host, sizeof(host), "kiln-%.12s", sb->id);
	r = agent_client_identity(sb->agent, &id, timeout_ms, &res, err,
				  sizeof(err));
	if (r) {
		handle_fail(sb->k, KILN_EGUEST,
			    "the restored guest did not take its identity "
			    "(entropy, clock, hostname): %s",
			    err);
		sandbox_fail_tails(sb);
		return KILN_EGUEST;
	}
	return KILN_OK;
}

/*
 * The guest's side of its network (docs/NETWORK.md, Layout): eth0 gets
 * G+2/30 of its slot, the default route and the resolver via G+1 (tap0 in
 * the namespace).  After every restore: a clone's snapshot holds another
 * sandbox's address, or none (the base snapshot's NIC was never set up).
 */
static int sandbox_give_address(struct kiln_sandbox *sb, int timeout_ms)
{
	char err[ERRLEN], addr[24], gw[16], ip[16];
	struct agent_net_config nc = {.iface = VMM_NET_ID,
				      .address = addr,
				      .gateway = gw,
				      .nameserver = gw};
	struct net_addrs a;
	bool link_up = false;
	int r;

	r = net_addrs_for_slot(sb->net_slot, &a, err, sizeof(err));
	if (r)
		return handle_fail(sb->k, r, "sandbox %s: %s", sb->id, err);
	snprintf(addr, sizeof(addr), "%s/30", net_ip_str(a.guest, ip));
	net_ip_str(a.ns_tap, gw);
	r = agent_client_net_config(sb->agent, &nc, timeout_ms, &link_up, err,
				    sizeof(err));
	if (r) {
		handle_fail(sb->k, KILN_EGUEST,
			    "the guest did not take its network address %s "
			    "(gateway %s): %s",
			    addr, gw, err);
		sandbox_fail_tails(sb);
		return KILN_EGUEST;
	}
	handle_log(sb->k, link_up ? KILN_LOG_DEBUG : KILN_LOG_WARN,
		   "sandbox %s: guest %s via %s%s", sb->id, addr, gw,
		   link_up ? ""
			   : "; its link is not up yet: its first packets "
			     "may be lost");
	return KILN_OK;
}

/*
 * Connect to the agent through the VMM's vsock socket, retrying until the
 * boot deadline while watching the VMM and the cancel fd.  Until the guest
 * agent listens, each attempt fails fast (no socket yet, or the VMM hangs
 * up), so short backed-off retries cost little.
 */
int sandbox_wait_agent(struct kiln_sandbox *sb,
		       const struct kiln_sandbox_config *cfg)
{
	struct kiln *k = sb->k;
	uint64_t start = now_ms(), deadline = start + k->boot_timeout_ms;
	uint64_t next_progress = start + PROGRESS_EVERY_MS, attempt;
	unsigned int backoff = RETRY_MIN_MS;
	int hello_ms = CONNECT_ATTEMPT_MS;
	char err[ERRLEN], what[128];

	progress_report(cfg, sb, KILN_PHASE_BOOTING, 0);
	for (;;) {
		struct pollfd pfd[2] = {
			{.fd = sb->vmm.pidfd, .events = POLLIN},
			{.fd = k->cancel_fd, .events = POLLIN},
		};
		uint64_t now = now_ms();
		int r, wait;

		if (handle_cancelled(k))
			return handle_fail(k, KILN_ECANCELED,
					   "cancelled while the guest booted");
		if (vmm_proc_poll(&sb->vmm) == 1) {
			vmm_proc_describe(&sb->vmm, what, sizeof(what));
			handle_fail(k, KILN_EVMM,
				    "the VM stopped before its agent answered "
				    "(%.1f s after start): %s",
				    (double)(now - start) / 1000.0, what);
			sandbox_fail_tails(sb);
			return KILN_EVMM;
		}
		if (now >= deadline) {
			handle_fail(
				k, KILN_ETIMEOUT,
				"the guest agent did not answer within %u s "
				"of boot; if the guest is just slow, raise "
				"KILN_BOOT_TIMEOUT (seconds)",
				k->boot_timeout_ms / 1000);
			sandbox_fail_tails(sb);
			return KILN_ETIMEOUT;
		}
		wait = (int)(deadline - now);
		attempt = now;
		r = agent_client_connect_vsock(
			sb->uds_path, PROTO_AGENT_PORT,
			wait < CONNECT_ATTEMPT_MS ? wait : CONNECT_ATTEMPT_MS,
			wait < hello_ms ? wait : hello_ms, k->cancel_fd,
			&sb->agent, err, sizeof(err));
		if (r != AGENT_OK && hello_ms < HELLO_MAX_MS)
			hello_ms *= 2;
		if (r == AGENT_OK) {
			if (sb->restored &&
			    sandbox_give_identity(
				    sb, left_ms(deadline, IDENTITY_TIMEOUT_MS)))
				return KILN_EGUEST;
			if (sb->netns && !sb->net_offline &&
			    sandbox_give_address(
				    sb,
				    left_ms(deadline, NET_CONFIG_TIMEOUT_MS)))
				return KILN_EGUEST;
			progress_report(cfg, sb, KILN_PHASE_READY,
					now_ms() - start);
			handle_log(k, KILN_LOG_INFO,
				   "sandbox %s: agent %s ready after %llu ms "
				   "(handshake %llu ms)",
				   sb->id,
				   agent_client_agent_version(sb->agent),
				   (unsigned long long)(now_ms() - start),
				   (unsigned long long)(now_ms() - attempt));
			return KILN_OK;
		}
		if (r == AGENT_ERR_PROTO || r == AGENT_ERR_INVAL ||
		    r == AGENT_ERR_REMOTE) {
			handle_fail(k, KILN_EGUEST,
				    "the guest agent answered wrongly: %s",
				    err);
			sandbox_fail_tails(sb);
			return KILN_EGUEST;
		}
		if (r == AGENT_ERR_CANCELLED)
			continue; /* reported at the top */
		/* not ready, timed out, or dropped: the VM is still coming up
		 */
		handle_log(k, KILN_LOG_DEBUG, "sandbox %s: agent not ready: %s",
			   sb->id, err);

		now = now_ms();
		if (now >= next_progress) {
			progress_report(cfg, sb, KILN_PHASE_BOOTING,
					now - start);
			next_progress = now + PROGRESS_EVERY_MS;
		}
		wait = (int)backoff;
		if (next_progress - now < (uint64_t)wait)
			wait = (int)(next_progress - now);
		if (deadline > now && deadline - now < (uint64_t)wait)
			wait = (int)(deadline - now);
		/* a backed-off retry that also wakes on VMM exit or cancel */
		if (poll(pfd, k->cancel_fd >= 0 ? 2 : 1, wait) < 0 &&
		    errno != EINTR)
			return handle_fail(k, KILN_ESYS, "poll: %s",
					   strerror(errno));
		backoff =
			backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
	}
}

/* Create the runtime directory and the files the VMM writes into. */
int sandbox_prepare_dir(struct kiln_sandbox *sb, const char *id,
			const char *base, int *log_fd)
{
	struct kiln *k = sb->k;
	char err[ERRLEN];
	int rc, fd;

	if (id) {
		/* a persistent sandbox: the state store chose the id */
		snprintf(sb->id, sizeof(sb->id), "%s", id);
		rc = rundir_create(base ? base : k->runtime_dir, sb->id,
				   &sb->dir, err, sizeof(err));
		if (rc)
			return handle_fail(k, rc, "%s", err);
	}
	for (int tries = 0; !sb->dir; tries++) {
		rc = rundir_new_id(sb->id);
		if (rc)
			return handle_fail(k, rc, "getrandom: %s",
					   strerror(errno));
		rc = rundir_create(k->runtime_dir, sb->id, &sb->dir, err,
				   sizeof(err));
		if (!rc)
			break;
		if (errno != EEXIST || tries >= 3)
			return handle_fail(k, rc, "%s", err);
	}
	sb->uds_path = path_in(sb->dir, "vsock.sock");
	sb->console_path = path_in(sb->dir, "console.log");
	sb->vmm_log_path = path_in(sb->dir, "vmm.log");
	sb->api_path = path_in(sb->dir, "api.sock");
	if (!sb->uds_path || !sb->console_path || !sb->vmm_log_path ||
	    !sb->api_path)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	if (strlen(sb->uds_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return handle_fail(k, KILN_EINVAL,
				   "socket path %s is too long for a Unix "
				   "socket; set KILN_RUNTIME_DIR to a shorter "
				   "directory",
				   sb->uds_path);
	/* created here, 0600, so they exist for tailing from the start */
	fd = open(sb->console_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return handle_fail(k, KILN_ESYS, "cannot create %s: %s",
				   sb->console_path, strerror(errno));
	close(fd);
	*log_fd =
		open(sb->vmm_log_path,
		     O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (*log_fd < 0)
		return handle_fail(k, KILN_ESYS, "cannot create %s: %s",
				   sb->vmm_log_path, strerror(errno));
	return KILN_OK;
}

/*
 * jail: put the VMM in the jail (sandbox_jail.c) when the handle wants
 * one; false only for the base snapshot's build, whose VMM must write the
 * snapshot into the cache (it boots the base image, no user code).
 */
static int sandbox_spawn(struct kiln_sandbox *sb, const struct vmm_launch *l,
			 int log_fd, bool detach, bool jail)
{
	struct sandbox_jail j = {0};
	struct vmm_argv a;
	char err[ERRLEN];
	bool jailed = jail && sandbox_jail_wanted(sb);
	int rc;

	int nsfd = -1;

	rc = vmm_argv_build(l, &a, err, sizeof(err));
	/* --no-seccomp, ... (kiln create --no-seccomp; not the base snapshot's)
	 */
	if (!rc && jail)
		rc = sandbox_jail_argv(sb, &a, err, sizeof(err));
	if (!rc && sb->netns) {
		nsfd = net_ns_open(sb->id, err, sizeof(err));
		rc = nsfd < 0 ? nsfd : 0;
	}
	if (!rc && jailed)
		rc = sandbox_jail_setup(sb, l, &j, err, sizeof(err));
	else if (!rc && jail)
		sandbox_jail_note_off(sb, sb->k->jail
						  ? "kiln is not root"
						  : "disabled ($KILN_JAIL=0 "
						    "or --no-jail)");
	if (!rc)
		rc = vmm_proc_spawn_jailed(&sb->vmm, a.argv, log_fd, nsfd,
					   detach, jailed ? &j.cfg : NULL, err,
					   sizeof(err));
	if (jailed)
		sandbox_jail_free(&j);
	if (nsfd >= 0)
		close(nsfd);
	vmm_argv_free(&a);
	return rc ? handle_fail(sb->k, rc, "%s", err) : KILN_OK;
}

/* What every launch of sb's VMM has in common: the machine and its files. */
static struct vmm_launch launch_init(const struct kiln_sandbox *sb,
				     const struct sandbox_params *p,
				     const char *vmm_path, unsigned int cid,
				     const char *api_sock)
{
	return (struct vmm_launch){
		.vmm_path = vmm_path,
		.kernel = p->kernel,
		.image = p->image,
		.cmdline_extra = p->cmdline_extra,
		.cpus = p->cpus,
		.memory_mib = p->memory_mib,
		.cid = cid,
		.vsock_uds = sb->uds_path,
		.console = sb->console_path,
		.api_sock = api_sock,
	};
}

int sandbox_launch_vmm_api(struct kiln_sandbox *sb,
			   const struct sandbox_params *p, const char *vmm_path,
			   int log_fd, const char *api_sock,
			   const char *overlay)
{
	struct vmm_launch l =
		launch_init(sb, p, vmm_path, VMM_GUEST_CID, api_sock);

	l.overlay = overlay;
	/* a NIC without a cable: every clone has the device, and a restore
	 * with a network connects it to its tap0 */
	l.net_tap = VMM_NET_NONE;
	return sandbox_spawn(sb, &l, log_fd, false, false);
}

/*
 * What eth0 of the snapshot sb restores is connected to: its namespace's
 * TAP, or nothing.  A checkpoint taken before the base snapshot had a NIC
 * has no eth0 and kiln-vmm refuses a TAP for it ("no such interface"):
 * such a rollback or fork comes up offline, with a warning, rather than
 * not at all.  A state file we cannot read keeps the TAP (the VMM then
 * says what is wrong with it).
 */
static const char *sandbox_net_tap(struct kiln_sandbox *sb)
{
	sb->net_offline = false;
	if (!sb->netns)
		return VMM_NET_NONE;
	if (sb->restore_state &&
	    checkpoint_state_has_nic(sb->restore_state, VMM_NET_ID) == 0) {
		sb->net_offline = true;
		handle_log(sb->k, KILN_LOG_WARN,
			   "sandbox %s: snapshot %s has no network interface "
			   "%s (taken before sandboxes had one): the guest "
			   "runs offline; its network policy applies again "
			   "once it is restored from a newer snapshot",
			   sb->id, sb->restore_state, VMM_NET_ID);
		return VMM_NET_NONE;
	}
	return NET_TAP_NAME;
}

/*
 * How a sandbox's VMM comes to life: a restore of the base snapshot for p
 * (built by the first sandbox that needs it), of sb->restore_state (a
 * checkpoint: rollback, fork), or with $KILN_COLD_BOOT=1 a boot of
 * kernel + image.  detach: a persistent sandbox (see
 * vmm_proc_spawn_detached()).  The guest CID is the snapshot's (the vsock
 * socket is per VM, so CIDs need not differ between sandboxes); cid only
 * applies to cold boots.
 */
int sandbox_launch_vmm(struct kiln_sandbox *sb, const struct sandbox_params *p,
		       const char *vmm_path, int log_fd, unsigned int cid,
		       bool detach)
{
	struct vmm_launch l = launch_init(sb, p, vmm_path, cid, sb->api_path);
	struct snapshot_base base = {0};
	const char *ovl_src = NULL;
	char err[ERRLEN], *ovl;
	int rc;

	/* the root disk: the image under this sandbox's own overlay */
	ovl = path_in(sb->dir, "root.ovl");
	if (!ovl)
		return handle_fail(sb->k, KILN_ENOMEM, "out of memory");
	if (sb->restore_state) {
		/* a checkpoint: its own devices, image and overlay */
		l.restore_state = sb->restore_state;
		l.restore_mem = sb->restore_mem;
		ovl_src = sb->restore_overlay;
		sb->restored = true;
	} else if (!sb->k->cold_boot) {
		rc = snapshot_base_ensure(sb->k, NULL, p, vmm_path, &base);
		if (rc) {
			free(ovl);
			return rc;
		}
		l.restore_state = base.state;
		l.restore_mem = base.mem;
		ovl_src = base.overlay;
		sb->restored = true;
	} else {
		l.overlay = ovl; /* a cold boot: created empty */
	}
	/* eth0 on the namespace's TAP, else disconnected (a restore of a
	 * snapshot without eth0 ignores "none": nothing to disconnect) */
	l.net_tap = sandbox_net_tap(sb);
	/* the snapshot's disk as it was at the snapshot, ours to write */
	if (ovl_src) {
		rc = overlay_copy(ovl_src, ovl, NULL, err, sizeof(err));
		if (rc) {
			snapshot_base_free(&base);
			free(ovl);
			return handle_fail(sb->k, rc,
					   "copying the root disk overlay: %s",
					   err);
		}
		l.overlay_override = ovl;
	}
	handle_log(sb->k, KILN_LOG_DEBUG, "sandbox %s: %s %s (%u cpus, %u MiB)",
		   sb->id, l.restore_state ? "restoring" : "booting",
		   l.restore_state ? l.restore_state : p->kernel, p->cpus,
		   p->memory_mib);
	rc = sandbox_spawn(sb, &l, log_fd, detach, true);
	snapshot_base_free(&base);
	free(ovl);
	return rc;
}
