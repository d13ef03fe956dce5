// SPDX-License-Identifier: MIT
/*
 * server/auth.c: the LOGIN decisions (401 challenge, 438 stale, identical
 * 401 for unknown user and bad password, bid-down, realm), the per-source
 * rate limiter, the per-account failure limit and the replay cache.  The Makefile links tests
 * against libpinhole only, so the module is compiled in here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "access.h"
#include "addr.h"
#include "stun.h"

#include "server/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>


#include "log.h"

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse(s, 3478, &ss), 0);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* --- rate limiting ------------------------------------------------------- */

static void test_ratelimit_bucket(void **state)
{
	struct ratelimit r;
	struct sockaddr_storage a = sa("198.18.0.1:1000"), a2 = sa("198.18.0.1:2000"),
				b = sa("198.18.0.2:1000");
	bool first;

	assert_int_equal(ratelimit_init(&r, 64, 3, 3), 0);
	/* The port does not count: one host, one budget. */
	assert_true(ratelimit_allow(&r, SA(a), 1000, &first));
	assert_true(ratelimit_allow(&r, SA(a2), 1000, &first));
	assert_true(ratelimit_allow(&r, SA(a), 1000, &first));
	assert_false(ratelimit_allow(&r, SA(a), 1000, &first));
	assert_true(first);
	assert_false(ratelimit_allow(&r, SA(a), 1010, &first));
	assert_false(first);
	/* Another source is not affected. */
	assert_true(ratelimit_allow(&r, SA(b), 1010, &first));
	/* 3 per second: one token back after 334 ms. */
	assert_false(ratelimit_allow(&r, SA(a), 1300, &first));
	assert_true(ratelimit_allow(&r, SA(a), 1340, &first));
	assert_false(ratelimit_allow(&r, SA(a), 1340, &first));
	assert_true(first);
	/* A long pause refills only up to the burst. */
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_allow(&r, SA(a), 100000, NULL));
	assert_false(ratelimit_allow(&r, SA(a), 100000, NULL));
	ratelimit_fini(&r);

	assert_int_equal(ratelimit_init(&r, 64, 0, 0), 0);
	for (int i = 0; i < 1000; i++)
		assert_true(ratelimit_allow(&r, SA(a), 5, NULL));
	ratelimit_fini(&r);
}

static void test_ratelimit_eviction(void **state)
{
	struct ratelimit r;
	struct sockaddr_storage a = sa("198.18.0.1:1000"), x;
	char text[64];

	/* One set of 4 ways, burst 3: a spends its burst and is in debt. */
	assert_int_equal(ratelimit_init(&r, 1, 1, 3), 0);
	assert_int_equal(r.sets, 1);
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_allow(&r, SA(a), 10, NULL));
	assert_false(ratelimit_allow(&r, SA(a), 10, NULL));
	/*
	 * A flood of one-packet (spoofed) sources evicts each other, never the
	 * source in debt: a stays limited instead of getting a fresh burst.
	 */
	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "198.18.%d.%d:5", 1 + i / 250, 1 + i % 250);
		x = sa(text);
		assert_true(ratelimit_allow(&r, SA(x), 20, NULL));
	}
	assert_false(ratelimit_allow(&r, SA(a), 20, NULL));
	/* Every way in debt: then the oldest goes, and its source starts afresh. */
	for (int i = 0; i < RATELIMIT_WAYS; i++) {
		snprintf(text, sizeof(text), "198.18.9.%d:5", i + 1);
		x = sa(text);
		for (int k = 0; k < 3; k++)
			assert_true(ratelimit_allow(&r, SA(x), 30, NULL));
	}
	assert_true(ratelimit_allow(&r, SA(a), 40, NULL));
	ratelimit_fini(&r);
}

/* One IPv6 host owns a /64: it gets one budget, not 2^64.  IPv4-mapped is IPv4. */
static void test_ratelimit_ipv6(void **state)
{
	struct ratelimit r;
	struct sockaddr_storage a = sa("[2001:db8:1:2::1]:1000"),
				b = sa("[2001:db8:1:2:ffff::9]:7"),
				c = sa("[2001:db8:1:3::1]:1000"), m4 = sa("[::ffff:198.18.0.1]:5"),
				v4 = sa("198.18.0.1:6");

	assert_int_equal(ratelimit_init(&r, 64, 1, 2), 0);
	assert_true(ratelimit_allow(&r, SA(a), 10, NULL));
	assert_true(ratelimit_allow(&r, SA(b), 10, NULL));
	assert_false(ratelimit_allow(&r, SA(a), 10, NULL));
	assert_false(ratelimit_allow(&r, SA(b), 10, NULL));
	/* Another /64 has its own. */
	assert_true(ratelimit_allow(&r, SA(c), 10, NULL));
	assert_true(ratelimit_allow(&r, SA(m4), 10, NULL));
	assert_true(ratelimit_allow(&r, SA(v4), 10, NULL));
	assert_false(ratelimit_allow(&r, SA(m4), 10, NULL));
	/* A silence long enough to overflow a naive refill gives just the burst back. */
	assert_true(ratelimit_allow(&r, SA(a), UINT64_MAX / 2, NULL));
	assert_true(ratelimit_allow(&r, SA(a), UINT64_MAX / 2, NULL));
	assert_false(ratelimit_allow(&r, SA(a), UINT64_MAX / 2, NULL));
	ratelimit_fini(&r);
}

/* --- replay cache ---------------------------------------------------------- */

static void test_replay(void **state)
{
	struct replay r;
	struct sockaddr_storage a = sa("198.18.0.1:1000");
	uint8_t t1[12] = {1}, t2[12] = {2}, t3[12] = {3};
	const struct replay_entry *e;

	assert_int_equal(replay_init(&r, 2), 0);
	assert_null(replay_find(&r, t1, 0));
	assert_int_equal(replay_add(&r, t1, SA(a), 7, 0, 1000), 0);
	assert_int_equal(replay_add(&r, t2, SA(a), 8, 10, 1010), 0);
	e = replay_find(&r, t1, 500);
	assert_non_null(e);
	assert_int_equal(e->session, 7);
	assert_int_equal(addr_cmp(SA(e->src), SA(a)), 0);
	/* Full of unexpired ids: refuse rather than forget one. */
	assert_int_equal(replay_add(&r, t3, SA(a), 9, 500, 1500), -ENOSPC);
	/* Expired entries are recycled, oldest first. */
	assert_null(replay_find(&r, t1, 1000));
	assert_int_equal(replay_add(&r, t3, SA(a), 9, 1000, 2000), 0);
	assert_null(replay_find(&r, t1, 1000));
	assert_non_null(replay_find(&r, t2, 1000));
	assert_int_equal(replay_find(&r, t3, 1000)->session, 9);
	replay_fini(&r);
}

/* replay_full() says beforehand exactly when replay_add() would refuse. */
static void test_replay_full(void **state)
{
	struct replay r;
	struct sockaddr_storage a = sa("198.18.0.1:1000");
	uint8_t t[12] = {0};

	assert_int_equal(replay_init(&r, 3), 0);
	for (int i = 0; i < 3; i++) {
		assert_false(replay_full(&r, 100));
		t[0] = (uint8_t)i;
		assert_int_equal(replay_add(&r, t, SA(a), 1, 100, 1000 + (uint64_t)i), 0);
	}
	assert_true(replay_full(&r, 999));
	assert_int_equal(replay_add(&r, t, SA(a), 1, 999, 5000), -ENOSPC);
	assert_false(replay_full(&r, 1000));
	assert_int_equal(replay_add(&r, t, SA(a), 1, 1000, 5000), 0);
	assert_true(replay_full(&r, 1000));
	replay_fini(&r);
}

/* --- LOGIN decisions ----------------------------------------------------------- */

struct fix {
	char dir[64];
	struct store *st;
	struct auth a;
	uint8_t key[STUN_KEY_MAX];
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_server_auth_%d_XXXXXX", getpid());
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/db", f->dir);
	f->st = store_open(path, STORE_O_CREATE, NULL);
	assert_non_null(f->st);
	assert_int_equal(store_user_add(f->st, "alice", "pw-alice", 8), 0);
	assert_int_equal(auth_init(&f->a, f->st, 60000), 0);
	assert_int_equal(stun_long_term_key(STUN_PASSWORD_ALG_SHA256, "alice", 5, "pinhole", 7,
					    "pw-alice", 8, f->key),
			 32);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[160];

	store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

struct creds {
	const char *user, *realm, *nonce;
	const uint8_t *algs;
	size_t algs_len;
	uint16_t alg;
	const uint8_t *key;
	bool no_integrity;
};

static const uint8_t sha256_algs[] = {0, 2, 0, 0};

static size_t build_login(uint8_t *buf, size_t cap, const struct creds *c)
{
	uint8_t tid[12];
	struct stun_builder b;
	int len;

	assert_int_equal(stun_tid_random(tid), 0);
	stun_build_init(&b, buf, cap, access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), tid);
	if (!c) {
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
		assert_true(len > 0);
		return (size_t)len;
	}
	stun_build_add_string(&b, STUN_ATTR_USERNAME, c->user, strlen(c->user));
	stun_build_add_string(&b, STUN_ATTR_REALM, c->realm, strlen(c->realm));
	stun_build_add_string(&b, STUN_ATTR_NONCE, c->nonce, strlen(c->nonce));
	stun_build_add(&b, STUN_ATTR_PASSWORD_ALGORITHMS, c->algs, c->algs_len);
	stun_build_add_password_algorithm(&b, c->alg);
	access_add_nat(&b, PH_MAP_NONE, PH_FILTER_NONE);
	if (c->no_integrity) {
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
	} else {
		len = access_msg_finish(&b, c->key, 32);
	}
	assert_true(len > 0);
	return (size_t)len;
}

static enum auth_verdict decide(struct fix *f, const uint8_t *buf, size_t len,
				const struct sockaddr *src, uint64_t now)
{
	struct stun_msg m;
	struct store_user u;
	const char *nonce;
	size_t nlen;

	assert_int_equal(stun_msg_parse(&m, buf, len), 0);
	assert_int_equal(access_msg_check_attrs(&m, NULL), 0);
	return auth_check(&f->a, &m, src, now, &u, &nonce, &nlen);
}

/* The 401/438 for @buf: returns the nonce (static) and checks the attributes. */
static const char *challenge(struct fix *f, const uint8_t *req, size_t rlen,
			     const struct sockaddr *src, uint64_t now, int code)
{
	static char nonce[NONCE_LEN + 1];
	uint8_t out[512];
	struct stun_msg q, m;
	uint16_t algs[4];
	const char *s;
	size_t n, slen;
	int len, got;

	assert_int_equal(stun_msg_parse(&q, req, rlen), 0);
	len = auth_error(&f->a, &q, code, src, now, out, sizeof(out));
	assert_true(len > 0);
	assert_int_equal(stun_msg_parse(&m, out, (size_t)len), 0);
	assert_int_equal(m.type, access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR));
	assert_memory_equal(m.tid, q.tid, 12);
	assert_true(m.has_fingerprint);
	assert_int_equal(stun_msg_get_error(&m, &got, NULL, NULL), 0);
	assert_int_equal(got, code);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_REALM, &s, &slen), 0);
	assert_int_equal(slen, 7);
	assert_memory_equal(s, "pinhole", 7);
	assert_int_equal(stun_msg_get_password_algorithms(&m, algs, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(algs[0], STUN_PASSWORD_ALG_SHA256);
	assert_false(stun_msg_has(&m, STUN_ATTR_MESSAGE_INTEGRITY_SHA256));
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_NONCE, &s, &slen), 0);
	assert_int_equal(slen, NONCE_LEN);
	memcpy(nonce, s, slen);
	nonce[slen] = '\0';
	return nonce;
}

static void test_login_decisions(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage src = sa("198.18.0.7:4000"), other = sa("198.18.0.8:4000");
	uint8_t bad_key[32] = {1};
	uint8_t req[512];
	const char *nonce;
	char saved[NONCE_LEN + 1];
	struct creds c = {
	    .user = "alice",
	    .realm = "pinhole",
	    .algs = sha256_algs,
	    .algs_len = sizeof(sha256_algs),
	    .alg = STUN_PASSWORD_ALG_SHA256,
	    .key = f->key,
	};
	size_t len;

	/* No credentials: challenge with realm, nonce and SHA-256. */
	len = build_login(req, sizeof(req), NULL);
	assert_int_equal(decide(f, req, len, SA(src), 1000), AUTH_CHALLENGE);
	nonce = challenge(f, req, len, SA(src), 1000, 401);
	strcpy(saved, nonce);
	c.nonce = saved;

	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_OK);
	/* The nonce is bound to the source it was handed to. */
	assert_int_equal(decide(f, req, len, SA(other), 2000), AUTH_BAD_NONCE);
	/* Expired: 438, and its answer carries a fresh nonce. */
	assert_int_equal(decide(f, req, len, SA(src), 1000 + 60000 + 1), AUTH_STALE_NONCE);
	nonce = challenge(f, req, len, SA(src), 70000, 438);
	assert_string_not_equal(nonce, saved);

	/* Wrong password and unknown user: both 401. */
	c.key = bad_key;
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_BAD_PASSWORD);
	c.user = "mallory";
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_UNKNOWN_USER);
	assert_int_equal(auth_verdict_code(AUTH_UNKNOWN_USER),
			 auth_verdict_code(AUTH_BAD_PASSWORD));
	c.user = "alice";
	c.key = f->key;

	/* Bid-down: algorithms not echoed as offered, or MD5 chosen. */
	static const uint8_t md5_and_sha[] = {0, 1, 0, 0, 0, 2, 0, 0};
	c.algs = md5_and_sha;
	c.algs_len = sizeof(md5_and_sha);
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_BAD_REQUEST);
	c.algs = sha256_algs;
	c.algs_len = sizeof(sha256_algs);
	c.alg = STUN_PASSWORD_ALG_MD5;
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_BAD_REQUEST);
	c.alg = STUN_PASSWORD_ALG_SHA256;

	c.realm = "elsewhere";
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_BAD_REALM);
	c.realm = "pinhole";

	/* Credentials without integrity: just the challenge again. */
	c.no_integrity = true;
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(decide(f, req, len, SA(src), 2000), AUTH_CHALLENGE);
}

/* Unknown user and wrong password: byte-for-byte the same shape of answer. */
static void test_identical_refusals(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage src = sa("198.18.0.7:4000");
	uint8_t req[512], o1[512], o2[512], bad_key[32] = {9};
	struct creds c = {
	    .user = "alice",
	    .realm = "pinhole",
	    .algs = sha256_algs,
	    .algs_len = sizeof(sha256_algs),
	    .alg = STUN_PASSWORD_ALG_SHA256,
	    .key = bad_key,
	};
	char nonce[NONCE_LEN + 1];
	struct stun_msg m1, m2;
	size_t len;
	int l1, l2;

	assert_int_equal(nonce_mint(&f->a.nonce, 1000, SA(src), nonce, sizeof(nonce)), NONCE_LEN);
	c.nonce = nonce;
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(stun_msg_parse(&m1, req, len), 0);
	l1 = auth_error(&f->a, &m1, auth_verdict_code(decide(f, req, len, SA(src), 2000)), SA(src),
			2000, o1, sizeof(o1));
	c.user = "nobody";
	len = build_login(req, sizeof(req), &c);
	assert_int_equal(stun_msg_parse(&m2, req, len), 0);
	l2 = auth_error(&f->a, &m2, auth_verdict_code(decide(f, req, len, SA(src), 2000)), SA(src),
			2000, o2, sizeof(o2));
	assert_true(l1 > 0);
	assert_int_equal(l1, l2);
	/* Same except the transaction id (8..20) and the fingerprint (last 4 bytes). */
	assert_memory_equal(o1, o2, 8);
	assert_memory_equal(o1 + 20, o2 + 20, (size_t)l1 - 24);
}

/* --- failed logins per account ------------------------------------------------- */

/* A LOGIN for @user with @key (32 bytes) and a nonce minted for @src at @now, decided. */
static enum auth_verdict try_login(struct fix *f, const char *user, const uint8_t *key,
				   const struct sockaddr *src, uint64_t now)
{
	char nonce[NONCE_LEN + 1];
	uint8_t req[512];
	struct creds c = {
	    .user = user,
	    .realm = "pinhole",
	    .nonce = nonce,
	    .algs = sha256_algs,
	    .algs_len = sizeof(sha256_algs),
	    .alg = STUN_PASSWORD_ALG_SHA256,
	    .key = key,
	};
	size_t len;

	assert_int_equal(nonce_mint(&f->a.nonce, now, src, nonce, sizeof(nonce)), NONCE_LEN);
	len = build_login(req, sizeof(req), &c);
	return decide(f, req, len, src, now);
}

static const uint8_t wrong_key[32] = {0xee};

/*
 * Guessing from many sources: after the burst the name is answered 429 (even with the
 * right password, so a guess then tells nothing), one failure comes back per refill
 * period, and the address that proved the password keeps its own budget.
 */
static void test_account_limit(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage home = sa("198.18.1.1:4000"), home2 = sa("198.18.1.1:5000"),
				ev1 = sa("198.18.2.1:4000"), ev2 = sa("198.18.2.2:4000"),
				ev3 = sa("[2001:db8:9::1]:4000");
	uint8_t bob_key[32];

	assert_int_equal(f->a.acct_burst, AUTH_ACCT_BURST);
	assert_int_equal(f->a.acct_refill_ms, AUTH_ACCT_REFILL_MS);
	assert_int_equal(auth_account_limit(&f->a, 3, 1000), 0);
	assert_int_equal(store_user_add(f->st, "bob", "pw-bob", 6), 0);
	assert_int_equal(stun_long_term_key(STUN_PASSWORD_ALG_SHA256, "bob", 3, "pinhole", 7,
					    "pw-bob", 6, bob_key),
			 32);

	/* alice logs in from home: that address now has a budget of its own. */
	assert_int_equal(try_login(f, "alice", f->key, SA(home), 1000), AUTH_OK);
	/* Three wrong guesses from three sources spend the strangers' budget... */
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev1), 1000), AUTH_BAD_PASSWORD);
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev2), 1000), AUTH_BAD_PASSWORD);
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev3), 1000), AUTH_BAD_PASSWORD);
	/* ...then every source hears 429, the right password included. */
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev1), 1000), AUTH_ACCOUNT_LIMITED);
	assert_int_equal(try_login(f, "alice", f->key, SA(ev2), 1000), AUTH_ACCOUNT_LIMITED);
	assert_int_equal(auth_verdict_code(AUTH_ACCOUNT_LIMITED), PH_ERR_RATE_LIMITED);
	assert_string_equal(auth_verdict_name(AUTH_ACCOUNT_LIMITED), "account-limited");
	/* alice at home (any port: the address counts) is not locked out. */
	assert_int_equal(try_login(f, "alice", f->key, SA(home2), 1000), AUTH_OK);
	/* Other accounts are not touched. */
	assert_int_equal(try_login(f, "bob", bob_key, SA(ev1), 1000), AUTH_OK);
	/* One failure back per refill period, not more. */
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev1), 1999), AUTH_ACCOUNT_LIMITED);
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev1), 2000), AUTH_BAD_PASSWORD);
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev2), 2000), AUTH_ACCOUNT_LIMITED);
	/* A stopped attack leaves nothing behind: after burst periods, all of it is back. */
	assert_int_equal(try_login(f, "alice", f->key, SA(ev2), 2000 + 3000), AUTH_OK);
	/* ev2 proved the password: the good address moved there, with a fresh budget. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(try_login(f, "alice", wrong_key, SA(ev2), 5000),
				 AUTH_BAD_PASSWORD);
	/* The good address spends its own budget: 429 from there too, not elsewhere. */
	assert_int_equal(try_login(f, "alice", f->key, SA(ev2), 5000), AUTH_ACCOUNT_LIMITED);
	assert_int_equal(try_login(f, "alice", f->key, SA(ev1), 5000), AUTH_OK);
}

/* Unknown names are limited exactly like accounts: the 429 never tells which exist. */
static void test_account_limit_unknown(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage ev = sa("198.18.2.1:4000");
	enum auth_verdict v;

	assert_int_equal(auth_account_limit(&f->a, 2, 1000), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(try_login(f, "alice", wrong_key, SA(ev), 100), AUTH_BAD_PASSWORD);
		assert_int_equal(try_login(f, "nobody", wrong_key, SA(ev), 100), AUTH_UNKNOWN_USER);
	}
	v = try_login(f, "alice", wrong_key, SA(ev), 100);
	assert_int_equal(v, try_login(f, "nobody", wrong_key, SA(ev), 100));
	assert_int_equal(v, AUTH_ACCOUNT_LIMITED);
	/* Off: no limit at all. */
	assert_int_equal(auth_account_limit(&f->a, 0, 0), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(try_login(f, "alice", wrong_key, SA(ev), 100), AUTH_BAD_PASSWORD);
	assert_int_equal(try_login(f, "alice", f->key, SA(ev), 100), AUTH_OK);
	assert_int_equal(auth_account_limit(&f->a, 1, 0), -EINVAL);
	assert_int_equal(auth_account_limit(&f->a, 1u << 20, 1u << 20), -EINVAL);
}

/*
 * A flood of random names fills the fixed table and evicts its own slots: the
 * attacked account keeps its debt and its good address, and nothing grows.
 */
static void test_account_limit_flood(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage home = sa("198.18.1.1:4000"), ev = sa("198.18.2.1:4000");
	const size_t slots = AUTH_ACCT_SETS * AUTH_ACCT_WAYS;
	char name[32];
	size_t used = 0;

	assert_int_equal(auth_account_limit(&f->a, 3, 1000), 0);
	assert_int_equal(try_login(f, "alice", f->key, SA(home), 100), AUTH_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(try_login(f, "alice", wrong_key, SA(ev), 100), AUTH_BAD_PASSWORD);
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev), 100), AUTH_ACCOUNT_LIMITED);
	/* Four times the table's slots, one failure each, within alice's refill period. */
	for (size_t i = 0; i < 4 * slots; i++) {
		snprintf(name, sizeof(name), "rnd%zx", i * 2654435761u);
		assert_int_equal(try_login(f, name, wrong_key, SA(ev), 200), AUTH_UNKNOWN_USER);
	}
	for (size_t i = 0; i < slots; i++)
		used += f->a.acct[i].tag != 0;
	/*
	 * Filled, but not to the last slot for sure: the names land in sets by a
	 * keyed hash, and a set may draw fewer names than it has ways (seen: one
	 * empty slot in 4096).
	 */
	assert_true(used >= slots - slots / 64);
	assert_int_equal(sizeof(f->a.acct), slots * sizeof(struct auth_acct_slot));
	/* alice still in debt for strangers, still welcome at home. */
	assert_int_equal(try_login(f, "alice", wrong_key, SA(ev), 300), AUTH_ACCOUNT_LIMITED);
	assert_int_equal(try_login(f, "alice", f->key, SA(home), 300), AUTH_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratelimit_bucket),
	    cmocka_unit_test(test_ratelimit_eviction),
	    cmocka_unit_test(test_ratelimit_ipv6),
	    cmocka_unit_test(test_replay_full),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test_setup_teardown(test_login_decisions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identical_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_limit_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_limit_flood, setup, teardown),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
