/* SPDX-License-Identifier: MIT */
/*
 * The endpoint's outstanding requests: each remembers its transaction id,
 * destination and bytes so it can be retransmitted unchanged (RFC 8489
 * §6.2.1: same id, RTO doubling) and so that a response is accepted only
 * when it answers something we actually asked, of whom we asked it.
 * Pure bookkeeping: nothing here sends, logs or reads a clock.
 */
#ifndef PINHOLE_ENDPOINT_TXN_H
#define PINHOLE_ENDPOINT_TXN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_proto.h"
#include "stun.h"

enum txn_kind {
	TXN_LOGIN,
	TXN_FETCH,
	TXN_KEEPALIVE,
	TXN_LOGOUT,
	TXN_ONLINE,
	TXN_MESSAGE,
};

/* Requests are small: the largest is a LOGIN with a few local addresses. */
#define TXN_BUF_MAX PH_DATAGRAM_MAX

struct txn {
	uint8_t tid[STUN_TID_LEN];
	enum txn_kind kind;
	char peer[PH_NAME_MAX + 1]; /* ONLINE, MESSAGE: whom it is for */
	struct sockaddr_storage dst;
	uint8_t buf[TXN_BUF_MAX];
	size_t len;
	uint64_t next_ms;	/* retransmit (or expire) at */
	unsigned int rto_ms;
	unsigned int tries;	/* sends so far */
	unsigned int max_tries; /* after the last, wait one more RTO, then expire */
	uint32_t aux;		/* FETCH: page index; MESSAGE: message id */
};

struct txns {
	struct txn **v;
	size_t n, cap;
};

/* Empty table. */
void txns_init(struct txns *t);
/* Free every entry and the table; safe on an initialised empty table. */
void txns_fini(struct txns *t);

/*
 * A new zeroed entry of @kind with a fresh random transaction id, owned by
 * the table.  NULL with errno ENOMEM (or EIO: no randomness).
 */
struct txn *txns_add(struct txns *t, enum txn_kind kind);

/* The entry with transaction id @tid, or NULL. */
struct txn *txns_find(const struct txns *t, const uint8_t *tid);

/* First entry of @kind (optionally also for @peer when non-NULL), or NULL. */
struct txn *txns_find_kind(const struct txns *t, enum txn_kind kind, const char *peer);

/* Remove and free @x (must be in the table). */
void txns_remove(struct txns *t, struct txn *x);

/* Earliest next_ms of all entries, UINT64_MAX when empty. */
uint64_t txns_next_ms(const struct txns *t);

#endif
