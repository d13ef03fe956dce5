// SPDX-License-Identifier: MIT
/*
 * LOGIN authentication, rate limiting and replay detection (auth.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "access.h"
#include "auth.h"
#include "metrics.h"

/* --- rate limiting ------------------------------------------------------ */

int ratelimit_init(struct ratelimit *r, uint32_t sources, uint32_t rate, uint32_t burst)
{
	uint32_t sets = 1;

	memset(r, 0, sizeof(*r));
	while (sets * RATELIMIT_WAYS < sources && sets < (1u << 20))
		sets <<= 1;
	/* A secret seed: nobody can pick addresses that land in one chosen set. */
	if (getrandom(&r->seed, sizeof(r->seed), 0) != sizeof(r->seed))
		return -EIO;
	r->v = calloc((size_t)sets * RATELIMIT_WAYS, sizeof(*r->v));
	if (!r->v)
		return -ENOMEM;
	r->sets = sets;
	r->rate = rate;
	r->burst = burst ? burst : rate;
	return 0;
}

void ratelimit_fini(struct ratelimit *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/*
 * The budget key of @sa: an IPv4 address (also when IPv4-mapped), or the
 * /64 of an IPv6 one, since one IPv6 host owns a whole /64 and would
 * otherwise get 2^64 buckets.  False for other families.
 */
static bool ip_key(const struct sockaddr *sa, uint8_t ip[16], uint8_t *family)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	const uint8_t *a6;

	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = 4;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (!memcmp(a6, v4mapped, sizeof(v4mapped))) {
			memcpy(ip, a6 + 12, 4);
			*family = 4;
		} else {
			memcpy(ip, a6, 8);
			*family = 6;
		}
		return true;
	}
	return false;
}

static uint32_t bytes_hash(const uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t h = 2166136261u ^ seed;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	/* FNV's low bits mix poorly and the set index is taken from them. */
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}

/* @slot's tokens (milli) at @now_ms, refilled but not stored. */
static uint64_t refilled(const struct ratelimit *r, const struct ratelimit_slot *slot,
			 uint64_t now_ms)
{
	uint64_t cap = (uint64_t)r->burst * 1000, elapsed, milli;

	elapsed = now_ms > slot->at_ms ? now_ms - slot->at_ms : 0;
	/* Past a full refill, stop multiplying: no overflow after a long silence. */
	if (elapsed >= cap / (r->rate ? r->rate : 1) + 1)
		return cap;
	milli = slot->milli + elapsed * r->rate;
	return milli > cap ? cap : milli;
}

bool ratelimit_allow(struct ratelimit *r, const struct sockaddr *src, uint64_t now_ms, bool *first)
{
	struct ratelimit_slot *set, *slot = NULL, *victim = NULL;
	uint64_t cap, best = 0;
	uint8_t ip[16], fam;
	bool was_limited;

	if (first)
		*first = false;
	if (!r->rate)
		return true;
	if (!ip_key(src, ip, &fam))
		return false;
	set = &r->v[(bytes_hash(ip, 16, r->seed ^ fam) & (r->sets - 1)) * RATELIMIT_WAYS];
	cap = (uint64_t)r->burst * 1000;
	for (int w = 0; w < RATELIMIT_WAYS; w++) {
		uint64_t t;

		if (set[w].family == fam && !memcmp(set[w].ip, ip, 16)) {
			slot = &set[w];
			break;
		}
		/*
		 * Evict the bucket nearest to full: forgetting it gives its source
		 * the least it did not have.  A source in debt is evicted only when
		 * every way is, so a flood of (spoofed) one-packet sources cannot
		 * reset a limited source to a full burst.
		 */
		t = set[w].family ? refilled(r, &set[w], now_ms) : cap + 1;
		if (!victim || t > best || (t == best && set[w].at_ms < victim->at_ms)) {
			best = t;
			victim = &set[w];
		}
	}
	if (!slot) {
		slot = victim;
		memcpy(slot->ip, ip, 16);
		slot->family = fam;
		slot->milli = cap;
		slot->limited = false;
		slot->at_ms = now_ms;
	}
	/* rate tokens per 1000 ms is rate milli-tokens per ms. */
	slot->milli = refilled(r, slot, now_ms);
	slot->at_ms = now_ms > slot->at_ms ? now_ms : slot->at_ms;
	was_limited = slot->limited;
	if (slot->milli >= 1000) {
		slot->milli -= 1000;
		slot->limited = false;
		return true;
	}
	slot->limited = true;
	if (first)
		*first = !was_limited;
	return false;
}

/* --- replay cache --------------------------------------------------------- */

int replay_init(struct replay *r, uint32_t cap)
{
	uint32_t buckets = 1;

	memset(r, 0, sizeof(*r));
	if (!cap || cap > (1u << 24))
		return -EINVAL;
	while (buckets < cap)
		buckets <<= 1;
	r->v = calloc(cap, sizeof(*r->v));
	r->buckets = calloc(buckets, sizeof(*r->buckets));
	if (!r->v || !r->buckets) {
		replay_fini(r);
		return -ENOMEM;
	}
	r->cap = cap;
	r->mask = buckets - 1;
	return 0;
}

void replay_fini(struct replay *r)
{
	free(r->v);
	free(r->buckets);
	memset(r, 0, sizeof(*r));
}

static uint32_t *tid_bucket(struct replay *r, const uint8_t *tid)
{
	return &r->buckets[bytes_hash(tid, STUN_TID_LEN, 0) & r->mask];
}

const struct replay_entry *replay_find(struct replay *r, const uint8_t tid[STUN_TID_LEN],
				       uint64_t now_ms)
{
	for (uint32_t i = *tid_bucket(r, tid); i; i = r->v[i - 1].next) {
		const struct replay_entry *e = &r->v[i - 1];

		if (e->expires_ms > now_ms && !memcmp(e->tid, tid, STUN_TID_LEN))
			return e;
	}
	return NULL;
}

bool replay_full(const struct replay *r, uint64_t now_ms)
{
	return r->cap && r->v[r->head].expires_ms > now_ms;
}

int replay_add(struct replay *r, const uint8_t tid[STUN_TID_LEN], const struct sockaddr *src,
	       uint32_t session, uint64_t now_ms, uint64_t expires_ms)
{
	struct replay_entry *e = &r->v[r->head];
	uint32_t *p;

	if (e->expires_ms) {
		if (e->expires_ms > now_ms)
			return -ENOSPC;
		/* Recycle the oldest: unlink it from its chain first. */
		for (p = tid_bucket(r, e->tid); *p; p = &r->v[*p - 1].next) {
			if (*p == r->head + 1) {
				*p = e->next;
				break;
			}
		}
		r->n--;
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->tid, tid, STUN_TID_LEN);
	memcpy(&e->src, src,
	       src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in));
	e->session = session;
	e->expires_ms = expires_ms ? expires_ms : 1;
	p = tid_bucket(r, tid);
	e->next = *p;
	*p = r->head + 1;
	r->head = (r->head + 1) % r->cap;
	r->n++;
	return 0;
}

/* --- failed logins per account ----------------------------------------------- */

static inline uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl64(v1, 13) ^ v0;                                                          \
		v0 = rotl64(v0, 32);                                                               \
		v2 += v3;                                                                          \
		v3 = rotl64(v3, 16) ^ v2;                                                          \
		v0 += v3;                                                                          \
		v3 = rotl64(v3, 21) ^ v0;                                                          \
		v2 += v1;                                                                          \
		v1 = rotl64(v1, 17) ^ v2;                                                          \
		v2 = rotl64(v2, 32);                                                               \
	} while (0)

/*
 * SipHash-2-4 (Aumasson and Bernstein): names are chosen by the attacker, and with
 * a plain hash they could pick ones that all land in one set and push an account
 * they attack out of the table.  Words are read little-endian, as the paper says.
 */
static uint64_t siphash24(const uint64_t k[2], const uint8_t *p, size_t n)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t m, last = (uint64_t)n << 56;
	size_t i;

	for (; n >= 8; n -= 8, p += 8) {
		m = 0;
		for (i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < n; i++)
		last |= (uint64_t)p[i] << (8 * i);
	v3 ^= last;
	SIPROUND;
	SIPROUND;
	v0 ^= last;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

int auth_account_limit(struct auth *a, uint32_t burst, uint32_t refill_ms)
{
	if (burst && (!refill_ms || (uint64_t)burst * refill_ms > UINT32_MAX))
		return -EINVAL;
	a->acct_burst = burst;
	a->acct_refill_ms = refill_ms;
	memset(a->acct, 0, sizeof(a->acct));
	return 0;
}

/* Refill both budgets of @slot up to @now_ms. */
static void acct_refill(const struct auth *a, struct auth_acct_slot *slot, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)a->acct_burst * a->acct_refill_ms, dt;

	/* Budgets are kept in milliseconds of refill: a millisecond earns one. */
	dt = now_ms > slot->at_ms ? now_ms - slot->at_ms : 0;
	slot->credit = (uint32_t)(slot->credit + dt > cap ? cap : slot->credit + dt);
	slot->good_credit = (uint32_t)(slot->good_credit + dt > cap ? cap : slot->good_credit + dt);
	if (now_ms > slot->at_ms)
		slot->at_ms = now_ms;
}

/*
 * How willing we are to evict @slot (refilled): 0 a stranger's budget with room,
 * 1 the same remembering a good address, 2 a budget in debt.
 */
static int acct_keep_class(const struct auth *a, const struct auth_acct_slot *slot)
{
	if (slot->credit < a->acct_refill_ms || slot->good_credit < a->acct_refill_ms)
		return 2;
	return slot->good_family ? 1 : 0;
}

/*
 * The slot for the name hashed to @tag: found, or (@add) a new one with full budgets
 * taken from the least valuable way of its set; NULL when absent and !@add.
 */
static struct auth_acct_slot *acct_slot(struct auth *a, uint64_t tag, uint64_t now_ms, bool add)
{
	struct auth_acct_slot *set, *victim = NULL;
	int best = 3, cls;

	set = &a->acct[(tag & (AUTH_ACCT_SETS - 1)) * AUTH_ACCT_WAYS];
	for (int w = 0; w < AUTH_ACCT_WAYS; w++) {
		if (set[w].tag == tag) {
			acct_refill(a, &set[w], now_ms);
			return &set[w];
		}
		if (!add)
			continue;
		if (!set[w].tag) {
			cls = -1;
		} else {
			acct_refill(a, &set[w], set[w].at_ms > now_ms ? set[w].at_ms : now_ms);
			cls = acct_keep_class(a, &set[w]);
		}
		if (cls < best || (cls == best && set[w].at_ms < victim->at_ms)) {
			best = cls;
			victim = &set[w];
		}
	}
	if (!add)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	victim->tag = tag;
	victim->at_ms = now_ms;
	victim->credit = a->acct_burst * a->acct_refill_ms;
	victim->good_credit = victim->credit;
	return victim;
}

static uint64_t acct_tag(const struct auth *a, const char *name, size_t len)
{
	uint64_t t = siphash24(a->acct_key, (const uint8_t *)name, len);

	/* 0 marks a free slot. */
	return t ? t : 1;
}

static bool acct_is_good(const struct auth_acct_slot *slot, const uint8_t ip[16], uint8_t fam)
{
	return slot->good_family && slot->good_family == fam && !memcmp(slot->good_ip, ip, 16);
}

/* --- the LOGIN decision ---------------------------------------------------- */

static const char *const verdict_names[AUTH_VERDICT_MAX] = {
    [AUTH_OK] = "ok",
    [AUTH_CHALLENGE] = "challenge",
    [AUTH_BAD_REQUEST] = "bad-request",
    [AUTH_STALE_NONCE] = "stale-nonce",
    [AUTH_BAD_NONCE] = "bad-nonce",
    [AUTH_BAD_REALM] = "bad-realm",
    [AUTH_UNKNOWN_USER] = "unknown-user",
    [AUTH_BAD_PASSWORD] = "bad-password",
    [AUTH_STORE_ERROR] = "store-error",
    [AUTH_ACCOUNT_LIMITED] = "account-limited",
};

const char *auth_verdict_name(enum auth_verdict v)
{
	if ((unsigned int)v >= AUTH_VERDICT_MAX)
		return "?";
	return verdict_names[v];
}

int auth_verdict_code(enum auth_verdict v)
{
	switch (v) {
	case AUTH_OK:
		return 0;
	case AUTH_BAD_REQUEST:
		return STUN_ERR_BAD_REQUEST;
	case AUTH_STALE_NONCE:
		return STUN_ERR_STALE_NONCE;
	case AUTH_STORE_ERROR:
		return STUN_ERR_SERVER_ERROR;
	case AUTH_ACCOUNT_LIMITED:
		return PH_ERR_RATE_LIMITED;
	default:
		return STUN_ERR_UNAUTHORIZED;
	}
}

/* What we offer in PASSWORD-ALGORITHMS: SHA-256 without parameters. */
static const uint16_t offered_algs[] = {STUN_PASSWORD_ALG_SHA256};
static const uint8_t offered_algs_wire[] = {0x00, 0x02, 0x00, 0x00};

int auth_init(struct auth *a, struct store *store, uint64_t nonce_lifetime_ms)
{
	const char *realm;
	int err;

	memset(a, 0, sizeof(*a));
	if (!store)
		return -EINVAL;
	realm = store_realm(store);
	if (!realm || strlen(realm) > STORE_REALM_MAX)
		return -EINVAL;
	err = nonce_key_init_random(&a->nonce);
	if (err)
		return err;
	if (nonce_lifetime_ms)
		a->nonce.lifetime_ms = nonce_lifetime_ms;
	a->store = store;
	strcpy(a->realm, realm);
	if (getrandom(a->acct_key, sizeof(a->acct_key), 0) != sizeof(a->acct_key))
		return -EIO;
	return auth_account_limit(a, AUTH_ACCT_BURST, AUTH_ACCT_REFILL_MS);
}

enum auth_verdict auth_check(struct auth *a, const struct stun_msg *m, const struct sockaddr *src,
			     uint64_t now_ms, struct store_user *user, const char **nonce,
			     size_t *nonce_len)
{
	static const uint8_t dummy_key[STORE_KEY_SHA256_LEN];
	const char *uname, *realm;
	size_t ulen, rlen;
	const uint8_t *algs;
	uint16_t algs_len, alg;
	char name[STORE_NAME_MAX + 1];
	struct auth_acct_slot *slot;
	uint64_t t0, tag = 0;
	uint8_t ip[16] = {0}, fam = 0;
	bool known;
	int err;

	/* No SHA-256 integrity (none, or only the SHA-1 one we never offer): challenge. */
	if (!stun_msg_has(m, STUN_ATTR_MESSAGE_INTEGRITY_SHA256))
		return AUTH_CHALLENGE;
	if (stun_msg_get_string(m, STUN_ATTR_USERNAME, &uname, &ulen) ||
	    stun_msg_get_string(m, STUN_ATTR_REALM, &realm, &rlen) ||
	    stun_msg_get_string(m, STUN_ATTR_NONCE, nonce, nonce_len))
		return AUTH_BAD_REQUEST;
	/*
	 * Bid-down protection (§9.2.4): the algorithms must come back exactly
	 * as offered, and the one chosen must be among them.
	 */
	if (stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS, &algs, &algs_len) ||
	    algs_len != sizeof(offered_algs_wire) ||
	    memcmp(algs, offered_algs_wire, sizeof(offered_algs_wire)) ||
	    stun_msg_get_password_algorithm(m, &alg) || alg != STUN_PASSWORD_ALG_SHA256)
		return AUTH_BAD_REQUEST;
	err = nonce_check(&a->nonce, now_ms, src, *nonce, *nonce_len);
	if (err == -ESTALE)
		return AUTH_STALE_NONCE;
	if (err)
		return AUTH_BAD_NONCE;
	if (rlen != strlen(a->realm) || memcmp(realm, a->realm, rlen))
		return AUTH_BAD_REALM;
	/*
	 * The source holds a nonce we gave it, so it is not spoofed: from here a
	 * refusal spends the name's budget, and a spent budget refuses before the
	 * password is even looked at (so a guess made now tells nothing).
	 */
	if (a->acct_burst) {
		tag = acct_tag(a, uname, ulen);
		slot = acct_slot(a, tag, now_ms, false);
		ip_key(src, ip, &fam);
		if (slot && (acct_is_good(slot, ip, fam) ? slot->good_credit : slot->credit) <
				a->acct_refill_ms)
			return AUTH_ACCOUNT_LIMITED;
	}
	known = ulen <= STORE_NAME_MAX;
	if (known) {
		memcpy(name, uname, ulen);
		name[ulen] = '\0';
		t0 = metrics_now_ns();
		err = store_user_get(a->store, name, user);
		if (a->store_lat)
			metrics_hist_add(a->store_lat, metrics_now_ns() - t0);
		if (err == -ENOENT || err == -EINVAL)
			known = false;
		else if (err)
			return AUTH_STORE_ERROR;
	}
	/* The same HMAC either way: the timing must not tell a user apart from a stranger. */
	err = access_msg_verify(m, known ? user->key_sha256 : dummy_key, STORE_KEY_SHA256_LEN);
	if (known && err == -ENOMEM)
		return AUTH_STORE_ERROR;
	if (!known || err) {
		if (a->acct_burst) {
			/* Slot looked up again: nothing between the two calls can move it. */
			slot = acct_slot(a, tag, now_ms, true);
			if (acct_is_good(slot, ip, fam))
				slot->good_credit -= a->acct_refill_ms;
			else
				slot->credit -= a->acct_refill_ms;
		}
		return known ? AUTH_BAD_PASSWORD : AUTH_UNKNOWN_USER;
	}
	if (a->acct_burst) {
		slot = acct_slot(a, tag, now_ms, true);
		if (!acct_is_good(slot, ip, fam)) {
			/* A new good address starts with a full budget of its own. */
			memcpy(slot->good_ip, ip, 16);
			slot->good_family = fam;
			slot->good_credit = a->acct_burst * a->acct_refill_ms;
		}
	}
	return AUTH_OK;
}

int auth_error(struct auth *a, const struct stun_msg *m, int code, const struct sockaddr *src,
	       uint64_t now_ms, uint8_t *out, size_t cap)
{
	char nonce[NONCE_LEN + 1];
	struct stun_builder b;
	int n;

	stun_build_init(&b, out, cap, stun_type_make(stun_type_method(m->type), STUN_CLASS_ERROR),
			m->tid);
	stun_build_add_error(&b, code, NULL);
	if (code == STUN_ERR_UNAUTHORIZED || code == STUN_ERR_STALE_NONCE) {
		n = nonce_mint(&a->nonce, now_ms, src, nonce, sizeof(nonce));
		if (n < 0)
			return n;
		stun_build_add_string(&b, STUN_ATTR_REALM, a->realm, strlen(a->realm));
		stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, (size_t)n);
		stun_build_add_password_algorithms(&b, offered_algs, 1);
	}
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}
