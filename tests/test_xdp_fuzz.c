// SPDX-License-Identifier: MIT
/*
 * The XDP program fuzzed through bpf_prog_test_run_opts: random and mutated
 * frames (IPv4/IPv6 Binding requests with and without FINGERPRINT and
 * SOFTWARE, keepalives with the right token, a wrong token or an unknown
 * session, indications, then bit flips, truncations, length-field lies,
 * checksum corruption and random bytes), for a bounded time.
 *
 * Oracles on every frame:
 * - the verdict is XDP_TX, XDP_DROP or XDP_PASS, never XDP_ABORTED, and
 *   exactly one reason counter moved, by one frame, of the verdict's class;
 * - XDP_TX only for a frame the stack would accept (IP header checksum,
 *   UDP checksum, consistent lengths, to a listener) carrying a message
 *   userspace answers the same way: a plain Binding request gets exactly
 *   binding_answer()'s bytes (binding_answer_ctx() on the RFC 5780
 *   listener); a keepalive (first attribute SESSION) passes stun_msg_parse,
 *   access_get_session and access_msg_check_attrs, and gets exactly the
 *   server's keepalive answer (Binding success with XOR-MAPPED-ADDRESS for
 *   the right token, 401 for an unknown session, FINGERPRINT iff the
 *   request had one) and never an answer for a wrong token;
 * - every XDP_TX output has a valid IPv4 header checksum, a valid non-zero
 *   UDP checksum, IP/UDP lengths matching the frame, and swapped MACs,
 *   addresses and ports;
 * - XDP_DROP of a plain message only where binding_answer() drops it too;
 *   of a keepalive only for an indication, a wrong token or a message
 *   stun_msg_parse rejects;
 * - every NAT rebinding event on the ring names the seeded session.
 * At the end: the count per verdict and per reason is printed, and the run
 * must have produced answers, drops and passes (and, with the sessions map,
 * keepalive answers, 401s and bad-token drops).
 *
 * PH_FUZZ_SEED=N reruns with another seed (default fixed); PH_FUZZ_SECONDS
 * caps the time (default 3).  A failure prints the seed, the iteration and
 * both frames in hex.  The skeleton is loaded without pins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf/pinhole.skel.h"
#include "access.h"
#include "binding.h"
#include "xdp_util.h"
#include "pinhole_kern_user.h"
#include "stun.h"

#define SRV_PORT	3478
#define RFC_PORT	3481
#define OTHER_PORT	3483
#define CLI_PORT	40000
#define SRC4		"198.18.1.2"
#define SRC4_B		"198.18.1.77"
#define DST4		"198.18.0.1"
#define OTHER4		"198.18.0.3"
#define SRC6		"2001:db8:1::2"
#define DST6		"2001:db8::1"
#define FRAME_MAX	2048
#define SESS_SLOT	5
#define SESS_ID		(0xA5000000u | SESS_SLOT)
#define SESSIONS_MAX	64

static const uint8_t cli_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t srv_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t sess_token[PH_TOKEN_LEN] = "xdp fuzz token!";

static struct pinhole *skel;
static struct ring_buffer *events;
static int ncpus;
static bool have_sessions;
static unsigned long n_events, bad_events, ka_extra_attrs;

/* ---- a small PRNG: the whole run follows from the seed ---- */

static uint64_t rs;

static uint32_t rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return (uint32_t)((rs * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* ---- bytes and checksums ---- */


static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	print_message("%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		print_message("%s%02x", i % 32 ? "" : "\n  ", p[i]);
	print_message("\n");
}

/* ---- messages ---- */

enum kind {
	K_PLAIN,
	K_FP,
	K_SOFTWARE,
	K_SOFTWARE_FP,
	K_KA,		/* right id and token */
	K_KA_FP,
	K_KA_BAD_TOKEN,
	K_KA_UNKNOWN,
	K_KA_IND,
	K_KA_SOFTWARE,
	K_LOGIN,
	K_RANDOM,
	K_BIG,		/* an unknown optional attribute of 0-999 bytes: the long loops, TOO_LONG */
	K_MAX,
};

static size_t make_msg(uint8_t *b, size_t cap, enum kind k)
{
	static const char *const sw[] = {"pinhole fuzz", "pinhole fuzz!", "x"};
	uint8_t tid[STUN_TID_LEN], tok[PH_TOKEN_LEN];
	struct stun_builder bld;
	uint16_t type = STUN_BINDING_REQUEST;
	uint32_t id = SESS_ID;
	const char *s;
	int len;

	for (int i = 0; i < STUN_TID_LEN; i++)
		tid[i] = (uint8_t)rnd();
	if (k == K_RANDOM) {
		size_t n = STUN_HEADER_LEN + 4 * below(12);

		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)rnd();
		b[0] &= 0x3f;
		put16(b + 2, (uint16_t)(n - STUN_HEADER_LEN));
		b[4] = 0x21, b[5] = 0x12, b[6] = 0xa4, b[7] = 0x42;
		return n;
	}
	if (k == K_KA_IND)
		type = STUN_BINDING_INDICATION;
	if (k == K_LOGIN)
		type = access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST);
	stun_build_init(&bld, b, cap, type, tid);
	memcpy(tok, sess_token, sizeof(tok));
	if (k == K_KA_BAD_TOKEN)
		tok[below(PH_TOKEN_LEN)] ^= (uint8_t)(1u << below(8));
	if (k == K_KA_UNKNOWN)
		id = rnd() % 3 == 0 ? (id ^ 0x01000000u) : rnd();
	if (k >= K_KA && k <= K_KA_SOFTWARE)
		access_add_session(&bld, id, tok);
	if (k == K_BIG) {
		static uint8_t junk[1000];
		size_t n = below(sizeof(junk));

		for (size_t i = 0; i < n; i++)
			junk[i] = (uint8_t)rnd();
		stun_build_add(&bld, 0x8055, junk, n);
	}
	if (k == K_SOFTWARE || k == K_SOFTWARE_FP || k == K_KA_SOFTWARE) {
		s = sw[below(3)];
		stun_build_add_string(&bld, STUN_ATTR_SOFTWARE, s, strlen(s));
	}
	if (k == K_FP || k == K_SOFTWARE_FP || k == K_KA_FP ||
	    (k >= K_KA_BAD_TOKEN && k != K_RANDOM && rnd() & 1))
		stun_build_fingerprint(&bld);
	len = stun_build_finish(&bld);
	assert_true(len > 0);
	return (size_t)len;
}

/* ---- frames ---- */

struct fo {
	bool v6;
	bool moved;	/* from another address than the session's */
	uint16_t dport;
};

static void fo_addrs(const struct fo *o, uint8_t *src, uint8_t *dst)
{
	int af = o->v6 ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(af, o->v6 ? SRC6 : o->moved ? SRC4_B : SRC4, src), 1);
	assert_int_equal(inet_pton(af, o->v6 ? DST6 : DST4, dst), 1);
}

/* Ethernet + IP + UDP around pl, every length and checksum right. */
static size_t make_frame(uint8_t *f, const struct fo *o, const uint8_t *pl, size_t plen)
{
	uint8_t src[16], dst[16], *ip = f + 14, *udp;
	size_t alen = o->v6 ? 16 : 4, ulen = 8 + plen;
	uint16_t ck;

	memset(f, 0, 14 + 40 + 8);
	fo_addrs(o, src, dst);
	memcpy(f, srv_mac, 6);
	memcpy(f + 6, cli_mac, 6);
	put16(f + 12, o->v6 ? 0x86dd : 0x0800);
	if (o->v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)ulen);
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		udp = ip + 40;
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + ulen));
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		put16(ip + 10, (uint16_t)~fold16(sum16(ip, 20, 0)));
		udp = ip + 20;
	}
	put16(udp, CLI_PORT);
	put16(udp + 2, o->dport);
	put16(udp + 4, (uint16_t)ulen);
	put16(udp + 6, 0);
	memcpy(udp + 8, pl, plen);
	ck = (uint16_t)~fold16(sum16(udp, ulen, pseudo_sum(src, dst, alen, ulen)));
	put16(udp + 6, ck ? ck : 0xffff);
	return (size_t)(udp - f) + ulen;
}

/*
 * What a frame as the stack sees it says: family, addresses, ports and the
 * UDP payload, and whether the stack would accept it (version, no options
 * or extension headers, no fragment, lengths consistent, checksums right).
 */
struct view {
	bool ok, v6;
	const uint8_t *ip, *udp, *src, *dst, *pl;
	size_t plen;
	struct sockaddr_storage from, to;
};

static void view(const uint8_t *f, size_t len, struct view *v)
{
	size_t alen, ulen, iplen;

	memset(v, 0, sizeof(*v));
	if (len < 14 + 20 + 8)
		return;
	v->ip = f + 14;
	if (get16(f + 12) == 0x0800) {
		if (v->ip[0] != 0x45 || v->ip[9] != IPPROTO_UDP || (get16(v->ip + 6) & 0x3fff))
			return;
		iplen = get16(v->ip + 2);
		if (iplen < 28 || iplen > len - 14 || fold16(sum16(v->ip, 20, 0)) != 0xffff)
			return;
		v->udp = v->ip + 20;
		v->src = v->ip + 12;
		v->dst = v->ip + 16;
		alen = 4;
		ulen = iplen - 20;
	} else if (get16(f + 12) == 0x86dd) {
		if (len < 14 + 40 + 8 || (v->ip[0] >> 4) != 6 || v->ip[6] != IPPROTO_UDP)
			return;
		ulen = get16(v->ip + 4);
		if (ulen > len - 54)
			return;
		v->v6 = true;
		v->udp = v->ip + 40;
		v->src = v->ip + 8;
		v->dst = v->ip + 24;
		alen = 16;
	} else {
		return;
	}
	if (get16(v->udp + 4) != ulen || ulen < 8)
		return;
	if (get16(v->udp + 6) == 0 ? v->v6
				   : fold16(sum16(v->udp, ulen, pseudo_sum(v->src, v->dst, alen,
								       ulen))) != 0xffff)
		return;
	v->pl = v->udp + 8;
	v->plen = ulen - 8;
	if (v->v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&v->from,
				    *b = (struct sockaddr_in6 *)&v->to;

		a->sin6_family = b->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, v->src, 16);
		memcpy(&b->sin6_addr, v->dst, 16);
		memcpy(&a->sin6_port, v->udp, 2);
		memcpy(&b->sin6_port, v->udp + 2, 2);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&v->from,
				   *b = (struct sockaddr_in *)&v->to;

		a->sin_family = b->sin_family = AF_INET;
		memcpy(&a->sin_addr, v->src, 4);
		memcpy(&b->sin_addr, v->dst, 4);
		memcpy(&a->sin_port, v->udp, 2);
		memcpy(&b->sin_port, v->udp + 2, 2);
	}
	v->ok = true;
}

/* ---- mutations ---- */

static void flip_bits(uint8_t *p, size_t n, size_t bias)
{
	int k = 1 + below(3);

	while (n && k--) {
		size_t at = below((uint32_t)n);

		if (bias && rnd() & 1)
			at %= bias < n ? bias : n;
		p[at] ^= (uint8_t)(1u << below(8));
	}
}

/* Mutate the STUN message (before framing); returns its new length. */
static size_t mutate_msg(uint8_t *m, size_t len, size_t cap)
{
	switch (below(8)) {
	case 0:
	case 1:
		/* Header and the first attribute headers: where the parsers decide. */
		flip_bits(m, len, 28);
		break;
	case 2:
		flip_bits(m, len, 0);
		break;
	case 3:
		/* Truncated, lengths below stay consistent (or not: the length field keeps). */
		return len > 1 ? 1 + below((uint32_t)len - 1) : len;
	case 4:
		/* The STUN length field lies. */
		if (len >= 4 && rnd() & 1)
			put16(m + 2, (uint16_t)rnd());
		else if (len >= 4)
			put16(m + 2, (uint16_t)(get16(m + 2) + 4 * ((int)below(5) - 2)));
		break;
	case 5:
		/* An attribute length lies. */
		if (len >= 24) {
			size_t at = 20;

			while (at + 4 <= len && rnd() & 1)
				at += 4 + ((get16(m + at + 2) + 3u) & ~3u);
			if (at + 4 <= len)
				put16(m + at + 2, (uint16_t)(rnd() & 1 ? below(64) : rnd()));
		}
		break;
	case 6:
		/* A garbage attribute appended, length fixed up (FINGERPRINT no longer last). */
		if (len + 12 <= cap) {
			put16(m + len, (uint16_t)rnd());
			put16(m + len + 2, (uint16_t)below(9));
			for (int i = 4; i < 12; i++)
				m[len + i] = (uint8_t)rnd();
			len += 4 + ((get16(m + len + 2) + 3u) & ~3u);
			put16(m + 2, (uint16_t)(len - 20));
		}
		break;
	default:
		break;
	}
	return len;
}

/* Mutate the frame (after framing): header lies, checksums, truncation, trailers. */
static size_t mutate_frame(uint8_t *f, size_t len, bool v6)
{
	uint8_t *ip = f + 14, *udp = ip + (v6 ? 40 : 20);
	size_t n;

	switch (below(10)) {
	case 0:
		put16(udp + 6, get16(udp + 6) ^ (uint16_t)(1u << below(16)));
		break;
	case 1:
		if (!v6)
			put16(ip + 10, get16(ip + 10) ^ (uint16_t)(1u << below(16)));
		else
			put16(udp + 6, 0);
		break;
	case 2:
		if (!v6)
			put16(udp + 6, 0); /* IPv4: "no checksum", valid */
		break;
	case 3:
		put16(udp + 4, (uint16_t)(get16(udp + 4) + below(9) - 4));
		break;
	case 4:
		if (v6)
			put16(ip + 4, (uint16_t)(get16(ip + 4) + below(9) - 4));
		else
			put16(ip + 2, (uint16_t)(get16(ip + 2) + below(9) - 4));
		break;
	case 5:
		/* Cut anywhere past the Ethernet header (test_run refuses shorter frames). */
		return len > 14 ? 14 + below((uint32_t)len - 14) : len;
	case 6:
		flip_bits(f, (size_t)(udp + 8 - f), 0); /* Ethernet, IP, UDP headers */
		break;
	case 7:
		n = 4 + below(40);
		memset(f + len, 0xee, n); /* an Ethernet trailer */
		return len + n;
	default:
		break;
	}
	return len;
}

/* ---- running the program ---- */

static void read_stats(uint64_t *tot)
{
	struct ph_stat per[ncpus];
	__u32 k;

	for (k = 0; k < PH_REASON_MAX; k++) {
		tot[k] = 0;
		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, per), 0);
		for (int c = 0; c < ncpus; c++)
			tot[k] += per[c].packets;
	}
}

static uint32_t reason_verdict(int r)
{
	switch (r) {
	case PH_TX_BINDING:
	case PH_TX_KEEPALIVE:
	case PH_TX_KA_MOVED:
	case PH_TX_KA_UNKNOWN:
		return XDP_TX;
	case PH_DROP_NOT_STUN:
	case PH_DROP_BAD_COOKIE:
	case PH_DROP_BAD_LENGTH:
	case PH_DROP_BAD_FINGERPRINT:
	case PH_DROP_KA_INDICATION:
	case PH_DROP_KA_BAD_TOKEN:
	case PH_DROP_KA_UNKNOWN_IND:
	case PH_DROP_RATE_LIMITED:
		return XDP_DROP;
	default:
		return XDP_PASS;
	}
}

static int on_event(void *ctx, void *data, size_t size)
{
	const struct ph_session_event *e = data;

	n_events++;
	if (size < sizeof(*e) || e->id != SESS_ID ||
	    (e->family != AF_INET && e->family != AF_INET6))
		bad_events++;
	return 0;
}

struct failure {
	char why[200];
};

/*
 * PH_FUZZ_KEEP_GOING=1: report every kind of violation (its first frames
 * in hex, then a count) instead of stopping at the first; still fails.
 */
static bool keep_going;
static char fail_kinds[16][200];
static unsigned long fail_count[16];
static size_t n_fail_kinds;

/* Count @why by its text up to the first digit or '('; true the first time. */
static bool new_failure(const char *why)
{
	size_t key = strcspn(why, "0123456789(");

	for (size_t i = 0; i < n_fail_kinds; i++) {
		if (!strncmp(fail_kinds[i], why, key) && strlen(fail_kinds[i]) >= key) {
			fail_count[i]++;
			return false;
		}
	}
	if (n_fail_kinds < 16) {
		snprintf(fail_kinds[n_fail_kinds], sizeof(fail_kinds[0]), "%s", why);
		fail_count[n_fail_kinds++] = 1;
	}
	return true;
}

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(fl->why, sizeof(fl->why), __VA_ARGS__);                           \
			return false;                                                              \
		}                                                                                  \
	} while (0)

/* The userspace server's answer to keepalive @m from @src (server.c on_keepalive). */
static size_t keepalive_answer(const struct stun_msg *m, bool known, const struct sockaddr *src,
			       uint8_t *out, size_t cap)
{
	struct stun_builder b;
	int len;

	stun_build_init(&b, out, cap, known ? STUN_BINDING_SUCCESS : STUN_BINDING_ERROR, m->tid);
	if (known)
		stun_build_add_xor_addr(&b, src);
	else
		stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
	if (m->has_fingerprint)
		stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	return len > 0 ? (size_t)len : 0;
}

/* First attribute SESSION: the kernel's keepalive shape (any length: it checks that). */
static bool ka_shaped(const uint8_t *p, size_t n)
{
	return n >= 24 && get16(p + 20) == PH_ATTR_SESSION;
}

static bool check_tx(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len,
		     int reason, struct failure *fl)
{
	uint8_t ua[BINDING_REPLY_MAX];
	struct view iv, ov;
	struct stun_msg m;
	enum binding_outcome oc = BINDING_OUTCOME_MAX;
	uint8_t token[PH_TOKEN_LEN];
	uint32_t id;
	size_t ua_len;

	view(in, in_len, &iv);
	CHECK(iv.ok, "answered a frame the stack would refuse (checksum, length, options)");
	CHECK(get16(iv.udp + 2) == SRV_PORT || get16(iv.udp + 2) == RFC_PORT,
	      "answered a frame to port %u, not a listener", get16(iv.udp + 2));
	view(out, out_len, &ov);
	CHECK(ov.ok, "answer frame malformed: checksum or lengths");
	CHECK(ov.v6 == iv.v6, "answer changed family");
	CHECK((ov.v6 ? 14 + 40 : 14 + 20) + 8 + ov.plen == out_len, "answer has trailing bytes");
	CHECK(get16(ov.udp + 6) != 0, "answer without UDP checksum");
	CHECK(!memcmp(out, in + 6, 6) && !memcmp(out + 6, in, 6), "MACs not swapped");
	CHECK(!memcmp(ov.src, iv.dst, iv.v6 ? 16 : 4) && !memcmp(ov.dst, iv.src, iv.v6 ? 16 : 4),
	      "addresses not swapped");
	CHECK(!memcmp(ov.udp, iv.udp + 2, 2) && !memcmp(ov.udp + 2, iv.udp, 2),
	      "ports not swapped");

	if (ka_shaped(iv.pl, iv.plen) && get16(iv.pl + 22) == 20) {
		bool known;

		CHECK(stun_msg_parse(&m, iv.pl, iv.plen) == 0, "keepalive answered, parse refuses");
		CHECK(m.type == STUN_BINDING_REQUEST, "keepalive of type %#x answered", m.type);
		CHECK(access_get_session(&m, &id, token) == 0, "keepalive answered, bad SESSION");
		CHECK(access_msg_check_attrs(&m, NULL) == 0, "keepalive answered, server says 400");
		known = have_sessions && id == SESS_ID;
		CHECK(!known || !memcmp(token, sess_token, PH_TOKEN_LEN),
		      "keepalive with a wrong token answered");
		CHECK(reason == (known ? PH_TX_KEEPALIVE : PH_TX_KA_UNKNOWN) ||
			  (known && reason == PH_TX_KA_MOVED),
		      "keepalive counted as reason %d", reason);
		/* The contract's layout is SESSION [FINGERPRINT]; count what else gets answered. */
		if (m.n_attrs + m.n_ignored > 1u + m.has_fingerprint)
			ka_extra_attrs++;
		ua_len = keepalive_answer(&m, known, (const struct sockaddr *)&iv.from, ua,
					  sizeof(ua));
		CHECK(ua_len == ov.plen && !memcmp(ua, ov.pl, ua_len),
		      "keepalive answer differs from the server's (%zu vs %zu bytes)", ov.plen,
		      ua_len);
		return true;
	}
	CHECK(reason == PH_TX_BINDING, "Binding answer counted as reason %d", reason);
	if (get16(iv.udp + 2) == RFC_PORT) {
		struct sockaddr_storage other = {0};
		struct sockaddr_in *o4 = (struct sockaddr_in *)&other;
		struct binding_ctx ctx = {(const struct sockaddr *)&iv.to,
					  (const struct sockaddr *)&other};

		o4->sin_family = AF_INET;
		o4->sin_port = htons(OTHER_PORT);
		inet_pton(AF_INET, OTHER4, &o4->sin_addr);
		ua_len = binding_answer_ctx(iv.pl, iv.plen, (const struct sockaddr *)&iv.from, &ctx,
					    ua, sizeof(ua), &oc);
	} else {
		ua_len = binding_answer(iv.pl, iv.plen, (const struct sockaddr *)&iv.from, ua,
					sizeof(ua), &oc);
	}
	CHECK(oc == BINDING_ANSWERED, "kernel answered, userspace %s", binding_outcome_name(oc));
	CHECK(ua_len == ov.plen && !memcmp(ua, ov.pl, ua_len),
	      "answer differs from binding_answer() (%zu vs %zu bytes)", ov.plen, ua_len);
	return true;
}

static bool check_drop(const uint8_t *in, size_t in_len, int reason, struct failure *fl)
{
	uint8_t ua[BINDING_REPLY_MAX], token[PH_TOKEN_LEN];
	enum binding_outcome oc = BINDING_OUTCOME_MAX;
	struct stun_msg m;
	struct view iv;
	uint32_t id;

	if (reason == PH_DROP_RATE_LIMITED)
		return true;
	view(in, in_len, &iv);
	CHECK(iv.ok, "dropped (reason %d) a frame the stack would refuse: should pass", reason);
	if (ka_shaped(iv.pl, iv.plen) && get16(iv.pl + 22) == 20 &&
	    !stun_msg_parse(&m, iv.pl, iv.plen)) {
		if (m.type == STUN_BINDING_INDICATION)
			return true;
		CHECK(m.type == STUN_BINDING_REQUEST, "dropped a keepalive of type %#x", m.type);
		CHECK(access_get_session(&m, &id, token) == 0 && have_sessions && id == SESS_ID &&
			  memcmp(token, sess_token, PH_TOKEN_LEN),
		      "dropped a keepalive request userspace would answer (reason %d)", reason);
		CHECK(reason == PH_DROP_KA_BAD_TOKEN, "bad token counted as reason %d", reason);
		return true;
	}
	binding_answer(iv.pl, iv.plen, (const struct sockaddr *)&iv.from, ua, sizeof(ua), &oc);
	CHECK(oc == BINDING_DROPPED, "kernel dropped (reason %d), userspace %s", reason,
	      binding_outcome_name(oc));
	return true;
}

static void test_fuzz_xdp(void **state)
{
	static const char *const verdicts[] = {"aborted", "drop", "pass", "tx", "redirect"};
	uint64_t before[PH_REASON_MAX], after[PH_REASON_MAX], per_reason[PH_REASON_MAX] = {0};
	unsigned long per_verdict[5] = {0}, n = 0;
	static uint8_t msg[1300], in[FRAME_MAX + 64], out[FRAME_MAX + 64];
	const char *env = getenv("PH_FUZZ_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5769A11CEull;
	double secs = getenv("PH_FUZZ_SECONDS") ? atof(getenv("PH_FUZZ_SECONDS")) : 3.0;
	int fd = bpf_program__fd(skel->progs.pinhole_xdp);
	struct timespec t0, t;
	struct failure fl;

	rs = seed ? seed : 1;
	keep_going = getenv("PH_FUZZ_KEEP_GOING") != NULL;
	print_message("seed %#llx (PH_FUZZ_SEED), %.1f s\n", (unsigned long long)seed, secs);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	read_stats(before);
	for (;; n++) {
		struct fo o = {.v6 = rnd() % 3 == 0, .moved = rnd() % 8 == 0,
			       .dport = rnd() % 5 == 0 ? RFC_PORT : SRV_PORT};
		enum kind k = (enum kind)below(K_MAX);
		size_t mlen, len;
		int reason = -1, moved = 0;
		bool ok = true;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);

		if ((n & 1023) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs ||
			    n >= 2000000)
				break;
			if (events)
				ring_buffer__consume(events);
		}
		if (o.v6 && o.dport == RFC_PORT)
			o.dport = SRV_PORT; /* the RFC 5780 listener is IPv4 only here */
		mlen = make_msg(msg, sizeof(msg) - 64, k);
		/* A quarter go in intact, so every path also sees valid frames. */
		if (rnd() & 3)
			for (int r = 1 + below(2); r--;)
				mlen = mutate_msg(msg, mlen, sizeof(msg) - 64);
		len = make_frame(in, &o, msg, mlen);
		if (rnd() % 3 == 0)
			len = mutate_frame(in, len, o.v6);
		opts.data_size_in = (__u32)len;
		assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
		read_stats(after);
		for (int r = 0; r < PH_REASON_MAX; r++) {
			if (after[r] == before[r])
				continue;
			moved++;
			if (after[r] - before[r] == 1)
				reason = r;
			per_reason[r] += after[r] - before[r];
		}
		memcpy(before, after, sizeof(before));
		if (opts.retval < 5)
			per_verdict[opts.retval]++;
		if (opts.retval != XDP_TX && opts.retval != XDP_DROP && opts.retval != XDP_PASS) {
			snprintf(fl.why, sizeof(fl.why), "verdict %u", opts.retval);
			ok = false;
		} else if (moved != 1 || reason < 0) {
			snprintf(fl.why, sizeof(fl.why), "%d reason counters moved", moved);
			ok = false;
		} else if (reason_verdict(reason) != opts.retval) {
			snprintf(fl.why, sizeof(fl.why), "reason %d with verdict %s", reason,
				 verdicts[opts.retval]);
			ok = false;
		} else if (opts.retval == XDP_TX) {
			ok = check_tx(in, len, out, opts.data_size_out, reason, &fl);
		} else if (opts.retval == XDP_DROP) {
			ok = check_drop(in, len, reason, &fl);
		}
		if (!ok && new_failure(fl.why)) {
			print_message("seed %#llx iteration %lu: %s\n", (unsigned long long)seed, n,
				      fl.why);
			hexdump("input frame", in, len);
			if (opts.retval == XDP_TX)
				hexdump("output frame", out, opts.data_size_out);
			if (!keep_going)
				fail_msg("XDP fuzz property violated (PH_FUZZ_SEED=%#llx)",
					 (unsigned long long)seed);
		}
	}
	if (events)
		ring_buffer__consume(events);
	clock_gettime(CLOCK_MONOTONIC, &t);
	print_message("%lu frames in %.2f s: tx %lu, drop %lu, pass %lu, aborted %lu\n", n,
		      t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9, per_verdict[XDP_TX],
		      per_verdict[XDP_DROP], per_verdict[XDP_PASS], per_verdict[XDP_ABORTED]);
	for (int r = 0; r < PH_REASON_MAX; r++)
		if (per_reason[r])
			print_message("  reason %2d %-6s %lu\n", r, verdicts[reason_verdict(r)],
				      (unsigned long)per_reason[r]);
	print_message("session events %lu (bad %lu); keepalives answered with attributes besides "
		      "SESSION and FINGERPRINT: %lu\n",
		      n_events, bad_events, ka_extra_attrs);
	for (size_t i = 0; i < n_fail_kinds; i++)
		print_message("violated %lu times: %s\n", fail_count[i], fail_kinds[i]);
	if (n_fail_kinds)
		fail_msg("%zu kinds of XDP fuzz property violations (PH_FUZZ_SEED=%#llx)",
			 n_fail_kinds, (unsigned long long)seed);
	assert_int_equal(per_verdict[XDP_ABORTED], 0);
	assert_true(per_verdict[XDP_TX] > 0 && per_verdict[XDP_DROP] > 0 &&
		    per_verdict[XDP_PASS] > 0);
	assert_true(per_reason[PH_TX_BINDING] > 0);
	assert_int_equal(bad_events, 0);
	if (have_sessions) {
		assert_true(per_reason[PH_TX_KEEPALIVE] > 0);
		assert_true(per_reason[PH_TX_KA_UNKNOWN] > 0);
		assert_true(per_reason[PH_DROP_KA_BAD_TOKEN] > 0);
		assert_true(per_reason[PH_TX_KA_MOVED] > 0 && n_events > 0);
	} else {
		print_message("no \"sessions\" map in this XDP object: "
			      "keepalive paths not fuzzed\n");
	}
}

/*
 * Regression (found by the fuzzer): a keepalive naming no session gets the
 * 401 the server sends, byte for byte ("Unauthenticated", RFC 8489 §14.8),
 * with and without FINGERPRINT, IPv4 and IPv6; and the seeded session's
 * keepalive gets its XOR-MAPPED-ADDRESS.
 */
static void test_keepalive_answers_match_server(void **state)
{
	static uint8_t msg[256], in[FRAME_MAX], out[FRAME_MAX];
	struct failure fl;

	if (!have_sessions) {
		print_message("no \"sessions\" map in this XDP object: skipped\n");
		skip();
	}
	rs = 42;
	for (int i = 0; i < 8; i++) {
		struct fo o = {.v6 = i & 1, .dport = SRV_PORT};
		enum kind k = i & 4 ? K_KA_FP : (i & 2 ? K_KA_UNKNOWN : K_KA);
		size_t len = make_frame(in, &o, msg, make_msg(msg, sizeof(msg), k));
		int want = k == K_KA_UNKNOWN ? PH_TX_KA_UNKNOWN : -1;
		uint64_t before[PH_REASON_MAX], after[PH_REASON_MAX];
		int reason = -1;
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		read_stats(before);
		assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.pinhole_xdp),
							&opts),
				 0);
		read_stats(after);
		for (int r = 0; r < PH_REASON_MAX; r++)
			if (after[r] != before[r])
				reason = r;
		assert_int_equal(opts.retval, XDP_TX);
		if (want >= 0)
			assert_int_equal(reason, want);
		if (!check_tx(in, len, out, opts.data_size_out, reason, &fl)) {
			hexdump("input frame", in, len);
			hexdump("output frame", out, opts.data_size_out);
			fail_msg("case %d: %s", i, fl.why);
		}
	}
}

/* ---- setup ---- */

static int add_listener(int fd, uint8_t family, const char *addr, uint16_t port, bool rfc)
{
	return xdp_add_listener(fd, family, addr, port, AF_INET, rfc ? OTHER4 : NULL, OTHER_PORT);
}

static int group_setup(void **state)
{
	struct bpf_map *sessions, *ring;
	int err, fd;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return -1;
	skel = xdp_open_unpinned(SESSIONS_MAX);
	if (!skel)
		return -1;
	sessions = skel->maps.sessions;
	ring = skel->maps.session_events;
	err = pinhole__load(skel);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		goto err;
	}
	fd = bpf_map__fd(skel->maps.listeners);
	if (add_listener(fd, AF_INET, DST4, SRV_PORT, false) ||
	    add_listener(fd, AF_INET6, DST6, SRV_PORT, false) ||
	    add_listener(fd, AF_INET, DST4, RFC_PORT, true))
		goto err;
	if (sessions) {
		struct ph_session v = {.id = SESS_ID, .port = htons(CLI_PORT), .interval_s = 20,
				       .family = AF_INET};
		__u32 slot = SESS_SLOT;

		memcpy(v.token, sess_token, sizeof(v.token));
		if (inet_pton(AF_INET, SRC4, v.addr) != 1 ||
		    bpf_map_update_elem(bpf_map__fd(sessions), &slot, &v, BPF_ANY))
			goto err;
		have_sessions = true;
	}
	if (ring) {
		events = ring_buffer__new(bpf_map__fd(ring), on_event, NULL, NULL);
		if (!events)
			goto err;
	}
	return 0;
err:
	pinhole__destroy(skel);
	skel = NULL;
	return -1;
}

static int group_teardown(void **state)
{
	ring_buffer__free(events);
	pinhole__destroy(skel);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keepalive_answers_match_server),
		cmocka_unit_test(test_fuzz_xdp),
	};

	return cmocka_run_group_tests_name("xdp_fuzz", tests, group_setup, group_teardown);
}
