// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: binding_answer(), the userspace Binding responder,
 * over an IPv4, an IPv6 and an IPv4-mapped IPv6 source.
 *
 * Properties for every reply it writes (a non-zero length):
 * - the request itself parsed and was a request (indications and
 *   responses are never answered);
 * - the reply parses with stun_msg_parse(), carries the request's
 *   transaction id and method, and is a success only for a Binding
 *   request (other methods get their own method's 400 error);
 * - it is never longer than BINDING_REPLY_MAX nor than the caller's cap;
 *   given one byte less than it needs, binding_answer() writes nothing
 *   (the out buffer is heap-allocated to exactly cap bytes, so ASan sees
 *   any write past it);
 * - amplification: a success is exactly 20 (header) + 4 + 8 (IPv4) or
 *   4 + 20 (IPv6) bytes of XOR-MAPPED-ADDRESS, + 8 of FINGERPRINT iff the
 *   request had one, so never more than 20 + 24 + 8 = 52 bytes; and no
 *   reply, error or success, is more than 32 bytes longer than its
 *   request (a minimal 20-byte request can earn at most a 44-byte IPv6
 *   success; an error's UNKNOWN-ATTRIBUTES costs 2 bytes per 4-byte
 *   attribute header that earned it);
 * - a success's XOR-MAPPED-ADDRESS is the source (IPv4 for a mapped one);
 * - a 420 lists only types present in the request that are unknown and
 *   comprehension-required, CHANGE-REQUEST or RESPONSE-PORT, each once;
 * - the answer is a pure function of its inputs (same bytes twice).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "binding.h"
#include "fuzz_util.h"
#include "stun.h"

FUZZ_SINK_DEFINE;

static struct sockaddr_storage src4, src6, src_mapped, want_mapped;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&src4;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src6;
	struct sockaddr_in6 *sm = (struct sockaddr_in6 *)&src_mapped;
	struct sockaddr_in *w = (struct sockaddr_in *)&want_mapped;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(54321);
	inet_pton(AF_INET, "198.18.7.9", &s4->sin_addr);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(40000);
	inet_pton(AF_INET6, "2001:db8::1:2:3", &s6->sin6_addr);
	sm->sin6_family = AF_INET6;
	sm->sin6_port = htons(1234);
	inet_pton(AF_INET6, "::ffff:198.19.0.1", &sm->sin6_addr);
	w->sin_family = AF_INET;
	w->sin_port = htons(1234);
	inet_pton(AF_INET, "198.19.0.1", &w->sin_addr);
	return 0;
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

/* Is @type a recorded attribute of @req? */
static int request_has(const struct stun_msg *req, uint16_t type)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t t, len;

	stun_attr_iter_init(&it);
	while (stun_msg_next_attr(req, &it, &t, &val, &len))
		if (t == type)
			return 1;
	return 0;
}

static void check_420(const struct stun_msg *req, const struct stun_msg *r)
{
	uint16_t types[STUN_MSG_MAX_UNKNOWN * 2];
	size_t n;

	FUZZ_CHECK(stun_msg_get_unknown_attrs(r, types, sizeof(types) / sizeof(types[0]), &n) == 0);
	FUZZ_CHECK(n >= 1 && n <= STUN_MSG_MAX_UNKNOWN);
	for (size_t i = 0; i < n; i++) {
		uint16_t t = types[i];

		FUZZ_CHECK(request_has(req, t));
		FUZZ_CHECK((stun_attr_required(t) && !stun_attr_known(t)) ||
			   t == STUN_ATTR_CHANGE_REQUEST || t == STUN_ATTR_RESPONSE_PORT);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(types[j] != t);
	}
}

static void answer_from(const uint8_t *data, size_t size, const struct sockaddr_storage *src,
			const struct sockaddr_storage *seen_as)
{
	uint8_t out[BINDING_REPLY_MAX], again[BINDING_REPLY_MAX];
	enum binding_outcome oc, oc2;
	struct sockaddr_storage xma;
	struct stun_msg req, r;
	uint16_t method;
	uint8_t *tight;
	size_t n, n2;
	int code;

	n = binding_answer(data, size, (const struct sockaddr *)src, out, sizeof(out), &oc);
	FUZZ_CHECK(oc >= 0 && oc < BINDING_OUTCOME_MAX);
	n2 = binding_answer(data, size, (const struct sockaddr *)src, again, sizeof(again), &oc2);
	FUZZ_CHECK(n == n2 && oc == oc2 && !memcmp(out, again, n));
	if (!n) {
		FUZZ_CHECK(oc == BINDING_CONSUMED || oc == BINDING_DROPPED);
		if (oc == BINDING_CONSUMED)
			FUZZ_CHECK(stun_msg_parse(&req, data, size) == 0 &&
				   req.type == STUN_BINDING_INDICATION);
		return;
	}
	FUZZ_CHECK(oc == BINDING_ANSWERED || oc == BINDING_ERROR_REPLY);
	FUZZ_CHECK(n <= BINDING_REPLY_MAX);
	FUZZ_CHECK(n <= size + 32);
	FUZZ_CHECK(stun_msg_parse(&req, data, size) == 0);
	FUZZ_CHECK(stun_type_class(req.type) == STUN_CLASS_REQUEST);
	method = stun_type_method(req.type);

	FUZZ_CHECK(stun_msg_parse(&r, out, n) == 0);
	FUZZ_CHECK(!memcmp(r.tid, req.tid, STUN_TID_LEN));
	FUZZ_CHECK(stun_type_method(r.type) == method);
	FUZZ_CHECK(!r.has_fingerprint || req.has_fingerprint);
	if (oc == BINDING_ANSWERED) {
		size_t want = STUN_HEADER_LEN + STUN_ATTR_HEADER_LEN +
			      (seen_as->ss_family == AF_INET ? 8 : 20) +
			      (req.has_fingerprint ? 8 : 0);

		FUZZ_CHECK(r.type == STUN_BINDING_SUCCESS && method == STUN_METHOD_BINDING);
		FUZZ_CHECK(n == want && n <= 20 + 24 + 8);
		FUZZ_CHECK(r.has_fingerprint == req.has_fingerprint);
		FUZZ_CHECK(stun_msg_get_xor_addr(&r, &xma) == 0 && addr_equal(&xma, seen_as));
		FUZZ_CHECK(r.n_attrs == 1u + r.has_fingerprint);
	} else {
		FUZZ_CHECK(stun_type_class(r.type) == STUN_CLASS_ERROR);
		FUZZ_CHECK(stun_msg_get_error(&r, &code, NULL, NULL) == 0);
		FUZZ_CHECK(code == STUN_ERR_BAD_REQUEST || code == STUN_ERR_UNKNOWN_ATTRIBUTE);
		FUZZ_CHECK(code == STUN_ERR_BAD_REQUEST || method == STUN_METHOD_BINDING);
		if (code == STUN_ERR_UNKNOWN_ATTRIBUTE)
			check_420(&req, &r);
		FUZZ_CHECK(!stun_msg_has(&r, STUN_ATTR_XOR_MAPPED_ADDRESS));
	}

	/* One byte short: nothing is written past the cap and nothing is sent. */
	tight = malloc(n - 1);
	FUZZ_CHECK(tight != NULL);
	n2 = binding_answer(data, size, (const struct sockaddr *)src, tight, n - 1, &oc2);
	FUZZ_CHECK(n2 == 0 && oc2 == BINDING_DROPPED);
	free(tight);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage unix_src = {.ss_family = AF_UNIX};
	uint8_t out[BINDING_REPLY_MAX];
	enum binding_outcome oc;

	answer_from(data, size, &src4, &src4);
	answer_from(data, size, &src6, &src6);
	answer_from(data, size, &src_mapped, &want_mapped);
	/* No usable source: never answered, whatever the bytes. */
	FUZZ_CHECK(binding_answer(data, size, NULL, out, sizeof(out), &oc) == 0 &&
		   oc == BINDING_DROPPED);
	FUZZ_CHECK(
	    binding_answer(data, size, (struct sockaddr *)&unix_src, out, sizeof(out), &oc) == 0 &&
	    oc == BINDING_DROPPED);
	return 0;
}
