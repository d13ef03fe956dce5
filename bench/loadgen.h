/* SPDX-License-Identifier: MIT */
/*
 * The in-kernel Binding request generator (bench/gen.bpf.c) and the threads
 * that drive it: one per CPU, each pinned, each calling BPF_PROG_TEST_RUN
 * with BPF_F_TEST_XDP_LIVE_FRAMES so every frame the program builds leaves
 * through the generator veth with XDP_TX.  A UDP socket sender tops out near
 * 0.5 Mpps per vCPU here; this path is what reaches millions per second.
 */
#ifndef PINHOLE_BENCH_LOADGEN_H
#define PINHOLE_BENCH_LOADGEN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "rig.h"

/* What every frame looks like and which sources the generator cycles through. */
struct loadgen_opts {
	uint8_t dst_mac[RIG_MAC_LEN];
	uint8_t src_mac[RIG_MAC_LEN];
	uint32_t dst_addr;	/* network order */
	uint16_t dst_port;	/* host order */
	uint32_t src_base;	/* first source address, host order */
	uint32_t src_addrs;	/* distinct source addresses from src_base on */
	uint32_t sources;	/* distinct (address, port) pairs */
	uint16_t port_base;	/* first source port, host order */
};

/* How long and how hard loadgen_run() drives the generator. */
struct loadgen_run_opts {
	int ifindex;		/* generator veth: frames leave here */
	int threads;		/* one per CPU, pinned to CPUs 0..threads-1 */
	uint32_t batch;		/* frames per BPF_PROG_TEST_RUN call; 0 = sized automatically */
	uint64_t duration_ns;	/* loadgen_run() returns after this */
	uint64_t rate_pps;	/* total offered rate; 0 = as fast as the CPUs allow */
	volatile sig_atomic_t *stop;	/* optional: set non-zero to stop early */
};

struct loadgen_result {
	uint64_t frames;	/* frames built and sent with XDP_TX */
	uint64_t elapsed_ns;	/* from the first call to the last thread's end */
	uint64_t calls;		/* BPF_PROG_TEST_RUN calls that succeeded */
};

struct loadgen;

/* Longest frame loadgen_drive() hands a generator program. */
#define LOADGEN_FRAME_MAX	256

/*
 * Open and load the generator for @o.  Returns NULL with errno set: EINVAL
 * when @o is inconsistent (no sources, port range past 65535), else what
 * libbpf reports.
 */
struct loadgen *loadgen_new(const struct loadgen_opts *o);
void loadgen_free(struct loadgen *g);

/*
 * Build the next frame once without sending it (a non-live test run) into
 * @buf (@cap bytes, at least BENCH_FRAME_LEN).  Returns its length or a
 * negative errno.
 */
int loadgen_frame(struct loadgen *g, uint8_t *buf, size_t cap);

/* Frames the program built since load, over all CPUs; 0 if the map cannot be read. */
uint64_t loadgen_frames(struct loadgen *g);

/*
 * Drive the generator per @r until the duration passes or *r->stop is set.
 * Returns 0 and fills @res, or a negative errno from the first failing thread
 * (then @res holds what was sent before it failed).
 */
int loadgen_run(struct loadgen *g, const struct loadgen_run_opts *r, struct loadgen_result *res);

/*
 * Drive any generator program @prog_fd the same way (threads, batches,
 * pacing, stop flag), with input frames of @frame_len bytes (at most
 * LOADGEN_FRAME_MAX) that the program must rewrite completely on every run.
 * res->frames counts the runs of successful calls (frames sent or, if the
 * program dropped some, attempted).  Returns 0 or a negative errno as
 * loadgen_run() does.
 */
int loadgen_drive(int prog_fd, size_t frame_len, const struct loadgen_run_opts *r,
		  struct loadgen_result *res);

#endif
