// SPDX-License-Identifier: MIT
/*
 * io_uring backend of the event loop (see loop.h for the contract).
 *
 * user_data carries a kind in the top 32 bits and an index below, so a
 * completion is dispatched without any per-request allocation.
 */
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

enum ud_kind {
	UD_RECV = 1,
	UD_SEND,
	UD_SIGNAL,
	UD_WAKE,
	UD_TIMER,
};

#define UD(kind, idx) (((uint64_t)(kind) << 32) | (uint32_t)(idx))
#define UD_KIND(ud) ((uint32_t)((ud) >> 32))
#define UD_IDX(ud) ((uint32_t)(ud))

#define BGID		0
/*
 * Room for the peer's name in each provided buffer: a sockaddr_in6 rounded
 * up to 8 so the control messages that follow it stay aligned.
 */
#define NAME_LEN	32
/* IP_PKTINFO and IPV6_PKTINFO together fit with room to spare. */
#define CTRL_LEN	128
/* A socket failing this many receives in a row without data is given up. */
#define MAX_RECV_ERRORS	64

struct loop_udp {
	struct loop *loop;
	int fd;
	uint16_t port;			/* bound port, for loop_dgram.dst */
	unsigned int idx;
	loop_dgram_fn fn;
	void *ctx;
	bool armed;
	bool dead;
	bool wildcard;			/* bound to 0.0.0.0 or ::: replies need pktinfo */
	struct sockaddr_storage bound;	/* getsockname() at loop_add_udp */
	unsigned int errors;		/* consecutive failed receives */
	/*
	 * Multishot: a template telling the kernel how much name and control
	 * room to reserve in each provided buffer.  Single-shot: the real
	 * msghdr, pointing at name, ctrl and buf below.
	 */
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in6 name;
	union {
		struct cmsghdr align;
		uint8_t b[CTRL_LEN];
	} ctrl;
	uint8_t *buf;			/* single-shot receive buffer */
};

struct send_slot {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage to;
	union {
		struct cmsghdr align;
		uint8_t b[CTRL_LEN];
	} ctrl;
	uint8_t *buf;
};

struct loop_timer {
	loop_timer_fn fn;
	void *ctx;
	uint64_t period_ns;
	struct __kernel_timespec next;
	bool armed;
};

struct loop {
	struct io_uring ring;
	struct loop_opts o;
	bool multishot;

	struct io_uring_buf_ring *br;
	size_t br_bytes;
	uint8_t *bufs;
	size_t bufs_bytes;
	size_t stride;
	unsigned int br_mask;
	unsigned int br_pending;	/* buffers returned but not yet published */

	struct loop_udp *udp[LOOP_MAX_UDP];
	unsigned int n_udp;

	struct send_slot *slots;
	uint8_t *send_bufs;
	uint32_t *free_slots;
	unsigned int n_free;
	int cur_slot;			/* reserved by loop_reply_buf, -1 = scratch */
	uint8_t scratch[LOOP_SEND_MAX];

	int sfd;
	struct signalfd_siginfo ssi;
	bool sig_armed;
	int stop_sig;

	int efd;
	uint64_t ebuf;
	bool wake_armed;

	struct loop_timer timers[LOOP_MAX_TIMERS];
	unsigned int n_timers;

	atomic_int stop;
	struct loop_stats st;
};

static unsigned int roundup_pow2(unsigned int v)
{
	unsigned int p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* The ring is full only if a handler queued more sends than a batch: flush. */
static struct io_uring_sqe *get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static void *map_pages(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int setup_ring(struct loop *l)
{
	struct io_uring_params p;
	unsigned int sq = roundup_pow2(l->o.batch * 2 + LOOP_MAX_UDP + LOOP_MAX_TIMERS + 4);
	int err;

	memset(&p, 0, sizeof(p));
	/* CQ room for a full buffer ring of datagrams plus their sends. */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = roundup_pow2(l->o.recv_bufs * 2 + l->o.send_slots);
	err = io_uring_queue_init_params(sq, &l->ring, &p);
	if (err == -EINVAL) {
		/* Kernels before 6.1 know neither flag; they only cost speed. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = roundup_pow2(l->o.recv_bufs * 2 + l->o.send_slots);
		err = io_uring_queue_init_params(sq, &l->ring, &p);
		if (!err)
			pr_info("io_uring: no SINGLE_ISSUER/DEFER_TASKRUN, running without");
	}
	return err;
}

static int setup_buf_ring(struct loop *l)
{
	struct io_uring_buf_reg reg;
	unsigned int n = l->o.recv_bufs;
	int err;

	/* liburing 2.3 has no io_uring_setup_buf_ring: map and register by hand. */
	l->br_bytes = (size_t)n * sizeof(struct io_uring_buf);
	l->br = map_pages(l->br_bytes);
	if (!l->br)
		return -errno;
	l->stride = (sizeof(struct io_uring_recvmsg_out) + NAME_LEN + CTRL_LEN +
		     l->o.recv_buf_size + 63) & ~(size_t)63;
	l->bufs_bytes = l->stride * n;
	l->bufs = map_pages(l->bufs_bytes);
	if (!l->bufs)
		return -errno;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uintptr_t)l->br;
	reg.ring_entries = n;
	reg.bgid = BGID;
	err = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (err)
		return err;
	io_uring_buf_ring_init(l->br);
	l->br_mask = io_uring_buf_ring_mask(n);
	for (unsigned int i = 0; i < n; i++)
		io_uring_buf_ring_add(l->br, l->bufs + i * l->stride, l->stride, i, l->br_mask,
				      i);
	io_uring_buf_ring_advance(l->br, n);
	return 0;
}

static int setup_slots(struct loop *l)
{
	unsigned int n = l->o.send_slots;

	l->slots = calloc(n, sizeof(*l->slots));
	l->free_slots = calloc(n, sizeof(*l->free_slots));
	l->send_bufs = map_pages((size_t)n * LOOP_SEND_MAX);
	if (!l->slots || !l->free_slots || !l->send_bufs)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		l->slots[i].buf = l->send_bufs + (size_t)i * LOOP_SEND_MAX;
		l->free_slots[i] = n - 1 - i;
	}
	l->n_free = n;
	l->cur_slot = -1;
	return 0;
}

static int setup_signals(struct loop *l)
{
	sigset_t set;
	int err;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Blocked so they queue for the signalfd instead of killing us. */
	err = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (err)
		return -err;
	l->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0)
		return -errno;
	return 0;
}

struct loop *loop_new(const struct loop_opts *opts)
{
	struct loop *l;
	int err;

	l = calloc(1, sizeof(*l));
	if (!l) {
		errno = ENOMEM;
		return NULL;
	}
	l->sfd = -1;
	l->efd = -1;
	l->ring.ring_fd = -1;
	if (opts)
		l->o = *opts;
	if (!l->o.recv_bufs)
		l->o.recv_bufs = 1024;
	if (!l->o.recv_buf_size)
		l->o.recv_buf_size = 2048;
	if (!l->o.send_slots)
		l->o.send_slots = 1024;
	if (!l->o.batch)
		l->o.batch = 256;
	if (l->o.recv_bufs & (l->o.recv_bufs - 1) || l->o.recv_bufs > 32768) {
		err = -EINVAL;
		goto err_free;
	}
	l->multishot = !l->o.single_shot;

	err = setup_ring(l);
	if (err)
		goto err_free;
	err = setup_buf_ring(l);
	if (err)
		goto err_ring;
	err = setup_slots(l);
	if (err)
		goto err_ring;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		err = -errno;
		goto err_ring;
	}
	if (l->o.signals) {
		err = setup_signals(l);
		if (err)
			goto err_ring;
	}
	return l;

err_ring:
	loop_free(l);
	errno = -err;
	return NULL;
err_free:
	free(l);
	errno = -err;
	return NULL;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->ring.ring_fd >= 0)
		io_uring_queue_exit(&l->ring);
	for (unsigned int i = 0; i < l->n_udp; i++) {
		free(l->udp[i]->buf);
		free(l->udp[i]);
	}
	if (l->br)
		munmap(l->br, l->br_bytes);
	if (l->bufs)
		munmap(l->bufs, l->bufs_bytes);
	if (l->send_bufs)
		munmap(l->send_bufs, (size_t)l->o.send_slots * LOOP_SEND_MAX);
	free(l->slots);
	free(l->free_slots);
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->efd >= 0)
		close(l->efd);
	free(l);
}

struct loop_udp *loop_add_udp(struct loop *l, int fd, loop_dgram_fn fn, void *ctx)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct loop_udp *u;
	int one = 1, err;
	bool wildcard;

	if (l->n_udp >= LOOP_MAX_UDP) {
		errno = EMFILE;
		return NULL;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return NULL;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return NULL;
	}
	wildcard = ss.ss_family == AF_INET
			   ? ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY)
			   : IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	/*
	 * Only a wildcard socket needs pktinfo to learn which address a peer
	 * used; a socket bound to one address knows it without a cmsg per packet.
	 */
	if (wildcard && ss.ss_family == AF_INET) {
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)))
			return NULL;
	} else if (wildcard) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)))
			return NULL;
		/* A dual-stack socket also sees IPv4; harmless if V6ONLY. */
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	/* The single-shot buffer exists up front so a fallback allocates nothing. */
	u->buf = malloc(l->o.recv_buf_size);
	if (!u->buf) {
		err = errno;
		free(u);
		errno = err;
		return NULL;
	}
	u->loop = l;
	u->fd = fd;
	u->port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
					  : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	u->wildcard = wildcard;
	memcpy(&u->bound, &ss, sizeof(u->bound));
	u->fn = fn;
	u->ctx = ctx;
	u->idx = l->n_udp;
	l->udp[l->n_udp++] = u;
	return u;
}

int loop_udp_fd(const struct loop_udp *u)
{
	return u->fd;
}

int loop_add_timer(struct loop *l, unsigned int period_ms, loop_timer_fn fn, void *ctx)
{
	struct loop_timer *t;

	if (!period_ms || !fn)
		return -EINVAL;
	if (l->n_timers >= LOOP_MAX_TIMERS)
		return -EMFILE;
	t = &l->timers[l->n_timers++];
	t->fn = fn;
	t->ctx = ctx;
	t->period_ns = (uint64_t)period_ms * 1000000ull;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void arm_timer(struct loop *l, unsigned int i, bool first)
{
	struct loop_timer *t = &l->timers[i];
	uint64_t now = now_ns(), next;
	struct io_uring_sqe *sqe;

	next = (uint64_t)t->next.tv_sec * 1000000000ull + (uint64_t)t->next.tv_nsec +
	       t->period_ns;
	/* After a stall, skip the missed ticks rather than firing in a burst. */
	if (first || next <= now)
		next = now + t->period_ns;
	t->next.tv_sec = (long long)(next / 1000000000ull);
	t->next.tv_nsec = (long long)(next % 1000000000ull);
	sqe = get_sqe(l);
	if (!sqe)
		return;
	io_uring_prep_timeout(sqe, &t->next, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, UD(UD_TIMER, i));
	t->armed = true;
}

static void arm_recv(struct loop *l, struct loop_udp *u)
{
	struct io_uring_sqe *sqe;

	if (u->dead)
		return;
	sqe = get_sqe(l);
	if (!sqe)
		return;
	memset(&u->msg, 0, sizeof(u->msg));
	if (l->multishot) {
		/* Only the lengths matter: they size the header of each buffer. */
		u->msg.msg_namelen = NAME_LEN;
		u->msg.msg_controllen = CTRL_LEN;
		io_uring_prep_recvmsg_multishot(sqe, u->fd, &u->msg, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		u->iov.iov_base = u->buf;
		u->iov.iov_len = l->o.recv_buf_size;
		u->msg.msg_name = &u->name;
		u->msg.msg_namelen = sizeof(u->name);
		u->msg.msg_iov = &u->iov;
		u->msg.msg_iovlen = 1;
		u->msg.msg_control = u->ctrl.b;
		u->msg.msg_controllen = sizeof(u->ctrl.b);
		memset(u->ctrl.b, 0, sizeof(u->ctrl.b));
		/* MSG_TRUNC makes res the real datagram length: oversize is visible. */
		io_uring_prep_recvmsg(sqe, u->fd, &u->msg, MSG_TRUNC);
	}
	io_uring_sqe_set_data64(sqe, UD(UD_RECV, u->idx));
	u->armed = true;
}

static void arm_read(struct loop *l, int fd, void *buf, unsigned int len, enum ud_kind kind,
		     bool *armed)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, fd, buf, len, 0);
	io_uring_sqe_set_data64(sqe, UD(kind, 0));
	*armed = true;
}

/* Fill @dst (the address the peer sent to) from the pktinfo control messages. */
static bool parse_pktinfo(struct cmsghdr *first, const uint8_t *end, const struct loop_udp *u,
			  struct sockaddr_storage *dst, int *ifindex)
{
	bool found = false;

	for (struct cmsghdr *c = first; c; ) {
		if ((const uint8_t *)c + sizeof(*c) > end || c->cmsg_len < sizeof(*c) ||
		    (const uint8_t *)c + c->cmsg_len > end)
			break;
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct sockaddr_in *sin = (struct sockaddr_in *)dst;
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(sin, 0, sizeof(*sin));
			sin->sin_family = AF_INET;
			sin->sin_addr = pi.ipi_addr;
			sin->sin_port = htons(u->port);
			*ifindex = pi.ipi_ifindex;
			found = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)dst;
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(sin6, 0, sizeof(*sin6));
			sin6->sin6_family = AF_INET6;
			sin6->sin6_addr = pi.ipi6_addr;
			sin6->sin6_port = htons(u->port);
			if (IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr))
				sin6->sin6_scope_id = pi.ipi6_ifindex;
			*ifindex = (int)pi.ipi6_ifindex;
			found = true;
		}
		c = (struct cmsghdr *)((uint8_t *)c + CMSG_ALIGN(c->cmsg_len));
	}
	return found;
}

static void deliver(struct loop *l, struct loop_udp *u, const uint8_t *data, size_t len,
		    const void *name, size_t namelen, struct cmsghdr *ctrl, const uint8_t *ctrl_end)
{
	struct sockaddr_storage src, dst;
	struct loop_dgram d = {.data = data, .len = len, .udp = u};

	memset(&src, 0, sizeof(src));
	memcpy(&src, name, namelen < sizeof(src) ? namelen : sizeof(src));
	d.src = (struct sockaddr *)&src;
	if (!u->wildcard)
		d.dst = (const struct sockaddr *)&u->bound;
	else if (parse_pktinfo(ctrl, ctrl_end, u, &dst, &d.ifindex))
		d.dst = (struct sockaddr *)&dst;
	l->st.rx_packets++;
	l->st.rx_bytes += len;
	u->errors = 0;
	u->fn(l, &d, u->ctx);
}

static void recycle_buf(struct loop *l, unsigned int bid)
{
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * l->stride, l->stride, bid,
			      l->br_mask, (int)l->br_pending);
	l->br_pending++;
}

static void recv_error(struct loop *l, struct loop_udp *u, int res)
{
	if (res == -ENOBUFS) {
		/* Every buffer was in use; they are back after this batch. */
		l->st.rx_nobufs++;
		return;
	}
	if (res == -EINVAL && l->multishot) {
		pr_warn("io_uring: kernel refused multishot recvmsg (%s), using single-shot",
			strerror(EINVAL));
		l->multishot = false;
		return;
	}
	if (res == -ECANCELED)
		return;
	l->st.rx_errors++;
	if (++u->errors >= MAX_RECV_ERRORS) {
		pr_err("io_uring: giving up receiving on fd %d: %s", u->fd, strerror(-res));
		u->dead = true;
	}
}

static void on_recv(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint32_t idx = UD_IDX(cqe->user_data);
	struct loop_udp *u;

	if (idx >= l->n_udp)
		return;
	u = l->udp[idx];
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		if (u->armed && l->multishot && cqe->res >= 0)
			l->st.rx_rearms++;
		u->armed = false;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = l->bufs + (size_t)bid * l->stride;
		struct io_uring_recvmsg_out *o;

		o = cqe->res >= 0 ? io_uring_recvmsg_validate(buf, cqe->res, &u->msg) : NULL;
		if (!o) {
			if (cqe->res < 0)
				recv_error(l, u, cqe->res);
			else
				l->st.rx_errors++;
		} else if (o->flags & MSG_TRUNC) {
			l->st.rx_truncated++;
		} else {
			uint8_t *ctrl = (uint8_t *)io_uring_recvmsg_name(o) + NAME_LEN;

			deliver(l, u, io_uring_recvmsg_payload(o, &u->msg),
				io_uring_recvmsg_payload_length(o, cqe->res, &u->msg),
				io_uring_recvmsg_name(o), o->namelen,
				o->controllen ? (struct cmsghdr *)ctrl : NULL,
				ctrl + o->controllen);
		}
		recycle_buf(l, bid);
		return;
	}
	if (cqe->res < 0) {
		recv_error(l, u, cqe->res);
		return;
	}
	if (l->multishot)
		return;
	/* Single-shot: the datagram is in u->buf. */
	if ((size_t)cqe->res > l->o.recv_buf_size || (u->msg.msg_flags & MSG_TRUNC)) {
		l->st.rx_truncated++;
		return;
	}
	deliver(l, u, u->buf, (size_t)cqe->res, &u->name, u->msg.msg_namelen,
		(struct cmsghdr *)u->ctrl.b, u->ctrl.b + sizeof(u->ctrl.b));
}

static void on_send(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint32_t idx = UD_IDX(cqe->user_data);

	if (cqe->res < 0) {
		l->st.tx_errors++;
		pr_debug("io_uring: sendmsg: %s", strerror(-cqe->res));
	}
	if (idx < l->o.send_slots)
		l->free_slots[l->n_free++] = idx;
}

static void on_signal(struct loop *l, const struct io_uring_cqe *cqe)
{
	l->sig_armed = false;
	if (cqe->res != (int)sizeof(l->ssi))
		return;
	l->stop_sig = (int)l->ssi.ssi_signo;
	pr_info("caught %s, stopping", strsignal(l->stop_sig));
	atomic_store(&l->stop, 1);
}

static void on_timer(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint32_t idx = UD_IDX(cqe->user_data);
	struct loop_timer *t;

	if (idx >= l->n_timers)
		return;
	t = &l->timers[idx];
	t->armed = false;
	if (cqe->res != -ETIME && cqe->res != 0)
		return;
	t->fn(l, t->ctx);
}

static void dispatch(struct loop *l, const struct io_uring_cqe *cqe)
{
	switch (UD_KIND(cqe->user_data)) {
	case UD_RECV:
		on_recv(l, cqe);
		break;
	case UD_SEND:
		on_send(l, cqe);
		break;
	case UD_SIGNAL:
		on_signal(l, cqe);
		break;
	case UD_WAKE:
		l->wake_armed = false;
		break;
	case UD_TIMER:
		on_timer(l, cqe);
		break;
	}
}

/* Re-arm whatever finished, after the buffers of this batch went back. */
static void rearm(struct loop *l, bool first)
{
	for (unsigned int i = 0; i < l->n_udp; i++)
		if (!l->udp[i]->armed)
			arm_recv(l, l->udp[i]);
	for (unsigned int i = 0; i < l->n_timers; i++)
		if (!l->timers[i].armed)
			arm_timer(l, i, first);
	if (!l->wake_armed)
		arm_read(l, l->efd, &l->ebuf, sizeof(l->ebuf), UD_WAKE, &l->wake_armed);
	if (l->sfd >= 0 && !l->sig_armed)
		arm_read(l, l->sfd, &l->ssi, sizeof(l->ssi), UD_SIGNAL, &l->sig_armed);
}

int loop_run(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n;
	int err = 0;

	rearm(l, true);
	while (!atomic_load(&l->stop)) {
		/* One enter both submits this batch's sends and waits for more. */
		err = io_uring_submit_and_wait(&l->ring, 1);
		l->st.enters++;
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY &&
		    err != -ETIME) {
			pr_err("io_uring_enter: %s", strerror(-err));
			break;
		}
		err = 0;
		n = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe) {
			dispatch(l, cqe);
			if (++n == l->o.batch)
				break;
		}
		io_uring_cq_advance(&l->ring, n);
		if (l->br_pending) {
			io_uring_buf_ring_advance(l->br, (int)l->br_pending);
			l->br_pending = 0;
		}
		rearm(l, false);
	}
	/* Replies queued by the last batch still go out. */
	io_uring_submit(&l->ring);
	atomic_store(&l->stop, 0);
	return err;
}

void loop_stop(struct loop *l)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_store(&l->stop, 1);
	/* Wakes io_uring_enter; only the flag matters, so a failed write is fine. */
	r = write(l->efd, &one, sizeof(one));
	(void)r;
}

int loop_stop_signal(const struct loop *l)
{
	return l->stop_sig;
}

uint8_t *loop_reply_buf(struct loop *l, size_t *cap)
{
	if (cap)
		*cap = LOOP_SEND_MAX;
	if (l->cur_slot < 0 && l->n_free)
		l->cur_slot = (int)l->free_slots[--l->n_free];
	return l->cur_slot >= 0 ? l->slots[l->cur_slot].buf : l->scratch;
}

/* Control message choosing the source address of a reply. */
static size_t build_pktinfo(uint8_t *ctrl, const struct sockaddr *from)
{
	struct cmsghdr *c = (struct cmsghdr *)ctrl;

	if (!from)
		return 0;
	if (from->sa_family == AF_INET) {
		struct in_pktinfo pi = {
			.ipi_spec_dst = ((const struct sockaddr_in *)from)->sin_addr,
		};

		memset(ctrl, 0, CMSG_SPACE(sizeof(pi)));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (from->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)from;
		struct in6_pktinfo pi = {
			.ipi6_addr = sin6->sin6_addr,
			.ipi6_ifindex = sin6->sin6_scope_id,
		};

		memset(ctrl, 0, CMSG_SPACE(sizeof(pi)));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

static void fill_msg(struct msghdr *msg, struct iovec *iov, void *buf, size_t len,
		     struct sockaddr_storage *to_copy, const struct sockaddr *to, uint8_t *ctrl,
		     const struct sockaddr *from)
{
	size_t tolen = to->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);

	memcpy(to_copy, to, tolen);
	iov->iov_base = buf;
	iov->iov_len = len;
	memset(msg, 0, sizeof(*msg));
	msg->msg_name = to_copy;
	msg->msg_namelen = (socklen_t)tolen;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
	msg->msg_controllen = build_pktinfo(ctrl, from);
	msg->msg_control = msg->msg_controllen ? ctrl : NULL;
}

static int send_sync(struct loop *l, struct loop_udp *u, void *buf, size_t len,
		     const struct sockaddr *to, const struct sockaddr *from)
{
	union {
		struct cmsghdr align;
		uint8_t b[CTRL_LEN];
	} ctrl;
	struct sockaddr_storage ss;
	struct msghdr msg;
	struct iovec iov;

	fill_msg(&msg, &iov, buf, len, &ss, to, ctrl.b, from);
	l->st.tx_sync++;
	if (sendmsg(u->fd, &msg, MSG_DONTWAIT) < 0) {
		l->st.tx_errors++;
		return -errno;
	}
	return 0;
}

int loop_send_commit(struct loop *l, struct loop_udp *u, size_t len, const struct sockaddr *to,
		     const struct sockaddr *from)
{
	struct io_uring_sqe *sqe;
	struct send_slot *s;
	int idx = l->cur_slot;

	if (len > LOOP_SEND_MAX)
		return -EMSGSIZE;
	if (to->sa_family != AF_INET && to->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	if (idx < 0)
		return send_sync(l, u, l->scratch, len, to, from);
	s = &l->slots[idx];
	sqe = get_sqe(l);
	if (!sqe) {
		/* The ring is wedged; still answer, and keep the slot reserved. */
		return send_sync(l, u, s->buf, len, to, from);
	}
	l->cur_slot = -1;
	fill_msg(&s->msg, &s->iov, s->buf, len, &s->to, to, s->ctrl.b, from);
	io_uring_prep_sendmsg(sqe, u->fd, &s->msg, 0);
	io_uring_sqe_set_data64(sqe, UD(UD_SEND, idx));
	l->st.tx_queued++;
	return 0;
}

int loop_reply_commit(struct loop *l, const struct loop_dgram *d, size_t len)
{
	/* A socket bound to one address answers from it anyway: skip the cmsg. */
	return loop_send_commit(l, d->udp, len, d->src, d->udp->wildcard ? d->dst : NULL);
}

int loop_reply(struct loop *l, const struct loop_dgram *d, const void *buf, size_t len)
{
	uint8_t *out;

	if (len > LOOP_SEND_MAX)
		return -EMSGSIZE;
	out = loop_reply_buf(l, NULL);
	memcpy(out, buf, len);
	return loop_reply_commit(l, d, len);
}

void loop_get_stats(const struct loop *l, struct loop_stats *out)
{
	*out = l->st;
}

const char *loop_recv_mode(const struct loop *l)
{
	return l->multishot ? "multishot" : "single-shot";
}
