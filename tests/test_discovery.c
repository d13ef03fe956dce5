// SPDX-License-Identifier: MIT
/*
 * RFC 5780 discovery (endpoint/discovery.c): the classification table as
 * a pure function, then the state machine live on loopback against a fake
 * RFC 5780 responder with four sockets (127.0.0.1 and 127.0.0.2, two
 * ports).  The responder simulates NATs by what it reports (the mapped
 * address per receiving socket) and by which CHANGE-REQUEST answers it
 * lets through (the filter).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "endpoint/discovery.h"
#include "endpoint/endpoint.h"
#include "stun.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	((struct sockaddr_in *)&ss)->sin_family = AF_INET;
	((struct sockaddr_in *)&ss)->sin_port = htons(port);
	inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	return ss;
}

/* --- the pure classification ------------------------------------------- */

struct classify_case {
	const char *name;
	bool test1, other, map2, map3, filt2, filt3;
	uint16_t p1, p2, p3; /* reflexive ports (local port is 1000) */
	const char *ip1;     /* reflexive IP of test I (local is 10.0.0.1) */
	enum ph_nat_mapping map;
	enum ph_nat_filtering filt;
};

static void test_classify_table(void **state)
{
	static const struct classify_case cases[] = {
		{ "no answer", false, false, false, false, false, false, 0, 0, 0, "198.18.0.9",
		  PH_MAP_UNKNOWN, PH_FILTER_UNKNOWN },
		{ "no other-address", true, false, false, false, false, false, 5000, 0, 0,
		  "198.18.0.9", PH_MAP_UNKNOWN, PH_FILTER_UNKNOWN },
		{ "no nat, open", true, true, false, false, true, false, 1000, 0, 0, "10.0.0.1",
		  PH_MAP_NONE, PH_FILTER_NONE },
		{ "no nat, firewall adf", true, true, false, false, false, true, 1000, 0, 0,
		  "10.0.0.1", PH_MAP_NONE, PH_FILTER_ADDRESS_DEPENDENT },
		{ "no nat, firewall apdf", true, true, false, false, false, false, 1000, 0, 0,
		  "10.0.0.1", PH_MAP_NONE, PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "same ip, other port is a nat", true, true, true, false, true, false, 1001,
		  1001, 0, "10.0.0.1", PH_MAP_ENDPOINT_INDEPENDENT,
		  PH_FILTER_ENDPOINT_INDEPENDENT },
		{ "eim eif", true, true, true, false, true, false, 5000, 5000, 0, "198.18.0.9",
		  PH_MAP_ENDPOINT_INDEPENDENT, PH_FILTER_ENDPOINT_INDEPENDENT },
		{ "eim adf", true, true, true, false, false, true, 5000, 5000, 0, "198.18.0.9",
		  PH_MAP_ENDPOINT_INDEPENDENT, PH_FILTER_ADDRESS_DEPENDENT },
		{ "eim apdf", true, true, true, false, false, false, 5000, 5000, 0, "198.18.0.9",
		  PH_MAP_ENDPOINT_INDEPENDENT, PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "adm apdf", true, true, true, true, false, false, 5000, 5001, 5001, "198.18.0.9",
		  PH_MAP_ADDRESS_DEPENDENT, PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "adm adf", true, true, true, true, false, true, 5000, 5001, 5001, "198.18.0.9",
		  PH_MAP_ADDRESS_DEPENDENT, PH_FILTER_ADDRESS_DEPENDENT },
		{ "apdm apdf", true, true, true, true, false, false, 5000, 5001, 5002,
		  "198.18.0.9", PH_MAP_ADDRESS_PORT_DEPENDENT, PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "apdm eif", true, true, true, true, true, false, 5000, 5001, 5002, "198.18.0.9",
		  PH_MAP_ADDRESS_PORT_DEPENDENT, PH_FILTER_ENDPOINT_INDEPENDENT },
		{ "mapping II lost", true, true, false, false, false, false, 5000, 0, 0,
		  "198.18.0.9", PH_MAP_UNKNOWN, PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "mapping III lost", true, true, true, false, true, false, 5000, 5001, 0,
		  "198.18.0.9", PH_MAP_UNKNOWN, PH_FILTER_ENDPOINT_INDEPENDENT },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct classify_case *c = &cases[i];
		struct disc_obs o = { 0 };
		enum ph_nat_mapping map;
		enum ph_nat_filtering filt;

		o.test1_ok = c->test1;
		o.has_other = c->other;
		o.local = v4("10.0.0.1", 1000);
		o.xma1 = v4(c->ip1, c->p1);
		o.map2_ok = c->map2;
		o.xma2 = v4(c->ip1, c->p2);
		o.map3_ok = c->map3;
		o.xma3 = v4(c->ip1, c->p3);
		o.filt2_ok = c->filt2;
		o.filt3_ok = c->filt3;
		disc_classify(&o, &map, &filt);
		if (map != c->map || filt != c->filt)
			fail_msg("%s: got %d/%d want %d/%d", c->name, map, filt, c->map, c->filt);
	}
}

/* --- the fake RFC 5780 responder ----------------------------------------- */

enum fake_map { FAKE_REAL, FAKE_EIM, FAKE_ADM, FAKE_APDM };

struct responder {
	int fd[4];			 /* index = ip_idx * 2 + port_idx */
	struct sockaddr_storage addr[4]; /* 127.0.0.1/127.0.0.2 x port0/port1 */
	enum fake_map map;
	bool allow_change_both, allow_change_port, send_other, silent;
	/* order check: datagrams received on the alternate IP before the last CHANGE-REQUEST */
	bool alt_seen;
	bool change_after_alt;
	unsigned int received;
};

static int bind_udp(struct sockaddr_storage *ss)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	socklen_t sl = sizeof(*ss);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)ss, sizeof(struct sockaddr_in)) ||
	    getsockname(fd, (struct sockaddr *)ss, &sl)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void responder_open(struct responder *r)
{
	memset(r, 0, sizeof(*r));
	for (int attempt = 0; attempt < 50; attempt++) {
		int ok = 1;

		r->addr[0] = v4("127.0.0.1", 0);
		r->fd[0] = bind_udp(&r->addr[0]);
		r->addr[1] = v4("127.0.0.1", 0);
		r->fd[1] = bind_udp(&r->addr[1]);
		assert_true(r->fd[0] >= 0 && r->fd[1] >= 0);
		/* The same two ports on the alternate IP (retry if someone holds them). */
		r->addr[2] = v4("127.0.0.2", addr_port((struct sockaddr *)&r->addr[0]));
		r->addr[3] = v4("127.0.0.2", addr_port((struct sockaddr *)&r->addr[1]));
		r->fd[2] = bind_udp(&r->addr[2]);
		r->fd[3] = bind_udp(&r->addr[3]);
		if (r->fd[2] < 0 || r->fd[3] < 0)
			ok = 0;
		if (ok)
			return;
		for (int i = 0; i < 4; i++)
			if (r->fd[i] >= 0)
				close(r->fd[i]);
	}
	fail_msg("cannot bind the responder's four sockets");
}

static void responder_close(struct responder *r)
{
	for (int i = 0; i < 4; i++)
		close(r->fd[i]);
}

static void responder_handle(struct responder *r, int idx)
{
	uint8_t buf[1500], out[256];
	struct sockaddr_storage from, mapped;
	socklen_t fl = sizeof(from);
	struct stun_builder b;
	struct stun_msg m;
	uint32_t change = 0;
	ssize_t n;
	int out_idx, len;

	n = recvfrom(r->fd[idx], buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	if (n <= 0 || stun_msg_parse(&m, buf, (size_t)n) || m.type != STUN_BINDING_REQUEST)
		return;
	r->received++;
	stun_msg_get_change_request(&m, &change);
	if (idx >= 2)
		r->alt_seen = true;
	if (change && r->alt_seen)
		r->change_after_alt = true;
	if (r->silent)
		return;
	if (change && !r->send_other)
		return; /* a server without --alt answers 420; silence is enough here */
	if ((change & STUN_CHANGE_IP) && !r->allow_change_both)
		return; /* the simulated NAT filter drops it */
	if (change == STUN_CHANGE_PORT && !r->allow_change_port)
		return;
	out_idx = idx ^ ((change & STUN_CHANGE_IP) ? 2 : 0) ^ ((change & STUN_CHANGE_PORT) ? 1 : 0);

	mapped = from;
	switch (r->map) {
	case FAKE_REAL:
		break;
	case FAKE_EIM:
		mapped = v4("198.18.7.7", 40000);
		break;
	case FAKE_ADM:
		mapped = v4("198.18.7.7", (uint16_t)(40000 + (idx >> 1)));
		break;
	case FAKE_APDM:
		mapped = v4("198.18.7.7", (uint16_t)(40000 + idx));
		break;
	}
	stun_build_init(&b, out, sizeof(out), STUN_BINDING_SUCCESS, m.tid);
	stun_build_add_xor_addr(&b, (struct sockaddr *)&mapped);
	if (r->send_other) {
		stun_build_add_addr(&b, STUN_ATTR_RESPONSE_ORIGIN,
				    (struct sockaddr *)&r->addr[out_idx]);
		stun_build_add_addr(&b, STUN_ATTR_OTHER_ADDRESS, (struct sockaddr *)&r->addr[idx ^ 3]);
	}
	len = stun_build_finish(&b);
	assert_true(len > 0);
	sendto(r->fd[out_idx], out, (size_t)len, 0, (struct sockaddr *)&from, fl);
}

struct live_result {
	enum disc_step step;
	enum ph_nat_mapping map;
	enum ph_nat_filtering filt;
	uint64_t elapsed_ms;
};

static struct live_result run_live(struct responder *r)
{
	struct disc_config cfg = { .rto_ms = 50, .max_tries = 3, .probe_timeout_ms = 200 };
	struct sockaddr_storage local = v4("127.0.0.1", 0);
	struct live_result res;
	struct disc d;
	uint64_t start = ep_now_ms(), now;
	int fd = bind_udp(&local);

	assert_true(fd >= 0);
	disc_init(&d, fd, (struct sockaddr *)&r->addr[0], (struct sockaddr *)&local, &cfg);
	assert_int_equal(disc_start(&d, start), 0);
	while (!disc_finished(&d)) {
		struct pollfd pfd[5];
		int64_t t;

		now = ep_now_ms();
		assert_true(now - start < 5000);
		t = disc_next_timeout_ms(&d, now);
		pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
		for (int i = 0; i < 4; i++)
			pfd[i + 1] = (struct pollfd){ .fd = r->fd[i], .events = POLLIN };
		poll(pfd, 5, t < 0 ? 100 : (int)t);
		for (int i = 0; i < 4; i++)
			if (pfd[i + 1].revents & POLLIN)
				responder_handle(r, i);
		if (pfd[0].revents & POLLIN) {
			uint8_t buf[1500];
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			struct stun_msg m;
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

			if (n > 0 && !stun_msg_parse(&m, buf, (size_t)n))
				disc_input(&d, &m, (struct sockaddr *)&from, ep_now_ms());
		}
		disc_timer(&d, ep_now_ms());
	}
	res.step = d.step;
	res.map = d.mapping;
	res.filt = d.filtering;
	res.elapsed_ms = ep_now_ms() - start;
	close(fd);
	return res;
}

struct live_case {
	const char *name;
	enum fake_map map;
	bool both, port;
	enum ph_nat_mapping want_map;
	enum ph_nat_filtering want_filt;
};

static void test_live_matrix(void **state)
{
	static const struct live_case cases[] = {
		{ "no nat, open", FAKE_REAL, true, true, PH_MAP_NONE, PH_FILTER_NONE },
		{ "no nat, firewall", FAKE_REAL, false, false, PH_MAP_NONE,
		  PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "eim eif", FAKE_EIM, true, true, PH_MAP_ENDPOINT_INDEPENDENT,
		  PH_FILTER_ENDPOINT_INDEPENDENT },
		{ "eim adf", FAKE_EIM, false, true, PH_MAP_ENDPOINT_INDEPENDENT,
		  PH_FILTER_ADDRESS_DEPENDENT },
		{ "eim apdf", FAKE_EIM, false, false, PH_MAP_ENDPOINT_INDEPENDENT,
		  PH_FILTER_ADDRESS_PORT_DEPENDENT },
		{ "adm adf", FAKE_ADM, false, true, PH_MAP_ADDRESS_DEPENDENT,
		  PH_FILTER_ADDRESS_DEPENDENT },
		{ "apdm apdf", FAKE_APDM, false, false, PH_MAP_ADDRESS_PORT_DEPENDENT,
		  PH_FILTER_ADDRESS_PORT_DEPENDENT },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct responder r;
		struct live_result res;

		responder_open(&r);
		r.map = cases[i].map;
		r.allow_change_both = cases[i].both;
		r.allow_change_port = cases[i].port;
		r.send_other = true;
		res = run_live(&r);
		if (res.step != DISC_DONE || res.map != cases[i].want_map ||
		    res.filt != cases[i].want_filt)
			fail_msg("%s: step %d got %d/%d want %d/%d", cases[i].name, res.step,
				 res.map, res.filt, cases[i].want_map, cases[i].want_filt);
		/* Filtering first: nothing went to the alternate IP before a CHANGE-REQUEST. */
		if (r.change_after_alt)
			fail_msg("%s: a CHANGE-REQUEST followed traffic to the alternate IP",
				 cases[i].name);
		/* Bounded: two filtering waits at most, a few RTTs otherwise. */
		assert_true(res.elapsed_ms < 1000);
		responder_close(&r);
	}
}

static void test_live_no_alternate(void **state)
{
	struct responder r;
	struct live_result res;
	(void)state;

	responder_open(&r);
	r.map = FAKE_EIM;
	r.send_other = false;
	res = run_live(&r);
	assert_int_equal(res.step, DISC_DONE);
	assert_int_equal(res.map, PH_MAP_UNKNOWN);
	assert_int_equal(res.filt, PH_FILTER_UNKNOWN);
	/* Only test I was sent. */
	assert_int_equal(r.received, 1);
	responder_close(&r);
}

static void test_live_unreachable(void **state)
{
	struct responder r;
	struct live_result res;
	(void)state;

	responder_open(&r);
	r.silent = true;
	res = run_live(&r);
	assert_int_equal(res.step, DISC_FAILED);
	assert_int_equal(r.received, 3); /* max_tries */
	assert_int_equal(res.map, PH_MAP_UNKNOWN);
	responder_close(&r);
}

/* An answer with the right id but from the wrong server address proves nothing. */
static void test_wrong_source_ignored(void **state)
{
	struct sockaddr_storage local = v4("127.0.0.1", 0), srv = v4("127.0.0.1", 3478),
				liar = v4("127.0.0.3", 3478), x = v4("198.18.1.1", 1);
	uint8_t buf[128];
	struct stun_builder b;
	struct stun_msg m;
	struct disc d;
	int fd = bind_udp(&local), len;
	(void)state;

	assert_true(fd >= 0);
	disc_init(&d, fd, (struct sockaddr *)&srv, (struct sockaddr *)&local, NULL);
	assert_int_equal(disc_start(&d, 1000), 0);
	stun_build_init(&b, buf, sizeof(buf), STUN_BINDING_SUCCESS, d.tid);
	stun_build_add_xor_addr(&b, (struct sockaddr *)&x);
	len = stun_build_finish(&b);
	assert_int_equal(stun_msg_parse(&m, buf, (size_t)len), 0);
	assert_int_equal(disc_input(&d, &m, (struct sockaddr *)&liar, 1001), 0);
	assert_int_equal(d.step, DISC_TEST1);
	assert_int_equal(disc_input(&d, &m, (struct sockaddr *)&srv, 1001), 1);
	assert_int_equal(d.step, DISC_DONE); /* no OTHER-ADDRESS */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_live_matrix),
		cmocka_unit_test(test_live_no_alternate),
		cmocka_unit_test(test_live_unreachable),
		cmocka_unit_test(test_wrong_source_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
