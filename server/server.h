/* SPDX-License-Identifier: MIT */
/*
 * The access server core: every datagram that reaches userspace on a
 * server socket goes through srv_input(), and a periodic srv_tick() runs
 * the timers (retransmissions, punch waits, keepalive expiry).  It never
 * touches a socket: it writes replies into buffers the caller's I/O hooks
 * hand out and names the socket to send from, so the io_uring workers
 * (main.c) and the unit tests drive the same code.
 *
 * Dispatch (the flow contract, /tmp/flow_spec.md, and bpf/access_proto.h):
 *   Binding request without SESSION  -> binding_answer (RFC 8489/5780)
 *   Binding request with SESSION     -> keepalive (the kernel answers most of them)
 *   Binding indication with SESSION  -> keepalive, never answered
 *   LOGIN / FETCH / LOGOUT requests  -> login, routing table, logout
 *   PUNCH / PRESENCE responses       -> acks of the outbox
 *   anything else                    -> the Binding rules (400, drop)
 *
 * Threads: plain Binding requests are answered without a lock; everything
 * else runs under one mutex, so --workers N shares one session table.
 */
#ifndef PINHOLE_SERVER_SERVER_H
#define PINHOLE_SERVER_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth.h"
#include "binding.h"
#include "metrics.h"
#include "outbox.h"
#include "punch.h"
#include "rfc5780.h"
#include "sessions.h"
#include "sessmap.h"
#include "store.h"

/* One server socket as the core sees it (the same index in every worker). */
struct srv_sock {
	struct sockaddr_storage addr; /* bound address (may be a wildcard) */
	bool wildcard;
};

/* How the core sends: the caller's buffers and sockets. */
struct srv_io {
	/* A buffer of at least PH_DATAGRAM_MAX bytes (*cap: its size) for the next send. */
	uint8_t *(*buf)(void *ctx, size_t *cap);
	/* Send @len bytes of that buffer from socket @sock (local address @from, may be NULL) to
	 * @to. */
	int (*send)(void *ctx, unsigned int sock, size_t len, const struct sockaddr *to,
		    const struct sockaddr *from);
	void *ctx;
};

/* A received datagram. */
struct srv_dgram {
	const uint8_t *data;
	size_t len;
	const struct sockaddr *src;
	const struct sockaddr *dst; /* local address it arrived at (NULL: unknown) */
	unsigned int sock;	    /* index into srv_opts.socks */
};

struct srv_opts {
	struct store *store; /* NULL: STUN only (no access protocol) */
	const struct srv_sock *socks;
	unsigned int n_socks;
	const struct rfc5780 *alt;  /* NULL: no RFC 5780 alternate address */
	bool punch;		    /* false: --no-punch */
	unsigned int punch_wait_ms; /* 0: answer at once */
	unsigned int keepalive_s;   /* interval; jitter and timeout derive from it */
	unsigned int login_rate;    /* LOGIN requests per source per second; 0: unlimited */
	uint32_t max_sessions;
	uint64_t nonce_lifetime_ms; /* 0: NONCE_DEFAULT_LIFETIME_MS */
	/*
	 * The kernel's session table (--xdp), NULL: none.  Its slots must be
	 * max_sessions.  kmap_kept: it outlived an earlier process (--keep),
	 * so its sessions are taken back (with their secrets from the store)
	 * instead of cleared.
	 */
	struct sessmap *kmap;
	bool kmap_kept;
};

/* The store calls the core times (pinhole_store_call_duration_seconds{op}). */
enum srv_store_op {
	SRV_STORE_USER_GET = 0, /* LOGIN: the account and its key */
	SRV_STORE_CONTACT_LIST, /* profiles, punches, presence fan-out (rows' callbacks included) */
	SRV_STORE_SESSION_PUT,	/* LOGIN: record the session */
	SRV_STORE_SESSION_TOUCH, /* NAT rebinding: the new observed address */
	SRV_STORE_SESSION_DEL,	 /* logout, timeout, replaced */
	SRV_STORE_OP_MAX,
};

/* Stable lower-case name of @op ("user_get", ...); "unknown" out of range. */
const char *srv_store_op_name(enum srv_store_op op);

/* Counters; read with srv_get_stats(). */
struct srv_stats {
	uint64_t challenges;	    /* 401 without credentials: the first step */
	uint64_t logins;	    /* successful */
	uint64_t login_refused;	    /* 401/438/400/500 after credentials */
	uint64_t login_retransmits; /* same tid, same source: answered again */
	uint64_t replays;	    /* same tid, other source or session gone */
	uint64_t rate_limited;
	uint64_t fetches;
	uint64_t keepalives;
	uint64_t keepalive_bad_token; /* no answer, nothing refreshed */
	uint64_t keepalive_unknown;   /* 401 */
	uint64_t logouts;
	uint64_t timeouts;
	uint64_t moved;
	uint64_t punches; /* PUNCH messages created */
	uint64_t punch_acks;
	uint64_t punch_wait_expired; /* LOGIN answered at the deadline */
	uint64_t presence;	     /* PRESENCE messages created */
	uint64_t presence_acks;
	uint64_t outbox_expired;    /* never acked after every retransmission */
	uint64_t dropped_malformed; /* access messages failing the gate */
	uint64_t dropped_integrity; /* bad integrity or token */
	uint64_t dropped_unmatched; /* responses we did not ask for */
	uint64_t dropped_source;    /* authenticated, but not from the session's observed address */
	uint64_t errors;	    /* internal failures (store, RNG) */
	uint64_t sessions_full;	    /* logins refused: session table full (500 "Server Full") */
	uint64_t kernel_moves;	    /* NAT rebindings the kernel followed and reported */
	uint64_t kernel_errors;	    /* kernel session table writes that failed */
	uint64_t restored;	    /* sessions taken back from a kept kernel table */
	uint64_t sweep_passes;	    /* full passes over the session table */
	uint64_t sweep_last_ns;	    /* time the last full pass spent (its chunks summed) */
	uint64_t sweep_last_slots;  /* slots it covered */
	uint64_t login_refused_by[AUTH_VERDICT_MAX]; /* login_refused, by verdict */
	struct metrics_hist store_lat[SRV_STORE_OP_MAX]; /* duration of each store call */
};

struct srv {
	struct srv_opts o;
	pthread_mutex_t lock;
	bool access; /* a store is open: the access protocol runs */
	struct auth auth;
	struct ratelimit rl;
	struct replay replay;
	struct sessions sessions;
	struct outbox outbox;
	struct punch_waits waits;
	uint8_t pair_secret[32]; /* pair keys: HMAC(this, session ids) */
	uint32_t ka_interval_ms, ka_jitter_ms, ka_timeout_ms;
	/* The sweep: a pass every sweep_period_ms, a chunk of slots per tick. */
	uint64_t next_sweep_ms;
	uint32_t sweep_period_ms;
	uint32_t sweep_next;	    /* next slot; 0: no pass under way */
	uint64_t sweep_busy_ns;	    /* this pass so far */
	/* scratch for profiles (grows; only while a FETCH or login is handled) */
	struct access_contact *contacts;
	size_t n_contacts, cap_contacts;
	char (*names)[PH_NAME_MAX + 1];
	size_t n_names, cap_names;
	struct srv_stats st;
};

/*
 * Set up @s with @o (copied; the store and the socket array must outlive
 * @s).  Clears the store's sessions of an earlier run.  0, -EINVAL,
 * -ENOMEM, -EIO.
 */
int srv_init(struct srv *s, const struct srv_opts *o);

/* Free what srv_init allocated (the store stays open).  Safe after a failed init. */
void srv_fini(struct srv *s);

/*
 * Handle one datagram (see the dispatch table above).  Returns the Binding
 * outcome when it went the plain Binding way, BINDING_OUTCOME_MAX when the
 * access protocol handled it.  Never fails: bad input is answered or
 * dropped and counted.
 */
int srv_input(struct srv *s, const struct srv_io *io, const struct srv_dgram *d, uint64_t now_ms);

/* Run the timers due at @now_ms.  Call every few tens of milliseconds. */
void srv_tick(struct srv *s, const struct srv_io *io, uint64_t now_ms);

/*
 * The kernel followed session @mv->id to a new address (its events ring):
 * update routing, the store, and tell the session's contacts.  Takes the
 * lock.  Unknown or already-current sessions are ignored.
 */
void srv_session_moved(struct srv *s, const struct srv_io *io, const struct sessmap_move *mv,
		       uint64_t now_ms);

/* Snapshot of the counters. */
void srv_get_stats(struct srv *s, struct srv_stats *out);

/*
 * Record the store call of kind @op that started at @t0_ns
 * (metrics_now_ns()).  Called with the lock held, right after the call.
 */
void srv_store_timed(struct srv *s, enum srv_store_op op, uint64_t t0_ns);

/* Live sessions. */
uint32_t srv_sessions(struct srv *s);

/* CLOCK_MONOTONIC in ms. */
uint64_t srv_now_ms(void);

/* --- presence.c: routing entries and deltas (called with the lock held) --- */

/* Fill @c: what @viewer's routing table says about user @name (session @b, may be NULL). */
void presence_entry(struct srv *s, const struct session *viewer, const char *name,
		    const struct session *b, struct access_contact *c);

/* @viewer's profile (users it may contact, name order) into s->contacts.  0 or -errno. */
int presence_profile(struct srv *s, const struct session *viewer);

/*
 * Tell every online, announced contact of @a (either direction) about @a
 * in state @state (OFFLINE, MOVED, ONLINE); for ONLINE, not to those @a's
 * login punched (they have the entry).  Queued in the outbox: the caller
 * flushes it.
 */
void presence_fanout(struct srv *s, const struct session *a, enum ph_contact_state state,
		     uint64_t now_ms);

/* Queue a PUNCH or PRESENCE to @target about @subject's entry @c (flags: PUNCH_FLAGS). */
struct outbox_msg *presence_queue(struct srv *s, uint16_t method, const struct session *target,
				  const struct access_contact *c, uint32_t punch_flags,
				  uint64_t now_ms);

#endif
