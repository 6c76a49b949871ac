/* SPDX-License-Identifier: MIT */
/*
 * Networking of persistent sandboxes: the glue between the state store
 * (sandbox_store.c) and net_*.c.  A sandbox's policy is recorded as JSON in
 * <state_dir>/net/<id>.json (written atomically); the file's presence
 * says the sandbox has networking at all, so `start` after a host reboot
 * (which empties /run/netns) can rebuild the namespace with the recorded
 * policy.  Without root there is no namespace: a sandbox asking for no
 * network gets none, one asking for more is refused (docs/NETWORK.md).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln.h"
#include "lib/dns.h"
#include "lib/handle.h"
#include "lib/hooks.h"
#include "lib/net.h"
#include "lib/net_sandbox.h"
#include "lib/sandbox_store.h"

#define ERRLEN 1024

static char *policy_path(struct kiln *k, const char *id, bool tmp)
{
	char *s;

	if (asprintf(&s, "%s/net/%s.json%s", k->state_dir, id,
		     tmp ? ".tmp" : "") < 0)
		return NULL;
	return s;
}

/* The record: {"slot": N, "policy": {...}} (the slot for cleaning up). */
static char *record_json(uint32_t slot, const struct net_policy *p)
{
	char *pol = net_policy_to_json(p), *s = NULL;
	json_t *o = pol ? json_pack("{s:I, s:o*}", "slot", (json_int_t)slot,
				    "policy", json_loads(pol, 0, NULL))
			: NULL;

	if (o)
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	free(pol);
	return s;
}

static int policy_save(struct kiln *k, const char *id, uint32_t slot,
		       const struct net_policy *p)
{
	char *json = record_json(slot, p), *path = policy_path(k, id, false),
	     *tmp = policy_path(k, id, true), *dir = NULL;
	int rc = KILN_OK, fd = -1;
	size_t len;

	if (!json || !path || !tmp ||
	    asprintf(&dir, "%s/net", k->state_dir) < 0) {
		rc = handle_fail(k, KILN_ENOMEM, "out of memory");
		dir = NULL;
		goto out;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = handle_fail(k, KILN_ESYS, "cannot create %s: %s", dir,
				 strerror(errno));
		goto out;
	}
	len = strlen(json);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, json, len) != (ssize_t)len || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		rc = handle_fail(k, KILN_ESYS,
				 "cannot record the network policy in %s: %s",
				 path, strerror(errno));
		unlink(tmp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(json);
	free(path);
	free(tmp);
	free(dir);
	return rc;
}

/*
 * The record of id: its slot and policy.  KILN_ENOTFOUND (no message)
 * when the sandbox has no networking.
 */
static int policy_load(struct kiln *k, const char *id, uint32_t *slot,
		       struct net_policy *p)
{
	char *path = policy_path(k, id, false), err[ERRLEN], buf[64 * 1024];
	json_t *root, *pol = NULL;
	json_int_t sl = -1;
	char *text = NULL;
	json_error_t e;
	ssize_t n;
	int fd, rc;

	memset(p, 0, sizeof(*p));
	if (!path)
		return handle_fail(k, KILN_ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ENOENT ? KILN_ENOTFOUND
				     : handle_fail(k, KILN_ESYS, "%s: %s", path,
						   strerror(errno));
		free(path);
		return rc;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0 || n == (ssize_t)sizeof(buf) - 1) {
		rc = handle_fail(k, KILN_EFORMAT, "%s: unreadable or too big",
				 path);
		free(path);
		return rc;
	}
	buf[n] = '\0';
	root = json_loads(buf, 0, &e);
	if (root &&
	    !json_unpack_ex(root, &e, JSON_STRICT, "{s:I, s:o}", "slot", &sl,
			    "policy", &pol) &&
	    sl >= 0 && sl <= NET_SLOT_MAX)
		text = json_dumps(pol, JSON_COMPACT);
	json_decref(root);
	if (text) {
		rc = net_policy_from_json(text, p, err, sizeof(err));
		free(text);
	} else {
		rc = KILN_EFORMAT;
		snprintf(err, sizeof(err), "not a kiln network record");
	}
	if (slot)
		*slot = (uint32_t)sl;
	if (rc)
		handle_fail(k, rc, "%s: %s; set the network again", path, err);
	free(path);
	return rc;
}

static void policy_remove(struct kiln *k, const char *id)
{
	char *path = policy_path(k, id, false);

	if (path)
		unlink(path);
	free(path);
}

/*
 * The resolver program: $KILN_DNS, else kiln-dns next to kiln-vmm (when
 * that is a path) or next to this program, else in $PATH.
 */
static int dns_exe(struct kiln *k, char *buf, size_t len)
{
	const char *env = getenv("KILN_DNS"), *slash;
	char self[4096];
	ssize_t n;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
		return 0;
	}
	slash = k->vmm_path ? strrchr(k->vmm_path, '/') : NULL;
	if (slash) {
		snprintf(buf, len, "%.*s/kiln-dns", (int)(slash - k->vmm_path),
			 k->vmm_path);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		snprintf(buf, len, "%.*s/kiln-dns", (int)(slash - self), self);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	for (const char *d = k->path_env ? k->path_env : getenv("PATH");
	     d && *d; d += strcspn(d, ":") + (d[strcspn(d, ":")] ? 1 : 0)) {
		snprintf(buf, len, "%.*s/kiln-dns", (int)strcspn(d, ":"), d);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return handle_fail(k, KILN_ENOTFOUND,
			   "kiln-dns (the sandbox resolver) not found next to "
			   "kiln-vmm, next to this program or in $PATH; set "
			   "KILN_DNS to its path");
}

/*
 * Make the resolver match p: started (or told to reread the record,
 * already written) when p wants one, stopped otherwise.
 */
static int dns_sync(struct kiln *k, const char *id, uint32_t slot,
		    const struct net_policy *p)
{
	char dir[4096], exe[4096], err[ERRLEN];
	int rc;

	snprintf(dir, sizeof(dir), "%s/net", k->state_dir);
	if (!net_policy_wants_dns(p)) {
		dns_proc_stop(dir, id);
		return KILN_OK;
	}
	if (dns_proc_pid(dir, id) > 0 &&
	    !dns_proc_reload(dir, id, err, sizeof(err)))
		return KILN_OK;
	rc = dns_exe(k, exe, sizeof(exe));
	if (!rc && (rc = dns_proc_start(exe, dir, id, slot, err, sizeof(err))))
		handle_fail(k, rc, "sandbox %s: %s", id, err);
	if (rc && p->mode == KILN_NET_ALLOW_ALL) {
		/* no domain list depends on it: the guest just lacks DNS */
		handle_log(k, KILN_LOG_WARN,
			   "sandbox %s has no DNS resolver: %s", id,
			   kiln_errmsg(k));
		rc = KILN_OK;
	}
	return rc;
}

static void dns_stop(struct kiln *k, const char *id)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/net", k->state_dir);
	dns_proc_stop(dir, id);
}

/* The hook event of a network change (hooks.h, "For the network code"). */
static void emit(struct kiln *k, enum kiln_event ev, const char *phase,
		 const struct state_sandbox *row, const struct net_policy *p,
		 int rc)
{
	static const char *const modes[] = {
		[KILN_NET_NONE] = "none",
		[KILN_NET_ALLOW_ALL] = "allow-all",
		[KILN_NET_CUSTOM] = "custom",
	};
	const char *name = row->name[0] ? row->name : NULL;
	struct net_addrs a;
	char e[ERRLEN], ip[16];
	json_t *d;

	if (rc) {
		hooks_emit_error(k, phase, row->id, name, rc);
		return;
	}
	if (net_addrs_for_slot(row->net_slot, &a, e, sizeof(e)))
		return;
	d = p ? json_pack("{s:I, s:s, s:s, s:I}", "slot",
			  (json_int_t)row->net_slot, "policy", modes[p->mode],
			  "guest", net_ip_str(a.guest, ip), "rate_bps",
			  (json_int_t)p->rate_bps)
	      : json_pack("{s:I}", "slot", (json_int_t)row->net_slot);
	hooks_emit(k, ev, row->id, name, d);
	json_decref(d);
}

int net_sandbox_create(struct kiln *k, const struct state_sandbox *row,
		       const struct kiln_net_policy *pol)
{
	struct net_policy p;
	char err[ERRLEN];
	bool wants;
	int rc;

	rc = net_policy_from_public(pol, &p, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	wants = p.mode != KILN_NET_NONE || p.n_publish;
	if (geteuid() != 0) {
		net_policy_free(&p);
		if (wants)
			return handle_fail(k, KILN_EINVAL,
					   "a sandbox network needs root (it "
					   "creates a network namespace and "
					   "nftables rules); run as root or "
					   "use --network none");
		handle_log(k, KILN_LOG_DEBUG,
			   "not root: sandbox %s gets no network namespace",
			   row->id);
		return KILN_OK;
	}
	rc = policy_save(k, row->id, row->net_slot, &p);
	if (!rc &&
	    (rc = net_setup(row->net_slot, row->id, &p, err, sizeof(err)))) {
		policy_remove(k, row->id);
		if (wants) {
			handle_fail(k, rc, "sandbox %s: network: %s", row->id,
				    err);
			emit(k, KILN_EV_NET_SETUP, "net_setup", row, NULL, rc);
		} else {
			/*
			 * No network asked for: a host without veth, TUN or
			 * nftables still runs sandboxes, with no NIC at all
			 * (as isolated as policy none), only the policy
			 * cannot be changed later.
			 */
			handle_log(k, KILN_LOG_INFO,
				   "sandbox %s gets no network namespace, so "
				   "its network cannot be enabled later: %s",
				   row->id, err);
			rc = KILN_OK;
		}
	} else if (!rc && (rc = dns_sync(k, row->id, row->net_slot, &p))) {
		net_teardown(row->net_slot, row->id, err, sizeof(err));
		policy_remove(k, row->id);
		emit(k, KILN_EV_NET_SETUP, "net_setup", row, NULL, rc);
	} else if (!rc) {
		emit(k, KILN_EV_NET_SETUP, "net_setup", row, &p, 0);
	}
	net_policy_free(&p);
	return rc;
}

int net_sandbox_prepare(struct kiln *k, const struct state_sandbox *row,
			bool *netns)
{
	struct net_policy p;
	char err[ERRLEN];
	int rc;

	*netns = false;
	rc = policy_load(k, row->id, NULL, &p);
	if (rc == KILN_ENOTFOUND)
		return KILN_OK; /* created without networking */
	if (rc)
		return rc;
	if (net_exists(row->id)) {
		/* a resolver killed meanwhile comes back */
		*netns = true;
		rc = dns_sync(k, row->id, row->net_slot, &p);
		net_policy_free(&p);
		return rc;
	}
	/* gone with a host reboot: build it again as recorded */
	rc = net_setup(row->net_slot, row->id, &p, err, sizeof(err));
	if (rc)
		handle_fail(k, rc, "sandbox %s: network: %s", row->id, err);
	else
		rc = dns_sync(k, row->id, row->net_slot, &p);
	emit(k, KILN_EV_NET_SETUP, "net_setup", row, &p, rc);
	net_policy_free(&p);
	*netns = !rc;
	return rc;
}

/*
 * Whether id's network is ours to remove: the record is written before
 * anything is built and removed when a build fails, so without it the
 * objects of its slot (if any) belong to another state directory.
 */
static bool policy_exists(struct kiln *k, const char *id)
{
	char *path = policy_path(k, id, false);
	bool yes = path && access(path, F_OK) == 0;

	free(path);
	return yes;
}

int net_sandbox_remove(struct kiln *k, const struct state_sandbox *row)
{
	char err[ERRLEN];
	int rc;

	if (!policy_exists(k, row->id))
		return KILN_OK; /* it never had a network */
	dns_stop(k, row->id);
	rc = net_teardown(row->net_slot, row->id, err, sizeof(err));
	if (rc)
		handle_fail(k, rc, "sandbox %s: removing its network: %s",
			    row->id, err);
	else
		policy_remove(k, row->id);
	emit(k, KILN_EV_NET_TEARDOWN, "net_teardown", row, NULL, rc);
	return rc;
}

void net_sandbox_cleanup(struct kiln *k, const struct state_sandbox *row)
{
	char err[ERRLEN];
	int rc = 0;

	if (!policy_exists(k, row->id))
		return;
	dns_stop(k, row->id);
	rc = net_teardown(row->net_slot, row->id, err, sizeof(err));
	if (rc)
		handle_fail_append(k, "\nwhile cleaning up its network: %s",
				   err);
	else
		policy_remove(k, row->id);
	/* an error event would replace nothing: k's message stays */
	if (!rc)
		emit(k, KILN_EV_NET_TEARDOWN, "net_teardown", row, NULL, 0);
}

void net_sandbox_reconcile(struct kiln *k, struct state *st)
{
	struct state_sandbox *list = NULL;
	char err[ERRLEN], *dir = NULL;
	struct net_policy p;
	struct dirent *de;
	size_t n = 0;
	uint32_t slot;
	DIR *d;

	if (geteuid() != 0)
		return; /* nothing of ours can exist */
	if (asprintf(&dir, "%s/net", k->state_dir) < 0)
		return;
	d = opendir(dir);
	free(dir);
	if (!d)
		return; /* no sandbox ever had networking */
	if (state_sandbox_list(st, &list, &n, err, sizeof(err))) {
		handle_log(k, KILN_LOG_WARN, "reconciling networks: %s", err);
		closedir(d);
		return;
	}
	/*
	 * Only what our records name: other state directories on this host
	 * have namespaces and links of their own (net_reconcile() is the
	 * host-wide sweep for an administrator).
	 */
	while ((de = readdir(d))) {
		char id[KILN_ID_LEN + 1];
		size_t len = strlen(de->d_name);
		bool live = false;

		if (len != KILN_ID_LEN + 5 ||
		    strcmp(de->d_name + KILN_ID_LEN, ".json"))
			continue;
		snprintf(id, sizeof(id), "%.*s", KILN_ID_LEN, de->d_name);
		for (size_t i = 0; i < n && !live; i++)
			live = !strcmp(list[i].id, id);
		if (live)
			continue;
		if (policy_load(k, id, &slot, &p)) {
			handle_log(k, KILN_LOG_WARN, "reconciling networks: %s",
				   kiln_errmsg(k));
			continue;
		}
		net_policy_free(&p);
		dns_stop(k, id);
		if (net_teardown(slot, id, err, sizeof(err))) {
			handle_log(k, KILN_LOG_WARN,
				   "reconciling the network of removed "
				   "sandbox %s: %s",
				   id, err);
			continue;
		}
		handle_log(k, KILN_LOG_INFO,
			   "removed the network of sandbox %s, which no longer "
			   "exists",
			   id);
		policy_remove(k, id);
	}
	closedir(d);
	state_sandbox_list_free(list, n);
}

int kiln_sandbox_set_network(struct kiln *k, const char *ref,
			     const struct kiln_net_policy *pol)
{
	struct state_sandbox row = {0};
	struct net_policy p, old;
	struct state *st;
	char err[ERRLEN];
	int rc;

	if (!k)
		return KILN_EINVAL;
	if (!ref || !pol)
		return handle_fail(k, KILN_EINVAL,
				   "kiln_sandbox_set_network: a sandbox "
				   "reference and a policy are required");
	rc = net_policy_from_public(pol, &p, err, sizeof(err));
	if (rc)
		return handle_fail(k, rc, "%s", err);
	rc = store_open(k, &st);
	if (!rc && (rc = state_sandbox_find(st, ref, &row, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	if (!rc) {
		rc = policy_load(k, row.id, NULL, &old);
		if (rc == KILN_ENOTFOUND)
			rc = handle_fail(k, KILN_ESTATE,
					 "sandbox %s has no network namespace "
					 "(it was created without root): its "
					 "network cannot be changed; recreate "
					 "it as root",
					 row.id);
	}
	if (!rc && geteuid() != 0) {
		net_policy_free(&old);
		rc = handle_fail(k, KILN_EINVAL,
				 "changing a sandbox network needs root");
	}
	if (!rc) {
		/* rules first, then the record; a stopped sandbox whose
		 * namespace is gone (host reboot) gets it on start */
		bool live = net_exists(row.id);

		if (live && (rc = net_policy_apply(row.net_slot, row.id, &p,
						   err, sizeof(err))))
			handle_fail(k, rc, "sandbox %s: network: %s", row.id,
				    err);
		if (!rc && (rc = policy_save(k, row.id, row.net_slot, &p)) &&
		    live &&
		    net_policy_apply(row.net_slot, row.id, &old, err,
				     sizeof(err)))
			handle_fail_append(k,
					   "\nand restoring the old policy "
					   "failed too: %s",
					   err);
		/* the resolver follows the recorded policy */
		if (!rc && live)
			rc = dns_sync(k, row.id, row.net_slot, &p);
		net_policy_free(&old);
	}
	if (row.id[0])
		emit(k, KILN_EV_NET_POLICY, "net_policy", &row, &p, rc);
	net_policy_free(&p);
	state_sandbox_clear(&row);
	return rc;
}

void kiln_net_policy_clear(struct kiln_net_policy *p)
{
	const char *const *lists[3];

	if (!p)
		return;
	lists[0] = p->allow_cidr;
	lists[1] = p->deny_cidr;
	lists[2] = p->allow_domain;
	for (size_t l = 0; l < 3; l++) {
		for (size_t i = 0; lists[l] && lists[l][i]; i++)
			free((char *)lists[l][i]);
		free((void *)lists[l]);
	}
	free((void *)p->publish);
	free((char *)p->dns_upstream);
	kiln_net_policy_init(p);
}

/* n CIDRs as a NULL-terminated list of "a.b.c.d/len"; NULL if n is 0. */
static int cidrs_public(const struct net_cidr *c, size_t n,
			const char *const **out)
{
	char **l, ip[16];

	*out = NULL;
	if (!n)
		return 0;
	l = calloc(n + 1, sizeof(*l));
	if (!l)
		return -1;
	*out = (const char *const *)l;
	for (size_t i = 0; i < n; i++)
		if (asprintf(&l[i], "%s/%u", net_ip_str(c[i].addr, ip),
			     c[i].len) < 0) {
			l[i] = NULL;
			return -1;
		}
	return 0;
}

/* The public form of p into out (owned: kiln_net_policy_clear()). */
static int policy_public(const struct net_policy *p,
			 struct kiln_net_policy *out)
{
	struct kiln_net_publish *pub = NULL;
	char **doms = NULL;

	kiln_net_policy_init(out);
	out->mode = p->mode;
	out->rate_bps = p->rate_bps;
	if (cidrs_public(p->allow, p->n_allow, &out->allow_cidr) ||
	    cidrs_public(p->deny, p->n_deny, &out->deny_cidr))
		return -1;
	if (p->n_publish) {
		pub = calloc(p->n_publish, sizeof(*pub));
		if (!pub)
			return -1;
		for (size_t i = 0; i < p->n_publish; i++) {
			pub[i].host_port = p->publish[i].host_port;
			pub[i].guest_port = p->publish[i].guest_port;
			pub[i].udp = p->publish[i].udp;
		}
		out->publish = pub;
		out->n_publish = p->n_publish;
	}
	if (p->n_domains) {
		doms = calloc(p->n_domains + 1, sizeof(*doms));
		if (!doms)
			return -1;
		out->allow_domain = (const char *const *)doms;
		for (size_t i = 0; i < p->n_domains; i++)
			if (!(doms[i] = strdup(p->domains[i])))
				return -1;
	}
	if (p->dns_upstream && !(out->dns_upstream = strdup(p->dns_upstream)))
		return -1;
	return 0;
}

int kiln_sandbox_get_network(struct kiln *k, const char *ref,
			     struct kiln_net_policy *out)
{
	struct state_sandbox row = {0};
	struct net_policy p;
	struct state *st;
	char err[ERRLEN];
	int rc;

	if (out)
		kiln_net_policy_init(out);
	if (!k)
		return KILN_EINVAL;
	if (!ref || !out)
		return handle_fail(k, KILN_EINVAL,
				   "kiln_sandbox_get_network: a sandbox "
				   "reference and an output are required");
	rc = store_open(k, &st);
	if (!rc && (rc = state_sandbox_find(st, ref, &row, err, sizeof(err))))
		handle_fail(k, rc, "%s", err);
	if (!rc) {
		rc = policy_load(k, row.id, NULL, &p);
		if (rc == KILN_ENOTFOUND)
			rc = handle_fail(
				k, KILN_ESTATE,
				"sandbox %s has no network namespace "
				"(it was created without root, or the "
				"host lacks veth/TUN/nftables): it has "
				"no network at all",
				row.id);
		else if (!rc) {
			if (policy_public(&p, out)) {
				kiln_net_policy_clear(out);
				rc = handle_fail(k, KILN_ENOMEM,
						 "out of memory");
			}
			net_policy_free(&p);
		}
	}
	state_sandbox_clear(&row);
	return rc;
}
