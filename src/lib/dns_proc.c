/* SPDX-License-Identifier: MIT */
/*
 * The sandbox resolver's process (kiln-dns, src/dns/main.c), from
 * libkiln's side: started detached (its own session, reparented to init)
 * so it outlives the kiln command that set the network up, its pid kept in
 * <state_dir>/net/<id>.dns.pid.  Before signalling a recorded pid, its
 * command line must still be kiln-dns for that sandbox: a pid reused by
 * an unrelated process after a reboot is left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/vmm_proc.h"

#define START_MS 5000
#define STOP_MS 2000

static void pid_path(const char *dir, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.dns.pid", dir, id);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether pid runs "kiln-dns ... --id <id> ...". */
static bool is_ours(pid_t pid, const char *id)
{
	char path[64], buf[4096];
	bool exe = false, has_id = false;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *a = buf, *prev = NULL; a < buf + n; a += strlen(a) + 1) {
		const char *base = strrchr(a, '/');

		if (a == buf)
			exe = !strcmp(base ? base + 1 : a, "kiln-dns");
		if (prev && !strcmp(prev, "--id") && !strcmp(a, id))
			has_id = true;
		prev = a;
	}
	return exe && has_id;
}

/*
 * Whether pid has not finished exiting (a zombie has: init reaps it when
 * it gets to it).  Only asked about a pid checked with is_ours() before:
 * a pid is not reused until it has been reaped.
 */
static bool running(pid_t pid)
{
	uint64_t start;

	return proc_start_time(pid, &start) == 0; /* not found: Z or X too */
}

int dns_proc_pid(const char *dir, const char *id)
{
	char path[4096], buf[32];
	ssize_t n;
	long pid;
	int fd;

	pid_path(dir, id, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 1 || pid > 1 << 22 || !is_ours((pid_t)pid, id))
		return 0;
	return (int)pid;
}

void dns_proc_stop(const char *dir, const char *id)
{
	char path[4096];
	pid_t pid = dns_proc_pid(dir, id);

	if (pid > 0 && kill(pid, SIGTERM) == 0) {
		long end = now_ms() + STOP_MS;

		/* not our child (detached): poll until it has exited */
		while (running(pid) && now_ms() < end)
			poll(NULL, 0, 10);
		if (running(pid)) {
			kill(pid, SIGKILL);
			/* out of the namespace before the caller goes on */
			end = now_ms() + STOP_MS;
			while (running(pid) && now_ms() < end)
				poll(NULL, 0, 10);
		}
	}
	pid_path(dir, id, path, sizeof(path));
	unlink(path);
}

int dns_proc_reload(const char *dir, const char *id, char *err, size_t errlen)
{
	pid_t pid = dns_proc_pid(dir, id);

	if (pid <= 0 || kill(pid, SIGHUP) < 0) {
		snprintf(err, errlen,
			 "the resolver of sandbox %s is not running", id);
		return KILN_ESTATE;
	}
	return 0;
}

/* In the grandchild: become kiln-dns, telling the parent through fd. */
static void __attribute__((noreturn))
child_exec(const char *exe, const char *dir, const char *id, uint32_t slot,
	   int fd)
{
	char slot_s[16], fd_s[16], log[4096];
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), lfd;

	snprintf(slot_s, sizeof(slot_s), "%u", slot);
	snprintf(fd_s, sizeof(fd_s), "%d", fd);
	snprintf(log, sizeof(log), "%s/%s.dns.log", dir, id);
	lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(lfd >= 0 ? lfd : null, 2) < 0)
		_exit(127);
	if (fcntl(fd, F_SETFD, 0) < 0) /* the ready pipe survives exec */
		_exit(127);
	/* its pid first (exec keeps it), then its own words */
	if (dprintf(fd, "%d\n", (int)getpid()) < 0)
		_exit(127);
	execl(exe, exe, "--id", id, "--slot", slot_s, "--dir", dir,
	      "--ready-fd", fd_s, (char *)NULL);
	dprintf(fd, "cannot run %s: %s", exe, strerror(errno));
	_exit(127);
}

int dns_proc_start(const char *exe, const char *dir, const char *id,
		   uint32_t slot, char *err, size_t errlen)
{
	char msg[512] = "", path[4096], pidbuf[32];
	int p[2], st, fd;
	pid_t pid, mid;
	ssize_t n = 0;

	dns_proc_stop(dir, id);
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return KILN_ESYS;
	}
	/* fork twice: the resolver belongs to init, not to this program */
	mid = fork();
	if (mid == 0) {
		close(p[0]);
		if (setsid() < 0)
			_exit(127);
		pid = fork();
		if (pid < 0)
			_exit(127);
		if (pid == 0)
			child_exec(exe, dir, id, slot, p[1]);
		_exit(0);
	}
	close(p[1]);
	if (mid < 0 || waitpid(mid, &st, 0) != mid || !WIFEXITED(st) ||
	    WEXITSTATUS(st)) {
		close(p[0]);
		snprintf(err, errlen, "cannot start the resolver %s", exe);
		return KILN_ESYS;
	}
	/* until "ok" or EOF (the resolver failed or exited), bounded */
	for (long end = now_ms() + START_MS; (size_t)n < sizeof(msg) - 1;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		long left = end - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		r = read(p[0], msg + n, sizeof(msg) - 1 - (size_t)n);
		if (r <= 0)
			break;
		n += r;
		msg[n] = '\0';
		if (strstr(msg, "\nok\n"))
			break;
	}
	close(p[0]);
	pid = (pid_t)strtol(msg, NULL, 10);
	if (pid <= 1 || !strstr(msg, "\nok\n")) {
		const char *why = strchr(msg, '\n');

		if (pid > 1 && is_ours(pid, id))
			kill(pid, SIGKILL);
		snprintf(err, errlen, "the sandbox resolver did not start: %s",
			 why && why[1] ? why + 1
				       : "no answer within 5 s (see the log "
					 "next to the network record)");
		err[strcspn(err, "\n")] = '\0';
		return KILN_ESYS;
	}
	pid_path(dir, id, path, sizeof(path));
	snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)pid);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, pidbuf, strlen(pidbuf)) < 0) {
		snprintf(err, errlen,
			 "cannot record the resolver's pid in %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		kill(pid, SIGKILL);
		unlink(path);
		return KILN_ESYS;
	}
	close(fd);
	return 0;
}
