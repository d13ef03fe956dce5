// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "peers.h"

void peers_init(struct peers *t)
{
	memset(t, 0, sizeof(*t));
}

void peers_fini(struct peers *t)
{
	for (size_t i = 0; i < t->n; i++) {
		/* Keys are secrets: do not leave them in freed memory. */
		explicit_bzero(t->v[i], sizeof(*t->v[i]));
		free(t->v[i]);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct peer *peers_find(const struct peers *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->v[i]->c.name, name))
			return t->v[i];
	return NULL;
}

struct peer *peers_get(struct peers *t, const char *name)
{
	struct peer *p = peers_find(t, name);

	if (p)
		return p;
	if (strlen(name) > PH_NAME_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct peer **v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			errno = ENOMEM;
			return NULL;
		}
		t->v = v;
		t->cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	strcpy(p->c.name, name);
	p->c.state = PH_CONTACT_OFFLINE;
	t->v[t->n++] = p;
	return p;
}

void peers_remove(struct peers *t, struct peer *p)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] != p)
			continue;
		t->v[i] = t->v[--t->n];
		explicit_bzero(p, sizeof(*p));
		free(p);
		return;
	}
}

static bool key_is_zero(const uint8_t *k)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < PH_PAIR_KEY_LEN; i++)
		acc |= k[i];
	return acc == 0;
}

bool peers_apply(struct peer *p, const struct access_contact *c)
{
	bool online = c->state == PH_CONTACT_ONLINE || c->state == PH_CONTACT_MOVED;
	bool has_key = online && !key_is_zero(c->pair_key);
	bool changed = has_key != p->has_key ||
		       (has_key && memcmp(c->pair_key, p->c.pair_key, PH_PAIR_KEY_LEN));

	p->c = *c;
	if (c->state == PH_CONTACT_MOVED)
		p->c.state = PH_CONTACT_ONLINE;
	p->has_key = has_key;
	if (changed) {
		p->session = PEER_IDLE;
		memset(&p->addr, 0, sizeof(p->addr));
		memset(p->seen, 0, sizeof(p->seen));
	}
	if (!has_key)
		p->session = PEER_IDLE;
	/* An established session keeps the address it proved; see endpoint.c for moves. */
	if (p->session != PEER_ESTABLISHED)
		p->addr = c->reflexive;
	return changed;
}

int peers_seen_ring(struct peer_seen *ring, unsigned int *next, const uint8_t *tid,
		    const struct sockaddr *src)
{
	for (unsigned int i = 0; i < PEERS_SEEN_MAX; i++) {
		if (memcmp(ring[i].tid, tid, STUN_TID_LEN))
			continue;
		if (ring[i].src.ss_family == AF_UNSPEC)
			continue;
		return addr_cmp((const struct sockaddr *)&ring[i].src, src) ? -1 : 1;
	}
	memcpy(ring[*next].tid, tid, STUN_TID_LEN);
	memset(&ring[*next].src, 0, sizeof(ring[*next].src));
	memcpy(&ring[*next].src, src, addr_len(src));
	*next = (*next + 1) % PEERS_SEEN_MAX;
	return 0;
}

int peers_seen(struct peer *p, const uint8_t *tid, const struct sockaddr *src)
{
	return peers_seen_ring(p->seen, &p->seen_next, tid, src);
}
