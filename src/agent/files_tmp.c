/* SPDX-License-Identifier: MIT */
/*
 * Temporary files next to a target (see files_tmp.h).  The random part
 * comes from getrandom() so that names cannot be predicted by guest
 * processes racing the agent; O_EXCL (and symlinkat's own EEXIST) make a
 * name that exists anyway just another try.
 */
#include "agent/files_tmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Tries before giving up on EEXIST (each name has 62^6 choices). */
#define TMP_TRIES 64

void files_tmp_template(const char *name, char *out)
{
	size_t room =
		NAME_MAX - 1 - strlen(FILES_TMP_SUFFIX) - FILES_TMP_RANDOM;
	size_t len = strlen(name);

	if (len > room)
		len = room;
	snprintf(out, NAME_MAX + 1, ".%.*s%sXXXXXX", (int)len, name,
		 FILES_TMP_SUFFIX);
}

/* Replace the trailing XXXXXX of tmp with random characters. */
static void tmp_fill(char *tmp)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static unsigned int counter;
	unsigned char r[FILES_TMP_RANDOM];
	char *x = tmp + strlen(tmp) - FILES_TMP_RANDOM;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* no entropy yet (early boot): unique is enough, O_EXCL */
		unsigned int v = (unsigned int)getpid() * 2654435761u +
				 ++counter * 40503u;

		for (size_t i = 0; i < sizeof(r); i++, v /= 7)
			r[i] = (unsigned char)v;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		x[i] = set[r[i] % (sizeof(set) - 1)];
}

int files_tmp_openat(int dfd, const char *name, char *tmp)
{
	files_tmp_template(name, tmp);
	for (int i = 0; i < TMP_TRIES; i++) {
		int fd;

		tmp_fill(tmp);
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int files_tmp_symlinkat(const char *target, int dfd, const char *name,
			char *tmp)
{
	files_tmp_template(name, tmp);
	for (int i = 0; i < TMP_TRIES; i++) {
		tmp_fill(tmp);
		if (symlinkat(target, dfd, tmp) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}
