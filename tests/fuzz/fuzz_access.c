// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the access-protocol codec on top of the STUN gate.
 *
 * Properties on every input stun_msg_parse() accepts:
 * - access_msg_check_attrs() returns one of its documented codes; when it
 *   returns 0, no getter reports a malformed value (the gate and the
 *   getters agree on what is well formed);
 * - every getter refuses or returns values in range: keepalive timings
 *   within their bounds, enums within their enums, names NUL-terminated
 *   and passing the naming rule, text inside the message, page count
 *   above its index, no unknown punch flag, addresses of a real family;
 * - access_next_contact() visits each CONTACT once and always terminates;
 *   every contact it decodes (and the PRESENCE one) survives
 *   decode -> access_add_contact -> decode unchanged, and takes exactly
 *   access_contact_wire_len() bytes;
 * - access_msg_verify() under a fixed key answers one of its codes; the
 *   message's own attributes, re-closed with access_msg_finish() under
 *   that key, verify under it and under no other.
 */
#include <errno.h>
#include <netinet/in.h>

#include "access.h"
#include "fuzz_util.h"

FUZZ_SINK_DEFINE;

static const uint8_t key[PH_PAIR_KEY_LEN] = "fuzz access key, thirty-two byte";
static const uint8_t other_key[PH_PAIR_KEY_LEN] = "another key, also thirty-two byt";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int family_ok(const struct sockaddr_storage *ss, int unspec_ok)
{
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6 ||
	       (unspec_ok && ss->ss_family == AF_UNSPEC);
}

static void check_contact(const struct access_contact *c)
{
	size_t n = strnlen(c->name, sizeof(c->name));

	FUZZ_CHECK(n >= 1 && n <= PH_NAME_MAX);
	FUZZ_CHECK(access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)c->name, n) == 0);
	FUZZ_CHECK(c->state <= PH_CONTACT_REMOVED);
	FUZZ_CHECK(!(c->flags & ~(PH_CONTACT_DIRECT_OK | PH_CONTACT_PUNCHED)));
	FUZZ_CHECK(c->mapping <= PH_MAP_ADDRESS_PORT_DEPENDENT);
	FUZZ_CHECK(c->filtering <= PH_FILTER_ADDRESS_PORT_DEPENDENT);
	FUZZ_CHECK(family_ok(&c->reflexive, 1) && family_ok(&c->local, 1));
}

/* decode -> add -> decode is a fixed point, and the attribute is as long as promised. */
static void contact_round_trip(const struct access_contact *c, int presence)
{
	static const uint8_t tid[STUN_TID_LEN] = {0xF0, 0x22};
	uint8_t buf[512];
	struct access_contact back;
	struct stun_attr_iter it;
	struct stun_builder b;
	struct stun_msg m;
	int len;

	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS),
			tid);
	if (presence)
		FUZZ_CHECK(access_add_presence(&b, c) == 0);
	else
		FUZZ_CHECK(access_add_contact(&b, c) == 0);
	len = stun_build_finish(&b);
	FUZZ_CHECK(len == (int)(STUN_HEADER_LEN + access_contact_wire_len(c)));
	FUZZ_CHECK(stun_msg_parse(&m, buf, (size_t)len) == 0);
	FUZZ_CHECK(access_msg_check_attrs(&m, NULL) == 0);
	memset(&back, 0x5A, sizeof(back));
	if (presence) {
		FUZZ_CHECK(access_get_presence(&m, &back) == 0);
	} else {
		stun_attr_iter_init(&it);
		FUZZ_CHECK(access_next_contact(&m, &it, &back) == 1);
		/* Exactly one CONTACT went in; a 0 leaves @back alone. */
		FUZZ_CHECK(access_next_contact(&m, &it, &back) == 0);
	}
	FUZZ_CHECK(!memcmp(c, &back, sizeof(back)));
}

static void check_getters(const struct stun_msg *m, const uint8_t *data, size_t size, int gate)
{
	const uint8_t *body = data + STUN_HEADER_LEN;
	size_t blen = size - STUN_HEADER_LEN;
	struct sockaddr_storage ss, locals[8], many[64];
	struct access_keepalive ka;
	struct access_contact c;
	enum ph_nat_mapping map;
	enum ph_nat_filtering filt;
	uint8_t token[PH_TOKEN_LEN];
	char name[PH_NAME_MAX + 1];
	uint16_t idx, count;
	const char *text;
	uint32_t id, flags;
	size_t n, n2;
	int err;

/* Every getter: 0 or absent, or malformed only when the gate said so too. */
#define GETTER_OK(e) ((e) == 0 || (e) == -ENOENT || ((e) == -STUN_E_BAD_VALUE && gate != 0))

	err = access_get_session(m, &id, token);
	FUZZ_CHECK(GETTER_OK(err));
	err = access_get_keepalive(m, &ka);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(ka.interval_ms >= ACCESS_KEEPALIVE_MIN_MS &&
			   ka.interval_ms <= ACCESS_KEEPALIVE_MAX_MS &&
			   ka.jitter_ms < ka.interval_ms && ka.timeout_ms >= ka.interval_ms);
	err = access_get_local_addresses(m, locals, 8, &n);
	FUZZ_CHECK(err == 0 || (err == -STUN_E_BAD_VALUE && gate));
	if (!err) {
		FUZZ_CHECK(access_get_local_addresses(m, many, 64, &n2) == 0 && n2 == n);
		for (size_t i = 0; i < n && i < 8; i++)
			FUZZ_CHECK(family_ok(&locals[i], 0) &&
				   !memcmp(&locals[i], &many[i], sizeof(locals[i])));
	}
	err = access_get_claimed_address(m, &ss);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(family_ok(&ss, 0));
	err = access_get_peer_address(m, &ss);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(family_ok(&ss, 0));
	err = access_get_nat(m, &map, &filt);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(map <= PH_MAP_ADDRESS_PORT_DEPENDENT &&
			   filt <= PH_FILTER_ADDRESS_PORT_DEPENDENT);
	err = access_get_page(m, &idx, &count);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(count == 0 || idx < count);
	memset(name, 0x41, sizeof(name));
	err = access_get_peer_name(m, name);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err) {
		n = strnlen(name, sizeof(name));
		FUZZ_CHECK(n >= 1 && n <= PH_NAME_MAX);
		FUZZ_CHECK(access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)name, n) ==
			   0);
	}
	err = access_get_text(m, &text, &n);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err) {
		FUZZ_CHECK(n >= 1 && n <= PH_TEXT_MAX && fuzz_inside(text, n, body, blen));
		fuzz_touch(text, n);
	}
	err = access_get_punch_flags(m, &flags);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err)
		FUZZ_CHECK(!(flags & ~(uint32_t)PH_PUNCH_SEND));
	err = access_get_presence(m, &c);
	FUZZ_CHECK(GETTER_OK(err));
	if (!err) {
		check_contact(&c);
		contact_round_trip(&c, 1);
	}
#undef GETTER_OK
}

static void check_contacts(const struct stun_msg *m, int gate)
{
	struct access_contact c;
	struct stun_attr_iter it, walk;
	const uint8_t *val;
	uint16_t type, len;
	unsigned int want = 0, got = 0, steps = 0;
	int r;

	stun_attr_iter_init(&walk);
	while (stun_msg_next_attr(m, &walk, &type, &val, &len))
		want += type == PH_ATTR_CONTACT;
	stun_attr_iter_init(&it);
	while ((r = access_next_contact(m, &it, &c)) != 0) {
		FUZZ_CHECK(++steps <= m->n_attrs);
		FUZZ_CHECK(r == 1 || (r == -STUN_E_BAD_VALUE && gate));
		got++;
		if (r == 1) {
			check_contact(&c);
			contact_round_trip(&c, 0);
		}
	}
	FUZZ_CHECK(got == want);
}

/* Attributes access_msg_finish() computes. */
static int computed(uint16_t type)
{
	return type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
	       type == STUN_ATTR_FINGERPRINT;
}

static void check_protection(const struct stun_msg *m)
{
	static uint8_t out[70000];
	struct stun_attr_iter it;
	struct stun_builder b;
	struct stun_msg r;
	const uint8_t *val;
	uint16_t type, len;
	int err, rlen;

	err = access_msg_verify(m, key, sizeof(key));
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_FINGERPRINT ||
		   err == -STUN_E_BAD_VALUE || err == -STUN_E_INTEGRITY);
	if (err == 0)
		FUZZ_CHECK(m->has_fingerprint &&
			   stun_msg_has(m, STUN_ATTR_MESSAGE_INTEGRITY_SHA256));

	stun_build_init(&b, out, sizeof(out), m->type, m->tid);
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len))
		if (!computed(type))
			stun_build_add(&b, type, val, len);
	rlen = access_msg_finish(&b, key, sizeof(key));
	if (rlen == -ENOSPC)
		return; /* the trailer no longer fits in 16 bits of length */
	FUZZ_CHECK(rlen > 0);
	FUZZ_CHECK(stun_msg_parse(&r, out, (size_t)rlen) == 0);
	FUZZ_CHECK(access_msg_verify(&r, key, sizeof(key)) == 0);
	FUZZ_CHECK(access_msg_verify(&r, other_key, sizeof(other_key)) == -STUN_E_INTEGRITY);
	/* One flipped bit anywhere before the integrity attribute breaks it. */
	out[rlen - ACCESS_TRAILER_LEN - 1] ^= 0x01;
	if (stun_msg_parse(&r, out, (size_t)rlen) == 0)
		FUZZ_CHECK(access_msg_verify(&r, key, sizeof(key)) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	uint16_t bad = 0;
	int gate;

	if (stun_msg_parse(&m, data, size))
		return 0;
	gate = access_msg_check_attrs(&m, &bad);
	FUZZ_CHECK(gate == 0 || gate == -STUN_E_DUPLICATE || gate == -STUN_E_BAD_VALUE ||
		   gate == -STUN_E_UNKNOWN_REQUIRED);
	if (gate == -STUN_E_UNKNOWN_REQUIRED)
		FUZZ_CHECK(stun_attr_required(bad) && !stun_attr_known(bad) &&
			   !access_attr_known(bad));
	if (gate == -STUN_E_DUPLICATE)
		FUZZ_CHECK((stun_attr_known(bad) || access_attr_known(bad)) &&
			   !access_attr_repeatable(bad));
	(void)access_method_name(stun_type_method(m.type));
	(void)access_class_name(stun_type_class(m.type));
	check_getters(&m, data, size, gate);
	check_contacts(&m, gate);
	check_protection(&m);
	return 0;
}
