// SPDX-License-Identifier: MIT
/*
 * pinhole-load: load generator for pinhole.  Each mode is a subcommand with
 * its own options; every run is bounded in time and stops by itself.  The
 * report goes to stdout (and optionally one CSV row), diagnostics to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/bench_kern_user.h"
#include "pinhole_kern_user.h"
#include "bench/bare_tx.skel.h"
#include "bpf/pinhole.skel.h"
#include "counter.h"
#include "loadgen.h"
#include "log.h"
#include "addr.h"
#include "nspp.h"
#include "rig.h"
#include "selftest.h"
#include "sessions.h"

#define DEFAULT_SRC_NET		"198.18.128.0/17"
#define DEFAULT_PORT_BASE	1024
#define DEFAULT_SOURCES		1000000
#define DEFAULT_RUNS		200000
#define MAX_DURATION_S		600

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, "libbpf: %s", line);
	return 0;
}

static int parse_ip4(const char *s, uint32_t *be_addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*be_addr = a.s_addr;
	return 0;
}

static void install_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};

	/* No SA_RESTART: a signal must cut a long BPF_PROG_TEST_RUN short. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ---- binding ---------------------------------------------------------- */

static void binding_usage(FILE *f)
{
	fprintf(f,
		"usage: pinhole-load binding --ifname IF --dst-mac MAC --dst-ip IP [options]\n"
		"Offer STUN Binding requests from many sources through veth IF, generated in the\n"
		"kernel (BPF_PROG_TEST_RUN with live frames, XDP_TX), and count the answers that\n"
		"come back to IF with a counting XDP program attached there for the run.\n"
		"  --ifname IF        generator veth (its peer must run an XDP program)\n"
		"  --netns NAME       enter network namespace /run/netns/NAME first\n"
		"  --dst-mac MAC      destination MAC (the server-side veth)\n"
		"  --dst-ip IP        server IPv4 address\n"
		"  --port P           server UDP port (default 3478)\n"
		"  --src-net NET/LEN  source addresses (default " DEFAULT_SRC_NET ")\n"
		"  --src-port P       first source port (default %d)\n"
		"  --sources N        distinct source address:port pairs (default %d)\n"
		"  --duration S       seconds to offer load, 0.01..%d (default 5)\n"
		"  --rate-pps R       offered rate over all threads, 0 = unlimited (default 0)\n"
		"  --threads N        generator threads, one pinned per CPU (default: online CPUs)\n"
		"  --batch N          frames per BPF_PROG_TEST_RUN call (default: sized so\n"
		"                     a call lasts about 0.25 s; each call costs ~25 ms of setup)\n"
		"  --prog-id ID       also report ID's run_time_ns/run_cnt over the run\n"
		"                     (needs sysctl kernel.bpf_stats_enabled=1)\n"
		"  --label NAME       name of this run in the report and CSV (default binding)\n"
		"  --csv FILE         append one CSV row (header written to an empty file)\n"
		"  --log-level L      error|warn|info|debug (default info)\n",
		DEFAULT_PORT_BASE, DEFAULT_SOURCES, MAX_DURATION_S);
}

static int mode_binding(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ifname", required_argument, NULL, 'i'},
		{"netns", required_argument, NULL, 'n'},
		{"dst-mac", required_argument, NULL, 'm'},
		{"dst-ip", required_argument, NULL, 'd'},
		{"port", required_argument, NULL, 'p'},
		{"src-net", required_argument, NULL, 's'},
		{"src-port", required_argument, NULL, 'P'},
		{"sources", required_argument, NULL, 'S'},
		{"duration", required_argument, NULL, 't'},
		{"rate-pps", required_argument, NULL, 'r'},
		{"threads", required_argument, NULL, 'T'},
		{"batch", required_argument, NULL, 'b'},
		{"prog-id", required_argument, NULL, 'I'},
		{"label", required_argument, NULL, 'l'},
		{"csv", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	const char *ifname = NULL, *netns = NULL, *label = "binding", *csv = NULL;
	const char *src_net = DEFAULT_SRC_NET;
	struct loadgen_opts go = {.dst_port = STUN_DEFAULT_PORT, .port_base = DEFAULT_PORT_BASE,
				  .sources = DEFAULT_SOURCES};
	struct loadgen_run_opts ro = {.duration_ns = 5000000000ull,
				      .stop = &stop};
	uint64_t v, prog_id = 0, before[BENCH_CNT_MAX], after[BENCH_CNT_MAX];
	uint64_t run_ns0 = 0, run_cnt0 = 0, run_ns1 = 0, run_cnt1 = 0;
	bool have_mac = false, have_ip = false;
	struct loadgen_result res;
	struct counter *cnt = NULL;
	struct loadgen *g = NULL;
	double secs, prog_ns = 0;
	int c, idx = 0, err, ret = 1;
	long ncpu;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ro.threads = ncpu > 0 ? ncpu : 1;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		err = 0;
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 'n':
			netns = optarg;
			break;
		case 'm':
			err = rig_mac_parse(optarg, go.dst_mac);
			have_mac = !err;
			break;
		case 'd':
			err = parse_ip4(optarg, &go.dst_addr);
			have_ip = !err;
			break;
		case 'p':
			err = rig_parse_u64(optarg, 1, 65535, &v);
			go.dst_port = v;
			break;
		case 's':
			src_net = optarg;
			break;
		case 'P':
			err = rig_parse_u64(optarg, 1, 65535, &v);
			go.port_base = v;
			break;
		case 'S':
			err = rig_parse_u64(optarg, 1, UINT32_MAX, &v);
			go.sources = v;
			break;
		case 't':
			err = rig_parse_seconds(optarg, 0.01, MAX_DURATION_S, &ro.duration_ns);
			break;
		case 'r':
			err = rig_parse_u64(optarg, 0, 1000000000, &ro.rate_pps);
			break;
		case 'T':
			err = rig_parse_u64(optarg, 1, 1024, &v);
			ro.threads = v;
			break;
		case 'b':
			err = rig_parse_u64(optarg, 1, 1 << 20, &v);
			ro.batch = v;
			break;
		case 'I':
			err = rig_parse_u64(optarg, 1, UINT32_MAX, &prog_id);
			break;
		case 'l':
			label = optarg;
			break;
		case 'c':
			csv = optarg;
			break;
		case 'L':
			err = log_set_level_str(optarg);
			break;
		case 'h':
			binding_usage(stdout);
			return 0;
		default:
			binding_usage(stderr);
			return 2;
		}
		if (err) {
			pr_err("binding: bad value for --%s: %s", opts[idx].name, optarg);
			binding_usage(stderr);
			return 2;
		}
	}
	if (!ifname || !have_mac || !have_ip || optind != argc) {
		binding_usage(stderr);
		return 2;
	}
	if (rig_parse_ip4_net(src_net, 1, &go.src_base, &go.src_addrs)) {
		pr_err("binding: bad --src-net %s", src_net);
		return 2;
	}
	if (go.port_base + (uint64_t)(go.sources - 1) / go.src_addrs > 65535) {
		pr_err("binding: %u sources need more ports than %u..65535 on %u addresses",
		       go.sources, go.port_base, go.src_addrs);
		return 2;
	}
	if (netns) {
		err = rig_netns_enter(netns);
		if (err) {
			pr_err("binding: cannot enter netns %s: %s", netns, strerror(-err));
			return 1;
		}
	}
	ro.ifindex = if_nametoindex(ifname);
	if (!ro.ifindex) {
		pr_err("binding: no interface %s: %s", ifname, strerror(errno));
		return 1;
	}
	err = rig_if_mac(ifname, go.src_mac);
	if (err) {
		pr_err("binding: cannot read the MAC of %s: %s", ifname, strerror(-err));
		return 1;
	}
	install_signals();

	g = loadgen_new(&go);
	if (!g) {
		pr_err("binding: cannot load the generator: %s", strerror(errno));
		goto out;
	}
	cnt = counter_new(go.dst_port);
	if (!cnt) {
		pr_err("binding: cannot load the counter: %s", strerror(errno));
		goto out;
	}
	err = counter_attach(cnt, ro.ifindex);
	if (err) {
		pr_err("binding: cannot attach the counter to %s: %s", ifname, strerror(-err));
		goto out;
	}
	if (prog_id && rig_prog_stats(prog_id, &run_ns0, &run_cnt0)) {
		pr_warn("binding: cannot read stats of program %llu", (unsigned long long)prog_id);
		prog_id = 0;
	}
	if (counter_read(cnt, before))
		goto out;
	err = loadgen_run(g, &ro, &res);
	/* Answers still in flight after the last call are not counted: reported rates
	 * are answers within the window. */
	if (counter_read(cnt, after))
		goto out;
	if (prog_id && rig_prog_stats(prog_id, &run_ns1, &run_cnt1))
		prog_id = 0;
	if (err) {
		pr_err("binding: generator failed: %s", strerror(-err));
		goto out;
	}
	if (!res.elapsed_ns) {
		pr_err("binding: generator did not run");
		goto out;
	}
	for (int k = 0; k < BENCH_CNT_MAX; k++)
		after[k] -= before[k];
	secs = res.elapsed_ns / 1e9;
	if (prog_id && run_cnt1 > run_cnt0)
		prog_ns = (double)(run_ns1 - run_ns0) / (run_cnt1 - run_cnt0);

	printf("binding %s: %.2f s, %d threads, %u sources, %llu calls\n", label, secs, ro.threads,
	       go.sources, (unsigned long long)res.calls);
	printf("  offered   %12llu frames %12.0f pps\n", (unsigned long long)res.frames,
	       res.frames / secs);
	printf("  answered  %12llu valid  %12.0f pps  (%.1f%% of offered)\n",
	       (unsigned long long)after[BENCH_CNT_VALID], after[BENCH_CNT_VALID] / secs,
	       res.frames ? 100.0 * after[BENCH_CNT_VALID] / res.frames : 0.0);
	printf("  invalid %llu  reflected %llu  other %llu\n",
	       (unsigned long long)after[BENCH_CNT_INVALID],
	       (unsigned long long)after[BENCH_CNT_REFLECTED],
	       (unsigned long long)after[BENCH_CNT_OTHER]);
	if (prog_id)
		printf("  program %llu: %.1f ns/packet over %llu runs (kernel.bpf_stats_enabled)\n",
		       (unsigned long long)prog_id, prog_ns,
		       (unsigned long long)(run_cnt1 - run_cnt0));
	if (csv) {
		FILE *f = rig_csv_open(csv, "label,duration_s,threads,sources,offered,offered_pps,"
					"valid,answered_pps,invalid,reflected,other,prog_runs,"
					"prog_ns_per_pkt");

		if (!f) {
			pr_err("binding: cannot open %s: %s", csv, strerror(errno));
			goto out;
		}
		fprintf(f, "%s,%.3f,%d,%u,%llu,%.0f,%llu,%.0f,%llu,%llu,%llu,%llu,%.1f\n", label,
			secs, ro.threads, go.sources, (unsigned long long)res.frames,
			res.frames / secs, (unsigned long long)after[BENCH_CNT_VALID],
			after[BENCH_CNT_VALID] / secs, (unsigned long long)after[BENCH_CNT_INVALID],
			(unsigned long long)after[BENCH_CNT_REFLECTED],
			(unsigned long long)after[BENCH_CNT_OTHER],
			(unsigned long long)(run_cnt1 - run_cnt0), prog_ns);
		fclose(f);
	}
	ret = 0;
out:
	counter_free(cnt);
	loadgen_free(g);
	return ret;
}

/* ---- nspp ------------------------------------------------------------- */

static void nspp_usage(FILE *f)
{
	fprintf(f,
		"usage: pinhole-load nspp [options]\n"
		"Time pinhole_xdp (bpf/pinhole.bpf.o) and bare_tx (bench/bare_tx.bpf.c, swap and\n"
		"XDP_TX) on the generator's Binding request with BPF_PROG_TEST_RUN, repeat=1 per\n"
		"call so every run answers a fresh request.  Each output frame is checked by\n"
		"the reply counter.\n"
		"  --listen IP:PORT   address the request goes to and pinhole listens on\n"
		"                     (default 198.18.0.1:3478)\n"
		"  --runs N           timed runs per program (default %d)\n"
		"  --csv FILE         append one CSV row per program\n"
		"  --log-level L      error|warn|info|debug (default info)\n",
		DEFAULT_RUNS);
}

static const char *xdp_verdict_name(uint32_t v)
{
	static const char *const names[] = {"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					    "XDP_REDIRECT"};

	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

/* Load pinhole's XDP program unpinned (a bench must not touch the server's pins). */
static struct pinhole *pinhole_load_unpinned(uint32_t addr, uint16_t port)
{
	struct ph_listen_key key = {.family = AF_INET, .port = htons(port)};
	struct ph_listen_val val = {};
	struct pinhole *skel;
	struct bpf_map *map;
	int err;

	skel = pinhole__open();
	if (!skel)
		return NULL;
	bpf_object__for_each_map(map, skel->obj)
		bpf_map__set_pin_path(map, NULL);
	err = pinhole__load(skel);
	if (err)
		goto err_skel;
	memcpy(key.addr, &addr, sizeof(addr));
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.listeners), &key, &val, BPF_ANY)) {
		err = -errno;
		goto err_skel;
	}
	return skel;

err_skel:
	pinhole__destroy(skel);
	errno = -err;
	return NULL;
}

/* Name of the reason pinhole's per-CPU stats counted on the last test run. */
static const char *pinhole_last_reason(struct pinhole *skel, uint64_t seen[PH_REASON_MAX])
{
#define REASON(r) [r] = #r
	static const char *const names[PH_REASON_MAX] = {
		REASON(PH_TX_BINDING),		REASON(PH_PASS_NOT_IP),
		REASON(PH_PASS_NOT_UDP),	REASON(PH_PASS_NOT_LISTEN),
		REASON(PH_PASS_IP_OPTIONS),	REASON(PH_PASS_FRAGMENT),
		REASON(PH_PASS_TRUNCATED),	REASON(PH_PASS_BAD_CSUM),
		REASON(PH_PASS_NOT_BINDING_REQ), REASON(PH_PASS_ATTRIBUTES),
		REASON(PH_PASS_TOO_LONG),	REASON(PH_PASS_NO_ROOM),
		REASON(PH_DROP_NOT_STUN),	REASON(PH_DROP_BAD_COOKIE),
		REASON(PH_DROP_BAD_LENGTH),	REASON(PH_DROP_BAD_FINGERPRINT),
	};
#undef REASON
	int ncpus = libbpf_num_possible_cpus();
	const char *name = "none counted";
	struct ph_stat *vals;
	uint64_t most = 0;

	if (ncpus < 1)
		return "?";
	vals = calloc(ncpus, sizeof(*vals));
	if (!vals)
		return "?";
	for (uint32_t k = 0; k < PH_REASON_MAX; k++) {
		uint64_t n = 0;

		if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, vals))
			continue;
		for (int i = 0; i < ncpus; i++)
			n += vals[i].packets;
		if (n - seen[k] > most) {
			most = n - seen[k];
			/* A reason added to the enum after this table still shows up. */
			name = names[k] ? names[k] : "a reason this tool has no name for";
		}
		seen[k] = n;
	}
	free(vals);
	return name;
}

static void nspp_print(FILE *csv, const char *name, const struct nspp_result *r,
		       const char *reply)
{
	printf("  %-12s %-8s %-10s %10.1f %10u %10u %10u\n", name,
	       xdp_verdict_name(r->retval), reply, r->mean_ns, r->median_ns, r->min_ns, r->runs);
	if (csv)
		fprintf(csv, "%s,%s,%s,%.1f,%u,%u,%u,%u\n", name, xdp_verdict_name(r->retval),
			reply, r->mean_ns, r->median_ns, r->min_ns, r->runs, r->other_verdicts);
}

static int mode_nspp(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"runs", required_argument, NULL, 'n'},
		{"csv", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'L'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct loadgen_opts go = {.src_base = 0xc6128001, .src_addrs = 1, .sources = 1,
				  .port_base = 40000,
				  .dst_mac = {0x02, 0, 0, 0, 0, 1}, .src_mac = {0x02, 0, 0, 0, 0, 2}};
	const char *listen = "198.18.0.1:3478", *csv_path = NULL;
	uint64_t runs = DEFAULT_RUNS, seen[PH_REASON_MAX] = {};
	struct nspp_result bare = {}, ph = {};
	const char *bare_reply, *ph_reply, *ph_reason = "";
	struct sockaddr_storage ss;
	uint8_t frame[BENCH_FRAME_LEN];
	struct bare_tx *bare_skel = NULL;
	struct pinhole *ph_skel = NULL;
	struct counter *cnt = NULL;
	struct loadgen *g = NULL;
	enum bench_count cls;
	FILE *csv = NULL;
	int c, err, len, ret = 1;
	bool ok;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = 0;
		switch (c) {
		case 'l':
			listen = optarg;
			break;
		case 'n':
			err = rig_parse_u64(optarg, 1, 100000000, &runs);
			break;
		case 'c':
			csv_path = optarg;
			break;
		case 'L':
			err = log_set_level_str(optarg);
			break;
		case 'h':
			nspp_usage(stdout);
			return 0;
		default:
			nspp_usage(stderr);
			return 2;
		}
		if (err) {
			pr_err("nspp: bad value %s", optarg);
			return 2;
		}
	}
	if (optind != argc || addr_parse(listen, STUN_DEFAULT_PORT, &ss) ||
	    ss.ss_family != AF_INET) {
		nspp_usage(stderr);
		return 2;
	}
	go.dst_addr = ((struct sockaddr_in *)&ss)->sin_addr.s_addr;
	go.dst_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);

	g = loadgen_new(&go);
	cnt = counter_new(go.dst_port);
	bare_skel = bare_tx__open_and_load();
	if (!g || !cnt || !bare_skel) {
		pr_err("nspp: cannot load the generator, counter or bare_tx: %s",
		       strerror(errno));
		goto out;
	}
	/* bare_tx is still worth timing when pinhole's program does not load. */
	ph_skel = pinhole_load_unpinned(go.dst_addr, go.dst_port);
	if (!ph_skel)
		pr_err("nspp: cannot load pinhole_xdp: %s", strerror(errno));
	len = loadgen_frame(g, frame, sizeof(frame));
	if (len != BENCH_FRAME_LEN) {
		pr_err("nspp: generator built no frame: %s", strerror(len < 0 ? -len : EPROTO));
		goto out;
	}

	err = nspp_measure(bpf_program__fd(bare_skel->progs.bare_tx), frame, len, runs, &bare);
	if (!err && ph_skel) {
		pinhole_last_reason(ph_skel, seen);
		err = nspp_measure(bpf_program__fd(ph_skel->progs.pinhole_xdp), frame, len, runs,
				   &ph);
		ph_reason = pinhole_last_reason(ph_skel, seen);
	}
	if (err) {
		pr_err("nspp: BPF_PROG_TEST_RUN failed: %s", strerror(-err));
		goto out;
	}
	bare_reply = counter_classify(cnt, bare.out, bare.out_len, &cls) ? "-" :
		     counter_class_name(cls);
	ph_reply = !ph_skel || counter_classify(cnt, ph.out, ph.out_len, &cls) ? "-" :
		   counter_class_name(cls);

	if (csv_path) {
		csv = rig_csv_open(csv_path, "program,verdict,reply,mean_ns,median_ns,min_ns,runs,"
					 "other_verdicts");
		if (!csv)
			pr_warn("nspp: cannot open %s: %s", csv_path, strerror(errno));
	}
	printf("ns/packet by BPF_PROG_TEST_RUN (repeat=1 per call, %llu calls each, fresh "
	       "request every call)\n",
	       (unsigned long long)runs);
	printf("  %-12s %-8s %-10s %10s %10s %10s %10s\n", "program", "verdict", "reply",
	       "mean_ns", "median_ns", "min_ns", "runs");
	nspp_print(csv, "bare_tx", &bare, bare_reply);
	if (ph_skel) {
		nspp_print(csv, "pinhole_xdp", &ph, ph_reply);
		printf("  pinhole_xdp counted: %s\n", ph_reason);
		printf("  ratio pinhole_xdp/bare_tx: mean %.2f, median %.2f\n",
		       bare.mean_ns > 0 ? ph.mean_ns / bare.mean_ns : 0.0,
		       bare.median_ns ? (double)ph.median_ns / bare.median_ns : 0.0);
	} else {
		printf("  %-12s (does not load)\n", "pinhole_xdp");
	}
	ok = ph_skel && ph.retval == XDP_TX && !ph.other_verdicts && !strcmp(ph_reply, "valid");
	if (ph_skel && !ok)
		printf("  WARNING: pinhole_xdp did not answer the request with a valid reply "
		       "on every run\n");
	ret = ok ? 0 : 3;
out:
	if (csv)
		fclose(csv);
	pinhole__destroy(ph_skel);
	bare_tx__destroy(bare_skel);
	counter_free(cnt);
	loadgen_free(g);
	return ret;
}

/* ---- main ------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} modes[] = {
	{"binding", mode_binding, "offer STUN Binding requests through a veth, count answers"},
	{"nspp", mode_nspp, "ns/packet of pinhole_xdp vs bare_tx by BPF_PROG_TEST_RUN"},
	{"sessions", sessions_main, "log in N endpoints, hold them with in-kernel keepalives"},
	{"selftest", selftest_main, "check the generator's frames and the counter"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pinhole-load MODE [options]   (pinhole-load MODE --help)\nmodes:\n");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(f, "  %-10s %s\n", modes[i].name, modes[i].what);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	libbpf_set_print(libbpf_log);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(argv[1], modes[i].name))
			return modes[i].run(argc - 1, argv + 1);
	pr_err("unknown mode %s", argv[1]);
	usage(stderr);
	return 2;
}
