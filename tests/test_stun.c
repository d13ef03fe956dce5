// SPDX-License-Identifier: MIT
/*
 * STUN codec: the published vectors (RFC 5769 §2.1-2.4, RFC 8489 B.1 as
 * corrected by erratum 6268) parsed, verified and rebuilt byte for byte,
 * then a table of malformed messages, every truncation, random mutations
 * and builder overflow.  Build with SANITIZE=1 to catch any over-read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <openssl/crypto.h>

#include "stun.h"

/* Hex with spaces, as the RFCs print it, to bytes; returns the count. */
static size_t hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned int v;

	while (*s) {
		if (*s == ' ' || *s == '\n') {
			s++;
			continue;
		}
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static const char rfc5769_tid[] = "b7 e7 a7 01 bc 34 d6 86 fa 87 df ae";
static const char rfc5769_password[] = "VOkJxbRl1RmTxUk/WvJxBt";

static const char rfc5769_request[] =
    "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    " 80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74"
    " 00 24 00 04 6e 00 01 ff"
    " 80 29 00 08 93 2f f9 b1 51 26 3b 36"
    " 00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20"
    " 00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2"
    " 80 28 00 04 e5 7a 3b cf";

static const char rfc5769_ipv4[] =
    "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    " 80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    " 00 20 00 08 00 01 a1 47 e1 12 a6 43"
    " 00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7"
    " 80 28 00 04 c0 7d 4c 96";

static const char rfc5769_ipv6[] =
    "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    " 80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    " 00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"
    " 00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41"
    " 80 28 00 04 c8 fb 0b 4c";

static const char rfc5769_long_term[] =
    "00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e"
    " 00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00"
    " 00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 "
    "41"
    " 00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"
    " 00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";

/* RFC 8489 Appendix B.1 with erratum 6268 (the published NONCE/length were wrong). */
static const char rfc8489_b1[] =
    "00 01 00 90 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e"
    " 00 1e 00 20 4a 3c f3 8f ef 69 92 bd a9 52 c6 78 04 17 da 0f 24 81 94 15"
    " 56 9e 60 b2 05 c4 6e 41 40 7f 17 04"
    " 00 15 00 29 6f 62 4d 61 74 4a 6f 73 32 41 41 41 43 66 2f 2f 34 39 39 6b"
    " 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41 00 00 00"
    " 00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"
    " 00 1d 00 04 00 02 00 00"
    " 00 1c 00 20 b5 c7 bf 00 5b 6c 52 a2 1c 51 c5 e8 92 f8 19 24 13 62 96 cb"
    " 92 7c 43 14 93 09 27 8c c6 51 8e 65";

/* "マトリックス" (U+30DE U+30C8 U+30EA U+30C3 U+30AF U+30B9) in UTF-8 */
static const char matrix_user[] = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf"
				  "\xe3\x82\xb9";

static void test_rfc5769_request(void **state)
{
	uint8_t msg[256], out[256], tid[12];
	size_t n = hex(rfc5769_request, msg, sizeof(msg));
	const uint8_t priority[] = {0x6e, 0x00, 0x01, 0xff};
	const uint8_t controlled[] = {0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36};
	struct stun_builder b;
	struct stun_msg m;
	const char *s;
	size_t slen;
	uint16_t bad = 0;

	hex(rfc5769_tid, tid, sizeof(tid));
	assert_int_equal(n, 108);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(m.type, STUN_BINDING_REQUEST);
	assert_memory_equal(m.tid, tid, 12);
	assert_true(m.has_fingerprint);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_SOFTWARE, &s, &slen), 0);
	assert_int_equal(slen, 16);
	assert_memory_equal(s, "STUN test client", 16);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_USERNAME, &s, &slen), 0);
	assert_int_equal(slen, 9);
	assert_memory_equal(s, "evtj:h6vY", 9);
	assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_password,
						  strlen(rfc5769_password)),
			 0);
	assert_int_equal(
	    stun_msg_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBT", 22),
	    -STUN_E_INTEGRITY);
	/* PRIORITY (ICE) is comprehension-required and unknown to this codec. */
	assert_int_equal(m.n_unknown, 1);
	assert_int_equal(m.unknown[0], 0x0024);
	assert_int_equal(stun_msg_check_attrs(&m, &bad), -STUN_E_UNKNOWN_REQUIRED);
	assert_int_equal(bad, 0x0024);

	/* Rebuilt with the vector's 0x20 padding, it matches byte for byte. */
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	b.pad_byte = 0x20;
	stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "STUN test client", 16);
	stun_build_add(&b, 0x0024, priority, sizeof(priority));
	stun_build_add(&b, 0x8029, controlled, sizeof(controlled));
	stun_build_add_string(&b, STUN_ATTR_USERNAME, "evtj:h6vY", 9);
	stun_build_integrity(&b, (const uint8_t *)rfc5769_password, strlen(rfc5769_password));
	stun_build_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), (int)n);
	assert_memory_equal(out, msg, n);
}

/* RFC 5769 §2.2 / §2.3: parse, verify, and rebuild the response from its parts. */
static void check_response(const char *vector, size_t want_len, const struct sockaddr *mapped)
{
	uint8_t msg[256], out[256], tid[12];
	size_t n = hex(vector, msg, sizeof(msg));
	struct sockaddr_storage ss;
	struct stun_builder b;
	struct stun_msg m;
	const char *s;
	size_t slen;

	hex(rfc5769_tid, tid, sizeof(tid));
	assert_int_equal(n, want_len);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(m.type, STUN_BINDING_SUCCESS);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_SOFTWARE, &s, &slen), 0);
	assert_int_equal(slen, 11);
	assert_memory_equal(s, "test vector", 11);
	assert_int_equal(stun_msg_get_xor_addr(&m, &ss), 0);
	assert_int_equal(ss.ss_family, mapped->sa_family);
	if (mapped->sa_family == AF_INET)
		assert_memory_equal(&ss, mapped, sizeof(struct sockaddr_in));
	else
		assert_memory_equal(&ss, mapped, sizeof(struct sockaddr_in6));
	assert_int_equal(stun_msg_check_integrity(&m, (const uint8_t *)rfc5769_password,
						  strlen(rfc5769_password)),
			 0);
	assert_true(m.has_fingerprint);

	stun_build_init(&b, out, sizeof(out), STUN_BINDING_SUCCESS, tid);
	b.pad_byte = 0x20;
	stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "test vector", 11);
	stun_build_add_xor_addr(&b, mapped);
	stun_build_integrity(&b, (const uint8_t *)rfc5769_password, strlen(rfc5769_password));
	stun_build_fingerprint(&b);
	assert_int_equal(stun_build_finish(&b), (int)n);
	assert_memory_equal(out, msg, n);
}

static void test_rfc5769_ipv4_response(void **state)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(32853)};

	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	check_response(rfc5769_ipv4, 80, (struct sockaddr *)&sin);
}

static void test_rfc5769_ipv6_response(void **state)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};

	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &sin6.sin6_addr);
	check_response(rfc5769_ipv6, 92, (struct sockaddr *)&sin6);
}

static void test_rfc5769_long_term(void **state)
{
	const char nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
	uint8_t msg[256], out[256], key[STUN_KEY_MAX];
	size_t n = hex(rfc5769_long_term, msg, sizeof(msg));
	struct stun_builder b;
	struct stun_msg m;
	const char *s;
	size_t slen;
	int klen;

	assert_int_equal(n, 116);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_false(m.has_fingerprint);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_USERNAME, &s, &slen), 0);
	assert_int_equal(slen, strlen(matrix_user));
	assert_memory_equal(s, matrix_user, slen);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_NONCE, &s, &slen), 0);
	assert_int_equal(slen, strlen(nonce));
	assert_memory_equal(s, nonce, slen);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_REALM, &s, &slen), 0);
	assert_int_equal(slen, 11);
	assert_memory_equal(s, "example.org", 11);

	/* The password "TheMatrIX" is what SASLprep makes of "TheMªtrⅨ". */
	klen = stun_long_term_key(STUN_PASSWORD_ALG_MD5, matrix_user, strlen(matrix_user),
				  "example.org", 11, "TheMatrIX", 9, key);
	assert_int_equal(klen, 16);
	assert_int_equal(stun_msg_check_integrity(&m, key, (size_t)klen), 0);
	klen = stun_long_term_key(STUN_PASSWORD_ALG_MD5, matrix_user, strlen(matrix_user),
				  "example.org", 11, "thematrix", 9, key);
	assert_int_equal(stun_msg_check_integrity(&m, key, (size_t)klen), -STUN_E_INTEGRITY);

	klen = stun_long_term_key(STUN_PASSWORD_ALG_MD5, matrix_user, strlen(matrix_user),
				  "example.org", 11, "TheMatrIX", 9, key);
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, msg + 8);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, matrix_user, strlen(matrix_user));
	stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_add_string(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_integrity(&b, key, (size_t)klen);
	assert_int_equal(stun_build_finish(&b), (int)n);
	assert_memory_equal(out, msg, n);
}

static void test_rfc8489_b1_sha256_userhash(void **state)
{
	const char nonce[] = "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA";
	uint8_t msg[256], out[256], key[STUN_KEY_MAX], uh[STUN_USERHASH_LEN];
	size_t n = hex(rfc8489_b1, msg, sizeof(msg));
	const uint8_t *got_uh;
	struct stun_builder b;
	struct stun_msg m;
	uint16_t alg = 0;
	int klen;

	assert_int_equal(n, 164);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
	assert_int_equal(stun_userhash(matrix_user, strlen(matrix_user), "example.org", 11, uh), 0);
	assert_int_equal(stun_msg_get_userhash(&m, &got_uh), 0);
	assert_memory_equal(got_uh, uh, STUN_USERHASH_LEN);
	assert_int_equal(stun_msg_get_password_algorithm(&m, &alg), 0);
	assert_int_equal(alg, STUN_PASSWORD_ALG_SHA256);

	klen = stun_long_term_key(STUN_PASSWORD_ALG_SHA256, matrix_user, strlen(matrix_user),
				  "example.org", 11, "TheMatrIX", 9, key);
	assert_int_equal(klen, 32);
	assert_int_equal(stun_msg_check_integrity_sha256(&m, key, (size_t)klen), 0);
	assert_int_equal(stun_msg_check_integrity(&m, key, (size_t)klen), -ENOENT);
	key[0] ^= 1;
	assert_int_equal(stun_msg_check_integrity_sha256(&m, key, (size_t)klen), -STUN_E_INTEGRITY);
	key[0] ^= 1;

	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, msg + 8);
	stun_build_add_userhash(&b, uh);
	stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_add_string(&b, STUN_ATTR_REALM, "example.org", 11);
	stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	stun_build_integrity_sha256(&b, key, (size_t)klen, 0);
	assert_int_equal(stun_build_finish(&b), (int)n);
	assert_memory_equal(out, msg, n);
}

/* §14.6: MESSAGE-INTEGRITY-SHA256 may be cut to 16..32 bytes in steps of 4. */
static void test_sha256_truncation(void **state)
{
	static const uint8_t tid[12] = {1, 2, 3};
	static const uint8_t key[] = "k3y";
	uint8_t out[128];
	struct stun_builder b;
	struct stun_msg m;
	size_t t;
	int n;

	for (t = 16; t <= 32; t += 4) {
		stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
		stun_build_integrity_sha256(&b, key, 3, t);
		stun_build_fingerprint(&b);
		n = stun_build_finish(&b);
		assert_int_equal(n, 20 + 4 + (int)t + 8);
		assert_int_equal(stun_msg_parse(&m, out, (size_t)n), 0);
		assert_int_equal(stun_msg_check_integrity_sha256(&m, key, 3), 0);
		assert_int_equal(stun_msg_check_integrity_sha256(&m, key, 2), -STUN_E_INTEGRITY);
	}
	for (t = 1; t < 40; t++) {
		if (t >= 16 && t <= 32 && !(t & 3))
			continue;
		stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
		assert_int_equal(stun_build_integrity_sha256(&b, key, 3, t), -EINVAL);
	}
	/* A received value of a bad size is malformed, not a mismatch. */
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	stun_build_add(&b, STUN_ATTR_MESSAGE_INTEGRITY_SHA256, out, 12);
	n = stun_build_finish(&b);
	assert_int_equal(stun_msg_parse(&m, out, (size_t)n), 0);
	assert_int_equal(stun_msg_check_integrity_sha256(&m, key, 3), -STUN_E_BAD_VALUE);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), -STUN_E_BAD_VALUE);
}

/* Both integrity attributes and a fingerprint; what follows them is ignored. */
static void test_integrity_ordering(void **state)
{
	static const uint8_t tid[12] = {9};
	static const uint8_t key[] = "secret";
	uint8_t out[256];
	struct stun_builder b;
	struct stun_msg m;
	int n;

	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_build_integrity(&b, key, 6);
	stun_build_integrity_sha256(&b, key, 6, 0);
	stun_build_fingerprint(&b);
	n = stun_build_finish(&b);
	assert_true(n > 0);
	assert_int_equal(stun_msg_parse(&m, out, (size_t)n), 0);
	assert_int_equal(stun_msg_check_integrity(&m, key, 6), 0);
	assert_int_equal(stun_msg_check_integrity_sha256(&m, key, 6), 0);

	/* builder order rules */
	assert_int_equal(stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "x", 1), -EINVAL);
	assert_int_equal(stun_build_finish(&b), -EINVAL);
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	stun_build_integrity_sha256(&b, key, 6, 0);
	assert_int_equal(stun_build_integrity(&b, key, 6), -EINVAL);
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	stun_build_integrity(&b, key, 6);
	assert_int_equal(stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "x", 1), -EINVAL);

	/*
	 * An unknown comprehension-required attribute and a second USERNAME
	 * after MESSAGE-INTEGRITY: ignored (§14.5), so neither unknown nor
	 * duplicate, and the HMAC still verifies.
	 */
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_REQUEST, tid);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_build_integrity(&b, key, 6);
	n = stun_build_finish(&b);
	memcpy(out + n, "\x00\x77\x00\x01\x01\x00\x00\x00\x00\x06\x00\x01\x62\x00\x00\x00", 16);
	n += 16;
	out[2] = 0;
	out[3] = (uint8_t)(n - 20);
	assert_int_equal(stun_msg_parse(&m, out, (size_t)n), 0);
	assert_int_equal(m.n_ignored, 2);
	assert_int_equal(m.n_unknown, 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
	assert_int_equal(stun_msg_check_integrity(&m, key, 6), 0);
}

/* Every getter and builder for the remaining attributes, round trip. */
static void test_attribute_roundtrip(void **state)
{
	static const uint8_t tid[12] = {0xaa, 0xbb};
	const uint16_t unknown[] = {0x0024, 0x7fff, 0x0031};
	const uint16_t algs[] = {STUN_PASSWORD_ALG_MD5, STUN_PASSWORD_ALG_SHA256};
	struct sockaddr_in alt = {.sin_family = AF_INET, .sin_port = htons(3479)};
	struct sockaddr_in6 other = {.sin6_family = AF_INET6, .sin6_port = htons(1)};
	struct sockaddr_in origin = {.sin_family = AF_INET, .sin_port = htons(3478)};
	struct sockaddr_storage ss;
	uint8_t out[512];
	struct stun_builder b;
	struct stun_msg m;
	uint16_t types[8], a[4], port = 0;
	uint32_t flags = 0;
	const char *reason;
	size_t n = 0, rlen = 0;
	int len, code = 0;

	inet_pton(AF_INET, "198.18.0.2", &alt.sin_addr);
	inet_pton(AF_INET6, "2001:db8::7", &other.sin6_addr);
	inet_pton(AF_INET, "198.18.0.1", &origin.sin_addr);

	stun_build_init(&b, out, sizeof(out), STUN_BINDING_ERROR, tid);
	stun_build_add_error(&b, 420, NULL);
	stun_build_add_unknown_attrs(&b, unknown, 3);
	stun_build_add_change_request(&b, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	stun_build_add_response_port(&b, 40000);
	stun_build_add_addr(&b, STUN_ATTR_ALTERNATE_SERVER, (struct sockaddr *)&alt);
	stun_build_add_addr(&b, STUN_ATTR_OTHER_ADDRESS, (struct sockaddr *)&other);
	stun_build_add_addr(&b, STUN_ATTR_RESPONSE_ORIGIN, (struct sockaddr *)&origin);
	stun_build_add_addr(&b, STUN_ATTR_MAPPED_ADDRESS, (struct sockaddr *)&alt);
	stun_build_add_password_algorithms(&b, algs, 2);
	stun_build_add_padding(&b, 7);
	stun_build_add_string(&b, STUN_ATTR_ALTERNATE_DOMAIN, "stun.example", 12);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	assert_true(len > 0);
	assert_int_equal(stun_msg_parse(&m, out, (size_t)len), 0);
	assert_int_equal(stun_type_class(m.type), STUN_CLASS_ERROR);
	assert_int_equal(stun_type_method(m.type), STUN_METHOD_BINDING);

	assert_int_equal(stun_msg_get_error(&m, &code, &reason, &rlen), 0);
	assert_int_equal(code, 420);
	assert_int_equal(rlen, strlen("Unknown Attribute"));
	assert_memory_equal(reason, "Unknown Attribute", rlen);
	assert_int_equal(stun_msg_get_unknown_attrs(&m, types, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(types, unknown, sizeof(unknown));
	assert_int_equal(stun_msg_get_change_request(&m, &flags), 0);
	assert_int_equal(flags, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	assert_int_equal(stun_msg_get_response_port(&m, &port), 0);
	assert_int_equal(port, 40000);
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_ALTERNATE_SERVER, &ss), 0);
	assert_memory_equal(&ss, &alt, sizeof(alt));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_MAPPED_ADDRESS, &ss), 0);
	assert_memory_equal(&ss, &alt, sizeof(alt));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_OTHER_ADDRESS, &ss), 0);
	assert_memory_equal(&ss, &other, sizeof(other));
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_RESPONSE_ORIGIN, &ss), 0);
	assert_memory_equal(&ss, &origin, sizeof(origin));
	assert_int_equal(stun_msg_get_password_algorithms(&m, a, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(a, algs, sizeof(algs));
	assert_true(stun_msg_has(&m, STUN_ATTR_PADDING));
	assert_false(stun_msg_has(&m, STUN_ATTR_USERNAME));
	assert_int_equal(stun_msg_get_xor_addr(&m, &ss), -ENOENT);
	assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_USERNAME, &ss), -EINVAL);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
}

static void test_message_type(void **state)
{
	uint16_t method, cls;
	const uint16_t classes[] = {STUN_CLASS_REQUEST, STUN_CLASS_INDICATION, STUN_CLASS_SUCCESS,
				    STUN_CLASS_ERROR};

	assert_int_equal(stun_type_make(STUN_METHOD_BINDING, STUN_CLASS_ERROR), 0x0111);
	assert_int_equal(stun_type_make(0x003, STUN_CLASS_ERROR), 0x0113); /* Allocate */
	assert_int_equal(stun_type_make(0xFFF, STUN_CLASS_ERROR), 0x3FFF);
	for (method = 0; method < 0x1000; method += 7)
		for (cls = 0; cls < 4; cls++) {
			uint16_t t = stun_type_make(method, classes[cls]);

			assert_int_equal(t & 0xC000, 0);
			assert_int_equal(stun_type_method(t), method);
			assert_int_equal(stun_type_class(t), classes[cls]);
		}
}

/* --- malformed input -------------------------------------------------- */

/* Append one attribute (type, length, value, zero padding) to a test message. */
static size_t put_attr(uint8_t *msg, size_t off, uint16_t type, uint16_t len, const void *val)
{
	msg[off] = type >> 8;
	msg[off + 1] = type & 0xff;
	msg[off + 2] = len >> 8;
	msg[off + 3] = len & 0xff;
	memset(msg + off + 4, 0, (len + 3u) & ~3u);
	if (val)
		memcpy(msg + off + 4, val, len);
	return off + 4 + ((len + 3u) & ~3u);
}

static size_t put_header(uint8_t *msg, uint16_t type)
{
	static const uint8_t hdr[20] = {0, 0, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1,	2,
					3, 4, 5, 6, 7,	  8,	9,    10,   11, 12};

	memcpy(msg, hdr, 20);
	msg[0] = type >> 8;
	msg[1] = type & 0xff;
	return 20;
}

static void set_len(uint8_t *msg, size_t total)
{
	msg[2] = (uint8_t)((total - 20) >> 8);
	msg[3] = (uint8_t)(total - 20);
}

/* A FINGERPRINT computed with zlib directly (not with the code under test). */
static size_t put_fingerprint(uint8_t *msg, size_t off)
{
	uint32_t crc;

	set_len(msg, off + 8);
	crc = (uint32_t)crc32(0, msg, (uInt)off) ^ 0x5354554E;
	crc = htonl(crc);
	return put_attr(msg, off, STUN_ATTR_FINGERPRINT, 4, &crc);
}

struct bad_case {
	const char *name;
	int err;
	size_t (*make)(uint8_t *msg);
};

static size_t mk_short(uint8_t *msg)
{
	put_header(msg, STUN_BINDING_REQUEST);
	return 19;
}

static size_t mk_top_bits(uint8_t *msg)
{
	put_header(msg, 0x4001);
	return 20;
}

static size_t mk_cookie(uint8_t *msg)
{
	put_header(msg, STUN_BINDING_REQUEST);
	msg[7] ^= 1;
	return 20;
}

static size_t mk_len_not_4(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 3, "abc");
	msg[3] = 7; /* datagram is 28 bytes: 20 + 8, but the field says 7 */
	return n - 1;
}

static size_t mk_len_long(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 4, "abcd");
	set_len(msg, n + 4);
	return n;
}

static size_t mk_trailing(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 4, "abcd");
	set_len(msg, n);
	return n + 4; /* "oversize": four bytes past the declared end */
}

static size_t mk_overrun(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 8, "abcdefgh");
	set_len(msg, n);
	msg[23] = 9; /* value says 9 bytes, 8 remain */
	return n;
}

static size_t mk_overrun_huge(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_USERNAME, 4, "abcd");
	set_len(msg, n);
	msg[22] = 0xff;
	msg[23] = 0xff;
	return n;
}

static size_t mk_last_overrun(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 1, "a");
	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 4, "wxyz");
	set_len(msg, n);
	msg[n - 8 + 3] = 5; /* 5 bytes declared, 4 left */
	return n;
}

static size_t mk_fp_wrong(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_fingerprint(msg, n);
	msg[n - 1] ^= 1;
	return n;
}

static size_t mk_fp_not_last(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_fingerprint(msg, n);
	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 1, "x");
	set_len(msg, n);
	return n;
}

static size_t mk_fp_len(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);
	uint8_t v[8] = {0};

	n = put_attr(msg, n, STUN_ATTR_FINGERPRINT, 8, v);
	set_len(msg, n);
	return n;
}

static size_t mk_fp_twice(uint8_t *msg)
{
	size_t n = put_header(msg, STUN_BINDING_REQUEST);

	n = put_fingerprint(msg, n);
	n = put_fingerprint(msg, n);
	return n;
}

static const struct bad_case bad_cases[] = {
    {"shorter than a header", -STUN_E_TRUNCATED, mk_short},
    {"top bits set", -STUN_E_NOT_STUN, mk_top_bits},
    {"bad cookie", -STUN_E_BAD_COOKIE, mk_cookie},
    {"length not a multiple of 4", -STUN_E_BAD_LENGTH, mk_len_not_4},
    {"length beyond the datagram", -STUN_E_TRUNCATED, mk_len_long},
    {"datagram beyond the length (oversize)", -STUN_E_TRAILING, mk_trailing},
    {"attribute overruns", -STUN_E_ATTR_OVERRUN, mk_overrun},
    {"attribute length 0xffff", -STUN_E_ATTR_OVERRUN, mk_overrun_huge},
    {"last attribute overruns", -STUN_E_ATTR_OVERRUN, mk_last_overrun},
    {"wrong FINGERPRINT", -STUN_E_BAD_FINGERPRINT, mk_fp_wrong},
    {"FINGERPRINT not last", -STUN_E_FINGERPRINT_NOT_LAST, mk_fp_not_last},
    {"FINGERPRINT length 8", -STUN_E_BAD_FINGERPRINT, mk_fp_len},
    {"FINGERPRINT twice", -STUN_E_FINGERPRINT_NOT_LAST, mk_fp_twice},
};

static void test_malformed_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		uint8_t msg[128];
		uint8_t *exact;
		struct stun_msg m;
		size_t n = bad_cases[i].make(msg);
		int err;

		/* exactly sized heap copy: a sanitizer build sees any over-read */
		exact = malloc(n);
		assert_non_null(exact);
		memcpy(exact, msg, n);
		err = stun_msg_parse(&m, exact, n);
		free(exact);
		if (err != bad_cases[i].err)
			fail_msg("%s: got %d (%s), want %d (%s)", bad_cases[i].name, err,
				 stun_strerror(err), bad_cases[i].err,
				 stun_strerror(bad_cases[i].err));
	}
}

static void test_semantic_checks(void **state)
{
	uint8_t msg[1024], name[600];
	struct stun_msg m;
	uint16_t bad = 0;
	size_t n;

	/* duplicate comprehension-required */
	n = put_header(msg, STUN_BINDING_REQUEST);
	n = put_attr(msg, n, STUN_ATTR_USERNAME, 1, "a");
	n = put_attr(msg, n, STUN_ATTR_USERNAME, 1, "b");
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, &bad), -STUN_E_DUPLICATE);
	assert_int_equal(bad, STUN_ATTR_USERNAME);

	/* duplicate comprehension-optional is fine */
	n = put_header(msg, STUN_BINDING_REQUEST);
	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 1, "a");
	n = put_attr(msg, n, STUN_ATTR_SOFTWARE, 1, "b");
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);

	/* unknown comprehension-required, listed once each, in order */
	n = put_header(msg, STUN_BINDING_REQUEST);
	n = put_attr(msg, n, 0x0030, 0, NULL);
	n = put_attr(msg, n, 0x0024, 4, "abcd");
	n = put_attr(msg, n, 0x0030, 0, NULL);
	n = put_attr(msg, n, 0x8888, 0, NULL);
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(m.n_unknown, 2);
	assert_int_equal(m.unknown[0], 0x0030);
	assert_int_equal(m.unknown[1], 0x0024);
	assert_int_equal(stun_msg_check_attrs(&m, &bad), -STUN_E_UNKNOWN_REQUIRED);
	assert_int_equal(bad, 0x0030);

	/* USERNAME: 512 bytes is fine, 513 is not */
	memset(name, 'u', sizeof(name));
	n = put_header(msg, STUN_BINDING_REQUEST);
	n = put_attr(msg, n, STUN_ATTR_USERNAME, 512, name);
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), 0);
	n = put_header(msg, STUN_BINDING_REQUEST);
	n = put_attr(msg, n, STUN_ATTR_USERNAME, 513, name);
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, &bad), -STUN_E_BAD_VALUE);
	assert_int_equal(bad, STUN_ATTR_USERNAME);

	/* bad address family; short XOR-MAPPED-ADDRESS */
	n = put_header(msg, STUN_BINDING_SUCCESS);
	n = put_attr(msg, n, STUN_ATTR_XOR_MAPPED_ADDRESS, 8, "\x00\x03\x00\x01\x02\x03\x04\x05");
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), -STUN_E_BAD_VALUE);
	{
		struct sockaddr_storage ss;

		assert_int_equal(stun_msg_get_xor_addr(&m, &ss), -STUN_E_BAD_VALUE);
	}
	n = put_header(msg, STUN_BINDING_SUCCESS);
	n = put_attr(
	    msg, n, STUN_ATTR_XOR_MAPPED_ADDRESS, 20,
	    "\x00\x01\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11");
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(stun_msg_check_attrs(&m, NULL), -STUN_E_BAD_VALUE);

	/* ERROR-CODE class out of range */
	n = put_header(msg, STUN_BINDING_ERROR);
	n = put_attr(msg, n, STUN_ATTR_ERROR_CODE, 4, "\x00\x00\x07\x00");
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	{
		int code;

		assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), -STUN_E_BAD_VALUE);
	}

	/* More distinct unknowns than the table holds: the first are kept. */
	n = put_header(msg, STUN_BINDING_REQUEST);
	for (bad = 0; bad < STUN_MSG_MAX_UNKNOWN + 5; bad++)
		n = put_attr(msg, n, (uint16_t)(0x4000 + bad), 0, NULL);
	set_len(msg, n);
	assert_int_equal(stun_msg_parse(&m, msg, n), 0);
	assert_int_equal(m.n_unknown, STUN_MSG_MAX_UNKNOWN);
	assert_true(m.unknown_truncated);
	assert_int_equal(m.unknown[STUN_MSG_MAX_UNKNOWN - 1], 0x4000 + STUN_MSG_MAX_UNKNOWN - 1);
}

/* Every proper prefix of every vector is rejected, without reading past it. */
static void test_truncated_everywhere(void **state)
{
	const char *const vectors[] = {rfc5769_request, rfc5769_ipv4, rfc5769_ipv6,
				       rfc5769_long_term, rfc8489_b1};
	size_t v, cut;

	for (v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		uint8_t msg[256];
		size_t n = hex(vectors[v], msg, sizeof(msg));

		for (cut = 0; cut < n; cut++) {
			uint8_t *p = malloc(cut ? cut : 1);
			struct stun_msg m;

			assert_non_null(p);
			memcpy(p, msg, cut);
			assert_int_equal(stun_msg_parse(&m, p, cut), -STUN_E_TRUNCATED);
			free(p);
		}
	}
}

/*
 * Random mutations of the vectors (bit flips, length fields rewritten to
 * random values, random TLV soup).  Asserts what must hold whenever a parse
 * succeeds: every recorded attribute lies inside the message.
 */
static void test_mutations(void **state)
{
	const char *const vectors[] = {rfc5769_request, rfc5769_ipv4, rfc5769_ipv6,
				       rfc5769_long_term, rfc8489_b1};
	unsigned int seed = 12345, i, accepted = 0;

	for (i = 0; i < 200000; i++) {
		uint8_t base[256], *p;
		struct stun_msg m;
		size_t n = hex(vectors[i % 5], base, sizeof(base)), k;

		seed = seed * 1103515245 + 12345;
		switch (i % 3) {
		case 0:
			base[(seed >> 8) % n] ^= (uint8_t)(1 << ((seed >> 4) & 7));
			break;
		case 1:
			/* rewrite a byte on a 4-byte boundary + 2/3: attribute length fields */
			k = 20 + ((seed >> 8) % ((n - 20) / 4)) * 4 + 2 + ((seed >> 3) & 1);
			base[k] = (uint8_t)(seed >> 16);
			break;
		default:
			for (k = 20; k < n; k++) {
				seed = seed * 1103515245 + 12345;
				base[k] = (uint8_t)(seed >> 16);
			}
		}
		p = malloc(n);
		assert_non_null(p);
		memcpy(p, base, n);
		if (stun_msg_parse(&m, p, n) == 0) {
			struct stun_attr_iter it;
			struct sockaddr_storage ss;
			const uint8_t *val;
			uint16_t type, len, u[4];
			uint32_t f;
			const char *s;
			size_t sl, cnt;
			int code;

			accepted++;
			stun_attr_iter_init(&it);
			while (stun_msg_next_attr(&m, &it, &type, &val, &len))
				assert_true(val >= p + 24 && val + len <= p + n);
			stun_msg_check_attrs(&m, NULL);
			stun_msg_get_xor_addr(&m, &ss);
			stun_msg_get_string(&m, STUN_ATTR_USERNAME, &s, &sl);
			stun_msg_get_error(&m, &code, &s, &sl);
			stun_msg_get_unknown_attrs(&m, u, 4, &cnt);
			stun_msg_get_change_request(&m, &f);
			stun_msg_get_password_algorithms(&m, u, 4, &cnt);
			stun_msg_check_integrity(&m, (const uint8_t *)"k", 1);
		}
		free(p);
	}
	/* the bit flips in the SOFTWARE/NONCE text must keep some messages valid */
	assert_true(accepted > 0);
}

/* Building into every too-small buffer fails with -ENOSPC and writes nothing past cap. */
static void test_builder_overflow(void **state)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(32853)};
	static const uint8_t tid[12] = {7};
	uint8_t buf[256];
	struct stun_builder b;
	size_t cap, full;
	int n;

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_SUCCESS, tid);
	stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "pinhole", 7);
	stun_build_add_xor_addr(&b, (struct sockaddr *)&sin6);
	stun_build_integrity(&b, (const uint8_t *)"k", 1);
	stun_build_fingerprint(&b);
	n = stun_build_finish(&b);
	assert_int_equal(n, 20 + 12 + 24 + 24 + 8);
	full = (size_t)n;

	for (cap = 0; cap < full; cap++) {
		memset(buf, 0xEE, sizeof(buf));
		stun_build_init(&b, buf, cap, STUN_BINDING_SUCCESS, tid);
		stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "pinhole", 7);
		stun_build_add_xor_addr(&b, (struct sockaddr *)&sin6);
		stun_build_integrity(&b, (const uint8_t *)"k", 1);
		stun_build_fingerprint(&b);
		assert_int_equal(stun_build_finish(&b), -ENOSPC);
		for (size_t k = cap; k < sizeof(buf); k++)
			assert_int_equal(buf[k], 0xEE);
	}

	/* the header's 16-bit length caps a message at 20 + 65532 bytes */
	{
		static uint8_t big[70000];

		stun_build_init(&b, big, sizeof(big), STUN_BINDING_REQUEST, tid);
		assert_int_equal(stun_build_add_padding(&b, 65524), 0);
		assert_int_equal(stun_build_add_padding(&b, 0), 0);
		assert_int_equal(stun_build_finish(&b), 20 + 65532);
		assert_int_equal(stun_build_add_padding(&b, 0), -ENOSPC);
		stun_build_init(&b, big, sizeof(big), STUN_BINDING_REQUEST, tid);
		assert_int_equal(stun_build_add_padding(&b, 65529), -ENOSPC);
		stun_build_init(&b, big, sizeof(big), STUN_BINDING_REQUEST, tid);
		assert_int_equal(stun_build_add(&b, STUN_ATTR_PADDING, big, 65536), -EINVAL);
	}
	/* argument checks */
	assert_int_equal(stun_build_init(&b, buf, sizeof(buf), 0xC001, tid), -EINVAL);
	assert_int_equal(stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "x", 1), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	assert_int_equal(stun_build_add_string(&b, 0x0099, "x", 1), -EINVAL);
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	assert_int_equal(stun_build_add_error(&b, 200, NULL), -EINVAL);
}

static void test_strerror(void **state)
{
	int e, f;

	for (e = STUN_E_TRUNCATED; e < STUN_E_MAX; e++) {
		assert_non_null(stun_strerror(-e));
		assert_true(strlen(stun_strerror(-e)) > 0);
		for (f = STUN_E_TRUNCATED; f < e; f++)
			assert_string_not_equal(stun_strerror(-e), stun_strerror(-f));
	}
	assert_string_equal(stun_strerror(-ENOSPC), strerror(ENOSPC));
	/* Any int is a valid argument, INT_MIN included (its negation overflows an int). */
	assert_string_equal(stun_strerror(INT_MIN), "unknown error");
	assert_true(strlen(stun_strerror(INT_MAX)) > 0);
	assert_string_equal(stun_error_reason(420), "Unknown Attribute");
	assert_string_equal(stun_error_reason(400), "Bad Request");
}

/*
 * OpenSSL allocations still live, counted through CRYPTO_set_mem_functions()
 * (installed first thing in main, before OpenSSL allocates anything).
 */
static atomic_long ossl_live;

static void *count_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	if (p)
		atomic_fetch_add(&ossl_live, 1);
	return p;
}

static void *count_realloc(void *old, size_t n, const char *file, int line)
{
	void *p;

	if (!old)
		return count_malloc(n, file, line);
	if (!n) {
		free(old);
		atomic_fetch_sub(&ossl_live, 1);
		return NULL;
	}
	p = realloc(old, n);
	return p;
}

static void count_free(void *p, const char *file, int line)
{
	if (p)
		atomic_fetch_sub(&ossl_live, 1);
	free(p);
}

/* Sign and verify with both digests, as a server worker thread does. */
static void *hmac_worker(void *arg)
{
	static const uint8_t key[] = "worker key";
	uint8_t tid[STUN_TID_LEN] = {1, 2, 3}, buf[256];
	struct stun_builder b;
	struct stun_msg m;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	stun_build_integrity(&b, key, sizeof(key));
	stun_build_integrity_sha256(&b, key, sizeof(key), 0);
	len = stun_build_finish(&b);
	if (len < 0 || stun_msg_parse(&m, buf, (size_t)len) ||
	    stun_msg_check_integrity(&m, key, sizeof(key)) ||
	    stun_msg_check_integrity_sha256(&m, key, sizeof(key)))
		return (void *)1;
	return NULL;
}

/*
 * The HMAC contexts are cached per thread; a thread that exits must take
 * its contexts with it, or a process that starts threads over its lifetime
 * (worker restarts, an endpoint's helper threads) leaks without bound.
 */
static void test_hmac_threads_do_not_leak(void **state)
{
	const int threads = 50;
	long before, after;
	pthread_t t;
	void *ret;
	int i;

	/* Warm up OpenSSL's one-time state and this thread's own contexts. */
	assert_null(hmac_worker(NULL));
	before = atomic_load(&ossl_live);
	for (i = 0; i < threads; i++) {
		assert_int_equal(pthread_create(&t, NULL, hmac_worker, NULL), 0);
		assert_int_equal(pthread_join(t, &ret), 0);
		assert_null(ret);
	}
	after = atomic_load(&ossl_live);
	/* Each leaked thread would keep two contexts of several allocations each. */
	assert_true(after - before < threads);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5769_request),
	    cmocka_unit_test(test_rfc5769_ipv4_response),
	    cmocka_unit_test(test_rfc5769_ipv6_response),
	    cmocka_unit_test(test_rfc5769_long_term),
	    cmocka_unit_test(test_rfc8489_b1_sha256_userhash),
	    cmocka_unit_test(test_sha256_truncation),
	    cmocka_unit_test(test_integrity_ordering),
	    cmocka_unit_test(test_attribute_roundtrip),
	    cmocka_unit_test(test_message_type),
	    cmocka_unit_test(test_malformed_table),
	    cmocka_unit_test(test_semantic_checks),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_builder_overflow),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_hmac_threads_do_not_leak),
	};

	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free)) {
		fprintf(stderr, "OpenSSL allocated before main: cannot count allocations\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
