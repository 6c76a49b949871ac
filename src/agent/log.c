/* SPDX-License-Identifier: MIT */
/* Agent logging; see log.h. */
#include "agent/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_fd = 2;
static bool log_debug_on;

static void log_vmsg(const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;
	ssize_t w;

	n = snprintf(line, sizeof(line), "kiln-agent: ");
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* truncated: still end the line */
	line[n++] = '\n';
	/* Bounded: a console write either progresses or fails. */
	for (int off = 0, tries = 0; off < n && tries < 16; tries++) {
		w = write(log_fd, line + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (int)w;
	}
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_debug_on)
		return;
	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void log_set_debug(bool on)
{
	log_debug_on = on;
}

bool log_use_console(void)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return true;
}
