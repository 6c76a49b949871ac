/* SPDX-License-Identifier: MIT */
/*
 * `kiln run` argument parsing, kept apart from running so the rules can be
 * unit-tested.
 */
#ifndef KILN_CLI_RUN_ARGS_H
#define KILN_CLI_RUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUN_TIMEOUT_MAX_S 604800u /* a week */
#define RUN_BOOT_TIMEOUT_MAX_S 86400u
#define RUN_ENV_MAX 256

struct run_args {
	unsigned int cpus; /* 0: library default */
	unsigned int memory_mib; /* 0: library default */
	const char *kernel;
	const char *image;
	const char *agent; /* "unix:PATH": use a running agent, no VM */
	const char *workdir;
	unsigned int timeout_s; /* 0: none */
	unsigned int boot_timeout_s; /* 0: library default */
	bool quiet;
	bool no_stdin;
	uint64_t max_output; /* --max-output, per stream; 0: none */
	bool json; /* --json: collect the output, print one object */
	const char *env[RUN_ENV_MAX + 1]; /* NULL-terminated */
	int nenv;
	char **cmd; /* NULL-terminated, points into argv */
};

enum run_args_result {
	RUN_ARGS_OK = 0,
	RUN_ARGS_HELP = 1, /* --help was given */
	RUN_ARGS_ERROR = -1, /* message in err */
};

/*
 * Parse the arguments after "run" (argv[0] is the first of them; argv is
 * NULL-terminated).  Options end at "--" or at the first argument that
 * does not start with '-'; the rest is the command.
 */
enum run_args_result run_args_parse(int argc, char **argv, struct run_args *out,
				    char *err, size_t errlen);

/* The text `kiln run --help` prints. */
extern const char run_args_usage[];

#endif
