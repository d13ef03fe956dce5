/* SPDX-License-Identifier: MIT */
/*
 * Nanoseconds per packet of an XDP program by BPF_PROG_TEST_RUN, one run per
 * call (repeat = 1): with repeat > 1 the kernel reruns the program on the
 * buffer the previous run rewrote, so a responder would be timed answering
 * its own answer.  Each call starts from the caller's fresh frame instead.
 * The kernel's figure per call includes reading the clock around the run,
 * which adds the same few ns to every program measured.
 */
#ifndef PINHOLE_BENCH_NSPP_H
#define PINHOLE_BENCH_NSPP_H

#include <stddef.h>
#include <stdint.h>

#define NSPP_OUT_MAX	512

struct nspp_result {
	uint32_t runs;		/* timed runs (after an untimed warm-up) */
	uint32_t retval;	/* verdict of the first run */
	uint32_t other_verdicts;	/* runs whose verdict differed from the first */
	double mean_ns;
	uint32_t median_ns;
	uint32_t min_ns;
	uint8_t out[NSPP_OUT_MAX];	/* frame the first run produced */
	size_t out_len;
};

/*
 * Run program @prog_fd on @frame (@len bytes) @runs times, each from the
 * original bytes, and fill @res.  Returns 0, -EINVAL for no runs, -ENOMEM,
 * or the negative errno of a failing BPF_PROG_TEST_RUN.
 */
int nspp_measure(int prog_fd, const uint8_t *frame, size_t len, uint32_t runs,
		 struct nspp_result *res);

#endif
