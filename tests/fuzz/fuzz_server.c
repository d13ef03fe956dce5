// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the access server core (server/server.c and the modules
 * it uses) over a real SQLite store, driven through srv_input()/srv_tick()
 * with an I/O layer that records every send.
 *
 * The store is a temp file created once per process (in $TMPDIR, else
 * /dev/shm) holding alice and bob, who may contact each other.  Each input
 * is a fresh server (srv_init .. srv_fini) fed a series of datagrams from
 * four source addresses onto five sockets (an RFC 5780 quad and an IPv6
 * wildcard), with the clock advancing between them; see fuzz_util.h for
 * the format.  A record may ask for fix-ups, so the fuzzer reaches the code
 * behind authentication: the harness rebuilds the message with the nonce
 * the server last sent to that source, the SESSION of alice's or bob's
 * live session, the tid of the server's last request to that source (for
 * acks), and re-signs it with the matching key.  getrandom() and
 * RAND_bytes() are replaced by a generator reset for every input, so an
 * input replays exactly (session ids, tokens, nonces, PUNCH tids).
 *
 * On the [::] socket IPv4 sources arrive IPv4-mapped, as the kernel hands
 * them over; the properties count a mapped address as its IPv4 address.
 *
 * Properties, checked after every srv_input/srv_tick:
 * - no reflection: every datagram goes to the source of the datagram being
 *   handled or to the observed address of a session live before or after
 *   the call, and only to addresses that sent something in this input; a
 *   timer only sends to sessions' observed addresses;
 * - an unauthenticated datagram (no valid token, no integrity under any key
 *   the endpoints hold) draws at most one datagram, to its source, of at
 *   most UNAUTH_MAX bytes;
 * - a request gets at most one response (same tid, success or error class);
 * - every datagram sent parses as STUN and fits PH_DATAGRAM_MAX;
 * - every session's observed address is a source of this input, at most
 *   max_sessions sessions and one per user;
 * - the store's sessions are exactly the live ones (ids, users, observed
 *   addresses) whenever no store call failed;
 * - with a kernel session table (FUZZ_SRV_O_KMAP: a BPF array the size of
 *   max_sessions, when run as root), every filled slot is an answered
 *   session at its slot, with its token and observed address, and every
 *   answered session has its slot.
 * The largest unauthenticated answer seen is printed at exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "access.h"
#include "addr.h"
#include "fuzz_util.h"
#include "log.h"
#include "server/server.h"
#include "sessmap.h"
#include "stun.h"

FUZZ_SINK_DEFINE;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The 401 with REALM, NONCE, PASSWORD-ALGORITHMS and FINGERPRINT is the largest expected. */
#define UNAUTH_MAX 160
#define MAX_RECORDS 48
#define N_SRC 4
#define N_SOCK 5
#define MAX_SENT 512
#define BUF_CAP 2048

/* --- determinism: every random byte the server asks for comes from here -------------- */

static uint64_t rng;

static void rng_fill(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
		p[i] = (uint8_t)(z ^ (z >> 31));
	}
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	rng_fill(buf, len);
	return (ssize_t)len;
}

int RAND_bytes(unsigned char *buf, int num);
int RAND_bytes(unsigned char *buf, int num)
{
	if (num < 0)
		return 0;
	rng_fill(buf, (size_t)num);
	return 1;
}

/* --- the world ---------------------------------------------------------------------- */

static const char *const src_text[N_SRC] = {"198.18.1.1:5000", "198.18.2.1:6000",
					    "[2001:db8::7]:7000", "198.18.1.1:5001"};
static struct sockaddr_storage srcs[N_SRC];
static struct srv_sock socks[N_SOCK];
static struct sockaddr_storage local4m, local6; /* what the wildcard socket reports */
static struct sockaddr_storage mapped[N_SRC];	/* srcs as the [::] socket sees them */
static struct rfc5780 rfc;
static struct store *st;
static char dir[256];
static const char *const users[2] = {"alice", "bob"};
static uint8_t lt[2][32];
static size_t max_unauth, max_unauth_req;
static size_t ratio_resp = 0, ratio_req = 1; /* the largest answer / request ratio seen */
static bool trace; /* FUZZ_SERVER_TRACE=1: the core's counters after each input */
/* Kernel session tables for FUZZ_SRV_O_KMAP: BPF arrays of 1 and 16 slots (-1: not root). */
static int kfd[2] = {-1, -1};
static struct sessmap km;

static struct sockaddr_storage sa(const char *s)
{
	struct sockaddr_storage ss;

	if (addr_parse(s, 3478, &ss)) {
		fprintf(stderr, "bad address %s\n", s);
		exit(1);
	}
	return ss;
}

static const struct sockaddr *SA(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr *)ss;
}

static void logf_quiet(enum log_level level, const char *fmt, va_list ap)
{
	char line[512];

	/* Format anyway: a bad format argument is a finding too. */
	vsnprintf(line, sizeof(line), fmt, ap);
	fuzz_touch(line, strnlen(line, sizeof(line)));
}

static void cleanup(void)
{
	char path[300];

	store_close(st);
	st = NULL;
	for (const char *const *sfx = (const char *const[]){"", "-wal", "-shm", "-journal", NULL};
	     *sfx; sfx++) {
		snprintf(path, sizeof(path), "%s/store.db%s", dir, *sfx);
		unlink(path);
	}
	rmdir(dir);
	fprintf(stderr,
		"fuzz_server: largest unauthenticated answer %zu bytes (to a %zu-byte request); "
		"largest ratio %zu bytes to a %zu-byte request\n",
		max_unauth, max_unauth_req, ratio_resp, ratio_req);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct store_opts so = {.realm = FUZZ_SRV_REALM, .busy_timeout_ms = 100};
	const char *pw[2] = {FUZZ_SRV_PW_ALICE, FUZZ_SRV_PW_BOB};
	const char *tmp = getenv("TMPDIR");
	char path[300];

	trace = getenv("FUZZ_SERVER_TRACE") != NULL;
	log_set_hook(logf_quiet);
	log_set_level(LOG_DEBUG);
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof(dir), "%s/pinhole-fuzz-server-%d-XXXXXX", tmp, getpid());
	if (!mkdtemp(dir)) {
		perror(dir);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/store.db", dir);
	st = store_open(path, STORE_O_CREATE, &so);
	if (!st) {
		perror(path);
		exit(1);
	}
	atexit(cleanup);
	for (int u = 0; u < 2; u++) {
		if (store_user_add(st, users[u], pw[u], strlen(pw[u])) ||
		    stun_long_term_key(STUN_PASSWORD_ALG_SHA256, users[u], strlen(users[u]),
				       FUZZ_SRV_REALM, strlen(FUZZ_SRV_REALM), pw[u], strlen(pw[u]),
				       lt[u]) != 32) {
			fprintf(stderr, "cannot set up user %s\n", users[u]);
			exit(1);
		}
	}
	if (store_contact_allow(st, "alice", "bob") || store_contact_allow(st, "bob", "alice"))
		exit(1);
	for (int i = 0; i < N_SRC; i++)
		srcs[i] = sa(src_text[i]);
	socks[0].addr = sa("198.18.0.1:3478");
	socks[1].addr = sa("[::]:3478");
	socks[1].wildcard = true;
	socks[2].addr = sa("198.18.0.1:3479");
	socks[3].addr = sa("198.18.0.2:3478");
	socks[4].addr = sa("198.18.0.2:3479");
	local4m = sa("[::ffff:198.18.0.1]:3478");
	for (int i = 0; i < N_SRC; i++) {
		char text[64];

		snprintf(text, sizeof(text), "[::ffff:%.*s", (int)strcspn(src_text[i], ":"),
			 src_text[i]);
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "]%s",
			 strchr(src_text[i], ':'));
		mapped[i] = srcs[i].ss_family == AF_INET6 ? srcs[i] : sa(text);
	}
	local6 = sa("[2001:db8::1]:3478");
	/*
	 * BPF arrays shaped like the program's "sessions" map (mmapable, as
	 * sessmap reads it): no program needed, but bpf() needs privileges.
	 */
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_map_create_opts, mo, .map_flags = BPF_F_MMAPABLE);
		int err;

		kfd[i] = bpf_map_create(BPF_MAP_TYPE_ARRAY, i ? "fz_sess16" : "fz_sess1", 4,
					sizeof(struct ph_session), i ? 16 : 1, &mo);
		err = kfd[i] < 0 ? -errno : sessmap_init(&km, kfd[i], -1, NULL, NULL);
		sessmap_fini(&km);
		if (err) {
			fprintf(stderr, "fuzz_server: no kernel session table (%s): not fuzzed\n",
				strerror(-err));
			kfd[0] = kfd[1] = -1;
			break;
		}
	}
	if (rfc5780_init(&rfc, &socks[0].addr, &socks[4].addr))
		exit(1);
	rfc.sock[0][0] = 0;
	rfc.sock[0][1] = 2;
	rfc.sock[1][0] = 3;
	rfc.sock[1][1] = 4;
	return 0;
}

/* --- I/O: record every send ----------------------------------------------------------- */

struct sent {
	struct sockaddr_storage to;
	size_t len;
	unsigned int sock;
	bool parsed;
	uint16_t type;
	uint8_t tid[STUN_TID_LEN];
};

static struct srv s;
static struct sent sent[MAX_SENT];
static size_t n_sent;
static uint8_t out_buf[BUF_CAP];
/* What the endpoints would know: per source, the last nonce and server request tid. */
static char nonce[N_SRC][NONCE_LEN + 1];
static bool have_nonce[N_SRC];
static uint8_t req_tid[N_SRC][STUN_TID_LEN];
static bool have_req_tid[N_SRC];
static unsigned int seen_src; /* bit i: srcs[i] sent something in this input */

/* @a with an IPv4-mapped IPv6 address (what a [::] socket reports for IPv4) as IPv4. */
static void unmap(const struct sockaddr *a, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	struct sockaddr_in *o4 = (struct sockaddr_in *)out;

	memset(out, 0, sizeof(*out));
	if (a->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
		o4->sin_family = AF_INET;
		o4->sin_port = a6->sin6_port;
		memcpy(&o4->sin_addr, &a6->sin6_addr.s6_addr[12], 4);
		return;
	}
	memcpy(out, a, addr_len(a));
}

/* The same transport address, counting an IPv4-mapped one as its IPv4 address. */
static bool same(const struct sockaddr *a, const struct sockaddr *b)
{
	struct sockaddr_storage x, y;

	unmap(a, &x);
	unmap(b, &y);
	return !addr_cmp(SA(&x), SA(&y));
}

static int src_index(const struct sockaddr *a)
{
	for (int i = 0; i < N_SRC; i++)
		if (same(a, SA(&srcs[i])))
			return i;
	return -1;
}

static uint8_t *io_buf(void *ctx, size_t *cap)
{
	*cap = sizeof(out_buf);
	return out_buf;
}

static int io_send(void *ctx, unsigned int sock, size_t len, const struct sockaddr *to,
		   const struct sockaddr *from)
{
	struct sent *r;
	struct stun_msg m;
	const char *n;
	size_t nlen;
	int i;

	FUZZ_CHECK(n_sent < MAX_SENT);
	FUZZ_CHECK(to && (to->sa_family == AF_INET || to->sa_family == AF_INET6));
	FUZZ_CHECK(sock < N_SOCK);
	FUZZ_CHECK(len > 0 && len <= PH_DATAGRAM_MAX);
	r = &sent[n_sent++];
	memset(r, 0, sizeof(*r));
	memcpy(&r->to, to, addr_len(to));
	r->len = len;
	r->sock = sock;
	r->parsed = !stun_msg_parse(&m, out_buf, len);
	FUZZ_CHECK(r->parsed);
	r->type = m.type;
	memcpy(r->tid, m.tid, STUN_TID_LEN);
	i = src_index(to);
	if (i < 0)
		return 0;
	if (!stun_msg_get_string(&m, STUN_ATTR_NONCE, &n, &nlen) && nlen == NONCE_LEN) {
		memcpy(nonce[i], n, nlen);
		nonce[i][nlen] = '\0';
		have_nonce[i] = true;
	}
	if (stun_type_class(m.type) == STUN_CLASS_REQUEST) {
		memcpy(req_tid[i], m.tid, STUN_TID_LEN);
		have_req_tid[i] = true;
	}
	return 0;
}

static const struct srv_io io = {.buf = io_buf, .send = io_send};

/* --- fix-ups: what a real endpoint would have put in ------------------------------------ */

static struct session *user_session(int user)
{
	return sessions_find_user(&s.sessions, users[user]);
}

/*
 * Rebuild the message in @in (walked leniently: a lying length just ends
 * the walk) into @out with the real nonce, session and tid, closed with
 * the key it would be signed with.  Returns the new length, or 0 to send
 * @in unchanged.
 */
static size_t fixup(const uint8_t *in, size_t len, int src, int user, uint8_t *out, size_t cap)
{
	struct session *a = user_session(user);
	bool mi256 = false, fp = false;
	uint8_t tid[STUN_TID_LEN], sess[20];
	struct stun_builder b;
	uint16_t type, cls;
	size_t off = STUN_HEADER_LEN;
	const uint8_t *key;
	int n;

	if (len < STUN_HEADER_LEN)
		return 0;
	type = (uint16_t)(in[0] << 8 | in[1]);
	cls = stun_type_class(type);
	memcpy(tid, in + 8, STUN_TID_LEN);
	if ((cls == STUN_CLASS_SUCCESS || cls == STUN_CLASS_ERROR) && have_req_tid[src])
		memcpy(tid, req_tid[src], STUN_TID_LEN);
	if (stun_build_init(&b, out, cap, type & 0x3FFF, tid))
		return 0;
	while (off + 4 <= len) {
		uint16_t at = (uint16_t)(in[off] << 8 | in[off + 1]);
		uint16_t alen = (uint16_t)(in[off + 2] << 8 | in[off + 3]);
		const uint8_t *v = in + off + 4;

		if (off + 4 + alen > len)
			break;
		off += 4 + ((alen + 3u) & ~3u);
		if (at == STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
			mi256 = true;
			continue;
		}
		if (at == STUN_ATTR_FINGERPRINT) {
			fp = true;
			continue;
		}
		if (at == STUN_ATTR_MESSAGE_INTEGRITY)
			continue;
		if (at == STUN_ATTR_NONCE && have_nonce[src]) {
			v = (const uint8_t *)nonce[src];
			alen = NONCE_LEN;
		} else if (at == PH_ATTR_SESSION && a) {
			sess[0] = (uint8_t)(a->id >> 24);
			sess[1] = (uint8_t)(a->id >> 16);
			sess[2] = (uint8_t)(a->id >> 8);
			sess[3] = (uint8_t)a->id;
			memcpy(sess + 4, a->token, PH_TOKEN_LEN);
			v = sess;
			alen = sizeof(sess);
		}
		stun_build_add(&b, at, v, alen);
	}
	if (mi256) {
		bool login = stun_type_method(type) == PH_METHOD_LOGIN && cls == STUN_CLASS_REQUEST;

		key = login || !a ? lt[user] : a->key;
		n = access_msg_finish(&b, key, 32);
	} else {
		if (fp)
			stun_build_fingerprint(&b);
		n = stun_build_finish(&b);
	}
	return n > 0 ? (size_t)n : 0;
}

/* --- oracles ----------------------------------------------------------------------------- */

struct snap {
	struct sockaddr_storage obs[64];
	size_t n;
};

static void snapshot(struct snap *sn)
{
	struct session *a;
	uint32_t i = 0;

	sn->n = 0;
	while ((a = sessions_next(&s.sessions, &i)) && sn->n < 64)
		session_addr_get(&a->observed, &sn->obs[sn->n++]);
}

static bool in_snap(const struct snap *sn, const struct sockaddr *a)
{
	for (size_t i = 0; i < sn->n; i++)
		if (same(a, SA(&sn->obs[i])))
			return true;
	return false;
}

/* Would an endpoint's key or token make this message authentic? */
static bool authenticated(const uint8_t *buf, size_t len)
{
	uint8_t token[PH_TOKEN_LEN];
	struct stun_msg m;
	struct session *a;
	uint32_t id, i = 0;

	if (stun_msg_parse(&m, buf, len))
		return false;
	if (!access_get_session(&m, &id, token)) {
		a = sessions_find(&s.sessions, id);
		if (a && !memcmp(a->token, token, PH_TOKEN_LEN))
			return true;
	}
	if (!stun_msg_has(&m, STUN_ATTR_MESSAGE_INTEGRITY_SHA256))
		return false;
	for (int u = 0; u < 2; u++)
		if (!stun_msg_check_integrity_sha256(&m, lt[u], 32))
			return true;
	while ((a = sessions_next(&s.sessions, &i)))
		if (!stun_msg_check_integrity_sha256(&m, a->key, sizeof(a->key)))
			return true;
	return false;
}

struct store_cmp {
	unsigned int n;
	bool ok;
};

static int store_cb(const struct store_session *ss, void *ctx)
{
	struct store_cmp *c = ctx;
	struct session *a = ss->id <= UINT32_MAX ? sessions_find(&s.sessions, (uint32_t)ss->id)
						  : NULL;

	c->n++;
	if (!a || strcmp(a->user, ss->user) || !same(&a->observed.sa, SA(&ss->observed)))
		c->ok = false;
	return 0;
}

/*
 * The kernel's table agrees with the core's: every filled slot is a live,
 * answered session with its token at its observed address, and every
 * answered session has its slot (unless a kernel write failed).
 */
static void check_kmap(void)
{
	struct sockaddr_storage ka;
	struct ph_session v;
	struct session *a;
	uint32_t i = 0;

	for (uint32_t slot = 0; slot < km.slots; slot++) {
		FUZZ_CHECK(bpf_map_lookup_elem(km.fd, &slot, &v) == 0);
		if (!v.id)
			continue;
		a = sessions_find(&s.sessions, v.id);
		FUZZ_CHECK((v.id & PH_SESSION_SLOT_MASK) == slot);
		FUZZ_CHECK(a && a->announced);
		FUZZ_CHECK(!memcmp(v.token, a->token, PH_TOKEN_LEN));
		sessmap_addr(&v, &ka);
		FUZZ_CHECK(same(SA(&ka), &a->observed.sa));
	}
	if (s.st.kernel_errors)
		return;
	while ((a = sessions_next(&s.sessions, &i))) {
		if (!a->announced)
			continue;
		FUZZ_CHECK(sessmap_get(&km, a->id, &v) == 0 && v.id == a->id);
	}
}

static void check_state(uint64_t errors_before)
{
	struct store_cmp c = {0, true};
	struct session *a;
	uint32_t i = 0, n = 0;

	while ((a = sessions_next(&s.sessions, &i))) {
		int k = src_index(&a->observed.sa);

		n++;
		FUZZ_CHECK(k >= 0 && (seen_src & (1u << k)));
		FUZZ_CHECK(sessions_find_user(&s.sessions, a->user) == a);
		FUZZ_CHECK(sessions_find(&s.sessions, a->id) == a);
	}
	FUZZ_CHECK(n == s.sessions.n && n <= s.o.max_sessions);
	if (s.o.kmap)
		check_kmap();
	if (s.st.errors != errors_before)
		return;
	FUZZ_CHECK(store_session_list(st, NULL, store_cb, &c) == 0);
	FUZZ_CHECK(c.ok && c.n == n);
}

/*
 * The sends of one call: @src is the datagram's source (NULL for a timer),
 * @req its parsed header when it was a STUN request.
 */
static void check_sends(const struct sockaddr *src, const struct snap *before,
			const struct snap *after, bool unauth, const uint8_t *req, size_t req_len)
{
	size_t to_src = 0, answers = 0;
	bool request = false;

	if (req && req_len >= STUN_HEADER_LEN && !(req[0] & 0xC0))
		request = stun_type_class((uint16_t)(req[0] << 8 | req[1])) == STUN_CLASS_REQUEST;
	for (size_t i = 0; i < n_sent; i++) {
		const struct sent *r = &sent[i];
		const struct sockaddr *to = SA(&r->to);
		int k = src_index(to);
		bool mine = src && same(to, src);

		FUZZ_CHECK(k >= 0 && (seen_src & (1u << k)));
		FUZZ_CHECK(mine || in_snap(before, to) || in_snap(after, to));
		if (mine) {
			to_src++;
			if (request && !memcmp(r->tid, req + 8, STUN_TID_LEN) &&
			    stun_type_class(r->type) != STUN_CLASS_REQUEST &&
			    stun_type_class(r->type) != STUN_CLASS_INDICATION)
				answers++;
		}
		if (unauth) {
			FUZZ_CHECK(mine);
			FUZZ_CHECK(r->len <= UNAUTH_MAX);
			if (r->len > max_unauth) {
				max_unauth = r->len;
				max_unauth_req = req_len;
			}
			if (req_len && r->len * ratio_req > ratio_resp * req_len) {
				ratio_resp = r->len;
				ratio_req = req_len;
			}
		}
	}
	FUZZ_CHECK(answers <= 1);
	if (unauth)
		FUZZ_CHECK(n_sent <= 1);
}

/* --- one input --------------------------------------------------------------------------- */

static void tick(uint64_t now)
{
	struct snap before, after;
	uint64_t errors = s.st.errors;

	n_sent = 0;
	snapshot(&before);
	srv_tick(&s, &io, now);
	snapshot(&after);
	check_sends(NULL, &before, &after, false, NULL, 0);
	check_state(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t fixed[BUF_CAP];
	struct srv_opts o = {
	    .store = st,
	    .socks = socks,
	    .n_socks = N_SOCK,
	    .alt = &rfc,
	    .punch = true,
	    .punch_wait_ms = 300,
	    .keepalive_s = 20,
	    .login_rate = 0,
	    .max_sessions = 16,
	    .nonce_lifetime_ms = NONCE_DEFAULT_LIFETIME_MS,
	};
	uint64_t now = 1000000;
	size_t off = 1;
	int records = 0;

	if (!size)
		return 0;
	if (data[0] & FUZZ_SRV_O_NO_PUNCH)
		o.punch = false;
	if (data[0] & FUZZ_SRV_O_NO_WAIT)
		o.punch_wait_ms = 0;
	if (data[0] & FUZZ_SRV_O_RATE)
		o.login_rate = 2;
	if (data[0] & FUZZ_SRV_O_ONE_SESSION)
		o.max_sessions = 1;
	if (data[0] & FUZZ_SRV_O_FAST_KA)
		o.keepalive_s = 1;
	if ((data[0] & FUZZ_SRV_O_KMAP) && kfd[0] >= 0) {
		int fd = kfd[o.max_sessions == 1 ? 0 : 1];

		FUZZ_CHECK(sessmap_init(&km, fd, -1, NULL, NULL) == 0);
		o.kmap = &km;
	}
	rng = 0x5EED;
	memset(have_nonce, 0, sizeof(have_nonce));
	memset(have_req_tid, 0, sizeof(have_req_tid));
	seen_src = 0;
	FUZZ_CHECK(srv_init(&s, &o) == 0);

	while (off + 4 <= size && records++ < MAX_RECORDS) {
		uint8_t flags = data[off], dt = data[off + 1];
		size_t len = (size_t)data[off + 2] << 8 | data[off + 3];
		int src = flags & FUZZ_SRV_F_SRC, user = !!(flags & FUZZ_SRV_F_BOB);
		unsigned int sock = ((flags & FUZZ_SRV_F_SOCK) >> 4) % N_SOCK;
		const uint8_t *dg;
		struct srv_dgram d;
		struct snap before, after;
		uint64_t errors;
		bool unauth;
		int ret;

		off += 4;
		if (len > size - off)
			len = size - off;
		dg = data + off;
		off += len;
		now += (uint64_t)dt * dt * 4;
		tick(now);
		if (flags & FUZZ_SRV_F_TICK)
			continue;
		if (flags & FUZZ_SRV_F_FIXUP) {
			size_t n = fixup(dg, len, src, user, fixed, sizeof(fixed));

			if (n) {
				dg = fixed;
				len = n;
			}
		}
		seen_src |= 1u << src;
		unauth = !authenticated(dg, len);
		memset(&d, 0, sizeof(d));
		d.data = dg;
		d.len = len;
		d.src = SA(&srcs[src]);
		d.sock = sock;
		d.dst = SA(&socks[sock].addr);
		if (sock == 1) {
			/* A [::] socket sees IPv4 peers as IPv4-mapped, itself too. */
			d.src = SA(&mapped[src]);
			d.dst = SA(srcs[src].ss_family == AF_INET6 ? &local6 : &local4m);
		}
		n_sent = 0;
		errors = s.st.errors;
		snapshot(&before);
		ret = srv_input(&s, &io, &d, now);
		FUZZ_CHECK(ret >= 0 && ret <= BINDING_OUTCOME_MAX);
		snapshot(&after);
		check_sends(d.src, &before, &after, unauth, dg, len);
		check_state(errors);
	}
	/* Let the timers run out: punch waits, retransmissions, then the sweep. */
	tick(now + 1000);
	tick(now + 200000);
	if (trace)
		fprintf(stderr,
			"records %d: challenges %lu logins %lu refused %lu retransmits %lu "
			"replays %lu rate-limited %lu fetches %lu keepalives %lu unknown-ka %lu "
			"logouts %lu timeouts %lu moved %lu punches %lu punch-acks %lu "
			"presence %lu "
			"presence-acks %lu malformed %lu integrity %lu unmatched %lu errors %lu\n",
			records, s.st.challenges, s.st.logins, s.st.login_refused,
			s.st.login_retransmits, s.st.replays, s.st.rate_limited, s.st.fetches,
			s.st.keepalives, s.st.keepalive_unknown, s.st.logouts, s.st.timeouts,
			s.st.moved, s.st.punches, s.st.punch_acks, s.st.presence,
			s.st.presence_acks,
			s.st.dropped_malformed, s.st.dropped_integrity, s.st.dropped_unmatched,
			s.st.errors);
	srv_fini(&s);
	if (o.kmap) {
		struct ph_session zero = {0};

		/* The next input starts from an empty table, as a fresh server would. */
		for (uint32_t slot = 0; slot < km.slots; slot++)
			FUZZ_CHECK(bpf_map_update_elem(km.fd, &slot, &zero, BPF_ANY) == 0);
		sessmap_fini(&km);
	}
	return 0;
}
