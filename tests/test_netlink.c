// SPDX-License-Identifier: MIT
/*
 * netlink module against the real kernel, in a private network namespace the
 * test process unshares: interfaces made with ip(8) vanish with the process.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "netlink.h"

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == 0 ? 0 : -1;
}

/* The smallest XDP program: return XDP_PASS.  Built by hand so the test needs no object file. */
static int load_pass_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "nl_test_pass", "MIT", insns, 2, NULL);
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	return info.id;
}

static int group_setup(void **state)
{
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	if (sh("ip link add nltest0 type veth peer name nltest1") ||
	    sh("ip link set nltest0 up") || sh("ip link set nltest1 up") ||
	    sh("ip link add nltestbr type bridge"))
		return -1;
	return 0;
}

static int setup(void **state)
{
	struct nl *nl = nl_open();

	if (!nl)
		return -1;
	*state = nl;
	return 0;
}

static int teardown(void **state)
{
	nl_close(*state);
	return 0;
}

static void test_index_and_name(void **state)
{
	struct nl *nl = *state;
	char name[IF_NAMESIZE];
	int idx;

	idx = nl_link_index(nl, "nltest0");
	assert_true(idx > 0);
	/* if_nametoindex takes another path (an ioctl): an independent witness. */
	assert_int_equal(idx, (int)if_nametoindex("nltest0"));
	assert_int_equal(nl_link_name(nl, idx, name), 0);
	assert_string_equal(name, "nltest0");

	idx = nl_link_index(nl, "nltest1");
	assert_int_equal(idx, (int)if_nametoindex("nltest1"));
	assert_int_equal(nl_link_name(nl, idx, name), 0);
	assert_string_equal(name, "nltest1");

	assert_int_equal(nl_link_index(nl, "lo"), 1);
	assert_int_equal(nl_link_name(nl, 1, name), 0);
	assert_string_equal(name, "lo");
}

static void test_unknown(void **state)
{
	struct nl *nl = *state;
	char name[IF_NAMESIZE];

	assert_int_equal(nl_link_index(nl, "nosuchif0"), -ENODEV);
	assert_int_equal(nl_link_name(nl, 99999, name), -ENODEV);
	assert_int_equal(nl_link_index(nl, "a-name-far-too-long-for-linux"), -EINVAL);
	assert_int_equal(nl_link_index(nl, ""), -EINVAL);
	/* The socket still works after errors: replies stay in step. */
	assert_int_equal(nl_link_index(nl, "lo"), 1);
}

static const struct nl_addr *find_addr(const struct nl_addr *a, int n, int family,
				       const char *text)
{
	unsigned char want[16];

	assert_int_equal(inet_pton(family, text, want), 1);
	for (int i = 0; i < n; i++) {
		if (a[i].addr.ss_family != family)
			continue;
		if (family == AF_INET &&
		    !memcmp(&((const struct sockaddr_in *)&a[i].addr)->sin_addr, want, 4))
			return &a[i];
		if (family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)&a[i].addr)->sin6_addr, want, 16))
			return &a[i];
	}
	return NULL;
}

static void test_addresses(void **state)
{
	struct nl *nl = *state;
	struct nl_addr a[16];
	const struct nl_addr *x;
	int idx, n, total;

	idx = nl_link_index(nl, "nltest0");
	assert_true(idx > 0);
	assert_int_equal(sh("ip addr add 198.18.7.1/24 dev nltest0"), 0);
	assert_int_equal(sh("ip addr add 198.18.8.1/25 dev nltest0"), 0);
	assert_int_equal(sh("ip addr add 2001:db8::7/64 dev nltest0 nodad"), 0);

	n = nl_addr_dump(nl, idx, AF_UNSPEC, a, 16);
	/* Two IPv4, the IPv6 global and the kernel's own link-local (fe80::). */
	assert_true(n >= 3);
	x = find_addr(a, n, AF_INET, "198.18.7.1");
	assert_non_null(x);
	assert_int_equal(x->prefixlen, 24);
	assert_int_equal(x->scope, RT_SCOPE_UNIVERSE);
	x = find_addr(a, n, AF_INET, "198.18.8.1");
	assert_non_null(x);
	assert_int_equal(x->prefixlen, 25);
	x = find_addr(a, n, AF_INET6, "2001:db8::7");
	assert_non_null(x);
	assert_int_equal(x->prefixlen, 64);
	assert_int_equal(((const struct sockaddr_in6 *)&x->addr)->sin6_scope_id, 0);
	/* Nothing of the other interface leaks in. */
	assert_null(find_addr(a, n, AF_INET, "127.0.0.1"));
	total = n;

	n = nl_addr_dump(nl, idx, AF_INET, a, 16);
	assert_int_equal(n, 2);
	assert_int_equal(a[0].addr.ss_family, AF_INET);
	assert_int_equal(a[1].addr.ss_family, AF_INET);

	n = nl_addr_dump(nl, idx, AF_INET6, a, 16);
	assert_int_equal(n, total - 2);
	for (int i = 0; i < n; i++) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a[i].addr;

		assert_int_equal(s6->sin6_family, AF_INET6);
		if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
			assert_int_equal(s6->sin6_scope_id, idx);
	}

	/* Too small an array: the true count comes back, only cap entries are written. */
	memset(a, 0xee, sizeof(a));
	n = nl_addr_dump(nl, idx, AF_UNSPEC, a, 1);
	assert_int_equal(n, total);
	assert_true(a[0].addr.ss_family == AF_INET || a[0].addr.ss_family == AF_INET6);
	assert_int_equal(a[1].prefixlen, 0xee);
	assert_int_equal(nl_addr_dump(nl, idx, AF_UNSPEC, NULL, 0), total);

	assert_int_equal(nl_addr_dump(nl, nl_link_index(nl, "lo"), AF_INET, a, 16), 0);
	assert_int_equal(nl_addr_dump(nl, idx, AF_PACKET, a, 16), -EAFNOSUPPORT);

	assert_int_equal(sh("ip addr flush dev nltest0"), 0);
	assert_int_equal(nl_addr_dump(nl, idx, AF_INET, a, 16), 0);
}

static void test_xdp_state(void **state)
{
	struct nl *nl = *state;
	struct nl_xdp_state st;
	int idx, br, fd;
	__u32 id;

	idx = nl_link_index(nl, "nltest0");
	br = nl_link_index(nl, "nltestbr");
	assert_true(idx > 0 && br > 0);
	fd = load_pass_prog();
	assert_true(fd >= 0);
	id = prog_id(fd);
	assert_true(id > 0);

	assert_int_equal(nl_xdp_query(nl, idx, &st), 0);
	assert_int_equal(st.mode, NL_XDP_NONE);
	assert_int_equal(st.prog_id, 0);
	assert_string_equal(nl_xdp_mode_name(st.mode), "none");

	assert_int_equal(bpf_xdp_attach(idx, fd, XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(nl_xdp_query(nl, idx, &st), 0);
	assert_int_equal(st.mode, NL_XDP_NATIVE);
	assert_int_equal(st.prog_id, id);
	assert_int_equal(st.drv_prog_id, id);
	assert_int_equal(st.skb_prog_id, 0);
	assert_string_equal(nl_xdp_mode_name(st.mode), "native");
	assert_int_equal(bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(nl_xdp_query(nl, idx, &st), 0);
	assert_int_equal(st.mode, NL_XDP_NONE);

	/* A bridge has no native XDP; generic mode is reported as such. */
	assert_int_equal(bpf_xdp_attach(br, fd, XDP_FLAGS_SKB_MODE, NULL), 0);
	assert_int_equal(nl_xdp_query(nl, br, &st), 0);
	assert_int_equal(st.mode, NL_XDP_GENERIC);
	assert_int_equal(st.prog_id, id);
	assert_int_equal(st.skb_prog_id, id);
	assert_int_equal(st.drv_prog_id, 0);
	assert_int_equal(bpf_xdp_detach(br, XDP_FLAGS_SKB_MODE, NULL), 0);

	assert_int_equal(nl_xdp_query(nl, 99999, &st), -ENODEV);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_and_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xdp_state, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
