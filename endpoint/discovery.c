// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "addr.h"
#include "discovery.h"

#define DEFAULT_RTO_MS 100
#define DEFAULT_TRIES 6
#define DEFAULT_PROBE_MS 500

static bool same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return addr_cmp((const struct sockaddr *)a, (const struct sockaddr *)b) == 0;
}

void disc_classify(const struct disc_obs *o, enum ph_nat_mapping *map,
		   enum ph_nat_filtering *filt)
{
	*map = PH_MAP_UNKNOWN;
	*filt = PH_FILTER_UNKNOWN;
	if (!o->test1_ok || !o->has_other)
		return;

	if (same(&o->xma1, &o->local))
		*map = PH_MAP_NONE;
	else if (!o->map2_ok)
		*map = PH_MAP_UNKNOWN;
	else if (same(&o->xma2, &o->xma1))
		*map = PH_MAP_ENDPOINT_INDEPENDENT;
	else if (!o->map3_ok)
		*map = PH_MAP_UNKNOWN;
	else if (same(&o->xma3, &o->xma2))
		*map = PH_MAP_ADDRESS_DEPENDENT;
	else
		*map = PH_MAP_ADDRESS_PORT_DEPENDENT;

	if (o->filt2_ok)
		*filt = *map == PH_MAP_NONE ? PH_FILTER_NONE : PH_FILTER_ENDPOINT_INDEPENDENT;
	else if (o->filt3_ok)
		*filt = PH_FILTER_ADDRESS_DEPENDENT;
	else
		*filt = PH_FILTER_ADDRESS_PORT_DEPENDENT;
}

void disc_init(struct disc *d, int fd, const struct sockaddr *server,
	       const struct sockaddr *local, const struct disc_config *cfg)
{
	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->cfg.rto_ms = cfg && cfg->rto_ms ? cfg->rto_ms : DEFAULT_RTO_MS;
	d->cfg.max_tries = cfg && cfg->max_tries ? cfg->max_tries : DEFAULT_TRIES;
	d->cfg.probe_timeout_ms =
		cfg && cfg->probe_timeout_ms ? cfg->probe_timeout_ms : DEFAULT_PROBE_MS;
	memcpy(&d->server, server, addr_len(server));
	memcpy(&d->obs.local, local, addr_len(local));
	d->step = DISC_IDLE;
}

static int send_current(struct disc *d)
{
	struct stun_builder b;
	uint8_t buf[64];
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, d->tid);
	if (d->change)
		stun_build_add_change_request(&b, d->change);
	len = stun_build_finish(&b);
	if (len < 0)
		return len;
	if (sendto(d->fd, buf, (size_t)len, 0, (const struct sockaddr *)&d->dst,
		   (socklen_t)addr_len((const struct sockaddr *)&d->dst)) < 0) {
		/*
		 * A NAT or firewall may refuse for a while; the retransmission
		 * covers it, and a test that never gets through ends in its
		 * timeout, which is what discovery reports.
		 */
	}
	return 0;
}

/* The address with @ip_from's IP and @port_from's port. */
static void mix(struct sockaddr_storage *out, const struct sockaddr_storage *ip_from,
		const struct sockaddr_storage *port_from)
{
	*out = *ip_from;
	addr_set_port((struct sockaddr *)out, addr_port((const struct sockaddr *)port_from));
}

/* Start test @step at @now: pick destination, expected source and flags, send. */
static int begin(struct disc *d, enum disc_step step, uint64_t now_ms)
{
	int err;

	d->step = step;
	d->change = 0;
	switch (step) {
	case DISC_TEST1:
		d->dst = d->server;
		d->expect = d->server;
		break;
	case DISC_FILT2:
		d->dst = d->server;
		d->expect = d->other;
		d->change = STUN_CHANGE_IP | STUN_CHANGE_PORT;
		break;
	case DISC_FILT3:
		d->dst = d->server;
		mix(&d->expect, &d->server, &d->other);
		d->change = STUN_CHANGE_PORT;
		break;
	case DISC_MAP2:
		mix(&d->dst, &d->other, &d->server);
		d->expect = d->dst;
		break;
	case DISC_MAP3:
		d->dst = d->other;
		d->expect = d->other;
		break;
	default:
		return 0;
	}
	err = stun_tid_random(d->tid);
	if (err)
		return err;
	d->rto_ms = d->cfg.rto_ms;
	d->tries = 1;
	d->next_ms = now_ms + d->rto_ms;
	d->deadline_ms = step == DISC_TEST1 ? 0 : now_ms + d->cfg.probe_timeout_ms;
	return send_current(d);
}

static void finish(struct disc *d)
{
	disc_classify(&d->obs, &d->mapping, &d->filtering);
	d->step = d->obs.test1_ok ? DISC_DONE : DISC_FAILED;
}

/* The current test ended (answered or not): go to the next one that is needed. */
static int advance(struct disc *d, uint64_t now_ms)
{
	const struct disc_obs *o = &d->obs;

	switch (d->step) {
	case DISC_TEST1:
		if (!o->test1_ok || !o->has_other)
			break;
		return begin(d, DISC_FILT2, now_ms);
	case DISC_FILT2:
		if (!o->filt2_ok)
			return begin(d, DISC_FILT3, now_ms);
		/* fall through */
	case DISC_FILT3:
		/* No NAT: the mapping tests would only confirm it. */
		if (same(&o->xma1, &o->local))
			break;
		return begin(d, DISC_MAP2, now_ms);
	case DISC_MAP2:
		if (o->map2_ok && !same(&o->xma2, &o->xma1))
			return begin(d, DISC_MAP3, now_ms);
		break;
	default:
		break;
	}
	finish(d);
	return 0;
}

int disc_start(struct disc *d, uint64_t now_ms)
{
	return begin(d, DISC_TEST1, now_ms);
}

int disc_input(struct disc *d, const struct stun_msg *m, const struct sockaddr *from,
	       uint64_t now_ms)
{
	struct sockaddr_storage xma, other;
	struct disc_obs *o = &d->obs;

	if (d->step < DISC_TEST1 || d->step > DISC_MAP3)
		return 0;
	if (m->type != STUN_BINDING_SUCCESS || memcmp(m->tid, d->tid, STUN_TID_LEN))
		return 0;
	/*
	 * The source is what a filtering test measures, so an answer from
	 * anywhere but the expected server address proves nothing (and may
	 * be someone else's packet with a guessed id).
	 */
	if (addr_cmp(from, (const struct sockaddr *)&d->expect))
		return 0;
	if (stun_msg_get_xor_addr(m, &xma))
		return 0;

	switch (d->step) {
	case DISC_TEST1:
		o->test1_ok = true;
		o->xma1 = xma;
		if (!stun_msg_get_addr(m, STUN_ATTR_OTHER_ADDRESS, &other) &&
		    other.ss_family == d->server.ss_family && addr_cmp((struct sockaddr *)&other,
								       (struct sockaddr *)&d->server)) {
			o->has_other = true;
			d->other = other;
		}
		break;
	case DISC_FILT2:
		o->filt2_ok = true;
		break;
	case DISC_FILT3:
		o->filt3_ok = true;
		break;
	case DISC_MAP2:
		o->map2_ok = true;
		o->xma2 = xma;
		break;
	case DISC_MAP3:
		o->map3_ok = true;
		o->xma3 = xma;
		break;
	default:
		return 0;
	}
	advance(d, now_ms);
	return 1;
}

int disc_timer(struct disc *d, uint64_t now_ms)
{
	if (d->step < DISC_TEST1 || d->step > DISC_MAP3)
		return 0;
	if (d->deadline_ms && now_ms >= d->deadline_ms)
		return advance(d, now_ms);
	if (now_ms < d->next_ms)
		return 0;
	if (d->step == DISC_TEST1 && d->tries >= d->cfg.max_tries) {
		/* RFC 8489 §6.2.1: after the last try wait one more RTO (done: next_ms). */
		finish(d);
		return 0;
	}
	d->tries++;
	d->rto_ms *= 2;
	d->next_ms = now_ms + d->rto_ms;
	if (d->deadline_ms && d->next_ms > d->deadline_ms)
		d->next_ms = d->deadline_ms;
	return send_current(d);
}

int64_t disc_next_timeout_ms(const struct disc *d, uint64_t now_ms)
{
	uint64_t t;

	if (d->step < DISC_TEST1 || d->step > DISC_MAP3)
		return -1;
	t = d->next_ms;
	if (d->deadline_ms && d->deadline_ms < t)
		t = d->deadline_ms;
	return t > now_ms ? (int64_t)(t - now_ms) : 0;
}
