// SPDX-License-Identifier: MIT
/*
 * Stateless expiring nonces: see nonce.h.  HMAC-SHA256 from OpenSSL,
 * base64 (RFC 4648 §4, standard alphabet, no padding needed: 3 and 24
 * bytes are whole groups) written here because the lengths are fixed.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "nonce.h"

#define OPAQUE_BYTES (8 + NONCE_MAC_LEN)
#define OPAQUE_CHARS (OPAQUE_BYTES / 3 * 4)
#define FEATURE_CHARS 4
#define PREFIX_LEN (NONCE_COOKIE_LEN + FEATURE_CHARS)

_Static_assert(OPAQUE_BYTES % 3 == 0, "opaque part is whole base64 groups");
_Static_assert(NONCE_LEN == PREFIX_LEN + OPAQUE_CHARS, "NONCE_LEN matches the layout");

/* What this server announces: SHA-256 is offered through PASSWORD-ALGORITHMS. */
#define SERVER_FEATURES NONCE_FEAT_PASSWORD_ALGORITHMS

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode @n bytes (a multiple of 3) into 4n/3 characters, no NUL. */
static void b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i += 3, out += 4) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[0] = b64[v >> 18];
		out[1] = b64[(v >> 12) & 63];
		out[2] = b64[(v >> 6) & 63];
		out[3] = b64[v & 63];
	}
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode @n characters (a multiple of 4, no padding); -EINVAL on a bad one. */
static int b64_decode(const char *in, size_t n, uint8_t *out)
{
	size_t i;
	int j;

	for (i = 0; i < n; i += 4, out += 3) {
		uint32_t v = 0;

		for (j = 0; j < 4; j++) {
			int d = b64_value(in[i + j]);

			if (d < 0)
				return -EINVAL;
			v = v << 6 | (uint32_t)d;
		}
		out[0] = v >> 16;
		out[1] = (v >> 8) & 0xFF;
		out[2] = v & 0xFF;
	}
	return 0;
}

int nonce_key_init_random(struct nonce_key *k)
{
	memset(k, 0, sizeof(*k));
	if (RAND_bytes(k->secret, sizeof(k->secret)) != 1)
		return -EIO;
	k->lifetime_ms = NONCE_DEFAULT_LIFETIME_MS;
	return 0;
}

int nonce_key_init(struct nonce_key *k, const uint8_t *secret, size_t len, uint64_t lifetime_ms)
{
	unsigned int mdlen = 0;

	if (!secret || !len)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	if (len <= NONCE_SECRET_LEN) {
		memcpy(k->secret, secret, len);
	} else if (!EVP_Digest(secret, len, k->secret, &mdlen, EVP_sha256(), NULL) ||
		   mdlen != NONCE_SECRET_LEN) {
		return -ENOMEM;
	}
	k->lifetime_ms = lifetime_ms ? lifetime_ms : NONCE_DEFAULT_LIFETIME_MS;
	return 0;
}

/*
 * MAC over the prefix (so the announced features cannot be edited, a
 * bid-down), the expiry, and the source.  The family byte keeps an IPv4
 * source from colliding with an IPv6 one whose bytes happen to match.
 */
static int nonce_mac(const struct nonce_key *k, const char prefix[PREFIX_LEN],
		     const uint8_t expiry[8], const struct sockaddr *src,
		     uint8_t mac[EVP_MAX_MD_SIZE])
{
	uint8_t msg[PREFIX_LEN + 8 + 1 + 16 + 2];
	size_t n = 0;
	unsigned int maclen = 0;

	memcpy(msg, prefix, PREFIX_LEN);
	n += PREFIX_LEN;
	memcpy(msg + n, expiry, 8);
	n += 8;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)src;

		msg[n++] = 4;
		memcpy(msg + n, &sin->sin_addr, 4);
		n += 4;
		memcpy(msg + n, &sin->sin_port, 2);
		n += 2;
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;

		msg[n++] = 6;
		memcpy(msg + n, &sin6->sin6_addr, 16);
		n += 16;
		memcpy(msg + n, &sin6->sin6_port, 2);
		n += 2;
	} else {
		return -EAFNOSUPPORT;
	}
	if (!HMAC(EVP_sha256(), k->secret, sizeof(k->secret), msg, n, mac, &maclen) ||
	    maclen < NONCE_MAC_LEN)
		return -ENOMEM;
	return 0;
}

static void server_prefix(char prefix[PREFIX_LEN])
{
	uint8_t feat[3] = {SERVER_FEATURES >> 16, (SERVER_FEATURES >> 8) & 0xFF,
			   SERVER_FEATURES & 0xFF};

	memcpy(prefix, NONCE_COOKIE, NONCE_COOKIE_LEN);
	b64_encode(feat, sizeof(feat), prefix + NONCE_COOKIE_LEN);
}

int nonce_mint(const struct nonce_key *k, uint64_t now_ms, const struct sockaddr *src, char *out,
	       size_t cap)
{
	uint8_t opaque[OPAQUE_BYTES], mac[EVP_MAX_MD_SIZE];
	char prefix[PREFIX_LEN];
	uint64_t expiry = now_ms + k->lifetime_ms;
	int i, err;

	if (!out || cap < NONCE_LEN + 1)
		return -ENOSPC;
	if (!src)
		return -EINVAL;
	for (i = 0; i < 8; i++)
		opaque[i] = (uint8_t)(expiry >> (56 - 8 * i));
	server_prefix(prefix);
	err = nonce_mac(k, prefix, opaque, src, mac);
	if (err)
		return err;
	memcpy(opaque + 8, mac, NONCE_MAC_LEN);

	memcpy(out, prefix, PREFIX_LEN);
	b64_encode(opaque, sizeof(opaque), out + PREFIX_LEN);
	out[NONCE_LEN] = '\0';
	return NONCE_LEN;
}

int nonce_check(const struct nonce_key *k, uint64_t now_ms, const struct sockaddr *src,
		const char *nonce, size_t len)
{
	uint8_t opaque[OPAQUE_BYTES], mac[EVP_MAX_MD_SIZE];
	char prefix[PREFIX_LEN];
	uint64_t expiry = 0;
	int i, err;

	/*
	 * Format first, on public data only: the length is fixed, the prefix
	 * is what we always send, the rest must decode.  A nonce that fails
	 * here was never ours.
	 */
	if (!nonce || !src || len != NONCE_LEN)
		return -EBADMSG;
	server_prefix(prefix);
	if (memcmp(nonce, prefix, PREFIX_LEN))
		return -EBADMSG;
	if (b64_decode(nonce + PREFIX_LEN, OPAQUE_CHARS, opaque))
		return -EBADMSG;

	err = nonce_mac(k, prefix, opaque, src, mac);
	if (err == -EAFNOSUPPORT)
		return -EBADMSG;
	if (err)
		return err;
	/* Constant time: a byte-wise early exit would let a client find the MAC by timing. */
	if (CRYPTO_memcmp(mac, opaque + 8, NONCE_MAC_LEN))
		return -EBADMSG;

	for (i = 0; i < 8; i++)
		expiry = expiry << 8 | opaque[i];
	if (now_ms >= expiry)
		return -ESTALE;
	return 0;
}

int nonce_features(const char *nonce, size_t len, uint32_t *features)
{
	uint8_t feat[3];

	if (!nonce || len < PREFIX_LEN || memcmp(nonce, NONCE_COOKIE, NONCE_COOKIE_LEN))
		return -EINVAL;
	if (b64_decode(nonce + NONCE_COOKIE_LEN, FEATURE_CHARS, feat))
		return -EINVAL;
	*features = (uint32_t)feat[0] << 16 | (uint32_t)feat[1] << 8 | feat[2];
	return 0;
}
