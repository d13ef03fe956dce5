// SPDX-License-Identifier: MIT
/*
 * Seed builder for the fuzz corpora: writes small binary seeds for every
 * target into DIR/<target>/, built with the codec itself from the same
 * values the unit tests use (tests/test_access.c's tid, token and
 * contacts; the endpoint target's script constants) and, for
 * fuzz_server, whole login / fetch / keepalive / punch / logout exchanges
 * as records (fuzz_util.h) whose nonce, session and keys the harness fills
 * in.  The RFC 5769 vectors are added by mkcorpus.sh from tests/test_stun.c.
 * Usage: seeds DIR
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "fuzz_util.h"
#include "nonce.h"
#include "wire.h"

static const char *out_dir;
static const uint8_t tid[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t token[PH_TOKEN_LEN] = FUZZ_EP_TOKEN;
static const uint8_t key[PH_PAIR_KEY_LEN] = "fuzz access key, thirty-two byte";

static void put(const char *target, const char *name, const void *buf, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static struct sockaddr_storage srcs_v4_0;

static struct access_contact contact(const char *name, enum ph_contact_state state,
				     struct sockaddr_storage refl, const uint8_t *pair_key)
{
	struct access_contact c = {0};

	c.state = state;
	c.flags =
	    state == PH_CONTACT_ONLINE || state == PH_CONTACT_MOVED ? PH_CONTACT_DIRECT_OK : 0;
	c.mapping = PH_MAP_ENDPOINT_INDEPENDENT;
	c.filtering = PH_FILTER_ADDRESS_PORT_DEPENDENT;
	snprintf(c.name, sizeof(c.name), "%s", name);
	if (state == PH_CONTACT_ONLINE || state == PH_CONTACT_MOVED) {
		c.reflexive = refl;
		c.local = v4("10.0.0.5", 4000);
		memcpy(c.pair_key, pair_key, PH_PAIR_KEY_LEN);
	}
	return c;
}

/* Every access message shape the protocol uses; closed under @k when @k is set. */
static int access_msgs(uint8_t bufs[][1500], size_t *lens, const uint8_t *k)
{
	struct access_keepalive ka = {20000, 3000, 60000};
	struct sockaddr_storage a = v4("198.51.100.7", 40000), a6 = v6("2001:db8::7", 40000);
	struct access_contact bob = contact("bob", PH_CONTACT_ONLINE, v4("198.18.0.3", 4000),
					    (const uint8_t *)FUZZ_EP_BOB_KEY);
	struct access_contact carol = contact("carol", PH_CONTACT_OFFLINE, a, key);
	struct access_contact dave = contact("dave", PH_CONTACT_MOVED, a6, key);
	static const uint16_t algs[] = {STUN_PASSWORD_ALG_SHA256};
	struct stun_builder b;
	int n = 0, len;

#define BEGIN(method, cls) stun_build_init(&b, bufs[n], 1500, access_type(method, cls), tid)
#define END()                                                                                      \
	do {                                                                                       \
		len = k ? access_msg_finish(&b, k, PH_PAIR_KEY_LEN) : stun_build_finish(&b);       \
		if (len < 0)                                                                       \
			return len;                                                                \
		lens[n++] = (size_t)len;                                                           \
	} while (0)

	BEGIN(PH_METHOD_LOGIN, STUN_CLASS_REQUEST);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, "alice", 5);
	stun_build_add_string(&b, STUN_ATTR_REALM, "pinhole.test", 12);
	stun_build_add_string(&b, STUN_ATTR_NONCE, "obMatJos2gAAA", 13);
	stun_build_add_password_algorithms(&b, algs, 1);
	stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	access_add_claimed_address(&b, SA(a));
	access_add_local_address(&b, SA(a));
	access_add_local_address(&b, SA(a6));
	access_add_nat(&b, PH_MAP_ENDPOINT_INDEPENDENT, PH_FILTER_ADDRESS_DEPENDENT);
	END();
	BEGIN(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS);
	stun_build_add_xor_addr(&b, SA(a));
	access_add_session(&b, FUZZ_EP_SESS_ID, token);
	access_add_keepalive(&b, &ka);
	access_add_page(&b, 0, 1);
	END();
	BEGIN(PH_METHOD_FETCH, STUN_CLASS_SUCCESS);
	access_add_session(&b, FUZZ_EP_SESS_ID, token);
	access_add_page(&b, 0, 1);
	access_add_contact(&b, &bob);
	access_add_contact(&b, &carol);
	access_add_contact(&b, &dave);
	END();
	BEGIN(PH_METHOD_PUNCH, STUN_CLASS_REQUEST);
	access_add_session(&b, FUZZ_EP_SESS_ID, token);
	access_add_presence(&b, &dave);
	access_add_punch_flags(&b, PH_PUNCH_SEND);
	access_add_peer_address(&b, SA(a6));
	END();
	BEGIN(PH_METHOD_PRESENCE, STUN_CLASS_REQUEST);
	access_add_session(&b, FUZZ_EP_SESS_ID, token);
	access_add_presence(&b, &bob);
	END();
	BEGIN(PH_METHOD_ONLINE, STUN_CLASS_REQUEST);
	access_add_peer_name(&b, "bob", 3);
	END();
	BEGIN(PH_METHOD_MESSAGE, STUN_CLASS_REQUEST);
	access_add_peer_name(&b, "bob", 3);
	access_add_text(&b, "h\xc3\xa9llo\tw\xe2\x82\xacrld", 14);
	END();
	BEGIN(PH_METHOD_PROBE, STUN_CLASS_INDICATION);
	access_add_peer_name(&b, "bob", 3);
	END();
	stun_build_init(&b, bufs[n], 1500, STUN_BINDING_REQUEST, tid);
	access_add_session(&b, FUZZ_EP_SESS_ID, token);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0)
		return len;
	lens[n++] = (size_t)len;
	return n;
#undef BEGIN
#undef END
}

static void binding_seeds(void)
{
	static const uint16_t unknown[] = {0x0002, 0x7F00};
	uint8_t buf[256];
	struct stun_builder b;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	put("binding", "plain", buf, (size_t)stun_build_finish(&b));
	stun_build_fingerprint(&b);
	put("binding", "fingerprint", buf, (size_t)stun_build_finish(&b));
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	stun_build_add_change_request(&b, STUN_CHANGE_IP | STUN_CHANGE_PORT);
	stun_build_add_response_port(&b, 5000);
	stun_build_add_padding(&b, 16);
	stun_build_fingerprint(&b);
	put("binding", "rfc5780", buf, (size_t)stun_build_finish(&b));
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
	for (size_t i = 0; i < 2; i++)
		stun_build_add(&b, unknown[i], "abcd", 4);
	stun_build_add_string(&b, STUN_ATTR_SOFTWARE, "seed", 4);
	len = stun_build_finish(&b);
	put("binding", "unknown", buf, (size_t)len);
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_INDICATION, tid);
	put("binding", "indication", buf, (size_t)stun_build_finish(&b));
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	put("binding", "other-method", buf, (size_t)stun_build_finish(&b));
}

static void nonce_seeds(void)
{
	static const uint8_t secret[] = FUZZ_NONCE_SECRET;
	struct sockaddr_storage src = v4("198.18.0.1", 40000);
	struct nonce_key k;
	char n[NONCE_LEN + 1];

	/* Minted for fuzz_nonce's first source: genuine, then stale as the clock moves. */
	if (nonce_key_init(&k, secret, sizeof(secret) - 1, 0) ||
	    nonce_mint(&k, FUZZ_NONCE_NOW_MS - 1000, SA(src), n, sizeof(n)) != NONCE_LEN)
		exit(1);
	put("nonce", "minted", n, NONCE_LEN);
	put("nonce", "prefix", n, NONCE_COOKIE_LEN + 4);
	memset(n, 0, sizeof(n));
	n[0] = 1;
	put("nonce", "flip-first", n, 1);
}

/* Endpoint op: see fuzz_endpoint.c (op, flags, 2-byte length, bytes). */
static size_t ep_op(uint8_t *p, uint8_t op, uint8_t flags, const uint8_t *msg, size_t len)
{
	p[0] = op;
	p[1] = flags;
	wire_wr16(p + 2, (uint16_t)len);
	memcpy(p + 4, msg, len);
	return 4 + len;
}

enum {
	S = 0,
	P = 1,
	O = 2,
	X = 3,
	TID = 4,
	K_SESS = 1 << 3,
	K_PAIR = 2 << 3,
	K_LT = 3 << 3,
	REPLAY = 0x20,
	T_150 = 0x40,
	T_2S = 0x80,
	T_25S = 0xC0
};

static void endpoint_seeds(uint8_t bufs[][1500], const size_t *lens)
{
	/* access_msgs() order: login req, login ok, fetch ok, punch, presence, online, message,
	 * probe, keepalive. */
	uint8_t in[8192], bind_ok[64];
	struct sockaddr_storage o = v4("127.0.0.2", 3479), me = v4("127.0.0.1", 5555);
	struct stun_builder b;
	size_t n;
	int len;

	/* Stage 0: discovery answered with OTHER-ADDRESS, then a 401, all with the right tid. */
	stun_build_init(&b, bind_ok, sizeof(bind_ok), STUN_BINDING_SUCCESS, tid);
	stun_build_add_xor_addr(&b, SA(me));
	stun_build_add_addr(&b, STUN_ATTR_OTHER_ADDRESS, SA(o));
	len = stun_build_finish(&b);
	n = 0;
	in[n++] = 0;
	n += ep_op(in + n, S | TID, 0, bind_ok, (size_t)len);
	n += ep_op(in + n, O | TID, 0, bind_ok, (size_t)len);
	n += ep_op(in + n, S | TID | T_2S, 0, bind_ok, (size_t)len);
	n += ep_op(in + n, S | TID | K_LT, 0, bufs[1], lens[1]);
	put("endpoint", "discovery", in, n);

	/* Stage 1 and 2: the server's signed instructions and bob's signed messages. */
	for (uint8_t stage = 1; stage <= 2; stage++) {
		char name[32];

		n = 0;
		in[n++] = stage;
		n += ep_op(in + n, S | K_SESS, 0, bufs[3], lens[3]); /* PUNCH */
		n += ep_op(in + n, S | K_SESS, 0, bufs[4], lens[4]); /* PRESENCE */
		n += ep_op(in + n, P | K_PAIR, 0, bufs[6], lens[6]); /* MESSAGE */
		n += ep_op(in + n, X | K_PAIR, 0, bufs[7], lens[7]); /* PROBE from elsewhere */
		n += ep_op(in + n, O | REPLAY, 0, NULL, 0);	     /* ...replayed from O */
		n += ep_op(in + n, P | K_PAIR | T_2S, 0, bufs[5], lens[5]); /* ONLINE */
		n += ep_op(in + n, S | TID | K_SESS | T_25S, 0, bufs[8], lens[8]);
		snprintf(name, sizeof(name), "online-stage%u", stage);
		put("endpoint", name, in, n);

		/* The same content unsigned, from the wrong places: must all be ignored. */
		n = 0;
		in[n++] = stage;
		n += ep_op(in + n, S, 0, bufs[3], lens[3]);
		n += ep_op(in + n, X | K_SESS, 0, bufs[4], lens[4]);
		n += ep_op(in + n, X, 0, bufs[6], lens[6]);
		n += ep_op(in + n, S | TID | K_SESS, 0, bufs[2], lens[2]); /* FETCH page again */
		snprintf(name, sizeof(name), "forged-stage%u", stage);
		put("endpoint", name, in, n);
	}

	/*
	 * Reflection reproducer: bob's genuine PROBE replayed unchanged from the
	 * stranger X makes alice send ONLINE (and its retransmissions) to X.
	 * Passes by default; fails under FUZZ_EP_STRICT=1 (see fuzz_endpoint.c).
	 */
	n = 0;
	in[n++] = 2;
	n += ep_op(in + n, P | K_PAIR, 0, bufs[7], lens[7]);
	n += ep_op(in + n, X | REPLAY, 0, NULL, 0);
	put("endpoint", "replay-probe-reflection", in, n);
}

/* --- fuzz_server: whole exchanges, as records (fuzz_util.h) ------------------------------ */

struct srv_seed {
	uint8_t b[8192];
	size_t n;
};

static const uint8_t dummy_key[32] = "replaced by fuzz_server's fix-up";

static void s_begin(struct srv_seed *sd, uint8_t opts)
{
	sd->n = 0;
	sd->b[sd->n++] = opts;
}

static void s_rec(struct srv_seed *sd, uint8_t flags, uint8_t dt, const uint8_t *msg, size_t len)
{
	sd->b[sd->n++] = flags;
	sd->b[sd->n++] = dt;
	wire_wr16(sd->b + sd->n, (uint16_t)len);
	sd->n += 2;
	memcpy(sd->b + sd->n, msg, len);
	sd->n += len;
}

static void s_tid(uint8_t *t, uint8_t k)
{
	memcpy(t, tid, STUN_TID_LEN);
	t[11] = k;
}

/* A LOGIN: without credentials (@user NULL) or with them, NONCE and keys left to the fix-up. */
static size_t s_login(uint8_t *buf, uint8_t k, const char *user, const struct sockaddr *addr,
		      enum ph_nat_filtering filt)
{
	static const uint16_t algs[] = {STUN_PASSWORD_ALG_SHA256};
	char nonce[NONCE_LEN];
	struct stun_builder b;
	uint8_t t[STUN_TID_LEN];

	s_tid(t, k);
	stun_build_init(&b, buf, 1500, access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), t);
	if (!user) {
		stun_build_fingerprint(&b);
		return (size_t)stun_build_finish(&b);
	}
	memset(nonce, 'n', sizeof(nonce));
	stun_build_add_string(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_add_string(&b, STUN_ATTR_REALM, FUZZ_SRV_REALM, strlen(FUZZ_SRV_REALM));
	stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, sizeof(nonce));
	stun_build_add_password_algorithms(&b, algs, 1);
	stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	access_add_claimed_address(&b, addr);
	access_add_local_address(&b, addr);
	access_add_nat(&b, PH_MAP_ENDPOINT_INDEPENDENT, filt);
	return (size_t)access_msg_finish(&b, dummy_key, sizeof(dummy_key));
}

/* A session request or ack: SESSION (placeholder), PAGE for a FETCH, closed with a key. */
static size_t s_session_msg(uint8_t *buf, uint8_t k, uint16_t method, uint16_t cls)
{
	static const uint8_t placeholder[PH_TOKEN_LEN] = "session token 16";
	struct stun_builder b;
	uint8_t t[STUN_TID_LEN];

	s_tid(t, k);
	stun_build_init(&b, buf, 1500, access_type(method, cls), t);
	access_add_session(&b, 0x01020304, placeholder);
	if (method == PH_METHOD_FETCH)
		access_add_page(&b, 0, 0);
	return (size_t)access_msg_finish(&b, dummy_key, sizeof(dummy_key));
}

static size_t s_keepalive(uint8_t *buf, uint8_t k, bool fp)
{
	static const uint8_t placeholder[PH_TOKEN_LEN] = "session token 16";
	struct stun_builder b;
	uint8_t t[STUN_TID_LEN];

	s_tid(t, k);
	stun_build_init(&b, buf, 1500, STUN_BINDING_REQUEST, t);
	access_add_session(&b, 0x01020304, placeholder);
	if (fp)
		stun_build_fingerprint(&b);
	return (size_t)stun_build_finish(&b);
}

static size_t s_binding(uint8_t *buf, uint8_t k, uint32_t change, bool fp)
{
	struct stun_builder b;
	uint8_t t[STUN_TID_LEN];

	s_tid(t, k);
	stun_build_init(&b, buf, 1500, STUN_BINDING_REQUEST, t);
	if (change)
		stun_build_add_change_request(&b, change);
	if (fp)
		stun_build_fingerprint(&b);
	return (size_t)stun_build_finish(&b);
}

/* Sources 0-3 of fuzz_server.c, flags for alice / bob acting with fix-ups. */
enum { A0 = 0, B1 = 1, V6 = 2, A3 = 3, FX = FUZZ_SRV_F_FIXUP, BOB = FUZZ_SRV_F_BOB };

static void s_alice_login(struct srv_seed *sd, uint8_t *m, uint8_t k, uint8_t src)
{
	struct sockaddr_storage a = v4("198.18.1.1", 5000);

	s_rec(sd, src, 0, m, s_login(m, k, NULL, NULL, 0));
	s_rec(sd, src | FX, 1, m,
	      s_login(m, k + 1, "alice", SA(a), PH_FILTER_ADDRESS_PORT_DEPENDENT));
}

static void s_bob_login(struct srv_seed *sd, uint8_t *m, uint8_t k)
{
	struct sockaddr_storage a = v4("198.18.2.1", 6000);

	s_rec(sd, B1, 0, m, s_login(m, k, NULL, NULL, 0));
	s_rec(sd, B1 | FX | BOB, 1, m, s_login(m, k + 1, "bob", SA(a), PH_FILTER_NONE));
}

static void server_seeds(void)
{
	static struct srv_seed sd;
	uint8_t m[1500];

	/* alice: challenge, login, routing table, keepalives, NAT rebinding, FETCH from there. */
	s_begin(&sd, 0);
	s_alice_login(&sd, m, 1, A0);
	s_rec(&sd, A0 | FX, 20, m, s_session_msg(m, 3, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	s_rec(&sd, A0 | FX, 70, m, s_keepalive(m, 4, true));
	s_rec(&sd, A0 | FX, 70, m, s_keepalive(m, 5, false));
	s_rec(&sd, A3 | FX, 70, m, s_keepalive(m, 6, true));
	s_rec(&sd, A3 | FX, 1, m, s_session_msg(m, 7, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	s_rec(&sd, A0 | FX, 1, m, s_session_msg(m, 8, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	put("server", "login-fetch-keepalive", sd.b, sd.n);
	sd.b[0] = FUZZ_SRV_O_KMAP;
	put("server", "login-fetch-keepalive-kmap", sd.b, sd.n);

	/* alice then bob: PUNCH to alice, her ack releases bob's answer; PRESENCE on logout. */
	s_begin(&sd, 0);
	s_alice_login(&sd, m, 1, A0);
	s_bob_login(&sd, m, 3);
	s_rec(&sd, A0 | FX, 2, m, s_session_msg(m, 5, PH_METHOD_PUNCH, STUN_CLASS_SUCCESS));
	s_rec(&sd, B1 | FX | BOB, 2, m,
	      s_session_msg(m, 6, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	s_rec(&sd, A0 | FX, 2, m, s_session_msg(m, 7, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	s_rec(&sd, B1 | FX | BOB, 2, m, s_keepalive(m, 8, true));
	s_rec(&sd, B1 | FX | BOB, 2, m,
	      s_session_msg(m, 9, PH_METHOD_LOGOUT, STUN_CLASS_REQUEST));
	s_rec(&sd, A0 | FX, 2, m, s_session_msg(m, 10, PH_METHOD_PRESENCE, STUN_CLASS_SUCCESS));
	put("server", "punch-presence", sd.b, sd.n);
	sd.b[0] = FUZZ_SRV_O_KMAP;
	put("server", "punch-presence-kmap", sd.b, sd.n);

	/* The same with the punch never acked: bob answered at the deadline, retransmissions. */
	s_begin(&sd, 0);
	s_alice_login(&sd, m, 1, A0);
	s_bob_login(&sd, m, 3);
	for (int i = 0; i < 8; i++)
		s_rec(&sd, FUZZ_SRV_F_TICK, 10, NULL, 0);
	s_rec(&sd, A3 | FX, 2, m, s_keepalive(m, 5, true));
	s_rec(&sd, A0 | FX, 2, m, s_session_msg(m, 6, PH_METHOD_PRESENCE, STUN_CLASS_ERROR));
	put("server", "punch-unacked", sd.b, sd.n);

	/* Short keepalives: the session times out, its keepalive then hears 401. */
	s_begin(&sd, FUZZ_SRV_O_FAST_KA | FUZZ_SRV_O_NO_WAIT);
	s_alice_login(&sd, m, 1, A0);
	s_bob_login(&sd, m, 3);
	s_rec(&sd, A0 | FX, 20, m, s_keepalive(m, 5, true));
	s_rec(&sd, FUZZ_SRV_F_TICK, 40, NULL, 0);
	s_rec(&sd, FUZZ_SRV_F_TICK, 40, NULL, 0);
	s_rec(&sd, A0 | FX, 40, m, s_keepalive(m, 6, true));
	s_rec(&sd, A0, 1, m, s_keepalive(m, 7, false));
	put("server", "timeouts", sd.b, sd.n);
	sd.b[0] |= FUZZ_SRV_O_KMAP | FUZZ_SRV_O_ONE_SESSION;
	put("server", "timeouts-kmap-one", sd.b, sd.n);

	/* A LOGIN retransmitted (same answer), replayed from elsewhere (401), then replaced. */
	s_begin(&sd, 0);
	s_alice_login(&sd, m, 1, A0);
	s_rec(&sd, A0 | FX, 1, m,
	      s_login(m, 2, "alice", SA(srcs_v4_0), PH_FILTER_ADDRESS_PORT_DEPENDENT));
	s_rec(&sd, A3 | FX, 1, m,
	      s_login(m, 2, "alice", SA(srcs_v4_0), PH_FILTER_ADDRESS_PORT_DEPENDENT));
	s_alice_login(&sd, m, 9, V6);
	s_rec(&sd, V6 | FX | (1 << 4), 1, m, s_keepalive(m, 11, true));
	put("server", "retransmit-replay", sd.b, sd.n);

	/* Rate limit (2/s per IP: sources 0 and 3 share one) and a full session table. */
	s_begin(&sd, FUZZ_SRV_O_RATE | FUZZ_SRV_O_ONE_SESSION | FUZZ_SRV_O_NO_WAIT);
	for (uint8_t i = 0; i < 4; i++)
		s_rec(&sd, i & 1 ? A3 : A0, 0, m, s_login(m, 20 + i, NULL, NULL, 0));
	s_alice_login(&sd, m, 1, A0);
	s_alice_login(&sd, m, 3, A0);
	s_bob_login(&sd, m, 5);
	put("server", "rate-full", sd.b, sd.n);

	/* Plain STUN on every socket: RFC 5780 routing, the IPv6 wildcard, bad requests. */
	s_begin(&sd, 0);
	for (uint8_t sock = 0; sock < 5; sock++) {
		s_rec(&sd, A0 | sock << 4, 0, m, s_binding(m, 1, 0, sock & 1));
		s_rec(&sd, V6 | sock << 4, 0, m,
		      s_binding(m, 2, STUN_CHANGE_IP | STUN_CHANGE_PORT, true));
		s_rec(&sd, B1 | sock << 4, 0, m, s_binding(m, 3, STUN_CHANGE_PORT, false));
	}
	s_rec(&sd, A0, 0, m, s_session_msg(m, 4, PH_METHOD_FETCH, STUN_CLASS_REQUEST));
	s_rec(&sd, A0, 0, m, s_session_msg(m, 5, PH_METHOD_ONLINE, STUN_CLASS_REQUEST));
	s_rec(&sd, A0, 0, (const uint8_t *)"not stun at all, just bytes", 27);
	put("server", "binding", sd.b, sd.n);
}

int main(int argc, char **argv)
{
	static uint8_t bufs[16][1500], signed_bufs[16][1500];
	static const char *names[] = {"login",	"login-ok", "fetch-ok", "punch",    "presence",
				      "online", "message",  "probe",	"keepalive"};
	size_t lens[16], slens[16];
	int n, ns;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	srcs_v4_0 = v4("198.18.1.1", 5000);
	n = access_msgs(bufs, lens, NULL);
	ns = access_msgs(signed_bufs, slens, key);
	if (n < 0 || ns != n)
		return 1;
	for (int i = 0; i < n; i++) {
		char name[64];

		put("access", names[i], bufs[i], lens[i]);
		snprintf(name, sizeof(name), "%s-signed", names[i]);
		put("access", name, signed_bufs[i], slens[i]);
		put("stun", name, signed_bufs[i], slens[i]);
	}
	binding_seeds();
	nonce_seeds();
	endpoint_seeds(bufs, lens);
	server_seeds();
	return 0;
}
