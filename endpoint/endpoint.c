// SPDX-License-Identifier: MIT
/*
 * The endpoint state machine (endpoint.h; the message contract is the
 * access flow in bpf/access_proto.h): discovery -> login -> fetch ->
 * direct sessions, all on one socket.  Every datagram is untrusted: it is parsed by the one gate
 * (stun_msg_parse + access_msg_check_attrs), a response must answer an
 * outstanding transaction of ours from the address we sent it to (the
 * server) or carry the pair key (a peer), and a request must carry the
 * session token (server) or the pair key (peer) before anything acts on
 * it.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "addr.h"
#include "discovery.h"
#include "endpoint.h"
#include "nat.h"
#include "peers.h"
#include "stun.h"
#include "txn.h"

#define PENDING_PROBES 8
#define PENDING_PROBE_MAX 256
#define PENDING_PROBE_TTL_MS 10000
#define RECV_BATCH 256
#define RATE_LIMIT_RETRIES 3
#define ALGS_MAX 64

/*
 * The public header carries its own copies of the wire protocol's limits
 * and NAT enums so it needs no internal header; they must stay the same
 * values, since the library hands the wire values out by a plain cast.
 */
_Static_assert(EP_NAME_MAX == PH_NAME_MAX, "EP_NAME_MAX mirrors PH_NAME_MAX");
_Static_assert(EP_TEXT_MAX == PH_TEXT_MAX, "EP_TEXT_MAX mirrors PH_TEXT_MAX");
_Static_assert(EP_MAP_UNKNOWN == (int)PH_MAP_UNKNOWN && EP_MAP_NONE == (int)PH_MAP_NONE &&
		       EP_MAP_ENDPOINT_INDEPENDENT == (int)PH_MAP_ENDPOINT_INDEPENDENT &&
		       EP_MAP_ADDRESS_DEPENDENT == (int)PH_MAP_ADDRESS_DEPENDENT &&
		       EP_MAP_ADDRESS_PORT_DEPENDENT == (int)PH_MAP_ADDRESS_PORT_DEPENDENT,
	       "enum ep_nat_mapping mirrors enum ph_nat_mapping");
_Static_assert(EP_FILTER_UNKNOWN == (int)PH_FILTER_UNKNOWN &&
		       EP_FILTER_NONE == (int)PH_FILTER_NONE &&
		       EP_FILTER_ENDPOINT_INDEPENDENT == (int)PH_FILTER_ENDPOINT_INDEPENDENT &&
		       EP_FILTER_ADDRESS_DEPENDENT == (int)PH_FILTER_ADDRESS_DEPENDENT &&
		       EP_FILTER_ADDRESS_PORT_DEPENDENT == (int)PH_FILTER_ADDRESS_PORT_DEPENDENT,
	       "enum ep_nat_filtering mirrors enum ph_nat_filtering");

_Static_assert(NAT_LABEL_MAX <= 16, "endpoint.h promises 16 bytes for ep_nat_label()");

static enum ep_nat_mapping pub_map(enum ph_nat_mapping m)
{
	return (enum ep_nat_mapping)m;
}

static enum ep_nat_filtering pub_filt(enum ph_nat_filtering f)
{
	return (enum ep_nat_filtering)f;
}

/* A PROBE that arrived before we held the key to check it (the punch races our FETCH). */
struct pending_probe {
	uint8_t buf[PENDING_PROBE_MAX];
	size_t len;
	struct sockaddr_storage from;
	uint64_t at_ms;
};

struct ep {
	struct ep_config cfg;
	char user[PH_NAME_MAX + 1];
	char *password;
	size_t password_len;
	int fd;
	struct sockaddr_storage local;
	enum ep_state state;
	bool started;

	struct disc disc;
	bool reflexive_reported;
	enum ph_nat_mapping mapping;
	enum ph_nat_filtering filtering;
	struct sockaddr_storage reflexive;

	/* long-term credential state (RFC 8489 §9.2) */
	char realm[STUN_REALM_MAX + 1];
	size_t realm_len;
	char nonce[STUN_NONCE_MAX + 1];
	size_t nonce_len;
	uint8_t algs[ALGS_MAX]; /* PASSWORD-ALGORITHMS value, echoed verbatim */
	size_t algs_len;
	uint8_t key[STUN_KEY_MAX];
	size_t keylen;
	bool stale_retried;
	unsigned int rate_limited;
	uint64_t relogin_at_ms; /* 0: none scheduled */

	/* session */
	uint32_t sess_id;
	uint8_t token[PH_TOKEN_LEN];	/* travels in clear: not a key */
	uint8_t skey[PH_PAIR_KEY_LEN];	/* session key: access_session_key() */
	struct access_keepalive ka;
	uint64_t next_keepalive_ms;

	/* routing table */
	bool fetching, refresh_pending;
	uint32_t fetch_gen;
	struct peers peers;

	struct txns txns;
	struct peer_seen srv_seen[PEERS_SEEN_MAX];
	unsigned int srv_seen_next;
	struct pending_probe probes[PENDING_PROBES];
	unsigned int probes_next;
	uint32_t next_msg_id;
	struct ep_stats stats;
	uint64_t now;
};

uint64_t ep_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *ep_nat_mapping_name(enum ep_nat_mapping m)
{
	return nat_mapping_name((enum ph_nat_mapping)m);
}

const char *ep_nat_filtering_name(enum ep_nat_filtering f)
{
	return nat_filtering_name((enum ph_nat_filtering)f);
}

int ep_nat_label(enum ep_nat_mapping m, enum ep_nat_filtering f, char *buf, size_t len)
{
	return nat_label((enum ph_nat_mapping)m, (enum ph_nat_filtering)f, buf, len);
}

const char *ep_state_name(enum ep_state s)
{
	switch (s) {
	case EP_DISCOVERING:
		return "discovering";
	case EP_LOGGING_IN:
		return "logging-in";
	case EP_ONLINE:
		return "online";
	case EP_LOGGING_OUT:
		return "logging-out";
	case EP_CLOSED:
		return "closed";
	case EP_FAILED:
		return "failed";
	}
	return "?";
}

void ep_config_init(struct ep_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rto_ms = 100;
	cfg->max_tries = 6;
	cfg->probe_timeout_ms = 500;
}

/* --- small helpers ------------------------------------------------------ */

static void emit(struct ep *ep, struct ep_event *ev)
{
	ev->state = ep->state;
	if (ep->cfg.on_event)
		ep->cfg.on_event(ep, ev, ep->cfg.arg);
}

static void emit_peer(struct ep *ep, enum ep_event_type type, const struct peer *p,
		      const struct sockaddr_storage *addr)
{
	struct ep_event ev = {
		.type = type,
		.peer = p->c.name,
		.addr = addr && addr->ss_family != AF_UNSPEC ? (const struct sockaddr *)addr : NULL,
		.mapping = pub_map(ep->mapping),
		.filtering = pub_filt(ep->filtering),
		.peer_mapping = pub_map(p->c.mapping),
		.peer_filtering = pub_filt(p->c.filtering),
		.direct = p->c.flags & PH_CONTACT_DIRECT_OK,
	};

	emit(ep, &ev);
}

static void emit_error(struct ep *ep, int err, const char *peer, const char *text)
{
	struct ep_event ev = {
		.type = EP_EV_ERROR,
		.err = err,
		.peer = peer,
		.text = text,
		.text_len = strlen(text),
	};

	emit(ep, &ev);
}

static void set_state(struct ep *ep, enum ep_state s)
{
	struct ep_event ev = { .type = EP_EV_STATE };

	if (ep->state == s)
		return;
	ep->state = s;
	emit(ep, &ev);
}

static bool from_server(const struct ep *ep, const struct sockaddr *from)
{
	return addr_cmp(from, (const struct sockaddr *)&ep->cfg.server) == 0;
}

/*
 * Diagnostics go to the embedder's on_log hook, per endpoint: the library
 * keeps no global logging state and prints nothing itself.
 */
static void ep_log(const struct ep *ep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ep_log(const struct ep *ep, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!ep->cfg.on_log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ep->cfg.on_log(ep->cfg.arg, line);
}

/* LOGOUT retransmissions: see ep_logout(). */
#define LOGOUT_TRIES 3

static void send_to(struct ep *ep, const uint8_t *buf, size_t len, const struct sockaddr *dst)
{
	if (sendto(ep->fd, buf, len, 0, dst, (socklen_t)addr_len(dst)) < 0) {
		char a[ADDR_STRLEN];

		/* Transient (no route yet, buffer full): retransmission or the next keepalive covers it. */
		addr_format(dst, a, sizeof(a));
		ep_log(ep, "endpoint %s: sendto %s: %s", ep->user, a, strerror(errno));
	}
}

static void txn_start(struct ep *ep, struct txn *x, const struct sockaddr_storage *dst)
{
	x->dst = *dst;
	x->tries = 1;
	x->max_tries = ep->cfg.max_tries;
	x->rto_ms = ep->cfg.rto_ms;
	x->next_ms = ep->now + x->rto_ms;
	send_to(ep, x->buf, x->len, (const struct sockaddr *)&x->dst);
}

static void cancel_peer_txns(struct ep *ep, const char *name)
{
	struct txn *x;

	while ((x = txns_find_kind(&ep->txns, TXN_ONLINE, name)))
		txns_remove(&ep->txns, x);
	while ((x = txns_find_kind(&ep->txns, TXN_MESSAGE, name)))
		txns_remove(&ep->txns, x);
}

static void cancel_all(struct ep *ep)
{
	while (ep->txns.n)
		txns_remove(&ep->txns, ep->txns.v[0]);
}

static void fail(struct ep *ep, int err, const char *text)
{
	cancel_all(ep);
	ep->relogin_at_ms = 0;
	set_state(ep, EP_FAILED);
	emit_error(ep, err, NULL, text);
}

static uint64_t jittered(const struct ep *ep)
{
	uint32_t r = 0, span = 2 * ep->ka.jitter_ms + 1;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)ep->now * 2654435761u;
	return ep->ka.interval_ms - ep->ka.jitter_ms + r % span;
}

/* --- login -------------------------------------------------------------- */

static int login_send(struct ep *ep, bool creds)
{
	struct stun_builder b;
	struct txn *x;
	int len;

	while ((x = txns_find_kind(&ep->txns, TXN_LOGIN, NULL)))
		txns_remove(&ep->txns, x);
	x = txns_add(&ep->txns, TXN_LOGIN);
	if (!x)
		return -errno;
	stun_build_init(&b, x->buf, sizeof(x->buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			x->tid);
	if (creds) {
		stun_build_add_string(&b, STUN_ATTR_USERNAME, ep->user, strlen(ep->user));
		stun_build_add_string(&b, STUN_ATTR_REALM, ep->realm, ep->realm_len);
		stun_build_add_string(&b, STUN_ATTR_NONCE, ep->nonce, ep->nonce_len);
		/* Echoed as received: the server detects a bid-down by comparing. */
		stun_build_add(&b, STUN_ATTR_PASSWORD_ALGORITHMS, ep->algs, ep->algs_len);
		stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
		if (ep->reflexive.ss_family != AF_UNSPEC)
			access_add_claimed_address(&b, (struct sockaddr *)&ep->reflexive);
		access_add_local_address(&b, (struct sockaddr *)&ep->local);
		access_add_nat(&b, ep->mapping, ep->filtering);
		len = access_msg_finish(&b, ep->key, ep->keylen);
	} else {
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
	}
	if (len < 0) {
		txns_remove(&ep->txns, x);
		return len;
	}
	x->len = (size_t)len;
	x->aux = creds;
	txn_start(ep, x, &ep->cfg.server);
	return 0;
}

static void begin_login(struct ep *ep)
{
	int err;

	set_state(ep, EP_LOGGING_IN);
	ep->stale_retried = false;
	err = login_send(ep, false);
	if (err)
		fail(ep, err, "cannot build login request");
}

static void relogin(struct ep *ep, const char *why)
{
	struct ep_event ev = { .type = EP_EV_RELOGIN, .text = why, .text_len = strlen(why) };

	cancel_all(ep);
	ep->sess_id = 0;
	ep->fetching = false;
	emit(ep, &ev);
	begin_login(ep);
}

/* Take REALM and NONCE from a 401/438; false when either is missing. */
static bool take_challenge(struct ep *ep, const struct stun_msg *m)
{
	const char *realm, *nonce;
	size_t rlen, nlen;

	if (stun_msg_get_string(m, STUN_ATTR_REALM, &realm, &rlen) ||
	    stun_msg_get_string(m, STUN_ATTR_NONCE, &nonce, &nlen) || !rlen || !nlen)
		return false;
	memcpy(ep->realm, realm, rlen);
	ep->realm[rlen] = '\0';
	ep->realm_len = rlen;
	memcpy(ep->nonce, nonce, nlen);
	ep->nonce[nlen] = '\0';
	ep->nonce_len = nlen;
	return true;
}

/* First 401: learn realm, nonce and the algorithms, derive the key. */
static int take_first_challenge(struct ep *ep, const struct stun_msg *m)
{
	uint16_t algs[16];
	const uint8_t *val;
	uint16_t vlen;
	size_t n;
	bool sha256 = false;
	int len;

	if (!take_challenge(ep, m))
		return -EPROTO;
	/* No PASSWORD-ALGORITHMS means MD5 only (RFC 8489 §9.2.4): we do not speak it. */
	if (stun_msg_get_password_algorithms(m, algs, 16, &n))
		return -EPROTONOSUPPORT;
	for (size_t i = 0; i < n && i < 16; i++)
		sha256 |= algs[i] == STUN_PASSWORD_ALG_SHA256;
	if (!sha256)
		return -EPROTONOSUPPORT;
	if (stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS, &val, &vlen) || vlen > ALGS_MAX)
		return -EPROTO;
	memcpy(ep->algs, val, vlen);
	ep->algs_len = vlen;
	len = stun_long_term_key(STUN_PASSWORD_ALG_SHA256, ep->user, strlen(ep->user), ep->realm,
				 ep->realm_len, ep->password, ep->password_len, ep->key);
	if (len < 0)
		return len;
	ep->keylen = (size_t)len;
	return 0;
}

static int fetch_send(struct ep *ep, uint16_t page);

static void on_login_success(struct ep *ep, const struct stun_msg *m)
{
	struct ep_event ev = { .type = EP_EV_LOGGED_IN };
	struct sockaddr_storage xma;
	uint16_t idx, count;
	int err;

	if (stun_msg_get_xor_addr(m, &xma) || access_get_session(m, &ep->sess_id, ep->token) ||
	    access_get_keepalive(m, &ep->ka) || access_get_page(m, &idx, &count) || !count) {
		fail(ep, -EPROTO, "malformed login answer");
		return;
	}
	/* Everything after login is protected by a key derived from the long-term key. */
	if (access_session_key(ep->key, ep->keylen, ep->nonce, ep->nonce_len, ep->sess_id,
			       ep->token, ep->skey)) {
		fail(ep, -ENOMEM, "cannot derive the session key");
		return;
	}
	ep->reflexive = xma;
	ep->rate_limited = 0;
	ep->stats.logins++;
	set_state(ep, EP_ONLINE);
	ev.session_id = ep->sess_id;
	ev.addr = (struct sockaddr *)&ep->reflexive;
	emit(ep, &ev);
	if (ep->state != EP_ONLINE)
		return;
	ep->next_keepalive_ms = ep->now + jittered(ep);
	ep->fetching = true;
	ep->fetch_gen++;
	err = fetch_send(ep, 0);
	if (err) {
		ep->fetching = false;
		emit_error(ep, err, NULL, "cannot send FETCH");
	}
}

static void on_login_response(struct ep *ep, struct txn *x, const struct stun_msg *m)
{
	bool creds = x->aux;
	const char *reason;
	size_t rlen;
	int code, err;
	char text[128];

	if (stun_type_class(m->type) == STUN_CLASS_SUCCESS) {
		/* Only an answer under our long-term key counts; anyone can send "success". */
		if (!creds || access_msg_verify(m, ep->key, ep->keylen)) {
			ep->stats.dropped_bad++;
			return;
		}
		txns_remove(&ep->txns, x);
		on_login_success(ep, m);
		return;
	}
	if (stun_msg_get_error(m, &code, &reason, &rlen)) {
		ep->stats.dropped_bad++;
		return;
	}
	txns_remove(&ep->txns, x);
	if (code == STUN_ERR_UNAUTHORIZED && !creds) {
		err = take_first_challenge(ep, m);
		if (err) {
			fail(ep, err, err == -EPROTONOSUPPORT ? "server does not offer SHA-256"
							      : "malformed login challenge");
			return;
		}
		err = login_send(ep, true);
		if (err)
			fail(ep, err, "cannot build login request");
		return;
	}
	if (code == STUN_ERR_UNAUTHORIZED) {
		fail(ep, -EACCES, "authentication failed");
		return;
	}
	if (code == STUN_ERR_STALE_NONCE && creds && !ep->stale_retried) {
		ep->stale_retried = true;
		if (!take_challenge(ep, m)) {
			fail(ep, -EPROTO, "malformed stale-nonce answer");
			return;
		}
		ep_log(ep, "endpoint %s: stale nonce, retrying once", ep->user);
		err = login_send(ep, true);
		if (err)
			fail(ep, err, "cannot build login request");
		return;
	}
	if (code == PH_ERR_RATE_LIMITED && ep->rate_limited < RATE_LIMIT_RETRIES) {
		/* Back off 1 s, 2 s, 4 s: hammering a rate limiter only extends it. */
		ep->relogin_at_ms = ep->now + (1000ull << ep->rate_limited);
		ep->rate_limited++;
		emit_error(ep, -EAGAIN, NULL, "login rate limited, retrying");
		return;
	}
	snprintf(text, sizeof(text), "login refused: %d %.*s", code, (int)(rlen > 60 ? 60 : rlen),
		 reason);
	fail(ep, code == STUN_ERR_STALE_NONCE ? -EACCES : -EPROTO, text);
}

/* --- fetch -------------------------------------------------------------- */

static int fetch_send(struct ep *ep, uint16_t page)
{
	struct stun_builder b;
	struct txn *x = txns_add(&ep->txns, TXN_FETCH);
	int len;

	if (!x)
		return -errno;
	stun_build_init(&b, x->buf, sizeof(x->buf), access_type(PH_METHOD_FETCH, STUN_CLASS_REQUEST),
			x->tid);
	access_add_session(&b, ep->sess_id, ep->token);
	access_add_page(&b, page, 0);
	len = access_msg_finish(&b, ep->skey, sizeof(ep->skey));
	if (len < 0) {
		txns_remove(&ep->txns, x);
		return len;
	}
	x->len = (size_t)len;
	x->aux = page;
	txn_start(ep, x, &ep->cfg.server);
	return 0;
}

static int online_send(struct ep *ep, struct peer *p, const struct sockaddr_storage *dst)
{
	struct stun_builder b;
	struct txn *x;
	int len;

	if (!p->has_key || dst->ss_family == AF_UNSPEC)
		return -EINVAL;
	for (size_t i = 0; i < ep->txns.n; i++) {
		x = ep->txns.v[i];
		if (x->kind == TXN_ONLINE && !strcmp(x->peer, p->c.name) &&
		    !addr_cmp((struct sockaddr *)&x->dst, (const struct sockaddr *)dst))
			return 0; /* already asking there */
	}
	x = txns_add(&ep->txns, TXN_ONLINE);
	if (!x)
		return -errno;
	stun_build_init(&b, x->buf, sizeof(x->buf),
			access_type(PH_METHOD_ONLINE, STUN_CLASS_REQUEST), x->tid);
	access_add_peer_name(&b, ep->user, strlen(ep->user));
	len = access_msg_finish(&b, p->c.pair_key, PH_PAIR_KEY_LEN);
	if (len < 0) {
		txns_remove(&ep->txns, x);
		return len;
	}
	x->len = (size_t)len;
	strcpy(x->peer, p->c.name);
	if (p->session == PEER_IDLE)
		p->session = PEER_CONNECTING;
	txn_start(ep, x, dst);
	return 0;
}

static void send_probe(struct ep *ep, struct peer *p, const struct sockaddr_storage *dst)
{
	uint8_t buf[256], tid[STUN_TID_LEN];
	struct stun_builder b;
	int len;

	if (!p->has_key || dst->ss_family == AF_UNSPEC || stun_tid_random(tid))
		return;
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PROBE, STUN_CLASS_INDICATION),
			tid);
	access_add_peer_name(&b, ep->user, strlen(ep->user));
	len = access_msg_finish(&b, p->c.pair_key, PH_PAIR_KEY_LEN);
	if (len < 0)
		return;
	ep->stats.probes_sent++;
	send_to(ep, buf, (size_t)len, (const struct sockaddr *)dst);
}

static void dispatch(struct ep *ep, const uint8_t *buf, size_t len,
		     const struct sockaddr_storage *from);

static void replay_pending_probes(struct ep *ep)
{
	for (unsigned int i = 0; i < PENDING_PROBES; i++) {
		struct pending_probe *pp = &ep->probes[i];
		struct pending_probe copy;

		if (!pp->len)
			continue;
		copy = *pp;
		pp->len = 0;
		if (ep->now - copy.at_ms < PENDING_PROBE_TTL_MS)
			dispatch(ep, copy.buf, copy.len, &copy.from);
	}
}

/* Act on a contact the routing table lists as online. */
static void consider_peer(struct ep *ep, struct peer *p)
{
	if (!(p->c.flags & PH_CONTACT_DIRECT_OK)) {
		p->session = PEER_NO_DIRECT;
		emit_peer(ep, EP_EV_NO_DIRECT, p, NULL);
		return;
	}
	if (p->session == PEER_ESTABLISHED || !p->has_key)
		return;
	online_send(ep, p, &p->c.reflexive);
}

static void fetch_done(struct ep *ep)
{
	struct ep_event ev = { .type = EP_EV_CONTACTS };

	ep->fetching = false;
	for (size_t i = 0; i < ep->peers.n;) {
		struct peer *p = ep->peers.v[i];

		/* Pushed by the server (PUNCH/PRESENCE) but not in our own profile: keep while online. */
		if (p->fetch_gen == ep->fetch_gen ||
		    (p->pushed && p->c.state == PH_CONTACT_ONLINE)) {
			i++;
			continue;
		}
		emit_peer(ep, EP_EV_CONTACT_REMOVED, p, NULL);
		cancel_peer_txns(ep, p->c.name);
		peers_remove(&ep->peers, p);
	}
	for (size_t i = 0; i < ep->peers.n; i++) {
		struct peer *p = ep->peers.v[i];

		if (p->fetch_gen != ep->fetch_gen)
			continue;
		if (p->c.state == PH_CONTACT_ONLINE) {
			emit_peer(ep, EP_EV_CONTACT_ONLINE, p, &p->c.reflexive);
			consider_peer(ep, p);
		} else {
			emit_peer(ep, EP_EV_CONTACT_OFFLINE, p, NULL);
		}
	}
	replay_pending_probes(ep);
	emit(ep, &ev);
	if (ep->refresh_pending && ep->state == EP_ONLINE) {
		ep->refresh_pending = false;
		ep_refresh(ep);
	}
}

static void on_fetch_response(struct ep *ep, struct txn *x, const struct stun_msg *m)
{
	struct access_contact c;
	struct stun_attr_iter it;
	uint8_t token[PH_TOKEN_LEN];
	uint16_t idx, count;
	uint32_t id;
	int code, err;

	if (stun_type_class(m->type) == STUN_CLASS_ERROR) {
		if (stun_msg_get_error(m, &code, NULL, NULL)) {
			ep->stats.dropped_bad++;
			return;
		}
		txns_remove(&ep->txns, x);
		if (code == STUN_ERR_UNAUTHORIZED) {
			relogin(ep, "server refused our session");
			return;
		}
		ep->fetching = false;
		emit_error(ep, -EPROTO, NULL, "FETCH refused");
		return;
	}
	if (access_msg_verify(m, ep->skey, sizeof(ep->skey)) || access_get_session(m, &id, token) ||
	    id != ep->sess_id || access_get_page(m, &idx, &count) || idx != x->aux) {
		ep->stats.dropped_bad++;
		return;
	}
	/* Validate every entry before taking any: a malformed page is dropped whole. */
	stun_attr_iter_init(&it);
	while ((err = access_next_contact(m, &it, &c)) == 1)
		;
	if (err) {
		ep->stats.dropped_bad++;
		return;
	}
	txns_remove(&ep->txns, x);
	stun_attr_iter_init(&it);
	while (access_next_contact(m, &it, &c) == 1) {
		struct peer *p;

		if (!strcmp(c.name, ep->user))
			continue;
		p = peers_get(&ep->peers, c.name);
		if (!p) {
			emit_error(ep, -ENOMEM, c.name, "out of memory for contact");
			continue;
		}
		if (peers_apply(p, &c))
			cancel_peer_txns(ep, p->c.name);
		p->fetch_gen = ep->fetch_gen;
		p->pushed = false;
	}
	if (idx + 1u < count) {
		err = fetch_send(ep, idx + 1);
		if (err) {
			ep->fetching = false;
			emit_error(ep, err, NULL, "cannot send FETCH");
		}
		return;
	}
	fetch_done(ep);
}

/* --- keepalive and logout ----------------------------------------------- */

static void keepalive_send(struct ep *ep)
{
	struct stun_builder b;
	struct txn *x;
	int len;

	if (txns_find_kind(&ep->txns, TXN_KEEPALIVE, NULL))
		return; /* the previous one is still being retransmitted */
	x = txns_add(&ep->txns, TXN_KEEPALIVE);
	if (!x)
		return;
	stun_build_init(&b, x->buf, sizeof(x->buf), STUN_BINDING_REQUEST, x->tid);
	access_add_session(&b, ep->sess_id, ep->token);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0) {
		txns_remove(&ep->txns, x);
		return;
	}
	x->len = (size_t)len;
	ep->stats.keepalives_sent++;
	txn_start(ep, x, &ep->cfg.server);
}

static void on_keepalive_response(struct ep *ep, struct txn *x, const struct stun_msg *m)
{
	struct sockaddr_storage xma;
	int code;

	if (stun_type_class(m->type) == STUN_CLASS_ERROR) {
		if (stun_msg_get_error(m, &code, NULL, NULL)) {
			ep->stats.dropped_bad++;
			return;
		}
		txns_remove(&ep->txns, x);
		if (code == STUN_ERR_UNAUTHORIZED)
			relogin(ep, "keepalive refused");
		return;
	}
	if (stun_msg_get_xor_addr(m, &xma)) {
		ep->stats.dropped_bad++;
		return;
	}
	txns_remove(&ep->txns, x);
	if (addr_cmp((struct sockaddr *)&xma, (struct sockaddr *)&ep->reflexive)) {
		struct ep_event ev = { .type = EP_EV_REFLEXIVE, .addr = (struct sockaddr *)&xma };

		/*
		 * Our NAT rebound; the server saw it too and tells our contacts.
		 * Probe every peer we are in session with now rather than at the
		 * next probe tick: a filtering NAT on our side drops the ONLINE
		 * they send to our new address until we have sent toward them.
		 */
		ep->reflexive = xma;
		emit(ep, &ev);
		for (size_t i = 0; i < ep->peers.n; i++) {
			struct peer *p = ep->peers.v[i];

			if (p->session != PEER_ESTABLISHED)
				continue;
			p->next_probe_ms = ep->now + ep->ka.interval_ms;
			send_probe(ep, p, &p->addr);
		}
	}
}

static void closed(struct ep *ep)
{
	struct ep_event ev = { .type = EP_EV_LOGGED_OUT };

	cancel_all(ep);
	ep->sess_id = 0;
	set_state(ep, EP_CLOSED);
	emit(ep, &ev);
}

static void on_logout_response(struct ep *ep, struct txn *x, const struct stun_msg *m)
{
	if (stun_type_class(m->type) == STUN_CLASS_SUCCESS &&
	    access_msg_verify(m, ep->skey, sizeof(ep->skey))) {
		ep->stats.dropped_bad++;
		return;
	}
	/* An error (session already gone) ends it as well: we were leaving anyway. */
	txns_remove(&ep->txns, x);
	closed(ep);
}

/* --- peers: responses ---------------------------------------------------- */

/* Verify a peer's message: the PEER_NAME must be @p's and the pair key must match. */
static bool peer_verified(struct ep *ep, const struct peer *p, const struct stun_msg *m)
{
	char name[PH_NAME_MAX + 1];

	if (!p || !p->has_key || access_get_peer_name(m, name) || strcmp(name, p->c.name) ||
	    access_msg_verify(m, p->c.pair_key, PH_PAIR_KEY_LEN)) {
		ep->stats.rejected_peer++;
		return false;
	}
	return true;
}

static void established(struct ep *ep, struct peer *p, const struct sockaddr_storage *from,
			enum ep_event_type type)
{
	bool same = p->session == PEER_ESTABLISHED &&
		    !addr_cmp((struct sockaddr *)&p->addr, (const struct sockaddr *)from);

	p->addr = *from;
	if (p->session != PEER_ESTABLISHED)
		p->next_probe_ms = ep->now + ep->ka.interval_ms;
	p->session = PEER_ESTABLISHED;
	if (!same)
		emit_peer(ep, type, p, from);
}

static void on_peer_response(struct ep *ep, struct txn *x, const struct stun_msg *m,
			     const struct sockaddr_storage *from)
{
	struct peer *p = peers_find(&ep->peers, x->peer);
	struct ep_event ev = { .type = EP_EV_MESSAGE_ACKED };

	if (stun_type_class(m->type) != STUN_CLASS_SUCCESS || !peer_verified(ep, p, m))
		return;
	if (x->kind == TXN_ONLINE) {
		txns_remove(&ep->txns, x);
		/* The answer's source is the peer's real address (peer-reflexive behind an APDM NAT). */
		established(ep, p, from, EP_EV_SESSION);
		return;
	}
	ev.peer = p->c.name;
	ev.msg_id = x->aux;
	ev.addr = (const struct sockaddr *)from;
	txns_remove(&ep->txns, x);
	emit(ep, &ev);
}

static void on_response(struct ep *ep, const struct stun_msg *m,
			const struct sockaddr_storage *from)
{
	struct txn *x = txns_find(&ep->txns, m->tid);
	uint16_t method = stun_type_method(m->type);
	static const uint16_t want[] = {
		[TXN_LOGIN] = PH_METHOD_LOGIN,	   [TXN_FETCH] = PH_METHOD_FETCH,
		[TXN_KEEPALIVE] = STUN_METHOD_BINDING, [TXN_LOGOUT] = PH_METHOD_LOGOUT,
		[TXN_ONLINE] = PH_METHOD_ONLINE,   [TXN_MESSAGE] = PH_METHOD_MESSAGE,
	};

	if (!x || want[x->kind] != method) {
		ep->stats.dropped_unmatched++;
		return;
	}
	switch (x->kind) {
	case TXN_LOGIN:
	case TXN_FETCH:
	case TXN_KEEPALIVE:
	case TXN_LOGOUT:
		/* The server answers from the address we asked; anything else is not the server. */
		if (!from_server(ep, (const struct sockaddr *)from)) {
			ep->stats.dropped_unmatched++;
			return;
		}
		break;
	default:
		break;
	}
	switch (x->kind) {
	case TXN_LOGIN:
		on_login_response(ep, x, m);
		break;
	case TXN_FETCH:
		on_fetch_response(ep, x, m);
		break;
	case TXN_KEEPALIVE:
		on_keepalive_response(ep, x, m);
		break;
	case TXN_LOGOUT:
		on_logout_response(ep, x, m);
		break;
	case TXN_ONLINE:
	case TXN_MESSAGE:
		on_peer_response(ep, x, m, from);
		break;
	}
}

/* --- server requests: PUNCH and PRESENCE ---------------------------------- */

static void answer_server(struct ep *ep, const struct stun_msg *m)
{
	uint8_t buf[256];
	struct stun_builder b;
	int len;

	stun_build_init(&b, buf, sizeof(buf),
			access_type(stun_type_method(m->type), STUN_CLASS_SUCCESS), m->tid);
	access_add_session(&b, ep->sess_id, ep->token);
	len = access_msg_finish(&b, ep->skey, sizeof(ep->skey));
	if (len > 0)
		send_to(ep, buf, (size_t)len, (const struct sockaddr *)&ep->cfg.server);
}

static void on_punch(struct ep *ep, const struct stun_msg *m)
{
	struct access_contact c;
	uint32_t flags = 0;
	struct peer *p;
	int err;

	if (access_get_presence(m, &c) || !strcmp(c.name, ep->user) ||
	    c.state != PH_CONTACT_ONLINE) {
		ep->stats.dropped_bad++;
		return;
	}
	err = access_get_punch_flags(m, &flags);
	if (err && err != -ENOENT) {
		ep->stats.dropped_bad++;
		return;
	}
	p = peers_get(&ep->peers, c.name);
	if (!p)
		return; /* unanswered: the server retransmits, maybe we have memory then */
	if (peers_apply(p, &c))
		cancel_peer_txns(ep, p->c.name);
	p->pushed = true;
	if ((flags & PH_PUNCH_SEND) && c.reflexive.ss_family != AF_UNSPEC) {
		/* The address is the one the server observed, inside a token-verified message. */
		send_probe(ep, p, &c.reflexive);
		emit_peer(ep, EP_EV_PUNCH, p, &c.reflexive);
	} else {
		emit_peer(ep, EP_EV_CONTACT_ONLINE, p, &c.reflexive);
	}
	answer_server(ep, m);
}

static void on_presence(struct ep *ep, const struct stun_msg *m)
{
	struct access_contact c;
	struct peer *p;

	if (access_get_presence(m, &c) || !strcmp(c.name, ep->user)) {
		ep->stats.dropped_bad++;
		return;
	}
	p = peers_find(&ep->peers, c.name);
	switch (c.state) {
	case PH_CONTACT_ONLINE:
	case PH_CONTACT_MOVED:
		if (!p)
			p = peers_get(&ep->peers, c.name);
		if (!p)
			return;
		if (peers_apply(p, &c))
			cancel_peer_txns(ep, p->c.name);
		p->pushed = true;
		if (c.state == PH_CONTACT_ONLINE) {
			emit_peer(ep, EP_EV_CONTACT_ONLINE, p, &c.reflexive);
			break;
		}
		emit_peer(ep, EP_EV_CONTACT_MOVED, p, &c.reflexive);
		/* Re-verify at the new address; the session moves when it answers. */
		if (p->has_key && (p->session == PEER_ESTABLISHED || (c.flags & PH_CONTACT_DIRECT_OK)))
			online_send(ep, p, &c.reflexive);
		break;
	case PH_CONTACT_OFFLINE:
		if (p) {
			cancel_peer_txns(ep, p->c.name);
			peers_apply(p, &c);
			emit_peer(ep, EP_EV_CONTACT_OFFLINE, p, NULL);
		}
		break;
	case PH_CONTACT_REMOVED:
		if (p) {
			cancel_peer_txns(ep, p->c.name);
			emit_peer(ep, EP_EV_CONTACT_REMOVED, p, NULL);
			peers_remove(&ep->peers, p);
		}
		break;
	}
	answer_server(ep, m);
}

static void on_server_request(struct ep *ep, const struct stun_msg *m,
			      const struct sockaddr_storage *from)
{
	uint8_t token[PH_TOKEN_LEN];
	uint32_t id;
	int seen;

	/* Instructions come from the server's primary address and under our token, or not at all. */
	if (!from_server(ep, (const struct sockaddr *)from) || ep->state != EP_ONLINE) {
		ep->stats.dropped_unmatched++;
		return;
	}
	if (access_msg_verify(m, ep->skey, sizeof(ep->skey)) || access_get_session(m, &id, token) ||
	    id != ep->sess_id) {
		ep->stats.dropped_bad++;
		return;
	}
	seen = peers_seen_ring(ep->srv_seen, &ep->srv_seen_next, m->tid,
			       (const struct sockaddr *)from);
	if (seen) {
		/* A retransmission: our answer was lost; answer again, act once. */
		answer_server(ep, m);
		return;
	}
	if (stun_type_method(m->type) == PH_METHOD_PUNCH)
		on_punch(ep, m);
	else
		on_presence(ep, m);
}

/* --- peer requests: ONLINE, MESSAGE; PROBE indications --------------------- */

static void answer_peer(struct ep *ep, const struct peer *p, const struct stun_msg *m,
			const struct sockaddr_storage *to)
{
	uint8_t buf[256];
	struct stun_builder b;
	int len;

	stun_build_init(&b, buf, sizeof(buf),
			access_type(stun_type_method(m->type), STUN_CLASS_SUCCESS), m->tid);
	access_add_peer_name(&b, ep->user, strlen(ep->user));
	len = access_msg_finish(&b, p->c.pair_key, PH_PAIR_KEY_LEN);
	if (len > 0)
		send_to(ep, buf, (size_t)len, (const struct sockaddr *)to);
}

static void stash_probe(struct ep *ep, const uint8_t *buf, size_t len,
			const struct sockaddr_storage *from)
{
	struct pending_probe *pp = &ep->probes[ep->probes_next];

	if (len > PENDING_PROBE_MAX)
		return;
	memcpy(pp->buf, buf, len);
	pp->len = len;
	pp->from = *from;
	pp->at_ms = ep->now;
	ep->probes_next = (ep->probes_next + 1) % PENDING_PROBES;
}

static void on_peer_message(struct ep *ep, const struct stun_msg *m, const uint8_t *buf,
			    size_t len, const struct sockaddr_storage *from)
{
	uint16_t method = stun_type_method(m->type);
	char name[PH_NAME_MAX + 1], a[ADDR_STRLEN];
	struct peer *p;
	int seen;

	if (access_get_peer_name(m, name)) {
		ep->stats.dropped_bad++;
		return;
	}
	p = peers_find(&ep->peers, name);
	if (method == PH_METHOD_PROBE && (ep->state != EP_ONLINE || !p || !p->has_key)) {
		/* The punch raced our FETCH: keep it until we hold the key (checked then). */
		stash_probe(ep, buf, len, from);
		return;
	}
	if (!peer_verified(ep, p, m)) {
		addr_format((const struct sockaddr *)from, a, sizeof(a));
		ep_log(ep, "endpoint %s: rejected %s from %s (name %s)", ep->user,
			 access_method_name(method), a, name);
		return;
	}
	seen = peers_seen(p, m->tid, (const struct sockaddr *)from);
	if (seen < 0) {
		ep->stats.replays++;
		return;
	}
	if (method == PH_METHOD_PROBE) {
		/*
		 * A verified probe from an address we do not use for this peer:
		 * its real (peer-reflexive) address.  Ask there with ONLINE; the
		 * session moves only when that answer verifies, so a replayed
		 * probe cannot redirect us.  Each probe is acted on once: a
		 * captured probe replayed (from anywhere) must not make us send
		 * ONLINE and its retransmissions toward a victim again.
		 */
		if (!seen && (p->session != PEER_ESTABLISHED ||
			      addr_cmp((struct sockaddr *)&p->addr, (const struct sockaddr *)from)))
			online_send(ep, p, from);
		return;
	}
	if (method == PH_METHOD_MESSAGE) {
		struct ep_event ev = { .type = EP_EV_MESSAGE, .peer = p->c.name };

		if (access_get_text(m, &ev.text, &ev.text_len)) {
			ep->stats.dropped_bad++;
			return;
		}
		answer_peer(ep, p, m, from);
		if (!seen) {
			ev.addr = (const struct sockaddr *)from;
			emit(ep, &ev);
		}
		return;
	}
	/* ONLINE: the peer is at @from, proven by the pair key and a fresh transaction id. */
	answer_peer(ep, p, m, from);
	if (!seen)
		established(ep, p, from, EP_EV_PEER_VERIFIED);
}

/* --- dispatch ------------------------------------------------------------- */

static void after_discovery(struct ep *ep)
{
	struct ep_event ev = { .type = EP_EV_NAT };

	if (ep->disc.step == DISC_FAILED) {
		fail(ep, -ETIMEDOUT, "server unreachable");
		return;
	}
	ep->mapping = ep->disc.mapping;
	ep->filtering = ep->disc.filtering;
	ev.mapping = pub_map(ep->mapping);
	ev.filtering = pub_filt(ep->filtering);
	if (!ep->disc.obs.has_other) {
		ev.text = "server offers no alternate address: behaviour unknown";
		ev.text_len = strlen(ev.text);
	}
	emit(ep, &ev);
	if (ep->state == EP_DISCOVERING)
		begin_login(ep);
}

static void discovery_progress(struct ep *ep)
{
	if (ep->disc.obs.test1_ok && !ep->reflexive_reported) {
		struct ep_event ev = { .type = EP_EV_REFLEXIVE };

		ep->reflexive_reported = true;
		ep->reflexive = ep->disc.obs.xma1;
		ev.addr = (struct sockaddr *)&ep->reflexive;
		emit(ep, &ev);
	}
	if (ep->state == EP_DISCOVERING && disc_finished(&ep->disc))
		after_discovery(ep);
}

static void dispatch(struct ep *ep, const uint8_t *buf, size_t len,
		     const struct sockaddr_storage *from)
{
	struct stun_msg m;
	uint16_t cls, method;

	if (stun_msg_parse(&m, buf, len)) {
		ep->stats.dropped_bad++;
		return;
	}
	cls = stun_type_class(m.type);
	method = stun_type_method(m.type);
	if (ep->state == EP_DISCOVERING && m.type == STUN_BINDING_SUCCESS &&
	    disc_input(&ep->disc, &m, (const struct sockaddr *)from, ep->now)) {
		discovery_progress(ep);
		return;
	}
	if (access_msg_check_attrs(&m, NULL)) {
		ep->stats.dropped_bad++;
		return;
	}
	switch (cls) {
	case STUN_CLASS_SUCCESS:
	case STUN_CLASS_ERROR:
		on_response(ep, &m, from);
		return;
	case STUN_CLASS_REQUEST:
		if (method == PH_METHOD_PUNCH || method == PH_METHOD_PRESENCE) {
			on_server_request(ep, &m, from);
			return;
		}
		if ((method == PH_METHOD_ONLINE || method == PH_METHOD_MESSAGE) &&
		    ep->state == EP_ONLINE) {
			on_peer_message(ep, &m, buf, len, from);
			return;
		}
		break;
	case STUN_CLASS_INDICATION:
		if (method == PH_METHOD_PROBE &&
		    (ep->state == EP_ONLINE || ep->state == EP_LOGGING_IN)) {
			on_peer_message(ep, &m, buf, len, from);
			return;
		}
		break;
	}
	ep->stats.dropped_unmatched++;
}

/* --- timers --------------------------------------------------------------- */

static void txn_expired(struct ep *ep, struct txn *x)
{
	struct ep_event ev = { .type = EP_EV_MESSAGE_FAILED };
	char peer[PH_NAME_MAX + 1];
	struct peer *p;

	switch (x->kind) {
	case TXN_LOGIN:
		fail(ep, -ETIMEDOUT, "server unreachable");
		return;
	case TXN_FETCH:
		txns_remove(&ep->txns, x);
		ep->fetching = false;
		emit_error(ep, -ETIMEDOUT, NULL, "FETCH timed out");
		return;
	case TXN_KEEPALIVE:
		relogin(ep, "keepalives unanswered");
		return;
	case TXN_LOGOUT:
		closed(ep);
		return;
	case TXN_ONLINE:
		strcpy(peer, x->peer);
		txns_remove(&ep->txns, x);
		p = peers_find(&ep->peers, peer);
		if (p && p->session == PEER_CONNECTING &&
		    !txns_find_kind(&ep->txns, TXN_ONLINE, peer)) {
			p->session = PEER_IDLE;
			emit_error(ep, -ETIMEDOUT, p->c.name, "no answer to ONLINE");
		}
		return;
	case TXN_MESSAGE:
		strcpy(peer, x->peer);
		ev.msg_id = x->aux;
		ev.peer = peer;
		txns_remove(&ep->txns, x);
		emit(ep, &ev);
		return;
	}
}

static void run_txns(struct ep *ep)
{
	bool again = true;

	/* Expiry handlers may change the table: rescan after each one. */
	while (again) {
		again = false;
		for (size_t i = 0; i < ep->txns.n; i++) {
			struct txn *x = ep->txns.v[i];

			if (x->next_ms > ep->now)
				continue;
			if (x->tries >= x->max_tries) {
				txn_expired(ep, x);
				again = true;
				break;
			}
			x->tries++;
			x->rto_ms *= 2;
			x->next_ms = ep->now + x->rto_ms;
			send_to(ep, x->buf, x->len, (const struct sockaddr *)&x->dst);
		}
	}
}

static void run_timers(struct ep *ep)
{
	if (ep->state == EP_DISCOVERING) {
		disc_timer(&ep->disc, ep->now);
		discovery_progress(ep);
	}
	run_txns(ep);
	if (ep->relogin_at_ms && ep->now >= ep->relogin_at_ms) {
		ep->relogin_at_ms = 0;
		if (ep->state == EP_LOGGING_IN)
			begin_login(ep);
	}
	if (ep->state != EP_ONLINE)
		return;
	if (ep->now >= ep->next_keepalive_ms) {
		ep->next_keepalive_ms = ep->now + jittered(ep);
		keepalive_send(ep);
	}
	for (size_t i = 0; i < ep->peers.n; i++) {
		struct peer *p = ep->peers.v[i];

		if (p->session != PEER_ESTABLISHED || ep->now < p->next_probe_ms)
			continue;
		p->next_probe_ms = ep->now + ep->ka.interval_ms;
		send_probe(ep, p, &p->addr);
	}
}

/* --- public API ------------------------------------------------------------- */

/* The concrete local address a wildcard-bound socket uses toward @server. */
static int concrete_local(int fd, const struct sockaddr_storage *server,
			  struct sockaddr_storage *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int probe, err = 0;

	if (getsockname(fd, (struct sockaddr *)out, &(socklen_t){ sizeof(*out) }))
		return -errno;
	if (!addr_is_any((struct sockaddr *)out))
		return 0;
	/* A connected UDP socket sends nothing; it only asks the routing table. */
	probe = socket(server->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	if (connect(probe, (const struct sockaddr *)server,
		    (socklen_t)addr_len((const struct sockaddr *)server)) ||
	    getsockname(probe, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		goto out;
	}
	addr_set_port((struct sockaddr *)&ss, addr_port((struct sockaddr *)out));
	*out = ss;
out:
	close(probe);
	return err;
}

struct ep *ep_new(const struct ep_config *cfg)
{
	struct sockaddr_storage bind_addr;
	struct ep *ep;
	size_t ulen;
	int err;

	if (!cfg || !cfg->user || !cfg->password || !cfg->password[0] ||
	    (cfg->server.ss_family != AF_INET && cfg->server.ss_family != AF_INET6)) {
		errno = EINVAL;
		return NULL;
	}
	ulen = strlen(cfg->user);
	/* Our name travels as PEER_NAME: it must pass the peers' check. */
	if (ulen > PH_NAME_MAX ||
	    access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)cfg->user, ulen)) {
		errno = EINVAL;
		return NULL;
	}
	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		errno = ENOMEM;
		return NULL;
	}
	ep->cfg = *cfg;
	if (!ep->cfg.rto_ms)
		ep->cfg.rto_ms = 100;
	if (!ep->cfg.max_tries)
		ep->cfg.max_tries = 6;
	if (!ep->cfg.probe_timeout_ms)
		ep->cfg.probe_timeout_ms = 500;
	memcpy(ep->user, cfg->user, ulen + 1);
	ep->cfg.user = ep->user;
	ep->password_len = strlen(cfg->password);
	ep->password = strdup(cfg->password);
	if (!ep->password) {
		err = -ENOMEM;
		goto err_free;
	}
	ep->cfg.password = NULL;
	txns_init(&ep->txns);
	peers_init(&ep->peers);

	ep->fd = socket(cfg->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->fd < 0) {
		err = -errno;
		goto err_pass;
	}
	if (cfg->bind.ss_family != AF_UNSPEC) {
		if (cfg->bind.ss_family != cfg->server.ss_family) {
			err = -EAFNOSUPPORT;
			goto err_sock;
		}
		bind_addr = cfg->bind;
	} else {
		memset(&bind_addr, 0, sizeof(bind_addr));
		bind_addr.ss_family = cfg->server.ss_family;
	}
	if (bind(ep->fd, (struct sockaddr *)&bind_addr,
		 (socklen_t)addr_len((struct sockaddr *)&bind_addr))) {
		err = -errno;
		goto err_sock;
	}
	err = concrete_local(ep->fd, &cfg->server, &ep->local);
	if (err)
		goto err_sock;
	ep->state = EP_DISCOVERING;
	ep->next_msg_id = 1;
	return ep;

err_sock:
	close(ep->fd);
err_pass:
	explicit_bzero(ep->password, ep->password_len);
	free(ep->password);
err_free:
	free(ep);
	errno = -err;
	return NULL;
}

void ep_free(struct ep *ep)
{
	if (!ep)
		return;
	if (ep->fd >= 0)
		close(ep->fd);
	txns_fini(&ep->txns);
	peers_fini(&ep->peers);
	explicit_bzero(ep->password, ep->password_len);
	free(ep->password);
	explicit_bzero(ep, sizeof(*ep));
	free(ep);
}

int ep_start(struct ep *ep, uint64_t now_ms)
{
	struct disc_config dc = {
		.rto_ms = ep->cfg.rto_ms,
		.max_tries = ep->cfg.max_tries,
		.probe_timeout_ms = ep->cfg.probe_timeout_ms,
	};
	struct ep_event ev = { .type = EP_EV_STATE };
	int err;

	if (ep->started)
		return -EALREADY;
	ep->started = true;
	ep->now = now_ms;
	emit(ep, &ev);
	disc_init(&ep->disc, ep->fd, (struct sockaddr *)&ep->cfg.server,
		  (struct sockaddr *)&ep->local, &dc);
	err = disc_start(&ep->disc, now_ms);
	if (err)
		fail(ep, err, "cannot start discovery");
	return err;
}

int ep_fd(const struct ep *ep)
{
	return ep->fd;
}

int ep_next_timeout_ms(const struct ep *ep, uint64_t now_ms)
{
	uint64_t t = txns_next_ms(&ep->txns);
	int64_t d;

	if (ep->state == EP_CLOSED || ep->state == EP_FAILED || !ep->started)
		return -1;
	if (ep->state == EP_DISCOVERING) {
		d = disc_next_timeout_ms(&ep->disc, now_ms);
		if (d >= 0 && now_ms + (uint64_t)d < t)
			t = now_ms + (uint64_t)d;
	}
	if (ep->relogin_at_ms && ep->relogin_at_ms < t)
		t = ep->relogin_at_ms;
	if (ep->state == EP_ONLINE) {
		if (ep->next_keepalive_ms < t)
			t = ep->next_keepalive_ms;
		for (size_t i = 0; i < ep->peers.n; i++)
			if (ep->peers.v[i]->session == PEER_ESTABLISHED &&
			    ep->peers.v[i]->next_probe_ms < t)
				t = ep->peers.v[i]->next_probe_ms;
	}
	if (t == UINT64_MAX)
		return -1;
	if (t <= now_ms)
		return 0;
	return t - now_ms > INT32_MAX ? INT32_MAX : (int)(t - now_ms);
}

int ep_process(struct ep *ep, uint64_t now_ms)
{
	uint8_t buf[2048];
	struct sockaddr_storage from;

	ep->now = now_ms;
	for (int i = 0; i < RECV_BATCH; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n;

		memset(&from, 0, sizeof(from));
		n = recvfrom(ep->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
			     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR || errno == ECONNREFUSED || errno == EHOSTUNREACH ||
			    errno == ENETUNREACH)
				continue;
			return -errno;
		}
		/* Truncated datagrams are not ours: nothing we speak exceeds the buffer. */
		if ((size_t)n > sizeof(buf)) {
			ep->stats.dropped_bad++;
			continue;
		}
		if (ep->state == EP_CLOSED || ep->state == EP_FAILED || !ep->started)
			continue;
		dispatch(ep, buf, (size_t)n, &from);
	}
	if (ep->started && ep->state != EP_CLOSED && ep->state != EP_FAILED)
		run_timers(ep);
	return 0;
}

int ep_send_message(struct ep *ep, const char *peer, const char *text, uint32_t *msg_id)
{
	struct stun_builder b;
	struct peer *p;
	struct txn *x;
	size_t tlen;
	int len;

	if (!peer || !text)
		return -EINVAL;
	p = peers_find(&ep->peers, peer);
	if (!p)
		return -ENOENT;
	if (ep->state != EP_ONLINE || p->session != PEER_ESTABLISHED || !p->has_key)
		return -ENOTCONN;
	tlen = strlen(text);
	if (access_attr_check_value(PH_ATTR_TEXT, (const uint8_t *)text, tlen))
		return -EINVAL;
	x = txns_add(&ep->txns, TXN_MESSAGE);
	if (!x)
		return -errno;
	stun_build_init(&b, x->buf, sizeof(x->buf),
			access_type(PH_METHOD_MESSAGE, STUN_CLASS_REQUEST), x->tid);
	access_add_peer_name(&b, ep->user, strlen(ep->user));
	access_add_text(&b, text, tlen);
	len = access_msg_finish(&b, p->c.pair_key, PH_PAIR_KEY_LEN);
	if (len < 0) {
		txns_remove(&ep->txns, x);
		return len;
	}
	x->len = (size_t)len;
	x->aux = ep->next_msg_id++;
	strcpy(x->peer, p->c.name);
	if (msg_id)
		*msg_id = x->aux;
	ep->now = ep_now_ms();
	txn_start(ep, x, &p->addr);
	return 0;
}

int ep_refresh(struct ep *ep)
{
	int err;

	if (ep->state != EP_ONLINE)
		return -ENOTCONN;
	if (ep->fetching) {
		ep->refresh_pending = true;
		return 0;
	}
	ep->now = ep_now_ms();
	ep->fetching = true;
	ep->fetch_gen++;
	err = fetch_send(ep, 0);
	if (err)
		ep->fetching = false;
	return err;
}

int ep_logout(struct ep *ep)
{
	struct stun_builder b;
	struct txn *x;
	int len;

	switch (ep->state) {
	case EP_LOGGING_OUT:
	case EP_CLOSED:
	case EP_FAILED:
		return 0;
	case EP_DISCOVERING:
	case EP_LOGGING_IN:
		closed(ep);
		return 0;
	case EP_ONLINE:
		break;
	}
	cancel_all(ep);
	ep->now = ep_now_ms();
	x = txns_add(&ep->txns, TXN_LOGOUT);
	if (!x)
		return -errno;
	stun_build_init(&b, x->buf, sizeof(x->buf),
			access_type(PH_METHOD_LOGOUT, STUN_CLASS_REQUEST), x->tid);
	access_add_session(&b, ep->sess_id, ep->token);
	len = access_msg_finish(&b, ep->skey, sizeof(ep->skey));
	if (len < 0) {
		txns_remove(&ep->txns, x);
		closed(ep);
		return len;
	}
	x->len = (size_t)len;
	set_state(ep, EP_LOGGING_OUT);
	txn_start(ep, x, &ep->cfg.server);
	/*
	 * Whoever asks to log out is on the way out: a few tries (0.7 s at the
	 * default RTO) and the session times out on the server anyway.
	 */
	if (x->max_tries > LOGOUT_TRIES)
		x->max_tries = LOGOUT_TRIES;
	return 0;
}

enum ep_state ep_get_state(const struct ep *ep)
{
	return ep->state;
}

size_t ep_contact_count(const struct ep *ep)
{
	return ep->peers.n;
}

int ep_contact_get(const struct ep *ep, size_t i, struct ep_contact *out)
{
	const struct peer *p;

	if (i >= ep->peers.n)
		return -ERANGE;
	p = ep->peers.v[i];
	memset(out, 0, sizeof(*out));
	strcpy(out->name, p->c.name);
	out->online = p->c.state == PH_CONTACT_ONLINE;
	out->direct_ok = p->c.flags & PH_CONTACT_DIRECT_OK;
	out->mapping = pub_map(p->c.mapping);
	out->filtering = pub_filt(p->c.filtering);
	out->reflexive = p->c.reflexive;
	out->connected = p->session == PEER_ESTABLISHED;
	if (out->connected)
		out->session_addr = p->addr;
	return 0;
}

void ep_get_info(const struct ep *ep, struct ep_info *out)
{
	memset(out, 0, sizeof(*out));
	out->session_id = ep->sess_id;
	out->local = ep->local;
	out->reflexive = ep->reflexive;
	out->mapping = pub_map(ep->mapping);
	out->filtering = pub_filt(ep->filtering);
	out->keepalive_interval_ms = ep->ka.interval_ms;
	out->keepalive_jitter_ms = ep->ka.jitter_ms;
}

void ep_get_stats(const struct ep *ep, struct ep_stats *out)
{
	*out = ep->stats;
}
