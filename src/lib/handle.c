/* SPDX-License-Identifier: MIT */
/*
 * kiln_open()/kiln_close(): the composition root.  Options and the
 * environment are resolved once here; nothing else in the library looks at
 * the environment, so a handle behaves the same for its whole life.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"

#define BOOT_TIMEOUT_DEFAULT_MS (300u * 1000u)
#define BOOT_TIMEOUT_MAX_S 86400u

const char *kiln_strstatus(int status)
{
	switch (status) {
	case KILN_OK:
		return "ok";
	case KILN_EINVAL:
		return "invalid argument";
	case KILN_ENOTFOUND:
		return "not found";
	case KILN_EFORMAT:
		return "bad file format";
	case KILN_ENOMEM:
		return "out of memory";
	case KILN_ESYS:
		return "system error";
	case KILN_EKVM:
		return "KVM unavailable";
	case KILN_EVMM:
		return "VMM failed";
	case KILN_ETIMEOUT:
		return "timed out";
	case KILN_EGUEST:
		return "guest agent failed";
	case KILN_EEXEC:
		return "command could not be started";
	case KILN_ECANCELED:
		return "cancelled";
	case KILN_ESTATE:
		return "wrong state";
	case KILN_EVETO:
		return "refused by a hook";
	}
	return "unknown status";
}

void kiln_options_init(struct kiln_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->cancel_fd = -1;
	opts->log_level = KILN_LOG_WARN;
	opts->jail = 1;
}

int handle_fail_src(struct kiln *k, int status, const char *file,
		    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	free(k->errmsg);
	k->errmsg = msg;
	if (msg)
		handle_log_src(k, KILN_LOG_DEBUG, file, "error: %s", msg);
	return status;
}

void handle_fail_append(struct kiln *k, const char *fmt, ...)
{
	va_list ap;
	char *more, *joined;

	va_start(ap, fmt);
	if (vasprintf(&more, fmt, ap) < 0)
		more = NULL;
	va_end(ap);
	if (!more)
		return;
	if (asprintf(&joined, "%s%s", k->errmsg ? k->errmsg : "", more) < 0) {
		free(more);
		return;
	}
	free(more);
	free(k->errmsg);
	k->errmsg = joined;
}

static const char *const level_names[] = {
	[KILN_LOG_ERROR] = "error",
	[KILN_LOG_WARN] = "warn",
	[KILN_LOG_INFO] = "info",
	[KILN_LOG_DEBUG] = "debug",
};

const char *kiln_log_level_name(enum kiln_log_level level)
{
	if ((unsigned int)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "unknown";
	return level_names[level];
}

int kiln_log_level_parse(const char *name, enum kiln_log_level *out)
{
	if (!name)
		return KILN_EINVAL;
	if (!strcmp(name, "warning")) {
		*out = KILN_LOG_WARN;
		return KILN_OK;
	}
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]);
	     i++) {
		if (!strcmp(name, level_names[i])) {
			*out = (enum kiln_log_level)i;
			return KILN_OK;
		}
	}
	return KILN_EINVAL;
}

int kiln_log_format_parse(const char *name, enum kiln_log_format *out)
{
	if (!name)
		return KILN_EINVAL;
	if (!strcmp(name, "text"))
		*out = KILN_LOG_TEXT;
	else if (!strcmp(name, "json"))
		*out = KILN_LOG_JSON;
	else if (!strcmp(name, "none"))
		*out = KILN_LOG_SILENT;
	else
		return KILN_EINVAL;
	return KILN_OK;
}

/* Wall-clock time as 2026-12-07T01:22:39.123Z. */
static void log_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm) ||
	    !strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, len, "%lld", (long long)ts.tv_sec);
		return;
	}
	snprintf(buf, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
}

size_t kiln_log_format_line(enum kiln_log_format fmt, enum kiln_log_level level,
			    const char *tag, const char *msg, char *buf,
			    size_t len)
{
	size_t n = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!tag)
		tag = "kiln";
	if (!msg)
		msg = "";
	if (fmt == KILN_LOG_JSON) {
		char when[48];
		json_t *o;
		char *text;

		log_time(when, sizeof(when));
		o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "time", when,
			      "level", kiln_log_level_name(level), "tag", tag,
			      "msg", msg, "pid", (json_int_t)getpid());
		/* invalid UTF-8 in msg: jansson refuses it; keep the line */
		if (!o)
			o = json_pack("{s:s, s:s, s:s, s:s, s:I}", "time", when,
				      "level", kiln_log_level_name(level),
				      "tag", "log", "msg",
				      "(message not valid UTF-8)", "pid",
				      (json_int_t)getpid());
		text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
						 JSON_ENSURE_ASCII)
			 : NULL;
		json_decref(o);
		if (text) {
			n = (size_t)snprintf(buf, len, "%s\n", text);
			free(text);
		}
	} else {
		const char *lv = level == KILN_LOG_WARN
					 ? "warning"
					 : kiln_log_level_name(level);
		size_t i;

		n = (size_t)snprintf(buf, len, "kiln: %s: [%s] ", lv, tag);
		/* keep it one line per message (no escapes reach the tty) */
		for (i = 0; msg[i] && n + 2 < len; i++)
			buf[n++] =
				msg[i] == '\n' ? ' '
				: (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f
					? '?'
					: msg[i];
		if (n + 1 < len) {
			buf[n++] = '\n';
			buf[n] = '\0';
		}
	}
	if (n >= len) {
		/* cut: keep the newline so lines stay lines */
		n = len - 1;
		if (n)
			buf[n - 1] = '\n';
		buf[n] = '\0';
	}
	return n;
}

static void log_deliver(struct kiln *k, enum kiln_log_level level,
			const char *tag, const char *fmt, va_list ap)
{
	char buf[1024], line[2048];
	size_t n, off = 0;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (k->log) {
		k->log(k->log_ctx, level, tag, buf);
		return;
	}
	n = kiln_log_format_line(k->log_format, level, tag, buf, line,
				 sizeof(line));
	/* one write per line, so lines of concurrent writers do not mix */
	while (off < n) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static bool log_enabled(const struct kiln *k, enum kiln_log_level level)
{
	if (level > k->log_level)
		return false;
	return k->log || k->log_format != KILN_LOG_SILENT;
}

void handle_log_at(struct kiln *k, enum kiln_log_level level, const char *tag,
		   const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(k, level))
		return;
	va_start(ap, fmt);
	log_deliver(k, level, tag ? tag : "kiln", fmt, ap);
	va_end(ap);
}

void handle_log_tag(const char *file, char *tag, size_t len)
{
	const char *base = strrchr(file, '/');
	size_t n;

	base = base ? base + 1 : file;
	n = strcspn(base, "_.");
	if (!n) {
		base = "kiln";
		n = 4;
	}
	if (n >= len)
		n = len - 1;
	memcpy(tag, base, n);
	tag[n] = '\0';
}

void handle_log_src(struct kiln *k, enum kiln_log_level level, const char *file,
		    const char *fmt, ...)
{
	char tag[32];
	va_list ap;

	if (!log_enabled(k, level))
		return;
	handle_log_tag(file, tag, sizeof(tag));
	va_start(ap, fmt);
	log_deliver(k, level, tag, fmt, ap);
	va_end(ap);
}

bool handle_cancelled(const struct kiln *k)
{
	struct pollfd pfd = {.fd = k->cancel_fd, .events = POLLIN};

	if (k->cancel_fd < 0)
		return false;
	return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLIN | POLLHUP));
}

/* Pick the first non-empty value; join with suffix if given. */
static char *path_pick(const char *explicit, const char *base,
		       const char *suffix)
{
	char *out;

	if (explicit && *explicit)
		return strdup(explicit);
	if (!base || !*base)
		return NULL;
	if (asprintf(&out, "%s%s", base, suffix) < 0)
		return NULL;
	return out;
}

static int boot_timeout_parse(const char *s, unsigned int *ms)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > BOOT_TIMEOUT_MAX_S)
		return -1;
	*ms = (unsigned int)v * 1000u;
	return 0;
}

static int dir_resolve(char **dst, const char *what, const char *opt,
		       const char *env_val, const char *xdg,
		       const char *xdg_sub, const char *home,
		       const char *home_sub, char *errbuf, size_t errlen)
{
	char *p;

	if (opt)
		p = path_pick(opt, NULL, "");
	else if (env_val && *env_val)
		p = strdup(env_val);
	else if (xdg && *xdg)
		p = path_pick(NULL, xdg, xdg_sub);
	else
		p = path_pick(NULL, home, home_sub);
	if (!p) {
		snprintf(errbuf, errlen,
			 "no %s directory: set HOME or pass it in the options",
			 what);
		return KILN_EINVAL;
	}
	if (p[0] != '/') {
		snprintf(errbuf, errlen,
			 "%s directory '%s' is not an absolute path", what, p);
		free(p);
		return KILN_EINVAL;
	}
	*dst = p;
	return KILN_OK;
}

int handle_resolve(struct kiln *k, const struct kiln_options *opts,
		   handle_env_fn env, void *env_ctx, char *errbuf,
		   size_t errlen)
{
	const char *home = env(env_ctx, "HOME");
	const char *rt = env(env_ctx, "XDG_RUNTIME_DIR");
	const char *s;
	int rc;

	errbuf[0] = '\0';
	k->cancel_fd = opts->cancel_fd;
	k->log = opts->log;
	k->log_ctx = opts->log_ctx;
	if (opts->log_level < KILN_LOG_ERROR ||
	    opts->log_level > KILN_LOG_DEBUG) {
		snprintf(errbuf, errlen, "unknown log level %d",
			 (int)opts->log_level);
		return KILN_EINVAL;
	}
	k->log_level = opts->log_level;
	if ((unsigned int)opts->log_format > KILN_LOG_JSON) {
		snprintf(errbuf, errlen, "unknown log format %d",
			 (int)opts->log_format);
		return KILN_EINVAL;
	}
	k->log_format = opts->log_format;
	if ((unsigned int)opts->state_store > KILN_STATE_MEMORY) {
		snprintf(errbuf, errlen,
			 "unknown state store %d (KILN_STATE_FILE or "
			 "KILN_STATE_MEMORY)",
			 (int)opts->state_store);
		return KILN_EINVAL;
	}
	k->state_memory = opts->state_store == KILN_STATE_MEMORY;

	rc = dir_resolve(&k->cache_dir, "cache", opts->cache_dir,
			 env(env_ctx, "KILN_CACHE"),
			 env(env_ctx, "XDG_CACHE_HOME"), "/kiln", home,
			 "/.cache/kiln", errbuf, errlen);
	if (rc)
		return rc;
	rc = dir_resolve(&k->state_dir, "state", opts->state_dir,
			 env(env_ctx, "KILN_STATE"),
			 env(env_ctx, "XDG_STATE_HOME"), "/kiln", home,
			 "/.local/state/kiln", errbuf, errlen);
	if (rc)
		return rc;

	/*
	 * The runtime directory holds sockets: prefer the per-user tmpfs
	 * ($XDG_RUNTIME_DIR), then /run for root, then a per-uid directory
	 * in /tmp (its ownership and mode are checked when it is used).
	 */
	if (!opts->runtime_dir && !(rt && *rt) &&
	    !((s = env(env_ctx, "KILN_RUNTIME_DIR")) && *s)) {
		char tmp[64];

		if (getuid() == 0)
			snprintf(tmp, sizeof(tmp), "/run/kiln");
		else
			snprintf(tmp, sizeof(tmp), "/tmp/kiln-%u",
				 (unsigned int)getuid());
		rc = dir_resolve(&k->runtime_dir, "runtime", tmp, NULL, NULL,
				 NULL, NULL, NULL, errbuf, errlen);
	} else {
		rc = dir_resolve(&k->runtime_dir, "runtime", opts->runtime_dir,
				 env(env_ctx, "KILN_RUNTIME_DIR"), rt, "/kiln",
				 NULL, NULL, errbuf, errlen);
	}
	if (rc)
		return rc;

	if (opts->vmm_path && *opts->vmm_path)
		k->vmm_path = strdup(opts->vmm_path);
	else if ((s = env(env_ctx, "KILN_VMM")) && *s)
		k->vmm_path = strdup(s);
	else
		k->vmm_path = strdup("kiln-vmm");
	s = env(env_ctx, "KILN_COLD_BOOT");
	k->cold_boot = s && !strcmp(s, "1");
	s = env(env_ctx, "KILN_JAIL");
	k->jail = opts->jail && !(s && !strcmp(s, "0"));
	if (opts->jail_relax & ~KILN_JAIL_RELAX_ALL) {
		snprintf(errbuf, errlen,
			 "kiln_options.jail_relax has unknown bits 0x%x",
			 opts->jail_relax & ~KILN_JAIL_RELAX_ALL);
		return KILN_EINVAL;
	}
	k->jail_relax = opts->jail_relax;
	s = env(env_ctx, "KILN_JAIL_RELAX");
	if (s &&
	    (rc = sandbox_jail_relax_parse(s, &k->jail_relax, errbuf, errlen)))
		return rc;
	s = env(env_ctx, "PATH");
	k->path_env = strdup(s && *s ? s : "/usr/local/bin:/usr/bin:/bin");
	if (!k->vmm_path || !k->path_env) {
		snprintf(errbuf, errlen, "out of memory");
		return KILN_ENOMEM;
	}

	/* hooks: the option ("" for none), $KILN_HOOKS, <state>/hooks */
	if (opts->hooks_file) {
		if (*opts->hooks_file &&
		    !(k->hooks_file = strdup(opts->hooks_file))) {
			snprintf(errbuf, errlen, "out of memory");
			return KILN_ENOMEM;
		}
	} else if ((s = env(env_ctx, "KILN_HOOKS")) && *s) {
		k->hooks_file = strdup(s);
	} else {
		k->hooks_file = path_pick(NULL, k->state_dir, "/hooks");
		k->hooks_optional = true;
	}
	if (!opts->hooks_file && !k->hooks_file) {
		snprintf(errbuf, errlen, "out of memory");
		return KILN_ENOMEM;
	}

	if (opts->boot_timeout_ms) {
		k->boot_timeout_ms = opts->boot_timeout_ms;
	} else if ((s = env(env_ctx, "KILN_BOOT_TIMEOUT")) != NULL) {
		if (boot_timeout_parse(s, &k->boot_timeout_ms)) {
			snprintf(errbuf, errlen,
				 "KILN_BOOT_TIMEOUT='%s' is not a number of "
				 "seconds in 1..%u",
				 s, BOOT_TIMEOUT_MAX_S);
			return KILN_EINVAL;
		}
	} else {
		k->boot_timeout_ms = BOOT_TIMEOUT_DEFAULT_MS;
	}
	return KILN_OK;
}

void handle_release(struct kiln *k)
{
	free(k->cache_dir);
	free(k->state_dir);
	free(k->runtime_dir);
	free(k->vmm_path);
	free(k->path_env);
	free(k->hooks_file);
	free(k->errmsg);
	k->cache_dir = k->state_dir = k->runtime_dir = NULL;
	k->vmm_path = k->path_env = k->errmsg = k->hooks_file = NULL;
}

static const char *env_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

int kiln_open(const struct kiln_options *opts, struct kiln **out)
{
	struct kiln_options defaults;
	struct kiln *k;
	char err[512];
	int rc;

	*out = NULL;
	if (!opts) {
		kiln_options_init(&defaults);
		opts = &defaults;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return KILN_ENOMEM;
	rc = handle_resolve(k, opts, env_getenv, NULL, err, sizeof(err));
	if (!rc) {
		const char *hf = k->hooks_file;

		/* <state_dir>/hooks is used only if it is there */
		if (hf && k->hooks_optional && access(hf, F_OK) < 0 &&
		    errno == ENOENT)
			hf = NULL;
		rc = hooks_init(k, opts, hf, err, sizeof(err));
	}
	if (rc) {
		/* no handle yet: report through what the options ask for */
		k->log = opts->log;
		k->log_ctx = opts->log_ctx;
		k->log_format = (unsigned int)opts->log_format <= KILN_LOG_JSON
					? opts->log_format
					: KILN_LOG_SILENT;
		k->log_level = KILN_LOG_ERROR;
		handle_log_at(k, KILN_LOG_ERROR, "handle", "%s", err);
		hooks_free(k);
		handle_release(k);
		free(k);
		return rc;
	}
	*out = k;
	return KILN_OK;
}

void kiln_close(struct kiln *k)
{
	if (!k)
		return;
	while (k->sandboxes) {
		/* a persistent sandbox lives on: only the handle goes */
		if (k->sandboxes->persistent) {
			kiln_sandbox_close(k->sandboxes);
			continue;
		}
		handle_log(k, KILN_LOG_WARN,
			   "sandbox %s was not destroyed; destroying it now",
			   kiln_sandbox_id(k->sandboxes));
		kiln_sandbox_destroy(k->sandboxes);
	}
	/* an in-memory store's sandboxes go with it (hooks still see it) */
	store_close(k);
	hooks_free(k);
	handle_release(k);
	free(k);
}

const char *kiln_errmsg(const struct kiln *k)
{
	if (!k || !k->errmsg)
		return "";
	return k->errmsg;
}

const char *kiln_cache_dir(const struct kiln *k)
{
	return k->cache_dir;
}

const char *kiln_runtime_dir(const struct kiln *k)
{
	return k->runtime_dir;
}

const char *kiln_state_dir(const struct kiln *k)
{
	return k->state_dir;
}
