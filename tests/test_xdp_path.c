// SPDX-License-Identifier: MIT
/*
 * The kernel path object against the real kernel: attach, pin, keep, adopt,
 * refuse.  The process unshares a network namespace, so its interfaces vanish
 * with it; pins live on the host bpffs under /sys/fs/bpf/ph-loader-test-<pid>-<n>
 * and every teardown removes them, failed test or not.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "netlink.h"
#include "xdp.h"

struct fixture {
	char pin_dir[128];
	char ifa[IF_NAMESIZE];	/* the interface under test */
	char ifb[IF_NAMESIZE];	/* its veth peer */
	char path[192];
	struct xdp_path *p;
	struct xdp_path *p2;
	struct nl *nl;
};

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *pin(struct fixture *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->pin_dir, name);
	return f->path;
}

static void rm_pin_dir(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	rmdir(dir);
}

/* Pins of an earlier run that was killed before its teardown (pid gone). */
static void rm_orphan_pin_dirs(void)
{
	const char *prefix = "ph-loader-test-";
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir("/sys/fs/bpf");
	int pid;

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) ||
		    sscanf(de->d_name + strlen(prefix), "%d-", &pid) != 1 || pid <= 0)
			continue;
		if (kill(pid, 0) && errno == ESRCH) {
			snprintf(path, sizeof(path), "/sys/fs/bpf/%s", de->d_name);
			rm_pin_dir(path);
		}
	}
	closedir(d);
}

static int group_setup(void **state)
{
	/* Logging into a closed pipe must not kill us before teardown runs. */
	signal(SIGPIPE, SIG_IGN);
	rm_orphan_pin_dirs();
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int setup(void **state)
{
	static int n;
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	n++;
	snprintf(f->pin_dir, sizeof(f->pin_dir), "/sys/fs/bpf/ph-loader-test-%d-%d", getpid(), n);
	snprintf(f->ifa, sizeof(f->ifa), "xp%da", n);
	snprintf(f->ifb, sizeof(f->ifb), "xp%db", n);
	f->nl = nl_open();
	*state = f;
	if (!f->nl || sh("ip link add %s type veth peer name %s", f->ifa, f->ifb))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	xdp_path_close(f->p2, false);
	xdp_path_close(f->p, false);
	/* Deleting the interface also drops any attachment a failed test left. */
	sh("ip link del %s 2>/dev/null", f->ifa);
	rm_pin_dir(f->pin_dir);
	nl_close(f->nl);
	free(f);
	return 0;
}

static struct bpf_link_info pinned_link(struct fixture *f)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(pin(f, "link"));

	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	assert_int_equal(info.type, BPF_LINK_TYPE_XDP);
	return info;
}

static __u32 pinned_map_id(struct fixture *f, const char *name)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(pin(f, name));

	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

static struct nl_xdp_state xdp_state(struct fixture *f, const char *ifname)
{
	struct nl_xdp_state st;
	int idx = nl_link_index(f->nl, ifname);

	assert_true(idx > 0);
	assert_int_equal(nl_xdp_query(f->nl, idx, &st), 0);
	return st;
}

static int load_pass_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "xp_test_foreign", "MIT", insns, 2, NULL);
}

static struct sockaddr_storage sa(const char *ip, int port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static struct ph_listen_key lkey(int family, const char *ip, int port)
{
	struct ph_listen_key k;

	memset(&k, 0, sizeof(k));
	k.family = family;
	k.port = htons(port);
	assert_int_equal(inet_pton(family, ip, k.addr), 1);
	return k;
}

/* Read the pinned listeners map back; returns the number of keys. */
static int read_listeners(struct fixture *f, struct ph_listen_key *out, int cap)
{
	struct ph_listen_key key, next;
	int fd = bpf_obj_get(pin(f, "listeners"));
	void *prev = NULL;
	int n = 0;

	assert_true(fd >= 0);
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		assert_true(n < cap);
		out[n++] = next;
		key = next;
		prev = &key;
	}
	close(fd);
	return n;
}

static bool has_key(const struct ph_listen_key *keys, int n, struct ph_listen_key k)
{
	for (int i = 0; i < n; i++) {
		if (!memcmp(&keys[i], &k, sizeof(k)))
			return true;
	}
	return false;
}

/*
 * Run the attached program once over a unicast ARP reply: not IP, so it is
 * counted as pass_not_ip (a broadcast frame would be sorted out earlier).
 */
static void run_arp_through(__u32 prog_id)
{
	unsigned char frame[42] = {
		0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 2, 0x02, 0, 0, 0, 0, 1, 198, 18, 0, 1,
		0x02, 0, 0, 0, 0, 2, 198, 18, 0, 2,
	};
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = 1);
	int fd = bpf_prog_get_fd_by_id(prog_id);

	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &topts), 0);
	assert_int_equal(topts.retval, XDP_PASS);
	close(fd);
}

static void test_attach_listeners_stats_close(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct ph_stat before[PH_REASON_MAX], after[PH_REASON_MAX];
	struct sockaddr_storage addrs[PH_MAX_LISTENERS + 1];
	struct ph_listen_key keys[PH_MAX_LISTENERS];
	struct bpf_link_info li;
	struct nl_xdp_state st;
	int n;

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	assert_false(xdp_path_adopted(f->p));
	assert_string_equal(xdp_path_mode(f->p), "native");
	li = pinned_link(f);
	assert_int_equal(li.xdp.ifindex, nl_link_index(f->nl, f->ifa));
	st = xdp_state(f, f->ifa);
	assert_int_equal(st.mode, NL_XDP_NATIVE);
	assert_int_equal(st.drv_prog_id, li.prog_id);
	assert_int_equal(access(pin(f, "stats"), F_OK), 0);
	assert_int_equal(access(pin(f, "listeners"), F_OK), 0);

	addrs[0] = sa("198.18.0.1", 3478);
	addrs[1] = sa("2001:db8::1", 3478);
	addrs[2] = sa("0.0.0.0", 3479);
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, 3), 0);
	n = read_listeners(f, keys, PH_MAX_LISTENERS);
	assert_int_equal(n, 3);
	assert_true(has_key(keys, n, lkey(AF_INET, "198.18.0.1", 3478)));
	assert_true(has_key(keys, n, lkey(AF_INET6, "2001:db8::1", 3478)));
	assert_true(has_key(keys, n, lkey(AF_INET, "0.0.0.0", 3479)));

	/* Replace: one kept, one gone, a v4-mapped v6 address lands as IPv4. */
	addrs[0] = sa("198.18.0.1", 3478);
	addrs[1] = sa("::ffff:198.18.0.2", 3478);
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, 2), 0);
	n = read_listeners(f, keys, PH_MAX_LISTENERS);
	assert_int_equal(n, 2);
	assert_true(has_key(keys, n, lkey(AF_INET, "198.18.0.1", 3478)));
	assert_true(has_key(keys, n, lkey(AF_INET, "198.18.0.2", 3478)));

	/* Bad input changes nothing. */
	addrs[1] = sa("198.18.0.3", 0);
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, 2), -EINVAL);
	addrs[1].ss_family = AF_UNIX;
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, 2), -EINVAL);
	for (int i = 0; i <= PH_MAX_LISTENERS; i++)
		addrs[i] = sa("198.18.1.1", 1000 + i);
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, PH_MAX_LISTENERS + 1), -E2BIG);
	assert_int_equal(read_listeners(f, keys, PH_MAX_LISTENERS), 2);
	/* A full map is fine. */
	assert_int_equal(xdp_path_set_listeners(f->p, addrs, PH_MAX_LISTENERS), 0);
	assert_int_equal(read_listeners(f, keys, PH_MAX_LISTENERS), PH_MAX_LISTENERS);
	assert_int_equal(xdp_path_set_listeners(f->p, NULL, 0), 0);
	assert_int_equal(read_listeners(f, keys, PH_MAX_LISTENERS), 0);

	/* The attached program counts one frame; read_stats sees exactly it. */
	assert_int_equal(xdp_path_read_stats(f->p, before), 0);
	run_arp_through(li.prog_id);
	assert_int_equal(xdp_path_read_stats(f->p, after), 0);
	assert_int_equal(after[PH_PASS_NOT_IP].packets - before[PH_PASS_NOT_IP].packets, 1);
	assert_int_equal(after[PH_PASS_NOT_IP].bytes - before[PH_PASS_NOT_IP].bytes, 42);
	for (int r = 0; r < PH_REASON_MAX; r++) {
		if (r != PH_PASS_NOT_IP)
			assert_int_equal(after[r].packets, before[r].packets);
	}

	xdp_path_close(f->p, false);
	f->p = NULL;
	assert_int_equal(xdp_state(f, f->ifa).mode, NL_XDP_NONE);
	assert_int_equal(access(f->pin_dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
}

/* The pinned value of listener k; fails the test when k is absent. */
static struct ph_listen_val read_val(struct fixture *f, struct ph_listen_key k)
{
	struct ph_listen_val v;
	int fd = bpf_obj_get(pin(f, "listeners"));

	assert_true(fd >= 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &v), 0);
	close(fd);
	return v;
}

static void assert_val(struct ph_listen_val v, int family, const char *ip, int port)
{
	__u8 addr[16] = {0};

	assert_int_equal(v.flags, PH_LISTEN_RFC5780);
	assert_int_equal(v.other_family, family);
	assert_int_equal(v.other_port, htons(port));
	assert_int_equal(inet_pton(family, ip, addr), 1);
	assert_memory_equal(v.other_addr, addr, sizeof(addr));
}

/*
 * Run the attached program over a 20-byte Binding request from
 * 198.18.5.5:40000 to @dst:@port (UDP checksum 0, allowed over IPv4);
 * returns the verdict and the answer's STUN length field in *stun_len.
 */
static __u32 run_binding_through(__u32 prog_id, const char *dst, int port, unsigned int *stun_len)
{
	unsigned char in[62] = {
		0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00,
		0x45, 0, 0, 48, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 5, 5, 0, 0, 0, 0,
		0x9c, 0x40, 0, 0, 0, 28, 0, 0,
		0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
	};
	unsigned char out[256];
	LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = in, .data_size_in = sizeof(in),
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	__u32 sum = 0;
	int fd, i;

	assert_int_equal(inet_pton(AF_INET, dst, in + 30), 1);
	in[36] = port >> 8;
	in[37] = port & 0xff;
	for (i = 14; i < 34; i += 2)
		sum += in[i] << 8 | in[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	in[24] = ~sum >> 8;
	in[25] = ~sum & 0xff;
	fd = bpf_prog_get_fd_by_id(prog_id);
	assert_true(fd >= 0);
	assert_int_equal(bpf_prog_test_run_opts(fd, &topts), 0);
	close(fd);
	*stun_len = topts.data_size_out >= 46 ? (unsigned int)(out[44] << 8 | out[45]) : 0;
	return topts.retval;
}

/*
 * Listeners with RFC 5780 service: values land in the pinned map as the
 * program reads them (the attached program answers with RESPONSE-ORIGIN
 * and OTHER-ADDRESS), bad other addresses change nothing, and the plain
 * call takes the service away again without removing the listener.
 */
static void test_listeners_ex(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct ph_listen_key keys[PH_MAX_LISTENERS];
	struct xdp_listener l[5];
	struct ph_listen_val v;
	struct sockaddr_storage plain;
	unsigned int stun_len;
	__u32 prog_id;
	int n;

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	prog_id = pinned_link(f).prog_id;
	memset(l, 0, sizeof(l));
	l[0].addr = sa("198.18.0.1", 3478);
	l[0].other = sa("198.18.0.3", 3479);
	l[1].addr = sa("2001:db8::1", 3478);
	l[1].other = sa("2001:db8::3", 3479);
	l[2].addr = sa("198.18.0.1", 3480);
	l[2].other = sa("::ffff:198.18.0.4", 3481);	/* lands as IPv4 */
	l[3].addr = sa("0.0.0.0", 3479);		/* other AF_UNSPEC: no service */
	l[4] = l[0];					/* the same twice is fine */
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), 0);
	n = read_listeners(f, keys, PH_MAX_LISTENERS);
	assert_int_equal(n, 4);
	assert_val(read_val(f, lkey(AF_INET, "198.18.0.1", 3478)), AF_INET, "198.18.0.3", 3479);
	assert_val(read_val(f, lkey(AF_INET6, "2001:db8::1", 3478)), AF_INET6, "2001:db8::3", 3479);
	assert_val(read_val(f, lkey(AF_INET, "198.18.0.1", 3480)), AF_INET, "198.18.0.4", 3481);
	v = read_val(f, lkey(AF_INET, "0.0.0.0", 3479));
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.other_family, 0);

	/* The attached program: XMA + RESPONSE-ORIGIN + OTHER-ADDRESS (3 x 12), or XMA only. */
	assert_int_equal(run_binding_through(prog_id, "198.18.0.1", 3478, &stun_len), XDP_TX);
	assert_int_equal(stun_len, 36);
	assert_int_equal(run_binding_through(prog_id, "198.18.0.9", 3479, &stun_len), XDP_TX);
	assert_int_equal(stun_len, 12);

	/* Bad other addresses, or one address with two others: -EINVAL, map unchanged. */
	l[4] = l[0];
	l[4].other = sa("0.0.0.0", 3479);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), -EINVAL);
	l[4].other = sa("::", 3479);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), -EINVAL);
	l[4].other = sa("198.18.0.3", 0);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), -EINVAL);
	l[4].other.ss_family = AF_UNIX;
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), -EINVAL);
	l[4].other = sa("198.18.0.5", 3479);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, 5), -EINVAL);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, NULL, 1), -EINVAL);
	assert_int_equal(xdp_path_set_listeners_ex(f->p, l, PH_MAX_LISTENERS + 1), -E2BIG);
	assert_int_equal(read_listeners(f, keys, PH_MAX_LISTENERS), 4);
	assert_val(read_val(f, lkey(AF_INET, "198.18.0.1", 3478)), AF_INET, "198.18.0.3", 3479);

	/* The plain call keeps the address and drops the service. */
	plain = sa("198.18.0.1", 3478);
	assert_int_equal(xdp_path_set_listeners(f->p, &plain, 1), 0);
	assert_int_equal(read_listeners(f, keys, PH_MAX_LISTENERS), 1);
	v = read_val(f, lkey(AF_INET, "198.18.0.1", 3478));
	assert_int_equal(v.flags, 0);
	assert_int_equal(v.other_port, 0);
}

/* Sets one per-CPU counter through the pinned map, as an earlier run would have. */
static void write_counter(struct fixture *f, __u32 reason, __u64 packets, __u64 bytes)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ph_stat *v = calloc(ncpu, sizeof(*v));
	int fd = bpf_obj_get(pin(f, "stats"));

	assert_true(ncpu > 0 && v && fd >= 0);
	v[ncpu - 1].packets = packets;
	v[ncpu - 1].bytes = bytes;
	assert_int_equal(bpf_map_update_elem(fd, &reason, v, BPF_ANY), 0);
	close(fd);
	free(v);
}

struct watch {
	const char *ifname;
	atomic_int stop;
	atomic_int samples;
	atomic_int gaps;	/* samples that saw no program attached */
};

/* Samples the interface's XDP state while the main thread adopts. */
static void *watch_attach(void *arg)
{
	struct watch *w = arg;
	struct nl *nl = nl_open();
	struct nl_xdp_state st;
	int idx;

	if (!nl)
		return NULL;
	idx = nl_link_index(nl, w->ifname);
	while (!atomic_load(&w->stop)) {
		if (nl_xdp_query(nl, idx, &st) || st.mode == NL_XDP_NONE)
			atomic_fetch_add(&w->gaps, 1);
		atomic_fetch_add(&w->samples, 1);
	}
	nl_close(nl);
	return NULL;
}

/* Id of the program pinned as <pin_dir>/prog (0 if none). */
static __u32 pinned_prog_id(struct fixture *f)
{
	struct bpf_prog_info pi = { 0 };
	__u32 len = sizeof(pi);
	int fd = bpf_obj_get(pin(f, "prog"));

	if (fd < 0)
		return 0;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &pi, &len), 0);
	close(fd);
	return pi.id;
}

static void test_keep_then_adopt(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct watch w = { .ifname = f->ifa };
	struct bpf_link_info li1, li2;
	struct ph_stat stats[PH_REASON_MAX];
	struct ph_listen_key keys[4];
	struct sockaddr_storage a = sa("198.18.0.9", 3478);
	__u32 stats_id, listeners_id, map_ids[16];
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	bool seen_stats = false;
	pthread_t th;
	int fd;

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	assert_int_equal(xdp_path_set_listeners(f->p, &a, 1), 0);
	write_counter(f, PH_DROP_BAD_FINGERPRINT, 1000, 7000);
	li1 = pinned_link(f);
	/* The running program is pinned too: adoption opens it without CAP_SYS_ADMIN. */
	assert_int_equal(pinned_prog_id(f), li1.prog_id);
	stats_id = pinned_map_id(f, "stats");
	listeners_id = pinned_map_id(f, "listeners");

	xdp_path_close(f->p, true);
	f->p = NULL;
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, li1.prog_id);
	assert_int_equal(pinned_link(f).id, li1.id);

	assert_int_equal(pthread_create(&th, NULL, watch_attach, &w), 0);
	while (atomic_load(&w.samples) < 1)
		sched_yield();	/* the watcher must be sampling before the swap starts */
	f->p = xdp_path_open(&o);
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	assert_non_null(f->p);
	assert_true(xdp_path_adopted(f->p));
	assert_string_equal(xdp_path_mode(f->p), "native");
	assert_true(atomic_load(&w.samples) > 1);
	assert_int_equal(atomic_load(&w.gaps), 0);

	/* Same link (never detached), new program, same maps, same contents. */
	li2 = pinned_link(f);
	assert_int_equal(li2.id, li1.id);
	assert_int_not_equal(li2.prog_id, li1.prog_id);
	assert_int_equal(li2.xdp.ifindex, li1.xdp.ifindex);
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, li2.prog_id);
	assert_int_equal(pinned_prog_id(f), li2.prog_id);
	assert_int_equal(pinned_map_id(f, "stats"), stats_id);
	assert_int_equal(pinned_map_id(f, "listeners"), listeners_id);
	fd = bpf_prog_get_fd_by_id(li2.prog_id);
	assert_true(fd >= 0);
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = 16;
	pi.map_ids = (__u64)(unsigned long)map_ids;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &pi, &len), 0);
	close(fd);
	/* The new program counts into the pinned stats map, not a fresh one. */
	for (__u32 i = 0; i < pi.nr_map_ids && i < 16; i++)
		seen_stats |= map_ids[i] == stats_id;
	assert_true(seen_stats);
	assert_int_equal(xdp_path_read_stats(f->p, stats), 0);
	assert_int_equal(stats[PH_DROP_BAD_FINGERPRINT].packets, 1000);
	assert_int_equal(stats[PH_DROP_BAD_FINGERPRINT].bytes, 7000);
	assert_int_equal(read_listeners(f, keys, 4), 1);
	assert_true(has_key(keys, 1, lkey(AF_INET, "198.18.0.9", 3478)));
	/* And the adopting process writes the pinned listeners map. */
	a = sa("198.18.0.10", 3478);
	assert_int_equal(xdp_path_set_listeners(f->p, &a, 1), 0);
	assert_int_equal(read_listeners(f, keys, 4), 1);
	assert_true(has_key(keys, 1, lkey(AF_INET, "198.18.0.10", 3478)));

	xdp_path_close(f->p, false);
	f->p = NULL;
	assert_int_equal(xdp_state(f, f->ifa).mode, NL_XDP_NONE);
	assert_int_equal(access(f->pin_dir, F_OK), -1);
}

static void test_pin_dir_in_use(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	errno = 0;
	f->p2 = xdp_path_open(&o);
	assert_null(f->p2);
	assert_int_equal(errno, EBUSY);
	/* The refused opener took nothing away from the running one. */
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, pinned_link(f).prog_id);
}

static void test_foreign_refused(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct bpf_prog_info pi;
	__u32 len = sizeof(pi);
	int idx = nl_link_index(f->nl, f->ifa);
	int fd = load_pass_prog();

	assert_true(fd >= 0);
	memset(&pi, 0, sizeof(pi));
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &pi, &len), 0);
	assert_int_equal(bpf_xdp_attach(idx, fd, XDP_FLAGS_DRV_MODE, NULL), 0);

	errno = 0;
	f->p = xdp_path_open(&o);
	assert_null(f->p);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, pi.id);
	assert_int_equal(access(f->pin_dir, F_OK), -1);	/* nothing left behind */

	/* Generic-mode foreigners are refused too. */
	assert_int_equal(bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, NULL), 0);
	assert_int_equal(bpf_xdp_attach(idx, fd, XDP_FLAGS_SKB_MODE, NULL), 0);
	errno = 0;
	f->p = xdp_path_open(&o);
	assert_null(f->p);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(bpf_xdp_detach(idx, XDP_FLAGS_SKB_MODE, NULL), 0);
	close(fd);

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
}

static void test_stale_link(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct ph_stat stats[PH_REASON_MAX];
	struct bpf_link_info li;
	int old_idx, new_idx;

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	write_counter(f, PH_DROP_BAD_COOKIE, 5, 500);
	old_idx = nl_link_index(f->nl, f->ifa);
	xdp_path_close(f->p, true);
	f->p = NULL;

	/* The interface goes away under the pinned link and comes back anew. */
	assert_int_equal(sh("ip link del %s", f->ifa), 0);
	assert_int_equal(pinned_link(f).xdp.ifindex, 0);
	assert_int_equal(sh("ip link add %s type veth peer name %s", f->ifa, f->ifb), 0);
	new_idx = nl_link_index(f->nl, f->ifa);
	assert_int_not_equal(new_idx, old_idx);

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	assert_false(xdp_path_adopted(f->p));
	li = pinned_link(f);
	assert_int_equal(li.xdp.ifindex, new_idx);
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, li.prog_id);
	/* The maps outlived the interface: the counter is still there. */
	assert_int_equal(xdp_path_read_stats(f->p, stats), 0);
	assert_int_equal(stats[PH_DROP_BAD_COOKIE].packets, 5);
}

static void test_link_for_other_interface(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct xdp_path_opts o2 = { .ifname = f->ifb, .pin_dir = f->pin_dir };

	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	xdp_path_close(f->p, true);
	f->p = NULL;
	/* pin_dir serves ifa: opening it for ifb must not hijack ifa's link. */
	errno = 0;
	f->p2 = xdp_path_open(&o2);
	assert_null(f->p2);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(xdp_state(f, f->ifb).mode, NL_XDP_NONE);
	assert_int_equal(xdp_state(f, f->ifa).drv_prog_id, pinned_link(f).prog_id);
	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	assert_true(xdp_path_adopted(f->p));
}

static void test_generic_fallback(void **state)
{
	struct fixture *f = *state;
	char br[IF_NAMESIZE];
	struct xdp_path_opts o = { .ifname = br, .pin_dir = f->pin_dir, .no_generic = true };
	struct nl_xdp_state st;

	/* A bridge has no native XDP. */
	snprintf(br, sizeof(br), "%.10sbr", f->ifa);
	assert_int_equal(sh("ip link add %s type bridge", br), 0);
	errno = 0;
	f->p = xdp_path_open(&o);
	assert_null(f->p);
	assert_int_equal(errno, EOPNOTSUPP);
	assert_int_equal(access(f->pin_dir, F_OK), -1);

	o.no_generic = false;
	f->p = xdp_path_open(&o);
	assert_non_null(f->p);
	assert_string_equal(xdp_path_mode(f->p), "generic");
	st = xdp_state(f, br);
	assert_int_equal(st.mode, NL_XDP_GENERIC);
	assert_int_equal(st.skb_prog_id, pinned_link(f).prog_id);
	xdp_path_close(f->p, false);
	f->p = NULL;
	assert_int_equal(xdp_state(f, br).mode, NL_XDP_NONE);
	sh("ip link del %s", br);
}

static void test_bad_opts(void **state)
{
	struct fixture *f = *state;
	struct xdp_path_opts o = { .ifname = "nosuchif0", .pin_dir = f->pin_dir };

	errno = 0;
	assert_null(xdp_path_open(&o));
	assert_int_equal(errno, ENODEV);
	assert_int_equal(access(f->pin_dir, F_OK), -1);
	errno = 0;
	assert_null(xdp_path_open(NULL));
	assert_int_equal(errno, EINVAL);
	/* Not a bpffs: refused before anything is loaded. */
	o.ifname = f->ifa;
	o.pin_dir = "/tmp";
	errno = 0;
	assert_null(xdp_path_open(&o));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(xdp_state(f, f->ifa).mode, NL_XDP_NONE);
	xdp_path_close(NULL, false);
	xdp_path_close(NULL, true);
}

/* Child of test_mounts_bpffs: runs in its own mount namespace.  Exit code says what failed. */
static int mount_child(struct fixture *f)
{
	struct xdp_path_opts o = { .ifname = f->ifa, .pin_dir = f->pin_dir };
	struct xdp_path *p;
	struct statfs st;

	/* Private first, or the tmpfs below would propagate to the host's /sys/fs/bpf. */
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return 10;
	/* Hide the host's bpffs: now /sys/fs/bpf is "not mounted" for this process. */
	if (mount("tmpfs", "/sys/fs/bpf", "tmpfs", 0, NULL))
		return 11;
	p = xdp_path_open(&o);
	if (!p)
		return 12;
	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC)
		return 13;
	if (access(f->pin_dir, F_OK) || strcmp(xdp_path_mode(p), "native"))
		return 14;
	xdp_path_close(p, false);
	if (access(f->pin_dir, F_OK) == 0)
		return 15;
	return 0;
}

static void test_mounts_bpffs(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(mount_child(f));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The host's bpffs never saw it. */
	assert_int_equal(access(f->pin_dir, F_OK), -1);
	assert_int_equal(xdp_state(f, f->ifa).mode, NL_XDP_NONE);
}

static void test_reason_names(void **state)
{
	for (int i = 0; i < PH_REASON_MAX; i++) {
		const char *n = xdp_reason_name(i);

		assert_string_not_equal(n, "unknown");
		assert_int_equal(strspn(n, "abcdefghijklmnopqrstuvwxyz_"), strlen(n));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, xdp_reason_name(j));
	}
	assert_string_equal(xdp_reason_name(PH_TX_BINDING), "tx_binding");
	assert_string_equal(xdp_reason_name(PH_PASS_NOT_IP), "pass_not_ip");
	assert_string_equal(xdp_reason_name(PH_DROP_BAD_FINGERPRINT), "drop_bad_fingerprint");
	assert_string_equal(xdp_reason_name(PH_REASON_MAX), "unknown");
	assert_string_equal(xdp_reason_name((enum ph_xdp_reason)-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_attach_listeners_stats_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listeners_ex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_then_adopt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pin_dir_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_for_other_interface, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generic_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_opts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mounts_bpffs, setup, teardown),
		cmocka_unit_test(test_reason_names),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
