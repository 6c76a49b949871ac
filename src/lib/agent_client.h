/* SPDX-License-Identifier: MIT */
/*
 * Host-side client for kiln-agent, protocol v1 (docs/PROTOCOL.md).
 *
 * Conventions (they hold for every function below):
 *
 *  - Functions return AGENT_OK (0) or a negative enum agent_err.  On failure
 *    a one-line message saying what failed, where and what to do is written
 *    to err (errlen bytes, always NUL-terminated) when err is not NULL.
 *  - One struct agent_client is one connection that runs one request at a
 *    time; it is not thread-safe.  For concurrent commands open one client
 *    per command: the agent serves many connections at once.
 *  - Every wait is bounded by the timeout given and, when cancel_fd >= 0,
 *    stops as soon as cancel_fd is readable (AGENT_ERR_CANCELLED).  The
 *    client never reads from cancel_fd (it stays readable, see kiln.h).
 *  - After AGENT_ERR_IO, AGENT_ERR_PROTO, AGENT_ERR_TIMEOUT or
 *    AGENT_ERR_CANCELLED from a call on a connected client, the connection
 *    is unusable: close it.  AGENT_ERR_REMOTE, AGENT_ERR_NOT_FOUND,
 *    AGENT_ERR_PERM and AGENT_ERR_INVAL leave it usable.
 */
#ifndef KILN_LIB_AGENT_CLIENT_H
#define KILN_LIB_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum agent_err {
	AGENT_OK = 0,
	AGENT_ERR_IO = -1, /* connect/read/write failed, connection lost */
	AGENT_ERR_TIMEOUT = -2, /* the client-side deadline passed */
	AGENT_ERR_PROTO = -3, /* the peer broke protocol v1 */
	AGENT_ERR_REMOTE = -4, /* the agent refused the request */
	AGENT_ERR_NOT_FOUND = -5, /* exec: command or cwd not found */
	AGENT_ERR_PERM = -6, /* exec: permission denied / not executable */
	AGENT_ERR_CANCELLED =
		-7, /* cancel_fd readable or a callback said stop */
	AGENT_ERR_INVAL = -8, /* bad argument from the caller */
	AGENT_ERR_NOT_READY = -9, /* connect: agent not listening yet; retry */
};

/* A static English name for an enum agent_err, e.g. "timed out". */
const char *agent_strerror(int status);

struct agent_client;

/*
 * Connect to an agent listening on a Unix socket (kiln-agent --listen
 * unix:PATH, used by tests) and do the hello handshake.  timeout_ms bounds
 * the whole call (< 0: no limit).  AGENT_ERR_NOT_READY if nobody listens
 * on path (yet).
 */
int agent_client_connect_unix(const char *path, int timeout_ms,
			      struct agent_client **out, char *err,
			      size_t errlen);

/*
 * One attempt to connect to the agent through a VMM's vsock Unix socket
 * (Firecracker protocol: write "CONNECT <port>\n", read "OK <n>\n"), then
 * the hello handshake.  AGENT_ERR_NOT_READY when the socket does not exist
 * yet, refuses, or the VMM hangs up before "OK" (no guest listener yet):
 * the caller may retry.  timeout_ms bounds the connect up to "OK" (< 0:
 * no limit); hello_ms the handshake after it (a guest that accepted the
 * connection is up, only maybe starved of CPU: worth waiting for), which
 * also ends when cancel_fd (-1: none) becomes readable.
 */
int agent_client_connect_vsock(const char *uds_path, uint32_t port,
			       int timeout_ms, int hello_ms, int cancel_fd,
			       struct agent_client **out, char *err,
			       size_t errlen);

/*
 * Retry agent_client_connect_vsock() until it succeeds, fails for a reason
 * other than AGENT_ERR_NOT_READY, timeout_ms passes (AGENT_ERR_TIMEOUT) or
 * cancel_fd (-1: none) becomes readable.  Backs off 5..100 ms between
 * attempts.  On success stores the connected client in *out, or closes it
 * if out is NULL (a pure readiness check).
 */
int agent_client_wait_ready(const char *uds_path, uint32_t port, int timeout_ms,
			    int cancel_fd, struct agent_client **out, char *err,
			    size_t errlen);

/* Close the connection; the agent kills commands still running on it. */
void agent_client_close(struct agent_client *c);

/*
 * Whether c can take a request: false after an error that left the stream
 * in an unknown state (see the conventions above), and when the idle
 * connection has something to read: the agent sends nothing unasked, so
 * that is a hang-up (the VM was restored or stopped, the agent restarted)
 * or a stray frame.  Either way: close it and connect again.
 */
bool agent_client_usable(struct agent_client *c);

/* The agent's version string from the handshake, e.g. "0.1.0". */
const char *agent_client_agent_version(const struct agent_client *c);

struct agent_ping_info {
	char agent_version[32];
	uint64_t uptime_ms; /* since the agent started */
	bool init; /* the agent runs as PID 1 */
};

int agent_client_ping(struct agent_client *c, int timeout_ms,
		      struct agent_ping_info *info, char *err, size_t errlen);

/*
 * A command.  argv: NULL-terminated, argv[0] looked up in the guest PATH
 * (default /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin).
 * env: NULL-terminated "NAME=value" strings added over the defaults (PATH,
 * HOME=/root), may be NULL.  cwd: NULL means "/".  timeout_ms: 0 = none;
 * else the agent SIGKILLs the command's process group after that long.
 * wait_timeout_ms: how long the client waits for the whole exec, 0 = no
 * limit (a dead VM closes the socket, which ends the wait anyway).
 */
/*
 * tty: run it on a new pseudo-terminal of rows x cols (0: 24 x 80) in the
 * guest: all output (stdout and stderr, as the terminal renders them:
 * "\n" becomes "\r\n", input is echoed) comes to on_stdout; stdin goes to
 * the terminal, and its end is sent as the terminal's EOF character (^D).
 * Without stdin the terminal's input stays open (a reader waits).
 * user: run as this guest user (a name in the guest's /etc/passwd, or a
 * decimal uid found there), with its groups and HOME; or set_ids: as
 * uid/gid exactly, no lookup (NULL user and false: as the agent, root).
 * cap_output: at most max_output bytes of stdout and at most max_output of
 * stderr reach the callbacks ("max_output", 0..AGENT_MAX_OUTPUT); the
 * agent drains and counts the rest, and the client enforces the cap too.
 */
#define AGENT_MAX_OUTPUT (1ull << 40)
struct agent_exec_opts {
	const char *const *argv;
	const char *const *env;
	const char *cwd;
	unsigned int timeout_ms;
	unsigned int wait_timeout_ms;
	bool tty;
	unsigned int rows, cols;
	const char *user;
	bool set_ids;
	uint32_t uid, gid;
	bool cap_output;
	uint64_t max_output;
};

/*
 * Output callback: len (> 0) bytes of stdout or stderr, in order per
 * stream, as they arrive.  Return 0 to go on; anything else kills the
 * command and makes the exec return AGENT_ERR_CANCELLED.
 */
typedef int (*agent_output_fn)(void *ctx, const void *buf, size_t len);

/*
 * Where stdin comes from and where output goes.  Initialise with
 * agent_exec_io_init() (it sets the fds to -1).
 *   stdin_fd >= 0: copied to the command's stdin until EOF (the fd may be
 *                  blocking or not; it is polled);
 *   else stdin_data != NULL: those stdin_len bytes, then EOF;
 *   else the command's stdin is /dev/null.
 *   cancel_fd >= 0: polled; once readable the command is killed and the
 *                  exec returns AGENT_ERR_CANCELLED.
 *   on_started: optional, called once with the guest pid when it started.
 */
struct agent_exec_io {
	agent_output_fn on_stdout;
	void *stdout_ctx;
	agent_output_fn on_stderr;
	void *stderr_ctx;
	void (*on_started)(void *ctx, int pid);
	void *started_ctx;
	int stdin_fd;
	const void *stdin_data;
	size_t stdin_len;
	int cancel_fd;
	/*
	 * Terminal resizing (opts.tty): when resize_fd (>= 0) is readable,
	 * on_resize is called; it must consume what made resize_fd readable
	 * (e.g. read the signalfd or pipe) and return 0 with the new size in
	 * *rows and *cols to send it to the guest (SIGWINCH there), 1 to send
	 * nothing, or < 0 to cancel the exec.
	 */
	int resize_fd;
	int (*on_resize)(void *ctx, unsigned int *rows, unsigned int *cols);
	void *resize_ctx;
};

void agent_exec_io_init(struct agent_exec_io *io);

/*
 * How a command ended.  exit_code follows the shell: the exit status, or
 * 128 + signal, or 127 (not found) / 126 (not executable) when it could
 * not start; -1 when there is no status (other errors).
 */
struct agent_exec_result {
	int pid; /* guest pid, 0 if it never started */
	bool exited; /* it exited by itself with exit_code */
	bool signaled; /* a signal (term_signal) killed it */
	int term_signal;
	bool timed_out; /* killed because opts.timeout_ms passed */
	int exit_code;
	uint64_t duration_ms; /* measured by the agent */
	uint64_t lost_bytes; /* attach: output dropped while detached */
	/*
	 * From the exit message (agents before these fields: have_totals
	 * false, all zero): bytes the command wrote per stream, whether
	 * the cap dropped some, whether a terminal still had output after
	 * the agent's post-exit drain (what it held was lost).
	 */
	bool have_totals;
	uint64_t stdout_bytes, stderr_bytes;
	bool stdout_capped, stderr_capped;
	bool output_dropped;
};

/*
 * Run a command and wait for it, streaming its output to the callbacks and
 * feeding stdin.  AGENT_OK once it ended (any exit code; also when the
 * agent killed it for its timeout: res->timed_out).  AGENT_ERR_NOT_FOUND /
 * AGENT_ERR_PERM: it could not start (res->exit_code 127 / 126, message
 * like `exec: "foo": not found in PATH`).  res may not be NULL.
 */
int agent_client_exec(struct agent_client *c, const struct agent_exec_opts *o,
		      const struct agent_exec_io *io,
		      struct agent_exec_result *res, char *err, size_t errlen);

/*
 * Start a detached command (docs/PROTOCOL.md "Detached commands"): it
 * outlives this connection; the agent buffers its latest output until a
 * client attaches.  stdin_pipe: give it a stdin pipe that attached
 * clients feed (a tty always has its terminal).  Returns once the agent
 * started it, with its session id and pid.  Errors as agent_client_exec().
 */
int agent_client_exec_detach(struct agent_client *c,
			     const struct agent_exec_opts *o, bool stdin_pipe,
			     int timeout_ms, uint32_t *session, int *pid,
			     char *err, size_t errlen);

/*
 * Attach to detached command session: like agent_client_exec() from
 * "started" on (buffered output first; res->lost_bytes: what was dropped
 * while no client was attached).  On cancel the command is not killed: it
 * stays detached once the connection closes.  AGENT_ERR_NOT_FOUND: no
 * such session; AGENT_ERR_REMOTE: another client is attached.
 */
int agent_client_attach(struct agent_client *c, uint32_t session,
			const struct agent_exec_io *io,
			struct agent_exec_result *res, char *err,
			size_t errlen);

/*
 * ---- guest status and identity (docs/PROTOCOL.md) ------------------------
 */
struct agent_status {
	char agent_version[32];
	int protocol_version;
	double uptime_s; /* since the guest booted (CLOCK_BOOTTIME) */
	uint64_t agent_uptime_ms;
	double load[3]; /* 1, 5, 15 minute load averages */
	uint64_t mem_total_kib, mem_available_kib; /* /proc/meminfo */
	uint64_t root_total_bytes, root_free_bytes, root_avail_bytes;
	uint64_t processes;
	bool init; /* the agent is PID 1 */
	char sandbox_id[65]; /* "" until an identity request set it */
	char hostname[65];
};

int agent_client_status(struct agent_client *c, int timeout_ms,
			struct agent_status *st, char *err, size_t errlen);

/*
 * Make a guest distinct after a snapshot restore: the client adds 64
 * bytes from the host's getrandom() (credited to the guest's entropy pool,
 * then its CRNG is reseeded) and the host's CLOCK_REALTIME (the guest's
 * clock is set to it); hostname and sandbox_id are set when not NULL.
 * When any of it fails in the guest, AGENT_ERR_REMOTE with a message
 * naming what failed; *res (may be NULL) says what was done either way.
 */
struct agent_identity {
	const char *hostname; /* 1..64 of [A-Za-z0-9.-]; NULL: keep */
	const char *sandbox_id; /* 1..64 of [A-Za-z0-9_.-]; NULL: keep */
	bool no_clock; /* do not set the guest's clock */
	bool no_entropy; /* do not send entropy */
};

struct agent_identity_result {
	unsigned int entropy_bytes;
	unsigned int entropy_credited_bits;
	bool crng_reseeded;
	bool clock_set;
	bool hostname_set;
	bool sandbox_id_set;
};

#define AGENT_IDENTITY_ENTROPY 64

int agent_client_identity(struct agent_client *c,
			  const struct agent_identity *id, int timeout_ms,
			  struct agent_identity_result *res, char *err,
			  size_t errlen);

/*
 * Configure a guest interface (net_config): bring it up with address
 * "a.b.c.d/len", the default route via gateway and "nameserver X" in its
 * /etc/resolv.conf (each optional but iface and address).  The agent
 * validates every field; an error reply is AGENT_ERR_REMOTE with its
 * message.  *link_up (may be NULL): the agent saw the link come up within
 * its wait (docs/PROTOCOL.md).  agent_net.c.
 */
struct agent_net_config {
	const char *iface;
	const char *address; /* "a.b.c.d/len" */
	const char *gateway; /* NULL: no default route */
	const char *nameserver; /* NULL: /etc/resolv.conf untouched */
	const char *mac; /* NULL: keep the interface's */
};

int agent_client_net_config(struct agent_client *c,
			    const struct agent_net_config *nc, int timeout_ms,
			    bool *link_up, char *err, size_t errlen);

/*
 * Ask the agent to power the guest off (PID 1: kill everything, sync,
 * port 0x501; service mode: stop serving and exit).  Returns once the
 * agent acknowledged; the VMM then exits with status 0.
 */
int agent_client_shutdown(struct agent_client *c, int timeout_ms, char *err,
			  size_t errlen);

/*
 * Send one request given as a JSON object text without "op" framing
 * knowledge (e.g. {"op":"ping"}) and wait for its final reply, returned as
 * a malloc'ed JSON text in *reply (free() it).  For requests that produce
 * one reply only (not exec).  An error reply is AGENT_ERR_REMOTE with its
 * message in err, and *reply still holds it.
 */
int agent_client_call(struct agent_client *c, const char *request_json,
		      int timeout_ms, char **reply, char *err, size_t errlen);

/*
 * ---- internals, exposed for the unit tests and the fuzzer ----------------
 * The exec reply state machine: what agent_client_exec() does with each
 * frame for its request.  Pure (no I/O); it trusts nothing in the frame.
 */
struct proto_hdr;

struct agent_exec_state {
	uint32_t id; /* the exec request id */
	const struct agent_exec_io *io;
	struct agent_exec_result *res;
	bool started;
	bool cancel; /* a callback asked to stop */
	/*
	 * Set by the caller: cap_known (an exec, not an attach: the cap is
	 * known) and the request's cap.  got: bytes received per stream.
	 */
	bool cap_known;
	bool cap_output;
	uint64_t max_output;
	uint64_t got[2];
	char *err;
	size_t errlen;
};

/*
 * Apply one frame received while exec request st->id runs.  Returns 0 to
 * go on, 1 when the exec is over with status AGENT_OK, or a negative enum
 * agent_err (the exec is over; message in st->err).  Frames for other ids
 * are ignored, except connection errors (id 0).
 */
int agent_exec_feed(struct agent_exec_state *st, const struct proto_hdr *h,
		    const uint8_t *payload);

/*
 * ---- files (docs/PROTOCOL.md, "Files") ------------------------------------
 * Paths are absolute paths in the guest.  A missing path is
 * AGENT_ERR_NOT_FOUND, EACCES/EPERM AGENT_ERR_PERM, other file errors
 * AGENT_ERR_REMOTE; the message names the path and the errno ("ENOENT").
 * timeout_ms bounds the whole call (< 0: no limit).
 */

/*
 * Stream a regular file's content: to out_fd when >= 0 (written fully),
 * else to fn(ctx, buf, len) (return non-zero to stop: AGENT_ERR_CANCELLED,
 * the connection is then unusable).  *size (may be NULL) gets the byte
 * count.  The file is never held in memory whole, on either side.
 */
int agent_client_read_file(struct agent_client *c, const char *path, int out_fd,
			   agent_output_fn fn, void *ctx, int timeout_ms,
			   uint64_t *size, char *err, size_t errlen);

/*
 * Write a file atomically: the agent writes a temporary file in the same
 * directory, fsyncs it and renames it over path, so path is never seen
 * half-written and a failed write leaves no trace.  Content comes from
 * src_fd when >= 0 (read to EOF), else data[len].  mode: permission bits
 * (0 means 0644), applied exactly (no umask).  mkdir_parents: create
 * missing parent directories (0755) first.  user: the file (and the
 * parents created) belong to this user (a name or decimal uid in the
 * guest's /etc/passwd: its uid and primary gid; unknown: AGENT_ERR_REMOTE,
 * no_such_user, nothing written); NULL: to the agent's user (root).
 */
struct agent_write_opts {
	unsigned int mode;
	bool mkdir_parents;
	int src_fd;
	const void *data;
	size_t len;
	const char *user;
};

int agent_client_write_file(struct agent_client *c, const char *path,
			    const struct agent_write_opts *o, int timeout_ms,
			    uint64_t *written, char *err, size_t errlen);

enum agent_file_type {
	AGENT_FILE_UNKNOWN = 0,
	AGENT_FILE_REGULAR,
	AGENT_FILE_DIR,
	AGENT_FILE_SYMLINK,
	AGENT_FILE_FIFO,
	AGENT_FILE_SOCKET,
	AGENT_FILE_CHAR,
	AGENT_FILE_BLOCK,
};

struct agent_file_stat {
	enum agent_file_type type;
	uint64_t size;
	unsigned int mode; /* permission bits, 07777 */
	int64_t mtime; /* seconds since the epoch */
	long mtime_nsec;
	uint32_t uid, gid;
};

/* lstat(), or stat() when follow is true (symlinks followed). */
int agent_client_stat(struct agent_client *c, const char *path, bool follow,
		      int timeout_ms, struct agent_file_stat *st, char *err,
		      size_t errlen);

struct agent_dir_entry {
	char *name;
	enum agent_file_type type; /* of the entry itself (not followed) */
	uint64_t size;
};

/*
 * List a directory (without "." and ".."), in no particular order.  limit:
 * most entries wanted (0: the agent's default, 10000).  *truncated says the
 * cap (or the reply size limit) was hit.  Free with agent_dir_free().
 */
int agent_client_list_dir(struct agent_client *c, const char *path,
			  unsigned int limit, int timeout_ms,
			  struct agent_dir_entry **entries, size_t *n,
			  bool *truncated, char *err, size_t errlen);
void agent_dir_free(struct agent_dir_entry *entries, size_t n);

/*
 * mkdir (mode 0: 0755, less the umask); parents: like mkdir -p.  user (a
 * name or decimal uid in the guest's /etc/passwd; NULL: root) owns the
 * directories created (an unknown user: AGENT_ERR_REMOTE, no_such_user).
 */
int agent_client_mkdir(struct agent_client *c, const char *path,
		       unsigned int mode, bool parents, const char *user,
		       int timeout_ms, char *err, size_t errlen);

/* Remove a file or an empty directory; recursive: a whole tree, never
 * following symlinks (a symlink is removed, not what it points to). */
int agent_client_remove(struct agent_client *c, const char *path,
			bool recursive, int timeout_ms, char *err,
			size_t errlen);

int agent_client_rename(struct agent_client *c, const char *from,
			const char *to, int timeout_ms, char *err,
			size_t errlen);

/*
 * Flush the guest's page cache to its disks: the file system holding path
 * (syncfs), or with path NULL every file system (sync).
 */
int agent_client_sync(struct agent_client *c, const char *path, int timeout_ms,
		      char *err, size_t errlen);

/*
 * Directory trees as tar streams (ops upload / download).  Counts from the
 * agent's final reply: archive bytes, entries extracted / archived, and
 * entries skipped (hard links, devices, fifos, sockets).
 */
struct agent_tar_stats {
	uint64_t size, entries, skipped;
};

/*
 * Extract a tar archive (src_fd read to EOF, else data[len]) into the
 * guest directory dir, created if missing (its parent must exist unless
 * mkdir_parents).  own: what is created belongs to uid:gid; user (a name
 * in the guest's /etc/passwd, or NULL): to that user's uid and primary gid
 * (an unknown user fails with AGENT_ERR_REMOTE, code no_such_user); else
 * to the agent's user (root).  Entries with ".." or absolute names, or reaching
 * through a symlink, make it fail (AGENT_ERR_REMOTE, code bad_archive);
 * what was extracted before a failure stays.
 */
struct agent_upload_opts {
	int src_fd;
	const void *data;
	size_t len;
	bool mkdir_parents;
	bool own;
	uint32_t uid, gid;
	const char *user;
};

int agent_client_upload_tar(struct agent_client *c, const char *dir,
			    const struct agent_upload_opts *u, int timeout_ms,
			    struct agent_tar_stats *ts, char *err,
			    size_t errlen);

/*
 * Stream the guest directory dir as a tar archive (members "./", "./a",
 * ...; symlinks archived, never followed) to out_fd or fn, as
 * agent_client_read_file() does.
 */
int agent_client_download_tar(struct agent_client *c, const char *dir,
			      int out_fd, agent_output_fn fn, void *ctx,
			      int timeout_ms, struct agent_tar_stats *ts,
			      char *err, size_t errlen);

/*
 * ---- processes and port forwarding (docs/PROTOCOL.md "ps", "kill",
 * "forward"; agent_client_proc.c) ------------------------------------------
 */
#define AGENT_PS_CMDLINE_MAX 256

struct agent_proc_info {
	int pid, ppid, pgid;
	uint32_t uid; /* effective */
	char state; /* R, S, D, Z, T, ... ('?' if unknown) */
	uint64_t rss_kib;
	double start_time; /* seconds since the epoch (guest clock) */
	char comm[64];
	char cmdline[4 * AGENT_PS_CMDLINE_MAX + 1]; /* argv joined by spaces */
	bool cmdline_truncated; /* cut to 256 bytes by the agent */
	uint32_t exec_id; /* in the process group of this exec, 0: none */
	uint32_t exec_conn; /* on this agent connection (for kill) */
	bool exec_leader; /* the exec's process itself */
	uint32_t session; /* of a detached command's process group, 0: none */
};

/*
 * The guest's processes; *procs is a malloc'ed array of *n entries (free
 * it), *truncated when the agent left some out (reply size limit).
 */
int agent_client_ps(struct agent_client *c, int timeout_ms,
		    struct agent_proc_info **procs, size_t *n, bool *truncated,
		    char *err, size_t errlen);

/* Parse a ps result object (pure; the unit tests and the fuzzer use it). */
struct json_t;
int agent_ps_parse(struct json_t *rep, struct agent_proc_info **procs,
		   size_t *n, bool *truncated);

/*
 * Send signal signo to guest process pid (> 1), or, with exec_id != 0
 * (pid 0), to the process group of that exec (exec_conn from ps, 0: the
 * only exec with that id).  No such process: AGENT_ERR_NOT_FOUND;
 * refused (pid 1, the agent): AGENT_ERR_REMOTE.
 */
int agent_client_kill(struct agent_client *c, int pid, uint32_t exec_id,
		      uint32_t exec_conn, int signo, int timeout_ms, char *err,
		      size_t errlen);

/*
 * Turn the connection into a raw byte stream to TCP host:port in the guest
 * (host NULL: 127.0.0.1).  On success c is consumed (freed): *fd is the
 * socket (non-blocking) and *early / *early_len (malloc'ed, may be NULL /
 * 0) the first bytes from the guest that arrived with the reply; write
 * them to the client before anything read from *fd.  Nothing listens:
 * AGENT_ERR_NOT_FOUND ("connection_refused"); on any failure c stays
 * the caller's to close (it is unusable after a forward attempt).
 */
int agent_client_forward(struct agent_client *c, const char *host,
			 unsigned int port, int timeout_ms, int *fd,
			 uint8_t **early, size_t *early_len, char *err,
			 size_t errlen);

#endif
