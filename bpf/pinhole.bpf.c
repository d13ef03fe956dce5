// SPDX-License-Identifier: MIT
/*
 * pinhole XDP program: answers STUN Binding requests addressed to a listening
 * address:port in place with XDP_TX (IPv4 and IPv6), drops malformed STUN on
 * the port, and passes everything else, or anything it does not fully
 * understand, up to the stack where userspace applies the same Binding rules.
 *
 * Every packet is decided by one of two paths and then counted, once, in
 * pinhole_xdp() under exactly one enum ph_xdp_reason in the per-CPU "stats"
 * map; the verdict follows from the reason (see verdict_of()).  The fast
 * path (fast_v4_plain()) answers the common case, a plain IPv4 Binding
 * request to a known listener, or declines without touching the frame; the
 * general path applies every Binding rule to everything else.
 *
 * The general path writes the response from values saved out of the
 * request, never by moving bytes around inside the frame: the frame is
 * grown at the head (tail growth fails on veth native XDP) or trimmed at the
 * tail, then rewritten whole.  That handles growing, shrinking (a request
 * with SOFTWARE can be longer than its answer) and Ethernet trailer padding
 * the same way.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "access_proto.h"
#include "pinhole_kern_user.h"
#include "stun_proto.h"
#include "crc32_table.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
/* The raw-word checksums and slicing-by-8 CRC below assume little-endian loads. */
#error "pinhole.bpf.c assumes a little-endian BPF target"
#endif

/* Address families as the listeners map stores them (the Linux values). */
#define PH_AF_INET	2
#define PH_AF_INET6	10

#define IP4_DF		0x4000
#define IP4_MF		0x2000
#define IP4_OFFSET	0x1fff
#define RESP_TTL	64

/* Response STUN sizes: header + XOR-MAPPED-ADDRESS, optional FINGERPRINT. */
#define XMA4_LEN	(STUN_ATTR_HEADER_LEN + 8)
#define XMA6_LEN	(STUN_ATTR_HEADER_LEN + 20)
#define FP_LEN		(STUN_ATTR_HEADER_LEN + 4)
/* ERROR-CODE 401 "Unauthenticated": class/number word and the padded 15-byte reason. */
#define ERR401_LEN	(STUN_ATTR_HEADER_LEN + 4 + 16)
/* RFC 5780 adds RESPONSE-ORIGIN and OTHER-ADDRESS, each as long as an XMA of its family. */
#define RESP_MAX_WORDS	((STUN_HEADER_LEN + 3 * XMA6_LEN + FP_LEN) / 4)

/* UDP header + the longest message the kernel path parses, in 32-bit words. */
#define UDP_MAX_WORDS	((sizeof(struct udphdr) + PH_XDP_MAX_STUN_LEN) / 4)

/* Sentinel "keep going" for the parse steps, which otherwise return a reason. */
#define CONTINUE	PH_REASON_MAX

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct ph_stat);
	__uint(max_entries, PH_REASON_MAX);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct ph_listen_key);
	__type(value, struct ph_listen_val);
	__uint(max_entries, PH_MAX_LISTENERS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} listeners SEC(".maps");

/*
 * The session table (pinhole_kern_user.h): the loader sizes it to
 * --max-sessions before load; 1 here only so the object loads as is in
 * tests that do not care.  Userspace owns the slots; the program only
 * refreshes last_seen and follows a session's address.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ph_session);
	__uint(max_entries, 1);
	/* Userspace sweeps it through a read-only mapping (sessmap.h says why). */
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sessions SEC(".maps");

/* NAT rebindings followed, for userspace to update routing and tell contacts. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PH_SESSION_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} session_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ph_rate_cfg);
	__uint(max_entries, 1);
} rate_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ph_rate_key);
	__type(value, __u64);	/* theoretical arrival time of the next answer, ns */
	__uint(max_entries, PH_RATE_SOURCES);
} rate SEC(".maps");

/*
 * May the source at addr (IPv4-mapped when !v6) have one more answer?
 * GCRA: an answer is due interval_ns after the last; up to burst_ns of
 * early answers are fine.  The update is not atomic: two CPUs answering
 * one source at once may both pass, off by one answer at most.  An evicted
 * source starts afresh, so the limit holds per source for as long as the
 * LRU remembers it, which under a flood of random sources is the flood's
 * own victims that keep sending.
 */
static __always_inline bool rate_ok(const __u32 *addr)
{
	struct ph_rate_key k;
	struct ph_rate_cfg *c;
	__u32 zero = 0;
	__u64 now, tat, *t;

	c = bpf_map_lookup_elem(&rate_cfg, &zero);
	if (!c || !c->interval_ns)
		return true;
	__builtin_memcpy(k.addr, addr, 16);
	now = bpf_ktime_get_ns();
	t = bpf_map_lookup_elem(&rate, &k);
	if (!t) {
		tat = now + c->interval_ns;
		bpf_map_update_elem(&rate, &k, &tat, BPF_ANY);
		return true;
	}
	tat = *t > now ? *t : now;
	if (tat - now > c->burst_ns)
		return false;
	*t = tat + c->interval_ns;
	return true;
}

/* rate_ok() for an IPv4 source (network order). */
static __always_inline bool rate_ok4(__u32 saddr)
{
	const __u32 mapped[4] = {0, 0, bpf_htonl(0xffff), saddr};

	return rate_ok(mapped);
}

/* A read cursor over the frame: every pull is bounds-checked against end. */
struct cursor {
	void *pos;
	void *end;
};

static __always_inline void *cur_pull(struct cursor *c, __u32 len)
{
	void *p = c->pos;

	if (p + len > c->end)
		return NULL;
	c->pos = p + len;
	return p;
}

/* What the parse learnt about the request, and what the response needs. */
struct req {
	__u8 *stun;		/* start of the STUN message in the frame */
	__u32 stun_len;		/* UDP payload length (IP/UDP lengths agree) */
	__u32 ulen;		/* UDP length, header included */
	__u32 l4_off;		/* offset of the UDP header in the frame */
	bool v6;
	bool has_fp;
	/* saved for the rewrite: addresses are already swapped (x_dst = requester) */
	__u8 mac_dst[ETH_ALEN];
	__u8 mac_src[ETH_ALEN];
	__be16 port_dst;
	__be16 port_src;
	__u32 addr_dst[4];	/* raw network-order words; IPv4 uses [0] */
	__u32 addr_src[4];
	__u32 tid[3];
	/* the listener's value, in this CPU's memo entry (stable for the run) */
	const struct ph_listen_val *lval;
};

static __always_inline __u16 csum_fold(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/*
 * csum_fold for a sum of at most 16 32-bit words (s < 2^36), one step
 * shorter: after the first step s < 2^32 + 16, after the second at most
 * 0x1ffff, and 0x1ffff would need s = 2^32 + 0xffff after the first, so
 * the third step cannot carry.  The fast path folds four such sums.
 */
static __always_inline __u16 csum_fold_short(__u64 s)
{
	s = (s & 0xffffffff) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/* The checksum field value for a sum taken with the field zero. */
static __always_inline __u16 csum_finish(__u64 s)
{
	return (__u16)~csum_fold(s);
}

/*
 * CRC-32 steps over raw (little-endian loaded) words: byte 0 of the stream
 * is the low byte of the first word.  crc32_word folds 4 bytes, crc32_dword
 * 8 bytes (slicing-by-8: eight independent table loads per step, so the
 * dependency chain is half as long as word by word).
 */
static __always_inline __u32 crc32_word(__u32 crc, __u32 w)
{
	crc ^= w;
	return crc32_tab[3][crc & 0xff] ^ crc32_tab[2][(crc >> 8) & 0xff] ^
	       crc32_tab[1][(crc >> 16) & 0xff] ^ crc32_tab[0][crc >> 24];
}

static __always_inline __u32 crc32_dword(__u32 crc, __u32 a, __u32 b)
{
	crc ^= a;
	return crc32_tab[7][crc & 0xff] ^ crc32_tab[6][(crc >> 8) & 0xff] ^
	       crc32_tab[5][(crc >> 16) & 0xff] ^ crc32_tab[4][crc >> 24] ^
	       crc32_tab[3][b & 0xff] ^ crc32_tab[2][(b >> 8) & 0xff] ^
	       crc32_tab[1][(b >> 16) & 0xff] ^ crc32_tab[0][b >> 24];
}

#define REASON_BIT(r)	(1ULL << (r))
#define TX_REASONS	(REASON_BIT(PH_TX_BINDING) | REASON_BIT(PH_TX_KEEPALIVE) | \
			 REASON_BIT(PH_TX_KA_MOVED) | REASON_BIT(PH_TX_KA_UNKNOWN))
#define DROP_REASONS	(REASON_BIT(PH_DROP_NOT_STUN) | REASON_BIT(PH_DROP_BAD_COOKIE) | \
			 REASON_BIT(PH_DROP_BAD_LENGTH) | REASON_BIT(PH_DROP_BAD_FINGERPRINT) | \
			 REASON_BIT(PH_DROP_KA_INDICATION) | REASON_BIT(PH_DROP_KA_BAD_TOKEN) | \
			 REASON_BIT(PH_DROP_KA_UNKNOWN_IND) | REASON_BIT(PH_DROP_RATE_LIMITED))
_Static_assert(PH_REASON_MAX <= 64, "reasons fit the verdict masks");

static __always_inline int verdict_of(enum ph_xdp_reason r)
{
	if (REASON_BIT(r) & TX_REASONS)
		return XDP_TX;
	if (REASON_BIT(r) & DROP_REASONS)
		return XDP_DROP;
	return XDP_PASS;
}

/*
 * A per-CPU memo of the last listener hit, in front of the listeners hash.
 * A hash lookup costs ~25 ns here (a miss on the exact address costs two)
 * and was the largest item on the answer path; a STUN server's traffic goes
 * to one or two addresses per family, so one entry per CPU and family
 * (index MEMO_V4 / MEMO_V6: dual-stack traffic must not evict the IPv4
 * entry the fast path relies on) nearly always hits.  An entry lives
 * LISTEN_MEMO_JIFFIES (25-250 ms for HZ 1000-100; jiffies, not ktime,
 * because bpf_jiffies64 is nearly free): a listener the loader removes, or
 * a value it changes, may still be served as before that long on each
 * CPU.  Additions are seen at once, since only hits are memoised.
 */
enum { MEMO_V4, MEMO_V6, MEMO_MAX };
#define LISTEN_MEMO_JIFFIES	25

struct listen_memo {
	struct ph_listen_key key;
	__u32 pad;
	__u64 expires;		/* bpf_jiffies64() deadline */
	struct ph_listen_val val;
	/*
	 * key and val in the one word the IPv4 fast path compares: address,
	 * port << 32 and FAST4_VALID; 0 when the fast path cannot answer for
	 * this listener (IPv6, RFC 5780 service).
	 */
	__u64 fast4;
};

#define FAST4_VALID	(1ULL << 48)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct listen_memo);
	__uint(max_entries, MEMO_MAX);
} listen_memo SEC(".maps");

static __always_inline bool key_equal(const struct ph_listen_key *a, const struct ph_listen_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;

	return !((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]));
}

/*
 * Is the listeners map holding addr:port, or the family's wildcard?  The
 * exact address is tried first so a specific listener wins over a wildcard.
 * k arrives filled in with family, port and address; *val is set to the
 * listener's value as memoised on this CPU (only this program writes it,
 * and runs on one CPU one at a time, so it holds still for the run).
 */
static __always_inline bool is_listener(const struct ph_listen_key *k,
					const struct ph_listen_val **val)
{
	struct ph_listen_key wild = {.family = k->family, .port = k->port};
	__u32 idx = k->family == PH_AF_INET6 ? MEMO_V6 : MEMO_V4;
	struct ph_listen_val *v;
	struct listen_memo *m;
	__u64 now;

	m = bpf_map_lookup_elem(&listen_memo, &idx);
	if (!m)
		return false;
	now = bpf_jiffies64();
	if (key_equal(&m->key, k) && now < m->expires) {
		*val = &m->val;
		return true;
	}
	v = bpf_map_lookup_elem(&listeners, k);
	if (!v)
		v = bpf_map_lookup_elem(&listeners, &wild);
	if (!v)
		return false;
	m->key = *k;
	m->val = *v;
	m->fast4 = 0;
	if (k->family == PH_AF_INET && !v->flags)
		m->fast4 = *(__u32 *)k->addr | (__u64)k->port << 32 | FAST4_VALID;
	m->expires = now + LISTEN_MEMO_JIFFIES;
	*val = &m->val;
	return true;
}

/*
 * The fast path: an IPv4 Binding request of exactly 20 bytes (no
 * attributes) in a frame with no trailer, to a listener the per-CPU memo
 * already knows without RFC 5780 service.  That is nearly every request a
 * STUN server sees, and the general path below spends most of its time on
 * what such a request does not need (a hash lookup, a struct req copy, a
 * checksum loop, a rebuilt header): the request is read as a dozen 32-bit
 * words, both checksums of the answer are sums of those words and
 * constants (RFC 1071: the sum does not depend on word order, so swapped
 * addresses and ports cost nothing), and one write pass builds the answer.
 * Returns the reason to count, or CONTINUE (the frame untouched) for
 * anything it is not sure of: the general path decides those from
 * scratch, so this path only has to be right when it answers.  Measured
 * in the bench rig (bpf_stats): ~10 ns above a program that only grows
 * the frame and writes an answer without looking at the request.
 *
 * All loads are little-endian words of network-order bytes: byte 0 of the
 * frame is the low byte of a word.  bpf_htonl()/bpf_htons() of a header
 * value gives the word as loaded.
 */
#define FAST4_REQ_LEN	(ETH_HLEN + 20 + 8 + STUN_HEADER_LEN)
#define FAST4_GROW	XMA4_LEN
#define FAST4_RESP_LEN	(FAST4_REQ_LEN + FAST4_GROW)
/* ver/ihl 0x45, any TOS, total length 48: the byte-0 and length bits of word 0 */
#define FAST4_IP0_MASK	0xffff00ffu
/* The answer's IPv4 header words 0-2 (checksum zero), as write_response() writes them. */
#define FAST4_IP0	(0x45 | (__u32)bpf_htons(FAST4_RESP_LEN - ETH_HLEN) << 16)
#define FAST4_IP1	((__u32)bpf_htons(IP4_DF) << 16)
#define FAST4_IP2	(RESP_TTL | IPPROTO_UDP << 8)

static __always_inline __u32 fast_v4_plain(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 ip0, ip1, ip2, saddr, daddr, ports, u1, s0, cookie, t0, t1, t2, xma1, xma2;
	__u16 ip_check, udp_check;
	struct listen_memo *m;
	__u64 mac_a, mac_dst, mac_src, sum, base;
	__u32 mac_b, memo_v4 = MEMO_V4;
	void *req;

	if (data + FAST4_REQ_LEN > end)
		return CONTINUE;
	/*
	 * Exact length: no trailer.  The barrier keeps clang from folding this
	 * into "data + len != end", from which the verifier learns no bound.
	 */
	barrier_var(end);
	if (end - data != FAST4_REQ_LEN)
		return CONTINUE;
	/* L2 broadcast/multicast destination, or not IPv4 */
	if ((*(__u8 *)data & 1) || *(__u16 *)(data + 12) != bpf_htons(ETH_P_IP))
		return CONTINUE;
	ip0 = *(__u32 *)(data + ETH_HLEN);
	ip1 = *(__u32 *)(data + ETH_HLEN + 4);
	ip2 = *(__u32 *)(data + ETH_HLEN + 8);
	saddr = *(__u32 *)(data + ETH_HLEN + 12);
	daddr = *(__u32 *)(data + ETH_HLEN + 16);
	ports = *(__u32 *)(data + ETH_HLEN + 20);
	u1 = *(__u32 *)(data + ETH_HLEN + 24);
	s0 = *(__u32 *)(data + ETH_HLEN + 28);
	cookie = *(__u32 *)(data + ETH_HLEN + 32);
	t0 = *(__u32 *)(data + ETH_HLEN + 36);
	t1 = *(__u32 *)(data + ETH_HLEN + 40);
	t2 = *(__u32 *)(data + ETH_HLEN + 44);

	if ((ip0 & FAST4_IP0_MASK) != (0x45 | (__u32)bpf_htons(FAST4_REQ_LEN - ETH_HLEN) << 16) ||
	    ((ip2 >> 8) & 0xff) != IPPROTO_UDP ||
	    ((ip1 >> 16) & bpf_htons(IP4_MF | IP4_OFFSET)))
		return CONTINUE;
	/* the unicast rules of parse_ipv4: first octets are the low bytes */
	if ((saddr & 0xff) == 0 || (saddr & 0xff) == 127 || (saddr & 0xff) >= 224 ||
	    (daddr & 0xff) >= 224 || (ports & 0xffff) == 0)
		return CONTINUE;
	if ((u1 & 0xffff) != bpf_htons(8 + STUN_HEADER_LEN) ||
	    s0 != bpf_htonl(STUN_BINDING_REQUEST << 16) || cookie != bpf_htonl(STUN_MAGIC_COOKIE))
		return CONTINUE;

	/* The memo's last IPv4 hit, as one word (see struct listen_memo). */
	m = bpf_map_lookup_elem(&listen_memo, &memo_v4);
	if (!m)
		return CONTINUE;
	if (m->fast4 != (daddr | (__u64)(ports >> 16) << 32 | FAST4_VALID) ||
	    bpf_jiffies64() >= m->expires)
		return CONTINUE;

	if (csum_fold_short((__u64)ip0 + ip1 + ip2 + saddr + daddr) != 0xffff)
		return CONTINUE;
	/* cookie and first word are known constants from here on: fewer live registers */
	base = (__u64)saddr + daddr + ports + t0 + t1 + t2 + bpf_htonl(STUN_MAGIC_COOKIE);
	/* checksum 0: none was sent (RFC 768) */
	sum = base + bpf_htons(IPPROTO_UDP) + bpf_htons(8 + STUN_HEADER_LEN) + u1 +
	      bpf_htonl(STUN_BINDING_REQUEST << 16);
	if ((u1 >> 16) && csum_fold_short(sum) != 0xffff)
		return CONTINUE;
	if (!rate_ok4(saddr))
		return PH_DROP_RATE_LIMITED;

	/* The answer: XOR-MAPPED-ADDRESS of the source, nothing else. */
	xma1 = bpf_htonl(STUN_FAMILY_IPV4 << 16) |
	       (__u32)((ports & 0xffff) ^ bpf_htons(STUN_MAGIC_COOKIE >> 16)) << 16;
	xma2 = saddr ^ bpf_htonl(STUN_MAGIC_COOKIE);
	sum = base + bpf_htons(IPPROTO_UDP) + 2 * bpf_htons(FAST4_RESP_LEN - ETH_HLEN - 20) +
	      bpf_htonl(STUN_BINDING_SUCCESS << 16 | XMA4_LEN) +
	      bpf_htonl(STUN_ATTR_XOR_MAPPED_ADDRESS << 16 | 8) + xma1 + xma2;
	udp_check = (__u16)~csum_fold_short(sum) ?: 0xffff;
	ip_check = ~csum_fold_short((__u64)FAST4_IP0 + FAST4_IP1 + FAST4_IP2 + saddr + daddr);

	/*
	 * Grown at the head, as the general path does (tail growth fails on
	 * veth; in the bench rig adjust_tail also measured ~20 ns slower).
	 * Only the two checksums live across the call, in callee-saved
	 * registers; the rest is read back from the request, which the call
	 * leaves in place FAST4_GROW bytes into the new frame.  Every field
	 * is read before the write that overlaps it.
	 */
	if (bpf_xdp_adjust_head(ctx, -FAST4_GROW))
		return PH_PASS_NO_ROOM;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + FAST4_RESP_LEN > end)
		return PH_PASS_NO_ROOM;
	req = data + FAST4_GROW;
	mac_a = *(__u64 *)req;
	mac_b = *(__u32 *)(req + 8);
	saddr = *(__u32 *)(req + ETH_HLEN + 12);
	daddr = *(__u32 *)(req + ETH_HLEN + 16);
	ports = *(__u32 *)(req + ETH_HLEN + 20);
	t0 = *(__u32 *)(req + ETH_HLEN + 36);
	t1 = *(__u32 *)(req + ETH_HLEN + 40);
	t2 = *(__u32 *)(req + ETH_HLEN + 44);
	mac_dst = mac_a & 0xffffffffffffULL;
	mac_src = mac_a >> 48 | (__u64)mac_b << 16;

	*(__u64 *)data = mac_src | mac_dst << 48;
	*(__u32 *)(data + 8) = mac_dst >> 16;
	*(__u16 *)(data + 12) = bpf_htons(ETH_P_IP);
	*(__u64 *)(data + ETH_HLEN) = FAST4_IP0 | (__u64)FAST4_IP1 << 32;
	*(__u64 *)(data + ETH_HLEN + 8) = FAST4_IP2 | (__u32)ip_check << 16 | (__u64)daddr << 32;
	*(__u64 *)(data + ETH_HLEN + 16) = saddr | (__u64)(ports >> 16 | ports << 16) << 32;
	*(__u64 *)(data + ETH_HLEN + 24) =
		bpf_htons(FAST4_RESP_LEN - ETH_HLEN - 20) | (__u32)udp_check << 16 |
		(__u64)bpf_htonl(STUN_BINDING_SUCCESS << 16 | XMA4_LEN) << 32;
	*(__u32 *)(data + ETH_HLEN + 32) = bpf_htonl(STUN_MAGIC_COOKIE);
	*(__u32 *)(data + ETH_HLEN + 36) = t0;
	*(__u32 *)(data + ETH_HLEN + 40) = t1;
	*(__u32 *)(data + ETH_HLEN + 44) = t2;
	*(__u64 *)(data + FAST4_REQ_LEN) = bpf_htonl(STUN_ATTR_XOR_MAPPED_ADDRESS << 16 | 8) |
					   (__u64)xma1 << 32;
	*(__u32 *)(data + FAST4_REQ_LEN + 8) = xma2;
	return PH_TX_BINDING;
}

static __always_inline enum ph_xdp_reason parse_ipv4(struct cursor *c, struct req *r,
						     __u64 frame_len, bool l2_multicast)
{
	struct ph_listen_key lk = {};
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 tot_len, first;
	__u64 sum;
	__u32 *w;

	ip = cur_pull(c, sizeof(*ip));
	if (!ip)
		return PH_PASS_TRUNCATED;
	if (ip->version != 4)
		return PH_PASS_NOT_IP;
	if (ip->ihl < 5)
		return PH_PASS_TRUNCATED;
	/* Protocol first: IGMP with Router Alert is not "UDP with options". */
	if (ip->protocol != IPPROTO_UDP)
		return PH_PASS_NOT_UDP;
	if (ip->ihl > 5)
		return PH_PASS_IP_OPTIONS;
	if (ip->frag_off & bpf_htons(IP4_MF | IP4_OFFSET))
		return PH_PASS_FRAGMENT;
	udp = cur_pull(c, sizeof(*udp));
	if (!udp)
		return PH_PASS_TRUNCATED;
	/* The IP length is the truth; bytes past it are Ethernet trailer padding. */
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < sizeof(*ip) + sizeof(*udp) || ETH_HLEN + tot_len > frame_len)
		return PH_PASS_TRUNCATED;

	/*
	 * Only unicast traffic between unicast hosts is answered here: a reply
	 * to a broadcast/multicast/zero/loopback source, or from a broadcast
	 * destination, would be a reflection the stack refuses (martians).
	 */
	first = bpf_ntohl(ip->saddr) >> 24;
	if (l2_multicast || first == 0 || first == 127 || first >= 224 ||
	    bpf_ntohl(ip->daddr) >> 28 >= 0xe || udp->source == 0)
		return PH_PASS_NOT_LISTEN;
	lk.family = PH_AF_INET;
	lk.port = udp->dest;
	__builtin_memcpy(lk.addr, &ip->daddr, 4);
	if (!is_listener(&lk, &r->lval))
		return PH_PASS_NOT_LISTEN;

	w = (__u32 *)ip;
	sum = (__u64)w[0] + w[1] + w[2] + w[3] + w[4];
	if (csum_fold(sum) != 0xffff)
		return PH_PASS_BAD_CSUM;
	if (bpf_ntohs(udp->len) != tot_len - sizeof(*ip))
		return PH_PASS_TRUNCATED;

	r->v6 = false;
	r->l4_off = ETH_HLEN + sizeof(*ip);
	r->ulen = tot_len - sizeof(*ip);
	r->stun = (__u8 *)(udp + 1);
	r->stun_len = r->ulen - sizeof(*udp);
	r->port_dst = udp->source;
	r->port_src = udp->dest;
	r->addr_dst[0] = ip->saddr;
	r->addr_src[0] = ip->daddr;
	return CONTINUE;
}

static __always_inline bool ipv6_ext_hdr(__u8 nh)
{
	switch (nh) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_DSTOPTS:
	case IPPROTO_AH:
	case IPPROTO_MH:
	case 139:	/* HIP */
	case 140:	/* Shim6 */
	case 253:	/* experimental */
	case 254:
		return true;
	}
	return false;
}

static __always_inline enum ph_xdp_reason parse_ipv6(struct cursor *c, struct req *r,
						     __u64 frame_len, bool l2_multicast)
{
	struct ph_listen_key lk = {};
	struct ipv6hdr *ip6;
	struct udphdr *udp;
	__u32 plen;
	__u32 *s6;

	ip6 = cur_pull(c, sizeof(*ip6));
	if (!ip6)
		return PH_PASS_TRUNCATED;
	if (ip6->version != 6)
		return PH_PASS_NOT_IP;
	if (ip6->nexthdr != IPPROTO_UDP) {
		if (ip6->nexthdr == IPPROTO_FRAGMENT)
			return PH_PASS_FRAGMENT;
		if (ipv6_ext_hdr(ip6->nexthdr))
			return PH_PASS_IP_OPTIONS;
		return PH_PASS_NOT_UDP;
	}
	udp = cur_pull(c, sizeof(*udp));
	if (!udp)
		return PH_PASS_TRUNCATED;
	/* payload_len 0 means a jumbogram: not ours to parse. */
	plen = bpf_ntohs(ip6->payload_len);
	if (plen < sizeof(*udp) || ETH_HLEN + sizeof(*ip6) + plen > frame_len)
		return PH_PASS_TRUNCATED;

	/*
	 * Unicast only, as for IPv4: no multicast destination, no multicast,
	 * unspecified or IPv4-mapped source (never valid on the wire; userspace
	 * would answer a mapped source as IPv4, so leave it to the stack).
	 */
	s6 = ip6->saddr.in6_u.u6_addr32;
	if (l2_multicast || ip6->saddr.in6_u.u6_addr8[0] == 0xff ||
	    ip6->daddr.in6_u.u6_addr8[0] == 0xff || (s6[0] | s6[1] | s6[2] | s6[3]) == 0 ||
	    ((s6[0] | s6[1]) == 0 && s6[2] == bpf_htonl(0xffff)) || udp->source == 0)
		return PH_PASS_NOT_LISTEN;
	lk.family = PH_AF_INET6;
	lk.port = udp->dest;
	__builtin_memcpy(lk.addr, &ip6->daddr, 16);
	if (!is_listener(&lk, &r->lval))
		return PH_PASS_NOT_LISTEN;
	if (bpf_ntohs(udp->len) != plen)
		return PH_PASS_TRUNCATED;
	/* IPv6 has no "no checksum": zero is invalid (RFC 8200 §8.1). */
	if (udp->check == 0)
		return PH_PASS_BAD_CSUM;

	r->v6 = true;
	r->l4_off = ETH_HLEN + sizeof(*ip6);
	r->ulen = plen;
	r->stun = (__u8 *)(udp + 1);
	r->stun_len = plen - sizeof(*udp);
	r->port_dst = udp->source;
	r->port_src = udp->dest;
	__builtin_memcpy(r->addr_dst, &ip6->saddr, 16);
	__builtin_memcpy(r->addr_src, &ip6->daddr, 16);
	return CONTINUE;
}

/* What the packet loops return when the frame ends early (never a valid result). */
#define PKT_LOOP_ERR	(~0ULL)

/*
 * The long packet loops are global functions: the verifier checks a global
 * function once, with unknown arguments, instead of once per caller state.
 * Inlined, the two loops cost it ~800k instructions (of its 1M budget).
 */

/*
 * ph_pkt_sum - one's-complement sum, unfolded, of len bytes at data + off
 * (off <= 128, len <= 8 + PH_XDP_MAX_STUN_LEN).  The 0-3 odd trailing bytes
 * (never present in valid STUN) are added as a zero-padded final word.
 * Returns PKT_LOOP_ERR if the arguments are out of range or the frame ends
 * early.
 */
__noinline __u64 ph_pkt_sum(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 nwords = len / 4, i;
	__u64 sum = 0;
	__u8 *p;

	if (off > 128 || len > UDP_MAX_WORDS * 4)
		return PKT_LOOP_ERR;
	/* clang bounds a copy of off; mask the one the pointer uses, for the verifier. */
	barrier_var(off);
	p = data + (off & 0xff);
	/*
	 * barrier_var keeps clang from rewriting "p + 4 > end" into arithmetic
	 * on end, which the verifier refuses.
	 */
	for (i = 0; i < UDP_MAX_WORDS / 4; i++) {
		if (i * 4 + 4 > nwords)
			break;
		barrier_var(p);
		if ((void *)(p + 16) > end)
			return PKT_LOOP_ERR;
		sum += (__u64)((__u32 *)p)[0] + ((__u32 *)p)[1] + ((__u32 *)p)[2] + ((__u32 *)p)[3];
		p += 16;
	}
	for (i = 0; i < 3; i++) {
		if (!(nwords & 3) || i >= (nwords & 3))
			break;
		barrier_var(p);
		if ((void *)(p + 4) > end)
			return PKT_LOOP_ERR;
		sum += *(__u32 *)p;
		p += 4;
	}
	if (len & 2) {
		if ((void *)(p + 2) > end)
			return PKT_LOOP_ERR;
		sum += *(__u16 *)p;
		p += 2;
	}
	if (len & 1) {
		if ((void *)(p + 1) > end)
			return PKT_LOOP_ERR;
		/* The odd byte is the high-order byte of a zero-padded word. */
		sum += *p;
	}
	return sum;
}

/*
 * ph_pkt_crc32 - CRC-32 of len bytes at data + off (off <= 128, len a
 * multiple of 4 and at most PH_XDP_MAX_STUN_LEN), eight bytes per step.
 * Returns the CRC, or PKT_LOOP_ERR as ph_pkt_sum does.
 */
__noinline __u64 ph_pkt_crc32(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 crc = 0xffffffff, i;
	__u8 *p;

	if (off > 128 || len > PH_XDP_MAX_STUN_LEN || (len & 3))
		return PKT_LOOP_ERR;
	barrier_var(off);
	p = data + (off & 0xff);
	for (i = 0; i < PH_XDP_MAX_STUN_LEN / 8; i++) {
		if (i * 8 + 8 > len)
			break;
		barrier_var(p);
		if ((void *)(p + 8) > end)
			return PKT_LOOP_ERR;
		crc = crc32_dword(crc, *(__u32 *)p, *(__u32 *)(p + 4));
		p += 8;
	}
	if (len & 4) {
		if ((void *)(p + 4) > end)
			return PKT_LOOP_ERR;
		crc = crc32_word(crc, *(__u32 *)p);
	}
	return ~crc;
}

/* Sum of n 32-bit words at w, n a compile-time constant: fully unrolled. */
static __always_inline __u64 sum_words(const __u32 *w, const int n)
{
	__u64 sum = 0;
	int i;

	for (i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/*
 * Does the request's UDP checksum (over pseudo-header and segment) verify?
 * The two common requests, plain (8 + 20 bytes) and FINGERPRINT only
 * (8 + 28), are summed inline; the loop and its call cost ~20 ns more.
 */
static __always_inline bool udp_csum_ok(struct xdp_md *ctx, const struct req *r, void *end)
{
	const __u32 *w = (const __u32 *)(r->stun - sizeof(struct udphdr));
	__u64 sum, seg;

	if (r->ulen == 28 && (void *)(w + 7) <= end) {
		seg = sum_words(w, 7);
	} else if (r->ulen == 36 && (void *)(w + 9) <= end) {
		seg = sum_words(w, 9);
	} else {
		seg = ph_pkt_sum(ctx, r->l4_off, r->ulen);
		if (seg == PKT_LOOP_ERR)
			return false;
	}
	sum = seg + bpf_htons(IPPROTO_UDP) + bpf_htons(r->ulen) + r->addr_dst[0] + r->addr_src[0];
	if (r->v6)
		sum += (__u64)r->addr_dst[1] + r->addr_dst[2] + r->addr_dst[3] + r->addr_src[1] +
		       r->addr_src[2] + r->addr_src[3];
	return csum_fold(sum) == 0xffff;
}

/*
 * ph_stun_check's result: a reason, plus whether the request carries
 * FINGERPRINT, and whether it is a keepalive (a Binding request or
 * indication whose first attribute is a 20-byte SESSION, with no other
 * comprehension-required attribute) and of which class.
 */
#define CHECK_REASON_MASK	0xff
#define CHECK_HAS_FP		0x100
#define CHECK_KEEPALIVE		0x200
#define CHECK_INDICATION	0x400

/*
 * ph_stun_check - the Binding rules 1-8, in order, for the len-byte STUN
 * message at data + off (off <= 128, len <= PH_XDP_MAX_STUN_LEN, both
 * within the frame: the caller checked the IP and UDP lengths).  Returns
 * CONTINUE (a plain Binding request the kernel answers) or the reason to
 * count, ORed with CHECK_HAS_FP when the message carries a FINGERPRINT.
 * Global, like the loops above, so the verifier walks it once.
 */
__noinline __u32 ph_stun_check(struct xdp_md *ctx, __u32 off, __u32 len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	bool required = false, fp_seen = false, fp_not_last = false, session = false;
	__u32 aoff = STUN_HEADER_LEN, fp_off = 0, fp_len = 0, alen, i;
	struct stun_attr_hdr *a;
	struct stun_hdr *h;
	__be32 *fpv;
	__u8 *msg;
	__u64 crc;
	__u16 type;

	if (off > 128 || len > PH_XDP_MAX_STUN_LEN)
		return PH_PASS_TRUNCATED;
	barrier_var(off);
	msg = data + (off & 0xff);
	h = (struct stun_hdr *)msg;
	if (len < STUN_HEADER_LEN)
		return PH_DROP_BAD_LENGTH;
	if ((void *)(h + 1) > end)
		return PH_PASS_TRUNCATED;
	if (msg[0] & 0xc0)
		return PH_DROP_NOT_STUN;
	if (h->cookie != bpf_htonl(STUN_MAGIC_COOKIE))
		return PH_DROP_BAD_COOKIE;
	if ((bpf_ntohs(h->length) & 3) || bpf_ntohs(h->length) + STUN_HEADER_LEN != len)
		return PH_DROP_BAD_LENGTH;

	/*
	 * Rule 5 over the whole message before rule 6 looks at FINGERPRINT:
	 * a lying attribute length must not make us read past the message.
	 */
	for (i = 0; i < PH_XDP_MAX_ATTRS; i++) {
		if (aoff >= len)
			break;
		if (aoff + STUN_ATTR_HEADER_LEN > len)
			return PH_DROP_BAD_LENGTH;
		/* aoff < len <= PH_XDP_MAX_STUN_LEN; the mask only tells the verifier. */
		a = (struct stun_attr_hdr *)(msg + (aoff & 0x3ff));
		if ((void *)(a + 1) > end)
			return PH_PASS_TRUNCATED;
		type = bpf_ntohs(a->type);
		alen = bpf_ntohs(a->length);
		if (((alen + 3) & ~3u) > len - aoff - STUN_ATTR_HEADER_LEN)
			return PH_DROP_BAD_LENGTH;
		if (fp_seen)
			fp_not_last = true;
		if (type == STUN_ATTR_FINGERPRINT) {
			fp_seen = true;
			fp_off = aoff;
			fp_len = alen;
		} else if (type == PH_ATTR_SESSION && aoff == STUN_HEADER_LEN &&
			   alen == sizeof(struct ph_session_attr)) {
			session = true;
		} else if (type < STUN_ATTR_OPTIONAL_MIN) {
			required = true;
		}
		aoff += STUN_ATTR_HEADER_LEN + ((alen + 3) & ~3u);
	}
	if (aoff < len)
		return PH_PASS_TOO_LONG;

	if (fp_seen) {
		if (fp_not_last || fp_len != 4)
			return PH_DROP_BAD_FINGERPRINT;
		fpv = (__be32 *)(msg + (fp_off & 0x3ff) + STUN_ATTR_HEADER_LEN);
		if ((void *)(fpv + 1) > end)
			return PH_PASS_TRUNCATED;
		crc = ph_pkt_crc32(ctx, off, fp_off);
		if (crc == PKT_LOOP_ERR)
			return PH_PASS_TRUNCATED;
		if (bpf_ntohl(*fpv) != ((__u32)crc ^ STUN_FINGERPRINT_XOR))
			return PH_DROP_BAD_FINGERPRINT;
	}
	if (session && !required) {
		if (h->type == bpf_htons(STUN_BINDING_REQUEST))
			return CONTINUE | CHECK_KEEPALIVE | (fp_seen ? CHECK_HAS_FP : 0);
		if (h->type == bpf_htons(STUN_BINDING_INDICATION))
			return CONTINUE | CHECK_KEEPALIVE | CHECK_INDICATION;
	}
	if (h->type != bpf_htons(STUN_BINDING_REQUEST))
		return PH_PASS_NOT_BINDING_REQ;
	if (required || session)
		return PH_PASS_ATTRIBUTES;
	return CONTINUE | (fp_seen ? CHECK_HAS_FP : 0);
}

/*
 * The two common requests decided inline, without ph_stun_check's loops:
 * a bare 20-byte Binding request, and one carrying only a FINGERPRINT that
 * verifies.  Returns what ph_stun_check would, or FAST_UNSURE for anything
 * else (every malformed message included), which then takes the full path.
 */
#define FAST_UNSURE	0xffff

static __always_inline __u32 fast_check(const struct req *r, void *end)
{
	const struct stun_hdr *h = (const struct stun_hdr *)r->stun;
	const __u32 *w = (const __u32 *)r->stun;
	__u32 crc;

	if ((void *)(h + 1) > end || h->type != bpf_htons(STUN_BINDING_REQUEST) ||
	    h->cookie != bpf_htonl(STUN_MAGIC_COOKIE))
		return FAST_UNSURE;
	if (r->stun_len == STUN_HEADER_LEN && h->length == 0)
		return CONTINUE;
	if (r->stun_len != STUN_HEADER_LEN + FP_LEN || h->length != bpf_htons(FP_LEN) ||
	    (void *)(w + 7) > end || w[5] != bpf_htonl(STUN_ATTR_FINGERPRINT << 16 | 4))
		return FAST_UNSURE;
	crc = crc32_dword(0xffffffff, w[0], w[1]);
	crc = crc32_dword(crc, w[2], w[3]);
	crc = crc32_word(crc, w[4]);
	if (bpf_ntohl(w[6]) != (~crc ^ STUN_FINGERPRINT_XOR))
		return FAST_UNSURE;
	return CONTINUE | CHECK_HAS_FP;
}

/*
 * An address attribute (RFC 8489 §14.1 layout) at w[0..]: header, family
 * and port, address; XORed with cookie and transaction id for
 * XOR-MAPPED-ADDRESS (tid: the request's, as raw words).  v6 is a
 * compile-time constant.  Returns the words written: 3 (IPv4) or 6.
 */
static __always_inline __u32 put_addr_attr(__u32 *w, __u16 type, const bool v6, __be16 port,
					   const __u32 *addr, const __u32 *tid, const bool xored)
{
	__u32 alen = v6 ? 20 : 8;

	w[0] = bpf_htonl((__u32)type << 16 | alen);
	w[1] = bpf_htonl((v6 ? STUN_FAMILY_IPV6 : STUN_FAMILY_IPV4) << 16 |
			 (bpf_ntohs(port) ^ (xored ? STUN_MAGIC_COOKIE >> 16 : 0)));
	w[2] = addr[0] ^ (xored ? bpf_htonl(STUN_MAGIC_COOKIE) : 0);
	if (!v6)
		return 3;
	/* IPv6: XORed with cookie || transaction id, byte for byte. */
	w[3] = addr[1] ^ (xored ? tid[0] : 0);
	w[4] = addr[2] ^ (xored ? tid[1] : 0);
	w[5] = addr[3] ^ (xored ? tid[2] : 0);
	return 6;
}

/*
 * The response's STUN words, built before the frame is resized.  Off the
 * stack: each inlined write_response() would otherwise take its own copy
 * and the program would outgrow the 512-byte stack.
 */
struct resp_scratch {
	__u32 w[RESP_MAX_WORDS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct resp_scratch);
	__uint(max_entries, 1);
} resp_scratch SEC(".maps");

/*
 * Values of write_response()'s oa: which OTHER-ADDRESS, if any, to add; or
 * OA_401, a Binding error 401 (an unknown session) instead of the success.
 */
enum { OA_NONE, OA_V4, OA_V6, OA_401 };

/*
 * Resize the frame to hdrs + msg_len bytes and write the whole response:
 * ERROR-CODE 401 for OA_401, else XOR-MAPPED-ADDRESS, then for an RFC 5780 listener (oa != OA_NONE)
 * RESPONSE-ORIGIN (the address:port the request reached) and
 * OTHER-ADDRESS (r->lval's), then FINGERPRINT iff the request had one.
 * v6 and oa are compile-time constants at each call site, so each
 * combination gets its own straight-line code.
 */
static __always_inline enum ph_xdp_reason write_response(struct xdp_md *ctx, const struct req *r,
							 __u64 frame_len, const bool v6,
							 const int oa)
{
	const __u32 ip_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	const __u32 hdrs = ETH_HLEN + ip_len + sizeof(struct udphdr);
	const bool unauth = oa == OA_401;
	const __u32 xma_len = unauth ? ERR401_LEN : v6 ? XMA6_LEN : XMA4_LEN;
	const __u32 rfc_len =
	    oa == OA_NONE || unauth ? 0 : xma_len + (oa == OA_V6 ? XMA6_LEN : XMA4_LEN);
	const __u32 base_words = (STUN_HEADER_LEN + xma_len + rfc_len) / 4;
	__u32 msg_len = STUN_HEADER_LEN + xma_len + rfc_len + (r->has_fp ? FP_LEN : 0);
	__u32 ulen = sizeof(struct udphdr) + msg_len;
	__s32 delta = (__s32)(hdrs + msg_len) - (__s32)frame_len;
	struct resp_scratch *sc;
	__u32 zero = 0, *w;
	struct ethhdr *eth;
	struct udphdr *udp;
	__u32 *out, crc, i, n;
	void *data, *end;
	__u64 sum;

	sc = bpf_map_lookup_elem(&resp_scratch, &zero);
	if (!sc)
		return PH_PASS_NO_ROOM;
	w = sc->w;
	w[0] = bpf_htonl((unauth ? STUN_BINDING_ERROR : STUN_BINDING_SUCCESS) << 16 |
			 (msg_len - STUN_HEADER_LEN));
	w[1] = bpf_htonl(STUN_MAGIC_COOKIE);
	w[2] = r->tid[0];
	w[3] = r->tid[1];
	w[4] = r->tid[2];
	n = 5;
	if (unauth) {
		/*
		 * ERROR-CODE 401 with RFC 8489's reason phrase, 15 bytes and one
		 * byte of zero padding, as the server's builder writes it.
		 */
		w[5] = bpf_htonl(STUN_ATTR_ERROR_CODE << 16 | (4 + 15));
		w[6] = bpf_htonl(4 << 8 | 1);
		w[7] = bpf_htonl(0x556e6175);	/* "Unau" */
		w[8] = bpf_htonl(0x7468656e);	/* "then" */
		w[9] = bpf_htonl(0x74696361);	/* "tica" */
		w[10] = bpf_htonl(0x74656400);	/* "ted" */
		n = 11;
	} else {
		n += put_addr_attr(&w[n], STUN_ATTR_XOR_MAPPED_ADDRESS, v6, r->port_dst,
				   r->addr_dst, r->tid, true);
	}
	if (oa != OA_NONE && !unauth) {
		n += put_addr_attr(&w[n], STUN_ATTR_RESPONSE_ORIGIN, v6, r->port_src, r->addr_src,
				   r->tid, false);
		n += put_addr_attr(&w[n], STUN_ATTR_OTHER_ADDRESS, oa == OA_V6, r->lval->other_port,
				   (const __u32 *)r->lval->other_addr, r->tid, false);
	}
	if (r->has_fp) {
		crc = 0xffffffff;
		for (i = 0; i + 1 < base_words; i += 2)
			crc = crc32_dword(crc, w[i], w[i + 1]);
		if (base_words & 1)
			crc = crc32_word(crc, w[base_words - 1]);
		w[n] = bpf_htonl(STUN_ATTR_FINGERPRINT << 16 | 4);
		w[n + 1] = bpf_htonl(~crc ^ STUN_FINGERPRINT_XOR);
		n += 2;
	}

	/* Grow at the head (tail growth fails on veth), shrink at the tail. */
	if (delta > 0) {
		if (bpf_xdp_adjust_head(ctx, -delta))
			return PH_PASS_NO_ROOM;
	} else if (delta < 0) {
		if (bpf_xdp_adjust_tail(ctx, delta))
			return PH_PASS_NO_ROOM;
	}
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	/*
	 * The frame is now exactly hdrs + msg_len bytes, so these cannot fail;
	 * the verifier needs them said, before the first write.
	 */
	if (data + hdrs + base_words * 4 > end)
		return PH_PASS_NO_ROOM;
	if (r->has_fp && data + hdrs + base_words * 4 + FP_LEN > end)
		return PH_PASS_NO_ROOM;

	eth = data;
	__builtin_memcpy(eth->h_dest, r->mac_dst, ETH_ALEN);
	__builtin_memcpy(eth->h_source, r->mac_src, ETH_ALEN);
	eth->h_proto = bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP);

	sum = (__u64)bpf_htons(IPPROTO_UDP) + bpf_htons(ulen) + r->addr_dst[0] + r->addr_src[0];
	if (v6) {
		struct ipv6hdr *ip6 = data + ETH_HLEN;

		/* Traffic class and flow label zero, as an unmarked socket reply. */
		*(__be32 *)ip6 = bpf_htonl(0x60000000);
		ip6->payload_len = bpf_htons(ulen);
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = RESP_TTL;
		__builtin_memcpy(&ip6->saddr, r->addr_src, 16);
		__builtin_memcpy(&ip6->daddr, r->addr_dst, 16);
		sum += (__u64)r->addr_dst[1] + r->addr_dst[2] + r->addr_dst[3] + r->addr_src[1] +
		       r->addr_src[2] + r->addr_src[3];
	} else {
		struct iphdr *ip = data + ETH_HLEN;
		__u32 *iw = (__u32 *)ip;

		/* TOS 0, ID 0 with DF: an atomic datagram (RFC 6864). */
		*(__u8 *)ip = 0x45;	/* version 4, no options */
		ip->tos = 0;
		ip->tot_len = bpf_htons(sizeof(*ip) + ulen);
		ip->id = 0;
		ip->frag_off = bpf_htons(IP4_DF);
		ip->ttl = RESP_TTL;
		ip->protocol = IPPROTO_UDP;
		ip->check = 0;
		ip->saddr = r->addr_src[0];
		ip->daddr = r->addr_dst[0];
		ip->check = csum_finish((__u64)iw[0] + iw[1] + iw[2] + iw[3] + iw[4]);
	}

	udp = data + ETH_HLEN + ip_len;
	udp->source = r->port_src;
	udp->dest = r->port_dst;
	udp->len = bpf_htons(ulen);
	sum += (__u64)r->port_src + r->port_dst + bpf_htons(ulen);

	out = (__u32 *)(udp + 1);
	for (i = 0; i < base_words; i++) {
		out[i] = w[i];
		sum += w[i];
	}
	if (r->has_fp) {
		/* Checked above; repeated because the verifier does not correlate the branches. */
		if ((void *)(out + base_words + 2) > end)
			return PH_PASS_NO_ROOM;
		out[base_words] = w[base_words];
		out[base_words + 1] = w[base_words + 1];
		sum += (__u64)w[base_words] + w[base_words + 1];
	}
	/* Computed zero goes out as all ones: zero would mean "no checksum". */
	udp->check = csum_finish(sum) ?: 0xffff;
	return PH_TX_BINDING;
}

/*
 * A keepalive (ph_stun_check said CHECK_KEEPALIVE): find the session by the
 * slot its id names, prove the token, refresh it and follow a new source
 * address.  A request is answered as userspace would: XOR-MAPPED-ADDRESS,
 * or 401 for a session the server does not hold, so the endpoint logs in
 * again.  A wrong token refreshes nothing and hears nothing: it is either a
 * stale endpoint or someone guessing, and both are only counted.  Returns
 * the reason to count, or CONTINUE with *oa (OA_NONE or OA_401) and *ok
 * (the reason once the answer is written) when there is an answer to write:
 * general_path() writes it, so the program keeps one copy of each writer.
 */
static __always_inline enum ph_xdp_reason keepalive(const struct req *r, void *end,
						    const bool indication, int *oa,
						    enum ph_xdp_reason *ok)
{
	const __u32 *a = (const __u32 *)(r->stun + STUN_HEADER_LEN);
	struct ph_session_event *ev;
	const __u32 *tok, *sa;
	struct ph_session *s;
	__u32 id, slot, now;
	bool moved;

	/* ph_stun_check walked these 24 bytes; the verifier needs it said again. */
	if ((void *)(a + 6) > end)
		return PH_PASS_TRUNCATED;
	id = bpf_ntohl(a[1]);
	slot = id & PH_SESSION_SLOT_MASK;
	s = bpf_map_lookup_elem(&sessions, &slot);
	if (!s || !id || s->id != id) {
		if (indication)
			return PH_DROP_KA_UNKNOWN_IND;
		*oa = OA_401;
		*ok = PH_TX_KA_UNKNOWN;
		return CONTINUE;
	}
	tok = (const __u32 *)s->token;
	if ((a[2] ^ tok[0]) | (a[3] ^ tok[1]) | (a[4] ^ tok[2]) | (a[5] ^ tok[3]))
		return PH_DROP_KA_BAD_TOKEN;

	now = bpf_ktime_get_coarse_ns() / 1000000000;
	*ok = PH_TX_KEEPALIVE;
	sa = (const __u32 *)s->addr;
	moved = s->family != (r->v6 ? PH_AF_INET6 : PH_AF_INET) || s->port != r->port_dst ||
		((sa[0] ^ r->addr_dst[0]) | (sa[1] ^ r->addr_dst[1]) | (sa[2] ^ r->addr_dst[2]) |
		 (sa[3] ^ r->addr_dst[3]));
	if (moved) {
		/* Without the event userspace would never learn it: let userspace do it all. */
		ev = bpf_ringbuf_reserve(&session_events, sizeof(*ev), 0);
		if (!ev)
			return PH_PASS_KA_NO_EVENT;
		__builtin_memset(ev, 0, sizeof(*ev));
		ev->id = id;
		ev->family = r->v6 ? PH_AF_INET6 : PH_AF_INET;
		ev->port = r->port_dst;
		ev->local_port = r->port_src;
		/* An IPv4 request leaves words 1-3 of the addresses zero (struct req starts zeroed). */
		__builtin_memcpy(ev->addr, r->addr_dst, 16);
		__builtin_memcpy(ev->local_addr, r->addr_src, 16);
		__builtin_memcpy(s->addr, r->addr_dst, 16);
		s->port = r->port_dst;
		s->family = ev->family;
		s->last_seen = now;
		/* Userspace drains the ring from a timer: a wakeup would be wasted work. */
		bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
		*ok = PH_TX_KA_MOVED;
	} else if (s->last_seen != now) {
		/* At most one write a second: the line stays shared between CPUs. */
		s->last_seen = now;
	}
	if (indication)
		return PH_DROP_KA_INDICATION;
	*oa = OA_NONE;
	return CONTINUE;
}

/*
 * Everything the fast path left: the Binding rules in full, for both
 * families.  Returns the reason to count.
 */
static __always_inline enum ph_xdp_reason general_path(struct xdp_md *ctx, __u64 frame_len)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct cursor c = { .pos = data, .end = end };
	enum ph_xdp_reason reason, ok = PH_TX_BINDING;
	struct ethhdr *eth;
	struct req r = {};
	bool l2_multicast;
	__u32 check;
	int oa = OA_NONE;

	eth = cur_pull(&c, sizeof(*eth));
	if (!eth)
		return PH_PASS_NOT_IP;
	/* Broadcast/multicast frames are never answered (checked with the unicast rules). */
	l2_multicast = eth->h_dest[0] & 1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		reason = parse_ipv4(&c, &r, frame_len, l2_multicast);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		reason = parse_ipv6(&c, &r, frame_len, l2_multicast);
	} else {
		/* VLAN-tagged frames too: the stack untags them. */
		reason = PH_PASS_NOT_IP;
	}
	if (reason != CONTINUE)
		return reason;

	/* Bounds the checksum and attribute loops below. */
	if (r.stun_len > PH_XDP_MAX_STUN_LEN)
		return PH_PASS_TOO_LONG;
	/* UDP checksum 0 over IPv4 means "none" (RFC 768); IPv6 rejected it above. */
	if (((struct udphdr *)r.stun - 1)->check != 0 && !udp_csum_ok(ctx, &r, end))
		return PH_PASS_BAD_CSUM;
	check = fast_check(&r, end);
	if (check == FAST_UNSURE)
		check = ph_stun_check(ctx, r.l4_off + sizeof(struct udphdr), r.stun_len);
	reason = check & CHECK_REASON_MASK;
	if (reason != CONTINUE)
		return reason;
	r.has_fp = check & CHECK_HAS_FP;
	/* ph_stun_check saw at least the 20-byte header; the verifier needs it said again. */
	if ((void *)(r.stun + STUN_HEADER_LEN) > end)
		return PH_PASS_TRUNCATED;
	__builtin_memcpy(r.tid, ((struct stun_hdr *)r.stun)->tid, sizeof(r.tid));

	__builtin_memcpy(r.mac_dst, eth->h_source, ETH_ALEN);
	__builtin_memcpy(r.mac_src, eth->h_dest, ETH_ALEN);
	if (check & CHECK_KEEPALIVE) {
		/* Answered plainly even on an RFC 5780 listener, as userspace does. */
		reason = keepalive(&r, end, check & CHECK_INDICATION, &oa, &ok);
		if (reason != CONTINUE)
			return reason;
	} else if (!(r.lval->flags & PH_LISTEN_RFC5780)) {
		oa = OA_NONE;
	} else if (r.lval->other_family == PH_AF_INET) {
		oa = OA_V4;
	} else if (r.lval->other_family == PH_AF_INET6) {
		oa = OA_V6;
	} else {
		/* The loader never stores this; without OTHER-ADDRESS, leave it to userspace. */
		return PH_PASS_NOT_LISTEN;
	}
	/* Only a keepalive with the right token proved who sent it (r.addr_dst: the sender). */
	if ((oa == OA_401 || !(check & CHECK_KEEPALIVE)) &&
	    !(r.v6 ? rate_ok(r.addr_dst) : rate_ok4(r.addr_dst[0])))
		return PH_DROP_RATE_LIMITED;
	if (r.v6) {
		if (oa == OA_V4)
			reason = write_response(ctx, &r, frame_len, true, OA_V4);
		else if (oa == OA_V6)
			reason = write_response(ctx, &r, frame_len, true, OA_V6);
		else if (oa == OA_401)
			reason = write_response(ctx, &r, frame_len, true, OA_401);
		else
			reason = write_response(ctx, &r, frame_len, true, OA_NONE);
	} else {
		if (oa == OA_V4)
			reason = write_response(ctx, &r, frame_len, false, OA_V4);
		else if (oa == OA_V6)
			reason = write_response(ctx, &r, frame_len, false, OA_V6);
		else if (oa == OA_401)
			reason = write_response(ctx, &r, frame_len, false, OA_401);
		else
			reason = write_response(ctx, &r, frame_len, false, OA_NONE);
	}
	return reason == PH_TX_BINDING ? ok : reason;
}

SEC("xdp")
int pinhole_xdp(struct xdp_md *ctx)
{
	__u64 frame_len = ctx->data_end - ctx->data;
	enum ph_xdp_reason reason;
	struct ph_stat *st;
	__u32 key;

	reason = fast_v4_plain(ctx);
	if (reason == CONTINUE)
		reason = general_path(ctx, frame_len);
	key = reason;
	st = bpf_map_lookup_elem(&stats, &key);
	if (st) {
		st->packets++;
		st->bytes += frame_len;
	}
	return verdict_of(reason);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
