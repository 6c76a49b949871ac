/* SPDX-License-Identifier: MIT */
/*
 * The detach key sequence of `kiln exec -it`, `kiln shell` and `kiln
 * attach -it` (like docker's ctrl-p ctrl-q): typed on kiln's raw
 * terminal it leaves the command running, detached, and ends kiln.  The
 * sequence is found in the keyboard input by a pure filter (unit-tested:
 * tests/unit/test_lib_cli_detach_keys.c); a thread runs it between kiln's
 * stdin and the stream libkiln reads.
 */
#ifndef KILN_CLI_DETACH_KEYS_H
#define KILN_CLI_DETACH_KEYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"
#define DETACH_KEYS_MAX 16 /* keys in a sequence */

struct detach_keys {
	uint8_t seq[DETACH_KEYS_MAX];
	size_t len; /* 0: disabled ("none") */
	size_t held; /* keys of a partial match not passed on yet */
};

/*
 * Pure: parse spec, docker's format: comma-separated keys, each a single
 * printable ASCII character or ctrl-X (X: a letter, @, [, \, ], ^ or _);
 * "none" disables.  Returns 0, or -1 with a message in err.
 */
int detach_keys_parse(const char *spec, struct detach_keys *k, char *err,
		      size_t errlen);

/*
 * Pure: pass in[0, n) through k into out (room for n + DETACH_KEYS_MAX
 * bytes); returns the bytes written.  Keys that may begin the sequence are
 * held back (also across calls) until it is complete or broken: broken,
 * they are passed on in order; complete, *detached is set and the rest of
 * in is dropped.
 */
size_t detach_keys_filter(struct detach_keys *k, const uint8_t *in, size_t n,
			  uint8_t *out, bool *detached);

/* Pure: at the end of the input, the held keys (written to out). */
size_t detach_keys_flush(struct detach_keys *k, uint8_t *out);

/*
 * The relay: a thread reads in_fd (kiln's stdin), filters it and writes
 * what passes to fd (libkiln's stdin_fd: the other end of a socketpair);
 * EOF is passed on as EOF.  When the sequence is typed, detached is set
 * and wake_fd (an eventfd, for an epoll set that libkiln polls) becomes
 * readable.
 */
struct detach_relay {
	struct detach_keys keys;
	int in_fd;
	int fd; /* libkiln reads this */
	int peer; /* the thread writes this */
	int wake_fd; /* readable once detached */
	int stop_fd; /* tells the thread to end */
	pthread_t tid;
	bool running;
	volatile bool detached;
};

/* Start it; 0 or -1 with a message in err (nothing started then). */
int detach_relay_start(struct detach_relay *r, const struct detach_keys *k,
		       int in_fd, char *err, size_t errlen);

/* Stop the thread and close everything; safe if never started. */
void detach_relay_stop(struct detach_relay *r);

#endif
