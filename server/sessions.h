/* SPDX-License-Identifier: MIT */
/*
 * The access server's session table: one live session per logged-in user,
 * indexed by session id (keepalives, FETCH, acks) and by user name
 * (presence, profiles).  Fixed capacity chosen at start-up, so a login
 * flood cannot make the server allocate.  An id is its slot (low
 * PH_SESSION_SLOT_BITS bits, the index into the kernel's "sessions" array)
 * under 8 random bits: non-zero and unique among live sessions.
 */
#ifndef PINHOLE_SERVER_SESSIONS_H
#define PINHOLE_SERVER_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "access_proto.h"
#include "pinhole_kern_user.h"
#include "stun_proto.h"

/* The LOGIN answer kept for a retransmitted request: header plus six attributes. */
#define SESSION_ANSWER_MAX 192

/*
 * A session's addresses: IPv4 or IPv6 in the room of the larger, 28 bytes
 * rather than sockaddr_storage's 128 (four of them per session, ten
 * million sessions).  AF_UNSPEC in sa.sa_family: none.
 */
union session_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct session {
	uint32_t id;		      /* 0: free slot */
	bool announced;		      /* LOGIN answered: contacts may be told about it */
	uint8_t token[PH_TOKEN_LEN];  /* travels in clear (keepalives) */
	uint8_t key[PH_PAIR_KEY_LEN]; /* session key: never on the wire */
	char user[PH_NAME_MAX + 1];
	union session_addr observed;	  /* source of its authenticated traffic */
	union session_addr claimed;	  /* what it says its reflexive address is */
	union session_addr local;	  /* first local address it reported */
	uint8_t mapping;		  /* enum ph_nat_mapping */
	uint8_t filtering;		  /* enum ph_nat_filtering */
	unsigned int sock;		  /* server socket its traffic arrives on */
	union session_addr srv_addr;	  /* server address it talks to */
	uint64_t since_ms;		  /* login (server clock) */
	uint64_t last_ms;		  /* last authenticated packet */
	uint64_t announced_ms;		  /* when announced (0: not yet) */
	uint8_t login_tid[STUN_TID_LEN];
	uint8_t answer[SESSION_ANSWER_MAX]; /* the LOGIN success, for retransmissions */
	uint16_t answer_len;
	uint32_t next_name;	     /* private: name hash chain (index + 1) */
};

struct sessions {
	struct session *v;
	uint32_t cap, n;
	uint64_t *live;	   /* a bit per slot: sweeps skip the empty ones without touching them */
	uint32_t *ids;	   /* v[i].id, packed: a sweep compares ids without loading sessions */
	uint32_t *by_name; /* bucket heads (index + 1; 0 = empty) */
	uint32_t mask;
	uint32_t free_hint;
};

/* Room for @cap sessions.  0, -EINVAL (cap 0 or above PH_SESSIONS_MAX), -ENOMEM. */
int sessions_init(struct sessions *t, uint32_t cap);

/* Free the table.  Safe on a zeroed or already finished table. */
void sessions_fini(struct sessions *t);

/*
 * A new session for @user with a fresh random id and token; everything
 * else zeroed.  The caller fills the rest.  NULL with errno ENOSPC (table
 * full), EINVAL (bad name) or EIO (no randomness).  Does not look for an
 * existing session of @user: the caller replaces it first.
 */
struct session *sessions_add(struct sessions *t, const char *user);

/*
 * Put back session @id of @user that an earlier process created (restart),
 * at the slot its id names, with a fresh token the caller overwrites.
 * NULL with errno EINVAL (id 0, slot beyond the table, bad name), EEXIST
 * (slot or user taken) or EIO.
 */
struct session *sessions_restore(struct sessions *t, uint32_t id, const char *user);

/* The live session with @id, or NULL. */
struct session *sessions_find(const struct sessions *t, uint32_t id);

/* The live session of @user, or NULL. */
struct session *sessions_find_user(const struct sessions *t, const char *user);

/* Remove @s (a pointer from this table); its slot is wiped. */
void sessions_del(struct sessions *t, struct session *s);

/* Iterate: start with *i = 0; returns the next live session or NULL at the end. */
struct session *sessions_next(const struct sessions *t, uint32_t *i);

/*
 * The first live slot at or after @from, or t->cap if none.  Reads one bit
 * per slot, so a sparse table costs its size in bits, not in sessions.
 */
uint32_t sessions_next_live(const struct sessions *t, uint32_t from);

/* Copy @sa (AF_INET, AF_INET6, or anything else as AF_UNSPEC) into @out. */
void session_addr_set(union session_addr *out, const struct sockaddr *sa);

/* @a as a sockaddr_storage (what the store and the codec take). */
void session_addr_get(const union session_addr *a, struct sockaddr_storage *out);

#endif
