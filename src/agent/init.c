/* SPDX-License-Identifier: MIT */
/*
 * PID 1 set-up and power-off (see init.h).  Only system calls: every extra
 * process costs about a second on machines whose KVM emulates guest ring 0,
 * so nothing here forks.
 */
#include "agent/init.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/log.h"

#define POWER_OFF_PORT 0x501
#define OVERLAY_DIR "kiln-overlay"

void init_parse_cmdline(const char *cmdline, struct init_options *opt)
{
	const char *p = cmdline;

	memset(opt, 0, sizeof(*opt));
	opt->overlay = true;
	while (*p) { /* bounded: p advances every pass */
		char tok[256];
		bool quoted = false;
		size_t n = 0;

		while (*p && isspace((unsigned char)*p))
			p++;
		/* Like the kernel: spaces inside "..." do not split words. */
		while (*p && (quoted || !isspace((unsigned char)*p))) {
			if (*p == '"')
				quoted = !quoted;
			else if (n < sizeof(tok) - 1)
				tok[n++] = *p;
			p++;
		}
		tok[n] = 0;
		if (strncmp(tok, "kiln.hostname=", 14) == 0) {
			/* valid means at most 64 bytes: it fits */
			if (init_hostname_valid(tok + 14))
				memcpy(opt->hostname, tok + 14,
				       strlen(tok + 14) + 1);
			else
				log_msg("ignoring invalid kiln.hostname=\"%s\"",
					tok + 14);
		} else if (strcmp(tok, "kiln.debug") == 0 ||
			   strcmp(tok, "kiln.debug=1") == 0) {
			opt->debug = true;
		} else if (strcmp(tok, "kiln.overlay=0") == 0) {
			opt->overlay = false;
		}
	}
}

bool init_hostname_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || name[0] == '-' || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '.')
			return false;
	return true;
}

/* A directory is a mount point if it is on another device than its parent. */
static bool is_mountpoint(const char *path)
{
	char parent[256];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(path, &a) < 0 || stat(parent, &b) < 0)
		return false;
	return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

static bool mount_fs(const char *src, const char *dir, const char *type,
		     unsigned long flags, const char *data)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_msg("cannot create mount point %s for %s: %s", dir, type,
			strerror(errno));
		return false;
	}
	if (is_mountpoint(dir))
		return true; /* e.g. devtmpfs mounted by the kernel */
	if (mount(src, dir, type, flags, data) < 0) {
		log_msg("mount %s on %s: %s", type, dir, strerror(errno));
		return false;
	}
	return true;
}

/* What has to be mounted in whatever root we end up in. */
static void mount_pseudo_fs(void)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	mount_fs("proc", "/proc", "proc", nse, NULL);
	mount_fs("sysfs", "/sys", "sysfs", nse, NULL);
	mount_fs("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
}

static void mount_runtime_fs(void)
{
	mount_fs("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "mode=0620,ptmxmode=0666");
	mount_fs("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
		 "mode=1777");
	mount_fs("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_fs("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

/*
 * Make / writable without touching the shared image: a tmpfs for the
 * upper layer, overlayfs over the old root, then pivot_root into it.  The
 * old root (with the pseudo file systems mounted on it) is detached; they
 * are mounted again inside the new root afterwards.
 */
static void overlay_root(void)
{
	static const char *const bases[] = {"/run", "/tmp", "/mnt"};
	char dir[64], upper[64], work[64], merged[64], opts[256];
	const char *base = NULL;
	struct statvfs sv;

	if (statvfs("/", &sv) == 0 && !(sv.f_flag & ST_RDONLY)) {
		log_msg("root file system is writable; no overlay needed");
		return;
	}
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct stat st;

		if (stat(bases[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			base = bases[i];
			break;
		}
	}
	if (!base) {
		log_msg("no /run, /tmp or /mnt for the overlay; the root stays "
			"read-only");
		return;
	}
	if (mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") <
	    0) {
		log_msg("overlay: mount tmpfs on %s: %s; the root stays "
			"read-only",
			base, strerror(errno));
		return;
	}
	snprintf(upper, sizeof(upper), "%s/" OVERLAY_DIR "/upper", base);
	snprintf(work, sizeof(work), "%s/" OVERLAY_DIR "/work", base);
	snprintf(merged, sizeof(merged), "%s/" OVERLAY_DIR "/root", base);
	snprintf(opts, sizeof(opts), "lowerdir=/,upperdir=%s,workdir=%s", upper,
		 work);
	snprintf(dir, sizeof(dir), "%s/" OVERLAY_DIR, base);
	/* base is a fresh tmpfs: these cannot exist yet. */
	if (mkdir(dir, 0755) < 0 || mkdir(upper, 0755) < 0 ||
	    mkdir(work, 0755) < 0 || mkdir(merged, 0755) < 0) {
		log_msg("overlay: mkdir in %s: %s; the root stays read-only",
			base, strerror(errno));
		umount2(base, MNT_DETACH);
		return;
	}
	if (mount("overlay", merged, "overlay", 0, opts) < 0) {
		log_msg("overlay: mount on %s: %s; the root stays read-only",
			merged, strerror(errno));
		umount2(base, MNT_DETACH);
		return;
	}
	/* pivot_root(".", "."): the old root ends up stacked on "/". */
	if (chdir(merged) < 0 || syscall(SYS_pivot_root, ".", ".") < 0) {
		log_msg("overlay: pivot_root: %s; the root stays read-only",
			strerror(errno));
		if (chdir("/") < 0)
			log_msg("chdir /: %s", strerror(errno));
		umount2(merged, MNT_DETACH);
		umount2(base, MNT_DETACH);
		return;
	}
	if (umount2(".", MNT_DETACH) < 0)
		log_msg("overlay: detaching the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		log_msg("chdir /: %s", strerror(errno));
	log_msg("root is a tmpfs overlay over the read-only image");
}

static void set_hostname(const struct init_options *opt)
{
	char name[80] = "";
	FILE *f;

	if (opt->hostname[0]) {
		snprintf(name, sizeof(name), "%s", opt->hostname);
	} else if ((f = fopen("/etc/hostname", "re"))) {
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, " \t\r\n")] = 0;
		fclose(f);
		if (!init_hostname_valid(name)) {
			if (name[0])
				log_msg("ignoring invalid /etc/hostname");
			name[0] = 0;
		}
	}
	if (!name[0])
		strcpy(name, "kiln");
	if (sethostname(name, strlen(name)) < 0)
		log_msg("sethostname %s: %s", name, strerror(errno));
}

static void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log_msg("bringing lo up: socket: %s", strerror(errno));
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	/* The kernel assigns 127.0.0.1/8 itself when lo goes up. */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		log_msg("bringing lo up: SIOCGIFFLAGS: %s", strerror(errno));
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			log_msg("bringing lo up: SIOCSIFFLAGS: %s",
				strerror(errno));
	}
	close(fd);
}

/* 0..2 must be open, or pipes could land there; point strays at null. */
static void stdio_ensure_open(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
	}
}

void init_setup(struct init_options *opt)
{
	char cmdline[4096] = "";
	int fd;

	umask(022);
	if (chdir("/") < 0)
		log_msg("chdir /: %s", strerror(errno));
	mount_pseudo_fs();
	if (!log_use_console())
		log_msg("cannot open /dev/console; logging to stderr");
	stdio_ensure_open();
	fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);

		cmdline[n > 0 ? n : 0] = 0;
		close(fd);
	}
	init_parse_cmdline(cmdline, opt);
	log_set_debug(opt->debug);
	if (opt->overlay)
		overlay_root();
	mount_pseudo_fs();
	mount_runtime_fs();
	set_hostname(opt);
	loopback_up();
}

void init_poweroff(void)
{
	uint8_t zero = 0;
	int fd;

	kill(-1, SIGKILL); /* everyone but us */
	sync();
	fd = open("/dev/port", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || pwrite(fd, &zero, 1, POWER_OFF_PORT) != 1)
		log_msg("power off through /dev/port failed: %s (kernel "
			"without CONFIG_DEVPORT?); rebooting instead",
			strerror(errno));
	if (fd >= 0)
		close(fd);
	reboot(RB_AUTOBOOT);
	/* Only reached if reboot() failed: PID 1 must never exit. */
	log_msg("reboot: %s; halting", strerror(errno));
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
