// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "counter.h"
/* After counter.h: the skeleton names the shared structs it defines. */
#include "bench/count.skel.h"

struct counter {
	struct count *skel;
	int ncpus;
	int ifindex;		/* attached here, 0 when not attached */
};

struct counter *counter_new(uint16_t server_port)
{
	struct counter *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus < 0) {
		err = c->ncpus;
		goto err_free;
	}
	c->skel = count__open();
	if (!c->skel) {
		err = -errno;
		goto err_free;
	}
	c->skel->bss->count_cfg.server_port = htons(server_port);
	err = count__load(c->skel);
	if (err)
		goto err_skel;
	return c;

err_skel:
	count__destroy(c->skel);
err_free:
	free(c);
	errno = -err;
	return NULL;
}

void counter_free(struct counter *c)
{
	if (!c)
		return;
	if (c->ifindex)
		bpf_xdp_detach(c->ifindex, XDP_FLAGS_DRV_MODE, NULL);
	count__destroy(c->skel);
	free(c);
}

int counter_attach(struct counter *c, int ifindex)
{
	int err;

	err = bpf_xdp_attach(ifindex, bpf_program__fd(c->skel->progs.count_replies),
			     XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
	if (err)
		return err;
	c->ifindex = ifindex;
	return 0;
}

int counter_read(struct counter *c, uint64_t out[BENCH_CNT_MAX])
{
	uint64_t *vals;
	int err = 0;

	vals = calloc(c->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t k = 0; k < BENCH_CNT_MAX; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.count_stats), &k, vals)) {
			err = -errno;
			break;
		}
		for (int i = 0; i < c->ncpus; i++)
			out[k] += vals[i];
	}
	free(vals);
	return err;
}

int counter_classify(struct counter *c, const uint8_t *frame, size_t len, enum bench_count *cls)
{
	uint64_t before[BENCH_CNT_MAX], after[BENCH_CNT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .repeat = 1);
	int err;

	err = counter_read(c, before);
	if (err)
		return err;
	if (bpf_prog_test_run_opts(bpf_program__fd(c->skel->progs.count_replies), &opts))
		return -errno;
	err = counter_read(c, after);
	if (err)
		return err;
	if (opts.retval == XDP_PASS)
		return -ENOMSG;
	/* Live traffic may be counted meanwhile; callers classify on an idle rig. */
	for (int k = 0; k < BENCH_CNT_MAX; k++) {
		if (after[k] != before[k]) {
			*cls = k;
			return 0;
		}
	}
	return -EIO;
}

const char *counter_class_name(enum bench_count cls)
{
	static const char *const names[BENCH_CNT_MAX] = {
		[BENCH_CNT_VALID] = "valid",
		[BENCH_CNT_INVALID] = "invalid",
		[BENCH_CNT_REFLECTED] = "reflected",
		[BENCH_CNT_OTHER] = "other",
	};

	return (unsigned)cls < BENCH_CNT_MAX ? names[cls] : "?";
}
