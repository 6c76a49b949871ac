/* SPDX-License-Identifier: MIT */
/*
 * TAP devices (Documentation/networking/tuntap.rst): one queue, frames
 * prefixed with a virtio-net header so checksum and segmentation offloads
 * cross the host/guest boundary untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "vmm/dev/tap.h"

/* Names the kernel would accept, minus templates ("tap%d" would create a
 * device under a name we never learn). */
static bool tap_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch <= ' ' || ch == '/' || ch == ':' || ch == '%' ||
		    ch >= 0x7f)
			return false;
	}
	return true;
}

bool tap_is_tap(int fd)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	return ioctl(fd, TUNGETIFF, &ifr) == 0;
}

int tap_setup_fd(int fd)
{
	struct ifreq ifr;
	int hdr = TAP_VNET_HDR_LEN, fl, err;

	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		err = -errno;
		fprintf(stderr,
			"kiln-vmm: net: fd %d is not an attached TUN/TAP "
			"queue (TUNGETIFF: %s); pass a TAP opened with "
			"TUNSETIFF\n",
			fd, strerror(errno));
		return err;
	}
	if ((ifr.ifr_flags & (IFF_TAP | IFF_TUN)) != IFF_TAP ||
	    !(ifr.ifr_flags & IFF_NO_PI) || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		fprintf(stderr,
			"kiln-vmm: net: %.*s is not set up as IFF_TAP | "
			"IFF_NO_PI | IFF_VNET_HDR (flags 0x%x); open it with "
			"those flags\n",
			IFNAMSIZ, ifr.ifr_name, (unsigned int)ifr.ifr_flags);
		return -EINVAL;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: net: %.*s: TUNSETVNETHDRSZ %d: %s\n",
			IFNAMSIZ, ifr.ifr_name, hdr, strerror(errno));
		return err;
	}
	/* Offloads stay off until the driver says what it can take. */
	err = tap_set_offload(fd, 0);
	if (err) {
		fprintf(stderr, "kiln-vmm: net: %.*s: TUNSETOFFLOAD: %s\n",
			IFNAMSIZ, ifr.ifr_name, strerror(-err));
		return err;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		err = -errno;
		fprintf(stderr,
			"kiln-vmm: net: %.*s: cannot make the fd "
			"non-blocking: %s\n",
			IFNAMSIZ, ifr.ifr_name, strerror(errno));
		return err;
	}
	return 0;
}

int tap_open(const char *name)
{
	struct ifreq ifr;
	int fd, err;

	if (!name || !tap_name_ok(name)) {
		fprintf(stderr,
			"kiln-vmm: net: \"%s\" is not a valid interface "
			"name (1-%d characters, no '/', ':', '%%' or "
			"spaces)\n",
			name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr,
			"kiln-vmm: net: cannot open /dev/net/tun: %s (is the "
			"tun module loaded, and is the device node in the "
			"jail?)\n",
			strerror(errno));
		return err;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		fprintf(stderr,
			"kiln-vmm: net: cannot attach to TAP %s: %s%s\n", name,
			strerror(errno),
			errno == EPERM ? " (create it for this user first: ip "
					 "tuntap add NAME mode tap user UID)"
			: errno == EBUSY  ? " (another process has it open)"
			: errno == EINVAL ? " (is NAME a TUN rather than a TAP "
					    "device?)"
					  : "");
		close(fd);
		return err;
	}
	err = tap_setup_fd(fd);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int tap_set_offload(int fd, unsigned int flags)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0)
		return -errno;
	return 0;
}

int tap_adopt_fd(int fd, bool *is_tap)
{
	struct stat st;
	int type = 0, fl, err;
	socklen_t tlen = sizeof(type);

	if (tap_is_tap(fd)) {
		*is_tap = true;
		return tap_setup_fd(fd);
	}
	*is_tap = false;
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr,
			"kiln-vmm: net: fd %d is neither a TAP nor a "
			"SOCK_SEQPACKET socket\n",
			fd);
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		err = -errno;
		fprintf(stderr, "kiln-vmm: net: fd %d: fcntl: %s\n", fd,
			strerror(errno));
		return err;
	}
	return 0;
}

ssize_t tap_read_frame(int fd, bool is_tap, struct iovec *iov, unsigned int cnt)
{
	ssize_t r;

	do {
		if (is_tap) {
			/* tun returns the frame's length even when it did
			 * not fit (tun_put_user) */
			r = readv(fd, iov, (int)cnt);
		} else {
			struct msghdr m = {.msg_iov = iov, .msg_iovlen = cnt};

			/* MSG_TRUNC: the real length, as tun does */
			r = recvmsg(fd, &m, MSG_DONTWAIT | MSG_TRUNC);
		}
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

ssize_t tap_write_frame(int fd, bool is_tap, const struct iovec *iov,
			unsigned int cnt)
{
	ssize_t r;

	do {
		if (is_tap) {
			r = writev(fd, iov, (int)cnt);
		} else {
			struct msghdr m = {.msg_iov = (struct iovec *)iov,
					   .msg_iovlen = cnt};

			r = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

bool tap_offloads_supported(int fd, bool is_tap)
{
	if (!is_tap)
		return true;
	if (tap_set_offload(fd, TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 |
					TAP_OFFLOAD_TSO6 |
					TAP_OFFLOAD_TSO_ECN) < 0)
		return false;
	return tap_set_offload(fd, 0) == 0;
}
