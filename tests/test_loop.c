// SPDX-License-Identifier: MIT
/*
 * The event loop on a real ring over loopback: an echo handler answers
 * bursts, replies leave from the address the client used, oversize datagrams
 * are counted and dropped, the loop stops by loop_stop and by a signal, and
 * timers fire.  Bursts are sent before loop_run where the test needs the
 * whole burst to sit in the socket at once (buffer ring or send slots run out
 * deterministically); replies are read by a second thread that stops the loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "loop.h"

#define MAX_BURST 4096

struct echo {
	unsigned int seen;
	struct sockaddr_storage last_dst;
	bool had_dst;
};

static void echo_fn(struct loop *l, const struct loop_dgram *d, void *ctx)
{
	struct echo *e = ctx;

	e->seen++;
	e->had_dst = d->dst != NULL;
	if (d->dst)
		memcpy(&e->last_dst, d->dst, addr_len(d->dst));
	loop_reply(l, d, d->data, d->len);
}

static void set_bufs(int fd)
{
	int sz = 8 << 20;

	/* Root may exceed rmem_max; a whole burst must fit in the socket. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* A UDP socket bound to IP @text on an ephemeral port. */
static int udp_bound(const char *text, struct sockaddr_storage *bound)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(*bound);
	int one = 1, fd;

	assert_int_equal(addr_parse(text, 1, &ss), 0);
	addr_set_port((struct sockaddr *)&ss, 0);
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (ss.ss_family == AF_INET6)
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	set_bufs(fd);
	assert_int_equal(
		bind(fd, (struct sockaddr *)&ss, (socklen_t)addr_len((struct sockaddr *)&ss)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)bound, &sl), 0);
	return fd;
}

/* Client socket of @family, plus the server address @ip at @port. */
static int client_to(const char *ip, uint16_t port, struct sockaddr_storage *to)
{
	int fd;

	assert_int_equal(addr_parse(ip, port, to), 0);
	fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	set_bufs(fd);
	return fd;
}

static void send_burst(int fd, const struct sockaddr_storage *to, unsigned int n, size_t size)
{
	uint8_t buf[1500];

	memset(buf, 0x5a, sizeof(buf));
	for (unsigned int i = 0; i < n; i++) {
		memcpy(buf, &i, sizeof(i));
		if (sendto(fd, buf, size, 0, (const struct sockaddr *)to,
			   (socklen_t)addr_len((const struct sockaddr *)to)) != (ssize_t)size)
			fail_msg("sendto %u: %s", i, strerror(errno));
	}
}

struct reader {
	struct loop *loop;
	int fd;
	unsigned int expect;
	size_t size;
	struct sockaddr_storage want_from;	/* replies must come from here */
	/* results */
	unsigned int got;
	unsigned int bad_from;
	unsigned int bad_payload;
	unsigned int dups;
	uint8_t seen[MAX_BURST];
};

/* Read @expect echoes (5 s of silence ends it), then stop the loop. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
	uint8_t buf[2048];

	while (r->got < r->expect && poll(&pfd, 1, 5000) == 1) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(r->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		uint32_t seq;

		if (n < 0)
			continue;
		r->got++;
		if (addr_cmp((struct sockaddr *)&from, (struct sockaddr *)&r->want_from))
			r->bad_from++;
		memcpy(&seq, buf, sizeof(seq));
		if ((size_t)n != r->size || seq >= MAX_BURST || buf[n - 1] != 0x5a) {
			r->bad_payload++;
			continue;
		}
		if (r->seen[seq]++)
			r->dups++;
	}
	loop_stop(r->loop);
	return NULL;
}

/*
 * Send @n datagrams of @size from a client to @connect_ip on the server
 * socket bound at @bind_text, run the loop with @opts until all echoes are
 * back, and check them.
 */
static void echo_run(const struct loop_opts *opts, const char *bind_text, const char *connect_ip,
		     unsigned int n, size_t size, struct loop_stats *st, struct echo *e)
{
	struct sockaddr_storage bound, to;
	struct reader *r = calloc(1, sizeof(*r));
	struct loop *l = loop_new(opts);
	pthread_t th;
	int sfd, cfd;

	assert_non_null(r);
	assert_non_null(l);
	sfd = udp_bound(bind_text, &bound);
	assert_non_null(loop_add_udp(l, sfd, echo_fn, e));
	cfd = client_to(connect_ip, addr_port((struct sockaddr *)&bound), &to);
	send_burst(cfd, &to, n, size);

	r->loop = l;
	r->fd = cfd;
	r->expect = n;
	r->size = size;
	r->want_from = to;
	assert_int_equal(pthread_create(&th, NULL, reader_main, r), 0);
	assert_int_equal(loop_run(l), 0);
	pthread_join(th, NULL);
	loop_get_stats(l, st);

	assert_int_equal(r->got, n);
	assert_int_equal(r->bad_from, 0);
	assert_int_equal(r->bad_payload, 0);
	assert_int_equal(r->dups, 0);
	for (unsigned int i = 0; i < n; i++)
		assert_int_equal(r->seen[i], 1);
	assert_int_equal(st->rx_packets, n);
	assert_int_equal(st->tx_queued + st->tx_sync, n);
	assert_int_equal(st->tx_errors, 0);
	assert_int_equal(e->seen, n);

	close(cfd);
	close(sfd);
	loop_free(l);
	free(r);
}

static void test_echo_burst_v4(void **state)
{
	struct loop_stats st;
	struct echo e = {0};

	echo_run(NULL, "127.0.0.1", "127.0.0.1", 2000, 100, &st, &e);
	assert_string_equal(e.had_dst ? "dst" : "none", "dst");
	/* A burst is answered in batches, not one enter per datagram. */
	assert_true(st.enters < 2000 / 4);
	assert_int_equal(st.tx_sync, 0);
}

static void test_echo_burst_v6(void **state)
{
	struct loop_stats st;
	struct echo e = {0};

	echo_run(NULL, "::1", "::1", 1000, 200, &st, &e);
}

static void test_buffer_ring_exhausted(void **state)
{
	struct loop_opts o = {.recv_bufs = 8};
	struct loop_stats st;
	struct echo e = {0};

	/* 300 queued datagrams and 8 buffers: the multishot ends in ENOBUFS. */
	echo_run(&o, "127.0.0.1", "127.0.0.1", 300, 64, &st, &e);
	assert_true(st.rx_nobufs > 0);
}

static void test_send_slots_exhausted(void **state)
{
	struct loop_opts o = {.send_slots = 4};
	struct loop_stats st;
	struct echo e = {0};

	echo_run(&o, "127.0.0.1", "127.0.0.1", 200, 64, &st, &e);
	assert_true(st.tx_sync > 0);
	assert_true(st.tx_queued >= 4);
}

static void test_single_shot(void **state)
{
	struct loop_opts o = {.single_shot = true};
	struct loop_stats st;
	struct echo e = {0};
	struct loop *l = loop_new(&o);

	assert_non_null(l);
	assert_string_equal(loop_recv_mode(l), "single-shot");
	loop_free(l);
	echo_run(&o, "127.0.0.1", "127.0.0.1", 500, 100, &st, &e);
	/* A bound socket reports its own address as dst (pktinfo: wildcard test). */
	assert_true(e.had_dst);
}

/* The wildcard socket must answer from the address each client used. */
static void wildcard_case(const struct loop_opts *o, const char *bind_text, const char *ip)
{
	struct loop_stats st;
	struct echo e = {0};
	struct sockaddr_storage want;

	echo_run(o, bind_text, ip, 50, 40, &st, &e);
	assert_true(e.had_dst);
	assert_int_equal(addr_parse(ip, addr_port((struct sockaddr *)&e.last_dst), &want), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&e.last_dst, (struct sockaddr *)&want), 0);
}

static void test_wildcard_source(void **state)
{
	struct loop_opts ss = {.single_shot = true};

	/* 127.0.0.0/8 is all local on lo: two distinct addresses, one socket. */
	wildcard_case(NULL, "0.0.0.0", "127.0.0.1");
	wildcard_case(NULL, "0.0.0.0", "127.0.0.2");
	wildcard_case(NULL, "0.0.0.0", "127.1.2.3");
	wildcard_case(&ss, "0.0.0.0", "127.0.0.3");
	wildcard_case(NULL, "::", "::1");
	wildcard_case(&ss, "::", "::1");
}

static void truncated_case(bool single_shot)
{
	struct loop_opts o = {.recv_buf_size = 256, .single_shot = single_shot};
	struct sockaddr_storage bound, to;
	struct reader r = {0};
	struct echo e = {0};
	struct loop_stats st;
	struct loop *l = loop_new(&o);
	uint8_t big[1000];
	pthread_t th;
	int sfd, cfd;

	assert_non_null(l);
	sfd = udp_bound("127.0.0.1", &bound);
	assert_non_null(loop_add_udp(l, sfd, echo_fn, &e));
	cfd = client_to("127.0.0.1", addr_port((struct sockaddr *)&bound), &to);
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(sendto(cfd, big, sizeof(big), 0, (struct sockaddr *)&to,
				(socklen_t)addr_len((struct sockaddr *)&to)),
			 sizeof(big));
	/* One that fits, after it: it is echoed, the big one is not. */
	send_burst(cfd, &to, 1, 256);
	r.loop = l;
	r.fd = cfd;
	r.expect = 1;
	r.size = 256;
	r.want_from = to;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	assert_int_equal(loop_run(l), 0);
	pthread_join(th, NULL);
	loop_get_stats(l, &st);
	assert_int_equal(r.got, 1);
	assert_int_equal(r.bad_payload, 0);
	assert_int_equal(st.rx_truncated, 1);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(e.seen, 1);
	close(cfd);
	close(sfd);
	loop_free(l);
}

static void test_truncated(void **state)
{
	truncated_case(false);
	truncated_case(true);
}

struct ticks {
	unsigned int n;
	unsigned int stop_at;
	int signal;		/* sent to self on the stop_at tick, 0: loop_stop */
	bool use_raise;
};

static void tick_fn(struct loop *l, void *ctx)
{
	struct ticks *t = ctx;

	if (++t->n != t->stop_at)
		return;
	if (!t->signal)
		loop_stop(l);
	else if (t->use_raise)
		raise(t->signal);
	else
		kill(getpid(), t->signal);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_timer(void **state)
{
	struct ticks t = {.stop_at = 5};
	struct loop *l = loop_new(NULL);
	uint64_t t0;

	assert_non_null(l);
	assert_int_equal(loop_add_timer(l, 0, tick_fn, &t), -EINVAL);
	assert_int_equal(loop_add_timer(l, 20, tick_fn, &t), 0);
	t0 = mono_ms();
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(t.n, 5);
	/* Five 20 ms periods cannot pass in less than 100 ms. */
	assert_true(mono_ms() - t0 >= 100);
	assert_int_equal(loop_stop_signal(l), 0);

	/* The loop runs again after a stop, and the timer keeps ticking. */
	t.stop_at = 7;
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(t.n, 7);
	loop_free(l);
}

static void signal_case(int sig, bool use_raise)
{
	struct loop_opts o = {.signals = true};
	struct ticks t = {.stop_at = 2, .signal = sig, .use_raise = use_raise};
	struct loop *l = loop_new(&o);

	assert_non_null(l);
	assert_int_equal(loop_add_timer(l, 5, tick_fn, &t), 0);
	/* Were the signal not read through the ring, it would kill the test. */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(loop_stop_signal(l), sig);
	assert_int_equal(t.n, 2);
	loop_free(l);
}

static void test_stop_by_signal(void **state)
{
	signal_case(SIGTERM, false);
	signal_case(SIGINT, true);
}

static void test_limits(void **state)
{
	struct loop_opts bad = {.recv_bufs = 100};
	struct loop *l;
	struct ticks t = {0};

	errno = 0;
	assert_null(loop_new(&bad));
	assert_int_equal(errno, EINVAL);
	l = loop_new(NULL);
	assert_non_null(l);
	for (int i = 0; i < LOOP_MAX_TIMERS; i++)
		assert_int_equal(loop_add_timer(l, 1000, tick_fn, &t), 0);
	assert_int_equal(loop_add_timer(l, 1000, tick_fn, &t), -EMFILE);
	/* Not a socket: refused, nothing registered. */
	assert_null(loop_add_udp(l, 0, echo_fn, NULL));
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_burst_v4),
		cmocka_unit_test(test_echo_burst_v6),
		cmocka_unit_test(test_buffer_ring_exhausted),
		cmocka_unit_test(test_send_slots_exhausted),
		cmocka_unit_test(test_single_shot),
		cmocka_unit_test(test_wildcard_source),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_timer),
		cmocka_unit_test(test_stop_by_signal),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
