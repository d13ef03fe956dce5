// SPDX-License-Identifier: MIT
/*
 * Keepalives for pinhole-load sessions: a generator and an answer counter
 * that share the endpoint table.
 *
 * ka_gen runs under BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (see
 * loadgen.h): every run picks the next endpoint round-robin, writes its
 * complete keepalive (the page-pool frame still holds whatever the last
 * use left in it) and returns XDP_TX, so at a paced rate of endpoints /
 * interval every endpoint sends one keepalive per interval.
 *
 * ka_count sits on the generator veth: answers to our keepalives (found by
 * the transaction id marker) are classified, marked per endpoint and
 * dropped; everything else goes to the stack, where pinhole-load's login
 * sockets and the namespace's ARP live.
 */
#include "bench_bpf.h"

struct bench_ka_cfg ka_cfg;

/* max_entries are set by pinhole-load before load (endpoints, endpoints / 64 + 1). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct bench_ka_entry);
	__uint(max_entries, 1);
} ka_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct bench_ka_seen);
	__uint(max_entries, 1);
} ka_seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, BENCH_KA_MAX);
} ka_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} ka_seq SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&ka_stats, &what);

	if (c)
		(*c)++;
}

SEC("xdp")
int ka_gen(struct xdp_md *ctx)
{
	void *data, *end;
	struct ethhdr *eth;
	struct iphdr *ip;
	struct udphdr *udp;
	struct stun_hdr *stun;
	__u8 *sess, *fp;
	struct bench_ka_entry *e;
	__u32 key = 0, j;
	__u64 *seq, k;

	/* BENCH_KA_IN_LEN in, BENCH_KA_FRAME_LEN out: see there why the bounds must move. */
	if (bpf_xdp_adjust_tail(ctx, -(int)(BENCH_KA_IN_LEN - BENCH_KA_FRAME_LEN)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + BENCH_KA_FRAME_LEN > end)
		return XDP_ABORTED;
	eth = data;
	ip = data + BENCH_OFF_IP;
	udp = data + BENCH_OFF_UDP;
	stun = data + BENCH_OFF_STUN;
	sess = data + BENCH_KA_OFF_SESSION;
	fp = data + BENCH_KA_OFF_FP;
	seq = bpf_map_lookup_elem(&ka_seq, &key);
	if (!seq || !ka_cfg.endpoints)
		return XDP_ABORTED;
	/* CPUs interleave, so two generator threads never send for the same endpoint at once. */
	k = (*seq)++ * ka_cfg.cpu_stride + bpf_get_smp_processor_id();
	j = k % ka_cfg.endpoints;
	e = bpf_map_lookup_elem(&ka_table, &j);
	if (!e || !e->id) {
		count(BENCH_KA_SKIPPED);
		return XDP_DROP;
	}

	bench_eth_ip4_write(eth, ip, ka_cfg.dst_mac, ka_cfg.src_mac,
			    BENCH_KA_FRAME_LEN - BENCH_OFF_IP, (__u16)k, e->addr, ka_cfg.dst_addr);

	udp->source = e->port;
	udp->dest = ka_cfg.dst_port;
	udp->len = bpf_htons(BENCH_KA_FRAME_LEN - BENCH_OFF_UDP);
	/* Userspace summed pseudo header, header and payload: all fixed per endpoint. */
	udp->check = e->udp_check;

	stun->type = bpf_htons(STUN_BINDING_REQUEST);
	stun->length = bpf_htons(BENCH_KA_STUN_LEN - STUN_HEADER_LEN);
	stun->cookie = bpf_htonl(STUN_MAGIC_COOKIE);
	*(__u32 *)&stun->tid[0] = bpf_htonl(BENCH_KA_MARKER);
	*(__u32 *)&stun->tid[4] = bpf_htonl(j);
	*(__u32 *)&stun->tid[8] = ka_cfg.epoch;

	*(__u16 *)&sess[0] = bpf_htons(0x4001); /* PH_ATTR_SESSION */
	*(__u16 *)&sess[2] = bpf_htons(20);
	*(__u32 *)&sess[4] = e->id;
	__builtin_memcpy(&sess[8], e->token, sizeof(e->token));

	*(__u16 *)&fp[0] = bpf_htons(STUN_ATTR_FINGERPRINT);
	*(__u16 *)&fp[2] = bpf_htons(4);
	*(__u32 *)&fp[4] = e->fingerprint;

	count(BENCH_KA_TX);
	return XDP_TX;
}

/* UDP length of the answer we expect: header, XOR-MAPPED-ADDRESS (IPv4), FINGERPRINT. */
#define KA_ANSWER_UDP_LEN                                                                          \
	(sizeof(struct udphdr) + STUN_HEADER_LEN + STUN_ATTR_HEADER_LEN + 8 +                      \
	 STUN_ATTR_HEADER_LEN + 4)

static __always_inline void mark(__u32 j, int lost)
{
	__u32 w = j / 64;
	__u64 bit = 1ull << (j % 64);
	struct bench_ka_seen *s = bpf_map_lookup_elem(&ka_seen, &w);

	if (!s)
		return;
	/* Read first: an atomic on a line every answer touches would cost more than the test. */
	if (lost) {
		if (!(s->lost & bit))
			__sync_fetch_and_or(&s->lost, bit);
	} else if (!(s->ok & bit)) {
		__sync_fetch_and_or(&s->ok, bit);
	}
}

/* A Binding success for endpoint @e: XOR-MAPPED-ADDRESS = where it went, checksums right. */
static __always_inline int answer_ok(void *data, void *end, struct iphdr *ip, struct udphdr *udp,
				     struct stun_hdr *stun)
{
	struct stun_attr_hdr *attr = (void *)(stun + 1);
	struct stun_addr4 *xma = (void *)(attr + 1);
	struct stun_attr_hdr *fpa = (void *)(xma + 1);
	const __u16 *w = (const __u16 *)udp;
	__u32 s;

	if ((void *)(fpa + 1) + 4 > end || bpf_ntohs(udp->len) != KA_ANSWER_UDP_LEN ||
	    bpf_ntohs(ip->tot_len) != sizeof(*ip) + KA_ANSWER_UDP_LEN)
		return 0;
	if (stun->length != bpf_htons(KA_ANSWER_UDP_LEN - sizeof(*udp) - STUN_HEADER_LEN) ||
	    attr->type != bpf_htons(STUN_ATTR_XOR_MAPPED_ADDRESS) || attr->length != bpf_htons(8) ||
	    xma->family != STUN_FAMILY_IPV4 ||
	    (xma->port ^ bpf_htons(STUN_MAGIC_COOKIE >> 16)) != udp->dest ||
	    (xma->addr ^ bpf_htonl(STUN_MAGIC_COOKIE)) != ip->daddr ||
	    fpa->type != bpf_htons(STUN_ATTR_FINGERPRINT) || fpa->length != bpf_htons(4))
		return 0;
	if (bench_csum_fold(bench_sum16((const __u16 *)ip, sizeof(*ip) / 2)))
		return 0;
	if (!udp->check)
		return 0;
	s = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
	    bpf_htons(IPPROTO_UDP) + udp->len;
	for (int i = 0; i < (int)KA_ANSWER_UDP_LEN / 2; i++)
		s += w[i];
	return !bench_csum_fold(s);
}

/* A Binding error whose first attribute is ERROR-CODE 401. */
static __always_inline int answer_401(void *end, struct stun_hdr *stun)
{
	struct stun_attr_hdr *attr = (void *)(stun + 1);
	__u8 *v = (void *)(attr + 1);

	if ((void *)(v + 4) > end)
		return 0;
	return attr->type == bpf_htons(STUN_ATTR_ERROR_CODE) && (v[2] & 7) == 4 && v[3] == 1;
}

SEC("xdp")
int ka_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + BENCH_OFF_IP;
	struct udphdr *udp = data + BENCH_OFF_UDP;
	struct stun_hdr *stun = data + BENCH_OFF_STUN;
	struct bench_ka_entry *e;
	__u32 j;

	if ((void *)(stun + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    *(__u8 *)ip != 0x45 || ip->protocol != IPPROTO_UDP || udp->source != ka_cfg.dst_port ||
	    stun->cookie != bpf_htonl(STUN_MAGIC_COOKIE) ||
	    *(__u32 *)&stun->tid[0] != bpf_htonl(BENCH_KA_MARKER))
		goto pass;
	j = bpf_ntohl(*(__u32 *)&stun->tid[4]);
	e = bpf_map_lookup_elem(&ka_table, &j);
	/* Another run's answer, or one for an address the endpoint does not have: not ours. */
	if (!e || j >= ka_cfg.endpoints || *(__u32 *)&stun->tid[8] != ka_cfg.epoch ||
	    ip->daddr != e->addr || udp->dest != e->port) {
		count(BENCH_KA_INVALID);
		return XDP_DROP;
	}
	if (stun->type == bpf_htons(STUN_BINDING_SUCCESS) && answer_ok(data, end, ip, udp, stun)) {
		count(BENCH_KA_VALID);
		mark(j, 0);
	} else if (stun->type == bpf_htons(STUN_BINDING_ERROR) && answer_401(end, stun)) {
		count(BENCH_KA_UNAUTHORIZED);
		mark(j, 1);
	} else {
		count(BENCH_KA_INVALID);
	}
	return XDP_DROP;
pass:
	count(BENCH_KA_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
