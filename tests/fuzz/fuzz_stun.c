// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the STUN codec's gate and everything behind it.
 *
 * Properties checked on every input that stun_msg_parse() accepts:
 * - the parsed view describes exactly the datagram (length, tid, type bits);
 * - every getter on every known attribute type either refuses or hands out
 *   pointers and lengths inside the message (each byte is read, so ASan
 *   sees an over-read), with values in their documented ranges;
 * - the first-occurrence table agrees with the wire-order walk;
 * - stun_msg_check_attrs() returns one of its documented codes, and 0 only
 *   when every known comprehension-required attribute passes its value
 *   check and nothing unknown and required is present;
 * - rebuilding the recorded attributes (integrity and fingerprint aside)
 *   with the builder yields a message that parses to the same list, and a
 *   FINGERPRINT added to it verifies;
 * - an address read from (XOR-)MAPPED-ADDRESS written back by the builder
 *   reads back the same (the XOR with cookie and tid is an involution).
 * Inputs the parser refuses must be refused with a -STUN_E_* code.
 */
#include <errno.h>
#include <netinet/in.h>

#include "fuzz_util.h"
#include "stun.h"

FUZZ_SINK_DEFINE;

static const uint16_t known_types[] = {
    STUN_ATTR_MAPPED_ADDRESS,
    STUN_ATTR_CHANGE_REQUEST,
    STUN_ATTR_USERNAME,
    STUN_ATTR_MESSAGE_INTEGRITY,
    STUN_ATTR_ERROR_CODE,
    STUN_ATTR_UNKNOWN_ATTRIBUTES,
    STUN_ATTR_REALM,
    STUN_ATTR_NONCE,
    STUN_ATTR_MESSAGE_INTEGRITY_SHA256,
    STUN_ATTR_PASSWORD_ALGORITHM,
    STUN_ATTR_USERHASH,
    STUN_ATTR_XOR_MAPPED_ADDRESS,
    STUN_ATTR_PADDING,
    STUN_ATTR_RESPONSE_PORT,
    STUN_ATTR_PASSWORD_ALGORITHMS,
    STUN_ATTR_ALTERNATE_DOMAIN,
    STUN_ATTR_SOFTWARE,
    STUN_ATTR_ALTERNATE_SERVER,
    STUN_ATTR_FINGERPRINT,
    STUN_ATTR_RESPONSE_ORIGIN,
    STUN_ATTR_OTHER_ADDRESS,
};
#define N_KNOWN (sizeof(known_types) / sizeof(known_types[0]))

static const uint16_t addr_types[] = {
    STUN_ATTR_MAPPED_ADDRESS,  STUN_ATTR_XOR_MAPPED_ADDRESS, STUN_ATTR_ALTERNATE_SERVER,
    STUN_ATTR_RESPONSE_ORIGIN, STUN_ATTR_OTHER_ADDRESS,
};

static const struct {
	uint16_t type;
	size_t max;
} string_types[] = {
    {STUN_ATTR_USERNAME, STUN_USERNAME_MAX},
    {STUN_ATTR_REALM, STUN_REALM_MAX},
    {STUN_ATTR_NONCE, STUN_NONCE_MAX},
    {STUN_ATTR_SOFTWARE, STUN_SOFTWARE_MAX},
    {STUN_ATTR_ALTERNATE_DOMAIN, STUN_ALT_DOMAIN_MAX},
};

/* The RFC 5769 password, so the published vectors in the seed corpus verify. */
static const uint8_t key[] = "VOkJxbRl1RmTxUk/WvJxBt";

static int is_stun_error(int err)
{
	return err <= -STUN_E_TRUNCATED && err > -STUN_E_MAX;
}

static int addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* Write @ss back as attribute @type into a fresh message with @m's tid and read it again. */
static void addr_round_trip(const struct stun_msg *m, uint16_t type,
			    const struct sockaddr_storage *ss)
{
	uint8_t buf[64];
	struct stun_builder b;
	struct sockaddr_storage back;
	struct stun_msg r;
	int len;

	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_SUCCESS, m->tid);
	stun_build_add_addr(&b, type, (const struct sockaddr *)ss);
	len = stun_build_finish(&b);
	FUZZ_CHECK(len > 0);
	FUZZ_CHECK(stun_msg_parse(&r, buf, (size_t)len) == 0);
	FUZZ_CHECK(stun_msg_get_addr(&r, type, &back) == 0);
	FUZZ_CHECK(addr_equal(ss, &back));
}

static void check_getters(const struct stun_msg *m, const uint8_t *data, size_t size)
{
	const uint8_t *body = data + STUN_HEADER_LEN;
	size_t blen = size - STUN_HEADER_LEN;
	struct sockaddr_storage ss;
	const uint8_t *val;
	uint16_t vlen;
	const char *s;
	size_t n, n2;
	uint16_t types[STUN_MSG_MAX_UNKNOWN * 4], few[2];
	uint32_t u32;
	uint16_t u16;
	int err, code;

	for (size_t i = 0; i < N_KNOWN; i++) {
		err = stun_msg_attr(m, known_types[i], &val, &vlen);
		FUZZ_CHECK(err == 0 || err == -ENOENT);
		FUZZ_CHECK(stun_msg_has(m, known_types[i]) == (err == 0));
		if (err == 0) {
			FUZZ_CHECK(fuzz_inside(val, vlen, body, blen));
			fuzz_touch(val, vlen);
		}
	}
	/* Types the codec does not know are refused, not guessed at. */
	FUZZ_CHECK(stun_msg_attr(m, 0x0002, &val, &vlen) == -EINVAL);
	FUZZ_CHECK(!stun_msg_has(m, 0x4001));
	FUZZ_CHECK(stun_msg_get_addr(m, STUN_ATTR_USERNAME, &ss) == -EINVAL);

	for (size_t i = 0; i < sizeof(addr_types) / sizeof(addr_types[0]); i++) {
		memset(&ss, 0xA5, sizeof(ss));
		err = stun_msg_get_addr(m, addr_types[i], &ss);
		FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
		if (err == 0) {
			FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
			addr_round_trip(m, addr_types[i], &ss);
		}
	}
	for (size_t i = 0; i < sizeof(string_types) / sizeof(string_types[0]); i++) {
		err = stun_msg_get_string(m, string_types[i].type, &s, &n);
		FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
		if (err == 0) {
			FUZZ_CHECK(n <= string_types[i].max);
			FUZZ_CHECK(fuzz_inside(s, n, body, blen));
			fuzz_touch(s, n);
		}
	}
	err = stun_msg_get_error(m, &code, &s, &n);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	if (err == 0) {
		FUZZ_CHECK(code >= 300 && code <= 699);
		FUZZ_CHECK(n <= STUN_REASON_MAX);
		FUZZ_CHECK(n == 0 || fuzz_inside(s, n, body, blen));
		fuzz_touch(s, n);
	}
	err = stun_msg_get_unknown_attrs(m, types, sizeof(types) / sizeof(types[0]), &n);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	if (err == 0) {
		/* A short output array changes nothing but how many are copied. */
		FUZZ_CHECK(stun_msg_get_unknown_attrs(m, few, 2, &n2) == 0 && n2 == n);
		for (size_t i = 0; i < n && i < 2; i++)
			FUZZ_CHECK(few[i] == types[i]);
	}
	err = stun_msg_get_change_request(m, &u32);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	err = stun_msg_get_response_port(m, &u16);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	err = stun_msg_get_userhash(m, &val);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	if (err == 0) {
		FUZZ_CHECK(fuzz_inside(val, STUN_USERHASH_LEN, body, blen));
		fuzz_touch(val, STUN_USERHASH_LEN);
	}
	err = stun_msg_get_password_algorithm(m, &u16);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	err = stun_msg_get_password_algorithms(m, types, sizeof(types) / sizeof(types[0]), &n);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE);
	if (err == 0)
		FUZZ_CHECK(stun_msg_get_password_algorithms(m, few, 2, &n2) == 0 && n2 == n);

	err = stun_msg_check_integrity(m, key, sizeof(key) - 1);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE ||
		   err == -STUN_E_INTEGRITY);
	err = stun_msg_check_integrity_sha256(m, key, sizeof(key) - 1);
	FUZZ_CHECK(err == 0 || err == -ENOENT || err == -STUN_E_BAD_VALUE ||
		   err == -STUN_E_INTEGRITY);
}

/* Attributes the builder computes itself rather than copying. */
static int computed(uint16_t type)
{
	return type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
	       type == STUN_ATTR_FINGERPRINT;
}

static void check_walk_and_rebuild(const struct stun_msg *m, const uint8_t *data, size_t size)
{
	static uint8_t out[70000];
	struct stun_attr_iter it, it2;
	struct stun_builder b;
	struct stun_msg r;
	const uint8_t *val, *val2, *first;
	uint16_t type, type2, len, len2, flen;
	unsigned int count = 0;
	int rlen;

	stun_build_init(&b, out, sizeof(out), m->type, m->tid);
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		count++;
		FUZZ_CHECK(fuzz_inside(val, len, data + STUN_HEADER_LEN, size - STUN_HEADER_LEN));
		/* The first occurrence the table holds is the first one the walk meets. */
		if (stun_attr_known(type)) {
			FUZZ_CHECK(stun_msg_attr(m, type, &first, &flen) == 0);
			FUZZ_CHECK(first <= val);
		}
		if (!computed(type))
			stun_build_add(&b, type, val, len);
	}
	FUZZ_CHECK(count == m->n_attrs);

	rlen = stun_build_finish(&b);
	/* Never longer than what it came from: the builder must have had room. */
	FUZZ_CHECK(rlen >= STUN_HEADER_LEN && (size_t)rlen <= size);
	FUZZ_CHECK(stun_msg_parse(&r, out, (size_t)rlen) == 0);
	FUZZ_CHECK(r.type == m->type && !memcmp(r.tid, m->tid, STUN_TID_LEN));
	stun_attr_iter_init(&it);
	stun_attr_iter_init(&it2);
	for (;;) {
		int more;

		do
			more = stun_msg_next_attr(m, &it, &type, &val, &len);
		while (more && computed(type));
		if (!more)
			break;
		FUZZ_CHECK(stun_msg_next_attr(&r, &it2, &type2, &val2, &len2) == 1);
		FUZZ_CHECK(type == type2 && len == len2 && !memcmp(val, val2, len));
	}
	FUZZ_CHECK(stun_msg_next_attr(&r, &it2, &type2, &val2, &len2) == 0);

	/* A fingerprint on the rebuilt message verifies (if it still fits in 16 bits). */
	if (stun_build_fingerprint(&b) == 0) {
		rlen = stun_build_finish(&b);
		FUZZ_CHECK(rlen > 0);
		FUZZ_CHECK(stun_msg_parse(&r, out, (size_t)rlen) == 0 && r.has_fingerprint);
	}
}

static void check_attrs_verdict(const struct stun_msg *m)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len, bad = 0;
	int err = stun_msg_check_attrs(m, &bad);

	FUZZ_CHECK(err == 0 || err == -STUN_E_DUPLICATE || err == -STUN_E_BAD_VALUE ||
		   err == -STUN_E_UNKNOWN_REQUIRED);
	if (err == -STUN_E_DUPLICATE || err == -STUN_E_BAD_VALUE)
		FUZZ_CHECK(stun_attr_known(bad) && stun_attr_required(bad));
	if (err == -STUN_E_UNKNOWN_REQUIRED)
		FUZZ_CHECK(!stun_attr_known(bad) && stun_attr_required(bad) && m->n_unknown > 0);
	if (err)
		return;
	FUZZ_CHECK(m->n_unknown == 0);
	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(m, &it, &type, &val, &len)) {
		FUZZ_CHECK(stun_attr_known(type) || !stun_attr_required(type));
		if (stun_attr_known(type) && stun_attr_required(type))
			FUZZ_CHECK(stun_attr_check_value(type, val, len) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_msg m;
	int err;

	err = stun_msg_parse(&m, data, size);
	if (err) {
		FUZZ_CHECK(is_stun_error(err));
		FUZZ_CHECK(stun_strerror(err) != NULL);
		return 0;
	}
	FUZZ_CHECK(size >= STUN_HEADER_LEN && m.buf == data && m.len == size);
	FUZZ_CHECK(m.tid == data + 8 && (m.type & 0xC000) == 0);
	FUZZ_CHECK(m.n_unknown <= STUN_MSG_MAX_UNKNOWN);
	check_getters(&m, data, size);
	check_attrs_verdict(&m);
	check_walk_and_rebuild(&m, data, size);
	return 0;
}
