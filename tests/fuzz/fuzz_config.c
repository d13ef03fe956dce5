// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: pinhole-server's settings, the --config file parser and
 * the flag parser (userspace/config.c).
 *
 * Input: FILE-BYTES [0x00 0x00 ARG 0x00 ARG 0x00 ...].  The file bytes go to
 * an anonymous memfd read through /proc/self/fd/N (nothing on disk is
 * touched); when there are any, argv starts with "--config <memfd>".  The
 * NUL-separated ARGs follow (at most 32); a --config among them is pointed
 * at the memfd too, so no input can make the parser open a real path (a
 * FIFO or a terminal would hang the run).
 *
 * Properties on every input:
 * - config_load() returns 0 or a negative errno; a failure leaves a
 *   non-empty message that names the file (PATH:LINE: or PATH:) for file
 *   errors, and one without a newline unless an argument itself held one;
 * - a success satisfies every documented range and rule: 1..64 listen
 *   addresses, each a real family with a port and no duplicates; numeric
 *   settings within their bounds; names and paths NUL-terminated and of the
 *   documented shape; --alt only with its primary; --xdp-no-generic only
 *   with --xdp; --stun-only never with --db;
 * - loading is deterministic: the same input gives the same struct twice;
 * - a success survives config -> file -> config: writing every setting
 *   back as "key =value" lines (no blank before the value, so a leading '#'
 *   is not a comment) and loading that file alone gives the same settings
 *   (values the file syntax cannot carry, such as " #" or edge blanks from
 *   argv, are skipped).
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "fuzz_util.h"

FUZZ_SINK_DEFINE;

#define MAX_ARGS 32

static int mfd = -1, mfd2 = -1;
static char mpath[64], mpath2[64], mopt[80];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void quiet(enum log_level level, const char *fmt, va_list ap)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_hook(quiet);
	mfd = memfd_create("fuzz-config", MFD_CLOEXEC);
	mfd2 = memfd_create("fuzz-config-rt", MFD_CLOEXEC);
	if (mfd < 0 || mfd2 < 0) {
		perror("memfd_create");
		exit(1);
	}
	snprintf(mpath, sizeof(mpath), "/proc/self/fd/%d", mfd);
	snprintf(mpath2, sizeof(mpath2), "/proc/self/fd/%d", mfd2);
	snprintf(mopt, sizeof(mopt), "--config=%s", mpath);
	return 0;
}

static void put_file(int fd, const void *buf, size_t len)
{
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, buf, len, 0) == (ssize_t)len);
}

static bool terminated(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

static void check_addr(const struct sockaddr_storage *ss, bool port_needed)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;

	FUZZ_CHECK(ss->ss_family == AF_INET || ss->ss_family == AF_INET6);
	if (port_needed)
		FUZZ_CHECK(addr_port(sa) != 0);
}

static void check_ok(const struct config *c)
{
	FUZZ_CHECK(c->n_listen >= 1 && c->n_listen <= CONFIG_MAX_LISTEN);
	for (size_t i = 0; i < c->n_listen; i++) {
		check_addr(&c->listen[i], true);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(addr_cmp((const struct sockaddr *)&c->listen[i],
					    (const struct sockaddr *)&c->listen[j]) != 0);
	}
	FUZZ_CHECK(terminated(c->xdp_ifname, sizeof(c->xdp_ifname)));
	FUZZ_CHECK(!strchr(c->xdp_ifname, '/') && !strchr(c->xdp_ifname, ' '));
	FUZZ_CHECK(!c->xdp_no_generic || c->xdp_ifname[0]);
	FUZZ_CHECK(terminated(c->pin_dir, sizeof(c->pin_dir)) && c->pin_dir[0] == '/');
	FUZZ_CHECK(terminated(c->config_file, sizeof(c->config_file)));
	FUZZ_CHECK(terminated(c->db_path, sizeof(c->db_path)) && c->db_path[0]);
	FUZZ_CHECK(!(c->stun_only && c->db_given));
	FUZZ_CHECK(terminated(c->realm, sizeof(c->realm)));
	for (const char *p = c->realm; *p; p++)
		FUZZ_CHECK(*p > ' ' && *p <= '~' && *p != ':');
	FUZZ_CHECK(c->log_level <= LOG_DEBUG);
	FUZZ_CHECK(c->workers >= 1 && c->workers <= CONFIG_MAX_WORKERS);
	FUZZ_CHECK(c->punch_wait_ms <= CONFIG_PUNCH_WAIT_MS_MAX);
	FUZZ_CHECK(c->nonce_lifetime_s >= 1 && c->nonce_lifetime_s <= CONFIG_NONCE_LIFETIME_S_MAX);
	FUZZ_CHECK(c->keepalive_s >= 1 && c->keepalive_s <= CONFIG_KEEPALIVE_S_MAX);
	FUZZ_CHECK(c->login_rate <= 1000000);
	FUZZ_CHECK(c->max_sessions >= 1 && c->max_sessions <= 1u << 24);
	if (c->alt.ss_family != AF_UNSPEC) {
		const struct sockaddr_storage *p = config_alt_primary(c);

		check_addr(&c->alt, true);
		FUZZ_CHECK(!addr_is_any((const struct sockaddr *)&c->alt));
		FUZZ_CHECK(p && p->ss_family == c->alt.ss_family);
		FUZZ_CHECK(addr_port((const struct sockaddr *)p) !=
			   addr_port((const struct sockaddr *)&c->alt));
	}
	if (c->metrics.ss_family != AF_UNSPEC)
		check_addr(&c->metrics, true);
	FUZZ_CHECK(!c->listen_default || c->n_listen == 2);
}

/* Can a file line "key =@v" carry @v back unchanged? */
static bool file_safe(const char *v)
{
	size_t n = strlen(v);

	if (!n || n > 3000)
		return false;
	if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
		return false;
	if (v[n - 1] == '\r' || strchr(v, '\n'))
		return false;
	for (const char *p = v + 1; *p; p++)
		if (*p == '#' && (p[-1] == ' ' || p[-1] == '\t'))
			return false;
	return true;
}

static const char *yn(bool b)
{
	return b ? "yes" : "no";
}

/* Write @c as a config file into @f; false when a value cannot be written. */
static bool write_config(const struct config *c, FILE *f)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	char a[ADDR_STRLEN];

	if (!c->listen_default) {
		for (size_t i = 0; i < c->n_listen; i++) {
			FUZZ_CHECK(addr_format((const struct sockaddr *)&c->listen[i], a,
					       sizeof(a)) == 0);
			fprintf(f, "listen =%s\n", a);
		}
	}
	if (c->xdp_ifname[0]) {
		if (!file_safe(c->xdp_ifname))
			return false;
		fprintf(f, "xdp =%s\n", c->xdp_ifname);
	}
	fprintf(f, "xdp-no-generic =%s\nkeep = %s\n", yn(c->xdp_no_generic), yn(c->keep));
	if (!file_safe(c->pin_dir))
		return false;
	fprintf(f, "pin-dir =%s\n", c->pin_dir);
	fprintf(f, "log-level =%s\nworkers = %u\n", levels[c->log_level], c->workers);
	if (c->db_given) {
		if (!file_safe(c->db_path))
			return false;
		fprintf(f, "db =%s\n", c->db_path);
	}
	fprintf(f, "stun-only =%s\n", yn(c->stun_only));
	if (c->realm[0])
		fprintf(f, "realm =%s\n", c->realm);
	if (c->alt.ss_family != AF_UNSPEC) {
		FUZZ_CHECK(addr_format((const struct sockaddr *)&c->alt, a, sizeof(a)) == 0);
		fprintf(f, "alt =%s\n", a);
	}
	fprintf(f, "no-punch =%s\npunch-wait = %u\nkeepalive = %u\n", yn(c->no_punch),
		c->punch_wait_ms, c->keepalive_s);
	fprintf(f, "login-rate =%u\nnonce-lifetime = %u\nmax-sessions = %u\n", c->login_rate,
		c->nonce_lifetime_s, c->max_sessions);
	if (c->metrics.ss_family != AF_UNSPEC) {
		FUZZ_CHECK(addr_format((const struct sockaddr *)&c->metrics, a, sizeof(a)) == 0);
		fprintf(f, "metrics =%s\n", a);
	}
	return true;
}

static void round_trip(const struct config *c)
{
	static struct config back;
	char *const argv[] = {"pinhole-server", "--config", mpath2, NULL};
	char err[CONFIG_ERR_LEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok;
	int ret;

	FUZZ_CHECK(f);
	ok = write_config(c, f);
	FUZZ_CHECK(fclose(f) == 0);
	if (!ok) {
		free(text);
		return;
	}
	put_file(mfd2, text, len);
	ret = config_load(&back, 3, argv, err, sizeof(err));
	if (ret)
		fprintf(stderr, "round trip refused: %s\n--- file ---\n%s---\n", err, text);
	FUZZ_CHECK(ret == 0);
	free(text);
	FUZZ_CHECK(back.n_listen == c->n_listen && back.listen_default == c->listen_default);
	for (size_t i = 0; i < c->n_listen; i++)
		FUZZ_CHECK(!addr_cmp((const struct sockaddr *)&back.listen[i],
				     (const struct sockaddr *)&c->listen[i]));
	FUZZ_CHECK(!strcmp(back.xdp_ifname, c->xdp_ifname));
	FUZZ_CHECK(back.xdp_no_generic == c->xdp_no_generic && back.keep == c->keep);
	FUZZ_CHECK(!strcmp(back.pin_dir, c->pin_dir));
	FUZZ_CHECK(back.log_level == c->log_level && back.workers == c->workers);
	FUZZ_CHECK(!strcmp(back.db_path, c->db_path) && back.db_given == c->db_given);
	FUZZ_CHECK(back.stun_only == c->stun_only && !strcmp(back.realm, c->realm));
	FUZZ_CHECK(back.alt.ss_family == c->alt.ss_family);
	if (c->alt.ss_family != AF_UNSPEC)
		FUZZ_CHECK(!addr_cmp((const struct sockaddr *)&back.alt,
				     (const struct sockaddr *)&c->alt));
	FUZZ_CHECK(back.no_punch == c->no_punch && back.punch_wait_ms == c->punch_wait_ms);
	FUZZ_CHECK(back.keepalive_s == c->keepalive_s && back.login_rate == c->login_rate);
	FUZZ_CHECK(back.nonce_lifetime_s == c->nonce_lifetime_s);
	FUZZ_CHECK(back.max_sessions == c->max_sessions);
	FUZZ_CHECK(back.metrics.ss_family == c->metrics.ss_family);
	if (c->metrics.ss_family != AF_UNSPEC)
		FUZZ_CHECK(!addr_cmp((const struct sockaddr *)&back.metrics,
				     (const struct sockaddr *)&c->metrics));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config c, c2;
	static char argbuf[70000];
	char *argv[MAX_ARGS + 4], *configv = NULL;
	char err[CONFIG_ERR_LEN], err2[CONFIG_ERR_LEN];
	size_t flen = size, i;
	bool newline_arg = false;
	int argc = 0, ret, ret2;

	for (i = 0; i + 1 < size; i++) {
		if (!data[i] && !data[i + 1]) {
			flen = i;
			break;
		}
	}
	if (size >= sizeof(argbuf))
		return 0;
	put_file(mfd, data, flen);
	argv[argc++] = "pinhole-server";
	if (flen) {
		argv[argc++] = "--config";
		argv[argc++] = mpath;
	}
	if (flen < size) {
		size_t alen = size - flen - 2;
		char *p = argbuf, *end = argbuf + alen;

		memcpy(argbuf, data + flen + 2, alen);
		argbuf[alen] = '\0';
		while (p <= end && argc < MAX_ARGS + 3) {
			size_t n = strlen(p);

			if (configv == p) {
				argv[argc++] = mpath; /* the value of a "--config" */
			} else if (!strncmp(p, "--config=", 9)) {
				argv[argc++] = mopt;
			} else {
				argv[argc++] = p;
				newline_arg |= strchr(p, '\n') != NULL;
				if (!strcmp(p, "--config"))
					configv = p + n + 1;
			}
			p += n + 1;
		}
	}
	argv[argc] = NULL;

	memset(err, 0, sizeof(err));
	ret = config_load(&c, argc, argv, err, sizeof(err));
	FUZZ_CHECK(ret <= 0);
	if (ret) {
		FUZZ_CHECK(err[0] && terminated(err, sizeof(err)));
		FUZZ_CHECK(newline_arg || !strchr(err, '\n'));
		if (!strncmp(err, mpath, strlen(mpath)))
			FUZZ_CHECK(err[strlen(mpath)] == ':');
	} else {
		if (!c.help && !c.version)
			check_ok(&c);
	}

	/* Same input, same answer, byte for byte. */
	memset(err2, 0, sizeof(err2));
	ret2 = config_load(&c2, argc, argv, err2, sizeof(err2));
	FUZZ_CHECK(ret2 == ret);
	if (ret)
		FUZZ_CHECK(!strcmp(err, err2));
	else
		FUZZ_CHECK(!memcmp(&c, &c2, sizeof(c)));

	if (!ret && !c.help && !c.version)
		round_trip(&c);
	return 0;
}
