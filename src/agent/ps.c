/* SPDX-License-Identifier: MIT */
/*
 * The ps and kill ops (see ps.h).  Processes come and go while /proc is
 * scanned: every read that fails (ENOENT, ESRCH, a short or malformed
 * file) drops that process from the list instead of failing the request.
 * Each process is read through one directory descriptor, so its files
 * belong to the same process (a pid reused in between makes the later
 * reads fail, never mix two processes).
 */
#include "agent/ps.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/log.h"
#include "agent/request.h"

/* /proc/<pid>/stat and status are well under this. */
#define PS_FILE_MAX 4096

/* Read at most cap bytes of dirfd/name; returns the length or -1. */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (len < cap) { /* bounded by cap */
		ssize_t n = read(fd, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	return (ssize_t)len;
}

int ps_parse_stat(const char *text, size_t len, unsigned int page_kib,
		  struct ps_entry *e)
{
	const char *open = memchr(text, '(', len), *close = NULL, *p;
	unsigned long long f[22];
	char buf[PS_FILE_MAX + 1];
	char state;
	size_t n;
	long pid;

	/* comm may hold ')' and spaces: it ends at the last ')'. */
	for (size_t i = len; i > 0; i--)
		if (text[i - 1] == ')') {
			close = text + i - 1;
			break;
		}
	if (!open || !close || close < open || len > PS_FILE_MAX)
		return -1;
	memcpy(buf, text, len);
	buf[len] = 0;
	if (sscanf(buf, "%ld", &pid) != 1 || pid <= 0)
		return -1;
	n = (size_t)(close - open - 1);
	if (n >= sizeof(e->comm))
		n = sizeof(e->comm) - 1;
	memcpy(e->comm, open + 1, n);
	e->comm[n] = 0;
	p = buf + (close - text) + 1;
	/*
	 * After comm: state, then fields 4.. (ppid pgrp session tty_nr tpgid
	 * flags minflt cminflt majflt cmajflt utime stime cutime cstime
	 * priority nice num_threads itrealvalue starttime vsize rss).
	 */
	if (sscanf(p,
		   " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
		   "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6],
		   &f[7], &f[8], &f[9], &f[10], &f[11], &f[12], &f[13], &f[14],
		   &f[15], &f[16], &f[17], &f[18], &f[19], &f[20]) != 22)
		return -1;
	e->pid = (pid_t)pid;
	e->state = state;
	e->ppid = (pid_t)f[0];
	e->pgid = (pid_t)f[1];
	e->start_ticks = f[18];
	/* rss can be printed as a negative long: %llu wraps it; clamp. */
	e->rss_kib = f[20] > (1ull << 40) ? 0 : f[20] * page_kib;
	return 0;
}

/* Length of the valid UTF-8 sequence at s[0..len) or 0. */
static size_t utf8_seq(const uint8_t *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong, surrogates, beyond Unicode */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void ps_join_cmdline(const uint8_t *raw, size_t len, size_t total,
		     struct ps_entry *e)
{
	size_t in = 0, out = 0;

	/* The last argument's NUL is not part of the line. */
	while (len > 0 && raw[len - 1] == 0) {
		len--;
		total = total ? total - 1 : 0;
	}
	e->cmdline_truncated = total > PS_CMDLINE_MAX || len > PS_CMDLINE_MAX;
	if (len > PS_CMDLINE_MAX)
		len = PS_CMDLINE_MAX;
	while (in < len) { /* each pass consumes at least one byte */
		size_t n = raw[in] ? utf8_seq(raw + in, len - in) : 1;

		if (raw[in] == 0) {
			e->cmdline[out++] = ' ';
		} else if (n == 0 || raw[in] < 0x20 || raw[in] == 0x7f) {
			e->cmdline[out++] = '?';
			n = 1;
		} else {
			memcpy(e->cmdline + out, raw + in, n);
			out += n;
		}
		in += n ? n : 1;
	}
	e->cmdline[out] = 0;
}

/* Effective uid from the "Uid:" line of /proc/<pid>/status. */
static int parse_uid(const char *text, uint32_t *uid)
{
	const char *p = strstr(text, "\nUid:");
	unsigned long r, eff;

	if (!p || sscanf(p + 5, "%lu %lu", &r, &eff) != 2)
		return -1;
	*uid = (uint32_t)eff;
	return 0;
}

int ps_read_one(const char *proc_dir, pid_t pid, struct ps_entry *e)
{
	char path[64], buf[PS_FILE_MAX + 1];
	uint8_t raw[PS_CMDLINE_MAX + 2];
	long page = sysconf(_SC_PAGESIZE);
	ssize_t n;
	int dfd, rc = -1;

	memset(e, 0, sizeof(*e));
	snprintf(path, sizeof(path), "%s/%d", proc_dir, (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	n = read_at(dfd, "stat", buf, PS_FILE_MAX);
	if (n <= 0 ||
	    ps_parse_stat(buf, (size_t)n,
			  (unsigned int)((page > 0 ? page : 4096) / 1024),
			  e) < 0 ||
	    e->pid != pid)
		goto out;
	n = read_at(dfd, "status", buf, PS_FILE_MAX);
	if (n <= 0)
		goto out;
	buf[n] = 0;
	if (parse_uid(buf, &e->uid) < 0)
		goto out;
	/* One byte more than we keep tells whether it was cut. */
	n = read_at(dfd, "cmdline", (char *)raw, sizeof(raw));
	if (n < 0)
		goto out;
	if (n == 0) /* kernel thread or zombie: no argv */
		snprintf(e->cmdline, sizeof(e->cmdline), "[%s]", e->comm);
	else
		ps_join_cmdline(raw, (size_t)n, (size_t)n, e);
	rc = 0;
out:
	close(dfd);
	return rc;
}

/* The live exec whose process group pgid is, or NULL. */
static struct proc *exec_of_group(struct agent *ag, pid_t pgid)
{
	for (struct proc *p = ag->procs; p; p = p->next)
		if (!p->reaped && !p->dead && p->conn && p->pid == pgid)
			return p;
	return NULL;
}

/* The detached command (running) whose process group pgid is, or NULL. */
static struct proc *session_of_group(struct agent *ag, pid_t pgid)
{
	for (struct proc *p = ag->procs; p; p = p->next)
		if (p->session && !p->reaped && !p->dead && p->pid == pgid)
			return p;
	return NULL;
}

/* Seconds since the epoch at which the guest booted. */
static double boot_epoch(void)
{
	struct timespec rt, bt;

	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_BOOTTIME, &bt);
	return (double)(rt.tv_sec - bt.tv_sec) +
	       (double)(rt.tv_nsec - bt.tv_nsec) / 1e9;
}

static json_t *entry_json(struct agent *ag, const struct ps_entry *e,
			  double boot, long hz)
{
	char state[2] = {e->state, 0};
	struct proc *x = exec_of_group(ag, e->pgid);
	struct proc *s = session_of_group(ag, e->pgid);
	json_t *j;

	j = json_pack("{s:i,s:i,s:i,s:I,s:s,s:I,s:f,s:s,s:s,s:b}", "pid",
		      (int)e->pid, "ppid", (int)e->ppid, "pgid", (int)e->pgid,
		      "uid", (json_int_t)e->uid, "state", state, "rss_kib",
		      (json_int_t)e->rss_kib, "start_time",
		      boot + (double)e->start_ticks / (double)hz, "comm",
		      e->comm, "cmdline", e->cmdline, "cmdline_truncated",
		      e->cmdline_truncated);
	if (!j) /* comm that is not UTF-8: leave it out */
		j = json_pack("{s:i,s:i,s:i,s:I,s:s,s:I,s:f,s:s,s:s,s:b}",
			      "pid", (int)e->pid, "ppid", (int)e->ppid, "pgid",
			      (int)e->pgid, "uid", (json_int_t)e->uid, "state",
			      state[0] >= 0x20 && state[0] < 0x7f ? state : "?",
			      "rss_kib", (json_int_t)e->rss_kib, "start_time",
			      boot + (double)e->start_ticks / (double)hz,
			      "comm", "?", "cmdline", e->cmdline,
			      "cmdline_truncated", e->cmdline_truncated);
	if (j && x) {
		json_object_set_new(j, "exec_id", json_integer(x->id));
		json_object_set_new(j, "exec_conn",
				    json_integer(x->conn->serial));
		json_object_set_new(j, "exec_leader",
				    json_boolean(x->pid == e->pid));
	}
	if (j && s) /* for `kiln attach SB SESSION` */
		json_object_set_new(j, "session", json_integer(s->session));
	return j;
}

void ps_op(struct conn *c, uint32_t id, json_t *obj)
{
	long hz = sysconf(_SC_CLK_TCK);
	double boot = boot_epoch();
	size_t bytes = 0, count = 0;
	bool truncated = false;
	struct dirent *d;
	json_t *list;
	char err[256];
	DIR *dir;

	if (request_parse_ps(obj, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (hz <= 0)
		hz = 100;
	dir = opendir("/proc");
	if (!dir) {
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"ps: cannot open /proc: %s (is it mounted?)",
				strerror(errno));
		return;
	}
	list = json_array();
	/* Bounded by the directory's size and PS_MAX_PROCS. */
	while (list && (d = readdir(dir))) {
		struct ps_entry e;
		char *end;
		long pid = strtol(d->d_name, &end, 10);
		json_t *j;

		if (*end || pid <= 0 || d->d_name[0] == '0')
			continue;
		if (ps_read_one("/proc", (pid_t)pid, &e) < 0)
			continue; /* gone meanwhile */
		/* Worst case per entry: every byte escaped as \uXXXX. */
		bytes += 256 + 6 * (strlen(e.cmdline) + strlen(e.comm));
		if (count >= PS_MAX_PROCS || bytes > PS_REPLY_MAX) {
			truncated = true;
			break;
		}
		j = entry_json(c->ag, &e, boot, hz);
		if (!j || json_array_append_new(list, j) < 0) {
			json_decref(list);
			list = NULL;
			break;
		}
		count++;
	}
	closedir(dir);
	if (!list) {
		conn_send_error(c, id, PROTO_E_INTERNAL, "ps: out of memory");
		return;
	}
	conn_send_result(c, id,
			 json_pack("{s:o,s:b,s:i}", "processes", list,
				   "truncated", truncated, "connection",
				   (int)c->serial));
}

/* The exec of a kill request; sends the error itself when there is none. */
static struct proc *kill_find_exec(struct conn *c, uint32_t id,
				   const struct kill_req *req)
{
	struct proc *found = NULL;
	unsigned int matches = 0;

	for (struct proc *p = c->ag->procs; p; p = p->next) {
		if (p->reaped || p->dead || !p->conn || p->id != req->exec_id ||
		    (req->exec_conn && p->conn->serial != req->exec_conn))
			continue;
		/* The caller's own connection wins over the others. */
		if (p->conn == c) {
			found = p;
			matches = 1;
			break;
		}
		found = p;
		matches++;
	}
	if (!found) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS,
				"kill: no such process: no running exec with "
				"id %u%s",
				req->exec_id,
				req->exec_conn ? " on that connection" : "");
		return NULL;
	}
	if (matches > 1) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"kill: %u running execs have id %u (on "
				"different connections); add \"exec_conn\" "
				"from ps to pick one",
				matches, req->exec_id);
		return NULL;
	}
	return found;
}

void ps_kill_op(struct conn *c, uint32_t id, json_t *obj)
{
	struct kill_req req;
	struct proc *p = NULL;
	char err[512];
	pid_t target;
	int rc;

	if (request_parse_kill(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (req.pid && (pid_t)req.pid == getpid()) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"kill: pid %lld is the agent itself; refusing",
				(long long)req.pid);
		return;
	}
	if (req.exec_id) {
		p = kill_find_exec(c, id, &req);
		if (!p)
			return;
		rc = proc_signal(p, req.signo, true);
		target = p->pid;
	} else {
		target = (pid_t)req.pid;
		rc = kill(target, req.signo) < 0 ? -errno : 0;
	}
	if (rc == -ESRCH) {
		conn_send_error(c, id, PROTO_E_NO_PROCESS,
				"kill: no such process: %s %d",
				p ? "process group" : "pid", (int)target);
		return;
	}
	if (rc < 0) {
		conn_send_error(c, id,
				rc == -EPERM ? PROTO_E_PERM : PROTO_E_INTERNAL,
				"kill: %s %d: %s", p ? "process group" : "pid",
				(int)target, strerror(-rc));
		return;
	}
	log_debug("connection %u: signal %d to %s %d", c->serial, req.signo,
		  p ? "process group" : "pid", (int)target);
	conn_send_result(c, id,
			 json_pack("{s:i,s:i,s:b}", "pid", (int)target,
				   "signal", req.signo, "group", p != NULL));
}
