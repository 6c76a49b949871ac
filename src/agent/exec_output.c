/* SPDX-License-Identifier: MIT */
/*
 * A command's output (see exec.h): read its pipes (or its terminal) into
 * the connection's output queue, or into the rings of a detached command,
 * with backpressure; count every byte; and enforce "max_output".
 *
 * The cap: at most max_output bytes per stream are forwarded.  What the
 * command writes beyond that is still read (into a scratch buffer) and
 * counted, so it never blocks on a full pipe, and a stream past its cap
 * is not paused by a full connection: nothing of it is queued any more.
 * The exit message reports each stream's total and whether it was capped
 * (more than max_output bytes were produced).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "agent/exec.h"
#include "agent/log.h"
#include "agent/server.h"

/*
 * Read buffer of a detached command's output, and where output beyond a
 * cap is read to be dropped (the agent is one thread).
 */
static uint8_t scratch_buf[AGENT_CHUNK];

uint32_t exec_tty_drain_max = EXEC_TTY_DRAIN_MAX;

void stream_finish(struct proc *p, struct proc_stream *s)
{
	if (s->fd < 0)
		return;
	loop_watch_del(&p->ag->loop, &s->w);
	close(s->fd);
	s->fd = -1;
	/* Detached without a client: proc_attach() sends the eof. */
	if (p->conn)
		conn_send_eof(p->conn, p->id,
			      s == &p->out ? PROTO_STREAM_STDOUT
					   : PROTO_STREAM_STDERR);
}

/* True once everything s carries is dropped: it no longer needs a client. */
static bool stream_discarding(const struct proc *p, const struct proc_stream *s)
{
	return p->cap_output && s->total >= p->max_output;
}

/*
 * A terminal read exec_tty_drain_max bytes after its leader exited and is
 * about to be closed: if it still holds output, that output is lost.  Say
 * so in the exit message instead of dropping it silently.
 */
static void stream_check_dropped(struct proc *p, struct proc_stream *s)
{
	ssize_t n;

	do
		n = read(s->fd, scratch_buf, 1);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		p->tty_dropped = true;
		log_debug("request %u: terminal output beyond %u bytes after "
			  "exit dropped",
			  p->id, exec_tty_drain_max);
	}
}

/*
 * Read one chunk of s into its connection's output queue.  Returns true
 * if the caller may read again at once (a terminal draining after exit).
 */
static bool stream_read_once(struct proc *p, struct proc_stream *s)
{
	bool discard = stream_discarding(p, s);
	size_t want = AGENT_CHUNK;
	struct conn *c = p->conn;
	uint8_t *buf;
	ssize_t n;

	if (p->dead || s->fd < 0 || (!c && !p->session))
		return false;
	if (!discard && c && conn_out_full(c)) {
		loop_watch_set(&p->ag->loop, &s->w,
			       0); /* event from this batch */
		return false;
	}
	/* Never read past the cap into the queue: the rest is dropped. */
	if (!discard && p->cap_output && p->max_output - s->total < want)
		want = (size_t)(p->max_output - s->total);
	if (p->reaped && s->drain_left < want)
		want = (size_t)s->drain_left;
	/* Detached without a client: into the ring, never paused. */
	buf = c && !discard ? conn_data_begin(c, want) : scratch_buf;
	if (!buf)
		return false; /* connection is closing */
	n = read(s->fd, buf, want);
	if (n < 0 && errno == EINTR)
		return true;
	/*
	 * A terminal after its leader exited: a read (unlike FIONREAD)
	 * first flushes what the kernel still holds in its flip buffers, so
	 * EAGAIN means everything written so far was delivered.
	 */
	if (n < 0 && errno == EAGAIN && !(p->tty && p->reaped))
		return false;
	if (n > 0) {
		s->total += (uint64_t)n;
		s->capped |= discard;
	}
	if (n > 0 && discard) {
		/* counted above; dropped */
	} else if (n > 0 && !c) {
		ring_push(&p->ring[s == &p->out ? 0 : 1], buf, (size_t)n);
	} else if (n > 0) {
		conn_data_commit(c, s == &p->out ? PROTO_STDOUT : PROTO_STDERR,
				 p->id, (size_t)n);
		if (s->fd < 0 || p->conn != c)
			return false; /* the commit closed the connection */
	}
	if (n > 0) {
		if (!p->reaped)
			return false;
		s->drain_left -= (uint64_t)n;
		if (s->drain_left > 0)
			return p->tty;
		if (p->tty)
			stream_check_dropped(p, s);
	} else if (n < 0 && errno == EIO && p->tty && !p->reaped) {
		/*
		 * Every holder of the slave side closed it, but the leader
		 * may not have exited yet: closing the master now would hang
		 * the terminal up and kill it with SIGHUP on its way out.
		 * Stop watching; the stream ends when the leader is reaped.
		 */
		s->hup = true;
		loop_watch_set(&p->ag->loop, &s->w, 0);
		return false;
	} else if (n < 0 && errno != EAGAIN && !(p->tty && errno == EIO)) {
		log_msg("request %u (pid %d): reading output: %s", p->id,
			(int)p->pid, strerror(errno));
	}
	stream_finish(p, s);
	proc_maybe_finish(p);
	return false;
}

void stream_read(struct proc *p, struct proc_stream *s)
{
	/* A commit may flush, resume and call us again: no nesting. */
	if (s->reading)
		return;
	s->reading = true;
	/* Bounded: a terminal's drain ends after exec_tty_drain_max bytes. */
	while (stream_read_once(p, s))
		;
	s->reading = false;
}

void stream_on_event(struct loop_watch *w, uint32_t events)
{
	struct proc_stream *s = w->owner;

	stream_read(s->p, s);
}

void proc_output_pause(struct proc *p)
{
	/* A stream past its cap queues nothing: it keeps draining. */
	if (p->out.fd >= 0 && !stream_discarding(p, &p->out))
		loop_watch_set(&p->ag->loop, &p->out.w, 0);
	if (p->err.fd >= 0 && !stream_discarding(p, &p->err))
		loop_watch_set(&p->ag->loop, &p->err.w, 0);
}

static bool output_blocked(const struct proc *p)
{
	if (!p->conn)
		return !p->session || p->dead;
	return conn_out_full(p->conn);
}

void proc_output_resume(struct proc *p)
{
	if (output_blocked(p))
		return;
	/* A draining terminal may have nothing that would wake epoll. */
	if (p->tty && p->reaped && p->out.fd >= 0 && !p->out.reading) {
		stream_read(p, &p->out);
		if (output_blocked(p))
			return;
	}
	if (p->out.fd >= 0 && !p->out.hup &&
	    loop_watch_set(&p->ag->loop, &p->out.w, EPOLLIN) < 0)
		log_msg("request %u: epoll on stdout: %s", p->id,
			strerror(errno));
	if (p->err.fd >= 0 &&
	    loop_watch_set(&p->ag->loop, &p->err.w, EPOLLIN) < 0)
		log_msg("request %u: epoll on stderr: %s", p->id,
			strerror(errno));
}

json_t *proc_exit_json(const struct proc *p, int code, int sig)
{
	return json_pack("{s:s,s:i,s:i,s:b,s:I,s:I,s:b,s:I,s:b,s:b}", "type",
			 "exit", "exit_code", code, "signal", sig, "timed_out",
			 p->killed_for_timeout, "duration_ms",
			 (json_int_t)((p->end_ns - p->start_ns) / 1000000),
			 "stdout_bytes", (json_int_t)p->out.total,
			 "stdout_capped", p->out.capped, "stderr_bytes",
			 (json_int_t)p->err.total, "stderr_capped",
			 p->err.capped, "output_dropped", p->tty_dropped);
}
