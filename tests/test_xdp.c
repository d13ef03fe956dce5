// SPDX-License-Identifier: MIT
/*
 * The XDP program, run through bpf_prog_test_run_opts over a table of crafted
 * frames: {name, input, expected verdict, expected output, expected reason}.
 * Answers are checked three ways: against a frame built here independently
 * (own checksum routine, zlib's CRC), against userspace's binding_answer()
 * for the same request and source, and by verifying the output's IP and UDP
 * checksums.  Every run must move exactly one stats counter.
 *
 * The skeleton is loaded with pinning disabled (pin path NULL on each map),
 * so nothing is created under /sys/fs/bpf.
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
#include <unistd.h>
#include <zlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf/pinhole.skel.h"
#include "pinhole_kern_user.h"
#include "stun_proto.h"
#include "crc32_table.h"
#include "xdp_util.h"
#include "access_proto.h"
#include "addr.h"
#include "binding.h"
#include "sessmap.h"
#include "stun.h"

#define SRV_PORT	3478
#define WILD_PORT	3479	/* listened on the wildcard address of both families */
#define RFC_PORT	3481	/* RFC 5780 listeners, OTHER-ADDRESS of the same family */
#define RFC_X_PORT	3482	/* RFC 5780 listeners, OTHER-ADDRESS of the other family */
#define OTHER_PORT	3483
#define OTHER4		"198.18.0.3"
#define OTHER6		"2001:db8::3"
#define CLI_PORT	40000
#define SRC4		"198.18.1.2"
#define DST4		"198.18.0.1"
#define SRC6		"2001:db8:1::2"
#define DST6		"2001:db8::1"
#define FRAME_MAX	2048

static const uint8_t cli_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t srv_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t tid[STUN_TID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
					  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

static struct pinhole *skel;
static int ncpus;


/* ---- STUN messages ---- */

struct msg {
	uint8_t b[1024];
	size_t len;
};

static void m_hdr(struct msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	put16(m->b, type);
	put32(m->b + 4, STUN_MAGIC_COOKIE);
	memcpy(m->b + 8, tid, sizeof(tid));
	m->len = STUN_HEADER_LEN;
}

/* Append an attribute; padding bytes are 0xAA (receivers must ignore them). */
static void m_attr(struct msg *m, uint16_t type, const void *v, size_t vlen)
{
	size_t padded = (vlen + 3) & ~(size_t)3;

	put16(m->b + m->len, type);
	put16(m->b + m->len + 2, vlen);
	memcpy(m->b + m->len + 4, v, vlen);
	memset(m->b + m->len + 4 + vlen, 0xaa, padded - vlen);
	m->len += 4 + padded;
}

static void m_setlen(struct msg *m)
{
	put16(m->b + 2, m->len - STUN_HEADER_LEN);
}

/* Append a correct FINGERPRINT (the length field covers it, as sent). */
static void m_fp(struct msg *m)
{
	uint32_t crc;

	put16(m->b + 2, m->len - STUN_HEADER_LEN + 8);
	crc = crc32(0, m->b, m->len) ^ STUN_FINGERPRINT_XOR;
	put16(m->b + m->len, STUN_ATTR_FINGERPRINT);
	put16(m->b + m->len + 2, 4);
	put32(m->b + m->len + 4, crc);
	m->len += 8;
}

static const char sw[] = "pinhole test"; /* 12 bytes */
static const char sw_odd[] = "pinhole tests"; /* 13 bytes: 3 padding bytes */

static void msg_plain(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_setlen(m);
}

static void msg_fp(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_fp(m);
}

static void msg_sw_odd(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw_odd, strlen(sw_odd));
	m_setlen(m);
}

static void msg_sw_odd_fp(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw_odd, strlen(sw_odd));
	m_fp(m);
}

static void msg_sw_fp(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	m_fp(m);
}

/* The inline fast path's shape with a wrong CRC: must reach the full check and drop. */
static void msg_fp_only_bad(struct msg *m)
{
	msg_fp(m);
	m->b[m->len - 4] ^= 0x80;
}

static void msg_unknown_optional_fp(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, 0x8055, "x", 1);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	m_fp(m);
}

static void msg_16_attrs(struct msg *m)
{
	int i;

	m_hdr(m, STUN_BINDING_REQUEST);
	for (i = 0; i < PH_XDP_MAX_ATTRS - 1; i++)
		m_attr(m, STUN_ATTR_SOFTWARE, "ab", 2);
	m_fp(m);
}

static void msg_17_attrs(struct msg *m)
{
	int i;

	m_hdr(m, STUN_BINDING_REQUEST);
	for (i = 0; i < PH_XDP_MAX_ATTRS; i++)
		m_attr(m, STUN_ATTR_SOFTWARE, "ab", 2);
	m_fp(m);
}

/* SOFTWARE sized so the message is exactly max_len bytes with FINGERPRINT. */
static void msg_len_fp(struct msg *m, size_t max_len)
{
	char v[1024];
	size_t vlen = max_len - STUN_HEADER_LEN - 4 - 8;

	memset(v, 'p', vlen);
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, v, vlen);
	m_fp(m);
}

static void msg_max_fp(struct msg *m)
{
	msg_len_fp(m, PH_XDP_MAX_STUN_LEN);
}

static void msg_too_long(struct msg *m)
{
	msg_len_fp(m, PH_XDP_MAX_STUN_LEN + 4);
}

static void msg_indication(struct msg *m)
{
	m_hdr(m, STUN_BINDING_INDICATION);
	m_fp(m);
}

static void msg_success(struct msg *m)
{
	m_hdr(m, STUN_BINDING_SUCCESS);
	m_setlen(m);
}

static void msg_error(struct msg *m)
{
	m_hdr(m, STUN_BINDING_ERROR);
	m_setlen(m);
}

static void msg_other_method(struct msg *m)
{
	m_hdr(m, 0x0002);
	m_setlen(m);
}

static void msg_username(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_USERNAME, "alice", 5);
	m_fp(m);
}

/* RFC 5780 CHANGE-REQUEST (change IP and port): userspace answers from another socket. */
static void msg_change_req(struct msg *m)
{
	uint8_t flags[4] = {0, 0, 0, STUN_CHANGE_IP | STUN_CHANGE_PORT};

	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_CHANGE_REQUEST, flags, sizeof(flags));
	m_fp(m);
}

static void msg_short(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m->len = 16;
}

static void msg_empty(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m->len = 0;
}

static void msg_not_stun(struct msg *m)
{
	m_hdr(m, 0x8001);
	m_setlen(m);
}

static void msg_bad_cookie(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m->b[4] ^= 1;
	m_setlen(m);
}

static void msg_len_too_big(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	put16(m->b + 2, m->len - STUN_HEADER_LEN + 4);
}

static void msg_len_too_small(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	put16(m->b + 2, m->len - STUN_HEADER_LEN - 4);
}

/* Header length 2 and a 22-byte datagram: lengths agree, but not a multiple of 4. */
static void msg_len_not_mult4(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	put16(m->b + 2, 2);
	m->len = 22;
}

/* Odd datagram lengths exercise the checksum's trailing-byte path. */
static void msg_len21(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m->b[20] = 0x5a;
	m->len = 21;
}

static void msg_len23(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	memcpy(m->b + 20, "\x5a\x5b\x5c", 3);
	m->len = 23;
}

static void msg_attr_overflow(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	put16(m->b + 22, strlen(sw) + 1); /* padded to 16: past the end */
	m_setlen(m);
}

/* A zero-length optional attribute is legal and ignored. */
static void msg_empty_attr(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_attr(m, STUN_ATTR_SOFTWARE, "", 0);
	m_setlen(m);
}

static void msg_bad_fp(struct msg *m)
{
	msg_sw_odd_fp(m);
	m->b[m->len - 1] ^= 0x01;
}

static void msg_fp_not_last(struct msg *m)
{
	m_hdr(m, STUN_BINDING_REQUEST);
	m_fp(m);
	m_attr(m, STUN_ATTR_SOFTWARE, sw, strlen(sw));
	m_setlen(m);
}

static void msg_fp_len8(struct msg *m)
{
	uint8_t v[8] = {0};
	uint32_t crc;

	m_hdr(m, STUN_BINDING_REQUEST);
	put16(m->b + 2, 12);
	crc = crc32(0, m->b, m->len) ^ STUN_FINGERPRINT_XOR;
	put32(v, crc);
	m_attr(m, STUN_ATTR_FINGERPRINT, v, sizeof(v));
}

/* RFC 5769 §2.1: request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MI, FINGERPRINT. */
static const uint8_t rfc5769_req[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
	0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
	0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
	0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
	0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
	0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 §2.2: IPv4 success response with SOFTWARE, XOR-MAPPED-ADDRESS, MI, FINGERPRINT. */
static const uint8_t rfc5769_resp4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
	0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
	0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

static void msg_rfc5769_req(struct msg *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->b, rfc5769_req, sizeof(rfc5769_req));
	m->len = sizeof(rfc5769_req);
}

static void msg_rfc5769_req_corrupt(struct msg *m)
{
	msg_rfc5769_req(m);
	m->b[30] ^= 0x20; /* inside SOFTWARE: only FINGERPRINT can notice */
}

static void msg_rfc5769_resp4(struct msg *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->b, rfc5769_resp4, sizeof(rfc5769_resp4));
	m->len = sizeof(rfc5769_resp4);
}

/* ---- frames ---- */

enum frame_flags {
	F_BAD_IPCSUM = 1 << 0,
	F_BAD_UDPCSUM = 1 << 1,
	F_NO_UDPCSUM = 1 << 2,
	F_IPOPT = 1 << 3,
	F_MF = 1 << 4,
	F_FRAGOFF = 1 << 5,
	F_V6_HBH = 1 << 6,
	F_V6_FRAG = 1 << 7,
	F_VLAN = 1 << 8,
	F_TCP = 1 << 9,
	F_ARP = 1 << 10,
	F_MCAST_MAC = 1 << 11,
	F_UDPLEN_SHORT = 1 << 12,
	F_ICMP6 = 1 << 13,
	F_BCAST_DST = 1 << 14,
	F_MCAST_SRC = 1 << 15,
	F_V4MAPPED_SRC = 1 << 16,
};

struct fopt {
	int v6;
	const char *dst;	/* NULL: the listening address */
	uint16_t dport;		/* 0: SRV_PORT */
	unsigned int flags;
	size_t trailer;		/* Ethernet trailer bytes after the IP datagram */
};

static void addrs(const struct fopt *o, uint8_t *src, uint8_t *dst)
{
	int af = o->v6 ? AF_INET6 : AF_INET;

	assert_int_equal(inet_pton(af, o->v6 ? SRC6 : SRC4, src), 1);
	assert_int_equal(inet_pton(af, o->dst ? o->dst : (o->v6 ? DST6 : DST4), dst), 1);
	if (o->flags & F_BCAST_DST)
		memset(dst, 0xff, 4);
	if (o->flags & F_MCAST_SRC)
		src[0] = o->v6 ? 0xff : 224;
	if (o->flags & F_V4MAPPED_SRC) {
		memset(src, 0, 10);
		memset(src + 10, 0xff, 2);
	}
}

/* Build the request frame for payload pl under options o; returns its length. */
static size_t build_frame(uint8_t *f, const struct fopt *o, const uint8_t *pl, size_t plen)
{
	uint8_t src[16], dst[16];
	size_t alen = o->v6 ? 16 : 4, off = 0, ihl, ext = 0, ulen = 8 + plen;
	uint8_t *udp;
	uint16_t ck, frag;

	memset(f, 0, FRAME_MAX);
	addrs(o, src, dst);
	memcpy(f, srv_mac, 6);
	if (o->flags & F_MCAST_MAC)
		memset(f, 0xff, 6);
	memcpy(f + 6, cli_mac, 6);
	off = 12;
	if (o->flags & F_VLAN) {
		put16(f + off, 0x8100);
		put16(f + off + 2, 7);
		off += 4;
	}
	if (o->flags & F_ARP) {
		put16(f + off, 0x0806);
		off += 2;
		memset(f + off, 0x11, 28);
		return off + 28;
	}
	put16(f + off, o->v6 ? 0x86dd : 0x0800);
	off += 2;
	if (!o->v6) {
		ihl = (o->flags & F_IPOPT) ? 24 : 20;
		f[off] = 0x40 | ihl / 4;
		put16(f + off + 2, ihl + ulen);
		put16(f + off + 4, 0x1234);
		frag = (o->flags & F_MF) ? 0x2000 : (o->flags & F_FRAGOFF) ? 0x00b9 : 0x4000;
		put16(f + off + 6, frag);
		f[off + 8] = 61;
		f[off + 9] = (o->flags & F_TCP) ? IPPROTO_TCP : IPPROTO_UDP;
		memcpy(f + off + 12, src, 4);
		memcpy(f + off + 16, dst, 4);
		if (ihl == 24)
			memset(f + off + 20, 0x01, 4); /* NOPs */
		ck = ~fold16(sum16(f + off, ihl, 0));
		if (o->flags & F_BAD_IPCSUM)
			ck ^= 0x0100;
		put16(f + off + 10, ck);
		off += ihl;
	} else {
		if (o->flags & (F_V6_HBH | F_V6_FRAG))
			ext = 8;
		put32(f + off, 0x60000000);
		put16(f + off + 4, ext + ulen);
		f[off + 6] = (o->flags & F_V6_HBH)    ? 0
			     : (o->flags & F_V6_FRAG) ? 44
			     : (o->flags & F_ICMP6)   ? 58
						      : IPPROTO_UDP;
		f[off + 7] = 61;
		memcpy(f + off + 8, src, 16);
		memcpy(f + off + 24, dst, 16);
		off += 40;
		if (ext) {
			f[off] = IPPROTO_UDP;
			if (o->flags & F_V6_HBH) {
				f[off + 2] = 1; /* PadN, 4 bytes */
				f[off + 3] = 4;
			} else {
				put16(f + off + 2, 0x0001); /* offset 0, M=1 */
				put32(f + off + 4, 0xabcd);
			}
			off += ext;
		}
	}
	udp = f + off;
	put16(udp, CLI_PORT);
	put16(udp + 2, o->dport ? o->dport : SRV_PORT);
	put16(udp + 4, (o->flags & F_UDPLEN_SHORT) ? ulen - 4 : ulen);
	memcpy(udp + 8, pl, plen);
	ck = ~fold16(sum16(udp, ulen, pseudo_sum(src, dst, alen, ulen)));
	if (ck == 0)
		ck = 0xffff;
	if (o->flags & F_BAD_UDPCSUM)
		ck = ck == 0x0101 ? 0x0202 : ck ^ 0x0101;
	if (o->flags & F_NO_UDPCSUM)
		ck = 0;
	put16(udp + 6, ck);
	off += ulen;
	memset(f + off, 0xee, o->trailer);
	return off + o->trailer;
}

/* @addr (4 or 16 bytes, network order) and @port (host order) as a socket address. */
static void to_sockaddr(bool v6, const void *addr, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
	}
}

/* The text address @text at @port as a socket address. */
static void text_sockaddr(bool v6, const char *text, uint16_t port, struct sockaddr_storage *ss)
{
	uint8_t a[16];

	assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, text, a), 1);
	to_sockaddr(v6, a, port, ss);
}

/*
 * The OTHER-ADDRESS the listener o->dport is given in group_setup(), or
 * false when that listener has no RFC 5780 service.
 */
static bool rfc_other(const struct fopt *o, struct sockaddr_storage *other)
{
	bool v6 = o->dport == RFC_X_PORT ? !o->v6 : o->v6;

	if (o->dport != RFC_PORT && o->dport != RFC_X_PORT)
		return false;
	text_sockaddr(v6, v6 ? OTHER6 : OTHER4, OTHER_PORT, other);
	return true;
}

/* A plain (not XORed) address attribute at p; returns its length. */
static size_t put_addr_attr(uint8_t *p, uint16_t type, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
	bool v6 = ss->ss_family == AF_INET6;

	put16(p, type);
	put16(p + 2, v6 ? 20 : 8);
	p[4] = 0;
	p[5] = v6 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4;
	memcpy(p + 6, v6 ? (const void *)&s6->sin6_port : (const void *)&s4->sin_port, 2);
	memcpy(p + 8, v6 ? (const void *)&s6->sin6_addr : (const void *)&s4->sin_addr, v6 ? 16 : 4);
	return v6 ? 24 : 12;
}

/* The address:port the frame under o is sent to (RESPONSE-ORIGIN of its answer). */
static void dst_addr(const struct fopt *o, struct sockaddr_storage *ss)
{
	uint8_t src[16], dst[16];

	addrs(o, src, dst);
	to_sockaddr(o->v6, dst, o->dport ? o->dport : SRV_PORT, ss);
}

/*
 * The response the program must send for request msg under o, built from
 * the Binding rules: swapped MACs/IPs/ports, TTL 64, XOR-MAPPED-ADDRESS,
 * RESPONSE-ORIGIN and OTHER-ADDRESS for an RFC 5780 listener, and
 * FINGERPRINT iff the request had one.
 */
static size_t build_expected(uint8_t *f, const struct fopt *o, const struct msg *req, bool fp)
{
	uint8_t src[16], dst[16], *ip, *udp, *s;
	size_t alen = o->v6 ? 16 : 4, hdrs = 14 + (o->v6 ? 40 : 20) + 8;
	size_t xlen = o->v6 ? 20 : 8, slen, i;
	struct sockaddr_storage origin, other;
	uint16_t ck;

	memset(f, 0, FRAME_MAX);
	addrs(o, src, dst);
	s = f + hdrs;
	put16(s, STUN_BINDING_SUCCESS);
	put32(s + 4, STUN_MAGIC_COOKIE);
	memcpy(s + 8, req->b + 8, STUN_TID_LEN);
	put16(s + 20, STUN_ATTR_XOR_MAPPED_ADDRESS);
	put16(s + 22, xlen);
	s[25] = o->v6 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4;
	put16(s + 26, CLI_PORT ^ (STUN_MAGIC_COOKIE >> 16));
	for (i = 0; i < alen; i++)
		s[28 + i] = src[i] ^ s[4 + i]; /* cookie, then transaction id */
	slen = 24 + xlen;
	if (rfc_other(o, &other)) {
		dst_addr(o, &origin);
		slen += put_addr_attr(s + slen, STUN_ATTR_RESPONSE_ORIGIN, &origin);
		slen += put_addr_attr(s + slen, STUN_ATTR_OTHER_ADDRESS, &other);
	}
	put16(s + 2, slen - STUN_HEADER_LEN);
	if (fp) {
		put16(s + 2, slen - STUN_HEADER_LEN + 8);
		put16(s + slen, STUN_ATTR_FINGERPRINT);
		put16(s + slen + 2, 4);
		put32(s + slen + 4, crc32(0, s, slen) ^ STUN_FINGERPRINT_XOR);
		slen += 8;
	}

	memcpy(f, cli_mac, 6);
	memcpy(f + 6, srv_mac, 6);
	put16(f + 12, o->v6 ? 0x86dd : 0x0800);
	ip = f + 14;
	if (!o->v6) {
		ip[0] = 0x45;
		put16(ip + 2, 20 + 8 + slen);
		put16(ip + 6, 0x4000);
		ip[8] = 64;
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, dst, 4);
		memcpy(ip + 16, src, 4);
		put16(ip + 10, ~fold16(sum16(ip, 20, 0)));
		udp = ip + 20;
	} else {
		put32(ip, 0x60000000);
		put16(ip + 4, 8 + slen);
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, dst, 16);
		memcpy(ip + 24, src, 16);
		udp = ip + 40;
	}
	put16(udp, o->dport ? o->dport : SRV_PORT);
	put16(udp + 2, CLI_PORT);
	put16(udp + 4, 8 + slen);
	ck = ~fold16(sum16(udp, 8 + slen, pseudo_sum(dst, src, alen, 8 + slen)));
	put16(udp + 6, ck ? ck : 0xffff);
	return hdrs + slen;
}

/* The output frame's IPv4 header checksum and UDP checksum both verify. */
static void assert_csums_ok(const uint8_t *f, size_t len, bool v6)
{
	const uint8_t *ip = f + 14, *udp = ip + (v6 ? 40 : 20);
	size_t alen = v6 ? 16 : 4, ulen;

	assert_true(len >= (size_t)(udp + 8 - f));
	ulen = get16(udp + 4);
	assert_int_equal(len, (size_t)(udp - f) + ulen);
	if (!v6)
		assert_int_equal(fold16(sum16(ip, 20, 0)), 0xffff);
	assert_int_not_equal(get16(udp + 6), 0);
	assert_int_equal(fold16(sum16(udp, ulen, pseudo_sum(v6 ? ip + 8 : ip + 12,
							     v6 ? ip + 24 : ip + 16, alen, ulen))),
			 0xffff);
}

/* ---- running the program ---- */

static void read_stats(struct ph_stat *tot)
{
	struct ph_stat per[ncpus];
	__u32 k;
	int c;

	memset(tot, 0, sizeof(*tot) * PH_REASON_MAX);
	for (k = 0; k < PH_REASON_MAX; k++) {
		assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, per), 0);
		for (c = 0; c < ncpus; c++) {
			tot[k].packets += per[c].packets;
			tot[k].bytes += per[c].bytes;
		}
	}
}

struct run_result {
	uint8_t out[FRAME_MAX];
	uint32_t out_len;
	uint32_t verdict;
	struct ph_stat delta[PH_REASON_MAX];
};

static void run(const uint8_t *in, size_t len, struct run_result *res)
{
	struct ph_stat before[PH_REASON_MAX], after[PH_REASON_MAX];
	int k;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
		    .data_out = res->out, .data_size_out = sizeof(res->out), .repeat = 1);

	read_stats(before);
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(skel->progs.pinhole_xdp), &opts),
			 0);
	read_stats(after);
	res->out_len = opts.data_size_out;
	res->verdict = opts.retval;
	for (k = 0; k < PH_REASON_MAX; k++) {
		res->delta[k].packets = after[k].packets - before[k].packets;
		res->delta[k].bytes = after[k].bytes - before[k].bytes;
	}
}

/* Exactly one counter moved: reason, by one packet of len bytes. */
static void assert_counted(const struct run_result *res, enum ph_xdp_reason reason, size_t len)
{
	int k;

	for (k = 0; k < PH_REASON_MAX; k++) {
		if (k == (int)reason) {
			assert_int_equal(res->delta[k].packets, 1);
			assert_int_equal(res->delta[k].bytes, len);
		} else if (res->delta[k].packets || res->delta[k].bytes) {
			fail_msg("reason %d counted, expected only %d", k, reason);
		}
	}
}

static enum binding_outcome userspace_answer(const struct fopt *o, const struct msg *m,
					     uint8_t *out, size_t *out_len)
{
	struct sockaddr_storage ss, origin, other;
	enum binding_outcome oc = BINDING_OUTCOME_MAX;

	text_sockaddr(o->v6, o->v6 ? SRC6 : SRC4, CLI_PORT, &ss);
	if (rfc_other(o, &other)) {
		struct binding_ctx ctx = {(struct sockaddr *)&origin, (struct sockaddr *)&other};

		dst_addr(o, &origin);
		*out_len = binding_answer_ctx(m->b, m->len, (struct sockaddr *)&ss, &ctx, out,
					      BINDING_REPLY_MAX, &oc);
		return oc;
	}
	*out_len = binding_answer(m->b, m->len, (struct sockaddr *)&ss, out, BINDING_REPLY_MAX,
				  &oc);
	return oc;
}

static int add_listener(int fd, uint8_t family, const char *addr, uint16_t port);

/* ---- the table ---- */

struct xdp_case {
	const char *name;
	void (*msg)(struct msg *m);
	struct fopt fo;
	uint32_t verdict;
	enum ph_xdp_reason reason;
	bool fp;		/* XDP_TX: the answer carries FINGERPRINT */
};

#define V4(...)	{.v6 = 0, __VA_ARGS__}
#define V6(...)	{.v6 = 1, __VA_ARGS__}
#define TX(name, msg, fo, fp)		{name, msg, fo, XDP_TX, PH_TX_BINDING, fp}
#define PASS(name, msg, fo, reason)	{name, msg, fo, XDP_PASS, reason, false}
#define DROP(name, msg, fo, reason)	{name, msg, fo, XDP_DROP, reason, false}

static const struct xdp_case cases[] = {
	/* answered */
	TX("v4 plain", msg_plain, V4(), false),
	TX("v4 fingerprint", msg_fp, V4(), true),
	TX("v4 software odd", msg_sw_odd, V4(), false),
	TX("v4 software odd + fp", msg_sw_odd_fp, V4(), true),
	TX("v4 unknown optional + fp", msg_unknown_optional_fp, V4(), true),
	TX("v4 software + fp (13 words)", msg_sw_fp, V4(), true),
	TX("v4 16 attributes", msg_16_attrs, V4(), true),
	TX("v4 548 bytes + fp", msg_max_fp, V4(), true),
	TX("v4 wildcard listener", msg_fp, V4(.dport = WILD_PORT, .dst = "198.18.0.9"), true),
	TX("v4 ethernet trailer", msg_plain, V4(.trailer = 10), false),
	TX("v4 trailer + shrink", msg_sw_odd_fp, V4(.trailer = 3), true),
	TX("v4 empty software", msg_empty_attr, V4(), false),
	TX("v4 udp checksum 0", msg_fp, V4(.flags = F_NO_UDPCSUM), true),
	TX("v4 plain, udp checksum 0", msg_plain, V4(.flags = F_NO_UDPCSUM), false),
	TX("v4 plain wildcard listener", msg_plain, V4(.dport = WILD_PORT, .dst = "198.18.0.9"),
	   false),
	TX("v6 plain", msg_plain, V6(), false),
	TX("v6 fingerprint", msg_fp, V6(), true),
	TX("v6 software odd + fp", msg_sw_odd_fp, V6(), true),
	TX("v6 548 bytes + fp", msg_max_fp, V6(), true),
	TX("v6 wildcard listener", msg_plain, V6(.dport = WILD_PORT, .dst = "2001:db8::99"), false),
	TX("v6 ethernet trailer", msg_fp, V6(.trailer = 6), true),
	/* RFC 5780 listeners: RESPONSE-ORIGIN and OTHER-ADDRESS after XOR-MAPPED-ADDRESS */
	TX("v4 rfc5780", msg_plain, V4(.dport = RFC_PORT), false),
	TX("v4 rfc5780 + fp", msg_fp, V4(.dport = RFC_PORT), true),
	TX("v4 rfc5780 software odd + fp", msg_sw_odd_fp, V4(.dport = RFC_PORT), true),
	TX("v4 rfc5780 ethernet trailer", msg_plain, V4(.dport = RFC_PORT, .trailer = 10), false),
	TX("v4 rfc5780, IPv6 other", msg_plain, V4(.dport = RFC_X_PORT), false),
	TX("v4 rfc5780, IPv6 other + fp", msg_fp, V4(.dport = RFC_X_PORT), true),
	TX("v6 rfc5780", msg_plain, V6(.dport = RFC_PORT), false),
	TX("v6 rfc5780 + fp", msg_fp, V6(.dport = RFC_PORT), true),
	TX("v6 rfc5780 548 bytes + fp", msg_max_fp, V6(.dport = RFC_PORT), true),
	TX("v6 rfc5780, IPv4 other", msg_plain, V6(.dport = RFC_X_PORT), false),
	TX("v6 rfc5780, IPv4 other + fp", msg_fp, V6(.dport = RFC_X_PORT), true),
	/* passed up: not for the kernel path */
	PASS("arp", msg_plain, V4(.flags = F_ARP), PH_PASS_NOT_IP),
	PASS("arp broadcast", msg_plain, V4(.flags = F_ARP | F_MCAST_MAC), PH_PASS_NOT_IP),
	PASS("v6 multicast mac, icmpv6", msg_plain, V6(.flags = F_ICMP6 | F_MCAST_MAC),
	     PH_PASS_NOT_UDP),
	PASS("vlan tagged", msg_plain, V4(.flags = F_VLAN), PH_PASS_NOT_IP),
	PASS("v4 tcp", msg_plain, V4(.flags = F_TCP), PH_PASS_NOT_UDP),
	PASS("v6 icmpv6", msg_plain, V6(.flags = F_ICMP6), PH_PASS_NOT_UDP),
	PASS("v4 wrong port", msg_plain, V4(.dport = 3480), PH_PASS_NOT_LISTEN),
	PASS("v4 wrong address", msg_plain, V4(.dst = "198.18.0.2"), PH_PASS_NOT_LISTEN),
	PASS("v6 wrong address", msg_plain, V6(.dst = "2001:db8::2"), PH_PASS_NOT_LISTEN),
	PASS("v6 wrong port", msg_plain, V6(.dport = 3480), PH_PASS_NOT_LISTEN),
	PASS("broadcast mac", msg_plain, V4(.flags = F_MCAST_MAC), PH_PASS_NOT_LISTEN),
	PASS("v4 broadcast dst", msg_plain, V4(.dport = WILD_PORT, .flags = F_BCAST_DST),
	     PH_PASS_NOT_LISTEN),
	PASS("v4 multicast src", msg_plain, V4(.flags = F_MCAST_SRC), PH_PASS_NOT_LISTEN),
	PASS("v6 multicast src", msg_plain, V6(.flags = F_MCAST_SRC), PH_PASS_NOT_LISTEN),
	PASS("v6 v4-mapped src", msg_plain, V6(.flags = F_V4MAPPED_SRC), PH_PASS_NOT_LISTEN),
	PASS("v4 ip options", msg_plain, V4(.flags = F_IPOPT), PH_PASS_IP_OPTIONS),
	PASS("v6 hop-by-hop", msg_plain, V6(.flags = F_V6_HBH), PH_PASS_IP_OPTIONS),
	PASS("v4 more fragments", msg_plain, V4(.flags = F_MF), PH_PASS_FRAGMENT),
	PASS("v4 fragment offset", msg_plain, V4(.flags = F_FRAGOFF), PH_PASS_FRAGMENT),
	PASS("v6 fragment header", msg_plain, V6(.flags = F_V6_FRAG), PH_PASS_FRAGMENT),
	PASS("v4 udp length short", msg_plain, V4(.flags = F_UDPLEN_SHORT), PH_PASS_TRUNCATED),
	PASS("v6 udp length short", msg_plain, V6(.flags = F_UDPLEN_SHORT), PH_PASS_TRUNCATED),
	PASS("v4 bad ip checksum", msg_plain, V4(.flags = F_BAD_IPCSUM), PH_PASS_BAD_CSUM),
	PASS("v4 bad udp checksum", msg_fp, V4(.flags = F_BAD_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("v4 plain, bad udp checksum", msg_plain, V4(.flags = F_BAD_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("v6 bad udp checksum", msg_fp, V6(.flags = F_BAD_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("v6 udp checksum 0", msg_plain, V6(.flags = F_NO_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("v4 len 21 bad csum", msg_len21, V4(.flags = F_BAD_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("v4 len 23 bad csum", msg_len23, V4(.flags = F_BAD_UDPCSUM), PH_PASS_BAD_CSUM),
	PASS("indication", msg_indication, V4(), PH_PASS_NOT_BINDING_REQ),
	PASS("success response", msg_success, V4(), PH_PASS_NOT_BINDING_REQ),
	PASS("error response", msg_error, V4(), PH_PASS_NOT_BINDING_REQ),
	PASS("other method request", msg_other_method, V4(), PH_PASS_NOT_BINDING_REQ),
	PASS("rfc5769 response (fp ok)", msg_rfc5769_resp4, V4(), PH_PASS_NOT_BINDING_REQ),
	PASS("comprehension-required", msg_username, V4(), PH_PASS_ATTRIBUTES),
	PASS("v4 rfc5780 change-request", msg_change_req, V4(.dport = RFC_PORT),
	     PH_PASS_ATTRIBUTES),
	PASS("v6 rfc5780 change-request", msg_change_req, V6(.dport = RFC_PORT),
	     PH_PASS_ATTRIBUTES),
	PASS("rfc5769 request (fp ok)", msg_rfc5769_req, V4(), PH_PASS_ATTRIBUTES),
	PASS("v6 comprehension-required", msg_username, V6(), PH_PASS_ATTRIBUTES),
	PASS("too long", msg_too_long, V4(), PH_PASS_TOO_LONG),
	PASS("17 attributes", msg_17_attrs, V4(), PH_PASS_TOO_LONG),
	/* dropped: malformed STUN on the port */
	DROP("empty", msg_empty, V4(), PH_DROP_BAD_LENGTH),
	DROP("16 bytes", msg_short, V4(), PH_DROP_BAD_LENGTH),
	DROP("len 21", msg_len21, V4(), PH_DROP_BAD_LENGTH),
	DROP("len 23", msg_len23, V4(), PH_DROP_BAD_LENGTH),
	DROP("v6 len 21", msg_len21, V6(), PH_DROP_BAD_LENGTH),
	DROP("not stun", msg_not_stun, V4(), PH_DROP_NOT_STUN),
	DROP("bad cookie", msg_bad_cookie, V4(), PH_DROP_BAD_COOKIE),
	DROP("v6 bad cookie", msg_bad_cookie, V6(), PH_DROP_BAD_COOKIE),
	DROP("length too big", msg_len_too_big, V4(), PH_DROP_BAD_LENGTH),
	DROP("length too small", msg_len_too_small, V4(), PH_DROP_BAD_LENGTH),
	DROP("length not multiple of 4", msg_len_not_mult4, V4(), PH_DROP_BAD_LENGTH),
	DROP("attribute overflows", msg_attr_overflow, V4(), PH_DROP_BAD_LENGTH),
	DROP("fingerprint only, bad", msg_fp_only_bad, V4(), PH_DROP_BAD_FINGERPRINT),
	DROP("v6 fingerprint only, bad", msg_fp_only_bad, V6(), PH_DROP_BAD_FINGERPRINT),
	DROP("bad fingerprint", msg_bad_fp, V4(), PH_DROP_BAD_FINGERPRINT),
	DROP("v6 bad fingerprint", msg_bad_fp, V6(), PH_DROP_BAD_FINGERPRINT),
	DROP("fingerprint not last", msg_fp_not_last, V4(), PH_DROP_BAD_FINGERPRINT),
	DROP("fingerprint length 8", msg_fp_len8, V4(), PH_DROP_BAD_FINGERPRINT),
	DROP("rfc5769 request corrupted", msg_rfc5769_req_corrupt, V4(), PH_DROP_BAD_FINGERPRINT),
};

static void run_case(void **state)
{
	const struct xdp_case *c = *state;
	uint8_t in[FRAME_MAX], want[FRAME_MAX], ua[BINDING_REPLY_MAX], first[FRAME_MAX];
	struct run_result *res = calloc(1, sizeof(*res));
	enum binding_outcome oc;
	size_t len, want_len, ua_len, hdrs;
	uint32_t first_len;
	struct msg m;

	assert_non_null(res);
	c->msg(&m);
	len = build_frame(in, &c->fo, m.b, m.len);
	/*
	 * Twice: the first run may fill the listener memo, the second then
	 * meets a warm one, which is when a plain IPv4 request takes the fast
	 * path.  Both must give the same verdict, count and bytes.
	 */
	run(in, len, res);
	assert_int_equal(res->verdict, c->verdict);
	assert_counted(res, c->reason, len);
	memcpy(first, res->out, res->out_len);
	first_len = res->out_len;
	run(in, len, res);
	assert_int_equal(res->verdict, c->verdict);
	assert_counted(res, c->reason, len);
	assert_int_equal(res->out_len, first_len);
	assert_memory_equal(res->out, first, first_len);

	if (c->verdict != XDP_TX) {
		/* Passed or dropped frames are left exactly as they came. */
		assert_int_equal(res->out_len, len);
		assert_memory_equal(res->out, in, len);
		free(res);
		return;
	}
	want_len = build_expected(want, &c->fo, &m, c->fp);
	assert_int_equal(res->out_len, want_len);
	assert_memory_equal(res->out, want, want_len);
	assert_csums_ok(res->out, res->out_len, c->fo.v6);

	/* Byte-identical to what userspace would have sent. */
	hdrs = 14 + (c->fo.v6 ? 40 : 20) + 8;
	oc = userspace_answer(&c->fo, &m, ua, &ua_len);
	assert_int_equal(oc, BINDING_ANSWERED);
	assert_int_equal(ua_len, res->out_len - hdrs);
	assert_memory_equal(ua, res->out + hdrs, ua_len);
	free(res);
}

/* The message the drop cases carry: userspace must drop them too. */
static void test_drops_agree_with_userspace(void **state)
{
	uint8_t ua[BINDING_REPLY_MAX];
	size_t i, ua_len;
	struct msg m;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct xdp_case *c = &cases[i];

		if (c->verdict != XDP_DROP)
			continue;
		c->msg(&m);
		if (userspace_answer(&c->fo, &m, ua, &ua_len) != BINDING_DROPPED)
			fail_msg("%s: XDP drops, userspace does not", c->name);
	}
}

/*
 * What the kernel passes up on an RFC 5780 listener, a CHANGE-REQUEST,
 * userspace answers with the same three addresses the kernel writes (the
 * server then sends it from the socket the flags select).
 */
static void test_change_request_answered_by_userspace(void **state)
{
	struct fopt fos[2] = {V4(.dport = RFC_PORT), V6(.dport = RFC_PORT)};
	uint8_t ua[BINDING_REPLY_MAX];
	size_t ua_len;
	struct msg m;
	int f;

	msg_change_req(&m);
	for (f = 0; f < 2; f++) {
		assert_int_equal(userspace_answer(&fos[f], &m, ua, &ua_len), BINDING_ANSWERED);
		/* XMA, RESPONSE-ORIGIN, OTHER-ADDRESS of the family, FINGERPRINT */
		assert_int_equal(ua_len, f ? 20 + 3 * 24 + 8 : 20 + 3 * 12 + 8);
		assert_int_equal(get16(ua + 20 + (f ? 24 : 12)), STUN_ATTR_RESPONSE_ORIGIN);
		assert_int_equal(get16(ua + 20 + (f ? 48 : 24)), STUN_ATTR_OTHER_ADDRESS);
	}
}

/* ---- loops and properties ---- */

/* A frame cut at every length passes up untouched (never answered, never dropped). */
static void test_truncated_frames(void **state)
{
	struct fopt fos[2] = {V4(), V6()};
	uint8_t in[FRAME_MAX];
	struct run_result *res = calloc(1, sizeof(*res));
	size_t len, cut;
	struct msg m;
	int f;

	assert_non_null(res);
	msg_sw_odd_fp(&m);
	for (f = 0; f < 2; f++) {
		len = build_frame(in, &fos[f], m.b, m.len);
		/* test_run refuses frames shorter than an Ethernet header */
		for (cut = 14; cut < len; cut++) {
			run(in, cut, res);
			if (res->verdict != XDP_PASS)
				fail_msg("v%d cut at %zu: verdict %u", f ? 6 : 4, cut,
					 res->verdict);
			assert_counted(res, PH_PASS_TRUNCATED, cut);
			assert_int_equal(res->out_len, cut);
			assert_memory_equal(res->out, in, cut);
		}
	}
	free(res);
}

/* A datagram cut at every length, with consistent IP/UDP headers, is dropped as bad length. */
static void test_truncated_datagrams(void **state)
{
	struct fopt fos[2] = {V4(), V6()};
	uint8_t in[FRAME_MAX], ua[BINDING_REPLY_MAX];
	struct run_result *res = calloc(1, sizeof(*res));
	size_t len, cut, full, ua_len;
	struct msg m, t;
	int f;

	assert_non_null(res);
	msg_sw_odd_fp(&m);
	full = m.len;
	for (f = 0; f < 2; f++) {
		for (cut = 0; cut < full; cut++) {
			t = m;
			t.len = cut;
			len = build_frame(in, &fos[f], t.b, t.len);
			run(in, len, res);
			if (res->verdict != XDP_DROP)
				fail_msg("v%d datagram %zu bytes: verdict %u", f ? 6 : 4, cut,
					 res->verdict);
			assert_counted(res, PH_DROP_BAD_LENGTH, len);
			assert_int_equal(userspace_answer(&fos[f], &t, ua, &ua_len),
					 BINDING_DROPPED);
		}
	}
	free(res);
}

/*
 * Random corruption of valid requests: whenever the kernel answers, userspace
 * answers the same bytes; whenever it drops, userspace drops.  Passes are
 * userspace's to decide.
 */
static void test_mutations_agree(void **state)
{
	void (*gens[])(struct msg *) = {msg_plain, msg_fp, msg_sw_odd_fp, msg_unknown_optional_fp};
	uint8_t in[FRAME_MAX], ua[BINDING_REPLY_MAX];
	struct run_result *res = calloc(1, sizeof(*res));
	unsigned int seed = 5769, tx = 0, drop = 0, pass = 0;
	size_t len, ua_len, hdrs;
	enum binding_outcome oc;
	struct msg m;
	int i, j, n;

	assert_non_null(res);
	for (i = 0; i < 3000; i++) {
		/* Families in blocks of 50, each block mostly with a warm memo. */
		struct fopt fo = {.v6 = (i / 50) & 1};

		gens[(i / 2) % 4](&m);
		n = 1 + rand_r(&seed) % 3;
		for (j = 0; j < n; j++) {
			size_t at = rand_r(&seed) % m.len;

			/* Mostly flip bits in the header and attribute headers. */
			if (rand_r(&seed) & 1)
				at %= m.len < 28 ? m.len : 28;
			m.b[at] ^= 1u << (rand_r(&seed) % 8);
		}
		len = build_frame(in, &fo, m.b, m.len);
		run(in, len, res);
		oc = userspace_answer(&fo, &m, ua, &ua_len);
		if (res->verdict == XDP_TX) {
			tx++;
			hdrs = 14 + (fo.v6 ? 40 : 20) + 8;
			if (oc != BINDING_ANSWERED || ua_len != res->out_len - hdrs ||
			    memcmp(ua, res->out + hdrs, ua_len))
				fail_msg("mutation %d: kernel answered, userspace %s", i,
					 binding_outcome_name(oc));
			assert_csums_ok(res->out, res->out_len, fo.v6);
		} else if (res->verdict == XDP_DROP) {
			drop++;
			if (oc != BINDING_DROPPED)
				fail_msg("mutation %d: kernel dropped, userspace %s", i,
					 binding_outcome_name(oc));
		} else {
			pass++;
			/* Passing a plain answerable request would be a missed fast path. */
			if (oc == BINDING_ANSWERED && res->delta[PH_PASS_ATTRIBUTES].packets == 0 &&
			    res->delta[PH_PASS_NOT_BINDING_REQ].packets == 0)
				fail_msg("mutation %d: passed up an answerable request", i);
		}
	}
	print_message("mutations: %u answered, %u dropped, %u passed\n", tx, drop, pass);
	assert_true(tx > 0 && drop > 0 && pass > 0);
	free(res);
}

/*
 * The per-CPU listener memo never answers for an address:port that is not
 * listened on, and a removed listener stops being answered within its
 * lifetime (25 jiffies: 250 ms at worst).  Waits for the condition, 2 s cap.
 */
static void test_listener_memo(void **state)
{
	struct fopt hit = V4(.dst = "198.18.0.77", .dport = 3490), miss = V4(.dport = 3490);
	int fd = bpf_map__fd(skel->maps.listeners);
	struct run_result *res = calloc(1, sizeof(*res));
	struct ph_listen_key k = {.family = AF_INET, .port = htons(3490)};
	uint8_t in[FRAME_MAX];
	struct timespec t0, t;
	size_t len;
	struct msg m;
	double waited = 0;

	assert_non_null(res);
	assert_int_equal(inet_pton(AF_INET, "198.18.0.77", k.addr), 1);
	assert_int_equal(add_listener(fd, AF_INET, "198.18.0.77", 3490), 0);
	msg_plain(&m);
	len = build_frame(in, &hit, m.b, m.len);
	run(in, len, res);
	assert_int_equal(res->verdict, XDP_TX);
	/* Same port, other address, right after a memoised hit: still not a listener. */
	len = build_frame(in, &miss, m.b, m.len);
	run(in, len, res);
	assert_int_equal(res->verdict, XDP_PASS);
	assert_counted(res, PH_PASS_NOT_LISTEN, len);

	assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
	len = build_frame(in, &hit, m.b, m.len);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		run(in, len, res);
		if (res->verdict == XDP_PASS)
			break;
		assert_int_equal(res->verdict, XDP_TX);
		clock_gettime(CLOCK_MONOTONIC, &t);
		waited = (t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
		if (waited > 2.0)
			fail_msg("removed listener still answered after %.2f s", waited);
	}
	assert_counted(res, PH_PASS_NOT_LISTEN, len);
	print_message("removed listener passed up after %.3f s\n", waited);
	free(res);
}

/* The slicing-by-8 tables the program uses equal the bitwise CRC-32 definition. */
static void test_crc_tables(void **state)
{
	uint32_t c;
	int k, i, b;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < CRC32_SLICES; k++) {
			for (b = 0; b < 8; b++)
				c = (c >> 1) ^ ((c & 1) ? 0xEDB88320u : 0);
			if (crc32_tab[k][i] != c)
				fail_msg("crc32_tab[%d][%d] = %08x, want %08x", k, i,
					 crc32_tab[k][i], c);
		}
	}
}

/*
 * Kernel-measured run time of one test_run call with repeat=1 (repeat>1
 * would rerun on the rewritten buffer), as the best mean of several batches:
 * the VM is shared, and the minimum is the least disturbed figure.
 */
static double ns_per_run(int fd, const uint8_t *in, size_t len)
{
	const int batches = 15, calls = 1000;
	uint8_t out[FRAME_MAX];
	double best = 1e12;
	uint64_t total;
	int b, i;

	for (b = 0; b < batches; b++) {
		total = 0;
		for (i = 0; i < calls; i++) {
			LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len,
				    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

			assert_int_equal(bpf_prog_test_run_opts(fd, &opts), 0);
			total += opts.duration;
		}
		if ((double)total / calls < best)
			best = (double)total / calls;
	}
	return best;
}

/*
 * Not a test: reports verifier cost and ns/packet of the common requests,
 * next to a two-instruction XDP_PASS program (the test_run floor).  Only the
 * verifier headroom is asserted.
 */
static void test_report_costs(void **state)
{
	struct {
		const char *name;
		void (*msg)(struct msg *m);
		struct fopt fo;
	} kinds[] = {
		{"v4 plain", msg_plain, V4()},
		{"v4 fingerprint", msg_fp, V4()},
		{"v4 software+fp", msg_sw_odd_fp, V4()},
		{"v6 plain", msg_plain, V6()},
		{"v6 fingerprint", msg_fp, V6()},
		{"v4 not listener (pass)", msg_plain, V4(.dport = 3480)},
	};
	const struct bpf_insn floor_insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
		{.code = BPF_JMP | BPF_EXIT},
	};
	int fd = bpf_program__fd(skel->progs.pinhole_xdp), floor_fd;
	struct bpf_prog_info info = {0};
	__u32 info_len = sizeof(info);
	uint8_t in[FRAME_MAX];
	double floor_ns;
	struct msg m;
	size_t k, len;

	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &info_len), 0);
	print_message("verified_insns %u, xlated %u bytes, jited %u bytes\n", info.verified_insns,
		      info.xlated_prog_len, info.jited_prog_len);
	/* Headroom under the verifier's 1M limit, so small edits cannot tip it over. */
	assert_true(info.verified_insns < 200000);

	floor_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "ph_floor", "GPL", floor_insns, 2, NULL);
	assert_true(floor_fd >= 0);
	msg_plain(&m);
	len = build_frame(in, &kinds[0].fo, m.b, m.len);
	floor_ns = ns_per_run(floor_fd, in, len);
	close(floor_fd);
	print_message("ns/run  %-24s %6.1f\n", "floor (return XDP_PASS)", floor_ns);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		double ns;

		kinds[k].msg(&m);
		len = build_frame(in, &kinds[k].fo, m.b, m.len);
		ns = ns_per_run(fd, in, len);
		print_message("ns/run  %-24s %6.1f  (%.1f above floor)\n", kinds[k].name, ns,
			      ns - floor_ns);
	}
}

/* ---- setup ---- */

/* ---- keepalives: the sessions array and the events ring ---- */

#define KA_SLOTS	16
#define KA_SLOT		5
#define KA_ID		(0x9du << PH_SESSION_SLOT_BITS | KA_SLOT)
static const uint8_t ka_token[PH_TOKEN_LEN] = "pinhole-token-01";

/* A keepalive: Binding request or indication, SESSION first, FINGERPRINT if @fp. */
static void ka_msg(struct msg *m, uint16_t type, uint32_t id, const uint8_t *token, bool fp)
{
	uint8_t v[sizeof(struct ph_session_attr)];

	m_hdr(m, type);
	put32(v, id);
	memcpy(v + 4, token, PH_TOKEN_LEN);
	m_attr(m, PH_ATTR_SESSION, v, sizeof(v));
	if (fp)
		m_fp(m);
	else
		m_setlen(m);
}

/* The client of @o at @port as a sockaddr. */
static void ka_client(const struct fopt *o, uint16_t port, struct sockaddr_storage *ss)
{
	uint8_t src[16], dst[16];

	addrs(o, src, dst);
	to_sockaddr(o->v6, src, port, ss);
}

static struct sessmap ka_map;

/* Session KA_ID held by the client of @o at @port, last seen @last_seen. */
static void ka_put(const struct fopt *o, uint16_t port, uint32_t last_seen)
{
	struct sockaddr_storage ss;

	ka_client(o, port, &ss);
	assert_int_equal(sessmap_put(&ka_map, KA_ID, ka_token, (struct sockaddr *)&ss, 20,
				     last_seen),
			 0);
}

static void ka_get(struct ph_session *v)
{
	assert_int_equal(sessmap_get(&ka_map, KA_ID, v), 0);
}

/* Run @m from the client of @o and check verdict and the one reason counted. */
static void ka_run(const struct fopt *o, const struct msg *m, struct run_result *res,
		   uint32_t verdict, enum ph_xdp_reason reason, size_t *len)
{
	uint8_t in[FRAME_MAX];

	*len = build_frame(in, o, m->b, m->len);
	run(in, *len, res);
	assert_int_equal(res->verdict, verdict);
	assert_counted(res, reason, *len);
	if (verdict != XDP_TX) {
		assert_int_equal(res->out_len, *len);
		assert_memory_equal(res->out, in, *len);
	}
}

/* What userspace's keepalive path answers an unknown session: 401, FINGERPRINT iff asked. */
static size_t ka_401(const struct msg *req, bool fp, uint8_t *out)
{
	struct stun_builder b;

	stun_build_init(&b, out, 256, STUN_BINDING_ERROR, req->b + 8);
	stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
	if (fp)
		stun_build_fingerprint(&b);
	return (size_t)stun_build_finish(&b);
}

static struct {
	unsigned int n;
	struct sessmap_move last;
} ka_moves;

static void ka_on_move(const struct sessmap_move *mv, void *ctx)
{
	(void)ctx;
	ka_moves.n++;
	ka_moves.last = *mv;
}

/* Right token: refreshed and answered exactly as userspace would, both families. */
static void test_ka_right_token(void **state)
{
	const struct fopt fos[] = {V4(), V6()};
	struct run_result *res = calloc(1, sizeof(*res));
	uint8_t want[FRAME_MAX];
	struct ph_session v;
	struct msg m;
	size_t len, want_len;

	(void)state;
	assert_non_null(res);
	for (size_t i = 0; i < 2; i++) {
		for (int fp = 0; fp < 2; fp++) {
			ka_put(&fos[i], CLI_PORT, 7); /* long ago */
			ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, ka_token, fp);
			ka_run(&fos[i], &m, res, XDP_TX, PH_TX_KEEPALIVE, &len);
			want_len = build_expected(want, &fos[i], &m, fp);
			assert_int_equal(res->out_len, want_len);
			assert_memory_equal(res->out, want, want_len);
			assert_csums_ok(res->out, res->out_len, fos[i].v6);
			ka_get(&v);
			assert_true(v.last_seen + 1 >= sessmap_now_s() && v.last_seen <= sessmap_now_s());
			assert_int_equal(ntohs(v.port), CLI_PORT);
		}
	}
	/* An indication: refreshed, never answered. */
	ka_put(&fos[0], CLI_PORT, 7);
	ka_msg(&m, STUN_BINDING_INDICATION, KA_ID, ka_token, false);
	ka_run(&fos[0], &m, res, XDP_DROP, PH_DROP_KA_INDICATION, &len);
	ka_get(&v);
	assert_true(v.last_seen + 1 >= sessmap_now_s());
	free(res);
}

/* Wrong token or unknown session: nothing refreshed; a request about an unknown one hears 401. */
static void test_ka_wrong_and_unknown(void **state)
{
	struct fopt o4 = V4(), o6 = V6();
	struct run_result *res = calloc(1, sizeof(*res));
	const struct fopt *fo[] = {&o4, &o6};
	uint8_t bad[PH_TOKEN_LEN], want[256];
	const uint32_t unknown[] = {
		KA_ID ^ (1u << PH_SESSION_SLOT_BITS), /* live slot, another generation */
		(0x11u << PH_SESSION_SLOT_BITS) | 6,  /* an empty slot */
		(0x11u << PH_SESSION_SLOT_BITS) | (KA_SLOTS + 3), /* past the array */
		0,
	};
	struct ph_session v;
	struct msg m;
	size_t len, want_len, hdrs;

	(void)state;
	assert_non_null(res);
	memcpy(bad, ka_token, sizeof(bad));
	bad[15] ^= 1;
	ka_put(&o4, CLI_PORT, 7);
	ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, bad, true);
	ka_run(&o4, &m, res, XDP_DROP, PH_DROP_KA_BAD_TOKEN, &len);
	ka_msg(&m, STUN_BINDING_INDICATION, KA_ID, bad, false);
	ka_run(&o4, &m, res, XDP_DROP, PH_DROP_KA_BAD_TOKEN, &len);
	/* The right token from elsewhere with a wrong one: still nothing moves. */
	ka_run(&o6, &m, res, XDP_DROP, PH_DROP_KA_BAD_TOKEN, &len);
	ka_get(&v);
	assert_int_equal(v.last_seen, 7);
	assert_int_equal(v.family, AF_INET);
	assert_int_equal(ntohs(v.port), CLI_PORT);

	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		for (size_t f = 0; f < 2; f++) {
			for (int fp = 0; fp < 2; fp++) {
				ka_msg(&m, STUN_BINDING_REQUEST, unknown[i], ka_token, fp);
				ka_run(fo[f], &m, res, XDP_TX, PH_TX_KA_UNKNOWN, &len);
				hdrs = 14 + (fo[f]->v6 ? 40 : 20) + 8;
				want_len = ka_401(&m, fp, want);
				assert_int_equal(res->out_len, hdrs + want_len);
				assert_memory_equal(res->out + hdrs, want, want_len);
				assert_csums_ok(res->out, res->out_len, fo[f]->v6);
				/* Never larger than what came in: no amplification. */
				assert_true(res->out_len <= len);
			}
		}
		ka_msg(&m, STUN_BINDING_INDICATION, unknown[i], ka_token, false);
		ka_run(&o4, &m, res, XDP_DROP, PH_DROP_KA_UNKNOWN_IND, &len);
	}
	ka_get(&v);
	assert_int_equal(v.last_seen, 7);
	free(res);
}

/* A new source address or port: followed in the map, reported on the ring, answered there. */
static void test_ka_moved(void **state)
{
	struct fopt o4 = V4(), o6 = V6();
	struct run_result *res = calloc(1, sizeof(*res));
	struct sockaddr_storage want_addr, want_local;
	uint8_t want[FRAME_MAX];
	struct ph_session v;
	struct msg m;
	size_t len, want_len;

	(void)state;
	assert_non_null(res);
	ka_moves.n = 0;
	assert_int_equal(sessmap_drain(&ka_map), 0); /* nothing left from earlier tests */
	ka_moves.n = 0;
	ka_put(&o4, CLI_PORT + 1, 7); /* the NAT gave it another port */
	ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, ka_token, true);
	ka_run(&o4, &m, res, XDP_TX, PH_TX_KA_MOVED, &len);
	want_len = build_expected(want, &o4, &m, true);
	assert_int_equal(res->out_len, want_len);
	assert_memory_equal(res->out, want, want_len);
	ka_get(&v);
	assert_int_equal(ntohs(v.port), CLI_PORT);
	assert_true(v.last_seen + 1 >= sessmap_now_s());
	assert_int_equal(sessmap_drain(&ka_map), 1);
	assert_int_equal(ka_moves.n, 1);
	assert_int_equal(ka_moves.last.id, KA_ID);
	ka_client(&o4, CLI_PORT, &want_addr);
	dst_addr(&o4, &want_local);
	assert_int_equal(addr_cmp((struct sockaddr *)&ka_moves.last.addr,
				  (struct sockaddr *)&want_addr), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&ka_moves.last.local,
				  (struct sockaddr *)&want_local), 0);
	/* The next one from there is an ordinary keepalive. */
	ka_run(&o4, &m, res, XDP_TX, PH_TX_KEEPALIVE, &len);
	assert_int_equal(sessmap_drain(&ka_map), 0);

	/* IPv4 to IPv6 (a dual-stack endpoint changing paths), by indication. */
	ka_msg(&m, STUN_BINDING_INDICATION, KA_ID, ka_token, false);
	ka_run(&o6, &m, res, XDP_DROP, PH_DROP_KA_INDICATION, &len);
	ka_get(&v);
	assert_int_equal(v.family, AF_INET6);
	assert_int_equal(sessmap_drain(&ka_map), 1);
	ka_client(&o6, CLI_PORT, &want_addr);
	assert_int_equal(addr_cmp((struct sockaddr *)&ka_moves.last.addr,
				  (struct sockaddr *)&want_addr), 0);
	free(res);
}

/*
 * The ring full (nobody drained it): the move is not made in the kernel,
 * the keepalive goes up to userspace, which does it all; nothing is lost.
 */
static void test_ka_ring_full(void **state)
{
	struct fopt o = V4();
	struct run_result *res = calloc(1, sizeof(*res));
	struct ph_session v;
	struct msg m;
	size_t len;
	unsigned int i, moved = 0;
	uint8_t in[FRAME_MAX];

	(void)state;
	assert_non_null(res);
	ka_msg(&m, STUN_BINDING_INDICATION, KA_ID, ka_token, false);
	len = build_frame(in, &o, m.b, m.len);
	/* Each run comes from CLI_PORT while the map says another port: one event each. */
	for (i = 0; i < 2 * PH_SESSION_EVENTS_BYTES / sizeof(struct ph_session_event); i++) {
		ka_put(&o, CLI_PORT + 1, 7);
		run(in, len, res);
		if (res->delta[PH_PASS_KA_NO_EVENT].packets)
			break;
		assert_int_equal(res->delta[PH_DROP_KA_INDICATION].packets, 1);
		moved++;
	}
	assert_int_equal(res->verdict, XDP_PASS);
	assert_counted(res, PH_PASS_KA_NO_EVENT, len);
	assert_memory_equal(res->out, in, len);
	/* Left for userspace: the map still has the old port. */
	ka_get(&v);
	assert_int_equal(ntohs(v.port), CLI_PORT + 1);
	assert_int_equal(v.last_seen, 7);
	/* Every event made it: draining delivers them all, then moves flow again. */
	ka_moves.n = 0;
	assert_int_equal(sessmap_drain(&ka_map), (int)moved);
	assert_int_equal(ka_moves.n, moved);
	ka_put(&o, CLI_PORT + 1, 7);
	run(in, len, res);
	assert_counted(res, PH_DROP_KA_INDICATION, len);
	assert_int_equal(sessmap_drain(&ka_map), 1);
	free(res);
}

/* Malformed or unusual keepalives: the kernel decides nothing it does not fully understand. */
static void test_ka_malformed(void **state)
{
	struct fopt o = V4();
	struct run_result *res = calloc(1, sizeof(*res));
	uint8_t v[24] = {0}, in[FRAME_MAX];
	struct msg m;
	size_t len;

	(void)state;
	assert_non_null(res);
	ka_put(&o, CLI_PORT, 7);
	/* SESSION of the wrong size: userspace answers 400. */
	put32(v, KA_ID);
	m_hdr(&m, STUN_BINDING_REQUEST);
	m_attr(&m, PH_ATTR_SESSION, v, 16);
	m_fp(&m);
	ka_run(&o, &m, res, XDP_PASS, PH_PASS_ATTRIBUTES, &len);
	/* SESSION not first. */
	m_hdr(&m, STUN_BINDING_REQUEST);
	m_attr(&m, STUN_ATTR_SOFTWARE, sw, 12);
	put32(v, KA_ID);
	memcpy(v + 4, ka_token, PH_TOKEN_LEN);
	m_attr(&m, PH_ATTR_SESSION, v, 20);
	m_fp(&m);
	ka_run(&o, &m, res, XDP_PASS, PH_PASS_ATTRIBUTES, &len);
	/* SESSION and another comprehension-required attribute. */
	m_hdr(&m, STUN_BINDING_REQUEST);
	m_attr(&m, PH_ATTR_SESSION, v, 20);
	m_attr(&m, STUN_ATTR_USERNAME, "alice", 5);
	m_fp(&m);
	ka_run(&o, &m, res, XDP_PASS, PH_PASS_ATTRIBUTES, &len);
	/* In a Binding success: not a keepalive. */
	ka_msg(&m, STUN_BINDING_SUCCESS, KA_ID, ka_token, true);
	ka_run(&o, &m, res, XDP_PASS, PH_PASS_NOT_BINDING_REQ, &len);
	/* A bad FINGERPRINT, a lying length, a cut-off datagram: dropped or passed, never answered. */
	ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, ka_token, true);
	m.b[m.len - 1] ^= 1;
	ka_run(&o, &m, res, XDP_DROP, PH_DROP_BAD_FINGERPRINT, &len);
	ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, ka_token, false);
	put16(m.b + 2, 28);
	ka_run(&o, &m, res, XDP_DROP, PH_DROP_BAD_LENGTH, &len);
	ka_msg(&m, STUN_BINDING_REQUEST, KA_ID, ka_token, false);
	for (size_t cut = 1; cut < m.len; cut++) {
		len = build_frame(in, &o, m.b, m.len);
		run(in, len - cut, res);
		assert_int_not_equal(res->verdict, XDP_TX);
		assert_int_not_equal(res->verdict, XDP_ABORTED);
	}
	free(res);
}

/* ---- the per-source answer budget ---- */

/* Forget every source's budget, so the next round starts afresh. */
static void rate_forget(void)
{
	int fd = bpf_map__fd(skel->maps.rate);
	struct ph_rate_key k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
}

static void set_rate(uint64_t interval_ns, uint64_t burst_ns)
{
	struct ph_rate_cfg cfg = {.interval_ns = interval_ns, .burst_ns = burst_ns};
	__u32 zero = 0;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(skel->maps.rate_cfg), &zero, &cfg, 0), 0);
}

/*
 * A burst of 3 then nothing for a second (10 s spacing): plain Binding
 * requests (fast and general path, both families) and keepalives of unknown
 * sessions are cut off per source; another source, and keepalives with the
 * right token, are not.
 */
static void test_rate_limit(void **state)
{
	struct fopt fos[] = {V4(), V6(), V4(.flags = F_NO_UDPCSUM),
			     V4(.dst = "198.18.0.9", .dport = WILD_PORT)};
	struct run_result *res = calloc(1, sizeof(*res));
	uint8_t in[FRAME_MAX];
	struct msg m, ka;
	size_t len;

	(void)state;
	assert_non_null(res);
	msg_plain(&m);
	for (size_t i = 0; i < sizeof(fos) / sizeof(fos[0]); i++) {
		set_rate(10000000000ull, 2 * 10000000000ull);
		len = build_frame(in, &fos[i], m.b, m.len);
		for (int k = 0; k < 3; k++) {
			run(in, len, res);
			assert_int_equal(res->verdict, XDP_TX);
		}
		run(in, len, res);
		assert_int_equal(res->verdict, XDP_DROP);
		assert_counted(res, PH_DROP_RATE_LIMITED, len);
		assert_int_equal(res->out_len, len);
		assert_memory_equal(res->out, in, len);
		/* Unknown sessions are unauthenticated too: no 401 for this source either. */
		ka_msg(&ka, STUN_BINDING_REQUEST, 0x01000006u, ka_token, true);
		ka_run(&fos[i], &ka, res, XDP_DROP, PH_DROP_RATE_LIMITED, &len);
		/* The right token proves the sender: never limited. */
		ka_put(&fos[i], CLI_PORT, 7);
		ka_msg(&ka, STUN_BINDING_REQUEST, KA_ID, ka_token, false);
		for (int k = 0; k < 5; k++)
			ka_run(&fos[i], &ka, res, XDP_TX, PH_TX_KEEPALIVE, &len);
		/* Off again: the source is answered at once. */
		set_rate(0, 0);
		len = build_frame(in, &fos[i], m.b, m.len);
		run(in, len, res);
		assert_int_equal(res->verdict, XDP_TX);
		rate_forget();
	}
	/* Another source is not held back by one over its budget. */
	set_rate(10000000000ull, 0);
	len = build_frame(in, &fos[0], m.b, m.len);
	run(in, len, res);
	assert_int_equal(res->verdict, XDP_TX);
	run(in, len, res);
	assert_counted(res, PH_DROP_RATE_LIMITED, len);
	len = build_frame(in, &fos[1], m.b, m.len);
	run(in, len, res);
	assert_int_equal(res->verdict, XDP_TX);
	set_rate(0, 0);
	free(res);
}

static int add_listener(int fd, uint8_t family, const char *addr, uint16_t port)
{
	return xdp_add_listener(fd, family, addr, port, 0, NULL, 0);
}

static int group_setup(void **state)
{
	int err, fd;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return -1;
	skel = xdp_open_unpinned(KA_SLOTS);
	if (!skel)
		return -1;
	err = pinhole__load(skel);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		goto err_skel;
	}
	err = sessmap_init(&ka_map, bpf_map__fd(skel->maps.sessions),
			   bpf_map__fd(skel->maps.session_events), ka_on_move, NULL);
	if (err) {
		fprintf(stderr, "sessmap: %s\n", strerror(-err));
		goto err_skel;
	}
	fd = bpf_map__fd(skel->maps.listeners);
	if (add_listener(fd, AF_INET, DST4, SRV_PORT) ||
	    add_listener(fd, AF_INET, NULL, WILD_PORT) ||
	    add_listener(fd, AF_INET6, DST6, SRV_PORT) ||
	    add_listener(fd, AF_INET6, NULL, WILD_PORT) ||
	    xdp_add_listener(fd, AF_INET, DST4, RFC_PORT, AF_INET, OTHER4, OTHER_PORT) ||
	    xdp_add_listener(fd, AF_INET6, DST6, RFC_PORT, AF_INET6, OTHER6, OTHER_PORT) ||
	    xdp_add_listener(fd, AF_INET, DST4, RFC_X_PORT, AF_INET6, OTHER6, OTHER_PORT) ||
	    xdp_add_listener(fd, AF_INET6, DST6, RFC_X_PORT, AF_INET, OTHER4, OTHER_PORT))
		goto err_skel;
	return 0;

err_skel:
	pinhole__destroy(skel);
	skel = NULL;
	return -1;
}

static int group_teardown(void **state)
{
	sessmap_fini(&ka_map);
	pinhole__destroy(skel);
	return 0;
}

int main(void)
{
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_crc_tables),
		cmocka_unit_test(test_drops_agree_with_userspace),
		cmocka_unit_test(test_change_request_answered_by_userspace),
		cmocka_unit_test(test_truncated_frames),
		cmocka_unit_test(test_truncated_datagrams),
		cmocka_unit_test(test_mutations_agree),
		cmocka_unit_test(test_listener_memo),
		cmocka_unit_test(test_report_costs),
		cmocka_unit_test(test_ka_right_token),
		cmocka_unit_test(test_ka_wrong_and_unknown),
		cmocka_unit_test(test_ka_moved),
		cmocka_unit_test(test_ka_ring_full),
		cmocka_unit_test(test_ka_malformed),
		cmocka_unit_test(test_rate_limit),
	};
	const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct CMUnitTest *tests = calloc(ncases + nfixed, sizeof(*tests));
	size_t i;
	int rc;

	if (!tests)
		return 1;
	/* One named cmocka test per table row, so a failure names its frame. */
	for (i = 0; i < ncases; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = (void *)&cases[i];
	}
	memcpy(tests + ncases, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("xdp", tests, ncases + nfixed, group_setup, group_teardown);
	free(tests);
	return rc;
}
