// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "nspp.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int nspp_measure(int prog_fd, const uint8_t *frame, size_t len, uint32_t runs,
		 struct nspp_result *res)
{
	uint8_t out[NSPP_OUT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
		    .data_out = out, .repeat = 1);
	uint32_t warmup = runs / 10 + 1, *ns;
	uint64_t sum = 0;
	int err = 0;

	memset(res, 0, sizeof(*res));
	if (!runs)
		return -EINVAL;
	ns = calloc(runs, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (uint32_t i = 0; i < warmup + runs; i++) {
		opts.data_size_out = sizeof(out);
		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			err = -errno;
			goto out;
		}
		if (!i) {
			res->retval = opts.retval;
			res->out_len = opts.data_size_out;
			memcpy(res->out, out, res->out_len);
		} else if (opts.retval != res->retval) {
			res->other_verdicts++;
		}
		if (i >= warmup)
			ns[i - warmup] = opts.duration;
	}
	for (uint32_t i = 0; i < runs; i++)
		sum += ns[i];
	qsort(ns, runs, sizeof(*ns), cmp_u32);
	res->runs = runs;
	res->mean_ns = (double)sum / runs;
	res->median_ns = ns[runs / 2];
	res->min_ns = ns[0];
out:
	free(ns);
	return err;
}
