/* SPDX-License-Identifier: MIT */
/*
 * Stateless expiring nonces for RFC 8489 long-term credentials (§9.2).
 *
 * A nonce is "obMatJos2" + the 24-bit security feature set as 4 base64
 * characters (§9.2: the nonce cookie; bit 0, "password algorithms", is
 * set so clients must use PASSWORD-ALGORITHMS and may pick SHA-256) +
 * base64 of {expiry in ms, big-endian 8 bytes} || {HMAC-SHA256(server
 * secret, cookie || features || expiry || client address || port),
 * truncated to NONCE_MAC_LEN}.  The server keeps nothing per client: it
 * re-derives the MAC from the request's source.  A nonce therefore works
 * only from the address it was handed to, until it expires.  Replay
 * within the lifetime is not detected here (the login handler's job).
 */
#ifndef PINHOLE_NONCE_H
#define PINHOLE_NONCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NONCE_COOKIE "obMatJos2"
#define NONCE_COOKIE_LEN 9
#define NONCE_SECRET_LEN 32
#define NONCE_MAC_LEN 16 /* 128 bits: forging takes 2^128 tries */
#define NONCE_DEFAULT_LIFETIME_MS 60000
/* Cookie, 4 feature characters, base64 of 8 + NONCE_MAC_LEN bytes. */
#define NONCE_LEN (NONCE_COOKIE_LEN + 4 + 32)

/* RFC 8489 §18.1 security feature set; bit 0 is the most significant of 24. */
enum nonce_feature {
	NONCE_FEAT_PASSWORD_ALGORITHMS = 1u << 23,
	NONCE_FEAT_USERNAME_ANONYMITY = 1u << 22,
};

/* The server's nonce secret and policy. */
struct nonce_key {
	uint8_t secret[NONCE_SECRET_LEN];
	uint64_t lifetime_ms; /* a minted nonce is good for this long */
};

/*
 * Fill @k with a fresh random secret and the default lifetime.  0, or -EIO
 * when the system cannot supply randomness (never a weak secret).
 */
int nonce_key_init_random(struct nonce_key *k);

/*
 * Fill @k from a given secret (@len bytes, hashed down if longer than
 * NONCE_SECRET_LEN, so several servers can share one) and @lifetime_ms
 * (0: the default).  0, or -EINVAL for an empty secret.
 */
int nonce_key_init(struct nonce_key *k, const uint8_t *secret, size_t len, uint64_t lifetime_ms);

/*
 * Write a NUL-terminated nonce for a client at @src (AF_INET or AF_INET6;
 * the port counts) into @out.  @now_ms is any clock the matching
 * nonce_check() calls use.  Returns its length (NONCE_LEN), -ENOSPC when
 * @cap < NONCE_LEN + 1, -EAFNOSUPPORT for another family, -ENOMEM if the
 * HMAC fails.
 */
int nonce_mint(const struct nonce_key *k, uint64_t now_ms, const struct sockaddr *src, char *out,
	       size_t cap);

/*
 * Check @nonce (@len bytes, as received; need not be NUL-terminated) from
 * a request that came from @src.  Returns 0 when this server minted it for
 * @src and it has not expired; -ESTALE when it did and it has (answer 438
 * with a new nonce); -EBADMSG for anything else: wrong format, forged,
 * minted for another source or by another secret (answer 401).  The MAC
 * is compared in constant time and checked before the expiry, so a forged
 * nonce never reads as merely stale.  -ENOMEM if the HMAC fails.
 */
int nonce_check(const struct nonce_key *k, uint64_t now_ms, const struct sockaddr *src,
		const char *nonce, size_t len);

/*
 * The security feature set of a nonce that starts with the cookie (what a
 * client reads, RFC 8489 §9.2.4).  0, or -EINVAL when @nonce has no
 * cookie or its 4 feature characters are not base64.
 */
int nonce_features(const char *nonce, size_t len, uint32_t *features);

#endif
