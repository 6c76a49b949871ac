/* SPDX-License-Identifier: MIT */
/*
 * boot_timer: start a VMM and time how long until the kiln agent in its
 * guest answers; print one JSON line with the result.  bench/boot.sh runs
 * it once per boot (docs/BENCHMARKS.md).
 *
 *   boot_timer [options] -- VMM ARGS...
 *
 * "Answers" means a connection, the protocol hello and a ping reply.  The
 * clock starts just before fork()+exec() of the VMM.  Meanwhile the guest
 * console log is followed to time the kernel's and agent's milestones on
 * the same clock.  After the answer the VMM's RSS and CPU time are read
 * from /proc, and the guest is shut down through the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "agent_vsock.h"
#include "console_watch.h"
#include "lib/agent_client.h"
#include "lib/vmm_argv.h"

enum ready_mode {
	READY_UDS, /* the VMM's vsock Unix socket, via libkiln's client */
	READY_VSOCK, /* kernel AF_VSOCK (vhost-vsock) */
	READY_CONSOLE, /* only the agent's ready line on the console */
};

struct opts {
	const char *name;
	int run;
	bool warmup;
	enum ready_mode mode;
	const char *uds;
	uint32_t cid;
	uint32_t port;
	const char *console;
	const char *log;
	int timeout_ms; /* VMM start to answer */
	int attempt_ms; /* one connection attempt */
	int interval_ms; /* between attempts */
	int shutdown_ms; /* shutdown request to VMM exit */
	long guest_mib; /* guest RAM size, to find its mapping; 0 = unknown */
	bool shutdown;
	char **argv;
};

/* The connection that answered, kept for the shutdown request. */
struct agent_link {
	struct agent_client *client; /* READY_UDS */
	struct agent_vsock vs; /* READY_VSOCK, vs.fd >= 0 when connected */
};

/* The VMM we started. */
struct vmm_proc {
	pid_t pid;
	int pidfd; /* readable once it exited */
	bool reaped;
	int status; /* wait status, once reaped */
};

struct proc_usage {
	long rss_kib, hwm_kib, anon_kib, file_kib, shmem_kib, threads;
	long guest_rss_kib; /* resident part of the guest RAM mapping */
	long guest_thp_kib; /* of which in transparent huge pages */
	long pss_kib; /* proportional set size: shared pages split */
	double cpu_ms;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: boot_timer [options] -- VMM ARGS...\n"
		"       boot_timer --print-base-cmdline\n"
		"  --name NAME          label for the JSON line (kiln, qemu)\n"
		"  --run N              run number for the JSON line\n"
		"  --warmup             mark the run as a warm-up\n"
		"  --agent uds:PATH     the VMM's vsock Unix socket "
		"(CONNECT protocol)\n"
		"  --agent vsock:CID    kernel AF_VSOCK to guest CID\n"
		"  --agent console      only wait for the agent's ready "
		"line\n"
		"  --port N             agent port (default %d)\n"
		"  --console PATH       the guest console log the VMM "
		"writes\n"
		"  --log PATH           the VMM's stdout+stderr (default "
		"/dev/null)\n"
		"  --timeout-ms N       give up after N ms (default "
		"300000)\n"
		"  --attempt-ms N       one connection attempt (default "
		"1000)\n"
		"  --interval-ms N      between attempts (default 5)\n"
		"  --shutdown-ms N      wait for the VMM to exit (default "
		"30000)\n"
		"  --no-shutdown        kill the VMM instead of asking the "
		"agent\n"
		"  --guest-mib N        guest RAM size: report the VMM's RSS "
		"without it\n",
		PROTO_AGENT_PORT);
}

static int parse_int(const char *what, const char *s, long min, long max,
		     long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr,
			"boot_timer: %s must be an integer in %ld..%ld, got "
			"\"%s\"\n",
			what, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_agent(struct opts *o, const char *s)
{
	long v;

	if (strncmp(s, "uds:", 4) == 0 && s[4]) {
		o->mode = READY_UDS;
		o->uds = s + 4;
		return 0;
	}
	if (strncmp(s, "vsock:", 6) == 0) {
		o->mode = READY_VSOCK;
		if (parse_int("--agent vsock:CID", s + 6, 3, UINT32_MAX - 1,
			      &v) < 0)
			return -1;
		o->cid = (uint32_t)v;
		return 0;
	}
	if (strcmp(s, "console") == 0) {
		o->mode = READY_CONSOLE;
		return 0;
	}
	fprintf(stderr,
		"boot_timer: --agent takes uds:PATH, vsock:CID or console, "
		"got \"%s\"\n",
		s);
	return -1;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"name", 1, 0, 'n'},	    {"run", 1, 0, 'r'},
		{"warmup", 0, 0, 'w'},	    {"agent", 1, 0, 'a'},
		{"port", 1, 0, 'p'},	    {"console", 1, 0, 'c'},
		{"log", 1, 0, 'l'},	    {"timeout-ms", 1, 0, 't'},
		{"attempt-ms", 1, 0, 'A'},  {"interval-ms", 1, 0, 'i'},
		{"shutdown-ms", 1, 0, 's'}, {"no-shutdown", 0, 0, 'S'},
		{"guest-mib", 1, 0, 'g'},   {"print-base-cmdline", 0, 0, 'P'},
		{"help", 0, 0, 'h'},	    {0, 0, 0, 0},
	};
	bool have_agent = false;
	long v;
	int c;

	*o = (struct opts){.name = "vmm",
			   .port = PROTO_AGENT_PORT,
			   .timeout_ms = 300000,
			   .attempt_ms = 1000,
			   .interval_ms = 5,
			   .shutdown_ms = 30000,
			   .shutdown = true};
	while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case 'n':
			o->name = optarg;
			break;
		case 'r':
			rc = parse_int("--run", optarg, 0, 1000000, &v);
			o->run = (int)v;
			break;
		case 'w':
			o->warmup = true;
			break;
		case 'a':
			rc = parse_agent(o, optarg);
			have_agent = true;
			break;
		case 'p':
			rc = parse_int("--port", optarg, 1, UINT32_MAX - 1, &v);
			o->port = (uint32_t)v;
			break;
		case 'c':
			o->console = optarg;
			break;
		case 'l':
			o->log = optarg;
			break;
		case 't':
			rc = parse_int("--timeout-ms", optarg, 1, 86400000, &v);
			o->timeout_ms = (int)v;
			break;
		case 'A':
			rc = parse_int("--attempt-ms", optarg, 1, 600000, &v);
			o->attempt_ms = (int)v;
			break;
		case 'i':
			rc = parse_int("--interval-ms", optarg, 0, 60000, &v);
			o->interval_ms = (int)v;
			break;
		case 's':
			rc = parse_int("--shutdown-ms", optarg, 1, 600000, &v);
			o->shutdown_ms = (int)v;
			break;
		case 'S':
			o->shutdown = false;
			break;
		case 'g':
			rc = parse_int("--guest-mib", optarg, 1, 1 << 22, &v);
			o->guest_mib = v;
			break;
		case 'P':
			puts(VMM_BASE_CMDLINE);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (rc < 0)
			return -1;
	}
	if (!have_agent || optind >= argc) {
		fprintf(stderr, "boot_timer: need --agent and a VMM command "
				"after --\n");
		usage(stderr);
		return -1;
	}
	if (o->mode == READY_CONSOLE && !o->console) {
		fprintf(stderr, "boot_timer: --agent console needs "
				"--console PATH\n");
		return -1;
	}
	o->argv = argv + optind;
	return 0;
}

/* fork+exec the VMM, its output to log, dying with us. */
static pid_t vmm_spawn(const struct opts *o, char *err, size_t errlen)
{
	const char *log = o->log ? o->log : "/dev/null";
	int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t parent = getpid(), pid;

	if (logfd < 0 || nullfd < 0) {
		snprintf(err, errlen, "open %s: %s", log, strerror(errno));
		pid = -1;
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 ||
		    dup2(logfd, 2) < 0)
			_exit(127);
		execvp(o->argv[0], o->argv);
		dprintf(2, "boot_timer: exec %s: %s\n", o->argv[0],
			strerror(errno));
		_exit(127);
	}
	if (pid < 0)
		snprintf(err, errlen, "fork: %s", strerror(errno));
out:
	if (logfd >= 0)
		close(logfd);
	if (nullfd >= 0)
		close(nullfd);
	return pid;
}

static int ms_until(int64_t deadline_ns)
{
	int64_t left = deadline_ns - bench_now_ns();

	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > 60000 ? 60000 : (int)left;
}

/* Has the VMM exited?  Reaps it (once) and keeps its wait status. */
static bool vmm_exited(struct vmm_proc *v)
{
	if (!v->reaped && waitpid(v->pid, &v->status, WNOHANG) == v->pid)
		v->reaped = true;
	return v->reaped;
}

/* SIGKILL the VMM unless it was reaped already (its pid may be reused). */
static void vmm_kill(struct vmm_proc *v)
{
	if (vmm_exited(v))
		return;
	kill(v->pid, SIGKILL);
	if (waitpid(v->pid, &v->status, 0) == v->pid)
		v->reaped = true;
}

static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "wait status 0x%x", status);
}

/*
 * One attempt to reach the agent.  1 = it answered, 0 = not yet, -1 =
 * error.  On success the link stays open for the shutdown request.
 */
static int agent_try(const struct opts *o, struct agent_link *l,
		     int64_t deadline_ns, uint64_t *uptime_ms, char *err,
		     size_t errlen)
{
	int ms = ms_until(deadline_ns), rc;

	if (ms == 0)
		return 0;
	if (o->mode == READY_VSOCK) {
		rc = agent_vsock_connect(&l->vs, o->cid, o->port, deadline_ns,
					 err, errlen);
		if (rc == AGENT_VSOCK_OK)
			rc = agent_vsock_ping(&l->vs, deadline_ns, uptime_ms,
					      err, errlen);
		if (rc == AGENT_VSOCK_NOT_READY)
			return 0;
		return rc == AGENT_VSOCK_OK ? 1 : -1;
	}

	struct agent_ping_info info;

	rc = agent_client_connect_vsock(o->uds, o->port, ms, ms, -1, &l->client,
					err, errlen);
	if (rc == AGENT_ERR_NOT_READY || rc == AGENT_ERR_TIMEOUT)
		return 0;
	if (rc == AGENT_OK) {
		rc = agent_client_ping(l->client, ms_until(deadline_ns), &info,
				       err, errlen);
		*uptime_ms = info.uptime_ms;
	}
	return rc == AGENT_OK ? 1 : -1;
}

/* Wait until the agent answers; 0 ready, -1 with err set. */
static int wait_ready(const struct opts *o, struct vmm_proc *v,
		      struct console_watch *cw, struct agent_link *l,
		      int64_t deadline_ns, int *attempts, uint64_t *uptime_ms,
		      char *err, size_t errlen)
{
	char last[512] = "";

	for (;;) { /* bounded by the deadline */
		struct pollfd p[2] = {{.fd = v->pidfd, .events = POLLIN},
				      {.fd = -1, .events = POLLIN}};
		int64_t attempt_end;
		int rc, wait_ms;

		if (vmm_exited(v)) {
			char how[64];

			describe_status(v->status, how, sizeof(how));
			snprintf(err, errlen,
				 "the VMM ended (%s) before the agent "
				 "answered; last: %s",
				 how, last[0] ? last : "-");
			return -1;
		}
		if (bench_now_ns() >= deadline_ns) {
			snprintf(err, errlen,
				 "no answer from the agent within %d ms; "
				 "last: %s",
				 o->timeout_ms, last[0] ? last : "-");
			return -1;
		}
		if (o->mode == READY_CONSOLE) {
			p[1].fd = console_watch_ready_fd(cw);
			wait_ms = ms_until(deadline_ns);
		} else {
			(*attempts)++;
			attempt_end = bench_now_ns() +
				      (int64_t)o->attempt_ms * 1000000;
			if (attempt_end > deadline_ns)
				attempt_end = deadline_ns;
			rc = agent_try(o, l, attempt_end, uptime_ms, last,
				       sizeof(last));
			if (rc == 1)
				return 0;
			if (rc < 0) {
				snprintf(err, errlen, "%s", last);
				return -1;
			}
			wait_ms = o->interval_ms;
		}
		/* Back off, waking at once if the VMM ends or the line comes.
		 */
		if (poll(p, 2, wait_ms) > 0 && p[1].revents)
			return 0;
	}
}

static void proc_usage_unknown(struct proc_usage *u)
{
	u->cpu_ms = -1;
	u->rss_kib = u->hwm_kib = u->anon_kib = -1;
	u->file_kib = u->shmem_kib = u->threads = -1;
	u->guest_rss_kib = u->guest_thp_kib = -1;
	u->pss_kib = -1;
}

static long status_field(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/*
 * The guest RAM is one big mapping in both VMMs (kiln-vmm: mmap of the
 * memory size; QEMU: its RAM block): take the smallest mapping at least
 * that big (QEMU under TCG also has a bigger translation buffer) and
 * report how much of it is resident (and in transparent huge pages), so
 * the VMM's own footprint is RSS minus that.  -1 if none is found.
 */
static void guest_rss_read(pid_t pid, long guest_mib, struct proc_usage *u)
{
	long best_size = -1, size = -1, rss = -1, v;
	bool take = false;
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (guest_mib <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return;
	/* Per mapping: Size, then Rss, ..., then AnonHugePages. */
	while (getline(&line, &cap, f) > 0) { /* bounded by the file */
		if (sscanf(line, "Size: %ld kB", &v) == 1) {
			size = v;
			take = size >= guest_mib * 1024 &&
			       (best_size < 0 || size < best_size);
		} else if (take && sscanf(line, "Rss: %ld kB", &v) == 1) {
			rss = v;
		} else if (take &&
			   sscanf(line, "AnonHugePages: %ld kB", &v) == 1) {
			best_size = size;
			u->guest_rss_kib = rss;
			u->guest_thp_kib = v;
			take = false;
		}
	}
	free(line);
	fclose(f);
}

static void proc_usage_read(pid_t pid, long guest_mib, struct proc_usage *u)
{
	char path[64], buf[8192];
	unsigned long ut = 0, st = 0;
	const char *p;
	ssize_t n;
	int fd;

	proc_usage_unknown(u);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = 0;
		u->rss_kib = status_field(buf, "\nVmRSS:");
		u->hwm_kib = status_field(buf, "\nVmHWM:");
		u->anon_kib = status_field(buf, "\nRssAnon:");
		u->file_kib = status_field(buf, "\nRssFile:");
		u->shmem_kib = status_field(buf, "\nRssShmem:");
		u->threads = status_field(buf, "\nThreads:");
	}
	guest_rss_read(pid, guest_mib, u);
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0) {
		buf[n] = 0;
		u->pss_kib = status_field(buf, "\nPss:");
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	/* Fields after the command name, which may hold spaces and ')'. */
	p = strrchr(buf, ')');
	if (p && sscanf(p + 1,
			" %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			&ut, &st) == 2)
		u->cpu_ms = (double)(ut + st) * 1000.0 / sysconf(_SC_CLK_TCK);
}

/*
 * kiln-vmm logs "first KVM_RUN ... (monotonic N ns)" when a restored vCPU
 * first enters the guest: the time from t0 (our fork), or -1 if the log
 * has no such line (QEMU, or a boot rather than a restore).
 */
static int64_t log_first_run_ns(const char *log, int64_t t0)
{
	char buf[65536];
	const char *p;
	long long mono;
	ssize_t n;
	int fd;

	if (!log)
		return -1;
	fd = open(log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "first KVM_RUN");
	p = p ? strstr(p, "(monotonic ") : NULL;
	if (!p || sscanf(p, "(monotonic %lld ns)", &mono) != 1 || mono < t0)
		return -1;
	return (int64_t)mono - t0;
}

/* Ask the agent to power off (or signal the VMM); wait for the exit. */
static int vmm_stop(const struct opts *o, struct vmm_proc *v,
		    struct agent_link *l, const char **how, char *err,
		    size_t errlen)
{
	int64_t deadline = bench_now_ns() + (int64_t)o->shutdown_ms * 1000000;
	int rc = -1;

	*how = "sigterm";
	if (o->shutdown && l->client)
		rc = agent_client_shutdown(l->client, o->shutdown_ms, err,
					   errlen);
	else if (o->shutdown && l->vs.fd >= 0)
		rc = agent_vsock_shutdown(&l->vs, deadline, err, errlen);
	if (rc == 0)
		*how = "agent";
	else if (!vmm_exited(v))
		kill(v->pid, SIGTERM);
	for (;;) { /* bounded by the deadline */
		struct pollfd p = {.fd = v->pidfd, .events = POLLIN};

		if (vmm_exited(v))
			return 0;
		if (ms_until(deadline) == 0)
			break;
		poll(&p, 1, ms_until(deadline));
	}
	*how = "sigkill";
	vmm_kill(v);
	snprintf(err, errlen, "the VMM did not exit within %d ms; killed",
		 o->shutdown_ms);
	return -1;
}

/* ns -> ms with 0.1 ms resolution; null if unknown. */
static json_t *json_ms(int64_t ns)
{
	return ns < 0 ? json_null() : json_real((double)(ns / 100000) / 10.0);
}

static json_t *json_kib(long v)
{
	return v < 0 ? json_null() : json_integer(v);
}

/* The run's JSON object, identification first. */
static json_t *result_new(const struct opts *o)
{
	static const char *const modes[] = {"uds", "vsock", "console"};
	json_t *r = json_object();

	json_object_set_new(r, "type", json_string("run"));
	json_object_set_new(r, "vmm", json_string(o->name));
	json_object_set_new(r, "run", json_integer(o->run));
	json_object_set_new(r, "warmup", json_boolean(o->warmup));
	json_object_set_new(r, "ready_by", json_string(modes[o->mode]));
	return r;
}

int main(int argc, char **argv)
{
	struct agent_link link = {.vs.fd = -1};
	struct console_watch cw = {0};
	struct console_marks m;
	struct proc_usage u;
	char err[768] = "", serr[256] = "";
	const char *how = "none";
	uint64_t uptime_ms = 0;
	int attempts = 0, rc;
	int64_t t0, t_ready = -1, t_stop = -1, t_exit = -1, t_first_run = -1;
	struct vmm_proc v = {.pidfd = -1};
	struct opts o;
	json_t *r;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	t0 = bench_now_ns();
	if (o.console &&
	    console_watch_start(&cw, o.console, t0, err, sizeof(err)) < 0) {
		fprintf(stderr, "boot_timer: %s\n", err);
		return 1;
	}
	v.pid = vmm_spawn(&o, err, sizeof(err));
	if (v.pid < 0) {
		fprintf(stderr, "boot_timer: %s\n", err);
		console_watch_stop(&cw);
		return 1;
	}
	v.pidfd = (int)syscall(SYS_pidfd_open, v.pid, 0);
	if (v.pidfd < 0) {
		snprintf(err, sizeof(err), "pidfd_open: %s (needs Linux 5.3)",
			 strerror(errno));
		rc = -1;
	} else {
		rc = wait_ready(&o, &v, &cw, &link,
				t0 + (int64_t)o.timeout_ms * 1000000, &attempts,
				&uptime_ms, err, sizeof(err));
	}
	proc_usage_unknown(&u);
	if (rc == 0) {
		t_ready = bench_now_ns() - t0;
		proc_usage_read(v.pid, o.guest_mib, &u);
		t_first_run = log_first_run_ns(o.log, t0);
		t_stop = bench_now_ns();
		if (vmm_stop(&o, &v, &link, &how, serr, sizeof(serr)) == 0)
			t_exit = bench_now_ns() - t_stop;
	} else if (!vmm_exited(&v)) {
		vmm_kill(&v);
		how = "sigkill";
	}
	if (v.pidfd >= 0)
		close(v.pidfd);
	agent_client_close(link.client);
	agent_vsock_close(&link.vs);
	console_watch_stop(&cw);
	if (o.console)
		console_watch_marks(&cw, &m);
	else
		console_marks_clear(&m);

	r = result_new(&o);
	json_object_set_new(r, "ok", json_boolean(rc == 0));
	json_object_set_new(r, "ready_ms", json_ms(t_ready));
	json_object_set_new(r, "first_run_ms", json_ms(t_first_run));
	json_object_set_new(r, "attempts", json_integer(attempts));
	json_object_set_new(r, "agent_uptime_ms",
			    rc == 0 && o.mode != READY_CONSOLE
				    ? json_integer((json_int_t)uptime_ms)
				    : json_null());
	json_object_set_new(r, "console_first_ms", json_ms(m.first_ns));
	json_object_set_new(r, "console_init_ms", json_ms(m.init_ns));
	json_object_set_new(r, "console_ready_ms", json_ms(m.ready_ns));
	json_object_set_new(r, "init_to_ready_ms",
			    json_ms(m.init_ns >= 0 && m.ready_ns >= m.init_ns
					    ? m.ready_ns - m.init_ns
					    : -1));
	json_object_set_new(
		r, "guest_init_ms",
		m.init_guest_s < 0
			? json_null()
			: json_ms((int64_t)(m.init_guest_s * 1e9 + 0.5)));
	json_object_set_new(r, "rss_kib", json_kib(u.rss_kib));
	json_object_set_new(r, "pss_kib", json_kib(u.pss_kib));
	json_object_set_new(r, "rss_anon_kib", json_kib(u.anon_kib));
	json_object_set_new(r, "rss_file_kib", json_kib(u.file_kib));
	json_object_set_new(r, "rss_shmem_kib", json_kib(u.shmem_kib));
	json_object_set_new(r, "guest_rss_kib", json_kib(u.guest_rss_kib));
	json_object_set_new(r, "guest_thp_kib", json_kib(u.guest_thp_kib));
	json_object_set_new(r, "vmm_own_rss_kib",
			    json_kib(u.rss_kib >= 0 && u.guest_rss_kib >= 0
					     ? u.rss_kib - u.guest_rss_kib
					     : -1));
	json_object_set_new(r, "hwm_kib", json_kib(u.hwm_kib));
	json_object_set_new(r, "threads", json_kib(u.threads));
	json_object_set_new(r, "vmm_cpu_ms",
			    u.cpu_ms < 0 ? json_null() : json_real(u.cpu_ms));
	json_object_set_new(r, "stop", json_string(how));
	json_object_set_new(r, "stop_ms", json_ms(t_exit));
	if (v.reaped && WIFEXITED(v.status))
		json_object_set_new(r, "exit_status",
				    json_integer(WEXITSTATUS(v.status)));
	else if (v.reaped && WIFSIGNALED(v.status))
		json_object_set_new(r, "exit_signal",
				    json_integer(WTERMSIG(v.status)));
	json_object_set_new(r, "panic", json_boolean(m.panic_ns >= 0));
	if (rc != 0)
		json_object_set_new(r, "error", json_string(err));
	else if (serr[0])
		json_object_set_new(r, "stop_error", json_string(serr));
	if (m.error[0])
		json_object_set_new(r, "console_error", json_string(m.error));
	json_dumpf(r, stdout,
		   JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(r);
	if (rc != 0)
		fprintf(stderr, "boot_timer: %s: %s\n", o.name, err);
	return rc == 0 ? 0 : 1;
}
