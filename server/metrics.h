/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics for pinhole-server (--metrics IP:PORT): text
 * exposition format 0.0.4 over HTTP, served by libmicrohttpd on its own
 * thread at /metrics.
 *
 * Where the numbers come from, and who may touch them:
 *   - each io_uring worker owns its loop counters and Binding outcomes; a
 *     loop timer copies them into the worker's slot here every
 *     METRICS_PUBLISH_MS (metrics_publish), under this module's mutex;
 *   - the access core's counters (struct srv_stats) live under the core's
 *     own mutex: a scrape copies them with srv_get_stats(), which holds that
 *     lock for one struct copy;
 *   - the kernel's per-CPU counters are read from the pinned stats map.
 * A scrape never blocks a loop for longer than one of those copies.
 *
 * The store-latency histogram type lives here too, as header-only inlines,
 * so the core can time its store calls without linking the HTTP server.
 */
#ifndef PINHOLE_SERVER_METRICS_H
#define PINHOLE_SERVER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "binding.h"
#include "loop.h"
#include "pinhole_kern_user.h"

/* How often a worker publishes its counters: a scrape is at most this stale. */
#define METRICS_PUBLISH_MS 250

/*
 * Upper bounds of the latency buckets, in microseconds: 10 us (a cached
 * SQLite read) to 250 ms (a store stuck on a busy lock).  Prometheus'
 * "le" label of bucket i is this bound in seconds.
 */
#define METRICS_HIST_BOUNDS_US                                                                     \
	{                                                                                          \
		10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000   \
	}
#define METRICS_HIST_BUCKETS 14

/* A latency histogram.  Not thread-safe: the owner's lock covers it. */
struct metrics_hist {
	uint64_t bucket[METRICS_HIST_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
	uint64_t count;
	uint64_t sum_ns;
};

/* CLOCK_MONOTONIC in nanoseconds (vDSO: tens of ns, cheap enough around a store call). */
static inline uint64_t metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Record one observation of @ns nanoseconds in @h. */
static inline void metrics_hist_add(struct metrics_hist *h, uint64_t ns)
{
	static const uint32_t bounds_us[METRICS_HIST_BUCKETS] = METRICS_HIST_BOUNDS_US;
	unsigned int i = 0;

	while (i < METRICS_HIST_BUCKETS && ns > (uint64_t)bounds_us[i] * 1000u)
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

/* Add every count of @src into @dst. */
static inline void metrics_hist_merge(struct metrics_hist *dst, const struct metrics_hist *src)
{
	for (unsigned int i = 0; i <= METRICS_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum_ns += src->sum_ns;
}

struct srv;
struct srv_stats;
struct xdp_path;

/* What one worker publishes. */
struct metrics_worker {
	uint64_t outcomes[BINDING_OUTCOME_MAX]; /* userspace Binding path, by outcome */
	struct loop_stats loop;
};

/*
 * Everything one exposition shows.  Pointers may be NULL: that part of
 * the server is off and its families are left out (sessions and logins
 * still show, as zeros, when the access protocol is off).
 */
struct metrics_snapshot {
	const char *version; /* pinhole's */
	double start_time_s; /* process start, Unix seconds */
	unsigned int workers;
	const struct srv_stats *srv;	   /* NULL: no access protocol */
	uint32_t sessions;		   /* online now */
	const struct ph_stat *xdp;	   /* [PH_REASON_MAX]; NULL: no kernel path */
	const struct metrics_worker *user; /* summed over the workers */
};

/*
 * Write the exposition of @snap (HELP/TYPE lines, families in a fixed
 * order) to a malloc'd buffer: *@out (free() it), *@len bytes, no NUL
 * counted.  Returns 0 or -ENOMEM.
 */
int metrics_render(const struct metrics_snapshot *snap, char **out, size_t *len);

struct metrics;

/*
 * Bind and listen on TCP @addr (IPv4 or IPv6; [::] is IPv6 only) for up to
 * @workers publishers.  Nothing is served until metrics_start.  Returns
 * NULL with errno set: what socket/bind/listen failed with (EADDRINUSE,
 * EADDRNOTAVAIL, EACCES, ...), EINVAL for no workers, ENOMEM.
 */
struct metrics *metrics_new(const struct sockaddr_storage *addr, unsigned int workers);

/*
 * Start serving GET /metrics on the address metrics_new bound, from a
 * libmicrohttpd thread.  @core (may be NULL) and @xdp (NULL: no kernel
 * path) are read at scrape time and must stay valid until metrics_free.
 * Start it after blocking the signals other threads must not take.
 * Returns 0, or -EIO if libmicrohttpd refused to start (it logs why).
 */
int metrics_start(struct metrics *m, struct srv *core, struct xdp_path *xdp, const char *version);

/*
 * Worker @worker's counters as of now (@w copied).  Called from that
 * worker's loop; takes the module's mutex for one copy.  Out-of-range
 * workers are ignored.
 */
void metrics_publish(struct metrics *m, unsigned int worker, const struct metrics_worker *w);

/*
 * Collect a snapshot the way a scrape does and render it (for tests and
 * for a final dump).  Returns what metrics_render returns.
 */
int metrics_scrape(struct metrics *m, char **out, size_t *len);

/* Stop the HTTP thread (waits for a scrape in progress), close the socket, free.  NULL ok. */
void metrics_free(struct metrics *m);

/* The address actually bound (the port is filled in when @addr asked for port 0). */
int metrics_local_addr(const struct metrics *m, struct sockaddr_storage *out);

#endif
