/* SPDX-License-Identifier: MIT */
/*
 * virtio-vsock host side: the Unix socket listener, CONNECT handshakes and
 * guest-initiated connects (see vsock_uds.h).
 */
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vsock_uds.h"

/* Accepts per wakeup, so one busy listener cannot starve the loop. */
#define VSOCK_UDS_ACCEPT_BATCH 16
/* Out of file descriptors: stop accepting for this long. */
#define VSOCK_UDS_EMFILE_PAUSE_MS 100

struct vsock_uds_client {
	struct vsock_uds *u;
	int fd; /* -1: slot free */
	int timer_fd;
	char line[VSOCK_UDS_LINE_MAX];
	size_t len;
};

struct vsock_uds {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int pause_fd; /* timerfd that resumes accepting after EMFILE */
	struct evloop *loop;
	vsock_uds_connect_fn fn;
	void *opaque;
	unsigned int timeout_ms;
	unsigned int busy_logged;
	struct vsock_uds_client clients[VSOCK_UDS_MAX_PENDING];
};

int vsock_uds_parse_connect(const char *buf, size_t len, uint32_t *port,
			    size_t *consumed)
{
	static const char prefix[] = "CONNECT ";
	const size_t plen = sizeof(prefix) - 1;
	uint64_t v = 0;

	for (size_t i = 0; i < len && i < VSOCK_UDS_LINE_MAX; i++) {
		char ch = buf[i];

		if (i < plen) {
			if (ch != prefix[i])
				return -EINVAL;
			continue;
		}
		if (ch == '\n') {
			/* 0xffffffff is VMADDR_PORT_ANY, not a port. */
			if (i == plen || v >= UINT32_MAX)
				return -EINVAL;
			*port = (uint32_t)v;
			*consumed = i + 1;
			return 1;
		}
		if (ch < '0' || ch > '9' || i - plen >= 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(ch - '0');
	}
	return len >= VSOCK_UDS_LINE_MAX ? -EINVAL : 0;
}

static int sockaddr_for(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int vsock_uds_connect_port(const char *path, uint32_t port)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n, fd, err;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", path, port);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX connects complete (or fail) at once, even non-blocking. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void client_drop(struct vsock_uds_client *c)
{
	if (c->fd < 0)
		return;
	evloop_del(c->u->loop, c->fd);
	evloop_del(c->u->loop, c->timer_fd);
	close(c->fd);
	close(c->timer_fd);
	c->fd = c->timer_fd = -1;
	c->len = 0;
}

static void client_timer_event(void *opaque, uint32_t events)
{
	(void)events;
	/* Too slow with its CONNECT line: the client sees EOF. */
	client_drop(opaque);
}

static void client_event(void *opaque, uint32_t events)
{
	struct vsock_uds_client *c = opaque;
	struct vsock_uds *u = c->u;
	char peek[VSOCK_UDS_LINE_MAX];
	size_t want = sizeof(c->line) - c->len, take, consumed;
	uint32_t port;
	ssize_t n;
	int fd, rc;

	(void)events;
	if (c->fd < 0)
		return;
	/* Peek, then consume only up to the newline: bytes after it are
	 * payload for the guest and must stay in the socket. */
	n = recv(c->fd, peek, want, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_drop(c);
		return;
	}
	take = (size_t)n;
	for (size_t i = 0; i < (size_t)n; i++) {
		if (peek[i] == '\n') {
			take = i + 1;
			break;
		}
	}
	n = recv(c->fd, c->line + c->len, take, 0);
	if (n <= 0) {
		client_drop(c);
		return;
	}
	c->len += (size_t)n;
	rc = vsock_uds_parse_connect(c->line, c->len, &port, &consumed);
	if (rc < 0) {
		client_drop(c);
		return;
	}
	if (rc == 0)
		return;
	/* Hand the socket over: off the loop, timer gone, slot free. */
	fd = c->fd;
	evloop_del(u->loop, c->fd);
	evloop_del(u->loop, c->timer_fd);
	close(c->timer_fd);
	c->fd = c->timer_fd = -1;
	c->len = 0;
	u->fn(u->opaque, fd, port);
}

static int client_start(struct vsock_uds *u, struct vsock_uds_client *c, int fd)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = u->timeout_ms / 1000,
			     .tv_nsec = (long)(u->timeout_ms % 1000) * 1000000},
	};
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (tfd < 0)
		return -errno;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0 ||
	    evloop_add(u->loop, tfd, EPOLLIN, client_timer_event, c) < 0) {
		close(tfd);
		return -EIO;
	}
	if (evloop_add(u->loop, fd, EPOLLIN, client_event, c) < 0) {
		evloop_del(u->loop, tfd);
		close(tfd);
		return -EIO;
	}
	c->u = u;
	c->fd = fd;
	c->timer_fd = tfd;
	c->len = 0;
	return 0;
}

static void listen_pause(struct vsock_uds *u)
{
	struct itimerspec its = {
		.it_value = {.tv_nsec = VSOCK_UDS_EMFILE_PAUSE_MS * 1000000L},
	};

	/* A pending connection keeps the listener readable: stop watching
	 * it for a moment instead of spinning on EMFILE. */
	if (evloop_mod(u->loop, u->listen_fd, 0) == 0)
		timerfd_settime(u->pause_fd, 0, &its, NULL);
}

static void listen_resume_event(void *opaque, uint32_t events)
{
	struct vsock_uds *u = opaque;
	uint64_t expirations;

	(void)events;
	if (read(u->pause_fd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: nothing expired; the listener is re-armed anyway */
	}
	evloop_mod(u->loop, u->listen_fd, EPOLLIN);
}

static struct vsock_uds_client *client_slot(struct vsock_uds *u)
{
	for (int i = 0; i < VSOCK_UDS_MAX_PENDING; i++) {
		if (u->clients[i].fd < 0)
			return &u->clients[i];
	}
	return NULL;
}

static void listen_event(void *opaque, uint32_t events)
{
	struct vsock_uds *u = opaque;

	(void)events;
	for (int i = 0; i < VSOCK_UDS_ACCEPT_BATCH; i++) {
		struct vsock_uds_client *c;
		int fd = accept4(u->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				fprintf(stderr,
					"kiln-vmm: vsock: accept on %s: %s; "
					"pausing new connections\n",
					u->path, strerror(errno));
				listen_pause(u);
			}
			return; /* EAGAIN: all accepted */
		}
		c = client_slot(u);
		if (!c) {
			if (u->busy_logged++ < 8)
				fprintf(stderr,
					"kiln-vmm: vsock: %d clients are "
					"already mid-handshake on %s; "
					"closing a new one\n",
					VSOCK_UDS_MAX_PENDING, u->path);
			close(fd);
			continue;
		}
		if (client_start(u, c, fd) < 0)
			close(fd);
	}
}

/* Remove a stale socket at path; refuse live sockets and other files. */
static int clear_stale_socket(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr,
			"kiln-vmm: vsock: %s exists and is not a socket; "
			"refusing to replace it (remove it or pick another "
			"--vsock-uds path)\n",
			path);
		return -EEXIST;
	}
	sockaddr_for(&sa, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
	close(fd);
	if (err == 0 || err == EAGAIN) {
		fprintf(stderr,
			"kiln-vmm: vsock: %s is in use by a running process "
			"(another VMM?); pick another --vsock-uds path\n",
			path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int check_parent_dir(const char *path)
{
	char copy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	const char *dir;

	strcpy(copy, path); /* the caller checked the length */
	dir = dirname(copy);
	if (stat(dir, &st) < 0) {
		int err = -errno;

		fprintf(stderr,
			"kiln-vmm: vsock: directory %s of the vsock socket: "
			"%s (create it first)\n",
			dir, strerror(errno));
		return err;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "kiln-vmm: vsock: %s is not a directory\n",
			dir);
		return -ENOTDIR;
	}
	return 0;
}

int vsock_uds_open(struct vsock_uds **out, const char *path,
		   struct evloop *loop, vsock_uds_connect_fn fn, void *opaque)
{
	struct sockaddr_un sa;
	struct vsock_uds *u;
	int err;

	if (!path || !*path || sockaddr_for(&sa, path) < 0) {
		fprintf(stderr,
			"kiln-vmm: vsock: socket path \"%s\" is %s (a Unix "
			"socket path holds at most %zu bytes); use a shorter "
			"--vsock-uds path\n",
			path ? path : "", path && *path ? "too long" : "empty",
			sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	err = check_parent_dir(path);
	if (err)
		return err;
	err = clear_stale_socket(path);
	if (err) {
		if (err != -EEXIST && err != -EADDRINUSE)
			fprintf(stderr,
				"kiln-vmm: vsock: cannot replace stale "
				"socket %s: %s\n",
				path, strerror(-err));
		return err;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	strcpy(u->path, path);
	u->loop = loop;
	u->fn = fn;
	u->opaque = opaque;
	u->timeout_ms = VSOCK_UDS_HANDSHAKE_MS;
	u->listen_fd = u->pause_fd = -1;
	for (int i = 0; i < VSOCK_UDS_MAX_PENDING; i++) {
		u->clients[i].u = u;
		u->clients[i].fd = u->clients[i].timer_fd = -1;
	}
	u->listen_fd =
		socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	u->pause_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (u->listen_fd < 0 || u->pause_fd < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: vsock: socket: %s\n",
			strerror(errno));
		goto fail;
	}
	if (bind(u->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(u->listen_fd, 128) < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: vsock: cannot listen on %s: %s\n",
			path, strerror(errno));
		unlink(path);
		goto fail;
	}
	err = evloop_add(loop, u->listen_fd, EPOLLIN, listen_event, u);
	if (!err)
		err = evloop_add(loop, u->pause_fd, EPOLLIN,
				 listen_resume_event, u);
	if (err) {
		fprintf(stderr, "kiln-vmm: vsock: event loop: %s\n",
			strerror(-err));
		evloop_del(loop, u->listen_fd);
		unlink(path);
		goto fail;
	}
	*out = u;
	return 0;
fail:
	if (u->listen_fd >= 0)
		close(u->listen_fd);
	if (u->pause_fd >= 0)
		close(u->pause_fd);
	free(u);
	return err;
}

void vsock_uds_close(struct vsock_uds *u)
{
	if (!u)
		return;
	for (int i = 0; i < VSOCK_UDS_MAX_PENDING; i++)
		client_drop(&u->clients[i]);
	evloop_del(u->loop, u->listen_fd);
	evloop_del(u->loop, u->pause_fd);
	close(u->listen_fd);
	close(u->pause_fd);
	unlink(u->path);
	free(u);
}

void vsock_uds_set_timeout(struct vsock_uds *u, unsigned int ms)
{
	u->timeout_ms = ms ? ms : 1;
}
