/* SPDX-License-Identifier: MIT */
/*
 * Persistent sandboxes without KVM: reconciliation of the state database
 * with real processes, and stop/remove/start/lookup through the public API.
 * Rows are written through the state store as kiln would; the "VMMs" are
 * real detached processes (sleep) started as kiln starts a VMM, and the
 * dead owners are real processes that exited, so pids, start times and
 * pidfds are exercised as they are in production.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "kiln.h"
#include "lib/handle.h"
#include "lib/rundir.h"
#include "lib/sandbox.h"
#include "lib/sandbox_jail.h"
#include "lib/sandbox_store.h"
#include "lib/state.h"
#include "lib/vmm_proc.h"

struct fixture {
	char top[64];
	char state[128];
	char run[128];
	char db[160];
	struct kiln *k;
	struct state *st;
	char err[1024];
};

/*
 * The "VMMs" started, killed by the teardown if a test failed half-way:
 * they are not our children and would outlive us (holding the test
 * runner's output pipe if they had inherited it, hence /dev/null).
 */
static pid_t spawned[16];
static uint64_t spawned_start[16];
static int nspawned;

/* A detached process standing where a VMM would. */
static void vmm_start(struct vmm_proc *p)
{
	char *argv[] = {"/bin/sleep", "1000", NULL};
	char err[256];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	assert_true(null >= 0);
	assert_int_equal(
		vmm_proc_spawn_detached(p, argv, null, err, sizeof(err)), 0);
	assert_int_equal(vmm_proc_release(p, err, sizeof(err)), 0);
	close(null);
	assert_true(nspawned < 16);
	spawned[nspawned] = p->pid;
	spawned_start[nspawned++] = p->start_time;
}

static void spawned_kill(void)
{
	for (int i = 0; i < nspawned; i++) {
		int fd = proc_open_verified(spawned[i], spawned_start[i]);

		if (fd >= 0) {
			proc_stop_pidfd(fd, 0, 0);
			close(fd);
		}
	}
	nspawned = 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kiln_options o;

	assert_non_null(f);
	strcpy(f->top, "/tmp/kiln-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->top));
	snprintf(f->state, sizeof(f->state), "%s/state", f->top);
	snprintf(f->run, sizeof(f->run), "%s/run", f->top);
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->state);
	assert_int_equal(mkdir(f->state, 0700), 0);
	kiln_options_init(&o);
	o.cache_dir = f->top;
	o.state_dir = f->state;
	o.runtime_dir = f->run;
	assert_int_equal(kiln_open(&o, &f->k), KILN_OK);
	assert_int_equal(state_open(f->db, &f->st, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	spawned_kill();
	state_close(f->st);
	kiln_close(f->k);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->top);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static bool pid_gone(pid_t pid, uint64_t start)
{
	uint64_t now;

	/* init reaps detached processes asynchronously: poll, bounded */
	for (int i = 0; i < 3000; i++) {
		if (proc_start_time(pid, &now) != 0 || now != start)
			return true;
		usleep(1000);
	}
	return false;
}

/* A pid and start time of a process that has exited. */
static void dead_owner(int *pid, uint64_t *start)
{
	pid_t c = fork();

	assert_true(c >= 0);
	if (c == 0) {
		pause();
		_exit(0);
	}
	assert_int_equal(proc_start_time(c, start), 0);
	kill(c, SIGKILL);
	assert_int_equal(waitpid(c, NULL, 0), c);
	*pid = c;
}

/* Insert a sandbox row with a runtime directory and move it to st. */
static void row_add(struct fixture *f, const char *name,
		    enum state_sandbox_status st, int owner, uint64_t ostart,
		    const struct vmm_proc *vmm, struct state_sandbox *out)
{
	struct state_new n = {
		.name = name,
		.runtime_base = f->run,
		.config = "{\"kernel\":\"/nonexistent/vmlinux\",\"image\":"
			  "\"/nonexistent/base.ext4\",\"cpus\":1,"
			  "\"memory_mib\":256}",
		.owner_pid = owner,
		.owner_start = ostart,
	};
	struct state_update u = {
		.status = st, .owner_pid = owner, .owner_start = ostart};
	char *dir;

	assert_int_equal(
		state_sandbox_create(f->st, &n, out, f->err, sizeof(f->err)),
		0);
	assert_int_equal(
		rundir_create(f->run, out->id, &dir, f->err, sizeof(f->err)),
		0);
	free(dir);
	if (vmm) {
		u.vmm_pid = vmm->pid;
		u.vmm_start = vmm->start_time;
	}
	assert_int_equal(state_sandbox_transition(f->st, out->id,
						  STATE_SB_CREATING, &u, f->err,
						  sizeof(f->err)),
			 0);
}

static bool dir_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/*
 * A running sandbox whose VMM is killed shows as dead, with the reason.
 * Names with letters outside [0-9a-f]: "a" would also be a prefix of
 * every id starting with 'a', so after its removal it could name the
 * other sandbox (1 run in 16).
 */
static void test_dead_vmm(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct state_sandbox a, b;
	struct vmm_proc va, vb;

	vmm_start(&va);
	vmm_start(&vb);
	row_add(f, "alpha", STATE_SB_RUNNING, 0, 0, &va, &a);
	row_add(f, "bravo", STATE_SB_RUNNING, 0, 0, &vb, &b);
	write_file(b.runtime_dir, "vmm.log",
		   "kiln-vmm: note\nkiln-vmm: guest rebooted (triple "
		   "fault)\nkiln-vmm: last console lines:\nkiln-vmm: | x\n");

	assert_int_equal(kiln_sandbox_get(f->k, "alpha", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_RUNNING);
	assert_int_equal(info.vmm_pid, va.pid);
	assert_int_equal(info.vmm_start_time, va.start_time);
	assert_int_equal(info.cpus, 1);
	assert_string_equal(info.image_path, "/nonexistent/base.ext4");
	kiln_sandbox_info_clear(&info);

	kill(va.pid, SIGKILL);
	kill(vb.pid, SIGKILL);
	assert_true(pid_gone(va.pid, va.start_time));
	assert_true(pid_gone(vb.pid, vb.start_time));
	assert_int_equal(kiln_sandbox_get(f->k, "alpha", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_DEAD);
	assert_string_equal(kiln_sandbox_state_name(info.state), "dead");
	assert_int_equal(info.vmm_pid, 0);
	assert_non_null(info.exit_reason);
	assert_non_null(strstr(info.exit_reason, "ended without a message"));
	kiln_sandbox_info_clear(&info);
	assert_int_equal(kiln_sandbox_get(f->k, b.id, &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_DEAD);
	assert_string_equal(info.exit_reason,
			    "kiln-vmm: guest rebooted (triple fault)");
	kiln_sandbox_info_clear(&info);

	/* a dead one can be removed: row and directory go */
	assert_int_equal(kiln_sandbox_remove(f->k, "alpha", 0), KILN_OK);
	assert_false(dir_exists(a.runtime_dir));
	assert_int_equal(kiln_sandbox_get(f->k, "alpha", &info),
			 KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_remove(f->k, b.id, 0), KILN_OK);
	vmm_proc_stop(&va, 0, 0);
	vmm_proc_stop(&vb, 0, 0);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
}

/*
 * kiln_sandbox_list() on a handle that already opened (and reconciled)
 * the store still tells a VMM that died since from a running one, as
 * kiln_sandbox_get() does.
 */
static void test_list_reconciles(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info *list;
	struct state_sandbox a, b;
	struct vmm_proc va;
	size_t n;

	vmm_start(&va);
	row_add(f, "lima", STATE_SB_RUNNING, 0, 0, &va, &a);
	row_add(f, "mike", STATE_SB_STOPPED, 0, 0, NULL, &b);
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(list[i].state, strcmp(list[i].name, "lima")
							? KILN_SB_STOPPED
							: KILN_SB_RUNNING);
	kiln_sandbox_info_list_free(list, n);

	kill(va.pid, SIGKILL);
	assert_true(pid_gone(va.pid, va.start_time));
	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].name, "lima")) {
			assert_int_equal(list[i].state, KILN_SB_STOPPED);
			continue;
		}
		assert_int_equal(list[i].state, KILN_SB_DEAD);
		assert_int_equal(list[i].vmm_pid, 0);
		assert_non_null(list[i].exit_reason);
		assert_non_null(
			strstr(list[i].exit_reason, "ended without a message"));
	}
	kiln_sandbox_info_list_free(list, n);
	vmm_proc_stop(&va, 0, 0);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
}

/*
 * A failed creation is undone: row and runtime directory go.  When the
 * directory cannot be removed, the row stays (failed, shown as dead,
 * naming the directory) so that `kiln rm` can finish the job later.
 */
static void test_create_undo(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct state_sandbox a, b;
	char blocker[256];

	row_add(f, "oscar", STATE_SB_CREATING, 0, 0, NULL, &a);
	store_create_undo(f->k, f->st, &a);
	assert_false(dir_exists(a.runtime_dir));
	assert_int_equal(kiln_sandbox_get(f->k, a.id, &info), KILN_ENOTFOUND);

	/* a directory in it: rundir_remove() removes files only */
	row_add(f, "papa", STATE_SB_CREATING, 0, 0, NULL, &b);
	snprintf(blocker, sizeof(blocker), "%s/stuck", b.runtime_dir);
	assert_int_equal(mkdir(blocker, 0700), 0);
	store_create_undo(f->k, f->st, &b);
	assert_non_null(strstr(kiln_errmsg(f->k), "kept as failed"));
	assert_non_null(strstr(kiln_errmsg(f->k), "kiln rm"));
	assert_true(dir_exists(b.runtime_dir));
	assert_int_equal(kiln_sandbox_get(f->k, "papa", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_DEAD);
	assert_int_equal(info.vmm_pid, 0);
	assert_non_null(info.exit_reason);
	assert_non_null(strstr(info.exit_reason, "left behind"));
	assert_non_null(strstr(info.exit_reason, b.runtime_dir));
	kiln_sandbox_info_clear(&info);
	/* rm says why it cannot finish, keeps the row, and can later */
	assert_int_equal(kiln_sandbox_remove(f->k, "papa", 0), KILN_ESYS);
	assert_int_equal(kiln_sandbox_get(f->k, "papa", &info), KILN_OK);
	kiln_sandbox_info_clear(&info);
	assert_int_equal(rmdir(blocker), 0);
	assert_int_equal(kiln_sandbox_remove(f->k, "papa", 0), KILN_OK);
	assert_false(dir_exists(b.runtime_dir));
	assert_int_equal(kiln_sandbox_get(f->k, "papa", &info), KILN_ENOTFOUND);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
}

/* A recorded pid now used by another process is not the VMM. */
static void test_recycled_pid(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct state_sandbox a;
	struct vmm_proc fake = {.pid = getpid()};

	/* our own pid, with a start time that is not ours */
	assert_int_equal(proc_start_time(getpid(), &fake.start_time), 0);
	fake.start_time += 1;
	row_add(f, "r", STATE_SB_RUNNING, 0, 0, &fake, &a);
	assert_int_equal(kiln_sandbox_get(f->k, "r", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_DEAD);
	kiln_sandbox_info_clear(&info);
	/* removing it must not signal us (we are still here) */
	state_sandbox_clear(&a);
	row_add(f, "r2", STATE_SB_STOPPING, getpid(), 0, &fake, &a);
	assert_int_equal(kiln_sandbox_remove(f->k, "r2", 1), KILN_OK);
	assert_int_equal(kiln_sandbox_remove(f->k, "r", 0), KILN_OK);
	state_sandbox_clear(&a);
}

/* Half-created by a process that died: VMM, directory and row go. */
static void test_half_created(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info *list;
	struct state_sandbox a, live;
	struct vmm_proc v, v2;
	uint64_t ostart, mystart;
	int owner;
	size_t n;

	dead_owner(&owner, &ostart);
	vmm_start(&v);
	vmm_start(&v2);
	row_add(f, "half", STATE_SB_CREATING, owner, ostart, &v, &a);
	/* one being created by a live process (us) is left alone */
	assert_int_equal(proc_start_time(getpid(), &mystart), 0);
	row_add(f, "busy", STATE_SB_CREATING, getpid(), mystart, &v2, &live);

	assert_int_equal(kiln_sandbox_list(f->k, &list, &n), KILN_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "busy");
	assert_int_equal(list[0].state, KILN_SB_CREATING);
	kiln_sandbox_info_list_free(list, n);
	assert_true(pid_gone(v.pid, v.start_time));
	assert_false(dir_exists(a.runtime_dir));
	assert_true(dir_exists(live.runtime_dir));

	/* busy: stop refuses, rm without --force refuses, with it works */
	assert_int_equal(kiln_sandbox_stop(f->k, "busy", 0), KILN_ESTATE);
	assert_non_null(strstr(kiln_errmsg(f->k), "being created"));
	assert_int_equal(kiln_sandbox_remove(f->k, "busy", 0), KILN_ESTATE);
	assert_int_equal(kiln_sandbox_remove(f->k, "busy", 1), KILN_OK);
	assert_true(pid_gone(v2.pid, v2.start_time));
	assert_false(dir_exists(live.runtime_dir));
	vmm_proc_stop(&v, 0, 0);
	vmm_proc_stop(&v2, 0, 0);
	state_sandbox_clear(&a);
	state_sandbox_clear(&live);
}

/* A stop or start whose process died ends stopped; its VMM is killed. */
static void test_interrupted(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct state_sandbox a, b;
	struct vmm_proc v;
	uint64_t ostart;
	int owner;

	dead_owner(&owner, &ostart);
	vmm_start(&v);
	row_add(f, "s1", STATE_SB_STOPPING, owner, ostart, &v, &a);
	row_add(f, "s2", STATE_SB_STARTING, owner, ostart, NULL, &b);
	assert_int_equal(kiln_sandbox_get(f->k, "s1", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_STOPPED);
	assert_non_null(strstr(info.exit_reason, "stopping it"));
	kiln_sandbox_info_clear(&info);
	assert_true(pid_gone(v.pid, v.start_time));
	assert_int_equal(kiln_sandbox_get(f->k, "s2", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_STOPPED);
	kiln_sandbox_info_clear(&info);
	vmm_proc_stop(&v, 0, 0);
	state_sandbox_clear(&a);
	state_sandbox_clear(&b);
}

/*
 * stop on a running sandbox whose "VMM" has no agent: the power-off
 * request cannot be made, SIGTERM ends it; start then fails on the
 * missing kernel and leaves it stopped with the reason.
 */
static void test_stop_start_remove(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct kiln_sandbox *sb;
	struct state_sandbox a;
	struct vmm_proc v;

	vmm_start(&v);
	row_add(f, "web", STATE_SB_RUNNING, 0, 0, &v, &a);
	assert_int_equal(kiln_sandbox_open(f->k, "web", &sb), KILN_EGUEST);
	assert_non_null(strstr(kiln_errmsg(f->k), "cannot reach the agent"));
	assert_null(sb);
	assert_true(
		dir_exists(a.runtime_dir)); /* open failing removes nothing */
	assert_int_equal(kiln_sandbox_stop(f->k, a.id, 0), KILN_OK);
	assert_true(pid_gone(v.pid, v.start_time));
	assert_int_equal(kiln_sandbox_get(f->k, "web", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_STOPPED);
	assert_int_equal(info.vmm_pid, 0);
	kiln_sandbox_info_clear(&info);
	assert_int_equal(kiln_sandbox_stop(f->k, "web", 0), KILN_OK);
	assert_int_equal(kiln_sandbox_open(f->k, "web", &sb), KILN_ESTATE);
	assert_non_null(strstr(kiln_errmsg(f->k), "is stopped, not running"));

	assert_int_equal(kiln_sandbox_start(f->k, "web", NULL, NULL),
			 KILN_ENOTFOUND);
	assert_non_null(strstr(kiln_errmsg(f->k), "/nonexistent/vmlinux"));
	assert_int_equal(kiln_sandbox_get(f->k, "web", &info), KILN_OK);
	assert_int_equal(info.state, KILN_SB_STOPPED);
	assert_non_null(info.exit_reason);
	assert_non_null(strstr(info.exit_reason, "/nonexistent/vmlinux"));
	kiln_sandbox_info_clear(&info);

	/* running again (as if started), then removed with --force */
	state_sandbox_clear(&a);
	vmm_proc_stop(&v, 0, 0);
	vmm_start(&v);
	row_add(f, "web2", STATE_SB_RUNNING, 0, 0, &v, &a);
	assert_int_equal(kiln_sandbox_start(f->k, "web2", NULL, NULL),
			 KILN_ESTATE);
	assert_int_equal(kiln_sandbox_remove(f->k, "web2", 1), KILN_OK);
	assert_true(pid_gone(v.pid, v.start_time));
	assert_false(dir_exists(a.runtime_dir));
	assert_int_equal(kiln_sandbox_remove(f->k, "web", 0), KILN_OK);
	vmm_proc_stop(&v, 0, 0);
	state_sandbox_clear(&a);
}

static void test_lookup(void **state)
{
	struct fixture *f = *state;
	struct kiln_sandbox_info info;
	struct state_sandbox a;

	row_add(f, "x", STATE_SB_STOPPED, 0, 0, NULL, &a);
	assert_int_equal(kiln_sandbox_get(f->k, a.id, &info), KILN_OK);
	assert_string_equal(info.name, "x");
	kiln_sandbox_info_clear(&info);
	/* a unique prefix */
	char prefix[4] = {a.id[0], a.id[1], a.id[2], 0};
	assert_int_equal(kiln_sandbox_get(f->k, prefix, &info), KILN_OK);
	assert_string_equal(info.id, a.id);
	kiln_sandbox_info_clear(&info);
	assert_int_equal(kiln_sandbox_get(f->k, "nope", &info), KILN_ENOTFOUND);
	assert_int_equal(kiln_sandbox_get(f->k, "", &info), KILN_EINVAL);
	assert_int_equal(kiln_sandbox_remove(f->k, "x", 0), KILN_OK);
	state_sandbox_clear(&a);
	assert_string_equal(kiln_sandbox_state_name((enum kiln_sandbox_state)9),
			    "unknown");
}

/* Log lines at warning level, joined (for what a start said). */
static void log_keep(void *ctx, enum kiln_log_level level, const char *tag,
		     const char *msg)
{
	char *buf = ctx;
	size_t len = strlen(buf);

	(void)level;
	(void)tag;
	snprintf(buf + len, 4096 - len, "%s\n", msg);
}

/*
 * A sandbox created with the jail off stays unjailed: the decision
 * (sandbox_jail_wanted()) follows its row, and a later start, by a handle
 * that would jail, says why it does not.
 */
static void test_no_jail_kept(void **state)
{
	static const unsigned char elf[20] = {0x7f, 'E', 'L', 'F', 2,  1, 1,
					      0,    0,	 0,   0,   0,  0, 0,
					      0,    0,	 2,   0,   62, 0};
	struct fixture *f = *state;
	struct state_new n = {.name = "nj", .no_jail = true};
	struct state_sandbox row;
	struct kiln_sandbox *sb;
	struct kiln_options o;
	struct kiln *k;
	char kernel[256], image[256], vmm[256], config[1024], log[4096] = "";
	unsigned char ext4[2048] = {0};
	FILE *fp;
	int rc;

	/* the decision point */
	sb = sandbox_alloc(f->k);
	assert_non_null(sb);
	assert_int_equal(sandbox_jail_wanted(sb), geteuid() == 0);
	sb->no_jail = true;
	assert_false(sandbox_jail_wanted(sb));
	sb->no_jail = false;
	f->k->jail = false;
	assert_false(sandbox_jail_wanted(sb));
	f->k->jail = true;
	kiln_sandbox_close(sb);

	/* inputs that pass the checks, and a "VMM" that exits at once */
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", f->top);
	fp = fopen(kernel, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(elf, 1, sizeof(elf), fp), sizeof(elf));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(truncate(kernel, 4096), 0);
	snprintf(image, sizeof(image), "%s/base.ext4", f->top);
	ext4[1024 + 4] = 0x04;
	ext4[1024 + 56] = 0x53;
	ext4[1024 + 57] = 0xEF;
	fp = fopen(image, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(ext4, 1, sizeof(ext4), fp), sizeof(ext4));
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(truncate(image, 1 << 20), 0);
	write_file(f->top, "vmm.sh", "#!/bin/sh\nexit 3\n");
	snprintf(vmm, sizeof(vmm), "%s/vmm.sh", f->top);
	assert_int_equal(chmod(vmm, 0700), 0);
	snprintf(config, sizeof(config),
		 "{\"kernel\":\"%s\",\"image\":\"%s\",\"cpus\":1,"
		 "\"memory_mib\":256}",
		 kernel, image);
	n.config = config;
	n.runtime_base = f->run;
	assert_int_equal(
		state_sandbox_create(f->st, &n, &row, f->err, sizeof(f->err)),
		0);
	assert_true(row.no_jail);
	assert_int_equal(
		state_sandbox_transition(
			f->st, row.id, STATE_SB_CREATING,
			&(struct state_update){.status = STATE_SB_STOPPED},
			f->err, sizeof(f->err)),
		0);

	/* a handle that would jail (jail 1), cold boot: no snapshot */
	kiln_options_init(&o);
	o.cache_dir = f->top;
	o.state_dir = f->state;
	o.runtime_dir = f->run;
	o.vmm_path = vmm;
	o.hooks_file = "";
	o.log = log_keep;
	o.log_ctx = log;
	o.boot_timeout_ms = 20000;
	assert_int_equal(setenv("KILN_COLD_BOOT", "1", 1), 0);
	rc = kiln_open(&o, &k);
	unsetenv("KILN_COLD_BOOT");
	assert_int_equal(rc, KILN_OK);
	rc = kiln_sandbox_start(k, "nj", NULL, NULL);
	if (rc != KILN_EVMM && rc != KILN_EKVM)
		fail_msg("start: %d %s", rc, kiln_errmsg(k));
	if (rc == KILN_EVMM &&
	    !strstr(log, "WITHOUT the jail (disabled for this sandbox when "
			 "it was created (--no-jail or $KILN_JAIL=0))"))
		fail_msg("log: %s", log);
	kiln_close(k);
	state_sandbox_clear(&row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dead_vmm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_reconciles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_create_undo, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_recycled_pid, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_half_created, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_interrupted, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_start_remove, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_jail_kept, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
