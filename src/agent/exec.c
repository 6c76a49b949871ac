/* SPDX-License-Identifier: MIT */
/*
 * Commands once spawned (spawn.c starts them): stream their output, feed
 * their stdin, time them out, signal and reap them (see exec.h).
 *
 * A command ends for the client when its leader has been reaped and both
 * output pipes are finished: at reap time we read exactly the bytes that
 * were in each pipe (FIONREAD), so everything the leader wrote is
 * delivered, but a background process that keeps the pipe open cannot
 * hold the exec open forever.  Reading the output: exec_output.c.
 */
#include "agent/exec.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "agent/server.h"

/* Bound on the reap loop per SIGCHLD batch (each pass reaps one child). */
#define REAP_MAX 65536
/* How long proc_kill_all() waits for SIGKILLed commands to go away. */
#define KILL_ALL_WAIT_MS 5000

static void stdin_on_event(struct loop_watch *w, uint32_t events);

static void proc_link(struct agent *ag, struct conn *c, struct proc *p)
{
	p->next = ag->procs;
	ag->procs = p;
	ag->nprocs++;
	if (!c)
		return; /* detached: no client yet */
	p->conn_next = c->procs;
	c->procs = p;
}

int proc_spawn(struct conn *c, uint32_t id, const struct exec_spec *spec,
	       const char **code, char *err, size_t errlen)
{
	struct agent *ag = c->ag;
	struct spawned sp;
	struct proc *p;

	if (ag->nprocs >= AGENT_MAX_PROCS) {
		*code = PROTO_E_LIMIT;
		snprintf(err, errlen,
			 "exec: too many running commands (limit %d); wait "
			 "for some to finish",
			 AGENT_MAX_PROCS);
		return -1;
	}
	if (spec->detach && detach_count(ag) >= DETACH_MAX) {
		*code = PROTO_E_LIMIT;
		snprintf(err, errlen,
			 "exec: too many detached commands (limit %d); attach "
			 "to some and let them finish",
			 DETACH_MAX);
		return -1;
	}
	/* Allocate first: once spawned, nothing may fail. */
	p = calloc(1, sizeof(*p));
	if (!p) {
		*code = PROTO_E_INTERNAL;
		snprintf(err, errlen, "exec: out of memory");
		return -1;
	}
	if (spawn_command(spec, &sp, code, err, errlen) < 0) {
		free(p);
		return -1;
	}
	p->ag = ag;
	p->conn = spec->detach ? NULL : c;
	p->id = id;
	if (spec->detach)
		p->session = detach_new_session(ag);
	p->pid = sp.pid;
	p->start_ns = agent_now_ns();
	if (spec->timeout_ms)
		p->deadline_ns = p->start_ns + spec->timeout_ms * 1000000ull;
	p->out.fd = sp.stdout_fd;
	p->out.p = p;
	p->err.fd = sp.stderr_fd; /* -1 for a terminal */
	p->err.p = p;
	p->in_fd = sp.stdin_fd;
	p->tty = sp.tty;
	p->cap_output = spec->cap_output;
	p->max_output = spec->max_output;
	loop_watch_init(&p->out.w, p->out.fd, stream_on_event, &p->out, false);
	loop_watch_init(&p->err.w, p->err.fd, stream_on_event, &p->err, false);
	loop_watch_init(&p->in_w, p->in_fd, stdin_on_event, p, false);
	proc_link(ag, p->conn, p);
	proc_output_resume(p);
	log_debug("request %u: started \"%s\" as pid %d%s", id, sp.path,
		  (int)sp.pid, spec->detach ? " (detached)" : "");
	if (spec->detach) {
		conn_send_result(c, id,
				 json_pack("{s:I,s:i,s:b}", "session",
					   (json_int_t)p->session, "pid",
					   (int)sp.pid, "tty", sp.tty));
		return 0;
	}
	conn_send_json(c, id,
		       json_pack("{s:s,s:i,s:b}", "type", "started", "pid",
				 (int)sp.pid, "tty", sp.tty));
	return 0;
}

struct proc *proc_find(struct conn *c, uint32_t id)
{
	for (struct proc *p = c->procs; p; p = p->conn_next)
		if (p->id == id)
			return p;
	return NULL;
}

/* ---- stdin -------------------------------------------------------------- */

static size_t stdin_pending(const struct proc *p)
{
	return p->in_len - p->in_off;
}

bool proc_stdin_full(const struct proc *p)
{
	return stdin_pending(p) > AGENT_STDIN_HIGH;
}

static void stdin_close_now(struct proc *p)
{
	if (p->in_fd < 0)
		return;
	loop_watch_del(&p->ag->loop, &p->in_w);
	close(p->in_fd);
	p->in_fd = -1;
	free(p->in_buf);
	p->in_buf = NULL;
	p->in_off = p->in_len = p->in_cap = 0;
	p->in_eof_pending = false;
}

/* Write queued stdin; false if the pipe is gone (the reader closed it). */
static bool stdin_flush(struct proc *p)
{
	while (stdin_pending(p) > 0) {
		ssize_t n = write(p->in_fd, p->in_buf + p->in_off,
				  stdin_pending(p));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		p->in_off += (size_t)n;
	}
	if (stdin_pending(p) == 0)
		p->in_off = p->in_len = 0;
	return true;
}

static void stdin_update(struct proc *p)
{
	if (p->in_fd < 0)
		return;
	if (stdin_pending(p) == 0 && p->in_eof_pending) {
		stdin_close_now(p);
		return;
	}
	loop_watch_set(&p->ag->loop, &p->in_w,
		       stdin_pending(p) > 0 ? EPOLLOUT : 0);
}

void proc_stdin_write(struct proc *p, const uint8_t *buf, size_t len)
{
	if (p->in_fd < 0 || p->in_eof_pending || len == 0)
		return; /* stdin closed: like writing to a closed pipe */
	if (p->in_len + len > p->in_cap) {
		size_t need = stdin_pending(p) + len;
		uint8_t *nb;

		if (p->in_off > 0) {
			memmove(p->in_buf, p->in_buf + p->in_off,
				stdin_pending(p));
			p->in_len -= p->in_off;
			p->in_off = 0;
		}
		if (need > p->in_cap) {
			nb = realloc(p->in_buf, need);
			if (!nb) {
				log_msg("request %u: out of memory for stdin; "
					"closing its stdin",
					p->id);
				stdin_close_now(p);
				return;
			}
			p->in_buf = nb;
			p->in_cap = need;
		}
	}
	memcpy(p->in_buf + p->in_len, buf, len);
	p->in_len += len;
	if (!stdin_flush(p))
		stdin_close_now(p);
	stdin_update(p);
}

void proc_stdin_close(struct proc *p)
{
	struct termios t;
	uint8_t veof = 4; /* ^D */

	if (p->in_fd < 0 || p->in_eof_pending)
		return;
	/*
	 * Closing the master would hang the terminal up: send its end-of-
	 * file character instead, as a user typing ^D would (at the start of
	 * a line it is an EOF for a reader in canonical mode).
	 */
	if (p->tty) {
		if (tcgetattr(p->in_fd, &t) == 0 && t.c_cc[VEOF] != 0 &&
		    t.c_cc[VEOF] != _POSIX_VDISABLE)
			veof = t.c_cc[VEOF];
		proc_stdin_write(p, &veof, 1);
		if (p->in_fd < 0)
			return;
	}
	p->in_eof_pending = true;
	stdin_update(p);
}

static void stdin_on_event(struct loop_watch *w, uint32_t events)
{
	struct proc *p = w->owner;
	bool was_full;

	if (p->dead || p->in_fd < 0)
		return;
	was_full = proc_stdin_full(p);
	if (!stdin_flush(p))
		stdin_close_now(p);
	stdin_update(p);
	if (was_full && !proc_stdin_full(p) && p->conn)
		conn_kick(p->conn);
}

/* ---- lifetime ----------------------------------------------------------- */

int proc_resize(struct proc *p, unsigned short rows, unsigned short cols)
{
	struct winsize ws = {.ws_row = rows, .ws_col = cols};

	if (!p->tty)
		return -ENOTTY;
	if (p->out.fd < 0)
		return -ESRCH; /* its terminal is finished */
	if (ioctl(p->out.fd, TIOCSWINSZ, &ws) < 0)
		return -errno;
	return 0;
}

int proc_signal(struct proc *p, int sig, bool group)
{
	if (p->reaped)
		return -ESRCH;
	if (kill(group ? -p->pid : p->pid, sig) < 0)
		return -errno;
	return 0;
}

static void proc_unlink_conn(struct proc *p)
{
	struct proc **pp;

	if (!p->conn)
		return;
	for (pp = &p->conn->procs; *pp; pp = &(*pp)->conn_next)
		if (*pp == p) {
			*pp = p->conn_next;
			break;
		}
	p->conn_next = NULL;
	p->conn = NULL;
}

static void proc_retire(struct proc *p)
{
	struct agent *ag = p->ag;
	struct proc **pp;

	if (p->dead)
		return;
	for (pp = &ag->procs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->dead = true;
	p->next = ag->dead_procs;
	ag->dead_procs = p;
	ag->nprocs--;
}

static void proc_close_all_fds(struct proc *p)
{
	for (struct proc_stream *s = &p->out; s;
	     s = s == &p->out ? &p->err : NULL)
		if (s->fd >= 0) {
			loop_watch_del(&p->ag->loop, &s->w);
			close(s->fd);
			s->fd = -1;
		}
	stdin_close_now(p);
}

void proc_detach(struct proc *p)
{
	if (p->session && !p->dead) {
		/* Goes on without a client; its output goes to the rings. */
		log_debug("request %u: client left detached session %u", p->id,
			  p->session);
		p->conn = NULL;
		p->conn_next = NULL;
		proc_output_resume(p);
		proc_maybe_finish(p);
		return;
	}
	if (!p->reaped)
		kill(-p->pid, SIGKILL);
	proc_close_all_fds(p);
	p->conn = NULL;
	p->conn_next = NULL;
	if (p->reaped)
		proc_retire(p);
}

void proc_maybe_finish(struct proc *p)
{
	struct conn *c = p->conn;
	int code, sig = 0;

	if (p->dead || !p->reaped || p->out.fd >= 0 || p->err.fd >= 0)
		return;
	if (!c && p->session)
		return; /* its exit waits for a client (proc_attach()) */
	if (WIFEXITED(p->status)) {
		code = WEXITSTATUS(p->status);
	} else {
		sig = WTERMSIG(p->status);
		code = 128 + sig;
	}
	proc_unlink_conn(p);
	proc_retire(p);
	if (!c)
		return;
	log_debug("request %u: pid %d ended, code %d signal %d%s", p->id,
		  (int)p->pid, code, sig,
		  p->killed_for_timeout ? " (timeout)" : "");
	conn_send_json(c, p->id, proc_exit_json(p, code, sig));
	conn_kick(c);
}

void proc_attach(struct proc *p, struct conn *c, uint32_t id)
{
	static const uint8_t kinds[2] = {PROTO_STDOUT, PROTO_STDERR};

	p->conn = c;
	p->id = id;
	p->conn_next = c->procs;
	c->procs = p;
	log_debug("request %u: attached to session %u (pid %d)", id, p->session,
		  (int)p->pid);
	conn_send_json(c, id,
		       json_pack("{s:s,s:i,s:b,s:I,s:b,s:I,s:I}", "type",
				 "started", "pid", (int)p->pid, "tty", p->tty,
				 "session", (json_int_t)p->session, "running",
				 !p->reaped, "lost_stdout",
				 (json_int_t)p->ring[0].lost, "lost_stderr",
				 (json_int_t)p->ring[1].lost));
	for (int i = 0; i < 2; i++) {
		while (p->ring[i].len > 0 && p->conn == c) {
			size_t want = p->ring[i].len < AGENT_CHUNK
					      ? p->ring[i].len
					      : AGENT_CHUNK;
			uint8_t *buf = conn_data_begin(c, want);

			if (!buf)
				return; /* closing: proc_detach() ran */
			conn_data_commit(c, kinds[i], id,
					 ring_pop(&p->ring[i], buf, want));
		}
		if (p->conn != c)
			return;
		ring_free(&p->ring[i]);
	}
	if (p->out.fd < 0)
		conn_send_eof(c, id, PROTO_STREAM_STDOUT);
	if (!p->tty && p->err.fd < 0)
		conn_send_eof(c, id, PROTO_STREAM_STDERR);
	proc_maybe_finish(p);
	if (!p->dead && p->conn == c)
		proc_output_resume(p);
}

static void proc_on_exit(struct proc *p, int status)
{
	p->reaped = true;
	p->status = status;
	p->end_ns = agent_now_ns();
	stdin_close_now(p);
	if (!p->conn && !p->session) {
		proc_retire(p);
		return;
	}
	/* Deliver what the leader wrote, then stop (see the top comment). */
	for (struct proc_stream *s = &p->out; s;
	     s = s == &p->out ? &p->err : NULL) {
		int avail = 0;

		if (s->fd < 0)
			continue;
		if (p->tty && s->hup) {
			stream_finish(p, s); /* EIO said it is empty */
			continue;
		}
		if (p->tty) {
			/* FIONREAD misses the flip buffers: read to EAGAIN. */
			s->drain_left = exec_tty_drain_max;
			stream_read(p, s);
			continue;
		}
		if (ioctl(s->fd, FIONREAD, &avail) < 0 || avail <= 0)
			stream_finish(p, s);
		else
			s->drain_left = (uint64_t)avail;
	}
	proc_maybe_finish(p);
}

static struct proc *proc_by_pid(struct agent *ag, pid_t pid)
{
	for (struct proc *p = ag->procs; p; p = p->next)
		if (p->pid == pid && !p->reaped)
			return p;
	return NULL;
}

void proc_reap_children(struct agent *ag)
{
	for (int i = 0; i < REAP_MAX; i++) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		struct proc *p;

		if (pid <= 0)
			break;
		p = proc_by_pid(ag, pid);
		if (p)
			proc_on_exit(p, status);
		else
			log_debug("reaped orphan pid %d", (int)pid);
	}
}

int proc_check_timeouts(struct agent *ag)
{
	uint64_t now = agent_now_ns(), next = UINT64_MAX;

	for (struct proc *p = ag->procs; p; p = p->next) {
		if (p->reaped || !p->deadline_ns || p->killed_for_timeout)
			continue;
		if (now >= p->deadline_ns) {
			log_debug("request %u: timeout, killing group %d",
				  p->id, (int)p->pid);
			kill(-p->pid, SIGKILL);
			p->killed_for_timeout = true;
		} else if (p->deadline_ns - now < next) {
			next = p->deadline_ns - now;
		}
	}
	if (next == UINT64_MAX)
		return -1;
	next = (next + 999999) / 1000000;
	return next > 60000 ? 60000 : (int)next;
}

void proc_kill_all(struct agent *ag)
{
	uint64_t deadline = agent_now_ns() + KILL_ALL_WAIT_MS * 1000000ull;
	bool live;

	for (struct proc *p = ag->procs; p; p = p->next)
		if (!p->reaped)
			kill(-p->pid, SIGKILL);
	/* Bounded by the deadline; each wait ends on SIGCHLD or timeout. */
	for (;;) {
		struct timespec ts;
		sigset_t set;
		uint64_t now;

		proc_reap_children(ag);
		live = false;
		for (struct proc *p = ag->procs; p; p = p->next)
			live |= !p->reaped;
		now = agent_now_ns();
		if (!live || now >= deadline)
			break;
		ts.tv_sec = (time_t)((deadline - now) / 1000000000ull);
		ts.tv_nsec = (long)((deadline - now) % 1000000000ull);
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		sigtimedwait(&set, NULL, &ts); /* SIGCHLD is blocked */
	}
	if (live)
		log_msg("some commands did not die within %d ms of SIGKILL",
			KILL_ALL_WAIT_MS);
	/* Detached ones nobody collected: their output and exit are lost. */
	for (struct proc *p = ag->procs, *next; p; p = next) {
		next = p->next;
		if (!p->conn && p->session) {
			proc_close_all_fds(p);
			proc_retire(p);
		}
	}
}

void proc_reap_dead(struct agent *ag)
{
	while (ag->dead_procs) {
		struct proc *p = ag->dead_procs;

		ag->dead_procs = p->next;
		free(p->in_buf);
		ring_free(&p->ring[0]);
		ring_free(&p->ring[1]);
		free(p);
	}
}

int proc_signal_from_name(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} table[] = {
		{"HUP", SIGHUP},   {"INT", SIGINT},	{"QUIT", SIGQUIT},
		{"ABRT", SIGABRT}, {"KILL", SIGKILL},	{"USR1", SIGUSR1},
		{"USR2", SIGUSR2}, {"PIPE", SIGPIPE},	{"ALRM", SIGALRM},
		{"TERM", SIGTERM}, {"CONT", SIGCONT},	{"STOP", SIGSTOP},
		{"TSTP", SIGTSTP}, {"WINCH", SIGWINCH},
	};

	if (strncmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].sig;
	return 0;
}
