/* SPDX-License-Identifier: MIT */
/*
 * STUN codec (RFC 8489, RFC 5780): a zero-copy parser and a builder over a
 * caller buffer.  Wire constants live in bpf/stun_proto.h, shared with the
 * XDP program.  Nothing here allocates on the parse/build path except the
 * HMAC contexts of the integrity functions; nothing logs.
 *
 * Parsing is two-stage.  stun_msg_parse() is the one gate: it checks the
 * header and walks every attribute TLV, so that afterwards every offset in
 * struct stun_msg is known to lie inside the buffer.  Typed getters then
 * read values and check their format (-STUN_E_BAD_VALUE when it is wrong).
 *
 * Errors are negative: either -errno (-ENOENT: attribute absent, -ENOSPC:
 * builder out of room, -EINVAL: bad argument) or -STUN_E_* below, which lie
 * above the errno range.  stun_strerror() names both.
 */
#ifndef PINHOLE_STUN_H
#define PINHOLE_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "stun_proto.h"

enum stun_error {
	STUN_E_TRUNCATED = 4096,     /* shorter than 20 bytes or than its length field says */
	STUN_E_NOT_STUN,	     /* top two bits of the type are not zero */
	STUN_E_BAD_COOKIE,	     /* magic cookie missing */
	STUN_E_BAD_LENGTH,	     /* length field not a multiple of 4 */
	STUN_E_TRAILING,	     /* datagram longer than the length field says */
	STUN_E_ATTR_OVERRUN,	     /* an attribute value (or its padding) runs past the message */
	STUN_E_BAD_FINGERPRINT,	     /* FINGERPRINT wrong length or wrong CRC */
	STUN_E_FINGERPRINT_NOT_LAST, /* attributes follow FINGERPRINT */
	STUN_E_DUPLICATE,	     /* a known comprehension-required attribute repeats */
	STUN_E_UNKNOWN_REQUIRED,     /* unknown comprehension-required attribute */
	STUN_E_BAD_VALUE,	     /* a known attribute's value has the wrong format */
	STUN_E_INTEGRITY,	     /* MESSAGE-INTEGRITY(-SHA256) does not verify */
	STUN_E_MAX,
};

/* Human-readable text for a negative code from this module (or any -errno). */
const char *stun_strerror(int err);

/* --- message type: 12-bit method interleaved with the 2-bit class ------- */

/* Type field for @method (0..0xFFF) and @cls (STUN_CLASS_*). */
static inline uint16_t stun_type_make(uint16_t method, uint16_t cls)
{
	return (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) |
	       (cls & STUN_CLASS_MASK);
}

/* The 12-bit method of a type field. */
static inline uint16_t stun_type_method(uint16_t type)
{
	return (type & 0x000F) | ((type & 0x00E0) >> 1) | ((type & 0x3E00) >> 2);
}

/* The class of a type field, one of STUN_CLASS_*. */
static inline uint16_t stun_type_class(uint16_t type)
{
	return type & STUN_CLASS_MASK;
}

/* True for comprehension-required types (0x0000-0x7FFF). */
static inline bool stun_attr_required(uint16_t type)
{
	return type < STUN_ATTR_OPTIONAL_MIN;
}

/* True when this codec understands @type (every type in stun_proto.h). */
bool stun_attr_known(uint16_t type);

/* Limits from RFC 8489 §14 on received values, in bytes. */
#define STUN_USERNAME_MAX 512 /* RFC 5389 "less than 513"; 8489 senders use < 509 */
#define STUN_REALM_MAX 763    /* 127 characters of up to 6 bytes */
#define STUN_NONCE_MAX 763
#define STUN_SOFTWARE_MAX 763
#define STUN_REASON_MAX 763
#define STUN_ALT_DOMAIN_MAX 255
#define STUN_USERHASH_LEN 32
#define STUN_HMAC_SHA1_LEN 20
#define STUN_HMAC_SHA256_LEN 32
#define STUN_HMAC_SHA256_MIN 16 /* shortest truncation §14.6 allows */
#define STUN_KEY_MAX 32		/* longest long-term key (SHA-256) */

/* --- parser ------------------------------------------------------------ */

/* Slots of the first-occurrence table: one per attribute type the codec knows. */
enum stun_attr_slot {
	STUN_SLOT_MAPPED_ADDRESS,
	STUN_SLOT_CHANGE_REQUEST,
	STUN_SLOT_USERNAME,
	STUN_SLOT_MESSAGE_INTEGRITY,
	STUN_SLOT_ERROR_CODE,
	STUN_SLOT_UNKNOWN_ATTRIBUTES,
	STUN_SLOT_REALM,
	STUN_SLOT_NONCE,
	STUN_SLOT_MESSAGE_INTEGRITY_SHA256,
	STUN_SLOT_PASSWORD_ALGORITHM,
	STUN_SLOT_USERHASH,
	STUN_SLOT_XOR_MAPPED_ADDRESS,
	STUN_SLOT_PADDING,
	STUN_SLOT_RESPONSE_PORT,
	STUN_SLOT_PASSWORD_ALGORITHMS,
	STUN_SLOT_ALTERNATE_DOMAIN,
	STUN_SLOT_SOFTWARE,
	STUN_SLOT_ALTERNATE_SERVER,
	STUN_SLOT_FINGERPRINT,
	STUN_SLOT_RESPONSE_ORIGIN,
	STUN_SLOT_OTHER_ADDRESS,
	STUN_SLOT_MAX,
};

/* Distinct unknown comprehension-required types remembered per message. */
#define STUN_MSG_MAX_UNKNOWN 32

/*
 * A parsed message: a view into the caller's buffer, which must outlive it.
 * Offsets are of attribute headers from the start of the message; 0 means
 * absent (no attribute can start inside the 20-byte header).  Attributes
 * that RFC 8489 §14.5/§14.6 says to ignore (anything after
 * MESSAGE-INTEGRITY but MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, anything
 * after MESSAGE-INTEGRITY-SHA256 but FINGERPRINT) are length-checked but
 * not recorded: they count in n_ignored only.
 */
struct stun_msg {
	const uint8_t *buf;
	size_t len; /* 20 + the header's length field */
	uint16_t type;
	const uint8_t *tid;   /* STUN_TID_LEN bytes inside buf */
	bool has_fingerprint; /* present, last and verified */
	uint32_t slot_off[STUN_SLOT_MAX];
	uint32_t dup_slots;			/* bit per slot seen more than once */
	uint16_t unknown[STUN_MSG_MAX_UNKNOWN]; /* first-seen order, each once */
	unsigned int n_unknown;
	bool unknown_truncated; /* more distinct unknowns than fit */
	unsigned int n_attrs;	/* attributes recorded (not ignored) */
	unsigned int n_ignored;
};

/*
 * Validate @buf (one datagram of @len bytes) as a STUN message and fill @m.
 * Checks, in this order: size >= 20, top two bits zero, magic cookie,
 * length field a multiple of 4 and equal to len - 20, every attribute's
 * value plus padding inside the message, then FINGERPRINT (if present:
 * last, length 4, CRC right).  Returns 0 or -STUN_E_*; on error @m is
 * unusable.  Duplicates and unknown attributes do not fail the parse: see
 * stun_msg_check_attrs().
 */
int stun_msg_parse(struct stun_msg *m, const uint8_t *buf, size_t len);

/*
 * Semantic checks a server makes before acting on a request, first failure
 * wins: a known comprehension-required attribute repeated
 * (-STUN_E_DUPLICATE), a known comprehension-required attribute with a
 * malformed value (-STUN_E_BAD_VALUE), an unknown comprehension-required
 * attribute (-STUN_E_UNKNOWN_REQUIRED).  The offending type goes to *bad
 * (may be NULL).  Comprehension-optional attributes are not checked: a
 * receiver ignores what it does not need (their getters still validate).
 */
int stun_msg_check_attrs(const struct stun_msg *m, uint16_t *bad);

/* Check one attribute value against its type's format; unknown types pass. */
int stun_attr_check_value(uint16_t type, const uint8_t *val, size_t len);

/* Walk recorded attributes in wire order (ignored ones are skipped). */
struct stun_attr_iter {
	uint32_t off;
	uint8_t seen; /* private: integrity attributes passed so far */
};
/* Position @it before the first attribute. */
void stun_attr_iter_init(struct stun_attr_iter *it);
/* Next attribute of a parsed @m: returns 1 and fills the outputs (value points into the
 * message), 0 at the end. */
int stun_msg_next_attr(const struct stun_msg *m, struct stun_attr_iter *it, uint16_t *type,
		       const uint8_t **val, uint16_t *len);

/* First occurrence of a known @type: 0, -ENOENT, or -EINVAL if not known. */
int stun_msg_attr(const struct stun_msg *m, uint16_t type, const uint8_t **val, uint16_t *len);
/* Whether a known @type was recorded (unknown types: false). */
bool stun_msg_has(const struct stun_msg *m, uint16_t type);

/*
 * Address attributes into @ss (AF_INET / AF_INET6, port in network order).
 * XOR-MAPPED-ADDRESS is un-XORed; MAPPED-ADDRESS, ALTERNATE-SERVER,
 * RESPONSE-ORIGIN and OTHER-ADDRESS are plain.  0, -ENOENT,
 * -STUN_E_BAD_VALUE (length/family), -EINVAL (not an address type).
 */
int stun_msg_get_addr(const struct stun_msg *m, uint16_t type, struct sockaddr_storage *ss);

/* XOR-MAPPED-ADDRESS, un-XORed: see stun_msg_get_addr(). */
static inline int stun_msg_get_xor_addr(const struct stun_msg *m, struct sockaddr_storage *ss)
{
	return stun_msg_get_addr(m, STUN_ATTR_XOR_MAPPED_ADDRESS, ss);
}

/*
 * USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN: pointer into the
 * message (not NUL-terminated) and its length, limits checked.
 */
int stun_msg_get_string(const struct stun_msg *m, uint16_t type, const char **s, size_t *len);

/* ERROR-CODE: *code = class * 100 + number (300..699), reason not NUL-terminated. */
int stun_msg_get_error(const struct stun_msg *m, int *code, const char **reason,
		       size_t *reason_len);

/* UNKNOWN-ATTRIBUTES: up to @max types into @types, count of all in *n. */
int stun_msg_get_unknown_attrs(const struct stun_msg *m, uint16_t *types, size_t max, size_t *n);

/* CHANGE-REQUEST flags (STUN_CHANGE_IP | STUN_CHANGE_PORT; other bits kept). */
int stun_msg_get_change_request(const struct stun_msg *m, uint32_t *flags);

/* RESPONSE-PORT, host order.  Value length 2 or 4 accepted (both are seen). */
int stun_msg_get_response_port(const struct stun_msg *m, uint16_t *port);

/* USERHASH: pointer to its STUN_USERHASH_LEN bytes. */
int stun_msg_get_userhash(const struct stun_msg *m, const uint8_t **hash);

/* PASSWORD-ALGORITHM: the algorithm number (parameters are not used by MD5/SHA-256). */
int stun_msg_get_password_algorithm(const struct stun_msg *m, uint16_t *alg);

/* PASSWORD-ALGORITHMS: up to @max numbers into @algs, count of all in *n. */
int stun_msg_get_password_algorithms(const struct stun_msg *m, uint16_t *algs, size_t max,
				     size_t *n);

/*
 * Verify MESSAGE-INTEGRITY (HMAC-SHA1) with @key: 0 when it matches,
 * -ENOENT when absent, -STUN_E_BAD_VALUE when malformed, -STUN_E_INTEGRITY
 * on mismatch, -ENOMEM if OpenSSL fails.  Comparison is constant time.
 */
int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* Same for MESSAGE-INTEGRITY-SHA256, comparing its (16..32-byte) truncated value. */
int stun_msg_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen);

/* --- credentials (RFC 8489 §9.2.2, §14.4) ------------------------------ */

/*
 * Long-term key: MD5 or SHA-256 of username ":" realm ":" password.  The
 * strings must already be OpaqueString-prepared (RFC 8265): this function
 * hashes bytes.  Writes 16 or 32 bytes to @key (room for STUN_KEY_MAX);
 * returns the key length, -EINVAL for an unknown @alg, -ENOMEM on failure.
 */
int stun_long_term_key(uint16_t alg, const char *user, size_t ulen, const char *realm, size_t rlen,
		       const char *pass, size_t plen, uint8_t key[STUN_KEY_MAX]);

/* USERHASH value: SHA-256(username ":" realm).  0 or -ENOMEM. */
int stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen,
		  uint8_t hash[STUN_USERHASH_LEN]);

/* Fill @tid with 96 cryptographically random bits.  0 or -EIO. */
int stun_tid_random(uint8_t tid[STUN_TID_LEN]);

/* Recommended reason phrase for @code ("Bad Request", ...), "" if none. */
const char *stun_error_reason(int code);

/* --- builder ----------------------------------------------------------- */

/*
 * Builds one message in a caller buffer.  Never writes past cap.  The
 * first failure is sticky: later calls return it and do nothing, and
 * stun_build_finish() reports it, so callers may check only at the end.
 * The header's length field is kept current after every call.  Order is
 * enforced: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT may follow, after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT,
 * after FINGERPRINT nothing (-EINVAL).
 */
struct stun_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
	uint8_t state;	  /* private: integrity/fingerprint flags */
	uint8_t pad_byte; /* 0 per RFC 8489; settable to replay RFC 5769 vectors */
};

/* Start a message of @type with transaction id @tid (12 bytes). 0/-ENOSPC/-EINVAL. */
int stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		    const uint8_t *tid);

/* Any attribute from raw bytes (padding added). 0, -ENOSPC, -EINVAL. */
int stun_build_add(struct stun_builder *b, uint16_t type, const void *val, size_t len);

/*
 * Address attribute from @sa (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address is written as IPv6, convert first if IPv4 is meant).
 * XOR-MAPPED-ADDRESS is XORed with the cookie and transaction id.
 */
int stun_build_add_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa);

/* XOR-MAPPED-ADDRESS of @sa: see stun_build_add_addr(). */
static inline int stun_build_add_xor_addr(struct stun_builder *b, const struct sockaddr *sa)
{
	return stun_build_add_addr(b, STUN_ATTR_XOR_MAPPED_ADDRESS, sa);
}

/* USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN with their length limits. */
int stun_build_add_string(struct stun_builder *b, uint16_t type, const char *s, size_t len);

/* ERROR-CODE for @code (300..699); @reason NULL uses stun_error_reason(code). */
int stun_build_add_error(struct stun_builder *b, int code, const char *reason);

/*
 * The typed adders below return 0, -ENOSPC (no room, or the message would
 * pass the 16-bit length) or -EINVAL (bad argument or order), like
 * stun_build_add().
 */

/* UNKNOWN-ATTRIBUTES listing @n types. */
int stun_build_add_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n);
/* CHANGE-REQUEST with @flags (STUN_CHANGE_IP | STUN_CHANGE_PORT). */
int stun_build_add_change_request(struct stun_builder *b, uint32_t flags);
/* RESPONSE-PORT: the port then two zero bytes (value length 4). */
int stun_build_add_response_port(struct stun_builder *b, uint16_t port);
/* USERHASH from stun_userhash(). */
int stun_build_add_userhash(struct stun_builder *b, const uint8_t hash[STUN_USERHASH_LEN]);
/* PASSWORD-ALGORITHM / PASSWORD-ALGORITHMS without parameters (none defined). */
int stun_build_add_password_algorithm(struct stun_builder *b, uint16_t alg);
int stun_build_add_password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n);
/* PADDING of @len bytes of pad_byte. */
int stun_build_add_padding(struct stun_builder *b, size_t len);

/* MESSAGE-INTEGRITY (HMAC-SHA1 keyed with @key). */
int stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen);
/* MESSAGE-INTEGRITY-SHA256 truncated to @trunc bytes (16..32, multiple of 4; 0 = 32). */
int stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen,
				size_t trunc);
/* FINGERPRINT; must be the last attribute. */
int stun_build_fingerprint(struct stun_builder *b);

/* Message length in bytes, or the first error of the build. */
int stun_build_finish(const struct stun_builder *b);

#endif
