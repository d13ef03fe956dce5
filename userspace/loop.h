/* SPDX-License-Identifier: MIT */
/*
 * The event loop: UDP sockets, a periodic timer, stop on SIGINT/SIGTERM.
 *
 * Small and backend-neutral on purpose (redis ae.c): callers see datagrams,
 * replies and timers, never SQEs.  The backend is io_uring: multishot
 * recvmsg over one provided-buffer ring (re-armed single-shot recvmsg where
 * the kernel refuses multishot), replies queued as sendmsg SQEs that go to
 * the kernel together with the next wait, one io_uring_enter per batch of
 * completions.  Everything is allocated by loop_new/loop_add_*; nothing is
 * allocated per packet.  A loop belongs to the thread that runs it; only
 * loop_stop() may be called from elsewhere (another thread, a signal handler).
 */
#ifndef PINHOLE_LOOP_H
#define PINHOLE_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct loop_udp;

/* Bytes a reply buffer from loop_reply_buf() always holds. */
#define LOOP_SEND_MAX	2048
#define LOOP_MAX_UDP	64
#define LOOP_MAX_TIMERS	4

struct loop_opts {
	unsigned int recv_bufs;		/* provided buffers, power of two (default 1024) */
	unsigned int recv_buf_size;	/* payload bytes per buffer (default 2048) */
	unsigned int send_slots;	/* in-flight replies (default 1024) */
	unsigned int batch;		/* completions handled per enter (default 256) */
	bool single_shot;		/* skip multishot recvmsg (tests the fallback) */
	bool signals;			/* stop on SIGINT/SIGTERM via a signalfd */
};

/* One received datagram, valid only during the handler call. */
struct loop_dgram {
	const uint8_t *data;
	size_t len;
	const struct sockaddr *src;	/* the peer */
	/*
	 * The local address:port the peer sent to (from IP_PKTINFO /
	 * IPV6_PKTINFO), so a wildcard-bound socket answers from the address
	 * the client used.  On a socket bound to one address, that address.
	 * NULL if a wildcard socket got no pktinfo.
	 */
	const struct sockaddr *dst;
	int ifindex;			/* arrival interface (wildcard sockets), else 0 */
	struct loop_udp *udp;		/* the socket it arrived on */
};

typedef void (*loop_dgram_fn)(struct loop *l, const struct loop_dgram *d, void *ctx);
typedef void (*loop_timer_fn)(struct loop *l, void *ctx);

struct loop_stats {
	uint64_t rx_packets;		/* datagrams handed to handlers */
	uint64_t rx_bytes;
	uint64_t rx_truncated;		/* larger than recv_buf_size: dropped */
	uint64_t rx_errors;		/* recv completions with an error other than ENOBUFS */
	uint64_t rx_nobufs;		/* buffer ring ran dry: receive re-armed */
	uint64_t rx_rearms;		/* multishot receives re-armed (F_MORE clear) */
	uint64_t tx_queued;		/* replies queued as SQEs */
	uint64_t tx_sync;		/* replies sent by a direct sendmsg: no free slot */
	uint64_t tx_errors;		/* replies the kernel refused */
	uint64_t enters;		/* io_uring_enter calls from loop_run */
};

/*
 * Create a loop.  @opts may be NULL for the defaults.  Sets up the ring
 * (SINGLE_ISSUER|DEFER_TASKRUN, retried without on -EINVAL), the buffer
 * ring, the send slots and the stop eventfd.  With opts->signals, SIGINT and
 * SIGTERM are blocked in the calling thread and read through a signalfd;
 * block them before starting other threads too.  Returns NULL with errno set.
 */
struct loop *loop_new(const struct loop_opts *opts);

/*
 * Free everything loop_new and loop_add_* allocated.  Sockets passed to
 * loop_add_udp stay open (the caller owns them).  Blocked signals stay
 * blocked.  Accepts NULL.
 */
void loop_free(struct loop *l);

/*
 * Receive datagrams on bound UDP socket @fd and call @fn(l, d, ctx) for each.
 * Turns on IP_PKTINFO / IPV6_RECVPKTINFO on @fd if it is bound to a
 * wildcard address.  Receiving starts with loop_run.  Returns the socket
 * handle, or NULL with errno set (EMFILE past LOOP_MAX_UDP sockets,
 * EAFNOSUPPORT for a non-IP socket, or the setsockopt/getsockname error).
 */
struct loop_udp *loop_add_udp(struct loop *l, int fd, loop_dgram_fn fn, void *ctx);

/* The fd given to loop_add_udp. */
int loop_udp_fd(const struct loop_udp *u);

/*
 * Call @fn(l, ctx) every @period_ms milliseconds (absolute CLOCK_MONOTONIC
 * deadlines, so the period does not drift) while loop_run runs.  Returns 0,
 * -EINVAL for a zero period, -EMFILE past LOOP_MAX_TIMERS.
 */
int loop_add_timer(struct loop *l, unsigned int period_ms, loop_timer_fn fn, void *ctx);

/*
 * Run until loop_stop() or a stop signal.  Returns 0 when stopped, or a
 * negative errno if the ring failed.  May be called again after a stop.
 */
int loop_run(struct loop *l);

/*
 * Make loop_run return after the completions in hand are handled.  Safe from
 * any thread and from signal handlers (a flag and an eventfd write).
 */
void loop_stop(struct loop *l);

/* The signal that stopped the loop (SIGINT/SIGTERM), or 0. */
int loop_stop_signal(const struct loop *l);

/*
 * Reply buffer for the next loop_reply_commit/loop_send_commit: a free send
 * slot, or when all slots are in flight a scratch buffer that commit sends
 * with a direct sendmsg.  Holds LOOP_SEND_MAX bytes (stored in *cap if
 * non-NULL).  Never NULL.  Only from the loop's thread.
 */
uint8_t *loop_reply_buf(struct loop *l, size_t *cap);

/*
 * Send the @len bytes just written to loop_reply_buf() back to @d's source,
 * from the address @d arrived at.  Queued, not sent: it goes out with the
 * next submission.  Returns 0, -EMSGSIZE if @len > LOOP_SEND_MAX, or the
 * direct sendmsg's error on the fallback path.
 */
int loop_reply_commit(struct loop *l, const struct loop_dgram *d, size_t len);

/*
 * Like loop_reply_commit but to any @to on socket @u, from local address
 * @from (NULL: let the kernel choose).  For sends not triggered by a datagram.
 */
int loop_send_commit(struct loop *l, struct loop_udp *u, size_t len, const struct sockaddr *to,
		     const struct sockaddr *from);

/* Copying convenience: loop_reply_buf + memcpy + loop_reply_commit. */
int loop_reply(struct loop *l, const struct loop_dgram *d, const void *buf, size_t len);

/* Counters since loop_new. */
void loop_get_stats(const struct loop *l, struct loop_stats *out);

/* "multishot" or "single-shot": how this loop receives. */
const char *loop_recv_mode(const struct loop *l);

#endif
