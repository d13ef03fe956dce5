// SPDX-License-Identifier: MIT
/*
 * pinhole-server: the access server.  Answers STUN Binding requests on
 * every --listen address (in userspace through the io_uring loop and, with
 * --xdp, in the kernel) and, with a store, runs the access protocol on the
 * same sockets: login, routing tables, keepalives, punches, presence
 * (server.c).  With --alt it also listens on the RFC 5780 alternate
 * addresses.
 *
 * Threads: worker 0 runs in the main thread and owns signal handling (its
 * loop reads SIGINT/SIGTERM from a signalfd); --workers N adds N-1 threads,
 * each with its own ring and its own SO_REUSEPORT socket per listener, so
 * the kernel spreads datagrams across them with no shared state.  When
 * worker 0 stops it stops the others.
 *
 * With --metrics, a libmicrohttpd thread serves Prometheus metrics
 * (metrics.c); every worker publishes its counters to it from a loop timer.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libgen.h>
#include <limits.h>

#include "addr.h"
#include "binding.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "server.h"
#include "sessmap.h"
#include "store.h"
#include "xdp.h"

#ifndef PINHOLE_VERSION
#define PINHOLE_VERSION "0.1.0"
#endif

#define SOCK_BUF_BYTES	(8 << 20)
/* Listeners plus the three extra RFC 5780 sockets. */
#define MAX_SOCKS	(CONFIG_MAX_LISTEN + 3)
/* Timer granularity: punch waits and retransmissions (RTO 100 ms). */
#define TICK_MS		20
/* pinholectl must never stall the loop for long (store.h's default is 5 s). */
#define STORE_BUSY_MS	150

struct worker {
	struct server *srv;
	unsigned int id;
	pthread_t thread;
	struct loop *loop;
	int fds[MAX_SOCKS];
	size_t n_fds;
	struct loop_udp *udp[MAX_SOCKS];	/* by core socket index; NULL: not bound */
	struct srv_io io;
	int err;			/* start-up result, valid once started is set */
	bool started;
	uint64_t outcomes[BINDING_OUTCOME_MAX];
	struct loop_stats st;
};

struct server {
	struct config cfg;
	struct xdp_path *xdp;
	struct store *store;
	struct srv core;
	struct srv_sock socks[MAX_SOCKS];
	unsigned int n_socks;
	struct rfc5780 alt;
	bool has_alt;
	struct worker workers[CONFIG_MAX_WORKERS];
	struct metrics *metrics;	/* NULL: no --metrics */
	struct sessmap kmap;		/* the kernel's session table (with --xdp and a store) */
	bool has_kmap;
	bool xdp_gone;			/* its interface disappeared: userspace serves alone */
	uint64_t next_if_check_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a worker finished starting */
};

static uint8_t *io_buf(void *ctx, size_t *cap)
{
	struct worker *w = ctx;

	/* The core writes straight into the send slot: no copy per reply. */
	return loop_reply_buf(w->loop, cap);
}

static int io_send(void *ctx, unsigned int sock, size_t len, const struct sockaddr *to,
		   const struct sockaddr *from)
{
	struct worker *w = ctx;

	if (sock >= w->srv->n_socks || !w->udp[sock])
		return -EBADF;
	/* A socket bound to one address answers from it anyway: skip the cmsg. */
	if (!w->srv->socks[sock].wildcard)
		from = NULL;
	return loop_send_commit(w->loop, w->udp[sock], len, to, from);
}

static void on_dgram(struct loop *l, const struct loop_dgram *d, void *ctx)
{
	struct worker *w = ctx;
	struct srv_dgram in = {
		.data = d->data,
		.len = d->len,
		.src = d->src,
		.dst = d->dst,
	};
	int oc;

	while (in.sock < w->srv->n_socks && w->udp[in.sock] != d->udp)
		in.sock++;
	oc = srv_input(&w->srv->core, &w->io, &in, srv_now_ms());
	if (oc >= 0 && oc < BINDING_OUTCOME_MAX)
		w->outcomes[oc]++;
}

/*
 * An interface that goes away takes its XDP attachment with it; the
 * sockets on the other addresses keep working, so say so and carry on.
 * The kernel's session table stays: keepalives reaching userspace refresh it.
 */
#define IF_CHECK_MS 1000

static void check_interface(struct server *s)
{
	uint64_t now = srv_now_ms();

	if (!s->xdp || s->xdp_gone || now < s->next_if_check_ms)
		return;
	s->next_if_check_ms = now + IF_CHECK_MS;
	if (if_nametoindex(s->cfg.xdp_ifname) == (unsigned int)xdp_path_ifindex(s->xdp))
		return;
	s->xdp_gone = true;
	pr_warn("xdp: interface %s is gone; serving from userspace", s->cfg.xdp_ifname);
}

static void on_move(const struct sessmap_move *mv, void *ctx)
{
	struct worker *w = ctx;

	srv_session_moved(&w->srv->core, &w->io, mv, srv_now_ms());
}

static void on_tick(struct loop *l, void *ctx)
{
	struct worker *w = ctx;
	struct server *s = w->srv;

	/*
	 * NAT rebindings the kernel followed: drained from the tick (the
	 * program submits without wakeups), so a move reaches contacts within
	 * TICK_MS and a burst of them costs one pass here.
	 */
	if (w->id == 0 && s->has_kmap) {
		s->kmap.ctx = w;
		sessmap_drain(&s->kmap);
	}
	if (w->id == 0)
		check_interface(s);
	/* Without a store the core has nothing to time (and ignores the call). */
	srv_tick(&s->core, &w->io, srv_now_ms());
}

/* Hand this worker's counters to the metrics thread (a copy under its mutex). */
static void on_publish(struct loop *l, void *ctx)
{
	struct worker *w = ctx;
	struct metrics_worker mw;

	memcpy(mw.outcomes, w->outcomes, sizeof(mw.outcomes));
	loop_get_stats(l, &mw.loop);
	metrics_publish(w->srv->metrics, w->id, &mw);
}

static void set_buf(int fd, int force, int plain)
{
	int sz = SOCK_BUF_BYTES;

	/* FORCE passes rmem_max/wmem_max when root; otherwise take what we get. */
	if (setsockopt(fd, SOL_SOCKET, force, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, plain, &sz, sizeof(sz));
}

/* A bound UDP socket for @ss; returns the fd or a negative errno. */
static int open_udp(const struct sockaddr_storage *ss, bool reuseport)
{
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto err;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto err;
	/* [::] must not swallow IPv4: 0.0.0.0 has its own socket. */
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto err;
	set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF);
	set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF);
	if (bind(fd, (const struct sockaddr *)ss, (socklen_t)addr_len((const struct sockaddr *)ss)))
		goto err;
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

static void worker_fini(struct worker *w)
{
	loop_free(w->loop);
	w->loop = NULL;
	for (size_t i = 0; i < w->n_fds; i++)
		close(w->fds[i]);
	w->n_fds = 0;
}

/*
 * Create the worker's loop and sockets.  Must run on the thread that will
 * run the loop (the ring is single-issuer).  Worker 0 logs the listeners.
 */
static int worker_init(struct worker *w)
{
	const struct server *s = w->srv;
	const struct config *c = &s->cfg;
	struct loop_opts o = {.recv_bufs = 2048, .signals = w->id == 0};
	char text[ADDR_STRLEN];
	int err;

	w->io = (struct srv_io){.buf = io_buf, .send = io_send, .ctx = w};
	w->loop = loop_new(&o);
	if (!w->loop) {
		err = -errno;
		pr_err("worker %u: io_uring loop: %s", w->id, strerror(errno));
		return err;
	}
	for (unsigned int i = 0; i < s->n_socks; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&s->socks[i].addr;
		int fd;

		addr_format(sa, text, sizeof(text));
		fd = open_udp(&s->socks[i].addr, c->workers > 1);
		if (fd < 0) {
			/* A host without IPv6 still serves IPv4 on the defaults. */
			if (c->listen_default && i < c->n_listen && sa->sa_family == AF_INET6 &&
			    (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
				if (w->id == 0)
					pr_warn("not listening on %s: %s", text, strerror(-fd));
				continue;
			}
			pr_err("cannot listen on %s (udp): %s", text, strerror(-fd));
			return fd;
		}
		w->fds[w->n_fds++] = fd;
		w->udp[i] = loop_add_udp(w->loop, fd, on_dgram, w);
		if (!w->udp[i]) {
			err = -errno;
			pr_err("cannot receive on %s: %s", text, strerror(errno));
			return err;
		}
		if (w->id == 0)
			pr_info("listening on %s (udp)%s", text,
				i >= c->n_listen ? " for RFC 5780" : "");
	}
	if (!w->n_fds) {
		pr_err("no address to listen on");
		return -EADDRNOTAVAIL;
	}
	/* One worker runs the timers; the core's lock covers the others' input. */
	if (w->id == 0 && (s->core.access || s->xdp)) {
		err = loop_add_timer(w->loop, TICK_MS, on_tick, w);
		if (err) {
			pr_err("cannot add the access timer: %s", strerror(-err));
			return err;
		}
	}
	if (s->metrics) {
		err = loop_add_timer(w->loop, METRICS_PUBLISH_MS, on_publish, w);
		if (err) {
			pr_err("cannot add the metrics timer: %s", strerror(-err));
			return err;
		}
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *s = w->srv;
	int err = worker_init(w);

	pthread_mutex_lock(&s->lock);
	w->err = err;
	w->started = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (err)
		return NULL;
	err = loop_run(w->loop);
	if (err) {
		pr_err("worker %u: loop failed: %s; stopping", w->id, strerror(-err));
		loop_stop(s->workers[0].loop);
	}
	loop_get_stats(w->loop, &w->st);
	return NULL;
}

/* Start workers 1..N-1 and wait until each has bound its sockets. */
static int start_threads(struct server *s, unsigned int *started)
{
	int err = 0;

	for (unsigned int i = 1; i < s->cfg.workers; i++) {
		struct worker *w = &s->workers[i];

		err = -pthread_create(&w->thread, NULL, worker_main, w);
		if (err) {
			pr_err("worker %u: %s", i, strerror(-err));
			return err;
		}
		(*started)++;
		pthread_mutex_lock(&s->lock);
		while (!w->started)
			pthread_cond_wait(&s->cond, &s->lock);
		err = w->err;
		pthread_mutex_unlock(&s->lock);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The kernel answers plain Binding requests on every socket address; on
 * the four RFC 5780 ones its answers carry OTHER-ADDRESS too (requests
 * with CHANGE-REQUEST still come up: another socket must answer them).
 */
static int set_xdp_listeners(struct server *s)
{
	struct xdp_listener l[MAX_SOCKS];

	memset(l, 0, sizeof(l));
	for (unsigned int i = 0; i < s->n_socks; i++) {
		struct sockaddr_storage origin;
		unsigned int out;

		l[i].addr = s->socks[i].addr;
		l[i].other.ss_family = AF_UNSPEC;
		if (s->has_alt)
			rfc5780_route(&s->alt, i, 0, &out, &origin, &l[i].other);
	}
	return xdp_path_set_listeners_ex(s->xdp, l, s->n_socks);
}

static int xdp_start(struct server *s)
{
	const struct config *c = &s->cfg;
	struct xdp_path_opts o = {
		.ifname = c->xdp_ifname,
		.pin_dir = c->pin_dir,
		.no_generic = c->xdp_no_generic,
		.max_sessions = c->max_sessions,
		.answer_rate = c->answer_rate,
		.answer_burst = c->answer_burst,
	};
	int err;

	s->xdp = xdp_path_open(&o);
	if (!s->xdp) {
		err = -errno;
		pr_err("xdp: cannot attach to %s: %s", c->xdp_ifname, strerror(errno));
		return err;
	}
	/* xdp_path_open already logged attach/adopt, interface, mode and pins. */
	pr_debug("xdp: %s, %s mode", xdp_path_adopted(s->xdp) ? "adopted" : "attached",
		 xdp_path_mode(s->xdp));
	err = set_xdp_listeners(s);
	if (err) {
		pr_err("xdp: cannot set listeners: %s", strerror(-err));
		return err;
	}
	if (!s->store)
		return 0;
	/* on_move's context is worker 0, set when its tick drains the ring. */
	err = sessmap_init(&s->kmap, xdp_path_sessions_fd(s->xdp), xdp_path_events_fd(s->xdp),
			   on_move, NULL);
	if (err) {
		pr_err("xdp: the kernel session table is unusable: %s", strerror(-err));
		return err;
	}
	s->has_kmap = true;
	pr_info("xdp: kernel session table of %u slots%s", s->kmap.slots,
		xdp_path_sessions_kept(s->xdp) ? ", kept from the earlier run" : "");
	return 0;
}

static void log_summary(struct server *s)
{
	uint64_t oc[BINDING_OUTCOME_MAX] = {0};
	struct loop_stats sum = {0};
	char line[1024];
	size_t off = 0;

	for (unsigned int i = 0; i < s->cfg.workers; i++) {
		const struct worker *w = &s->workers[i];

		for (int k = 0; k < BINDING_OUTCOME_MAX; k++)
			oc[k] += w->outcomes[k];
		sum.rx_packets += w->st.rx_packets;
		sum.rx_truncated += w->st.rx_truncated;
		sum.rx_errors += w->st.rx_errors;
		sum.rx_nobufs += w->st.rx_nobufs;
		sum.tx_queued += w->st.tx_queued;
		sum.tx_sync += w->st.tx_sync;
		sum.tx_errors += w->st.tx_errors;
	}
	for (int k = 0; k < BINDING_OUTCOME_MAX; k++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s=%llu ",
					binding_outcome_name(k), (unsigned long long)oc[k]);
	pr_info("userspace: %sreceived=%llu truncated=%llu rx_errors=%llu nobufs=%llu "
		"sent=%llu sent_direct=%llu tx_errors=%llu",
		line, (unsigned long long)sum.rx_packets, (unsigned long long)sum.rx_truncated,
		(unsigned long long)sum.rx_errors, (unsigned long long)sum.rx_nobufs,
		(unsigned long long)sum.tx_queued, (unsigned long long)sum.tx_sync,
		(unsigned long long)sum.tx_errors);

	if (s->xdp) {
		struct ph_stat st[PH_REASON_MAX];
		int err = xdp_path_read_stats(s->xdp, st);

		if (err) {
			pr_warn("xdp: cannot read counters: %s", strerror(-err));
			return;
		}
		off = 0;
		line[0] = '\0';
		for (int r = 0; r < PH_REASON_MAX; r++) {
			if (!st[r].packets)
				continue;
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s=%llu",
						xdp_reason_name(r),
						(unsigned long long)st[r].packets);
		}
		pr_info("xdp:%s", off ? line : " no packets");
	}
	if (s->core.access) {
		struct srv_stats a;

		srv_get_stats(&s->core, &a);
		pr_info("access: logins=%llu challenges=%llu refused=%llu replays=%llu "
			"rate_limited=%llu fetches=%llu keepalives=%llu bad_token=%llu "
			"unknown_session=%llu logouts=%llu timeouts=%llu moved=%llu punches=%llu "
			"punch_acks=%llu punch_wait_expired=%llu presence=%llu presence_acks=%llu "
			"unacked=%llu malformed=%llu integrity=%llu unmatched=%llu errors=%llu",
			(unsigned long long)a.logins, (unsigned long long)a.challenges,
			(unsigned long long)a.login_refused, (unsigned long long)a.replays,
			(unsigned long long)a.rate_limited, (unsigned long long)a.fetches,
			(unsigned long long)a.keepalives, (unsigned long long)a.keepalive_bad_token,
			(unsigned long long)a.keepalive_unknown, (unsigned long long)a.logouts,
			(unsigned long long)a.timeouts, (unsigned long long)a.moved,
			(unsigned long long)a.punches, (unsigned long long)a.punch_acks,
			(unsigned long long)a.punch_wait_expired, (unsigned long long)a.presence,
			(unsigned long long)a.presence_acks, (unsigned long long)a.outbox_expired,
			(unsigned long long)a.dropped_malformed,
			(unsigned long long)a.dropped_integrity,
			(unsigned long long)a.dropped_unmatched, (unsigned long long)a.errors);
	}
}

/*
 * Bind the --metrics address before anything else happens, so a taken port
 * ends the start with one clear line and nothing attached.
 */
static int metrics_bind(struct server *s)
{
	char text[ADDR_STRLEN];
	int err;

	if (s->cfg.metrics.ss_family == AF_UNSPEC)
		return 0;
	s->metrics = metrics_new(&s->cfg.metrics, s->cfg.workers);
	if (!s->metrics) {
		err = -errno;
		addr_format((const struct sockaddr *)&s->cfg.metrics, text, sizeof(text));
		pr_err("metrics: cannot listen on %s (tcp): %s", text, strerror(errno));
		return err;
	}
	return 0;
}

static int metrics_serve(struct server *s)
{
	struct sockaddr_storage ss;
	char text[ADDR_STRLEN] = "?";
	int err;

	if (!s->metrics)
		return 0;
	err = metrics_start(s->metrics, &s->core, s->xdp, PINHOLE_VERSION);
	if (err) {
		pr_err("metrics: cannot start the HTTP server: %s", strerror(-err));
		return err;
	}
	if (!metrics_local_addr(s->metrics, &ss))
		addr_format((const struct sockaddr *)&ss, text, sizeof(text));
	pr_info("metrics served url=http://%s/metrics", text);
	return 0;
}

/* The sockets every worker binds: the listeners, then the RFC 5780 extras. */
static int plan_sockets(struct server *s)
{
	const struct config *c = &s->cfg;
	const struct sockaddr_storage *p = config_alt_primary(c);
	int err;

	for (size_t i = 0; i < c->n_listen; i++) {
		s->socks[i].addr = c->listen[i];
		s->socks[i].wildcard = addr_is_any((const struct sockaddr *)&c->listen[i]);
	}
	s->n_socks = (unsigned int)c->n_listen;
	if (!p)
		return 0;
	err = rfc5780_init(&s->alt, p, &c->alt);
	if (err) {
		pr_err("--alt: must differ from the primary address in IP and port");
		return err;
	}
	s->alt.sock[0][0] = (unsigned int)(p - c->listen);
	for (int k = 1; k < 4; k++) {
		bool ip_alt = k & 2, port_alt = k & 1;

		rfc5780_addr(&s->alt, ip_alt, port_alt, &s->socks[s->n_socks].addr);
		s->alt.sock[ip_alt][port_alt] = s->n_socks++;
	}
	s->has_alt = true;
	return 0;
}

/*
 * Open the store unless told not to.  Without --db the default path is
 * used only if its directory exists, so a plain STUN deployment (and the
 * STUN tests) never creates files; with --db a failure is fatal.
 */
static int open_store(struct server *s)
{
	const struct config *c = &s->cfg;
	struct store_opts so = {
		.realm = c->realm[0] ? c->realm : NULL,
		.busy_timeout_ms = STORE_BUSY_MS,
	};
	char dir[PATH_MAX];

	if (c->stun_only) {
		pr_info("access protocol off (--stun-only)");
		return 0;
	}
	if (!c->db_given) {
		snprintf(dir, sizeof(dir), "%s", c->db_path);
		if (access(dirname(dir), F_OK)) {
			pr_info("access protocol off: no store (%s does not exist; use --db PATH)",
				dir);
			return 0;
		}
	}
	s->store = store_open(c->db_path, STORE_O_CREATE, &so);
	if (!s->store) {
		int err = -errno;

		const char *why = strerror(-err), *hint = "";

		if (err == -EBUSY)
			why = "locked by another process";
		else if (err == -EUCLEAN)
			why = "corrupt, or not a pinhole store";
		else if (err == -EINVAL && so.realm)
			hint = " (does --realm match the store's realm?)";
		else if (err == -EROFS)
			hint = " (the server records sessions in it: it needs to write)";
		pr_err("store %s: %s%s", c->db_path, why, hint);
		return err;
	}
	pr_info("store %s, realm %s", c->db_path, store_realm(s->store));
	return 0;
}

static int core_start(struct server *s)
{
	const struct config *c = &s->cfg;
	struct srv_opts o = {
		.store = s->store,
		.socks = s->socks,
		.n_socks = s->n_socks,
		.alt = s->has_alt ? &s->alt : NULL,
		.punch = !c->no_punch,
		.punch_wait_ms = c->punch_wait_ms,
		.nonce_lifetime_ms = (uint64_t)c->nonce_lifetime_s * 1000,
		.keepalive_s = c->keepalive_s,
		.login_rate = c->login_rate,
		.max_sessions = c->max_sessions,
		.kmap = s->has_kmap ? &s->kmap : NULL,
		.kmap_kept = s->has_kmap && xdp_path_sessions_kept(s->xdp),
	};
	int err = srv_init(&s->core, &o);

	if (err) {
		pr_err("access server: %s", strerror(-err));
		return err;
	}
	if (s->core.access)
		pr_info("access protocol on: keepalive %u s (jitter %u ms, timeout %u ms), "
			"punch %s, punch wait %u ms, login rate %u/s per source",
			c->keepalive_s, s->core.ka_jitter_ms, s->core.ka_timeout_ms,
			c->no_punch ? "off" : "on", c->punch_wait_ms, c->login_rate);
	return 0;
}

int main(int argc, char **argv)
{
	static struct server s;
	char err_msg[CONFIG_ERR_LEN];
	unsigned int threads = 0;
	int err, ret = 1;

	err = config_load(&s.cfg, argc, argv, err_msg, sizeof(err_msg));
	if (err) {
		fprintf(stderr, "pinhole-server: %s\n", err_msg);
		return 2;
	}
	if (s.cfg.help) {
		config_usage(stdout, "pinhole-server");
		return 0;
	}
	if (s.cfg.version) {
		printf("pinhole-server %s\n", PINHOLE_VERSION);
		return 0;
	}
	log_set_level(s.cfg.log_level);
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	for (unsigned int i = 0; i < s.cfg.workers; i++) {
		s.workers[i].srv = &s;
		s.workers[i].id = i;
	}

	err = metrics_bind(&s);
	if (!err)
		err = plan_sockets(&s);
	if (!err)
		err = open_store(&s);
	if (err)
		goto out_store;
	/* The kernel path first: the core takes back the sessions a kept table holds. */
	if (s.cfg.xdp_ifname[0]) {
		err = xdp_start(&s);
		if (err)
			goto out_xdp;
	}
	err = core_start(&s);
	if (err)
		goto out_xdp;
	/* Worker 0 first: its loop blocks SIGINT/SIGTERM before threads inherit the mask. */
	err = worker_init(&s.workers[0]);
	if (err)
		goto out_workers;
	err = start_threads(&s, &threads);
	if (!err)
		err = metrics_serve(&s);
	if (err)
		goto out_workers;
	pr_info("ready sockets=%zu workers=%u recv=%s pid=%d", s.workers[0].n_fds, s.cfg.workers,
		loop_recv_mode(s.workers[0].loop), (int)getpid());

	err = loop_run(s.workers[0].loop);
	loop_get_stats(s.workers[0].loop, &s.workers[0].st);
	ret = err ? 1 : 0;

out_workers:
	for (unsigned int i = 1; i <= threads; i++) {
		struct worker *w = &s.workers[i];

		pthread_mutex_lock(&s.lock);
		/* A worker that failed to start has no loop to stop. */
		if (w->started && !w->err)
			loop_stop(w->loop);
		pthread_mutex_unlock(&s.lock);
		pthread_join(w->thread, NULL);
	}
	/* The HTTP thread reads the core and the kernel path: stop it before they go. */
	metrics_free(s.metrics);
	s.metrics = NULL;
	if (!err)
		log_summary(&s);
	for (unsigned int i = 0; i < s.cfg.workers; i++)
		worker_fini(&s.workers[i]);
out_xdp:
	srv_fini(&s.core);
	if (s.has_kmap)
		sessmap_fini(&s.kmap);
	/* Logs whether it detached or left everything pinned. */
	xdp_path_close(s.xdp, s.cfg.keep);
out_store:
	store_close(s.store);
	/* Only a start that failed before the workers ran still holds it (never started). */
	metrics_free(s.metrics);
	return err ? 1 : ret;
}
