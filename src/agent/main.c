/* SPDX-License-Identifier: MIT */
/*
 * kiln-agent: the guest agent.
 *
 *   kiln-agent                  as PID 1 (init=/sbin/kiln-agent): set up the
 *                               system, serve on vsock port 1024, power off
 *                               on shutdown
 *   kiln-agent --service [--listen vsock:PORT|unix:PATH]... [--debug]
 *                               serve only (tests, or under another init)
 *
 * As PID 1 the kernel may pass unknown command-line words as arguments;
 * they are ignored unless one is --service.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "agent/agent.h"
#include "agent/init.h"
#include "agent/log.h"
#include "agent/server.h"
#include "common/proto.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln-agent                (as PID 1: init mode)\n"
		"       kiln-agent --service [--listen "
		"vsock:PORT|unix:PATH]... "
		"[--debug]\n"
		"       kiln-agent --version\n"
		"Default listener: vsock:%d.  Protocol: docs/PROTOCOL.md "
		"(version %d).\n",
		PROTO_AGENT_PORT, PROTO_VERSION);
}

/* PID 1 must never exit (the kernel would panic): power off instead. */
static void __attribute__((noreturn)) init_fatal(const char *what)
{
	log_msg("fatal: %s; powering off", what);
	init_poweroff();
}

static int run_init(void)
{
	struct init_options opt;
	struct agent ag;
	char err[256], where[512];
	char listen_spec[32];

	init_setup(&opt);
	if (agent_init(&ag, true, err, sizeof(err)) < 0)
		init_fatal(err);
	snprintf(listen_spec, sizeof(listen_spec), "vsock:%d",
		 PROTO_AGENT_PORT);
	if (server_listen(&ag, listen_spec, err, sizeof(err)) < 0)
		init_fatal(err);
	server_describe(&ag, where, sizeof(where));
	log_msg("ready on %s (kiln-agent %s, protocol %d)", where,
		AGENT_VERSION, PROTO_VERSION);
	agent_run(&ag);
	agent_fini(&ag);
	init_poweroff();
}

static int run_service(int argc, char **argv)
{
	const char *specs[AGENT_MAX_LISTENERS];
	unsigned int nspecs = 0;
	struct agent ag;
	char err[256], where[512];
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--service") == 0)
			continue;
		if (strcmp(argv[i], "--debug") == 0) {
			log_set_debug(true);
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			if (nspecs == AGENT_MAX_LISTENERS) {
				log_msg("at most %d --listen options",
					AGENT_MAX_LISTENERS);
				return 2;
			}
			specs[nspecs++] = argv[++i];
		} else {
			log_msg("unknown argument \"%s\"", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (nspecs == 0)
		specs[nspecs++] = "vsock:1024";
	if (chdir("/") < 0)
		log_msg("chdir /: %s", strerror(errno));
	if (agent_init(&ag, false, err, sizeof(err)) < 0) {
		log_msg("%s", err);
		return 1;
	}
	for (unsigned int i = 0; i < nspecs; i++) {
		if (server_listen(&ag, specs[i], err, sizeof(err)) < 0) {
			log_msg("%s", err);
			agent_fini(&ag);
			return 1;
		}
	}
	server_describe(&ag, where, sizeof(where));
	log_msg("ready on %s (kiln-agent %s, protocol %d)", where,
		AGENT_VERSION, PROTO_VERSION);
	rc = agent_run(&ag);
	agent_fini(&ag);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	bool service = false;

	/* Descriptors inherited from whoever started us are not for commands.
	 */
	close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--service") == 0)
			service = true;
		else if (strcmp(argv[i], "--version") == 0 && getpid() != 1) {
			printf("kiln-agent %s (protocol %d)\n", AGENT_VERSION,
			       PROTO_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 && getpid() != 1) {
			usage(stdout);
			return 0;
		}
	}
	if (getpid() == 1 && !service)
		return run_init();
	if (!service) {
		log_msg("not PID 1: run as kiln-agent --service [--listen ...] "
			"(see --help)");
		return 2;
	}
	return run_service(argc, argv);
}
