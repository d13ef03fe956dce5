// SPDX-License-Identifier: MIT
/*
 * The exposition (metrics_render) and its HTTP front (libmicrohttpd).  See
 * metrics.h for who owns which counter.  Names follow the Prometheus
 * conventions: pinhole_ prefix, _total on counters, base units (seconds,
 * bytes), and a label where one family has several kinds of the same
 * thing (outcome, reason, path, op).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <liburing.h>
#include <microhttpd.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "xdp.h"

#define LISTEN_BACKLOG 64
/* Scrapers are few; a flood of connections must not starve the server of fds. */
#define HTTP_MAX_CONNECTIONS 32
#define HTTP_TIMEOUT_S 10
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	pthread_mutex_t lock; /* covers w[] */
	struct metrics_worker *w;
	unsigned int workers;
	int fd; /* listening socket until MHD owns it; then -1 */
	struct MHD_Daemon *httpd;
	struct srv *core;
	struct xdp_path *xdp;
	const char *version;
	double start_time_s;
	char uring_version[32];
};

/* --- exposition ---------------------------------------------------------- */

/* A label value with \, " and newline escaped as the text format requires. */
static void put_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* Enum names use '-' in logs ("error-reply"); label values read better with '_'. */
static void put_ident(FILE *f, const char *v)
{
	for (; *v; v++)
		fputc(*v == '-' ? '_' : *v, f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void sample_l(FILE *f, const char *name, const char *label, const char *value, uint64_t v)
{
	fprintf(f, "%s{%s=\"", name, label);
	put_ident(f, value);
	fprintf(f, "\"} %llu\n", (unsigned long long)v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	sample(f, name, v);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "gauge", help);
	sample(f, name, v);
}

static void gauge_f(FILE *f, const char *name, const char *help, double v)
{
	family(f, name, "gauge", help);
	fprintf(f, "%s %.9f\n", name, v);
}

/* Login outcomes: ok, the early exits, then refusals by verdict. */
static void put_logins(FILE *f, const struct srv_stats *st)
{
	static const struct srv_stats zero;
	uint64_t by[AUTH_VERDICT_MAX];
	const char *name = "pinhole_logins_total";

	if (!st)
		st = &zero;
	memcpy(by, st->login_refused_by, sizeof(by));
	/*
	 * Unknown user and wrong password stay one outcome, as on the wire:
	 * whoever reads the metrics must not learn which names exist.
	 */
	by[AUTH_BAD_PASSWORD] += by[AUTH_UNKNOWN_USER];
	by[AUTH_UNKNOWN_USER] = 0;
	family(f, name, "counter",
	       "LOGIN requests by outcome: ok, challenge (401 before credentials), retransmit, "
	       "replay, rate_limited, sessions_full, or the refusal's verdict.");
	sample_l(f, name, "outcome", "ok", st->logins);
	sample_l(f, name, "outcome", "challenge", st->challenges);
	sample_l(f, name, "outcome", "retransmit", st->login_retransmits);
	sample_l(f, name, "outcome", "replay", st->replays);
	sample_l(f, name, "outcome", "rate_limited", st->rate_limited);
	sample_l(f, name, "outcome", "sessions_full", st->sessions_full);
	for (int v = AUTH_BAD_REQUEST; v < AUTH_VERDICT_MAX; v++) {
		if (v == AUTH_UNKNOWN_USER)
			continue;
		sample_l(f, name, "outcome",
			 v == AUTH_BAD_PASSWORD ? "bad_credentials" : auth_verdict_name(v), by[v]);
	}
}

static void put_access(FILE *f, const struct metrics_snapshot *snap)
{
	static const struct srv_stats zero;
	const struct srv_stats *st = snap->srv ? snap->srv : &zero;
	const char *n;

	gauge(f, "pinhole_sessions_online", "Sessions held now (logged in, not yet ended).",
	      snap->sessions);
	put_logins(f, snap->srv);
	counter(f, "pinhole_fetches_total", "Routing-table pages served (FETCH).", st->fetches);
	n = "pinhole_sessions_ended_total";
	family(f, n, "counter", "Sessions ended, by reason.");
	sample_l(f, n, "reason", "logout", st->logouts);
	sample_l(f, n, "reason", "timeout", st->timeouts);
	counter(f, "pinhole_sessions_moved_total",
		"Keepalives that arrived from a new address (NAT rebinding).", st->moved);
	counter(f, "pinhole_punches_sent_total", "PUNCH instructions created.", st->punches);
	counter(f, "pinhole_punches_acked_total", "PUNCH instructions acknowledged.",
		st->punch_acks);
	counter(f, "pinhole_punch_waits_expired_total",
		"LOGINs answered at the punch-wait deadline with punches still unacknowledged.",
		st->punch_wait_expired);
	counter(f, "pinhole_presence_deltas_sent_total", "PRESENCE deltas created.", st->presence);
	counter(f, "pinhole_presence_deltas_acked_total", "PRESENCE deltas acknowledged.",
		st->presence_acks);
	counter(f, "pinhole_instructions_unacked_total",
		"PUNCH and PRESENCE messages given up after every retransmission.",
		st->outbox_expired);
	n = "pinhole_keepalives_rejected_total";
	family(f, n, "counter", "Keepalives not answered with a refresh, by reason.");
	sample_l(f, n, "reason", "bad_token", st->keepalive_bad_token);
	sample_l(f, n, "reason", "unknown_session", st->keepalive_unknown);
	n = "pinhole_access_dropped_total";
	family(f, n, "counter", "Access-protocol messages dropped, by reason.");
	sample_l(f, n, "reason", "malformed", st->dropped_malformed);
	sample_l(f, n, "reason", "integrity", st->dropped_integrity);
	sample_l(f, n, "reason", "unmatched", st->dropped_unmatched);
	sample_l(f, n, "reason", "wrong_source", st->dropped_source);
	counter(f, "pinhole_access_errors_total", "Internal failures (store, randomness, memory).",
		st->errors);
	counter(f, "pinhole_kernel_moves_total",
		"NAT rebindings the kernel followed and reported on its events ring.",
		st->kernel_moves);
	counter(f, "pinhole_kernel_session_errors_total",
		"Kernel session table reads and writes that failed.", st->kernel_errors);
	counter(f, "pinhole_sessions_restored_total",
		"Sessions taken back from the kernel table an earlier process kept.",
		st->restored);
	counter(f, "pinhole_session_sweeps_total", "Full passes of the timeout sweep.",
		st->sweep_passes);
	gauge_f(f, "pinhole_session_sweep_seconds",
		"CPU time of the last full sweep pass over the session table (its chunks summed).",
		(double)st->sweep_last_ns / 1e9);
	gauge(f, "pinhole_session_sweep_entries", "Session slots the last full sweep pass covered.",
	      st->sweep_last_slots);
}

/* Keepalives the kernel accepted and answered (moved ones included). */
static uint64_t xdp_keepalives(const struct ph_stat *x)
{
	return x[PH_TX_KEEPALIVE].packets + x[PH_TX_KA_MOVED].packets;
}

static void put_paths(FILE *f, const struct metrics_snapshot *snap)
{
	const struct metrics_worker *u = snap->user;
	const char *n = "pinhole_keepalives_answered_total";

	family(f, n, "counter",
	       "Session keepalives answered, by where: kernel (XDP) or userspace.");
	if (snap->xdp)
		sample_l(f, n, "path", "kernel", xdp_keepalives(snap->xdp));
	sample_l(f, n, "path", "userspace", snap->srv ? snap->srv->keepalives : 0);
	n = "pinhole_binding_answered_total";
	family(f, n, "counter",
	       "Plain STUN Binding requests answered with a success, by where: kernel (XDP) "
	       "or userspace.");
	if (snap->xdp)
		sample_l(f, n, "path", "kernel", snap->xdp[PH_TX_BINDING].packets);
	sample_l(f, n, "path", "userspace", u->outcomes[BINDING_ANSWERED]);
	n = "pinhole_stun_userspace_total";
	family(f, n, "counter", "Datagrams the userspace STUN Binding path handled, by outcome.");
	for (int o = 0; o < BINDING_OUTCOME_MAX; o++)
		sample_l(f, n, "outcome", binding_outcome_name(o), u->outcomes[o]);
	if (snap->xdp) {
		n = "pinhole_xdp_packets_total";
		family(f, n, "counter",
		       "Packets the XDP program decided on, by verdict reason (tx_: answered in "
		       "the kernel, pass_: sent up, drop_: dropped).");
		for (int r = 0; r < PH_REASON_MAX; r++)
			sample_l(f, n, "reason", xdp_reason_name(r), snap->xdp[r].packets);
		n = "pinhole_xdp_bytes_total";
		family(f, n, "counter", "Bytes of those packets, by verdict reason.");
		for (int r = 0; r < PH_REASON_MAX; r++)
			sample_l(f, n, "reason", xdp_reason_name(r), snap->xdp[r].bytes);
	}
}

static void put_udp(FILE *f, const struct loop_stats *l)
{
	const char *n;

	counter(f, "pinhole_udp_received_packets_total",
		"Datagrams the io_uring loops received and handled.", l->rx_packets);
	counter(f, "pinhole_udp_received_bytes_total", "Bytes of those datagrams.", l->rx_bytes);
	n = "pinhole_udp_receive_drops_total";
	family(f, n, "counter", "Receive-side losses in userspace, by reason.");
	sample_l(f, n, "reason", "truncated", l->rx_truncated);
	sample_l(f, n, "reason", "no_buffers", l->rx_nobufs);
	sample_l(f, n, "reason", "error", l->rx_errors);
	n = "pinhole_udp_sent_packets_total";
	family(f, n, "counter",
	       "Datagrams sent, by how: queued on the ring, or direct (no free slot).");
	sample_l(f, n, "mode", "queued", l->tx_queued);
	sample_l(f, n, "mode", "direct", l->tx_sync);
	counter(f, "pinhole_udp_send_errors_total", "Sends the kernel refused.", l->tx_errors);
}

static void put_store(FILE *f, const struct srv_stats *st)
{
	static const uint32_t bounds_us[METRICS_HIST_BUCKETS] = METRICS_HIST_BOUNDS_US;
	const char *n = "pinhole_store_call_duration_seconds";

	family(f, n, "histogram", "Duration of the access server's store calls, by call.");
	for (int op = 0; op < SRV_STORE_OP_MAX; op++) {
		static const struct metrics_hist zero;
		const struct metrics_hist *h = st ? &st->store_lat[op] : &zero;
		const char *name = srv_store_op_name(op);
		uint64_t cum = 0;

		for (int i = 0; i <= METRICS_HIST_BUCKETS; i++) {
			cum += h->bucket[i];
			fprintf(f, "%s_bucket{op=\"%s\",le=\"", n, name);
			if (i < METRICS_HIST_BUCKETS)
				fprintf(f, "%g", bounds_us[i] / 1e6);
			else
				fputs("+Inf", f);
			fprintf(f, "\"} %llu\n", (unsigned long long)cum);
		}
		fprintf(f, "%s_sum{op=\"%s\"} %.9f\n", n, name, h->sum_ns / 1e9);
		fprintf(f, "%s_count{op=\"%s\"} %llu\n", n, name, (unsigned long long)h->count);
	}
}

static void put_build(FILE *f, const struct metrics_snapshot *snap, const char *uring)
{
	const char *bpf = libbpf_version_string();

	family(f, "pinhole_build_info", "gauge",
	       "Always 1; labels: pinhole's version and the library versions it runs with.");
	fputs("pinhole_build_info{version=\"", f);
	put_label_value(f, snap->version ? snap->version : "unknown");
	fputs("\",libbpf=\"", f);
	/* libbpf says "v1.1". */
	put_label_value(f, bpf[0] == 'v' ? bpf + 1 : bpf);
	fputs("\",liburing=\"", f);
	put_label_value(f, uring);
	fputs("\",libmicrohttpd=\"", f);
	put_label_value(f, MHD_get_version());
	fputs("\"} 1\n", f);
	family(f, "pinhole_start_time_seconds", "gauge",
	       "When the server started, in seconds since the Unix epoch.");
	fprintf(f, "pinhole_start_time_seconds %.3f\n", snap->start_time_s);
	gauge(f, "pinhole_workers", "io_uring worker threads.", snap->workers);
	gauge(f, "pinhole_access_enabled", "1 when the access protocol runs (a store is open).",
	      snap->srv != NULL);
	gauge(f, "pinhole_xdp_enabled", "1 when the XDP program answers in the kernel.",
	      snap->xdp != NULL);
}

/*
 * liburing 2.3 has no version call: ask the dynamic linker which file
 * provides it (liburing.so.2.3).  Later releases export the numbers.
 */
static void uring_version(char *buf, size_t len)
{
	char path[PATH_MAX];
	const char *so;
	Dl_info info;
	void *sym;

#ifdef IO_URING_VERSION_MAJOR
	snprintf(buf, len, "%d.%d", io_uring_major_version(), io_uring_minor_version());
	return;
#endif
	snprintf(buf, len, "unknown");
	sym = dlsym(RTLD_DEFAULT, "io_uring_queue_init");
	if (!sym || !dladdr(sym, &info) || !info.dli_fname || !realpath(info.dli_fname, path))
		return;
	so = strstr(path, "liburing.so.");
	if (so && so[12])
		snprintf(buf, len, "%s", so + 12);
}

static int render(const struct metrics_snapshot *snap, const char *uring, char **out, size_t *len)
{
	static const struct metrics_worker none;
	struct metrics_snapshot s = *snap;
	FILE *f;

	if (!s.user)
		s.user = &none;
	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	put_build(f, &s, uring);
	put_access(f, &s);
	put_paths(f, &s);
	put_udp(f, &s.user->loop);
	put_store(f, s.srv);
	if (ferror(f)) {
		fclose(f);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

int metrics_render(const struct metrics_snapshot *snap, char **out, size_t *len)
{
	char uring[32];

	uring_version(uring, sizeof(uring));
	return render(snap, uring, out, len);
}

/* --- collection ------------------------------------------------------------ */

static void add_worker(struct metrics_worker *sum, const struct metrics_worker *w)
{
	for (int o = 0; o < BINDING_OUTCOME_MAX; o++)
		sum->outcomes[o] += w->outcomes[o];
	sum->loop.rx_packets += w->loop.rx_packets;
	sum->loop.rx_bytes += w->loop.rx_bytes;
	sum->loop.rx_truncated += w->loop.rx_truncated;
	sum->loop.rx_errors += w->loop.rx_errors;
	sum->loop.rx_nobufs += w->loop.rx_nobufs;
	sum->loop.rx_rearms += w->loop.rx_rearms;
	sum->loop.tx_queued += w->loop.tx_queued;
	sum->loop.tx_sync += w->loop.tx_sync;
	sum->loop.tx_errors += w->loop.tx_errors;
	sum->loop.enters += w->loop.enters;
}

int metrics_scrape(struct metrics *m, char **out, size_t *len)
{
	struct metrics_snapshot snap = {
	    .version = m->version,
	    .start_time_s = m->start_time_s,
	    .workers = m->workers,
	};
	struct metrics_worker sum = {0};
	struct ph_stat x[PH_REASON_MAX];
	struct srv_stats st;
	int err;

	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < m->workers; i++)
		add_worker(&sum, &m->w[i]);
	pthread_mutex_unlock(&m->lock);
	snap.user = &sum;
	if (m->core && m->core->access) {
		srv_get_stats(m->core, &st);
		snap.srv = &st;
		snap.sessions = srv_sessions(m->core);
	}
	if (m->xdp) {
		err = xdp_path_read_stats(m->xdp, x);
		if (!err)
			snap.xdp = x;
		else
			pr_debug("metrics: cannot read the XDP counters: %s", strerror(-err));
	}
	return render(&snap, m->uring_version, out, len);
}

void metrics_publish(struct metrics *m, unsigned int worker, const struct metrics_worker *w)
{
	if (!m || worker >= m->workers)
		return;
	pthread_mutex_lock(&m->lock);
	m->w[worker] = *w;
	pthread_mutex_unlock(&m->lock);
}

/* --- HTTP ------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *text)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req)
{
	struct metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body;
	size_t len;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (!strcmp(url, "/"))
		return reply(c, MHD_HTTP_OK, "pinhole-server: metrics at /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
	if (metrics_scrape(m, &body, &len))
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* libmicrohttpd's own complaints, as one warning line each. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	pr_warn("metrics: http: %s", line);
}

/* --- life cycle ----------------------------------------------------------- */

static int listen_tcp(const struct sockaddr_storage *ss)
{
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, fd, err;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A restart must not wait out TIME_WAIT of the last scrape. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		goto err;
	if (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto err;
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, LISTEN_BACKLOG))
		goto err;
	return fd;
err:
	err = -errno;
	close(fd);
	return err;
}

struct metrics *metrics_new(const struct sockaddr_storage *addr, unsigned int workers)
{
	struct metrics *m;
	struct timespec ts;
	int err;

	if (!workers || (addr->ss_family != AF_INET && addr->ss_family != AF_INET6)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->w = calloc(workers, sizeof(*m->w));
	if (!m->w) {
		err = -ENOMEM;
		goto err_free;
	}
	m->workers = workers;
	m->fd = listen_tcp(addr);
	if (m->fd < 0) {
		err = m->fd;
		goto err_free;
	}
	pthread_mutex_init(&m->lock, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time_s = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	uring_version(m->uring_version, sizeof(m->uring_version));
	return m;
err_free:
	free(m->w);
	free(m);
	errno = -err;
	return NULL;
}

int metrics_start(struct metrics *m, struct srv *core, struct xdp_path *xdp, const char *version)
{
	m->core = core;
	m->xdp = xdp;
	m->version = version;
	/* The logger first, so even start-up complaints go through log.h. */
	m->httpd = MHD_start_daemon(
	    MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, m,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, m->fd,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S, MHD_OPTION_END);
	if (!m->httpd)
		return -EIO;
	/* MHD_stop_daemon closes it from now on. */
	m->fd = -1;
	return 0;
}

int metrics_local_addr(const struct metrics *m, struct sockaddr_storage *out)
{
	const union MHD_DaemonInfo *info;
	socklen_t len = sizeof(*out);
	int fd = m->fd;

	if (fd < 0 && m->httpd) {
		info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_LISTEN_FD);
		fd = info ? info->listen_fd : -1;
	}
	if (fd < 0)
		return -EBADF;
	memset(out, 0, sizeof(*out));
	if (getsockname(fd, (struct sockaddr *)out, &len))
		return -errno;
	return 0;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	if (m->fd >= 0)
		close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m->w);
	free(m);
}
