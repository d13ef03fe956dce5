// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: nonce_check() on arbitrary bytes, and on minted nonces
 * with arbitrary bit flips.
 *
 * The oracle is independent of nonce.c's decoder: an input is "genuine"
 * for a source when it is byte for byte what nonce_mint() writes for that
 * source and the expiry the input itself claims (decoded here with a
 * separate base64 decoder).  Properties:
 * - nonce_check() returns only 0, -ESTALE or -EBADMSG;
 * - 0 only for a genuine nonce that has not expired, -ESTALE only for a
 *   genuine one that has: a forged nonce never verifies and never reads
 *   as merely stale (which would leak that its format was right);
 * - a genuine nonce checked from another address, port or family fails;
 * - a nonce minted now, with any non-empty set of bits flipped, fails;
 *   unflipped it verifies, and it is stale once its lifetime has passed;
 * - nonce_features() succeeds only on inputs starting with the cookie.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "fuzz_util.h"
#include "nonce.h"

FUZZ_SINK_DEFINE;

#define NOW_MS FUZZ_NONCE_NOW_MS
#define PREFIX (NONCE_COOKIE_LEN + 4)

static struct nonce_key key;
static struct sockaddr_storage srcs[4];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
}

static void set6(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t secret[] = FUZZ_NONCE_SECRET;

	FUZZ_CHECK(nonce_key_init(&key, secret, sizeof(secret) - 1, 0) == 0);
	set4(&srcs[0], "198.18.0.1", 40000);
	set4(&srcs[1], "198.18.0.1", 40001); /* same address, other port */
	set6(&srcs[2], "2001:db8::1", 40000);
	/* The IPv4-mapped form of srcs[0]: another family, so another nonce. */
	set6(&srcs[3], "::ffff:198.18.0.1", 40000);
	return 0;
}

static int b64v(uint8_t c)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? memchr(a, c, 64) : NULL;

	return p ? (int)(p - a) : -1;
}

/* The expiry an input claims: 12 base64 characters after the prefix hold its 8 bytes. */
static int claimed_expiry(const uint8_t *n, size_t len, uint64_t *expiry)
{
	uint8_t raw[9];

	if (len != NONCE_LEN)
		return -1;
	for (int g = 0; g < 3; g++) {
		uint32_t v = 0;

		for (int j = 0; j < 4; j++) {
			int d = b64v(n[PREFIX + 4 * g + j]);

			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		raw[3 * g] = v >> 16;
		raw[3 * g + 1] = (v >> 8) & 0xFF;
		raw[3 * g + 2] = v & 0xFF;
	}
	*expiry = 0;
	for (int i = 0; i < 8; i++)
		*expiry = *expiry << 8 | raw[i];
	return 0;
}

/* Is @n exactly what nonce_mint() writes for @src and the expiry @n claims? */
static int genuine(const uint8_t *n, size_t len, const struct sockaddr_storage *src,
		   uint64_t *expiry)
{
	char mint[NONCE_LEN + 1];

	if (claimed_expiry(n, len, expiry))
		return 0;
	FUZZ_CHECK(nonce_mint(&key, *expiry - key.lifetime_ms, (const struct sockaddr *)src, mint,
			      sizeof(mint)) == NONCE_LEN);
	return !memcmp(mint, n, NONCE_LEN);
}

static void check_arbitrary(const uint8_t *data, size_t size, uint64_t now)
{
	for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
		uint64_t expiry = 0;
		int err = nonce_check(&key, now, (const struct sockaddr *)&srcs[i],
				      (const char *)data, size);
		int real = genuine(data, size, &srcs[i], &expiry);

		FUZZ_CHECK(err == 0 || err == -ESTALE || err == -EBADMSG);
		if (err == 0)
			FUZZ_CHECK(real && now < expiry);
		if (err == -ESTALE)
			FUZZ_CHECK(real && now >= expiry);
		if (real)
			FUZZ_CHECK(err == (now < expiry ? 0 : -ESTALE));
	}
}

static void check_flipped(const uint8_t *data, size_t size)
{
	char n[NONCE_LEN + 1];
	int flipped = 0;

	FUZZ_CHECK(nonce_mint(&key, NOW_MS - 1000, (const struct sockaddr *)&srcs[0], n,
			      sizeof(n)) == NONCE_LEN);
	FUZZ_CHECK(nonce_check(&key, NOW_MS, (const struct sockaddr *)&srcs[0], n, NONCE_LEN) == 0);
	FUZZ_CHECK(nonce_check(&key, NOW_MS - 1000 + key.lifetime_ms,
			       (const struct sockaddr *)&srcs[0], n, NONCE_LEN) == -ESTALE);
	for (size_t i = 1; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		FUZZ_CHECK(nonce_check(&key, NOW_MS, (const struct sockaddr *)&srcs[i], n,
				       NONCE_LEN) == -EBADMSG);
	for (size_t i = 0; i < size && i < NONCE_LEN; i++) {
		n[i] ^= (char)data[i];
		flipped |= data[i];
	}
	if (flipped)
		FUZZ_CHECK(nonce_check(&key, NOW_MS, (const struct sockaddr *)&srcs[0], n,
				       NONCE_LEN) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t feat;

	check_arbitrary(data, size, NOW_MS);
	/* Far past and far future clocks: expiry arithmetic must not change the verdict. */
	check_arbitrary(data, size, 0);
	check_arbitrary(data, size, UINT64_MAX);
	check_flipped(data, size);
	if (nonce_features((const char *)data, size, &feat) == 0)
		FUZZ_CHECK(size >= PREFIX && !memcmp(data, NONCE_COOKIE, NONCE_COOKIE_LEN) &&
			   feat <= 0xFFFFFF);
	return 0;
}
