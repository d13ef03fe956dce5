// SPDX-License-Identifier: MIT
/*
 * Stateless nonces: a minted nonce checks from its source until it
 * expires (then -ESTALE, for a 438), and anything else (another source,
 * another secret, any edited character, wrong length) is -EBADMSG (401).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "nonce.h"

static const uint8_t secret[] = "a test secret, not a random one";

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return sin6;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void test_mint_check(void **state)
{
	struct nonce_key k;
	struct sockaddr_in src = v4("198.18.0.10", 40000);
	struct sockaddr_in6 src6 = v6("2001:db8::10", 40000);
	char n[NONCE_LEN + 1], n6[NONCE_LEN + 1];
	uint64_t now = 1000000;

	(void)state;
	assert_int_equal(nonce_key_init(&k, secret, sizeof(secret), 0), 0);
	assert_int_equal(k.lifetime_ms, NONCE_DEFAULT_LIFETIME_MS);
	assert_int_equal(nonce_mint(&k, now, SA(src), n, sizeof(n)), NONCE_LEN);
	assert_int_equal(strlen(n), NONCE_LEN);
	assert_int_equal(nonce_check(&k, now, SA(src), n, strlen(n)), 0);
	assert_int_equal(nonce_check(&k, now + 59999, SA(src), n, strlen(n)), 0);

	assert_int_equal(nonce_mint(&k, now, SA(src6), n6, sizeof(n6)), NONCE_LEN);
	assert_int_equal(nonce_check(&k, now + 1, SA(src6), n6, NONCE_LEN), 0);
	/* Same time, different source: different nonce. */
	assert_memory_not_equal(n, n6, NONCE_LEN);

	/* Room for the NUL too, or nothing. */
	assert_int_equal(nonce_mint(&k, now, SA(src), n, NONCE_LEN), -ENOSPC);
	assert_int_equal(nonce_mint(&k, now, NULL, n, sizeof(n)), -EINVAL);
}

static void test_expiry(void **state)
{
	struct nonce_key k;
	struct sockaddr_in src = v4("198.18.0.10", 40000);
	struct sockaddr_in other = v4("198.18.0.11", 40000);
	char n[NONCE_LEN + 1];

	(void)state;
	assert_int_equal(nonce_key_init(&k, secret, sizeof(secret), 5000), 0);
	assert_int_equal(nonce_mint(&k, 100, SA(src), n, sizeof(n)), NONCE_LEN);
	assert_int_equal(nonce_check(&k, 5099, SA(src), n, NONCE_LEN), 0);
	assert_int_equal(nonce_check(&k, 5100, SA(src), n, NONCE_LEN), -ESTALE);
	assert_int_equal(nonce_check(&k, UINT64_MAX, SA(src), n, NONCE_LEN), -ESTALE);
	/* Expired and from elsewhere: the MAC decides first, so it is not "stale". */
	assert_int_equal(nonce_check(&k, 9999, SA(other), n, NONCE_LEN), -EBADMSG);
}

static void test_other_source(void **state)
{
	struct nonce_key k, k2;
	struct sockaddr_in src = v4("198.18.0.10", 40000);
	struct sockaddr_in port = v4("198.18.0.10", 40001);
	struct sockaddr_in ip = v4("198.18.0.11", 40000);
	/* IPv4 bytes at the front of an IPv6 address must not collide. */
	struct sockaddr_in6 six = v6("c612:a::", 40000);
	struct sockaddr_in6 unk;
	char n[NONCE_LEN + 1];

	(void)state;
	assert_int_equal(nonce_key_init(&k, secret, sizeof(secret), 0), 0);
	assert_int_equal(nonce_mint(&k, 0, SA(src), n, sizeof(n)), NONCE_LEN);
	assert_int_equal(nonce_check(&k, 1, SA(port), n, NONCE_LEN), -EBADMSG);
	assert_int_equal(nonce_check(&k, 1, SA(ip), n, NONCE_LEN), -EBADMSG);
	assert_int_equal(nonce_check(&k, 1, SA(six), n, NONCE_LEN), -EBADMSG);
	memset(&unk, 0, sizeof(unk));
	unk.sin6_family = AF_UNIX;
	assert_int_equal(nonce_check(&k, 1, SA(unk), n, NONCE_LEN), -EBADMSG);
	assert_int_equal(nonce_mint(&k, 0, SA(unk), n, sizeof(n)), -EAFNOSUPPORT);

	/* Another server secret: not ours. */
	assert_int_equal(nonce_mint(&k, 0, SA(src), n, sizeof(n)), NONCE_LEN);
	assert_int_equal(nonce_key_init(&k2, (const uint8_t *)"other", 5, 0), 0);
	assert_int_equal(nonce_check(&k2, 1, SA(src), n, NONCE_LEN), -EBADMSG);

	/* Random keys differ and work. */
	assert_int_equal(nonce_key_init_random(&k), 0);
	assert_int_equal(nonce_key_init_random(&k2), 0);
	assert_memory_not_equal(k.secret, k2.secret, NONCE_SECRET_LEN);
	assert_int_equal(k.lifetime_ms, NONCE_DEFAULT_LIFETIME_MS);
	assert_int_equal(nonce_mint(&k, 0, SA(src), n, sizeof(n)), NONCE_LEN);
	assert_int_equal(nonce_check(&k, 1, SA(src), n, NONCE_LEN), 0);
	assert_int_equal(nonce_check(&k2, 1, SA(src), n, NONCE_LEN), -EBADMSG);
}

static void test_tampered(void **state)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\"\\ \x01";
	struct nonce_key k;
	struct sockaddr_in src = v4("198.18.0.10", 40000);
	char n[NONCE_LEN + 1], t[NONCE_LEN + 2];
	size_t i, j;

	(void)state;
	assert_int_equal(nonce_key_init(&k, secret, sizeof(secret), 0), 0);
	assert_int_equal(nonce_mint(&k, 0, SA(src), n, sizeof(n)), NONCE_LEN);

	/* Every position, every other character: never accepted, never "stale". */
	for (i = 0; i < NONCE_LEN; i++) {
		for (j = 0; j < sizeof(alphabet) - 1; j++) {
			if (alphabet[j] == n[i])
				continue;
			memcpy(t, n, NONCE_LEN);
			t[i] = alphabet[j];
			assert_int_equal(nonce_check(&k, 1, SA(src), t, NONCE_LEN), -EBADMSG);
		}
	}
	/* Every truncation, and one byte too many. */
	for (i = 0; i < NONCE_LEN; i++)
		assert_int_equal(nonce_check(&k, 1, SA(src), n, i), -EBADMSG);
	memcpy(t, n, NONCE_LEN);
	t[NONCE_LEN] = 'A';
	assert_int_equal(nonce_check(&k, 1, SA(src), t, NONCE_LEN + 1), -EBADMSG);
	assert_int_equal(nonce_check(&k, 1, SA(src), NULL, NONCE_LEN), -EBADMSG);
	/* A later expiry with the old MAC is a forgery, not an extension. */
	memcpy(t, n, NONCE_LEN);
	t[NONCE_COOKIE_LEN + 4 + 9] = t[NONCE_COOKIE_LEN + 4 + 9] == 'z' ? 'y' : 'z';
	assert_int_equal(nonce_check(&k, 1, SA(src), t, NONCE_LEN), -EBADMSG);
	/* The untouched one still works. */
	assert_int_equal(nonce_check(&k, 1, SA(src), n, NONCE_LEN), 0);
}

static void test_format(void **state)
{
	struct nonce_key k;
	struct sockaddr_in src = v4("198.18.0.10", 40000);
	char n[NONCE_LEN + 1];
	uint32_t feat = 0;
	size_t i;

	(void)state;
	assert_int_equal(nonce_key_init(&k, secret, sizeof(secret), 0), 0);
	assert_int_equal(nonce_mint(&k, 123456789, SA(src), n, sizeof(n)), NONCE_LEN);
	/* RFC 8489 §9.2: the cookie, then 4 base64 characters of the feature set. */
	assert_memory_equal(n, "obMatJos2", 9);
	assert_int_equal(nonce_features(n, NONCE_LEN, &feat), 0);
	assert_int_equal(feat, NONCE_FEAT_PASSWORD_ALGORITHMS);
	/* Bit 0 is the most significant of the 24: 0x800000 is "gAAA". */
	assert_memory_equal(n + 9, "gAAA", 4);
	/* Everything is base64, so valid in a NONCE (qdtext, RFC 8489 §14.10). */
	for (i = 9; i < NONCE_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789+/",
				       n[i]));
	assert_int_equal(nonce_features("obMatJos", 8, &feat), -EINVAL);
	assert_int_equal(nonce_features("xbMatJos2gAAA", 13, &feat), -EINVAL);
	assert_int_equal(nonce_features("obMatJos2g*AA", 13, &feat), -EINVAL);
	/* The RFC 8489 B.1 vector's nonce (its own feature bits, read as written). */
	assert_int_equal(nonce_features("obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA", 41, &feat), 0);
	assert_int_equal(feat, 2);

	/* A long shared secret is hashed down, deterministically. */
	{
		uint8_t big[100];
		struct nonce_key a, b;

		memset(big, 7, sizeof(big));
		assert_int_equal(nonce_key_init(&a, big, sizeof(big), 10), 0);
		assert_int_equal(nonce_key_init(&b, big, sizeof(big), 10), 0);
		assert_memory_equal(a.secret, b.secret, NONCE_SECRET_LEN);
		assert_int_equal(a.lifetime_ms, 10);
		assert_int_equal(nonce_key_init(&a, big, 0, 10), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mint_check),	 cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_other_source), cmocka_unit_test(test_tampered),
	    cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
