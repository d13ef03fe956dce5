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
	/* Keepalives: a Binding request or indication whose first attribute is SESSION. */
	PH_TX_KEEPALIVE,		/* right token: refreshed and answered */
	PH_TX_KA_MOVED,			/* right token from a new address: moved, event sent, answered */
	PH_TX_KA_UNKNOWN,		/* no such session: 401 answered, the endpoint logs in again */
	PH_DROP_KA_INDICATION,		/* right token, an indication: refreshed, nothing to answer */
	PH_DROP_KA_BAD_TOKEN,		/* live session, wrong token: nothing refreshed */
	PH_DROP_KA_UNKNOWN_IND,		/* no such session, an indication */
	PH_PASS_KA_NO_EVENT,		/* moved, but the event ring is full: userspace handles it */
	PH_DROP_RATE_LIMITED,		/* unauthenticated answer over the source's token bucket */
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

/*
 * Sessions.  The "sessions" array (pinned, max_entries = --max-sessions)
 * holds one struct ph_session per logged-in endpoint; a session id's low
 * PH_SESSION_SLOT_BITS bits are its slot, the rest a random generation, so
 * the kernel finds a session with one array lookup.  Userspace writes a
 * slot when a login is answered and zeroes it when the session ends; the
 * program refreshes last_seen (at most once a second) and follows NAT
 * rebinding (addr/port), reporting each move on the "session_events" ring.
 */
#define PH_SESSION_SLOT_BITS	24
#define PH_SESSION_SLOT_MASK	((1u << PH_SESSION_SLOT_BITS) - 1)
#define PH_SESSIONS_MAX		(1u << PH_SESSION_SLOT_BITS)
#define PH_SESSION_TOKEN_LEN	16
/* Size of the "session_events" ring buffer (a power of two, pages). */
#define PH_SESSION_EVENTS_BYTES	(4u << 20)

struct ph_session {
	__u32 id;		/* 0: free slot */
	__u32 last_seen;	/* CLOCK_MONOTONIC seconds of the last accepted keepalive */
	__u8 token[PH_SESSION_TOKEN_LEN];
	__u8 addr[16];		/* observed source; IPv4 takes the first 4 bytes */
	__be16 port;		/* observed source port */
	__u16 interval_s;	/* keepalive interval the login gave */
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 pad[3];
};
_Static_assert(sizeof(struct ph_session) == 48, "session value has no hidden padding");

/* One NAT rebinding the program followed (ring buffer "session_events"). */
struct ph_session_event {
	__u32 id;
	__u8 family;		/* of both addresses */
	__u8 pad;
	__be16 port;		/* new observed source port */
	__u8 addr[16];		/* new observed source address */
	__be16 local_port;	/* the server address:port it reached */
	__u8 pad2[2];
	__u8 local_addr[16];
};
_Static_assert(sizeof(struct ph_session_event) == 44, "event has no hidden padding");

/*
 * Answers to unauthenticated requests (plain Binding requests, 401s for
 * unknown sessions) are limited per source address, so a flood with a
 * victim's spoofed address reflects at most this budget at it.  A generic
 * cell rate algorithm: each source has one theoretical arrival time in the
 * "rate" LRU hash; "rate_cfg" (one entry, written by the loader) holds the
 * spacing between answers and how far ahead of it a burst may run.
 * Authenticated keepalives are never limited.
 */
#define PH_RATE_SOURCES		262144

struct ph_rate_cfg {
	__u64 interval_ns;	/* 1e9 / answers per second; 0: no limit */
	__u64 burst_ns;		/* (burst - 1) * interval_ns */
};

struct ph_rate_key {
	__u8 addr[16];		/* IPv6, or IPv4-mapped (::ffff:a.b.c.d) */
};

/* Largest STUN message (header included) the kernel path parses. */
#define PH_XDP_MAX_STUN_LEN	548
/* Most attributes the kernel path walks before passing the request up. */
#define PH_XDP_MAX_ATTRS	16
#define PH_MAX_LISTENERS	64

#endif
