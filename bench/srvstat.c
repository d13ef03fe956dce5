// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "addr.h"
#include "pinhole_kern_user.h"
#include "rig.h"
#include "xdp.h"
#include "srvstat.h"

#define HTTP_MAX (4 << 20)
#define HTTP_WAIT_MS 5000

/* Read the whole answer to "GET /metrics" into a NUL-terminated heap buffer. */
static int http_get(const char *hostport, char **body)
{
	struct sockaddr_storage ss;
	char req[256], *buf = NULL;
	size_t len = 0;
	uint64_t deadline = rig_now_ns() + HTTP_WAIT_MS * 1000000ull;
	int fd, err;

	if (addr_parse(hostport, 0, &ss) || ss.ss_family != AF_INET)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)) &&
	    errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	buf = malloc(HTTP_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", hostport);
	for (size_t sent = 0; sent < strlen(req);) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		if (poll(&p, 1, HTTP_WAIT_MS) <= 0) {
			err = -ETIMEDOUT;
			goto out;
		}
		n = send(fd, req + sent, strlen(req) - sent, MSG_NOSIGNAL);
		if (n < 0) {
			err = -errno;
			if (err == -EAGAIN)
				continue;
			goto out;
		}
		sent += n;
	}
	/* HTTP/1.0: the server closes the connection after the body. */
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = (int64_t)(deadline - rig_now_ns()) / 1000000;
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
			err = -ETIMEDOUT;
			goto out;
		}
		n = recv(fd, buf + len, HTTP_MAX - len, 0);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += n;
		if (len == HTTP_MAX) {
			err = -E2BIG;
			goto out;
		}
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) || !strstr(buf, " 200 ")) {
		err = -EPROTO;
		goto out;
	}
	*body = buf;
	buf = NULL;
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}

/* Value of the series written exactly as @series ("name" or "name{label=\"v\"}"); NAN if absent. */
static double series(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return NAN;
}

int srvstat_metrics(const char *hostport, struct srvstat_metrics *m)
{
	char *body = NULL;
	int err;

	err = http_get(hostport, &body);
	if (err)
		return err;
	m->sessions_online = series(body, "pinhole_sessions_online");
	m->logins_ok = series(body, "pinhole_logins_total{outcome=\"ok\"}");
	m->ka_kernel = series(body, "pinhole_keepalives_answered_total{path=\"kernel\"}");
	m->ka_user = series(body, "pinhole_keepalives_answered_total{path=\"userspace\"}");
	m->ka_rejected_unknown =
	    series(body, "pinhole_keepalives_rejected_total{reason=\"unknown_session\"}");
	m->udp_rx = series(body, "pinhole_udp_received_packets_total");
	m->sweep_seconds = series(body, "pinhole_session_sweep_seconds");
	m->sweep_entries = series(body, "pinhole_session_sweep_entries");
	m->xdp_tx_keepalive = series(body, "pinhole_xdp_packets_total{reason=\"tx_keepalive\"}");
	free(body);
	return 0;
}

int srvstat_cpu(int pid, double *user_s, double *sys_s)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0)
		return -EPROTO;
	/* Fields 3..13 skipped; 14 utime, 15 stime (proc(5)). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EPROTO;
	*user_s = (double)ut / hz;
	*sys_s = (double)st / hz;
	return 0;
}

/* A "key:\tvalue" number from /proc/self/fdinfo/@fd; 0 if absent. */
static uint64_t fdinfo_u64(int fd, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

struct seen_maps {
	uint32_t ids[256];
	unsigned int n;
};

/* Count map @fd once; @name "sessions" is remembered separately. */
static void add_map(struct seen_maps *seen, struct srvstat_mem *out, int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	uint64_t mem;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return;
	for (unsigned int i = 0; i < seen->n; i++)
		if (seen->ids[i] == info.id)
			return;
	if (seen->n < sizeof(seen->ids) / sizeof(seen->ids[0]))
		seen->ids[seen->n++] = info.id;
	mem = xdp_map_memlock(fd);
	out->total += mem;
	out->maps++;
	if (!strcmp(info.name, "sessions")) {
		out->sessions = mem;
		out->sessions_max = info.max_entries;
	}
}

struct seen_ctx {
	struct seen_maps *seen;
	struct srvstat_mem *out;
};

static void add_map_cb(int map_fd, void *ctx)
{
	struct seen_ctx *c = ctx;

	add_map(c->seen, c->out, map_fd);
}

static void add_prog_maps(struct seen_maps *seen, struct srvstat_mem *out, uint32_t prog_id)
{
	struct seen_ctx c = {.seen = seen, .out = out};
	int fd = bpf_prog_get_fd_by_id(prog_id);

	if (fd < 0)
		return;
	xdp_prog_for_each_map(fd, add_map_cb, &c);
	close(fd);
}

int srvstat_map_memory(const char *pin_dir, struct srvstat_mem *out)
{
	struct seen_maps seen = {};
	struct dirent *de;
	char path[PATH_MAX];
	DIR *d;

	memset(out, 0, sizeof(*out));
	d = opendir(pin_dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		/* fdinfo names the object kind; one info call then fits it. */
		if (fdinfo_u64(fd, "map_id") || fdinfo_u64(fd, "map_type")) {
			add_map(&seen, out, fd);
		} else if (fdinfo_u64(fd, "prog_type")) {
			struct bpf_prog_info info = {};
			uint32_t len = sizeof(info);

			if (!bpf_obj_get_info_by_fd(fd, &info, &len))
				add_prog_maps(&seen, out, info.id);
		} else {
			struct bpf_link_info info = {};
			uint32_t len = sizeof(info);

			if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.prog_id)
				add_prog_maps(&seen, out, info.prog_id);
		}
		close(fd);
	}
	closedir(d);
	return out->maps ? 0 : -ENOENT;
}

uint32_t srvstat_prog_id(const char *pin_dir)
{
	static const char *const names[] = {"prog", "link"};
	char path[PATH_MAX];
	uint32_t id = 0;

	for (size_t i = 0; i < 2 && !id; i++) {
		union {
			struct bpf_prog_info prog;
			struct bpf_link_info link;
		} info = {};
		uint32_t len = i ? sizeof(info.link) : sizeof(info.prog);
		int fd;

		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			id = i ? info.link.prog_id : info.prog.id;
		close(fd);
	}
	return id;
}

#define CHECK_CHUNK 65536u

int srvstat_sessions_check(const char *pin_dir, const struct bench_ka_entry *table, uint32_t n,
			   uint64_t *checked, uint64_t *missing)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), *ids = NULL, *keys = NULL;
	struct ph_session *vals = NULL;
	char path[PATH_MAX];
	int fd, err = 0;

	*checked = *missing = 0;
	snprintf(path, sizeof(path), "%s/sessions", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) ||
	    info.value_size != sizeof(struct ph_session) || info.key_size != 4) {
		err = -EPROTO;
		goto out;
	}
	ids = calloc(info.max_entries, sizeof(*ids));
	keys = calloc(CHECK_CHUNK, sizeof(*keys));
	vals = calloc(CHECK_CHUNK, sizeof(*vals));
	if (!ids || !keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	/* Batches: one syscall per 64k slots instead of one per endpoint. */
	for (uint32_t first = 0; first < info.max_entries;) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t in = first, next = 0, cnt = CHECK_CHUNK;
		int r =
		    bpf_map_lookup_batch(fd, first ? &in : NULL, &next, keys, vals, &cnt, &opts);
		/* ENOENT: this batch reached the end (cnt says how many it still holds). */
		bool done = r && errno == ENOENT;

		if (r && !done) {
			err = -errno;
			goto out;
		}
		for (uint32_t i = 0; i < cnt; i++)
			if (keys[i] < info.max_entries)
				ids[keys[i]] = vals[i].id;
		if (done || !cnt || next <= first)
			break;
		first = next;
	}
	for (uint32_t j = 0; j < n; j++) {
		uint32_t id = ntohl(table[j].id), slot = id & PH_SESSION_SLOT_MASK;

		if (!id)
			continue;
		(*checked)++;
		if (slot >= info.max_entries || ids[slot] != id)
			(*missing)++;
	}
out:
	free(vals);
	free(keys);
	free(ids);
	close(fd);
	return err;
}
