/* SPDX-License-Identifier: MIT */
/*
 * The VM: KVM checks and creation, guest RAM, device helpers (MMIO windows,
 * command line, irqfd, ioeventfd), boot setup and the run/stop protocol.
 *
 * Stop protocol: whoever ends the VM calls vm_request_exit(); the first
 * call records the reason, wakes parked vCPUs, kicks every vCPU thread out
 * of KVM_RUN and stops the event loop; vm_wait() then joins the vCPUs and
 * returns the reason.  Pausing is in vm_pause.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "boot.h"
#include "mptable.h"
#include "vcpu.h"
#include "vm.h"

#define KVM_API_VERSION_REQUIRED 12
#define VM_TSS_ADDR 0xfffbd000UL /* 3 pages, inside the MMIO hole */
#define VM_IDENTITY_MAP_ADDR 0xfffbc000ULL /* 1 page, just below */

int vm_alloc_mmio(struct vm *vm, uint64_t *base, uint32_t *gsi)
{
	if (vm->next_gsi < VM_VIRTIO_GSI_BASE ||
	    vm->next_gsi > VM_VIRTIO_GSI_MAX)
		return -ENOSPC;
	*base = vm->next_mmio;
	*gsi = vm->next_gsi;
	vm->next_mmio += VM_VIRTIO_MMIO_SIZE;
	vm->next_gsi++;
	return 0;
}

int vm_cmdline_append(struct vm *vm, const char *fmt, ...)
{
	size_t room = VM_CMDLINE_MAX - vm->cmdline_len;
	size_t sep = vm->cmdline_len ? 1 : 0;
	va_list ap;
	int n;

	if (room <= sep + 1)
		return -ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(vm->cmdline + vm->cmdline_len + sep, room - sep, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room - sep) {
		vm->cmdline[vm->cmdline_len] = '\0'; /* undo the partial text */
		return -ENOSPC;
	}
	if (sep)
		vm->cmdline[vm->cmdline_len] = ' ';
	vm->cmdline_len += sep + (size_t)n;
	return 0;
}

int vm_irqfd(struct vm *vm, int efd, uint32_t gsi)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = gsi};

	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return 0;
}

static int vm_ioeventfd_ctl(struct vm *vm, int efd, uint64_t addr,
			    uint32_t datamatch, uint32_t flags)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = 4,
		.fd = efd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags,
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
		return -errno;
	return 0;
}

int vm_ioeventfd(struct vm *vm, int efd, uint64_t addr, uint32_t datamatch)
{
	return vm_ioeventfd_ctl(vm, efd, addr, datamatch, 0);
}

int vm_ioeventfd_remove(struct vm *vm, int efd, uint64_t addr,
			uint32_t datamatch)
{
	return vm_ioeventfd_ctl(vm, efd, addr, datamatch,
				KVM_IOEVENTFD_FLAG_DEASSIGN);
}

bool vm_exiting(struct vm *vm)
{
	return __atomic_load_n(&vm->exiting, __ATOMIC_ACQUIRE);
}

void vm_request_exit(struct vm *vm, enum vm_exit why)
{
	bool first = false;

	pthread_mutex_lock(&vm->exit_lock);
	if (!vm->exiting) {
		vm->exit_reason = why;
		__atomic_store_n(&vm->exiting, true, __ATOMIC_RELEASE);
		first = true;
	}
	pthread_mutex_unlock(&vm->exit_lock);
	if (!first)
		return;
	/* Parked vCPUs wait on run_cond: wake them so they see exiting. */
	pthread_mutex_lock(&vm->run_lock);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
	for (int i = 0; vm->vcpus && i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	if (vm->loop)
		evloop_stop(vm->loop, (int)why);
}

void vm_guest_reset(struct vm *vm, const char *why)
{
	if (__atomic_load_n(&vm->guest_panicked, __ATOMIC_ACQUIRE)) {
		fprintf(stderr,
			"kiln-vmm: guest kernel panicked (%s after \"Kernel "
			"panic - not syncing\")\n",
			why);
		vm_request_exit(vm, VM_EXIT_CRASH);
	} else {
		fprintf(stderr, "kiln-vmm: guest rebooted (%s)\n", why);
		vm_request_exit(vm, VM_EXIT_REBOOT);
	}
}

int vm_block_signals(void)
{
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (rc)
		return -rc;
	/* A console or vsock peer that goes away must not kill the VMM. */
	signal(SIGPIPE, SIG_IGN);
	return vcpu_kick_install();
}

/* Capabilities kiln cannot run without, and what each is for. */
static const struct {
	int cap;
	const char *name;
} vm_required_caps[] = {
	{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
	{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
	{KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
	{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
	{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
	{KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
	{KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
	{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
	{KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
	{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static int vm_open_kvm(struct vm *vm, char *err, size_t errlen)
{
	int v, maxcpus;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			return errbuf_set(
				err, errlen,
				"cannot open /dev/kvm: %s; add your user "
				"to the kvm group or run as root",
				strerror(e));
		return errbuf_set(
			err, errlen,
			"cannot open /dev/kvm: %s; kiln needs KVM: load "
			"kvm_intel/kvm_amd or run on a host with "
			"virtualization",
			strerror(e));
	}
	v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION_REQUIRED)
		return errbuf_set(
			err, errlen,
			"/dev/kvm speaks KVM API version %d; kiln needs "
			"version %d",
			v, KVM_API_VERSION_REQUIRED);
	for (size_t i = 0;
	     i < sizeof(vm_required_caps) / sizeof(vm_required_caps[0]); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
			  vm_required_caps[i].cap) <= 0)
			return errbuf_set(
				err, errlen,
				"this KVM lacks %s, which kiln needs; "
				"use a newer host kernel (4.11 or later)",
				vm_required_caps[i].name);
	maxcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (maxcpus <= 0)
		maxcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
				KVM_CAP_NR_VCPUS);
	if (maxcpus > 0 && vm->ncpus > maxcpus)
		return errbuf_set(
			err, errlen,
			"%d vCPUs requested but this KVM allows at most "
			"%d",
			vm->ncpus, maxcpus);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) <
	    GUEST_MEM_MAX_REGIONS)
		return errbuf_set(err, errlen,
				  "this KVM has too few memory slots");
	return 0;
}

static int vm_create_kvm_vm(struct vm *vm, char *err, size_t errlen)
{
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0)
		return errbuf_set(err, errlen, "KVM_CREATE_VM: %s",
				  strerror(errno));
	return 0;
}

/*
 * Called after vm_setup_memory(), not before: once the in-kernel irqchip
 * exists, every KVM_SET_USER_MEMORY_REGION waits for an SRCU grace period
 * (~7 ms measured here, whatever the slot's size), which was two thirds of
 * a restore's time to its first KVM_RUN. Firecracker orders it the same way.
 */
static int vm_create_irqchips(struct vm *vm, char *err, size_t errlen)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	uint64_t idmap = VM_IDENTITY_MAP_ADDR;

	/* Intel VMX needs these pages for real-mode guests; both must be set
	 * before the first vCPU exists and lie outside guest RAM. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, VM_TSS_ADDR) < 0)
		return errbuf_set(err, errlen, "KVM_SET_TSS_ADDR: %s",
				  strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
		return errbuf_set(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s",
				  strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return errbuf_set(err, errlen, "KVM_CREATE_IRQCHIP: %s",
				  strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return errbuf_set(err, errlen, "KVM_CREATE_PIT2: %s",
				  strerror(errno));
	return 0;
}

static int vm_setup_memory(struct vm *vm, int mem_fd, char *err, size_t errlen)
{
	int rc = mem_fd < 0
			 ? guest_mem_alloc(&vm->mem, vm->mem_size)
			 : guest_mem_map_file(&vm->mem, vm->mem_size, mem_fd);

	if (rc)
		return errbuf_set(err, errlen,
				  "cannot map %llu MiB of guest memory%s: %s",
				  (unsigned long long)(vm->mem_size >> 20),
				  mem_fd < 0 ? "" : " from the memory file",
				  strerror(-rc));
	if (vm->track_dirty && guest_mem_track_dirty(&vm->mem))
		return errbuf_set(err, errlen,
				  "out of memory for dirty bitmaps");
	for (int i = 0; i < vm->mem.nregions; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)i,
			.flags = vm->track_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = vm->mem.r[i].gpa,
			.memory_size = vm->mem.r[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)vm->mem.r[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return errbuf_set(
				err, errlen,
				"KVM_SET_USER_MEMORY_REGION slot %d: %s", i,
				strerror(errno));
	}
	return 0;
}

static void vm_init_locks(struct vm *vm)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&vm->exit_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	/* Pause deadlines must not move with the wall clock. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->run_cond, &ca);
	pthread_condattr_destroy(&ca);
}

int vm_create(struct vm *vm, struct evloop *loop, const struct vm_params *p,
	      char *err, size_t errlen)
{
	int ncpus = p->ncpus;
	uint64_t mem_size = p->mem_size;

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = vm->vm_fd = -1;
	vm_init_locks(vm);
	vm->loop = loop;
	vm->next_mmio = VM_VIRTIO_MMIO_BASE;
	vm->next_gsi = VM_VIRTIO_GSI_BASE;
	vm->ncpus = ncpus;
	vm->mem_size = mem_size;
	vm->smt = p->smt;
	vm->track_dirty = p->track_dirty;

	if (ncpus < 1 || ncpus > VM_MAX_VCPUS) {
		errbuf_set(err, errlen, "%d vCPUs: must be between 1 and %d",
			   ncpus, VM_MAX_VCPUS);
		goto fail;
	}
	if (mem_size < ((uint64_t)VM_MIN_MEM_MIB << 20) ||
	    mem_size > ((uint64_t)VM_MAX_MEM_MIB << 20) || mem_size % 4096) {
		errbuf_set(
			err, errlen,
			"%llu bytes of memory: must be between %d and %d MiB",
			(unsigned long long)mem_size, VM_MIN_MEM_MIB,
			VM_MAX_MEM_MIB);
		goto fail;
	}
	if (vm_open_kvm(vm, err, errlen) || vm_create_kvm_vm(vm, err, errlen) ||
	    vm_setup_memory(vm, p->mem_fd, err, errlen) ||
	    vm_create_irqchips(vm, err, errlen))
		goto fail;
	vm->vcpus = calloc((size_t)ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		errbuf_set(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < ncpus; i++)
		vm->vcpus[i].fd = -1;
	for (int i = 0; i < ncpus; i++)
		if (vcpu_create(vm, &vm->vcpus[i], i, err, errlen))
			goto fail;
	return 0;
fail:
	vm_destroy(vm);
	return -1;
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; vm->vcpus && i < vm->ncpus; i++) {
		vcpu_join(&vm->vcpus[i]);
		vcpu_destroy(&vm->vcpus[i]);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	free(vm->cpuid);
	vm->cpuid = NULL;
	vm->loop = NULL; /* the caller's */
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
	guest_mem_free(&vm->mem);
	pthread_mutex_destroy(&vm->exit_lock);
	pthread_mutex_destroy(&vm->run_lock);
	pthread_cond_destroy(&vm->run_cond);
}

int vm_setup_cpuid(struct vm *vm, enum cpu_template tmpl, char *err,
		   size_t errlen)
{
	struct kvm_cpuid2 *c = cpuid_kvm_supported(vm->kvm_fd);

	if (!c)
		return errbuf_set(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s",
				  strerror(errno));
	cpuid_apply_template(c, tmpl);
	free(vm->cpuid);
	vm->cpuid = c;
	return 0;
}

static int vm_write_mptable(struct vm *vm, char *err, size_t errlen)
{
	uint32_t gsis[VM_VIRTIO_GSI_MAX - VM_VIRTIO_GSI_BASE + 1];
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(vm->cpuid, 1, 0);
	void *buf = guest_mem_ptr(&vm->mem, BOOT_EBDA_ADDR, MPTABLE_MAX_SIZE);
	int n = 0, rc;

	for (uint32_t g = VM_VIRTIO_GSI_BASE; g < vm->next_gsi; g++)
		gsis[n++] = g;
	if (!buf)
		return errbuf_set(err, errlen, "no guest RAM for the MP table");
	rc = mptable_write(buf, MPTABLE_MAX_SIZE, (uint32_t)BOOT_EBDA_ADDR,
			   vm->ncpus, gsis, n, leaf1 ? leaf1->eax : 0,
			   leaf1 ? leaf1->edx : 0);
	if (rc < 0)
		return errbuf_set(err, errlen, "MP table: %s", strerror(-rc));
	return 0;
}

int vm_boot_setup(struct vm *vm, const struct boot_kernel *k,
		  const char *initrd_path, char *err, size_t errlen)
{
	struct boot_initrd initrd;

	if (!vm->cpuid)
		return errbuf_set(err, errlen,
				  "internal error: no CPUID template");
	if (boot_kernel_load(k, &vm->mem, err, errlen))
		return -1;
	if (initrd_path &&
	    boot_initrd_load(&vm->mem, k, initrd_path, &initrd, err, errlen))
		return -1;
	if (boot_params_write(&vm->mem, k, vm->cmdline,
			      initrd_path ? &initrd : NULL, err, errlen))
		return -1;
	if (boot_write_cpu_tables(&vm->mem))
		return errbuf_set(err, errlen,
				  "no guest RAM for the page tables");
	if (vm_write_mptable(vm, err, errlen))
		return -1;
	for (int i = 0; i < vm->ncpus; i++)
		if (vcpu_setup(&vm->vcpus[i], k->entry, err, errlen))
			return -1;
	return 0;
}

int vm_start(struct vm *vm, char *err, size_t errlen)
{
	for (int i = 0; i < vm->ncpus; i++) {
		int rc = vcpu_start(&vm->vcpus[i]);

		if (rc) {
			vm_request_exit(vm, VM_EXIT_ERROR);
			return errbuf_set(err, errlen,
					  "cannot start vCPU %d thread: %s", i,
					  strerror(-rc));
		}
	}
	return 0;
}

enum vm_exit vm_wait(struct vm *vm)
{
	int rc;

	for (int i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	pthread_mutex_lock(&vm->exit_lock);
	rc = (int)vm->exit_reason;
	pthread_mutex_unlock(&vm->exit_lock);
	return (enum vm_exit)rc;
}

int vm_dirty_fetch(struct vm *vm, uint64_t *dirty[GUEST_MEM_MAX_REGIONS],
		   char *err, size_t errlen)
{
	if (!vm->track_dirty)
		return errbuf_set(
			err, errlen,
			"dirty page tracking is off: start kiln-vmm with "
			"--track-dirty (or load with track_dirty_pages)");
	for (int i = 0; i < vm->mem.nregions; i++) {
		struct guest_region *r = &vm->mem.r[i];
		size_t words = guest_mem_bitmap_bytes(r->size) / 8;
		struct kvm_dirty_log log = {.slot = (uint32_t)i};

		memset(dirty[i], 0, words * 8);
		log.dirty_bitmap = dirty[i];
		if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
			return errbuf_set(err, errlen,
					  "KVM_GET_DIRTY_LOG slot %d: %s", i,
					  strerror(errno));
		for (size_t w = 0; w < words; w++)
			dirty[i][w] |= __atomic_exchange_n(&r->vmm_dirty[w], 0,
							   __ATOMIC_RELAXED);
	}
	return 0;
}
