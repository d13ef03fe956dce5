// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the endpoint library's datagram handling, driven
 * through its real socket.
 *
 * Set-up (once): the fuzzer moves into its own network namespace, brings
 * lo up and routes every IPv4 and IPv6 destination locally
 * (`local 0.0.0.0/0 dev lo`), so whatever address a fuzzed message names,
 * a datagram the endpoint sends there never leaves the namespace and
 * always crosses lo, where an AF_PACKET socket records it.  Four UDP
 * sockets play the server S (127.0.0.1:3478), an alternate server
 * address O, the peer "bob" P and a stranger X.
 *
 * Each input: a fresh endpoint ("alice") bound to 127.0.0.1, brought by a
 * scripted server to a stage the first byte picks (0: just started, 1:
 * logged in and routing table fetched, 2: also holding a verified direct
 * session with bob), then a list of operations, each one datagram sent to
 * the endpoint from S, P, O or X, optionally with the transaction id of a
 * datagram the endpoint sent, optionally closed (MESSAGE-INTEGRITY-SHA256
 * + FINGERPRINT) under a key the harness holds (the long-term key, the
 * session key, a pair key) so fuzzed content reaches the authenticated
 * handlers, or a replay of the previous datagram; and a clock step.
 *
 * Operation layout: op, flags, length (2 bytes, big-endian), bytes.
 *   op bits 0-1: source S/P/O/X; bit 2: patch the tid; bits 3-4: key
 *   (none, session, pair, long-term); bit 5: replay; bits 6-7: advance
 *   the clock by 0, 150 ms, 2 s or 25 s first.
 *   flags bits 0-3: which pair key; bits 4-5: which of the last four
 *   datagrams the endpoint sent gives the tid.
 *
 * Properties: ep_process() never fails; event payloads are well formed;
 * and (reflection) every datagram the endpoint sends goes to an address
 * it was configured with (S), or that came from a message it could
 * verify: addresses inside a message from S under the long-term or
 * session key, the source of a message under a pair key the server
 * handed out, or RFC 5780's OTHER-ADDRESS (and O.ip:S.port) from a
 * Binding success from S answering a Binding request the endpoint sent S.
 * Unauthenticated content and sources never become destinations.
 *
 * The source of a replayed datagram (same bytes, new source) proves
 * nothing either: the endpoint answering a replayed PROBE there is reported
 * as a reflection.  FUZZ_EP_LENIENT=1 allows it (the oracle before the
 * endpoint acted on each probe once).  FUZZ_EP_TRACE=1 prints every datagram both ways.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "access.h"
#include "addr.h"
#include "endpoint.h"
#include "fuzz_util.h"
#include "stun.h"
#include "wire.h"

FUZZ_SINK_DEFINE;

#define USER "alice"
#define PASSWORD "alice's password"
#define REALM "pinhole.test"
#define NONCE "fuzz-nonce-0123456789"
#define SESS_ID FUZZ_EP_SESS_ID
#define DGRAM_MAX 2048
#define HISTORY_MAX 64
#define KEYS_MAX 16
#define ALLOWED_MAX 256
#define SENT_MAX 64
#define OPS_MAX 64

enum src_idx { SRC_S, SRC_P, SRC_O, SRC_X, SRC_N };

static const uint8_t token[PH_TOKEN_LEN] = FUZZ_EP_TOKEN;
static const uint8_t bob_key[PH_PAIR_KEY_LEN] = FUZZ_EP_BOB_KEY;

struct keyset {
	uint8_t k[KEYS_MAX][PH_PAIR_KEY_LEN];
	size_t n;
};

struct sent {
	struct sockaddr_storage dst;
	uint8_t tid[STUN_TID_LEN];
	bool stun;
};

static struct {
	int fd[SRC_N];
	struct sockaddr_storage addr[SRC_N];
	int cap_fd;
	bool trace;
	bool strict; /* a replayed datagram's new source proves nothing (unless FUZZ_EP_LENIENT) */
} env;

/* Per-input state: what the harness knows and what the endpoint did. */
static struct {
	struct ep *ep;
	struct sockaddr_storage ep_addr;
	uint64_t now;
	struct keyset lt, sk, pk;
	char nonce[STUN_NONCE_MAX + 1];
	size_t nonce_len;
	uint8_t cur_lt[STUN_KEY_MAX], cur_sk[PH_PAIR_KEY_LEN];
	bool have_lt, have_sk;
	struct sockaddr_storage allowed[ALLOWED_MAX];
	size_t n_allowed;
	struct sent sent[SENT_MAX]; /* ring of what the endpoint sent */
	size_t n_sent;
	struct {
		uint8_t buf[DGRAM_MAX];
		size_t len;
		int src;
		bool replay;
	} hist[HISTORY_MAX];
	size_t n_hist;
} st;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void set4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s->sin_addr);
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return addr_cmp((const struct sockaddr *)a, (const struct sockaddr *)b) == 0;
}

/* --- environment -------------------------------------------------------- */

static void sandbox(void)
{
	struct ifreq ifr = {0};
	int s;

	/* Its own namespace: nothing a fuzzed address names can be reached for real. */
	if (unshare(CLONE_NEWNET)) {
		perror("fuzz_endpoint: unshare(CLONE_NEWNET) (run as root)");
		abort();
	}
	s = socket(AF_INET, SOCK_DGRAM, 0);
	FUZZ_CHECK(s >= 0);
	strcpy(ifr.ifr_name, "lo");
	FUZZ_CHECK(ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
	ifr.ifr_flags |= IFF_UP;
	FUZZ_CHECK(ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
	close(s);
	if (system("ip route add local 0.0.0.0/0 dev lo table local && "
		   "ip -6 route add local ::/0 dev lo table local")) {
		fprintf(stderr, "fuzz_endpoint: cannot route everything to lo\n");
		abort();
	}
}

static int udp_socket(const struct sockaddr_storage *a)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(bind(fd, (const struct sockaddr *)a, sizeof(struct sockaddr_in)) == 0);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_ll ll = {0};
	int rcv = 8 << 20;

	sandbox();
	set4(&env.addr[SRC_S], "127.0.0.1", 3478);
	set4(&env.addr[SRC_O], "127.0.0.2", 3479);
	set4(&env.addr[SRC_P], "127.0.0.3", 4000);
	set4(&env.addr[SRC_X], "127.0.0.4", 5000);
	for (int i = 0; i < SRC_N; i++)
		env.fd[i] = udp_socket(&env.addr[i]);
	env.cap_fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	FUZZ_CHECK(env.cap_fd >= 0);
	setsockopt(env.cap_fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv));
	ll.sll_family = AF_PACKET;
	ll.sll_protocol = htons(ETH_P_ALL);
	ll.sll_ifindex = (int)if_nametoindex("lo");
	FUZZ_CHECK(bind(env.cap_fd, (struct sockaddr *)&ll, sizeof(ll)) == 0);
	env.trace = getenv("FUZZ_EP_TRACE") != NULL;
	env.strict = getenv("FUZZ_EP_LENIENT") == NULL;
	return 0;
}

/* --- the oracle: where the endpoint may send ---------------------------- */

static void allow(const struct sockaddr_storage *a)
{
	if (a->ss_family != AF_INET && a->ss_family != AF_INET6)
		return;
	for (size_t i = 0; i < st.n_allowed; i++)
		if (same_addr(&st.allowed[i], a))
			return;
	FUZZ_CHECK(st.n_allowed < ALLOWED_MAX);
	st.allowed[st.n_allowed++] = *a;
}

static bool allowed(const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < st.n_allowed; i++)
		if (same_addr(&st.allowed[i], a))
			return true;
	return false;
}

static bool key_add(struct keyset *ks, const uint8_t *k)
{
	for (size_t i = 0; i < ks->n; i++)
		if (!memcmp(ks->k[i], k, PH_PAIR_KEY_LEN))
			return false;
	if (ks->n == KEYS_MAX)
		return false;
	memcpy(ks->k[ks->n++], k, PH_PAIR_KEY_LEN);
	return true;
}

static bool verifies(const struct stun_msg *m, const struct keyset *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		if (!access_msg_verify(m, ks->k[i], PH_PAIR_KEY_LEN))
			return true;
	return false;
}

/* Everything an authenticated server message names may become a destination. */
static bool server_verified(const struct stun_msg *m)
{
	struct sockaddr_storage ss, locals[16];
	struct access_contact c;
	struct stun_attr_iter it;
	bool new_key = false;
	size_t n;

	if (!stun_msg_get_xor_addr(m, &ss))
		allow(&ss);
	if (!access_get_peer_address(m, &ss))
		allow(&ss);
	if (!access_get_claimed_address(m, &ss))
		allow(&ss);
	if (!access_get_local_addresses(m, locals, 16, &n))
		for (size_t i = 0; i < n && i < 16; i++)
			allow(&locals[i]);
	if (!access_get_presence(m, &c)) {
		allow(&c.reflexive);
		allow(&c.local);
		new_key |= key_add(&st.pk, c.pair_key);
	}
	stun_attr_iter_init(&it);
	while (access_next_contact(m, &it, &c) != 0) {
		allow(&c.reflexive);
		allow(&c.local);
		new_key |= key_add(&st.pk, c.pair_key);
	}
	return new_key;
}

static bool tid_sent_to_server(const uint8_t *tid)
{
	for (size_t i = 0; i < st.n_sent && i < SENT_MAX; i++)
		if (st.sent[i].stun && same_addr(&st.sent[i].dst, &env.addr[SRC_S]) &&
		    !memcmp(st.sent[i].tid, tid, STUN_TID_LEN))
			return true;
	return false;
}

/* What the harness learns from one datagram it is about to send; true if a pair key is new. */
static bool learn(const uint8_t *buf, size_t len, int src, bool replay)
{
	struct sockaddr_storage other, mixed;
	const char *realm, *nonce;
	size_t rlen, nlen;
	struct stun_msg m;
	bool new_key = false;
	uint8_t tok[PH_TOKEN_LEN], k[STUN_KEY_MAX];
	uint32_t id;

	if (stun_msg_parse(&m, buf, len))
		return false;
	if (src == SRC_S) {
		if (m.type == STUN_BINDING_SUCCESS && tid_sent_to_server(m.tid) &&
		    !stun_msg_get_addr(&m, STUN_ATTR_OTHER_ADDRESS, &other)) {
			allow(&other);
			mixed = other;
			addr_set_port((struct sockaddr *)&mixed, 3478);
			allow(&mixed);
		}
		if (!stun_msg_get_string(&m, STUN_ATTR_REALM, &realm, &rlen) &&
		    !stun_msg_get_string(&m, STUN_ATTR_NONCE, &nonce, &nlen) &&
		    stun_long_term_key(STUN_PASSWORD_ALG_SHA256, USER, strlen(USER), realm, rlen,
				       PASSWORD, strlen(PASSWORD), k) == PH_PAIR_KEY_LEN) {
			memcpy(st.nonce, nonce, nlen);
			st.nonce_len = nlen;
			key_add(&st.lt, k);
			memcpy(st.cur_lt, k, sizeof(st.cur_lt));
			st.have_lt = true;
		}
		if (verifies(&m, &st.lt)) {
			new_key |= server_verified(&m);
			if (st.have_lt && !access_get_session(&m, &id, tok) &&
			    !access_session_key(st.cur_lt, PH_PAIR_KEY_LEN, st.nonce, st.nonce_len,
						id, tok, k)) {
				key_add(&st.sk, k);
				memcpy(st.cur_sk, k, sizeof(st.cur_sk));
				st.have_sk = true;
			}
		}
		if (verifies(&m, &st.sk))
			new_key |= server_verified(&m);
	}
	if (verifies(&m, &st.pk) && !(replay && env.strict))
		allow(&env.addr[src]);
	return new_key;
}

/* A new pair key can make an earlier (stashed) probe verify: look again. */
static void relearn(void)
{
	for (size_t i = 0; i < st.n_hist; i++) {
		struct stun_msg m;

		if (!stun_msg_parse(&m, st.hist[i].buf, st.hist[i].len) && verifies(&m, &st.pk) &&
		    !(st.hist[i].replay && env.strict))
			allow(&env.addr[st.hist[i].src]);
	}
}

/* Read what crossed lo from the endpoint's port and check each destination. */
static void capture(void)
{
	uint8_t pkt[DGRAM_MAX + 128];
	const struct sockaddr_in *ep4 = (const struct sockaddr_in *)&st.ep_addr;

	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		struct sockaddr_storage dst = {0};
		const uint8_t *udp;
		ssize_t n = recvfrom(env.cap_fd, pkt, sizeof(pkt), MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);
		size_t ulen;

		if (n < 0)
			break;
		if (from.sll_pkttype != PACKET_OUTGOING || (size_t)n > sizeof(pkt))
			continue;
		if (ntohs(from.sll_protocol) == ETH_P_IP && n >= 20 && (pkt[0] >> 4) == 4) {
			size_t ihl = (size_t)(pkt[0] & 15) * 4;
			struct sockaddr_in *d = (struct sockaddr_in *)&dst;

			if (pkt[9] != IPPROTO_UDP || (size_t)n < ihl + 8)
				continue;
			udp = pkt + ihl;
			ulen = (size_t)n - ihl;
			d->sin_family = AF_INET;
			memcpy(&d->sin_addr, pkt + 16, 4);
			memcpy(&d->sin_port, udp + 2, 2);
		} else if (ntohs(from.sll_protocol) == ETH_P_IPV6 && n >= 48 && pkt[6] == 17) {
			struct sockaddr_in6 *d = (struct sockaddr_in6 *)&dst;

			udp = pkt + 40;
			ulen = (size_t)n - 40;
			d->sin6_family = AF_INET6;
			memcpy(&d->sin6_addr, pkt + 24, 16);
			memcpy(&d->sin6_port, udp + 2, 2);
		} else {
			continue;
		}
		/* Only the endpoint's own socket: the harness's sockets use other ports. */
		if (memcmp(udp, &ep4->sin_port, 2))
			continue;
		if (env.trace) {
			char a[ADDR_STRLEN];

			addr_format((struct sockaddr *)&dst, a, sizeof(a));
			fprintf(stderr, "  endpoint -> %s (%zu bytes)%s\n", a, ulen - 8,
				allowed(&dst) ? "" : "  NOT ALLOWED");
		}
		if (!allowed(&dst)) {
			char a[ADDR_STRLEN];

			addr_format((struct sockaddr *)&dst, a, sizeof(a));
			fprintf(stderr,
				"fuzz_endpoint: endpoint sent %zu bytes to %s, an address "
				"no verified message gave it\n",
				ulen - 8, a);
			FUZZ_CHECK(allowed(&dst));
		}
		st.sent[st.n_sent % SENT_MAX].dst = dst;
		st.sent[st.n_sent % SENT_MAX].stun = ulen >= 8 + STUN_HEADER_LEN;
		if (ulen >= 8 + STUN_HEADER_LEN)
			memcpy(st.sent[st.n_sent % SENT_MAX].tid, udp + 8 + 8, STUN_TID_LEN);
		st.n_sent++;
	}
}

/* The tid of the endpoint's @back-th most recent datagram (zeros if none). */
static const uint8_t *recent_tid(unsigned int back)
{
	static const uint8_t zero[STUN_TID_LEN];

	if (!st.n_sent)
		return zero;
	if (back >= st.n_sent)
		back = (unsigned int)st.n_sent - 1;
	if (back >= SENT_MAX)
		back = SENT_MAX - 1;
	return st.sent[(st.n_sent - 1 - back) % SENT_MAX].tid;
}

/* --- driving the endpoint ------------------------------------------------ */

static void on_event(struct ep *ep, const struct ep_event *ev, void *arg)
{
	if (ev->addr)
		FUZZ_CHECK(ev->addr->sa_family == AF_INET || ev->addr->sa_family == AF_INET6);
	switch (ev->type) {
	case EP_EV_MESSAGE:
		/* Shown on a terminal: it must have passed the text rule. */
		FUZZ_CHECK(ev->peer && ev->text);
		FUZZ_CHECK(access_attr_check_value(PH_ATTR_TEXT, (const uint8_t *)ev->text,
						   ev->text_len) == 0);
		break;
	case EP_EV_CONTACT_ONLINE:
	case EP_EV_CONTACT_OFFLINE:
	case EP_EV_CONTACT_MOVED:
	case EP_EV_CONTACT_REMOVED:
	case EP_EV_PUNCH:
	case EP_EV_PEER_VERIFIED:
	case EP_EV_SESSION:
		FUZZ_CHECK(ev->peer &&
			   access_attr_check_value(PH_ATTR_PEER_NAME, (const uint8_t *)ev->peer,
						   strlen(ev->peer)) == 0);
		break;
	case EP_EV_ERROR:
		FUZZ_CHECK(ev->err < 0 && ev->text);
		break;
	default:
		break;
	}
}

/* Let the endpoint read and run timers, then check what it sent. */
static void pump(void)
{
	struct pollfd pfd = {.fd = ep_fd(st.ep), .events = POLLIN};

	/* Loopback delivers within sendto(); the short wait only covers a slow softirq. */
	poll(&pfd, 1, 0);
	FUZZ_CHECK(ep_process(st.ep, st.now) == 0);
	capture();
}

static void deliver(int src, const uint8_t *buf, size_t len, bool replay)
{
	if (learn(buf, len, src, replay))
		relearn();
	if (st.n_hist < HISTORY_MAX) {
		memcpy(st.hist[st.n_hist].buf, buf, len);
		st.hist[st.n_hist].len = len;
		st.hist[st.n_hist].src = src;
		st.hist[st.n_hist].replay = replay;
		st.n_hist++;
	}
	if (env.trace)
		fprintf(stderr, "  %c -> endpoint (%zu bytes)\n", "SPOX"[src], len);
	FUZZ_CHECK(sendto(env.fd[src], buf, len, 0, (const struct sockaddr *)&st.ep_addr,
			  sizeof(struct sockaddr_in)) == (ssize_t)len);
	pump();
}

static bool last_sent_to(int dst, uint8_t tid[STUN_TID_LEN])
{
	for (size_t i = st.n_sent; i-- > 0 && st.n_sent - i <= SENT_MAX;) {
		const struct sent *s = &st.sent[i % SENT_MAX];

		if (s->stun && same_addr(&s->dst, &env.addr[dst])) {
			memcpy(tid, s->tid, STUN_TID_LEN);
			return true;
		}
	}
	return false;
}

/* Scripted server and peer: bring the endpoint to @stage (see the top). */
static void script(int stage)
{
	uint8_t buf[DGRAM_MAX], tid[STUN_TID_LEN];
	struct access_keepalive ka = {20000, 3000, 60000};
	struct access_contact bob = {0}, carol = {0};
	static const uint16_t algs[] = {STUN_PASSWORD_ALG_SHA256};
	struct stun_builder b;
	int len;

	/* Discovery test I: answered without OTHER-ADDRESS, so discovery ends there. */
	FUZZ_CHECK(last_sent_to(SRC_S, tid));
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_SUCCESS, tid);
	stun_build_add_xor_addr(&b, (struct sockaddr *)&st.ep_addr);
	len = stun_build_finish(&b);
	deliver(SRC_S, buf, (size_t)len, false);

	FUZZ_CHECK(ep_get_state(st.ep) == EP_LOGGING_IN && last_sent_to(SRC_S, tid));
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_ERROR), tid);
	stun_build_add_error(&b, STUN_ERR_UNAUTHORIZED, NULL);
	stun_build_add_string(&b, STUN_ATTR_REALM, REALM, strlen(REALM));
	stun_build_add_string(&b, STUN_ATTR_NONCE, NONCE, strlen(NONCE));
	stun_build_add_password_algorithms(&b, algs, 1);
	stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	deliver(SRC_S, buf, (size_t)len, false);

	FUZZ_CHECK(st.have_lt && last_sent_to(SRC_S, tid));
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_LOGIN, STUN_CLASS_SUCCESS),
			tid);
	stun_build_add_xor_addr(&b, (struct sockaddr *)&st.ep_addr);
	access_add_session(&b, SESS_ID, token);
	access_add_keepalive(&b, &ka);
	access_add_page(&b, 0, 1);
	len = access_msg_finish(&b, st.cur_lt, PH_PAIR_KEY_LEN);
	deliver(SRC_S, buf, (size_t)len, false);
	FUZZ_CHECK(ep_get_state(st.ep) == EP_ONLINE && st.have_sk);

	FUZZ_CHECK(last_sent_to(SRC_S, tid));
	bob.state = PH_CONTACT_ONLINE;
	bob.flags = PH_CONTACT_DIRECT_OK;
	bob.mapping = PH_MAP_NONE;
	bob.filtering = PH_FILTER_NONE;
	strcpy(bob.name, "bob");
	bob.reflexive = env.addr[SRC_P];
	bob.local = env.addr[SRC_P];
	memcpy(bob.pair_key, bob_key, PH_PAIR_KEY_LEN);
	carol.state = PH_CONTACT_OFFLINE;
	strcpy(carol.name, "carol");
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_FETCH, STUN_CLASS_SUCCESS),
			tid);
	access_add_session(&b, SESS_ID, token);
	access_add_page(&b, 0, 1);
	access_add_contact(&b, &bob);
	access_add_contact(&b, &carol);
	len = access_msg_finish(&b, st.cur_sk, PH_PAIR_KEY_LEN);
	deliver(SRC_S, buf, (size_t)len, false);
	FUZZ_CHECK(ep_contact_count(st.ep) == 2);
	if (stage < 2)
		return;

	/* bob answers the ONLINE the routing table made alice send him. */
	FUZZ_CHECK(last_sent_to(SRC_P, tid));
	stun_build_init(&b, buf, sizeof(buf), access_type(PH_METHOD_ONLINE, STUN_CLASS_SUCCESS),
			tid);
	access_add_peer_name(&b, "bob", 3);
	len = access_msg_finish(&b, bob_key, PH_PAIR_KEY_LEN);
	deliver(SRC_P, buf, (size_t)len, false);
	for (size_t i = 0; i < ep_contact_count(st.ep); i++) {
		struct ep_contact c;

		FUZZ_CHECK(ep_contact_get(st.ep, i, &c) == 0);
		if (!strcmp(c.name, "bob"))
			FUZZ_CHECK(c.connected && same_addr(&c.session_addr, &env.addr[SRC_P]));
	}
}

static int computed(uint16_t type)
{
	return type == STUN_ATTR_MESSAGE_INTEGRITY || type == STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
	       type == STUN_ATTR_FINGERPRINT;
}

/* Re-frame fuzzed bytes as a message closed under @key (attributes copied leniently). */
static size_t close_under(const uint8_t *d, size_t n, const uint8_t *tid, const uint8_t *key,
			  uint8_t *out, size_t cap)
{
	struct stun_builder b;
	size_t off = STUN_HEADER_LEN;
	int len;

	stun_build_init(&b, out, cap, n >= 2 ? wire_rd16(d) & 0x3FFF : STUN_BINDING_REQUEST, tid);
	while (off + STUN_ATTR_HEADER_LEN <= n) {
		uint16_t t = wire_rd16(d + off);
		size_t l = wire_rd16(d + off + 2);

		if (l > n - off - STUN_ATTR_HEADER_LEN)
			l = n - off - STUN_ATTR_HEADER_LEN;
		if (!computed(t))
			stun_build_add(&b, t, d + off + STUN_ATTR_HEADER_LEN, l);
		off += STUN_ATTR_HEADER_LEN + wire_pad4(l);
	}
	len = access_msg_finish(&b, key, PH_PAIR_KEY_LEN);
	return len > 0 ? (size_t)len : 0;
}

static const uint64_t clock_steps[4] = {0, 150, 2000, 25000};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t prev[DGRAM_MAX], cur[DGRAM_MAX];
	struct ep_config cfg;
	size_t prev_len = 0, off = 1;
	int ops = 0;
	uint8_t junk[DGRAM_MAX];

	if (size < 1)
		return 0;
	memset(&st, 0, sizeof(st));
	st.now = 1000000;
	allow(&env.addr[SRC_S]);
	key_add(&st.pk, bob_key);

	ep_config_init(&cfg);
	cfg.server = env.addr[SRC_S];
	set4(&cfg.bind, "127.0.0.1", 0);
	cfg.user = USER;
	cfg.password = PASSWORD;
	cfg.on_event = on_event;
	st.ep = ep_new(&cfg);
	FUZZ_CHECK(st.ep != NULL);
	FUZZ_CHECK(getsockname(ep_fd(st.ep), (struct sockaddr *)&st.ep_addr,
			       &(socklen_t){sizeof(st.ep_addr)}) == 0);
	FUZZ_CHECK(ep_start(st.ep, st.now) == 0);
	capture();
	if (data[0] % 3)
		script(data[0] % 3);

	while (off + 4 <= size && ops++ < OPS_MAX) {
		uint8_t op = data[off], flags = data[off + 1];
		size_t n = wire_rd16(data + off + 2), len;
		int src = op & 3, keysel = (op >> 3) & 3;
		const uint8_t *d = data + off + 4, *tid;
		uint8_t tidbuf[STUN_TID_LEN] = {0};

		off += 4;
		if (n > size - off)
			n = size - off;
		if (n > DGRAM_MAX)
			n = DGRAM_MAX;
		off += n;
		st.now += clock_steps[op >> 6];
		if (op & 0x20) {
			/* Replay: the previous datagram's bytes, unchanged, from this source. */
			if (!prev_len)
				continue;
			memcpy(cur, prev, prev_len);
			len = prev_len;
		} else {
			if (n >= STUN_HEADER_LEN)
				memcpy(tidbuf, d + 8, STUN_TID_LEN);
			tid = op & 4 ? recent_tid((flags >> 4) & 3) : tidbuf;
			if (keysel == 0) {
				memcpy(cur, d, n);
				len = n;
				if ((op & 4) && n >= STUN_HEADER_LEN)
					memcpy(cur + 8, tid, STUN_TID_LEN);
			} else {
				const uint8_t *k = keysel == 1 ? (st.have_sk ? st.cur_sk : bob_key)
						   : keysel == 2
						       ? st.pk.k[(flags & 15) % st.pk.n]
						       : (st.have_lt ? st.cur_lt : bob_key);

				len = close_under(d, n, tid, k, cur, sizeof(cur));
			}
		}
		deliver(src, cur, len, (op & 0x20) != 0);
		memcpy(prev, cur, len);
		prev_len = len;
	}
	/* Let every retransmission and timer fire once more, still under the oracle. */
	st.now += 60000;
	pump();
	ep_free(st.ep);
	/* Leave nothing queued for the next input. */
	for (int i = 0; i < SRC_N; i++)
		while (recv(env.fd[i], junk, sizeof(junk), MSG_DONTWAIT) >= 0)
			;
	capture();
	return 0;
}
