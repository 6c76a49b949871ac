/* SPDX-License-Identifier: MIT */
/*
 * Processes started by exec requests: spawning with pipes in a new session,
 * streaming their output, feeding their stdin, timeouts, signals, and the
 * single waitpid(-1) loop that reaps everything (tracked commands and, as
 * PID 1 or subreaper, orphans) without stealing statuses.
 */
#ifndef KILN_AGENT_EXEC_H
#define KILN_AGENT_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/detach.h"
#include "agent/loop.h"
#include "agent/spawn.h"

/*
 * A terminal's output after its leader exited: read until nothing is
 * buffered, but at most this much (a background process that keeps
 * writing cannot hold the exec open; the exit message then says
 * "output_dropped").
 */
#define EXEC_TTY_DRAIN_MAX (1u << 20)
/* A terminal's size unless the request says otherwise. */
#define EXEC_TTY_ROWS 24
#define EXEC_TTY_COLS 80

/* Longest timeout_ms accepted: one year. */
#define EXEC_MAX_TIMEOUT_MS (365ull * 24 * 3600 * 1000)
/* Largest "max_output" accepted (per stream): 1 TiB, far beyond any use. */
#define EXEC_MAX_OUTPUT_MAX (1ull << 40)

struct proc_stream {
	int fd; /* -1 once closed */
	struct loop_watch w;
	struct proc *p;
	uint64_t drain_left; /* after the leader exited: bytes still to read */
	uint64_t total; /* bytes read from it, forwarded or not */
	bool capped; /* bytes beyond the proc's max_output were dropped */
	bool reading; /* in stream_read(): no re-entry */
	bool hup; /* terminal: every slave closed (EIO); kept open until reap */
};

struct proc {
	struct agent *ag;
	struct proc *next; /* ag->procs or ag->dead_procs */
	struct conn *conn; /* NULL once its connection closed */
	struct proc *conn_next; /* conn->procs */
	uint32_t id; /* the exec request's id */
	pid_t pid; /* also the process group and session id */

	struct proc_stream out, err; /* tty: out is the terminal, err unused */
	bool tty; /* runs on a pseudo-terminal (out.fd is its master) */
	/* "max_output": forward at most this many bytes per stream */
	bool cap_output;
	uint64_t max_output;
	bool tty_dropped; /* terminal still had output after the drain */

	int in_fd; /* -1 if no stdin pipe or closed */
	struct loop_watch in_w;
	uint8_t *in_buf; /* stdin not yet accepted by the pipe */
	size_t in_off, in_len, in_cap;
	bool in_eof_pending; /* close stdin once in_buf drained */

	uint64_t start_ns;
	uint64_t deadline_ns; /* 0: none */
	bool killed_for_timeout;
	bool reaped;
	int status; /* wait status once reaped */
	uint64_t end_ns;
	bool dead;

	/*
	 * Detached ("detach": true): its session id, else 0 (it dies with
	 * its connection).  Without a client its output goes to ring[0]
	 * (stdout) and ring[1] (stderr), and once it ended it stays, reaped,
	 * until a client attaches and gets its exit.
	 */
	uint32_t session;
	struct out_ring ring[2];
};

/*
 * Start a command for connection c under request id.  On success sends
 * {"type":"started"} and returns 0.  On failure returns -1 with *code set to
 * a PROTO_E_* code and a message in err (the caller sends the error).
 */
int proc_spawn(struct conn *c, uint32_t id, const struct exec_spec *spec,
	       const char **code, char *err, size_t errlen);

/* The live command of c with request id, or NULL. */
struct proc *proc_find(struct conn *c, uint32_t id);

/* stdin data / EOF from the client; discarded if stdin is closed. */
void proc_stdin_write(struct proc *p, const uint8_t *buf, size_t len);
void proc_stdin_close(struct proc *p);
/* True while more than AGENT_STDIN_HIGH bytes wait for the pipe. */
bool proc_stdin_full(const struct proc *p);

/*
 * Set the terminal's window size (the kernel sends SIGWINCH to its
 * foreground process group).  Returns 0, -ENOTTY without a terminal, or
 * -errno.
 */
int proc_resize(struct proc *p, unsigned short rows, unsigned short cols);

/* kill() the process (group: its whole process group). Returns 0/-errno. */
int proc_signal(struct proc *p, int sig, bool group);

/* Output queue of its connection drained / filled: resume or pause pipes. */
void proc_output_resume(struct proc *p);
void proc_output_pause(struct proc *p);

/*
 * Its connection is closing: SIGKILL its process group, forget the pipes;
 * a detached command (session != 0) instead goes on without a client.
 */
void proc_detach(struct proc *p);

/*
 * Attach connection c to detached command p (no client now) under request
 * id: send "started", the buffered output, the eof frames of finished
 * streams, and the exit if it is over; then stream as for an exec.
 */
void proc_attach(struct proc *p, struct conn *c, uint32_t id);

/* SIGCHLD: reap every child that has exited and dispatch the statuses. */
void proc_reap_children(struct agent *ag);

/* ms until the earliest timeout (-1: none); kill those that are due. */
int proc_check_timeouts(struct agent *ag);

/* Agent stopping: SIGKILL every command's group and reap them (bounded). */
void proc_kill_all(struct agent *ag);

/* Free what finished during the last batch. */
void proc_reap_dead(struct agent *ag);

/* Signal number from a name ("TERM", "SIGTERM") or 0 if unknown. */
int proc_signal_from_name(const char *name);

/* ---- between exec.c and exec_output.c -------------------------------- */

/* EXEC_TTY_DRAIN_MAX; a variable so that tests can make it small. */
extern uint32_t exec_tty_drain_max;

/* epoll callback of an output stream; read what it has (bounded). */
void stream_on_event(struct loop_watch *w, uint32_t events);
void stream_read(struct proc *p, struct proc_stream *s);
/* Close s and send its eof frame (if a client is attached). */
void stream_finish(struct proc *p, struct proc_stream *s);
/* Send the exit and retire p once it is reaped and its streams ended. */
void proc_maybe_finish(struct proc *p);
/* The {"type":"exit",...} message of reaped p (NULL: out of memory). */
json_t *proc_exit_json(const struct proc *p, int code, int sig);

#endif
