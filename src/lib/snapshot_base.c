/* SPDX-License-Identifier: MIT */
/*
 * Base snapshots (see snapshot_base.h): key, lock, build, publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/handle.h"
#include "lib/overlay_copy.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/snapshot_base.h"
#include "lib/snapshot_prune.h"
#include "lib/vmm_api.h"
#include "lib/vmm_argv.h"

#define ERRLEN 1024
/* Bumped when what goes into a base snapshot changes (e.g. its devices). */
/* 2: the root disk has an overlay.  3: a disconnected NIC "eth0" (kiln-vmm
 * --net none), so that a sandbox with a network can connect it to its TAP
 * on restore; a snapshot without one could never get a NIC. */
#define SNAPSHOT_BASE_LAYOUT 3
#define API_PAUSE_MS 30000
#define API_SNAPSHOT_MS 300000 /* writes the guest's memory */

/* FNV-1a, 64 bit: a cache key, not a security boundary. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* "<realpath>:<size>:<mtime ns>:<dev>:<ino>" of path into buf. */
static int file_identity(const char *what, const char *path, char *buf,
			 size_t len, char *err, size_t errlen)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(path, real) || stat(real, &st) < 0) {
		snprintf(err, errlen, "cannot stat the %s %s: %s", what, path,
			 strerror(errno));
		return KILN_ENOTFOUND;
	}
	snprintf(buf, len, "%s:%lld:%lld.%09ld:%llu:%llu", real,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec, (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	return 0;
}

/*
 * The host a snapshot can be restored on: its kernel, CPU model and KVM
 * flavour (a snapshot's vCPU state and the guest's view of CPUID and TSC
 * belong to the host that took it; e.g. the test harness's nested KVM and
 * the PVM KVM of the machine around it share one cache).
 */
static void host_identity(char *buf, size_t len)
{
	char model[128] = "?", *line = NULL;
	struct utsname u;
	size_t cap = 0;
	FILE *f = fopen("/proc/cpuinfo", "re");

	while (f && getline(&line, &cap, f) > 0) { /* bounded by the file */
		if (!strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", line);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	free(line);
	if (f)
		fclose(f);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(buf, len, "host %s|%s|%s", u.release, model,
		 access("/sys/module/kvm_pvm", F_OK) == 0 ? "kvm_pvm" : "kvm");
}

int snapshot_base_key(const struct sandbox_params *p, const char *vmm_path,
		      char out[17], char *err, size_t errlen)
{
	char id[PATH_MAX + 128], line[64];
	uint64_t h = 0xcbf29ce484222325ULL;
	int rc;

	snprintf(line, sizeof(line), "layout %d|", SNAPSHOT_BASE_LAYOUT);
	h = fnv1a(h, line);
	rc = file_identity("kernel", p->kernel, id, sizeof(id), err, errlen);
	if (rc)
		return rc;
	h = fnv1a(fnv1a(h, id), "|");
	rc = file_identity("image", p->image, id, sizeof(id), err, errlen);
	if (rc)
		return rc;
	h = fnv1a(fnv1a(h, id), "|");
	rc = file_identity("kiln-vmm", vmm_path, id, sizeof(id), err, errlen);
	if (rc)
		return rc;
	h = fnv1a(fnv1a(h, id), "|");
	host_identity(id, sizeof(id));
	h = fnv1a(fnv1a(h, id), "|");
	snprintf(line, sizeof(line), "cpus %u mem %u cid %u|", p->cpus,
		 p->memory_mib, VMM_GUEST_CID);
	h = fnv1a(h, line);
	h = fnv1a(fnv1a(h, VMM_OVERLAY_CMDLINE), "|");
	h = fnv1a(h, p->cmdline_extra ? p->cmdline_extra : "");
	snprintf(out, 17, "%016llx", (unsigned long long)h);
	return 0;
}

void snapshot_base_free(struct snapshot_base *b)
{
	free(b->dir);
	free(b->state);
	free(b->mem);
	free(b->overlay);
	memset(b, 0, sizeof(*b));
}

static bool snapshot_base_present(const struct snapshot_base *b)
{
	struct stat st;

	return stat(b->state, &st) == 0 && S_ISREG(st.st_mode) &&
	       stat(b->mem, &st) == 0 && S_ISREG(st.st_mode) &&
	       stat(b->overlay, &st) == 0 && S_ISREG(st.st_mode);
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (char *s = tmp + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Remove a build directory left by a failed or killed build. */
static void remove_tmp_dir(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/state", dir) < (int)sizeof(path))
		unlink(path);
	if (snprintf(path, sizeof(path), "%s/mem", dir) < (int)sizeof(path))
		unlink(path);
	if (snprintf(path, sizeof(path), "%s/root.ovl", dir) <
	    (int)sizeof(path))
		unlink(path);
	rmdir(dir);
}

/* Ask the running VMM at api to pause and write its snapshot into dir. */
static int snapshot_base_capture(struct kiln *k, const char *api,
				 const char *dir)
{
	char err[ERRLEN], state[PATH_MAX], mem[PATH_MAX];
	int rc;

	if (snprintf(state, sizeof(state), "%s/state", dir) >=
		    (int)sizeof(state) ||
	    snprintf(mem, sizeof(mem), "%s/mem", dir) >= (int)sizeof(mem))
		return handle_fail(k, KILN_EINVAL, "path %s is too long", dir);
	rc = vmm_api_expect(api, "PATCH", "/vm",
			    json_pack("{s:s}", "state", "Paused"), API_PAUSE_MS,
			    err, sizeof(err));
	if (!rc)
		rc = vmm_api_expect(
			api, "PUT", "/snapshot/create",
			json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full",
				  "snapshot_path", state, "mem_file_path", mem),
			API_SNAPSHOT_MS, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "building the base snapshot: %s",
				   err);
	return KILN_OK;
}

/* Boot p once, wait for its agent, snapshot it into tmp_dir. */
static int snapshot_base_build(struct kiln *k,
			       const struct kiln_sandbox_config *cfg,
			       const struct sandbox_params *p,
			       const char *vmm_path, const char *tmp_dir)
{
	struct sandbox_params boot = *p;
	struct kiln_sandbox *sb;
	char api[PATH_MAX], image[PATH_MAX], err[ERRLEN];
	char ovl[PATH_MAX], ovl_dst[PATH_MAX];
	int rc, log_fd = -1;

	/* The snapshot records the drive's path: name the image file itself,
	 * not the cache's symlink that a rebuild re-points. */
	if (!realpath(p->image, image))
		return handle_fail(k, KILN_ENOTFOUND, "image %s: %s", p->image,
				   strerror(errno));
	boot.image = image;
	sb = sandbox_alloc(k);
	if (!sb)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	rc = sandbox_prepare_dir(sb, NULL, NULL, &log_fd);
	if (!rc && snprintf(api, sizeof(api), "%s/api.sock", sb->dir) >=
			   (int)sizeof(((struct sockaddr_un *)0)->sun_path))
		rc = handle_fail(k, KILN_EINVAL,
				 "socket path %s/api.sock is too long; set "
				 "KILN_RUNTIME_DIR to a shorter directory",
				 sb->dir);
	/*
	 * The root disk's overlay, written by the guest while it boots: in
	 * the runtime directory (a local file system; the cache may be a
	 * network one, where kiln-vmm cannot create it atomically), copied
	 * next to the snapshot once the snapshot froze it.
	 */
	if (!rc && (snprintf(ovl, sizeof(ovl), "%s/root.ovl", sb->dir) >=
			    (int)sizeof(ovl) ||
		    snprintf(ovl_dst, sizeof(ovl_dst), "%s/root.ovl",
			     tmp_dir) >= (int)sizeof(ovl_dst)))
		rc = handle_fail(k, KILN_EINVAL, "path %s is too long",
				 tmp_dir);
	if (!rc) {
		handle_log(k, KILN_LOG_INFO,
			   "building the base snapshot (one boot; later "
			   "sandboxes restore it)");
		rc = sandbox_launch_vmm_api(sb, &boot, vmm_path, log_fd, api,
					    ovl);
	}
	if (!rc)
		rc = sandbox_wait_agent(sb, cfg);
	if (!rc) {
		/* No connection of ours in the snapshot: clones start with
		 * the agent idle and only its listener open. */
		sandbox_agent_drop(sb);
		rc = snapshot_base_capture(k, api, tmp_dir);
		if (rc)
			sandbox_fail_tails(sb);
		/* still paused: the overlay is as the snapshot saw it */
		if (!rc &&
		    (rc = overlay_copy(ovl, ovl_dst, NULL, err, sizeof(err))))
			handle_fail(k, rc, "building the base snapshot: %s",
				    err);
	}
	if (log_fd >= 0)
		close(log_fd);
	if (sandbox_teardown(sb, false, err, sizeof(err)) && !rc)
		rc = handle_fail(k, KILN_EVMM, "%s", err);
	return rc;
}

static int snapshot_base_paths(struct snapshot_base *b, const char *cache,
			       const char *key)
{
	if (asprintf(&b->dir, "%s/snapshots/%s", cache, key) < 0)
		b->dir = NULL;
	if (!b->dir || asprintf(&b->state, "%s/state", b->dir) < 0)
		b->state = NULL;
	if (!b->dir || asprintf(&b->mem, "%s/mem", b->dir) < 0)
		b->mem = NULL;
	if (!b->dir || asprintf(&b->overlay, "%s/root.ovl", b->dir) < 0)
		b->overlay = NULL;
	return b->dir && b->state && b->mem && b->overlay ? 0 : KILN_ENOMEM;
}

int snapshot_base_ensure(struct kiln *k, const struct kiln_sandbox_config *cfg,
			 const struct sandbox_params *p, const char *vmm_path,
			 struct snapshot_base *out)
{
	char key[17], err[ERRLEN], lock[PATH_MAX], tmp[PATH_MAX];
	int rc, fd, r;

	memset(out, 0, sizeof(*out));
	rc = snapshot_base_key(p, vmm_path, key, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	rc = snapshot_base_paths(out, k->cache_dir, key);
	if (rc)
		return handle_fail(k, rc, "out of memory");
	if (snapshot_base_present(out))
		return KILN_OK;

	if (snprintf(lock, sizeof(lock), "%s/snapshots", k->cache_dir) >=
	    (int)sizeof(lock))
		return handle_fail(k, KILN_EINVAL, "cache path %s is too long",
				   k->cache_dir);
	r = mkdir_p(lock);
	if (r)
		return handle_fail(k, KILN_ESYS, "cannot create %s: %s", lock,
				   strerror(-r));
	if (snprintf(lock, sizeof(lock), "%s.lock", out->dir) >=
		    (int)sizeof(lock) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", out->dir) >= (int)sizeof(tmp))
		return handle_fail(k, KILN_EINVAL, "cache path %s is too long",
				   out->dir);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return handle_fail(k, KILN_ESYS, "cannot open %s: %s", lock,
				   strerror(errno));
	/* Another create may be building it: wait for it, then look again. */
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			rc = handle_fail(k, KILN_ESYS, "flock %s: %s", lock,
					 strerror(errno));
			goto out;
		}
	if (snapshot_base_present(out))
		goto out;
	remove_tmp_dir(tmp); /* a build that was killed */
	if (mkdir(tmp, 0700) < 0) {
		rc = handle_fail(k, KILN_ESYS, "cannot create %s: %s", tmp,
				 strerror(errno));
		goto out;
	}
	rc = snapshot_base_build(k, cfg, p, vmm_path, tmp);
	/* its inputs, for `kiln snapshot prune` (stale or not); optional */
	if (!rc && snapshot_prune_record(tmp, p, vmm_path, err, sizeof(err)))
		handle_log(k, KILN_LOG_WARN, "base snapshot %s: %s", key, err);
	if (!rc && rename(tmp, out->dir) < 0)
		rc = handle_fail(k, KILN_ESYS, "cannot rename %s to %s: %s",
				 tmp, out->dir, strerror(errno));
	if (rc)
		remove_tmp_dir(tmp);
out:
	close(fd); /* releases the lock */
	return rc;
}

int snapshot_base_identity(const char *what, const char *path, char *buf,
			   size_t len, char *err, size_t errlen)
{
	return file_identity(what, path, buf, len, err, errlen);
}

void snapshot_base_host(char *buf, size_t len)
{
	host_identity(buf, len);
}

int snapshot_base_layout(void)
{
	return SNAPSHOT_BASE_LAYOUT;
}
