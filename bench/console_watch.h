/* SPDX-License-Identifier: MIT */
/*
 * Follow a guest console log file while a VMM writes it and note, on the
 * host's clock, when boot milestones appear.  The file may not exist yet
 * when watching starts (the VMM creates it); it is read as it grows.
 *
 * Milestones (host times are ns since the caller's t0, -1 = not seen):
 *   first   the first byte of console output (the kernel's first printk)
 *   init    the kernel line "Run /sbin/kiln-agent as init process"
 *   ready   the agent's line "kiln-agent: ready on ..."
 *   panic   "Kernel panic"
 * and, from the kernel's own printk timestamps ("[    5.213844] ", present
 * with printk.time=1), the guest-clock time of the init line.
 */
#ifndef KILN_BENCH_CONSOLE_WATCH_H
#define KILN_BENCH_CONSOLE_WATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CONSOLE_LINE_MAX 512

struct console_marks {
	int64_t first_ns;
	int64_t init_ns;
	int64_t ready_ns;
	int64_t panic_ns;
	double init_guest_s; /* printk time of the init line; < 0 unknown */
	uint64_t bytes;
	char error[256]; /* the watch stopped on this error; "" if none */
};

struct console_watch {
	char path[4096];
	int64_t t0_ns; /* CLOCK_MONOTONIC origin of the marks */
	pthread_t thread;
	bool running;
	int stop_fd; /* eventfd: tells the thread to do a last read and end */
	int inotify_fd;
	int fd; /* the log, once it exists */
	ino_t ino;
	off_t off;
	char line[CONSOLE_LINE_MAX];
	size_t line_len;
	bool line_long; /* the line overflowed: only its start is kept */
	int ready_fd; /* eventfd, readable once the ready line was seen */
	pthread_mutex_t lock;
	struct console_marks marks; /* under lock */
};

/* All milestones "not seen". */
void console_marks_clear(struct console_marks *m);

/* CLOCK_MONOTONIC in ns. */
int64_t bench_now_ns(void);

/*
 * Start following path (an existing file is read from its start; a file
 * the VMM truncates or replaces is followed from its new start).
 * Returns 0, or -1 with a message in err.
 */
int console_watch_start(struct console_watch *w, const char *path,
			int64_t t0_ns, char *err, size_t errlen);

/*
 * An fd that becomes readable (and stays so) once the ready line was seen:
 * poll it together with whatever else the caller waits for.
 */
int console_watch_ready_fd(const struct console_watch *w);

/* A copy of the milestones so far. */
void console_watch_marks(struct console_watch *w, struct console_marks *out);

/* Read what is left, stop the thread; marks stay readable.  Idempotent. */
void console_watch_stop(struct console_watch *w);

/* Parse a printk prefix "[   12.345678] " at the start of line. */
bool console_parse_printk_time(const char *line, double *secs);

#endif
