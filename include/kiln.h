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
 *                Persistent sandbox state (not used yet; created lazily).
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
