// SPDX-License-Identifier: MIT
/*
 * Session table: a slot array with two chained hash indexes (by id, by
 * name) whose links are slot numbers, so adding and removing never
 * allocates.  Chains hold one live session per user and per id.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "access.h"
#include "sessions.h"

#define SESSIONS_CAP_MAX (1u << 24)

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

static uint32_t id_hash(uint32_t id)
{
	/* Ids are random, but a peer chooses none of them; mix anyway so a weak RNG costs nothing.
	 */
	id ^= id >> 16;
	id *= 0x7feb352du;
	id ^= id >> 15;
	return id;
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
	t->by_id = calloc(buckets, sizeof(*t->by_id));
	t->by_name = calloc(buckets, sizeof(*t->by_name));
	if (!t->v || !t->by_id || !t->by_name) {
		sessions_fini(t);
		return -ENOMEM;
	}
	t->cap = cap;
	t->mask = buckets - 1;
	return 0;
}

void sessions_fini(struct sessions *t)
{
	if (t->v)
		explicit_bzero(t->v, (size_t)t->cap * sizeof(*t->v));
	free(t->v);
	free(t->by_id);
	free(t->by_name);
	memset(t, 0, sizeof(*t));
}

struct session *sessions_find(const struct sessions *t, uint32_t id)
{
	uint32_t i;

	if (!id || !t->cap)
		return NULL;
	for (i = t->by_id[id_hash(id) & t->mask]; i; i = t->v[i - 1].next_id)
		if (t->v[i - 1].id == id)
			return &t->v[i - 1];
	return NULL;
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

struct session *sessions_add(struct sessions *t, const char *user)
{
	struct session *s = NULL;
	uint32_t id = 0, slot, b;
	size_t ulen;

	ulen = user ? strlen(user) : 0;
	if (!ulen || ulen > PH_NAME_MAX ||
	    access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)user, ulen)) {
		errno = EINVAL;
		return NULL;
	}
	if (t->n >= t->cap) {
		errno = ENOSPC;
		return NULL;
	}
	for (uint32_t k = 0; k < t->cap; k++) {
		slot = (t->free_hint + k) % t->cap;
		if (!t->v[slot].id) {
			s = &t->v[slot];
			break;
		}
	}
	if (!s) {
		errno = ENOSPC;
		return NULL;
	}
	/* Unique among live sessions: a collision would give two pairs one key. */
	do {
		if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
			errno = EIO;
			return NULL;
		}
	} while (!id || sessions_find(t, id));
	memset(s, 0, sizeof(*s));
	if (getrandom(s->token, sizeof(s->token), 0) != sizeof(s->token)) {
		errno = EIO;
		return NULL;
	}
	s->id = id;
	memcpy(s->user, user, ulen + 1);
	b = id_hash(id) & t->mask;
	s->next_id = t->by_id[b];
	t->by_id[b] = slot + 1;
	b = name_hash(user) & t->mask;
	s->next_name = t->by_name[b];
	t->by_name[b] = slot + 1;
	t->n++;
	t->free_hint = (slot + 1) % t->cap;
	return s;
}

static void unlink_chain(struct sessions *t, uint32_t *head, uint32_t slot, bool by_id)
{
	uint32_t *p = head;

	while (*p) {
		struct session *c = &t->v[*p - 1];

		if (*p == slot + 1) {
			*p = by_id ? c->next_id : c->next_name;
			return;
		}
		p = by_id ? &c->next_id : &c->next_name;
	}
}

void sessions_del(struct sessions *t, struct session *s)
{
	uint32_t slot;

	if (!s || !s->id)
		return;
	slot = (uint32_t)(s - t->v);
	unlink_chain(t, &t->by_id[id_hash(s->id) & t->mask], slot, true);
	unlink_chain(t, &t->by_name[name_hash(s->user) & t->mask], slot, false);
	explicit_bzero(s, sizeof(*s));
	t->n--;
}

struct session *sessions_next(const struct sessions *t, uint32_t *i)
{
	while (*i < t->cap) {
		struct session *s = &t->v[(*i)++];

		if (s->id)
			return s;
	}
	return NULL;
}
