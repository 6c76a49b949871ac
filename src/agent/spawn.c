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
#include <sys/stat.h>
#include <unistd.h>

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

/* NAME=value strings: defaults, overridden or extended by the request. */
static char **build_env(const struct exec_spec *spec, const char **path)
{
	size_t n = 0;
	char **envp = calloc(spec->nenv + 3, sizeof(*envp));
	bool have_path = false, have_home = false;

	if (!envp)
		return NULL;
	*path = SPAWN_DEFAULT_PATH;
	for (size_t i = 0; i < spec->nenv; i++) {
		if (asprintf(&envp[n], "%s=%s", spec->env_names[i],
			     spec->env_values[i]) < 0)
			goto fail;
		n++;
		if (strcmp(spec->env_names[i], "PATH") == 0) {
			have_path = true;
			*path = spec->env_values[i];
		}
		if (strcmp(spec->env_names[i], "HOME") == 0)
			have_home = true;
	}
	if (!have_path && !(envp[n++] = strdup("PATH=" SPAWN_DEFAULT_PATH)))
		goto fail;
	if (!have_home && !(envp[n++] = strdup("HOME=" SPAWN_DEFAULT_HOME)))
		goto fail;
	return envp;
fail:
	for (size_t i = 0; i < spec->nenv + 3; i++)
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

int spawn_command(const struct exec_spec *spec, struct spawned *out,
		  const char **code, char *err, size_t errlen)
{
	char cwd[PATH_MAX];
	const char *path_env;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1};
	int child_fds[3], rc;
	char **envp = NULL;

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
	envp = build_env(spec, &path_env);
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
	if (make_pipe(outp) < 0 || make_pipe(errp) < 0 ||
	    (spec->stdin_pipe
		     ? make_pipe(inp)
		     : (inp[0] = fd_above_stdio(open(
				"/dev/null", O_RDONLY | O_CLOEXEC)))) < 0) {
		*code = PROTO_E_INTERNAL;
		snprintf(err, errlen, "exec: cannot set up stdio: %s",
			 strerror(errno));
		goto fail;
	}
	child_fds[0] = inp[0];
	child_fds[1] = outp[1];
	child_fds[2] = errp[1];
	rc = spawn_child(out->path, spec, envp, cwd, child_fds, &out->pid);
	close_fds(&inp[0], 1);
	close_fds(&outp[1], 1);
	close_fds(&errp[1], 1);
	if (rc) {
		spawn_error(rc, spec->argv[0], path_env, true, code, err,
			    errlen);
		goto fail;
	}
	free_env(envp);
	out->stdout_fd = outp[0];
	out->stderr_fd = errp[0];
	out->stdin_fd = inp[1];
	fcntl(out->stdout_fd, F_SETFL, O_NONBLOCK);
	fcntl(out->stderr_fd, F_SETFL, O_NONBLOCK);
	if (out->stdin_fd >= 0)
		fcntl(out->stdin_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	close_fds(outp, 2);
	close_fds(errp, 2);
	close_fds(inp, 2);
	free_env(envp);
	return -1;
}
