/* SPDX-License-Identifier: MIT */
/*
 * `kiln port-forward`: relay a host TCP port to a TCP port in a running
 * persistent sandbox's guest until Ctrl-C (kubectl port-forward style).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_common.h"
#include "kiln.h"

/* Belongs in cli/cli.h next to the other commands. */

static const char usage[] =
	"usage: kiln port-forward [--json] SANDBOX [HOST:]PORT:GUEST_PORT\n"
	"\n"
	"Listen on the host's HOST:PORT (default 127.0.0.1; a numeric\n"
	"address, IPv6 in brackets: [::1]:8080:80; PORT 0 picks a free one)\n"
	"and relay each connection to GUEST_PORT on the guest's 127.0.0.1,\n"
	"until Ctrl-C.  Connections are logged on stderr.\n"
	"\n"
	"options:\n"
	"  --guest-host ADDR   connect to this guest address instead\n"
	"  --json              JSON lines on stdout instead: one when\n"
	"                      listening, one per connection event\n"
	"  -h, --help          show this help\n";

static const struct option pf_opts[] = {
	{"guest-host", required_argument, NULL, 'g'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct spec {
	char host[128];
	unsigned int port, guest_port;
};

/* [HOST:]PORT:GUEST_PORT, HOST possibly "[v6]". */
static int parse_spec(const char *s, struct spec *sp, char *err, size_t errlen)
{
	char buf[128], *gp, *p;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, errlen, "'%s' is too long", s);
		return -1;
	}
	strcpy(buf, s);
	gp = strrchr(buf, ':');
	if (!gp) {
		snprintf(err, errlen, "'%s' is not [HOST:]PORT:GUEST_PORT", s);
		return -1;
	}
	*gp++ = 0;
	p = strrchr(buf, ':');
	if (p && (!strchr(buf, ']') || p > strchr(buf, ']'))) {
		*p++ = 0;
		if (buf[0] == '[') {
			size_t n = strlen(buf);

			if (n < 3 || buf[n - 1] != ']') {
				snprintf(err, errlen, "bad host in '%s'", s);
				return -1;
			}
			buf[n - 1] = 0;
			snprintf(sp->host, sizeof(sp->host), "%s", buf + 1);
		} else {
			snprintf(sp->host, sizeof(sp->host), "%s", buf);
		}
		if (!sp->host[0]) {
			snprintf(err, errlen, "empty host in '%s'", s);
			return -1;
		}
	} else {
		p = buf;
		snprintf(sp->host, sizeof(sp->host), "127.0.0.1");
	}
	if (cli_parse_uint("PORT", p, 0, 65535, "", &sp->port, err, errlen) ||
	    cli_parse_uint("GUEST_PORT", gp, 1, 65535, "", &sp->guest_port, err,
			   errlen))
		return -1;
	return 0;
}

struct pf_print {
	unsigned int guest_port;
	const char *guest_host;
	bool json;
};

/* One JSON object per line on stdout, flushed (JSON Lines). */
static void json_line(json_t *o)
{
	if (!o)
		return;
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	putchar('\n');
	fflush(stdout);
}

static void on_ready(void *ctx, const char *addr, int port)
{
	struct pf_print *pp = ctx;

	if (pp->json) {
		json_line(json_pack("{s:s, s:s, s:i, s:s, s:i}", "event",
				    "listening", "address", addr, "port", port,
				    "guest_host", pp->guest_host, "guest_port",
				    (int)pp->guest_port));
		return;
	}
	fprintf(stderr,
		"Forwarding from %s%s%s:%d -> %s port %u in the guest "
		"(Ctrl-C to stop)\n",
		strchr(addr, ':') ? "[" : "", addr,
		strchr(addr, ':') ? "]" : "", port, pp->guest_host,
		pp->guest_port);
}

static void on_event(void *ctx, const char *line)
{
	struct pf_print *pp = ctx;

	if (pp->json)
		json_line(json_pack("{s:s, s:s}", "event", "connection",
				    "message", line));
	else
		fprintf(stderr, "%s\n", line);
}

int cli_port_forward(int argc, char **argv)
{
	struct kiln_port_forward pf = {.cancel_fd = -1};
	const char *guest_host = NULL;
	struct kiln_sandbox *sb;
	struct pf_print pp = {0};
	struct spec sp;
	int opt, rc, code, sig;
	char err[160];
	struct cli c;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", pf_opts, NULL)) != -1) {
		switch (opt) {
		case 'g':
			guest_host = optarg;
			break;
		case 'j':
			pp.json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return cli_getopt_error("port-forward", opt, argv,
						optind, optopt);
		}
	}
	if (argc - optind != 2)
		return cli_usage_error(
			"port-forward",
			"want SANDBOX and [HOST:]PORT:GUEST_PORT");
	if (parse_spec(argv[optind + 1], &sp, err, sizeof(err)))
		return cli_usage_error("port-forward", "%s", err);
	if (cli_open(&c, 0))
		return CLI_EXIT_FAILURE;
	rc = kiln_sandbox_open(c.k, argv[optind], &sb);
	if (rc) {
		code = cli_fail(&c, rc);
		cli_close(&c);
		return code;
	}
	pp.guest_port = sp.guest_port;
	pp.guest_host = guest_host ? guest_host : "127.0.0.1";
	pf.bind_addr = sp.host;
	pf.host_port = (int)sp.port;
	pf.guest_host = guest_host;
	pf.guest_port = (int)sp.guest_port;
	pf.on_ready = on_ready;
	pf.on_event = on_event;
	pf.ctx = &pp;
	/* the handle's cancel fd is kiln's signalfd: Ctrl-C ends it */
	rc = kiln_sandbox_port_forward(sb, &pf);
	kiln_sandbox_close(sb);
	if (rc) {
		code = cli_fail(&c, rc);
	} else {
		sig = cli_signal_received(&c);
		if (sig > 0)
			fprintf(stderr, "kiln: port-forward stopped by SIG%s\n",
				sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
		code = 0;
	}
	cli_close(&c);
	return code;
}
