// SPDX-License-Identifier: MIT
/*
 * Binding request generator.  pinhole-load runs it with BPF_PROG_TEST_RUN and
 * BPF_F_TEST_XDP_LIVE_FRAMES: every run turns one page-pool frame into a
 * complete, fresh request and returns XDP_TX, which the live test-run sends
 * out of the generator veth.  Every byte is written on every run because
 * the kernel recycles those pages without copying data_in again, and the
 * responder rewrote the previous request into a response in place.
 */
#include "bench_bpf.h"

struct bench_gen_cfg gen_cfg;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct bench_gen_state);
	__uint(max_entries, 1);
} gen_state SEC(".maps");

SEC("xdp")
int gen_binding(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + BENCH_OFF_IP;
	struct udphdr *udp = data + BENCH_OFF_UDP;
	struct stun_hdr *stun = data + BENCH_OFF_STUN;
	struct bench_gen_state *st;
	__u32 key = 0, j, saddr;
	__u64 k;
	__u16 sport;

	/* pinhole-load always hands in a BENCH_FRAME_LEN frame; anything else is a bug. */
	if (data + BENCH_FRAME_LEN > end)
		return XDP_ABORTED;
	st = bpf_map_lookup_elem(&gen_state, &key);
	if (!st || !gen_cfg.sources || !gen_cfg.src_addrs)
		return XDP_ABORTED;

	/* Interleave CPUs so no two frames of a run share a transaction id. */
	k = st->seq++ * gen_cfg.cpu_stride + bpf_get_smp_processor_id();
	j = k % gen_cfg.sources;
	saddr = bpf_htonl(gen_cfg.src_base + j % gen_cfg.src_addrs);
	sport = bpf_htons(gen_cfg.port_base + j / gen_cfg.src_addrs);

	bench_eth_ip4_write(eth, ip, gen_cfg.dst_mac, gen_cfg.src_mac,
			    BENCH_FRAME_LEN - BENCH_OFF_IP, (__u16)k, saddr, gen_cfg.dst_addr);

	udp->source = sport;
	udp->dest = gen_cfg.dst_port;
	udp->len = bpf_htons(BENCH_FRAME_LEN - BENCH_OFF_UDP);
	udp->check = 0;

	stun->type = bpf_htons(STUN_BINDING_REQUEST);
	stun->length = 0;
	stun->cookie = bpf_htonl(STUN_MAGIC_COOKIE);
	*(__u32 *)&stun->tid[0] = bpf_htonl(BENCH_TID_MARKER);
	*(__u64 *)&stun->tid[4] = k;

	/* Pseudo header (addresses, protocol, UDP length), then header and payload. */
	{
		__u32 s = bench_sum16((const __u16 *)&ip->saddr, 4);
		__u16 c;

		s += bpf_htons(IPPROTO_UDP) + udp->len;
		s += bench_sum16((const __u16 *)udp, (BENCH_FRAME_LEN - BENCH_OFF_UDP) / 2);
		c = bench_csum_fold(s);
		/* RFC 768: a computed zero is sent as all ones; zero means "no checksum". */
		udp->check = c ? c : 0xffff;
	}
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
