/* SPDX-License-Identifier: MIT */
/*
 * Who owns what a file op creates (write_file, mkdir, upload): "user", a
 * name or uid looked up in the guest's /etc/passwd (its uid and primary
 * gid), or "uid" and "gid" as given; without them the agent's user
 * (root).  See docs/PROTOCOL.md, "Files".
 */
#include "agent/files.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "agent/users.h"

static int want_id(json_t *v, const char *op, const char *field, uint32_t *out,
		   char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 4294967294LL) {
		snprintf(err, errlen,
			 "%s: \"%s\" must be an integer in 0..4294967294", op,
			 field);
		return -1;
	}
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

int files_want_owner(struct conn *c, uint32_t id, const char *op, json_t *juser,
		     json_t *juid, json_t *jgid, struct files_owner *o)
{
	const char *name = json_string_value(juser);
	struct user_ids ids;
	uint32_t u, g;
	char err[256];
	int rc;

	*o = (struct files_owner){0};
	if (!juid != !jgid || (juser && juid)) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"%s: \"uid\" and \"gid\" go together, and not "
				"with \"user\"",
				op);
		return -1;
	}
	if (juid) {
		if (want_id(juid, op, "uid", &u, err, sizeof(err)) < 0 ||
		    want_id(jgid, op, "gid", &g, err, sizeof(err)) < 0) {
			conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
			return -1;
		}
		o->uid = u;
		o->gid = g;
		o->set = true;
		return 0;
	}
	if (!juser)
		return 0;
	if ((!name || !name[0]) &&
	    (!json_is_integer(juser) || json_integer_value(juser) < 0 ||
	     json_integer_value(juser) > 4294967294LL)) {
		conn_send_error(c, id, PROTO_E_INVALID,
				"%s: \"user\" must be a user name or a uid "
				"(integer in 0..4294967294)",
				op);
		return -1;
	}
	rc = users_lookup(name, name ? 0 : (uid_t)json_integer_value(juser),
			  name != NULL, &ids);
	if (rc == -ENOENT) {
		if (name)
			conn_send_error(c, id, PROTO_E_NO_USER,
					"%s: no user \"%.200s\" in %s", op,
					name, users_passwd_path());
		else
			conn_send_error(c, id, PROTO_E_NO_USER,
					"%s: no user with uid %lld in %s", op,
					(long long)json_integer_value(juser),
					users_passwd_path());
		return -1;
	}
	if (rc < 0) {
		files_send_errno(c, id, op, users_passwd_path(), -rc);
		return -1;
	}
	o->uid = ids.uid;
	o->gid = ids.gid;
	o->set = true;
	return 0;
}

int files_chown_new(const char *path, const struct files_owner *o)
{
	/* lchown: a symlink swapped in meanwhile is not followed */
	if (o && o->set && lchown(path, o->uid, o->gid) < 0)
		return -errno;
	return 0;
}
