/* SPDX-License-Identifier: MIT */
/*
 * Runtime directories.  Created with mkdir(0700) and checked with lstat so
 * a symlink or a directory planted by another user is refused instead of
 * followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/jail.h"
#include "lib/rundir.h"

/* Entries we expect in a sandbox directory; a bound on the cleanup loop. */
#define RUNDIR_MAX_ENTRIES 4096

int rundir_new_id(char id[RUNDIR_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[RUNDIR_ID_LEN / 2];
	ssize_t n;

	do
		n = getrandom(rnd, sizeof(rnd), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rnd))
		return KILN_ESYS;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		id[2 * i] = hex[rnd[i] >> 4];
		id[2 * i + 1] = hex[rnd[i] & 15];
	}
	id[RUNDIR_ID_LEN] = '\0';
	return 0;
}

/* mkdir -p with mode 0700 for what we create; existing parents are kept. */
static int mkdir_parents(char *path, char *err, size_t errlen)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s",
				 path, strerror(errno));
			*p = '/';
			return KILN_ESYS;
		}
		*p = '/';
	}
	return 0;
}

static int base_prepare(const char *base, char *err, size_t errlen)
{
	struct stat st;
	char *tmp;
	int rc;

	tmp = strdup(base);
	if (!tmp)
		return KILN_ENOMEM;
	rc = mkdir_parents(tmp, err, errlen);
	free(tmp);
	if (rc)
		return rc;
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create runtime directory %s: %s",
			 base, strerror(errno));
		return KILN_ESYS;
	}
	if (lstat(base, &st) < 0) {
		snprintf(err, errlen, "cannot stat runtime directory %s: %s",
			 base, strerror(errno));
		return KILN_ESYS;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(
			err, errlen,
			"runtime directory %s is not a directory (a symlink?); "
			"remove it or set KILN_RUNTIME_DIR",
			base);
		return KILN_ESYS;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen,
			 "runtime directory %s is not private (owner %u, mode "
			 "%03o); it must be owned by uid %u and not writable "
			 "by others",
			 base, (unsigned int)st.st_uid,
			 (unsigned int)(st.st_mode & 0777),
			 (unsigned int)geteuid());
		return KILN_ESYS;
	}
	return 0;
}

int rundir_create(const char *base, const char *id, char **out, char *err,
		  size_t errlen)
{
	char *dir;
	int rc;

	*out = NULL;
	rc = base_prepare(base, err, errlen);
	if (rc)
		return rc;
	if (asprintf(&dir, "%s/%s", base, id) < 0)
		return KILN_ENOMEM;
	if (mkdir(dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create sandbox directory %s: %s",
			 dir, strerror(errno));
		free(dir);
		return KILN_ESYS;
	}
	*out = dir;
	return 0;
}

int rundir_remove(const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	int dfd, n = 0, rc = 0;
	DIR *d;

	/* a jailed VMM's root, writable directory and cgroup go first */
	jail_rundir_cleanup(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot open %s for cleanup: %s", dir,
			 strerror(errno));
		return KILN_ESYS;
	}
	d = fdopendir(dfd);
	if (!d) {
		snprintf(err, errlen, "cannot read %s for cleanup: %s", dir,
			 strerror(errno));
		close(dfd);
		return KILN_ESYS;
	}
	while ((de = readdir(d)) != NULL && n++ < RUNDIR_MAX_ENTRIES) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT &&
		    !rc) {
			snprintf(err, errlen, "cannot remove %s/%s: %s", dir,
				 de->d_name, strerror(errno));
			rc = KILN_ESYS;
		}
	}
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT && !rc) {
		snprintf(err, errlen, "cannot remove %s: %s", dir,
			 strerror(errno));
		rc = KILN_ESYS;
	}
	return rc;
}
