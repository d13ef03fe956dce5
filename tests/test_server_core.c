// SPDX-License-Identifier: MIT
/*
 * The access server core driven in-process (server/server.c and the
 * modules it uses, compiled in: the Makefile links tests against
 * libpinhole only).  A fake I/O layer records what the core sends; the
 * tests play the endpoints with hand-built messages and check the flow
 * contract: login, punch orchestration and its wait, FETCH pages,
 * keepalives (token, unknown session, rebinding), retransmission and
 * replay of LOGIN, rate limiting, LOGOUT and the timeout sweep.
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
#include "log.h"
#include "stun.h"

#include "server/auth.h"
#include "server/outbox.h"
#include "server/punch.h"
#include "server/rfc5780.h"
#include "server/server.h"
#include "server/sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>


/* --- fake I/O ---------------------------------------------------------------- */

struct sent {
	uint8_t buf[2048];
	size_t len;
	unsigned int sock;
	struct sockaddr_storage to;
};

static struct sent sent[256];
static size_t n_sent;
static uint8_t scratch[2048];

static uint8_t *fake_buf(void *ctx, size_t *cap)
{
	*cap = sizeof(scratch);
	return scratch;
}

static int fake_send(void *ctx, unsigned int sock, size_t len, const struct sockaddr *to,
		     const struct sockaddr *from)
{
	struct sent *s;

	assert_true(n_sent < 256);
	s = &sent[n_sent++];
	memcpy(s->buf, scratch, len);
	s->len = len;
	s->sock = sock;
	memset(&s->to, 0, sizeof(s->to));
	memcpy(&s->to, to, addr_len(to));
	return 0;
}

static const struct srv_io io = {.buf = fake_buf, .send = fake_send};

/* --- fixture -------------------------------------------------------------------- */

struct ep {
	const char *user, *pw;
	struct sockaddr_storage addr;
	uint8_t lt[32];
	char nonce[NONCE_LEN + 1];
	uint32_t id;
	uint8_t token[PH_TOKEN_LEN];
	uint8_t skey[32];
	uint8_t login_tid[12];
	uint8_t login_req[512];
	size_t login_len;
	enum ph_nat_filtering filt;
};

struct fix {
	char dir[64];
	struct store *st;
	struct srv s;
	struct srv_sock sock;
	struct ep alice, bob;
	uint64_t now;
};

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(addr_parse(s, 3478, &ss), 0);
	return ss;
}

static void ep_init(struct ep *e, const char *user, const char *pw, const char *addr,
		    enum ph_nat_filtering filt)
{
	memset(e, 0, sizeof(*e));
	e->user = user;
	e->pw = pw;
	e->addr = sa(addr);
	e->filt = filt;
	assert_int_equal(stun_long_term_key(STUN_PASSWORD_ALG_SHA256, user, strlen(user), "pinhole",
					    7, pw, strlen(pw), e->lt),
			 32);
}

static int fix_setup(struct fix *f, bool punch, unsigned int rate)
{
	struct srv_opts o = {
	    .socks = &f->sock,
	    .n_socks = 1,
	    .punch = punch,
	    .punch_wait_ms = 300,
	    .keepalive_s = 20,
	    .login_rate = rate,
	    .max_sessions = 16,
	};
	struct store_opts so = {.busy_timeout_ms = 20};
	char path[128];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_server_core_%d_XXXXXX", getpid());
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/db", f->dir);
	f->st = store_open(path, STORE_O_CREATE, &so);
	assert_non_null(f->st);
	assert_int_equal(store_user_add(f->st, "alice", "pw-a", 4), 0);
	assert_int_equal(store_user_add(f->st, "bob", "pw-b", 4), 0);
	assert_int_equal(store_contact_allow(f->st, "alice", "bob"), 0);
	assert_int_equal(store_contact_allow(f->st, "bob", "alice"), 0);
	f->sock.addr = sa("198.18.0.1:3478");
	o.store = f->st;
	assert_int_equal(srv_init(&f->s, &o), 0);
	assert_true(f->s.access);
	ep_init(&f->alice, "alice", "pw-a", "198.18.1.1:5000", PH_FILTER_ADDRESS_PORT_DEPENDENT);
	ep_init(&f->bob, "bob", "pw-b", "198.18.2.1:6000", PH_FILTER_NONE);
	f->now = 1000000;
	n_sent = 0;
	return 0;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	fix_setup(f, true, 0);
	*state = f;
	return 0;
}

static int setup_no_punch(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	fix_setup(f, false, 0);
	*state = f;
	return 0;
}

static int setup_rate(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	fix_setup(f, true, 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[160];

	srv_fini(&f->s);
	store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int input(struct fix *f, const uint8_t *buf, size_t len, const struct sockaddr_storage *src)
{
	struct srv_dgram d = {
	    .data = buf,
	    .len = len,
	    .src = (const struct sockaddr *)src,
	    .dst = (const struct sockaddr *)&f->sock.addr,
	    .sock = 0,
	};

	return srv_input(&f->s, &io, &d, f->now);
}

/* The only datagram sent since n_sent was 0, parsed into @m. */
static void one_sent(struct stun_msg *m, uint16_t type)
{
	assert_int_equal(n_sent, 1);
	assert_int_equal(stun_msg_parse(m, sent[0].buf, sent[0].len), 0);
	assert_int_equal(m->type, type);
}

/* Find a sent message of @type to @to; NULL if none. */
static struct sent *find_sent(uint16_t type, const struct sockaddr_storage *to, struct stun_msg *m)
{
	for (size_t i = 0; i < n_sent; i++) {
		if (stun_msg_parse(m, sent[i].buf, sent[i].len) || m->type != type)
			continue;
		if (!to ||
		    !addr_cmp((const struct sockaddr *)&sent[i].to, (const struct sockaddr *)to))
			return &sent[i];
	}
	return NULL;
}

/* Step 1: the credential-less LOGIN and its 401; stores the nonce. */
static void get_nonce(struct fix *f, struct ep *e)
{
	uint8_t req[128], tid[12];
	struct stun_builder b;
	struct stun_msg m;
	const char *s;
	size_t slen;
	int len, code;

	stun_tid_random(tid);
	stun_build_init(&b, req, sizeof(req), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	n_sent = 0;
	assert_int_equal(input(f, req, (size_t)len, &e->addr), BINDING_OUTCOME_MAX);
	one_sent(&m, access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR));
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	assert_int_equal(code, 401);
	assert_int_equal(stun_msg_get_string(&m, STUN_ATTR_NONCE, &s, &slen), 0);
	memcpy(e->nonce, s, slen);
	e->nonce[slen] = '\0';
}

/* Step 2: the LOGIN with credentials (kept in e->login_req for replays). */
static void send_login(struct fix *f, struct ep *e)
{
	static const uint8_t algs[] = {0, 2, 0, 0};
	struct stun_builder b;
	int len;

	stun_tid_random(e->login_tid);
	stun_build_init(&b, e->login_req, sizeof(e->login_req),
			access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), e->login_tid);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, e->user, strlen(e->user));
	stun_build_add_string(&b, STUN_ATTR_REALM, "pinhole", 7);
	stun_build_add_string(&b, STUN_ATTR_NONCE, e->nonce, strlen(e->nonce));
	stun_build_add(&b, STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof(algs));
	stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	access_add_claimed_address(&b, (struct sockaddr *)&e->addr);
	access_add_local_address(&b, (struct sockaddr *)&e->addr);
	access_add_nat(&b, PH_MAP_ENDPOINT_INDEPENDENT, e->filt);
	len = access_msg_finish(&b, e->lt, 32);
	assert_true(len > 0);
	e->login_len = (size_t)len;
	n_sent = 0;
	assert_int_equal(input(f, e->login_req, e->login_len, &e->addr), BINDING_OUTCOME_MAX);
}

/* Take the LOGIN success among what was sent: session, token, key. */
static void take_answer(struct ep *e)
{
	struct access_keepalive ka;
	struct sockaddr_storage xma;
	struct stun_msg m;
	uint16_t idx, count;

	assert_non_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), &e->addr, &m));
	assert_memory_equal(m.tid, e->login_tid, 12);
	assert_int_equal(access_msg_verify(&m, e->lt, 32), 0);
	assert_int_equal(stun_msg_get_xor_addr(&m, &xma), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&xma, (struct sockaddr *)&e->addr), 0);
	assert_int_equal(access_get_session(&m, &e->id, e->token), 0);
	assert_int_not_equal(e->id, 0);
	assert_int_equal(access_get_keepalive(&m, &ka), 0);
	assert_int_equal(ka.interval_ms, 20000);
	assert_int_equal(ka.jitter_ms, 3000);
	assert_int_equal(ka.timeout_ms, 60000);
	assert_int_equal(access_get_page(&m, &idx, &count), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(count, 1);
	assert_int_equal(
	    access_session_key(e->lt, 32, e->nonce, strlen(e->nonce), e->id, e->token, e->skey), 0);
}

static void ack(struct fix *f, struct ep *e, const struct stun_msg *req);

/* Log @e in; contacts online ack their PUNCH so the answer comes at once. */
static void login(struct fix *f, struct ep *e)
{
	struct ep *eps[2] = {&f->alice, &f->bob};
	uint8_t copy[512];
	struct stun_msg pm;
	struct sent *p;

	get_nonce(f, e);
	send_login(f, e);
	for (int i = 0; i < 2; i++) {
		if (eps[i] == e)
			continue;
		p = find_sent(access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), &eps[i]->addr, &pm);
		if (!p)
			continue;
		memcpy(copy, p->buf, p->len);
		assert_int_equal(stun_msg_parse(&pm, copy, p->len), 0);
		ack(f, eps[i], &pm);
	}
	take_answer(e);
}

/* An ack (success response) from @e to server request @req. */
static void ack(struct fix *f, struct ep *e, const struct stun_msg *req)
{
	uint8_t buf[256];
	struct stun_builder b;
	int len;

	stun_build_init(&b, buf, sizeof(buf),
			access_type(stun_type_method(req->type), STUN_CLASS_SUCCESS), req->tid);
	access_add_session(&b, e->id, e->token);
	len = access_msg_finish(&b, e->skey, 32);
	assert_int_equal(input(f, buf, (size_t)len, &e->addr), BINDING_OUTCOME_MAX);
}

/* A session request (FETCH page @page, or LOGOUT) from @e, keyed with @key. */
static size_t session_req(struct ep *e, uint16_t method, int page, const uint8_t *key, uint8_t *buf,
			  size_t cap)
{
	uint8_t tid[12];
	struct stun_builder b;
	int len;

	stun_tid_random(tid);
	stun_build_init(&b, buf, cap, access_type(method, STUN_CLASS_REQUEST), tid);
	access_add_session(&b, e->id, e->token);
	if (page >= 0)
		access_add_page(&b, (uint16_t)page, 0);
	len = access_msg_finish(&b, key, 32);
	assert_true(len > 0);
	return (size_t)len;
}

static size_t keepalive_req(uint32_t id, const uint8_t *token, uint8_t *buf, size_t cap)
{
	uint8_t tid[12];
	struct stun_builder b;

	stun_tid_random(tid);
	stun_build_init(&b, buf, cap, STUN_BINDING_REQUEST, tid);
	access_add_session(&b, id, token);
	stun_build_fingerprint(&b);
	return (size_t)stun_build_finish(&b);
}

/* --- tests ----------------------------------------------------------------------------- */

/* Plain STUN still works, untouched by the access protocol. */
static void test_plain_binding(void **state)
{
	struct fix *f = *state;
	uint8_t req[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3};
	struct sockaddr_storage xma;
	struct stun_msg m;

	n_sent = 0;
	assert_int_equal(input(f, req, sizeof(req), &f->alice.addr), BINDING_ANSWERED);
	one_sent(&m, STUN_BINDING_SUCCESS);
	assert_int_equal(stun_msg_get_xor_addr(&m, &xma), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&xma, (struct sockaddr *)&f->alice.addr), 0);
	n_sent = 0;
	assert_int_equal(input(f, req, 7, &f->alice.addr), BINDING_DROPPED);
	assert_int_equal(n_sent, 0);
}

/* Alice logs in with nobody online: answered at once.  The store records her. */
static void test_login_alone(void **state)
{
	struct fix *f = *state;
	struct store_session ss;

	login(f, &f->alice);
	assert_int_equal(n_sent, 1);
	assert_int_equal(store_session_get(f->st, f->alice.id, &ss), 0);
	assert_string_equal(ss.user, "alice");
	assert_int_equal(
	    addr_cmp((struct sockaddr *)&ss.observed, (struct sockaddr *)&f->alice.addr), 0);
	assert_int_equal(ss.filtering, PH_FILTER_ADDRESS_PORT_DEPENDENT);
	assert_int_equal(srv_sessions(&f->s), 1);
}

/* Bob logs in while alice is online: PUNCH first, answer after her ack. */
static void test_punch_then_answer(void **state)
{
	struct fix *f = *state;
	struct access_contact c, fc;
	struct stun_attr_iter it;
	struct stun_msg m, pm;
	struct sent *p;
	uint8_t buf[512], pm_buf[512];
	uint8_t token[PH_TOKEN_LEN];
	uint32_t flags, id;
	uint16_t idx, count;
	size_t len;

	login(f, &f->alice);
	get_nonce(f, &f->bob);
	send_login(f, &f->bob);
	/* Not answered yet: only the PUNCH went out, to alice's observed address. */
	assert_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), NULL, &m));
	p = find_sent(access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), &f->alice.addr, &pm);
	assert_non_null(p);
	memcpy(pm_buf, p->buf, p->len);
	assert_int_equal(stun_msg_parse(&pm, pm_buf, p->len), 0);
	assert_int_equal(access_msg_verify(&pm, f->alice.skey, 32), 0);
	assert_int_equal(access_get_session(&pm, &id, token), 0);
	assert_int_equal(id, f->alice.id);
	assert_int_equal(access_get_presence(&pm, &c), 0);
	assert_string_equal(c.name, "bob");
	assert_int_equal(c.state, PH_CONTACT_ONLINE);
	assert_int_equal(addr_cmp((struct sockaddr *)&c.reflexive, (struct sockaddr *)&f->bob.addr),
			 0);
	/* Alice filters by address and port: she must probe first. */
	assert_int_equal(access_get_punch_flags(&pm, &flags), 0);
	assert_int_equal(flags, PH_PUNCH_SEND);

	/* Retransmitted after the RTO, same transaction. */
	n_sent = 0;
	f->now += 100;
	srv_tick(&f->s, &io, f->now);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), &f->alice.addr, &m));
	assert_memory_equal(m.tid, pm.tid, 12);

	/* An ack under the wrong key is ignored; hers releases bob's answer. */
	n_sent = 0;
	{
		uint8_t wrong[32] = {0};
		struct ep fake = f->alice;

		memcpy(fake.skey, wrong, 32);
		ack(f, &fake, &pm);
		assert_int_equal(n_sent, 0);
		assert_int_equal(f->s.st.dropped_integrity, 1);
	}
	ack(f, &f->alice, &pm);
	assert_int_equal(f->s.st.punch_acks, 1);
	take_answer(&f->bob);

	/* Bob's FETCH: alice online, the same pair key alice got, DIRECT_OK and PUNCHED. */
	n_sent = 0;
	len = session_req(&f->bob, PH_METHOD_FETCH, 0, f->bob.skey, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	one_sent(&m, access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS));
	assert_int_equal(access_msg_verify(&m, f->bob.skey, 32), 0);
	assert_int_equal(access_get_page(&m, &idx, &count), 0);
	assert_int_equal(count, 1);
	stun_attr_iter_init(&it);
	assert_int_equal(access_next_contact(&m, &it, &fc), 1);
	assert_string_equal(fc.name, "alice");
	assert_int_equal(fc.state, PH_CONTACT_ONLINE);
	assert_memory_equal(fc.pair_key, c.pair_key, 32);
	assert_true(fc.flags & PH_CONTACT_DIRECT_OK);
	assert_true(fc.flags & PH_CONTACT_PUNCHED);
	assert_int_equal(
	    addr_cmp((struct sockaddr *)&fc.reflexive, (struct sockaddr *)&f->alice.addr), 0);
	assert_int_equal(access_next_contact(&m, &it, &fc), 0);

	/* A FETCH under the token but the wrong key: dropped.  A page past the end: 400. */
	n_sent = 0;
	len = session_req(&f->bob, PH_METHOD_FETCH, 0, f->bob.token, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	assert_int_equal(n_sent, 0);
	len = session_req(&f->bob, PH_METHOD_FETCH, 1, f->bob.skey, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	one_sent(&m, access_type(PH_METHOD_FETCH, STUN_CLASS_ERROR));
}

/* Nobody acks: the answer goes out at --punch-wait. */
static void test_punch_wait_expires(void **state)
{
	struct fix *f = *state;
	struct stun_msg m;

	login(f, &f->alice);
	get_nonce(f, &f->bob);
	send_login(f, &f->bob);
	assert_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), NULL, &m));
	n_sent = 0;
	f->now += 299;
	srv_tick(&f->s, &io, f->now);
	assert_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), NULL, &m));
	f->now += 1;
	n_sent = 0;
	srv_tick(&f->s, &io, f->now);
	take_answer(&f->bob);
	assert_int_equal(f->s.st.punch_wait_expired, 1);
	/* The PUNCH keeps being retransmitted (bounded) after the answer. */
	for (int i = 0; i < 10; i++) {
		f->now += 3200;
		srv_tick(&f->s, &io, f->now);
	}
	assert_int_equal(f->s.outbox.n, 0);
	assert_int_equal(f->s.st.outbox_expired, 1);
}

/* --no-punch: alice still learns bob's entry, but is never asked to probe. */
static void test_no_punch(void **state)
{
	struct fix *f = *state;
	struct stun_msg m;
	uint32_t flags = 99;

	login(f, &f->alice);
	get_nonce(f, &f->bob);
	send_login(f, &f->bob);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), &f->alice.addr, &m));
	assert_int_equal(access_get_punch_flags(&m, &flags), 0);
	assert_int_equal(flags, 0);
}

/* Retransmitted LOGIN: the same answer; the same tid from elsewhere: refused. */
static void test_login_retransmit_and_replay(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage other = sa("198.18.9.9:999");
	uint8_t first[512];
	size_t first_len;
	struct stun_msg m;
	int code;

	login(f, &f->alice);
	memcpy(first, sent[0].buf, sent[0].len);
	first_len = sent[0].len;
	n_sent = 0;
	input(f, f->alice.login_req, f->alice.login_len, &f->alice.addr);
	assert_int_equal(n_sent, 1);
	assert_int_equal(sent[0].len, first_len);
	assert_memory_equal(sent[0].buf, first, first_len);
	assert_int_equal(f->s.st.login_retransmits, 1);
	assert_int_equal(srv_sessions(&f->s), 1);

	n_sent = 0;
	input(f, f->alice.login_req, f->alice.login_len, &other);
	one_sent(&m, access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR));
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	assert_int_equal(code, 401);
	assert_int_equal(f->s.st.replays, 1);
	assert_int_equal(f->s.st.logins, 1);
}

/* Keepalives: refresh with the token, silence without it, 401 for an unknown id, MOVED. */
static void test_keepalive(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage moved = sa("198.18.2.1:6001"), xma;
	uint8_t buf[128], bad[PH_TOKEN_LEN] = {0};
	struct access_contact c;
	struct stun_msg m;
	size_t len;
	int code;

	login(f, &f->alice);
	login(f, &f->bob);
	assert_int_equal(f->s.outbox.n, 0);

	f->now += 5000;
	n_sent = 0;
	len = keepalive_req(f->bob.id, f->bob.token, buf, sizeof(buf));
	assert_int_equal(input(f, buf, len, &f->bob.addr), BINDING_OUTCOME_MAX);
	one_sent(&m, STUN_BINDING_SUCCESS);
	assert_true(m.has_fingerprint);
	assert_int_equal(sessions_find(&f->s.sessions, f->bob.id)->last_ms, f->now);

	n_sent = 0;
	len = keepalive_req(f->bob.id, bad, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	assert_int_equal(n_sent, 0);
	assert_int_equal(f->s.st.keepalive_bad_token, 1);

	len = keepalive_req(f->bob.id ^ 1, f->bob.token, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	one_sent(&m, STUN_BINDING_ERROR);
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	assert_int_equal(code, 401);

	/* Bob's NAT rebinds: his answer shows the new address, alice gets MOVED. */
	n_sent = 0;
	len = keepalive_req(f->bob.id, f->bob.token, buf, sizeof(buf));
	input(f, buf, len, &moved);
	assert_non_null(find_sent(STUN_BINDING_SUCCESS, &moved, &m));
	assert_int_equal(stun_msg_get_xor_addr(&m, &xma), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&xma, (struct sockaddr *)&moved), 0);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_PRESENCE, STUN_CLASS_REQUEST), &f->alice.addr, &m));
	assert_int_equal(access_msg_verify(&m, f->alice.skey, 32), 0);
	assert_int_equal(access_get_presence(&m, &c), 0);
	assert_string_equal(c.name, "bob");
	assert_int_equal(c.state, PH_CONTACT_MOVED);
	assert_int_equal(addr_cmp((struct sockaddr *)&c.reflexive, (struct sockaddr *)&moved), 0);
	assert_int_equal(f->s.st.moved, 1);
	ack(f, &f->alice, &m);
	assert_int_equal(f->s.st.presence_acks, 1);
}

/* LOGOUT: answered under the session key, alice hears OFFLINE, the store forgets bob. */
static void test_logout_and_timeout(void **state)
{
	struct fix *f = *state;
	struct access_contact c;
	struct store_session ss;
	struct stun_msg m;
	uint8_t buf[256];
	size_t len;

	login(f, &f->alice);
	login(f, &f->bob);
	n_sent = 0;
	len = session_req(&f->bob, PH_METHOD_LOGOUT, -1, f->bob.skey, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_LOGOUT, STUN_CLASS_SUCCESS), &f->bob.addr, &m));
	assert_int_equal(access_msg_verify(&m, f->bob.skey, 32), 0);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_PRESENCE, STUN_CLASS_REQUEST), &f->alice.addr, &m));
	assert_int_equal(access_get_presence(&m, &c), 0);
	assert_string_equal(c.name, "bob");
	assert_int_equal(c.state, PH_CONTACT_OFFLINE);
	assert_int_equal(store_session_get(f->st, f->bob.id, &ss), -ENOENT);
	assert_int_equal(srv_sessions(&f->s), 1);
	/* LOGOUT again: the session is gone, 401. */
	n_sent = 0;
	input(f, buf, len, &f->bob.addr);
	one_sent(&m, access_type(PH_METHOD_LOGOUT, STUN_CLASS_ERROR));

	/* Alice goes silent: the sweep ends her after 3 intervals, within one sweep period. */
	f->now += 60000;
	srv_tick(&f->s, &io, f->now);
	assert_int_equal(srv_sessions(&f->s), 1);
	assert_true(f->s.sweep_period_ms >= 250 && f->s.sweep_period_ms <= 60000 / 8);
	f->now += f->s.sweep_period_ms + 1;
	srv_tick(&f->s, &io, f->now);
	assert_int_equal(srv_sessions(&f->s), 0);
	assert_int_equal(f->s.st.timeouts, 1);
	assert_int_equal(store_session_get(f->st, f->alice.id, &ss), -ENOENT);
}

/* A second login of the same user replaces the first session. */
static void test_relogin_replaces(void **state)
{
	struct fix *f = *state;
	uint32_t first;

	login(f, &f->alice);
	first = f->alice.id;
	login(f, &f->alice);
	assert_int_not_equal(first, f->alice.id);
	assert_null(sessions_find(&f->s.sessions, first));
	assert_int_equal(srv_sessions(&f->s), 1);
}

/* --login-rate 2: the third LOGIN from one IP within a second gets 429; others pass. */
static void test_rate_limit(void **state)
{
	struct fix *f = *state;
	uint8_t req[128], tid[12];
	struct stun_builder b;
	struct stun_msg m;
	int len, code;

	for (int i = 0; i < 3; i++) {
		stun_tid_random(tid);
		stun_build_init(&b, req, sizeof(req),
				access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), tid);
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
		n_sent = 0;
		input(f, req, (size_t)len, &f->alice.addr);
		one_sent(&m, access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR));
		assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
		assert_int_equal(code, i < 2 ? 401 : PH_ERR_RATE_LIMITED);
	}
	assert_int_equal(f->s.st.rate_limited, 1);
	/* Bob, from another host, is not slowed down. */
	login(f, &f->bob);
	/* A second later alice may try again. */
	f->now += 1000;
	login(f, &f->alice);
}

/* Malformed access requests get 400 / 420, never a crash. */
static void test_bad_input(void **state)
{
	struct fix *f = *state;
	uint8_t buf[256], tid[12] = {7};
	struct stun_builder b;
	struct stun_msg m;
	uint8_t junk[3] = {1, 2, 3};
	int len, code;

	/* A SESSION of the wrong length in a FETCH. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_FETCH, STUN_CLASS_REQUEST),
			tid);
	stun_build_add(&b, PH_ATTR_SESSION, junk, sizeof(junk));
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	n_sent = 0;
	input(f, buf, (size_t)len, &f->alice.addr);
	one_sent(&m, access_type(PH_METHOD_FETCH, STUN_CLASS_ERROR));
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	assert_int_equal(code, 400);
	/* An unknown comprehension-required attribute in a LOGIN: 420. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	stun_build_add(&b, 0x7f01, junk, sizeof(junk));
	len = stun_build_finish(&b);
	n_sent = 0;
	input(f, buf, (size_t)len, &f->alice.addr);
	one_sent(&m, access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR));
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	assert_int_equal(code, 420);
	/* An ack nobody asked for: dropped. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PUNCH, STUN_CLASS_SUCCESS),
			tid);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	n_sent = 0;
	input(f, buf, (size_t)len, &f->alice.addr);
	assert_int_equal(n_sent, 0);
	assert_int_equal(f->s.st.dropped_unmatched, 1);
	/* Truncations of a valid LOGIN: never a crash, never a session. */
	get_nonce(f, &f->alice);
	send_login(f, &f->alice);
	for (size_t cut = 0; cut < f->alice.login_len; cut++) {
		f->now += 1000;
		input(f, f->alice.login_req, cut, &f->bob.addr);
	}
	assert_int_equal(srv_sessions(&f->s), 1);
}

/* An ack from @src of class @cls to server request @req, under @key. */
static void ack_from(struct fix *f, struct ep *e, const struct stun_msg *req, uint16_t cls,
		     const uint8_t *key, const struct sockaddr_storage *src)
{
	uint8_t buf[256];
	struct stun_builder b;
	int len;

	stun_build_init(&b, buf, sizeof(buf), access_type(stun_type_method(req->type), cls),
			req->tid);
	if (cls == STUN_CLASS_ERROR)
		stun_build_add_error(&b, 400, NULL);
	access_add_session(&b, e->id, e->token);
	if (key) {
		len = access_msg_finish(&b, key, 32);
	} else {
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
	}
	assert_true(len > 0);
	assert_int_equal(input(f, buf, (size_t)len, src), BINDING_OUTCOME_MAX);
}

/*
 * Acks count only under the session key and from the target's observed
 * address: an unprotected error response or one from elsewhere (the tid
 * travels in clear) neither ends the PUNCH, nor releases the login, nor
 * refreshes the session.
 */
static void test_ack_checks(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage elsewhere = sa("198.18.7.7:7777");
	struct session *alice;
	uint8_t pm_buf[512];
	struct stun_msg m, pm;
	struct sent *p;
	uint64_t seen;

	login(f, &f->alice);
	alice = sessions_find(&f->s.sessions, f->alice.id);
	seen = alice->last_ms;
	f->now += 10;
	get_nonce(f, &f->bob);
	send_login(f, &f->bob);
	p = find_sent(access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), &f->alice.addr, &pm);
	assert_non_null(p);
	memcpy(pm_buf, p->buf, p->len);
	assert_int_equal(stun_msg_parse(&pm, pm_buf, p->len), 0);

	n_sent = 0;
	ack_from(f, &f->alice, &pm, STUN_CLASS_ERROR, NULL, &f->alice.addr);
	ack_from(f, &f->alice, &pm, STUN_CLASS_SUCCESS, NULL, &f->alice.addr);
	assert_int_equal(f->s.st.dropped_integrity, 2);
	ack_from(f, &f->alice, &pm, STUN_CLASS_SUCCESS, f->alice.skey, &elsewhere);
	ack_from(f, &f->alice, &pm, STUN_CLASS_ERROR, f->alice.skey, &elsewhere);
	assert_int_equal(f->s.st.dropped_source, 2);
	assert_int_equal(n_sent, 0);
	assert_int_equal(f->s.st.punch_acks, 0);
	assert_int_equal(f->s.outbox.n, 1);
	assert_int_equal(alice->last_ms, seen);
	assert_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), NULL, &m));
	/* The real one releases bob's answer. */
	ack_from(f, &f->alice, &pm, STUN_CLASS_SUCCESS, f->alice.skey, &f->alice.addr);
	assert_int_equal(f->s.st.punch_acks, 1);
	assert_int_equal(alice->last_ms, f->now);
	take_answer(&f->bob);
}

/*
 * A captured FETCH resent with a victim's source draws nothing (it would
 * be a ~10x reflector otherwise) and does not keep the session alive.
 */
static void test_fetch_from_elsewhere(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage victim = sa("198.18.66.66:53");
	struct session *a;
	struct stun_msg m;
	uint8_t buf[256];
	size_t len;

	login(f, &f->alice);
	login(f, &f->bob);
	a = sessions_find(&f->s.sessions, f->alice.id);
	len = session_req(&f->alice, PH_METHOD_FETCH, 0, f->alice.skey, buf, sizeof(buf));
	f->now += 5000;
	n_sent = 0;
	input(f, buf, len, &victim);
	assert_int_equal(n_sent, 0);
	assert_int_equal(f->s.st.dropped_source, 1);
	assert_int_equal(a->last_ms, f->now - 5000);
	/* A LOGOUT from elsewhere ends nothing either. */
	len = session_req(&f->alice, PH_METHOD_LOGOUT, -1, f->alice.skey, buf, sizeof(buf));
	input(f, buf, len, &victim);
	assert_int_equal(n_sent, 0);
	assert_int_equal(srv_sessions(&f->s), 2);
	/* From her own address: answered. */
	len = session_req(&f->alice, PH_METHOD_FETCH, 0, f->alice.skey, buf, sizeof(buf));
	input(f, buf, len, &f->alice.addr);
	one_sent(&m, access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS));
	assert_int_equal(a->last_ms, f->now);
}

/* The first LOGIN answer to @e (after get_nonce/send_login): its error code, 0 for success. */
static int login_code(struct ep *e)
{
	struct stun_msg m;
	int code;

	if (find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), &e->addr, &m))
		return 0;
	assert_non_null(find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR), &e->addr, &m));
	assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
	return code;
}

/*
 * A re-login that is refused (replay cache full, or an error) leaves the
 * live session alone; a full session table refuses newcomers with a clear
 * 500 "Server Full" but still lets an online user log in again.
 */
static void test_refused_relogin_keeps_session(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage x = sa("198.18.9.9:9");
	const char *reason;
	size_t rlen;
	struct stun_msg m;
	uint8_t tid[12] = {0};
	char name[16];
	uint32_t first;
	int code;

	login(f, &f->alice);
	login(f, &f->bob);
	first = f->alice.id;
	/* Fill the replay cache with logins of this nonce lifetime. */
	for (uint32_t i = 0; !replay_full(&f->s.replay, f->now); i++) {
		memcpy(tid, &i, sizeof(i));
		assert_int_equal(
		    replay_add(&f->s.replay, tid, (struct sockaddr *)&x, 0, f->now, f->now + 60000),
		    0);
	}
	get_nonce(f, &f->alice);
	send_login(f, &f->alice);
	assert_int_equal(login_code(&f->alice), PH_ERR_RATE_LIMITED);
	assert_non_null(sessions_find(&f->s.sessions, first));
	assert_int_equal(srv_sessions(&f->s), 2);
	/* Bob heard nothing: alice never went offline. */
	assert_null(find_sent(access_type(PH_METHOD_PRESENCE, STUN_CLASS_REQUEST), NULL, &m));
	assert_int_equal(f->s.outbox.n, 0);

	/* The cache frees up; the table fills with others (16 slots). */
	f->now += 60001;
	for (int i = 0; srv_sessions(&f->s) < 16; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_non_null(sessions_add(&f->s.sessions, name));
	}
	/* Keep alice and bob fresh past the sweep. */
	sessions_find(&f->s.sessions, f->alice.id)->last_ms = f->now;
	sessions_find(&f->s.sessions, f->bob.id)->last_ms = f->now;
	{
		struct ep carol;

		assert_int_equal(store_user_add(f->st, "carol", "pw-c", 4), 0);
		ep_init(&carol, "carol", "pw-c", "198.18.3.1:7000", PH_FILTER_NONE);
		get_nonce(f, &carol);
		send_login(f, &carol);
		assert_int_equal(login_code(&carol), 500);
		assert_non_null(
		    find_sent(access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR), &carol.addr, &m));
		assert_int_equal(stun_msg_get_error(&m, &code, &reason, &rlen), 0);
		assert_int_equal(rlen, 11);
		assert_memory_equal(reason, "Server Full", 11);
		assert_int_equal(f->s.st.sessions_full, 1);
	}
	assert_int_equal(srv_sessions(&f->s), 16);
	/* Alice, online, may still replace her own session. */
	login(f, &f->alice);
	assert_int_not_equal(f->alice.id, first);
	assert_null(sessions_find(&f->s.sessions, first));
	assert_int_equal(srv_sessions(&f->s), 16);
}

/*
 * Reflection: a spoofed source gets at most the rate limiter's budget of
 * answers plus one 429, however many LOGINs carry its address (replays of
 * a captured LOGIN included), and no answer to an unauthenticated request
 * is much larger than the request.
 */
static void test_reflection_bounds(void **state)
{
	struct fix *f = *state;
	struct sockaddr_storage victim = sa("198.18.66.66:53");
	uint8_t req[128], tid[12], buf[128];
	struct stun_builder b;
	size_t total = 0;
	int len;

	login(f, &f->alice);
	n_sent = 0;
	for (int i = 0; i < 50; i++) {
		stun_tid_random(tid);
		stun_build_init(&b, req, sizeof(req),
				access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), tid);
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
		input(f, req, (size_t)len, &victim);
		/* alice's captured LOGIN, replayed from the victim's address */
		input(f, f->alice.login_req, f->alice.login_len, &victim);
	}
	/* Burst 2 answers (401s), one 429, then silence. */
	assert_int_equal(n_sent, 3);
	for (size_t i = 0; i < n_sent; i++) {
		assert_true(sent[i].len <= 124);
		total += sent[i].len;
	}
	/*
	 * A 401 challenge is 124 bytes (REALM, a 45-byte NONCE, PASSWORD-
	 * ALGORITHMS) for a 28-byte LOGIN: 4.4x, bounded by the budget above.
	 */
	assert_true(total <= 2 * 124 + 48);

	/* An unknown session's keepalive: the 401 is no larger than the request. */
	n_sent = 0;
	len = (int)keepalive_req(0x12345678, f->alice.token, buf, sizeof(buf));
	input(f, buf, (size_t)len, &victim);
	assert_int_equal(n_sent, 1);
	assert_true(sent[0].len <= (size_t)len);
	/* A keepalive with a wrong token: nothing at all. */
	n_sent = 0;
	len = (int)keepalive_req(f->alice.id, f->bob.token, buf, sizeof(buf));
	input(f, buf, (size_t)len, &victim);
	assert_int_equal(n_sent, 0);
	assert_int_equal(
	    srv_input(&f->s, &io, &(struct srv_dgram){.data = buf, .len = (size_t)len}, f->now),
	    BINDING_DROPPED);
	assert_int_equal(n_sent, 0);
}

/* A session never announced (its answer could not be built) is swept like any other. */
static void test_sweep_unannounced(void **state)
{
	struct fix *f = *state;
	struct session *z = sessions_add(&f->s.sessions, "zombie");

	assert_non_null(z);
	z->last_ms = f->now;
	f->now += 60000 + 1001;
	srv_tick(&f->s, &io, f->now);
	assert_int_equal(srv_sessions(&f->s), 0);
}

/*
 * --workers N: a tick that read the clock before waiting for the lock
 * runs after another worker refreshed a session, so the session is newer
 * than the tick's "now".  It must not look ancient (the unsigned age
 * wrapped once and ended fresh logins as timeouts).
 */
static void test_sweep_stale_clock(void **state)
{
	struct fix *f = *state;
	struct session *z = sessions_add(&f->s.sessions, "fresh");

	assert_non_null(z);
	z->last_ms = f->now + 5;
	srv_tick(&f->s, &io, f->now);
	assert_int_equal(srv_sessions(&f->s), 1);
	assert_int_equal(f->s.st.timeouts, 0);
	/* And it still times out when its time comes. */
	f->now += 5 + 60000 + f->s.sweep_period_ms + 1;
	srv_tick(&f->s, &io, f->now);
	assert_int_equal(srv_sessions(&f->s), 0);
}

/*
 * The store locked by another writer (pinholectl in a transaction):
 * logins and logouts still work (the session table is the truth; the
 * store's rows are bookkeeping), each failure is counted, nothing crashes.
 */
static void test_store_busy(void **state)
{
	struct fix *f = *state;
	struct store_session ss;
	struct stun_msg m;
	uint8_t buf[256];
	char path[160];
	sqlite3 *db;
	size_t len;

	login(f, &f->alice);
	snprintf(path, sizeof(path), "%s/db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	login(f, &f->bob);
	assert_int_equal(f->s.st.errors, 1);
	assert_int_equal(srv_sessions(&f->s), 2);
	/* Bob's FETCH still reads (WAL readers are not blocked). */
	n_sent = 0;
	len = session_req(&f->bob, PH_METHOD_FETCH, 0, f->bob.skey, buf, sizeof(buf));
	input(f, buf, len, &f->bob.addr);
	one_sent(&m, access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS));
	/* Alice logs out: her session ends although the store cannot forget it yet. */
	n_sent = 0;
	len = session_req(&f->alice, PH_METHOD_LOGOUT, -1, f->alice.skey, buf, sizeof(buf));
	input(f, buf, len, &f->alice.addr);
	assert_non_null(
	    find_sent(access_type(PH_METHOD_LOGOUT, STUN_CLASS_SUCCESS), &f->alice.addr, &m));
	assert_int_equal(f->s.st.errors, 2);
	assert_int_equal(srv_sessions(&f->s), 1);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_session_get(f->st, f->bob.id, &ss), -ENOENT);
}

/* RFC 5780: CHANGE-REQUEST answered from the right one of the four sockets. */
static void test_rfc5780(void **state)
{
	struct srv_sock socks[4];
	struct rfc5780 r;
	struct srv s;
	struct srv_opts o = {.socks = socks, .n_socks = 4};
	struct sockaddr_storage p = sa("198.18.0.1:3478"), a = sa("198.18.0.3:3479"), got;
	struct sockaddr_storage cli = sa("198.18.5.5:5555");
	static const struct {
		uint32_t flags;
		unsigned int in, out;
		const char *origin, *other;
	} cases[] = {
	    {0, 0, 0, "198.18.0.1:3478", "198.18.0.3:3479"},
	    {STUN_CHANGE_IP | STUN_CHANGE_PORT, 0, 3, "198.18.0.3:3479", "198.18.0.3:3479"},
	    {STUN_CHANGE_PORT, 0, 1, "198.18.0.1:3479", "198.18.0.3:3479"},
	    {STUN_CHANGE_IP, 0, 2, "198.18.0.3:3478", "198.18.0.3:3479"},
	    {0, 2, 2, "198.18.0.3:3478", "198.18.0.1:3479"},
	    {STUN_CHANGE_IP, 3, 1, "198.18.0.1:3479", "198.18.0.1:3478"},
	};
	char text[ADDR_STRLEN];

	assert_int_equal(rfc5780_init(&r, &p, &a), 0);
	assert_int_equal(rfc5780_init(&r, &p, &p), -EINVAL);
	assert_int_equal(rfc5780_init(&r, &p, &a), 0);
	r.sock[0][0] = 0;
	r.sock[0][1] = 1;
	r.sock[1][0] = 2;
	r.sock[1][1] = 3;
	for (int i = 0; i < 4; i++) {
		rfc5780_addr(&r, i & 2, i & 1, &socks[i].addr);
		socks[i].wildcard = false;
	}
	o.alt = &r;
	assert_int_equal(srv_init(&s, &o), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t req[64], tid[12] = {(uint8_t)i};
		struct stun_builder b;
		struct srv_dgram d = {
		    .data = req, .src = (struct sockaddr *)&cli, .sock = cases[i].in};
		struct stun_msg m;

		stun_build_init(&b, req, sizeof(req), STUN_BINDING_REQUEST, tid);
		if (cases[i].flags)
			stun_build_add_change_request(&b, cases[i].flags);
		stun_build_fingerprint(&b);
		d.len = (size_t)stun_build_finish(&b);
		n_sent = 0;
		assert_int_equal(srv_input(&s, &io, &d, 1), BINDING_ANSWERED);
		one_sent(&m, STUN_BINDING_SUCCESS);
		assert_int_equal(sent[0].sock, cases[i].out);
		assert_true(m.has_fingerprint);
		assert_int_equal(stun_msg_get_xor_addr(&m, &got), 0);
		assert_int_equal(addr_cmp((struct sockaddr *)&got, (struct sockaddr *)&cli), 0);
		assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_RESPONSE_ORIGIN, &got), 0);
		addr_format((struct sockaddr *)&got, text, sizeof(text));
		assert_string_equal(text, cases[i].origin);
		assert_int_equal(stun_msg_get_addr(&m, STUN_ATTR_OTHER_ADDRESS, &got), 0);
		addr_format((struct sockaddr *)&got, text, sizeof(text));
		assert_string_equal(text, cases[i].other);
	}
	/* RESPONSE-PORT is not supported: the Binding rules' 420, from the arrival socket. */
	{
		uint8_t req[64], tid[12] = {99};
		struct stun_builder b;
		struct srv_dgram d = {.data = req, .src = (struct sockaddr *)&cli, .sock = 0};
		struct stun_msg m;
		int code;

		stun_build_init(&b, req, sizeof(req), STUN_BINDING_REQUEST, tid);
		stun_build_add_response_port(&b, 9999);
		d.len = (size_t)stun_build_finish(&b);
		n_sent = 0;
		assert_int_equal(srv_input(&s, &io, &d, 1), BINDING_ERROR_REPLY);
		one_sent(&m, STUN_BINDING_ERROR);
		assert_int_equal(sent[0].sock, 0);
		assert_int_equal(stun_msg_get_error(&m, &code, NULL, NULL), 0);
		assert_int_equal(code, 420);
	}
	srv_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_binding, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_punch_then_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_punch_wait_expires, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_punch, setup_no_punch, teardown),
	    cmocka_unit_test_setup_teardown(test_login_retransmit_and_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logout_and_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relogin_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, setup_rate, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fetch_from_elsewhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_relogin_keeps_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reflection_bounds, setup_rate, teardown),
	    cmocka_unit_test_setup_teardown(test_sweep_unannounced, setup, teardown),
cmocka_unit_test_setup_teardown(test_sweep_stale_clock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_busy, setup, teardown),
	    cmocka_unit_test(test_rfc5780),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
