// SPDX-License-Identifier: MIT
/*
 * server/metrics.c: the histogram, the exposition (checked line by line
 * against the text format's grammar, and for the values put in), and the
 * HTTP front on loopback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "server/metrics.h"
#include "server/server.h"

/* --- histogram -------------------------------------------------------------- */

static void test_hist(void **state)
{
	struct metrics_hist h = {0}, g = {0};

	metrics_hist_add(&h, 0);
	metrics_hist_add(&h, 10000);	 /* exactly 10 us: le="1e-05" */
	metrics_hist_add(&h, 10001);	 /* just above: the 25 us bucket */
	metrics_hist_add(&h, 250000000); /* 250 ms: the last finite bucket */
	metrics_hist_add(&h, 250000001); /* +Inf */
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[METRICS_HIST_BUCKETS - 1], 1);
	assert_int_equal(h.bucket[METRICS_HIST_BUCKETS], 1);
	assert_int_equal(h.count, 5);
	assert_int_equal(h.sum_ns, 0 + 10000 + 10001 + 250000000ull + 250000001ull);
	metrics_hist_merge(&g, &h);
	metrics_hist_merge(&g, &h);
	assert_int_equal(g.count, 10);
	assert_int_equal(g.bucket[0], 4);
	assert_true(metrics_now_ns() > 0);
}

/* --- a strict reader of the text exposition format ----------------------------- */

struct family {
	char name[128];
	char type[16];
	bool help;
};

static bool name_ok(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/*
 * Check @text line by line: "# HELP name text", "# TYPE name type" before
 * the family's samples, samples "name{l="v",...} value" whose name is the
 * family's (plus _bucket/_sum/_count for histograms), counters named
 * *_total, no family twice, text ends with a newline.  Fails the test with
 * the offending line.
 */
static void check_exposition(const char *text, size_t len)
{
	struct family fam[128];
	size_t n_fam = 0;
	struct family *cur = NULL;
	const char *p = text, *end = text + len;

	assert_true(len > 0);
	assert_int_equal(text[len - 1], '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		char line[512], *v, *after;
		size_t ll = (size_t)(nl - p), nlen;

		assert_non_null(nl);
		assert_true(ll > 0 && ll < sizeof(line));
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl + 1;
		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			char *name = line + 7, *sp = strchr(name, ' ');

			assert_non_null(sp);
			assert_true(name_ok(name, (size_t)(sp - name)));
			*sp = '\0';
			if (!cur || strcmp(cur->name, name)) {
				for (size_t i = 0; i < n_fam; i++)
					if (!strcmp(fam[i].name, name))
						fail_msg("family %s appears twice", name);
				assert_true(n_fam < 128);
				assert_true(strlen(name) < sizeof(cur->name));
				cur = &fam[n_fam++];
				memset(cur, 0, sizeof(*cur));
				memcpy(cur->name, name, strlen(name) + 1);
			}
			if (line[2] == 'H') {
				assert_true(strlen(sp + 1) > 0);
				cur->help = true;
			} else {
				const char *t = sp + 1;

				if (strcmp(t, "counter") && strcmp(t, "gauge") &&
				    strcmp(t, "histogram"))
					fail_msg("unknown type: %s", t);
				strcpy(cur->type, t); /* one of the three names above */
				if (!strcmp(t, "counter"))
					assert_true(
					    ends_with(cur->name, strlen(cur->name), "_total"));
			}
			continue;
		}
		if (line[0] == '#')
			fail_msg("stray comment: %s", line);
		/* A sample of the current family, which has HELP and TYPE. */
		if (!cur || !cur->help || !cur->type[0])
			fail_msg("sample before HELP and TYPE: %s", line);
		assert_non_null(cur); /* fail_msg does not return; gcc cannot tell */
		nlen = strcspn(line, "{ ");
		assert_true(name_ok(line, nlen));
		if (strcmp(cur->type, "histogram")) {
			if (nlen != strlen(cur->name) || memcmp(line, cur->name, nlen))
				fail_msg("sample outside its family %s: %s", cur->name, line);
		} else {
			size_t b = strlen(cur->name);

			if (nlen <= b || memcmp(line, cur->name, b) ||
			    (strcmp(line + b, "_bucket") && strncmp(line + b, "_bucket{", 8) &&
			     strncmp(line + b, "_sum", 4) && strncmp(line + b, "_count", 6)))
				fail_msg("histogram sample outside %s: %s", cur->name, line);
		}
		v = line + nlen;
		if (*v == '{') {
			/* label="value"[,label="value"]... } */
			v++;
			while (*v != '}') {
				size_t ln = strcspn(v, "=");

				assert_true(name_ok(v, ln));
				v += ln;
				assert_int_equal(*v++, '=');
				assert_int_equal(*v++, '"');
				while (*v && *v != '"') {
					if (*v == '\\') {
						v++;
						if (*v != '\\' && *v != '"' && *v != 'n')
							fail_msg("bad escape: %s", line);
					}
					v++;
				}
				assert_int_equal(*v++, '"');
				if (*v == ',')
					v++;
				else if (*v != '}')
					fail_msg("bad label list: %s", line);
			}
			v++;
		}
		assert_int_equal(*v++, ' ');
		errno = 0;
		if (!strcmp(v, "+Inf") || !strcmp(v, "NaN"))
			continue;
		strtod(v, &after);
		if (errno || after == v || *after)
			fail_msg("bad value: %s", line);
	}
}

/* The value of @series (exactly as written before the space) in @text; -1 if absent. */
static double value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static void test_render(void **state)
{
	struct srv_stats st = {0};
	struct ph_stat x[PH_REASON_MAX] = {{0}};
	struct metrics_worker w = {0};
	struct metrics_snapshot snap = {
	    .version = "1.2.3\"x",
	    .start_time_s = 1700000000.5,
	    .workers = 2,
	    .srv = &st,
	    .sessions = 7,
	    .xdp = x,
	    .user = &w,
	};
	char *out;
	size_t len;

	st.logins = 11;
	st.challenges = 12;
	st.replays = 3;
	st.login_refused_by[AUTH_UNKNOWN_USER] = 4;
	st.login_refused_by[AUTH_BAD_PASSWORD] = 5;
	st.login_refused_by[AUTH_STALE_NONCE] = 6;
	st.sessions_full = 13;
	st.dropped_source = 14;
	st.punches = 8;
	st.punch_acks = 7;
	st.keepalives = 99;
	st.logouts = 2;
	metrics_hist_add(&st.store_lat[SRV_STORE_SESSION_PUT], 30000);
	metrics_hist_add(&st.store_lat[SRV_STORE_SESSION_PUT], 2000000);
	x[PH_TX_BINDING].packets = 1000;
	x[PH_TX_BINDING].bytes = 64000;
	x[PH_DROP_NOT_STUN].packets = 9;
	w.outcomes[BINDING_ANSWERED] = 40;
	w.outcomes[BINDING_ERROR_REPLY] = 2;
	w.loop.rx_packets = 50;
	w.loop.tx_sync = 1;

	assert_int_equal(metrics_render(&snap, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	check_exposition(out, len);
	assert_true(value_of(out, "pinhole_sessions_online") == 7);
	assert_true(value_of(out, "pinhole_workers") == 2);
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"ok\"}") == 11);
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"challenge\"}") == 12);
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"replay\"}") == 3);
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"stale_nonce\"}") == 6);
	/* Unknown user and bad password: one outcome, never told apart. */
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"bad_credentials\"}") == 9);
	assert_null(strstr(out, "unknown_user"));
	assert_null(strstr(out, "bad_password"));
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"sessions_full\"}") == 13);
	assert_true(value_of(out, "pinhole_access_dropped_total{reason=\"wrong_source\"}") == 14);
	assert_true(value_of(out, "pinhole_punches_sent_total") == 8);
	assert_true(value_of(out, "pinhole_punches_acked_total") == 7);
	assert_true(value_of(out, "pinhole_sessions_ended_total{reason=\"logout\"}") == 2);
	assert_true(value_of(out, "pinhole_keepalives_answered_total{path=\"userspace\"}") == 99);
	assert_true(value_of(out, "pinhole_keepalives_answered_total{path=\"kernel\"}") == 0);
	assert_true(value_of(out, "pinhole_binding_answered_total{path=\"kernel\"}") == 1000);
	assert_true(value_of(out, "pinhole_binding_answered_total{path=\"userspace\"}") == 40);
	assert_true(value_of(out, "pinhole_stun_userspace_total{outcome=\"error_reply\"}") == 2);
	assert_true(value_of(out, "pinhole_xdp_packets_total{reason=\"tx_binding\"}") == 1000);
	assert_true(value_of(out, "pinhole_xdp_bytes_total{reason=\"tx_binding\"}") == 64000);
	assert_true(value_of(out, "pinhole_xdp_packets_total{reason=\"drop_not_stun\"}") == 9);
	assert_true(value_of(out, "pinhole_udp_received_packets_total") == 50);
	assert_true(value_of(out, "pinhole_udp_sent_packets_total{mode=\"direct\"}") == 1);
	assert_true(value_of(out, "pinhole_xdp_enabled") == 1);
	/* Cumulative buckets: 30 us lands in le=5e-05, 2 ms in le=0.0025. */
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_bucket{op=\"session_put\","
				  "le=\"2.5e-05\"}") == 0);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_bucket{op=\"session_put\","
				  "le=\"5e-05\"}") == 1);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_bucket{op=\"session_put\","
				  "le=\"0.001\"}") == 1);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_bucket{op=\"session_put\","
				  "le=\"0.0025\"}") == 2);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_bucket{op=\"session_put\","
				  "le=\"+Inf\"}") == 2);
	assert_true(
	    value_of(out, "pinhole_store_call_duration_seconds_count{op=\"session_put\"}") == 2);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_sum{op=\"session_put\"}") ==
		    0.00203);
	/* The quote in the version is escaped. */
	assert_non_null(strstr(out, "pinhole_build_info{version=\"1.2.3\\\"x\",libbpf=\""));
	free(out);

	/* No access protocol, no kernel path: those families show zeros or are left out. */
	snap.srv = NULL;
	snap.xdp = NULL;
	snap.sessions = 0;
	snap.user = NULL;
	assert_int_equal(metrics_render(&snap, &out, &len), 0);
	check_exposition(out, len);
	assert_null(strstr(out, "pinhole_xdp_packets_total"));
	assert_null(strstr(out, "path=\"kernel\""));
	assert_true(value_of(out, "pinhole_logins_total{outcome=\"ok\"}") == 0);
	assert_true(value_of(out, "pinhole_access_enabled") == 0);
	assert_true(value_of(out, "pinhole_xdp_enabled") == 0);
	assert_true(value_of(out, "pinhole_store_call_duration_seconds_count{op=\"user_get\"}") ==
		    0);
	free(out);
}

/* --- HTTP on loopback ------------------------------------------------------------ */

/* GET @path from @ss with HTTP/1.0; the whole response (headers too) into @buf. */
static int http_get(const struct sockaddr_storage *ss, const char *method, const char *path,
		    char *buf, size_t cap)
{
	char req[256];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (connect(fd, (const struct sockaddr *)ss, sizeof(struct sockaddr_in))) {
		close(fd);
		return -errno;
	}
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method, path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return (int)got;
}

static void test_http(void **state)
{
	struct sockaddr_storage ss = {0}, bound, again;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct metrics_worker w = {0};
	static char buf[1 << 16];
	struct metrics *m, *m2;
	char *body;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
	assert_null(metrics_new(&ss, 0));
	assert_int_equal(errno, EINVAL);
	m = metrics_new(&ss, 2);
	assert_non_null(m);
	assert_int_equal(metrics_local_addr(m, &bound), 0);
	assert_int_not_equal(((struct sockaddr_in *)&bound)->sin_port, 0);

	/* The port is taken: the second bind says so. */
	m2 = metrics_new(&bound, 1);
	assert_null(m2);
	assert_int_equal(errno, EADDRINUSE);

	assert_int_equal(metrics_start(m, NULL, NULL, "9.9.9"), 0);
	assert_int_equal(metrics_local_addr(m, &again), 0);
	assert_int_equal(((struct sockaddr_in *)&again)->sin_port,
			 ((struct sockaddr_in *)&bound)->sin_port);
	w.outcomes[BINDING_ANSWERED] = 5;
	w.loop.rx_packets = 6;
	metrics_publish(m, 0, &w);
	w.outcomes[BINDING_ANSWERED] = 7;
	metrics_publish(m, 1, &w);
	metrics_publish(m, 2, &w); /* out of range: ignored */

	assert_true(http_get(&bound, "GET", "/metrics", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "HTTP/1.0 200") ? buf : strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strcasestr(buf, "\r\nContent-Type: text/plain; version=0.0.4"));
	body = strstr(buf, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	check_exposition(body, strlen(body));
	assert_true(value_of(body, "pinhole_binding_answered_total{path=\"userspace\"}") == 12);
	assert_true(value_of(body, "pinhole_udp_received_packets_total") == 12);
	assert_true(value_of(body, "pinhole_access_enabled") == 0);
	assert_non_null(strstr(body, "version=\"9.9.9\""));

	assert_true(http_get(&bound, "GET", "/other", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, " 404 "));
	assert_true(http_get(&bound, "POST", "/metrics", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, " 405 "));
	assert_non_null(strcasestr(buf, "\r\nAllow: GET, HEAD"));

	/* Freed: the listening socket is closed, the port can be bound again. */
	metrics_free(m);
	assert_true(http_get(&bound, "GET", "/metrics", buf, sizeof(buf)) < 0);
	m2 = metrics_new(&bound, 1);
	assert_non_null(m2);
	metrics_free(m2);
	metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hist),
	    cmocka_unit_test(test_render),
	    cmocka_unit_test(test_http),
	};

	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
