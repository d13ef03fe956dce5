// SPDX-License-Identifier: MIT
/*
 * Reply counter on the generator-side veth.  Every IPv4 frame that comes
 * back is classified (enum bench_count) and dropped, so answers never load
 * the generator namespace's stack.  An answer is valid only if it is exactly
 * what a client would accept: a Binding success from the server port whose
 * transaction id is one the generator wrote and whose XOR-MAPPED-ADDRESS is
 * the address and port the frame is addressed to, with correct IPv4 and UDP
 * checksums.  Anything that is not IPv4 (ARP, ...) goes to the stack.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_kern_user.h"

struct bench_count_cfg count_cfg;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, BENCH_CNT_MAX);
} count_stats SEC(".maps");

/*
 * Answers are copied into a zeroed buffer for the checksum and the attribute
 * walk: that keeps every read provably in bounds for any answer length, and
 * the zero padding adds nothing to a one's complement sum.  pinhole answers
 * with 40 or 48 UDP bytes; coturn adds RESPONSE-ORIGIN, SOFTWARE and more.
 */
#define UDP_MAX		256	/* longest answer accepted; a power of two */
/* UDP length of pinhole's answer: header plus one IPv4 XOR-MAPPED-ADDRESS. */
#define ANSWER_UDP_LEN	(sizeof(struct udphdr) + STUN_HEADER_LEN + STUN_ATTR_HEADER_LEN + 8)
#define MAX_ATTRS	12

struct answer_buf {
	__u64 w[UDP_MAX / 8];	/* words, so clearing it takes word stores */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct answer_buf);
	__uint(max_entries, 1);
} answer_scratch SEC(".maps");

static __always_inline __u16 csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

static __always_inline __u16 get16(const __u8 *b, __u32 off)
{
	return (__u16)b[off & (UDP_MAX - 1)] << 8 | b[(off + 1) & (UDP_MAX - 1)];
}

/*
 * Offset in @b (the UDP datagram, @ulen bytes) of the XOR-MAPPED-ADDRESS
 * value, or 0 when the attributes do not walk cleanly to one of length 8.
 */
static __always_inline __u32 find_xma(const __u8 *b, __u32 ulen)
{
	__u32 off = sizeof(struct udphdr) + STUN_HEADER_LEN;

	for (int i = 0; i < MAX_ATTRS; i++) {
		__u16 type, alen;

		if (off + STUN_ATTR_HEADER_LEN > ulen)
			return 0;
		type = get16(b, off);
		alen = get16(b, off + 2);
		if (type == STUN_ATTR_XOR_MAPPED_ADDRESS)
			return alen == 8 && off + STUN_ATTR_HEADER_LEN + 8 <= ulen ?
				       off + STUN_ATTR_HEADER_LEN : 0;
		off += STUN_ATTR_HEADER_LEN + ((alen + 3) & ~3u);
	}
	return 0;
}

static __always_inline int ip_csum_ok(struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 s = 0;

	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		s += w[i];
	return csum_fold(s) == 0;
}

/*
 * Fast path for the common answer, header plus XOR-MAPPED-ADDRESS and nothing
 * else (pinhole's): fixed offsets, no copy.  The counter shares the CPUs with
 * the responder it measures, so its cost lowers the rig's ceiling.
 */
static __always_inline enum bench_count classify_short(void *data, void *end, struct iphdr *ip,
						       struct udphdr *udp)
{
	struct stun_attr_hdr *attr = data + BENCH_OFF_STUN + STUN_HEADER_LEN;
	struct stun_addr4 *xma = (void *)(attr + 1);
	const __u16 *w = (const __u16 *)udp;
	__u32 s;

	if ((void *)(xma + 1) > end)
		return BENCH_CNT_INVALID;
	if (attr->type != bpf_htons(STUN_ATTR_XOR_MAPPED_ADDRESS) || attr->length != bpf_htons(8) ||
	    xma->family != STUN_FAMILY_IPV4 ||
	    (xma->port ^ bpf_htons(STUN_MAGIC_COOKIE >> 16)) != udp->dest ||
	    (xma->addr ^ bpf_htonl(STUN_MAGIC_COOKIE)) != ip->daddr)
		return BENCH_CNT_INVALID;
	s = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
	    bpf_htons(IPPROTO_UDP) + udp->len;
	for (int i = 0; i < (int)ANSWER_UDP_LEN / 2; i++)
		s += w[i];
	return csum_fold(s) ? BENCH_CNT_INVALID : BENCH_CNT_VALID;
}

static __always_inline enum bench_count classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + BENCH_OFF_IP;
	struct udphdr *udp = data + BENCH_OFF_UDP;
	struct stun_hdr *stun = data + BENCH_OFF_STUN;
	struct answer_buf *ab;
	__u32 key = 0, ulen, x;
	__u64 s;
	__u8 *b;

	if ((void *)(udp + 1) > end)
		return BENCH_CNT_OTHER;
	if (*(__u8 *)ip != 0x45 || ip->protocol != IPPROTO_UDP)
		return BENCH_CNT_OTHER;
	if (udp->source != count_cfg.server_port)
		return BENCH_CNT_INVALID;
	if ((void *)(stun + 1) > end)
		return BENCH_CNT_INVALID;
	if (stun->cookie != bpf_htonl(STUN_MAGIC_COOKIE) ||
	    *(__u32 *)&stun->tid[0] != bpf_htonl(BENCH_TID_MARKER))
		return BENCH_CNT_INVALID;
	if (stun->type == bpf_htons(STUN_BINDING_REQUEST))
		return BENCH_CNT_REFLECTED;
	ulen = bpf_ntohs(udp->len);
	if (stun->type != bpf_htons(STUN_BINDING_SUCCESS) || ulen > UDP_MAX ||
	    data + BENCH_OFF_UDP + ulen > end || bpf_ntohs(ip->tot_len) != sizeof(*ip) + ulen ||
	    bpf_ntohs(stun->length) + STUN_HEADER_LEN + sizeof(*udp) != ulen)
		return BENCH_CNT_INVALID;
	/* Zero means the sender did not checksum: neither server we measure does that. */
	if (!udp->check || !ip_csum_ok(ip))
		return BENCH_CNT_INVALID;
	if (ulen == ANSWER_UDP_LEN)
		return classify_short(data, end, ip, udp);

	ab = bpf_map_lookup_elem(&answer_scratch, &key);
	if (!ab)
		return BENCH_CNT_INVALID;
	__builtin_memset(ab, 0, sizeof(*ab));
	b = (__u8 *)ab->w;
	if (ulen < sizeof(*udp) + STUN_HEADER_LEN ||
	    bpf_xdp_load_bytes(ctx, BENCH_OFF_UDP, b, ulen))
		return BENCH_CNT_INVALID;
	s = bpf_csum_diff(NULL, 0, (__be32 *)b, UDP_MAX, 0);
	s += (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
	     bpf_htons(IPPROTO_UDP) + udp->len;
	s = (s & 0xffffffff) + (s >> 32);
	if (csum_fold((__u32)((s & 0xffffffff) + (s >> 32))))
		return BENCH_CNT_INVALID;

	x = find_xma(b, ulen);
	if (!x || b[(x + 1) & (UDP_MAX - 1)] != STUN_FAMILY_IPV4)
		return BENCH_CNT_INVALID;
	if ((get16(b, x + 2) ^ (STUN_MAGIC_COOKIE >> 16)) != bpf_ntohs(udp->dest) ||
	    (((__u32)get16(b, x + 4) << 16 | get16(b, x + 6)) ^ STUN_MAGIC_COOKIE) !=
		    bpf_ntohl(ip->daddr))
		return BENCH_CNT_INVALID;
	return BENCH_CNT_VALID;
}

SEC("xdp")
int count_replies(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 key;
	__u64 *cnt;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key = classify(ctx);
	cnt = bpf_map_lookup_elem(&count_stats, &key);
	if (cnt)
		(*cnt)++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
