/* SPDX-License-Identifier: MIT */
/*
 * Turning an exec request into a running child (see spawn.h).
 *
 * posix_spawn(), which glibc implements with clone(CLONE_VM | CLONE_VFORK):
 * no page tables are copied, which matters where every fork costs about a
 * second (emulated guest ring 0), and exec failures come back as an error
 * number instead of a mysterious exit 127.  The command is looked up in its
 * own PATH here, before spawning, so "not found" costs no process at all.
 */
#include "agent/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/users.h"
#include "common/proto.h"

static int path_join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s%s%s", dir,
			 dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/",
			 name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* 0 if path is an executable regular file, else the errno execve gives. */
static int check_executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return EACCES;
	return 0;
}

/*
 * Find argv[0] like execvp() would in the command's own PATH, relative
 * entries and names with a slash taken relative to its cwd.  Writes the
 * path to hand to posix_spawn() into out.  Returns 0 or an errno.
 */
static int resolve_command(const char *name, const char *cwd, const char *path,
			   char *out, size_t outlen)
{
	char full[PATH_MAX], dir[PATH_MAX];
	bool saw_eacces = false;
	const char *p = path;

	if (strchr(name, '/')) {
		int rc = name[0] == '/'
				 ? 0
				 : path_join(full, sizeof(full), cwd, name);

		if (rc < 0)
			return -rc;
		rc = check_executable(name[0] == '/' ? name : full);
		if (rc)
			return rc;
		if (strlen(name) >= outlen)
			return ENAMETOOLONG;
		strcpy(out, name);
		return 0;
	}
	for (;;) { /* bounded: p advances past a ':' or ends each pass */
		const char *end = strchrnul(p, ':');
		size_t n = (size_t)(end - p);

		if (n == 0)
			strcpy(dir, "."); /* empty entry means the cwd */
		else if (n < sizeof(dir)) {
			memcpy(dir, p, n);
			dir[n] = 0;
		} else
			goto next;
		if (dir[0] != '/') {
			char rel[PATH_MAX];

			if (path_join(rel, sizeof(rel), cwd, dir) < 0)
				goto next;
			strcpy(dir, rel);
		}
		if (path_join(full, sizeof(full), dir, name) == 0) {
			int rc = check_executable(full);

			if (rc == 0) {
				if (strlen(full) >= outlen)
					return ENAMETOOLONG;
				strcpy(out, full);
				return 0;
			}
			if (rc == EACCES)
				saw_eacces = true;
		}
	next:
		if (!*end)
			break;
		p = end + 1;
	}
	return saw_eacces ? EACCES : ENOENT;
}

/* Is NAME set by the request? */
static bool spec_has_env(const struct exec_spec *spec, const char *name)
{
	for (size_t i = 0; i < spec->nenv; i++)
		if (strcmp(spec->env_names[i], name) == 0)
			return true;
	return false;
}

/*
 * NAME=value strings: defaults, overridden or extended by the request.
 * u (may be NULL): the user the command runs as (HOME, USER, LOGNAME);
 * a terminal gets TERM=xterm unless the request says otherwise.
 */
static char **build_env(const struct exec_spec *spec, const struct user_ids *u,
			const char **path)
{
	const size_t max = spec->nenv + 6;
	size_t n = 0;
	char **envp = calloc(max, sizeof(*envp));

	if (!envp)
		return NULL;
	*path = SPAWN_DEFAULT_PATH;
	for (size_t i = 0; i < spec->nenv; i++) {
		if (asprintf(&envp[n], "%s=%s", spec->env_names[i],
			     spec->env_values[i]) < 0) {
			envp[n] = NULL;
			goto fail;
		}
		n++;
		if (strcmp(spec->env_names[i], "PATH") == 0)
			*path = spec->env_values[i];
	}
	if (!spec_has_env(spec, "PATH") &&
	    !(envp[n++] = strdup("PATH=" SPAWN_DEFAULT_PATH)))
		goto fail;
	if (!spec_has_env(spec, "HOME") &&
	    asprintf(&envp[n++], "HOME=%s",
		     u && u->home[0] ? u->home : SPAWN_DEFAULT_HOME) < 0) {
		envp[n - 1] = NULL;
		goto fail;
	}
	if (u && u->known) {
		if (!spec_has_env(spec, "USER") &&
		    asprintf(&envp[n++], "USER=%s", u->name) < 0) {
			envp[n - 1] = NULL;
			goto fail;
		}
		if (!spec_has_env(spec, "LOGNAME") &&
		    asprintf(&envp[n++], "LOGNAME=%s", u->name) < 0) {
			envp[n - 1] = NULL;
			goto fail;
		}
	}
	if (spec->tty && !spec_has_env(spec, "TERM") &&
	    !(envp[n++] = strdup("TERM=xterm")))
		goto fail;
	return envp;
fail:
	for (size_t i = 0; i < max; i++)
		free(envp[i]);
	free(envp);
	return NULL;
}

static void free_env(char **envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		free(envp[i]);
	free(envp);
}

/* Keep pipe ends away from 0..2 so dup2() in the child always applies. */
static int fd_above_stdio(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static int make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fds[0] = fd_above_stdio(fds[0]);
	fds[1] = fd_above_stdio(fds[1]);
	if (fds[0] < 0 || fds[1] < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		return -1;
	}
	return 0;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Map a spawn errno to an error code and message. */
static void spawn_error(int e, const char *name, const char *path_env,
			bool resolved, const char **code, char *err,
			size_t errlen)
{
	if (e == ENOENT && !strchr(name, '/') && !resolved) {
		*code = PROTO_E_NOT_FOUND;
		snprintf(err, errlen, "exec: \"%s\": not found in PATH=%s",
			 name, path_env);
	} else if (e == ENOENT) {
		*code = PROTO_E_NOT_FOUND;
		snprintf(err, errlen,
			 "exec: \"%s\": no such file or directory%s", name,
			 resolved ? " (its #! interpreter is missing?)" : "");
	} else if (e == EACCES) {
		*code = PROTO_E_PERM;
		snprintf(err, errlen,
			 "exec: \"%s\": permission denied (not an executable "
			 "file)",
			 name);
	} else {
		*code = PROTO_E_EXEC;
		snprintf(err, errlen, "exec: \"%s\": %s", name, strerror(e));
	}
}

static int check_cwd(const char *cwd, const char **code, char *err,
		     size_t errlen)
{
	struct stat st;

	if (stat(cwd, &st) < 0) {
		*code = errno == ENOENT ? PROTO_E_NOT_FOUND : PROTO_E_EXEC;
		snprintf(err, errlen, "exec: working directory \"%s\": %s", cwd,
			 strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*code = PROTO_E_INVALID;
		snprintf(err, errlen,
			 "exec: working directory \"%s\" is not a directory",
			 cwd);
		return -1;
	}
	return 0;
}

static int spawn_child(const char *path, const struct exec_spec *spec,
		       char **envp, const char *cwd, int child_fds[3],
		       pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	if (posix_spawn_file_actions_init(&fa))
		return ENOMEM;
	if (posix_spawnattr_init(&attr)) {
		posix_spawn_file_actions_destroy(&fa);
		return ENOMEM;
	}
	/*
	 * New session (so the process group can be killed as a whole), all
	 * signals unblocked and at their defaults: the agent blocks SIGCHLD
	 * & co. for its signalfd and ignores SIGPIPE, and both would be
	 * inherited.
	 */
	rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
						     POSIX_SPAWN_SETSIGMASK |
						     POSIX_SPAWN_SETSIGDEF);
	rc = rc ?: posix_spawnattr_setsigmask(&attr, &none);
	rc = rc ?: posix_spawnattr_setsigdefault(&attr, &all);
	rc = rc ?: posix_spawn_file_actions_adddup2(&fa, child_fds[0], 0);
	rc = rc ?: posix_spawn_file_actions_adddup2(&fa, child_fds[1], 1);
	rc = rc ?: posix_spawn_file_actions_adddup2(&fa, child_fds[2], 2);
	rc = rc ?: posix_spawn_file_actions_addchdir_np(&fa, cwd);
	rc = rc
		     ?: posix_spawn(pid, path, &fa, &attr,
				    (char *const *)spec->argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* ---- terminals and other users: vfork() -------------------------------- */

/* What the vfork()ed child needs; it reports a failure through err/step. */
struct child_args {
	const char *path;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int fds[3]; /* stdin, stdout, stderr; tty: all the terminal */
	bool tty;
	const struct user_ids *ids; /* NULL: stay who we are */
	int err; /* errno of the failed step, 0 if none */
	const char *step;
};

/*
 * The child between vfork() and execve(): it shares our memory and runs
 * on our stack while we are suspended, so it only makes system calls and
 * writes its failure into *a.  The id changes are raw system calls: the C
 * library's setuid() would try to coordinate with other threads.
 */
static void __attribute__((noreturn, noinline)) child_exec(struct child_args *a)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;

	a->step = "setsid";
	if (setsid() < 0)
		goto fail;
	if (a->tty) {
		/* Our own session: the terminal becomes its controlling tty. */
		a->step = "TIOCSCTTY";
		if (ioctl(a->fds[0], TIOCSCTTY, 0) < 0)
			goto fail;
	}
	a->step = "dup2";
	for (int i = 0; i < 3; i++)
		if (dup2(a->fds[i], i) < 0)
			goto fail;
	if (a->ids) {
		a->step = "setgroups";
		if (syscall(SYS_setgroups, a->ids->ngroups, a->ids->groups) < 0)
			goto fail;
		a->step = "setresgid";
		if (syscall(SYS_setresgid, a->ids->gid, a->ids->gid,
			    a->ids->gid) < 0)
			goto fail;
		a->step = "setresuid";
		if (syscall(SYS_setresuid, a->ids->uid, a->ids->uid,
			    a->ids->uid) < 0)
			goto fail;
	}
	/* After the switch: the user must be able to enter it. */
	a->step = "chdir";
	if (chdir(a->cwd) < 0)
		goto fail;
	/* Ignored signals (SIGPIPE) would stay ignored across execve. */
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* 32, 33, KILL, STOP: EINVAL */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	a->step = "execve";
	execve(a->path, a->argv, a->envp);
fail:
	a->err = errno;
	_exit(127);
}

/* vfork() + child_exec(); returns 0 or an errno (a->step says where). */
static int spawn_vfork(struct child_args *a, pid_t *pid)
{
	pid_t p;

	a->err = 0;
	a->step = "vfork";
	p = vfork();
	if (p == 0)
		child_exec(a);
	if (p < 0)
		return errno;
	if (a->err) {
		/* It exited already (vfork resumes us after _exit). */
		waitpid(p, NULL, 0);
		return a->err;
	}
	*pid = p;
	return 0;
}

/* Who runs the command: resolve the request's user in the guest. */
static int resolve_user(const struct exec_spec *spec, struct user_ids *ids,
			const char **code, char *err, size_t errlen)
{
	int rc;

	switch (spec->user) {
	case EXEC_USER_NAME:
		rc = users_lookup(spec->user_name, 0, true, ids);
		break;
	case EXEC_USER_UID:
		rc = users_lookup(NULL, (uid_t)spec->uid, false, ids);
		break;
	case EXEC_USER_IDS:
		rc = users_from_ids((uid_t)spec->uid, (gid_t)spec->gid, ids);
		break;
	default:
		return 0;
	}
	if (rc == -ENOENT && spec->user == EXEC_USER_NAME) {
		*code = PROTO_E_NO_USER;
		snprintf(err, errlen,
			 "exec: no user \"%s\" in %s; use a user that exists "
			 "there or give \"uid\" and \"gid\"",
			 spec->user_name, users_passwd_path());
		return -1;
	}
	if (rc == -ENOENT) {
		*code = PROTO_E_NO_USER;
		snprintf(err, errlen,
			 "exec: no user with uid %u in %s; give \"uid\" and "
			 "\"gid\" to run with ids that have no entry",
			 spec->uid, users_passwd_path());
		return -1;
	}
	if (rc < 0) {
		*code = PROTO_E_EXEC;
		snprintf(err, errlen, "exec: reading %s: %s",
			 users_passwd_path(), strerror(-rc));
		return -1;
	}
	return 0;
}

/* A new terminal of rows x cols: *master (ours) and *slave (the child's). */
static int open_terminal(const struct exec_spec *spec, int *master, int *slave)
{
	struct winsize ws = {.ws_row = spec->rows, .ws_col = spec->cols};

	if (openpty(master, slave, NULL, NULL, &ws) < 0)
		return -1;
	*master = fd_above_stdio(*master);
	*slave = fd_above_stdio(*slave);
	if (*master < 0 || *slave < 0 ||
	    fcntl(*master, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(*slave, F_SETFD, FD_CLOEXEC) < 0) {
		int e = errno;

		if (*master >= 0)
			close(*master);
		if (*slave >= 0)
			close(*slave);
		errno = e;
		return -1;
	}
	return 0;
}

/* Map a failed child step to an error reply. */
static void child_error(int e, const char *step, const struct exec_spec *spec,
			const char *cwd, const char *path_env,
			const char **code, char *err, size_t errlen)
{
	if (strcmp(step, "execve") == 0) {
		spawn_error(e, spec->argv[0], path_env, true, code, err,
			    errlen);
	} else if (strcmp(step, "chdir") == 0) {
		*code = e == ENOENT   ? PROTO_E_NOT_FOUND
			: e == EACCES ? PROTO_E_PERM
				      : PROTO_E_EXEC;
		snprintf(err, errlen, "exec: working directory \"%s\": %s", cwd,
			 strerror(e));
	} else {
		*code = e == EPERM ? PROTO_E_PERM : PROTO_E_EXEC;
		snprintf(err, errlen,
			 "exec: \"%s\": %s failed: %s (switching user needs "
			 "root in the guest)",
			 spec->argv[0], step, strerror(e));
	}
}

/* ---- spawning ----------------------------------------------------------- */

int spawn_command(const struct exec_spec *spec, struct spawned *out,
		  const char **code, char *err, size_t errlen)
{
	struct child_args ca = {0};
	struct user_ids ids;
	char cwd[PATH_MAX];
	const char *path_env;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1};
	int pty[2] = {-1, -1};
	int child_fds[3], rc;
	bool use_vfork = spec->tty || spec->user != EXEC_USER_SELF;
	char **envp = NULL;

	memset(out, 0, sizeof(*out));
	out->stdout_fd = out->stderr_fd = out->stdin_fd = -1;
	if (spec->cwd[0] == '/')
		rc = snprintf(cwd, sizeof(cwd), "%s", spec->cwd);
	else
		rc = snprintf(cwd, sizeof(cwd), "/%s", spec->cwd);
	if (rc < 0 || (size_t)rc >= sizeof(cwd)) {
		*code = PROTO_E_INVALID;
		snprintf(err, errlen, "exec: working directory is too long");
		return -1;
	}
	if (check_cwd(cwd, code, err, errlen) < 0)
		return -1;
	if (resolve_user(spec, &ids, code, err, errlen) < 0)
		return -1;
	envp = build_env(spec, spec->user != EXEC_USER_SELF ? &ids : NULL,
			 &path_env);
	if (!envp) {
		*code = PROTO_E_INTERNAL;
		snprintf(err, errlen, "exec: out of memory");
		return -1;
	}
	rc = resolve_command(spec->argv[0], cwd, path_env, out->path,
			     sizeof(out->path));
	if (rc) {
		spawn_error(rc, spec->argv[0], path_env, false, code, err,
			    errlen);
		free_env(envp);
		return -1;
	}
	if (spec->tty) {
		if (open_terminal(spec, &pty[0], &pty[1]) < 0 ||
		    (inp[1] = fcntl(pty[0], F_DUPFD_CLOEXEC, 3)) < 0) {
			*code = PROTO_E_INTERNAL;
			snprintf(err, errlen,
				 "exec: cannot open a pseudo-terminal: %s "
				 "(is devpts mounted on /dev/pts?)",
				 strerror(errno));
			goto fail;
		}
		child_fds[0] = child_fds[1] = child_fds[2] = pty[1];
	} else {
		if (make_pipe(outp) < 0 || make_pipe(errp) < 0 ||
		    (spec->stdin_pipe
			     ? make_pipe(inp)
			     : (inp[0] = fd_above_stdio(open(
					"/dev/null", O_RDONLY | O_CLOEXEC)))) <
			    0) {
			*code = PROTO_E_INTERNAL;
			snprintf(err, errlen, "exec: cannot set up stdio: %s",
				 strerror(errno));
			goto fail;
		}
		child_fds[0] = inp[0];
		child_fds[1] = outp[1];
		child_fds[2] = errp[1];
	}
	if (use_vfork) {
		ca.path = out->path;
		ca.argv = (char *const *)spec->argv;
		ca.envp = envp;
		ca.cwd = cwd;
		memcpy(ca.fds, child_fds, sizeof(ca.fds));
		ca.tty = spec->tty;
		ca.ids = spec->user != EXEC_USER_SELF ? &ids : NULL;
		rc = spawn_vfork(&ca, &out->pid);
	} else {
		rc = spawn_child(out->path, spec, envp, cwd, child_fds,
				 &out->pid);
	}
	close_fds(&inp[0], 1);
	close_fds(&outp[1], 1);
	close_fds(&errp[1], 1);
	close_fds(&pty[1], 1);
	if (rc) {
		if (use_vfork)
			child_error(rc, ca.step, spec, cwd, path_env, code, err,
				    errlen);
		else
			spawn_error(rc, spec->argv[0], path_env, true, code,
				    err, errlen);
		goto fail;
	}
	free_env(envp);
	out->tty = spec->tty;
	out->stdout_fd = spec->tty ? pty[0] : outp[0];
	out->stderr_fd = errp[0];
	out->stdin_fd = inp[1];
	fcntl(out->stdout_fd, F_SETFL, O_NONBLOCK);
	if (out->stderr_fd >= 0)
		fcntl(out->stderr_fd, F_SETFL, O_NONBLOCK);
	if (out->stdin_fd >= 0)
		fcntl(out->stdin_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	close_fds(outp, 2);
	close_fds(errp, 2);
	close_fds(inp, 2);
	close_fds(pty, 2);
	free_env(envp);
	return -1;
}
