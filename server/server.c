// SPDX-License-Identifier: MIT
/*
 * The access server core (server.h): dispatch, LOGIN with punch
 * orchestration, FETCH, keepalives, LOGOUT, acks and the timers.
 *
 * Trust: nothing acts on a datagram before stun_msg_parse() and
 * access_msg_check_attrs() passed it; nothing after login acts before the
 * session key verified it (a keepalive, which carries no integrity, only
 * refreshes a session whose 128-bit token it proves).  Punch targets are
 * always the addresses this server observed, never claimed ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "access.h"
#include "addr.h"
#include "log.h"
#include "nat.h"
#include "server.h"

#define RATELIMIT_SOURCES 4096
#define OUTBOX_CAP 4096
#define PUNCH_WAITS_CAP 1024
/* A sweep pass every timeout / SWEEP_PER_TIMEOUT, within these bounds. */
#define SWEEP_PER_TIMEOUT 8
#define SWEEP_MIN_MS 250
#define SWEEP_MAX_MS 10000
/* Live sessions per tick: a few milliseconds under the lock, so logins never wait long. */
#define SWEEP_CHUNK 32768
/* Hex of the pair secret in the store's meta table. */
#define PAIR_SECRET_KEY "pair_secret"

uint64_t srv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *fmt(const struct sockaddr *sa, char *buf, size_t len)
{
	if (!sa || sa->sa_family == AF_UNSPEC || addr_format(sa, buf, len))
		snprintf(buf, len, "-");
	return buf;
}

/* --- set-up ---------------------------------------------------------------- */

/*
 * The pair secret outlives the process in the store, so pair keys handed
 * out before a restart still match the ones handed out after it.  A store
 * that cannot keep it (read-only) gets a fresh one each run.
 */
static int pair_secret_load(struct srv *s)
{
	char hex[2 * sizeof(s->pair_secret) + 1];
	size_t i;
	int err;

	err = store_meta_get(s->o.store, PAIR_SECRET_KEY, hex, sizeof(hex));
	if (!err && strlen(hex) == 2 * sizeof(s->pair_secret)) {
		for (i = 0; i < sizeof(s->pair_secret); i++) {
			unsigned int v;

			if (sscanf(hex + 2 * i, "%2x", &v) != 1)
				break;
			s->pair_secret[i] = (uint8_t)v;
		}
		if (i == sizeof(s->pair_secret)) {
			explicit_bzero(hex, sizeof(hex));
			return 0;
		}
		pr_warn("store: malformed %s; making a new one", PAIR_SECRET_KEY);
	}
	if (getrandom(s->pair_secret, sizeof(s->pair_secret), 0) != sizeof(s->pair_secret))
		return -EIO;
	for (i = 0; i < sizeof(s->pair_secret); i++)
		snprintf(hex + 2 * i, 3, "%02x", s->pair_secret[i]);
	err = store_meta_put(s->o.store, PAIR_SECRET_KEY, hex);
	explicit_bzero(hex, sizeof(hex));
	if (err)
		pr_warn("store: cannot keep the pair secret (%s): pair keys change at restart",
			strerror(-err));
	return 0;
}

static uint16_t port_of(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_port;
	if (sa->sa_family == AF_INET6)
		return ((const struct sockaddr_in6 *)sa)->sin6_port;
	return 0;
}

/*
 * The socket that receives at local address @local: the one bound to it,
 * else a wildcard one on its port (an IPv4 wildcard takes no IPv6), else
 * @fallback.
 */
static unsigned int sock_for(const struct srv *s, const struct sockaddr *local,
			     unsigned int fallback)
{
	unsigned int i, wild = fallback;

	for (i = 0; i < s->o.n_socks; i++) {
		const struct sockaddr *a = (const struct sockaddr *)&s->o.socks[i].addr;

		if (!s->o.socks[i].wildcard) {
			if (!addr_cmp(a, local))
				return i;
			continue;
		}
		if (wild == fallback && port_of(a) == port_of(local) &&
		    !(a->sa_family == AF_INET && local->sa_family == AF_INET6))
			wild = i;
	}
	return wild;
}

struct restore_ctx {
	struct srv *s;
	uint32_t now_s;
	uint64_t now_ms;
	unsigned int kept, dropped;
	uint64_t *gone; /* store rows to delete once the listing is done */
	uint32_t n_gone, cap_gone;
};

static void restore_drop(struct restore_ctx *c, uint64_t id)
{
	c->dropped++;
	if (c->n_gone == c->cap_gone) {
		uint32_t cap = c->cap_gone ? 2 * c->cap_gone : 256;
		uint64_t *v = realloc(c->gone, cap * sizeof(*v));

		/* Out of memory: the row stays, harmless until the next clean start. */
		if (!v)
			return;
		c->gone = v;
		c->cap_gone = cap;
	}
	c->gone[c->n_gone++] = id;
}

/* One store row of a kept kernel table: take it back if the kernel still holds it. */
static int restore_cb(const struct store_session *row, void *arg)
{
	struct restore_ctx *c = arg;
	struct srv *s = c->s;
	struct sockaddr_storage ss;
	struct ph_session v;
	struct session *a;
	uint32_t age_s;

	if (row->id > UINT32_MAX || !row->has_secrets ||
	    sessmap_get(s->o.kmap, (uint32_t)row->id, &v) ||
	    memcmp(v.token, row->token, PH_TOKEN_LEN)) {
		restore_drop(c, row->id);
		return 0;
	}
	a = sessions_restore(&s->sessions, (uint32_t)row->id, row->user);
	if (!a) {
		restore_drop(c, row->id);
		return 0;
	}
	memcpy(a->token, row->token, PH_TOKEN_LEN);
	memcpy(a->key, row->key, PH_PAIR_KEY_LEN);
	sessmap_addr(&v, &ss);
	session_addr_set(&a->observed, (const struct sockaddr *)&ss);
	session_addr_set(&a->claimed, (const struct sockaddr *)&row->claimed);
	session_addr_set(&a->local, row->n_local ? (const struct sockaddr *)&row->local[0] : NULL);
	a->mapping = row->mapping;
	a->filtering = row->filtering;
	/*
	 * Which server address it talked to is not kept: the first socket of
	 * its family sends, and the next move event (or a keepalive userspace
	 * sees) corrects it.  Only a wildcard listener can pick a source
	 * address the endpoint's NAT does not expect.
	 */
	a->srv_addr.sa.sa_family = AF_UNSPEC;
	a->sock = 0;
	for (unsigned int i = 0; i < s->o.n_socks; i++)
		if (s->o.socks[i].addr.ss_family == a->observed.sa.sa_family) {
			a->sock = i;
			break;
		}
	age_s = c->now_s > v.last_seen ? c->now_s - v.last_seen : 0;
	a->last_ms = c->now_ms > (uint64_t)age_s * 1000 ? c->now_ms - (uint64_t)age_s * 1000 : 0;
	a->since_ms = a->last_ms;
	a->announced = true;
	a->announced_ms = a->last_ms;
	c->kept++;
	return 0;
}

/*
 * --keep left the kernel's table: every session in it whose token and key
 * the store kept comes back; the rest are cleared from both, and their
 * endpoints, told 401 at their next keepalive, log in again.
 */
static void restore_sessions(struct srv *s)
{
	struct restore_ctx c = {.s = s, .now_s = sessmap_now_s(), .now_ms = srv_now_ms()};
	uint32_t i, cleared = 0;
	int err;

	err = store_session_list(s->o.store, NULL, restore_cb, &c);
	if (err)
		pr_warn("store: cannot list the sessions of the earlier run: %s", strerror(-err));
	/* Rows not taken back, and slots no row explains, go. */
	for (uint32_t slot = 0; slot < s->o.kmap->slots; slot++) {
		uint32_t id = sessmap_slot(s->o.kmap, slot)->id;

		if (id && !sessions_find(&s->sessions, id)) {
			sessmap_del(s->o.kmap, id);
			cleared++;
		}
	}
	for (i = 0; i < c.n_gone; i++)
		store_session_del(s->o.store, c.gone[i]);
	free(c.gone);
	s->st.restored = c.kept;
	pr_info("restored %u session(s) from the kernel table; dropped %u, cleared %u slot(s)",
		c.kept, c.dropped, cleared);
}

int srv_init(struct srv *s, const struct srv_opts *o)
{
	unsigned int n = 0;
	int err;

	memset(s, 0, sizeof(*s));
	s->o = *o;
	pthread_mutex_init(&s->lock, NULL);
	if (!o->store)
		return 0;
	if (!o->keepalive_s || o->keepalive_s * 1000u > ACCESS_KEEPALIVE_MAX_MS || !o->max_sessions)
		return -EINVAL;
	s->ka_interval_ms = o->keepalive_s * 1000u;
	/* 3 s at the default 20 s; proportionally less for the short intervals labs use. */
	s->ka_jitter_ms =
	    PH_KEEPALIVE_JITTER_MS * 1000u / PH_KEEPALIVE_INTERVAL_MS * o->keepalive_s;
	if (s->ka_jitter_ms > PH_KEEPALIVE_JITTER_MS)
		s->ka_jitter_ms = PH_KEEPALIVE_JITTER_MS;
	s->ka_timeout_ms = PH_KEEPALIVE_MISSES * s->ka_interval_ms;
	err = auth_init(&s->auth, o->store, o->nonce_lifetime_ms);
	if (err)
		goto err;
	s->auth.store_lat = &s->st.store_lat[SRV_STORE_USER_GET];
	err = ratelimit_init(&s->rl, RATELIMIT_SOURCES, o->login_rate, o->login_rate);
	if (err)
		goto err;
	/* Every login of one nonce lifetime must fit, or replays could slip past. */
	err = replay_init(&s->replay, o->max_sessions < 1024 ? 1024 : o->max_sessions);
	if (err)
		goto err;
	err = sessions_init(&s->sessions, o->max_sessions);
	if (err)
		goto err;
	err = outbox_init(&s->outbox, OUTBOX_CAP);
	if (err)
		goto err;
	err = punch_waits_init(&s->waits, PUNCH_WAITS_CAP);
	if (err)
		goto err;
	s->sweep_period_ms = s->ka_timeout_ms / SWEEP_PER_TIMEOUT;
	if (s->sweep_period_ms < SWEEP_MIN_MS)
		s->sweep_period_ms = SWEEP_MIN_MS;
	if (s->sweep_period_ms > SWEEP_MAX_MS)
		s->sweep_period_ms = SWEEP_MAX_MS;
	err = -EINVAL;
	if (o->kmap && o->kmap->slots != o->max_sessions)
		goto err;
	err = pair_secret_load(s);
	if (err)
		goto err;
	if (o->kmap && o->kmap_kept) {
		restore_sessions(s);
	} else {
		/* Sessions a previous run recorded are gone with its memory. */
		err = store_session_clear(o->store, &n);
		if (err)
			pr_warn("cannot clear the sessions of an earlier run: %s", strerror(-err));
		else if (n)
			pr_info("cleared %u session(s) left by an earlier run", n);
	}
	s->access = true;
	return 0;
err:
	srv_fini(s);
	return err;
}

void srv_fini(struct srv *s)
{
	punch_waits_fini(&s->waits);
	outbox_fini(&s->outbox);
	sessions_fini(&s->sessions);
	replay_fini(&s->replay);
	ratelimit_fini(&s->rl);
	explicit_bzero(&s->auth, sizeof(s->auth));
	explicit_bzero(s->pair_secret, sizeof(s->pair_secret));
	free(s->contacts);
	free(s->names);
	s->contacts = NULL;
	s->names = NULL;
	s->access = false;
	pthread_mutex_destroy(&s->lock);
}

void srv_get_stats(struct srv *s, struct srv_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	pthread_mutex_unlock(&s->lock);
}

const char *srv_store_op_name(enum srv_store_op op)
{
	static const char *const names[SRV_STORE_OP_MAX] = {
		[SRV_STORE_USER_GET] = "user_get",
		[SRV_STORE_CONTACT_LIST] = "contact_list",
		[SRV_STORE_SESSION_PUT] = "session_put",
		[SRV_STORE_SESSION_TOUCH] = "session_touch",
		[SRV_STORE_SESSION_DEL] = "session_del",
	};

	return (unsigned int)op < SRV_STORE_OP_MAX ? names[op] : "unknown";
}

void srv_store_timed(struct srv *s, enum srv_store_op op, uint64_t t0_ns)
{
	if ((unsigned int)op < SRV_STORE_OP_MAX)
		metrics_hist_add(&s->st.store_lat[op], metrics_now_ns() - t0_ns);
}

uint32_t srv_sessions(struct srv *s)
{
	uint32_t n;

	pthread_mutex_lock(&s->lock);
	n = s->sessions.n;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* --- sending ---------------------------------------------------------------- */

static const struct sockaddr *from_addr(const struct srv *s, unsigned int sock,
					const union session_addr *local)
{
	/* A socket bound to one address answers from it; a wildcard one needs pktinfo. */
	if (sock < s->o.n_socks && s->o.socks[sock].wildcard && local->sa.sa_family != AF_UNSPEC)
		return &local->sa;
	return NULL;
}

static void send_copy(struct srv *s, const struct srv_io *io, unsigned int sock, const uint8_t *buf,
		      size_t len, const struct sockaddr *to, const struct sockaddr *from)
{
	size_t cap;
	uint8_t *out = io->buf(io->ctx, &cap);

	if (len > cap) {
		s->st.errors++;
		return;
	}
	memcpy(out, buf, len);
	io->send(io->ctx, sock, len, to, from);
}

static void reply_built(const struct srv_io *io, const struct srv_dgram *d, int len)
{
	if (len > 0)
		io->send(io->ctx, d->sock, (size_t)len, d->src, d->dst);
}

/* An error response to request @m: ERROR-CODE (@reason, NULL: the usual one) and FINGERPRINT. */
static void reply_error_text(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
			     const struct stun_msg *m, int code, const char *reason)
{
	struct stun_builder b;
	size_t cap;
	uint8_t *out = io->buf(io->ctx, &cap);

	stun_build_init(&b, out, cap, stun_type_make(stun_type_method(m->type), STUN_CLASS_ERROR),
			m->tid);
	stun_build_add_error(&b, code, reason);
	stun_build_fingerprint(&b);
	reply_built(io, d, stun_build_finish(&b));
}

static void reply_error(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
			const struct stun_msg *m, int code)
{
	reply_error_text(s, io, d, m, code, NULL);
}

static void send_outbox_msg(struct srv *s, const struct srv_io *io, struct outbox_msg *m,
			    const struct session *t, uint64_t now_ms)
{
	send_copy(s, io, t->sock, m->buf, m->len, (const struct sockaddr *)&t->observed,
		  from_addr(s, t->sock, &t->srv_addr));
	m->tries++;
	m->next_ms = now_ms + m->rto_ms;
	m->rto_ms *= 2;
}

static void login_answer(struct srv *s, const struct srv_io *io, struct session *a,
			 const uint8_t *lt_key, uint64_t now_ms);

/* Every punch of @sid's login is acked (or given up): answer it now. */
static void wait_done(struct srv *s, const struct srv_io *io, uint32_t sid, uint64_t now_ms)
{
	struct punch_wait *w = punch_wait_find(&s->waits, sid);
	struct session *a = sessions_find(&s->sessions, sid);
	uint8_t key[STORE_KEY_SHA256_LEN];

	if (!w)
		return;
	/* Answering flushes the outbox, which may move the waits: copy, then remove. */
	memcpy(key, w->lt_key, sizeof(key));
	punch_wait_del(&s->waits, w);
	if (a)
		login_answer(s, io, a, key, now_ms);
	explicit_bzero(key, sizeof(key));
}

/* Send what is due in the outbox; give up on what was sent OUTBOX_TRIES times. */
static void flush_outbox(struct srv *s, const struct srv_io *io, uint64_t now_ms)
{
	for (uint32_t i = 0; i < s->outbox.n;) {
		struct outbox_msg *m = &s->outbox.v[i];
		struct session *t;
		uint32_t waiter;

		if (m->next_ms > now_ms) {
			i++;
			continue;
		}
		t = sessions_find(&s->sessions, m->target);
		if (t && m->tries < OUTBOX_TRIES) {
			send_outbox_msg(s, io, m, t, now_ms);
			i++;
			continue;
		}
		waiter = m->waiter;
		if (t) {
			s->st.outbox_expired++;
			pr_debug("%s to %s about %s never acked", access_method_name(m->method),
				 t->user, m->subject);
		}
		outbox_del(&s->outbox, m);
		/* A punch given up counts as done for the login waiting on it. */
		if (waiter && punch_wait_ack(&s->waits, waiter))
			wait_done(s, io, waiter, now_ms);
	}
}

/* --- sessions ending ------------------------------------------------------------- */

static void end_session(struct srv *s, struct session *a, const char *reason, uint64_t now_ms)
{
	struct punch_wait *w;
	uint64_t t0;
	int err;

	pr_info("session offline user=%s reason=%s session=%u", a->user, reason, a->id);
	if (a->announced)
		presence_fanout(s, a, PH_CONTACT_OFFLINE, now_ms);
	outbox_drop_target(&s->outbox, a->id);
	w = punch_wait_find(&s->waits, a->id);
	if (w)
		punch_wait_del(&s->waits, w);
	t0 = metrics_now_ns();
	err = store_session_del(s->o.store, a->id);
	srv_store_timed(s, SRV_STORE_SESSION_DEL, t0);
	if (s->o.kmap && sessmap_del(s->o.kmap, a->id))
		s->st.kernel_errors++;
	if (err && err != -ENOENT) {
		/* The session ends all the same; only pinholectl's view lags until restart. */
		s->st.errors++;
		pr_warn("store: cannot remove session %u of %s: %s", a->id, a->user,
			strerror(-err));
	}
	sessions_del(&s->sessions, a);
}

/* --- LOGIN -------------------------------------------------------------------------- */

static void login_answer(struct srv *s, const struct srv_io *io, struct session *a,
			 const uint8_t *lt_key, uint64_t now_ms)
{
	struct access_keepalive ka = {
	    .interval_ms = s->ka_interval_ms,
	    .jitter_ms = s->ka_jitter_ms,
	    .timeout_ms = s->ka_timeout_ms,
	};
	size_t first, count;
	struct stun_builder b;
	int pages = 1, len, err;

	err = presence_profile(s, a);
	if (!err)
		pages = access_page_plan(s->contacts, s->n_contacts, 0, &first, &count);
	if (err || pages < 1) {
		/* The FETCH will tell; the login itself stands. */
		pr_warn("profile of %s: %s", a->user, strerror(err ? -err : -pages));
		pages = 1;
	}
	stun_build_init(&b, a->answer, sizeof(a->answer),
			access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS), a->login_tid);
	stun_build_add_xor_addr(&b, (const struct sockaddr *)&a->observed);
	access_add_session(&b, a->id, a->token);
	access_add_keepalive(&b, &ka);
	access_add_page(&b, 0, (uint16_t)pages);
	len = access_msg_finish(&b, lt_key, STORE_KEY_SHA256_LEN);
	if (len < 0) {
		pr_warn("cannot build the LOGIN answer for %s: %s", a->user, stun_strerror(len));
		s->st.errors++;
		return;
	}
	a->answer_len = (uint16_t)len;
	send_copy(s, io, a->sock, a->answer, a->answer_len, (const struct sockaddr *)&a->observed,
		  from_addr(s, a->sock, &a->srv_addr));
	a->announced = true;
	a->announced_ms = now_ms;
	if (s->o.kmap) {
		/* From here on the kernel answers its keepalives. */
		err = sessmap_put(s->o.kmap, a->id, a->token, (const struct sockaddr *)&a->observed,
				  (uint16_t)(s->ka_interval_ms / 1000), sessmap_now_s());
		if (err) {
			/* Userspace still answers them; the kernel says 401, so it logs in again. */
			s->st.kernel_errors++;
			pr_warn("kernel session table: cannot add session %u of %s: %s", a->id,
				a->user, strerror(-err));
		}
	}
	presence_fanout(s, a, PH_CONTACT_ONLINE, now_ms);
	flush_outbox(s, io, now_ms);
}

struct punch_ctx {
	struct srv *s;
	struct session *a;
	struct punch_wait *w;
	uint64_t now_ms;
};

/* For each user the newcomer may contact: if online, have it learn the key (and punch). */
static int punch_cb(const char *name, void *arg)
{
	struct punch_ctx *p = arg;
	struct srv *s = p->s;
	struct session *b = sessions_find_user(&s->sessions, name);
	struct access_contact c;
	struct outbox_msg *m;
	char a_text[ADDR_STRLEN];
	bool send;

	if (!b || !b->announced)
		return 0;
	send = s->o.punch && nat_would_drop(b->filtering);
	presence_entry(s, b, p->a->user, p->a, &c);
	/* From b's side: a initiates; b punched iff told to. */
	c.flags = 0;
	if (nat_direct_possible(p->a->mapping, p->a->filtering, b->mapping, b->filtering,
				s->o.punch))
		c.flags |= PH_CONTACT_DIRECT_OK;
	if (send)
		c.flags |= PH_CONTACT_PUNCHED;
	m = presence_queue(s, PH_METHOD_PUNCH, b, &c, send ? PH_PUNCH_SEND : 0, p->now_ms);
	if (!m)
		return 0;
	pr_info("punch sent to=%s toward=%s send=%d", b->user,
		fmt((const struct sockaddr *)&p->a->observed, a_text, sizeof(a_text)), send);
	if (p->w) {
		m->waiter = p->a->id;
		p->w->waiting++;
		p->w->sent++;
	}
	return 0;
}

static void log_refused(enum log_level level, const struct stun_msg *m, const char *reason,
			const struct sockaddr *src)
{
	char name[STORE_NAME_MAX + 1] = "-", a[ADDR_STRLEN];
	const char *u;
	size_t ulen;

	/* Only a name that passes the naming rule goes to the log verbatim. */
	if (!stun_msg_get_string(m, STUN_ATTR_USERNAME, &u, &ulen) && ulen <= STORE_NAME_MAX) {
		memcpy(name, u, ulen);
		name[ulen] = '\0';
		if (store_name_check(name))
			strcpy(name, "?");
	}
	log_msg(level, "login refused user=%s reason=%s from=%s", name, reason,
		fmt(src, a, sizeof(a)));
}

static void login_ok(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
		     const struct stun_msg *m, const struct store_user *u, const char *nonce,
		     size_t nonce_len, uint64_t now_ms)
{
	struct sockaddr_storage locals[STORE_SESSION_MAX_LOCAL], claimed;
	struct store_session rec;
	struct punch_ctx p = {.s = s, .now_ms = now_ms};
	struct session *a, *old;
	char o_text[ADDR_STRLEN], c_text[ADDR_STRLEN];
	enum ph_nat_mapping map = PH_MAP_UNKNOWN;
	enum ph_nat_filtering filt = PH_FILTER_UNKNOWN;
	size_t n_local = 0;
	uint64_t t0;
	int err;

	/*
	 * Every refusal comes before the user's live session is touched: a
	 * login that cannot complete must not end the one it would replace.
	 */
	if (replay_full(&s->replay, now_ms)) {
		/* More logins than one nonce lifetime can remember: refuse, do not forget. */
		s->st.rate_limited++;
		log_refused(LOG_INFO, m, "busy", d->src);
		reply_error(s, io, d, m, PH_ERR_RATE_LIMITED);
		return;
	}
	old = sessions_find_user(&s->sessions, u->name);
	if (!old && s->sessions.n >= s->sessions.cap) {
		/* A capacity problem the operator must see (--max-sessions), hence warn. */
		log_refused(LOG_WARN, m, "server-full", d->src);
		s->st.login_refused++;
		s->st.sessions_full++;
		reply_error_text(s, io, d, m, STUN_ERR_SERVER_ERROR, "Server Full");
		return;
	}
	if (old)
		end_session(s, old, "replaced", now_ms);
	a = sessions_add(&s->sessions, u->name);
	if (!a) {
		pr_warn("login of %s: %s", u->name, strerror(errno));
		s->st.errors++;
		reply_error(s, io, d, m, STUN_ERR_SERVER_ERROR);
		return;
	}
	/* Cannot fail: replay_full() said the oldest entry has expired. */
	replay_add(&s->replay, m->tid, d->src, a->id, now_ms, now_ms + s->auth.nonce.lifetime_ms);
	session_addr_set(&a->observed, d->src);
	claimed.ss_family = AF_UNSPEC;
	access_get_claimed_address(m, &claimed);
	session_addr_set(&a->claimed, (const struct sockaddr *)&claimed);
	access_get_local_addresses(m, locals, STORE_SESSION_MAX_LOCAL, &n_local);
	if (n_local > STORE_SESSION_MAX_LOCAL)
		n_local = STORE_SESSION_MAX_LOCAL;
	session_addr_set(&a->local, n_local ? (const struct sockaddr *)&locals[0] : NULL);
	access_get_nat(m, &map, &filt);
	a->mapping = map;
	a->filtering = filt;
	a->sock = d->sock;
	if (d->dst)
		session_addr_set(&a->srv_addr, d->dst);
	else if (d->sock < s->o.n_socks)
		session_addr_set(&a->srv_addr, (const struct sockaddr *)&s->o.socks[d->sock].addr);
	a->since_ms = now_ms;
	a->last_ms = now_ms;
	memcpy(a->login_tid, m->tid, STUN_TID_LEN);
	err = access_session_key(u->key_sha256, sizeof(u->key_sha256), nonce, nonce_len, a->id,
				 a->token, a->key);
	if (err) {
		s->st.errors++;
		sessions_del(&s->sessions, a);
		reply_error(s, io, d, m, STUN_ERR_SERVER_ERROR);
		return;
	}

	memset(&rec, 0, sizeof(rec));
	rec.id = a->id;
	strcpy(rec.user, a->user);
	session_addr_get(&a->observed, &rec.observed);
	session_addr_get(&a->claimed, &rec.claimed);
	memcpy(rec.local, locals, n_local * sizeof(locals[0]));
	rec.n_local = (unsigned int)n_local;
	rec.mapping = map;
	rec.filtering = filt;
	rec.since = time(NULL);
	rec.refreshed = rec.since;
	rec.has_secrets = true;
	memcpy(rec.token, a->token, sizeof(rec.token));
	memcpy(rec.key, a->key, sizeof(rec.key));
	t0 = metrics_now_ns();
	err = store_session_put(s->o.store, &rec);
	explicit_bzero(&rec, sizeof(rec));
	srv_store_timed(s, SRV_STORE_SESSION_PUT, t0);
	if (err) {
		/* A busy store must not cost the user the login: the row is bookkeeping. */
		s->st.errors++;
		pr_warn("store: cannot record session %u of %s: %s", a->id, a->user,
			strerror(-err));
	}
	s->st.logins++;
	pr_info(
	    "login ok user=%s observed=%s claimed=%s nat=%s-%s session=%u differs=%s", a->user,
	    fmt((const struct sockaddr *)&a->observed, o_text, sizeof(o_text)),
	    fmt((const struct sockaddr *)&a->claimed, c_text, sizeof(c_text)),
	    nat_mapping_name(map), nat_filtering_name(filt), a->id,
	    a->claimed.sa.sa_family == AF_UNSPEC ? "unknown"
	    : addr_cmp((const struct sockaddr *)&a->claimed, (const struct sockaddr *)&a->observed)
		? "yes"
		: "no");

	/* Step 5: every online contact a may reach learns a's entry (and punches) first. */
	p.a = a;
	if (s->o.punch_wait_ms) {
		p.w = punch_wait_add(&s->waits, a->id, now_ms + s->o.punch_wait_ms);
		if (p.w)
			memcpy(p.w->lt_key, u->key_sha256, sizeof(p.w->lt_key));
	}
	t0 = metrics_now_ns();
	err = store_contact_list(s->o.store, a->user, STORE_CONTACT_OUT, punch_cb, &p);
	srv_store_timed(s, SRV_STORE_CONTACT_LIST, t0);
	if (err && err != -ENOENT)
		pr_warn("punch for %s: cannot read contacts: %s", a->user, strerror(-err));
	if (!p.w || !p.w->waiting) {
		if (p.w)
			punch_wait_del(&s->waits, p.w);
		login_answer(s, io, a, u->key_sha256, now_ms);
		return;
	}
	flush_outbox(s, io, now_ms);
}

static void on_login(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
		     const struct stun_msg *m, uint64_t now_ms)
{
	const struct replay_entry *e;
	enum auth_verdict v;
	struct store_user u;
	const char *nonce = NULL;
	size_t nonce_len = 0;
	size_t cap;
	uint8_t *out;
	bool first;

	e = replay_find(&s->replay, m->tid, now_ms);
	if (e) {
		struct session *a = sessions_find(&s->sessions, e->session);

		if (a && !addr_cmp((const struct sockaddr *)&e->src, d->src) &&
		    !memcmp(a->login_tid, m->tid, STUN_TID_LEN)) {
			/*
			 * A retransmission: the same answer again (no larger than the
			 * request, and to the address that logged in), or silence while
			 * punches run.  Not charged: the answer is a copy.
			 */
			s->st.login_retransmits++;
			if (a->answer_len)
				send_copy(s, io, d->sock, a->answer, a->answer_len, d->src, d->dst);
			return;
		}
	}
	/*
	 * Everything past this point mints a nonce or runs a store look-up and
	 * an HMAC for a source that may be spoofed, replays included: charge it.
	 * A source over its budget hears one 429 per episode, then silence, so a
	 * spoofed victim gets at most the bucket's rate of answers.
	 */
	if (!ratelimit_allow(&s->rl, d->src, now_ms, &first)) {
		s->st.rate_limited++;
		if (first) {
			log_refused(LOG_INFO, m, "rate-limited", d->src);
			reply_error(s, io, d, m, PH_ERR_RATE_LIMITED);
		}
		return;
	}
	if (e) {
		s->st.replays++;
		/* Anyone can resend a captured LOGIN at any rate: per packet, so debug only. */
		log_refused(LOG_DEBUG, m, "replay", d->src);
		out = io->buf(io->ctx, &cap);
		reply_built(
		    io, d,
		    auth_error(&s->auth, m, STUN_ERR_UNAUTHORIZED, d->src, now_ms, out, cap));
		return;
	}
	v = auth_check(&s->auth, m, d->src, now_ms, &u, &nonce, &nonce_len);
	if (v == AUTH_OK) {
		login_ok(s, io, d, m, &u, nonce, nonce_len, now_ms);
		explicit_bzero(&u, sizeof(u));
		return;
	}
	explicit_bzero(&u, sizeof(u));
	if (v == AUTH_CHALLENGE) {
		s->st.challenges++;
	} else {
		s->st.login_refused++;
		if ((unsigned int)v < AUTH_VERDICT_MAX)
			s->st.login_refused_by[v]++;
		/*
		 * Until the nonce checks out the source may be spoofed, and anyone can send
		 * those at line rate: debug.  Past it, the sender holds a nonce we gave its
		 * address and is held to login_rate per second: worth an info line.
		 */
		log_refused(v == AUTH_BAD_REQUEST || v == AUTH_BAD_NONCE || v == AUTH_STALE_NONCE
				? LOG_DEBUG
				: LOG_INFO,
			    m, auth_verdict_name(v), d->src);
	}
	out = io->buf(io->ctx, &cap);
	reply_built(io, d, auth_error(&s->auth, m, auth_verdict_code(v), d->src, now_ms, out, cap));
}

/* --- FETCH, LOGOUT: session-authenticated requests ------------------------------------ */

/*
 * The session a request names, if the request proves it (token and
 * session key) from its observed address.  Unknown id: 401 sent, NULL.
 * Bad proof or another source: dropped, NULL.
 */
static struct session *request_session(struct srv *s, const struct srv_io *io,
				       const struct srv_dgram *d, const struct stun_msg *m)
{
	uint8_t token[PH_TOKEN_LEN];
	struct session *a;
	uint32_t id;

	if (access_get_session(m, &id, token)) {
		s->st.dropped_malformed++;
		reply_error(s, io, d, m, STUN_ERR_BAD_REQUEST);
		return NULL;
	}
	a = sessions_find(&s->sessions, id);
	if (!a || !a->announced) {
		reply_error(s, io, d, m, STUN_ERR_UNAUTHORIZED);
		return NULL;
	}
	if (CRYPTO_memcmp(token, a->token, PH_TOKEN_LEN) ||
	    access_msg_verify(m, a->key, sizeof(a->key))) {
		s->st.dropped_integrity++;
		return NULL;
	}
	/*
	 * Requests carry no freshness: a captured FETCH resent with a victim's
	 * source would draw a routing-table page (about 1200 bytes for 100) at
	 * it, and would keep a dead session alive.  Only the observed address
	 * (which keepalives move on NAT rebinding) is answered.
	 */
	if (addr_cmp(d->src, (const struct sockaddr *)&a->observed)) {
		s->st.dropped_source++;
		return NULL;
	}
	return a;
}

static void on_fetch(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
		     const struct stun_msg *m, uint64_t now_ms)
{
	struct session *a = request_session(s, io, d, m);
	struct stun_builder b;
	size_t first, count, cap;
	uint16_t idx, n;
	uint8_t *out;
	int pages, err, len;

	if (!a)
		return;
	a->last_ms = now_ms;
	if (access_get_page(m, &idx, &n)) {
		reply_error(s, io, d, m, STUN_ERR_BAD_REQUEST);
		return;
	}
	err = presence_profile(s, a);
	if (err) {
		pr_warn("FETCH by %s: %s", a->user, strerror(-err));
		reply_error(s, io, d, m, STUN_ERR_SERVER_ERROR);
		return;
	}
	pages = access_page_plan(s->contacts, s->n_contacts, idx, &first, &count);
	if (pages < 0) {
		reply_error(s, io, d, m, STUN_ERR_BAD_REQUEST);
		return;
	}
	s->st.fetches++;
	out = io->buf(io->ctx, &cap);
	stun_build_init(&b, out, cap, access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS), m->tid);
	access_add_session(&b, a->id, a->token);
	access_add_page(&b, idx, (uint16_t)pages);
	err = access_page_fill(&b, s->contacts + first, count);
	if (err >= 0 && (size_t)err != count)
		err = -EMSGSIZE;
	len = err < 0 ? err : access_msg_finish(&b, a->key, sizeof(a->key));
	if (len < 0) {
		pr_warn("cannot build page %u for %s: %s", idx, a->user, stun_strerror(len));
		s->st.errors++;
		return;
	}
	reply_built(io, d, len);
}

static void on_logout(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
		      const struct stun_msg *m, uint64_t now_ms)
{
	struct session *a = request_session(s, io, d, m);
	struct stun_builder b;
	size_t cap;
	uint8_t *out;

	if (!a)
		return;
	out = io->buf(io->ctx, &cap);
	stun_build_init(&b, out, cap, access_type(PH_METHOD_LOGOUT, STUN_CLASS_SUCCESS), m->tid);
	access_add_session(&b, a->id, a->token);
	reply_built(io, d, access_msg_finish(&b, a->key, sizeof(a->key)));
	s->st.logouts++;
	end_session(s, a, "logout", now_ms);
	flush_outbox(s, io, now_ms);
}

/* --- acks of PUNCH and PRESENCE ---------------------------------------------------------- */

static void on_ack(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
		   const struct stun_msg *m, uint64_t now_ms)
{
	struct outbox_msg *o = outbox_find(&s->outbox, m->tid);
	uint16_t method = stun_type_method(m->type);
	uint8_t token[PH_TOKEN_LEN];
	struct session *t;
	uint32_t id, waiter;

	if (!o || o->method != method) {
		s->st.dropped_unmatched++;
		return;
	}
	t = sessions_find(&s->sessions, o->target);
	if (!t) {
		outbox_del(&s->outbox, o);
		return;
	}
	/*
	 * Whatever the class, an ack is acted on only under the target's
	 * session key and from the address the request went to: anyone who saw
	 * the PUNCH (its tid travels in clear) could otherwise end it, release
	 * the waiting login early and keep a dead session alive with it.
	 */
	if (access_msg_verify(m, t->key, sizeof(t->key)) || access_get_session(m, &id, token) ||
	    id != t->id) {
		s->st.dropped_integrity++;
		return;
	}
	if (addr_cmp(d->src, (const struct sockaddr *)&t->observed)) {
		s->st.dropped_source++;
		return;
	}
	/* An error answer (the endpoint refused) ends the transaction all the same. */
	t->last_ms = now_ms;
	waiter = o->waiter;
	if (method == PH_METHOD_PUNCH) {
		s->st.punch_acks++;
		pr_info("punch acked by=%s", t->user);
	} else {
		s->st.presence_acks++;
	}
	outbox_del(&s->outbox, o);
	if (waiter && punch_wait_ack(&s->waits, waiter))
		wait_done(s, io, waiter, now_ms);
}

/* --- keepalive ------------------------------------------------------------------------------ */

/* Put @sa, as the address family socket @sock sends to, into @out (IPv4 on [::] is mapped). */
static void fit_family(const struct srv *s, unsigned int sock, const struct sockaddr *sa,
		       union session_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET && sock < s->o.n_socks &&
	    s->o.socks[sock].addr.ss_family == AF_INET6) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;

		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = v4->sin_port;
		out->in6.sin6_addr.s6_addr[10] = 0xff;
		out->in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&out->in6.sin6_addr.s6_addr[12], &v4->sin_addr, 4);
		return;
	}
	session_addr_set(out, sa);
}

/*
 * NAT rebinding of @a to @src (the token proved it is the same endpoint),
 * reaching local address @dst (NULL: unknown) on socket @sock: routing,
 * store, and a MOVED delta to its contacts (queued: the caller flushes).
 */
static void session_move(struct srv *s, struct session *a, const struct sockaddr *src,
			 const struct sockaddr *dst, unsigned int sock, uint64_t now_ms)
{
	char from[ADDR_STRLEN], to[ADDR_STRLEN];
	uint64_t t0;
	int err;

	pr_info("session moved user=%s from=%s to=%s", a->user,
		fmt((const struct sockaddr *)&a->observed, from, sizeof(from)),
		fmt(src, to, sizeof(to)));
	a->sock = sock;
	fit_family(s, sock, src, &a->observed);
	if (dst)
		fit_family(s, sock, dst, &a->srv_addr);
	s->st.moved++;
	t0 = metrics_now_ns();
	err = store_session_touch(s->o.store, a->id, src, time(NULL));
	srv_store_timed(s, SRV_STORE_SESSION_TOUCH, t0);
	if (err) {
		s->st.errors++;
		pr_warn("store: cannot update session %u of %s: %s", a->id, a->user,
			strerror(-err));
	}
	presence_fanout(s, a, PH_CONTACT_MOVED, now_ms);
}

/*
 * A keepalive that reached userspace: no kernel path, an interface without
 * it, or one the kernel passed up.  The same rules as the kernel's; an
 * indication is never answered.
 */
static void on_keepalive(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
			 const struct stun_msg *m, uint32_t id, const uint8_t *token,
			 bool indication, uint64_t now_ms)
{
	struct session *a = sessions_find(&s->sessions, id);
	struct stun_builder b;
	size_t cap;
	uint8_t *out;

	if (!a || !a->announced) {
		/* Forgotten (timeout, restart): the endpoint logs in again. */
		s->st.keepalive_unknown++;
		if (indication)
			return;
		out = io->buf(io->ctx, &cap);
		stun_build_init(&b, out, cap, STUN_BINDING_ERROR, m->tid);
		stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
		if (m->has_fingerprint)
			stun_build_fingerprint(&b);
		reply_built(io, d, stun_build_finish(&b));
		return;
	}
	if (CRYPTO_memcmp(token, a->token, PH_TOKEN_LEN)) {
		s->st.keepalive_bad_token++;
		return;
	}
	s->st.keepalives++;
	a->last_ms = now_ms;
	if (addr_cmp(d->src, (const struct sockaddr *)&a->observed))
		session_move(s, a, d->src, d->dst, d->sock, now_ms);
	/* Keep the kernel's copy current, or its sweep data and address would lag. */
	if (s->o.kmap && sessmap_touch(s->o.kmap, a->id, d->src, sessmap_now_s()))
		s->st.kernel_errors++;
	if (!indication) {
		out = io->buf(io->ctx, &cap);
		stun_build_init(&b, out, cap, STUN_BINDING_SUCCESS, m->tid);
		stun_build_add_xor_addr(&b, d->src);
		if (m->has_fingerprint)
			stun_build_fingerprint(&b);
		reply_built(io, d, stun_build_finish(&b));
	}
	flush_outbox(s, io, now_ms);
}

void srv_session_moved(struct srv *s, const struct srv_io *io, const struct sessmap_move *mv,
		       uint64_t now_ms)
{
	const struct sockaddr *to = (const struct sockaddr *)&mv->addr;
	const struct sockaddr *local = (const struct sockaddr *)&mv->local;
	union session_addr cur;
	struct session *a;

	if (!s->access)
		return;
	pthread_mutex_lock(&s->lock);
	s->st.kernel_moves++;
	a = sessions_find(&s->sessions, mv->id);
	if (a && a->announced) {
		a->last_ms = now_ms;
		/* Userspace may have seen it first (a keepalive it handled): compare like for like. */
		fit_family(s, a->sock, to, &cur);
		if (addr_cmp((const struct sockaddr *)&cur, (const struct sockaddr *)&a->observed)) {
			session_move(s, a, to, local, sock_for(s, local, a->sock), now_ms);
			flush_outbox(s, io, now_ms);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* --- dispatch -----------------------------------------------------------------------------------
 */

/*
 * The Binding rules.  On an RFC 5780 socket (--alt) the answer carries
 * RESPONSE-ORIGIN and OTHER-ADDRESS and goes out from the socket a
 * CHANGE-REQUEST selects (@m: the parsed request, or NULL).
 */
static int binding_path(struct srv *s, const struct srv_io *io, const struct srv_dgram *d,
			const struct stun_msg *m)
{
	enum binding_outcome oc = BINDING_DROPPED;
	struct sockaddr_storage origin, other;
	struct binding_ctx ctx = {0};
	unsigned int sock = d->sock;
	uint32_t flags = 0;
	size_t cap, n;
	uint8_t *out;

	/* Not STUN at all (rules 1-6): dropped without a word. */
	if (!m)
		return BINDING_DROPPED;
	out = io->buf(io->ctx, &cap);
	/* A malformed CHANGE-REQUEST is binding_answer_msg's 400 to give: route as if absent. */
	if (s->o.alt && stun_msg_get_change_request(m, &flags))
		flags = 0;
	if (s->o.alt && !rfc5780_route(s->o.alt, d->sock, flags, &sock, &origin, &other)) {
		ctx.origin = (const struct sockaddr *)&origin;
		ctx.other = (const struct sockaddr *)&other;
	}
	n = binding_answer_msg(m, d->src, ctx.other ? &ctx : NULL, out, cap, &oc);
	if (!n)
		return oc;
	/* Errors come back from where the request went; success from the chosen socket. */
	if (oc != BINDING_ANSWERED || sock == d->sock)
		io->send(io->ctx, d->sock, n, d->src, d->dst);
	else
		io->send(io->ctx, sock, n, d->src, NULL);
	return oc;
}

/* True for what the access protocol handles (the rest follows the Binding rules). */
static bool access_message(uint16_t method, uint16_t cls)
{
	switch (cls) {
	case STUN_CLASS_REQUEST:
		return method == PH_METHOD_LOGIN || method == PH_METHOD_FETCH ||
		       method == PH_METHOD_LOGOUT;
	case STUN_CLASS_SUCCESS:
	case STUN_CLASS_ERROR:
		return method == PH_METHOD_PUNCH || method == PH_METHOD_PRESENCE;
	}
	return false;
}

int srv_input(struct srv *s, const struct srv_io *io, const struct srv_dgram *d, uint64_t now_ms)
{
	uint8_t token[PH_TOKEN_LEN];
	uint16_t method, cls, bad = 0;
	struct stun_msg m;
	uint32_t id;
	int err;

	if (!d->src)
		return BINDING_DROPPED; /* nowhere to answer */
	if (stun_msg_parse(&m, d->data, d->len))
		return binding_path(s, io, d, NULL);
	if (!s->access)
		return binding_path(s, io, d, &m);
	method = stun_type_method(m.type);
	cls = stun_type_class(m.type);
	if (method == STUN_METHOD_BINDING &&
	    (cls == STUN_CLASS_REQUEST || cls == STUN_CLASS_INDICATION)) {
		bool ind = cls == STUN_CLASS_INDICATION;

		err = access_get_session(&m, &id, token);
		if (err == -ENOENT)
			return binding_path(s, io, d, &m);
		pthread_mutex_lock(&s->lock);
		if (err || access_msg_check_attrs(&m, NULL)) {
			s->st.dropped_malformed++;
			if (!ind)
				reply_error(s, io, d, &m, STUN_ERR_BAD_REQUEST);
		} else {
			on_keepalive(s, io, d, &m, id, token, ind, now_ms);
		}
		pthread_mutex_unlock(&s->lock);
		return BINDING_OUTCOME_MAX;
	}
	if (!access_message(method, cls))
		return binding_path(s, io, d, &m);

	pthread_mutex_lock(&s->lock);
	err = access_msg_check_attrs(&m, &bad);
	if (err) {
		s->st.dropped_malformed++;
		/* Requests get an answer (or the sender retransmits for seconds); responses do not.
		 */
		if (cls == STUN_CLASS_REQUEST) {
			if (err == -STUN_E_UNKNOWN_REQUIRED) {
				struct stun_builder b;
				size_t cap;
				uint8_t *out = io->buf(io->ctx, &cap);

				stun_build_init(&b, out, cap,
						stun_type_make(method, STUN_CLASS_ERROR), m.tid);
				stun_build_add_error(&b, STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
				stun_build_add_unknown_attrs(&b, &bad, 1);
				stun_build_fingerprint(&b);
				reply_built(io, d, stun_build_finish(&b));
			} else {
				reply_error(s, io, d, &m, STUN_ERR_BAD_REQUEST);
			}
		}
		goto out;
	}
	switch (method) {
	case PH_METHOD_LOGIN:
		on_login(s, io, d, &m, now_ms);
		break;
	case PH_METHOD_FETCH:
		on_fetch(s, io, d, &m, now_ms);
		break;
	case PH_METHOD_LOGOUT:
		on_logout(s, io, d, &m, now_ms);
		break;
	default:
		on_ack(s, io, d, &m, now_ms);
		break;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return BINDING_OUTCOME_MAX;
}

/* --- timers
 * ----------------------------------------------------------------------------------------- */

/*
 * The next chunk of the sweep: up to SWEEP_CHUNK live sessions from the
 * cursor on, found through the table's live bits, each with the kernel's
 * last_seen read from the mapped array when the kernel answers keepalives.
 * A pass starts every sweep_period_ms and covers the table in chunks, one
 * per tick, so ten million sessions never hold the lock for long.
 */
static void sweep_chunk(struct srv *s, uint64_t now_ms)
{
	uint32_t slot = s->sweep_next, seen = 0, now_s = s->o.kmap ? sessmap_now_s() : 0;
	uint64_t t0 = metrics_now_ns();

	if (!slot) {
		s->next_sweep_ms = now_ms + s->sweep_period_ms;
		s->sweep_busy_ns = 0;
	}
	for (; seen < SWEEP_CHUNK; slot++, seen++) {
		struct session *a;
		uint64_t age_ms = UINT64_MAX;

		slot = sessions_next_live(&s->sessions, slot);
		if (slot >= s->sessions.cap)
			break;
		if (s->o.kmap) {
			const volatile struct ph_session *k = sessmap_slot(s->o.kmap, slot);
			uint32_t last_seen = k->last_seen;

			/*
			 * The common case decided from the packed ids and the mapped
			 * array alone: ten million sessions never pull their 480-byte
			 * records through the cache.
			 */
			if (k->id == s->sessions.ids[slot]) {
				age_ms = now_s > last_seen ? (uint64_t)(now_s - last_seen) * 1000 : 0;
				if (age_ms <= s->ka_timeout_ms)
					continue;
			}
		}
		a = &s->sessions.v[slot];
		if (age_ms != UINT64_MAX && now_ms > age_ms && now_ms - age_ms > a->last_ms)
			a->last_ms = now_ms - age_ms;
		/*
		 * A login still waiting for punch acks is answered within
		 * --punch-wait; one whose answer never went out (it could not be
		 * built) would otherwise hold its slot forever.
		 *
		 * With --workers N the caller read the clock before waiting for the
		 * lock: a session another worker refreshed meanwhile can be newer than
		 * @now_ms, and must not look 2^64 ms old.
		 */
		if (a->last_ms >= now_ms || now_ms - a->last_ms <= s->ka_timeout_ms)
			continue;
		s->st.timeouts++;
		end_session(s, a, "timeout", now_ms);
	}
	s->sweep_busy_ns += metrics_now_ns() - t0;
	if (slot < s->sessions.cap) {
		s->sweep_next = slot;
		return;
	}
	s->sweep_next = 0;
	s->st.sweep_passes++;
	s->st.sweep_last_ns = s->sweep_busy_ns;
	s->st.sweep_last_slots = s->sessions.cap;
}

void srv_tick(struct srv *s, const struct srv_io *io, uint64_t now_ms)
{
	struct punch_wait *w;

	if (!s->access)
		return;
	pthread_mutex_lock(&s->lock);
	while ((w = punch_wait_due(&s->waits, now_ms))) {
		s->st.punch_wait_expired++;
		pr_debug("login of session %u answered after %u ms with %u of %u punch(es) unacked",
			 w->session, s->o.punch_wait_ms, w->waiting, w->sent);
		wait_done(s, io, w->session, now_ms);
	}
	/* Punches still unacked keep going after the answer: the peer needs the key for ONLINE. */
	for (uint32_t k = 0; k < s->outbox.n; k++)
		if (s->outbox.v[k].waiter && !punch_wait_find(&s->waits, s->outbox.v[k].waiter))
			s->outbox.v[k].waiter = 0;
	flush_outbox(s, io, now_ms);
	if (s->sweep_next || now_ms >= s->next_sweep_ms) {
		sweep_chunk(s, now_ms);
		flush_outbox(s, io, now_ms);
	}
	pthread_mutex_unlock(&s->lock);
}
