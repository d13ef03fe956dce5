// SPDX-License-Identifier: MIT
/*
 * Session table: a slot array, found by id in one step (the id's low bits
 * are the slot, as in the kernel's "sessions" array) and by name through a
 * chained hash whose links are slot numbers, so adding and removing never
 * allocates.  Chains hold one live session per user.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "access.h"
#include "sessions.h"

#define SESSIONS_CAP_MAX PH_SESSIONS_MAX

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

int sessions_init(struct sessions *t, uint32_t cap)
{
	uint32_t buckets = 1;

	memset(t, 0, sizeof(*t));
	if (!cap || cap > SESSIONS_CAP_MAX)
		return -EINVAL;
	while (buckets < cap)
		buckets <<= 1;
	t->v = calloc(cap, sizeof(*t->v));
	t->live = calloc((cap + 63) / 64, sizeof(*t->live));
	t->ids = calloc(cap, sizeof(*t->ids));
	t->by_name = calloc(buckets, sizeof(*t->by_name));
	if (!t->v || !t->live || !t->ids || !t->by_name) {
		sessions_fini(t);
		return -ENOMEM;
	}
	t->cap = cap;
	t->mask = buckets - 1;
	return 0;
}

void sessions_fini(struct sessions *t)
{
	/* Only live slots hold secrets (a freed one is wiped): never touch the untouched pages. */
	for (uint32_t i = t->v && t->live ? sessions_next_live(t, 0) : t->cap; i < t->cap;
	     i = sessions_next_live(t, i + 1))
		explicit_bzero(&t->v[i], sizeof(t->v[i]));
	free(t->v);
	free(t->live);
	free(t->ids);
	free(t->by_name);
	memset(t, 0, sizeof(*t));
}

struct session *sessions_find(const struct sessions *t, uint32_t id)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;

	if (!id || slot >= t->cap || t->v[slot].id != id)
		return NULL;
	return &t->v[slot];
}

struct session *sessions_find_user(const struct sessions *t, const char *user)
{
	uint32_t i;

	if (!t->cap)
		return NULL;
	for (i = t->by_name[name_hash(user) & t->mask]; i; i = t->v[i - 1].next_name)
		if (!strcmp(t->v[i - 1].user, user))
			return &t->v[i - 1];
	return NULL;
}

/* Claim free slot @slot for @user (checked) with @id; NULL and errno when it cannot. */
static struct session *claim(struct sessions *t, uint32_t slot, uint32_t id, const char *user)
{
	struct session *s = &t->v[slot];
	size_t ulen = user ? strlen(user) : 0;
	uint32_t b;

	if (!ulen || ulen > PH_NAME_MAX ||
	    access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)user, ulen)) {
		errno = EINVAL;
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	if (getrandom(s->token, sizeof(s->token), 0) != sizeof(s->token)) {
		errno = EIO;
		return NULL;
	}
	s->id = id;
	memcpy(s->user, user, ulen + 1);
	b = name_hash(user) & t->mask;
	s->next_name = t->by_name[b];
	t->by_name[b] = slot + 1;
	t->live[slot / 64] |= 1ull << (slot % 64);
	t->ids[slot] = id;
	t->n++;
	t->free_hint = (slot + 1) % t->cap;
	return s;
}

struct session *sessions_add(struct sessions *t, const char *user)
{
	uint32_t id = 0, slot = 0;
	uint8_t gen;
	bool found = false;

	if (t->n >= t->cap) {
		errno = ENOSPC;
		return NULL;
	}
	for (uint32_t k = 0; k < t->cap && !found; k++) {
		slot = (t->free_hint + k) % t->cap;
		found = !t->v[slot].id;
	}
	if (!found) {
		errno = ENOSPC;
		return NULL;
	}
	/*
	 * The slot is the id's low bits; the rest is random, so a slot's next
	 * occupant seldom repeats its last id (pair keys mix in the tokens as
	 * well, so even then no key repeats).
	 */
	do {
		if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen)) {
			errno = EIO;
			return NULL;
		}
		id = (uint32_t)gen << PH_SESSION_SLOT_BITS | slot;
	} while (!id);
	return claim(t, slot, id, user);
}

struct session *sessions_restore(struct sessions *t, uint32_t id, const char *user)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;

	if (!id || slot >= t->cap) {
		errno = EINVAL;
		return NULL;
	}
	if (t->v[slot].id || (user && sessions_find_user(t, user))) {
		errno = EEXIST;
		return NULL;
	}
	return claim(t, slot, id, user);
}

static void unlink_name(struct sessions *t, uint32_t *head, uint32_t slot)
{
	uint32_t *p = head;

	while (*p) {
		struct session *c = &t->v[*p - 1];

		if (*p == slot + 1) {
			*p = c->next_name;
			return;
		}
		p = &c->next_name;
	}
}

void sessions_del(struct sessions *t, struct session *s)
{
	uint32_t slot;

	if (!s || !s->id)
		return;
	slot = (uint32_t)(s - t->v);
	unlink_name(t, &t->by_name[name_hash(s->user) & t->mask], slot);
	explicit_bzero(s, sizeof(*s));
	t->live[slot / 64] &= ~(1ull << (slot % 64));
	t->ids[slot] = 0;
	t->n--;
}

struct session *sessions_next(const struct sessions *t, uint32_t *i)
{
	uint32_t slot = sessions_next_live(t, *i);

	*i = slot < t->cap ? slot + 1 : t->cap;
	return slot < t->cap ? &t->v[slot] : NULL;
}

uint32_t sessions_next_live(const struct sessions *t, uint32_t from)
{
	uint32_t w = from / 64;
	uint64_t bits;

	if (from >= t->cap)
		return t->cap;
	bits = t->live[w] & (~0ull << (from % 64));
	while (!bits) {
		if (++w >= (t->cap + 63) / 64)
			return t->cap;
		bits = t->live[w];
	}
	from = w * 64 + (uint32_t)__builtin_ctzll(bits);
	return from < t->cap ? from : t->cap;
}

void session_addr_set(union session_addr *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET)
		out->in = *(const struct sockaddr_in *)sa;
	else if (sa && sa->sa_family == AF_INET6)
		out->in6 = *(const struct sockaddr_in6 *)sa;
	else
		out->sa.sa_family = AF_UNSPEC;
}

void session_addr_get(const union session_addr *a, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (a->sa.sa_family == AF_INET)
		memcpy(out, &a->in, sizeof(a->in));
	else if (a->sa.sa_family == AF_INET6)
		memcpy(out, &a->in6, sizeof(a->in6));
	else
		out->ss_family = AF_UNSPEC;
}
