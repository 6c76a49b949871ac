/* SPDX-License-Identifier: MIT */
/*
 * Starting a command: look argv[0] up in the command's PATH, build its
 * environment, make its stdio pipes and posix_spawn() it in a new session
 * with default signal handling.  No event-loop state: exec.c owns what
 * runs.
 */
#ifndef KILN_AGENT_SPAWN_H
#define KILN_AGENT_SPAWN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_DEFAULT_HOME "/root"

/* A validated exec request; strings point into the request's JSON. */
struct exec_spec {
	const char **argv; /* NULL-terminated, argc >= 1 */
	size_t argc;
	const char **env_names; /* nenv entries, names valid, no '=' */
	const char **env_values;
	size_t nenv;
	const char *cwd; /* never NULL */
	bool stdin_pipe;
	uint64_t timeout_ms; /* 0: none */
	/* "tty": run on a new pseudo-terminal of rows x cols */
	bool tty;
	unsigned short rows, cols;
	/* "user" / "uid"+"gid": who the command runs as (default: us) */
	enum exec_user {
		EXEC_USER_SELF,
		EXEC_USER_NAME,
		EXEC_USER_UID,
		EXEC_USER_IDS
	} user;
	const char *user_name; /* EXEC_USER_NAME */
	uint32_t uid, gid; /* EXEC_USER_UID: uid; EXEC_USER_IDS: both */
	/* "detach": outlive the connection, reattach by session id */
	bool detach;
	/* "max_output": forward at most this many bytes of each stream */
	bool cap_output;
	uint64_t max_output;
};

struct spawned {
	pid_t pid; /* also its process group and session id */
	/*
	 * Our read ends, non-blocking.  tty: stdout_fd is the terminal's
	 * master side (all output), stderr_fd is -1.
	 */
	int stdout_fd, stderr_fd;
	/* our write end, non-blocking; -1 for /dev/null; tty: the master */
	int stdin_fd;
	bool tty;
	char path[PATH_MAX]; /* what was executed */
};

/*
 * Spawn spec.  Plain commands go through posix_spawn(); a terminal or
 * another user needs steps posix_spawn() cannot do (TIOCSCTTY, setgroups,
 * setresuid), so those use vfork(): still no page tables copied.  On failure
 * returns -1 with *code a PROTO_E_* code and a message like `exec: "foo": not
 * found in PATH=...` in err; nothing is left running or open.
 */
int spawn_command(const struct exec_spec *spec, struct spawned *out,
		  const char **code, char *err, size_t errlen);

#endif
