/* SPDX-License-Identifier: MIT */
/*
 * libkiln: run commands in microVM sandboxes.
 *
 * Conventions (they hold for every function below):
 *
 *  - Handles are opaque.  Everything starts from kiln_open(), the composition
 *    root: it takes the paths, the logger and the cancellation fd; nothing in
 *    the library reads or writes global state (environment variables are read
 *    only by kiln_open() and only to fill in options left unset).
 *  - Functions that can fail return an int status: KILN_OK (0) or one of the
 *    negative enum kiln_status values.  The human-readable message of the
 *    last failure on a handle is kiln_errmsg(k); it says what failed, where,
 *    and what to do, and may span several lines (e.g. the guest console's
 *    last lines when a guest died).
 *  - A struct kiln is not thread-safe: use one per thread, or serialise.
 *    kiln_interrupt() is the exception (see there).
 *  - Strings passed in are copied; pointers passed in need only live for the
 *    duration of the call, except callback contexts (see each struct).
 */
#ifndef KILN_H
#define KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_VERSION "0.1.0"

/* Status codes.  0 is success; failures are negative. */
enum kiln_status {
	KILN_OK = 0,
	KILN_EINVAL = -1, /* an argument or option is invalid */
	KILN_ENOTFOUND = -2, /* a file (kernel, image, kiln-vmm) is missing */
	KILN_EFORMAT = -3, /* a file exists but is not what it should be */
	KILN_ENOMEM = -4, /* out of memory */
	KILN_ESYS = -5, /* a system call failed on the host */
	KILN_EKVM = -6, /* /dev/kvm is missing or unusable */
	KILN_EVMM = -7, /* kiln-vmm failed or exited unexpectedly */
	KILN_ETIMEOUT = -8, /* a deadline passed (boot, command) */
	KILN_EGUEST = -9, /* the guest agent failed or broke the protocol */
	KILN_EEXEC = -10, /* the command could not be started in the guest */
	KILN_ECANCELED =
		-11, /* cancelled through the cancel fd or a callback */
	KILN_ESTATE = -12, /* the handle is in the wrong state for this call */
};

/* A static English name for a status, e.g. "timed out".  Never NULL. */
const char *kiln_strstatus(int status);

enum kiln_log_level {
	KILN_LOG_ERROR = 0,
	KILN_LOG_WARN = 1,
	KILN_LOG_INFO = 2,
	KILN_LOG_DEBUG = 3,
};

/*
 * Logger: called synchronously from the thread that called into the library
 * with one message (no trailing newline).  Messages above the configured
 * level are not formatted at all.
 */
typedef void (*kiln_log_fn)(void *ctx, enum kiln_log_level level,
			    const char *msg);

/*
 * Options for kiln_open().  Initialise with kiln_options_init(), then set
 * what you need.  NULL paths mean "use the default":
 *
 *   cache_dir    $KILN_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/kiln.
 *                Holds kernel/vmlinux and images/base.ext4 (built by
 *                `make kernel` and `make image`).
 *   state_dir    $KILN_STATE, else ${XDG_STATE_HOME:-$HOME/.local/state}/kiln.
 *                Holds state.db, the database of persistent sandboxes;
 *                created (0700) when a persistent sandbox function is
 *                first called, never by kiln_open().
 *   runtime_dir  $KILN_RUNTIME_DIR, else $XDG_RUNTIME_DIR/kiln, else
 *                /run/kiln for root, else /tmp/kiln-<uid>.  Each sandbox
 *                gets a private 0700 directory <runtime_dir>/<id> holding
 *                its vsock socket and console log; it is removed when the
 *                sandbox is destroyed.
 *   vmm_path     $KILN_VMM, else "kiln-vmm" looked up in $PATH.
 *
 * boot_timeout_ms: how long to wait for the guest agent after starting the
 * VMM; 0 means $KILN_BOOT_TIMEOUT (seconds) or else 300 s.
 *
 * cancel_fd: if >= 0, a file descriptor (e.g. a signalfd, eventfd or pipe)
 * that every wait in the library polls; once it is readable, the running
 * operation stops, cleans up and returns KILN_ECANCELED.  The library never
 * reads from it, so it stays readable ("sticky") and the owner can find out
 * why.  kiln_close() does not close it.
 */
struct kiln_options {
	const char *cache_dir;
	const char *state_dir;
	const char *runtime_dir;
	const char *vmm_path;
	unsigned int boot_timeout_ms;
	int cancel_fd;
	kiln_log_fn log;
	void *log_ctx;
	enum kiln_log_level log_level;
};

/*
 * Fill opts with defaults: all paths NULL, boot timeout 0 (see above),
 * cancel_fd -1, no logger, log level KILN_LOG_WARN.
 */
void kiln_options_init(struct kiln_options *opts);

struct kiln;

/*
 * Create a library handle.  opts may be NULL (all defaults).  On success
 * stores the handle in *out and returns KILN_OK.  On failure *out is NULL;
 * the message (if any) went to the logger given in opts, since there is no
 * handle to hold it.  Fails with KILN_EINVAL for bad options (e.g. relative
 * paths, unknown log level, malformed $KILN_BOOT_TIMEOUT) and KILN_ENOMEM.
 */
int kiln_open(const struct kiln_options *opts, struct kiln **out);

/*
 * Destroy a handle.  Sandboxes created from it must be destroyed first;
 * any left over are destroyed here (their VMMs stopped, directories
 * removed).  NULL is allowed.
 */
void kiln_close(struct kiln *k);

/*
 * The message of the last failure on k ("" if none).  Valid until the next
 * call on k.  Never NULL (also for k == NULL: then a static string).
 */
const char *kiln_errmsg(const struct kiln *k);

/* The resolved directories (after defaults and environment). */
const char *kiln_cache_dir(const struct kiln *k);
const char *kiln_runtime_dir(const struct kiln *k);
const char *kiln_state_dir(const struct kiln *k);

/* ---- sandboxes -------------------------------------------------------- */

/* What kiln is doing while a sandbox comes up; see kiln_progress_fn. */
enum kiln_phase {
	KILN_PHASE_STARTING = 0, /* VMM launched */
	KILN_PHASE_BOOTING = 1, /* waiting for the guest agent */
	KILN_PHASE_READY = 2, /* agent answered: boot done */
};

/*
 * Progress while a sandbox boots: called once per phase change and about
 * once a second while booting.  console_line is the guest console's last
 * non-empty line with control characters replaced (safe to print), or ""
 * when there is none yet.  It is only valid during the call.
 */
typedef void (*kiln_progress_fn)(void *ctx, enum kiln_phase phase,
				 uint64_t elapsed_ms, const char *console_line);

/*
 * How to create a sandbox.  Zero/NULL fields mean the default:
 *   kernel_path  <cache_dir>/kernel/vmlinux (ELF vmlinux or bzImage)
 *   image_path   <cache_dir>/images/base.ext4 (ext4, attached read-only)
 *   cpus         1 (range 1..32)
 *   memory_mib   256 (range 128..16384)
 *   cmdline_extra appended to the default kernel command line
 * progress/progress_ctx: optional boot progress callback.
 */
struct kiln_sandbox_config {
	const char *kernel_path;
	const char *image_path;
	unsigned int cpus;
	unsigned int memory_mib;
	const char *cmdline_extra;
	kiln_progress_fn progress;
	void *progress_ctx;
	/*
	 * Persistent sandboxes (see "Persistent sandboxes" below).  persistent
	 * 0: the sandbox lives as long as its struct kiln_sandbox (the
	 * default).  1: its VMM runs detached and is recorded in the state
	 * database until kiln_sandbox_remove(); name (may be NULL) must be
	 * unique among them: 1..63 of [A-Za-z0-9_.-], not starting with
	 * '_', '.' or '-'.
	 */
	int persistent;
	const char *name;
};

#define KILN_CPUS_MIN 1
#define KILN_CPUS_MAX 32
#define KILN_MEMORY_MIB_MIN 128
#define KILN_MEMORY_MIB_MAX 16384
#define KILN_DEFAULT_CPUS 1
#define KILN_DEFAULT_MEMORY_MIB 256

struct kiln_sandbox;

/*
 * Check a sandbox configuration without starting anything: ranges, and that
 * the kernel and image exist, are readable and look right (kernel: ELF or
 * bzImage; image: ext4 superblock).  KILN_EINVAL, KILN_ENOTFOUND or
 * KILN_EFORMAT with a message naming the file and the fix.
 * kiln_sandbox_create() does this first.
 */
int kiln_sandbox_check(struct kiln *k, const struct kiln_sandbox_config *cfg);

/*
 * Boot a microVM and wait until its agent answers.  Validates cfg (see
 * kiln_sandbox_check()), checks kiln-vmm and /dev/kvm, creates the private
 * runtime directory, starts kiln-vmm in its own process group (so terminal
 * signals reach only the caller, which decides how to stop it) and waits up
 * to the boot timeout.  If the VMM exits first, fails with KILN_EVMM and a
 * message with its exit status and the console's last lines.  On failure
 * nothing is left behind (no process, socket or directory).
 *
 * The VMM is tied to the calling thread: if that thread exits (or the
 * process dies), the kernel kills the VMM (PR_SET_PDEATHSIG).
 */
int kiln_sandbox_create(struct kiln *k, const struct kiln_sandbox_config *cfg,
			struct kiln_sandbox **out);

/*
 * Use a kiln-agent that is already running somewhere else as a sandbox,
 * instead of booting a microVM: endpoint "unix:PATH" is the agent's Unix
 * socket (kiln-agent --service --listen unix:PATH).  kiln_sandbox_exec()
 * then works as for a VM; kiln_sandbox_destroy() only disconnects (the
 * agent is not ours to stop).  Useful for running the agent in an existing
 * VM or container, and for testing the host side without KVM.
 * KILN_EINVAL for an unknown endpoint syntax, KILN_EGUEST if the agent
 * does not answer within the boot timeout.
 */
int kiln_sandbox_attach(struct kiln *k, const char *endpoint,
			struct kiln_sandbox **out);

/*
 * The sandbox's id (12 hex digits) and its private runtime directory ("" for
 * an attached sandbox).
 */
const char *kiln_sandbox_id(const struct kiln_sandbox *sb);
const char *kiln_sandbox_dir(const struct kiln_sandbox *sb);

/*
 * Output callback: len bytes of the command's stdout or stderr, in the
 * order the guest produced them on that stream.  Return 0 to go on; any
 * other value stops the command (it is killed) and makes the exec return
 * KILN_ECANCELED.
 */
typedef int (*kiln_output_fn)(void *ctx, const void *buf, size_t len);

/*
 * A command to run in a sandbox.  argv is NULL-terminated; argv[0] is looked
 * up in the guest's PATH.  env (NULL-terminated "NAME=value" strings) is
 * added to the guest's default environment; cwd defaults to "/".
 * stdin_fd: if >= 0, its content is copied to the command's stdin until EOF;
 * otherwise the command's stdin is empty.  timeout_ms: 0 for none; else the
 * command is killed after that long and the exec returns KILN_ETIMEOUT.
 */
struct kiln_exec {
	const char *const *argv;
	const char *const *env;
	const char *cwd;
	int stdin_fd;
	unsigned int timeout_ms;
	kiln_output_fn on_stdout;
	void *stdout_ctx;
	kiln_output_fn on_stderr;
	void *stderr_ctx;
};

/* Fill ex with defaults: everything NULL/0, stdin_fd -1. */
void kiln_exec_init(struct kiln_exec *ex);

/*
 * How a command ended.  After KILN_OK exactly one of exited/signaled is
 * set.  exit_code follows the shell: the exit status, 128 + signal when
 * killed, and after KILN_EEXEC 127 (not found) or 126 (not executable).
 * timed_out is set (with KILN_ETIMEOUT) when ex->timeout_ms killed it.
 */
struct kiln_exec_result {
	int exited; /* 1 if it exited by itself */
	int signaled; /* 1 if a signal killed it */
	int signal; /* that signal's number */
	int timed_out; /* 1 if killed for its timeout */
	int exit_code;
};

/*
 * Run a command in the sandbox and wait for it, streaming its output to the
 * callbacks.  On KILN_OK, *res says how it ended.  KILN_EEXEC: it could not
 * be started (message says why, e.g. not found); KILN_ETIMEOUT: it ran
 * longer than ex->timeout_ms and was killed; KILN_ECANCELED: the cancel fd
 * fired or a callback asked to stop (the command was killed);
 * KILN_EGUEST/KILN_EVMM: the agent or the VM failed.  After any failure
 * but KILN_EEXEC and KILN_EINVAL the sandbox is unusable (KILN_ESTATE on
 * the next exec): destroy it.
 */
int kiln_sandbox_exec(struct kiln_sandbox *sb, const struct kiln_exec *ex,
		      struct kiln_exec_result *res);

/*
 * Stop and free a sandbox: ask the agent to power the guest off, wait for
 * the VMM to exit (bounded), then SIGTERM, then SIGKILL; remove the runtime
 * directory.  Always frees sb.  Returns KILN_OK if the guest powered off
 * cleanly, else a failure status with a message (the cleanup still
 * happened).  NULL is allowed (KILN_OK).
 */
int kiln_sandbox_destroy(struct kiln_sandbox *sb);

/* ---- persistent sandboxes -------------------------------------------- */
/*
 * A persistent sandbox (kiln_sandbox_config.persistent = 1) outlives the
 * process that created it: its kiln-vmm runs detached (its own session, not
 * a child of the caller, output in files in its runtime directory) and it
 * is recorded in the state database <state_dir>/state.db with its id,
 * name, state, VMM pid and start time, vsock CID and network slot (unique
 * among all sandboxes, allocated atomically across processes), runtime
 * directory, creation time and configuration.
 *
 *  - kiln_sandbox_create() with persistent = 1 returns once the agent
 *    answers, with a handle connected to it; kiln_sandbox_close() lets go
 *    of the handle and leaves the sandbox running; kiln_sandbox_destroy()
 *    stops it and removes it for good.
 *  - kiln_sandbox_open() connects to a running one by reference: its full
 *    id, its name, or a unique prefix of its id (an ambiguous prefix is
 *    KILN_EINVAL naming two matches; no match is KILN_ENOTFOUND).
 *  - Every function here first reconciles the database with reality: a
 *    sandbox whose VMM is gone (pid gone, or the pid now names a process
 *    with another start time) becomes KILN_SB_DEAD with the reason if
 *    known; one left "creating" by a process that died is rolled back
 *    entirely (VMM killed, runtime directory and record removed); one left
 *    "starting"/"stopping" by a process that died ends up stopped.
 */
#define KILN_ID_LEN 12
#define KILN_NAME_MAX 63

enum kiln_sandbox_state {
	KILN_SB_CREATING = 0, /* being created (boot in progress) */
	KILN_SB_STARTING = 1, /* kiln_sandbox_start() in progress */
	KILN_SB_RUNNING = 2, /* VMM running, agent answered */
	KILN_SB_STOPPING = 3, /* being stopped or removed */
	KILN_SB_STOPPED = 4, /* no VMM; can be started again */
	KILN_SB_DEAD = 5, /* the VMM ended without being stopped */
};

/* "creating", "running", ...; never NULL ("unknown" for a bad value). */
const char *kiln_sandbox_state_name(enum kiln_sandbox_state st);

/* What is known about a persistent sandbox.  Free with _info_clear(). */
struct kiln_sandbox_info {
	char id[KILN_ID_LEN + 1];
	char name[KILN_NAME_MAX + 1]; /* "" when unnamed */
	enum kiln_sandbox_state state;
	int vmm_pid; /* 0 when no VMM runs */
	uint64_t vmm_start_time; /* /proc/<pid>/stat field 22, clock ticks */
	uint32_t cid; /* vsock CID */
	uint32_t net_slot;
	int64_t created_at; /* seconds since the epoch */
	unsigned int cpus;
	unsigned int memory_mib;
	char *kernel_path;
	char *image_path;
	char *cmdline_extra; /* NULL when none */
	char *runtime_dir; /* holds vsock.sock, console.log, vmm.log */
	char *exit_reason; /* dead/stopped: why the VMM ended; else NULL */
};

void kiln_sandbox_info_clear(struct kiln_sandbox_info *info);
void kiln_sandbox_info_list_free(struct kiln_sandbox_info *list, size_t n);

/* Look one up by reference (id, name or unique id prefix). */
int kiln_sandbox_get(struct kiln *k, const char *ref,
		     struct kiln_sandbox_info *out);

/* All of them, oldest first; *list is NULL when *n is 0. */
int kiln_sandbox_list(struct kiln *k, struct kiln_sandbox_info **list,
		      size_t *n);

/*
 * Connect to a running persistent sandbox, for kiln_sandbox_exec() and
 * the file functions.  KILN_ESTATE if it is not running.
 */
int kiln_sandbox_open(struct kiln *k, const char *ref,
		      struct kiln_sandbox **out);

/*
 * Let go of a handle: a persistent sandbox keeps running (only the agent
 * connection is closed); any other sandbox is destroyed as by
 * kiln_sandbox_destroy().  NULL is allowed.
 */
int kiln_sandbox_close(struct kiln_sandbox *sb);

/*
 * Stop a persistent sandbox, keeping its record and directory: ask the
 * agent to power off (10 s to accept, 20 s to exit), then SIGTERM, then
 * (5 s later) SIGKILL.  force: skip the power-off request.  Already
 * stopped or dead: KILN_OK, nothing done.  KILN_ESTATE if another process
 * is creating, starting or stopping it right now.
 */
int kiln_sandbox_stop(struct kiln *k, const char *ref, int force);

/*
 * Boot a stopped (or dead) persistent sandbox again with its recorded
 * configuration, CID and slot; returns when its agent answers.
 * progress (may be NULL) is called as for kiln_sandbox_create().
 * KILN_ESTATE if it is not stopped or dead.  On failure it is left
 * stopped, with the reason recorded.
 */
int kiln_sandbox_start(struct kiln *k, const char *ref,
		       kiln_progress_fn progress, void *progress_ctx);

/*
 * Remove a persistent sandbox: stop it as kiln_sandbox_stop() does if it
 * runs, release its CID and slot, remove its runtime directory and record.
 * force: no power-off request, and also remove one that another process
 * is creating, starting or stopping (its VMM is killed).
 */
int kiln_sandbox_remove(struct kiln *k, const char *ref, int force);

/*
 * Copy a file into the guest: src_fd's content up to EOF becomes
 * guest_path (absolute), written atomically (a temporary file renamed into
 * place, so it is never seen half-written) with permission bits mode (0:
 * 0644).  If guest_path is an existing directory, the file is written as
 * guest_path/name instead (like cp(1)); name may be NULL otherwise.
 * KILN_ENOTFOUND if the guest directory does not exist; KILN_EGUEST for
 * other guest-side failures (message names the path and errno).
 */
int kiln_sandbox_copy_to_guest(struct kiln_sandbox *sb, int src_fd,
			       const char *guest_path, const char *name,
			       unsigned int mode);

/*
 * Copy a regular file of the guest (absolute guest_path) to dst_fd,
 * streaming; *size (may be NULL) gets the byte count.  KILN_ENOTFOUND if
 * it does not exist.
 */
int kiln_sandbox_copy_from_guest(struct kiln_sandbox *sb,
				 const char *guest_path, int dst_fd,
				 uint64_t *size);

/* ---- guest status and identity ----------------------------------------- */

/* What the guest agent reports about the guest (kiln_sandbox_status()). */
struct kiln_guest_status {
	char agent_version[32];
	int protocol_version;
	double uptime_s; /* since the guest booted */
	double load[3]; /* 1, 5 and 15 minute load averages */
	uint64_t mem_total_kib; /* /proc/meminfo MemTotal */
	uint64_t mem_available_kib; /* /proc/meminfo MemAvailable */
	uint64_t root_total_bytes; /* the guest's root file system */
	uint64_t root_avail_bytes;
	uint64_t processes;
	char sandbox_id[65]; /* set by kiln_sandbox_set_identity(), else "" */
	char hostname[65];
};

/*
 * Ask the guest for its status.  KILN_EGUEST if the agent fails (then the
 * sandbox is unusable), KILN_ESTATE if it failed earlier.
 */
int kiln_sandbox_status(struct kiln_sandbox *sb, struct kiln_guest_status *st);

/*
 * Make the guest distinct from every other guest restored from the same
 * snapshot, which share its random number generator state, clock and
 * hostname: sends 64 bytes from the host's getrandom() (credited to the
 * guest's entropy pool, after which its CRNG is reseeded at once), the
 * host's wall-clock time (the guest's clock is set to it), the hostname
 * (NULL: keep the guest's; 1..64 of [A-Za-z0-9.-]) and the sandbox's id
 * (reported by kiln_sandbox_status()).  KILN_EGUEST naming what failed if
 * the guest could not do all of it; KILN_EINVAL for a bad hostname.
 */
int kiln_sandbox_set_identity(struct kiln_sandbox *sb, const char *hostname);

/* ---- guest processes and port forwarding ------------------------------ */

/* One guest process (kiln_sandbox_ps()). */
struct kiln_process {
	int pid, ppid, pgid;
	uint32_t uid; /* effective */
	char state; /* as in ps: R, S, D, Z, T, ... */
	uint64_t rss_kib;
	double start_time; /* seconds since the epoch, by the guest's clock */
	char comm[64];
	char cmdline[1025]; /* argv joined by spaces, at most 256 bytes */
	int cmdline_truncated; /* the command line was longer */
	uint32_t exec_id; /* in the process group of this exec; 0: none */
	uint32_t exec_conn; /* the agent connection of that exec */
	int exec_leader; /* the exec's own process */
};

/*
 * The guest's processes: *list (free() it) of *n.  KILN_EGUEST if the
 * agent fails.
 */
int kiln_sandbox_ps(struct kiln_sandbox *sb, struct kiln_process **list,
		    size_t *n);

/*
 * Send signal signo to guest process pid, or (pid 0) to the process group
 * of exec exec_id (with exec_conn from kiln_sandbox_ps(), 0: the only exec
 * with that id).  KILN_ENOTFOUND: no such process; KILN_EGUEST: refused
 * (pid 1 is the agent, the guest's init).
 */
int kiln_sandbox_kill(struct kiln_sandbox *sb, int pid, uint32_t exec_id,
		      uint32_t exec_conn, int signo);

/*
 * Forward a host TCP port to a TCP port in the guest (kubectl
 * port-forward style) until cancelled: listens on bind_addr:host_port
 * (NULL: 127.0.0.1; numeric; port 0: any free one) and relays each
 * connection over its own vsock connection to guest_host:guest_port
 * (NULL: 127.0.0.1) in the guest.  Runs in the calling thread until
 * cancel_fd (-1: the handle's cancel fd, which must then be set) is
 * readable, then returns KILN_OK.  on_ready is called once listening,
 * with the bound port; on_event with one line per connection opened,
 * refused or closed (both may be NULL).  KILN_EINVAL for bad arguments,
 * KILN_ESYS if the port cannot be bound, KILN_ESTATE for a sandbox
 * without a VMM vsock socket (attached by endpoint).
 */
struct kiln_port_forward {
	const char *bind_addr;
	int host_port;
	const char *guest_host;
	int guest_port;
	int cancel_fd;
	void (*on_ready)(void *ctx, const char *addr, int port);
	void (*on_event)(void *ctx, const char *line);
	void *ctx;
};

int kiln_sandbox_port_forward(struct kiln_sandbox *sb,
			      const struct kiln_port_forward *pf);

/*
 * Create a sandbox, run one command in it, destroy it.  Returns the first
 * failure: create's, else exec's, else destroy's (a failed clean power-off
 * after a successful exec is only logged as a warning: the command's result
 * stands).  On KILN_OK, *res holds the command's result.
 */
int kiln_run(struct kiln *k, const struct kiln_sandbox_config *cfg,
	     const struct kiln_exec *ex, struct kiln_exec_result *res);

#ifdef __cplusplus
}
#endif

#endif
