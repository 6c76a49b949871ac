/* SPDX-License-Identifier: MIT */
/*
 * The status op (see status.h).  Every source is read afresh per request;
 * a source that cannot be read is left out of the reply (and named in its
 * "unavailable" list) rather than failing the whole request.
 */
#include "agent/status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "agent/exec.h"

/* /proc/meminfo is a few KiB; more than this is not what we expect. */
#define MEMINFO_MAX 16384

/* "Name:   1234 kB" anywhere at a line start in text. */
static int meminfo_field(const char *text, const char *name, uint64_t *out)
{
	size_t n = strlen(name);
	const char *p = text;

	/* Bounded: p moves past a newline each pass or the loop ends. */
	while (p && *p) {
		if (strncmp(p, name, n) == 0 && p[n] == ':') {
			unsigned long long v;
			char unit[4] = "";
			int got = sscanf(p + n + 1, " %llu %3s", &v, unit);

			if (got < 1 || (got == 2 && strcmp(unit, "kB") != 0))
				return -1;
			*out = v;
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

int status_parse_meminfo(const char *text, uint64_t *total_kib,
			 uint64_t *avail_kib)
{
	if (meminfo_field(text, "MemTotal", total_kib) < 0 ||
	    meminfo_field(text, "MemAvailable", avail_kib) < 0)
		return -1;
	return 0;
}

static int read_meminfo(uint64_t *total, uint64_t *avail)
{
	char *buf = malloc(MEMINFO_MAX + 1);
	size_t len = 0;
	int fd, rc = -1;

	if (!buf)
		return -1;
	fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		while (len < MEMINFO_MAX) { /* bounded by MEMINFO_MAX */
			ssize_t n = read(fd, buf + len, MEMINFO_MAX - len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		close(fd);
		buf[len] = 0;
		rc = status_parse_meminfo(buf, total, avail);
	}
	free(buf);
	return rc;
}

long status_count_processes(const char *proc_dir)
{
	DIR *d = opendir(proc_dir);
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while (n < STATUS_MAX_PROCS && (e = readdir(d))) {
		const char *s = e->d_name;

		if (*s < '1' || *s > '9')
			continue;
		while (*s >= '0' && *s <= '9')
			s++;
		if (!*s)
			n++;
	}
	closedir(d);
	return n;
}

void status_op(struct conn *c, uint32_t id, json_t *obj)
{
	struct agent *ag = c->ag;
	uint64_t mem_total, mem_avail;
	struct timespec boot;
	struct statvfs vfs;
	struct sysinfo si;
	struct utsname un;
	json_t *rep, *unavail;
	char err[256];
	const char *op;
	long procs;

	if (proto_unpack(obj, err, sizeof(err), "status", "{s:s}", "op", &op) <
	    0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	rep = json_pack(
		"{s:s,s:i,s:I,s:b,s:s,s:i,s:i}", "agent_version", AGENT_VERSION,
		"protocol_version", PROTO_VERSION, "agent_uptime_ms",
		(json_int_t)((agent_now_ns() - ag->start_ns) / 1000000), "init",
		ag->init_mode, "sandbox_id", ag->sandbox_id, "connections",
		(int)ag->nconns, "commands", (int)ag->nprocs);
	unavail = json_array();
	if (!rep || !unavail) {
		json_decref(rep);
		json_decref(unavail);
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"status: out of memory");
		return;
	}
	if (clock_gettime(CLOCK_BOOTTIME, &boot) == 0)
		json_object_set_new(rep, "uptime_s",
				    json_real((double)boot.tv_sec +
					      (double)boot.tv_nsec / 1e9));
	else
		json_array_append_new(unavail, json_string("uptime_s"));
	if (sysinfo(&si) == 0)
		json_object_set_new(rep, "load",
				    json_pack("[f,f,f]", si.loads[0] / 65536.0,
					      si.loads[1] / 65536.0,
					      si.loads[2] / 65536.0));
	else
		json_array_append_new(unavail, json_string("load"));
	if (read_meminfo(&mem_total, &mem_avail) == 0) {
		json_object_set_new(rep, "mem_total_kib",
				    json_integer((json_int_t)mem_total));
		json_object_set_new(rep, "mem_available_kib",
				    json_integer((json_int_t)mem_avail));
	} else {
		json_array_append_new(unavail, json_string("mem"));
	}
	if (statvfs("/", &vfs) == 0) {
		json_object_set_new(rep, "root_total_bytes",
				    json_integer((json_int_t)vfs.f_blocks *
						 (json_int_t)vfs.f_frsize));
		json_object_set_new(rep, "root_free_bytes",
				    json_integer((json_int_t)vfs.f_bfree *
						 (json_int_t)vfs.f_frsize));
		json_object_set_new(rep, "root_avail_bytes",
				    json_integer((json_int_t)vfs.f_bavail *
						 (json_int_t)vfs.f_frsize));
	} else {
		json_array_append_new(unavail, json_string("root"));
	}
	procs = status_count_processes("/proc");
	if (procs >= 0)
		json_object_set_new(rep, "processes",
				    json_integer((json_int_t)procs));
	else
		json_array_append_new(unavail, json_string("processes"));
	if (uname(&un) == 0)
		json_object_set_new(rep, "hostname", json_string(un.nodename));
	else
		json_array_append_new(unavail, json_string("hostname"));
	json_object_set_new(rep, "unavailable", unavail);
	conn_send_result(c, id, rep);
}
