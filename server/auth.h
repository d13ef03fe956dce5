/* SPDX-License-Identifier: MIT */
/*
 * Login authentication (RFC 8489 §9.2 long-term credentials, SHA-256 only):
 * the decision on one LOGIN request, the error answers (401, 438, 400,
 * 429, 500), a per-source token-bucket rate limiter and the replay cache
 * of completed logins.  No logging and no I/O: the server core acts on
 * the verdicts, and the tests drive them directly.
 */
#ifndef PINHOLE_SERVER_AUTH_H
#define PINHOLE_SERVER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "nonce.h"
#include "store.h"
#include "stun.h"

/* --- rate limiting ------------------------------------------------------ */

/*
 * Token bucket per source IP (the port does not count: one host, one
 * budget; an IPv6 source is its /64).  Buckets live in a fixed
 * set-associative table indexed by a keyed hash; a new source evicts the
 * bucket of its set nearest to full, which can only give the evicted
 * source a fresh (full) bucket, never lock anyone out, and a source in
 * debt keeps its debt unless its whole set is in debt too.
 */
struct ratelimit_slot {
	uint8_t ip[16];
	uint8_t family;
	bool limited;	/* the last call refused this source */
	uint64_t milli; /* tokens * 1000 */
	uint64_t at_ms; /* last refill */
};

struct ratelimit {
	struct ratelimit_slot *v;
	uint32_t seed; /* secret: sources cannot aim at one set */
	uint32_t sets; /* power of two; RATELIMIT_WAYS slots each */
	uint32_t rate; /* tokens per second; 0: unlimited */
	uint32_t burst;
};

#define RATELIMIT_WAYS 4

/*
 * Room for about @sources sources, @rate attempts per second with bursts
 * of @burst (0: @rate).  @rate 0 turns limiting off.  0, -ENOMEM, -EIO
 * (no randomness for the hash seed).
 */
int ratelimit_init(struct ratelimit *r, uint32_t sources, uint32_t rate, uint32_t burst);
void ratelimit_fini(struct ratelimit *r);

/*
 * Spend one token of @src's bucket at @now_ms.  True when allowed.  On a
 * refusal *first is set when the previous call for @src was allowed (so
 * the caller logs once per episode, not once per packet).
 */
bool ratelimit_allow(struct ratelimit *r, const struct sockaddr *src, uint64_t now_ms, bool *first);

/* --- replay cache --------------------------------------------------------- */

/*
 * Transaction ids of completed logins, kept for the nonce lifetime: a
 * LOGIN carrying one again is a retransmission (same source: answer the
 * same) or a replay (refuse).  A ring in insertion order (so in expiry
 * order) with a chained index.
 */
struct replay_entry {
	uint8_t tid[STUN_TID_LEN];
	struct sockaddr_storage src;
	uint64_t expires_ms; /* 0: free */
	uint32_t session;
	uint32_t next; /* private: chain (index + 1) */
};

struct replay {
	struct replay_entry *v;
	uint32_t cap, head, n;
	uint32_t *buckets;
	uint32_t mask;
};

/* Room for @cap logins per nonce lifetime.  0, -EINVAL, -ENOMEM. */
int replay_init(struct replay *r, uint32_t cap);
void replay_fini(struct replay *r);

/* The unexpired entry for @tid at @now_ms, or NULL. */
const struct replay_entry *replay_find(struct replay *r, const uint8_t tid[STUN_TID_LEN],
				       uint64_t now_ms);

/*
 * Remember @tid (from @src, giving @session) until @expires_ms.  0, or
 * -ENOSPC when the oldest entry has not expired yet: the caller refuses
 * the login rather than forget a transaction id that could be replayed.
 */
int replay_add(struct replay *r, const uint8_t tid[STUN_TID_LEN], const struct sockaddr *src,
	       uint32_t session, uint64_t now_ms, uint64_t expires_ms);

/*
 * True when replay_add() at @now_ms would fail with -ENOSPC: the caller
 * refuses the login before it changes anything else.
 */
bool replay_full(const struct replay *r, uint64_t now_ms);

/* --- failed logins per account ----------------------------------------------- */

/*
 * Password guessing against one account, from any number of sources.  Policy:
 *
 *  - Every account name (existing or not, so the answers never tell which names exist)
 *    has a budget of AUTH_ACCT_BURST failed logins, refilled at one per
 *    AUTH_ACCT_REFILL_MS.  Only failures (wrong password, unknown user) spend it; with
 *    it spent, a LOGIN for the name is answered 429 without looking at the password, so
 *    a guesser learns nothing more until a token comes back: at most AUTH_ACCT_BURST
 *    guesses, then one per AUTH_ACCT_REFILL_MS, however many sources it uses.
 *  - The address that last proved the account's password (IPv4, or IPv6 /64: the unit
 *    the per-source limiter uses) has a budget of its own.  Guessing elsewhere never
 *    spends it, so the real user at their usual address keeps logging in while the
 *    account is under attack; a nonce is bound to its source, so no one can borrow that
 *    address without being on the path.  Only a guesser sharing it (the same NAT) can
 *    lock them out, and only for as long as it keeps guessing.
 *  - Nothing is locked for good: a budget refills whether or not the attack goes on,
 *    and a stopped attack leaves the account usable again after AUTH_ACCT_REFILL_MS.
 *    The price: under a sustained attack the user at a new address waits for a token.
 *  - Memory is fixed: AUTH_ACCT_SETS x AUTH_ACCT_WAYS slots inside struct auth, indexed
 *    by a keyed hash (SipHash-2-4, secret key) of the name.  A new name evicts, in its
 *    set, a slot with budget left before one remembering a good address, and a slot in
 *    debt only when every way is in debt, oldest first: a flood of random names evicts
 *    its own slots, and cannot reset an account it attacked without first putting
 *    every way of that account's (secret) set in debt.
 */
#define AUTH_ACCT_BURST	    10
#define AUTH_ACCT_REFILL_MS 30000
#define AUTH_ACCT_SETS	    1024
#define AUTH_ACCT_WAYS	    4

_Static_assert((AUTH_ACCT_SETS & (AUTH_ACCT_SETS - 1)) == 0, "sets: a power of two");
_Static_assert((uint64_t)AUTH_ACCT_BURST * AUTH_ACCT_REFILL_MS <= UINT32_MAX, "budget: 32 bits");

struct auth_acct_slot {
	uint64_t tag;	      /* keyed hash of the name; 0: free */
	uint64_t at_ms;	      /* last refill (and last use: eviction age) */
	uint32_t credit;      /* strangers' budget, in ms of refill */
	uint32_t good_credit; /* the good address's budget, in ms of refill */
	uint8_t good_ip[16];
	uint8_t good_family; /* 0: no login proved the password yet */
};

/* --- the LOGIN decision ---------------------------------------------------- */

enum auth_verdict {
	AUTH_OK = 0,
	AUTH_CHALLENGE,	   /* no credentials yet: 401 with realm and nonce */
	AUTH_BAD_REQUEST,  /* credentials incomplete or malformed: 400 */
	AUTH_STALE_NONCE,  /* our nonce, expired: 438 */
	AUTH_BAD_NONCE,	   /* not a nonce we gave this source: 401 */
	AUTH_BAD_REALM,	   /* 401 */
	AUTH_UNKNOWN_USER, /* 401, identical to a bad password */
	AUTH_BAD_PASSWORD, /* 401 */
	AUTH_STORE_ERROR,  /* the store failed (busy): 500 */
	AUTH_ACCOUNT_LIMITED, /* too many failed logins for this name: 429 */
	AUTH_VERDICT_MAX,
};

/* "ok", "challenge", "bad-request", "stale-nonce", ... for logs. */
const char *auth_verdict_name(enum auth_verdict v);

/* The STUN error code a verdict is answered with (0 for AUTH_OK). */
int auth_verdict_code(enum auth_verdict v);

struct metrics_hist;

struct auth {
	struct nonce_key nonce;
	struct store *store;
	char realm[STORE_REALM_MAX + 1];
	struct metrics_hist *store_lat; /* NULL, or where account look-ups are timed */
	/* Failed logins per account name (see above); fixed size, no allocation. */
	uint64_t acct_key[2];		/* SipHash key: secret */
	uint32_t acct_burst;		/* failures in a row; 0: no per-account limit */
	uint32_t acct_refill_ms;	/* one failure back after this long */
	struct auth_acct_slot acct[AUTH_ACCT_SETS * AUTH_ACCT_WAYS];
};

/*
 * Set up with a fresh nonce secret, @store and its realm, and the per-account
 * failure limit at AUTH_ACCT_BURST / AUTH_ACCT_REFILL_MS.  @nonce_lifetime_ms
 * 0 means NONCE_DEFAULT_LIFETIME_MS.  0, -EIO (no randomness), -EINVAL.
 * Allocates nothing: clearing the struct is all the clean-up it needs.
 */
int auth_init(struct auth *a, struct store *store, uint64_t nonce_lifetime_ms);

/*
 * Change the per-account failure limit: @burst failed logins, then one per
 * @refill_ms (@burst 0 turns it off).  Forgets every account's budget.
 * 0, or -EINVAL when @refill_ms is 0 or @burst * @refill_ms does not fit 32 bits.
 */
int auth_account_limit(struct auth *a, uint32_t burst, uint32_t refill_ms);

/*
 * Decide on LOGIN request @m (parsed and passed access_msg_check_attrs)
 * from @src.  On AUTH_OK, @user holds the account (its SHA-256 key
 * protects the answer) and *nonce / *nonce_len point at the request's
 * NONCE (the session key is derived from it).  The order is RFC 8489
 * §9.2.4's; an unknown user costs the same HMAC as a wrong password so
 * neither the answer nor its timing tells them apart.  Past the nonce and
 * realm checks (so the source is not spoofed) the name's failure budget is
 * consulted: AUTH_ACCOUNT_LIMITED (429) when it is spent, and a refusal for
 * a wrong password or an unknown user spends one.  @user and the nonce
 * outputs may be touched on failure.
 */
enum auth_verdict auth_check(struct auth *a, const struct stun_msg *m, const struct sockaddr *src,
			     uint64_t now_ms, struct store_user *user, const char **nonce,
			     size_t *nonce_len);

/*
 * Write the error response to @m for a refusal with STUN error @code
 * (401, 438: REALM, a fresh NONCE for @src, PASSWORD-ALGORITHMS; 400,
 * 429, 500: just the code) into @out, ending with FINGERPRINT.  Returns
 * the length, or a negative errno.
 */
int auth_error(struct auth *a, const struct stun_msg *m, int code, const struct sockaddr *src,
	       uint64_t now_ms, uint8_t *out, size_t cap);

#endif
