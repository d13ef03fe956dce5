// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/bench_kern_user.h"
#include "bench/gen.skel.h"
#include "loadgen.h"
#include "log.h"

struct loadgen {
	struct gen *skel;
	int ncpus;
};

struct worker {
	int prog_fd;
	size_t frame_len;
	const struct loadgen_run_opts *r;
	pthread_t tid;
	int cpu;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t calls;
	uint64_t sent;		/* frames requested by successful calls, for pacing */
	int err;
};

struct loadgen *loadgen_new(const struct loadgen_opts *o)
{
	struct bench_gen_cfg *cfg;
	struct loadgen *g;
	int err;

	if (!o->sources || !o->src_addrs ||
	    o->port_base + (uint64_t)(o->sources - 1) / o->src_addrs > 65535) {
		errno = EINVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->ncpus = libbpf_num_possible_cpus();
	if (g->ncpus < 0) {
		err = g->ncpus;
		goto err_free;
	}
	g->skel = gen__open();
	if (!g->skel) {
		err = -errno;
		goto err_free;
	}
	cfg = &g->skel->bss->gen_cfg;
	memcpy(cfg->dst_mac, o->dst_mac, sizeof(cfg->dst_mac));
	memcpy(cfg->src_mac, o->src_mac, sizeof(cfg->src_mac));
	cfg->dst_addr = o->dst_addr;
	cfg->dst_port = htons(o->dst_port);
	cfg->port_base = o->port_base;
	cfg->src_base = o->src_base;
	cfg->src_addrs = o->src_addrs;
	cfg->sources = o->sources;
	cfg->cpu_stride = g->ncpus;
	err = gen__load(g->skel);
	if (err)
		goto err_skel;
	return g;

err_skel:
	gen__destroy(g->skel);
err_free:
	free(g);
	errno = -err;
	return NULL;
}

void loadgen_free(struct loadgen *g)
{
	if (!g)
		return;
	gen__destroy(g->skel);
	free(g);
}

int loadgen_frame(struct loadgen *g, uint8_t *buf, size_t cap)
{
	uint8_t in[BENCH_FRAME_LEN] = {};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = sizeof(in),
		    .data_out = buf, .data_size_out = cap, .repeat = 1);
	int err;

	if (cap < BENCH_FRAME_LEN)
		return -ENOSPC;
	err = bpf_prog_test_run_opts(bpf_program__fd(g->skel->progs.gen_binding), &opts);
	if (err)
		return -errno;
	if (opts.retval != XDP_TX)
		return -EPROTO;
	return opts.data_size_out;
}

uint64_t loadgen_frames(struct loadgen *g)
{
	struct bench_gen_state *vals;
	uint64_t total = 0;
	uint32_t key = 0;

	vals = calloc(g->ncpus, sizeof(*vals));
	if (!vals)
		return 0;
	if (!bpf_map_lookup_elem(bpf_map__fd(g->skel->maps.gen_state), &key, vals))
		for (int i = 0; i < g->ncpus; i++)
			total += vals[i].seq;
	free(vals);
	return total;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull};

	nanosleep(&ts, NULL);
}

/*
 * Each BPF_PROG_TEST_RUN call with live frames sets up and tears down a page
 * pool, which costs about 25 ms here whatever the batch: small batches
 * measure that, not the data path.  Auto batching sizes each call to last
 * about AUTO_CALL_NS (never past the end of the run).
 */
#define AUTO_FIRST	65536u
#define AUTO_MIN	1024u
#define AUTO_MAX	(1u << 24)
#define AUTO_CALL_NS	250000000ull

static uint32_t next_batch(uint32_t batch, uint64_t call_ns, uint64_t left_ns)
{
	uint64_t want = left_ns < AUTO_CALL_NS ? left_ns : AUTO_CALL_NS;
	uint64_t b = call_ns ? want * batch / call_ns : AUTO_MAX;

	return b < AUTO_MIN ? AUTO_MIN : b > AUTO_MAX ? AUTO_MAX : b;
}

static void *worker_main(void *arg)
{
	struct worker *t = arg;
	const struct loadgen_run_opts *r = t->r;
	/* Only the first page-pool fill copies this; the program rewrites each frame anyway. */
	uint8_t frame[LOADGEN_FRAME_MAX] = {};
	/* With a ctx, the kernel insists data_end matches the data size. */
	struct xdp_md ctx = {.data_end = t->frame_len, .ingress_ifindex = r->ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = t->frame_len,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	int fd = t->prog_fd;
	uint64_t rate = r->rate_pps / r->threads, now, elapsed, call_ns;
	uint32_t batch = r->batch ? r->batch : AUTO_FIRST;

	/* A paced run sends in bursts of at most 1/20 s worth of frames (unless told). */
	if (rate && !r->batch && batch > rate / 20)
		batch = rate / 20 > AUTO_MIN ? rate / 20 : AUTO_MIN;
	t->err = rig_pin_cpu(t->cpu);
	if (t->err) {
		pr_err("gen: cannot pin thread to CPU %d: %s", t->cpu, strerror(-t->err));
		return NULL;
	}
	t->start_ns = rig_now_ns();
	for (now = t->start_ns; (elapsed = now - t->start_ns) < r->duration_ns;
	     now = rig_now_ns()) {
		if (r->stop && *r->stop)
			break;
		if (rate) {
			/* Ahead of schedule: wait until the frames already sent are due. */
			uint64_t due_ns = t->sent * 1000000000ull / rate;

			if (due_ns > elapsed) {
				/* Never past the end: a slow rate must not stretch the run. */
				sleep_ns(due_ns < r->duration_ns ? due_ns - elapsed
								  : r->duration_ns - elapsed);
				continue;
			}
		}
		opts.repeat = batch;
		if (bpf_prog_test_run_opts(fd, &opts)) {
			/* A signal cuts a run short; the caller's stop flag decides. */
			if (errno == EINTR)
				continue;
			t->err = -errno;
			pr_err("gen: BPF_PROG_TEST_RUN on CPU %d: %s", t->cpu, strerror(errno));
			break;
		}
		t->calls++;
		t->sent += batch;
		call_ns = rig_now_ns() - now;
		if (!r->batch && !rate && elapsed + call_ns < r->duration_ns)
			batch = next_batch(batch, call_ns, r->duration_ns - elapsed - call_ns);
	}
	t->end_ns = rig_now_ns();
	return NULL;
}

/* Run the worker threads; res->frames is left to the caller. */
static int drive(int prog_fd, size_t frame_len, int ncpus, const struct loadgen_run_opts *r,
		 struct loadgen_result *res)
{
	struct worker *t;
	uint64_t first = UINT64_MAX, last = 0;
	int i, started = 0, err = 0;

	memset(res, 0, sizeof(*res));
	if (r->threads < 1 || !r->duration_ns || !frame_len || frame_len > LOADGEN_FRAME_MAX)
		return -EINVAL;
	t = calloc(r->threads, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (i = 0; i < r->threads; i++) {
		t[i] = (struct worker){.prog_fd = prog_fd, .frame_len = frame_len, .r = r,
				       .cpu = i % ncpus};
		err = -pthread_create(&t[i].tid, NULL, worker_main, &t[i]);
		if (err) {
			pr_err("gen: cannot start thread %d: %s", i, strerror(-err));
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(t[i].tid, NULL);
		if (t[i].err && !err)
			err = t[i].err;
		if (t[i].start_ns && t[i].start_ns < first)
			first = t[i].start_ns;
		if (t[i].end_ns > last)
			last = t[i].end_ns;
		res->calls += t[i].calls;
		res->frames += t[i].sent;
	}
	res->elapsed_ns = last > first ? last - first : 0;
	free(t);
	return err;
}

int loadgen_run(struct loadgen *g, const struct loadgen_run_opts *r, struct loadgen_result *res)
{
	uint64_t before = loadgen_frames(g);
	int err;

	err = drive(bpf_program__fd(g->skel->progs.gen_binding), BENCH_FRAME_LEN, g->ncpus, r,
		    res);
	res->frames = loadgen_frames(g) - before;
	return err;
}

int loadgen_drive(int prog_fd, size_t frame_len, const struct loadgen_run_opts *r,
		  struct loadgen_result *res)
{
	int ncpus = libbpf_num_possible_cpus();

	if (ncpus < 1)
		return ncpus < 0 ? ncpus : -EINVAL;
	return drive(prog_fd, frame_len, ncpus, r, res);
}
