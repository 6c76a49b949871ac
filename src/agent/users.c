/* SPDX-License-Identifier: MIT */
/*
 * /etc/passwd and /etc/group lookups (see users.h).  Lines are
 * "name:x:uid:gid:gecos:home:shell" and "name:x:gid:member,member";
 * malformed lines are skipped, as the C library does.
 */
#include "agent/users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *passwd_path = USERS_PASSWD;
static const char *group_path = USERS_GROUP;

void users_set_files(const char *passwd, const char *group)
{
	passwd_path = passwd ? passwd : USERS_PASSWD;
	group_path = group ? group : USERS_GROUP;
}

const char *users_passwd_path(void)
{
	return passwd_path;
}

/* Split line at ':' into at most max fields; returns the count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	while (n < max) {
		f[n++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = 0;
	}
	return n;
}

/* A decimal id that fits in 32 bits, not (uid_t)-1. */
static bool parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out < 0xffffffffUL;
}

/*
 * Read file line by line; fn gets each complete line (newline removed)
 * and returns true to stop.  Over-long lines are skipped.  0 or -errno.
 */
static int for_each_line(const char *path, bool (*fn)(char *line, void *ctx),
			 void *ctx)
{
	char *line;
	FILE *f = fopen(path, "re");
	int rc = 0;

	if (!f)
		return -errno;
	line = malloc(USERS_MAX_LINE + 2);
	if (!line) {
		fclose(f);
		return -ENOMEM;
	}
	/* Bounded by the file's length: every pass consumes input. */
	while (fgets(line, USERS_MAX_LINE + 2, f)) {
		size_t len = strlen(line);

		if (len && line[len - 1] == '\n') {
			line[len - 1] = 0;
		} else if (!feof(f)) {
			int ch;

			while ((ch = fgetc(f)) != EOF && ch != '\n')
				; /* skip the rest of an over-long line */
			continue;
		}
		if (fn(line, ctx))
			break;
	}
	if (ferror(f))
		rc = -EIO;
	free(line);
	fclose(f);
	return rc;
}

struct pw_find {
	const char *name;
	uid_t uid;
	bool by_name;
	struct user_ids *out;
};

static bool pw_match(char *line, void *ctx)
{
	struct pw_find *q = ctx;
	unsigned long uid, gid;
	char *f[7];

	if (split_fields(line, f, 7) != 7 || !f[0][0] ||
	    !parse_id(f[2], &uid) || !parse_id(f[3], &gid))
		return false;
	if (q->by_name ? strcmp(f[0], q->name) != 0 : uid != q->uid)
		return false;
	if (strlen(f[0]) >= sizeof(q->out->name) ||
	    strlen(f[5]) >= sizeof(q->out->home))
		return false;
	q->out->uid = (uid_t)uid;
	q->out->gid = (gid_t)gid;
	strcpy(q->out->name, f[0]);
	strcpy(q->out->home, f[5][0] ? f[5] : "/");
	q->out->known = true;
	return true;
}

static void add_group(struct user_ids *u, gid_t g)
{
	for (size_t i = 0; i < u->ngroups; i++)
		if (u->groups[i] == g)
			return;
	if (u->ngroups < USERS_MAX_GROUPS)
		u->groups[u->ngroups++] = g;
}

static bool gr_match(char *line, void *ctx)
{
	struct user_ids *u = ctx;
	unsigned long gid;
	char *f[4], *m, *save = NULL;

	if (split_fields(line, f, 4) != 4 || !parse_id(f[2], &gid))
		return false;
	for (m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
		if (strcmp(m, u->name) == 0) {
			add_group(u, (gid_t)gid);
			break;
		}
	return false;
}

int users_lookup(const char *name, uid_t uid, bool by_name,
		 struct user_ids *out)
{
	struct pw_find q = {.name = name, .uid = uid, .by_name = by_name};
	int rc;

	memset(out, 0, sizeof(*out));
	q.out = out;
	rc = for_each_line(passwd_path, pw_match, &q);
	if (rc < 0)
		return rc;
	if (!out->known)
		return -ENOENT;
	out->groups[out->ngroups++] = out->gid;
	/* A missing group file only means no supplementary groups. */
	rc = for_each_line(group_path, gr_match, out);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	return 0;
}

int users_from_ids(uid_t uid, gid_t gid, struct user_ids *out)
{
	int rc = users_lookup(NULL, uid, false, out);

	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (rc == -ENOENT) {
		memset(out, 0, sizeof(*out));
		strcpy(out->home, "/");
	}
	out->uid = uid;
	out->gid = gid;
	out->groups[0] = gid;
	out->ngroups = 1;
	return 0;
}
