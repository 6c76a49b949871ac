/* SPDX-License-Identifier: MIT */
/*
 * Listing and pruning base snapshots (see snapshot_prune.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/errbuf.h"
#include "kiln.h"
#include "lib/handle.h"
#include "lib/sandbox.h"
#include "lib/sandbox_config.h"
#include "lib/snapshot_base.h"
#include "lib/snapshot_prune.h"

#define ERRLEN 1024
#define IDLEN (PATH_MAX + 128)

int snapshot_prune_record(const char *dir, const struct sandbox_params *p,
			  const char *vmm_path, char *err, size_t errlen)
{
	char kid[IDLEN], iid[IDLEN], vid[IDLEN], host[IDLEN], path[PATH_MAX];
	json_t *o;
	int rc;

	if (snapshot_base_identity("kernel", p->kernel, kid, sizeof(kid), err,
				   errlen) ||
	    snapshot_base_identity("image", p->image, iid, sizeof(iid), err,
				   errlen) ||
	    snapshot_base_identity("kiln-vmm", vmm_path, vid, sizeof(vid), err,
				   errlen))
		return KILN_ENOTFOUND;
	snapshot_base_host(host, sizeof(host));
	if (snprintf(path, sizeof(path), "%s/" SNAPSHOT_RECORD, dir) >=
	    (int)sizeof(path)) {
		errbuf_set(err, errlen, "path %s is too long", dir);
		return KILN_EINVAL;
	}
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, "
		      "s:s?, s:I}",
		      "layout", snapshot_base_layout(), "kernel", p->kernel,
		      "kernel_id", kid, "image", p->image, "image_id", iid,
		      "vmm", vmm_path, "vmm_id", vid, "host", host, "cpus",
		      (json_int_t)p->cpus, "memory_mib",
		      (json_int_t)p->memory_mib, "cmdline_extra",
		      p->cmdline_extra, "created_unix", (json_int_t)time(NULL));
	if (!o) {
		errbuf_set(err, errlen, "out of memory");
		return KILN_ENOMEM;
	}
	rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (rc) {
		errbuf_set(err, errlen, "cannot write %s", path);
		return KILN_ESYS;
	}
	return 0;
}

struct record {
	json_t *root; /* owns the strings below */
	int layout;
	const char *kernel, *kernel_id, *image, *image_id, *vmm, *vmm_id;
	const char *host, *cmdline;
	json_int_t cpus, memory_mib, created;
	json_t *cmdline_json; /* a string or null */
};

static int record_read(const char *dir, struct record *r)
{
	char path[PATH_MAX];
	json_error_t e;

	memset(r, 0, sizeof(*r));
	if (snprintf(path, sizeof(path), "%s/" SNAPSHOT_RECORD, dir) >=
	    (int)sizeof(path))
		return -1;
	r->root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (!r->root)
		return -1;
	if (json_unpack_ex(r->root, &e, JSON_STRICT,
			   "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, "
			   "s:o, s:I}",
			   "layout", &r->layout, "kernel", &r->kernel,
			   "kernel_id", &r->kernel_id, "image", &r->image,
			   "image_id", &r->image_id, "vmm", &r->vmm, "vmm_id",
			   &r->vmm_id, "host", &r->host, "cpus", &r->cpus,
			   "memory_mib", &r->memory_mib, "cmdline_extra",
			   &r->cmdline_json, "created_unix", &r->created) ||
	    (!json_is_null(r->cmdline_json) &&
	     !json_is_string(r->cmdline_json)) ||
	    r->cpus < KILN_CPUS_MIN || r->cpus > KILN_CPUS_MAX ||
	    r->memory_mib < KILN_MEMORY_MIB_MIN ||
	    r->memory_mib > KILN_MEMORY_MIB_MAX) {
		json_decref(r->root);
		r->root = NULL;
		return -1;
	}
	r->cmdline = json_string_value(r->cmdline_json); /* NULL if null */
	return 0;
}

static bool key_is(const struct sandbox_params *p, const char *vmm,
		   const char *key)
{
	char out[17], err[ERRLEN];

	return p->kernel && p->image && vmm &&
	       !snapshot_base_key(p, vmm, out, err, sizeof(err)) &&
	       !strcmp(out, key);
}

static void reason_add(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reason_add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used && used + 2 < len)
		used += (size_t)snprintf(buf + used, len - used, "; ");
	if (used >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Which recorded input no longer hashes as it did. */
static void record_why_stale(const struct record *r, char *buf, size_t len)
{
	const struct {
		const char *what, *path, *id;
	} files[] = {
		{"kernel", r->kernel, r->kernel_id},
		{"image", r->image, r->image_id},
		{"kiln-vmm", r->vmm, r->vmm_id},
	};
	char id[IDLEN], err[ERRLEN];

	buf[0] = '\0';
	if (r->layout != snapshot_base_layout())
		reason_add(buf, len, "snapshot layout %d (this kiln's: %d)",
			   r->layout, snapshot_base_layout());
	snapshot_base_host(id, sizeof(id));
	if (strcmp(id, r->host))
		reason_add(buf, len, "made on another host (%s)", r->host);
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		if (snapshot_base_identity(files[f].what, files[f].path, id,
					   sizeof(id), err, sizeof(err)))
			reason_add(buf, len, "its %s %s is gone", files[f].what,
				   files[f].path);
		else if (strcmp(id, files[f].id))
			reason_add(buf, len, "its %s %s changed since",
				   files[f].what, files[f].path);
	}
	if (!buf[0])
		snprintf(buf, len, "its inputs no longer hash to its key");
}

void snapshot_prune_judge(const char *dir, const char *key,
			  const struct sandbox_params *now, const char *vmm_now,
			  struct kiln_base_snapshot_info *i)
{
	struct sandbox_params p = *now;
	char host[IDLEN];
	struct record r;

	i->reason[0] = '\0';
	if (record_read(dir, &r)) {
		/* an older kiln's: only the default configuration can be
		 * recognised */
		i->cpus = i->memory_mib = 0;
		if (key_is(&p, vmm_now, key)) {
			i->status = KILN_BASE_CURRENT;
			return;
		}
		i->status = KILN_BASE_STALE;
		errbuf_set(
			i->reason, sizeof(i->reason),
			"no record of its inputs (made by an older kiln) and "
			"not this kiln's default configuration");
		return;
	}
	i->cpus = (unsigned int)r.cpus;
	i->memory_mib = (unsigned int)r.memory_mib;
	/*
	 * Another host sharing this cache (the test harness's nested VM
	 * shares it over 9p): its files' identities are that host's view,
	 * and only it can tell whether the snapshot is still good.
	 */
	snapshot_base_host(host, sizeof(host));
	if (strcmp(host, r.host)) {
		i->status = KILN_BASE_OTHER;
		errbuf_set(i->reason, sizeof(i->reason),
			   "made on another host that shares this cache (%s); "
			   "only prune --all removes it",
			   r.host);
		json_decref(r.root);
		return;
	}
	p.cpus = (unsigned int)r.cpus;
	p.memory_mib = (unsigned int)r.memory_mib;
	p.cmdline_extra = (char *)r.cmdline; /* only read */
	if (key_is(&p, vmm_now, key)) {
		i->status = KILN_BASE_CURRENT;
	} else {
		p.kernel = (char *)r.kernel;
		p.image = (char *)r.image;
		if (key_is(&p, r.vmm, key)) {
			i->status = KILN_BASE_OTHER;
			errbuf_set(i->reason, sizeof(i->reason),
				   "for kernel %s, image %s, kiln-vmm %s",
				   r.kernel, r.image, r.vmm);
		} else {
			i->status = KILN_BASE_STALE;
			record_why_stale(&r, i->reason, sizeof(i->reason));
		}
	}
	json_decref(r.root);
}

/* ---- who maps a memory file ---- */

static int maps_add(struct snapshot_maps *m, dev_t dev, ino_t ino, pid_t pid)
{
	if (m->n && m->v[m->n - 1].dev == dev && m->v[m->n - 1].ino == ino &&
	    m->v[m->n - 1].pid == pid)
		return 0; /* the next mapping of the same file */
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct snapshot_map *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return KILN_ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = (struct snapshot_map){dev, ino, pid};
	return 0;
}

static bool comm_is_vmm(const char *proc, const char *pid)
{
	char path[PATH_MAX], comm[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/comm", proc, pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	return !strcmp(comm, "kiln-vmm");
}

/* One process's file mappings named ".../mem" (memory files). */
static int maps_read(const char *proc, const char *pid, struct snapshot_maps *m)
{
	char path[PATH_MAX], *line = NULL;
	size_t cap = 0;
	int rc = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/maps", proc, pid);
	f = fopen(path, "re");
	if (!f) {
		/* gone meanwhile, or not ours to read: only a VMM matters */
		if (errno != ENOENT && errno != ESRCH &&
		    comm_is_vmm(proc, pid) && !m->unreadable)
			m->unreadable = (pid_t)atoi(pid);
		return 0;
	}
	while (!rc && getline(&line, &cap, f) > 0) { /* bounded by the file */
		unsigned int maj, min;
		unsigned long long ino;
		int name = 0;

		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu %n", &maj, &min,
			   &ino, &name) < 3 ||
		    !ino || !name)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (!strstr(line + name, "/mem"))
			continue;
		rc = maps_add(m, makedev(maj, min), (ino_t)ino,
			      (pid_t)atoi(pid));
	}
	free(line);
	fclose(f);
	return rc;
}

int snapshot_maps_scan(const char *proc, struct snapshot_maps *m, char *err,
		       size_t errlen)
{
	struct dirent *de;
	DIR *d = opendir(proc);
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (!d) {
		errbuf_set(err, errlen, "cannot read %s: %s", proc,
			   strerror(errno));
		return KILN_ESYS;
	}
	while (!rc && (de = readdir(d))) /* bounded by the directory */
		if (isdigit((unsigned char)de->d_name[0]))
			rc = maps_read(proc, de->d_name, m);
	closedir(d);
	if (rc) {
		errbuf_set(err, errlen, "out of memory");
		snapshot_maps_free(m);
	}
	return rc;
}

int snapshot_maps_user(const struct snapshot_maps *m, const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0; /* no memory file: nothing can map it */
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].dev == st.st_dev && m->v[i].ino == st.st_ino)
			return (int)m->v[i].pid;
	return m->unreadable ? -1 : 0;
}

void snapshot_maps_free(struct snapshot_maps *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- the list ---- */

void kiln_base_snapshot_info_list_free(struct kiln_base_snapshot_info *list,
				       size_t n)
{
	for (size_t i = 0; list && i < n; i++)
		free(list[i].path);
	free(list);
}

static bool is_key(const char *s, size_t len)
{
	if (len != 16)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    isupper((unsigned char)s[i]))
			return false;
	return true;
}

/* Disk space of the regular files directly in dir; its mtime. */
static void dir_usage(const char *dir, uint64_t *bytes, int64_t *mtime)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	*bytes = 0;
	*mtime = stat(dir, &st) == 0 ? (int64_t)st.st_mtime : 0;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) /* bounded by the directory */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
			    0 &&
		    S_ISREG(st.st_mode))
			*bytes += (uint64_t)st.st_blocks * 512;
	closedir(d);
}

static int by_created(const void *a, const void *b)
{
	const struct kiln_base_snapshot_info *x = a, *y = b;

	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Classify one entry of <cache>/snapshots; false if it is not a snapshot. */
static bool entry_judge(const char *top, const char *name,
			const struct sandbox_params *now, const char *vmm,
			const struct snapshot_maps *maps,
			struct kiln_base_snapshot_info *i)
{
	size_t len = strlen(name);
	const char *dot = strchr(name, '.');
	char mem[PATH_MAX];
	struct stat st;

	if (len >= sizeof(i->key) ||
	    !is_key(name, dot ? (size_t)(dot - name) : len))
		return false;
	if (dot && strcmp(dot, ".tmp") && strncmp(dot, ".prune-", 7))
		return false; /* e.g. KEY.lock */
	memset(i, 0, sizeof(*i));
	if (asprintf(&i->path, "%s/%s", top, name) < 0) {
		i->path = NULL;
		return true; /* the caller sees the missing path */
	}
	if (lstat(i->path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(i->path);
		i->path = NULL;
		return false;
	}
	snprintf(i->key, sizeof(i->key), "%s", name);
	if (!dot) {
		snapshot_prune_judge(i->path, name, now, vmm, i);
	} else {
		i->status = KILN_BASE_STALE;
		errbuf_set(i->reason, sizeof(i->reason), "%s",
			   dot[1] == 't'
				   ? "an unfinished build (in progress, or "
				     "its kiln was killed)"
				   : "left by an interrupted prune");
	}
	dir_usage(i->path, &i->size_bytes, &i->created_at);
	snprintf(mem, sizeof(mem), "%s/mem", i->path);
	i->in_use_pid = snapshot_maps_user(maps, mem);
	return true;
}

static int list_make(struct kiln *k, const struct snapshot_maps *maps,
		     struct kiln_base_snapshot_info **list, size_t *n)
{
	struct kiln_base_snapshot_info *v = NULL;
	struct sandbox_params now;
	char err[ERRLEN], *top = NULL, *vmm = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d = NULL;
	int rc = KILN_OK;

	*list = NULL;
	*n = 0;
	if (sandbox_params_resolve(k->cache_dir, NULL, &now, err,
				   sizeof(err)) == KILN_ENOMEM) {
		sandbox_params_free(&now);
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	}
	/* no kiln-vmm: nothing is current, everything else still holds */
	if (sandbox_vmm_resolve(k, &vmm))
		vmm = NULL;
	if (asprintf(&top, "%s/snapshots", k->cache_dir) < 0) {
		top = NULL;
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		goto out;
	}
	d = opendir(top);
	if (!d) {
		if (errno != ENOENT)
			rc = handle_fail(k, KILN_ESYS,
					 "cannot read %s: %s; check its "
					 "permissions",
					 top, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) { /* bounded by the directory */
		if (count == cap) {
			size_t nc = cap ? 2 * cap : 16;
			struct kiln_base_snapshot_info *nv =
				realloc(v, nc * sizeof(*nv));

			if (!nv) {
				rc = handle_fail(k, KILN_ENOMEM,
						 "out of memory");
				goto out;
			}
			v = nv;
			cap = nc;
		}
		if (!entry_judge(top, de->d_name, &now, vmm, maps, &v[count]))
			continue;
		if (!v[count++].path) {
			rc = handle_fail(k, KILN_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (count)
		qsort(v, count, sizeof(*v), by_created);
	*list = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	if (d)
		closedir(d);
	kiln_base_snapshot_info_list_free(v, count);
	sandbox_params_free(&now);
	free(vmm);
	free(top);
	return rc;
}

int kiln_base_snapshot_list(struct kiln *k,
			    struct kiln_base_snapshot_info **list, size_t *n)
{
	struct snapshot_maps maps;
	char err[ERRLEN];
	int rc;

	*list = NULL;
	*n = 0;
	rc = snapshot_maps_scan("/proc", &maps, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	rc = list_make(k, &maps, list, n);
	snapshot_maps_free(&maps);
	return rc;
}

/* ---- removal ---- */

static int dir_remove(const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc = 0;

	if (!d) {
		errbuf_set(err, errlen, "cannot read %s: %s", dir,
			   strerror(errno));
		return KILN_ESYS;
	}
	while ((de = readdir(d))) /* bounded by the directory */
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0 && !rc) {
			errbuf_set(err, errlen, "cannot remove %s/%s: %s", dir,
				   de->d_name, strerror(errno));
			rc = KILN_ESYS;
		}
	closedir(d);
	if (!rc && rmdir(dir) < 0) {
		errbuf_set(err, errlen, "cannot remove %s: %s", dir,
			   strerror(errno));
		rc = KILN_ESYS;
	}
	return rc;
}

/* Is anyone mapping dir/mem now?  pid, -1 unknown, 0 no. */
static int user_now(const char *dir)
{
	struct snapshot_maps maps;
	char err[ERRLEN], mem[PATH_MAX];
	int who;

	if (snapshot_maps_scan("/proc", &maps, err, sizeof(err)))
		return -1;
	who = snprintf(mem, sizeof(mem), "%s/mem", dir) < (int)sizeof(mem)
		      ? snapshot_maps_user(&maps, mem)
		      : -1;
	snapshot_maps_free(&maps);
	return who;
}

static void note_user(struct kiln_base_snapshot_info *i, int who)
{
	i->action = KILN_BASE_SKIPPED;
	i->in_use_pid = who;
	if (who > 0)
		errbuf_set(i->note, sizeof(i->note),
			   "in use: process %d maps its memory (a running "
			   "sandbox's kiln-vmm); stop it first",
			   who);
	else
		errbuf_set(i->note, sizeof(i->note),
			   "cannot tell whether it is in use (a kiln-vmm's "
			   "/proc/PID/maps is not readable to this user); run "
			   "as root");
}

/*
 * Remove one selected snapshot: under its build lock (a build in progress
 * holds it), renamed aside first so that no new restore finds it, then
 * checked for users once more (a VMM started since the scan).
 */
static void prune_one(struct kiln *k, struct kiln_base_snapshot_info *i)
{
	char lock[PATH_MAX], aside[PATH_MAX], err[ERRLEN];
	size_t klen = strcspn(i->key, ".");
	const char *dir = i->path;
	int fd, who;

	snprintf(lock, sizeof(lock), "%.*s/%.*s.lock",
		 (int)(strlen(i->path) - strlen(i->key) - 1), i->path,
		 (int)klen, i->key);
	/* a leftover (KEY.tmp, KEY.prune-N) without a lock file has no
	 * build running: do not create one for it */
	fd = open(lock, O_RDWR | O_CLOEXEC | (i->key[klen] ? 0 : O_CREAT),
		  0600);
	if (fd < 0 && errno == ENOENT && i->key[klen])
		goto locked;
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		i->action = KILN_BASE_SKIPPED;
		errbuf_set(i->note, sizeof(i->note),
			   "busy: another kiln is building or pruning it (%s: "
			   "%s)",
			   lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
locked:
	if (!i->key[klen]) {
		snprintf(aside, sizeof(aside), "%s.prune-%d", i->path,
			 (int)getpid());
		if (rename(i->path, aside) < 0) {
			i->action = KILN_BASE_FAILED;
			errbuf_set(i->note, sizeof(i->note),
				   "cannot rename %s: %s", i->path,
				   strerror(errno));
			goto out;
		}
		dir = aside;
		who = user_now(dir);
		if (who) {
			if (rename(aside, i->path) < 0)
				handle_log(k, KILN_LOG_WARN,
					   "cannot rename %s back to %s: %s",
					   aside, i->path, strerror(errno));
			note_user(i, who);
			goto out;
		}
	}
	if (dir_remove(dir, err, sizeof(err))) {
		i->action = KILN_BASE_FAILED;
		errbuf_set(i->note, sizeof(i->note), "%s", err);
		goto out;
	}
	i->action = KILN_BASE_REMOVED;
	/* nobody computes a stale key again; a current one's lock stays
	 * (a create may be opening it right now) */
	if (i->status == KILN_BASE_STALE && !i->key[klen])
		unlink(lock);
	handle_log(k, KILN_LOG_INFO, "removed base snapshot %s (%s)", i->key,
		   i->reason[0] ? i->reason : "current");
out:
	if (fd >= 0)
		close(fd);
}

int kiln_base_snapshot_prune(struct kiln *k, unsigned int flags,
			     struct kiln_base_snapshot_info **list, size_t *n)
{
	int rc;

	if (flags & ~(KILN_PRUNE_ALL | KILN_PRUNE_DRY_RUN)) {
		*list = NULL;
		*n = 0;
		return handle_fail(k, KILN_EINVAL, "unknown prune flags %#x",
				   flags);
	}
	rc = kiln_base_snapshot_list(k, list, n);
	if (rc)
		return rc;
	for (size_t j = 0; j < *n; j++) {
		struct kiln_base_snapshot_info *i = &(*list)[j];

		if (i->status != KILN_BASE_STALE && !(flags & KILN_PRUNE_ALL))
			continue;
		if (i->in_use_pid)
			note_user(i, i->in_use_pid);
		else if (flags & KILN_PRUNE_DRY_RUN)
			i->action = KILN_BASE_WOULD_REMOVE;
		else
			prune_one(k, i);
	}
	return KILN_OK;
}
