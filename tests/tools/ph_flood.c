// SPDX-License-Identifier: MIT
/*
 * ph_flood: a bounded, hostile load generator for the lab tests (state exhaustion,
 * brute force), built on the project's own codec so every request is well formed
 * and reaches the code paths that keep state.
 *
 *   ph_flood --server IP:PORT [--bind IP] [--count N] [--seconds S] [--rate PPS] MODE
 *
 * MODE:
 *   login-random        LOGINs with credentials for random user names and random
 *                       keys, carrying a nonce the server gave this socket: each
 *                       one costs the server a store look-up and an HMAC
 *   half                LOGIN challenges only (no credentials), never followed up
 *   keepalive [IDS]     Binding requests with a SESSION attribute: random ids and
 *                       tokens, or (IDS: comma-separated session ids) those ids with
 *                       random tokens
 *   guess USER PASSWORD one full login per --count (challenge, then credentials),
 *                       waiting for each answer; one line per attempt
 *   binding             plain Binding requests (RFC 8489), no access attributes
 *
 * The flood stops at --count requests (default 10000) or --seconds (default 5),
 * whichever comes first; --rate caps requests per second (default: as fast as the
 * socket takes them).  Last line: "sent=N answered=N elapsed=S codes: K=N ...",
 * where K is "ok" for a success response or the STUN error code (every answer counts,
 * challenges included), and "none" counts logins left unanswered (guess mode).  Exit status 0, or 1
 * on a setup failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "addr.h"
#include "stun.h"

#define CODES 700 /* STUN error codes are 300..699; 0 stands for success */

struct flood {
	int fd;
	struct sockaddr_storage srv;
	uint64_t count, sent, answered, none;
	double seconds, rate;
	uint64_t codes[CODES];
	/* From the last challenge: what a credentialed LOGIN must echo. */
	char realm[128], nonce[128];
	size_t realm_len, nonce_len;
	uint8_t algs[64];
	size_t algs_len;
	/* guess mode: the request whose answer counts (retransmissions share its tid). */
	uint8_t want_tid[STUN_TID_LEN];
	int want_code; /* -2 until it is answered */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rnd(void *p, size_t n)
{
	if (getrandom(p, n, 0) != (ssize_t)n) {
		perror("getrandom");
		exit(1);
	}
}

/* Tally one answer; returns its code (0 success, -1 not a STUN answer) and keeps a challenge. */
static int account(struct flood *f, const uint8_t *buf, size_t len)
{
	struct stun_msg m;
	const char *s;
	const uint8_t *v;
	uint16_t vlen;
	size_t n;
	int code;

	if (stun_msg_parse(&m, buf, len))
		return -1;
	f->answered++;
	if (stun_type_class(m.type) == STUN_CLASS_SUCCESS) {
		code = 0;
	} else if (stun_type_class(m.type) != STUN_CLASS_ERROR ||
		   stun_msg_get_error(&m, &code, NULL, NULL) || code <= 0 || code >= CODES) {
		return -1;
	}
	f->codes[code]++;
	if (!memcmp(m.tid, f->want_tid, STUN_TID_LEN))
		f->want_code = code;
	if (!code)
		return 0;
	if (!stun_msg_get_string(&m, STUN_ATTR_NONCE, &s, &n) && n < sizeof(f->nonce)) {
		memcpy(f->nonce, s, n);
		f->nonce_len = n;
	}
	if (!stun_msg_get_string(&m, STUN_ATTR_REALM, &s, &n) && n < sizeof(f->realm)) {
		memcpy(f->realm, s, n);
		f->realm_len = n;
	}
	if (!stun_msg_attr(&m, STUN_ATTR_PASSWORD_ALGORITHMS, &v, &vlen) &&
	    vlen <= sizeof(f->algs)) {
		memcpy(f->algs, v, vlen);
		f->algs_len = vlen;
	}
	return code;
}

/* Read every answer already queued (or, with @wait_ms, the first to come). */
static int drain(struct flood *f, int wait_ms)
{
	uint8_t buf[2048];
	struct pollfd p = {.fd = f->fd, .events = POLLIN};
	int last = -2;
	ssize_t n;

	if (wait_ms && poll(&p, 1, wait_ms) <= 0)
		return -2;
	while ((n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		last = account(f, buf, (size_t)n);
	return last;
}

static int build_challenge(uint8_t *out, size_t cap)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];

	rnd(tid, sizeof(tid));
	stun_build_init(&b, out, cap, access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), tid);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

static int build_login(struct flood *f, const char *user, const uint8_t *key, uint8_t *out,
		       size_t cap)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];

	rnd(tid, sizeof(tid));
	memcpy(f->want_tid, tid, sizeof(tid));
	f->want_code = -2;
	stun_build_init(&b, out, cap, access_type(PH_METHOD_LOGIN, STUN_CLASS_REQUEST), tid);
	stun_build_add_string(&b, STUN_ATTR_USERNAME, user, strlen(user));
	stun_build_add_string(&b, STUN_ATTR_REALM, f->realm, f->realm_len);
	stun_build_add_string(&b, STUN_ATTR_NONCE, f->nonce, f->nonce_len);
	stun_build_add(&b, STUN_ATTR_PASSWORD_ALGORITHMS, f->algs, f->algs_len);
	stun_build_add_password_algorithm(&b, STUN_PASSWORD_ALG_SHA256);
	access_add_nat(&b, PH_MAP_NONE, PH_FILTER_NONE);
	return access_msg_finish(&b, key, 32);
}

static int build_binding(uint8_t *out, size_t cap)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN];

	rnd(tid, sizeof(tid));
	stun_build_init(&b, out, cap, STUN_BINDING_REQUEST, tid);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

static int build_keepalive(uint32_t id, uint8_t *out, size_t cap)
{
	struct stun_builder b;
	uint8_t tid[STUN_TID_LEN], token[PH_TOKEN_LEN];

	rnd(tid, sizeof(tid));
	rnd(token, sizeof(token));
	stun_build_init(&b, out, cap, STUN_BINDING_REQUEST, tid);
	access_add_session(&b, id, token);
	stun_build_fingerprint(&b);
	return stun_build_finish(&b);
}

static int send_msg(struct flood *f, const uint8_t *buf, int len)
{
	if (len < 0) {
		fprintf(stderr, "ph_flood: cannot build a request: %s\n", stun_strerror(len));
		return len;
	}
	/* A full socket buffer is load shedding on our side: count only what left. */
	if (sendto(f->fd, buf, (size_t)len, 0, (const struct sockaddr *)&f->srv,
		   (socklen_t)addr_len((const struct sockaddr *)&f->srv)) == len)
		f->sent++;
	return 0;
}

/* A fresh nonce for this socket: one challenge, retried. */
static int get_challenge(struct flood *f)
{
	uint8_t buf[512];

	for (int i = 0; i < 10; i++) {
		f->nonce_len = 0;
		if (send_msg(f, buf, build_challenge(buf, sizeof(buf))))
			return -1;
		for (int k = 0; k < 4 && !f->nonce_len; k++)
			drain(f, 50);
		if (f->nonce_len && f->realm_len && f->algs_len)
			return 0;
	}
	fprintf(stderr, "ph_flood: no challenge from the server\n");
	return -1;
}

/* One full login (guess mode): the code of the final answer, or -2 for none. */
static int guess(struct flood *f, const char *user, const char *pw)
{
	uint8_t buf[1024], key[STUN_KEY_MAX];
	int len;

	if (get_challenge(f))
		return -2;
	if (stun_long_term_key(STUN_PASSWORD_ALG_SHA256, user, strlen(user), f->realm, f->realm_len,
			       pw, strlen(pw), key) != 32)
		return -2;
	len = build_login(f, user, key, buf, sizeof(buf));
	/* Retransmit the same request: the server answers a repeat from the cache. */
	for (int t = 0; t < 5 && f->want_code == -2; t++) {
		if (send_msg(f, buf, len))
			return -2;
		for (double end = now_s() + 0.3; f->want_code == -2 && now_s() < end;)
			drain(f, 50);
	}
	if (f->want_code == -2)
		f->none++;
	return f->want_code;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ph_flood --server IP:PORT [--bind IP] [--count N] [--seconds S] "
		"[--rate PPS] login-random|half|keepalive [IDS]|guess USER PASSWORD|binding\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct flood f = {.fd = -1, .count = 10000, .seconds = 5};
	struct sockaddr_storage bind_to = {.ss_family = AF_UNSPEC};
	uint32_t ids[64];
	size_t n_ids = 0;
	const char *mode;
	uint8_t buf[1024], key[32];
	char user[40];
	double t0, el;
	int a, len;

	for (a = 1; a < argc && argv[a][0] == '-'; a += 2) {
		if (a + 1 >= argc)
			usage();
		if (!strcmp(argv[a], "--server")) {
			if (addr_parse(argv[a + 1], 3478, &f.srv))
				usage();
		} else if (!strcmp(argv[a], "--bind")) {
			if (addr_parse(argv[a + 1], 0, &bind_to))
				usage();
		} else if (!strcmp(argv[a], "--count")) {
			f.count = strtoull(argv[a + 1], NULL, 10);
		} else if (!strcmp(argv[a], "--seconds")) {
			f.seconds = atof(argv[a + 1]);
		} else if (!strcmp(argv[a], "--rate")) {
			f.rate = atof(argv[a + 1]);
		} else {
			usage();
		}
	}
	if (a >= argc || f.srv.ss_family == AF_UNSPEC)
		usage();
	mode = argv[a++];
	f.fd = socket(f.srv.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f.fd < 0 || (bind_to.ss_family != AF_UNSPEC &&
			 bind(f.fd, (struct sockaddr *)&bind_to,
			      (socklen_t)addr_len((struct sockaddr *)&bind_to)))) {
		perror("ph_flood: socket");
		return 1;
	}
	if (!strcmp(mode, "keepalive") && a < argc) {
		for (char *s = strtok(argv[a], ","); s && n_ids < 64; s = strtok(NULL, ","))
			ids[n_ids++] = (uint32_t)strtoul(s, NULL, 10);
	} else if (!strcmp(mode, "guess") && a + 2 != argc) {
		usage();
	} else if (strcmp(mode, "login-random") && strcmp(mode, "half") &&
		   strcmp(mode, "keepalive") && strcmp(mode, "guess") && strcmp(mode, "binding")) {
		usage();
	}
	if (!strcmp(mode, "login-random") && get_challenge(&f))
		return 1;
	t0 = now_s();
	for (uint64_t i = 0; i < f.count; i++) {
		el = now_s() - t0;
		if (el >= f.seconds)
			break;
		if (f.rate > 0 && (double)i > el * f.rate)
			usleep((useconds_t)(((double)i / f.rate - el) * 1e6));
		if (!strcmp(mode, "guess")) {
			int code = guess(&f, argv[a], argv[a + 1]);

			if (code == 0)
				printf("guess %llu: ok\n", (unsigned long long)i + 1);
			else if (code > 0)
				printf("guess %llu: error %d\n", (unsigned long long)i + 1, code);
			else
				printf("guess %llu: none\n", (unsigned long long)i + 1);
			fflush(stdout);
			continue;
		}
		if (!strcmp(mode, "login-random")) {
			uint64_t r;

			rnd(&r, sizeof(r));
			snprintf(user, sizeof(user), "r%016llx", (unsigned long long)r);
			rnd(key, sizeof(key));
			len = build_login(&f, user, key, buf, sizeof(buf));
		} else if (!strcmp(mode, "half")) {
			len = build_challenge(buf, sizeof(buf));
		} else if (!strcmp(mode, "binding")) {
			len = build_binding(buf, sizeof(buf));
		} else {
			uint32_t id;

			rnd(&id, sizeof(id));
			if (n_ids)
				id = ids[i % n_ids];
			len = build_keepalive(id ? id : 1, buf, sizeof(buf));
		}
		if (send_msg(&f, buf, len))
			return 1;
		drain(&f, 0);
	}
	/* The stragglers: answers to the last requests. */
	while (strcmp(mode, "guess") && drain(&f, 300) != -2)
		;
	printf("sent=%llu answered=%llu elapsed=%.2f codes:", (unsigned long long)f.sent,
	       (unsigned long long)f.answered, now_s() - t0);
	for (int c = 0; c < CODES; c++) {
		if (!f.codes[c])
			continue;
		if (c)
			printf(" %d=%llu", c, (unsigned long long)f.codes[c]);
		else
			printf(" ok=%llu", (unsigned long long)f.codes[c]);
	}
	if (f.none)
		printf(" none=%llu", (unsigned long long)f.none);
	printf("\n");
	close(f.fd);
	return 0;
}
