// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "store.h"

enum src {
	SRC_FILE,
	SRC_ARGV,
};

enum opt_kind {
	OPT_VALUE,
	OPT_BOOL,
};

struct opt {
	const char *name;
	enum opt_kind kind;
	const char *arg;	/* for --help */
	const char *help;
	/* Apply @v (NULL for a bare boolean); return 0 or -EINVAL with @err set. */
	int (*set)(struct config *c, const char *v, enum src src, char *err, size_t n);
	bool argv_only;
};

static void seterr(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	if (!v) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < 4; i++) {
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_listen(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	struct sockaddr_storage ss;
	char text[ADDR_STRLEN];

	/* The first --listen on the command line replaces the file's list. */
	if (src == SRC_ARGV && !c->listen_from_argv) {
		c->listen_from_argv = true;
		c->n_listen = 0;
	}
	if (addr_parse(v, ADDR_DEFAULT_PORT, &ss)) {
		seterr(err, n,
		       "listen '%s': not IP, IP:PORT, IPv6 or [IPv6]:PORT with port 1-65535", v);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_listen; i++) {
		if (!addr_cmp((struct sockaddr *)&c->listen[i], (struct sockaddr *)&ss)) {
			addr_format((struct sockaddr *)&ss, text, sizeof(text));
			seterr(err, n, "listen '%s': %s given twice", v, text);
			return -EINVAL;
		}
	}
	if (c->n_listen >= CONFIG_MAX_LISTEN) {
		seterr(err, n, "listen '%s': more than %d listen addresses", v, CONFIG_MAX_LISTEN);
		return -EINVAL;
	}
	c->listen[c->n_listen++] = ss;
	return 0;
}

static int set_xdp(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	if (!*v || strlen(v) >= sizeof(c->xdp_ifname) || strchr(v, '/') || strchr(v, ' ')) {
		seterr(err, n, "xdp '%s': not an interface name", v);
		return -EINVAL;
	}
	strcpy(c->xdp_ifname, v);
	return 0;
}

static int set_bool(bool *field, const char *name, const char *v, char *err, size_t n)
{
	if (parse_bool(v, field)) {
		seterr(err, n, "%s '%s': expected yes or no", name, v);
		return -EINVAL;
	}
	return 0;
}

static int set_no_generic(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->xdp_no_generic, "xdp-no-generic", v, err, n);
}

static int set_keep(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->keep, "keep", v, err, n);
}

static int set_help(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->help, "help", v, err, n);
}

static int set_version(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->version, "version", v, err, n);
}

static int set_path(char *dst, size_t cap, const char *name, const char *v, char *err, size_t n)
{
	if (!*v || strlen(v) >= cap) {
		seterr(err, n, "%s '%s': empty or too long", name, v);
		return -EINVAL;
	}
	strcpy(dst, v);
	return 0;
}

static int set_pin_dir(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	if (v[0] != '/') {
		seterr(err, n, "pin-dir '%s': must be an absolute path on bpffs", v);
		return -EINVAL;
	}
	return set_path(c->pin_dir, sizeof(c->pin_dir), "pin-dir", v, err, n);
}

static int set_config(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_path(c->config_file, sizeof(c->config_file), "config", v, err, n);
}

static int set_log_level(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	if (log_level_parse(v, &c->log_level)) {
		seterr(err, n, "log-level '%s': expected error, warn, info or debug", v);
		return -EINVAL;
	}
	return 0;
}

static int set_workers(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	char *end;
	unsigned long w;

	errno = 0;
	w = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || w < 1 || w > CONFIG_MAX_WORKERS) {
		seterr(err, n, "workers '%s': expected a number from 1 to %d", v,
		       CONFIG_MAX_WORKERS);
		return -EINVAL;
	}
	c->workers = (unsigned int)w;
	return 0;
}

/* An unsigned in [@lo, @hi]; @name for the message. */
static int set_uint(unsigned int *field, const char *name, const char *v, unsigned long lo,
		    unsigned long hi, char *err, size_t n)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end || errno || x < lo || x > hi) {
		seterr(err, n, "%s '%s': expected a number from %lu to %lu", name, v, lo, hi);
		return -EINVAL;
	}
	*field = (unsigned int)x;
	return 0;
}

static int set_db(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	c->db_given = true;
	return set_path(c->db_path, sizeof(c->db_path), "db", v, err, n);
}

static int set_stun_only(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->stun_only, "stun-only", v, err, n);
}

static int set_realm(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	if (!*v || strlen(v) >= sizeof(c->realm)) {
		seterr(err, n, "realm '%s': 1 to %zu characters", v, sizeof(c->realm) - 1);
		return -EINVAL;
	}
	for (const char *p = v; *p; p++) {
		/* The store's naming rule: printable ASCII without space or ':'. */
		if (*p <= ' ' || *p > '~' || *p == ':') {
			seterr(err, n, "realm '%s': printable ASCII without space or ':'", v);
			return -EINVAL;
		}
	}
	strcpy(c->realm, v);
	return 0;
}

static int set_alt(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	if (addr_parse(v, ADDR_DEFAULT_PORT + 1, &c->alt) || addr_is_any((struct sockaddr *)&c->alt)) {
		c->alt.ss_family = AF_UNSPEC;
		seterr(err, n, "alt '%s': not a concrete IP[:PORT]", v);
		return -EINVAL;
	}
	return 0;
}

static int set_no_punch(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_bool(&c->no_punch, "no-punch", v, err, n);
}

static int set_punch_wait(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->punch_wait_ms, "punch-wait", v, 0, CONFIG_PUNCH_WAIT_MS_MAX, err, n);
}

static int set_keepalive(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->keepalive_s, "keepalive", v, 1, CONFIG_KEEPALIVE_S_MAX, err, n);
}

static int set_login_rate(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->login_rate, "login-rate", v, 0, 1000000, err, n);
}

static int set_answer_rate(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->answer_rate, "answer-rate", v, 0, CONFIG_ANSWER_RATE_MAX, err, n);
}

static int set_answer_burst(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->answer_burst, "answer-burst", v, 1, CONFIG_ANSWER_RATE_MAX, err, n);
}

static int set_nonce_lifetime(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->nonce_lifetime_s, "nonce-lifetime", v, 1, CONFIG_NONCE_LIFETIME_S_MAX,
			err, n);
}

static int set_max_sessions(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	return set_uint(&c->max_sessions, "max-sessions", v, 1, 1u << 24, err, n);
}

static int set_metrics(struct config *c, const char *v, enum src src, char *err, size_t n)
{
	struct sockaddr_storage ss;

	/* No default port: Prometheus exporters each have their own, so say it. */
	if (addr_parse(v, 0, &ss) || !addr_port((struct sockaddr *)&ss)) {
		seterr(err, n, "metrics '%s': expected IP:PORT or [IPv6]:PORT", v);
		return -EINVAL;
	}
	c->metrics = ss;
	return 0;
}

static const struct opt opts[] = {
	{"listen", OPT_VALUE, "IP[:PORT]",
	 "answer STUN on this UDP address; repeatable.\n"
	 "IPv6 as [IPv6]:PORT or bare IPv6; port 3478\n"
	 "if omitted; 0.0.0.0 and :: mean every address\n"
	 "of the family.  Default: 0.0.0.0:3478 and\n"
	 "[::]:3478 ([::] skipped if IPv6 is off)",
	 set_listen, false},
	{"xdp", OPT_VALUE, "IFNAME",
	 "also answer Binding requests in the kernel:\n"
	 "attach the XDP program to IFNAME, or adopt the\n"
	 "one a previous --keep run left pinned",
	 set_xdp, false},
	{"xdp-no-generic", OPT_BOOL, NULL,
	 "fail if IFNAME has no native XDP instead of\n"
	 "falling back to generic (skb) mode",
	 set_no_generic, false},
	{"keep", OPT_BOOL, NULL,
	 "at exit leave the XDP program attached and its\n"
	 "maps pinned: the kernel keeps answering and the\n"
	 "next start adopts them",
	 set_keep, false},
	{"pin-dir", OPT_VALUE, "DIR",
	 "bpffs directory for the maps and the link\n"
	 "(default " PH_PIN_DIR_DEFAULT ")",
	 set_pin_dir, false},
	{"workers", OPT_VALUE, "N",
	 "receive threads, each with its own io_uring and\n"
	 "SO_REUSEPORT sockets (default 1, max 64)",
	 set_workers, false},
	{"db", OPT_VALUE, "PATH",
	 "account store (SQLite), created on first run;\n"
	 "default " STORE_PATH_DEFAULT ",\n"
	 "used only if its directory exists",
	 set_db, false},
	{"stun-only", OPT_BOOL, NULL,
	 "answer STUN only: no store, no access protocol",
	 set_stun_only, false},
	{"realm", OPT_VALUE, "REALM",
	 "RFC 8489 realm; must equal the store's\n"
	 "(default: the store's; a new store gets it)",
	 set_realm, false},
	{"alt", OPT_VALUE, "IP[:PORT]",
	 "RFC 5780 alternate address (other IP and other\n"
	 "port than the first --listen of its family):\n"
	 "answers CHANGE-REQUEST, sends OTHER-ADDRESS",
	 set_alt, false},
	{"no-punch", OPT_BOOL, NULL,
	 "never ask a contact to send a punch probe\n"
	 "(contacts still learn about newcomers)",
	 set_no_punch, false},
	{"punch-wait", OPT_VALUE, "MS",
	 "answer a LOGIN at the latest this long after\n"
	 "sending its PUNCHes (default 300, max 10000)",
	 set_punch_wait, false},
	{"keepalive", OPT_VALUE, "SECONDS",
	 "keepalive interval told to endpoints (default\n"
	 "20, jitter 15% up to 3 s; silent for 3\n"
	 "intervals and the session ends)",
	 set_keepalive, false},
	{"login-rate", OPT_VALUE, "N",
	 "LOGIN requests per source IP per second, burst\n"
	 "N; more get 429 (default 10, 0 = unlimited)",
	 set_login_rate, false},
	{"answer-rate", OPT_VALUE, "N",
	 "with --xdp: answers to unauthenticated requests\n"
	 "(STUN Binding, unknown sessions) per source IP\n"
	 "per second; more are dropped in the kernel\n"
	 "(default 100, 0 = unlimited)",
	 set_answer_rate, false},
	{"answer-burst", OPT_VALUE, "N",
	 "how many of those answers may come at once\n"
	 "(default twice --answer-rate)",
	 set_answer_burst, false},
	{"nonce-lifetime", OPT_VALUE, "SECONDS",
	 "how long a login NONCE stays valid before the\n"
	 "server answers 438 (default 60, max 3600)",
	 set_nonce_lifetime, false},
	{"max-sessions", OPT_VALUE, "N",
	 "sessions held at once (default 16384)",
	 set_max_sessions, false},
	{"metrics", OPT_VALUE, "IP:PORT",
	 "serve Prometheus metrics over HTTP at\n"
	 "http://IP:PORT/metrics (TCP; [::] is IPv6\n"
	 "only).  Default: off",
	 set_metrics, false},
	{"log-level", OPT_VALUE, "LEVEL", "error, warn, info (default) or debug", set_log_level,
	 false},
	{"config", OPT_VALUE, "FILE",
	 "read settings from FILE first: 'key = value' or\n"
	 "'key value' lines, keys are these flag names\n"
	 "without '--', '#' starts a comment.  The command\n"
	 "line overrides FILE; its --listen list replaces\n"
	 "the file's",
	 set_config, true},
	{"help", OPT_BOOL, NULL, "print this help and exit", set_help, true},
	{"version", OPT_BOOL, NULL, "print the version and exit", set_version, true},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const struct opt *find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

void config_init(struct config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->pin_dir, PH_PIN_DIR_DEFAULT);
	c->log_level = LOG_INFO;
	c->workers = 1;
	strcpy(c->db_path, STORE_PATH_DEFAULT);
	c->alt.ss_family = AF_UNSPEC;
	c->metrics.ss_family = AF_UNSPEC;
	c->punch_wait_ms = CONFIG_PUNCH_WAIT_MS_DEFAULT;
	c->nonce_lifetime_s = CONFIG_NONCE_LIFETIME_S_DEFAULT;
	c->keepalive_s = CONFIG_KEEPALIVE_S_DEFAULT;
	c->login_rate = CONFIG_LOGIN_RATE_DEFAULT;
	c->answer_rate = CONFIG_ANSWER_RATE_DEFAULT;
	c->max_sessions = CONFIG_MAX_SESSIONS_DEFAULT;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Parse one non-comment line "key [=] [value]"; @line is modified. */
static int parse_line(struct config *c, char *line, char *err, size_t n)
{
	const struct opt *o;
	char *key = line, *v;
	size_t klen;

	klen = strcspn(key, " \t=");
	v = trim(key + klen);
	if (*v == '=')
		v = trim(v + 1);
	o = find_opt(key, klen);
	if (!o || o->argv_only) {
		key[klen] = '\0';
		seterr(err, n, "%s key '%s'", o ? "command-line only" : "unknown", key);
		return -EINVAL;
	}
	if (o->kind == OPT_VALUE && !*v) {
		seterr(err, n, "%s needs a value", o->name);
		return -EINVAL;
	}
	return o->set(c, *v ? v : NULL, SRC_FILE, err, n);
}

/* Longer config lines are refused (a value never needs more; a runaway file is not read whole). */
#define CONFIG_LINE_MAX 4094

int config_parse_file(struct config *c, const char *path, char *err, size_t errlen)
{
	char *line = NULL, msg[CONFIG_ERR_LEN];
	unsigned int lineno = 0;
	size_t cap = 0;
	ssize_t len;
	int ret = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	while ((len = getline(&line, &cap, f)) >= 0) {
		char *s, *hash;

		lineno++;
		if (len > CONFIG_LINE_MAX) {
			seterr(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
			       CONFIG_LINE_MAX);
			ret = -EINVAL;
			goto out;
		}
		/* A NUL would cut the line short without a word: "realm = a\0b" is not "a". */
		if (strlen(line) != (size_t)len) {
			seterr(err, errlen, "%s:%u: NUL byte in line", path, lineno);
			ret = -EINVAL;
			goto out;
		}
		/* '#' starts a comment at line start or after a blank. */
		for (hash = line; (hash = strchr(hash, '#')); hash++) {
			if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
				*hash = '\0';
				break;
			}
		}
		s = trim(line);
		if (!*s)
			continue;
		ret = parse_line(c, s, msg, sizeof(msg));
		if (ret) {
			seterr(err, errlen, "%s:%u: %s", path, lineno, msg);
			goto out;
		}
	}
	if (ferror(f)) {
		ret = -EIO;
		seterr(err, errlen, "%s: read error", path);
	}
out:
	free(line);
	fclose(f);
	return ret;
}

/*
 * Walk argv.  With @only_config it just records --config (so the file can
 * be read before the rest of argv is applied over it).
 */
static int parse_argv(struct config *c, int argc, char *const argv[], bool only_config, char *err,
		      size_t n)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL, *eq;
		const struct opt *o;
		size_t len;
		int ret;

		if (!strcmp(a, "-h")) {
			a = "--help";
		} else if (!strcmp(a, "-V")) {
			a = "--version";
		} else if (strncmp(a, "--", 2) || !a[2]) {
			seterr(err, n, "unexpected argument '%s' (see --help)", a);
			return -EINVAL;
		}
		eq = strchr(a + 2, '=');
		len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		o = find_opt(a + 2, len);
		if (!o) {
			seterr(err, n, "unknown option '%.*s' (see --help)", (int)len + 2, a);
			return -EINVAL;
		}
		if (eq) {
			v = eq + 1;
		} else if (o->kind == OPT_VALUE) {
			if (i + 1 >= argc) {
				seterr(err, n, "--%s needs a value", o->name);
				return -EINVAL;
			}
			v = argv[++i];
		}
		if (only_config != (o->set == set_config))
			continue;
		ret = o->set(c, v, SRC_ARGV, err, n);
		if (ret) {
			/* Name the flag, not a file key: "--listen 'x': ...". */
			char msg[CONFIG_ERR_LEN];

			snprintf(msg, sizeof(msg), "--%s", err);
			seterr(err, n, "%s", msg);
			return ret;
		}
	}
	return 0;
}

const struct sockaddr_storage *config_alt_primary(const struct config *c)
{
	const struct sockaddr *alt = (const struct sockaddr *)&c->alt;

	if (alt->sa_family == AF_UNSPEC)
		return NULL;
	for (size_t i = 0; i < c->n_listen; i++) {
		const struct sockaddr *p = (const struct sockaddr *)&c->listen[i];
		struct sockaddr_storage a = c->alt;

		if (p->sa_family != alt->sa_family || addr_is_any(p) || addr_port(p) == addr_port(alt))
			continue;
		/* The IPs must differ too: compare with equal ports. */
		addr_set_port((struct sockaddr *)&a, addr_port(p));
		if (addr_cmp(p, (struct sockaddr *)&a))
			return &c->listen[i];
	}
	return NULL;
}

int config_load(struct config *c, int argc, char *const argv[], char *err, size_t errlen)
{
	int ret;

	config_init(c);
	ret = parse_argv(c, argc, argv, true, err, errlen);
	if (ret)
		return ret;
	if (c->config_file[0]) {
		ret = config_parse_file(c, c->config_file, err, errlen);
		if (ret)
			return ret;
	}
	ret = parse_argv(c, argc, argv, false, err, errlen);
	if (ret || c->help || c->version)
		return ret;
	if (!c->n_listen) {
		addr_parse("0.0.0.0", ADDR_DEFAULT_PORT, &c->listen[0]);
		addr_parse("::", ADDR_DEFAULT_PORT, &c->listen[1]);
		c->n_listen = 2;
		c->listen_default = true;
	}
	if (c->xdp_no_generic && !c->xdp_ifname[0]) {
		seterr(err, errlen, "--xdp-no-generic needs --xdp IFNAME");
		return -EINVAL;
	}
	if (c->stun_only && c->db_given) {
		seterr(err, errlen, "--stun-only and --db exclude each other");
		return -EINVAL;
	}
	if (c->alt.ss_family != AF_UNSPEC && !config_alt_primary(c)) {
		seterr(err, errlen,
		       "--alt needs a --listen of its family with a concrete IP and another port");
		return -EINVAL;
	}
	return 0;
}

void config_usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [OPTIONS]\n"
		"pinhole access server: answers STUN Binding requests in userspace (io_uring)\n"
		"and, with --xdp, in the kernel; with a store (--db) it also runs the access\n"
		"protocol (login, routing tables, keepalives, punches, presence) on the same\n"
		"addresses.  SIGINT/SIGTERM stop it cleanly.\n\n",
		prog);
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		const char *h = o->help;
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-24s ", flag);
		/* Indent continuation lines under the first. */
		while (*h) {
			size_t len = strcspn(h, "\n");

			fprintf(f, "%.*s\n", (int)len, h);
			h += len;
			if (*h == '\n' && *++h)
				fprintf(f, "  %-24s ", "");
		}
	}
}
