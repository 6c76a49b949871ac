/* SPDX-License-Identifier: MIT */
/*
 * What tests/integration/net_check.c and net_dns_check.c share
 * (net_test.c): PASS/FAIL lines, shell commands, test namespaces, one-byte
 * TCP servers and probes with a deadline.
 */
#ifndef KILN_TESTS_NET_TEST_H
#define KILN_TESTS_NET_TEST_H

#include <stdbool.h>

#define NET_TEST_PROBE_MS 1000

/* How many FAILs report() printed. */
extern int failures;

/* "PASS: name", or "FAIL: name: " and the message; flushed. */
void report(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* system() of the formatted command: its exit status, 128 if killed. */
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a child: move into /run/netns/ns (NULL: stay), else _exit(99). */
void enter_ns(const char *ns);

/*
 * A TCP server in ns (NULL: here) on ip:port answering the byte tag to
 * every connection, until listeners_stop(); false if it cannot listen.
 */
bool listen_in(const char *ns, const char *ip, int port, char tag);
void listeners_stop(void);

/* The byte ip:port answers a TCP client in ns (NULL: here); 0: none in 1 s. */
char probe(const char *ns, const char *ip, int port);

#endif
