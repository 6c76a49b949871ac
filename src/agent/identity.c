/* SPDX-License-Identifier: MIT */
/*
 * The identity op (see identity.h, docs/PROTOCOL.md).  The control frame
 * announces entropy_bytes; the entropy itself follows as one stdin frame
 * with the same id (data is never encoded in JSON), and only then is the
 * request carried out, all of it at once.
 */
#include "agent/identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/random.h>

#include "agent/init.h"
#include "agent/log.h"

#define IDENTITY_E_FAILED "identity_failed"

struct identity_pending {
	uint32_t id;
	struct identity_req req;
};

/* ---- the real system actions -------------------------------------------- */

static int sys_add_entropy(const void *buf, size_t len, int bits)
{
	/* struct rand_pool_info: two ints, then the bytes. */
	int pool[2 + IDENTITY_MAX_ENTROPY / sizeof(int)];
	int fd, rc = 0;

	if (len > IDENTITY_MAX_ENTROPY)
		return -EINVAL;
	pool[0] = bits; /* entropy_count */
	pool[1] = (int)len; /* buf_size */
	memcpy(&pool[2], buf, len);
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		rc = -errno;
	else if (ioctl(fd, RNDADDENTROPY, pool) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	explicit_bzero(pool, sizeof(pool));
	return rc;
}

static int sys_reseed(void)
{
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int sys_set_clock(const struct timespec *ts)
{
	return clock_settime(CLOCK_REALTIME, ts) < 0 ? -errno : 0;
}

static int sys_set_hostname(const char *name)
{
	return sethostname(name, strlen(name)) < 0 ? -errno : 0;
}

static const struct identity_sys identity_sys_real = {
	.add_entropy = sys_add_entropy,
	.reseed = sys_reseed,
	.set_clock = sys_set_clock,
	.set_hostname = sys_set_hostname,
};

static const struct identity_sys *sys = &identity_sys_real;

void identity_set_sys(const struct identity_sys *s)
{
	sys = s ? s : &identity_sys_real;
}

/* ---- parsing ------------------------------------------------------------ */

static bool sandbox_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > IDENTITY_MAX_ID)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

int identity_parse(json_t *obj, struct identity_req *req, char *err,
		   size_t errlen)
{
	json_t *op, *host = NULL, *sid = NULL, *t = NULL, *ent = NULL;

	memset(req, 0, sizeof(*req));
	if (proto_unpack(obj, err, errlen, "identity", "{s:o,s?o,s?o,s?o,s?o}",
			 "op", &op, "hostname", &host, "sandbox_id", &sid,
			 "time_ns", &t, "entropy_bytes", &ent) < 0)
		return -1;
	if (host) {
		if (!json_is_string(host) ||
		    !init_hostname_valid(json_string_value(host))) {
			snprintf(err, errlen,
				 "identity: \"hostname\" must be 1..64 "
				 "letters, digits, '-' and '.', not starting "
				 "with '-' or '.'");
			return -1;
		}
		req->has_hostname = true;
		strcpy(req->hostname, json_string_value(host));
	}
	if (sid) {
		if (!json_is_string(sid) ||
		    !sandbox_id_valid(json_string_value(sid))) {
			snprintf(err, errlen,
				 "identity: \"sandbox_id\" must be 1..%d "
				 "letters, digits, '_', '.' and '-'",
				 IDENTITY_MAX_ID);
			return -1;
		}
		req->has_sandbox_id = true;
		strcpy(req->sandbox_id, json_string_value(sid));
	}
	if (t) {
		if (!json_is_integer(t) || json_integer_value(t) <= 0) {
			snprintf(err, errlen,
				 "identity: \"time_ns\" must be a positive "
				 "integer (ns since 1970, CLOCK_REALTIME)");
			return -1;
		}
		req->has_time = true;
		req->time_ns = json_integer_value(t);
	}
	if (ent) {
		if (!json_is_integer(ent) || json_integer_value(ent) < 0 ||
		    json_integer_value(ent) > IDENTITY_MAX_ENTROPY) {
			snprintf(err, errlen,
				 "identity: \"entropy_bytes\" must be an "
				 "integer in 0..%d",
				 IDENTITY_MAX_ENTROPY);
			return -1;
		}
		req->entropy_bytes = (uint32_t)json_integer_value(ent);
	}
	return 0;
}

/* ---- carrying it out ---------------------------------------------------- */

/* Append "what: strerror" to the failure list msg. */
static void note_failure(char *msg, size_t len, const char *what, int rc)
{
	size_t off = strlen(msg);

	snprintf(msg + off, len - off, "%s%s: %s", off ? "; " : "", what,
		 strerror(-rc));
}

static void identity_apply(struct conn *c, uint32_t id,
			   const struct identity_req *req,
			   const uint8_t *entropy)
{
	bool credited = false, reseeded = false, clock_set = false,
	     host_set = false;
	char failed[512] = "";
	json_t *rep;
	int rc;

	if (req->entropy_bytes) {
		rc = sys->add_entropy(entropy, req->entropy_bytes,
				      (int)req->entropy_bytes * 8);
		if (rc < 0)
			note_failure(failed, sizeof(failed),
				     "RNDADDENTROPY on /dev/urandom", rc);
		credited = rc == 0;
		/* Make the new entropy count now, not at the next reseed. */
		rc = sys->reseed();
		if (rc < 0)
			note_failure(failed, sizeof(failed),
				     "RNDRESEEDCRNG on /dev/urandom", rc);
		reseeded = rc == 0;
	}
	if (req->has_time) {
		struct timespec ts = {
			.tv_sec = (time_t)(req->time_ns / 1000000000),
			.tv_nsec = (long)(req->time_ns % 1000000000)};

		rc = sys->set_clock(&ts);
		if (rc < 0)
			note_failure(failed, sizeof(failed),
				     "clock_settime(CLOCK_REALTIME)", rc);
		clock_set = rc == 0;
	}
	if (req->has_hostname) {
		rc = sys->set_hostname(req->hostname);
		if (rc < 0)
			note_failure(failed, sizeof(failed), "sethostname", rc);
		host_set = rc == 0;
	}
	if (req->has_sandbox_id)
		strcpy(c->ag->sandbox_id, req->sandbox_id);
	log_debug("identity: entropy %u bytes%s%s, clock %s, hostname %s, "
		  "sandbox id %s",
		  req->entropy_bytes, credited ? " credited" : "",
		  reseeded ? " reseeded" : "", clock_set ? "set" : "-",
		  host_set ? req->hostname : "-",
		  req->has_sandbox_id ? req->sandbox_id : "-");
	rep = json_pack("{s:i,s:i,s:b,s:b,s:b,s:b,s:b}", "entropy_bytes",
			(int)req->entropy_bytes, "entropy_credited_bits",
			credited ? (int)req->entropy_bytes * 8 : 0,
			"crng_reseeded", reseeded, "clock_set", clock_set,
			"hostname_set", host_set, "sandbox_id_set",
			req->has_sandbox_id, "failed", failed[0] != 0);
	if (!failed[0]) {
		conn_send_result(c, id, rep);
		return;
	}
	/* Everything was tried; the error says what did not work. */
	if (rep) {
		char msg[640];

		snprintf(msg, sizeof(msg),
			 "identity: %s (the agent must run as root in the "
			 "guest)",
			 failed);
		json_object_set_new(rep, "type", json_string("error"));
		json_object_set_new(rep, "code",
				    json_string(IDENTITY_E_FAILED));
		json_object_set_new(rep, "message", json_string(msg));
	}
	conn_send_json(c, id, rep);
}

void identity_op(struct conn *c, uint32_t id, json_t *obj)
{
	struct identity_pending *pend;
	struct identity_req req;
	char err[256];

	if (identity_busy_id(c, id) || c->identity) {
		conn_send_error(c, id, PROTO_E_BUSY,
				"identity: request %u on this connection is "
				"still waiting for its entropy frame",
				c->identity->id);
		return;
	}
	if (identity_parse(obj, &req, err, sizeof(err)) < 0) {
		conn_send_error(c, id, PROTO_E_INVALID, "%s", err);
		return;
	}
	if (req.entropy_bytes == 0) {
		identity_apply(c, id, &req, NULL);
		return;
	}
	pend = calloc(1, sizeof(*pend));
	if (!pend) {
		conn_send_error(c, id, PROTO_E_INTERNAL,
				"identity: out of memory");
		return;
	}
	pend->id = id;
	pend->req = req;
	c->identity = pend;
}

bool identity_busy_id(const struct conn *c, uint32_t id)
{
	return c->identity && c->identity->id == id;
}

bool identity_data(struct conn *c, uint32_t id, const uint8_t *buf, size_t len)
{
	struct identity_pending *pend = c->identity;

	if (!pend || pend->id != id)
		return false;
	c->identity = NULL;
	if (len != pend->req.entropy_bytes)
		conn_send_error(c, id, PROTO_E_INVALID,
				"identity: the entropy frame has %zu bytes, "
				"the request announced %u",
				len, pend->req.entropy_bytes);
	else
		identity_apply(c, id, &pend->req, buf);
	free(pend);
	return true;
}

bool identity_eof(struct conn *c, uint32_t id)
{
	if (!identity_busy_id(c, id))
		return false;
	conn_send_error(c, id, PROTO_E_INVALID,
			"identity: stdin ended before the %u bytes of entropy "
			"announced by \"entropy_bytes\"",
			c->identity->req.entropy_bytes);
	identity_conn_close(c);
	return true;
}

void identity_conn_close(struct conn *c)
{
	free(c->identity);
	c->identity = NULL;
}
