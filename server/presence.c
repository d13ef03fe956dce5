// SPDX-License-Identifier: MIT
/*
 * Routing entries, profiles and presence deltas (server.h, "presence.c").
 * Everything here runs with the core's lock held.
 *
 * Who hears about whom: a user's routing table lists the users it may
 * contact; a delta about A goes to every online contact related to A in
 * either direction, because a contact A may reach has A's entry too (from
 * the PUNCH at A's login).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "log.h"
#include "nat.h"
#include "server.h"

/* Related users of one session: name and whether the session may contact them. */
struct related {
	char name[PH_NAME_MAX + 1];
	bool out;
};

struct collect {
	struct srv *s;
	struct related *v;
	size_t n, cap;
	bool out;
	int err;
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*v, ncap * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = ncap;
	return 0;
}

static int collect_cb(const char *name, void *ctx)
{
	struct collect *c = ctx;

	/* The IN list comes second: a name already there (OUT) is both. */
	if (!c->out) {
		for (size_t i = 0; i < c->n; i++)
			if (!strcmp(c->v[i].name, name))
				return 0;
	}
	if (strlen(name) > PH_NAME_MAX)
		return 0;
	if (grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v))) {
		c->err = -ENOMEM;
		return 1;
	}
	strcpy(c->v[c->n].name, name);
	c->v[c->n].out = c->out;
	c->n++;
	return 0;
}

void presence_entry(struct srv *s, const struct session *viewer, const char *name,
		    const struct session *b, struct access_contact *c)
{
	memset(c, 0, sizeof(*c));
	strncpy(c->name, name, PH_NAME_MAX);
	c->reflexive.ss_family = AF_UNSPEC;
	c->local.ss_family = AF_UNSPEC;
	if (!b) {
		c->state = PH_CONTACT_OFFLINE;
		return;
	}
	c->state = PH_CONTACT_ONLINE;
	c->mapping = b->mapping;
	c->filtering = b->filtering;
	session_addr_get(&b->observed, &c->reflexive);
	session_addr_get(&b->local, &c->local);
	if (access_pair_key(s->pair_secret, sizeof(s->pair_secret), viewer->id, viewer->token,
			    b->id, b->token, c->pair_key))
		s->st.errors++;
	/* The viewer initiates toward b (its ONLINE goes to b's observed address). */
	if (nat_direct_possible(viewer->mapping, viewer->filtering, b->mapping, b->filtering,
				s->o.punch))
		c->flags |= PH_CONTACT_DIRECT_OK;
	/* b was online before the viewer logged in: it got the PUNCH then. */
	if (s->o.punch && nat_would_drop(b->filtering) && b->announced_ms &&
	    b->announced_ms <= viewer->since_ms)
		c->flags |= PH_CONTACT_PUNCHED;
}

static int names_cb(const char *name, void *ctx)
{
	struct srv *s = ctx;

	if (strlen(name) > PH_NAME_MAX)
		return 0;
	if (grow((void **)&s->names, &s->cap_names, s->n_names + 1, sizeof(*s->names)))
		return -ENOMEM;
	strcpy(s->names[s->n_names++], name);
	return 0;
}

int presence_profile(struct srv *s, const struct session *viewer)
{
	uint64_t t0;
	int err;

	s->n_names = 0;
	s->n_contacts = 0;
	t0 = metrics_now_ns();
	err = store_contact_list(s->o.store, viewer->user, STORE_CONTACT_OUT, names_cb, s);
	srv_store_timed(s, SRV_STORE_CONTACT_LIST, t0);
	if (err == -ENOENT) /* the account went away under us: an empty profile */
		return 0;
	if (err)
		return err;
	if (grow((void **)&s->contacts, &s->cap_contacts, s->n_names, sizeof(*s->contacts)))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_names; i++) {
		const struct session *b = sessions_find_user(&s->sessions, s->names[i]);

		presence_entry(s, viewer, s->names[i], b && b->announced ? b : NULL,
			       &s->contacts[s->n_contacts++]);
	}
	return 0;
}

struct outbox_msg *presence_queue(struct srv *s, uint16_t method, const struct session *target,
				  const struct access_contact *c, uint32_t punch_flags,
				  uint64_t now_ms)
{
	struct outbox_msg *m = outbox_add(&s->outbox, method, target->id, c->name, now_ms);
	struct stun_builder b;
	int len;

	if (!m) {
		s->st.errors++;
		return NULL;
	}
	stun_build_init(&b, m->buf, sizeof(m->buf), access_type(method, STUN_CLASS_REQUEST),
			m->tid);
	access_add_session(&b, target->id, target->token);
	access_add_presence(&b, c);
	if (method == PH_METHOD_PUNCH)
		access_add_punch_flags(&b, punch_flags);
	len = access_msg_finish(&b, target->key, sizeof(target->key));
	if (len < 0) {
		pr_warn("cannot build %s for %s: %s", access_method_name(method), target->user,
			stun_strerror(len));
		outbox_del(&s->outbox, m);
		s->st.errors++;
		return NULL;
	}
	m->len = (uint16_t)len;
	if (method == PH_METHOD_PUNCH)
		s->st.punches++;
	else
		s->st.presence++;
	return m;
}

void presence_fanout(struct srv *s, const struct session *a, enum ph_contact_state state,
		     uint64_t now_ms)
{
	struct collect c = {.s = s, .out = true};
	struct access_contact e;
	uint64_t t0;
	int err;

	t0 = metrics_now_ns();
	err = store_contact_list(s->o.store, a->user, STORE_CONTACT_OUT, collect_cb, &c);
	srv_store_timed(s, SRV_STORE_CONTACT_LIST, t0);
	if (!err || err == 1) {
		c.out = false;
		t0 = metrics_now_ns();
		err = store_contact_list(s->o.store, a->user, STORE_CONTACT_IN, collect_cb, &c);
		srv_store_timed(s, SRV_STORE_CONTACT_LIST, t0);
	}
	if ((err && err != 1 && err != -ENOENT) || c.err) {
		/* Deltas are best effort: a contact's next FETCH corrects it. */
		pr_warn("presence for %s: cannot read contacts: %s", a->user,
			strerror(-(c.err ? c.err : err)));
		s->st.errors++;
	}
	for (size_t i = 0; i < c.n; i++) {
		const struct session *b = sessions_find_user(&s->sessions, c.v[i].name);

		if (!b || !b->announced || b == a)
			continue;
		/* Those a's login punched already hold its ONLINE entry. */
		if (state == PH_CONTACT_ONLINE && c.v[i].out && b->announced_ms <= a->since_ms)
			continue;
		presence_entry(s, b, a->user, state == PH_CONTACT_OFFLINE ? NULL : a, &e);
		e.state = state;
		presence_queue(s, PH_METHOD_PRESENCE, b, &e, 0, now_ms);
	}
	free(c.v);
}
