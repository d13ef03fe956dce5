// SPDX-License-Identifier: MIT
/*
 * The server's outgoing requests (outbox.h): a dense array, swap-removed,
 * scanned linearly.  What is in flight at one time is small (a login's
 * punches, a few deltas), so a scan beats keeping an index current.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "stun.h"

int outbox_init(struct outbox *o, uint32_t cap)
{
	memset(o, 0, sizeof(*o));
	if (!cap)
		return -EINVAL;
	o->v = calloc(cap, sizeof(*o->v));
	if (!o->v)
		return -ENOMEM;
	o->cap = cap;
	return 0;
}

void outbox_fini(struct outbox *o)
{
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void outbox_del(struct outbox *o, struct outbox_msg *m)
{
	uint32_t i = (uint32_t)(m - o->v);

	if (i >= o->n)
		return;
	if (i != o->n - 1)
		o->v[i] = o->v[o->n - 1];
	o->n--;
}

struct outbox_msg *outbox_add(struct outbox *o, uint16_t method, uint32_t target,
			      const char *subject, uint64_t now_ms)
{
	struct outbox_msg *m;
	uint8_t tid[STUN_TID_LEN];

	if (stun_tid_random(tid)) {
		errno = EIO;
		return NULL;
	}
	for (uint32_t i = 0; i < o->n; i++) {
		if (o->v[i].target == target && !strcmp(o->v[i].subject, subject)) {
			outbox_del(o, &o->v[i]);
			o->superseded++;
			break;
		}
	}
	if (o->n == o->cap) {
		uint32_t old = 0;

		for (uint32_t i = 1; i < o->n; i++)
			if (o->v[i].seq < o->v[old].seq)
				old = i;
		outbox_del(o, &o->v[old]);
		o->evicted++;
	}
	m = &o->v[o->n++];
	memset(m, 0, offsetof(struct outbox_msg, buf));
	memcpy(m->tid, tid, sizeof(tid));
	m->method = method;
	m->target = target;
	strncpy(m->subject, subject, PH_NAME_MAX);
	m->subject[PH_NAME_MAX] = '\0';
	m->len = 0;
	m->tries = 0;
	m->rto_ms = OUTBOX_RTO_MS;
	m->next_ms = now_ms;
	m->seq = ++o->seq;
	return m;
}

struct outbox_msg *outbox_find(struct outbox *o, const uint8_t tid[STUN_TID_LEN])
{
	for (uint32_t i = 0; i < o->n; i++)
		if (!memcmp(o->v[i].tid, tid, STUN_TID_LEN))
			return &o->v[i];
	return NULL;
}

unsigned int outbox_drop_target(struct outbox *o, uint32_t target)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < o->n;) {
		if (o->v[i].target == target) {
			outbox_del(o, &o->v[i]);
			n++;
			continue;
		}
		i++;
	}
	return n;
}

uint64_t outbox_next_ms(const struct outbox *o)
{
	uint64_t t = UINT64_MAX;

	for (uint32_t i = 0; i < o->n; i++)
		if (o->v[i].next_ms < t)
			t = o->v[i].next_ms;
	return t;
}
