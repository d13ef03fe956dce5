/* SPDX-License-Identifier: MIT */
/*
 * What the XDP program and userspace agree on: map names, map key and value
 * layouts, and the reasons the program counts.  Userspace reads the pinned
 * maps with these structs; bpftool prints their field names from BTF.
 */
#ifndef PINHOLE_KERN_USER_H
#define PINHOLE_KERN_USER_H

#include <linux/types.h>

/* Default directory on bpffs where the maps and the program link are pinned. */
#define PH_PIN_DIR_DEFAULT	"/sys/fs/bpf/pinhole"

/* Every verdict the program returns is counted under exactly one reason. */
enum ph_xdp_reason {
	PH_TX_BINDING = 0,		/* Binding request answered in the kernel */
	PH_PASS_NOT_IP,			/* not IPv4/IPv6 (ARP, ...) */
	PH_PASS_NOT_UDP,		/* IP, but not UDP (ICMP, TCP, ...) */
	PH_PASS_NOT_LISTEN,		/* UDP, not to a listening address:port */
	PH_PASS_IP_OPTIONS,		/* IPv4 options or IPv6 extension headers */
	PH_PASS_FRAGMENT,		/* a fragment: the stack reassembles */
	PH_PASS_TRUNCATED,		/* IP/UDP lengths disagree with the frame */
	PH_PASS_BAD_CSUM,		/* bad IP or UDP checksum: the stack drops and counts it */
	PH_PASS_NOT_BINDING_REQ,	/* STUN, but not a Binding request (login, indications, ...) */
	PH_PASS_ATTRIBUTES,		/* comprehension-required attributes: userspace decides */
	PH_PASS_TOO_LONG,		/* longer than the kernel path parses */
	PH_PASS_NO_ROOM,		/* could not grow the frame */
	PH_DROP_NOT_STUN,		/* on the port, but the top two bits are not zero */
	PH_DROP_BAD_COOKIE,		/* no magic cookie (RFC 3489 clients are not served) */
	PH_DROP_BAD_LENGTH,		/* length field, attribute lengths or padding are wrong */
	PH_DROP_BAD_FINGERPRINT,	/* FINGERPRINT present but wrong */
	PH_REASON_MAX,
};

/* Value of the per-CPU "stats" array, indexed by enum ph_xdp_reason. */
struct ph_stat {
	__u64 packets;
	__u64 bytes;
};

/*
 * Key of the "listeners" hash: where the server answers.  addr all zero is
 * the wildcard for its family.  IPv4 addresses take the first 4 bytes.
 */
struct ph_listen_key {
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 pad;
	__be16 port;
	__u8 addr[16];
};
_Static_assert(sizeof(struct ph_listen_key) == 20, "listen key has no hidden padding");

enum ph_listen_flags {
	/*
	 * RFC 5780 service: Binding success responses carry RESPONSE-ORIGIN
	 * (the address the request reached) then OTHER-ADDRESS (other_*), in
	 * that order after XOR-MAPPED-ADDRESS and before FINGERPRINT.
	 */
	PH_LISTEN_RFC5780 = 0x1,
};

struct ph_listen_val {
	__u32 flags;		/* enum ph_listen_flags */
	__u8 other_family;	/* AF_INET / AF_INET6 when PH_LISTEN_RFC5780 */
	__u8 pad;
	__be16 other_port;
	__u8 other_addr[16];	/* IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct ph_listen_val) == 24, "listen value has no hidden padding");

/* Largest STUN message (header included) the kernel path parses. */
#define PH_XDP_MAX_STUN_LEN	548
/* Most attributes the kernel path walks before passing the request up. */
#define PH_XDP_MAX_ATTRS	16
#define PH_MAX_LISTENERS	64

#endif
