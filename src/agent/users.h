/* SPDX-License-Identifier: MIT */
/*
 * Who a command runs as: /etc/passwd and /etc/group of the guest, parsed
 * here without NSS (the agent is a static binary and the image has no
 * nsswitch).  Pure file parsing; the file paths can be pointed elsewhere
 * by tests.
 */
#ifndef KILN_AGENT_USERS_H
#define KILN_AGENT_USERS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define USERS_PASSWD "/etc/passwd"
#define USERS_GROUP "/etc/group"
/* Supplementary groups handed to setgroups() at most. */
#define USERS_MAX_GROUPS 64
/* Lines longer than this in passwd/group are skipped (never truncated). */
#define USERS_MAX_LINE 4096

struct user_ids {
	uid_t uid;
	gid_t gid;
	gid_t groups[USERS_MAX_GROUPS]; /* supplementary, gid included */
	size_t ngroups;
	bool known; /* found in passwd: name and home are set */
	char name[256];
	char home[PATH_MAX];
};

/* Use other files than /etc/passwd and /etc/group (tests); NULL: default. */
void users_set_files(const char *passwd, const char *group);

/*
 * Look a user up by name (by_name) or by uid in passwd, then its
 * supplementary groups in group.  Returns 0, -ENOENT if there is no such
 * user, or another -errno if passwd cannot be read.
 */
int users_lookup(const char *name, uid_t uid, bool by_name,
		 struct user_ids *out);

/*
 * Explicit ids (exec "uid"/"gid"): the passwd entry of uid, if any, gives
 * the name and home; the groups are gid only.  Returns 0 or -errno (a
 * missing passwd entry is fine).
 */
int users_from_ids(uid_t uid, gid_t gid, struct user_ids *out);

/* The passwd file in use, for messages. */
const char *users_passwd_path(void);

#endif
