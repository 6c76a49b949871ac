/* SPDX-License-Identifier: MIT */
/*
 * Saving and restoring one vCPU's KVM state for snapshots.  The vCPU must be
 * parked (vm_pause) or not yet started.  The state is a SNAP_TAG_VCPU
 * section (instance = vCPU id) holding records "u32 kind, u32 length,
 * bytes"; the bytes are the KVM structures of linux/kvm.h for x86-64, so a
 * snapshot restores only on a kiln-vmm/KVM of the same architecture (the
 * VM_INFO section checks the host).
 */
#ifndef KILN_VMM_VCPU_STATE_H
#define KILN_VMM_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

struct vcpu;
struct snap_buf;
struct snap_reader;

enum vcpu_rec {
	VCPU_REC_MP_STATE = 1,
	VCPU_REC_REGS,
	VCPU_REC_SREGS,
	VCPU_REC_XSAVE,
	VCPU_REC_FPU, /* instead of XSAVE when KVM lacks KVM_CAP_XSAVE */
	VCPU_REC_XCRS,
	VCPU_REC_DEBUGREGS,
	VCPU_REC_LAPIC,
	VCPU_REC_TSC_KHZ,
	VCPU_REC_CPUID,
	VCPU_REC_MSRS,
	VCPU_REC_EVENTS,
	VCPU_REC_MAX
};

/* Append v's state as one section, in Firecracker's order (MP_STATE first,
 * VCPU_EVENTS last).  0 or -1 with err. */
int vcpu_state_save(struct vcpu *v, struct snap_buf *b, char *err,
		    size_t errlen);

/*
 * Set v's state from section r (SET_CPUID2, MP_STATE, REGS, SREGS,
 * XSAVE/FPU, XCRS, DEBUGREGS, LAPIC, MSRs, VCPU_EVENTS, KVMCLOCK_CTRL),
 * after adjusting the TSC frequency if the saved one differs.  Every record
 * is size-checked first.  0 or -1 with err.
 */
int vcpu_state_restore(struct vcpu *v, struct snap_reader *r, char *err,
		       size_t errlen);

/* --- pure helpers, exposed for unit tests --- */

/* Split a section into records: rec[kind] / len[kind] (NULL / 0 when
 * absent).  -1 for broken framing, an unknown or repeated kind. */
int vcpu_state_parse(struct snap_reader *r, const uint8_t *rec[VCPU_REC_MAX],
		     uint32_t len[VCPU_REC_MAX]);

/*
 * The MSRs to save: KVM's list (kvm, n) plus the ones a restore cannot do
 * without (IA32_TSC, TSC_DEADLINE, the kvmclock MSRs, SYSCALL/SYSENTER,
 * PAT, EFER, ...), without duplicates, sorted by index so IA32_TSC is set
 * before the MSRs that depend on it.  Returns the count written to out
 * (at most cap).
 */
size_t vcpu_msr_list(const uint32_t *kvm, size_t n, uint32_t *out, size_t cap);

/* True for the MSRs a restore refuses to go without. */
int vcpu_msr_essential(uint32_t index);

#endif
