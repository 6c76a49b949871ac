/* SPDX-License-Identifier: MIT */
/*
 * Restoring a vCPU from its snapshot section (order: see vcpu_state.c).
 * The section is untrusted input: every record's size is checked against
 * the KVM structure before anything is handed to KVM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "cpuid.h"
#include "snapshot.h"
#include "vcpu.h"
#include "vcpu_state.h"
#include "vm.h"

static const char *const rec_names[VCPU_REC_MAX] = {
	[VCPU_REC_MP_STATE] = "MP_STATE",
	[VCPU_REC_REGS] = "REGS",
	[VCPU_REC_SREGS] = "SREGS",
	[VCPU_REC_XSAVE] = "XSAVE",
	[VCPU_REC_FPU] = "FPU",
	[VCPU_REC_XCRS] = "XCRS",
	[VCPU_REC_DEBUGREGS] = "DEBUGREGS",
	[VCPU_REC_LAPIC] = "LAPIC",
	[VCPU_REC_TSC_KHZ] = "TSC_KHZ",
	[VCPU_REC_CPUID] = "CPUID",
	[VCPU_REC_MSRS] = "MSRS",
	[VCPU_REC_EVENTS] = "VCPU_EVENTS",
};

struct vcpu_recs {
	const uint8_t *p[VCPU_REC_MAX];
	uint32_t len[VCPU_REC_MAX];
};

static int rec_err(struct vcpu *v, char *err, size_t errlen, int kind,
		   const char *what)
{
	snprintf(err, errlen, "vCPU %d: %s %s", v->id, rec_names[kind], what);
	return -1;
}

/* Fixed-size records must be exactly their structure. */
static int check_sizes(struct vcpu *v, const struct vcpu_recs *r, char *err,
		       size_t errlen)
{
	static const struct {
		int kind;
		uint32_t size;
		int required;
	} fixed[] = {
		{VCPU_REC_MP_STATE, sizeof(struct kvm_mp_state), 1},
		{VCPU_REC_REGS, sizeof(struct kvm_regs), 1},
		{VCPU_REC_SREGS, sizeof(struct kvm_sregs), 1},
		{VCPU_REC_FPU, sizeof(struct kvm_fpu), 0},
		{VCPU_REC_XCRS, sizeof(struct kvm_xcrs), 0},
		{VCPU_REC_DEBUGREGS, sizeof(struct kvm_debugregs), 0},
		{VCPU_REC_LAPIC, sizeof(struct kvm_lapic_state), 1},
		{VCPU_REC_TSC_KHZ, sizeof(uint32_t), 0},
		{VCPU_REC_EVENTS, sizeof(struct kvm_vcpu_events), 0},
	};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		int k = fixed[i].kind;

		if (!r->p[k] && fixed[i].required)
			return rec_err(v, err, errlen, k, "missing");
		if (r->p[k] && r->len[k] != fixed[i].size)
			return rec_err(v, err, errlen, k, "has the wrong size");
	}
	if (!r->p[VCPU_REC_XSAVE] == !r->p[VCPU_REC_FPU])
		return rec_err(v, err, errlen, VCPU_REC_XSAVE,
			       "and FPU: exactly one must be present");
	if (r->p[VCPU_REC_XSAVE] &&
	    r->len[VCPU_REC_XSAVE] < sizeof(struct kvm_xsave))
		return rec_err(v, err, errlen, VCPU_REC_XSAVE, "is too short");
	return 0;
}

/* A record holding a header with a count, then count entries. */
static int check_counted(struct vcpu *v, const struct vcpu_recs *r, int kind,
			 size_t hdr, size_t entry, uint32_t max, char *err,
			 size_t errlen)
{
	uint32_t n;

	if (!r->p[kind])
		return rec_err(v, err, errlen, kind, "missing");
	if (r->len[kind] < hdr)
		return rec_err(v, err, errlen, kind, "is too short");
	memcpy(&n, r->p[kind], sizeof(n)); /* nent / nmsrs come first */
	if (n > max || r->len[kind] != hdr + (size_t)n * entry)
		return rec_err(v, err, errlen, kind, "has a bad count");
	return 0;
}

/* A copy of a record, aligned and (for XSAVE) padded to what KVM reads. */
static void *rec_copy(const struct vcpu_recs *r, int kind, size_t min)
{
	size_t n = r->len[kind] > min ? r->len[kind] : min;
	void *p = calloc(1, n);

	if (p)
		memcpy(p, r->p[kind], r->len[kind]);
	return p;
}

static int set_ioctl(struct vcpu *v, unsigned long req, const char *name,
		     const struct vcpu_recs *r, int kind, size_t min, char *err,
		     size_t errlen)
{
	void *p;
	int rc;

	if (!r->p[kind])
		return 0;
	p = rec_copy(r, kind, min);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = ioctl(v->fd, req, p);
	free(p);
	if (rc < 0) {
		snprintf(err, errlen, "vCPU %d: %s: %s", v->id, name,
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Two calibrations of one machine's TSC differ by a few kHz (seen here:
 * 22 kHz of 2.1 GHz between two boots of one host), less than the
 * guest's own clocksource tolerates; like Firecracker, scale only beyond
 * 250 parts per million.
 */
#define TSC_KHZ_TOLERANCE_PPM 250

/* The guest's TSC must tick at the saved rate, or its clock drifts. */
static int restore_tsc_khz(struct vcpu *v, const struct vcpu_recs *r, char *err,
			   size_t errlen)
{
	uint64_t diff;
	uint32_t want;
	int now;

	if (!r->p[VCPU_REC_TSC_KHZ])
		return 0;
	memcpy(&want, r->p[VCPU_REC_TSC_KHZ], sizeof(want));
	now = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	if (now < 0 || (uint32_t)now == want)
		return 0;
	diff = (uint32_t)now > want ? (uint32_t)now - want
				    : want - (uint32_t)now;
	if (diff * 1000000 <= (uint64_t)want * TSC_KHZ_TOLERANCE_PPM)
		return 0;
	if (ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) <=
		    0 ||
	    ioctl(v->fd, KVM_SET_TSC_KHZ, (unsigned long)want) < 0) {
		snprintf(err, errlen,
			 "vCPU %d: the snapshot's TSC runs at %u kHz, this "
			 "host's at %d kHz, and KVM cannot scale it (%s); "
			 "restore on a host with the same TSC frequency",
			 v->id, want, now, strerror(errno));
		return -1;
	}
	return 0;
}

/* KVM_SET_MSRS sets a prefix and returns its length: report the first one
 * it refused; refusing an essential MSR fails the restore. */
static int restore_msrs(struct vcpu *v, const struct vcpu_recs *r, char *err,
			size_t errlen)
{
	struct kvm_msrs *m = rec_copy(r, VCPU_REC_MSRS, 0);
	uint32_t n, at = 0;
	int rc = 0;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = m->nmsrs;
	while (at < n && rc == 0) {
		int got;

		memmove(&m->entries[0], &m->entries[at],
			(n - at) * sizeof(m->entries[0]));
		n -= at;
		m->nmsrs = n;
		at = 0;
		got = ioctl(v->fd, KVM_SET_MSRS, m);
		if (got < 0) {
			snprintf(err, errlen, "vCPU %d: KVM_SET_MSRS: %s",
				 v->id, strerror(errno));
			rc = -1;
		} else if ((uint32_t)got < n) {
			uint32_t bad = m->entries[got].index;

			if (vcpu_msr_essential(bad)) {
				snprintf(
					err, errlen,
					"vCPU %d: KVM refused MSR %#x from the "
					"snapshot; this KVM cannot restore it",
					v->id, bad);
				rc = -1;
			} else {
				fprintf(stderr,
					"kiln-vmm: vCPU %d: KVM refused MSR "
					"%#x from the snapshot; continuing "
					"without it\n",
					v->id, bad);
			}
			at = (uint32_t)got + 1;
		} else {
			at = n;
		}
	}
	free(m);
	return rc;
}

static int restore_apply(struct vcpu *v, const struct vcpu_recs *r,
			 size_t xsave_min, char *err, size_t errlen)
{
#define SET(req, kind, min) set_ioctl(v, req, #req, r, kind, min, err, errlen)
	if (restore_tsc_khz(v, r, err, errlen) ||
	    SET(KVM_SET_CPUID2, VCPU_REC_CPUID, 0) ||
	    SET(KVM_SET_MP_STATE, VCPU_REC_MP_STATE, 0) ||
	    SET(KVM_SET_REGS, VCPU_REC_REGS, 0) ||
	    SET(KVM_SET_SREGS, VCPU_REC_SREGS, 0) ||
	    SET(KVM_SET_XSAVE, VCPU_REC_XSAVE, xsave_min) ||
	    SET(KVM_SET_FPU, VCPU_REC_FPU, 0) ||
	    SET(KVM_SET_XCRS, VCPU_REC_XCRS, 0) ||
	    SET(KVM_SET_DEBUGREGS, VCPU_REC_DEBUGREGS, 0) ||
	    SET(KVM_SET_LAPIC, VCPU_REC_LAPIC, 0) ||
	    restore_msrs(v, r, err, errlen) ||
	    SET(KVM_SET_VCPU_EVENTS, VCPU_REC_EVENTS, 0))
		return -1;
#undef SET
	/* The guest was stopped by the host, not stuck: tell its watchdog.
	 * EINVAL: the guest does not use kvmclock. */
	if (ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) >
		    0 &&
	    ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		fprintf(stderr, "kiln-vmm: vCPU %d: KVM_KVMCLOCK_CTRL: %s\n",
			v->id, strerror(errno));
	return 0;
}

int vcpu_state_restore(struct vcpu *v, struct snap_reader *sec, char *err,
		       size_t errlen)
{
	struct vcpu_recs r;
	int size2 = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	size_t xsave_min = size2 > (int)sizeof(struct kvm_xsave)
				   ? (size_t)size2
				   : sizeof(struct kvm_xsave);

	if (vcpu_state_parse(sec, r.p, r.len)) {
		snprintf(err, errlen, "vCPU %d: the state records are corrupt",
			 v->id);
		return -1;
	}
	if (check_sizes(v, &r, err, errlen) ||
	    check_counted(v, &r, VCPU_REC_CPUID, sizeof(struct kvm_cpuid2),
			  sizeof(struct kvm_cpuid_entry2), CPUID_MAX_ENTRIES,
			  err, errlen) ||
	    check_counted(v, &r, VCPU_REC_MSRS, sizeof(struct kvm_msrs),
			  sizeof(struct kvm_msr_entry), 4096, err, errlen))
		return -1;
	if (r.p[VCPU_REC_XSAVE] &&
	    ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) <= 0) {
		snprintf(err, errlen,
			 "vCPU %d: the snapshot has XSAVE state but this KVM "
			 "lacks KVM_CAP_XSAVE",
			 v->id);
		return -1;
	}
	return restore_apply(v, &r, xsave_min, err, errlen);
}
