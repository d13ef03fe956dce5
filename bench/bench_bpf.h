/* SPDX-License-Identifier: MIT */
/*
 * Inline helpers pinhole-load's BPF programs share (bench/gen.bpf.c,
 * bench/ka.bpf.c): one's complement sums, and the Ethernet and IPv4 headers
 * every generated frame starts with.  BPF side only; the frame layout itself
 * is in bench_kern_user.h.
 */
#ifndef PINHOLE_BENCH_BPF_H
#define PINHOLE_BENCH_BPF_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "bench_kern_user.h"

/* One's complement sum of @n 16-bit words as they lie in memory. */
static __always_inline __u32 bench_sum16(const __u16 *w, int n)
{
	__u32 s = 0;

	for (int i = 0; i < n; i++)
		s += w[i];
	return s;
}

/* Fold a 32-bit one's complement sum to 16 bits and complement it: the checksum field. */
static __always_inline __u16 bench_csum_fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Write the whole Ethernet header and an IPv4 header without options (DF,
 * TTL 64, UDP) with its checksum.  @tot_len and @id are host order, the
 * addresses network order.  Every field is written because the generators
 * run on recycled page-pool frames that still hold the last frame's bytes.
 */
static __always_inline void bench_eth_ip4_write(struct ethhdr *eth, struct iphdr *ip,
						const __u8 *dst_mac, const __u8 *src_mac,
						__u16 tot_len, __u16 id, __be32 saddr,
						__be32 daddr)
{
	__builtin_memcpy(eth->h_dest, dst_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, src_mac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	*(__u8 *)ip = 0x45;	/* version 4, no options */
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = bpf_htons(id);
	ip->frag_off = bpf_htons(0x4000);	/* DF */
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->check = 0;
	ip->saddr = saddr;
	ip->daddr = daddr;
	ip->check = bench_csum_fold(bench_sum16((const __u16 *)ip, sizeof(*ip) / 2));
}

#endif
