// SPDX-License-Identifier: MIT
/*
 * Access protocol codec: every attribute round-trips through the STUN
 * builder and parser; a table of lying values is refused by both the
 * message gate and the getter; the pager never builds a datagram over
 * PH_DATAGRAM_MAX and its pages cover a contact list exactly once; a
 * protected message verifies only under its key; pair keys are
 * symmetric.  Build with SANITIZE=1 to catch any over-read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "access.h"

static const uint8_t tid[STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t token[PH_TOKEN_LEN] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
					    0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF};

static struct sockaddr_storage ss4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage ss6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* Same family, address and port (sockaddr_storage tails are zeroed by both sides). */
static void assert_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	assert_int_equal(a->ss_family, b->ss_family);
	if (a->ss_family == AF_INET)
		assert_memory_equal(a, b, sizeof(struct sockaddr_in));
	else if (a->ss_family == AF_INET6)
		assert_memory_equal(a, b, sizeof(struct sockaddr_in6));
}

static void contact_init(struct access_contact *c, const char *name, int i)
{
	memset(c, 0, sizeof(*c));
	c->state = PH_CONTACT_ONLINE;
	c->flags = PH_CONTACT_DIRECT_OK | (i & 1 ? PH_CONTACT_PUNCHED : 0);
	c->mapping = PH_MAP_ENDPOINT_INDEPENDENT;
	c->filtering = PH_FILTER_ADDRESS_PORT_DEPENDENT;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->reflexive = ss4("198.18.1.1", (uint16_t)(1000 + i));
	c->local = i & 1 ? ss6("2001:db8::5", (uint16_t)(2000 + i)) : ss4("10.0.0.5", 3000);
	memset(c->pair_key, 0x40 + (i & 0x3F), sizeof(c->pair_key));
}

static void assert_contact_equal(const struct access_contact *a, const struct access_contact *b)
{
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->mapping, b->mapping);
	assert_int_equal(a->filtering, b->filtering);
	assert_string_equal(a->name, b->name);
	assert_addr_equal(&a->reflexive, &b->reflexive);
	assert_addr_equal(&a->local, &b->local);
	assert_memory_equal(a->pair_key, b->pair_key, PH_PAIR_KEY_LEN);
}

static void test_methods(void **state)
{
	static const uint16_t methods[] = {PH_METHOD_LOGIN,    PH_METHOD_FETCH,	 PH_METHOD_PUNCH,
					   PH_METHOD_PRESENCE, PH_METHOD_LOGOUT, PH_METHOD_ONLINE,
					   PH_METHOD_MESSAGE,  PH_METHOD_PROBE};
	static const uint16_t classes[] = {STUN_CLASS_REQUEST, STUN_CLASS_INDICATION,
					   STUN_CLASS_SUCCESS, STUN_CLASS_ERROR};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		assert_true(access_method_known(methods[i]));
		assert_string_not_equal(access_method_name(methods[i]), "UNKNOWN");
		for (j = 0; j < i; j++)
			assert_string_not_equal(access_method_name(methods[i]),
						access_method_name(methods[j]));
		for (j = 0; j < 4; j++) {
			uint16_t t = access_type(methods[i], classes[j]);

			/* A valid STUN type: top two bits clear, method and class come back. */
			assert_int_equal(t & 0xC000, 0);
			assert_int_equal(stun_type_method(t), methods[i]);
			assert_int_equal(stun_type_class(t), classes[j]);
		}
	}
	assert_string_equal(access_method_name(PH_METHOD_LOGIN), "LOGIN");
	assert_string_equal(access_method_name(STUN_METHOD_BINDING), "BINDING");
	assert_false(access_method_known(STUN_METHOD_BINDING));
	assert_string_equal(access_method_name(0xC7F), "UNKNOWN");
	assert_string_equal(access_class_name(STUN_CLASS_INDICATION), "indication");
	assert_string_equal(access_class_name(STUN_CLASS_ERROR), "error");
}

/* Build one message carrying every attribute; return its length. */
static size_t build_all(uint8_t *buf, size_t cap, const struct access_contact *cs, size_t ncs)
{
	struct stun_builder b;
	struct access_keepalive ka = {20000, 3000, 60000};
	struct sockaddr_storage l1 = ss4("10.0.0.5", 40000), l2 = ss6("2001:db8::5", 40001),
				l3 = ss4("192.168.7.9", 40002);
	struct sockaddr_storage claimed = ss4("198.18.0.10", 50000);
	struct sockaddr_storage peer = ss6("2001:db8:1::77", 61000);
	size_t i;
	int n;

	stun_build_init(&b, buf, cap, access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS), tid);
	access_add_session(&b, 0xDEADBEEF, token);
	access_add_keepalive(&b, &ka);
	access_add_local_address(&b, SA(l1));
	access_add_local_address(&b, SA(l2));
	access_add_local_address(&b, SA(l3));
	access_add_claimed_address(&b, SA(claimed));
	access_add_nat(&b, PH_MAP_ADDRESS_PORT_DEPENDENT, PH_FILTER_ADDRESS_DEPENDENT);
	access_add_page(&b, 2, 5);
	access_add_peer_address(&b, SA(peer));
	access_add_peer_name(&b, "bob", 3);
	access_add_text(&b, "h\xc3\xa9llo\tw\xf0\x9f\x98\x80rld", 15);
	access_add_punch_flags(&b, PH_PUNCH_SEND);
	access_add_presence(&b, &cs[0]);
	for (i = 0; i < ncs; i++)
		access_add_contact(&b, &cs[i]);
	n = access_msg_finish(&b, token, sizeof(token));
	assert_true(n > 0);
	return (size_t)n;
}

static void test_round_trip(void **state)
{
	uint8_t buf[2048];
	struct access_contact cs[3], got;
	struct stun_msg m;
	struct stun_attr_iter it;
	struct access_keepalive ka;
	struct sockaddr_storage ss, locals[2];
	enum ph_nat_mapping map;
	enum ph_nat_filtering filt;
	uint8_t tok[PH_TOKEN_LEN];
	char name[PH_NAME_MAX + 1];
	const char *text;
	size_t len, n, i;
	uint32_t id, flags;
	uint16_t idx, cnt, bad = 0;
	int r;

	(void)state;
	contact_init(&cs[0], "alice", 0);
	contact_init(&cs[1], "bob", 1);
	contact_init(&cs[2], "carol", 2);
	cs[2].state = PH_CONTACT_OFFLINE;
	cs[2].reflexive.ss_family = AF_UNSPEC;
	cs[2].local.ss_family = AF_UNSPEC;
	memset(cs[2].pair_key, 0, PH_PAIR_KEY_LEN);

	len = build_all(buf, sizeof(buf), cs, 3);
	assert_int_equal(stun_msg_parse(&m, buf, len), 0);
	assert_int_equal(access_msg_check_attrs(&m, &bad), 0);
	assert_int_equal(access_msg_verify(&m, token, sizeof(token)), 0);
	assert_int_equal(stun_type_method(m.type), PH_METHOD_FETCH);

	assert_int_equal(access_get_session(&m, &id, tok), 0);
	assert_int_equal(id, 0xDEADBEEF);
	assert_memory_equal(tok, token, PH_TOKEN_LEN);
	assert_int_equal(access_get_keepalive(&m, &ka), 0);
	assert_int_equal(ka.interval_ms, 20000);
	assert_int_equal(ka.jitter_ms, 3000);
	assert_int_equal(ka.timeout_ms, 60000);

	/* Repeatable: all three counted, the first two returned, in order. */
	assert_int_equal(access_get_local_addresses(&m, locals, 2, &n), 0);
	assert_int_equal(n, 3);
	ss = ss4("10.0.0.5", 40000);
	assert_addr_equal(&locals[0], &ss);
	ss = ss6("2001:db8::5", 40001);
	assert_addr_equal(&locals[1], &ss);

	assert_int_equal(access_get_claimed_address(&m, &ss), 0);
	locals[0] = ss4("198.18.0.10", 50000);
	assert_addr_equal(&ss, &locals[0]);
	assert_int_equal(access_get_peer_address(&m, &ss), 0);
	locals[0] = ss6("2001:db8:1::77", 61000);
	assert_addr_equal(&ss, &locals[0]);

	assert_int_equal(access_get_nat(&m, &map, &filt), 0);
	assert_int_equal(map, PH_MAP_ADDRESS_PORT_DEPENDENT);
	assert_int_equal(filt, PH_FILTER_ADDRESS_DEPENDENT);
	assert_int_equal(access_get_page(&m, &idx, &cnt), 0);
	assert_int_equal(idx, 2);
	assert_int_equal(cnt, 5);
	assert_int_equal(access_get_peer_name(&m, name), 0);
	assert_string_equal(name, "bob");
	assert_int_equal(access_get_text(&m, &text, &n), 0);
	assert_int_equal(n, 15);
	assert_memory_equal(text, "h\xc3\xa9llo\tw\xf0\x9f\x98\x80rld", 15);
	assert_int_equal(access_get_punch_flags(&m, &flags), 0);
	assert_int_equal(flags, PH_PUNCH_SEND);
	assert_int_equal(access_get_presence(&m, &got), 0);
	assert_contact_equal(&got, &cs[0]);

	stun_attr_iter_init(&it);
	for (i = 0; (r = access_next_contact(&m, &it, &got)) == 1; i++) {
		assert_true(i < 3);
		assert_contact_equal(&got, &cs[i]);
	}
	assert_int_equal(r, 0);
	assert_int_equal(i, 3);
	assert_int_equal(got.reflexive.ss_family, AF_UNSPEC);

	/* Absent attributes: -ENOENT; no locals: count 0. */
	{
		struct stun_builder b;

		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		len = (size_t)stun_build_finish(&b);
	}
	assert_int_equal(stun_msg_parse(&m, buf, len), 0);
	assert_int_equal(access_get_session(&m, &id, tok), -ENOENT);
	assert_int_equal(access_get_presence(&m, &got), -ENOENT);
	assert_int_equal(access_get_text(&m, &text, &n), -ENOENT);
	assert_int_equal(access_get_local_addresses(&m, locals, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(access_msg_verify(&m, token, sizeof(token)), -STUN_E_BAD_FINGERPRINT);
}

/* PEER_ADDRESS is XORed like XOR-MAPPED-ADDRESS: the plain bytes never appear. */
static void test_peer_address_xor(void **state)
{
	uint8_t buf[256];
	struct stun_builder b;
	struct sockaddr_storage a = ss4("198.18.0.10", 50000), got;
	struct stun_msg m;
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len;
	int n;

	(void)state;
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PUNCH, STUN_CLASS_REQUEST),
			tid);
	access_add_peer_address(&b, SA(a));
	n = stun_build_finish(&b);
	assert_int_equal(n, 20 + 4 + 8);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	stun_attr_iter_init(&it);
	assert_int_equal(stun_msg_next_attr(&m, &it, &type, &val, &len), 1);
	assert_int_equal(type, PH_ATTR_PEER_ADDRESS);
	assert_int_equal(val[1], STUN_FAMILY_IPV4);
	assert_int_equal((val[2] << 8 | val[3]), 50000 ^ 0x2112);
	assert_int_equal(val[4], 198 ^ 0x21);
	assert_int_equal(val[5], 18 ^ 0x12);
	assert_int_equal(val[6], 0 ^ 0xA4);
	assert_int_equal(val[7], 10 ^ 0x42);
	assert_int_equal(access_get_peer_address(&m, &got), 0);
	assert_addr_equal(&got, &a);
}

/* A valid contact value with @name, then patched by the case. */
static size_t contact_value(uint8_t *v, const char *name)
{
	struct ph_contact_attr c;
	size_t nl = strlen(name);

	memset(&c, 0, sizeof(c));
	c.state = PH_CONTACT_ONLINE;
	c.mapping = PH_MAP_ENDPOINT_INDEPENDENT;
	c.filtering = PH_FILTER_ENDPOINT_INDEPENDENT;
	c.name_len = (uint8_t)nl;
	c.reflexive.family = STUN_FAMILY_IPV4;
	memcpy(v, &c, sizeof(c));
	memcpy(v + sizeof(c), name, nl);
	return sizeof(c) + nl;
}

/* Parse a message holding @type = @val (+ a valid SESSION); expect the gate to refuse it. */
static void expect_refused(const char *what, uint16_t type, const uint8_t *val, size_t len)
{
	uint8_t buf[1500];
	struct stun_builder b;
	struct stun_msg m;
	uint16_t bad = 0;
	int n, err;
	struct access_contact c;
	struct access_keepalive ka;
	struct sockaddr_storage ss, many[2];
	enum ph_nat_mapping map;
	enum ph_nat_filtering filt;
	uint16_t i16, c16;
	uint32_t u32;
	uint8_t tok[PH_TOKEN_LEN];
	char name[PH_NAME_MAX + 1];
	const char *text;
	size_t sz;
	struct stun_attr_iter it;

	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	if (type != PH_ATTR_SESSION)
		access_add_session(&b, 1, token);
	stun_build_add(&b, type, val, len);
	n = access_msg_finish(&b, token, sizeof(token));
	assert_true(n > 0);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(access_attr_check_value(type, val, len), -STUN_E_BAD_VALUE);
	err = access_msg_check_attrs(&m, &bad);
	if (err != -STUN_E_BAD_VALUE || bad != type)
		print_error("%s: check_attrs %d bad %#x\n", what, err, bad);
	assert_int_equal(err, -STUN_E_BAD_VALUE);
	assert_int_equal(bad, type);

	switch (type) {
	case PH_ATTR_SESSION:
		err = access_get_session(&m, &u32, tok);
		break;
	case PH_ATTR_KEEPALIVE:
		err = access_get_keepalive(&m, &ka);
		break;
	case PH_ATTR_LOCAL_ADDRESS:
		err = access_get_local_addresses(&m, many, 2, &sz);
		break;
	case PH_ATTR_CLAIMED_ADDRESS:
		err = access_get_claimed_address(&m, &ss);
		break;
	case PH_ATTR_NAT:
		err = access_get_nat(&m, &map, &filt);
		break;
	case PH_ATTR_PAGE:
		err = access_get_page(&m, &i16, &c16);
		break;
	case PH_ATTR_CONTACT:
		stun_attr_iter_init(&it);
		err = access_next_contact(&m, &it, &c);
		break;
	case PH_ATTR_PEER_ADDRESS:
		err = access_get_peer_address(&m, &ss);
		break;
	case PH_ATTR_PEER_NAME:
		err = access_get_peer_name(&m, name);
		break;
	case PH_ATTR_TEXT:
		err = access_get_text(&m, &text, &sz);
		break;
	case PH_ATTR_PRESENCE:
		err = access_get_presence(&m, &c);
		break;
	case PH_ATTR_PUNCH_FLAGS:
		err = access_get_punch_flags(&m, &u32);
		break;
	default:
		fail();
	}
	if (err != -STUN_E_BAD_VALUE)
		print_error("%s: getter returned %d\n", what, err);
	assert_int_equal(err, -STUN_E_BAD_VALUE);
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void test_lying_values(void **state)
{
	uint8_t v[1000];
	size_t n;
	int i;
	const struct {
		const char *name;
		uint8_t patch_off;
		uint8_t patch_val;
	} contact_patches[] = {
	    {"state out of range", 0, 4},
	    {"unknown flag", 1, 0x04},
	    {"mapping out of range", 2, 5},
	    {"filtering out of range", 3, 5},
	    {"name_len 0", 4, 0},
	    {"name_len longer than the value", 4, 6},
	    {"name_len shorter than the value", 4, 4},
	    {"name_len 255", 4, 255},
	    {"reflexive family 3", 8, 3},
	    {"local family 0xff", 28, 0xFF},
	};
	static const char *const bad_names[] = {
	    "a b", "a:b", "\x1b[2J", "tab\there", "caf\xc3\xa9", "nul\x7f", "new\nline",
	};
	static const char *const bad_texts[] = {
	    "\x1b]0;pwned\x07", /* OSC: retitles the terminal */
	    "bell\x07",		/* C0 */
	    "del\x7f",		/* DEL */
	    "c1 \xc2\x9b"
	    "2J",		 /* C1 CSI */
	    "overlong \xc0\xaf", /* overlong '/' */
	    "overlong3 \xe0\x80\xaf",
	    "surrogate \xed\xa0\x80",
	    "too big \xf4\x90\x80\x80",
	    "cut \xe2\x82", /* truncated sequence */
	    "lone \x80",    /* continuation without lead */
	    "f5 \xf5\x80\x80\x80",
	};

	(void)state;
	/* SESSION */
	memset(v, 1, sizeof(v));
	expect_refused("session 19", PH_ATTR_SESSION, v, 19);
	expect_refused("session 21", PH_ATTR_SESSION, v, 21);
	expect_refused("session 0", PH_ATTR_SESSION, v, 0);
	/* KEEPALIVE */
	be32(v, 20000), be32(v + 4, 3000), be32(v + 8, 60000);
	expect_refused("keepalive 11", PH_ATTR_KEEPALIVE, v, 11);
	be32(v, 0);
	expect_refused("keepalive interval 0", PH_ATTR_KEEPALIVE, v, 12);
	be32(v, ACCESS_KEEPALIVE_MAX_MS + 1);
	expect_refused("keepalive interval huge", PH_ATTR_KEEPALIVE, v, 12);
	be32(v, 20000), be32(v + 4, 20000);
	expect_refused("keepalive jitter == interval", PH_ATTR_KEEPALIVE, v, 12);
	be32(v + 4, 3000), be32(v + 8, 19999);
	expect_refused("keepalive timeout < interval", PH_ATTR_KEEPALIVE, v, 12);
	/* addresses: length must match the family */
	for (i = 0; i < 3; i++) {
		static const uint16_t types[] = {PH_ATTR_LOCAL_ADDRESS, PH_ATTR_CLAIMED_ADDRESS,
						 PH_ATTR_PEER_ADDRESS};

		memset(v, 0, 20);
		v[1] = STUN_FAMILY_IPV6;
		expect_refused("v6 family, v4 length", types[i], v, 8);
		v[1] = STUN_FAMILY_IPV4;
		expect_refused("v4 family, v6 length", types[i], v, 20);
		v[1] = 3;
		expect_refused("family 3", types[i], v, 8);
		v[1] = STUN_FAMILY_IPV4;
		expect_refused("short", types[i], v, 4);
	}
	/* NAT */
	memset(v, 0, 4);
	v[0] = PH_MAP_ADDRESS_PORT_DEPENDENT + 1;
	expect_refused("nat mapping", PH_ATTR_NAT, v, 4);
	v[0] = 0, v[1] = PH_FILTER_ADDRESS_PORT_DEPENDENT + 1;
	expect_refused("nat filtering", PH_ATTR_NAT, v, 4);
	v[1] = 0;
	expect_refused("nat 8 bytes", PH_ATTR_NAT, v, 8);
	/* PAGE */
	v[0] = 0, v[1] = 3, v[2] = 0, v[3] = 3;
	expect_refused("page index == count", PH_ATTR_PAGE, v, 4);
	expect_refused("page 2 bytes", PH_ATTR_PAGE, v, 2);
	/* CONTACT and PRESENCE */
	for (i = 0; i < (int)(sizeof(contact_patches) / sizeof(contact_patches[0])); i++) {
		n = contact_value(v, "alice");
		assert_int_equal(access_attr_check_value(PH_ATTR_CONTACT, v, n), 0);
		v[contact_patches[i].patch_off] = contact_patches[i].patch_val;
		expect_refused(contact_patches[i].name, PH_ATTR_CONTACT, v, n);
		expect_refused(contact_patches[i].name, PH_ATTR_PRESENCE, v, n);
	}
	n = contact_value(v, "alice");
	expect_refused("contact fixed part cut", PH_ATTR_CONTACT, v, 79);
	expect_refused("contact with trailing byte", PH_ATTR_CONTACT, v, n + 1);
	for (i = 0; i < (int)(sizeof(bad_names) / sizeof(bad_names[0])); i++) {
		n = contact_value(v, bad_names[i]);
		expect_refused(bad_names[i], PH_ATTR_CONTACT, v, n);
		expect_refused(bad_names[i], PH_ATTR_PEER_NAME, (const uint8_t *)bad_names[i],
			       strlen(bad_names[i]));
	}
	/* PEER_NAME lengths */
	memset(v, 'x', sizeof(v));
	expect_refused("name 0", PH_ATTR_PEER_NAME, v, 0);
	expect_refused("name 65", PH_ATTR_PEER_NAME, v, PH_NAME_MAX + 1);
	assert_int_equal(access_attr_check_value(PH_ATTR_PEER_NAME, v, PH_NAME_MAX), 0);
	/* TEXT */
	expect_refused("text 0", PH_ATTR_TEXT, v, 0);
	expect_refused("text 901", PH_ATTR_TEXT, v, PH_TEXT_MAX + 1);
	assert_int_equal(access_attr_check_value(PH_ATTR_TEXT, v, PH_TEXT_MAX), 0);
	for (i = 0; i < (int)(sizeof(bad_texts) / sizeof(bad_texts[0])); i++)
		expect_refused(bad_texts[i], PH_ATTR_TEXT, (const uint8_t *)bad_texts[i],
			       strlen(bad_texts[i]));
	/* PUNCH_FLAGS */
	be32(v, 2);
	expect_refused("punch flag 2", PH_ATTR_PUNCH_FLAGS, v, 4);
	be32(v, 1);
	expect_refused("punch 2 bytes", PH_ATTR_PUNCH_FLAGS, v, 2);

	/* The adders refuse what the getters would. */
	{
		uint8_t buf[256];
		struct stun_builder b;
		struct access_keepalive ka = {20000, 20000, 60000};
		struct access_contact c;

		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		assert_int_equal(access_add_keepalive(&b, &ka), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		assert_int_equal(access_add_peer_name(&b, "a b", 3), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		assert_int_equal(access_add_text(&b, "\x1b[2J", 4), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		assert_int_equal(access_add_nat(&b, (enum ph_nat_mapping)0x101, PH_FILTER_NONE),
				 -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		assert_int_equal(access_add_punch_flags(&b, 0x80), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		contact_init(&c, "", 0);
		assert_int_equal(access_add_contact(&b, &c), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		contact_init(&c, "ok", 0);
		c.reflexive.ss_family = AF_UNIX;
		assert_int_equal(access_add_contact(&b, &c), -EINVAL);
		/* Sticky: the builder keeps the first error. */
		assert_int_equal(stun_build_finish(&b), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_REQUEST, tid);
		contact_init(&c, "ok", 0);
		memset(c.name, 'n', sizeof(c.name)); /* not NUL-terminated */
		assert_int_equal(access_add_presence(&b, &c), -EINVAL);
	}
}

/* Lying TLV lengths never get past the parser; truncated datagrams neither. */
static void test_truncated(void **state)
{
	uint8_t buf[2048], copy[2048];
	struct access_contact cs[2];
	struct stun_msg m;
	size_t len, i;

	(void)state;
	contact_init(&cs[0], "alice", 0);
	contact_init(&cs[1], "bob", 1);
	len = build_all(buf, sizeof(buf), cs, 2);
	for (i = 0; i < len; i++)
		assert_int_not_equal(stun_msg_parse(&m, buf, i), 0);

	/*
	 * Each attribute's length field raised by 4 (still inside the message
	 * for all but the last): the parser either refuses, or the walk
	 * desynchronises and the fingerprint / integrity / gate refuse.
	 */
	for (i = STUN_HEADER_LEN; i + 4 <= len;) {
		uint16_t alen = (uint16_t)(buf[i + 2] << 8 | buf[i + 3]);
		uint16_t bad;
		int err;

		memcpy(copy, buf, len);
		copy[i + 2] = (uint8_t)((alen + 4) >> 8);
		copy[i + 3] = (uint8_t)(alen + 4);
		err = stun_msg_parse(&m, copy, len);
		if (!err)
			err = access_msg_check_attrs(&m, &bad);
		if (!err)
			err = access_msg_verify(&m, token, sizeof(token));
		assert_int_not_equal(err, 0);
		i += 4 + ((alen + 3u) & ~3u);
	}
}

static void test_check_attrs(void **state)
{
	uint8_t buf[512];
	struct stun_builder b;
	struct stun_msg m;
	struct sockaddr_storage a = ss4("10.0.0.1", 1);
	uint16_t bad = 0;
	int n;

	(void)state;
	/* Two SESSIONs: which one a getter reads would be up to the attacker. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_FETCH, STUN_CLASS_REQUEST),
			tid);
	access_add_session(&b, 1, token);
	access_add_session(&b, 2, token);
	n = access_msg_finish(&b, token, sizeof(token));
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(access_msg_check_attrs(&m, &bad), -STUN_E_DUPLICATE);
	assert_int_equal(bad, PH_ATTR_SESSION);

	/* Repeatable ones may repeat. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	access_add_local_address(&b, SA(a));
	access_add_local_address(&b, SA(a));
	n = access_msg_finish(&b, token, sizeof(token));
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(access_msg_check_attrs(&m, &bad), 0);

	/* A comprehension-required type nobody knows: 420 material. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST),
			tid);
	access_add_session(&b, 1, token);
	stun_build_add(&b, 0x4FFF, "abcd", 4);
	n = access_msg_finish(&b, token, sizeof(token));
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(access_msg_check_attrs(&m, &bad), -STUN_E_UNKNOWN_REQUIRED);
	assert_int_equal(bad, 0x4FFF);

	/* STUN's own checks still apply (a malformed USERNAME: too long). */
	{
		uint8_t big_buf[1024];
		char big[513];

		memset(big, 'u', sizeof(big));
		stun_build_init(&b, big_buf, sizeof(big_buf), STUN_BINDING_REQUEST, tid);
		stun_build_add(&b, STUN_ATTR_USERNAME, big, sizeof(big));
		access_add_session(&b, 1, token);
		n = stun_build_finish(&b);
		assert_true(n > 0);
		assert_int_equal(stun_msg_parse(&m, big_buf, (size_t)n), 0);
		assert_int_equal(access_msg_check_attrs(&m, &bad), -STUN_E_BAD_VALUE);
		assert_int_equal(bad, STUN_ATTR_USERNAME);
	}
}

static void test_integrity(void **state)
{
	uint8_t buf[2048], pair[PH_PAIR_KEY_LEN], other[PH_PAIR_KEY_LEN];
	struct access_contact cs[1];
	struct stun_builder b;
	struct stun_msg m;
	size_t len, i;
	uint32_t crc;
	int n;

	(void)state;
	contact_init(&cs[0], "alice", 0);
	len = build_all(buf, sizeof(buf), cs, 1);
	assert_int_equal(stun_msg_parse(&m, buf, len), 0);
	assert_int_equal(access_msg_verify(&m, token, sizeof(token)), 0);
	memcpy(other, token, sizeof(token));
	other[0] ^= 1;
	assert_int_equal(access_msg_verify(&m, other, sizeof(token)), -STUN_E_INTEGRITY);

	/*
	 * A forger edits a byte before the integrity and recomputes the
	 * FINGERPRINT (anyone can): the CRC passes, the HMAC does not.
	 */
	for (i = STUN_HEADER_LEN; i < len - ACCESS_TRAILER_LEN; i += 7) {
		uint8_t copy[2048];

		memcpy(copy, buf, len);
		copy[i] ^= 0x01;
		crc = (uint32_t)crc32(0, copy, (uInt)(len - 8)) ^ STUN_FINGERPRINT_XOR;
		copy[len - 4] = (uint8_t)(crc >> 24);
		copy[len - 3] = (uint8_t)(crc >> 16);
		copy[len - 2] = (uint8_t)(crc >> 8);
		copy[len - 1] = (uint8_t)crc;
		if (stun_msg_parse(&m, copy, len))
			continue; /* the flip broke the framing: refused anyway */
		assert_int_not_equal(access_msg_verify(&m, token, sizeof(token)), 0);
	}

	/* Pair-key protected PROBE between endpoints. */
	assert_int_equal(access_pair_key(token, sizeof(token), 7, token, 9, token, pair), 0);
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PROBE, STUN_CLASS_INDICATION),
			tid);
	access_add_peer_name(&b, "alice", 5);
	n = access_msg_finish(&b, pair, sizeof(pair));
	assert_true(n > 0);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_true(m.has_fingerprint);
	assert_int_equal(access_msg_verify(&m, pair, sizeof(pair)), 0);
	assert_int_equal(access_pair_key(token, sizeof(token), 7, token, 10, token, other), 0);
	assert_int_equal(access_msg_verify(&m, other, sizeof(other)), -STUN_E_INTEGRITY);

	/* No integrity at all: -ENOENT, never "verified". */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PROBE, STUN_CLASS_INDICATION),
			tid);
	access_add_peer_name(&b, "alice", 5);
	stun_build_fingerprint(&b);
	n = stun_build_finish(&b);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)n), 0);
	assert_int_equal(access_msg_verify(&m, pair, sizeof(pair)), -ENOENT);

	/* No key: refused when building. */
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_PROBE, STUN_CLASS_INDICATION),
			tid);
	assert_int_equal(access_msg_finish(&b, NULL, 0), -EINVAL);
}

static void test_pair_key(void **state)
{
	static const uint8_t secret[] = "server pair secret";
	static const uint8_t ta[PH_TOKEN_LEN] = "token of 100...", tb[PH_TOKEN_LEN] = "token of 200...";
	static const uint8_t tc[PH_TOKEN_LEN] = "other token....";
	uint8_t k1[PH_PAIR_KEY_LEN], k2[PH_PAIR_KEY_LEN], k3[PH_PAIR_KEY_LEN];
	uint8_t ref[EVP_MAX_MD_SIZE];
	uint8_t msg[12 + 2 * (4 + PH_TOKEN_LEN)] = "pinhole pair";
	unsigned int rlen = 0;

	(void)state;
	assert_int_equal(access_pair_key(secret, sizeof(secret), 100, ta, 200, tb, k1), 0);
	assert_int_equal(access_pair_key(secret, sizeof(secret), 200, tb, 100, ta, k2), 0);
	assert_memory_equal(k1, k2, PH_PAIR_KEY_LEN);
	assert_int_equal(access_pair_key(secret, sizeof(secret), 100, ta, 201, tb, k3), 0);
	assert_memory_not_equal(k1, k3, PH_PAIR_KEY_LEN);
	assert_int_equal(access_pair_key(secret, sizeof(secret), 101, ta, 200, tb, k3), 0);
	assert_memory_not_equal(k1, k3, PH_PAIR_KEY_LEN);
	/* The same ids with a new session's token (a slot's id came round): a new key. */
	assert_int_equal(access_pair_key(secret, sizeof(secret), 100, tc, 200, tb, k3), 0);
	assert_memory_not_equal(k1, k3, PH_PAIR_KEY_LEN);
	/* (HMAC zero-pads keys, so a trailing NUL would not count: change a byte.) */
	assert_int_equal(access_pair_key((const uint8_t *)"server pair secreT", sizeof(secret), 100,
					 ta, 200, tb, k3),
			 0);
	assert_memory_not_equal(k1, k3, PH_PAIR_KEY_LEN);
	assert_int_equal(access_pair_key(NULL, 0, 1, ta, 2, tb, k3), -EINVAL);
	assert_int_equal(access_pair_key(secret, sizeof(secret), 1, NULL, 2, tb, k3), -EINVAL);

	/* The documented construction, computed independently. */
	msg[12 + 3] = 100;
	memcpy(msg + 12 + 4, ta, PH_TOKEN_LEN);
	msg[12 + 20 + 3] = 200;
	memcpy(msg + 12 + 24, tb, PH_TOKEN_LEN);
	assert_non_null(HMAC(EVP_sha256(), secret, sizeof(secret), msg, sizeof(msg), ref, &rlen));
	assert_int_equal(rlen, PH_PAIR_KEY_LEN);
	assert_memory_equal(k1, ref, PH_PAIR_KEY_LEN);
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/*
 * Page @n contacts as the server would: plan, then for each page build
 * header + SESSION + PAGE + fill + trailer.  Check the size bound, that
 * fill agrees with the plan, and that every contact appears exactly once,
 * in order.  Returns the page count.
 */
static size_t page_all(const struct access_contact *cs, size_t n)
{
	uint8_t buf[4096];
	size_t first = 0, count = 0, pages, p, seen = 0;
	int r;

	r = access_page_plan(cs, n, 0, &first, &count);
	assert_true(r >= 1);
	pages = (size_t)r;
	for (p = 0; p < pages; p++) {
		struct stun_builder b;
		struct stun_msg m;
		struct stun_attr_iter it;
		struct access_contact got;
		uint16_t idx, cnt;
		int len, filled;

		assert_int_equal(access_page_plan(cs, n, p, &first, &count), (int)pages);
		assert_int_equal(first, seen);
		assert_true(count > 0 || n == 0);
		/* A buffer larger than the limit: the limit, not the buffer, must bind. */
		stun_build_init(&b, buf, sizeof(buf),
				access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS), tid);
		access_add_session(&b, 42, token);
		access_add_page(&b, (uint16_t)p, (uint16_t)pages);
		/* Offer everything left: the pager must stop exactly where the plan did. */
		filled = access_page_fill(&b, cs + first, n - first);
		assert_int_equal(filled, (int)count);
		len = access_msg_finish(&b, token, sizeof(token));
		assert_true(len > 0);
		assert_true(len <= PH_DATAGRAM_MAX);

		assert_int_equal(stun_msg_parse(&m, buf, (size_t)len), 0);
		assert_int_equal(access_msg_check_attrs(&m, NULL), 0);
		assert_int_equal(access_msg_verify(&m, token, sizeof(token)), 0);
		assert_int_equal(access_get_page(&m, &idx, &cnt), 0);
		assert_int_equal(idx, p);
		assert_int_equal(cnt, pages);
		stun_attr_iter_init(&it);
		while ((r = access_next_contact(&m, &it, &got)) == 1) {
			assert_true(seen < n);
			assert_string_equal(got.name, cs[seen].name);
			seen++;
		}
		assert_int_equal(r, 0);
		assert_int_equal(seen, first + count);
	}
	assert_int_equal(seen, n);
	/* One past the last page does not exist. */
	assert_int_equal(access_page_plan(cs, n, pages, &first, &count), -ERANGE);
	return pages;
}

/* The session key depends on every input, and the clear token alone does not give it. */
static void test_session_key(void **state)
{
	static const uint8_t lt[32] = { 1, 2, 3 };
	static const uint8_t lt2[32] = { 1, 2, 4 };
	static const char nonce[] = "obMatJos2gAAAnonce-one";
	uint8_t token[PH_TOKEN_LEN] = { 9, 9, 9 };
	uint8_t k1[PH_PAIR_KEY_LEN], k2[PH_PAIR_KEY_LEN];
	uint8_t expect[PH_PAIR_KEY_LEN];
	uint8_t msg[64];
	unsigned int outlen = 0;
	size_t n = 0;
	(void)state;

	assert_int_equal(access_session_key(lt, sizeof(lt), nonce, strlen(nonce), 0x01020304, token, k1), 0);
	/* Independent computation of the documented construction. */
	memcpy(msg, "pinhole session", 15);
	n = 15;
	memcpy(msg + n, nonce, strlen(nonce));
	n += strlen(nonce);
	msg[n++] = 1, msg[n++] = 2, msg[n++] = 3, msg[n++] = 4;
	memcpy(msg + n, token, PH_TOKEN_LEN);
	n += PH_TOKEN_LEN;
	assert_non_null(HMAC(EVP_sha256(), lt, sizeof(lt), msg, n, expect, &outlen));
	assert_memory_equal(k1, expect, PH_PAIR_KEY_LEN);
	assert_memory_not_equal(k1, token, PH_TOKEN_LEN);

	assert_int_equal(access_session_key(lt2, sizeof(lt2), nonce, strlen(nonce), 0x01020304, token, k2), 0);
	assert_memory_not_equal(k1, k2, PH_PAIR_KEY_LEN);
	assert_int_equal(access_session_key(lt, sizeof(lt), nonce, strlen(nonce) - 1, 0x01020304, token, k2), 0);
	assert_memory_not_equal(k1, k2, PH_PAIR_KEY_LEN);
	assert_int_equal(access_session_key(lt, sizeof(lt), nonce, strlen(nonce), 0x01020305, token, k2), 0);
	assert_memory_not_equal(k1, k2, PH_PAIR_KEY_LEN);
	token[15] ^= 1;
	assert_int_equal(access_session_key(lt, sizeof(lt), nonce, strlen(nonce), 0x01020304, token, k2), 0);
	assert_memory_not_equal(k1, k2, PH_PAIR_KEY_LEN);
	assert_int_equal(access_session_key(NULL, 0, nonce, strlen(nonce), 1, token, k2), -EINVAL);
}

static void test_pager(void **state)
{
	enum { N = 500 };
	struct access_contact *cs = calloc(N, sizeof(*cs));
	char name[PH_NAME_MAX + 1];
	size_t n, i, pages;

	(void)state;
	assert_non_null(cs);
	/* Longest names: 96 bytes of overhead + 7 * 148 = 1132 <= 1200 < 96 + 8 * 148. */
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "%064zu", i);
		contact_init(&cs[i], name, (int)i);
		assert_int_equal(strlen(cs[i].name), PH_NAME_MAX);
	}
	for (n = 0; n <= N; n++) {
		pages = page_all(cs, n);
		assert_int_equal(pages, n ? (n + 6) / 7 : 1);
	}

	/* Mixed lengths, deterministic pseudo-random. */
	for (i = 0; i < N; i++) {
		size_t len = 1 + rng() % PH_NAME_MAX;

		snprintf(name, sizeof(name), "%0*zu", (int)len, i);
		contact_init(&cs[i], name, (int)i);
	}
	for (n = 0; n <= N; n += 7)
		page_all(cs, n);
	page_all(cs, N);

	/* A small buffer binds too: fill stops before the buffer's end. */
	{
		uint8_t small[400];
		struct stun_builder b;
		int filled, len;

		stun_build_init(&b, small, sizeof(small),
				access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS), tid);
		access_add_session(&b, 42, token);
		filled = access_page_fill(&b, cs, N);
		assert_true(filled > 0);
		len = access_msg_finish(&b, token, sizeof(token));
		assert_true(len > 0 && (size_t)len <= sizeof(small));
	}

	/* A contact that cannot be encoded is an error, not a silent skip. */
	cs[3].state = (enum ph_contact_state)9;
	{
		size_t first, count;
		uint8_t buf[1500];
		struct stun_builder b;

		assert_int_equal(access_page_plan(cs, 10, 0, &first, &count), -EINVAL);
		stun_build_init(&b, buf, sizeof(buf),
				access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS), tid);
		assert_int_equal(access_page_fill(&b, cs, 10), -EINVAL);
	}
	free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_methods),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_peer_address_xor),
	    cmocka_unit_test(test_lying_values),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_check_attrs),
	    cmocka_unit_test(test_integrity),
	    cmocka_unit_test(test_pair_key),
	    cmocka_unit_test(test_session_key),
	    cmocka_unit_test(test_pager),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
