/* SPDX-License-Identifier: MIT */
/* Follow a console log and time boot milestones; see console_watch.h. */
#include "console_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * inotify wakes the thread as soon as the VMM writes; the rescan interval
 * only matters if a file system does not report writes (then a milestone
 * is late by at most this much).
 */
#define WATCH_RESCAN_MS 20
/* Per wake-up, so a flood of output cannot keep the thread from stopping. */
#define WATCH_READS_PER_WAKE 1024

#define MARK_INIT "Run /sbin/kiln-agent as init process"
#define MARK_READY "kiln-agent: ready on"
#define MARK_PANIC "Kernel panic"

int64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void console_marks_clear(struct console_marks *m)
{
	memset(m, 0, sizeof(*m));
	m->first_ns = m->init_ns = m->ready_ns = m->panic_ns = -1;
	m->init_guest_s = -1;
}

bool console_parse_printk_time(const char *line, double *secs)
{
	const char *p = line;
	char *end;
	double v;

	if (*p++ != '[')
		return false;
	while (*p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	errno = 0;
	v = strtod(p, &end);
	if (errno || end == p || *end != ']' || v < 0)
		return false;
	*secs = v;
	return true;
}

static void watch_line(struct console_watch *w, int64_t t)
{
	const char *line = w->line;
	double ts;

	pthread_mutex_lock(&w->lock);
	if (w->marks.init_ns < 0 && strstr(line, MARK_INIT)) {
		w->marks.init_ns = t;
		if (console_parse_printk_time(line, &ts))
			w->marks.init_guest_s = ts;
	}
	if (w->marks.ready_ns < 0 && strstr(line, MARK_READY)) {
		uint64_t one = 1;

		w->marks.ready_ns = t;
		if (write(w->ready_fd, &one, sizeof(one)) != sizeof(one))
			snprintf(w->marks.error, sizeof(w->marks.error),
				 "console watch: eventfd write: %s",
				 strerror(errno));
	}
	if (w->marks.panic_ns < 0 && strstr(line, MARK_PANIC))
		w->marks.panic_ns = t;
	pthread_mutex_unlock(&w->lock);
}

static void watch_feed(struct console_watch *w, const char *buf, size_t len,
		       int64_t t)
{
	pthread_mutex_lock(&w->lock);
	if (w->marks.first_ns < 0 && len > 0)
		w->marks.first_ns = t;
	w->marks.bytes += len;
	pthread_mutex_unlock(&w->lock);

	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (ch == '\n') {
			w->line[w->line_len] = 0;
			watch_line(w, t);
			w->line_len = 0;
			w->line_long = false;
			continue;
		}
		if (ch == '\r' || ch == 0)
			continue;
		/* Keep the start of an over-long line; markers are early. */
		if (w->line_len + 1 < sizeof(w->line))
			w->line[w->line_len++] = ch;
		else
			w->line_long = true;
	}
}

/* (Re)open the log when it appears or the VMM replaced it. */
static void watch_open(struct console_watch *w)
{
	struct stat st;

	if (stat(w->path, &st) < 0)
		return; /* not created yet */
	if (w->fd >= 0 && st.st_ino == w->ino)
		return;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = open(w->path, O_RDONLY | O_CLOEXEC);
	w->ino = st.st_ino;
	w->off = 0;
	w->line_len = 0;
}

static void watch_read(struct console_watch *w)
{
	char buf[4096];
	struct stat st;

	watch_open(w);
	if (w->fd < 0)
		return;
	if (fstat(w->fd, &st) == 0 && st.st_size < w->off) {
		w->off = 0; /* truncated by the VMM when it opened it */
		w->line_len = 0;
	}
	for (int i = 0; i < WATCH_READS_PER_WAKE; i++) {
		ssize_t n = pread(w->fd, buf, sizeof(buf), w->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		w->off += n;
		watch_feed(w, buf, (size_t)n, bench_now_ns());
	}
}

static void watch_drain_inotify(struct console_watch *w)
{
	char buf[4096] __attribute__((aligned(8)));

	/* Non-blocking: the events only say "look again". */
	for (int i = 0; i < 64; i++)
		if (read(w->inotify_fd, buf, sizeof(buf)) <= 0)
			break;
}

static void *watch_main(void *arg)
{
	struct console_watch *w = arg;

	/* Ends when console_watch_stop() signals stop_fd. */
	for (;;) {
		struct pollfd p[2] = {
			{.fd = w->stop_fd, .events = POLLIN},
			{.fd = w->inotify_fd, .events = POLLIN},
		};
		int n = poll(p, 2, WATCH_RESCAN_MS);

		if (n < 0 && errno != EINTR) {
			pthread_mutex_lock(&w->lock);
			snprintf(w->marks.error, sizeof(w->marks.error),
				 "console watch: poll: %s", strerror(errno));
			pthread_mutex_unlock(&w->lock);
			break;
		}
		if (n > 0 && (p[1].revents & POLLIN))
			watch_drain_inotify(w);
		watch_read(w);
		if (n > 0 && (p[0].revents & POLLIN))
			break; /* after the last read above */
	}
	return NULL;
}

static void watch_close_fds(struct console_watch *w)
{
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	if (w->inotify_fd >= 0)
		close(w->inotify_fd);
	if (w->ready_fd >= 0)
		close(w->ready_fd);
	if (w->fd >= 0)
		close(w->fd);
	w->stop_fd = w->inotify_fd = w->ready_fd = w->fd = -1;
}

int console_watch_start(struct console_watch *w, const char *path,
			int64_t t0_ns, char *err, size_t errlen)
{
	char dir[sizeof(w->path)];
	const char *d;
	int rc;

	memset(w, 0, sizeof(*w));
	w->stop_fd = w->inotify_fd = w->ready_fd = w->fd = -1;
	console_marks_clear(&w->marks);
	w->t0_ns = t0_ns;
	if (strlen(path) >= sizeof(w->path)) {
		snprintf(err, errlen, "console path too long: %s", path);
		return -1;
	}
	memcpy(w->path, path, strlen(path) + 1);
	memcpy(dir, path, strlen(path) + 1);
	pthread_mutex_init(&w->lock, NULL);

	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->ready_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->stop_fd < 0 || w->ready_fd < 0 || w->inotify_fd < 0) {
		snprintf(err, errlen, "console watch: eventfd/inotify: %s",
			 strerror(errno));
		watch_close_fds(w);
		return -1;
	}
	/* The directory: the file itself may not exist yet. */
	d = dirname(dir);
	if (inotify_add_watch(w->inotify_fd, d,
			      IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				      IN_CLOSE_WRITE) < 0) {
		snprintf(err, errlen, "console watch: inotify on %s: %s", d,
			 strerror(errno));
		watch_close_fds(w);
		return -1;
	}
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc) {
		snprintf(err, errlen, "console watch: pthread_create: %s",
			 strerror(rc));
		watch_close_fds(w);
		return -1;
	}
	w->running = true;
	return 0;
}

int console_watch_ready_fd(const struct console_watch *w)
{
	return w->ready_fd;
}

void console_watch_marks(struct console_watch *w, struct console_marks *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->marks;
	pthread_mutex_unlock(&w->lock);
	/* Report relative to the caller's t0. */
	if (out->first_ns >= 0)
		out->first_ns -= w->t0_ns;
	if (out->init_ns >= 0)
		out->init_ns -= w->t0_ns;
	if (out->ready_ns >= 0)
		out->ready_ns -= w->t0_ns;
	if (out->panic_ns >= 0)
		out->panic_ns -= w->t0_ns;
}

void console_watch_stop(struct console_watch *w)
{
	uint64_t one = 1;

	if (!w->running)
		return;
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		pthread_cancel(w->thread); /* cannot happen with an eventfd */
	pthread_join(w->thread, NULL);
	w->running = false;
	watch_close_fds(w);
}
