/* SPDX-License-Identifier: MIT */
/*
 * CPU templates: the CPUID a guest is given, built from what KVM supports
 * (KVM_GET_SUPPORTED_CPUID), and the per-vCPU topology leaves.
 *
 *   host      everything KVM supports, plus the hypervisor bit.
 *   baseline  a portable subset, so a snapshot taken on one host can be
 *             restored on another (roughly Intel Skylake / AMD Zen 1 without
 *             AVX).  It is an allow list, applied on top of KVM's support:
 *     leaf 1 ECX   SSE3 PCLMULQDQ SSSE3 CX16 SSE4.1 SSE4.2 X2APIC MOVBE
 *                  POPCNT TSC-DEADLINE AES XSAVE OSXSAVE RDRAND HYPERVISOR
 *                  (gone: AVX FMA F16C PCID DCA VMX SMX EIST TM2 CNXT-ID
 *                  SDBG xTPR PDCM MONITOR DTES64 DS-CPL)
 *     leaf 1 EDX   FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA
 *                  CMOV PAT PSE36 CLFSH MMX FXSR SSE SSE2 SS HTT
 *                  (gone: PSN DS ACPI TM PBE)
 *     leaf 7.0 EBX FSGSBASE TSC_ADJUST BMI1 SMEP BMI2 RDSEED ADX SMAP
 *                  CLFLUSHOPT (gone: AVX2 AVX-512*, HLE RTM (TSX), ERMS,
 *                  INVPCID, MPX, RDT, SHA, CLWB, PT, SGX)
 *     leaf 7.0 ECX nothing (gone: PKU OSPKE UMIP GFNI VAES VPCLMULQDQ
 *                  AVX512_* RDPID LA57 WAITPKG MOVDIRI CLDEMOTE ...)
 *     leaf 7.0 EDX speculation controls only: MD_CLEAR SPEC_CTRL STIBP
 *                  ARCH_CAPABILITIES SSBD (mitigations matter more than
 *                  portability here; a host pool needs matching microcode)
 *     leaf 7.n>0   nothing (AVX-VNNI, AVX512_BF16, ...)
 *     leaf 0xD     XSAVE limited to x87 + SSE state (XCR0 mask 0x3, 576-byte
 *                  area); no XSAVEOPT/XSAVEC/XGETBV1/XSAVES, no components
 *     leaf 0x12, 0x14, 0x19, 0x1D, 0x1E  zeroed (SGX, PT, KL, AMX)
 *     leaf 0x80000001 ECX LAHF_LM ABM PREFETCHW; EDX SYSCALL NX PDPE1GB
 *                  RDTSCP LM and (AMD) the copies of allowed leaf 1 bits
 *
 * Some KVMs ignore KVM_SET_CPUID2 (platform.md: the PVM backend shows the
 * guest the host's CPUID).  cpuid_probe() detects that; the template is
 * then enforced from inside the guest with cpuid_guest_cmdline().
 */
#ifndef KILN_VMM_CPUID_H
#define KILN_VMM_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

enum cpu_template { CPU_TEMPLATE_HOST, CPU_TEMPLATE_BASELINE };

/* "host" / "baseline".  0 or -1. */
int cpu_template_from_name(const char *name, enum cpu_template *out);
const char *cpu_template_name(enum cpu_template t);

/* Most entries KVM_GET_SUPPORTED_CPUID is asked for before giving up. */
#define CPUID_MAX_ENTRIES 1024

enum cpuid_reg { CPUID_EAX, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* A zeroed table with room for nent entries (c->nent = nent); free(). */
struct kvm_cpuid2 *cpuid_alloc(uint32_t nent);
struct kvm_cpuid2 *cpuid_dup(const struct kvm_cpuid2 *c);

/* The entry for (function, index); index is ignored for leaves without
 * KVM_CPUID_FLAG_SIGNIFCANT_INDEX.  NULL if absent. */
struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c,
				    uint32_t function, uint32_t index);

bool cpuid_has_bit(const struct kvm_cpuid2 *c, uint32_t function,
		   uint32_t index, enum cpuid_reg reg, unsigned int bit);

/* Restrict c (a copy of KVM's supported set) to template t. */
void cpuid_apply_template(struct kvm_cpuid2 *c, enum cpu_template t);

/*
 * Fill the per-vCPU fields: APIC ID (= cpu), logical processor counts,
 * cache sharing and extended topology (leaves 1, 4, 0xB, 0x1F, 0x80000008,
 * 0x8000001E).  smt: two threads per core (ncpus must then be even).
 */
void cpuid_set_topology(struct kvm_cpuid2 *c, unsigned int cpu,
			unsigned int ncpus, bool smt);

/*
 * The kernel parameters that make a guest that sees the CPUID `seen`
 * (leaves 1, 7.0, 0x80000001 are consulted) behave like template t on a
 * KVM whose ring-0 emulator lacks XSAVE, POPCNT, BMI, AVX and friends:
 * "noxsave clearcpuid=<names> no-kvm-hypercalls nopvspin".  Only features
 * the guest can see are named; the clearcpuid= list is kept within the
 * kernel's 127-character limit, emulator gaps first.  Names that did not
 * fit are written, comma separated, to dropped ("" if none).
 * Returns 0 or -1 if out is too small.
 */
int cpuid_guest_cmdline(const struct kvm_cpuid2 *seen, enum cpu_template t,
			char *out, size_t outlen, char *dropped,
			size_t droppedlen);

/* The kernel reads at most this many characters of clearcpuid=. */
#define CPUID_CLEARCPUID_MAX 127

/* --- KVM side (cpuid_probe.c) --- */

/* KVM_GET_SUPPORTED_CPUID, growing the buffer as needed.  NULL + errno. */
struct kvm_cpuid2 *cpuid_kvm_supported(int kvm_fd);

struct cpuid_probe_result {
	bool honoured; /* the guest saw what KVM_SET_CPUID2 set */
	bool ran; /* the probe guest ran to completion */
	bool ring0_emulated; /* KVM emulates guest kernel mode (PVM) */
	double seconds; /* wall time of the whole probe */
	/* What the probe guest saw in ring 0 (leaves 0, 1, 7.0, 0xD.0,
	 * 0x80000001), or the VMM's own CPUID if the probe could not run. */
	struct kvm_cpuid2 *seen;
};

/*
 * Boot a throwaway VM with one vCPU given cpuid `set` plus a marker vendor
 * string, run CPUID in 64-bit ring 0 and compare.  Never fails the VMM:
 * if the probe cannot run, falls back to the hint /sys/module/kvm_pvm and
 * says so in note.  Free r->seen when done.
 */
void cpuid_probe(int kvm_fd, const struct kvm_cpuid2 *set,
		 struct cpuid_probe_result *r, char *note, size_t notelen);

#endif
