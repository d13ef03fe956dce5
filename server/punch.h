/* SPDX-License-Identifier: MIT */
/*
 * Logins waiting for their contacts' PUNCH acks (DESIGN step 5): the LOGIN
 * answer goes out when every PUNCH is acked or at the deadline
 * (--punch-wait), whichever comes first.  The acks themselves are matched
 * in the outbox (outbox.h), whose messages name the waiting session.
 */
#ifndef PINHOLE_SERVER_PUNCH_H
#define PINHOLE_SERVER_PUNCH_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

struct punch_wait {
	uint32_t session; /* the session whose LOGIN answer waits */
	uint64_t deadline_ms;
	unsigned int waiting;		      /* acks outstanding */
	unsigned int sent;		      /* PUNCHes sent for this login */
	uint8_t lt_key[STORE_KEY_SHA256_LEN]; /* protects the LOGIN answer */
};

struct punch_waits {
	struct punch_wait *v; /* dense: v[0..n) */
	uint32_t cap, n;
};

/* Room for @cap logins waiting at once.  0, -EINVAL, -ENOMEM. */
int punch_waits_init(struct punch_waits *p, uint32_t cap);
void punch_waits_fini(struct punch_waits *p);

/* A new wait for @session until @deadline_ms.  NULL when full (answer at once then). */
struct punch_wait *punch_wait_add(struct punch_waits *p, uint32_t session, uint64_t deadline_ms);

/* The wait of @session, or NULL. */
struct punch_wait *punch_wait_find(struct punch_waits *p, uint32_t session);

/* Remove @w; its key is wiped.  Pointers to other waits may move. */
void punch_wait_del(struct punch_waits *p, struct punch_wait *w);

/*
 * One ack (or one PUNCH given up) for @session's wait.  True when that was
 * the last outstanding one: the caller answers the LOGIN now.
 */
bool punch_wait_ack(struct punch_waits *p, uint32_t session);

/* The first wait whose deadline is at or before @now_ms, or NULL. */
struct punch_wait *punch_wait_due(struct punch_waits *p, uint64_t now_ms);

#endif
