/* SPDX-License-Identifier: MIT */
/*
 * kiln_doctor(): can this host run sandboxes?  Each check looks at one
 * thing the way the code that needs it will (open /dev/kvm read-write,
 * the same artifact checks as kiln_sandbox_check(), the same kiln-vmm
 * lookup, the state database opened without creating it) and says what
 * it found and how to fix it.  Nothing is started and nothing is created
 * (the runtime directory probe removes what it makes).
 */
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/magic.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/artifact.h"
#include "lib/doctor.h"
#include "lib/handle.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/snapshot_base.h"
#include "lib/state.h"

#define ERRLEN 1024
#define DOCTOR_CHECKS 11
#define CPUID_MAX_NENT 1024

/* CPUID bits (Intel SDM vol. 2A, CPUID; AMD APM vol. 3). */
#define L1_ECX_VMX (1u << 5)
#define L1_EDX_CX8 (1u << 8)
#define L1_EDX_CMOV (1u << 15)
#define L1_EDX_FXSR (1u << 24)
#define L1_EDX_SSE2 (1u << 26)
#define E1_ECX_SVM (1u << 2)
#define E1_EDX_SYSCALL (1u << 11)
#define E1_EDX_NX (1u << 20)
#define E1_EDX_LM (1u << 29)

const char *kiln_check_status_name(enum kiln_check_status st)
{
	switch (st) {
	case KILN_CHECK_OK:
		return "ok";
	case KILN_CHECK_WARN:
		return "warn";
	case KILN_CHECK_FAIL:
		return "fail";
	}
	return "unknown";
}

static void res_set(struct doctor_result *r, enum kiln_check_status st,
		    const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void res_set(struct doctor_result *r, enum kiln_check_status st,
		    const char *fix, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	snprintf(r->fix, sizeof(r->fix), "%s", fix ? fix : "");
}

void doctor_kvm_judge(int open_errno, int api_version, int ioctl_errno,
		      struct doctor_result *r)
{
	if (open_errno == ENOENT) {
		res_set(r, KILN_CHECK_FAIL,
			"enable virtualisation (VT-x/AMD-V) in the firmware "
			"and load the module: 'modprobe kvm_intel' or "
			"'modprobe kvm_amd'; in a VM, enable nested "
			"virtualisation on its host; in a container, pass "
			"--device /dev/kvm",
			"/dev/kvm does not exist: this host has no KVM");
	} else if (open_errno == EACCES || open_errno == EPERM) {
		res_set(r, KILN_CHECK_FAIL,
			"add your user to the group owning /dev/kvm ('sudo "
			"usermod -aG kvm $USER', then log in again)",
			"no permission to open /dev/kvm read-write");
	} else if (open_errno) {
		res_set(r, KILN_CHECK_FAIL,
			"check that /dev/kvm is the KVM character device "
			"(ls -l /dev/kvm: c 10,232) and dmesg for kvm errors",
			"cannot open /dev/kvm: %s", strerror(open_errno));
	} else if (api_version < 0) {
		res_set(r, KILN_CHECK_FAIL,
			"/dev/kvm is not a working KVM device; check dmesg",
			"KVM_GET_API_VERSION on /dev/kvm failed: %s",
			strerror(ioctl_errno));
	} else if (api_version != DOCTOR_KVM_API_VERSION) {
		res_set(r, KILN_CHECK_FAIL,
			"use a Linux kernel with the stable KVM API",
			"KVM API version %d, kiln needs %d", api_version,
			DOCTOR_KVM_API_VERSION);
	} else {
		res_set(r, KILN_CHECK_OK, NULL,
			"/dev/kvm opened read-write, KVM API version %d",
			api_version);
	}
}

void doctor_cpu_judge(const struct doctor_cpuid *c, bool kvm, bool pvm,
		      struct doctor_result *r)
{
	static const struct {
		int leaf; /* 1: leaf 1 EDX, 2: 0x80000001 EDX */
		uint32_t bit;
		const char *name;
	} need[] = {
		{2, E1_EDX_LM, "lm"},	  {1, L1_EDX_SSE2, "sse2"},
		{1, L1_EDX_FXSR, "fxsr"}, {1, L1_EDX_CMOV, "cmov"},
		{1, L1_EDX_CX8, "cx8"},	  {2, E1_EDX_SYSCALL, "syscall"},
		{2, E1_EDX_NX, "nx"},
	};
	char missing[128] = "";
	const char *src = kvm ? "KVM's supported CPUID" : "the host CPU";

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		uint32_t reg = need[i].leaf == 1 ? c->l1_edx : c->e1_edx;

		if (!(reg & need[i].bit)) {
			size_t n = strlen(missing);

			snprintf(missing + n, sizeof(missing) - n, "%s%s",
				 n ? " " : "", need[i].name);
		}
	}
	if (*missing) {
		res_set(r, KILN_CHECK_FAIL,
			"kiln's x86-64 guests need these features; on a VM, "
			"pass the host CPU model through (e.g. QEMU -cpu "
			"host)",
			"%s lacks: %s", src, missing);
		return;
	}
	if (!kvm && !(c->l1_ecx & L1_ECX_VMX) && !(c->e1_ecx & E1_ECX_SVM)) {
		res_set(r, KILN_CHECK_WARN,
			"enable VT-x/AMD-V in the firmware, or nested "
			"virtualisation if this is a VM",
			"guest features present, but the CPU shows neither "
			"VMX nor SVM: KVM cannot work here");
		return;
	}
	if (pvm) {
		res_set(r, KILN_CHECK_WARN,
			"nothing to do for running sandboxes; snapshots are "
			"only portable between hosts with the same CPU",
			"%s has what guests need; KVM here is PVM, which "
			"ignores KVM_SET_CPUID2: kiln-vmm enforces the "
			"baseline template from inside the guest "
			"(clearcpuid=)",
			src);
		return;
	}
	res_set(r, KILN_CHECK_OK, NULL,
		"%s has what guests need (lm sse2 fxsr cmov cx8 syscall nx)%s",
		src, kvm ? "" : "; KVM could not be asked");
}

void doctor_cgroup_v2_controllers(const char *text, bool *cpu, bool *memory)
{
	const char *p = text;

	*cpu = *memory = false;
	while (*p) {
		size_t n;

		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (n == 3 && !strncmp(p, "cpu", 3))
			*cpu = true;
		else if (n == 6 && !strncmp(p, "memory", 6))
			*memory = true;
		p += n;
	}
}

/* ---- the checks that look at the host ---------------------------------- */

static void check_kvm(struct doctor_result *r, int *kvm_fd)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int oe = fd < 0 ? errno : 0, v = -1, ie = 0;

	if (fd >= 0) {
		v = ioctl(fd, KVM_GET_API_VERSION, 0);
		ie = v < 0 ? errno : 0;
	}
	doctor_kvm_judge(oe, v, ie, r);
	if (r->status == KILN_CHECK_OK) {
		*kvm_fd = fd;
	} else {
		if (fd >= 0)
			close(fd);
		*kvm_fd = -1;
	}
}

/* KVM_GET_SUPPORTED_CPUID into c; false if KVM could not be asked. */
static bool kvm_cpuid(int kvm_fd, struct doctor_cpuid *c)
{
	struct kvm_cpuid2 *t = NULL;
	bool ok = false;

	for (uint32_t nent = 64; nent <= CPUID_MAX_NENT && !ok; nent *= 2) {
		free(t);
		t = calloc(1, sizeof(*t) + nent * sizeof(t->entries[0]));
		if (!t)
			return false;
		t->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, t) == 0)
			ok = true;
		else if (errno != E2BIG)
			break;
	}
	for (uint32_t i = 0; ok && i < t->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &t->entries[i];

		if (e->function == 1) {
			c->l1_ecx = e->ecx;
			c->l1_edx = e->edx;
		} else if (e->function == 0x80000001u) {
			c->e1_ecx = e->ecx;
			c->e1_edx = e->edx;
		}
	}
	free(t);
	return ok;
}

static void check_cpu(struct doctor_result *r, int kvm_fd)
{
	struct doctor_cpuid c = {0};
	unsigned int a, b, cx, d;
	struct stat st;
	bool kvm = kvm_fd >= 0 && kvm_cpuid(kvm_fd, &c);

	if (!kvm) {
		if (__get_cpuid(1, &a, &b, &cx, &d)) {
			c.l1_ecx = cx;
			c.l1_edx = d;
		}
		if (__get_cpuid(0x80000001u, &a, &b, &cx, &d)) {
			c.e1_ecx = cx;
			c.e1_edx = d;
		}
	}
	doctor_cpu_judge(&c, kvm, stat("/sys/module/kvm_pvm", &st) == 0, r);
}

static void check_vmm(struct kiln *k, struct doctor_result *r, char **vmm)
{
	*vmm = NULL;
	if (sandbox_vmm_resolve(k, vmm) == KILN_OK) {
		res_set(r, KILN_CHECK_OK, NULL, "%s", *vmm);
		return;
	}
	res_set(r, KILN_CHECK_FAIL,
		"build it with 'make' (kiln finds build/kiln-vmm next to "
		"build/kiln), put it in PATH, or set KILN_VMM to its path",
		"%s", kiln_errmsg(k));
}

/* The default kernel or image of k's cache. */
static void check_artifact(const struct sandbox_params *p, bool kernel,
			   struct doctor_result *r)
{
	enum artifact_kernel_kind kind;
	char err[ERRLEN];
	const char *path = kernel ? p->kernel : p->image;
	int rc;

	rc = kernel ? artifact_check_kernel(path, NULL, &kind, err, sizeof(err))
		    : artifact_check_image(path, NULL, err, sizeof(err));
	if (rc == KILN_OK) {
		res_set(r, KILN_CHECK_OK, NULL, "%s", path);
		return;
	}
	res_set(r, KILN_CHECK_FAIL,
		kernel ? "build it with 'make kernel' in the kiln source tree "
			 "(or set KILN_CACHE to a cache that has one)"
		       : "build it with 'make image' in the kiln source tree "
			 "(or set KILN_CACHE to a cache that has one)",
		"%s", err);
}

static void check_snapshot(struct kiln *k, const struct sandbox_params *p,
			   const char *vmm, bool inputs_ok,
			   struct doctor_result *r)
{
	char key[17], err[ERRLEN], *path = NULL;
	struct stat st;

	if (!inputs_ok || !vmm) {
		res_set(r, KILN_CHECK_WARN,
			"fix the kernel, image and kiln-vmm checks first",
			"cannot tell: the base snapshot depends on the kernel, "
			"image and kiln-vmm");
		return;
	}
	if (snapshot_base_key(p, vmm, key, err, sizeof(err))) {
		res_set(r, KILN_CHECK_WARN, "see the message", "%s", err);
		return;
	}
	if (asprintf(&path, "%s/snapshots/%s/state", k->cache_dir, key) < 0) {
		res_set(r, KILN_CHECK_WARN, "try again", "out of memory");
		return;
	}
	if (stat(path, &st) == 0)
		res_set(r, KILN_CHECK_OK, NULL,
			"base snapshot for the default configuration: %s",
			path);
	else
		res_set(r, KILN_CHECK_WARN,
			"nothing to do: the first sandbox builds it (one "
			"cold boot; minutes under nested KVM), or run 'kiln "
			"run -- true' once now",
			"no base snapshot yet for the default configuration "
			"(%s)",
			path);
	free(path);
}

static void check_cgroup(struct doctor_result *r)
{
	const char *root = "/sys/fs/cgroup";
	char text[512] = "";
	struct statfs sf;
	struct stat st;
	bool cpu, mem;
	FILE *f;

	if (statfs(root, &sf) < 0) {
		res_set(r, KILN_CHECK_WARN,
			"mount cgroup2 on /sys/fs/cgroup ('mount -t cgroup2 "
			"none /sys/fs/cgroup')",
			"no cgroup file system at %s: sandboxes run without "
			"CPU and memory limits",
			root);
		return;
	}
	if (sf.f_type == CGROUP2_SUPER_MAGIC) {
		f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
		if (f) {
			if (!fgets(text, sizeof(text), f))
				text[0] = '\0';
			fclose(f);
		}
		doctor_cgroup_v2_controllers(text, &cpu, &mem);
		if (cpu && mem)
			res_set(r, KILN_CHECK_OK, NULL,
				"cgroup v2 at %s with the cpu and memory "
				"controllers",
				root);
		else
			res_set(r, KILN_CHECK_WARN,
				"enable them at the root (systemd: "
				"Delegate=yes for kiln's unit; boot with "
				"cgroup_enable=memory if memory is missing)",
				"cgroup v2 at %s lacks the%s%s controller(s): "
				"sandboxes run without those limits",
				root, cpu ? "" : " cpu", mem ? "" : " memory");
		return;
	}
	cpu = stat("/sys/fs/cgroup/cpu", &st) == 0 && S_ISDIR(st.st_mode);
	mem = stat("/sys/fs/cgroup/memory", &st) == 0 && S_ISDIR(st.st_mode);
	if (cpu && mem)
		res_set(r, KILN_CHECK_OK, NULL,
			"cgroup v1 at %s with the cpu and memory hierarchies",
			root);
	else
		res_set(r, KILN_CHECK_WARN,
			"mount the missing v1 hierarchies, or boot with "
			"systemd.unified_cgroup_hierarchy=1 for cgroup v2",
			"cgroup v1 at %s without the%s%s hierarchy: sandboxes "
			"run without those limits",
			root, cpu ? "" : " cpu", mem ? "" : " memory");
}

static void check_tun(struct doctor_result *r)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		res_set(r, KILN_CHECK_OK, NULL, "/dev/net/tun opened");
	} else if (errno == ENOENT) {
		res_set(r, KILN_CHECK_WARN,
			"'modprobe tun'; in a container, pass --device "
			"/dev/net/tun",
			"/dev/net/tun does not exist: sandboxes get no "
			"network");
	} else {
		res_set(r, KILN_CHECK_WARN,
			"sandbox networking needs root (CAP_NET_ADMIN)",
			"cannot open /dev/net/tun: %s: sandboxes get no "
			"network",
			strerror(errno));
	}
}

/* An executable name in k's PATH. */
static bool in_path(const struct kiln *k, const char *name)
{
	const char *p = k->path_env;
	bool found = false;

	while (*p && !found) {
		size_t n = strcspn(p, ":");
		char *cand;

		if (n && asprintf(&cand, "%.*s/%s", (int)n, p, name) >= 0) {
			found = cand[0] == '/' && access(cand, X_OK) == 0;
			free(cand);
		}
		p += n;
		if (*p == ':')
			p++;
	}
	return found;
}

static void check_nft(const struct kiln *k, struct doctor_result *r)
{
	void *h = dlopen("libnftables.so.1", RTLD_LAZY | RTLD_LOCAL);
	bool bin = in_path(k, "nft");

	if (h)
		dlclose(h);
	if (h)
		res_set(r, KILN_CHECK_OK, NULL, "libnftables.so.1 loads%s",
			bin ? "; nft is in PATH" : "");
	else if (bin)
		res_set(r, KILN_CHECK_WARN,
			"install libnftables1 (Debian: 'apt-get install "
			"libnftables1')",
			"nft is in PATH but libnftables.so.1 does not load: "
			"sandbox network policies cannot be applied");
	else
		res_set(r, KILN_CHECK_WARN,
			"install nftables (Debian: 'apt-get install nftables "
			"libnftables1')",
			"no libnftables.so.1 and no nft: sandbox network "
			"policies cannot be applied");
}

/* Open an existing state database without creating or changing it. */
static void check_state(const struct kiln *k, struct doctor_result *r)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t app = 0, ver = 0, sandboxes = -1;
	char *path, verdict[256] = "";
	struct stat sb;

	if (k->state_memory) {
		res_set(r, KILN_CHECK_OK, NULL,
			"in memory (kiln_options.state_store): private to "
			"this handle, nothing on disk");
		return;
	}
	if (asprintf(&path, "%s/state.db", k->state_dir) < 0) {
		res_set(r, KILN_CHECK_WARN, "try again", "out of memory");
		return;
	}
	if (stat(path, &sb) < 0 && errno == ENOENT) {
		res_set(r, KILN_CHECK_OK, NULL,
			"%s does not exist yet (the first persistent sandbox "
			"creates it)",
			path);
		free(path);
		return;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
		    SQLITE_OK ||
	    sqlite3_busy_timeout(db, 2000) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT (SELECT application_id FROM "
			       "pragma_application_id), (SELECT user_version "
			       "FROM pragma_user_version)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto db_fail;
	app = sqlite3_column_int64(st, 0);
	ver = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	if (app != STATE_APPLICATION_ID || ver > STATE_SCHEMA_VERSION) {
		res_set(r, KILN_CHECK_FAIL,
			app != STATE_APPLICATION_ID
				? "point KILN_STATE at another directory"
				: "upgrade kiln",
			"%s is %s (application_id %lld, schema %lld)", path,
			app != STATE_APPLICATION_ID
				? "not a kiln state database"
				: "from a newer kiln",
			(long long)app, (long long)ver);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto db_fail;
	snprintf(verdict, sizeof(verdict), "%s",
		 (const char *)sqlite3_column_text(st, 0)
			 ? (const char *)sqlite3_column_text(st, 0)
			 : "");
	sqlite3_finalize(st);
	st = NULL;
	if (strcmp(verdict, "ok")) {
		for (char *c = verdict; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		res_set(r, KILN_CHECK_FAIL,
			"stop all kiln processes, move the file aside (kiln "
			"starts a new one; its sandboxes are forgotten) or "
			"restore it from a backup",
			"%s is damaged: integrity_check says: %s", path,
			verdict);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sandboxes", -1, &st,
			       NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		sandboxes = sqlite3_column_int64(st, 0);
	res_set(r, KILN_CHECK_OK, NULL,
		"%s: schema %lld, integrity ok, %lld sandbox(es)", path,
		(long long)ver, (long long)(sandboxes < 0 ? 0 : sandboxes));
	goto out;
db_fail:
	res_set(r, KILN_CHECK_FAIL,
		"check the file's owner and mode; if it is damaged, move it "
		"aside (kiln starts a new one)",
		"cannot read %s: %s", path,
		db ? sqlite3_errmsg(db) : "out of memory");
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
}

/* The runtime directory: usable now, or creatable when first needed. */
static void check_runtime(const struct kiln *k, struct doctor_result *r)
{
	const char *dir = k->runtime_dir;
	/* <dir>/<12 hex digits>/vsock.sock must fit a Unix socket address */
	size_t need = strlen(dir) + 1 + KILN_ID_LEN + sizeof("/vsock.sock");
	char probe[4096], parent[4096];
	struct stat st;

	if (need > sizeof(((struct sockaddr_un *)0)->sun_path)) {
		res_set(r, KILN_CHECK_FAIL,
			"set KILN_RUNTIME_DIR to a shorter path",
			"runtime directory %s is too long for the sandboxes' "
			"Unix sockets",
			dir);
		return;
	}
	if (stat(dir, &st) < 0) {
		char *slash;

		snprintf(parent, sizeof(parent), "%s", dir);
		/* the nearest existing ancestor must let us create it */
		while ((slash = strrchr(parent, '/')) && slash != parent) {
			*slash = '\0';
			if (stat(parent, &st) == 0)
				break;
		}
		if (slash == parent)
			snprintf(parent, sizeof(parent), "/");
		if (access(parent, W_OK | X_OK) == 0)
			res_set(r, KILN_CHECK_OK, NULL,
				"%s does not exist yet; it will be created "
				"in %s",
				dir, parent);
		else
			res_set(r, KILN_CHECK_FAIL,
				"set KILN_RUNTIME_DIR to a directory you can "
				"write",
				"%s does not exist and %s is not writable", dir,
				parent);
		return;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 0022)) {
		res_set(r, KILN_CHECK_FAIL,
			"remove it, or set KILN_RUNTIME_DIR to a directory "
			"of yours that others cannot write",
			"%s is %s", dir,
			!S_ISDIR(st.st_mode)	? "not a directory"
			: st.st_uid != getuid() ? "owned by another user"
						: "writable by others");
		return;
	}
	snprintf(probe, sizeof(probe), "%s/.doctor-XXXXXX", dir);
	if (!mkdtemp(probe)) {
		res_set(r, KILN_CHECK_FAIL,
			"fix its permissions or set KILN_RUNTIME_DIR",
			"cannot create a directory in %s: %s", dir,
			strerror(errno));
		return;
	}
	rmdir(probe);
	res_set(r, KILN_CHECK_OK, NULL, "%s is writable", dir);
}

/* ---- the list ---------------------------------------------------------- */

/* Keep detail and fix printable and on one line. */
static char *clean_dup(const char *s)
{
	char *d = strdup(s);

	for (char *c = d; c && *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = ' ';
	return d;
}

static int result_add(struct kiln_check *list, size_t *n, const char *name,
		      const struct doctor_result *r)
{
	struct kiln_check *c = &list[(*n)++];

	c->name = name;
	c->status = r->status;
	c->detail = clean_dup(r->detail);
	c->fix = r->status == KILN_CHECK_OK ? NULL : clean_dup(r->fix);
	if (!c->detail || (r->status != KILN_CHECK_OK && !c->fix))
		return KILN_ENOMEM;
	return KILN_OK;
}

int kiln_doctor(struct kiln *k, struct kiln_check **list, size_t *n)
{
	struct kiln_check *l = calloc(DOCTOR_CHECKS, sizeof(*l));
	struct doctor_result r;
	struct sandbox_params p;
	char err[ERRLEN], *vmm = NULL;
	bool kernel_ok, image_ok;
	int kvm_fd, rc = KILN_OK;
	size_t i = 0;

	*list = NULL;
	*n = 0;
	if (!l)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	check_kvm(&r, &kvm_fd);
	rc |= result_add(l, &i, "kvm", &r);
	check_cpu(&r, kvm_fd);
	if (kvm_fd >= 0)
		close(kvm_fd);
	rc |= result_add(l, &i, "cpu", &r);
	check_vmm(k, &r, &vmm);
	rc |= result_add(l, &i, "kiln-vmm", &r);
	if (sandbox_params_resolve(k->cache_dir, NULL, &p, err, sizeof(err))) {
		sandbox_params_free(&p);
		free(vmm);
		kiln_check_list_free(l, i);
		return handle_fail(k, KILN_ENOMEM, "%s", err);
	}
	check_artifact(&p, true, &r);
	kernel_ok = r.status == KILN_CHECK_OK;
	rc |= result_add(l, &i, "kernel", &r);
	check_artifact(&p, false, &r);
	image_ok = r.status == KILN_CHECK_OK;
	rc |= result_add(l, &i, "image", &r);
	check_snapshot(k, &p, vmm, kernel_ok && image_ok, &r);
	rc |= result_add(l, &i, "snapshot-cache", &r);
	sandbox_params_free(&p);
	free(vmm);
	check_cgroup(&r);
	rc |= result_add(l, &i, "cgroup", &r);
	check_tun(&r);
	rc |= result_add(l, &i, "tun", &r);
	check_nft(k, &r);
	rc |= result_add(l, &i, "nftables", &r);
	check_state(k, &r);
	rc |= result_add(l, &i, "state", &r);
	check_runtime(k, &r);
	rc |= result_add(l, &i, "runtime-dir", &r);
	if (rc) {
		kiln_check_list_free(l, i);
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	*list = l;
	*n = i;
	return KILN_OK;
}

void kiln_check_list_free(struct kiln_check *list, size_t n)
{
	for (size_t i = 0; list && i < n; i++) {
		free(list[i].detail);
		free(list[i].fix);
	}
	free(list);
}
