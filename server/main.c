// SPDX-License-Identifier: MIT
/*
 * pinhole-server: answers STUN Binding requests on every --listen address,
 * in userspace through the io_uring loop and, with --xdp, in the kernel.
 *
 * Threads: worker 0 runs in the main thread and owns signal handling (its
 * loop reads SIGINT/SIGTERM from a signalfd); --workers N adds N-1 threads,
 * each with its own ring and its own SO_REUSEPORT socket per listener, so
 * the kernel spreads datagrams across them with no shared state.  When
 * worker 0 stops it stops the others.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "binding.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "xdp.h"

#ifndef PINHOLE_VERSION
#define PINHOLE_VERSION "0.1.0"
#endif

#define SOCK_BUF_BYTES	(8 << 20)

struct worker {
	struct server *srv;
	unsigned int id;
	pthread_t thread;
	struct loop *loop;
	int fds[CONFIG_MAX_LISTEN];
	size_t n_fds;
	int err;			/* start-up result, valid once started is set */
	bool started;
	uint64_t outcomes[BINDING_OUTCOME_MAX];
	struct loop_stats st;
};

struct server {
	struct config cfg;
	struct xdp_path *xdp;
	struct worker workers[CONFIG_MAX_WORKERS];
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* a worker finished starting */
};

static void on_dgram(struct loop *l, const struct loop_dgram *d, void *ctx)
{
	struct worker *w = ctx;
	enum binding_outcome oc = BINDING_DROPPED;
	size_t cap, n;
	uint8_t *out;

	/* The codec writes straight into the send slot: no copy per reply. */
	out = loop_reply_buf(l, &cap);
	n = binding_answer(d->data, d->len, d->src, out, cap, &oc);
	if ((unsigned int)oc < BINDING_OUTCOME_MAX)
		w->outcomes[oc]++;
	if (n)
		loop_reply_commit(l, d, n);
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
	const struct config *c = &w->srv->cfg;
	struct loop_opts o = {.recv_bufs = 2048, .signals = w->id == 0};
	char text[ADDR_STRLEN];
	int err;

	w->loop = loop_new(&o);
	if (!w->loop) {
		err = -errno;
		pr_err("worker %u: io_uring loop: %s", w->id, strerror(errno));
		return err;
	}
	for (size_t i = 0; i < c->n_listen; i++) {
		const struct sockaddr *sa = (const struct sockaddr *)&c->listen[i];
		int fd;

		addr_format(sa, text, sizeof(text));
		fd = open_udp(&c->listen[i], c->workers > 1);
		if (fd < 0) {
			/* A host without IPv6 still serves IPv4 on the defaults. */
			if (c->listen_default && sa->sa_family == AF_INET6 &&
			    (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)) {
				if (w->id == 0)
					pr_warn("not listening on %s: %s", text, strerror(-fd));
				continue;
			}
			pr_err("cannot listen on %s (udp): %s", text, strerror(-fd));
			return fd;
		}
		w->fds[w->n_fds++] = fd;
		if (!loop_add_udp(w->loop, fd, on_dgram, w)) {
			err = -errno;
			pr_err("cannot receive on %s: %s", text, strerror(errno));
			return err;
		}
		if (w->id == 0)
			pr_info("listening on %s (udp)", text);
	}
	if (!w->n_fds) {
		pr_err("no address to listen on");
		return -EADDRNOTAVAIL;
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

static int xdp_start(struct server *s)
{
	const struct config *c = &s->cfg;
	struct xdp_path_opts o = {
		.ifname = c->xdp_ifname,
		.pin_dir = c->pin_dir,
		.no_generic = c->xdp_no_generic,
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
	err = xdp_path_set_listeners(s->xdp, c->listen, c->n_listen);
	if (err) {
		pr_err("xdp: cannot set listeners: %s", strerror(-err));
		return err;
	}
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

	if (s.cfg.xdp_ifname[0]) {
		err = xdp_start(&s);
		if (err)
			goto out_xdp;
	}
	/* Worker 0 first: its loop blocks SIGINT/SIGTERM before threads inherit the mask. */
	err = worker_init(&s.workers[0]);
	if (err)
		goto out_workers;
	err = start_threads(&s, &threads);
	if (err)
		goto out_workers;
	pr_info("ready: %zu socket(s), %u worker(s), %s recvmsg, pid %d", s.workers[0].n_fds,
		s.cfg.workers, loop_recv_mode(s.workers[0].loop), (int)getpid());

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
	if (!err)
		log_summary(&s);
	for (unsigned int i = 0; i < s.cfg.workers; i++)
		worker_fini(&s.workers[i]);
out_xdp:
	/* Logs whether it detached or left everything pinned. */
	xdp_path_close(s.xdp, s.cfg.keep);
	return err ? 1 : ret;
}
