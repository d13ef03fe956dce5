/* SPDX-License-Identifier: MIT */
/*
 * Requests the server sends endpoints (PUNCH, PRESENCE), kept until the
 * endpoint acks them and retransmitted meanwhile (RFC 8489 style: RTO
 * doubling from OUTBOX_RTO_MS, OUTBOX_TRIES sends).  The messages are
 * built once; the destination is looked up at each send, so a target that
 * moved (NAT rebinding) gets the retransmission at its new address.
 * Fixed capacity: when full the oldest message is given up (counted), so
 * a storm of presence changes cannot grow memory.  One delta per (target,
 * subject): a newer one about the same contact replaces an older one still
 * in flight, so a late OFFLINE can never overtake the ONLINE after it.
 */
#ifndef PINHOLE_SERVER_OUTBOX_H
#define PINHOLE_SERVER_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access_proto.h"
#include "stun_proto.h"

#define OUTBOX_MSG_MAX 320 /* a PUNCH with the longest name is about 250 bytes */
#define OUTBOX_RTO_MS 100
#define OUTBOX_TRIES 6

struct outbox_msg {
	uint8_t tid[STUN_TID_LEN];
	uint16_t method;	       /* PH_METHOD_PUNCH or PH_METHOD_PRESENCE */
	uint32_t target;	       /* session id it goes to */
	uint32_t waiter;	       /* session id of a LOGIN waiting for this ack, or 0 */
	char subject[PH_NAME_MAX + 1]; /* the user it is about */
	uint8_t buf[OUTBOX_MSG_MAX];
	uint16_t len;
	uint8_t tries; /* sends so far */
	uint32_t rto_ms;
	uint64_t next_ms; /* next retransmission */
	uint64_t seq;	  /* private: age, for eviction */
};

struct outbox {
	struct outbox_msg *v; /* dense: v[0..n) */
	uint32_t cap, n;
	uint64_t seq;
	uint64_t evicted;    /* given up because the outbox was full */
	uint64_t superseded; /* replaced by a newer delta about the same subject */
};

/* Room for @cap messages in flight.  0, -EINVAL, -ENOMEM. */
int outbox_init(struct outbox *o, uint32_t cap);
void outbox_fini(struct outbox *o);

/*
 * A slot for a new message to session @target about @subject, with a fresh
 * random transaction id (written to its tid), first send due at @now_ms.
 * A message in flight to @target about @subject is dropped first; when the
 * outbox is full the oldest message is.  The caller builds into buf/len.
 * NULL with errno EIO (no randomness).
 */
struct outbox_msg *outbox_add(struct outbox *o, uint16_t method, uint32_t target,
			      const char *subject, uint64_t now_ms);

/* The message with transaction id @tid, or NULL. */
struct outbox_msg *outbox_find(struct outbox *o, const uint8_t tid[STUN_TID_LEN]);

/* Remove @m (from this outbox).  Pointers to other messages may move. */
void outbox_del(struct outbox *o, struct outbox_msg *m);

/* Drop every message to session @target (it ended).  Count removed. */
unsigned int outbox_drop_target(struct outbox *o, uint32_t target);

/* Earliest next_ms of any message, or UINT64_MAX. */
uint64_t outbox_next_ms(const struct outbox *o);

#endif
