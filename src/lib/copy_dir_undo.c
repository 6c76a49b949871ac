/* SPDX-License-Identifier: MIT */
/*
 * Taking back a failed tree extraction (see copy_dir_undo.h).  Noted
 * paths go in a list (removal order) and a hash set (so that members
 * below a noted directory, the common case, cost one lookup per path
 * component and no memory).
 */
#include "lib/copy_dir_undo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Deepest tree the removal descends (the agent's download limit too). */
#define UNDO_MAX_DEPTH 128

struct copy_undo {
	char *root;
	bool root_created;
	char **list; /* noted paths, in order */
	size_t n, cap;
	char **set; /* open addressing, nslots a power of 2 */
	size_t nslots;
};

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static bool set_has(const struct copy_undo *u, const char *s, size_t len)
{
	if (!u->nslots)
		return false;
	/* Bounded: the table is never more than half full. */
	for (size_t i = hash(s, len) & (u->nslots - 1);;
	     i = (i + 1) & (u->nslots - 1)) {
		const char *e = u->set[i];

		if (!e)
			return false;
		if (strlen(e) == len && !memcmp(e, s, len))
			return true;
	}
}

static void set_put(char **set, size_t nslots, char *s)
{
	size_t i = hash(s, strlen(s)) & (nslots - 1);

	while (set[i])
		i = (i + 1) & (nslots - 1);
	set[i] = s;
}

static int add(struct copy_undo *u, const char *s, size_t len)
{
	char *copy;

	if (u->n + 1 > u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 64;
		char **l = realloc(u->list, cap * sizeof(*l));

		if (!l)
			return -1;
		u->list = l;
		u->cap = cap;
	}
	if (2 * (u->n + 1) > u->nslots) {
		size_t nslots = u->nslots ? 2 * u->nslots : 128;
		char **set = calloc(nslots, sizeof(*set));

		if (!set)
			return -1;
		for (size_t i = 0; i < u->n; i++)
			set_put(set, nslots, u->list[i]);
		free(u->set);
		u->set = set;
		u->nslots = nslots;
	}
	copy = strndup(s, len);
	if (!copy)
		return -1;
	u->list[u->n++] = copy;
	set_put(u->set, u->nslots, copy);
	return 0;
}

struct copy_undo *copy_undo_new(const char *root, bool root_created)
{
	struct copy_undo *u = calloc(1, sizeof(*u));

	if (u)
		u->root = strdup(root);
	if (!u || !u->root) {
		free(u);
		return NULL;
	}
	u->root_created = root_created;
	return u;
}

int copy_undo_note(struct copy_undo *u, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;
	size_t end = 0;

	if (u->root_created)
		return 0; /* everything goes with the root */
	/* Bounded by the path: one step per component. */
	while (rel[end]) {
		size_t len;

		while (rel[end] == '/')
			end++;
		if (!rel[end])
			break;
		end += strcspn(rel + end, "/");
		len = end;
		while (len > 0 && rel[len - 1] == '/')
			len--;
		if (set_has(u, rel, len))
			return 0; /* below something this copy created */
		if ((size_t)snprintf(path, sizeof(path), "%s/%.*s", u->root,
				     (int)len, rel) >= sizeof(path))
			return 0; /* extraction fails on it anyway */
		if (lstat(path, &st) == 0)
			continue; /* there before: never ours */
		return errno == ENOENT ? add(u, rel, len) : 0;
	}
	return 0;
}

/* Remove dirfd/name and all below it, never following a symlink. */
static void remove_tree_at(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlinkat(dirfd, name, 0);
		return;
	}
	if (depth >= UNDO_MAX_DEPTH)
		return;
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* the archive may have made it read-only; it is ours */
	fchmod(fd, 0700);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	/* Bounded by the directory; entries removed meanwhile are skipped. */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			remove_tree_at(fd, de->d_name, depth + 1);
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Remove rel below root: its parents are entered with O_NOFOLLOW. */
static void remove_rel(int rootfd, const char *rel)
{
	const char *last = strrchr(rel, '/');
	char dir[PATH_MAX];
	int dfd;

	if (!last) {
		remove_tree_at(rootfd, rel, 0);
		return;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(last - rel), rel);
	dfd = rootfd;
	/* Bounded by the path: one openat per component. */
	for (char *save = NULL, *c = strtok_r(dir, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		int nfd =
			openat(dfd, c,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		if (dfd != rootfd)
			close(dfd);
		if (nfd < 0)
			return; /* gone, or a symlink now: not followed */
		dfd = nfd;
	}
	remove_tree_at(dfd, last + 1, 0);
	if (dfd != rootfd)
		close(dfd);
}

void copy_undo_run(struct copy_undo *u)
{
	int rootfd;

	if (u->root_created) {
		remove_tree_at(AT_FDCWD, u->root, 0);
		return;
	}
	rootfd = open(u->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return;
	for (size_t i = u->n; i-- > 0;)
		remove_rel(rootfd, u->list[i]);
	close(rootfd);
}

void copy_undo_free(struct copy_undo *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->list[i]);
	free(u->list);
	free(u->set);
	free(u->root);
	free(u);
}
