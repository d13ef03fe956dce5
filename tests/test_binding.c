// SPDX-License-Identifier: MIT
/*
 * Binding responder against the Binding rules.  Requests and expected
 * responses are written out by hand here (hex, FINGERPRINT via zlib), never
 * produced by the codec under test.  The transaction id and addresses are
 * those of RFC 5769 §2.2/§2.3, so the XOR-MAPPED-ADDRESS bytes below are
 * the published ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <zlib.h>

#include "binding.h"

#define TID "b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
#define COOKIE "21 12 a4 42"
/* XOR-MAPPED-ADDRESS attributes for 192.0.2.1:32853 and
 * [2001:db8:1234:5678:11:2233:4455:6677]:32853 */
#define XMA4 "00 20 00 08 00 01 a1 47 e1 12 a6 43"
#define XMA6 "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"
/* ERROR-CODE 400 "Bad Request" (15 bytes + 1 pad) and 420 "Unknown Attribute" (21 + 3) */
#define EC400 "00 09 00 0f 00 00 04 00 42 61 64 20 52 65 71 75 65 73 74 00"
#define EC420 "00 09 00 15 00 00 04 14 55 6e 6b 6e 6f 77 6e 20 41 74 74 72 69 62 75 74 65 00 00 00"

/* RESPONSE-ORIGIN 198.51.100.1:3478 / [2001:db8::1]:3478, OTHER-ADDRESS .2:3479 / ::2:3479 */
#define RO4 "80 2b 00 08 00 01 0d 96 c6 33 64 01"
#define OA4 "80 2c 00 08 00 01 0d 97 c6 33 64 02"
#define RO6 "80 2b 00 14 00 02 0d 96 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01"
#define OA6 "80 2c 00 14 00 02 0d 97 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02"

static struct sockaddr_in src4, origin4, other4;
static struct sockaddr_in6 src6, src_mapped, origin6, other6, origin_mapped, other_mapped;

static int setup_sources(void **state)
{
	src4.sin_family = AF_INET;
	src4.sin_port = htons(32853);
	inet_pton(AF_INET, "192.0.2.1", &src4.sin_addr);
	src6.sin6_family = AF_INET6;
	src6.sin6_port = htons(32853);
	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677", &src6.sin6_addr);
	src_mapped.sin6_family = AF_INET6;
	src_mapped.sin6_port = htons(32853);
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &src_mapped.sin6_addr);

	origin4.sin_family = other4.sin_family = AF_INET;
	origin4.sin_port = htons(3478);
	other4.sin_port = htons(3479);
	inet_pton(AF_INET, "198.51.100.1", &origin4.sin_addr);
	inet_pton(AF_INET, "198.51.100.2", &other4.sin_addr);
	origin6.sin6_family = other6.sin6_family = AF_INET6;
	origin6.sin6_port = htons(3478);
	other6.sin6_port = htons(3479);
	inet_pton(AF_INET6, "2001:db8::1", &origin6.sin6_addr);
	inet_pton(AF_INET6, "2001:db8::2", &other6.sin6_addr);
	origin_mapped.sin6_family = other_mapped.sin6_family = AF_INET6;
	origin_mapped.sin6_port = htons(3478);
	other_mapped.sin6_port = htons(3479);
	inet_pton(AF_INET6, "::ffff:198.51.100.1", &origin_mapped.sin6_addr);
	inet_pton(AF_INET6, "::ffff:198.51.100.2", &other_mapped.sin6_addr);
	return 0;
}

/* Source addresses every rule is exercised with. */
#define N_SOURCES 2
static const struct sockaddr *source(int i)
{
	return i == 0 ? (const struct sockaddr *)&src4 : (const struct sockaddr *)&src6;
}

static size_t hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned int v;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void set_len(uint8_t *msg, size_t total)
{
	msg[2] = (uint8_t)((total - 20) >> 8);
	msg[3] = (uint8_t)(total - 20);
}

/* Append a FINGERPRINT over msg[0..n), fixing the length field first. */
static size_t add_fp(uint8_t *msg, size_t n)
{
	uint32_t crc;

	set_len(msg, n + 8);
	crc = (uint32_t)crc32(0, msg, (uInt)n) ^ 0x5354554Eu;
	msg[n] = 0x80;
	msg[n + 1] = 0x28;
	msg[n + 2] = 0;
	msg[n + 3] = 4;
	msg[n + 4] = crc >> 24;
	msg[n + 5] = (crc >> 16) & 0xff;
	msg[n + 6] = (crc >> 8) & 0xff;
	msg[n + 7] = crc & 0xff;
	return n + 8;
}

/*
 * A message from hex whose length field is written out by hand: checked
 * against the bytes (so a typo in a vector fails loudly), then optionally
 * closed with a FINGERPRINT.
 */
static size_t msg_hex(uint8_t *buf, size_t cap, const char *s, bool fp)
{
	size_t n = hex(s, buf, cap);

	assert_true(n >= 20);
	assert_int_equal((size_t)(buf[2] << 8 | buf[3]), n - 20);
	return fp ? add_fp(buf, n) : n;
}

/*
 * Run binding_answer (ctx NULL) or binding_answer_ctx and compare with the
 * expected outcome and bytes.
 */
static void expect_ctx(const uint8_t *req, size_t len, const struct sockaddr *src,
		       const struct binding_ctx *ctx, enum binding_outcome want,
		       const uint8_t *reply, size_t reply_len)
{
	uint8_t out[BINDING_REPLY_MAX + 16];
	enum binding_outcome got = BINDING_OUTCOME_MAX;
	uint8_t *exact = malloc(len ? len : 1);
	size_t n, i;

	assert_non_null(exact);
	memcpy(exact, req, len);
	memset(out, 0xEE, sizeof(out));
	if (ctx)
		n = binding_answer_ctx(exact, len, src, ctx, out, BINDING_REPLY_MAX, &got);
	else
		n = binding_answer(exact, len, src, out, BINDING_REPLY_MAX, &got);
	free(exact);
	if (got != want)
		fail_msg("outcome %s, want %s", binding_outcome_name(got),
			 binding_outcome_name(want));
	assert_int_equal(n, reply_len);
	if (reply_len)
		assert_memory_equal(out, reply, reply_len);
	for (i = n; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xEE);
}

static void expect(const uint8_t *req, size_t len, const struct sockaddr *src,
		   enum binding_outcome want, const uint8_t *reply, size_t reply_len)
{
	expect_ctx(req, len, src, NULL, want, reply, reply_len);
}

static void expect_silent(const uint8_t *req, size_t len, enum binding_outcome want)
{
	int s;

	for (s = 0; s < N_SOURCES; s++)
		expect(req, len, source(s), want, NULL, 0);
}

/* Expected success response for source @s, with FINGERPRINT iff @fp. */
static size_t success_for(int s, bool fp, uint8_t *buf)
{
	if (s == 0)
		return msg_hex(buf, 256, "01 01 00 0c " COOKIE " " TID " " XMA4, fp);
	return msg_hex(buf, 256, "01 01 00 18 " COOKIE " " TID " " XMA6, fp);
}

/* The request from @hexreq must be answered with success, for every source. */
static void expect_success(const char *hexreq, bool fp)
{
	uint8_t req[1024], want[256];
	size_t n = msg_hex(req, sizeof(req), hexreq, fp), w;
	int s;

	for (s = 0; s < N_SOURCES; s++) {
		w = success_for(s, fp, want);
		expect(req, n, source(s), BINDING_ANSWERED, want, w);
	}
}

/* The request must get the error response @hexresp (FINGERPRINT iff @fp), for every source. */
static void expect_error(const char *hexreq, const char *hexresp, bool fp)
{
	uint8_t req[1024], want[256];
	size_t n = msg_hex(req, sizeof(req), hexreq, fp);
	size_t w = msg_hex(want, sizeof(want), hexresp, fp);
	int s;

	for (s = 0; s < N_SOURCES; s++)
		expect(req, n, source(s), BINDING_ERROR_REPLY, want, w);
}

#define REQ(len) "00 01 " len " " COOKIE " " TID
#define ERR400 "01 11 00 14 " COOKIE " " TID " " EC400

/* Rule 10: exactly XOR-MAPPED-ADDRESS, no SOFTWARE, IPv4 and IPv6. */
static void test_success_plain(void **state)
{
	uint8_t req[64], want[64];
	size_t n = msg_hex(req, sizeof(req), REQ("00 00"), false);
	size_t w = success_for(0, false, want);

	expect_success(REQ("00 00"), false);
	/* an IPv4-mapped IPv6 source is answered as IPv4 */
	expect(req, n, (struct sockaddr *)&src_mapped, BINDING_ANSWERED, want, w);
}

/* Rules 6 and 10: FINGERPRINT in the request, FINGERPRINT in the response. */
static void test_success_fingerprint(void **state)
{
	uint8_t req[64], want[64];
	size_t n = msg_hex(req, sizeof(req), REQ("00 00"), true);
	size_t w = success_for(0, true, want);

	expect_success(REQ("00 00"), true);
	expect(req, n, (struct sockaddr *)&src_mapped, BINDING_ANSWERED, want, w);
}

/* Rule 9 (and harmless known attributes): still the plain success response. */
static void test_success_ignores_optional(void **state)
{
	/* SOFTWARE "abc", unknown optional 0x8050, SOFTWARE again */
	expect_success(REQ("00 14") " 80 22 00 03 61 62 63 00 80 50 00 02 ff ff 00 00"
				    " 80 22 00 00",
		       false);
	expect_success(REQ("00 14") " 80 22 00 03 61 62 63 00 80 50 00 02 ff ff 00 00"
				    " 80 22 00 00",
		       true);
	/* a malformed comprehension-optional attribute (ALTERNATE-SERVER of 3 bytes) */
	expect_success(REQ("00 08") " 80 23 00 03 00 01 02 00", false);
	/* CHANGE-REQUEST with no flag, PADDING, USERNAME, MESSAGE-INTEGRITY (not checked) */
	expect_success(
	    REQ("00 34") " 00 03 00 04 00 00 00 00"
			 " 00 26 00 05 00 00 00 00 00 00 00 00"
			 " 00 06 00 01 75 00 00 00"
			 " 00 08 00 14 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13",
	    false);
}

/* USERNAME of 512 bytes is accepted, 513 is a 400 (rule 8). */
static void test_username_limit(void **state)
{
	uint8_t req[600], want[256];
	size_t w, s;
	size_t n;

	for (s = 0; s < N_SOURCES; s++) {
		n = hex(REQ("02 04") " 00 06 02 00", req, sizeof(req));
		memset(req + n, 'u', 512);
		n += 512;
		w = success_for((int)s, false, want);
		expect(req, n, source((int)s), BINDING_ANSWERED, want, w);

		n = hex(REQ("02 08") " 00 06 02 01", req, sizeof(req));
		memset(req + n, 'u', 516);
		req[n + 513] = req[n + 514] = req[n + 515] = 0;
		n += 516;
		w = msg_hex(want, sizeof(want), ERR400, false);
		expect(req, n, source((int)s), BINDING_ERROR_REPLY, want, w);
	}
}

/* Rules 1-6: dropped silently, nothing written. */
static void test_malformed_dropped(void **state)
{
	uint8_t req[128];
	size_t n;

	/* 1: shorter than 20 bytes (and empty) */
	n = hex(REQ("00 00"), req, sizeof(req));
	expect_silent(req, 19, BINDING_DROPPED);
	expect_silent(req, 0, BINDING_DROPPED);
	/* 2: top bits */
	req[0] = 0x40;
	expect_silent(req, n, BINDING_DROPPED);
	req[0] = 0x80;
	expect_silent(req, n, BINDING_DROPPED);
	/* 3: cookie */
	n = hex("00 01 00 00 21 12 a4 43 " TID, req, sizeof(req));
	expect_silent(req, n, BINDING_DROPPED);
	/* 4: length not a multiple of 4; length != datagram - 20 either way */
	n = hex("00 01 00 02 " COOKIE " " TID " 80 22 00 01", req, sizeof(req));
	expect_silent(req, n - 2, BINDING_DROPPED);
	n = hex(REQ("00 08") " 80 22 00 01 61 00 00 00", req, sizeof(req));
	expect_silent(req, n - 4, BINDING_DROPPED);
	n = hex(REQ("00 04") " 80 22 00 01 61 00 00 00", req, sizeof(req));
	expect_silent(req, n, BINDING_DROPPED);
	/* 5: an attribute longer than what is left */
	n = hex(REQ("00 08") " 80 22 00 05 61 62 63 64", req, sizeof(req));
	expect_silent(req, n, BINDING_DROPPED);
	n = hex(REQ("00 0c") " 80 22 00 00 00 06 ff ff 61 62 63 64", req, sizeof(req));
	expect_silent(req, n, BINDING_DROPPED);
	/* 6: FINGERPRINT wrong, not last, wrong length */
	n = msg_hex(req, sizeof(req), REQ("00 00"), true);
	req[n - 1] ^= 0x01;
	expect_silent(req, n, BINDING_DROPPED);
	n = msg_hex(req, sizeof(req), REQ("00 00"), true);
	memcpy(req + n, "\x80\x22\x00\x00", 4);
	n += 4;
	set_len(req, n);
	expect_silent(req, n, BINDING_DROPPED);
	n = hex(REQ("00 0c") " 80 28 00 08 00 00 00 00 00 00 00 00", req, sizeof(req));
	expect_silent(req, n, BINDING_DROPPED);
}

/* Rule 7: indications and responses. */
static void test_not_a_request(void **state)
{
	uint8_t req[64];
	size_t n;

	/* Binding indication: consumed (keepalive), with or without FINGERPRINT */
	n = msg_hex(req, sizeof(req), "00 11 00 00 " COOKIE " " TID, false);
	expect_silent(req, n, BINDING_CONSUMED);
	n = msg_hex(req, sizeof(req), "00 11 00 00 " COOKIE " " TID, true);
	expect_silent(req, n, BINDING_CONSUMED);
	/* with an unknown comprehension-required attribute: still no answer */
	n = msg_hex(req, sizeof(req), "00 11 00 04 " COOKIE " " TID " 00 30 00 00", false);
	expect_silent(req, n, BINDING_CONSUMED);
	/* an indication of another method (Send, 0x0016): not ours */
	n = msg_hex(req, sizeof(req), "00 16 00 00 " COOKIE " " TID, false);
	expect_silent(req, n, BINDING_DROPPED);
	/* responses of any class and method are dropped */
	n = msg_hex(req, sizeof(req), "01 01 00 0c " COOKIE " " TID " " XMA4, false);
	expect_silent(req, n, BINDING_DROPPED);
	n = msg_hex(req, sizeof(req), "01 11 00 14 " COOKIE " " TID " " EC400, false);
	expect_silent(req, n, BINDING_DROPPED);
	n = msg_hex(req, sizeof(req), "01 03 00 00 " COOKIE " " TID, true);
	expect_silent(req, n, BINDING_DROPPED);
}

/* Rule 7: a request of an unknown method gets 400 typed with its own method. */
static void test_unknown_method(void **state)
{
	/* Allocate (0x003) request -> 0x0113 */
	expect_error("00 03 00 00 " COOKIE " " TID, "01 13 00 14 " COOKIE " " TID " " EC400, false);
	expect_error("00 03 00 00 " COOKIE " " TID, "01 13 00 14 " COOKIE " " TID " " EC400, true);
	/* method 0xfff -> 0x3fff, even with unknown attributes */
	expect_error("3e ef 00 04 " COOKIE " " TID " 00 30 00 00",
		     "3f ff 00 14 " COOKIE " " TID " " EC400, false);
}

/* Rule 8: 420 lists unknown comprehension-required attributes once, in order. */
static void test_420_unknown(void **state)
{
	/* PRIORITY (0x0024), 0x0030, PRIORITY again, unknown optional 0x8030 */
	const char *req = REQ("00 18") " 00 24 00 04 6e 00 01 ff 00 30 00 00"
				       " 00 24 00 04 6e 00 01 ff 80 30 00 00";
	const char *resp = "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 04 00 24 00 30";

	expect_error(req, resp, false);
	expect_error(req, resp, true);
	/* three types: value 6 bytes + 2 of padding */
	expect_error(REQ("00 0c") " 7f ff 00 00 00 30 00 00 00 31 00 00",
		     "01 11 00 28 " COOKIE " " TID " " EC420 " 00 0a 00 06 7f ff 00 30 00 31 00 00",
		     false);
}

/* Rule 8: CHANGE-REQUEST with a flag, or RESPONSE-PORT -> 420 listing them. */
static void test_420_rfc5780(void **state)
{
	expect_error(REQ("00 08") " 00 03 00 04 00 00 00 04",
		     "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 03 00 00", false);
	expect_error(REQ("00 08") " 00 03 00 04 00 00 00 02",
		     "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 03 00 00", true);
	expect_error(REQ("00 08") " 00 27 00 04 9c 40 00 00",
		     "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 27 00 00", false);
	/* all together, in request order: 0x0030, CHANGE-REQUEST, RESPONSE-PORT */
	expect_error(REQ("00 18") " 00 30 00 00 00 03 00 04 00 00 00 06"
				  " 00 27 00 02 9c 40 00 00 80 22 00 00",
		     "01 11 00 28 " COOKIE " " TID " " EC420 " 00 0a 00 06 00 30 00 03 00 27 00 00",
		     true);
}

/* Rule 8: duplicated known comprehension-required attributes and bad values -> 400. */
static void test_400(void **state)
{
	/* USERNAME twice */
	expect_error(REQ("00 10") " 00 06 00 01 61 00 00 00 00 06 00 01 62 00 00 00", ERR400,
		     false);
	/* CHANGE-REQUEST twice (no flags), plus an unknown: 400 wins over 420 */
	expect_error(REQ("00 14") " 00 03 00 04 00 00 00 00 00 30 00 00"
				  " 00 03 00 04 00 00 00 00",
		     ERR400, true);
	/* XOR-MAPPED-ADDRESS with family 3 */
	expect_error(REQ("00 0c") " 00 20 00 08 00 03 a1 47 e1 12 a6 43", ERR400, false);
	/* MAPPED-ADDRESS IPv6 family with IPv4 length */
	expect_error(REQ("00 0c") " 00 01 00 08 00 02 a1 47 e1 12 a6 43", ERR400, false);
	/* MESSAGE-INTEGRITY of 19 bytes */
	expect_error(REQ("00 18") " 00 08 00 13 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
				  " 10 11 12 00",
		     ERR400, false);
	/* CHANGE-REQUEST of 8 bytes, RESPONSE-PORT of 3 */
	expect_error(REQ("00 0c") " 00 03 00 08 00 00 00 04 00 00 00 00", ERR400, false);
	expect_error(REQ("00 08") " 00 27 00 03 9c 40 00 00", ERR400, true);
	/* USERHASH of 16 bytes */
	expect_error(REQ("00 14") " 00 1e 00 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
		     ERR400, false);
}

/* Robustness: sources, capacities, NULLs. */
static void test_edges(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	enum binding_outcome o = BINDING_ANSWERED;
	uint8_t req[64], out[BINDING_REPLY_MAX];
	size_t n = msg_hex(req, sizeof(req), REQ("00 00"), true);

	/* exactly enough room, then one byte short */
	assert_int_equal(binding_answer(req, n, source(1), out, 20 + 24 + 8, &o), 52);
	assert_int_equal(o, BINDING_ANSWERED);
	memset(out, 0xEE, sizeof(out));
	assert_int_equal(binding_answer(req, n, source(1), out, 51, &o), 0);
	assert_int_equal(o, BINDING_DROPPED);
	for (n = 51; n < sizeof(out); n++)
		assert_int_equal(out[n], 0xEE);
	n = msg_hex(req, sizeof(req), REQ("00 00"), true);
	assert_int_equal(binding_answer(req, n, (struct sockaddr *)&sun, out, sizeof(out), &o), 0);
	assert_int_equal(o, BINDING_DROPPED);
	assert_int_equal(binding_answer(req, n, NULL, out, sizeof(out), &o), 0);
	assert_int_equal(o, BINDING_DROPPED);
	assert_int_equal(binding_answer(NULL, 0, source(0), out, sizeof(out), &o), 0);
	assert_int_equal(o, BINDING_DROPPED);
	/* outcome may be NULL */
	assert_int_equal(binding_answer(req, n, source(0), out, sizeof(out), NULL), 40);
}

/* RFC 5780 service for source @s: IPv4 origin/other for src4, IPv6 for src6. */
static struct binding_ctx ctx_for(int s)
{
	if (s == 0)
		return (struct binding_ctx){(struct sockaddr *)&origin4,
					    (struct sockaddr *)&other4};
	return (struct binding_ctx){(struct sockaddr *)&origin6, (struct sockaddr *)&other6};
}

/* Expected RFC 5780 success response for source @s, FINGERPRINT iff @fp. */
static size_t success5780_for(int s, bool fp, uint8_t *buf)
{
	if (s == 0)
		return msg_hex(buf, 256, "01 01 00 24 " COOKIE " " TID " " XMA4 " " RO4 " " OA4,
			       fp);
	return msg_hex(buf, 256, "01 01 00 48 " COOKIE " " TID " " XMA6 " " RO6 " " OA6, fp);
}

/*
 * With ctx->other: XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, then
 * FINGERPRINT iff the request had one; a CHANGE-REQUEST of any flags is
 * answered the same way (the caller picked the socket).
 */
static void test_rfc5780_success(void **state)
{
	static const char *const reqs[] = {
	    REQ("00 00"),
	    REQ("00 08") " 00 03 00 04 00 00 00 06", /* change IP and port */
	    REQ("00 08") " 00 03 00 04 00 00 00 02", /* change port */
	    REQ("00 08") " 00 03 00 04 00 00 00 00", /* no change */
	    REQ("00 10") " 80 22 00 03 61 62 63 00 00 03 00 04 00 00 00 04",
	};
	uint8_t req[256], want[256];
	size_t i, n, w;
	int s, fp;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		for (fp = 0; fp < 2; fp++) {
			n = msg_hex(req, sizeof(req), reqs[i], fp);
			for (s = 0; s < N_SOURCES; s++) {
				struct binding_ctx c = ctx_for(s);

				w = success5780_for(s, fp, want);
				expect_ctx(req, n, source(s), &c, BINDING_ANSWERED, want, w);
			}
		}
	}
}

/* IPv4-mapped origin and other addresses are written as IPv4, like the source. */
static void test_rfc5780_mapped(void **state)
{
	struct binding_ctx c = {(struct sockaddr *)&origin_mapped,
				(struct sockaddr *)&other_mapped};
	uint8_t req[64], want[128];
	size_t n = msg_hex(req, sizeof(req), REQ("00 00"), true);
	size_t w = success5780_for(0, true, want);

	expect_ctx(req, n, (struct sockaddr *)&src_mapped, &c, BINDING_ANSWERED, want, w);
	/* mixed families are written as given: IPv6 source, IPv4 origin and other */
	c = ctx_for(0);
	w = msg_hex(want, sizeof(want), "01 01 00 30 " COOKIE " " TID " " XMA6 " " RO4 " " OA4,
		    true);
	expect_ctx(req, n, source(1), &c, BINDING_ANSWERED, want, w);
}

/*
 * Errors do not change with RFC 5780 service, nor do CHANGE-REQUEST's
 * refusals without it: RESPONSE-PORT is still a 420, unknown attributes
 * are still listed (without CHANGE-REQUEST), and a ctx whose other is NULL
 * is no service at all.
 */
static void test_rfc5780_errors(void **state)
{
	uint8_t req[128], want[256];
	struct binding_ctx c, none = {(struct sockaddr *)&origin4, NULL};
	size_t n, w;
	int s, fp;

	for (fp = 0; fp < 2; fp++) {
		for (s = 0; s < N_SOURCES; s++) {
			c = ctx_for(s);
			n = msg_hex(req, sizeof(req), REQ("00 08") " 00 27 00 04 9c 40 00 00", fp);
			w = msg_hex(
			    want, sizeof(want),
			    "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 27 00 00", fp);
			expect_ctx(req, n, source(s), &c, BINDING_ERROR_REPLY, want, w);

			n = msg_hex(req, sizeof(req),
				    REQ("00 0c") " 00 03 00 04 00 00 00 06 00 30 00 00", fp);
			w = msg_hex(
			    want, sizeof(want),
			    "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 30 00 00", fp);
			expect_ctx(req, n, source(s), &c, BINDING_ERROR_REPLY, want, w);

			n = msg_hex(req, sizeof(req), REQ("00 08") " 00 03 00 04 00 00 00 06", fp);
			w = msg_hex(
			    want, sizeof(want),
			    "01 11 00 24 " COOKIE " " TID " " EC420 " 00 0a 00 02 00 03 00 00", fp);
			expect_ctx(req, n, source(s), &none, BINDING_ERROR_REPLY, want, w);

			/* CHANGE-REQUEST twice: still 400 */
			n = msg_hex(req, sizeof(req),
				    REQ("00 10") " 00 03 00 04 00 00 00 06 00 03 00 04 00 00 00 06",
				    fp);
			w = msg_hex(want, sizeof(want), ERR400, fp);
			expect_ctx(req, n, source(s), &c, BINDING_ERROR_REPLY, want, w);
		}
	}
	/* without service, a plain request gets the plain answer */
	n = msg_hex(req, sizeof(req), REQ("00 00"), false);
	w = success_for(0, false, want);
	expect_ctx(req, n, source(0), &none, BINDING_ANSWERED, want, w);
}

/* An unusable origin or other address drops, as an unusable source does. */
static void test_rfc5780_bad_ctx(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct binding_ctx no_origin = {NULL, (struct sockaddr *)&other4};
	struct binding_ctx unix_origin = {(struct sockaddr *)&sun, (struct sockaddr *)&other4};
	struct binding_ctx unix_other = {(struct sockaddr *)&origin4, (struct sockaddr *)&sun};
	struct binding_ctx good = ctx_for(0);
	uint8_t req[64], out[BINDING_REPLY_MAX];
	enum binding_outcome o = BINDING_ANSWERED;
	size_t n = msg_hex(req, sizeof(req), REQ("00 00"), false);

	expect_ctx(req, n, source(0), &no_origin, BINDING_DROPPED, NULL, 0);
	expect_ctx(req, n, source(0), &unix_origin, BINDING_DROPPED, NULL, 0);
	expect_ctx(req, n, source(0), &unix_other, BINDING_DROPPED, NULL, 0);
	/* exactly enough room, then one byte short */
	assert_int_equal(binding_answer_ctx(req, n, source(0), &good, out, 56, &o), 56);
	assert_int_equal(o, BINDING_ANSWERED);
	assert_int_equal(binding_answer_ctx(req, n, source(0), &good, out, 55, &o), 0);
	assert_int_equal(o, BINDING_DROPPED);
}

static void test_outcome_names(void **state)
{
	assert_string_equal(binding_outcome_name(BINDING_ANSWERED), "answered");
	assert_string_equal(binding_outcome_name(BINDING_ERROR_REPLY), "error-reply");
	assert_string_equal(binding_outcome_name(BINDING_CONSUMED), "consumed");
	assert_string_equal(binding_outcome_name(BINDING_DROPPED), "dropped");
	assert_string_equal(binding_outcome_name(BINDING_OUTCOME_MAX), "invalid");
	assert_string_equal(binding_outcome_name((enum binding_outcome)(BINDING_OUTCOME_MAX + 7)),
			    "invalid");
}

/*
 * Random requests: a valid header, then random TLVs drawn from known,
 * unknown and optional types with random values, and now and then a lying
 * length.  Whatever the responder sends fits the cap, keeps the
 * transaction id and is a response of the right shape.
 */
static void test_random_requests(void **state)
{
	static const uint16_t types[] = {0x0001, 0x0003, 0x0006, 0x0008, 0x0009, 0x0014,
					 0x001c, 0x001e, 0x0020, 0x0026, 0x0027, 0x0030,
					 0x7fff, 0x8022, 0x8028, 0x8050, 0xffff};
	unsigned int seed = 777, i, answered = 0, errors = 0, dropped = 0;

	for (i = 0; i < 100000; i++) {
		uint8_t req[20 + 128], out[BINDING_REPLY_MAX];
		enum binding_outcome o;
		size_t n, r, alen, k;

		n = hex(REQ("00 00"), req, sizeof(req));
		while (n + 4 + 12 <= sizeof(req)) {
			seed = seed * 1103515245 + 12345;
			if ((seed >> 16) % 4 == 0)
				break;
			alen = (seed >> 8) % 13;
			req[n] = types[(seed >> 20) % 17] >> 8;
			req[n + 1] = types[(seed >> 20) % 17] & 0xff;
			req[n + 2] = 0;
			req[n + 3] = (uint8_t)alen;
			if ((seed >> 4) % 50 == 0)
				req[n + 3] = (uint8_t)(seed >> 24); /* a lie */
			for (k = 0; k < ((alen + 3) & ~3u); k++) {
				seed = seed * 1103515245 + 12345;
				req[n + 4 + k] =
				    (uint8_t)(seed >> 16) & ((seed >> 28) ? 0x07 : 0xff);
			}
			n += 4 + ((alen + 3) & ~3u);
		}
		set_len(req, n);
		r = binding_answer(req, n, source((int)(i & 1)), out, sizeof(out), &o);
		assert_true(r <= sizeof(out));
		if (r) {
			assert_true(o == BINDING_ANSWERED || o == BINDING_ERROR_REPLY);
			assert_true(out[0] == 0x01 &&
				    out[1] == (o == BINDING_ANSWERED ? 0x01 : 0x11));
			assert_memory_equal(out + 4, req + 4, 16);
			assert_int_equal((size_t)(out[2] << 8 | out[3]) + 20, r);
			answered += o == BINDING_ANSWERED;
			errors += o == BINDING_ERROR_REPLY;
		} else {
			assert_int_equal(o, BINDING_DROPPED);
			dropped++;
		}
	}
	/* the generator must reach every branch for the checks above to mean anything */
	assert_true(answered > 100);
	assert_true(errors > 100);
	assert_true(dropped > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success_plain),
	    cmocka_unit_test(test_success_fingerprint),
	    cmocka_unit_test(test_success_ignores_optional),
	    cmocka_unit_test(test_username_limit),
	    cmocka_unit_test(test_malformed_dropped),
	    cmocka_unit_test(test_not_a_request),
	    cmocka_unit_test(test_unknown_method),
	    cmocka_unit_test(test_420_unknown),
	    cmocka_unit_test(test_420_rfc5780),
	    cmocka_unit_test(test_400),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_rfc5780_success),
	    cmocka_unit_test(test_rfc5780_mapped),
	    cmocka_unit_test(test_rfc5780_errors),
	    cmocka_unit_test(test_rfc5780_bad_ctx),
	    cmocka_unit_test(test_outcome_names),
	    cmocka_unit_test(test_random_requests),
	};

	return cmocka_run_group_tests(tests, setup_sources, NULL);
}
