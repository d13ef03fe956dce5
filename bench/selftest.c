// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench/bench_kern_user.h"
#include "bench/bare_tx.skel.h"
#include "counter.h"
#include "loadgen.h"
#include "log.h"
#include "nspp.h"
#include "rig.h"
#include "selftest.h"

#define FRAMES		200
#define ANSWER_LEN	(BENCH_FRAME_LEN + STUN_ATTR_HEADER_LEN + 8)

static int failures;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf(ok ? "ok - " : "not ok - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok)
		failures++;
}

/* Sum of the 16-bit words of @p (@n even), in memory order. */
static uint32_t sum16(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2) {
		uint16_t w;

		memcpy(&w, b + i, 2);
		s += w;
	}
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static struct iphdr *ip_of(uint8_t *f)
{
	return (struct iphdr *)(f + BENCH_OFF_IP);
}

static struct udphdr *udp_of(uint8_t *f)
{
	return (struct udphdr *)(f + BENCH_OFF_UDP);
}

/* Checksum over the pseudo header and the datagram: 0 when the stored one is right. */
static uint16_t udp_verify(uint8_t *f)
{
	struct iphdr *ip = ip_of(f);
	struct udphdr *udp = udp_of(f);
	uint32_t s = sum16(&ip->saddr, 8) + htons(IPPROTO_UDP) + udp->len;

	return fold(s + sum16(udp, ntohs(udp->len)));
}

static void fix_checksums(uint8_t *f)
{
	struct iphdr *ip = ip_of(f);
	struct udphdr *udp = udp_of(f);
	uint16_t c;

	ip->check = 0;
	ip->check = fold(sum16(ip, sizeof(*ip)));
	udp->check = 0;
	c = udp_verify(f);
	udp->check = c ? c : 0xffff;
}

/* What a correct server sends back for request @req: a bare Binding success. */
static size_t make_answer(const uint8_t *req, uint8_t *f)
{
	struct iphdr *ip = ip_of(f);
	struct udphdr *udp = udp_of(f);
	struct stun_hdr *stun = (struct stun_hdr *)(f + BENCH_OFF_STUN);
	uint8_t *attr = f + BENCH_FRAME_LEN;
	uint16_t t, l, xport;
	uint32_t xaddr, tmp;
	uint8_t mac[ETH_ALEN];

	memcpy(f, req, BENCH_FRAME_LEN);
	memcpy(mac, f, ETH_ALEN);
	memcpy(f, f + ETH_ALEN, ETH_ALEN);
	memcpy(f + ETH_ALEN, mac, ETH_ALEN);
	tmp = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = tmp;
	t = udp->source;
	udp->source = udp->dest;
	udp->dest = t;
	ip->tot_len = htons(ANSWER_LEN - BENCH_OFF_IP);
	udp->len = htons(ANSWER_LEN - BENCH_OFF_UDP);
	stun->type = htons(STUN_BINDING_SUCCESS);
	stun->length = htons(STUN_ATTR_HEADER_LEN + 8);
	t = htons(STUN_ATTR_XOR_MAPPED_ADDRESS);
	l = htons(8);
	xport = udp->dest ^ htons(STUN_MAGIC_COOKIE >> 16);
	xaddr = ip->daddr ^ htonl(STUN_MAGIC_COOKIE);
	memcpy(attr, &t, 2);
	memcpy(attr + 2, &l, 2);
	attr[4] = 0;
	attr[5] = STUN_FAMILY_IPV4;
	memcpy(attr + 6, &xport, 2);
	memcpy(attr + 8, &xaddr, 4);
	fix_checksums(f);
	return ANSWER_LEN;
}

/*
 * The answer coturn gives: MAPPED-ADDRESS before XOR-MAPPED-ADDRESS and a
 * SOFTWARE with a padded odd length after it.  Returns the frame length.
 */
static size_t make_long_answer(const uint8_t *req, uint8_t *f)
{
	static const uint8_t software[] = {0x80, 0x22, 0x00, 0x05, 'p', 'h', 'l', 'd', '!', 0xaa,
					   0xbb, 0xcc};
	uint8_t *attrs = f + BENCH_FRAME_LEN;
	struct stun_hdr *stun = (struct stun_hdr *)(f + BENCH_OFF_STUN);
	size_t len;

	make_answer(req, f);
	/* Shift XOR-MAPPED-ADDRESS back by 12 bytes to make room for MAPPED-ADDRESS. */
	memmove(attrs + 12, attrs, 12);
	memcpy(attrs, attrs + 12, 12);
	attrs[1] = STUN_ATTR_MAPPED_ADDRESS;
	memcpy(attrs + 24, software, sizeof(software));
	len = ANSWER_LEN + 12 + sizeof(software);
	stun->length = htons(len - BENCH_FRAME_LEN);
	ip_of(f)->tot_len = htons(len - BENCH_OFF_IP);
	udp_of(f)->len = htons(len - BENCH_OFF_UDP);
	fix_checksums(f);
	return len;
}

static void check_frames(struct loadgen *g, const struct loadgen_opts *o)
{
	static uint8_t frames[FRAMES][BENCH_FRAME_LEN + 64];
	bool fields = true, ipsum = true, udpsum = true, range = true, distinct = true;
	int len = 0, i, j;

	for (i = 0; i < FRAMES; i++) {
		uint8_t *f = frames[i];
		struct iphdr *ip = ip_of(f);
		struct udphdr *udp = udp_of(f);
		struct stun_hdr *stun = (struct stun_hdr *)(f + BENCH_OFF_STUN);
		uint32_t marker, src;

		len = loadgen_frame(g, f, sizeof(frames[i]));
		if (len != BENCH_FRAME_LEN)
			break;
		memcpy(&marker, stun->tid, 4);
		src = ntohl(ip->saddr);
		fields &= !memcmp(f, o->dst_mac, ETH_ALEN) && !memcmp(f + ETH_ALEN, o->src_mac, ETH_ALEN) &&
			  f[12] == 0x08 && f[13] == 0x00 && f[BENCH_OFF_IP] == 0x45 &&
			  ntohs(ip->tot_len) == BENCH_FRAME_LEN - BENCH_OFF_IP &&
			  ip->protocol == IPPROTO_UDP && ip->ttl == 64 && ip->daddr == o->dst_addr &&
			  udp->dest == htons(o->dst_port) &&
			  ntohs(udp->len) == BENCH_FRAME_LEN - BENCH_OFF_UDP &&
			  stun->type == htons(STUN_BINDING_REQUEST) && !stun->length &&
			  stun->cookie == htonl(STUN_MAGIC_COOKIE) &&
			  marker == htonl(BENCH_TID_MARKER);
		ipsum &= fold(sum16(ip, sizeof(*ip))) == 0;
		udpsum &= udp->check && udp_verify(f) == 0;
		range &= src >= o->src_base && src < o->src_base + o->src_addrs &&
			 ntohs(udp->source) >= o->port_base &&
			 ntohs(udp->source) <= o->port_base + (o->sources - 1) / o->src_addrs;
	}
	check(len == BENCH_FRAME_LEN, "generator builds %d-byte frames (got %d)",
	      BENCH_FRAME_LEN, len);
	if (len != BENCH_FRAME_LEN)
		return;
	check(fields, "Ethernet/IPv4/UDP/STUN fields are the configured ones");
	check(ipsum, "IPv4 header checksums verify");
	check(udpsum, "UDP checksums are non-zero and verify");
	check(range, "source addresses and ports stay in the configured range");
	for (i = 0; i < FRAMES && distinct; i++)
		for (j = i + 1; j < FRAMES && distinct; j++)
			distinct = memcmp(&ip_of(frames[i])->saddr, &ip_of(frames[j])->saddr, 4) ||
				   udp_of(frames[i])->source != udp_of(frames[j])->source;
	check(distinct, "%d consecutive frames come from %d distinct address:port pairs",
	      FRAMES, FRAMES);
	distinct = true;
	for (i = 0; i < FRAMES && distinct; i++)
		for (j = i + 1; j < FRAMES && distinct; j++)
			distinct = memcmp(frames[i] + BENCH_OFF_STUN + 8,
					  frames[j] + BENCH_OFF_STUN + 8, STUN_TID_LEN);
	check(distinct, "transaction ids are distinct");
}

static void expect(struct counter *c, const uint8_t *f, size_t len, int want, const char *what)
{
	enum bench_count cls = BENCH_CNT_MAX;
	int err;

	err = counter_classify(c, f, len, &cls);
	if (want < 0)
		check(err == want, "counter: %s -> passed to the stack (err %d)", what, err);
	else
		check(!err && (int)cls == want, "counter: %s -> %s (got %s, err %d)", what,
		      counter_class_name(want), err ? "-" : counter_class_name(cls), err);
}

static void check_counter(struct loadgen *g, struct counter *c, struct bare_tx *bare)
{
	uint8_t req[BENCH_FRAME_LEN + 64], f[ANSWER_LEN + 64];
	size_t m;
	struct nspp_result r;
	size_t n;

	if (loadgen_frame(g, req, sizeof(req)) != BENCH_FRAME_LEN)
		return;
	n = make_answer(req, f);
	expect(c, f, n, BENCH_CNT_VALID, "correct Binding success");

	m = make_long_answer(req, f);
	expect(c, f, m, BENCH_CNT_VALID, "Binding success with more attributes (as coturn sends)");

	m = make_long_answer(req, f);
	f[m - 5] ^= 1;	/* SOFTWARE value: only the checksum can notice */
	expect(c, f, m, BENCH_CNT_INVALID, "longer answer with a bad UDP checksum");

	make_answer(req, f);
	f[BENCH_FRAME_LEN + 6] ^= 1;	/* XOR-MAPPED-ADDRESS port */
	fix_checksums(f);
	expect(c, f, n, BENCH_CNT_INVALID, "wrong mapped port");

	make_answer(req, f);
	f[BENCH_FRAME_LEN + 11] ^= 1;	/* XOR-MAPPED-ADDRESS address */
	fix_checksums(f);
	expect(c, f, n, BENCH_CNT_INVALID, "wrong mapped address");

	make_answer(req, f);
	udp_of(f)->check ^= htons(1);
	expect(c, f, n, BENCH_CNT_INVALID, "bad UDP checksum");

	make_answer(req, f);
	udp_of(f)->check = 0;
	expect(c, f, n, BENCH_CNT_INVALID, "no UDP checksum");

	make_answer(req, f);
	ip_of(f)->check ^= htons(1);
	expect(c, f, n, BENCH_CNT_INVALID, "bad IPv4 checksum");

	make_answer(req, f);
	f[BENCH_OFF_STUN + 1] = 0x11;	/* Binding error response */
	fix_checksums(f);
	expect(c, f, n, BENCH_CNT_INVALID, "error response");

	make_answer(req, f);
	f[BENCH_OFF_STUN + 8] ^= 0xff;	/* a transaction id we never sent */
	fix_checksums(f);
	expect(c, f, n, BENCH_CNT_INVALID, "foreign transaction id");

	make_answer(req, f);
	udp_of(f)->source = htons(9);
	fix_checksums(f);
	expect(c, f, n, BENCH_CNT_INVALID, "answer from another port");

	expect(c, f, n - 4, BENCH_CNT_INVALID, "truncated answer");

	make_answer(req, f);
	ip_of(f)->protocol = IPPROTO_ICMP;
	expect(c, f, n, BENCH_CNT_OTHER, "ICMP");

	make_answer(req, f);
	f[12] = 0x08;
	f[13] = 0x06;
	expect(c, f, n, -ENOMSG, "ARP");

	if (!nspp_measure(bpf_program__fd(bare->progs.bare_tx), req, BENCH_FRAME_LEN, 1, &r)) {
		check(r.retval == XDP_TX, "bare_tx bounces the request with XDP_TX");
		expect(c, r.out, r.out_len, BENCH_CNT_REFLECTED, "request bounced by bare_tx");
	} else {
		check(false, "bare_tx runs");
	}
}

int selftest_main(int argc, char **argv)
{
	struct loadgen_opts o = {
		.dst_mac = {0x02, 0x42, 0, 0, 0, 1},
		.src_mac = {0x02, 0x42, 0, 0, 0, 2},
		.dst_port = STUN_DEFAULT_PORT,
		.src_base = 0xc6128001,	/* 198.18.128.1 */
		.src_addrs = 7,
		.sources = 1000,
		.port_base = 50000,
	};
	struct bare_tx *bare = NULL;
	struct counter *c = NULL;
	struct loadgen *g = NULL;

	if (argc > 1) {
		fprintf(stderr, "usage: pinhole-load selftest\n");
		return 2;
	}
	o.dst_addr = htonl(0xc6120001);	/* 198.18.0.1 */
	/* Frames built on one CPU follow one sequence, which the range checks rely on. */
	rig_pin_cpu(0);
	g = loadgen_new(&o);
	c = counter_new(o.dst_port);
	bare = bare_tx__open_and_load();
	check(g && c && bare, "generator, counter and bare_tx load");
	if (g && c && bare) {
		check_frames(g, &o);
		check_counter(g, c, bare);
	}
	bare_tx__destroy(bare);
	counter_free(c);
	loadgen_free(g);
	printf("# selftest: %d failed\n", failures);
	return failures ? 1 : 0;
}
