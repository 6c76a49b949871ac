/* SPDX-License-Identifier: MIT */
/*
 * kiln_doctor()'s checks that do not need the host: parsing and judging
 * what was read from it.  Exposed for unit tests.
 */
#ifndef KILN_LIB_DOCTOR_H
#define KILN_LIB_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* KVM_GET_API_VERSION's only value since Linux 2.6.22. */
#define DOCTOR_KVM_API_VERSION 12

/* One check's outcome, before it becomes a struct kiln_check. */
struct doctor_result {
	enum kiln_check_status status;
	char detail[512];
	char fix[512]; /* "" when there is nothing to fix */
};

/*
 * /dev/kvm: open_errno 0 if it opened, then api_version is what
 * KVM_GET_API_VERSION returned (-1: the ioctl failed with ioctl_errno).
 */
void doctor_kvm_judge(int open_errno, int api_version, int ioctl_errno,
		      struct doctor_result *r);

/* The CPUID bits a guest kernel needs, as leaf registers. */
struct doctor_cpuid {
	uint32_t l1_ecx, l1_edx; /* leaf 1 */
	uint32_t e1_ecx, e1_edx; /* leaf 0x80000001 */
};

/*
 * What an x86-64 guest with kiln's CPU templates needs (long mode, SSE2,
 * FXSR, CMOV, CX8, SYSCALL, NX): from KVM's supported CPUID when kvm is
 * true, else from the host CPU (then VMX/SVM says whether KVM could work
 * at all).  pvm: /sys/module/kvm_pvm exists (KVM ignores the template).
 */
void doctor_cpu_judge(const struct doctor_cpuid *c, bool kvm, bool pvm,
		      struct doctor_result *r);

/* Whether a cgroup.controllers line names cpu and memory (as words). */
void doctor_cgroup_v2_controllers(const char *text, bool *cpu, bool *memory);

#endif
