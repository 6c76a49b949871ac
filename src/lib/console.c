/* SPDX-License-Identifier: MIT */
/*
 * Console log tails.  Lines end in "\n" or "\r\n" (the kernel's serial
 * console), or "\r" (progress bars); all count as line ends here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/console.h"

static int is_eol(char c)
{
	return c == '\n' || c == '\r';
}

/* Copy one line, replacing anything but printable ASCII. */
static size_t line_sanitize(const char *in, size_t len, char *out, size_t outsz)
{
	size_t n = len > CONSOLE_LINE_MAX ? CONSOLE_LINE_MAX : len;
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];

		out[o++] = c == '\t' ? ' ' : (c < 0x20 || c > 0x7e) ? '?' : c;
	}
	if (len > n && o + 4 < outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return o;
}

unsigned int console_tail_lines(const char *buf, size_t len, int partial,
				unsigned int n, const char *prefix, char *out,
				size_t outsz)
{
	size_t start = 0, end = len, pos, plen = strlen(prefix), o = 0;
	unsigned int found = 0, written = 0;
	char line[CONSOLE_LINE_MAX + 8];

	if (outsz == 0)
		return 0;
	out[0] = '\0';
	if (partial) {
		/* the window may start mid-line: skip to the first line end */
		while (start < len && !is_eol(buf[start]))
			start++;
	}
	/* walk back over n non-empty lines */
	pos = end;
	while (pos > start && found < n) {
		size_t e = pos;

		while (e > start && is_eol(buf[e - 1]))
			e--;
		if (e == start)
			break;
		pos = e;
		while (pos > start && !is_eol(buf[pos - 1]))
			pos--;
		found++;
	}
	/* and forward again, writing them out */
	while (pos < end && written < found) {
		size_t e = pos, l;

		while (e < end && !is_eol(buf[e]))
			e++;
		if (e > pos) {
			l = line_sanitize(buf + pos, e - pos, line,
					  sizeof(line));
			if (o + plen + l + 2 > outsz)
				break;
			memcpy(out + o, prefix, plen);
			memcpy(out + o + plen, line, l);
			o += plen + l;
			out[o++] = '\n';
			out[o] = '\0';
			written++;
		}
		pos = e;
		while (pos < end && is_eol(buf[pos]))
			pos++;
	}
	return written;
}

int console_read_tail(const char *path, char *buf, size_t bufsz, size_t *len,
		      int *partial)
{
	struct stat st;
	off_t off = 0;
	size_t got = 0;
	int fd;

	*len = 0;
	*partial = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > bufsz) {
		off = st.st_size - (off_t)bufsz;
		*partial = 1;
	}
	while (got < bufsz) {
		ssize_t n = pread(fd, buf + got, bufsz - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

unsigned int console_file_tail(const char *path, unsigned int n,
			       const char *prefix, char *out, size_t outsz)
{
	char buf[CONSOLE_TAIL_BYTES];
	size_t len;
	int partial;

	if (outsz)
		out[0] = '\0';
	if (console_read_tail(path, buf, sizeof(buf), &len, &partial) < 0)
		return 0;
	return console_tail_lines(buf, len, partial, n, prefix, out, outsz);
}
