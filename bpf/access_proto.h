/* SPDX-License-Identifier: MIT */
/*
 * pinhole's access protocol: the messages endpoints and the access server
 * (and endpoints among themselves) exchange on top of STUN framing
 * (RFC 8489 header, TLV attributes, MESSAGE-INTEGRITY-SHA256, FINGERPRINT).
 * Shared by the XDP program (keepalives), userspace and the tests.
 *
 * Who sends what, on the one server address:port that also answers STUN:
 *
 *   endpoint -> server   LOGIN request       long-term credentials (RFC 8489 §9.2, SHA-256)
 *   endpoint -> server   FETCH request       one page of profile + routing table
 *   endpoint -> server   Binding request     keepalive: carries PH_ATTR_SESSION
 *   endpoint -> server   LOGOUT request
 *   server -> endpoint   PUNCH request       "send one packet to this peer now", acked
 *   server -> endpoint   PRESENCE request    a contact's delta (online/offline/moved), acked
 *   endpoint -> endpoint ONLINE request      "I am online", protected with the pair key
 *   endpoint -> endpoint MESSAGE request     text over the direct session, acked
 *   endpoint -> endpoint PROBE indication    the punch packet itself, pair-key protected
 *
 * After LOGIN every message between an endpoint and the server carries
 * PH_ATTR_SESSION and MESSAGE-INTEGRITY-SHA256 keyed with the session token;
 * messages between endpoints carry MESSAGE-INTEGRITY-SHA256 keyed with the
 * pair key the server handed both.  Every message ends with FINGERPRINT.
 */
#ifndef PINHOLE_ACCESS_PROTO_H
#define PINHOLE_ACCESS_PROTO_H

#include <linux/types.h>

/* Methods from the designated-expert range (RFC 8489 §18.2: 0x800-0xFFF). */
enum ph_method {
	PH_METHOD_LOGIN		= 0xC01,
	PH_METHOD_FETCH		= 0xC02,
	PH_METHOD_PUNCH		= 0xC03,
	PH_METHOD_PRESENCE	= 0xC04,
	PH_METHOD_LOGOUT	= 0xC05,
	PH_METHOD_ONLINE	= 0xC10,
	PH_METHOD_MESSAGE	= 0xC11,
	PH_METHOD_PROBE		= 0xC12,
};

/*
 * Attributes.  Comprehension-required ones come from 0x4000-0x7FFF and
 * optional ones from 0xC000-0xFFFF (designated-expert ranges), so a plain
 * STUN server that receives one answers 420 rather than misreading it.
 */
enum ph_attr_type {
	PH_ATTR_SESSION		= 0x4001,	/* struct ph_session_attr */
	PH_ATTR_KEEPALIVE	= 0x4002,	/* struct ph_keepalive_attr */
	PH_ATTR_LOCAL_ADDRESS	= 0x4003,	/* MAPPED-ADDRESS format; repeatable */
	PH_ATTR_CLAIMED_ADDRESS	= 0x4004,	/* MAPPED-ADDRESS format: reflexive address as the endpoint learnt it */
	PH_ATTR_NAT		= 0x4005,	/* struct ph_nat_attr */
	PH_ATTR_PAGE		= 0x4006,	/* struct ph_page_attr */
	PH_ATTR_CONTACT		= 0x4007,	/* struct ph_contact_attr + name; repeatable */
	PH_ATTR_PEER_ADDRESS	= 0x4008,	/* XOR-MAPPED-ADDRESS format: where to punch */
	PH_ATTR_PEER_NAME	= 0x4009,	/* user name: 1..PH_NAME_MAX printable ASCII, no space or colon */
	PH_ATTR_TEXT		= 0x400A,	/* UTF-8 message text, up to PH_TEXT_MAX bytes */
	PH_ATTR_PRESENCE	= 0x400B,	/* struct ph_contact_attr + name: one delta */
	PH_ATTR_PUNCH_FLAGS	= 0x400C,	/* __be32 enum ph_punch_flags */
};

#define PH_NAME_MAX	64
#define PH_TEXT_MAX	900
#define PH_TOKEN_LEN	16
#define PH_PAIR_KEY_LEN	32
/* No datagram the server builds exceeds this (DESIGN: about 1200 bytes). */
#define PH_DATAGRAM_MAX	1200

/* A session: the id indexes the server's table, the token proves ownership. */
struct ph_session_attr {
	__be32 id;
	__u8 token[PH_TOKEN_LEN];
};
_Static_assert(sizeof(struct ph_session_attr) == 20, "session attribute is 20 bytes");

/* Told at login: send a keepalive every interval_ms +- jitter_ms. */
struct ph_keepalive_attr {
	__be32 interval_ms;
	__be32 jitter_ms;
	__be32 timeout_ms;	/* silent this long and the session ends */
};
_Static_assert(sizeof(struct ph_keepalive_attr) == 12, "keepalive attribute is 12 bytes");

/* NAT behaviour, RFC 4787 terms, as discovered per RFC 5780. */
enum ph_nat_mapping {
	PH_MAP_UNKNOWN = 0,
	PH_MAP_NONE,			/* no NAT: reflexive == local */
	PH_MAP_ENDPOINT_INDEPENDENT,
	PH_MAP_ADDRESS_DEPENDENT,
	PH_MAP_ADDRESS_PORT_DEPENDENT,
};

enum ph_nat_filtering {
	PH_FILTER_UNKNOWN = 0,
	PH_FILTER_NONE,			/* no filtering at all (no NAT, no firewall) */
	PH_FILTER_ENDPOINT_INDEPENDENT,
	PH_FILTER_ADDRESS_DEPENDENT,
	PH_FILTER_ADDRESS_PORT_DEPENDENT,
};

struct ph_nat_attr {
	__u8 mapping;		/* enum ph_nat_mapping */
	__u8 filtering;		/* enum ph_nat_filtering */
	__u8 reserved[2];
};
_Static_assert(sizeof(struct ph_nat_attr) == 4, "NAT attribute is 4 bytes");

/* FETCH asks for page index; the answer says how many pages there are. */
struct ph_page_attr {
	__be16 index;
	__be16 count;
};
_Static_assert(sizeof(struct ph_page_attr) == 4, "page attribute is 4 bytes");

enum ph_contact_state {
	PH_CONTACT_OFFLINE = 0,
	PH_CONTACT_ONLINE,
	PH_CONTACT_MOVED,	/* still online, at a new reflexive address */
	PH_CONTACT_REMOVED,	/* no longer in the profile */
};

enum ph_contact_flags {
	PH_CONTACT_DIRECT_OK	= 0x01,	/* server expects direct traffic to work */
	PH_CONTACT_PUNCHED	= 0x02,	/* the contact was told to punch toward you */
};

/* Address in a contact entry: family 0 means none. */
struct ph_wire_addr {
	__u8 family;		/* STUN_FAMILY_IPV4 / STUN_FAMILY_IPV6 / 0 */
	__u8 reserved;
	__be16 port;
	__u8 addr[16];		/* IPv4 in the first 4 bytes */
};
_Static_assert(sizeof(struct ph_wire_addr) == 20, "wire address is 20 bytes");

/*
 * One contact in the routing table (PH_ATTR_CONTACT) or one delta
 * (PH_ATTR_PRESENCE): this fixed part, then the name (name_len bytes).
 */
struct ph_contact_attr {
	__u8 state;		/* enum ph_contact_state */
	__u8 flags;		/* enum ph_contact_flags */
	__u8 mapping;		/* enum ph_nat_mapping */
	__u8 filtering;		/* enum ph_nat_filtering */
	__u8 name_len;
	__u8 reserved[3];
	struct ph_wire_addr reflexive;	/* as the server observes it */
	struct ph_wire_addr local;	/* first local address the contact reported */
	__u8 pair_key[PH_PAIR_KEY_LEN];	/* zero when offline */
};
_Static_assert(sizeof(struct ph_contact_attr) == 80, "contact attribute fixed part is 80 bytes");

enum ph_punch_flags {
	PH_PUNCH_SEND = 0x1,	/* send a PROBE to the peer; clear: just learn the key */
};

/* Error codes of our own (STUN's are in stun_proto.h). */
enum ph_error_code {
	PH_ERR_RATE_LIMITED	= 429,	/* too many attempts from this source or for this user */
};

/* Keepalive defaults (DESIGN: RFC 4787 NATs may drop bindings after 30 s). */
#define PH_KEEPALIVE_INTERVAL_MS	20000
#define PH_KEEPALIVE_JITTER_MS		3000
#define PH_KEEPALIVE_MISSES		3

#endif
