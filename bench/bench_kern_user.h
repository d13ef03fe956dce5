/* SPDX-License-Identifier: MIT */
/*
 * What pinhole-load and its BPF programs agree on: the generator's settings,
 * the frame it builds, and the reply counters.  Shared by bench/gen.bpf.c,
 * bench/count.bpf.c and the userspace side of pinhole-load.
 */
#ifndef PINHOLE_BENCH_KERN_USER_H
#define PINHOLE_BENCH_KERN_USER_H

#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include "stun_proto.h"

/*
 * First four bytes of every transaction id the generator writes ("pHld").
 * The counter only accepts answers that echo it, so stray traffic or a
 * responder that invents transaction ids is not counted as an answer.
 */
#define BENCH_TID_MARKER	0x70486c64u

/*
 * The request: Ethernet, IPv4 without options, UDP, a bare 20-byte Binding
 * request.  Offsets rather than one packed struct, so clang emits word-sized
 * stores in the generator instead of byte-by-byte ones.
 */
enum bench_frame_off {
	BENCH_OFF_IP = sizeof(struct ethhdr),
	BENCH_OFF_UDP = BENCH_OFF_IP + sizeof(struct iphdr),
	BENCH_OFF_STUN = BENCH_OFF_UDP + sizeof(struct udphdr),
	BENCH_FRAME_LEN = BENCH_OFF_STUN + STUN_HEADER_LEN,
};
_Static_assert(BENCH_FRAME_LEN == 62, "Binding request frame is 62 bytes");

/*
 * Generator settings, written by userspace into the program's .bss before
 * load (not .rodata: clang folded byte-array copies out of const volatile
 * data into zeros, see LAB-NOTES).  Addresses and ports in network order
 * where the field is __be, host order otherwise.
 */
struct bench_gen_cfg {
	__u8 dst_mac[ETH_ALEN];
	__u8 src_mac[ETH_ALEN];
	__be32 dst_addr;
	__be16 dst_port;
	__u16 port_base;	/* first source port */
	__u32 src_base;		/* first source address, host order */
	__u32 src_addrs;	/* distinct source addresses: src_base + 0 .. src_addrs - 1 */
	__u32 sources;		/* distinct (address, port) pairs cycled through */
	__u32 cpu_stride;	/* possible CPUs: sequence k = seq * stride + cpu is unique */
};

/* Per-CPU generator state (one-entry per-CPU array "gen_state"). */
struct bench_gen_state {
	__u64 seq;		/* frames built on this CPU since load */
};

/* Reply classes the counter program counts (per-CPU array "count_stats"). */
enum bench_count {
	BENCH_CNT_VALID = 0,	/* Binding success answering our request, to its own sender */
	BENCH_CNT_INVALID,	/* UDP that is not a valid answer from the server port */
	BENCH_CNT_REFLECTED,	/* our own request came back unchanged (a bare swap-and-TX) */
	BENCH_CNT_OTHER,	/* IPv4 but not UDP (ICMP errors, ...) */
	BENCH_CNT_MAX,
};

/* Counter settings, in the counter's .bss. */
struct bench_count_cfg {
	__be16 server_port;
};

#endif
