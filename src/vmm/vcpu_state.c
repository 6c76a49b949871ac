/* SPDX-License-Identifier: MIT */
/*
 * vCPU state for snapshots (see vcpu_state.h).  The order of the KVM calls
 * matters and follows what Firecracker learned the hard way: MP_STATE is
 * read first and VCPU_EVENTS last (so pending events reflect everything
 * read before them); on restore CPUID goes first (KVM derives the valid
 * XSAVE features and MSRs from it), LAPIC after SREGS (the APIC base) and
 * before the MSRs (TSC_DEADLINE needs the timer mode), and VCPU_EVENTS after
 * REGS.
 */
#include <errno.h>
#include <stdbool.h>
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

#define MSR_IA32_TSC 0x10
#define VCPU_MAX_MSRS 1024
#define XSAVE_LEGACY_SIZE ((uint32_t)sizeof(struct kvm_xsave))

static const uint32_t essential_msrs[] = {
	0x10, /* IA32_TSC */
	0x11,	    0x12, /* KVM wall clock / system time (old) */
	0x174,	    0x175,	0x176, /* SYSENTER_CS/ESP/EIP */
	0x1a0, /* MISC_ENABLE */
	0x277, /* PAT */
	0x2ff, /* MTRRdefType */
	0x6e0, /* TSC_DEADLINE */
	0xc0000080, /* EFER */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR..SFMASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0x4b564d00, 0x4b564d01, /* KVM wall clock / system time (new) */
};

#define NESSENTIAL (sizeof(essential_msrs) / sizeof(essential_msrs[0]))

int vcpu_msr_essential(uint32_t index)
{
	for (size_t i = 0; i < NESSENTIAL; i++)
		if (essential_msrs[i] == index)
			return 1;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t vcpu_msr_list(const uint32_t *kvm, size_t n, uint32_t *out, size_t cap)
{
	size_t k = 0, j = 0;

	for (size_t i = 0; i < NESSENTIAL && k < cap; i++)
		out[k++] = essential_msrs[i];
	for (size_t i = 0; i < n && k < cap; i++)
		out[k++] = kvm[i];
	qsort(out, k, sizeof(*out), u32_cmp);
	for (size_t i = 0; i < k; i++)
		if (j == 0 || out[j - 1] != out[i])
			out[j++] = out[i];
	return j;
}

int vcpu_state_parse(struct snap_reader *r, const uint8_t *rec[VCPU_REC_MAX],
		     uint32_t len[VCPU_REC_MAX])
{
	memset(rec, 0, sizeof(rec[0]) * VCPU_REC_MAX);
	memset(len, 0, sizeof(len[0]) * VCPU_REC_MAX);
	while (!r->bad && r->off < r->len) {
		uint32_t kind = snap_get_u32(r), n = snap_get_u32(r);

		if (r->bad || kind == 0 || kind >= VCPU_REC_MAX || rec[kind] ||
		    n > r->len - r->off)
			return -1;
		rec[kind] = r->p + r->off;
		len[kind] = n;
		r->off += n;
	}
	return r->bad ? -1 : 0;
}

static void put_rec(struct snap_buf *b, uint32_t kind, const void *p,
		    uint32_t n)
{
	snap_put_u32(b, kind);
	snap_put_u32(b, n);
	snap_put(b, p, n);
}

static int vcpu_cap(struct vcpu *v, long cap)
{
	int rc = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, cap);

	return rc < 0 ? 0 : rc;
}

/* GET ioctl into p, recorded as kind. */
static int save_ioctl(struct vcpu *v, struct snap_buf *b, uint32_t kind,
		      unsigned long req, const char *name, void *p, uint32_t n,
		      char *err, size_t errlen)
{
	if (ioctl(v->fd, req, p) < 0) {
		snprintf(err, errlen, "vCPU %d: %s: %s", v->id, name,
			 strerror(errno));
		return -1;
	}
	put_rec(b, kind, p, n);
	return 0;
}

static int save_fpu_state(struct vcpu *v, struct snap_buf *b, char *err,
			  size_t errlen)
{
	int size2 = vcpu_cap(v, KVM_CAP_XSAVE2);
	uint32_t size = size2 > (int)XSAVE_LEGACY_SIZE ? (uint32_t)size2
						       : XSAVE_LEGACY_SIZE;
	struct kvm_fpu fpu;
	void *x;
	int rc;

	if (!vcpu_cap(v, KVM_CAP_XSAVE))
		return save_ioctl(v, b, VCPU_REC_FPU, KVM_GET_FPU,
				  "KVM_GET_FPU", &fpu, sizeof(fpu), err,
				  errlen);
	/* Beyond 4 KiB (AMX) only KVM_GET_XSAVE2 returns everything. */
	x = calloc(1, size);
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = save_ioctl(v, b, VCPU_REC_XSAVE,
			size2 > 0 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			size2 > 0 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE", x, size,
			err, errlen);
	free(x);
	return rc;
}

/* An entry KVM never writes: every byte 0xff (its padding is zero). */
static bool cpuid_entry_unused(const struct kvm_cpuid_entry2 *e)
{
	const uint8_t *p = (const uint8_t *)e;

	for (size_t i = 0; i < sizeof(*e); i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/*
 * The CPUID table KVM applies to this vCPU.  KVM_GET_CPUID2 copies its
 * entries but, before Linux 6.x, never tells how many (nent comes back
 * unchanged on success), so the buffer is pre-filled with an impossible
 * pattern and the table ends at the first untouched entry.
 */
static int save_cpuid(struct vcpu *v, struct snap_buf *b, char *err,
		      size_t errlen)
{
	struct kvm_cpuid2 *c = cpuid_alloc(CPUID_MAX_ENTRIES);
	uint32_t n = 0;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memset(c->entries, 0xff, CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (ioctl(v->fd, KVM_GET_CPUID2, c) < 0) {
		snprintf(err, errlen, "vCPU %d: KVM_GET_CPUID2: %s", v->id,
			 strerror(errno));
		free(c);
		return -1;
	}
	while (n < c->nent && n < CPUID_MAX_ENTRIES &&
	       !cpuid_entry_unused(&c->entries[n]))
		n++;
	c->nent = n;
	put_rec(b, VCPU_REC_CPUID, c,
		(uint32_t)(sizeof(*c) + n * sizeof(c->entries[0])));
	free(c);
	return 0;
}

/* KVM's MSR index list plus the essential ones (vcpu_msr_list). */
static size_t msr_candidates(struct vcpu *v, uint32_t *out, size_t cap)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + VCPU_MAX_MSRS * 4);
	size_t n = 0;

	if (!l)
		return vcpu_msr_list(NULL, 0, out, cap);
	l->nmsrs = VCPU_MAX_MSRS;
	if (ioctl(v->vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0)
		n = l->nmsrs;
	n = vcpu_msr_list(l->indices, n, out, cap);
	free(l);
	return n;
}

static struct kvm_msrs *msrs_alloc(size_t n)
{
	return calloc(1, sizeof(struct kvm_msrs) +
				 n * sizeof(struct kvm_msr_entry));
}

/*
 * Keep the MSRs KVM_GET_MSRS actually returns: it stops at the first it
 * cannot read and returns how many it did, so skip that one and go on.
 * Then read the final list once more and insist on every one.
 */
static int save_msrs(struct vcpu *v, struct snap_buf *b, char *err,
		     size_t errlen)
{
	uint32_t idx[VCPU_MAX_MSRS + NESSENTIAL];
	size_t n = msr_candidates(v, idx, sizeof(idx) / 4), keep = 0, at = 0;
	struct kvm_msrs *m = msrs_alloc(n);
	int rc = -1, got;

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (at < n) {
		m->nmsrs = (uint32_t)(n - at);
		for (size_t i = at; i < n; i++)
			m->entries[i - at].index = idx[i];
		got = ioctl(v->fd, KVM_GET_MSRS, m);
		if (got < 0) {
			snprintf(err, errlen, "vCPU %d: KVM_GET_MSRS: %s",
				 v->id, strerror(errno));
			goto out;
		}
		for (int i = 0; i < got; i++)
			idx[keep++] = idx[at + (size_t)i];
		if (at + (size_t)got < n &&
		    idx[at + (size_t)got] == MSR_IA32_TSC) {
			snprintf(err, errlen,
				 "vCPU %d: KVM cannot read IA32_TSC; cannot "
				 "snapshot on this KVM",
				 v->id);
			goto out;
		}
		at += (size_t)got + 1; /* skip the unreadable one */
	}
	m->nmsrs = (uint32_t)keep;
	for (size_t i = 0; i < keep; i++)
		m->entries[i].index = idx[i];
	got = ioctl(v->fd, KVM_GET_MSRS, m);
	if (got < 0 || (size_t)got != keep) {
		snprintf(err, errlen,
			 "vCPU %d: KVM_GET_MSRS returned %d of %zu MSRs: %s",
			 v->id, got, keep, got < 0 ? strerror(errno) : "short");
		goto out;
	}
	put_rec(b, VCPU_REC_MSRS, m,
		(uint32_t)(sizeof(*m) + keep * sizeof(m->entries[0])));
	rc = 0;
out:
	free(m);
	return rc;
}

int vcpu_state_save(struct vcpu *v, struct snap_buf *b, char *err,
		    size_t errlen)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events ev;
	size_t mark = snap_section_begin(b, SNAP_TAG_VCPU, (uint32_t)v->id);

#define SAVE(kind, req, var) \
	save_ioctl(v, b, kind, req, #req, &var, sizeof(var), err, errlen)
	if (SAVE(VCPU_REC_MP_STATE, KVM_GET_MP_STATE, mp) ||
	    SAVE(VCPU_REC_REGS, KVM_GET_REGS, regs) ||
	    SAVE(VCPU_REC_SREGS, KVM_GET_SREGS, sregs) ||
	    save_fpu_state(v, b, err, errlen))
		return -1;
	if (vcpu_cap(v, KVM_CAP_XCRS) &&
	    SAVE(VCPU_REC_XCRS, KVM_GET_XCRS, xcrs))
		return -1;
	if (vcpu_cap(v, KVM_CAP_DEBUGREGS) &&
	    SAVE(VCPU_REC_DEBUGREGS, KVM_GET_DEBUGREGS, dregs))
		return -1;
	if (SAVE(VCPU_REC_LAPIC, KVM_GET_LAPIC, lapic))
		return -1;
	if (vcpu_cap(v, KVM_CAP_GET_TSC_KHZ)) {
		int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);

		if (khz > 0) {
			uint32_t k = (uint32_t)khz;

			put_rec(b, VCPU_REC_TSC_KHZ, &k, sizeof(k));
		}
	}
	if (save_cpuid(v, b, err, errlen) || save_msrs(v, b, err, errlen))
		return -1;
	if (vcpu_cap(v, KVM_CAP_VCPU_EVENTS) &&
	    SAVE(VCPU_REC_EVENTS, KVM_GET_VCPU_EVENTS, ev))
		return -1;
#undef SAVE
	snap_section_end(b, mark);
	if (b->oom) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}
