/* SPDX-License-Identifier: MIT */
/*
 * The syscall allowlists, derived from what the VMM's code paths call
 * (nm -D of kiln-vmm lists every libc entry point it uses; glibc's own
 * needs are added: malloc's brk/mmap, pthread_create's clone, stdio's
 * TCGETS, abort's tgkill).  Argument filters narrow the calls that would
 * otherwise open new attack surface: ioctl only with the listed requests,
 * socket only AF_UNIX, clone only for threads, no executable mappings,
 * tgkill only within this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "seccomp.h"

#define K_MAIN (1u << SECCOMP_VMM_MAIN)
#define K_VCPU (1u << SECCOMP_VCPU)
#define K_BOTH (K_MAIN | K_VCPU)

static enum seccomp_mode seccomp_mode = SECCOMP_ENFORCE;

struct seccomp_entry {
	int nr; /* SCMP_SYS(...) */
	unsigned int kinds;
};

/* Allowed with any arguments. */
static const struct seccomp_entry seccomp_plain[] = {
	/* fd I/O: devices run on vCPU threads when ioeventfd is missing */
	{SCMP_SYS(read), K_BOTH},
	{SCMP_SYS(write), K_BOTH},
	{SCMP_SYS(readv), K_BOTH},
	{SCMP_SYS(writev), K_BOTH},
	{SCMP_SYS(pread64), K_BOTH},
	{SCMP_SYS(pwrite64), K_BOTH},
	{SCMP_SYS(preadv), K_BOTH},
	{SCMP_SYS(pwritev), K_BOTH},
	{SCMP_SYS(preadv2), K_BOTH},
	{SCMP_SYS(pwritev2), K_BOTH},
	{SCMP_SYS(lseek), K_BOTH},
	{SCMP_SYS(fsync), K_BOTH},
	{SCMP_SYS(fdatasync), K_BOTH},
	{SCMP_SYS(close), K_BOTH},
	{SCMP_SYS(fstat), K_BOTH},
	{SCMP_SYS(newfstatat), K_BOTH},
	{SCMP_SYS(statx), K_MAIN},
	{SCMP_SYS(sendmsg), K_BOTH},
	{SCMP_SYS(sendto), K_BOTH},
	{SCMP_SYS(recvmsg), K_BOTH},
	{SCMP_SYS(recvfrom), K_BOTH},
	{SCMP_SYS(epoll_ctl), K_BOTH}, /* evloop_mod() from any thread */
	/* threads, time, memory */
	{SCMP_SYS(futex), K_BOTH},
	{SCMP_SYS(rt_sigreturn), K_BOTH},
	{SCMP_SYS(rt_sigprocmask), K_BOTH},
	{SCMP_SYS(restart_syscall), K_BOTH},
	{SCMP_SYS(exit), K_BOTH},
	{SCMP_SYS(exit_group), K_BOTH},
	{SCMP_SYS(getpid), K_BOTH},
	{SCMP_SYS(gettid), K_BOTH},
	{SCMP_SYS(clock_gettime), K_BOTH},
	{SCMP_SYS(clock_nanosleep), K_BOTH},
	{SCMP_SYS(nanosleep), K_BOTH},
	{SCMP_SYS(sched_yield), K_BOTH},
	{SCMP_SYS(getrandom), K_BOTH},
	{SCMP_SYS(brk), K_BOTH},
	{SCMP_SYS(munmap), K_BOTH},
	{SCMP_SYS(mremap), K_BOTH},
	{SCMP_SYS(madvise), K_BOTH},
	{SCMP_SYS(rseq), K_BOTH},
	/* main thread only: event loop and timers */
	{SCMP_SYS(epoll_create1), K_MAIN},
	{SCMP_SYS(epoll_wait), K_MAIN},
	{SCMP_SYS(epoll_pwait), K_MAIN},
	{SCMP_SYS(poll), K_MAIN},
	{SCMP_SYS(ppoll), K_MAIN},
	{SCMP_SYS(eventfd2), K_MAIN},
	{SCMP_SYS(signalfd4), K_MAIN},
	{SCMP_SYS(timerfd_create), K_MAIN},
	{SCMP_SYS(timerfd_settime), K_BOTH}, /* serial: re-arms on THR writes */
	{SCMP_SYS(timerfd_gettime), K_MAIN},
	{SCMP_SYS(timer_create), K_MAIN},
	{SCMP_SYS(timer_settime), K_MAIN},
	{SCMP_SYS(timer_delete), K_MAIN},
	{SCMP_SYS(rt_sigaction), K_MAIN},
	{SCMP_SYS(sigaltstack), K_BOTH}, /* also queried by sanitizers */
	{SCMP_SYS(set_robust_list), K_MAIN},
	{SCMP_SYS(sched_getaffinity), K_MAIN}, /* pthread_getattr_np() */
	/* Unix sockets: API, vsock (socket() itself is filtered below) */
	{SCMP_SYS(bind), K_MAIN},
	{SCMP_SYS(listen), K_MAIN},
	{SCMP_SYS(accept4), K_MAIN},
	{SCMP_SYS(connect), K_MAIN},
	{SCMP_SYS(shutdown), K_MAIN},
	{SCMP_SYS(getsockopt), K_MAIN},
	{SCMP_SYS(setsockopt), K_MAIN},
	{SCMP_SYS(getsockname), K_MAIN},
	{SCMP_SYS(getpeername), K_MAIN},
	/* files: snapshots, sockets' paths (the jail root confines them) */
	{SCMP_SYS(openat), K_MAIN},
	{SCMP_SYS(open), K_MAIN},
	{SCMP_SYS(unlink), K_MAIN},
	{SCMP_SYS(unlinkat), K_MAIN},
	{SCMP_SYS(rename), K_MAIN},
	{SCMP_SYS(renameat), K_MAIN},
	{SCMP_SYS(renameat2), K_MAIN},
	{SCMP_SYS(chmod), K_MAIN},
	{SCMP_SYS(fchmod), K_MAIN},
	{SCMP_SYS(fchmodat), K_MAIN},
	{SCMP_SYS(ftruncate), K_MAIN},
	{SCMP_SYS(fallocate), K_MAIN},
	{SCMP_SYS(flock), K_MAIN},
	{SCMP_SYS(stat), K_MAIN},
	{SCMP_SYS(lstat), K_MAIN},
	{SCMP_SYS(access), K_MAIN},
	{SCMP_SYS(faccessat), K_MAIN},
	{SCMP_SYS(faccessat2), K_MAIN},
	{SCMP_SYS(dup), K_MAIN},
	{SCMP_SYS(dup3), K_MAIN},
	{SCMP_SYS(fcntl), K_MAIN},
	{SCMP_SYS(pipe2), K_MAIN},
	/* a vCPU thread stacks its own filter on the inherited one */
	{SCMP_SYS(seccomp), K_MAIN},
};

/* ioctl requests, by thread kind.  Anything else kills. */
static const struct {
	unsigned long req;
	unsigned int kinds;
} seccomp_ioctls[] = {
	/* vCPU fd: run and state save/restore (done on the vCPU thread) */
	{KVM_RUN, K_BOTH},
	{KVM_GET_REGS, K_BOTH},
	{KVM_SET_REGS, K_BOTH},
	{KVM_GET_SREGS, K_BOTH},
	{KVM_SET_SREGS, K_BOTH},
	{KVM_GET_FPU, K_BOTH},
	{KVM_SET_FPU, K_BOTH},
	{KVM_GET_XSAVE, K_BOTH},
	{KVM_SET_XSAVE, K_BOTH},
#ifdef KVM_GET_XSAVE2
	{KVM_GET_XSAVE2, K_BOTH},
#endif
	{KVM_GET_XCRS, K_BOTH},
	{KVM_SET_XCRS, K_BOTH},
	{KVM_GET_DEBUGREGS, K_BOTH},
	{KVM_SET_DEBUGREGS, K_BOTH},
	{KVM_GET_LAPIC, K_BOTH},
	{KVM_SET_LAPIC, K_BOTH},
	{KVM_GET_MSRS, K_BOTH},
	{KVM_SET_MSRS, K_BOTH},
	{KVM_GET_VCPU_EVENTS, K_BOTH},
	{KVM_SET_VCPU_EVENTS, K_BOTH},
	{KVM_GET_MP_STATE, K_BOTH},
	{KVM_SET_MP_STATE, K_BOTH},
	{KVM_GET_CPUID2, K_BOTH},
	{KVM_SET_CPUID2, K_BOTH},
	{KVM_KVMCLOCK_CTRL, K_BOTH},
	{KVM_TRANSLATE, K_BOTH},
	{KVM_GET_TSC_KHZ, K_BOTH},
	{KVM_SET_TSC_KHZ, K_BOTH},
	{KVM_CHECK_EXTENSION, K_BOTH},
	/* devices emulated on a vCPU thread without irqfd raise lines */
	{KVM_IRQ_LINE, K_BOTH},
	/* stdio: isatty() */
	{TCGETS, K_BOTH},
	/* /dev/kvm and VM fd: creation, boot, restore */
	{KVM_GET_API_VERSION, K_MAIN},
	{KVM_CREATE_VM, K_MAIN},
	{KVM_GET_VCPU_MMAP_SIZE, K_MAIN},
	{KVM_CREATE_VCPU, K_MAIN},
	{KVM_GET_SUPPORTED_CPUID, K_MAIN},
	{KVM_GET_MSR_INDEX_LIST, K_MAIN},
	{KVM_GET_MSR_FEATURE_INDEX_LIST, K_MAIN},
	{KVM_CREATE_IRQCHIP, K_MAIN},
	{KVM_GET_IRQCHIP, K_MAIN},
	{KVM_SET_IRQCHIP, K_MAIN},
	{KVM_CREATE_PIT2, K_MAIN},
	{KVM_GET_PIT2, K_MAIN},
	{KVM_SET_PIT2, K_MAIN},
	{KVM_GET_CLOCK, K_MAIN},
	{KVM_SET_CLOCK, K_MAIN},
	{KVM_SET_TSS_ADDR, K_MAIN},
	{KVM_SET_IDENTITY_MAP_ADDR, K_MAIN},
	{KVM_SET_USER_MEMORY_REGION, K_MAIN},
	{KVM_GET_DIRTY_LOG, K_MAIN},
	{KVM_ENABLE_CAP, K_MAIN},
	{KVM_IOEVENTFD, K_MAIN},
	{KVM_IRQFD, K_MAIN},
	/* tap device (net) and block devices as drives */
	{TUNSETIFF, K_MAIN},
	{TUNGETIFF, K_MAIN},
	/* virtio-net sets the TAP's offloads when the driver starts the
	 * device: an MMIO write, on a vCPU thread */
	{TUNSETOFFLOAD, K_BOTH},
	{TUNSETVNETHDRSZ, K_MAIN},
	{BLKGETSIZE64, K_MAIN},
	/* serial console on a terminal (never TIOCSTI: no input injection) */
	{TCSETS, K_MAIN},
	{TCSETSW, K_MAIN},
	{TCSETSF, K_MAIN},
	{TIOCGWINSZ, K_MAIN},
	{FIONBIO, K_MAIN},
	{FIONREAD, K_MAIN},
};

void seccomp_set_mode(enum seccomp_mode mode)
{
	seccomp_mode = mode;
}

enum seccomp_mode seccomp_get_mode(void)
{
	return seccomp_mode;
}

const char *seccomp_kind_name(enum seccomp_kind kind)
{
	return kind == SECCOMP_VCPU ? "vcpu" : "vmm-main";
}

/* Add the rules with argument conditions.  0 or a -errno from libseccomp. */
static int seccomp_add_filtered(scmp_filter_ctx ctx, unsigned int bit,
				const char **what)
{
	int rc;

	for (size_t i = 0;
	     i < sizeof(seccomp_ioctls) / sizeof(seccomp_ioctls[0]); i++) {
		if (!(seccomp_ioctls[i].kinds & bit))
			continue;
		*what = "ioctl";
		/* the kernel reads the request as 32 bits: compare those */
		rc = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
			SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu,
				(scmp_datum_t)(uint32_t)seccomp_ioctls[i].req));
		if (rc)
			return rc;
	}

	/* No executable mappings: no injected code can be made runnable. */
	*what = "mmap";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
			      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc)
		return rc;
	*what = "mprotect";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
			      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc)
		return rc;

	/* Signals only to our own threads (vCPU kicks, abort()). */
	*what = "tgkill";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	if (rc)
		return rc;

	if (bit == K_VCPU) {
		/* eventfd/serial fds may be switched to non-blocking */
		*what = "fcntl";
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				      SCMP_A1(SCMP_CMP_EQ, F_GETFL));
		if (!rc)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
					      SCMP_SYS(fcntl), 1,
					      SCMP_A1(SCMP_CMP_EQ, F_SETFL));
		return rc;
	}

	/* main: Unix sockets only, never a network socket */
	*what = "socket";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
			      SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair),
				      1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	if (rc)
		return rc;

	/*
	 * Threads (vCPUs) but no processes: clone must carry CLONE_THREAD.
	 * clone3 passes its flags in memory a filter cannot read, so it
	 * fails with ENOSYS and glibc falls back to clone.
	 */
	*what = "clone";
	rc = seccomp_rule_add(
		ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (rc)
		return rc;
	*what = "clone3";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc)
		return rc;

	/* thread names (pthread_setname_np on itself), stacking filters */
	*what = "prctl";
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			      SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
	if (!rc)
		rc = seccomp_rule_add(
			ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
			SCMP_A0(SCMP_CMP_EQ, PR_SET_NO_NEW_PRIVS));
	return rc;
}

int seccomp_install(enum seccomp_kind kind, char *err, size_t errlen)
{
	unsigned int bit = kind == SECCOMP_VCPU ? K_VCPU : K_MAIN;
	const char *what = "";
	scmp_filter_ctx ctx;
	uint32_t deflt;
	int rc = 0;

	if (seccomp_mode == SECCOMP_OFF)
		return 0;
	deflt = seccomp_mode == SECCOMP_LOG ? SCMP_ACT_LOG
					    : SCMP_ACT_KILL_PROCESS;
	ctx = seccomp_init(deflt);
	if (!ctx) {
		snprintf(err, errlen,
			 "seccomp (%s): seccomp_init failed (out of memory?)",
			 seccomp_kind_name(kind));
		return -1;
	}
	/* this thread only: each thread kind has its own list */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (rc) {
		what = "filter attributes";
		goto out;
	}
	for (size_t i = 0; i < sizeof(seccomp_plain) / sizeof(seccomp_plain[0]);
	     i++) {
		if (!(seccomp_plain[i].kinds & bit))
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, seccomp_plain[i].nr,
				      0);
		if (rc) {
			char *name = seccomp_syscall_resolve_num_arch(
				SCMP_ARCH_NATIVE, seccomp_plain[i].nr);

			snprintf(err, errlen,
				 "seccomp (%s): cannot allow %s: %s",
				 seccomp_kind_name(kind),
				 name ? name : "a syscall", strerror(-rc));
			free(name);
			seccomp_release(ctx);
			return -1;
		}
	}
	rc = seccomp_add_filtered(ctx, bit, &what);
	if (rc)
		goto out;
	what = "load";
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (rc) {
		snprintf(err, errlen, "seccomp (%s): %s: %s",
			 seccomp_kind_name(kind), what, strerror(-rc));
		return -1;
	}
	return 0;
}
