/* SPDX-License-Identifier: MIT */
/*
 * The endpoint's contact table: what the server told us about each
 * contact (routing entry, pair key), the state of our direct session with
 * it, and the request ids it sent us recently (so a retransmission is
 * answered again but acted on once, and a replay from elsewhere is
 * dropped).  Entries are heap-allocated, so a struct peer pointer stays
 * valid until peers_remove() or peers_fini().  No I/O, no logging.
 */
#ifndef PINHOLE_ENDPOINT_PEERS_H
#define PINHOLE_ENDPOINT_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access.h"

enum peer_session {
	PEER_IDLE = 0,	    /* no direct session */
	PEER_CONNECTING,    /* ONLINE sent, no verified answer yet */
	PEER_ESTABLISHED,   /* a pair-key-verified exchange happened */
	PEER_NO_DIRECT,	    /* the routing entry says direct cannot work */
};

#define PEERS_SEEN_MAX 16

struct peer_seen {
	uint8_t tid[STUN_TID_LEN];
	struct sockaddr_storage src;
};

struct peer {
	struct access_contact c; /* the latest entry from FETCH/PUNCH/PRESENCE */
	bool has_key;		 /* c.pair_key is usable */
	bool pushed;		 /* learnt from PUNCH/PRESENCE, not (only) our profile */
	uint32_t fetch_gen;	 /* last FETCH round that listed it */
	enum peer_session session;
	struct sockaddr_storage addr; /* where the session's traffic goes */
	uint64_t next_probe_ms;	      /* direct keepalive */
	struct peer_seen seen[PEERS_SEEN_MAX];
	unsigned int seen_next;
};

struct peers {
	struct peer **v;
	size_t n, cap;
};

/* Empty table. */
void peers_init(struct peers *t);
/* Free everything; the table is empty afterwards. */
void peers_fini(struct peers *t);

/* The entry named @name, or NULL. */
struct peer *peers_find(const struct peers *t, const char *name);

/* The entry named @name, created (zeroed, IDLE) when missing.  NULL, errno ENOMEM. */
struct peer *peers_get(struct peers *t, const char *name);

/* Remove and free @p. */
void peers_remove(struct peers *t, struct peer *p);

/*
 * Take a routing entry @c for @p.  A different pair key (or none) ends
 * the direct session: the old key proves nothing about the new session.
 * Returns true when the key changed.
 */
bool peers_apply(struct peer *p, const struct access_contact *c);

/*
 * Has @p sent us request @tid before?  0: new (now remembered); 1: yes,
 * from @src (a retransmission: answer again, act once); -1: yes, from
 * somewhere else (a replay: drop).
 */
int peers_seen(struct peer *p, const uint8_t *tid, const struct sockaddr *src);

/* Same bookkeeping for the server's requests, in a caller-held ring. */
int peers_seen_ring(struct peer_seen *ring, unsigned int *next, const uint8_t *tid,
		    const struct sockaddr *src);

#endif
