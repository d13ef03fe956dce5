/* SPDX-License-Identifier: MIT */
/*
 * Many endpoints logging in over the real access protocol, from one
 * process: STUN Binding, LOGIN (401 challenge), LOGIN with long-term
 * credentials (MESSAGE-INTEGRITY-SHA256), then FETCH of every page of the
 * profile and routing table, as endpoint/endpoint.c does it.
 *
 * Endpoint j sends from address src_base + j % src_addrs, port port_base +
 * j / src_addrs: consecutive endpoints differ in address, so a per-source
 * login rate limit sees each address rarely.  One UDP socket per port is
 * bound to the wildcard address; the caller's namespace must treat every
 * source address as local (`ip route add local NET dev lo`), and IP_PKTINFO
 * picks the source of each send and names the endpoint of each answer.
 * Transaction ids carry the in-flight slot, so an answer finds its login in
 * O(1); at most `window` logins run at once.
 */
#ifndef PINHOLE_BENCH_LOGINS_H
#define PINHOLE_BENCH_LOGINS_H

#include <signal.h>
#include <stdint.h>

#include "bench/bench_kern_user.h"

struct logins_result {
	uint64_t ok;	       /* logged in and every page fetched */
	uint64_t failed;       /* gave up (refused, or no answer after every try) */
	uint64_t not_started;  /* stopped or past the deadline before their turn */
	uint64_t refused;      /* of failed: an error answer that was not 401/438/429 */
	uint64_t rate_limited; /* 429 answers (retried after a second) */
	uint64_t stale_nonce;  /* 438 answers (retried with the new nonce) */
	uint64_t retransmits;  /* requests sent again after a timeout */
	uint64_t pages;	       /* FETCH pages received */
	uint64_t contacts;     /* CONTACT entries received, over all endpoints */
	uint32_t contacts_min; /* fewest contacts one endpoint received */
	uint32_t contacts_max;
	uint64_t sent, received; /* datagrams */
	uint64_t dropped;	 /* answers that matched no login in flight (late, stray) */
	uint64_t elapsed_ns;	 /* first send to last completion */
	uint64_t lat_sum_ns;	 /* sum over ok logins of first send .. last page */
	uint64_t lat_max_ns;
};

struct logins_opts {
	uint32_t dst_addr; /* server, network order */
	uint16_t dst_port; /* host order */
	uint32_t src_base; /* first source address, host order */
	uint32_t src_addrs;
	uint16_t port_base; /* host order */
	uint32_t first;	    /* log in endpoints first .. first + count - 1 */
	uint32_t count;
	const char *prefix;   /* endpoint j's user name is prefix + decimal j */
	const char *password; /* every endpoint's password */
	unsigned int window;  /* logins in flight */
	unsigned int rto_ms;  /* first retransmission timeout (doubles) */
	unsigned int tries;   /* sends per request before the endpoint is given up */
	uint64_t deadline_ns; /* rig_now_ns() after which no new login starts; 0: none */
	volatile sig_atomic_t *stop;
	/*
	 * Called for each endpoint that logged in, with its table entry filled
	 * but for the session id (@id, host order), before logins_run() stores
	 * the id: a reader that sees a non-zero id sees a complete entry.  A
	 * non-zero return fails that endpoint.  May be NULL.
	 */
	int (*finish)(struct bench_ka_entry *e, uint32_t j, uint32_t id, void *ctx);
	/* Called about once a second with the counts so far (may be NULL). */
	void (*progress)(const struct logins_result *r, void *ctx);
	void *ctx;
};

/*
 * Log in endpoints o->first .. o->first + o->count - 1.  For each that
 * succeeds, table[j] gets addr, port and token, then what o->finish adds,
 * then the session id (network order), stored last; others keep id 0.  @table has at least
 * first + count entries.  Returns 0 with @res filled (even if some
 * endpoints failed), or a negative errno when the sockets cannot be set up
 * (-EADDRNOTAVAIL: the source range is not local here).
 */
int logins_run(const struct logins_opts *o, struct bench_ka_entry *table,
	       struct logins_result *res);

#endif
