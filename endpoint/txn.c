// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "txn.h"

void txns_init(struct txns *t)
{
	memset(t, 0, sizeof(*t));
}

void txns_fini(struct txns *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct txn *txns_add(struct txns *t, enum txn_kind kind)
{
	struct txn *x;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct txn **v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			errno = ENOMEM;
			return NULL;
		}
		t->v = v;
		t->cap = cap;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	if (stun_tid_random(x->tid)) {
		free(x);
		errno = EIO;
		return NULL;
	}
	x->kind = kind;
	t->v[t->n++] = x;
	return x;
}

struct txn *txns_find(const struct txns *t, const uint8_t *tid)
{
	for (size_t i = 0; i < t->n; i++)
		if (!memcmp(t->v[i]->tid, tid, STUN_TID_LEN))
			return t->v[i];
	return NULL;
}

struct txn *txns_find_kind(const struct txns *t, enum txn_kind kind, const char *peer)
{
	for (size_t i = 0; i < t->n; i++) {
		struct txn *x = t->v[i];

		if (x->kind == kind && (!peer || !strcmp(x->peer, peer)))
			return x;
	}
	return NULL;
}

void txns_remove(struct txns *t, struct txn *x)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->v[i] != x)
			continue;
		free(x);
		t->v[i] = t->v[--t->n];
		return;
	}
}

uint64_t txns_next_ms(const struct txns *t)
{
	uint64_t m = UINT64_MAX;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i]->next_ms < m)
			m = t->v[i]->next_ms;
	return m;
}
