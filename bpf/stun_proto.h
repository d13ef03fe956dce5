/* SPDX-License-Identifier: MIT */
/*
 * STUN wire format (RFC 8489, RFC 5780), shared by the XDP program, the
 * userspace codec and the tests.  Every multi-byte field is big-endian on the
 * wire and typed so (__be16/__be32); nothing here allocates or parses.
 */
#ifndef PINHOLE_STUN_PROTO_H
#define PINHOLE_STUN_PROTO_H

#include <linux/types.h>

#define STUN_MAGIC_COOKIE	0x2112A442u
#define STUN_FINGERPRINT_XOR	0x5354554Eu
#define STUN_HEADER_LEN		20
#define STUN_ATTR_HEADER_LEN	4
#define STUN_TID_LEN		12
#define STUN_DEFAULT_PORT	3478

/* RFC 8489 §6: the two most significant bits of every STUN message are 0. */
struct stun_hdr {
	__be16 type;
	__be16 length;		/* bytes after this header; a multiple of 4 */
	__be32 cookie;
	__u8 tid[STUN_TID_LEN];
};
_Static_assert(sizeof(struct stun_hdr) == STUN_HEADER_LEN, "STUN header is 20 bytes");

struct stun_attr_hdr {
	__be16 type;
	__be16 length;		/* value bytes, before padding to 4 */
};
_Static_assert(sizeof(struct stun_attr_hdr) == STUN_ATTR_HEADER_LEN, "attribute header is 4 bytes");

/* Value of (XOR-)MAPPED-ADDRESS and friends, IPv4 and IPv6 forms. */
struct stun_addr4 {
	__u8 reserved;
	__u8 family;		/* STUN_FAMILY_IPV4 */
	__be16 port;
	__be32 addr;
};
_Static_assert(sizeof(struct stun_addr4) == 8, "IPv4 address attribute value is 8 bytes");

struct stun_addr6 {
	__u8 reserved;
	__u8 family;		/* STUN_FAMILY_IPV6 */
	__be16 port;
	__u8 addr[16];
};
_Static_assert(sizeof(struct stun_addr6) == 20, "IPv6 address attribute value is 20 bytes");

enum stun_family {
	STUN_FAMILY_IPV4 = 0x01,
	STUN_FAMILY_IPV6 = 0x02,
};

/* The type field interleaves a 12-bit method with a 2-bit class (RFC 8489 §5). */
enum stun_class {
	STUN_CLASS_REQUEST	= 0x0000,
	STUN_CLASS_INDICATION	= 0x0010,
	STUN_CLASS_SUCCESS	= 0x0100,
	STUN_CLASS_ERROR	= 0x0110,
};
#define STUN_CLASS_MASK		0x0110

enum stun_method {
	STUN_METHOD_BINDING	= 0x001,
};

enum stun_msg_type {
	STUN_BINDING_REQUEST	= 0x0001,
	STUN_BINDING_INDICATION	= 0x0011,
	STUN_BINDING_SUCCESS	= 0x0101,
	STUN_BINDING_ERROR	= 0x0111,
};

enum stun_attr_type {
	/* comprehension-required: 0x0000-0x7FFF */
	STUN_ATTR_MAPPED_ADDRESS	= 0x0001,
	STUN_ATTR_CHANGE_REQUEST	= 0x0003,	/* RFC 5780 */
	STUN_ATTR_USERNAME		= 0x0006,
	STUN_ATTR_MESSAGE_INTEGRITY	= 0x0008,
	STUN_ATTR_ERROR_CODE		= 0x0009,
	STUN_ATTR_UNKNOWN_ATTRIBUTES	= 0x000A,
	STUN_ATTR_REALM			= 0x0014,
	STUN_ATTR_NONCE			= 0x0015,
	STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	STUN_ATTR_PASSWORD_ALGORITHM	= 0x001D,
	STUN_ATTR_USERHASH		= 0x001E,
	STUN_ATTR_XOR_MAPPED_ADDRESS	= 0x0020,
	STUN_ATTR_PADDING		= 0x0026,	/* RFC 5780 */
	STUN_ATTR_RESPONSE_PORT		= 0x0027,	/* RFC 5780 */
	/* comprehension-optional: 0x8000-0xFFFF */
	STUN_ATTR_PASSWORD_ALGORITHMS	= 0x8002,
	STUN_ATTR_ALTERNATE_DOMAIN	= 0x8003,
	STUN_ATTR_SOFTWARE		= 0x8022,
	STUN_ATTR_ALTERNATE_SERVER	= 0x8023,
	STUN_ATTR_FINGERPRINT		= 0x8028,
	STUN_ATTR_RESPONSE_ORIGIN	= 0x802B,	/* RFC 5780 */
	STUN_ATTR_OTHER_ADDRESS		= 0x802C,	/* RFC 5780 */
};
#define STUN_ATTR_OPTIONAL_MIN	0x8000

enum stun_error_code {
	STUN_ERR_TRY_ALTERNATE		= 300,
	STUN_ERR_BAD_REQUEST		= 400,
	STUN_ERR_UNAUTHORIZED		= 401,
	STUN_ERR_UNKNOWN_ATTRIBUTE	= 420,
	STUN_ERR_STALE_NONCE		= 438,
	STUN_ERR_SERVER_ERROR		= 500,
};

enum stun_change_flags {
	STUN_CHANGE_PORT	= 0x2,
	STUN_CHANGE_IP		= 0x4,
};

enum stun_password_algorithm {
	STUN_PASSWORD_ALG_MD5		= 0x0001,
	STUN_PASSWORD_ALG_SHA256	= 0x0002,
};

#endif
