// SPDX-License-Identifier: MIT
/*
 * The endpoint library against an in-process fake access server on
 * loopback (written here from the access codec, following the flow
 * contract): login with 401 then credentials, 438 retry, bad password,
 * paged FETCH, PUNCH verified and acked, ONLINE and messages between two
 * library endpoints, PROBE teaching a peer address, keepalive timing,
 * 401 on keepalive -> login again, logout.  Everything is driven by
 * polling the sockets with bounded timeouts until a condition holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "access.h"
#include "addr.h"
#include "endpoint/endpoint.h"
#include "nonce.h"
#include "stun.h"

#define REALM "pinhole.test"
#define MAX_USERS 4
#define MAX_KA 16

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	((struct sockaddr_in *)&ss)->sin_family = AF_INET;
	((struct sockaddr_in *)&ss)->sin_port = htons(port);
	inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	return ss;
}

static int udp_socket(struct sockaddr_storage *ss)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	socklen_t sl = sizeof(*ss);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)ss, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ss, &sl), 0);
	return fd;
}

/* --- the fake access server ------------------------------------------------ */

struct fake_user {
	const char *name, *pass;
	bool online;
	uint32_t sess;
	uint8_t token[PH_TOKEN_LEN];
	uint8_t skey[PH_PAIR_KEY_LEN];	/* session key: what protects messages */
	struct sockaddr_storage observed;
	uint64_t ka_ms[MAX_KA];
	unsigned int nka;
};

struct fake {
	int fd;
	struct sockaddr_storage addr;
	struct nonce_key nk;
	uint8_t secret[32];
	struct fake_user u[MAX_USERS];
	unsigned int nusers;
	uint32_t next_sess;
	/* knobs */
	unsigned int stale_next;     /* answer 438 to this many credentialed logins */
	bool keepalive_401;	     /* answer the next keepalive with 401 */
	bool direct_ok;		     /* DIRECT_OK on routing entries */
	bool punch_send;	     /* PH_PUNCH_SEND in PUNCH */
	unsigned int ghosts;	     /* extra offline contacts, to need several pages */
	struct sockaddr_storage lie; /* if set: the reflexive address the routing table claims */
	struct access_keepalive ka;
	/* observations */
	unsigned int n401, n438, logins_ok, fetches, punch_acks, presence_acks, logouts;
	bool algs_echo_ok;
	uint16_t max_page;
};

static void fake_open(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->addr = v4("127.0.0.1", 0);
	f->fd = udp_socket(&f->addr);
	assert_int_equal(nonce_key_init_random(&f->nk), 0);
	memset(f->secret, 0x5a, sizeof(f->secret));
	f->next_sess = 100;
	f->direct_ok = true;
	f->punch_send = true;
	f->ka = (struct access_keepalive){ 20000, 3000, 60000 };
	f->algs_echo_ok = true;
}

static void fake_user(struct fake *f, const char *name, const char *pass)
{
	f->u[f->nusers].name = name;
	f->u[f->nusers].pass = pass;
	f->nusers++;
}

static struct fake_user *by_name(struct fake *f, const char *name, size_t len)
{
	for (unsigned int i = 0; i < f->nusers; i++)
		if (strlen(f->u[i].name) == len && !memcmp(f->u[i].name, name, len))
			return &f->u[i];
	return NULL;
}

static struct fake_user *by_sess(struct fake *f, uint32_t id)
{
	for (unsigned int i = 0; i < f->nusers; i++)
		if (f->u[i].online && f->u[i].sess == id)
			return &f->u[i];
	return NULL;
}

static void fake_send(struct fake *f, const uint8_t *buf, int len,
		      const struct sockaddr_storage *to)
{
	assert_true(len > 0);
	sendto(f->fd, buf, (size_t)len, 0, (const struct sockaddr *)to,
	       (socklen_t)addr_len((const struct sockaddr *)to));
}

/* @about as a routing entry for @to. */
static void entry(struct fake *f, const struct fake_user *about, const struct fake_user *to,
		  struct access_contact *c, bool lie)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->name, about->name);
	c->state = about->online ? PH_CONTACT_ONLINE : PH_CONTACT_OFFLINE;
	if (!about->online)
		return;
	c->flags = f->direct_ok ? PH_CONTACT_DIRECT_OK : 0;
	c->reflexive = lie && f->lie.ss_family ? f->lie : about->observed;
	c->local = about->observed;
	assert_int_equal(access_pair_key(f->secret, sizeof(f->secret), about->sess, about->token,
					 to->sess, to->token, c->pair_key),
			 0);
}

/* Send @to a PUNCH about @about, under session key @token (the right one or not). */
static void fake_punch(struct fake *f, const struct fake_user *to, const struct fake_user *about,
		       const uint8_t *token, uint8_t tid[STUN_TID_LEN])
{
	uint8_t buf[PH_DATAGRAM_MAX];
	struct access_contact c;
	struct stun_builder b;

	if (!tid[0] && !tid[1])
		assert_int_equal(stun_tid_random(tid), 0);
	entry(f, about, to, &c, false);
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST),
			tid);
	access_add_session(&b, to->sess, to->token);
	access_add_presence(&b, &c);
	access_add_punch_flags(&b, f->punch_send ? PH_PUNCH_SEND : 0);
	fake_send(f, buf, access_msg_finish(&b, token, PH_PAIR_KEY_LEN), &to->observed);
}

static void contacts_for(struct fake *f, const struct fake_user *me, struct access_contact *list,
			 size_t *n)
{
	*n = 0;
	for (unsigned int i = 0; i < f->nusers; i++)
		if (&f->u[i] != me)
			entry(f, &f->u[i], me, &list[(*n)++], true);
	for (unsigned int i = 0; i < f->ghosts; i++) {
		memset(&list[*n], 0, sizeof(list[*n]));
		snprintf(list[*n].name, sizeof(list[*n].name), "ghost-number-%02u", i);
		list[(*n)++].state = PH_CONTACT_OFFLINE;
	}
}

static void fake_login(struct fake *f, const struct stun_msg *m, const struct sockaddr_storage *src)
{
	uint8_t buf[PH_DATAGRAM_MAX], key[STUN_KEY_MAX];
	uint16_t sha256 = STUN_PASSWORD_ALG_SHA256, alg;
	char nonce[NONCE_LEN + 1];
	const char *user, *n;
	size_t ulen, nlen, count, first, cnt;
	struct access_contact list[64];
	struct stun_builder b;
	struct fake_user *u;
	const uint8_t *algs;
	uint16_t algs_len;
	int keylen, chk;

	assert_true(nonce_mint(&f->nk, ep_now_ms(), (const struct sockaddr *)src, nonce,
			       sizeof(nonce)) > 0);
	if (stun_msg_get_string(m, STUN_ATTR_USERNAME, &user, &ulen)) {
		f->n401++;
		goto challenge;
	}
	assert_int_equal(stun_msg_get_string(m, STUN_ATTR_NONCE, &n, &nlen), 0);
	chk = nonce_check(&f->nk, ep_now_ms(), (const struct sockaddr *)src, n, nlen);
	if (!chk && f->stale_next) {
		f->stale_next--;
		chk = -ESTALE;
	}
	if (chk == -ESTALE) {
		f->n438++;
		stun_build_init(&b, buf, sizeof(buf),
				access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR), m->tid);
		stun_build_add_error(&b, STUN_ERR_STALE_NONCE, NULL);
		stun_build_add_string(&b, STUN_ATTR_REALM, REALM, strlen(REALM));
		stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
		stun_build_fingerprint(&b);
		fake_send(f, buf, stun_build_finish(&b), src);
		return;
	}
	/* Bid-down protection: the list must come back exactly as we sent it. */
	if (stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS, &algs, &algs_len) || algs_len != 4 ||
	    algs[0] != 0 || algs[1] != 2 || stun_msg_get_password_algorithm(m, &alg) ||
	    alg != STUN_PASSWORD_ALG_SHA256)
		f->algs_echo_ok = false;
	u = by_name(f, user, ulen);
	keylen = u ? stun_long_term_key(STUN_PASSWORD_ALG_SHA256, u->name, strlen(u->name), REALM,
					strlen(REALM), u->pass, strlen(u->pass), key)
		   : -1;
	if (chk || !u || keylen < 0 || access_msg_verify(m, key, (size_t)keylen)) {
		f->n401++;
		goto challenge;
	}
	f->logins_ok++;
	u->online = true;
	u->sess = f->next_sess++;
	assert_int_equal(stun_tid_random(u->token), 0);
	memcpy(u->token + 4, "tok", 3);
	assert_int_equal(access_session_key(key, (size_t)keylen, n, nlen, u->sess, u->token, u->skey), 0);
	u->observed = *src;
	u->nka = 0;
	/* Punch first (the real server waits for acks; the order is what matters here). */
	for (unsigned int i = 0; i < f->nusers; i++) {
		uint8_t tid[STUN_TID_LEN] = { 0 };

		if (&f->u[i] != u && f->u[i].online)
			fake_punch(f, &f->u[i], u, f->u[i].skey, tid);
	}
	contacts_for(f, u, list, &count);
	count = (size_t)access_page_plan(list, count, 0, &first, &cnt);
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS),
			m->tid);
	stun_build_add_xor_addr(&b, (const struct sockaddr *)src);
	access_add_session(&b, u->sess, u->token);
	access_add_keepalive(&b, &f->ka);
	access_add_page(&b, 0, (uint16_t)count);
	fake_send(f, buf, access_msg_finish(&b, key, (size_t)keylen), src);
	return;

challenge:
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR),
			m->tid);
	stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
	stun_build_add_string(&b, STUN_ATTR_REALM, REALM, strlen(REALM));
	stun_build_add_string(&b, STUN_ATTR_NONCE, nonce, strlen(nonce));
	stun_build_add_password_algorithms(&b, &sha256, 1);
	stun_build_fingerprint(&b);
	fake_send(f, buf, stun_build_finish(&b), src);
}

/* The user whose SESSION and token the message carries, verified; NULL otherwise. */
static struct fake_user *fake_auth(struct fake *f, const struct stun_msg *m)
{
	uint8_t token[PH_TOKEN_LEN];
	struct fake_user *u;
	uint32_t id;

	if (access_get_session(m, &id, token))
		return NULL;
	u = by_sess(f, id);
	if (!u || memcmp(token, u->token, PH_TOKEN_LEN))
		return NULL;
	return u;
}

static void fake_fetch(struct fake *f, const struct stun_msg *m, const struct sockaddr_storage *src)
{
	struct fake_user *u = fake_auth(f, m);
	struct access_contact list[64];
	uint8_t buf[PH_DATAGRAM_MAX];
	size_t n, first, cnt;
	struct stun_builder b;
	uint16_t idx, count;
	int pages;

	if (!u || access_msg_verify(m, u->skey, PH_PAIR_KEY_LEN) || access_get_page(m, &idx, &count))
		return;
	f->fetches++;
	if (idx > f->max_page)
		f->max_page = idx;
	contacts_for(f, u, list, &n);
	pages = access_page_plan(list, n, idx, &first, &cnt);
	assert_true(pages > 0);
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS),
			m->tid);
	access_add_session(&b, u->sess, u->token);
	access_add_page(&b, idx, (uint16_t)pages);
	assert_int_equal(access_page_fill(&b, list + first, cnt), (int)cnt);
	fake_send(f, buf, access_msg_finish(&b, u->skey, PH_PAIR_KEY_LEN), src);
}

static void fake_binding(struct fake *f, const struct stun_msg *m, const struct sockaddr_storage *src)
{
	uint8_t buf[256], tok[PH_TOKEN_LEN];
	struct stun_builder b;
	uint32_t id;

	if (access_get_session(m, &id, tok) != -ENOENT) {
		struct fake_user *u = fake_auth(f, m);

		if (!u)
			return; /* wrong token: refresh nothing, answer nothing */
		if (f->keepalive_401) {
			f->keepalive_401 = false;
			u->online = false;
			stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_ERROR, m->tid);
			stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
			fake_send(f, buf, stun_build_finish(&b), src);
			return;
		}
		if (u->nka < MAX_KA)
			u->ka_ms[u->nka++] = ep_now_ms();
	}
	/* Plain Binding (discovery) or keepalive: XOR-MAPPED-ADDRESS, no OTHER-ADDRESS. */
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_SUCCESS, m->tid);
	stun_build_add_xor_addr(&b, (const struct sockaddr *)src);
	fake_send(f, buf, stun_build_finish(&b), src);
}

static void fake_process(struct fake *f)
{
	uint8_t buf[2048], out[256];
	struct sockaddr_storage src;
	struct stun_builder b;
	struct fake_user *u;
	struct stun_msg m;

	for (;;) {
		socklen_t sl = sizeof(src);
		ssize_t n = recvfrom(f->fd, buf, sizeof(buf), 0, (struct sockaddr *)&src, &sl);
		uint16_t method;

		if (n < 0)
			return;
		if (stun_msg_parse(&m, buf, (size_t)n))
			continue;
		method = stun_type_method(m.type);
		switch (stun_type_class(m.type)) {
		case STUN_CLASS_REQUEST:
			if (method == STUN_METHOD_BINDING)
				fake_binding(f, &m, &src);
			else if (method == PH_METHOD_LOGIN)
				fake_login(f, &m, &src);
			else if (method == PH_METHOD_FETCH)
				fake_fetch(f, &m, &src);
			else if (method == PH_METHOD_LOGOUT) {
				u = fake_auth(f, &m);
				if (!u || access_msg_verify(&m, u->skey, PH_PAIR_KEY_LEN))
					break;
				u->online = false;
				f->logouts++;
				stun_build_init(&b, out, sizeof(out),
						access_type(PH_METHOD_LOGOUT, STUN_CLASS_SUCCESS),
						m.tid);
				access_add_session(&b, u->sess, u->token);
				fake_send(f, out, access_msg_finish(&b, u->skey, PH_PAIR_KEY_LEN),
					  &src);
			}
			break;
		case STUN_CLASS_SUCCESS:
			u = fake_auth(f, &m);
			if (!u || access_msg_verify(&m, u->skey, PH_PAIR_KEY_LEN))
				break;
			if (method == PH_METHOD_PUNCH)
				f->punch_acks++;
			else if (method == PH_METHOD_PRESENCE)
				f->presence_acks++;
			break;
		}
	}
}

/* --- endpoints under test ---------------------------------------------------- */

struct evlog {
	unsigned int count[EP_EV_ERROR + 1];
	char last_peer[PH_NAME_MAX + 1];
	char last_text[PH_TEXT_MAX + 1];
	char last_error[128];
	int last_err;
	struct sockaddr_storage last_addr;
};

static void record(struct ep *ep, const struct ep_event *ev, void *arg)
{
	struct evlog *l = arg;
	(void)ep;

	l->count[ev->type]++;
	if (ev->peer)
		snprintf(l->last_peer, sizeof(l->last_peer), "%s", ev->peer);
	if (ev->addr) {
		memset(&l->last_addr, 0, sizeof(l->last_addr));
		memcpy(&l->last_addr, ev->addr, addr_len(ev->addr));
	}
	if (ev->type == EP_EV_MESSAGE)
		snprintf(l->last_text, sizeof(l->last_text), "%.*s", (int)ev->text_len, ev->text);
	if (ev->type == EP_EV_ERROR) {
		snprintf(l->last_error, sizeof(l->last_error), "%s", ev->text);
		l->last_err = ev->err;
	}
}

struct world {
	struct fake f;
	struct ep *ep[2];
	struct evlog log[2];
};

static struct ep *make_ep(struct world *w, int i, const char *user, const char *pass)
{
	struct ep_config cfg;
	struct ep *ep;

	ep_config_init(&cfg);
	cfg.server = w->f.addr;
	cfg.bind = v4("127.0.0.1", 0);
	cfg.user = user;
	cfg.password = pass;
	cfg.on_event = record;
	cfg.arg = &w->log[i];
	cfg.rto_ms = 20;
	cfg.max_tries = 4;
	cfg.probe_timeout_ms = 100;
	ep = ep_new(&cfg);
	assert_non_null(ep);
	w->ep[i] = ep;
	assert_int_equal(ep_start(ep, ep_now_ms()), 0);
	return ep;
}

typedef bool (*cond_fn)(struct world *w, const void *arg);

/* Drive everything until @cond holds; false after @timeout_ms. */
static bool pump(struct world *w, cond_fn cond, const void *arg, int timeout_ms)
{
	uint64_t deadline = ep_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd pfd[3];
		uint64_t now = ep_now_ms();
		int n = 0, t;

		if (cond(w, arg))
			return true;
		if (now >= deadline)
			return false;
		t = (int)(deadline - now);
		pfd[n++] = (struct pollfd){ .fd = w->f.fd, .events = POLLIN };
		for (int i = 0; i < 2; i++) {
			int et;

			if (!w->ep[i])
				continue;
			pfd[n++] = (struct pollfd){ .fd = ep_fd(w->ep[i]), .events = POLLIN };
			et = ep_next_timeout_ms(w->ep[i], now);
			if (et >= 0 && et < t)
				t = et;
		}
		poll(pfd, (nfds_t)n, t > 50 ? 50 : t);
		fake_process(&w->f);
		for (int i = 0; i < 2; i++)
			if (w->ep[i])
				assert_int_equal(ep_process(w->ep[i], ep_now_ms()), 0);
	}
}

static bool never(struct world *w, const void *arg)
{
	(void)w;
	(void)arg;
	return false;
}

struct ev_wait {
	int who;
	enum ep_event_type type;
	unsigned int atleast;
};

static bool has_event(struct world *w, const void *arg)
{
	const struct ev_wait *e = arg;

	return w->log[e->who].count[e->type] >= e->atleast;
}

static bool wait_event(struct world *w, int who, enum ep_event_type type, unsigned int n,
		       int timeout_ms)
{
	struct ev_wait e = { who, type, n };

	return pump(w, has_event, &e, timeout_ms);
}

static void world_fini(struct world *w)
{
	for (int i = 0; i < 2; i++)
		ep_free(w->ep[i]);
	close(w->f.fd);
}

/* --- tests -------------------------------------------------------------------- */

static void test_login_401_then_credentials(void **state)
{
	struct world w = { 0 };
	struct ep_info info;
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	fake_user(&w.f, "bob", "builder");
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	assert_int_equal(ep_get_state(w.ep[0]), EP_ONLINE);
	assert_int_equal(w.f.n401, 1);
	assert_int_equal(w.f.logins_ok, 1);
	assert_true(w.f.algs_echo_ok);
	assert_int_equal(w.log[0].count[EP_EV_REFLEXIVE], 1);
	assert_int_equal(w.log[0].count[EP_EV_NAT], 1);
	assert_int_equal(w.log[0].count[EP_EV_LOGGED_IN], 1);
	ep_get_info(w.ep[0], &info);
	assert_int_equal(info.session_id, w.f.u[0].sess);
	/* The fake has no alternate address: behaviour unknown, and said so. */
	assert_int_equal(info.mapping, PH_MAP_UNKNOWN);
	assert_int_equal(addr_cmp((struct sockaddr *)&info.reflexive,
				  (struct sockaddr *)&w.f.u[0].observed),
			 0);
	/* bob is offline: listed, no session attempt. */
	assert_int_equal(ep_contact_count(w.ep[0]), 1);
	assert_int_equal(w.log[0].count[EP_EV_CONTACT_OFFLINE], 1);
	world_fini(&w);
}

static void test_stale_nonce_retried_once(void **state)
{
	struct world w = { 0 };
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	w.f.stale_next = 1;
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_LOGGED_IN, 1, 3000));
	assert_int_equal(w.f.n438, 1);
	assert_int_equal(w.f.logins_ok, 1);
	world_fini(&w);

	/* Stale twice: retried once only, then a clear failure. */
	memset(&w, 0, sizeof(w));
	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	w.f.stale_next = 2;
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_ERROR, 1, 3000));
	assert_int_equal(ep_get_state(w.ep[0]), EP_FAILED);
	assert_int_equal(w.f.n438, 2);
	assert_int_equal(w.f.logins_ok, 0);
	world_fini(&w);
}

static void test_bad_password(void **state)
{
	struct world w = { 0 };
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	make_ep(&w, 0, "alice", "not-the-password");
	assert_true(wait_event(&w, 0, EP_EV_ERROR, 1, 3000));
	assert_int_equal(ep_get_state(w.ep[0]), EP_FAILED);
	assert_string_equal(w.log[0].last_error, "authentication failed");
	assert_int_equal(w.log[0].last_err, -EACCES);
	assert_int_equal(w.f.n401, 2); /* the challenge, then the refusal */
	assert_int_equal(ep_next_timeout_ms(w.ep[0], ep_now_ms()), -1);
	world_fini(&w);
}

static void test_server_unreachable(void **state)
{
	struct world w = { 0 };
	struct sockaddr_storage mute = v4("127.0.0.1", 0), idle = v4("127.0.0.1", 0);
	struct ep_config cfg;
	int mfd;
	(void)state;

	/* A bound socket that never answers: nothing else can claim the port meanwhile. */
	mfd = udp_socket(&mute);
	w.f.fd = udp_socket(&idle); /* the pump's fake stays idle */
	ep_config_init(&cfg);
	cfg.server = mute;
	cfg.bind = v4("127.0.0.1", 0);
	cfg.user = "alice";
	cfg.password = "x";
	cfg.on_event = record;
	cfg.arg = &w.log[0];
	cfg.rto_ms = 20;
	cfg.max_tries = 3;
	w.ep[0] = ep_new(&cfg);
	assert_non_null(w.ep[0]);
	assert_int_equal(ep_start(w.ep[0], ep_now_ms()), 0);
	assert_true(wait_event(&w, 0, EP_EV_ERROR, 1, 3000));
	assert_string_equal(w.log[0].last_error, "server unreachable");
	assert_int_equal(ep_get_state(w.ep[0]), EP_FAILED);
	assert_int_equal(w.log[0].count[EP_EV_LOGGED_IN], 0);
	close(mfd);
	world_fini(&w);
}

static void test_fetch_pages(void **state)
{
	struct world w = { 0 };
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	w.f.ghosts = 40;
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	assert_true(w.f.max_page >= 2); /* three pages or more */
	assert_int_equal(w.f.fetches, w.f.max_page + 1u);
	assert_int_equal(ep_contact_count(w.ep[0]), 40);

	/* A refresh with one contact fewer removes it. */
	w.f.ghosts = 39;
	assert_int_equal(ep_refresh(w.ep[0]), 0);
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 2, 3000));
	assert_int_equal(ep_contact_count(w.ep[0]), 39);
	assert_int_equal(w.log[0].count[EP_EV_CONTACT_REMOVED], 1);
	world_fini(&w);
}

static bool got_datagram(struct world *w, const void *arg)
{
	const int *fd = arg;
	struct pollfd p = { .fd = *fd, .events = POLLIN };
	(void)w;

	return poll(&p, 1, 0) == 1;
}

static bool acks_at_least(struct world *w, const void *arg)
{
	return w->f.punch_acks >= *(const unsigned int *)arg;
}

static void test_punch_verified_and_acked(void **state)
{
	unsigned int one = 1, two = 2;
	struct world w = { 0 };
	struct sockaddr_storage a_addr = v4("127.0.0.1", 0), other = v4("127.0.0.1", 0);
	uint8_t tid[STUN_TID_LEN] = { 0 }, wrong[PH_PAIR_KEY_LEN], buf[512], key[PH_PAIR_KEY_LEN];
	struct fake_user *alice, *ghost;
	struct ep_stats st;
	struct stun_msg m;
	int afd, ofd;
	ssize_t n;
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	fake_user(&w.f, "carol", "x"); /* stands for the newcomer; never a real endpoint */
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	alice = &w.f.u[0];
	ghost = &w.f.u[1];
	/* carol "logs in" at a socket this test reads. */
	afd = udp_socket(&a_addr);
	ghost->online = true;
	ghost->sess = 999;
	ghost->observed = a_addr;

	/* Wrong key: ignored, no probe, no ack. */
	memcpy(wrong, alice->skey, sizeof(wrong));
	wrong[0] ^= 1;
	fake_punch(&w.f, alice, ghost, wrong, tid);
	pump(&w, never, NULL, 200);
	assert_int_equal(w.f.punch_acks, 0);
	assert_int_equal(w.log[0].count[EP_EV_PUNCH], 0);
	assert_false(got_datagram(&w, &afd));
	ep_get_stats(w.ep[0], &st);
	assert_int_equal(st.dropped_bad, 1);

	/* Right token but from another address than the server's: ignored too. */
	{
		uint8_t pbuf[PH_DATAGRAM_MAX], ptid[STUN_TID_LEN];
		struct access_contact c;
		struct stun_builder b;
		int len;

		ofd = udp_socket(&other);
		stun_tid_random(ptid);
		entry(&w.f, ghost, alice, &c, false);
		stun_build_init(&b, pbuf, sizeof(pbuf),
				access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST), ptid);
		access_add_session(&b, alice->sess, alice->token);
		access_add_presence(&b, &c);
		access_add_punch_flags(&b, PH_PUNCH_SEND);
		len = access_msg_finish(&b, alice->skey, PH_PAIR_KEY_LEN);
		sendto(ofd, pbuf, (size_t)len, 0, (struct sockaddr *)&alice->observed,
		       sizeof(struct sockaddr_in));
		pump(&w, never, NULL, 150);
		assert_int_equal(w.log[0].count[EP_EV_PUNCH], 0);
		assert_false(got_datagram(&w, &afd));
		assert_false(got_datagram(&w, &ofd));
		close(ofd);
	}

	/* The right token: a verified PROBE toward carol, then the ack. */
	memset(tid, 0, sizeof(tid));
	fake_punch(&w.f, alice, ghost, alice->skey, tid);
	assert_true(pump(&w, got_datagram, &afd, 2000));
	assert_true(wait_event(&w, 0, EP_EV_PUNCH, 1, 1000));
	assert_string_equal(w.log[0].last_peer, "carol");
	assert_true(pump(&w, acks_at_least, &one, 1000));
	assert_int_equal(w.f.punch_acks, 1);
	n = recv(afd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(m.type, access_type(PH_METHOD_PROBE, STUN_CLASS_INDICATION));
	assert_int_equal(access_pair_key(w.f.secret, sizeof(w.f.secret), ghost->sess, ghost->token,
					 alice->sess, alice->token, key),
			 0);
	assert_int_equal(access_msg_verify(&m, key, sizeof(key)), 0);

	/* The same PUNCH again (our ack was "lost"): acked again, acted on once. */
	fake_punch(&w.f, alice, ghost, alice->skey, tid);
	assert_true(pump(&w, acks_at_least, &two, 1000));
	pump(&w, never, NULL, 50);
	assert_int_equal(w.log[0].count[EP_EV_PUNCH], 1);
	close(afd);
	world_fini(&w);
}

static bool both_connected(struct world *w, const void *arg)
{
	(void)arg;
	return w->log[0].count[EP_EV_SESSION] >= 1 && w->log[1].count[EP_EV_PEER_VERIFIED] >= 1;
}

/* bob logs in first, then alice: alice sends ONLINE, bob verifies; messages both ways. */
static void two_endpoints(struct world *w)
{
	fake_open(&w->f);
	fake_user(&w->f, "alice", "wonderland");
	fake_user(&w->f, "bob", "builder");
	make_ep(w, 1, "bob", "builder");
	assert_true(wait_event(w, 1, EP_EV_CONTACTS, 1, 3000));
	make_ep(w, 0, "alice", "wonderland");
}

static void test_online_and_messages(void **state)
{
	struct world w = { 0 };
	struct sockaddr_storage bob_local, raw = v4("127.0.0.1", 0);
	struct ep_contact c;
	struct ep_info info;
	struct ep_stats st;
	uint8_t buf[512], tid[STUN_TID_LEN], key[PH_PAIR_KEY_LEN];
	struct stun_builder b;
	uint32_t id;
	int rfd, len;
	(void)state;

	two_endpoints(&w);
	assert_true(pump(&w, both_connected, NULL, 3000));
	assert_string_equal(w.log[1].last_peer, "alice");
	/* bob was told to punch toward alice before alice's login was answered. */
	assert_int_equal(w.log[1].count[EP_EV_PUNCH], 1);
	assert_true(w.f.punch_acks >= 1);
	ep_get_info(w.ep[1], &info);
	bob_local = info.local;
	assert_int_equal(ep_contact_get(w.ep[0], 0, &c), 0);
	assert_string_equal(c.name, "bob");
	assert_true(c.connected);
	assert_int_equal(addr_cmp((struct sockaddr *)&c.session_addr, (struct sockaddr *)&bob_local),
			 0);

	assert_int_equal(ep_send_message(w.ep[0], "bob", "hello bob", &id), 0);
	assert_true(wait_event(&w, 1, EP_EV_MESSAGE, 1, 2000));
	assert_string_equal(w.log[1].last_text, "hello bob");
	assert_true(wait_event(&w, 0, EP_EV_MESSAGE_ACKED, 1, 2000));
	assert_int_equal(ep_send_message(w.ep[1], "alice", "hi alice", NULL), 0);
	assert_true(wait_event(&w, 0, EP_EV_MESSAGE, 1, 2000));
	assert_string_equal(w.log[0].last_text, "hi alice");
	assert_true(wait_event(&w, 1, EP_EV_MESSAGE_ACKED, 1, 2000));
	assert_int_equal(ep_send_message(w.ep[0], "nobody", "x", NULL), -ENOENT);
	assert_int_equal(ep_send_message(w.ep[0], "bob", "bad\001text", NULL), -EINVAL);

	/* A forged ONLINE claiming to be alice, under a wrong key: no answer, counted. */
	ep_get_stats(w.ep[1], &st);
	rfd = udp_socket(&raw);
	memset(key, 0x11, sizeof(key));
	stun_tid_random(tid);
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_ONLINE, STUN_CLASS_REQUEST),
			tid);
	access_add_peer_name(&b, "alice", 5);
	len = access_msg_finish(&b, key, sizeof(key));
	sendto(rfd, buf, (size_t)len, 0, (struct sockaddr *)&bob_local, sizeof(struct sockaddr_in));
	{
		struct ep_stats now;

		for (int i = 0; i < 40; i++) {
			pump(&w, never, NULL, 25);
			ep_get_stats(w.ep[1], &now);
			if (now.rejected_peer > st.rejected_peer)
				break;
		}
		assert_int_equal(now.rejected_peer, st.rejected_peer + 1);
	}
	assert_false(got_datagram(&w, &rfd));
	assert_int_equal(w.log[1].count[EP_EV_PEER_VERIFIED], 1);
	close(rfd);
	world_fini(&w);
}

static void test_probe_teaches_address(void **state)
{
	struct world w = { 0 };
	struct sockaddr_storage sink = v4("127.0.0.1", 0);
	struct ep_contact c;
	struct ep_info bob;
	int sfd;
	(void)state;

	/* The routing table sends alice to a dead end; only bob's probe shows the way. */
	sfd = udp_socket(&sink);
	memset(&w, 0, sizeof(w));
	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	fake_user(&w.f, "bob", "builder");
	make_ep(&w, 1, "bob", "builder");
	assert_true(wait_event(&w, 1, EP_EV_CONTACTS, 1, 3000));
	w.f.lie = sink;
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(pump(&w, both_connected, NULL, 3000));
	ep_get_info(w.ep[1], &bob);
	assert_int_equal(ep_contact_get(w.ep[0], 0, &c), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&c.reflexive, (struct sockaddr *)&sink), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&c.session_addr, (struct sockaddr *)&bob.local),
			 0);
	ep_free(w.ep[0]);
	ep_free(w.ep[1]);
	close(w.f.fd);

	/* Same lie without a punch: nothing teaches alice, her ONLINE goes nowhere. */
	memset(&w, 0, sizeof(w));
	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	fake_user(&w.f, "bob", "builder");
	w.f.punch_send = false;
	make_ep(&w, 1, "bob", "builder");
	assert_true(wait_event(&w, 1, EP_EV_CONTACTS, 1, 3000));
	w.f.lie = sink;
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_ERROR, 1, 3000));
	assert_string_equal(w.log[0].last_error, "no answer to ONLINE");
	assert_int_equal(w.log[0].count[EP_EV_SESSION], 0);
	assert_int_equal(ep_send_message(w.ep[0], "bob", "anyone?", NULL), -ENOTCONN);
	close(sfd);
	world_fini(&w);
}

static void test_no_direct_reported(void **state)
{
	struct world w = { 0 };
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	fake_user(&w.f, "bob", "builder");
	w.f.direct_ok = false;
	w.f.punch_send = false;
	make_ep(&w, 1, "bob", "builder");
	assert_true(wait_event(&w, 1, EP_EV_CONTACTS, 1, 3000));
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	assert_int_equal(w.log[0].count[EP_EV_NO_DIRECT], 1);
	assert_string_equal(w.log[0].last_peer, "bob");
	pump(&w, never, NULL, 200);
	/* No ONLINE was tried: bob never heard from alice. */
	assert_int_equal(w.log[1].count[EP_EV_PEER_VERIFIED], 0);
	world_fini(&w);
}

static bool keepalives(struct world *w, const void *arg)
{
	return w->f.u[0].nka >= *(const unsigned int *)arg;
}

static void test_keepalive_timing(void **state)
{
	struct world w = { 0 };
	unsigned int want = 4;
	uint64_t login_ms;
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	w.f.ka = (struct access_keepalive){ 1000, 200, 3000 };
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_LOGGED_IN, 1, 3000));
	login_ms = ep_now_ms();
	assert_true(pump(&w, keepalives, &want, 6000));
	for (unsigned int i = 0; i < want; i++) {
		uint64_t prev = i ? w.f.u[0].ka_ms[i - 1] : login_ms;
		uint64_t gap = w.f.u[0].ka_ms[i] - prev;

		/* interval +- jitter, with a little scheduling slack either way */
		if (gap + 30 < 800 || gap > 1200 + 60)
			fail_msg("keepalive %u came %llu ms after the previous", i,
				 (unsigned long long)gap);
	}
	world_fini(&w);
}

static void test_keepalive_401_relogin(void **state)
{
	struct world w = { 0 };
	unsigned int want = 1;
	uint32_t first;
	struct ep_info info;
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	w.f.ka = (struct access_keepalive){ 1000, 100, 3000 };
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	first = w.f.u[0].sess;
	assert_true(pump(&w, keepalives, &want, 3000));
	w.f.keepalive_401 = true;
	assert_true(wait_event(&w, 0, EP_EV_RELOGIN, 1, 3000));
	assert_true(wait_event(&w, 0, EP_EV_LOGGED_IN, 2, 3000));
	assert_int_equal(w.f.logins_ok, 2);
	ep_get_info(w.ep[0], &info);
	assert_int_not_equal(info.session_id, first);
	assert_int_equal(info.session_id, w.f.u[0].sess);
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 2, 3000));
	world_fini(&w);
}

static void test_logout(void **state)
{
	struct world w = { 0 };
	(void)state;

	fake_open(&w.f);
	fake_user(&w.f, "alice", "wonderland");
	make_ep(&w, 0, "alice", "wonderland");
	assert_true(wait_event(&w, 0, EP_EV_CONTACTS, 1, 3000));
	assert_int_equal(ep_logout(w.ep[0]), 0);
	assert_true(wait_event(&w, 0, EP_EV_LOGGED_OUT, 1, 2000));
	assert_int_equal(ep_get_state(w.ep[0]), EP_CLOSED);
	assert_int_equal(w.f.logouts, 1);
	assert_false(w.f.u[0].online);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_401_then_credentials),
		cmocka_unit_test(test_stale_nonce_retried_once),
		cmocka_unit_test(test_bad_password),
		cmocka_unit_test(test_server_unreachable),
		cmocka_unit_test(test_fetch_pages),
		cmocka_unit_test(test_punch_verified_and_acked),
		cmocka_unit_test(test_online_and_messages),
		cmocka_unit_test(test_probe_teaches_address),
		cmocka_unit_test(test_no_direct_reported),
		cmocka_unit_test(test_keepalive_timing),
		cmocka_unit_test(test_keepalive_401_relogin),
		cmocka_unit_test(test_logout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
