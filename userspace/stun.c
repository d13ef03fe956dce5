// SPDX-License-Identifier: MIT
/*
 * STUN codec: see stun.h.  HMACs and digests come from OpenSSL's EVP API,
 * the FINGERPRINT CRC from zlib.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <zlib.h>

#include "stun.h"
#include "wire.h"

/* Largest value the 16-bit header length field can describe, kept a multiple of 4. */
#define BODY_MAX 0xFFFCu

static const char *const stun_err_text[STUN_E_MAX - STUN_E_TRUNCATED] = {
    [STUN_E_TRUNCATED - STUN_E_TRUNCATED] = "message truncated",
    [STUN_E_NOT_STUN - STUN_E_TRUNCATED] = "not STUN (top bits set)",
    [STUN_E_BAD_COOKIE - STUN_E_TRUNCATED] = "bad magic cookie",
    [STUN_E_BAD_LENGTH - STUN_E_TRUNCATED] = "length field not a multiple of 4",
    [STUN_E_TRAILING - STUN_E_TRUNCATED] = "bytes after the message's declared end",
    [STUN_E_ATTR_OVERRUN - STUN_E_TRUNCATED] = "attribute overruns the message",
    [STUN_E_BAD_FINGERPRINT - STUN_E_TRUNCATED] = "bad FINGERPRINT",
    [STUN_E_FINGERPRINT_NOT_LAST - STUN_E_TRUNCATED] = "FINGERPRINT is not the last attribute",
    [STUN_E_DUPLICATE - STUN_E_TRUNCATED] = "duplicate attribute",
    [STUN_E_UNKNOWN_REQUIRED - STUN_E_TRUNCATED] = "unknown comprehension-required attribute",
    [STUN_E_BAD_VALUE - STUN_E_TRUNCATED] = "malformed attribute value",
    [STUN_E_INTEGRITY - STUN_E_TRUNCATED] = "message integrity check failed",
};

const char *stun_strerror(int err)
{
	/* Widened first: -INT_MIN does not fit an int. */
	long e = err < 0 ? -(long)err : err;

	if (e >= STUN_E_TRUNCATED && e < STUN_E_MAX)
		return stun_err_text[e - STUN_E_TRUNCATED];
	if (e == 0)
		return "success";
	if (e > INT_MAX)
		return "unknown error";
	return strerror((int)e);
}

const char *stun_error_reason(int code)
{
	switch (code) {
	case STUN_ERR_TRY_ALTERNATE:
		return "Try Alternate";
	case STUN_ERR_BAD_REQUEST:
		return "Bad Request";
	case STUN_ERR_UNAUTHORIZED:
		return "Unauthenticated";
	case STUN_ERR_UNKNOWN_ATTRIBUTE:
		return "Unknown Attribute";
	case STUN_ERR_STALE_NONCE:
		return "Stale Nonce";
	case STUN_ERR_SERVER_ERROR:
		return "Server Error";
	}
	return "";
}

static int attr_slot(uint16_t type)
{
	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
		return STUN_SLOT_MAPPED_ADDRESS;
	case STUN_ATTR_CHANGE_REQUEST:
		return STUN_SLOT_CHANGE_REQUEST;
	case STUN_ATTR_USERNAME:
		return STUN_SLOT_USERNAME;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		return STUN_SLOT_MESSAGE_INTEGRITY;
	case STUN_ATTR_ERROR_CODE:
		return STUN_SLOT_ERROR_CODE;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		return STUN_SLOT_UNKNOWN_ATTRIBUTES;
	case STUN_ATTR_REALM:
		return STUN_SLOT_REALM;
	case STUN_ATTR_NONCE:
		return STUN_SLOT_NONCE;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		return STUN_SLOT_MESSAGE_INTEGRITY_SHA256;
	case STUN_ATTR_PASSWORD_ALGORITHM:
		return STUN_SLOT_PASSWORD_ALGORITHM;
	case STUN_ATTR_USERHASH:
		return STUN_SLOT_USERHASH;
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
		return STUN_SLOT_XOR_MAPPED_ADDRESS;
	case STUN_ATTR_PADDING:
		return STUN_SLOT_PADDING;
	case STUN_ATTR_RESPONSE_PORT:
		return STUN_SLOT_RESPONSE_PORT;
	case STUN_ATTR_PASSWORD_ALGORITHMS:
		return STUN_SLOT_PASSWORD_ALGORITHMS;
	case STUN_ATTR_ALTERNATE_DOMAIN:
		return STUN_SLOT_ALTERNATE_DOMAIN;
	case STUN_ATTR_SOFTWARE:
		return STUN_SLOT_SOFTWARE;
	case STUN_ATTR_ALTERNATE_SERVER:
		return STUN_SLOT_ALTERNATE_SERVER;
	case STUN_ATTR_FINGERPRINT:
		return STUN_SLOT_FINGERPRINT;
	case STUN_ATTR_RESPONSE_ORIGIN:
		return STUN_SLOT_RESPONSE_ORIGIN;
	case STUN_ATTR_OTHER_ADDRESS:
		return STUN_SLOT_OTHER_ADDRESS;
	}
	return -1;
}

bool stun_attr_known(uint16_t type)
{
	return attr_slot(type) >= 0;
}

/* Integrity attributes passed so far decide what RFC 8489 §14.5/§14.6 ignores. */
enum {
	SEEN_MI = 1,
	SEEN_MI256 = 2,
};

/* Whether an attribute of @type is processed, given what came before; updates *seen. */
static bool attr_processed(uint16_t type, uint8_t *seen)
{
	if (*seen & SEEN_MI256) {
		if (type != STUN_ATTR_FINGERPRINT)
			return false;
	} else if (*seen & SEEN_MI) {
		if (type != STUN_ATTR_FINGERPRINT && type != STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
			return false;
	}
	if (type == STUN_ATTR_MESSAGE_INTEGRITY)
		*seen |= SEEN_MI;
	else if (type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256)
		*seen |= SEEN_MI256;
	return true;
}

static uint32_t fingerprint_crc(const uint8_t *buf, size_t len)
{
	return (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)len) ^ STUN_FINGERPRINT_XOR;
}

static void note_unknown(struct stun_msg *m, uint16_t type)
{
	unsigned int i;

	for (i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return;
	if (m->n_unknown == STUN_MSG_MAX_UNKNOWN) {
		m->unknown_truncated = true;
		return;
	}
	m->unknown[m->n_unknown++] = type;
}

int stun_msg_parse(struct stun_msg *m, const uint8_t *buf, size_t len)
{
	size_t body, off, fp_off = 0;
	uint8_t seen = 0;

	memset(m, 0, sizeof(*m));
	if (!buf || len < STUN_HEADER_LEN)
		return -STUN_E_TRUNCATED;
	if (buf[0] & 0xC0)
		return -STUN_E_NOT_STUN;
	if (wire_rd32(buf + 4) != STUN_MAGIC_COOKIE)
		return -STUN_E_BAD_COOKIE;
	body = wire_rd16(buf + 2);
	if (body & 3)
		return -STUN_E_BAD_LENGTH;
	if (STUN_HEADER_LEN + body > len)
		return -STUN_E_TRUNCATED;
	if (STUN_HEADER_LEN + body < len)
		return -STUN_E_TRAILING;

	/*
	 * The one gate.  Every attribute is bounds-checked here, before any
	 * getter reads it: a lying length would otherwise make a getter read
	 * past the datagram (leaking memory into a reply, or crashing), or
	 * desynchronise the walk so that bytes inside one attribute's value
	 * are taken for the next attribute's header.  The body length is a
	 * multiple of 4 and so is every step, so the remaining length is never
	 * 1..3 and an attribute header always fits when anything remains.
	 */
	for (off = STUN_HEADER_LEN; off < len;) {
		uint16_t type = wire_rd16(buf + off);
		size_t alen = wire_rd16(buf + off + 2);
		size_t room = len - off - STUN_ATTR_HEADER_LEN;
		int slot;

		/*
		 * room is a multiple of 4, so a value that fits has room for its
		 * padding too: one check covers both.
		 */
		if (wire_pad4(alen) > room)
			return -STUN_E_ATTR_OVERRUN;
		if (type == STUN_ATTR_FINGERPRINT && !fp_off)
			fp_off = off;
		if (!attr_processed(type, &seen)) {
			m->n_ignored++;
		} else {
			m->n_attrs++;
			slot = attr_slot(type);
			if (slot < 0) {
				if (stun_attr_required(type))
					note_unknown(m, type);
			} else if (m->slot_off[slot]) {
				m->dup_slots |= 1u << slot;
			} else {
				m->slot_off[slot] = (uint32_t)off;
			}
		}
		off += STUN_ATTR_HEADER_LEN + wire_pad4(alen);
	}

	/* Only once every length is known good: FINGERPRINT must close the message. */
	if (fp_off) {
		size_t fp_len = wire_rd16(buf + fp_off + 2);

		if (fp_off + STUN_ATTR_HEADER_LEN + wire_pad4(fp_len) != len)
			return -STUN_E_FINGERPRINT_NOT_LAST;
		if (fp_len != 4)
			return -STUN_E_BAD_FINGERPRINT;
		if (wire_rd32(buf + fp_off + 4) != fingerprint_crc(buf, fp_off))
			return -STUN_E_BAD_FINGERPRINT;
		m->has_fingerprint = true;
	}

	m->buf = buf;
	m->len = len;
	m->type = wire_rd16(buf);
	m->tid = buf + 8;
	return 0;
}

static int check_addr(const uint8_t *val, size_t len)
{
	if (len == sizeof(struct stun_addr4) && val[1] == STUN_FAMILY_IPV4)
		return 0;
	if (len == sizeof(struct stun_addr6) && val[1] == STUN_FAMILY_IPV6)
		return 0;
	return -STUN_E_BAD_VALUE;
}

/* PASSWORD-ALGORITHMS is a list of {alg, param length, params padded to 4}. */
static int walk_algorithms(const uint8_t *val, size_t len, uint16_t *algs, size_t max, size_t *n)
{
	size_t off = 0, count = 0;

	if (len < 4 || len & 3)
		return -STUN_E_BAD_VALUE;
	while (off < len) {
		size_t plen;

		if (len - off < 4)
			return -STUN_E_BAD_VALUE;
		plen = wire_rd16(val + off + 2);
		if (wire_pad4(plen) > len - off - 4)
			return -STUN_E_BAD_VALUE;
		if (algs && count < max)
			algs[count] = wire_rd16(val + off);
		count++;
		off += 4 + wire_pad4(plen);
	}
	if (n)
		*n = count;
	return 0;
}

int stun_attr_check_value(uint16_t type, const uint8_t *val, size_t len)
{
	bool ok;

	switch (type) {
	case STUN_ATTR_MAPPED_ADDRESS:
	case STUN_ATTR_XOR_MAPPED_ADDRESS:
	case STUN_ATTR_ALTERNATE_SERVER:
	case STUN_ATTR_RESPONSE_ORIGIN:
	case STUN_ATTR_OTHER_ADDRESS:
		return check_addr(val, len);
	case STUN_ATTR_CHANGE_REQUEST:
		ok = len == 4;
		break;
	case STUN_ATTR_USERNAME:
		ok = len <= STUN_USERNAME_MAX;
		break;
	case STUN_ATTR_MESSAGE_INTEGRITY:
		ok = len == STUN_HMAC_SHA1_LEN;
		break;
	case STUN_ATTR_ERROR_CODE:
		/* class 3..6 and number 0..99 (RFC 8489 §14.8) */
		ok = len >= 4 && len <= 4 + STUN_REASON_MAX && (val[2] & 7) >= 3 &&
		     (val[2] & 7) <= 6 && val[3] < 100;
		break;
	case STUN_ATTR_UNKNOWN_ATTRIBUTES:
		ok = !(len & 1);
		break;
	case STUN_ATTR_REALM:
		ok = len <= STUN_REALM_MAX;
		break;
	case STUN_ATTR_NONCE:
		ok = len <= STUN_NONCE_MAX;
		break;
	case STUN_ATTR_SOFTWARE:
		ok = len <= STUN_SOFTWARE_MAX;
		break;
	case STUN_ATTR_ALTERNATE_DOMAIN:
		ok = len <= STUN_ALT_DOMAIN_MAX;
		break;
	case STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
		ok = len >= STUN_HMAC_SHA256_MIN && len <= STUN_HMAC_SHA256_LEN && !(len & 3);
		break;
	case STUN_ATTR_PASSWORD_ALGORITHM:
		/* one {alg, param length, params}: the params fill the value */
		ok = len >= 4 && 4 + (size_t)wire_rd16(val + 2) <= len && len <= 4 + wire_pad4(wire_rd16(val + 2));
		break;
	case STUN_ATTR_PASSWORD_ALGORITHMS:
		return walk_algorithms(val, len, NULL, 0, NULL);
	case STUN_ATTR_USERHASH:
		ok = len == STUN_USERHASH_LEN;
		break;
	case STUN_ATTR_RESPONSE_PORT:
		/* RFC 5780 §7.5 "port followed by 2 bytes of padding": both readings are in use */
		ok = len == 2 || len == 4;
		break;
	case STUN_ATTR_FINGERPRINT:
		ok = len == 4;
		break;
	default:
		/* PADDING takes any value; unknown types have no format to check. */
		ok = true;
	}
	return ok ? 0 : -STUN_E_BAD_VALUE;
}

int stun_msg_check_attrs(const struct stun_msg *m, uint16_t *bad)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len;
	int err;

	/* Duplicates first: which copy to validate would otherwise be a guess. */
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		int slot = attr_slot(type);

		if (slot >= 0 && stun_attr_required(type) && (m->dup_slots & (1u << slot))) {
			if (bad)
				*bad = type;
			return -STUN_E_DUPLICATE;
		}
	}
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		if (!stun_attr_required(type) || !stun_attr_known(type))
			continue;
		err = stun_attr_check_value(type, val, len);
		if (err) {
			if (bad)
				*bad = type;
			return err;
		}
	}
	if (m->n_unknown) {
		if (bad)
			*bad = m->unknown[0];
		return -STUN_E_UNKNOWN_REQUIRED;
	}
	return 0;
}

void stun_attr_iter_init(struct stun_attr_iter *it)
{
	it->off = STUN_HEADER_LEN;
	it->seen = 0;
}

int stun_msg_next_attr(const struct stun_msg *m, struct stun_attr_iter *it, uint16_t *type,
		       const uint8_t **val, uint16_t *len)
{
	/* Lengths were all checked by stun_msg_parse(): the walk can trust them. */
	while (it->off + STUN_ATTR_HEADER_LEN <= m->len) {
		const uint8_t *a = m->buf + it->off;
		uint16_t t = wire_rd16(a), l = wire_rd16(a + 2);

		it->off += STUN_ATTR_HEADER_LEN + wire_pad4(l);
		if (!attr_processed(t, &it->seen))
			continue;
		*type = t;
		*val = a + STUN_ATTR_HEADER_LEN;
		*len = l;
		return 1;
	}
	return 0;
}

int stun_msg_attr(const struct stun_msg *m, uint16_t type, const uint8_t **val, uint16_t *len)
{
	int slot = attr_slot(type);
	uint32_t off;

	if (slot < 0)
		return -EINVAL;
	off = m->slot_off[slot];
	if (!off)
		return -ENOENT;
	*val = m->buf + off + STUN_ATTR_HEADER_LEN;
	*len = wire_rd16(m->buf + off + 2);
	return 0;
}

bool stun_msg_has(const struct stun_msg *m, uint16_t type)
{
	int slot = attr_slot(type);

	return slot >= 0 && m->slot_off[slot];
}

/* Fetch a known attribute and check its format in one step. */
static int get_checked(const struct stun_msg *m, uint16_t type, const uint8_t **val, uint16_t *len)
{
	int err = stun_msg_attr(m, type, val, len);

	if (err)
		return err;
	return stun_attr_check_value(type, *val, *len);
}

int stun_msg_get_addr(const struct stun_msg *m, uint16_t type, struct sockaddr_storage *ss)
{
	bool xored = type == STUN_ATTR_XOR_MAPPED_ADDRESS;
	const uint8_t *val;
	uint16_t len, port;
	int err, i;

	if (type != STUN_ATTR_MAPPED_ADDRESS && !xored && type != STUN_ATTR_ALTERNATE_SERVER &&
	    type != STUN_ATTR_RESPONSE_ORIGIN && type != STUN_ATTR_OTHER_ADDRESS)
		return -EINVAL;
	err = get_checked(m, type, &val, &len);
	if (err)
		return err;

	memset(ss, 0, sizeof(*ss));
	port = wire_rd16(val + 2);
	if (xored)
		port ^= STUN_MAGIC_COOKIE >> 16;
	if (val[1] == STUN_FAMILY_IPV4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		uint32_t a = wire_rd32(val + 4);

		if (xored)
			a ^= STUN_MAGIC_COOKIE;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(a);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		/* IPv6 is XORed with the cookie followed by the transaction id. */
		const uint8_t *mask = m->buf + 4;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		for (i = 0; i < 16; i++)
			sin6->sin6_addr.s6_addr[i] = val[4 + i] ^ (xored ? mask[i] : 0);
	}
	return 0;
}

int stun_msg_get_string(const struct stun_msg *m, uint16_t type, const char **s, size_t *len)
{
	const uint8_t *val;
	uint16_t l;
	int err;

	if (type != STUN_ATTR_USERNAME && type != STUN_ATTR_REALM && type != STUN_ATTR_NONCE &&
	    type != STUN_ATTR_SOFTWARE && type != STUN_ATTR_ALTERNATE_DOMAIN)
		return -EINVAL;
	err = get_checked(m, type, &val, &l);
	if (err)
		return err;
	*s = (const char *)val;
	*len = l;
	return 0;
}

int stun_msg_get_error(const struct stun_msg *m, int *code, const char **reason, size_t *reason_len)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, STUN_ATTR_ERROR_CODE, &val, &len);

	if (err)
		return err;
	*code = (val[2] & 7) * 100 + val[3];
	if (reason)
		*reason = (const char *)val + 4;
	if (reason_len)
		*reason_len = len - 4u;
	return 0;
}

int stun_msg_get_unknown_attrs(const struct stun_msg *m, uint16_t *types, size_t max, size_t *n)
{
	const uint8_t *val;
	uint16_t len;
	size_t i;
	int err = get_checked(m, STUN_ATTR_UNKNOWN_ATTRIBUTES, &val, &len);

	if (err)
		return err;
	for (i = 0; i < len / 2u && i < max; i++)
		types[i] = wire_rd16(val + 2 * i);
	*n = len / 2u;
	return 0;
}

int stun_msg_get_change_request(const struct stun_msg *m, uint32_t *flags)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, STUN_ATTR_CHANGE_REQUEST, &val, &len);

	if (err)
		return err;
	*flags = wire_rd32(val);
	return 0;
}

int stun_msg_get_response_port(const struct stun_msg *m, uint16_t *port)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, STUN_ATTR_RESPONSE_PORT, &val, &len);

	if (err)
		return err;
	*port = wire_rd16(val);
	return 0;
}

int stun_msg_get_userhash(const struct stun_msg *m, const uint8_t **hash)
{
	uint16_t len;

	return get_checked(m, STUN_ATTR_USERHASH, hash, &len);
}

int stun_msg_get_password_algorithm(const struct stun_msg *m, uint16_t *alg)
{
	const uint8_t *val;
	uint16_t len;
	int err = get_checked(m, STUN_ATTR_PASSWORD_ALGORITHM, &val, &len);

	if (err)
		return err;
	*alg = wire_rd16(val);
	return 0;
}

int stun_msg_get_password_algorithms(const struct stun_msg *m, uint16_t *algs, size_t max,
				     size_t *n)
{
	const uint8_t *val;
	uint16_t len;
	int err = stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS, &val, &len);

	if (err)
		return err;
	return walk_algorithms(val, len, algs, max, n);
}

/* --- HMAC over a message prefix with a rewritten length field ---------- */

/*
 * One HMAC context per digest per thread, created on first use and only
 * re-keyed afterwards: setting the digest makes OpenSSL 3 look it up in its
 * provider store, which cost ~7 us per message when done every time.  Each
 * context is used by its own thread only, and hmac_prefix() re-keys it on
 * every call, so nothing carries over between messages.  A thread-specific
 * key's destructor frees a thread's contexts when it exits: without it
 * every exited thread leaked about 20 OpenSSL allocations.  The contexts of
 * a thread that never exits (main) live until the process does.
 */
struct hmac_cache {
	EVP_MAC_CTX *sha1;
	EVP_MAC_CTX *sha256;
};

static EVP_MAC *hmac_alg;
static pthread_key_t hmac_key;
static bool hmac_key_ok;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static __thread struct hmac_cache hmac_cache;

static void hmac_cache_free(void *arg)
{
	struct hmac_cache *c = arg;

	EVP_MAC_CTX_free(c->sha1);
	EVP_MAC_CTX_free(c->sha256);
	c->sha1 = NULL;
	c->sha256 = NULL;
}

static void hmac_setup(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	hmac_key_ok = !pthread_key_create(&hmac_key, hmac_cache_free);
}

static EVP_MAC_CTX *hmac_ctx(const char *digest)
{
	bool sha1 = !strcmp(digest, "SHA1");
	EVP_MAC_CTX **slot = sha1 ? &hmac_cache.sha1 : &hmac_cache.sha256;
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx = *slot;

	if (ctx)
		return ctx;
	pthread_once(&hmac_once, hmac_setup);
	/* No destructor means a leak per thread: refuse rather than cache. */
	if (!hmac_alg || !hmac_key_ok)
		return NULL;
	ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!ctx)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(ctx, params) ||
	    pthread_setspecific(hmac_key, &hmac_cache)) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	*slot = ctx;
	return ctx;
}

/*
 * HMAC(@digest, key) over buf[0..n) as if the header's length field read
 * @hdr_len: integrity covers the message up to its own attribute, with the
 * length field counting up to the end of that attribute (RFC 8489 §14.5).
 */
static int hmac_prefix(const char *digest, const uint8_t *key, size_t keylen, const uint8_t *buf,
		       size_t n, uint16_t hdr_len, uint8_t *out, size_t outcap)
{
	static const uint8_t empty_key;
	EVP_MAC_CTX *ctx = hmac_ctx(digest);
	uint8_t hdr[STUN_HEADER_LEN];
	size_t outlen = 0;

	if (!ctx)
		return -ENOMEM;
	memcpy(hdr, buf, STUN_HEADER_LEN);
	wire_wr16(hdr + 2, hdr_len);
	/* OpenSSL refuses a NULL key; an empty password is still a key. */
	if (!EVP_MAC_init(ctx, keylen ? key : &empty_key, keylen, NULL) ||
	    !EVP_MAC_update(ctx, hdr, sizeof(hdr)) ||
	    !EVP_MAC_update(ctx, buf + STUN_HEADER_LEN, n - STUN_HEADER_LEN) ||
	    !EVP_MAC_final(ctx, out, &outlen, outcap) || outlen != outcap)
		return -ENOMEM;
	return 0;
}

static int check_mac(const struct stun_msg *m, uint16_t type, const char *digest,
		     const uint8_t *key, size_t keylen, size_t maclen)
{
	uint8_t mac[STUN_HMAC_SHA256_LEN];
	const uint8_t *val;
	uint16_t len;
	size_t off;
	int err = get_checked(m, type, &val, &len);

	if (err)
		return err;
	off = (size_t)(val - STUN_ATTR_HEADER_LEN - m->buf);
	err = hmac_prefix(digest, key, keylen, m->buf, off,
			  (uint16_t)(off + STUN_ATTR_HEADER_LEN + len - STUN_HEADER_LEN), mac,
			  maclen);
	if (err)
		return err;
	/* A truncated MESSAGE-INTEGRITY-SHA256 carries the leading bytes (§14.6). */
	if (CRYPTO_memcmp(mac, val, len))
		return -STUN_E_INTEGRITY;
	return 0;
}

int stun_msg_check_integrity(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_mac(m, STUN_ATTR_MESSAGE_INTEGRITY, "SHA1", key, keylen, STUN_HMAC_SHA1_LEN);
}

int stun_msg_check_integrity_sha256(const struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_mac(m, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, "SHA256", key, keylen,
			 STUN_HMAC_SHA256_LEN);
}

/* --- credentials ------------------------------------------------------- */

static int digest_parts(const EVP_MD *md, const void *const *parts, const size_t *lens, size_t n,
			uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen;
	int err = -ENOMEM;
	size_t i;

	if (!ctx || !md)
		goto out;
	if (!EVP_DigestInit_ex(ctx, md, NULL))
		goto out;
	for (i = 0; i < n; i++)
		if (!EVP_DigestUpdate(ctx, parts[i], lens[i]))
			goto out;
	if (!EVP_DigestFinal_ex(ctx, out, &outlen))
		goto out;
	err = (int)outlen;
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

int stun_long_term_key(uint16_t alg, const char *user, size_t ulen, const char *realm, size_t rlen,
		       const char *pass, size_t plen, uint8_t key[STUN_KEY_MAX])
{
	const void *parts[] = {user, ":", realm, ":", pass};
	const size_t lens[] = {ulen, 1, rlen, 1, plen};
	const EVP_MD *md;

	if (alg == STUN_PASSWORD_ALG_MD5)
		md = EVP_md5();
	else if (alg == STUN_PASSWORD_ALG_SHA256)
		md = EVP_sha256();
	else
		return -EINVAL;
	return digest_parts(md, parts, lens, 5, key);
}

int stun_userhash(const char *user, size_t ulen, const char *realm, size_t rlen,
		  uint8_t hash[STUN_USERHASH_LEN])
{
	const void *parts[] = {user, ":", realm};
	const size_t lens[] = {ulen, 1, rlen};
	int n = digest_parts(EVP_sha256(), parts, lens, 3, hash);

	return n < 0 ? n : 0;
}

int stun_tid_random(uint8_t tid[STUN_TID_LEN])
{
	return RAND_bytes(tid, STUN_TID_LEN) == 1 ? 0 : -EIO;
}

/* --- builder ----------------------------------------------------------- */

enum {
	BUILT_MI = 1,
	BUILT_MI256 = 2,
	BUILT_FP = 4,
};

static int build_fail(struct stun_builder *b, int err)
{
	if (!b->err)
		b->err = err;
	return err;
}

/* Whether an attribute of @type may still be appended (see stun.h). */
static bool order_ok(const struct stun_builder *b, uint16_t type)
{
	if (b->state & BUILT_FP)
		return false;
	if (b->state & BUILT_MI256)
		return type == STUN_ATTR_FINGERPRINT;
	if (b->state & BUILT_MI)
		return type == STUN_ATTR_FINGERPRINT || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256;
	return true;
}

/*
 * Append the header of a @len-byte attribute and its padding; return where
 * the value goes (the caller fills exactly @len bytes), or NULL after
 * recording the error.  The length field is updated here.
 */
static uint8_t *reserve(struct stun_builder *b, uint16_t type, size_t len)
{
	size_t need = STUN_ATTR_HEADER_LEN + wire_pad4(len);
	uint8_t *p;

	if (b->err)
		return NULL;
	if (len > 0xFFFF || !order_ok(b, type)) {
		build_fail(b, -EINVAL);
		return NULL;
	}
	/* b->len <= b->cap always holds, so the subtraction cannot wrap. */
	if (need > b->cap - b->len || b->len - STUN_HEADER_LEN + need > BODY_MAX) {
		build_fail(b, -ENOSPC);
		return NULL;
	}
	p = b->buf + b->len;
	wire_wr16(p, type);
	wire_wr16(p + 2, (uint16_t)len);
	memset(p + STUN_ATTR_HEADER_LEN + len, b->pad_byte, wire_pad4(len) - len);
	b->len += need;
	wire_wr16(b->buf + 2, (uint16_t)(b->len - STUN_HEADER_LEN));
	return p + STUN_ATTR_HEADER_LEN;
}

int stun_build_init(struct stun_builder *b, uint8_t *buf, size_t cap, uint16_t type,
		    const uint8_t *tid)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
	if (!buf || !tid || type & 0xC000)
		return build_fail(b, -EINVAL);
	if (cap < STUN_HEADER_LEN) {
		b->cap = 0;
		return build_fail(b, -ENOSPC);
	}
	wire_wr16(buf, type);
	wire_wr16(buf + 2, 0);
	wire_wr32(buf + 4, STUN_MAGIC_COOKIE);
	memcpy(buf + 8, tid, STUN_TID_LEN);
	b->len = STUN_HEADER_LEN;
	return 0;
}

int stun_build_add(struct stun_builder *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p;

	if (len && !val)
		return build_fail(b, -EINVAL);
	p = reserve(b, type, len);
	if (!p)
		return b->err;
	if (len)
		memcpy(p, val, len);
	return 0;
}

int stun_build_add_addr(struct stun_builder *b, uint16_t type, const struct sockaddr *sa)
{
	bool xored = type == STUN_ATTR_XOR_MAPPED_ADDRESS;
	uint8_t *p;
	int i;

	if (b->err)
		return b->err;
	if (!sa)
		return build_fail(b, -EINVAL);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		uint32_t a = ntohl(sin->sin_addr.s_addr);
		uint16_t port = ntohs(sin->sin_port);

		p = reserve(b, type, sizeof(struct stun_addr4));
		if (!p)
			return b->err;
		if (xored) {
			port ^= STUN_MAGIC_COOKIE >> 16;
			a ^= STUN_MAGIC_COOKIE;
		}
		p[0] = 0;
		p[1] = STUN_FAMILY_IPV4;
		wire_wr16(p + 2, port);
		wire_wr32(p + 4, a);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		uint16_t port = ntohs(sin6->sin6_port);

		p = reserve(b, type, sizeof(struct stun_addr6));
		if (!p)
			return b->err;
		if (xored)
			port ^= STUN_MAGIC_COOKIE >> 16;
		p[0] = 0;
		p[1] = STUN_FAMILY_IPV6;
		wire_wr16(p + 2, port);
		/* cookie then transaction id: both already in the header */
		for (i = 0; i < 16; i++)
			p[4 + i] = sin6->sin6_addr.s6_addr[i] ^ (xored ? b->buf[4 + i] : 0);
	} else {
		return build_fail(b, -EINVAL);
	}
	return 0;
}

int stun_build_add_string(struct stun_builder *b, uint16_t type, const char *s, size_t len)
{
	size_t max;

	switch (type) {
	case STUN_ATTR_USERNAME:
		max = STUN_USERNAME_MAX;
		break;
	case STUN_ATTR_REALM:
		max = STUN_REALM_MAX;
		break;
	case STUN_ATTR_NONCE:
		max = STUN_NONCE_MAX;
		break;
	case STUN_ATTR_SOFTWARE:
		max = STUN_SOFTWARE_MAX;
		break;
	case STUN_ATTR_ALTERNATE_DOMAIN:
		max = STUN_ALT_DOMAIN_MAX;
		break;
	default:
		return build_fail(b, -EINVAL);
	}
	if (len > max)
		return build_fail(b, -EINVAL);
	return stun_build_add(b, type, s, len);
}

int stun_build_add_error(struct stun_builder *b, int code, const char *reason)
{
	size_t rlen;
	uint8_t *p;

	if (code < 300 || code > 699)
		return build_fail(b, -EINVAL);
	if (!reason)
		reason = stun_error_reason(code);
	rlen = strlen(reason);
	if (rlen > STUN_REASON_MAX)
		return build_fail(b, -EINVAL);
	p = reserve(b, STUN_ATTR_ERROR_CODE, 4 + rlen);
	if (!p)
		return b->err;
	p[0] = 0;
	p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason, rlen);
	return 0;
}

int stun_build_add_unknown_attrs(struct stun_builder *b, const uint16_t *types, size_t n)
{
	uint8_t *p;
	size_t i;

	if (n > 0x7FFF || (n && !types))
		return build_fail(b, -EINVAL);
	p = reserve(b, STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n);
	if (!p)
		return b->err;
	for (i = 0; i < n; i++)
		wire_wr16(p + 2 * i, types[i]);
	return 0;
}

int stun_build_add_change_request(struct stun_builder *b, uint32_t flags)
{
	uint8_t *p = reserve(b, STUN_ATTR_CHANGE_REQUEST, 4);

	if (!p)
		return b->err;
	wire_wr32(p, flags);
	return 0;
}

int stun_build_add_response_port(struct stun_builder *b, uint16_t port)
{
	uint8_t *p = reserve(b, STUN_ATTR_RESPONSE_PORT, 4);

	if (!p)
		return b->err;
	wire_wr16(p, port);
	wire_wr16(p + 2, 0);
	return 0;
}

int stun_build_add_userhash(struct stun_builder *b, const uint8_t hash[STUN_USERHASH_LEN])
{
	return stun_build_add(b, STUN_ATTR_USERHASH, hash, STUN_USERHASH_LEN);
}

int stun_build_add_password_algorithm(struct stun_builder *b, uint16_t alg)
{
	uint8_t *p = reserve(b, STUN_ATTR_PASSWORD_ALGORITHM, 4);

	if (!p)
		return b->err;
	wire_wr16(p, alg);
	wire_wr16(p + 2, 0);
	return 0;
}

int stun_build_add_password_algorithms(struct stun_builder *b, const uint16_t *algs, size_t n)
{
	uint8_t *p;
	size_t i;

	if (!n || !algs || n > 0x3FFF)
		return build_fail(b, -EINVAL);
	p = reserve(b, STUN_ATTR_PASSWORD_ALGORITHMS, 4 * n);
	if (!p)
		return b->err;
	for (i = 0; i < n; i++) {
		wire_wr16(p + 4 * i, algs[i]);
		wire_wr16(p + 4 * i + 2, 0);
	}
	return 0;
}

int stun_build_add_padding(struct stun_builder *b, size_t len)
{
	uint8_t *p = reserve(b, STUN_ATTR_PADDING, len);

	if (!p)
		return b->err;
	memset(p, b->pad_byte, len);
	return 0;
}

static int build_mac(struct stun_builder *b, uint16_t type, const char *digest, const uint8_t *key,
		     size_t keylen, size_t maclen, uint8_t flag)
{
	uint8_t mac[STUN_HMAC_SHA256_LEN];
	size_t off = b->len;
	uint8_t *p;
	int err;

	if (!key && keylen)
		return build_fail(b, -EINVAL);
	p = reserve(b, type, maclen);
	if (!p)
		return b->err;
	/* reserve() already made the length field count this attribute. */
	err = hmac_prefix(digest, key, keylen, b->buf, off, wire_rd16(b->buf + 2), mac,
			  !strcmp(digest, "SHA1") ? STUN_HMAC_SHA1_LEN : STUN_HMAC_SHA256_LEN);
	if (err)
		return build_fail(b, err);
	memcpy(p, mac, maclen);
	b->state |= flag;
	return 0;
}

int stun_build_integrity(struct stun_builder *b, const uint8_t *key, size_t keylen)
{
	return build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY, "SHA1", key, keylen, STUN_HMAC_SHA1_LEN,
			 BUILT_MI);
}

int stun_build_integrity_sha256(struct stun_builder *b, const uint8_t *key, size_t keylen,
				size_t trunc)
{
	if (!trunc)
		trunc = STUN_HMAC_SHA256_LEN;
	if (trunc < STUN_HMAC_SHA256_MIN || trunc > STUN_HMAC_SHA256_LEN || trunc & 3)
		return build_fail(b, -EINVAL);
	return build_mac(b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, "SHA256", key, keylen, trunc,
			 BUILT_MI256);
}

int stun_build_fingerprint(struct stun_builder *b)
{
	size_t off = b->len;
	uint8_t *p = reserve(b, STUN_ATTR_FINGERPRINT, 4);

	if (!p)
		return b->err;
	/* The CRC covers the header whose length already counts FINGERPRINT. */
	wire_wr32(p, fingerprint_crc(b->buf, off));
	b->state |= BUILT_FP;
	return 0;
}

int stun_build_finish(const struct stun_builder *b)
{
	return b->err ? b->err : (int)b->len;
}
