/* SPDX-License-Identifier: MIT */
/*
 * The agent's net_config op: strict validation of every field (the
 * request is refused before anything is done), and the real ioctls on
 * a veth in a private network namespace (a forked child unshares one, so
 * the host's network is never touched; skipped without the privilege).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "agent/net.h"

static int parse(const char *text, struct netcfg_req *req, char *err,
		 size_t errlen)
{
	json_error_t je;
	json_t *obj = json_loads(text, 0, &je);
	int rc;

	assert_non_null(obj);
	rc = netcfg_parse(obj, req, err, errlen);
	json_decref(obj);
	return rc;
}

static void expect_bad(const char *text, const char *want)
{
	struct netcfg_req req;
	char err[256] = "";

	if (parse(text, &req, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", text);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in \"%s\" for %s", want, err, text);
}

static void test_parse_good(void **state)
{
	struct netcfg_req req;
	char err[256];

	(void)state;
	assert_int_equal(parse("{\"op\":\"net_config\",\"iface\":\"eth0\","
			       "\"address\":\"10.202.0.22/30\","
			       "\"gateway\":\"10.202.0.21\","
			       "\"nameserver\":\"10.202.0.21\","
			       "\"mac\":\"02:4B:49:4c:4e:01\"}",
			       &req, err, sizeof(err)),
			 0);
	assert_string_equal(req.iface, "eth0");
	assert_int_equal(req.address, 0x0aca0016);
	assert_int_equal(req.prefix, 30);
	assert_true(req.has_gateway && req.has_nameserver && req.has_mac);
	assert_int_equal(req.gateway, 0x0aca0015);
	assert_int_equal(req.mac[1], 0x4b);
	/* only iface and address are required */
	assert_int_equal(parse("{\"op\":\"net_config\",\"iface\":\"eth0\","
			       "\"address\":\"192.168.1.7/24\"}",
			       &req, err, sizeof(err)),
			 0);
	assert_false(req.has_gateway || req.has_nameserver || req.has_mac);
}

#define REQ(rest) "{\"op\":\"net_config\",\"iface\":\"eth0\"," rest "}"

static void test_parse_bad(void **state)
{
	(void)state;
	expect_bad("{\"op\":\"net_config\",\"address\":\"10.0.0.2/30\"}",
		   "iface");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"x\":1"), "x");
	expect_bad(REQ("\"address\":7"), "address");
	expect_bad("{\"op\":\"net_config\",\"iface\":\"eth0/x\","
		   "\"address\":\"10.0.0.2/30\"}",
		   "iface \"eth0/x\"");
	expect_bad("{\"op\":\"net_config\",\"iface\":\"a-very-long-name0\","
		   "\"address\":\"10.0.0.2/30\"}",
		   "iface");
	expect_bad("{\"op\":\"net_config\",\"iface\":\"\","
		   "\"address\":\"10.0.0.2/30\"}",
		   "iface");
	expect_bad(REQ("\"address\":\"10.0.0.2\""), "a.b.c.d/len");
	expect_bad(REQ("\"address\":\"10.0.0.2/\""), "a.b.c.d/len");
	expect_bad(REQ("\"address\":\"10.0.0.2/31\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.2/0\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.2/030\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.2/3x\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.2/-1\""), "a.b.c.d/len");
	expect_bad(REQ("\"address\":\"10.0.0/30\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.256/24\""), "len 1..30");
	expect_bad(REQ("\"address\":\"010.0.0.2/24\""), "len 1..30");
	expect_bad(REQ("\"address\":\"10.0.0.2 /24\""), "len 1..30");
	expect_bad(REQ("\"address\":\"1234567890123456/24\""), "a.b.c.d/len");
	/* not a host of its subnet */
	expect_bad(REQ("\"address\":\"10.0.0.0/30\""), "not a host");
	expect_bad(REQ("\"address\":\"10.0.0.3/30\""), "not a host");
	expect_bad(REQ("\"address\":\"127.0.0.2/8\""), "not a host");
	expect_bad(REQ("\"address\":\"224.0.0.2/8\""), "not a host");
	expect_bad(REQ("\"address\":\"0.0.0.2/8\""), "not a host");
	/* a gateway outside the subnet, the address itself, the broadcast */
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"gateway\":\"10.0.0.5\""),
		   "not another host");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"gateway\":\"10.0.0.2\""),
		   "not another host");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"gateway\":\"10.0.0.3\""),
		   "not another host");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"gateway\":\"x\""),
		   "gateway \"x\"");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"nameserver\":"
		       "\"255.255.255.255\""),
		   "nameserver");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"nameserver\":\"1.2.3\""),
		   "nameserver");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"mac\":"
		       "\"01:00:00:00:00:01\""),
		   "mac");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"mac\":"
		       "\"00:00:00:00:00:00\""),
		   "mac");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"mac\":"
		       "\"02-00-00-00-00-01\""),
		   "mac");
	expect_bad(REQ("\"address\":\"10.0.0.2/30\",\"gateway\":null"),
		   "gateway");
}

/* In a child with its own network namespace: configure kt0, read back. */
static int apply_in_netns(const char *resolv)
{
	struct netcfg_req req;
	struct ifreq ifr;
	char err[256], line[64] = "";
	struct sockaddr_in sin;
	bool up = false;
	FILE *f;
	int s;

	if (unshare(CLONE_NEWNET) < 0)
		return 77; /* no privilege: skipped */
	/* a veth pair (lo would get 127.0.0.1 back when it comes up) */
	if (system("ip link add kt0 type veth peer name kt1 && "
		   "ip link set kt1 up") != 0)
		return 77; /* no ip(8) or veth */
	if (parse("{\"op\":\"net_config\",\"iface\":\"kt0\","
		  "\"address\":\"10.9.0.2/30\",\"gateway\":\"10.9.0.1\","
		  "\"nameserver\":\"10.9.0.1\"}",
		  &req, err, sizeof(err)))
		return 2;
	if (netcfg_apply(&req, resolv, &up, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		return 3;
	}
	if (!up) /* kt1 is up: the veth has its carrier */
		return 15;
	/* twice: a clone's second configuration replaces the first */
	req.address = 0x0a090006;
	req.gateway = 0x0a090005;
	req.nameserver = 0x0a090005;
	if (netcfg_apply(&req, resolv, NULL, err, sizeof(err))) {
		fprintf(stderr, "apply again: %s\n", err);
		return 4;
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kt0");
	if (ioctl(s, SIOCGIFADDR, &ifr) < 0)
		return 5;
	memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
	if (ntohl(sin.sin_addr.s_addr) != 0x0a090006)
		return 6;
	if (ioctl(s, SIOCGIFNETMASK, &ifr) < 0)
		return 7;
	memcpy(&sin, &ifr.ifr_netmask, sizeof(sin));
	if (ntohl(sin.sin_addr.s_addr) != 0xfffffffc)
		return 8;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return 9;
	f = fopen(resolv, "r");
	if (!f || !fgets(line, sizeof(line), f) ||
	    strcmp(line, "nameserver 10.9.0.5\n"))
		return 10;
	fclose(f);
	/* the default route: exactly one, via the new gateway */
	f = fopen("/proc/net/route", "r");
	if (!f)
		return 11;
	{
		char rl[256];
		int defaults = 0;

		while (fgets(rl, sizeof(rl), f)) {
			char dev[32];
			unsigned int dst, gw;

			if (sscanf(rl, "%31s %x %x", dev, &dst, &gw) == 3 &&
			    dst == 0) {
				defaults++;
				if (ntohl(gw) != 0x0a090005)
					return 12;
			}
		}
		fclose(f);
		if (defaults != 1)
			return 13;
	}
	/* an interface that does not exist: an error, nothing done */
	snprintf(req.iface, sizeof(req.iface), "nosuch0");
	if (netcfg_apply(&req, resolv, NULL, err, sizeof(err)) != -ENODEV ||
	    !strstr(err, "nosuch0"))
		return 14;
	close(s);
	return 0;
}

static void test_apply_netns(void **state)
{
	char dir[] = "/tmp/test_agent_net.XXXXXX", resolv[64];
	int st;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(apply_in_netns(resolv));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(resolv);
	rmdir(dir);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_apply_netns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
