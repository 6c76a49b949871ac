/* SPDX-License-Identifier: MIT */
/*
 * Build the kiln-vmm argv.  Everything is passed as separate argv elements
 * (no shell), so the only syntax to guard is the VMM's own: "PATH,ro" for
 * drives, and a kernel command line of printable characters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "lib/vmm_argv.h"

static int argv_push(struct vmm_argv *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int argv_push(struct vmm_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (a->argc >= VMM_ARGV_MAX)
		return -1;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
	return 0;
}

/* Printable ASCII only: the guest kernel parses this, and so may a log. */
static int cmdline_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

int vmm_check_drive_path(const char *path, char *err, size_t errlen)
{
	if (strchr(path, ',')) {
		snprintf(err, errlen,
			 "image path %s contains ',', which kiln-vmm's --drive "
			 "syntax cannot express; rename or link it",
			 path);
		return KILN_EINVAL;
	}
	return 0;
}

int vmm_check_cmdline_extra(const char *extra, char *err, size_t errlen)
{
	if (strlen(extra) > VMM_CMDLINE_EXTRA_MAX ||
	    !cmdline_printable(extra)) {
		snprintf(err, errlen,
			 "extra kernel command line must be at most %d "
			 "printable ASCII characters",
			 VMM_CMDLINE_EXTRA_MAX);
		return KILN_EINVAL;
	}
	return 0;
}

/* kiln-vmm --restore: the snapshot brings its own machine and devices. */
static int vmm_argv_build_restore(const struct vmm_launch *l,
				  struct vmm_argv *out, char *err,
				  size_t errlen)
{
	int bad = 0;

	if (!l->vmm_path || !*l->vmm_path || !l->restore_mem ||
	    !*l->restore_mem || !l->vsock_uds || !*l->vsock_uds ||
	    !l->console || !*l->console) {
		snprintf(err, errlen, "internal error: incomplete VMM restore");
		return KILN_EINVAL;
	}
	if (l->overlay_override &&
	    vmm_check_drive_path(l->overlay_override, err, errlen))
		return KILN_EINVAL;
	bad |= argv_push(out, "%s", l->vmm_path);
	bad |= argv_push(out, "--restore");
	bad |= argv_push(out, "%s", l->restore_state);
	bad |= argv_push(out, "--restore-mem");
	bad |= argv_push(out, "%s", l->restore_mem);
	bad |= argv_push(out, "--vsock-uds");
	bad |= argv_push(out, "%s", l->vsock_uds);
	bad |= argv_push(out, "--console");
	bad |= argv_push(out, "%s", l->console);
	if (l->api_sock) {
		bad |= argv_push(out, "--api-sock");
		bad |= argv_push(out, "%s", l->api_sock);
	}
	if (l->overlay_override) {
		bad |= argv_push(out, "--drive-override");
		bad |= argv_push(out, "%s=%s", VMM_ROOT_DRIVE_ID,
				 l->overlay_override);
	}
	if (l->net_tap) {
		bad |= argv_push(out, "--net-override");
		bad |= argv_push(out, "%s=%s", VMM_NET_ID, l->net_tap);
	}
	if (bad) {
		snprintf(err, errlen, "out of memory building the VMM command");
		return KILN_ENOMEM;
	}
	return 0;
}

int vmm_argv_build(const struct vmm_launch *l, struct vmm_argv *out, char *err,
		   size_t errlen)
{
	const char *extra = l->cmdline_extra ? l->cmdline_extra : "";
	int bad = 0, rc;

	memset(out, 0, sizeof(*out));
	if (l->restore_state)
		return vmm_argv_build_restore(l, out, err, errlen);
	if (!l->vmm_path || !*l->vmm_path || !l->kernel || !*l->kernel ||
	    !l->image || !*l->image || !l->vsock_uds || !*l->vsock_uds ||
	    !l->console || !*l->console) {
		snprintf(err, errlen, "internal error: incomplete VMM launch");
		return KILN_EINVAL;
	}
	rc = vmm_check_drive_path(l->image, err, errlen);
	if (!rc && l->overlay)
		rc = vmm_check_drive_path(l->overlay, err, errlen);
	if (rc)
		return rc;
	rc = vmm_check_cmdline_extra(extra, err, errlen);
	if (rc)
		return rc;

	bad |= argv_push(out, "%s", l->vmm_path);
	bad |= argv_push(out, "--kernel");
	bad |= argv_push(out, "%s", l->kernel);
	bad |= argv_push(out, "--cmdline");
	bad |= argv_push(out, "%s%s%s",
			 l->overlay ? VMM_OVERLAY_CMDLINE : VMM_BASE_CMDLINE,
			 *extra ? " " : "", extra);
	bad |= argv_push(out, "--cpus");
	bad |= argv_push(out, "%u", l->cpus);
	bad |= argv_push(out, "--memory");
	bad |= argv_push(out, "%u", l->memory_mib);
	bad |= argv_push(out, "--drive");
	if (l->overlay)
		bad |= argv_push(out, "%s,overlay=%s", l->image, l->overlay);
	else
		bad |= argv_push(out, "%s,ro", l->image);
	bad |= argv_push(out, "--vsock-cid");
	bad |= argv_push(out, "%u", l->cid);
	bad |= argv_push(out, "--vsock-uds");
	bad |= argv_push(out, "%s", l->vsock_uds);
	bad |= argv_push(out, "--rng");
	bad |= argv_push(out, "--console");
	bad |= argv_push(out, "%s", l->console);
	if (l->api_sock) {
		bad |= argv_push(out, "--api-sock");
		bad |= argv_push(out, "%s", l->api_sock);
	}
	if (l->net_tap) {
		bad |= argv_push(out, "--net");
		bad |= argv_push(out, "%s,id=%s", l->net_tap, VMM_NET_ID);
	}
	if (bad) {
		snprintf(err, errlen, "out of memory building the VMM command");
		return KILN_ENOMEM;
	}
	return 0;
}

void vmm_argv_free(struct vmm_argv *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	memset(a, 0, sizeof(*a));
}
