/* SPDX-License-Identifier: MIT */
/*
 * The access protocol codec (wire format in bpf/access_proto.h): typed
 * adders and getters for pinhole's attributes on top of the STUN builder
 * and parser, message protection with a session token or pair key, the
 * pager that splits a routing table into datagrams of at most
 * PH_DATAGRAM_MAX bytes, and the pair key derivation.  Shared by the
 * server and the endpoint.  Nothing here logs.  Only OpenSSL allocates:
 * access_msg_finish()/access_msg_verify() through the STUN codec's
 * per-thread HMAC contexts (once per thread), access_pair_key() and
 * access_session_key() on every call (one-shot HMAC()).
 *
 * Reading is gated like the STUN codec: stun_msg_parse() bounds every
 * TLV, then access_attr_check_value() checks the format of one of our
 * attributes (every getter calls it before reading a field) and
 * access_msg_check_attrs() runs the whole-message checks a receiver
 * makes before acting on a request.  Getters return 0, -ENOENT (absent)
 * or -STUN_E_BAD_VALUE (malformed); adders return 0, -ENOSPC or -EINVAL
 * and leave the builder's error sticky, like the stun_build_* functions.
 */
#ifndef PINHOLE_ACCESS_H
#define PINHOLE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_proto.h"
#include "stun.h"

/* Integrity on every access message: the full 32-byte HMAC-SHA256. */
#define ACCESS_MI_ATTR_LEN (STUN_ATTR_HEADER_LEN + STUN_HMAC_SHA256_LEN)
#define ACCESS_FP_ATTR_LEN (STUN_ATTR_HEADER_LEN + 4)
/* What access_msg_finish() appends. */
#define ACCESS_TRAILER_LEN (ACCESS_MI_ATTR_LEN + ACCESS_FP_ATTR_LEN)
/* A routing-table page: header, SESSION, PAGE, then contacts, then the trailer. */
#define ACCESS_PAGE_OVERHEAD                                                                       \
	(STUN_HEADER_LEN + STUN_ATTR_HEADER_LEN + sizeof(struct ph_session_attr) +                 \
	 STUN_ATTR_HEADER_LEN + sizeof(struct ph_page_attr) + ACCESS_TRAILER_LEN)

/* --- methods and types ------------------------------------------------- */

/* Type field of an access (or Binding) @method in class @cls (STUN_CLASS_*). */
static inline uint16_t access_type(enum ph_method method, uint16_t cls)
{
	return stun_type_make((uint16_t)method, cls);
}

/* True for every enum ph_method value. */
bool access_method_known(uint16_t method);

/* "LOGIN", "FETCH", ..., "BINDING" for STUN's; "UNKNOWN" otherwise (for logs). */
const char *access_method_name(uint16_t method);

/* "request", "indication", "success", "error" for a STUN_CLASS_* value. */
const char *access_class_name(uint16_t cls);

/* --- validation: the one gate ------------------------------------------ */

/* True for every enum ph_attr_type value. */
bool access_attr_known(uint16_t type);

/* True for the attributes that may repeat: LOCAL_ADDRESS and CONTACT. */
bool access_attr_repeatable(uint16_t type);

/*
 * Check one of our attribute values (@type from enum ph_attr_type) before
 * anything reads it: exact lengths, address families, enum ranges, names
 * 1..PH_NAME_MAX bytes of printable ASCII without space or ':' (the
 * store's naming rule), text 1..PH_TEXT_MAX bytes of UTF-8 without control
 * characters.  0 or -STUN_E_BAD_VALUE; unknown types return -EINVAL.
 */
int access_attr_check_value(uint16_t type, const uint8_t *val, size_t len);

/*
 * Whole-message checks before acting on a parsed message, first failure
 * wins: what stun_msg_check_attrs() checks for STUN's own attributes
 * (ours are not unknown here), then a non-repeatable attribute of ours
 * that repeats (-STUN_E_DUPLICATE), then one with a malformed value
 * (-STUN_E_BAD_VALUE).  The offending type goes to *bad (may be NULL).
 */
int access_msg_check_attrs(const struct stun_msg *m, uint16_t *bad);

/* --- attributes -------------------------------------------------------- */

/* SESSION: the session id and its PH_TOKEN_LEN-byte token. */
int access_add_session(struct stun_builder *b, uint32_t id, const uint8_t token[PH_TOKEN_LEN]);
int access_get_session(const struct stun_msg *m, uint32_t *id, uint8_t token[PH_TOKEN_LEN]);

/* KEEPALIVE: timings in ms (host order). */
struct access_keepalive {
	uint32_t interval_ms;
	uint32_t jitter_ms;
	uint32_t timeout_ms;
};
/* Keepalive intervals a getter accepts: a server can ask no faster nor slower. */
#define ACCESS_KEEPALIVE_MIN_MS 1000
#define ACCESS_KEEPALIVE_MAX_MS 600000
/* Add: the values must pass the getter's check (-EINVAL otherwise). */
int access_add_keepalive(struct stun_builder *b, const struct access_keepalive *k);
/* Get: interval in [MIN, MAX], jitter < interval, timeout >= interval. */
int access_get_keepalive(const struct stun_msg *m, struct access_keepalive *k);

/* LOCAL_ADDRESS (repeatable, MAPPED-ADDRESS format). */
int access_add_local_address(struct stun_builder *b, const struct sockaddr *sa);
/*
 * Every LOCAL_ADDRESS, in wire order: up to @max into @out, the count of
 * all in *n.  0 (even when none: *n = 0) or -STUN_E_BAD_VALUE if any is
 * malformed.
 */
int access_get_local_addresses(const struct stun_msg *m, struct sockaddr_storage *out, size_t max,
			       size_t *n);

/* CLAIMED_ADDRESS (MAPPED-ADDRESS format). */
int access_add_claimed_address(struct stun_builder *b, const struct sockaddr *sa);
int access_get_claimed_address(const struct stun_msg *m, struct sockaddr_storage *ss);

/* PEER_ADDRESS (XOR-MAPPED-ADDRESS format, XORed with this message's cookie and tid). */
int access_add_peer_address(struct stun_builder *b, const struct sockaddr *sa);
int access_get_peer_address(const struct stun_msg *m, struct sockaddr_storage *ss);

/* NAT: mapping and filtering within their enums (others: -EINVAL / -STUN_E_BAD_VALUE). */
int access_add_nat(struct stun_builder *b, enum ph_nat_mapping map, enum ph_nat_filtering filt);
int access_get_nat(const struct stun_msg *m, enum ph_nat_mapping *map, enum ph_nat_filtering *filt);

/* PAGE: index and count; a non-zero count must exceed the index. */
int access_add_page(struct stun_builder *b, uint16_t index, uint16_t count);
int access_get_page(const struct stun_msg *m, uint16_t *index, uint16_t *count);

/* PEER_NAME: @name of @len bytes (the naming rule above). */
int access_add_peer_name(struct stun_builder *b, const char *name, size_t len);
/* Copied NUL-terminated into @name. */
int access_get_peer_name(const struct stun_msg *m, char name[PH_NAME_MAX + 1]);

/* TEXT: 1..PH_TEXT_MAX bytes of UTF-8 without control characters (tab allowed). */
int access_add_text(struct stun_builder *b, const char *text, size_t len);
/* Pointer into the message (not NUL-terminated) and its length. */
int access_get_text(const struct stun_msg *m, const char **text, size_t *len);

/* PUNCH_FLAGS: enum ph_punch_flags bits; unknown bits are refused both ways. */
int access_add_punch_flags(struct stun_builder *b, uint32_t flags);
int access_get_punch_flags(const struct stun_msg *m, uint32_t *flags);

/*
 * A CONTACT or PRESENCE entry in host form.  An absent address has
 * ss_family AF_UNSPEC.  @name is NUL-terminated.
 */
struct access_contact {
	enum ph_contact_state state;
	uint8_t flags; /* enum ph_contact_flags */
	enum ph_nat_mapping mapping;
	enum ph_nat_filtering filtering;
	char name[PH_NAME_MAX + 1];
	struct sockaddr_storage reflexive;
	struct sockaddr_storage local;
	uint8_t pair_key[PH_PAIR_KEY_LEN];
};

/* Bytes a CONTACT/PRESENCE attribute for @c takes on the wire, header and padding included. */
size_t access_contact_wire_len(const struct access_contact *c);

/* Append @c as a CONTACT attribute (-EINVAL if it would not pass the getter's check). */
int access_add_contact(struct stun_builder *b, const struct access_contact *c);
/* Append @c as a PRESENCE attribute. */
int access_add_presence(struct stun_builder *b, const struct access_contact *c);

/* Decode one CONTACT/PRESENCE value (checked first).  0 or -STUN_E_BAD_VALUE. */
int access_contact_decode(const uint8_t *val, size_t len, struct access_contact *c);

/*
 * Iterate CONTACT attributes: start with stun_attr_iter_init(@it), then
 * call until it returns 0 (no more).  Returns 1 with @c filled, or
 * -STUN_E_BAD_VALUE for a malformed one (the iterator has moved past it,
 * but a receiver should drop the whole message).
 */
int access_next_contact(const struct stun_msg *m, struct stun_attr_iter *it,
			struct access_contact *c);

/* The PRESENCE attribute: 0, -ENOENT, -STUN_E_BAD_VALUE. */
int access_get_presence(const struct stun_msg *m, struct access_contact *c);

/* --- protection -------------------------------------------------------- */

/*
 * Close a message: MESSAGE-INTEGRITY-SHA256 (32 bytes) keyed with @key
 * (the session token or a pair key), then FINGERPRINT.  Returns the
 * message length, or the builder's first error.
 */
int access_msg_finish(struct stun_builder *b, const uint8_t *key, size_t keylen);

/*
 * Verify a parsed message closed by access_msg_finish(): FINGERPRINT
 * present (stun_msg_parse() checked its CRC) and MESSAGE-INTEGRITY-SHA256
 * matching under @key.  0, -ENOENT (no integrity), -STUN_E_BAD_FINGERPRINT
 * (no fingerprint), -STUN_E_BAD_VALUE, -STUN_E_INTEGRITY, -ENOMEM.
 */
int access_msg_verify(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* --- paging ------------------------------------------------------------ */

/*
 * Append CONTACT attributes for @c[0..n) in order, stopping at the first
 * that would leave no room for access_msg_finish()'s trailer within
 * min(PH_DATAGRAM_MAX, the buffer).  Returns how many went in (0 when
 * even the first does not fit, which never happens for a message holding
 * only SESSION and PAGE), or -EINVAL for a contact that cannot be encoded
 * or the builder's sticky error.
 */
int access_page_fill(struct stun_builder *b, const struct access_contact *c, size_t n);

/*
 * The deterministic split of @c[0..n) into pages: each page is a message
 * of exactly header, SESSION, PAGE, contacts and the access_msg_finish()
 * trailer, filled greedily in order as access_page_fill() does, so
 * filling page i with its planned contacts takes all of them.  Returns the
 * page count (at least 1: no contacts is one empty page) and that page's
 * contacts [*first, *first + *count).  Page 0 always exists, so asking for
 * it is how to learn the count.  -ERANGE when @page is not below the page
 * count, -E2BIG for more pages than PAGE can number (65535), -EINVAL for a
 * contact that cannot be encoded.
 */
int access_page_plan(const struct access_contact *c, size_t n, size_t page, size_t *first,
		     size_t *count);

/* --- pair keys --------------------------------------------------------- */

/*
 * The key two sessions share: HMAC-SHA256(@secret, "pinhole pair" ||
 * id || token of the lower id || id || token of the higher), ids
 * big-endian.  Order-independent, so both ends receive the same key; the
 * tokens make it new for every pair of sessions even when a slot's id comes
 * round again.  0, -EINVAL (no secret or token), -ENOMEM (OpenSSL).
 */
int access_pair_key(const uint8_t *secret, size_t len, uint32_t sess_a,
		    const uint8_t tok_a[PH_TOKEN_LEN], uint32_t sess_b,
		    const uint8_t tok_b[PH_TOKEN_LEN], uint8_t out[PH_PAIR_KEY_LEN]);

/*
 * The key protecting every message between an endpoint and the server after
 * login: HMAC-SHA256(@lt_key, "pinhole session" || @nonce || id || @token),
 * id big-endian.  The token travels in clear (the kernel checks keepalives
 * with it); this key never does, so seeing a keepalive does not let anyone
 * forge a PUNCH or PRESENCE.  0, -EINVAL, -ENOMEM.
 */
int access_session_key(const uint8_t *lt_key, size_t lt_len, const char *nonce, size_t nonce_len,
		       uint32_t id, const uint8_t token[PH_TOKEN_LEN], uint8_t out[PH_PAIR_KEY_LEN]);

#endif
