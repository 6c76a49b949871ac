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
	KILN_EVETO = -13, /* a before_* hook or plugin refused the operation */
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
 * with one message (no trailing newline) and its tag, the subsystem that
 * logged it ("sandbox", "snapshot", "state", "handle", ...; never NULL).
 * Messages above the configured level are not formatted at all.  The
 * logger belongs to the handle: there is no process-wide logging state.
 */
typedef void (*kiln_log_fn)(void *ctx, enum kiln_log_level level,
			    const char *tag, const char *msg);

/*
 * Where messages go when kiln_options.log is NULL: nowhere (the default),
 * or one line each on stderr (one write(2) per line), as text
 *   kiln: warning: [sandbox] sandbox 4ebbb21e5077 was not destroyed...
 * or as a JSON object per line (docs/CLI.md, "Logging")
 *   {"time":"2026-12-07T01:22:39.123Z","level":"warn","tag":"sandbox",
 *    "msg":"...","pid":147}
 */
enum kiln_log_format {
	KILN_LOG_SILENT = 0,
	KILN_LOG_TEXT = 1,
	KILN_LOG_JSON = 2,
};

/*
 * Names for the CLI and configuration files.  Levels: "error", "warn"
 * (also "warning"), "info", "debug"; formats: "text", "json", "none".
 * Return 0, or KILN_EINVAL for an unknown name (*out untouched).
 */
int kiln_log_level_parse(const char *name, enum kiln_log_level *out);
int kiln_log_format_parse(const char *name, enum kiln_log_format *out);
/* "error", "warn", "info", "debug"; "unknown" for a bad value. */
const char *kiln_log_level_name(enum kiln_log_level level);

/*
 * Format one log line (with its newline) as the built-in stderr logger
 * does, into buf (cut to fit, always terminated): for callbacks that want
 * the same lines, e.g. after clearing a progress line.  Control characters
 * in msg are replaced (text) or escaped (JSON).  Returns the length.
 */
size_t kiln_log_format_line(enum kiln_log_format fmt, enum kiln_log_level level,
			    const char *tag, const char *msg, char *buf,
			    size_t len);

/* ---- hooks: events (functions under "Hooks and plugins" below) ------- */

/*
 * What happened.  before_* events come before anything is done or
 * recorded and may be vetoed; after_* ones when the operation succeeded.
 * A failed operation emits error (with its phase) instead of after_*.
 * state_change: a persistent sandbox's recorded state changed (by this
 * process, including reconciliation finding a VMM dead).  net_*: a
 * sandbox's network was set up, torn down, or its policy changed.
 * before/after_pause and _resume: kiln_sandbox_pause()/_resume() (not
 * the pauses inside stop, checkpoint and fork).  Events may be added at
 * the end (without a KILN_PLUGIN_ABI change): ignore ones you do not
 * know.
 */
enum kiln_event {
	KILN_EV_BEFORE_CREATE = 0,
	KILN_EV_AFTER_CREATE = 1,
	KILN_EV_BEFORE_START = 2,
	KILN_EV_AFTER_START = 3,
	KILN_EV_BEFORE_STOP = 4,
	KILN_EV_AFTER_STOP = 5,
	KILN_EV_BEFORE_REMOVE = 6,
	KILN_EV_AFTER_REMOVE = 7,
	KILN_EV_ERROR = 8,
	KILN_EV_STATE_CHANGE = 9,
	KILN_EV_NET_SETUP = 10,
	KILN_EV_NET_TEARDOWN = 11,
	KILN_EV_NET_POLICY = 12,
	KILN_EV_BEFORE_PAUSE = 13,
	KILN_EV_AFTER_PAUSE = 14,
	KILN_EV_BEFORE_RESUME = 15,
	KILN_EV_AFTER_RESUME = 16,
};
#define KILN_EV_COUNT 17

/* "before_create", "state_change", ...; "unknown" for a bad value. */
const char *kiln_event_name(enum kiln_event ev);
/* The reverse; KILN_EINVAL for an unknown name (*out untouched). */
int kiln_event_parse(const char *name, enum kiln_event *out);

/*
 * One event, as a hook sees it.  Strings are never NULL ("" when not
 * applicable) and are only valid during the call.
 *   seq          1, 2, ... per handle: the order events happened in
 *   sandbox_id   "" for before_create (no id is allocated yet)
 *   phase        error: the operation that failed ("create", "start",
 *                "stop", "remove", "pause", "resume", "net_setup",
 *                "net_teardown", "net_policy")
 *   error_code   error: its kiln_status; error_msg its message
 *   old_state,   state_change: kiln_sandbox_state_name()-style names
 *   new_state    ("" for old_state when the sandbox was just recorded)
 *   details      a JSON object with what else is known (e.g. the
 *                configuration for before_create, "force" for stop);
 *                "{}" when nothing
 * veto: for before_* events, `return ev->veto(ev, "why");` refuses the
 * operation with that message (copied); it returns KILN_EVETO.  It is a
 * function pointer (not a libkiln symbol) so that plugins loaded into a
 * program that links libkiln statically can call it.
 */
struct kiln_event_info {
	enum kiln_event event;
	uint64_t seq;
	const char *sandbox_id;
	const char *sandbox_name;
	const char *phase;
	int error_code;
	const char *error_msg;
	const char *old_state;
	const char *new_state;
	const char *details;
	int (*veto)(const struct kiln_event_info *ev, const char *msg);
	void *internal; /* libkiln's; do not touch */
};

/*
 * A hook: called synchronously, in the thread that called into the
 * library, for every event of the handle it is registered on.  Return
 * KILN_OK, or (before_* only) ev->veto()'s KILN_EVETO to refuse; any
 * other value, or a veto of an event that cannot be refused, is logged
 * and ignored.  A hook must not call into the same struct kiln.
 */
typedef int (*kiln_hook_fn)(void *ctx, const struct kiln_event_info *ev);

/*
 * The state store (kiln_options.state_store):
 *
 *   KILN_STATE_FILE    <state_dir>/state.db, a SQLite file shared by every
 *                      kiln process and handle using that state directory
 *                      (the default).
 *   KILN_STATE_MEMORY  an in-memory SQLite database private to this handle,
 *                      for embedding and tests: the same schema, CID and
 *                      network slot allocation (unique among the
 *                      sandboxes it records), but nothing is written to
 *                      <state_dir>/state.db and no other handle or process
 *                      sees its sandboxes (CIDs and slots are not
 *                      coordinated with them either: do not mix it with
 *                      networked sandboxes of a file store on one host).
 *                      kiln_close() removes the persistent sandboxes it
 *                      still records (as kiln_sandbox_remove() with
 *                      force), since nothing could find them afterwards.
 *                      state_dir still holds the hook file and checkpoints.
 */
enum kiln_state_store {
	KILN_STATE_FILE = 0,
	KILN_STATE_MEMORY = 1,
};

/*
 * Options for kiln_open().  Initialise with kiln_options_init(), then set
 * what you need.  NULL paths mean "use the default":
 *
 *   cache_dir    $KILN_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/kiln.
 *                Holds kernel/vmlinux and images/base.ext4 (built by
 *                `make kernel` and `make image`).
 *   state_dir    $KILN_STATE, else ${XDG_STATE_HOME:-$HOME/.local/state}/kiln.
 *                Holds state.db, the database of persistent sandboxes
 *                (unless state_store is KILN_STATE_MEMORY); created
 *                (0700) when a persistent sandbox function is first
 *                called, never by kiln_open().
 *   runtime_dir  $KILN_RUNTIME_DIR, else $XDG_RUNTIME_DIR/kiln, else
 *                /run/kiln for root, else /tmp/kiln-<uid>.  Each sandbox
 *                gets a private 0700 directory <runtime_dir>/<id> holding
 *                its vsock socket, console log and root disk overlay
 *                (everything the guest wrote to its root); it is removed
 *                when the sandbox is destroyed.
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
	/* with log NULL: KILN_LOG_TEXT/JSON lines on stderr, or silent */
	enum kiln_log_format log_format;
	/*
	 * Hooks and plugins (see "Hooks and plugins" below).  hook/hook_ctx:
	 * a callback registered first, as by kiln_add_hook().  plugins: a
	 * NULL-terminated list of plugin paths loaded by kiln_open(), as by
	 * kiln_load_plugin().  hooks_file: the hook configuration file; NULL:
	 * $KILN_HOOKS, else <state_dir>/hooks if it exists; "" for none.
	 * hook_timeout_ms: how long a hook command may run; 0: the file's
	 * "timeout" line, else 10 s.
	 */
	kiln_hook_fn hook;
	void *hook_ctx;
	const char *const *plugins;
	const char *hooks_file;
	unsigned int hook_timeout_ms;
	/*
	 * jail: 1 (kiln_options_init()'s default): when running as root,
	 * every sandbox's kiln-vmm runs in the jail (docs/SECURITY.md); 0:
	 * never (debugging only: `kiln inspect` says JAIL DISABLED).
	 * $KILN_JAIL=0 also turns it off.  A persistent sandbox created
	 * with the jail off is recorded so: its later starts, rollbacks
	 * and forks (by any handle) are unjailed too.
	 */
	int jail;
	/*
	 * jail_relax: KILN_JAIL_NO_* parts of the confinement left out
	 * (debugging only; 0 by default).  $KILN_JAIL_RELAX adds to it.  A
	 * persistent sandbox records what it was created with: its later
	 * starts, rollbacks and forks (by any handle) keep it.
	 */
	unsigned int jail_relax;
	/*
	 * state_store: where persistent sandboxes are recorded (see enum
	 * kiln_state_store).  kiln_options_init(): KILN_STATE_FILE.
	 */
	enum kiln_state_store state_store;
};

/*
 * Fill opts with defaults: all paths NULL, boot timeout 0 (see above),
 * cancel_fd -1, no logger (log NULL, log_format KILN_LOG_SILENT), log
 * level KILN_LOG_WARN, jail 1, state_store KILN_STATE_FILE.
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
	/*
	 * Networking (see "Networking" below; persistent sandboxes only).
	 * NULL: policy KILN_NET_NONE.
	 */
	const struct kiln_net_policy *network;
	/*
	 * Create from a checkpoint (persistent sandboxes only; NULL: boot
	 * the base snapshot): "SANDBOX:NAME", checkpoint NAME of sandbox
	 * SANDBOX (id, unique id prefix or name; see kiln_checkpoint_create).
	 * The new sandbox is independent: its own id, CID, slot, runtime
	 * directory, hostname kiln-<id>, entropy and network (network above),
	 * restored from the checkpoint's memory and a copy of its disk, like
	 * a fork made later; the checkpoint and its sandbox are only read.
	 * It gets the checkpointed sandbox's kernel, image, cpus, memory and
	 * cmdline_extra: leave them 0/NULL (equal values are accepted, others
	 * are KILN_EINVAL).  KILN_ENOTFOUND for an unknown sandbox or
	 * checkpoint.  kiln_sandbox_check() does not look at it.
	 */
	const char *from_checkpoint;
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
 * does not answer within the boot timeout.  A lost connection is replaced
 * on the next call, as for a VM (the agent restarted on the same socket).
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
	/*
	 * Added in 0.1 for terminals and users (at the end, so code that
	 * fills the struct through kiln_exec_init() keeps working):
	 *
	 * tty: run on a new pseudo-terminal of rows x cols (0: 24 x 80) in
	 * the guest.  All output (stdout and stderr as the terminal renders
	 * them) goes to on_stdout; stdin goes to the terminal (EOF on
	 * stdin_fd is sent as the terminal's ^D).
	 * user: run as this guest user (a name in the guest's /etc/passwd or
	 * a decimal uid), with its groups and HOME; or "UID:GID" (as `docker
	 * run -u`): exactly those ids, no supplementary groups (HOME and
	 * USER from /etc/passwd if the uid is there, else HOME=/); NULL:
	 * root.
	 * resize_fd/on_resize (tty only): when resize_fd (>= 0, e.g. a
	 * signalfd of SIGWINCH) is readable, on_resize is called; it must
	 * consume what made the fd readable and return 0 with the new size
	 * in *rows and *cols (sent to the guest, which gets SIGWINCH), 1 to
	 * send nothing, or < 0 to stop (the command is killed, the exec
	 * returns KILN_ECANCELED).
	 */
	int tty;
	unsigned int rows, cols;
	const char *user;
	int resize_fd;
	int (*on_resize)(void *ctx, unsigned int *rows, unsigned int *cols);
	void *resize_ctx;
	/*
	 * Added in 0.1 for capped and collected output:
	 *
	 * max_output: at most this many bytes of stdout, and at most this
	 * many of stderr, reach the callbacks (or the collected buffers);
	 * 0: no cap (with collect: KILN_EXEC_COLLECT_DEFAULT); at most
	 * KILN_EXEC_MAX_OUTPUT.  The guest agent keeps reading and counting
	 * the rest (the command never blocks on it), and the result says
	 * how much each stream produced and whether it was capped: never a
	 * silent truncation.  A terminal's output (tty) counts as stdout.
	 * collect: gather the output in malloc'd buffers of the result
	 * (stdout_data, stderr_data) instead of streaming it; on_stdout and
	 * on_stderr must then be NULL, and the cap at most
	 * KILN_EXEC_COLLECT_MAX.  Free them with kiln_exec_result_free().
	 */
	uint64_t max_output;
	int collect;
};

#define KILN_EXEC_MAX_OUTPUT (1ull << 40) /* 1 TiB per stream */
#define KILN_EXEC_COLLECT_DEFAULT (16ull << 20) /* 16 MiB per stream */
#define KILN_EXEC_COLLECT_MAX (1ull << 30) /* 1 GiB per stream */

/* Fill ex with defaults: everything NULL/0, stdin_fd and resize_fd -1. */
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
	/*
	 * Added in 0.1 with max_output, set once the command ran (also with
	 * KILN_ETIMEOUT).  have_totals: the guest agent reported the totals
	 * (0 from an older agent: the fields below but the buffers are 0).
	 * stdout_bytes, stderr_bytes: what the command wrote to each stream,
	 * delivered or not.  stdout_capped, stderr_capped: 1 if that stream
	 * produced more than ex->max_output bytes; only max_output of them
	 * were delivered.  output_dropped (tty): the terminal still had
	 * output after the agent read 1 MiB more once the command exited
	 * (a background process kept writing); the rest was discarded.
	 * stdout_data/stdout_len, stderr_data/stderr_len (ex->collect): the
	 * collected output, NUL-terminated (the NUL is not counted), also
	 * what arrived before a failure; NULL/0 without collect.  A result
	 * with buffers must be freed with kiln_exec_result_free(), whatever
	 * the exec returned, before it is used again.
	 */
	int have_totals;
	uint64_t stdout_bytes, stderr_bytes;
	int stdout_capped, stderr_capped;
	int output_dropped;
	char *stdout_data, *stderr_data;
	size_t stdout_len, stderr_len;
};

/* Free the collected buffers of res (NULL and a zeroed res are fine). */
void kiln_exec_result_free(struct kiln_exec_result *res);

/*
 * Run a command in the sandbox and wait for it, streaming its output to the
 * callbacks (or collecting it: ex->collect).  On KILN_OK, *res says how it
 * ended.  KILN_EEXEC: it could not be started (message says why, e.g. not
 * found); KILN_ETIMEOUT: it ran longer than ex->timeout_ms and was killed;
 * KILN_ECANCELED: the cancel fd fired or a callback asked to stop (the
 * command was killed); KILN_EINVAL: bad ex (e.g. collect with callbacks,
 * max_output too large); KILN_EGUEST/KILN_EVMM: the agent or the VM
 * failed.
 *
 * The agent connection (every call on sb, not only exec): a call that lost
 * it (KILN_EGUEST "lost the agent", KILN_ETIMEOUT) or gave it up
 * (KILN_ECANCELED) fails and is not retried (the command may have run),
 * but the sandbox stays usable: the next call opens a fresh connection,
 * bounded by 10 s (the guest agent keeps listening across snapshot
 * restores and rollbacks, which end every open connection).  Only a VM
 * that has stopped makes it KILN_EVMM, then and on every later call:
 * destroy the sandbox (a persistent one: start it again).
 */
int kiln_sandbox_exec(struct kiln_sandbox *sb, const struct kiln_exec *ex,
		      struct kiln_exec_result *res);

/*
 * Detached commands: a command started with kiln_sandbox_exec_detach()
 * keeps running when the caller lets go (it does not die with the
 * connection); the guest agent keeps its latest output (64 KiB per
 * stream; older output is dropped and counted) and, once it ended, its
 * exit status, until a client attaches.  At most 64 detached commands per
 * guest.
 *
 * kiln_sandbox_exec_detach: start ex (argv, env, cwd, timeout_ms, tty,
 * rows, cols, user; stdin_fd >= 0 only says "keep a stdin pipe open for
 * attach"; nothing is read from it) and return at once with its session id
 * (> 0) and guest pid.  Errors as for kiln_sandbox_exec().
 */
int kiln_sandbox_exec_detach(struct kiln_sandbox *sb,
			     const struct kiln_exec *ex, uint32_t *session,
			     int *pid);

/*
 * Attach to a detached command by session id: stream its buffered and
 * then live output to ex->on_stdout/on_stderr, copy ex->stdin_fd (if >= 0)
 * to its stdin, resize its terminal through ex->on_resize, and wait until
 * it ends; *res as for kiln_sandbox_exec() (also when it ended before the
 * attach).  ex->argv and the other fields are ignored.  *lost (may be
 * NULL) gets how many output bytes were dropped since the last attach.
 * If this call is cancelled (cancel fd, callback) the command is NOT
 * killed: it stays detached.  KILN_ENOTFOUND: no such session (never
 * existed, or its exit was already collected); KILN_EGUEST: another
 * client is attached to it.
 */
int kiln_sandbox_exec_attach(struct kiln_sandbox *sb, uint32_t session,
			     const struct kiln_exec *ex,
			     struct kiln_exec_result *res, uint64_t *lost);

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
	KILN_SB_PAUSED = 6, /* vCPUs paused by kiln_sandbox_pause() */
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
	unsigned int jail_relax; /* KILN_JAIL_NO_* recorded at its creation */
};

void kiln_sandbox_info_clear(struct kiln_sandbox_info *info);

/*
 * Parts of the confinement a sandbox can do without, for debugging
 * (kiln_options.jail_relax, `kiln create --no-seccomp/--no-cgroup-limits/
 * --no-pid-ns`, $KILN_JAIL_RELAX="seccomp,cgroup,pid-ns"; docs/SECURITY.md).
 * `kiln inspect` shows each one loudly.
 */
#define KILN_JAIL_NO_SECCOMP 0x1u /* kiln-vmm without its syscall filters */
#define KILN_JAIL_NO_CGROUP 0x2u /* jailed without cgroup (CPU/memory/pids) */
#define KILN_JAIL_NO_PID_NS 0x4u /* jailed in the host's PID namespace */
#define KILN_JAIL_RELAX_ALL 0x7u

/*
 * The name of one KILN_JAIL_NO_* bit ("seccomp", "cgroup", "pid-ns"), NULL
 * for anything else.
 */
const char *kiln_jail_relax_name(unsigned int bit);

/*
 * How the sandbox's running VMM is confined (docs/SECURITY.md), one line
 * into buf: "jailed: uid ..., cgroup ..." or "JAIL DISABLED: why", followed
 * by "; SECCOMP DISABLED" / "; CGROUP LIMITS DISABLED" / "; PID NAMESPACE
 * DISABLED" when relaxed.
 * KILN_ENOTFOUND when no VMM was started in its runtime directory.
 */
int kiln_sandbox_jail_status(const struct kiln_sandbox_info *info, char *buf,
			     size_t len);
void kiln_sandbox_info_list_free(struct kiln_sandbox_info *list, size_t n);

/* Look one up by reference (id, name or unique id prefix). */
int kiln_sandbox_get(struct kiln *k, const char *ref,
		     struct kiln_sandbox_info *out);

/* All of them, oldest first; *list is NULL when *n is 0. */
int kiln_sandbox_list(struct kiln *k, struct kiln_sandbox_info **list,
		      size_t *n);

/*
 * Connect to a running persistent sandbox, for kiln_sandbox_exec() and
 * the file functions.  KILN_ESTATE if it is not running.  The handle
 * follows the sandbox, not one VMM: after a rollback, or a stop and
 * start, by any process, its next call connects to the VM the sandbox's
 * record names; while none runs, calls fail saying so.
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
 * Pause a running persistent sandbox: its VMM stops the guest's vCPUs
 * (PATCH /vm on <runtime_dir>/api.sock); memory and devices stay as they
 * are, the guest's clocks jump when it is resumed.  The sandbox is then
 * KILN_SB_PAUSED: kiln_sandbox_open() (and so exec, cp, ps...) refuses it
 * with KILN_ESTATE ("sandbox X is paused; resume it with 'kiln resume
 * X'"); kiln_sandbox_stop()/_remove() resume it first so the guest can
 * power off (or kill it with force, or if resuming fails).  Already
 * paused: KILN_OK, nothing done.  KILN_ESTATE if it is not running (or
 * another kiln process changed its state meanwhile: then the pause is
 * undone); KILN_EVMM if the VMM refused or did not answer.
 */
int kiln_sandbox_pause(struct kiln *k, const char *ref);

/*
 * Resume a paused persistent sandbox: its vCPUs run again and it is
 * KILN_SB_RUNNING.  Already running: KILN_OK.  KILN_ESTATE if it is
 * neither paused nor running; KILN_EVMM as for kiln_sandbox_pause().
 */
int kiln_sandbox_resume(struct kiln *k, const char *ref);

/* ---- networking (docs/NETWORK.md) ------------------------------------ */
/*
 * A persistent sandbox created by root gets its own network namespace
 * "kiln-<id>" with a TAP for the guest, a veth pair to the host
 * ("kv<slot>") and addresses from its network slot: the guest is
 * 10.202.0.0/16 + 4 * slot + 2, its gateway + 1.  What the guest may reach
 * is its policy, changeable while it runs:
 *   KILN_NET_NONE       nothing, not even the host (the default)
 *   KILN_NET_ALLOW_ALL  everything outside the host through NAT, except
 *                       the host's own addresses and other sandboxes
 *   KILN_NET_CUSTOM     only addresses in allow_cidr and not in deny_cidr
 *                       (deny wins; the host and other sandboxes only if
 *                       an allow entry names them)
 * DNS (port 53) and DNS over TLS (853) go nowhere but the sandbox's
 * resolver (see allow_domain).  publish: inbound TCP/UDP to host_port on
 * the host's addresses goes to guest_port (DNAT).  Lists are NULL-terminated
 * "a.b.c.d/len" strings (or bare addresses), at most KILN_NET_LIST_MAX
 * entries each, as is n_publish.  rate_bps: bandwidth limit in bits per
 * second, applied to each direction separately (0: none; else
 * KILN_NET_RATE_MIN..KILN_NET_RATE_MAX).
 */
enum kiln_net_mode {
	KILN_NET_NONE = 0,
	KILN_NET_ALLOW_ALL = 1,
	KILN_NET_CUSTOM = 2,
};

#define KILN_NET_LIST_MAX 256
#define KILN_NET_RATE_MIN 64000ull /* 64 kbit/s */
#define KILN_NET_RATE_MAX 100000000000ull /* 100 Gbit/s */

struct kiln_net_publish {
	uint16_t host_port; /* 1..65535 */
	uint16_t guest_port; /* 1..65535 */
	int udp; /* 0: TCP */
};

struct kiln_net_policy {
	enum kiln_net_mode mode;
	const char *const *allow_cidr;
	const char *const *deny_cidr;
	const struct kiln_net_publish *publish;
	size_t n_publish;
	uint64_t rate_bps;
	/*
	 * Domains the guest may resolve and then reach (custom mode; NULL-
	 * terminated, at most KILN_NET_LIST_MAX): "example.com" exactly,
	 * "*.example.com" any name below it; case-insensitive.  The sandbox's
	 * resolver (at the guest's gateway, port 53) answers only those and
	 * lets the guest reach the IPv4 addresses it answered, for
	 * max(TTL, 60 s).  Under allow-all it answers every name.
	 */
	const char *const *allow_domain;
	/*
	 * The resolver's upstream, "a.b.c.d" or "a.b.c.d:port"; NULL: the
	 * KILN_DNS_UPSTREAM environment variable, else the first nameserver
	 * of /etc/resolv.conf.
	 */
	const char *dns_upstream;
};

/* Fill p with defaults: mode none, no lists, no ports, no limit. */
void kiln_net_policy_init(struct kiln_net_policy *p);

/*
 * Replace the network policy of a persistent sandbox (running or not), in
 * one atomic nftables transaction; recorded for later starts.  KILN_ESTATE
 * if it has no network namespace (created without root).
 */
int kiln_sandbox_set_network(struct kiln *k, const char *ref,
			     const struct kiln_net_policy *p);

/*
 * The recorded network policy of a persistent sandbox (what the next
 * start applies, and what runs now), into out: CIDRs as "a.b.c.d/len"
 * (host bits cleared), domains lowercase, publish in order.  Free with
 * kiln_net_policy_clear().  KILN_ESTATE if it has no network namespace
 * (created without root: no network at all, as policy none).
 */
int kiln_sandbox_get_network(struct kiln *k, const char *ref,
			     struct kiln_net_policy *out);

/* Free what kiln_sandbox_get_network() allocated in p; p is reset. */
void kiln_net_policy_clear(struct kiln_net_policy *p);

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
 * kiln_sandbox_copy_to_guest() with an owner: the file belongs to user (a
 * name or decimal uid in the guest's /etc/passwd: its uid and primary
 * group; NULL: root, as kiln_sandbox_copy_to_guest()).  An unknown user
 * is KILN_EGUEST and nothing is written.
 */
int kiln_sandbox_copy_to_guest_user(struct kiln_sandbox *sb, int src_fd,
				    const char *guest_path, const char *name,
				    unsigned int mode, const char *user);

/*
 * Copy a regular file of the guest (absolute guest_path) to dst_fd,
 * streaming; *size (may be NULL) gets the byte count.  KILN_ENOTFOUND if
 * it does not exist.
 */
int kiln_sandbox_copy_from_guest(struct kiln_sandbox *sb,
				 const char *guest_path, int dst_fd,
				 uint64_t *size);

/*
 * Directory trees, streamed as tar archives (never held whole in memory).
 * What a tree copy did: archive bytes, entries copied, entries skipped
 * (hard links are copied as separate files from the host; devices,
 * fifos and sockets are skipped on both sides).
 */
struct kiln_copy_stats {
	uint64_t bytes;
	uint64_t entries;
	uint64_t skipped;
};

/*
 * Copy the host directory host_dir into the guest, like cp -r: as
 * guest_dir (absolute) if that does not exist (its parent must), or as
 * guest_dir/NAME (NAME: host_dir's last component) if it is an existing
 * directory; a host_dir ending in "/." has its contents copied into
 * guest_dir.  Files, directories and symlinks (copied as links, never
 * followed) keep their permission bits, files and symlinks their mtimes;
 * everything created belongs to user (a name or decimal uid in the guest's
 * /etc/passwd: its uid and primary group; NULL: root), never to the
 * owners on the host.  Entries are written one by one: a failure part-way
 * leaves what was copied.  stats may be NULL.  KILN_EINVAL if guest_dir
 * exists and is not a directory; KILN_EGUEST for an unknown user.
 */
int kiln_sandbox_copy_dir_to_guest(struct kiln_sandbox *sb,
				   const char *host_dir, const char *guest_dir,
				   const char *user,
				   struct kiln_copy_stats *stats);

/*
 * Copy the guest directory guest_dir (absolute) to the host the same way:
 * as host_dir, or into host_dir/NAME if host_dir is an existing directory
 * ("/." at the end of guest_dir: its contents into host_dir).  Files
 * belong to the caller.  The guest's archive is checked: members with
 * ".." or absolute names, or that would be written through a symlink,
 * fail the copy (KILN_EGUEST).
 */
int kiln_sandbox_copy_dir_from_guest(struct kiln_sandbox *sb,
				     const char *guest_dir,
				     const char *host_dir,
				     struct kiln_copy_stats *stats);

/*
 * Caps on a copy from the guest (whose archive is untrusted): the sum of
 * the regular files' sizes and the number of entries (skipped ones
 * included).  0 in a field: its default, 64 GiB and 1000000.
 */
#define KILN_COPY_MAX_BYTES_DEFAULT (64ull << 30)
#define KILN_COPY_MAX_ENTRIES_DEFAULT 1000000ull
struct kiln_copy_limits {
	uint64_t max_bytes;
	uint64_t max_entries;
};

/*
 * kiln_sandbox_copy_dir_from_guest() with limits (NULL: the defaults,
 * which kiln_sandbox_copy_dir_from_guest() uses).  A copy over a limit
 * fails with KILN_EGUEST, naming it.  On any failure what the copy
 * created on the host is removed again (files and directories that did
 * not exist before it; never pre-existing ones, though a file of the copy
 * may have replaced one of the same name).
 */
int kiln_sandbox_copy_dir_from_guest_limits(
	struct kiln_sandbox *sb, const char *guest_dir, const char *host_dir,
	const struct kiln_copy_limits *limits, struct kiln_copy_stats *stats);

/*
 * The same with the tar archive itself: extract the archive read from
 * tar_fd (to EOF; ustar/pax, uncompressed; owners in it are ignored, what
 * is created belongs to user as above) into guest_dir exactly (created if
 * missing, merged into if it exists), or write guest_dir as an archive
 * (members "./", "./a", ...) to tar_fd.
 */
int kiln_sandbox_upload_tar(struct kiln_sandbox *sb, int tar_fd,
			    const char *guest_dir, const char *user,
			    struct kiln_copy_stats *stats);
int kiln_sandbox_download_tar(struct kiln_sandbox *sb, const char *guest_dir,
			      int tar_fd, struct kiln_copy_stats *stats);

/* ---- guest files: stat, list, mkdir, remove, rename, sync ------------- */
/*
 * Paths are absolute paths in the guest (a relative one is KILN_EINVAL).
 * A path that does not exist is KILN_ENOTFOUND; other refusals of the
 * guest (permission denied, not empty, exists, not a directory, ...) are
 * KILN_EGUEST, the message naming the op, the path and the errno, e.g.
 * "remove /x: Directory not empty (ENOTEMPTY)".  These leave the agent
 * connection as it was; a lost one is handled as for every call on a
 * sandbox (KILN_EGUEST, KILN_ETIMEOUT or KILN_EVMM; the next call
 * connects again).  ".." in a path is resolved by the guest's kernel.
 */
enum kiln_file_type {
	KILN_FILE_UNKNOWN = 0,
	KILN_FILE_REGULAR = 1,
	KILN_FILE_DIR = 2,
	KILN_FILE_SYMLINK = 3,
	KILN_FILE_FIFO = 4,
	KILN_FILE_SOCKET = 5,
	KILN_FILE_CHAR = 6,
	KILN_FILE_BLOCK = 7,
};

/* "file", "dir", "symlink", "fifo", "socket", "char", "block", "unknown". */
const char *kiln_file_type_name(enum kiln_file_type type);

struct kiln_file_stat {
	enum kiln_file_type type;
	uint64_t size;
	unsigned int mode; /* permission bits (07777) */
	int64_t mtime; /* seconds since the epoch, by the guest's clock */
	long mtime_nsec;
	uint32_t uid, gid;
};

/* lstat() of path, or stat() (symlinks followed) when follow != 0. */
int kiln_sandbox_file_stat(struct kiln_sandbox *sb, const char *path,
			   int follow, struct kiln_file_stat *st);

/* One entry of a guest directory (kiln_sandbox_file_list()). */
struct kiln_dir_entry {
	char *name; /* no '/'; never "." or ".." */
	enum kiln_file_type type; /* of the entry itself (not followed) */
	uint64_t size;
};

/*
 * The entries of directory path, in directory order, in *entries (free
 * with kiln_dir_entries_free()) of *n.  limit: at most that many (0: the
 * agent's default, 10000; at most 100000).  *truncated (may be NULL) is
 * set to 1 when entries were left out (the limit, or the reply size of
 * about 1 MiB, was reached); names that are not UTF-8 are always left out.
 */
int kiln_sandbox_file_list(struct kiln_sandbox *sb, const char *path,
			   unsigned int limit, struct kiln_dir_entry **entries,
			   size_t *n, int *truncated);
void kiln_dir_entries_free(struct kiln_dir_entry *entries, size_t n);

/*
 * Create directory path with permission bits mode (0: 0755; less the
 * guest umask).  parents != 0: also its missing parents, and an existing
 * directory is fine (mkdir -p).  The directories created belong to user
 * (a name or decimal uid in the guest's /etc/passwd: its uid and primary
 * group; unknown: KILN_EGUEST, nothing created), or to root when NULL.
 */
int kiln_sandbox_file_mkdir(struct kiln_sandbox *sb, const char *path,
			    unsigned int mode, int parents, const char *user);

/*
 * Remove a file, symlink or empty directory; recursive != 0: a directory
 * with everything below it (rm -r; symlinks are removed, never followed).
 * "/" is refused (KILN_EINVAL).
 */
int kiln_sandbox_file_remove(struct kiln_sandbox *sb, const char *path,
			     int recursive);

/* rename(2) in the guest: from replaces to atomically (same file system). */
int kiln_sandbox_file_rename(struct kiln_sandbox *sb, const char *from,
			     const char *to);

/*
 * Flush the guest's page cache to its disks: the file system holding path
 * (syncfs), or every file system when path is NULL (sync).  Files written
 * by the copy functions are already fsynced one by one.
 */
int kiln_sandbox_sync(struct kiln_sandbox *sb, const char *path);

/* ---- checkpoints and forks ------------------------------------------- */
/*
 * A checkpoint is a named full snapshot of a persistent sandbox: vCPU, VM
 * and device state, the guest's memory and its root disk (the read-only
 * image under a copy-on-write overlay file per sandbox, which holds
 * everything the guest wrote).  Its files live in
 * <state_dir>/checkpoints/<sandbox id>/<name>/ and it is recorded in the
 * state database; removing the sandbox removes its checkpoints.
 * Checkpoint names follow the rules of sandbox names (1..63 of
 * [A-Za-z0-9_.-], starting with a letter or digit) and are unique per
 * sandbox.
 */
#define KILN_FORK_MAX 64

/*
 * Checkpoint running (or paused) sandbox ref as name: its VMM is paused
 * (unless paused already), snapshotted and resumed (always, also on
 * failure); the sandbox keeps running.  KILN_EINVAL for a bad or
 * duplicate name, KILN_ESTATE if the sandbox is not running, KILN_EVMM if
 * its VMM refused.
 */
int kiln_checkpoint_create(struct kiln *k, const char *ref, const char *name);

/*
 * Roll sandbox ref back to its checkpoint name: its VMM is killed (the
 * guest's state is thrown away) and a new one restored from the
 * checkpoint, with the same id, CID and runtime directory; returns when
 * its agent answers and it has taken the clock and fresh entropy (its
 * hostname stays kiln-<id>).  The checkpoint is only read (its memory is
 * mapped copy-on-write), so it can be rolled back to again.  Works on a
 * running, paused, stopped or dead sandbox; afterwards it runs.  On
 * failure the sandbox is left stopped, with the reason recorded.
 * KILN_ENOTFOUND if there is no such checkpoint.  progress as for
 * kiln_sandbox_create() (may be NULL).
 */
int kiln_checkpoint_rollback(struct kiln *k, const char *ref, const char *name,
			     kiln_progress_fn progress, void *progress_ctx);

/* What is known about a checkpoint.  Free lists with _list_free(). */
struct kiln_checkpoint_info {
	char sandbox_id[KILN_ID_LEN + 1];
	char sandbox_name[KILN_NAME_MAX + 1]; /* "" when unnamed */
	char name[KILN_NAME_MAX + 1];
	int64_t created_at; /* seconds since the epoch */
	uint64_t size_bytes; /* disk space of its files (sparse) */
	char *path; /* its directory */
};

/*
 * The checkpoints of sandbox ref (NULL: of all sandboxes), by sandbox and
 * then oldest first; *list is NULL when *n is 0.
 */
int kiln_checkpoint_list(struct kiln *k, const char *ref,
			 struct kiln_checkpoint_info **list, size_t *n);
void kiln_checkpoint_info_list_free(struct kiln_checkpoint_info *list,
				    size_t n);

/*
 * Remove checkpoint name of sandbox ref (name NULL: all of its
 * checkpoints): record and files.  KILN_ENOTFOUND if there is no such
 * checkpoint.
 */
int kiln_checkpoint_remove(struct kiln *k, const char *ref, const char *name);

/*
 * Fork running (or paused) sandbox ref into count (1..KILN_FORK_MAX) new
 * persistent sandboxes: it is snapshotted as for a checkpoint (and keeps
 * running), and each fork is a new sandbox (own id, CID, slot, runtime
 * directory; named <name>-fork-<n> with the lowest free n if ref is
 * named) restored from that snapshot, with its own identity (hostname
 * kiln-<its id>, fresh entropy, the clock).  Guest processes, files and
 * memory are the parent's at the moment of the snapshot.  Returns once
 * every fork's agent answered, with their ids in ids[0..count-1].  All
 * or nothing: if one fork fails, the ones made so far are removed.
 */
int kiln_sandbox_fork(struct kiln *k, const char *ref, unsigned int count,
		      char (*ids)[KILN_ID_LEN + 1]);

/* ---- base snapshots ($KILN_CACHE/snapshots) ----------------------------- */

/*
 * A base snapshot is the cached boot every sandbox restores (one per
 * kernel, image, kiln-vmm, host, vCPUs, memory and command line).  A
 * rebuilt input makes a new one; the old ones stay until pruned.
 */
enum kiln_base_status {
	/* what this kiln restores now (its default kernel, image and
	 * kiln-vmm, with the snapshot's vCPUs/memory/command line) */
	KILN_BASE_CURRENT = 0,
	/* still valid, but for inputs that are not this kiln's defaults
	 * (another kiln-vmm, kernel or image that still exists unchanged) */
	KILN_BASE_OTHER = 1,
	/* never used again: an input changed or is gone, another host or
	 * snapshot layout, or the leftover of an interrupted build/prune */
	KILN_BASE_STALE = 2,
};

/* What kiln_base_snapshot_prune() did with one (list: KILN_BASE_KEPT). */
enum kiln_base_action {
	KILN_BASE_KEPT = 0, /* not selected */
	KILN_BASE_REMOVED = 1,
	KILN_BASE_WOULD_REMOVE = 2, /* KILN_PRUNE_DRY_RUN */
	KILN_BASE_SKIPPED = 3, /* selected, but in use or busy: see note */
	KILN_BASE_FAILED = 4, /* removing it failed: see note */
};

struct kiln_base_snapshot_info {
	char key[40]; /* directory name: 16 hex digits (or KEY.tmp ...) */
	enum kiln_base_status status;
	char reason[256]; /* why stale or other; "" when current */
	/* > 0: a process (a sandbox's kiln-vmm) maps its memory file;
	 * -1: unknown (a kiln-vmm whose maps cannot be read: see note) */
	int in_use_pid;
	unsigned int cpus, memory_mib; /* 0: not recorded (older kiln) */
	int64_t created_at; /* seconds since the epoch (directory mtime) */
	uint64_t size_bytes; /* disk space of its files (sparse) */
	enum kiln_base_action action;
	char note[256]; /* why skipped or failed */
	char *path; /* its directory */
};

/* Base snapshots in the cache, oldest first; *list NULL when *n is 0. */
int kiln_base_snapshot_list(struct kiln *k,
			    struct kiln_base_snapshot_info **list, size_t *n);

#define KILN_PRUNE_ALL 1u /* every unused one, current ones too */
#define KILN_PRUNE_DRY_RUN 2u /* decide and report, remove nothing */

/*
 * Remove the stale base snapshots (flags KILN_PRUNE_ALL: every one),
 * never one whose memory file a running process maps (or when that
 * cannot be checked).  Checkpoints do not depend on base snapshots (their
 * files are complete).  *list: every base snapshot with its action
 * (free with kiln_base_snapshot_info_list_free()); KILN_OK even if some
 * were skipped or failed (see each action).
 */
int kiln_base_snapshot_prune(struct kiln *k, unsigned int flags,
			     struct kiln_base_snapshot_info **list, size_t *n);
void kiln_base_snapshot_info_list_free(struct kiln_base_snapshot_info *list,
				       size_t n);

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
 * Ask the guest for its status.  KILN_EGUEST/KILN_ETIMEOUT if the agent
 * fails (the next call connects again), KILN_EVMM if the VM stopped.
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
	/* in the process group of a detached command (kiln exec --detach):
	 * its session id for kiln_sandbox_exec_attach(); 0: none */
	uint32_t session;
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

/* ---- host checks (kiln doctor) ---------------------------------------- */

enum kiln_check_status {
	KILN_CHECK_OK = 0,
	KILN_CHECK_WARN = 1, /* works, but something is missing or slow */
	KILN_CHECK_FAIL = 2, /* sandboxes cannot be created until fixed */
};

/* "ok", "warn", "fail"; "unknown" for a bad value. */
const char *kiln_check_status_name(enum kiln_check_status st);

/* The outcome of one check of kiln_doctor(). */
struct kiln_check {
	const char *name; /* static, stable: "kvm", "cpu", "kernel", ... */
	enum kiln_check_status status;
	char *detail; /* what was found (printable ASCII, one line) */
	char *fix; /* how to fix it; NULL when status is KILN_CHECK_OK */
};

/*
 * Check whether this host can run sandboxes with k's configuration,
 * without starting any: /dev/kvm (open + KVM_GET_API_VERSION), the CPU
 * features guests need, kiln-vmm, the default kernel and image in the
 * cache, the base snapshot cache, cgroups (cpu and memory controllers),
 * /dev/net/tun, nftables, the state database (integrity_check; it is not
 * created if missing) and the runtime directory.  On KILN_OK *list (free
 * with kiln_check_list_free()) holds *n checks in that order, whatever
 * they found; a failing check is a result, not an error.  KILN_ENOMEM
 * only.
 */
int kiln_doctor(struct kiln *k, struct kiln_check **list, size_t *n);
void kiln_check_list_free(struct kiln_check *list, size_t n);

/* ---- hooks and plugins (docs/API.md, "Hooks and plugins") ------------ */
/*
 * Every event (enum kiln_event) is delivered synchronously and in order,
 * first to the callbacks (kiln_options.hook, then plugins and
 * kiln_add_hook() callbacks in the order they were added), then to the
 * hook commands (in the order of their configuration lines).  For a
 * before_* event the first veto wins: later hooks do not see that event,
 * the operation fails with KILN_EVETO and a message naming the hook, and
 * everyone sees the error event that follows.
 *
 * Hook commands come from the hook configuration file (see
 * kiln_options.hooks_file; docs/CLI.md, "Hooks"), one per line as
 * "EVENT-PATTERN COMMAND" (patterns are fnmatch(3) globs over event names:
 * "before_create", "before_*", "*").  A command runs through /bin/sh -c
 * with the event as one JSON object on stdin, stdout discarded, stderr
 * captured; a non-zero exit from a before_* hook is a veto whose message
 * is its stderr's first line.  One that outlives the timeout is killed
 * (with its process group): a veto for before_*, a warning otherwise.
 */

/* Add a callback after those already registered.  KILN_EINVAL for NULL. */
int kiln_add_hook(struct kiln *k, kiln_hook_fn fn, void *ctx);

/*
 * Add a hook command for events matching pattern (see above), after those
 * already configured.  KILN_EINVAL for an empty command or a pattern
 * that matches no event.
 */
int kiln_add_hook_command(struct kiln *k, const char *pattern,
			  const char *command);

/*
 * Plugins are shared objects loaded with dlopen().  A plugin exports
 *
 *   const unsigned int kiln_plugin_abi = KILN_PLUGIN_ABI;
 *   int kiln_plugin_init(const struct kiln_plugin_host *host,
 *                        struct kiln_plugin *plugin);
 *
 * kiln_load_plugin() checks kiln_plugin_abi before calling anything: a
 * plugin built against another ABI is refused ("plugin X was built for
 * kiln plugin ABI N, this libkiln has M; rebuild it").  kiln_plugin_init()
 * fills *plugin (its hook is then registered as by kiln_add_hook()) and
 * returns 0, or non-zero to refuse to load (message in plugin->error).
 * At kiln_close() each plugin's fini (if set) is called, then it is
 * unloaded.  A plugin needs no libkiln symbols: it gets all it uses
 * through these structs.  KILN_PLUGIN_ABI changes whenever these structs
 * or struct kiln_event_info change.
 */
#define KILN_PLUGIN_ABI 1

struct kiln_plugin_host {
	unsigned int abi; /* KILN_PLUGIN_ABI of this libkiln */
	const char *kiln_version; /* KILN_VERSION */
	const char *plugin_path; /* as given to kiln_load_plugin() */
	const char *state_dir; /* kiln_state_dir() */
};

struct kiln_plugin {
	const char *name; /* for messages (static); NULL: the file name */
	kiln_hook_fn hook; /* may be NULL */
	void *ctx; /* passed to hook and fini */
	void (*fini)(void *ctx); /* may be NULL */
	char error[256]; /* init's reason when it returns non-zero */
};

typedef int (*kiln_plugin_init_fn)(const struct kiln_plugin_host *host,
				   struct kiln_plugin *plugin);

/*
 * Load a plugin (see above).  KILN_ENOTFOUND if it cannot be opened
 * (dlerror() in the message), KILN_EFORMAT if it does not export the
 * symbols above or its ABI differs, KILN_EINVAL if its init refused.
 */
int kiln_load_plugin(struct kiln *k, const char *path);

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
