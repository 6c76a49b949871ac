/* SPDX-License-Identifier: MIT */
/*
 * Arguments of `kiln exec`, `kiln shell` and `kiln attach`, kept apart
 * from running them so the rules can be unit-tested.
 */
#ifndef KILN_CLI_EXEC_ARGS_H
#define KILN_CLI_EXEC_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_ENV_MAX 256
#define EXEC_TIMEOUT_MAX_S 604800u /* a week */

enum exec_args_cmd {
	EXEC_ARGS_EXEC, /* SANDBOX [OPTIONS] [--] CMD [ARGS...] */
	EXEC_ARGS_SHELL, /* SANDBOX [-u USER] [-e] [-w] */
	EXEC_ARGS_ATTACH, /* SANDBOX SESSION [-i] [-t] */
};

struct exec_args {
	const char *sandbox;
	bool interactive, tty, detach;
	const char *workdir;
	const char *user; /* NULL: root */
	unsigned int timeout_s; /* 0: none */
	const char *env[EXEC_ENV_MAX + 1]; /* NULL-terminated */
	int nenv;
	char **cmd; /* exec: NULL-terminated, points into argv */
	uint32_t session; /* attach */
	const char *detach_keys; /* --detach-keys, NULL: the default */
	uint64_t max_output; /* --max-output, per stream; 0: none */
	bool json; /* --json: collect the output, print one object */
};

enum exec_args_result {
	EXEC_ARGS_OK = 0,
	EXEC_ARGS_HELP = 1, /* --help was given */
	EXEC_ARGS_ERROR = -1, /* message in err */
};

/*
 * Parse argv (argv[0] is the command's name, as getopt wants it; argv is
 * NULL-terminated).  The sandbox may come before or after the options;
 * exec's options end at "--" or at CMD.
 */
enum exec_args_result exec_args_parse(enum exec_args_cmd cmd, int argc,
				      char **argv, struct exec_args *out,
				      char *err, size_t errlen);

/* The --help texts. */
extern const char exec_args_usage_exec[], exec_args_usage_shell[],
	exec_args_usage_attach[];

#endif
