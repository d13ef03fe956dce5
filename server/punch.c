// SPDX-License-Identifier: MIT
/*
 * Pending logins (punch.h): a small dense array.  Waits last at most
 * --punch-wait, so only the logins of the last few hundred milliseconds
 * are ever here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "punch.h"

int punch_waits_init(struct punch_waits *p, uint32_t cap)
{
	memset(p, 0, sizeof(*p));
	if (!cap)
		return -EINVAL;
	p->v = calloc(cap, sizeof(*p->v));
	if (!p->v)
		return -ENOMEM;
	p->cap = cap;
	return 0;
}

void punch_waits_fini(struct punch_waits *p)
{
	if (p->v)
		explicit_bzero(p->v, (size_t)p->cap * sizeof(*p->v));
	free(p->v);
	memset(p, 0, sizeof(*p));
}

struct punch_wait *punch_wait_add(struct punch_waits *p, uint32_t session, uint64_t deadline_ms)
{
	struct punch_wait *w;

	if (p->n == p->cap)
		return NULL;
	w = &p->v[p->n++];
	memset(w, 0, sizeof(*w));
	w->session = session;
	w->deadline_ms = deadline_ms;
	return w;
}

struct punch_wait *punch_wait_find(struct punch_waits *p, uint32_t session)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->v[i].session == session)
			return &p->v[i];
	return NULL;
}

void punch_wait_del(struct punch_waits *p, struct punch_wait *w)
{
	uint32_t i = (uint32_t)(w - p->v);

	if (i >= p->n)
		return;
	if (i != p->n - 1)
		p->v[i] = p->v[p->n - 1];
	p->n--;
	explicit_bzero(&p->v[p->n], sizeof(p->v[p->n]));
}

bool punch_wait_ack(struct punch_waits *p, uint32_t session)
{
	struct punch_wait *w = punch_wait_find(p, session);

	if (!w || !w->waiting)
		return false;
	return --w->waiting == 0;
}

struct punch_wait *punch_wait_due(struct punch_waits *p, uint64_t now_ms)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->v[i].deadline_ms <= now_ms)
			return &p->v[i];
	return NULL;
}
