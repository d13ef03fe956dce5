// SPDX-License-Identifier: MIT
/*
 * pinhole-load sessions (sessions.h).  Phases, each bounded:
 *   accounts   store_bulk_begin/end batches of store_user_add + K x
 *              store_contact_allow (reused when the store already has them)
 *   logins     logins_run(): real STUN + LOGIN + LOGIN + FETCH* per endpoint
 *   keepalives ka_gen paced at endpoints / interval for --duration, answers
 *              counted by ka_count on the generator veth
 *   report     counters, server metrics, /proc CPU, pinned maps
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <math.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "access.h"
#include "addr.h"
#include "bench/bench_kern_user.h"
#include "bench/ka.skel.h"
#include "loadgen.h"
#include "log.h"
#include "logins.h"
#include "pinhole_kern_user.h"
#include "rig.h"
#include "sessions.h"
#include "srvstat.h"
#include "store.h"
#include "stun.h"

#define DEFAULT_SRC_NET "198.18.128.0/17"
#define DEFAULT_PORT_BASE 1024
#define DEFAULT_CONTACTS 50
#define DEFAULT_WINDOW 256
#define DEFAULT_PREFIX "ld"
#define DEFAULT_PASSWORD "pinhole-load"
#define MIN_SECONDS 0.1
#define MAX_SECONDS 3600
/* Endpoints per store transaction: seconds of work, so a server's writes never wait long. */
#define BULK_BATCH 20000
#define BULK_CACHE_MB 512

static volatile sig_atomic_t stop, bg_stop;

static void on_signal(int sig)
{
	stop = 1;
	bg_stop = 1;
}

struct opts {
	const char *server, *db, *netns, *ifname, *src_net, *pin_dir, *metrics, *label, *csv;
	const char *prefix, *password;
	uint8_t dst_mac[RIG_MAC_LEN];
	bool have_mac, create;
	uint32_t endpoints, contacts, window, tries, rto_ms;
	uint64_t keepalive_ns, duration_ns, login_max_ns;
	uint64_t login_ka_ns; /* keepalive interval while logging in; 0: keepalive_ns */
	uint16_t port_base;
	int threads, server_pid;
	uint32_t batch, prog_id;
};

struct report {
	double acct_s;
	uint64_t acct_created;
	struct logins_result lg;
	uint64_t ka_sent, ka_valid, ka_401, ka_invalid, ka_skipped;
	double ka_s;
	uint64_t lost_401, answered_eps, sessions;
	int map_err;
	uint64_t map_checked, map_missing;
	struct srvstat_metrics m0, m1;
	bool have_metrics;
	double cpu_user, cpu_sys;
	bool have_cpu;
	double login_cpu; /* server CPU seconds over the login phase; < 0: not measured */
	double login_self_cpu; /* pinhole-load's own CPU seconds over the logins */
	double xdp_s;	  /* run time of the server's XDP program over the phase */
	uint64_t xdp_runs;
	bool have_xdp;
	struct srvstat_mem mem;
	int mem_err;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: pinhole-load sessions --server IP:PORT --db PATH --endpoints N\n"
	    "                             --dst-mac MAC [options]\n"
	    "Simulate N endpoints against a running pinhole-server: create their accounts in\n"
	    "its store, log each in over the access protocol (Binding, LOGIN 401, LOGIN with\n"
	    "credentials, FETCH of every page), then send every endpoint's keepalive once per\n"
	    "interval from an in-kernel generator and count the answers in XDP.\n"
	    "  --server IP:PORT   the server (IPv4)\n"
	    "  --db PATH          the server's account store (accounts are added to it)\n"
	    "  --endpoints N      endpoints, each with its own source address:port\n"
	    "  --keepalive S      keepalive interval per endpoint (default 20)\n"
	    "  --duration S       seconds of keepalives after the logins (default 20)\n"
	    "  --contacts K       contacts per endpoint, accounts that never log in (default %d)\n"
	    "  --netns NAME       run in network namespace /run/netns/NAME\n"
	    "  --ifname IF        generator veth in that namespace (default g0)\n"
	    "  --dst-mac MAC      MAC of the server-side veth\n"
	    "  --src-net NET/LEN  endpoint addresses, local in the namespace (`ip route add\n"
	    "                     local NET dev lo`) and routed to it by the server\n"
	    "                     (default " DEFAULT_SRC_NET ")\n"
	    "  --src-port P       first endpoint port (default %d)\n"
	    "  --window W         logins in flight (default %d)\n"
	    "  --rto-ms MS        first login retransmission timeout (default 500, doubles)\n"
	    "  --tries N          sends per login request before giving up (default 6)\n"
	    "  --login-max S      stop starting logins after S seconds (default 3600)\n"
	    "  --login-keepalive S  keepalive interval of the endpoints already logged in\n"
	    "                     while the others log in (default: --keepalive; at most the\n"
	    "                     server's interval, or early sessions time out)\n"
	    "  --threads N        keepalive generator threads (default: 1 below 200k/s)\n"
	    "  --batch N          keepalives per BPF_PROG_TEST_RUN call (default: a quarter\n"
	    "                     second of the rate per thread, at least 16)\n"
	    "  --server-pid PID   report this process's CPU time over the keepalive phase\n"
	    "  --server-prog-id ID  also count the run time of the server-side XDP program\n"
	    "                     (BPF run-time statistics on for the keepalive phase); found\n"
	    "                     in --pin-dir when not given\n"
	    "  --metrics IP:PORT  the server's --metrics address (sessions online, wake-ups,\n"
	    "                     sweep time)\n"
	    "  --pin-dir DIR      the server's pin dir: check every session is still in its\n"
	    "                     \"sessions\" map, and sum its maps' kernel memory\n"
	    "  --no-create        do not create accounts (they must exist)\n"
	    "  --prefix P         user name prefix (default " DEFAULT_PREFIX ")\n"
	    "  --label NAME       name of this run in the report and CSV (default sessions)\n"
	    "  --csv FILE         append one CSV row (header written to an empty file)\n"
	    "  --log-level L      error|warn|info|debug (default info)\n",
	    DEFAULT_CONTACTS, DEFAULT_PORT_BASE, DEFAULT_WINDOW);
}

static double secs_since(uint64_t t0)
{
	return (rig_now_ns() - t0) / 1e9;
}

/* ---- accounts ------------------------------------------------------------ */

static void ep_name(char *buf, size_t len, const char *prefix, uint32_t j)
{
	snprintf(buf, len, "%s%u", prefix, j);
}

/* Contacts are a pool of accounts that never log in: full profiles, no presence traffic. */
static void pool_name(char *buf, size_t len, const char *prefix, uint32_t i)
{
	snprintf(buf, len, "%sc%u", prefix, i);
}

static bool user_exists(struct store *st, const char *name)
{
	struct store_user u;
	bool yes = !store_user_get(st, name, &u);

	explicit_bzero(&u, sizeof(u));
	return yes;
}

static int count_cb(const char *contact, void *ctx)
{
	(*(uint32_t *)ctx)++;
	return 0;
}

/*
 * Endpoints are created in index order, each with its contacts in the same
 * transaction, so the existing ones are a prefix 0..m-1: find m by bisection.
 */
static uint32_t existing_endpoints(struct store *st, const struct opts *o)
{
	char name[PH_NAME_MAX + 1];
	uint32_t lo = 0, hi = o->endpoints;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		ep_name(name, sizeof(name), o->prefix, mid);
		if (user_exists(st, name))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int create_accounts(struct store *st, const struct opts *o, struct report *rep)
{
	uint32_t pool = o->contacts ? 2 * o->contacts : 0, have, got = 0;
	char name[PH_NAME_MAX + 1], other[PH_NAME_MAX + 1];
	size_t plen = strlen(o->password);
	uint64_t t0 = rig_now_ns(), next_progress = t0 + 1000000000ull;
	bool open = false;
	int err = 0;

	have = existing_endpoints(st, o);
	if (have) {
		ep_name(name, sizeof(name), o->prefix, have - 1);
		if (store_contact_list(st, name, STORE_CONTACT_OUT, count_cb, &got) ||
		    got != o->contacts) {
			pr_err("accounts: %s exists with %u contacts, not %u: use another --db or "
			       "--prefix",
			       name, got, o->contacts);
			return -EEXIST;
		}
	}
	if (have == o->endpoints) {
		pr_info("accounts: all %u endpoints already in the store", have);
		rep->acct_s = secs_since(t0);
		return 0;
	}
	for (uint32_t i = 0; i < pool; i++) {
		pool_name(name, sizeof(name), o->prefix, i);
		err = store_user_add(st, name, o->password, plen);
		if (err && err != -EEXIST)
			goto fail;
	}
	for (uint32_t j = have; j < o->endpoints && !stop; j++) {
		if (!open) {
			err = store_bulk_begin(st, BULK_CACHE_MB);
			if (err)
				goto fail;
			open = true;
		}
		ep_name(name, sizeof(name), o->prefix, j);
		err = store_user_add(st, name, o->password, plen);
		if (err)
			goto fail;
		for (uint32_t i = 0; i < o->contacts; i++) {
			pool_name(other, sizeof(other), o->prefix, (j + i) % pool);
			err = store_contact_allow(st, name, other);
			if (err)
				goto fail;
		}
		rep->acct_created++;
		if ((j + 1 - have) % BULK_BATCH == 0 || j + 1 == o->endpoints) {
			err = store_bulk_end(st, true);
			open = false;
			if (err)
				goto fail;
		}
		if (rig_now_ns() >= next_progress) {
			fprintf(stderr, "[%5.1fs] accounts: %u of %u endpoints (%.0f/s)\n",
				secs_since(t0), j + 1, o->endpoints,
				rep->acct_created / secs_since(t0));
			next_progress += 1000000000ull;
		}
	}
	if (open)
		err = store_bulk_end(st, true);
	rep->acct_s = secs_since(t0);
	if (stop)
		return -EINTR;
	pr_info("accounts: %llu created (%u reused) in %.1f s",
		(unsigned long long)rep->acct_created, have, rep->acct_s);
	return err;
fail:
	pr_err("accounts: cannot create %s: %s", name, strerror(-err));
	if (open)
		store_bulk_end(st, false);
	return err;
}

/* ---- keepalive table ------------------------------------------------------ */

static uint16_t csum_fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/*
 * Fill in what the generator does not compute per frame: the keepalive's
 * FINGERPRINT (built with the library codec, as an endpoint would) and the
 * UDP checksum (every byte of the datagram is fixed for the run).
 */
struct ka_ctx {
	uint32_t epoch;	   /* as the generator writes it */
	uint32_t dst_addr; /* network order */
	uint16_t dst_port_be;
};

static int ka_entry_finish(struct bench_ka_entry *e, uint32_t j, uint32_t id, void *arg)
{
	const struct ka_ctx *k = arg;
	uint32_t epoch = k->epoch, dst_addr = k->dst_addr;
	uint16_t dst_port_be = k->dst_port_be;
	uint8_t dg[8 + BENCH_KA_STUN_LEN] = {}, tid[STUN_TID_LEN];
	uint32_t v, s = 0;
	struct stun_builder b;
	uint16_t w;

	v = htonl(BENCH_KA_MARKER);
	memcpy(&tid[0], &v, 4);
	v = htonl(j);
	memcpy(&tid[4], &v, 4);
	memcpy(&tid[8], &epoch, 4);
	stun_build_init(&b, dg + 8, BENCH_KA_STUN_LEN, STUN_BINDING_REQUEST, tid);
	access_add_session(&b, id, e->token);
	stun_build_fingerprint(&b);
	if (stun_build_finish(&b) != BENCH_KA_STUN_LEN)
		return -EPROTO;
	memcpy(&e->fingerprint, dg + sizeof(dg) - 4, 4);
	memcpy(&dg[0], &e->port, 2);
	memcpy(&dg[2], &dst_port_be, 2);
	w = htons(sizeof(dg));
	memcpy(&dg[4], &w, 2);
	/* Pseudo header as it lies in memory, then the datagram: the sum is byte-order neutral. */
	s += (e->addr & 0xffff) + (e->addr >> 16) + (dst_addr & 0xffff) + (dst_addr >> 16);
	s += htons(IPPROTO_UDP) + w;
	for (size_t i = 0; i < sizeof(dg); i += 2) {
		memcpy(&w, &dg[i], 2);
		s += w;
	}
	w = csum_fold(s);
	e->udp_check = w ? w : 0xffff;
	return 0;
}

/* One frame from ka_gen (not live): does it parse as the keepalive of the endpoint it names? */
static int ka_gen_check(struct ka *skel, const struct bench_ka_entry *table)
{
	uint8_t in[BENCH_KA_IN_LEN] = {}, out[BENCH_KA_IN_LEN + 64];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = sizeof(in),
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);
	uint8_t token[PH_TOKEN_LEN];
	struct stun_msg m;
	uint32_t j, id;
	uint16_t w;
	uint32_t s = 0;

	/* Endpoints without a session are skipped (XDP_DROP): run until one is built. */
	for (int i = 0; i < 100000; i++) {
		opts.data_size_out = sizeof(out);
		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.ka_gen), &opts))
			return -errno;
		if (opts.retval != XDP_DROP)
			break;
	}
	if (opts.retval != XDP_TX || opts.data_size_out != BENCH_KA_FRAME_LEN)
		return -EPROTO;
	if (stun_msg_parse(&m, out + BENCH_OFF_STUN, BENCH_KA_STUN_LEN) || !m.has_fingerprint ||
	    access_get_session(&m, &id, token))
		return -EBADMSG;
	memcpy(&j, &m.tid[4], 4);
	j = ntohl(j);
	if (id != ntohl(table[j].id) || memcmp(token, table[j].token, sizeof(token)))
		return -EBADMSG;
	/* UDP checksum over the pseudo header and the datagram must come out as all ones. */
	for (int i = BENCH_OFF_IP + 12; i < BENCH_OFF_IP + 20; i += 2) {
		memcpy(&w, &out[i], 2);
		s += w;
	}
	s += htons(IPPROTO_UDP) + htons(BENCH_KA_FRAME_LEN - BENCH_OFF_UDP);
	for (int i = BENCH_OFF_UDP; i < BENCH_KA_FRAME_LEN; i += 2) {
		memcpy(&w, &out[i], 2);
		s += w;
	}
	return csum_fold(s) ? -EBADMSG : 0;
}

static int ka_read(struct ka *skel, uint64_t out[BENCH_KA_MAX])
{
	int ncpus = libbpf_num_possible_cpus();
	uint64_t *vals;
	int err = 0;

	if (ncpus < 1)
		return -EINVAL;
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t k = 0; k < BENCH_KA_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.ka_stats), &k, vals)) {
			err = -errno;
			break;
		}
		for (int i = 0; i < ncpus; i++)
			out[k] += vals[i];
	}
	free(vals);
	return err;
}

/* ---- phases ----------------------------------------------------------------- */

/* User + system CPU seconds of this process, every thread. */
static double self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void login_progress(const struct logins_result *r, void *ctx)
{
	double s = r->elapsed_ns / 1e9;

	fprintf(stderr,
		"[%5.1fs] logins: %llu ok (%.0f/s), %llu failed, %llu retransmits, "
		"%llu rate-limited\n",
		s, (unsigned long long)r->ok, s > 0 ? r->ok / s : 0.0,
		(unsigned long long)r->failed, (unsigned long long)r->retransmits,
		(unsigned long long)r->rate_limited);
}

struct gen_thread {
	int prog_fd;
	struct loadgen_run_opts ro;
	struct loadgen_result res;
	int err;
	volatile int done;
};

static void *gen_main(void *arg)
{
	struct gen_thread *g = arg;

	g->err = loadgen_drive(g->prog_fd, BENCH_KA_IN_LEN, &g->ro, &g->res);
	g->done = 1;
	return NULL;
}

/* Keepalives for every endpoint in the table once per interval: threads, batch, stride. */
static void gen_setup(const struct opts *o, struct ka *skel, int ifindex, uint64_t interval_ns,
		      uint64_t duration_ns, volatile sig_atomic_t *stopf, struct gen_thread *g)
{
	uint64_t rate = (uint64_t)((double)o->endpoints * 1e9 / interval_ns);
	int ncpus = libbpf_num_possible_cpus();

	if (!rate)
		rate = 1;
	memset(g, 0, sizeof(*g));
	g->prog_fd = bpf_program__fd(skel->progs.ka_gen);
	g->ro = (struct loadgen_run_opts){
	    .ifindex = ifindex, .duration_ns = duration_ns, .rate_pps = rate, .stop = stopf};
	g->ro.threads = o->threads ? o->threads : rate >= 200000 ? ncpus : 1;
	/*
	 * Thread i runs pinned on CPU i and builds k = seq * threads + i: with
	 * the stride equal to the thread count the threads interleave and
	 * together cover every endpoint, whatever the number of CPUs.
	 */
	if (g->ro.threads > ncpus)
		g->ro.threads = ncpus;
	if (g->ro.threads < 1)
		g->ro.threads = 1;
	skel->bss->ka_cfg.cpu_stride = g->ro.threads;
	g->ro.batch = o->batch;
	if (!g->ro.batch) {
		uint64_t b = rate / g->ro.threads / 4;

		/* Four bursts a second per thread: keepalives stay spread over the interval. */
		g->ro.batch = b < 16 ? 16 : b > (1u << 20) ? 1u << 20 : b;
	}
}

/*
 * The server's workers publish their counters every METRICS_PUBLISH_MS
 * (250 ms): read until two reads 300 ms apart agree on the datagrams
 * received, so the phase boundaries are not blurred by a late publish.
 */
static void metrics_read(const struct opts *o, struct srvstat_metrics *m, bool *ok)
{
	struct srvstat_metrics prev;
	int err;

	if (!o->metrics || !*ok)
		return;
	for (int i = 0; i < 10; i++) {
		err = srvstat_metrics(o->metrics, m);
		if (err) {
			pr_warn("metrics: cannot read http://%s/metrics: %s", o->metrics,
				strerror(-err));
			*ok = false;
			return;
		}
		if (i && (m->udp_rx == prev.udp_rx || isnan(m->udp_rx)))
			return;
		prev = *m;
		usleep(300000);
	}
}

static int run_keepalives(const struct opts *o, struct ka *skel, int ifindex, struct report *rep)
{
	uint64_t c0[BENCH_KA_MAX], c1[BENCH_KA_MAX], t0, last_valid = 0;
	uint64_t x_ns0 = 0, x_cnt0 = 0, x_ns1 = 0, x_cnt1 = 0;
	struct gen_thread g;
	double u0 = 0, s0 = 0, u1, s1;
	uint32_t prog_id;
	pthread_t tid;
	int err, stats_fd = -1;

	gen_setup(o, skel, ifindex, o->keepalive_ns, o->duration_ns, &stop, &g);
	pr_info("keepalives: %llu sessions of %u endpoints every %.1f s = %llu/s for %.1f s, "
		"%d thread(s), batch %u",
		(unsigned long long)rep->sessions, o->endpoints, o->keepalive_ns / 1e9,
		(unsigned long long)g.ro.rate_pps, o->duration_ns / 1e9, g.ro.threads, g.ro.batch);

	rep->have_metrics = o->metrics != NULL;
	metrics_read(o, &rep->m0, &rep->have_metrics);
	rep->have_cpu = o->server_pid > 0 && !srvstat_cpu(o->server_pid, &u0, &s0);
	/*
	 * XDP runs in softirq on whichever task is on the CPU, here mostly the
	 * generator's own test-run: the server's /proc times never see it.  Its
	 * run time comes from the kernel's BPF statistics, on for this phase.
	 */
	prog_id = o->prog_id ? o->prog_id : o->pin_dir ? srvstat_prog_id(o->pin_dir) : 0;
	if (prog_id) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		rep->have_xdp = stats_fd >= 0 && !rig_prog_stats(prog_id, &x_ns0, &x_cnt0);
		if (stats_fd < 0)
			pr_warn("keepalives: cannot enable BPF run-time statistics: %s",
				strerror(errno));
	}
	err = ka_read(skel, c0);
	if (err)
		return err;
	t0 = rig_now_ns();
	err = -pthread_create(&tid, NULL, gen_main, &g);
	if (err)
		return err;
	while (!g.done) {
		usleep(100000);
		if (g.done || rig_now_ns() - t0 < (last_valid + 1) * 1000000000ull)
			continue;
		last_valid++;
		if (!ka_read(skel, c1)) {
			double s = secs_since(t0);

			fprintf(stderr,
				"[%5.1fs] keepalives: sent %llu (%.0f/s), answered %llu (%.0f/s), "
				"401 %llu, invalid %llu\n",
				s, (unsigned long long)(c1[BENCH_KA_TX] - c0[BENCH_KA_TX]),
				(c1[BENCH_KA_TX] - c0[BENCH_KA_TX]) / s,
				(unsigned long long)(c1[BENCH_KA_VALID] - c0[BENCH_KA_VALID]),
				(c1[BENCH_KA_VALID] - c0[BENCH_KA_VALID]) / s,
				(unsigned long long)(c1[BENCH_KA_UNAUTHORIZED] -
						     c0[BENCH_KA_UNAUTHORIZED]),
				(unsigned long long)(c1[BENCH_KA_INVALID] - c0[BENCH_KA_INVALID]));
		}
	}
	pthread_join(tid, NULL);
	pr_debug("keepalives: %llu BPF_PROG_TEST_RUN calls, %llu runs",
		 (unsigned long long)g.res.calls, (unsigned long long)g.res.frames);
	rep->ka_s = g.res.elapsed_ns ? g.res.elapsed_ns / 1e9 : secs_since(t0);
	/* Answers to the last burst are still in flight for a moment: wait until they settle. */
	for (int i = 0; i < 20; i++) {
		uint64_t a = c1[BENCH_KA_VALID] + c1[BENCH_KA_UNAUTHORIZED];

		usleep(50000);
		if (ka_read(skel, c1))
			break;
		if (i && c1[BENCH_KA_VALID] + c1[BENCH_KA_UNAUTHORIZED] == a)
			break;
	}
	if (rep->have_xdp && !rig_prog_stats(prog_id, &x_ns1, &x_cnt1) && x_cnt1 >= x_cnt0) {
		rep->xdp_s = (x_ns1 - x_ns0) / 1e9;
		rep->xdp_runs = x_cnt1 - x_cnt0;
	} else {
		rep->have_xdp = false;
	}
	if (stats_fd >= 0)
		close(stats_fd);
	if (rep->have_cpu && !srvstat_cpu(o->server_pid, &u1, &s1)) {
		rep->cpu_user = u1 - u0;
		rep->cpu_sys = s1 - s0;
	} else {
		rep->have_cpu = false;
	}
	metrics_read(o, &rep->m1, &rep->have_metrics);
	err = ka_read(skel, c1);
	if (err)
		return err;
	rep->ka_sent = c1[BENCH_KA_TX] - c0[BENCH_KA_TX];
	rep->ka_valid = c1[BENCH_KA_VALID] - c0[BENCH_KA_VALID];
	rep->ka_401 = c1[BENCH_KA_UNAUTHORIZED] - c0[BENCH_KA_UNAUTHORIZED];
	rep->ka_invalid = c1[BENCH_KA_INVALID] - c0[BENCH_KA_INVALID];
	rep->ka_skipped = c1[BENCH_KA_SKIPPED] - c0[BENCH_KA_SKIPPED];
	if (g.err)
		pr_err("keepalives: generator failed: %s", strerror(-g.err));
	return g.err;
}

/* ---- report ----------------------------------------------------------------- */

static double dnz(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

static double delta(double a, double b)
{
	return isnan(a) || isnan(b) ? NAN : b - a;
}

static uint64_t lost_total(const struct report *r)
{
	uint64_t lost = r->lost_401;
	double online = r->have_metrics ? r->m1.sessions_online : NAN;

	if (!r->map_err && r->map_missing > lost)
		lost = r->map_missing;
	if (!isnan(online) && online < (double)r->sessions && r->sessions - (uint64_t)online > lost)
		lost = r->sessions - (uint64_t)online;
	return lost;
}

static void print_report(const struct opts *o, const struct report *r)
{
	double lg_s = r->lg.elapsed_ns / 1e9, cpu = r->cpu_user + r->cpu_sys + r->xdp_s;
	double expected = r->sessions * (r->ka_s * 1e9 / o->keepalive_ns);
	double ka_k = r->have_metrics ? delta(r->m0.ka_kernel, r->m1.ka_kernel) : NAN;
	double ka_u = r->have_metrics ? delta(r->m0.ka_user, r->m1.ka_user) : NAN;
	double rx = r->have_metrics ? delta(r->m0.udp_rx, r->m1.udp_rx) : NAN;

	printf("sessions %s: %u endpoints, %u contacts each, keepalive %.1f s, %.1f s of "
	       "keepalives\n",
	       o->label, o->endpoints, o->contacts, o->keepalive_ns / 1e9, r->ka_s);
	printf("  %-14s %llu created in %.1f s (%llu already there)\n", "accounts",
	       (unsigned long long)r->acct_created, r->acct_s,
	       (unsigned long long)(o->create ? o->endpoints - r->acct_created : o->endpoints));
	printf("  %-14s %llu ok, %llu failed, %llu not started in %.2f s: %.0f logins/s "
	       "(mean %.1f ms, max %.1f ms)\n",
	       "logins", (unsigned long long)r->lg.ok, (unsigned long long)r->lg.failed,
	       (unsigned long long)r->lg.not_started, lg_s, dnz(r->lg.ok, lg_s),
	       dnz(r->lg.lat_sum_ns / 1e6, r->lg.ok), r->lg.lat_max_ns / 1e6);
	if (r->login_cpu >= 0)
		printf("  %-14s server CPU %.2f s = %.0f%% of one CPU, %.0f logins per server "
		       "CPU-second; pinhole-load's own CPU %.2f s\n",
		       "", r->login_cpu, 100.0 * dnz(r->login_cpu, lg_s), dnz(r->lg.ok, r->login_cpu),
		       r->login_self_cpu);
	printf("  %-14s %llu pages, contacts per endpoint %u..%u, %llu retransmits, %llu "
	       "rate-limited, %llu stale nonces\n",
	       "", (unsigned long long)r->lg.pages, r->lg.contacts_min, r->lg.contacts_max,
	       (unsigned long long)r->lg.retransmits, (unsigned long long)r->lg.rate_limited,
	       (unsigned long long)r->lg.stale_nonce);
	printf("  %-14s sent %llu (%.0f/s), answered %llu (%.0f/s), expected %.0f; 401 %llu, "
	       "invalid %llu\n",
	       "keepalives", (unsigned long long)r->ka_sent, dnz(r->ka_sent, r->ka_s),
	       (unsigned long long)r->ka_valid, dnz(r->ka_valid, r->ka_s), expected,
	       (unsigned long long)r->ka_401, (unsigned long long)r->ka_invalid);
	printf("  %-14s %llu endpoints answered at least once of %llu with a session\n", "",
	       (unsigned long long)r->answered_eps, (unsigned long long)r->sessions);
	printf("  %-14s %llu (401 seen by %llu endpoints; ", "sessions lost",
	       (unsigned long long)lost_total(r), (unsigned long long)r->lost_401);
	if (r->map_err)
		printf("%s; ", r->map_err == -ENOENT ? "no sessions map" : strerror(-r->map_err));
	else
		printf("%llu of %llu missing from the sessions map; ",
		       (unsigned long long)r->map_missing, (unsigned long long)r->map_checked);
	if (r->have_metrics && !isnan(r->m1.sessions_online))
		printf("%.0f online per metrics)\n", r->m1.sessions_online);
	else
		printf("no metrics)\n");
	if (r->have_cpu)
		printf(
		    "  %-14s process user %.2f s + system %.2f s, XDP program %.3f s (%llu runs, "
		    "%.0f ns each) over %.1f s = %.1f%% of one CPU; %.0f keepalives answered per "
		    "CPU-second\n",
		    "server CPU", r->cpu_user, r->cpu_sys, r->xdp_s,
		    (unsigned long long)r->xdp_runs, dnz(r->xdp_s * 1e9, r->xdp_runs), r->ka_s,
		    100.0 * dnz(cpu, r->ka_s), cpu > 0 ? r->ka_valid / cpu : INFINITY);
	else
		printf("  %-14s not measured (no --server-pid, or it exited)\n", "server CPU");
	if (r->have_metrics && rx < 0)
		printf("  %-14s not measured: the server restarted (its counters began again)\n",
		       "wake-ups");
	else if (r->have_metrics)
		printf("  %-14s %.4f userspace receives per keepalive sent (+%.0f datagrams); "
		       "keepalives answered by kernel +%.0f, userspace +%.0f\n",
		       "wake-ups", dnz(rx, r->ka_sent), rx, isnan(ka_k) ? 0.0 : ka_k,
		       isnan(ka_u) ? 0.0 : ka_u);
	else
		printf("  %-14s not measured (no --metrics)\n", "wake-ups");
	if (!r->mem_err)
		printf("  %-14s %.1f MiB in %u maps = %.0f B per endpoint (sessions map %.1f MiB, "
		       "%u slots, %.0f B per slot)\n",
		       "map memory", r->mem.total / 1048576.0, r->mem.maps,
		       dnz(r->mem.total, o->endpoints), r->mem.sessions / 1048576.0,
		       r->mem.sessions_max, dnz(r->mem.sessions, r->mem.sessions_max));
	else
		printf("  %-14s not measured (%s)\n", "map memory",
		       o->pin_dir ? strerror(-r->mem_err) : "no --pin-dir");
	if (r->have_metrics && !isnan(r->m1.sweep_seconds))
		printf("  %-14s last full sweep %.4f s over %.0f entries\n", "sweep",
		       r->m1.sweep_seconds, r->m1.sweep_entries);
	else
		printf("  %-14s not reported by the server\n", "sweep");
}

static void write_csv(const struct opts *o, const struct report *r)
{
	double lg_s = r->lg.elapsed_ns / 1e9, cpu = r->cpu_user + r->cpu_sys + r->xdp_s;
	double rx = r->have_metrics ? delta(r->m0.udp_rx, r->m1.udp_rx) : NAN;
	FILE *f;

	f = rig_csv_open(o->csv,
			 "label,endpoints,contacts,keepalive_s,duration_s,logins_ok,logins_failed,"
			 "login_s,logins_per_s,ka_sent,ka_sent_per_s,ka_answered,"
			 "ka_answered_per_s,ka_expected,ka_401,ka_invalid,answered_endpoints,"
			 "lost,lost_401,map_missing,map_checked,online,cpu_user_s,cpu_sys_s,"
			 "ka_per_cpu_s,wakeups_per_ka,map_bytes,map_bytes_per_endpoint,sweep_s,"
			 "sweep_entries,login_cpu_s,xdp_prog_s");
	if (!f) {
		pr_err("cannot open %s: %s", o->csv, strerror(errno));
		return;
	}
	fprintf(f,
		"%s,%u,%u,%.1f,%.2f,%llu,%llu,%.3f,%.0f,%llu,%.0f,%llu,%.0f,%.0f,%llu,%llu,"
		"%llu,%llu,%llu,",
		o->label, o->endpoints, o->contacts, o->keepalive_ns / 1e9, r->ka_s,
		(unsigned long long)r->lg.ok, (unsigned long long)r->lg.failed, lg_s,
		dnz(r->lg.ok, lg_s), (unsigned long long)r->ka_sent, dnz(r->ka_sent, r->ka_s),
		(unsigned long long)r->ka_valid, dnz(r->ka_valid, r->ka_s),
		r->sessions * (r->ka_s * 1e9 / o->keepalive_ns), (unsigned long long)r->ka_401,
		(unsigned long long)r->ka_invalid, (unsigned long long)r->answered_eps,
		(unsigned long long)lost_total(r), (unsigned long long)r->lost_401);
	if (r->map_err)
		fprintf(f, ",,");
	else
		fprintf(f, "%llu,%llu,", (unsigned long long)r->map_missing,
			(unsigned long long)r->map_checked);
	if (r->have_metrics && !isnan(r->m1.sessions_online))
		fprintf(f, "%.0f,", r->m1.sessions_online);
	else
		fprintf(f, ",");
	if (r->have_cpu)
		fprintf(f, "%.2f,%.2f,%.0f,", r->cpu_user, r->cpu_sys,
			cpu > 0 ? r->ka_valid / cpu : 0.0);
	else
		fprintf(f, ",,,");
	if (!isnan(rx) && rx >= 0)
		fprintf(f, "%.4f,", dnz(rx, r->ka_sent));
	else
		fprintf(f, ",");
	if (!r->mem_err)
		fprintf(f, "%llu,%.0f,", (unsigned long long)r->mem.total,
			dnz(r->mem.total, o->endpoints));
	else
		fprintf(f, ",,");
	if (r->have_metrics && !isnan(r->m1.sweep_seconds))
		fprintf(f, "%.6f,%.0f,", r->m1.sweep_seconds, r->m1.sweep_entries);
	else
		fprintf(f, ",,");
	if (r->login_cpu >= 0)
		fprintf(f, "%.2f,", r->login_cpu);
	else
		fprintf(f, ",");
	if (r->have_xdp)
		fprintf(f, "%.4f\n", r->xdp_s);
	else
		fprintf(f, "\n");
	fclose(f);
}

/* ---- main --------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"db", required_argument, NULL, 'd'},
	    {"endpoints", required_argument, NULL, 'n'},
	    {"keepalive", required_argument, NULL, 'k'},
	    {"duration", required_argument, NULL, 't'},
	    {"contacts", required_argument, NULL, 'K'},
	    {"netns", required_argument, NULL, 'N'},
	    {"ifname", required_argument, NULL, 'i'},
	    {"dst-mac", required_argument, NULL, 'm'},
	    {"src-net", required_argument, NULL, 'S'},
	    {"src-port", required_argument, NULL, 'P'},
	    {"window", required_argument, NULL, 'w'},
	    {"rto-ms", required_argument, NULL, 'r'},
	    {"tries", required_argument, NULL, 'R'},
	    {"login-max", required_argument, NULL, 'x'},
	    {"login-keepalive", required_argument, NULL, 'a'},
	    {"threads", required_argument, NULL, 'T'},
	    {"batch", required_argument, NULL, 'b'},
	    {"server-pid", required_argument, NULL, 'p'},
	    {"server-prog-id", required_argument, NULL, 'I'},
	    {"metrics", required_argument, NULL, 'M'},
	    {"pin-dir", required_argument, NULL, 'D'},
	    {"no-create", no_argument, NULL, 'C'},
	    {"prefix", required_argument, NULL, 'X'},
	    {"label", required_argument, NULL, 'l'},
	    {"csv", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	uint64_t v;
	int c, idx = 0, err;

	while ((c = getopt_long(argc, argv, "h", lopts, &idx)) != -1) {
		err = 0;
		switch (c) {
		case 's':
			o->server = optarg;
			break;
		case 'd':
			o->db = optarg;
			break;
		case 'n':
			err = rig_parse_u64(optarg, 1, PH_SESSIONS_MAX, &v);
			o->endpoints = v;
			break;
		case 'k':
			err = rig_parse_seconds(optarg, MIN_SECONDS, MAX_SECONDS, &o->keepalive_ns);
			break;
		case 't':
			err = rig_parse_seconds(optarg, MIN_SECONDS, MAX_SECONDS, &o->duration_ns);
			break;
		case 'K':
			err = rig_parse_u64(optarg, 0, 1000, &v);
			o->contacts = v;
			break;
		case 'N':
			o->netns = optarg;
			break;
		case 'i':
			o->ifname = optarg;
			break;
		case 'm':
			err = rig_mac_parse(optarg, o->dst_mac);
			o->have_mac = !err;
			break;
		case 'S':
			o->src_net = optarg;
			break;
		case 'P':
			err = rig_parse_u64(optarg, 1, 65535, &v);
			o->port_base = v;
			break;
		case 'w':
			err = rig_parse_u64(optarg, 1, 65536, &v);
			o->window = v;
			break;
		case 'r':
			err = rig_parse_u64(optarg, 10, 60000, &v);
			o->rto_ms = v;
			break;
		case 'R':
			err = rig_parse_u64(optarg, 1, 20, &v);
			o->tries = v;
			break;
		case 'x':
			err = rig_parse_seconds(optarg, MIN_SECONDS, MAX_SECONDS, &o->login_max_ns);
			break;
		case 'a':
			err = rig_parse_seconds(optarg, MIN_SECONDS, MAX_SECONDS, &o->login_ka_ns);
			break;
		case 'T':
			err = rig_parse_u64(optarg, 1, 1024, &v);
			o->threads = v;
			break;
		case 'b':
			err = rig_parse_u64(optarg, 1, 1 << 20, &v);
			o->batch = v;
			break;
		case 'p':
			err = rig_parse_u64(optarg, 1, 1 << 30, &v);
			o->server_pid = v;
			break;
		case 'I':
			err = rig_parse_u64(optarg, 1, UINT32_MAX, &v);
			o->prog_id = v;
			break;
		case 'M':
			o->metrics = optarg;
			break;
		case 'D':
			o->pin_dir = optarg;
			break;
		case 'C':
			o->create = false;
			break;
		case 'X':
			o->prefix = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 'L':
			err = log_set_level_str(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err) {
			pr_err("sessions: bad value for --%s: %s", lopts[idx].name, optarg);
			return 2;
		}
	}
	if (!o->server || !o->db || !o->endpoints || !o->have_mac || optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Names must pass the store's rule with the longest index appended. */
	if (strlen(o->prefix) > 40 || store_name_check(o->prefix)) {
		pr_err("sessions: bad --prefix %s", o->prefix);
		return 2;
	}
	return -1;
}

int sessions_main(int argc, char **argv)
{
	struct opts o = {.ifname = "g0",
			 .src_net = DEFAULT_SRC_NET,
			 .label = "sessions",
			 .prefix = DEFAULT_PREFIX,
			 .password = DEFAULT_PASSWORD,
			 .create = true,
			 .contacts = DEFAULT_CONTACTS,
			 .window = DEFAULT_WINDOW,
			 .tries = 6,
			 .rto_ms = 500,
			 .keepalive_ns = 20000000000ull,
			 .duration_ns = 20000000000ull,
			 .login_max_ns = MAX_SECONDS * 1000000000ull,
			 .port_base = DEFAULT_PORT_BASE};
	struct sigaction sa = {.sa_handler = on_signal};
	struct report *rep = NULL;
	struct sockaddr_storage srv;
	struct bench_ka_entry *table = MAP_FAILED;
	struct bench_ka_seen *seen = MAP_FAILED;
	size_t table_len = 0, seen_len = 0;
	struct store *st = NULL;
	struct ka *skel = NULL;
	uint32_t src_base, src_addrs, epoch, seen_n, dst_addr;
	uint16_t dst_port;
	uint8_t src_mac[RIG_MAC_LEN];
	int ifindex = 0, err, ret = 1;
	bool attached = false;

	err = parse_args(argc, argv, &o);
	if (err >= 0)
		return err;
	if (addr_parse(o.server, STUN_DEFAULT_PORT, &srv) || srv.ss_family != AF_INET) {
		pr_err("sessions: --server %s is not IPv4 IP:PORT", o.server);
		return 2;
	}
	dst_addr = ((struct sockaddr_in *)&srv)->sin_addr.s_addr;
	dst_port = ntohs(((struct sockaddr_in *)&srv)->sin_port);
	if (rig_parse_ip4_net(o.src_net, 8, &src_base, &src_addrs)) {
		pr_err("sessions: bad --src-net %s", o.src_net);
		return 2;
	}
	if (o.port_base + (uint64_t)(o.endpoints - 1) / src_addrs > 65535) {
		pr_err("sessions: %u endpoints need more ports than %u..65535 on %u addresses",
		       o.endpoints, o.port_base, src_addrs);
		return 2;
	}
	/* No SA_RESTART: a signal must cut sleeps and BPF_PROG_TEST_RUN short. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rep = calloc(1, sizeof(*rep));
	if (!rep)
		return 1;
	rep->login_cpu = -1;

	/* 1. accounts */
	st = store_open(o.db, STORE_O_CREATE, NULL);
	if (!st) {
		pr_err("sessions: cannot open store %s: %s", o.db, strerror(errno));
		goto out;
	}
	if (o.create && create_accounts(st, &o, rep))
		goto out;

	/* 2. the generator and counter, sized to the endpoints */
	skel = ka__open();
	if (!skel) {
		pr_err("sessions: cannot open the keepalive programs: %s", strerror(errno));
		goto out;
	}
	seen_n = o.endpoints / 64 + 1;
	if (bpf_map__set_max_entries(skel->maps.ka_table, o.endpoints) ||
	    bpf_map__set_max_entries(skel->maps.ka_seen, seen_n)) {
		pr_err("sessions: cannot size the maps");
		goto out;
	}
	if (getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
		epoch = (uint32_t)rig_now_ns();
	skel->bss->ka_cfg.dst_addr = dst_addr;
	skel->bss->ka_cfg.dst_port = htons(dst_port);
	skel->bss->ka_cfg.endpoints = o.endpoints;
	skel->bss->ka_cfg.epoch = epoch;
	memcpy(skel->bss->ka_cfg.dst_mac, o.dst_mac, RIG_MAC_LEN);
	if (o.netns) {
		err = rig_netns_enter(o.netns);
		if (err) {
			pr_err("sessions: cannot enter netns %s: %s", o.netns, strerror(-err));
			goto out;
		}
	}
	ifindex = if_nametoindex(o.ifname);
	if (!ifindex || rig_if_mac(o.ifname, src_mac)) {
		pr_err("sessions: no interface %s here", o.ifname);
		goto out;
	}
	memcpy(skel->bss->ka_cfg.src_mac, src_mac, RIG_MAC_LEN);
	err = ka__load(skel);
	if (err) {
		pr_err("sessions: cannot load the keepalive programs: %s", strerror(-err));
		goto out;
	}
	/* The table lives in the map: logins write it, the generator reads it, no copy. */
	table_len = (size_t)o.endpoints * sizeof(*table);
	table = mmap(NULL, table_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     bpf_map__fd(skel->maps.ka_table), 0);
	seen_len = (size_t)seen_n * sizeof(*seen);
	seen = mmap(NULL, seen_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		    bpf_map__fd(skel->maps.ka_seen), 0);
	if (table == MAP_FAILED || seen == MAP_FAILED) {
		pr_err("sessions: cannot map the endpoint table: %s", strerror(errno));
		goto out;
	}
	/* The counter also gives g0 the NAPI that XDP_TX answers from the server need. */
	err = bpf_xdp_attach(ifindex, bpf_program__fd(skel->progs.ka_count),
			     XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err) {
		pr_err("sessions: cannot attach the answer counter to %s: %s", o.ifname,
		       strerror(-err));
		goto out;
	}
	attached = true;

	/* 3. logins, with keepalives for those logged in already (sessions time out) */
	skel->bss->ka_cfg.cpu_stride = 1;
	{
		struct ka_ctx kc = {
		    .epoch = epoch, .dst_addr = dst_addr, .dst_port_be = htons(dst_port)};
		struct gen_thread bg;
		pthread_t bg_tid;
		bool bg_on;
		struct logins_opts lo = {.finish = ka_entry_finish,
					 .ctx = &kc,
					 .dst_addr = dst_addr,
					 .dst_port = dst_port,
					 .src_base = src_base,
					 .src_addrs = src_addrs,
					 .port_base = o.port_base,
					 .first = 0,
					 .count = o.endpoints,
					 .prefix = o.prefix,
					 .password = o.password,
					 .window = o.window,
					 .rto_ms = o.rto_ms,
					 .tries = o.tries,
					 .deadline_ns = rig_now_ns() + o.login_max_ns,
					 .stop = &stop,
					 .progress = login_progress};

		double u0, s0, u1, s1;
		bool cpu = o.server_pid > 0 && !srvstat_cpu(o.server_pid, &u0, &s0);
		double self0 = self_cpu();

		/*
		 * A login phase can outlast the server's timeout (three intervals):
		 * endpoints logged in early keep their sessions as real ones would.
		 * The generator skips entries whose id is still 0.
		 */
		gen_setup(&o, skel, ifindex, o.login_ka_ns ? o.login_ka_ns : o.keepalive_ns,
			  o.login_max_ns + 60000000000ull, &bg_stop, &bg);
		bg_on = !pthread_create(&bg_tid, NULL, gen_main, &bg);
		if (!bg_on)
			pr_warn("sessions: no keepalives during the logins");
		err = logins_run(&lo, table, &rep->lg);
		rep->login_cpu =
		    cpu && !srvstat_cpu(o.server_pid, &u1, &s1) ? u1 - u0 + s1 - s0 : -1;
		rep->login_self_cpu = self_cpu() - self0;
		bg_stop = 1;
		if (bg_on) {
			pthread_join(bg_tid, NULL);
			if (bg.err)
				pr_warn("sessions: keepalives during the logins: %s",
					strerror(-bg.err));
		}
		if (err == -EADDRNOTAVAIL) {
			pr_err("sessions: %s is not local here: ip route add local %s dev lo",
			       o.src_net, o.src_net);
			goto out;
		}
		if (err) {
			pr_err("sessions: logins: %s", strerror(-err));
			goto out;
		}
		login_progress(&rep->lg, NULL);
	}
	for (uint32_t j = 0; j < o.endpoints; j++)
		rep->sessions += !!table[j].id;
	if (!rep->sessions || stop) {
		pr_err("sessions: %s", stop ? "interrupted" : "no endpoint logged in");
		goto report;
	}
	skel->bss->ka_cfg.cpu_stride = 1;
	err = ka_gen_check(skel, table);
	if (err) {
		pr_err("sessions: the generator's keepalive does not check out: %s",
		       strerror(-err));
		goto out;
	}

	/* 4. keepalives */
	err = run_keepalives(&o, skel, ifindex, rep);
	if (err)
		goto out;
	for (uint32_t w = 0; w < seen_n; w++) {
		rep->answered_eps += __builtin_popcountll(seen[w].ok);
		rep->lost_401 += __builtin_popcountll(seen[w].lost);
	}
report:
	rep->map_err = o.pin_dir ? srvstat_sessions_check(o.pin_dir, table, o.endpoints,
							  &rep->map_checked, &rep->map_missing)
				 : -ENOENT;
	if (rep->map_err && rep->map_err != -ENOENT)
		pr_warn("sessions: cannot check the sessions map: %s", strerror(-rep->map_err));
	rep->mem_err = o.pin_dir ? srvstat_map_memory(o.pin_dir, &rep->mem) : -ENOENT;
	print_report(&o, rep);
	if (o.csv)
		write_csv(&o, rep);
	ret = lost_total(rep) ? 3 : 0;
	/* Nothing to hold, or cut short by a signal: not a complete run. */
	if (!rep->sessions || stop)
		ret = 1;
out:
	if (attached)
		bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
	if (table != MAP_FAILED)
		munmap(table, table_len);
	if (seen != MAP_FAILED)
		munmap(seen, seen_len);
	ka__destroy(skel);
	store_close(st);
	free(rep);
	return ret;
}
