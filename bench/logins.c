// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "logins.h"
#include "rig.h"
#include "stun.h"

#define RECV_BATCH 64
#define ALGS_MAX 32
/* Long-term key length for SHA-256 (RFC 8489 §9.2.2). */
#define LT_KEY_LEN 32
/* A 429 (rate limited, or the server's replay window is full) is retried after this. */
#define BACKOFF_NS 1000000000ull
#define SCAN_NS 10000000ull
#define PROGRESS_NS 1000000000ull

enum step {
	STEP_BINDING,	/* plain Binding request: learn the reflexive address */
	STEP_CHALLENGE, /* LOGIN without credentials: 401 with realm and nonce */
	STEP_LOGIN,	/* LOGIN with credentials */
	STEP_FETCH,	/* FETCH page `page` */
};

struct slot {
	uint32_t ep;  /* endpoint index; UINT32_MAX: free */
	uint32_t gen; /* bumped for every new request: stale answers do not match */
	enum step step;
	unsigned int tries; /* sends of the current request */
	bool backoff;	    /* waiting to send a fresh request of this step */
	uint16_t page, pages;
	uint32_t contacts;
	uint64_t start_ns, due_ns;
	struct sockaddr_in src; /* the endpoint's address and port */
	struct sockaddr_in reflexive;
	uint8_t tid[STUN_TID_LEN];
	uint8_t buf[PH_DATAGRAM_MAX];
	size_t len;
	char realm[STUN_REALM_MAX + 1];
	size_t realm_len;
	char nonce[STUN_NONCE_MAX + 1];
	size_t nonce_len;
	uint8_t algs[ALGS_MAX];
	uint16_t algs_len;
	uint8_t key[STUN_KEY_MAX];     /* long-term key, SHA-256 */
	uint8_t skey[PH_PAIR_KEY_LEN]; /* session key */
	uint32_t sid;
	uint8_t token[PH_TOKEN_LEN];
};

struct ctx {
	const struct logins_opts *o;
	struct bench_ka_entry *table;
	struct logins_result *r;
	struct slot *slots;
	unsigned int nslots, nfree;
	uint32_t *free;	     /* stack of free slot indexes */
	int *fds;	     /* one socket per source port */
	uint32_t port_first; /* port index of fds[0] */
	unsigned int nfds;
	uint32_t run_id; /* last four bytes of every transaction id, random per run */
	uint32_t next;	 /* next endpoint to start */
	uint32_t end;	 /* one past the last endpoint */
	uint64_t first_send_ns, last_done_ns;
};

static void endpoint_src(const struct logins_opts *o, uint32_t j, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(o->src_base + j % o->src_addrs);
	sin->sin_port = htons(o->port_base + j / o->src_addrs);
}

static int open_socket(uint16_t port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1, buf = 4 << 20, err;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* FORCE passes the sysctl limits as root; a smaller buffer still works, only slower. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
	if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Binding to one source address tells whether the range is local (route type local). */
static int check_local(uint32_t addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(addr)};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		err = -errno;
	close(fd);
	return err;
}

static void xmit(struct ctx *c, struct slot *s)
{
	const struct logins_opts *o = c->o;
	struct sockaddr_in to = {
	    .sin_family = AF_INET, .sin_addr.s_addr = o->dst_addr, .sin_port = htons(o->dst_port)};
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cm = {};
	struct iovec iov = {.iov_base = s->buf, .iov_len = s->len};
	struct msghdr msg = {.msg_name = &to,
			     .msg_namelen = sizeof(to),
			     .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cm.buf,
			     .msg_controllen = sizeof(cm.buf)};
	struct cmsghdr *ch = CMSG_FIRSTHDR(&msg);
	struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(ch);
	uint32_t pidx = ntohs(s->src.sin_port) - o->port_base - c->port_first;
	uint64_t now = rig_now_ns();

	ch->cmsg_level = IPPROTO_IP;
	ch->cmsg_type = IP_PKTINFO;
	ch->cmsg_len = CMSG_LEN(sizeof(*pi));
	pi->ipi_spec_dst = s->src.sin_addr;
	/* A full socket buffer is a lost datagram like any other: the timer resends. */
	if (sendmsg(c->fds[pidx], &msg, 0) >= 0)
		c->r->sent++;
	if (!c->first_send_ns)
		c->first_send_ns = now;
	s->tries++;
	s->due_ns = now + ((uint64_t)o->rto_ms * 1000000ull << (s->tries - 1));
}

/* Build and send a fresh request for the slot's step (new transaction id). */
static int send_step(struct ctx *c, struct slot *s)
{
	const struct logins_opts *o = c->o;
	struct stun_builder b;
	char name[PH_NAME_MAX + 1];
	uint32_t v;
	int len;

	s->gen++;
	v = htonl((uint32_t)(s - c->slots));
	memcpy(&s->tid[0], &v, 4);
	v = htonl(s->gen);
	memcpy(&s->tid[4], &v, 4);
	/*
	 * Random per run: the server remembers LOGIN tids for a nonce lifetime and
	 * would take a second run's (same slot, same generation) for replays.
	 */
	memcpy(&s->tid[8], &c->run_id, 4);
	s->tries = 0;
	s->backoff = false;
	switch (s->step) {
	case STEP_BINDING:
		stun_build_init(&b, s->buf, sizeof(s->buf), STUN_BINDING_REQUEST, s->tid);
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
		break;
	case STEP_CHALLENGE:
		stun_build_init(&b, s->buf, sizeof(s->buf),
				access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), s->tid);
		stun_build_fingerprint(&b);
		len = stun_build_finish(&b);
		break;
	case STEP_LOGIN:
		snprintf(name, sizeof(name), "%s%u", o->prefix, s->ep);
		stun_build_init(&b, s->buf, sizeof(s->buf),
				access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), s->tid);
		stun_build_add_string(&b, STUN_ATTR_USERNAME, name, strlen(name));
		stun_build_add_string(&b, STUN_ATTR_REALM, s->realm, s->realm_len);
		stun_build_add_string(&b, STUN_ATTR_NONCE, s->nonce, s->nonce_len);
		/* Echoed as received: the server compares it to detect a bid-down. */
		stun_build_add(&b, STUN_ATTR_PASSWORD_ALGORITHMS, s->algs, s->algs_len);
		stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
		access_add_claimed_address(&b, (struct sockaddr *)&s->reflexive);
		access_add_local_address(&b, (struct sockaddr *)&s->src);
		access_add_nat(&b, PH_MAP_NONE, PH_FILTER_NONE);
		len = access_msg_finish(&b, s->key, LT_KEY_LEN);
		break;
	case STEP_FETCH:
		stun_build_init(&b, s->buf, sizeof(s->buf),
				access_type(PH_METHOD_FETCH, STUN_CLASS_REQUEST), s->tid);
		access_add_session(&b, s->sid, s->token);
		access_add_page(&b, s->page, 0);
		len = access_msg_finish(&b, s->skey, sizeof(s->skey));
		break;
	default:
		return -EINVAL;
	}
	if (len < 0)
		return len;
	s->len = (size_t)len;
	xmit(c, s);
	return 0;
}

static void slot_release(struct ctx *c, struct slot *s)
{
	s->ep = UINT32_MAX;
	s->gen++;
	c->free[c->nfree++] = (uint32_t)(s - c->slots);
}

static void login_failed(struct ctx *c, struct slot *s, bool refused)
{
	char name[PH_NAME_MAX + 1];

	c->r->failed++;
	if (refused)
		c->r->refused++;
	/* The first few say why; thousands of lines would hide the summary. */
	if (c->r->failed <= 5) {
		snprintf(name, sizeof(name), "%s%u", c->o->prefix, s->ep);
		pr_warn("login of %s failed at step %d after %u tries%s", name, s->step, s->tries,
			refused ? " (refused)" : "");
	}
	c->last_done_ns = rig_now_ns();
	slot_release(c, s);
}

static void login_done(struct ctx *c, struct slot *s)
{
	struct bench_ka_entry *e = &c->table[s->ep];
	struct logins_result *r = c->r;
	uint64_t now = rig_now_ns(), lat = now - s->start_ns;
	uint32_t id = htonl(s->sid);

	e->addr = s->src.sin_addr.s_addr;
	e->port = s->src.sin_port;
	memcpy(e->token, s->token, sizeof(e->token));
	if (c->o->finish && c->o->finish(e, s->ep, s->sid, c->o->ctx)) {
		login_failed(c, s, false);
		return;
	}
	/* Last, with release order: the keepalive generator may read the entry meanwhile. */
	__atomic_store_n(&e->id, id, __ATOMIC_RELEASE);
	r->ok++;
	r->contacts += s->contacts;
	if (r->ok == 1 || s->contacts < r->contacts_min)
		r->contacts_min = s->contacts;
	if (s->contacts > r->contacts_max)
		r->contacts_max = s->contacts;
	r->lat_sum_ns += lat;
	if (lat > r->lat_max_ns)
		r->lat_max_ns = lat;
	c->last_done_ns = now;
	slot_release(c, s);
}

static void start_logins(struct ctx *c)
{
	const struct logins_opts *o = c->o;

	while (c->nfree && c->next < c->end) {
		struct slot *s;

		if ((o->stop && *o->stop) || (o->deadline_ns && rig_now_ns() >= o->deadline_ns))
			break;
		s = &c->slots[c->free[--c->nfree]];
		s->ep = c->next++;
		s->step = STEP_BINDING;
		s->start_ns = rig_now_ns();
		s->contacts = 0;
		endpoint_src(o, s->ep, &s->src);
		if (send_step(c, s))
			login_failed(c, s, false);
	}
}

/* Take REALM, NONCE (and on the first challenge PASSWORD-ALGORITHMS, the key). */
static int take_challenge(struct ctx *c, struct slot *s, const struct stun_msg *m, bool first)
{
	char name[PH_NAME_MAX + 1];
	const uint8_t *val;
	const char *realm, *nonce;
	size_t rlen, nlen;
	uint16_t vlen;
	int len;

	if (stun_msg_get_string(m, STUN_ATTR_REALM, &realm, &rlen) ||
	    stun_msg_get_string(m, STUN_ATTR_NONCE, &nonce, &nlen) || !rlen || !nlen ||
	    rlen > STUN_REALM_MAX || nlen > STUN_NONCE_MAX)
		return -EPROTO;
	memcpy(s->realm, realm, rlen);
	s->realm_len = rlen;
	memcpy(s->nonce, nonce, nlen);
	s->nonce_len = nlen;
	if (!first)
		return 0;
	if (stun_msg_attr(m, STUN_ATTR_PASSWORD_ALGORITHMS, &val, &vlen) || vlen > ALGS_MAX)
		return -EPROTO;
	memcpy(s->algs, val, vlen);
	s->algs_len = vlen;
	snprintf(name, sizeof(name), "%s%u", c->o->prefix, s->ep);
	len = stun_long_term_key(STUN_PASSWORD_ALG_SHA256, name, strlen(name), s->realm,
				 s->realm_len, c->o->password, strlen(c->o->password), s->key);
	return len == LT_KEY_LEN ? 0 : -EPROTO;
}

/* An error answer that means "try again shortly": back off, then a fresh request. */
static bool retry_later(struct ctx *c, struct slot *s, int code)
{
	if (code != PH_ERR_RATE_LIMITED)
		return false;
	c->r->rate_limited++;
	s->backoff = true;
	s->due_ns = rig_now_ns() + BACKOFF_NS;
	return true;
}

static void on_answer(struct ctx *c, struct slot *s, const struct stun_msg *m)
{
	uint16_t cls = stun_type_class(m->type), method = stun_type_method(m->type);
	struct sockaddr_storage xma;
	struct stun_attr_iter it;
	struct access_contact ct;
	uint16_t idx, count;
	uint8_t token[PH_TOKEN_LEN];
	uint32_t id;
	int code = 0, err;

	if (cls == STUN_CLASS_ERROR && stun_msg_get_error(m, &code, NULL, NULL))
		goto bad;
	switch (s->step) {
	case STEP_BINDING:
		if (method != STUN_METHOD_BINDING || cls != STUN_CLASS_SUCCESS ||
		    stun_msg_get_xor_addr(m, &xma) || xma.ss_family != AF_INET)
			goto bad;
		memcpy(&s->reflexive, &xma, sizeof(s->reflexive));
		s->step = STEP_CHALLENGE;
		break;
	case STEP_CHALLENGE:
		if (method != PH_METHOD_LOGIN || cls != STUN_CLASS_ERROR)
			goto bad;
		if (retry_later(c, s, code))
			return;
		if (code != STUN_ERR_UNAUTHORIZED || take_challenge(c, s, m, true))
			goto refused;
		s->step = STEP_LOGIN;
		break;
	case STEP_LOGIN:
		if (method != PH_METHOD_LOGIN)
			goto bad;
		if (cls == STUN_CLASS_ERROR) {
			if (retry_later(c, s, code))
				return;
			if (code == STUN_ERR_STALE_NONCE && !take_challenge(c, s, m, false)) {
				c->r->stale_nonce++;
				break;
			}
			goto refused;
		}
		/* Only an answer under our long-term key counts; anyone can send "success". */
		if (access_msg_verify(m, s->key, LT_KEY_LEN) ||
		    access_get_session(m, &s->sid, s->token) || access_get_page(m, &idx, &count) ||
		    !count ||
		    access_session_key(s->key, LT_KEY_LEN, s->nonce, s->nonce_len, s->sid, s->token,
				       s->skey))
			goto bad;
		s->pages = count;
		s->page = 0;
		s->step = STEP_FETCH;
		break;
	case STEP_FETCH:
		if (method != PH_METHOD_FETCH)
			goto bad;
		if (cls == STUN_CLASS_ERROR)
			goto refused;
		if (access_msg_verify(m, s->skey, sizeof(s->skey)) ||
		    access_get_session(m, &id, token) || id != s->sid ||
		    access_get_page(m, &idx, &count) || idx != s->page)
			goto bad;
		stun_attr_iter_init(&it);
		while ((err = access_next_contact(m, &it, &ct)) == 1)
			s->contacts++;
		if (err)
			goto bad;
		c->r->pages++;
		/* The table may have grown or shrunk meanwhile: the latest count rules. */
		s->pages = count;
		if (++s->page >= s->pages) {
			login_done(c, s);
			return;
		}
		break;
	}
	if (send_step(c, s))
		login_failed(c, s, false);
	return;
bad:
	/* Not the answer we wait for (or forged): keep waiting, the timer resends. */
	c->r->dropped++;
	return;
refused:
	login_failed(c, s, true);
}

static void on_datagram(struct ctx *c, const uint8_t *buf, size_t len, uint32_t dst_addr,
			uint16_t dst_port)
{
	const struct logins_opts *o = c->o;
	struct stun_msg m;
	uint32_t idx, gen, marker, j;
	struct slot *s;

	c->r->received++;
	if (stun_msg_parse(&m, buf, len))
		goto drop;
	memcpy(&idx, &m.tid[0], 4);
	memcpy(&gen, &m.tid[4], 4);
	memcpy(&marker, &m.tid[8], 4);
	idx = ntohl(idx);
	if (marker != c->run_id || idx >= c->nslots)
		goto drop;
	s = &c->slots[idx];
	/* The answer must come to the address and port of the endpoint the slot serves. */
	j = (dst_port - o->port_base) * o->src_addrs + (ntohl(dst_addr) - o->src_base);
	if (s->ep != j || ntohl(gen) != s->gen || s->backoff)
		goto drop;
	on_answer(c, s, &m);
	return;
drop:
	c->r->dropped++;
}

static void drain(struct ctx *c, unsigned int pidx)
{
	static uint8_t bufs[RECV_BATCH][PH_DATAGRAM_MAX + 4];
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct cmsghdr align;
	} cms[RECV_BATCH];
	struct mmsghdr mm[RECV_BATCH];
	struct iovec iov[RECV_BATCH];
	uint16_t port = c->o->port_base + c->port_first + pidx;
	int n;

	do {
		for (int i = 0; i < RECV_BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof(bufs[i])};
			mm[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i],
							.msg_iovlen = 1,
							.msg_control = cms[i].buf,
							.msg_controllen = sizeof(cms[i].buf)};
		}
		n = recvmmsg(c->fds[pidx], mm, RECV_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			struct cmsghdr *ch;
			uint32_t dst = 0;

			for (ch = CMSG_FIRSTHDR(&mm[i].msg_hdr); ch;
			     ch = CMSG_NXTHDR(&mm[i].msg_hdr, ch))
				if (ch->cmsg_level == IPPROTO_IP && ch->cmsg_type == IP_PKTINFO)
					dst = ((struct in_pktinfo *)CMSG_DATA(ch))->ipi_addr.s_addr;
			if (mm[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			on_datagram(c, bufs[i], mm[i].msg_len, dst, port);
		}
	} while (n == RECV_BATCH);
}

static void scan_timers(struct ctx *c, uint64_t now)
{
	for (unsigned int i = 0; i < c->nslots; i++) {
		struct slot *s = &c->slots[i];

		if (s->ep == UINT32_MAX || s->due_ns > now)
			continue;
		if (s->backoff) {
			if (send_step(c, s))
				login_failed(c, s, false);
		} else if (s->tries >= c->o->tries) {
			login_failed(c, s, false);
		} else {
			c->r->retransmits++;
			xmit(c, s);
		}
	}
}

int logins_run(const struct logins_opts *o, struct bench_ka_entry *table, struct logins_result *res)
{
	struct ctx c = {.o = o, .table = table, .r = res};
	struct epoll_event ev, evs[64];
	uint32_t last_port;
	uint64_t now, next_scan, next_progress;
	int ep = -1, err;

	memset(res, 0, sizeof(*res));
	if (!o->count || !o->src_addrs || !o->window || !o->tries || !o->rto_ms ||
	    o->port_base + (uint64_t)(o->first + (uint64_t)o->count - 1) / o->src_addrs > 65535)
		return -EINVAL;
	err = check_local(o->src_base);
	if (err)
		return err;
	if (getrandom(&c.run_id, sizeof(c.run_id), 0) != sizeof(c.run_id))
		c.run_id = (uint32_t)rig_now_ns();
	c.next = o->first;
	c.end = o->first + o->count;
	c.port_first = o->first / o->src_addrs;
	last_port = (c.end - 1) / o->src_addrs;
	c.nfds = last_port - c.port_first + 1;
	c.nslots = o->window < o->count ? o->window : o->count;
	c.slots = calloc(c.nslots, sizeof(*c.slots));
	c.free = calloc(c.nslots, sizeof(*c.free));
	c.fds = calloc(c.nfds, sizeof(*c.fds));
	if (!c.slots || !c.free || !c.fds) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < c.nfds; i++)
		c.fds[i] = -1;
	for (unsigned int i = 0; i < c.nslots; i++) {
		c.slots[i].ep = UINT32_MAX;
		c.free[c.nslots - 1 - i] = i;
	}
	c.nfree = c.nslots;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		err = -errno;
		goto out;
	}
	for (unsigned int i = 0; i < c.nfds; i++) {
		c.fds[i] = open_socket(o->port_base + c.port_first + i);
		if (c.fds[i] < 0) {
			err = c.fds[i];
			pr_err("logins: cannot bind UDP port %u: %s",
			       o->port_base + c.port_first + i, strerror(-err));
			goto out;
		}
		ev = (struct epoll_event){.events = EPOLLIN, .data.u32 = i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c.fds[i], &ev)) {
			err = -errno;
			goto out;
		}
	}

	now = rig_now_ns();
	next_scan = now + SCAN_NS;
	next_progress = now + PROGRESS_NS;
	start_logins(&c);
	while (c.nfree < c.nslots) {
		int n = epoll_wait(ep, evs, 64, 5);

		for (int i = 0; i < n; i++)
			drain(&c, evs[i].data.u32);
		now = rig_now_ns();
		if (now >= next_scan) {
			scan_timers(&c, now);
			next_scan = now + SCAN_NS;
		}
		if (o->stop && *o->stop) {
			/* Logins in flight are abandoned, not counted as failures. */
			for (unsigned int i = 0; i < c.nslots; i++)
				if (c.slots[i].ep != UINT32_MAX)
					slot_release(&c, &c.slots[i]);
			break;
		}
		start_logins(&c);
		if (now >= next_progress && o->progress) {
			res->elapsed_ns = now - c.first_send_ns;
			o->progress(res, o->ctx);
			next_progress = now + PROGRESS_NS;
		}
	}
	res->not_started = c.end - c.next;
	res->elapsed_ns = c.last_done_ns > c.first_send_ns ? c.last_done_ns - c.first_send_ns : 0;
	err = 0;
out:
	if (ep >= 0)
		close(ep);
	for (unsigned int i = 0; c.fds && i < c.nfds; i++)
		if (c.fds[i] >= 0)
			close(c.fds[i]);
	free(c.fds);
	free(c.free);
	free(c.slots);
	return err;
}
