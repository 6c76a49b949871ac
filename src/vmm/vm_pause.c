/* SPDX-License-Identifier: MIT */
/*
 * Pausing the vCPUs (for snapshots and the API's Paused state).
 *
 * vm_pause() raises pause_wanted with a new epoch and kicks every vCPU
 * thread (VCPU_KICK_SIGNAL sets kvm_run.immediate_exit).  A vCPU parks only
 * where its state is consistent: before its first KVM_RUN, or after
 * KVM_RUN returned EINTR, which KVM does only after completing any MMIO/PIO
 * the previous exit left pending.  vm_pause() waits (bounded) until every
 * vCPU is parked for the current epoch.  Because a parked vCPU re-checks
 * pause_wanted under the lock before it leaves, a resume followed at once
 * by a pause keeps it parked, and the epoch it records tells the pauser it
 * has seen the new request; there is no flag pair that can miss an edge.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "vcpu.h"
#include "vm.h"

static void vm_deadline(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void vm_vcpu_park_if_paused(struct vm *vm, struct vcpu *v)
{
	/* Racy read is fine: the pauser sets the flag before it kicks, so a
	 * vCPU that misses it here gets EINTR and comes back. */
	if (!__atomic_load_n(&vm->pause_wanted, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->run_lock);
	while (vm->pause_wanted && !vm_exiting(vm)) {
		if (!v->parked || v->parked_epoch != vm->pause_epoch) {
			v->parked = true;
			v->parked_epoch = vm->pause_epoch;
			pthread_cond_broadcast(&vm->run_cond);
		}
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	}
	v->parked = false;
	pthread_mutex_unlock(&vm->run_lock);
}

/* Every vCPU parked for epoch e?  *laggard is one that is not.  -1 when a
 * vCPU thread already ended (the VM is going away). */
static int vm_all_parked(struct vm *vm, uint64_t e, int *laggard)
{
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->exited)
			return -1;
		if (!v->parked || v->parked_epoch != e) {
			*laggard = i;
			return 0;
		}
	}
	return 1;
}

/*
 * Tell KVM each vCPU was stopped by the host, so the guest's soft-lockup
 * watchdog does not blame itself for the time it spent paused.  EINVAL
 * means the guest has not enabled kvmclock: nothing to do.
 */
static void vm_kvmclock_ctrl(struct vm *vm)
{
	static bool warned;

	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) <= 0)
		return;
	for (int i = 0; i < vm->ncpus; i++)
		if (ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0) < 0 &&
		    errno != EINVAL && !warned) {
			warned = true;
			fprintf(stderr,
				"kiln-vmm: vCPU %d: KVM_KVMCLOCK_CTRL: %s "
				"(the guest may report a soft lockup)\n",
				i, strerror(errno));
		}
}

static void vm_unpause_locked(struct vm *vm)
{
	__atomic_store_n(&vm->pause_wanted, false, __ATOMIC_RELEASE);
	vm->paused = false;
	pthread_cond_broadcast(&vm->run_cond);
}

int vm_pause(struct vm *vm, int timeout_ms, char *err, size_t errlen)
{
	struct timespec deadline;
	int laggard = 0, rc = 0, all;
	uint64_t e;

	if (vm_exiting(vm)) {
		snprintf(err, errlen, "the VM is shutting down");
		return -1;
	}
	pthread_mutex_lock(&vm->run_lock);
	if (vm->paused) {
		pthread_mutex_unlock(&vm->run_lock);
		return 0;
	}
	e = ++vm->pause_epoch;
	__atomic_store_n(&vm->pause_wanted, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->run_lock);
	for (int i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);

	vm_deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&vm->run_lock);
	while ((all = vm_all_parked(vm, e, &laggard)) == 0 && !vm_exiting(vm)) {
		rc = pthread_cond_timedwait(&vm->run_cond, &vm->run_lock,
					    &deadline);
		if (rc == ETIMEDOUT)
			break;
	}
	if (all == 1 && !vm_exiting(vm)) {
		vm->paused = true;
		pthread_mutex_unlock(&vm->run_lock);
		vm_kvmclock_ctrl(vm);
		return 0;
	}
	vm_unpause_locked(vm);
	pthread_mutex_unlock(&vm->run_lock);
	if (all == 1 || all < 0 || vm_exiting(vm))
		snprintf(err, errlen, "the VM is shutting down");
	else
		snprintf(err, errlen,
			 "vCPU %d did not stop within %d ms (stuck in KVM?); "
			 "the VM keeps running",
			 laggard, timeout_ms);
	return -1;
}

void vm_pause_initial(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->pause_epoch++;
	__atomic_store_n(&vm->pause_wanted, true, __ATOMIC_RELEASE);
	vm->paused = true;
	pthread_mutex_unlock(&vm->run_lock);
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->run_lock);
	vm_unpause_locked(vm);
	pthread_mutex_unlock(&vm->run_lock);
}

bool vm_is_paused(struct vm *vm)
{
	bool p;

	pthread_mutex_lock(&vm->run_lock);
	p = vm->paused;
	pthread_mutex_unlock(&vm->run_lock);
	return p;
}
