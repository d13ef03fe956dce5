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

/* ---- keepalives (bench/ka.bpf.c, pinhole-load sessions) ---------------- */

/*
 * First four bytes of every keepalive transaction id ("pHka"); the next
 * four are the endpoint's index in "ka_table" (big-endian), the last four
 * the run's epoch, so answers to another run's keepalives are not counted.
 */
#define BENCH_KA_MARKER		0x70486b61u

/*
 * The keepalive: Ethernet, IPv4 without options, UDP, then a Binding
 * request whose attributes are SESSION (id, token) and FINGERPRINT, exactly
 * what an endpoint sends (endpoint/endpoint.c keepalive_send()).
 */
enum bench_ka_off {
	BENCH_KA_OFF_SESSION = BENCH_OFF_STUN + STUN_HEADER_LEN,
	BENCH_KA_OFF_FP = BENCH_KA_OFF_SESSION + STUN_ATTR_HEADER_LEN + 20,
	BENCH_KA_FRAME_LEN = BENCH_KA_OFF_FP + STUN_ATTR_HEADER_LEN + 4,
	BENCH_KA_STUN_LEN = BENCH_KA_FRAME_LEN - BENCH_OFF_STUN,
};
_Static_assert(BENCH_KA_FRAME_LEN == 94, "keepalive frame is 94 bytes");

/*
 * The generator is handed one byte more than it sends and trims it with
 * bpf_xdp_adjust_tail().  A live test-run recycles a page with the xdp_frame
 * the last user left in it (length included: the server's answer is 12 bytes
 * shorter than the keepalive) and only refreshes that frame from the program's
 * context when the program moved the packet bounds.  Moving them every time
 * makes every keepalive leave with its own length.
 */
#define BENCH_KA_IN_LEN		(BENCH_KA_FRAME_LEN + 1)

/*
 * One logged-in endpoint ("ka_table", indexed by endpoint).  Everything in
 * its keepalive is fixed for a run, so userspace precomputes the UDP
 * checksum and FINGERPRINT once per endpoint and the generator only writes
 * bytes (and the IPv4 header checksum, whose id field changes).  id 0: the
 * endpoint did not log in; the generator skips it.
 */
struct bench_ka_entry {
	__be32 addr;		/* endpoint source address */
	__be16 port;		/* endpoint source port */
	__u16 udp_check;	/* UDP checksum field as sent */
	__be32 id;		/* session id from the LOGIN answer */
	__u8 token[16];		/* session token */
	__be32 fingerprint;	/* FINGERPRINT value of the keepalive */
};
_Static_assert(sizeof(struct bench_ka_entry) == 32, "keepalive entry is 32 bytes");

/*
 * Per 64 endpoints ("ka_seen", index endpoint / 64, bit endpoint % 64):
 * which got at least one valid answer, and which got a 401 (session lost).
 */
struct bench_ka_seen {
	__u64 ok;
	__u64 lost;
};

/* Keepalive generator and answer counter settings, in ka.bpf.c's .bss. */
struct bench_ka_cfg {
	__u8 dst_mac[ETH_ALEN];
	__u8 src_mac[ETH_ALEN];
	__be32 dst_addr;
	__be16 dst_port;	/* the server's port: keepalives go there, answers come from it */
	__u16 pad;
	__u32 endpoints;	/* entries of ka_table in use */
	__u32 cpu_stride;	/* generator threads, pinned to CPUs 0..cpu_stride - 1 */
	__u32 epoch;		/* last four bytes of every transaction id */
};

/* Per-CPU counters ("ka_stats"). */
enum bench_ka_count {
	BENCH_KA_TX = 0,	/* keepalives built and sent */
	BENCH_KA_SKIPPED,	/* generator runs that hit an endpoint without a session */
	BENCH_KA_VALID,		/* Binding success, right endpoint, right mapped address */
	BENCH_KA_UNAUTHORIZED,	/* Binding error 401: the server does not know the session */
	BENCH_KA_INVALID,	/* carries our marker but is no valid answer */
	BENCH_KA_PASSED,	/* not a keepalive answer: left to the stack (login traffic) */
	BENCH_KA_MAX,
};

#endif
