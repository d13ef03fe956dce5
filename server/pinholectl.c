// SPDX-License-Identifier: MIT
/*
 * pinholectl: manage the account store the server reads (users, contact
 * permissions) and look at who is online.  Works on the same file as a
 * running pinhole-server: the server sees changes on its next lookup.
 *
 * Passwords are read from stdin (one line; prompted twice without echo on
 * a terminal) or from the first line of --password-file, never from argv,
 * where every user of the machine could read them in ps or shell history.
 *
 * `stats` reads the XDP program's pinned per-CPU counters and its session
 * table straight from bpffs (bpf_obj_get): it loads and attaches nothing,
 * so it works beside a running server and after one stopped with --keep.
 *
 * Every command that lists or reports (user list, contact list, sessions,
 * stats, realm) prints JSON with --json, built with jansson so names are
 * always escaped correctly.  The shapes are part of the interface (scripts
 * and monitoring parse them): add keys, never rename, retype or remove.
 *
 *   user list     {"users":[{"name":"alice","created":"2026-01-02T03:04:05Z"}]}
 *   contact list  {"user":"alice","contacts":[{"name":"bob","direction":"both"}]}
 *                 direction: "out" (alice may contact bob), "in", "both"
 *   sessions      {"sessions":[{"user":"alice","id":7,"observed":"198.18.0.2:4000",
 *                  "claimed":"198.18.0.2:4000","local":["10.0.0.2:5000"],
 *                  "nat":{"mapping":"eim","filtering":"apdf"},
 *                  "since":"2026-...Z","refreshed":"2026-...Z"}]}
 *                 observed / claimed: null when unknown; mapping and filtering
 *                 as nat_mapping_name() / nat_filtering_name() print them
 *   stats         {"xdp":{"tx_binding":{"packets":3,"bytes":186},...},
 *                  "sessions_online":1,
 *                  "kernel_sessions":{"slots":1000,"live":1,"map_bytes":61440}}
 *                 every reason of enum ph_xdp_reason, in enum order, named by
 *                 xdp_reason_name(); sessions_online is null without a store,
 *                 kernel_sessions null without a pinned sessions array;
 *                 map_bytes: the kernel's memory of every map the program
 *                 pinned there uses
 *   realm         {"realm":"pinhole"}
 *
 * Lists are [] when empty; times are UTC ISO 8601.  Errors still go to
 * stderr as one line, with the same exit codes, and nothing to stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include <linux/magic.h>

#include "addr.h"
#include "log.h"
#include "nat.h"
#include "pinhole_kern_user.h"
#include "sessmap.h"
#include "store.h"
#include "xdp.h"

/* Exit codes, so scripts can tell failures apart. */
enum {
	EX_OK = 0,
	EX_FAIL = 1,		/* anything not below */
	EX_USAGE = 2,		/* bad arguments, bad name, bad password */
	EX_NOTFOUND = 3,	/* no such user / database / pin dir */
	EX_EXISTS = 4,		/* user already exists */
	EX_BUSY = 5,		/* another writer holds the lock */
	EX_RDONLY = 6,		/* database is read-only */
	EX_CORRUPT = 7,		/* corrupt, or not a pinhole store */
};

static const char *db_path = STORE_PATH_DEFAULT;
static bool db_given;		/* --db on the command line */
static const char *opt_realm;
static bool opt_json;		/* --json, global or after the command */

static void __attribute__((format(printf, 1, 2))) say_err(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "pinholectl: %s\n", line);
}

static void log_hook(enum log_level level, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "pinholectl: %s\n", line);
}

/* --- help ----------------------------------------------------------------- */

struct cmd_help {
	const char *name;
	const char *synopsis;
	const char *text;
};

static const struct cmd_help helps[] = {
	{ "user add", "user add NAME [--password-file FILE]",
	  "Add user NAME.  The password is the first line of FILE, or one line on\n"
	  "stdin (asked twice, without echo, on a terminal).  Passwords are never\n"
	  "accepted as arguments.  Only keys derived from it are stored.  Creates the\n"
	  "database if it does not exist.\n" },
	{ "user passwd", "user passwd NAME [--password-file FILE]",
	  "Set a new password for NAME, read as for `user add`.\n" },
	{ "user del", "user del NAME",
	  "Delete user NAME with their contact permissions (both ways) and sessions.\n" },
	{ "user list", "user list [--json]",
	  "List users and when they were added (UTC).\n"
	  "--json: {\"users\":[{\"name\":\"alice\",\"created\":\"2026-01-02T03:04:05Z\"}]}\n" },
	{ "contact allow", "contact allow A B",
	  "Let A contact B.  One direction only: `contact allow B A` for the other.\n" },
	{ "contact deny", "contact deny A B", "Take away A's permission to contact B.\n" },
	{ "contact list", "contact list A [--json]",
	  "A's contacts: \"out\" = A may contact them, \"in\" = they may contact A,\n"
	  "\"both\" = both ways.\n"
	  "--json: {\"user\":\"A\",\"contacts\":[{\"name\":\"bob\",\"direction\":\"out|in|both\"}]}\n" },
	{ "sessions", "sessions [--json]",
	  "Who is online: user, observed (reflexive) address, the address the endpoint\n"
	  "claimed (\"=\" when the same), NAT behaviour as MAPPING-FILTERING in RFC 4787\n"
	  "terms (eim adm apdm - eif adf apdf; \"none\" = no NAT and no filtering;\n"
	  "\"unknown\" = not discovered), login time and last refresh (UTC).\n"
	  "--json: {\"sessions\":[{\"user\":\"alice\",\"id\":7,\"observed\":\"IP:PORT\",\n"
	  "        \"claimed\":\"IP:PORT\",\"local\":[\"IP:PORT\",...],\n"
	  "        \"nat\":{\"mapping\":\"eim\",\"filtering\":\"apdf\"},\n"
	  "        \"since\":\"ISO 8601\",\"refreshed\":\"ISO 8601\"}]}\n"
	  "        (observed / claimed null when unknown; claimed is the address itself)\n" },
	{ "stats", "stats [--pin-dir DIR] [--json]",
	  "The XDP program's counters: packets and bytes per reason (answered in the\n"
	  "kernel, passed to userspace, dropped), summed over CPUs, read from the maps\n"
	  "pinned in DIR (default " PH_PIN_DIR_DEFAULT ") while pinhole-server runs with\n"
	  "--xdp (or after it stopped with --keep); loads and attaches nothing.  Adds the\n"
	  "number of sessions online from the store given with --db, or from the default\n"
	  "store if it exists, and the kernel's session table: live sessions, slots, and\n"
	  "the kernel memory of every map of the program pinned in DIR.  Needs root (or\n"
	  "CAP_BPF).\n"
	  "--json: {\"xdp\":{\"tx_binding\":{\"packets\":N,\"bytes\":N},...every reason...},\n"
	  "        \"sessions_online\":N,   (null without a store)\n"
	  "        \"kernel_sessions\":{\"slots\":N,\"live\":N,\"map_bytes\":N}}\n"
	  "        (null without a pinned sessions array)\n" },
	{ "realm", "realm [--json]",
	  "Print the realm the keys are derived in (fixed at creation).\n"
	  "--json: {\"realm\":\"pinhole\"}\n" },
};

#define N_HELPS (sizeof(helps) / sizeof(helps[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: pinholectl [--db PATH] [--realm REALM] [--json] [-v] COMMAND ...\n\n"
		     "Commands:\n");
	for (i = 0; i < N_HELPS; i++)
		fprintf(out, "  %s\n", helps[i].synopsis);
	fprintf(out,
		"\nOptions:\n"
		"  --db PATH       the store (default %s)\n"
		"  --realm REALM   realm for a new store (default \"%s\"); must match an\n"
		"                  existing one\n"
		"  --json          JSON on stdout for the commands that list or report\n"
		"                  (before or after COMMAND)\n"
		"  -v, --verbose   show the store's own messages (SQLite errors)\n"
		"  -h, --help      this text; COMMAND --help for one command\n\n"
		"JSON (one document, one line; lists are [] when empty; times UTC ISO 8601;\n"
		"keys may be added, never renamed or removed):\n"
		"  user list     {\"users\":[{\"name\":N,\"created\":T}]}\n"
		"  contact list  {\"user\":N,\"contacts\":[{\"name\":N,\"direction\":\"out|in|both\"}]}\n"
		"  sessions      {\"sessions\":[{\"user\":N,\"id\":I,\"observed\":\"IP:PORT\",\"claimed\":..,\n"
		"                 \"local\":[..],\"nat\":{\"mapping\":M,\"filtering\":F},\"since\":T,\n"
		"                 \"refreshed\":T}]}\n"
		"  stats         {\"xdp\":{\"REASON\":{\"packets\":P,\"bytes\":B},...},\"sessions_online\":S,\n"
		"                 \"kernel_sessions\":{\"slots\":N,\"live\":L,\"map_bytes\":B}}\n"
		"  realm         {\"realm\":R}\n"
		"Errors go to stderr as one line, also with --json.\n\n"
		"Names: 1-%d printable ASCII characters, no spaces, no ':'; case sensitive.\n"
		"Exit status: 0 ok, 1 error, 2 usage, 3 not found (user, database, pin dir),\n"
		"4 already exists, 5 database locked, 6 read-only, 7 corrupt or not a pinhole\n"
		"store.\n",
		STORE_PATH_DEFAULT, STORE_REALM_DEFAULT, STORE_NAME_MAX);
}

/* Print @cmd's usage (or everything's, for an unknown @cmd) on stdout: it was asked for. */
static int cmd_usage(const char *cmd)
{
	size_t i;

	for (i = 0; i < N_HELPS; i++) {
		if (strcmp(helps[i].name, cmd))
			continue;
		printf("usage: pinholectl [--db PATH] %s\n\n%s", helps[i].synopsis, helps[i].text);
		return EX_OK;
	}
	usage(stdout);
	return EX_OK;
}

/* --- errors ------------------------------------------------------------- */

/* Exit code and message for a store error not handled by the command itself. */
static int store_fail(int err, const char *what)
{
	switch (err) {
	case -EBUSY:
		say_err("%s: %s is locked by another writer; try again", what, db_path);
		return EX_BUSY;
	case -EROFS:
		say_err("%s: %s is read-only", what, db_path);
		return EX_RDONLY;
	case -EUCLEAN:
		say_err("%s: %s is corrupt or not a pinhole store", what, db_path);
		return EX_CORRUPT;
	case -ENOSPC:
		say_err("%s: disk full", what);
		return EX_FAIL;
	default:
		say_err("%s: %s", what, strerror(-err));
		return EX_FAIL;
	}
}

static int bad_name(const char *name)
{
	say_err("bad user name '%s': use 1-%d printable ASCII characters, no spaces or ':'",
		name, STORE_NAME_MAX);
	return EX_USAGE;
}

static int no_user(const char *name)
{
	say_err("no such user '%s'", name);
	return EX_NOTFOUND;
}

static int open_store(unsigned int flags, struct store **out)
{
	struct store_opts o = { .realm = opt_realm };
	struct store *s;
	int err;

	s = store_open(db_path, flags, &o);
	if (s) {
		*out = s;
		return EX_OK;
	}
	err = errno;
	switch (err) {
	case ENOENT:
		if (flags & STORE_O_CREATE)
			say_err("%s: its directory does not exist", db_path);
		else
			say_err("%s: no such database (`user add` creates it)", db_path);
		return EX_NOTFOUND;
	case ENOTSUP:
		say_err("%s: written by a newer pinhole; refusing to touch it", db_path);
		return EX_FAIL;
	case EINVAL:
		s = opt_realm ? store_open(db_path, STORE_O_RDONLY, NULL) : NULL;
		if (s) {
			say_err("%s: the store's realm is \"%s\", not \"%s\" (keys depend on it)",
				db_path, store_realm(s), opt_realm);
			store_close(s);
		} else {
			say_err("bad realm '%s': use 1-%d printable ASCII characters, "
				"no spaces or ':'",
				opt_realm ? opt_realm : "", STORE_REALM_MAX);
		}
		return EX_USAGE;
	default:
		return store_fail(-err, "open");
	}
}

/* --- passwords -------------------------------------------------------------- */

/*
 * One line from @fd into @buf (room for STORE_PASSWORD_MAX + 1), without
 * its "\n" or "\r\n".  Byte by byte: no stdio buffer keeps a copy, and the
 * rest of the input stays unread.  Returns the length or -errno (-E2BIG
 * when the line is too long, -ENODATA on empty input).
 */
static ssize_t read_line(int fd, char *buf)
{
	size_t n = 0;
	bool any = false;
	char c;

	for (;;) {
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 || c == '\n')
			break;
		any = true;
		if (n == STORE_PASSWORD_MAX + 1)
			return -E2BIG;
		buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	if (n > STORE_PASSWORD_MAX)
		return -E2BIG;
	buf[n] = '\0';
	return n || any ? (ssize_t)n : -ENODATA;
}

static ssize_t read_tty_password(const char *prompt, char *buf)
{
	struct termios old, quiet;
	ssize_t n;

	if (tcgetattr(STDIN_FILENO, &old))
		return -errno;
	quiet = old;
	quiet.c_lflag &= ~ECHO;
	/*
	 * Echo off (flushing typeahead) before the prompt shows, not after:
	 * whatever is typed once the prompt is visible must not be discarded.
	 */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet))
		return -errno;
	fputs(prompt, stderr);
	fflush(stderr);
	n = read_line(STDIN_FILENO, buf);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return n;
}

/* Password into @pw (STORE_PASSWORD_MAX + 1 bytes): EX_OK or an exit code after a message. */
static int get_password(const char *file, const char *name, char *pw, size_t *len)
{
	char again[STORE_PASSWORD_MAX + 2], prompt[128];
	const char *from = file ? file : "stdin";
	ssize_t n;
	int fd;

	if (file) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			say_err("%s: %s", file, strerror(errno));
			return errno == ENOENT ? EX_NOTFOUND : EX_FAIL;
		}
		n = read_line(fd, pw);
		close(fd);
	} else if (isatty(STDIN_FILENO)) {
		snprintf(prompt, sizeof(prompt), "Password for %s: ", name);
		n = read_tty_password(prompt, pw);
		if (n > 0) {
			ssize_t m = read_tty_password("Again: ", again);

			if (m != n || memcmp(again, pw, n)) {
				explicit_bzero(again, sizeof(again));
				say_err("the passwords do not match");
				return EX_USAGE;
			}
			explicit_bzero(again, sizeof(again));
		}
	} else {
		n = read_line(STDIN_FILENO, pw);
	}
	if (n == -E2BIG) {
		say_err("password from %s is longer than %d bytes", from, STORE_PASSWORD_MAX);
		return EX_USAGE;
	}
	if (n == 0 || n == -ENODATA) {
		say_err("no password on the first line of %s", from);
		return EX_USAGE;
	}
	if (n < 0) {
		say_err("reading %s: %s", from, strerror(-n));
		return EX_FAIL;
	}
	*len = n;
	return EX_OK;
}

/* --- aligned tables ------------------------------------------------------- */

#define TABLE_MAX_COLS 8

struct table {
	unsigned int ncol;
	size_t nrow, cap;
	char **cells;	/* nrow * ncol strings, row 0 is the header */
	size_t width[TABLE_MAX_COLS];
	unsigned int right;	/* bit c: column c is right-aligned (numbers) */
};

static int table_add(struct table *t, ...)
{
	va_list ap;
	unsigned int c;

	if (t->nrow == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, cap * t->ncol * sizeof(*cells));

		if (!cells)
			return -ENOMEM;
		t->cells = cells;
		t->cap = cap;
	}
	va_start(ap, t);
	for (c = 0; c < t->ncol; c++) {
		const char *v = va_arg(ap, const char *);
		char *dup = strdup(v ? v : "");

		if (!dup) {
			while (c--)
				free(t->cells[t->nrow * t->ncol + c]);
			va_end(ap);
			return -ENOMEM;
		}
		t->cells[t->nrow * t->ncol + c] = dup;
		if (strlen(dup) > t->width[c])
			t->width[c] = strlen(dup);
	}
	va_end(ap);
	t->nrow++;
	return 0;
}

static void table_print(const struct table *t)
{
	size_t r;
	unsigned int c;

	for (r = 0; r < t->nrow; r++) {
		for (c = 0; c < t->ncol; c++) {
			const char *v = t->cells[r * t->ncol + c];
			const char *sep = c + 1 == t->ncol ? "\n" : "  ";

			if (t->right & (1u << c))
				printf("%*s%s", (int)t->width[c], v, sep);
			else if (c + 1 == t->ncol)
				printf("%s\n", v);
			else
				printf("%-*s  ", (int)t->width[c], v);
		}
	}
}

static void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%lld", (long long)t);
}

/* --- JSON ------------------------------------------------------------------ */

/*
 * Setters that turn every jansson failure into -ENOMEM: a NULL value (no
 * memory, or a string that is not UTF-8, which validated names never are)
 * makes json_object_set_new() fail too, so one check covers both.
 */
static int jset(json_t *obj, const char *key, json_t *val)
{
	return json_object_set_new(obj, key, val) ? -ENOMEM : 0;
}

static int jset_str(json_t *obj, const char *key, const char *val)
{
	return jset(obj, key, val ? json_string(val) : json_null());
}

static int jset_time(json_t *obj, const char *key, int64_t t)
{
	char buf[32];

	fmt_time(t, buf, sizeof(buf));
	return jset_str(obj, key, buf);
}

static int jpush(json_t *arr, json_t *val)
{
	return json_array_append_new(arr, val) ? -ENOMEM : 0;
}

/*
 * Print @doc as one line on stdout and free it.  The document is complete
 * before anything is written, so a failing command never leaves half a
 * document for a script to misparse.
 */
static int json_print(json_t *doc, const char *what)
{
	int err = json_dumpf(doc, stdout, JSON_COMPACT) ? -EIO : 0;

	json_decref(doc);
	errno = 0;
	if (!err && (fputc('\n', stdout) == EOF || fflush(stdout)))
		err = errno ? -errno : -EIO;
	if (err) {
		say_err("%s: writing the output: %s", what, strerror(-err));
		return EX_FAIL;
	}
	return EX_OK;
}

/* --- commands ------------------------------------------------------------- */

struct args {
	const char *cmd;	/* "user add", ... for messages and help */
	int npos;
	const char *pos[4];
	const char *password_file;
	const char *pin_dir;	/* stats --pin-dir */
};

static int cmd_user_add(const struct args *a, bool add)
{
	char pw[STORE_PASSWORD_MAX + 2];
	const char *name = a->pos[0];
	struct store *s = NULL;
	size_t plen = 0;
	int ex, err;

	if (store_name_check(name))
		return bad_name(name);
	ex = open_store(add ? STORE_O_CREATE : 0, &s);
	if (ex)
		return ex;
	/* Fail before asking for a password nobody will use. */
	if (store_readonly(s)) {
		ex = store_fail(-EROFS, a->cmd);
		goto out;
	}
	if (add) {
		struct store_user u;

		err = store_user_get(s, name, &u);
		if (!err) {
			say_err("user '%s' already exists", name);
			ex = EX_EXISTS;
			goto out;
		}
	} else if (store_user_get(s, name, &(struct store_user){ 0 }) == -ENOENT) {
		ex = no_user(name);
		goto out;
	}
	ex = get_password(a->password_file, name, pw, &plen);
	if (ex)
		goto out;
	err = add ? store_user_add(s, name, pw, plen) : store_user_set_password(s, name, pw, plen);
	if (err == -EINVAL) {
		say_err("bad password: 1-%d bytes without control characters", STORE_PASSWORD_MAX);
		ex = EX_USAGE;
	} else if (err == -EEXIST) {
		say_err("user '%s' already exists", name);
		ex = EX_EXISTS;
	} else if (err == -ENOENT) {
		ex = no_user(name);
	} else if (err) {
		ex = store_fail(err, a->cmd);
	} else {
		printf(add ? "added user %s (realm %s)\n" : "new password for %s (realm %s)\n",
		       name, store_realm(s));
	}
out:
	explicit_bzero(pw, sizeof(pw));
	store_close(s);
	return ex;
}

static int cmd_user_del(const struct args *a)
{
	const char *name = a->pos[0];
	struct store *s;
	int ex, err;

	if (store_name_check(name))
		return bad_name(name);
	ex = open_store(0, &s);
	if (ex)
		return ex;
	err = store_user_del(s, name);
	if (err == -ENOENT)
		ex = no_user(name);
	else if (err)
		ex = store_fail(err, a->cmd);
	else
		printf("deleted user %s\n", name);
	store_close(s);
	return ex;
}

/* Where a listing goes: rows of @t, or elements of the JSON array @arr. */
struct sink {
	struct table *t;
	json_t *arr;
};

/* --json listing: a new document @doc holding an empty array under @key, filled through @k. */
static int sink_begin_json(struct sink *k, json_t **doc, const char *key)
{
	*doc = json_object();
	k->arr = json_array();
	if (!*doc || !k->arr)
		return -ENOMEM;
	return jset(*doc, key, json_incref(k->arr));
}

/*
 * Finish a listing: the store error @err, or the JSON document @doc
 * (when --json) or the table.  Frees everything the sink holds.
 */
static int sink_end(struct sink *k, json_t *doc, int err, const char *cmd)
{
	int ex = EX_OK;

	if (err) {
		ex = store_fail(err, cmd);
	} else if (doc) {
		ex = json_print(doc, cmd);
		doc = NULL;
	} else {
		table_print(k->t);
	}
	json_decref(k->arr);
	json_decref(doc);
	table_free(k->t);
	return ex;
}

static int user_row(const struct store_user *u, void *ctx)
{
	struct sink *k = ctx;
	char when[32];
	json_t *o;

	if (k->arr) {
		o = json_object();
		if (!o || jpush(k->arr, o))
			return -ENOMEM;
		return jset_str(o, "name", u->name) ?: jset_time(o, "created", u->created);
	}
	fmt_time(u->created, when, sizeof(when));
	return table_add(k->t, u->name, when);
}

static int cmd_user_list(const struct args *a)
{
	struct table t = { .ncol = 2 };
	struct sink k = { .t = &t };
	json_t *doc = NULL;
	struct store *s;
	int ex, err;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	if (opt_json)
		err = sink_begin_json(&k, &doc, "users");
	else
		err = table_add(&t, "NAME", "CREATED");
	if (!err)
		err = store_user_list(s, user_row, &k);
	ex = sink_end(&k, doc, err, a->cmd);
	store_close(s);
	return ex;
}

/* Which of @a, @b is missing, for a precise message; EX_OK if both exist. */
static int which_missing(struct store *s, const char *a, const char *b)
{
	struct store_user u;

	if (store_user_get(s, a, &u) == -ENOENT)
		return no_user(a);
	if (store_user_get(s, b, &u) == -ENOENT)
		return no_user(b);
	return EX_OK;
}

static int cmd_contact(const struct args *a, bool allow)
{
	const char *x = a->pos[0], *y = a->pos[1];
	struct store *s;
	int ex, err;

	if (store_name_check(x))
		return bad_name(x);
	if (store_name_check(y))
		return bad_name(y);
	if (!strcmp(x, y)) {
		say_err("a user cannot be their own contact");
		return EX_USAGE;
	}
	ex = open_store(0, &s);
	if (ex)
		return ex;
	err = allow ? store_contact_allow(s, x, y) : store_contact_deny(s, x, y);
	if (!err) {
		printf(allow ? "%s may now contact %s\n" : "%s may no longer contact %s\n", x, y);
	} else if (err == -EEXIST && allow) {
		/* Already in the state asked for: repeatable in scripts. */
		printf("%s may already contact %s\n", x, y);
	} else if (err == -ENOENT) {
		ex = which_missing(s, x, y);
		if (!ex && !allow)
			printf("%s was not allowed to contact %s\n", x, y);
		else if (!ex)
			ex = store_fail(err, a->cmd);
	} else {
		ex = store_fail(err, a->cmd);
	}
	store_close(s);
	return ex;
}

struct contact {
	char name[STORE_NAME_MAX + 1];
	unsigned char dir;	/* bit 0: out, bit 1: in */
};

struct contact_set {
	struct contact *c;
	size_t n, cap;
	unsigned char bit;
};

/* Merge one name into the set; profiles are small enough for a linear search. */
static int contact_add(const char *name, void *ctx)
{
	struct contact_set *cs = ctx;
	size_t i;

	for (i = 0; i < cs->n; i++) {
		if (!strcmp(cs->c[i].name, name)) {
			cs->c[i].dir |= cs->bit;
			return 0;
		}
	}
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 16;
		struct contact *c = realloc(cs->c, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		cs->c = c;
		cs->cap = cap;
	}
	snprintf(cs->c[cs->n].name, sizeof(cs->c[cs->n].name), "%s", name);
	cs->c[cs->n++].dir = cs->bit;
	return 0;
}

static int contact_cmp(const void *a, const void *b)
{
	return strcmp(((const struct contact *)a)->name, ((const struct contact *)b)->name);
}

static const char *const dir_names[] = { "", "out", "in", "both" };

/* {"user":@name,"contacts":[{"name":..,"direction":..}]} into *@doc: 0 or -ENOMEM. */
static int contacts_json(const char *name, const struct contact_set *cs, json_t **doc)
{
	json_t *d = json_object(), *arr = json_array(), *o;
	int err = d && arr ? 0 : -ENOMEM;
	size_t i;

	if (!err)
		err = jset_str(d, "user", name) ?: jset(d, "contacts", json_incref(arr));
	for (i = 0; !err && i < cs->n; i++) {
		o = json_object();
		err = o ? jpush(arr, o) : -ENOMEM;
		if (!err)
			err = jset_str(o, "name", cs->c[i].name) ?:
			      jset_str(o, "direction", dir_names[cs->c[i].dir & 3]);
	}
	json_decref(arr);
	if (err) {
		json_decref(d);
		return err;
	}
	*doc = d;
	return 0;
}

static int cmd_contact_list(const struct args *a)
{
	struct contact_set cs = { 0 };
	struct table t = { .ncol = 2 };
	const char *name = a->pos[0];
	json_t *doc = NULL;
	struct store *s;
	int ex, err;
	size_t i;

	if (store_name_check(name))
		return bad_name(name);
	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	cs.bit = 1;
	err = store_contact_list(s, name, STORE_CONTACT_OUT, contact_add, &cs);
	if (!err) {
		cs.bit = 2;
		err = store_contact_list(s, name, STORE_CONTACT_IN, contact_add, &cs);
	}
	if (err == -ENOENT) {
		ex = no_user(name);
		goto out;
	}
	if (err) {
		ex = store_fail(err, a->cmd);
		goto out;
	}
	if (cs.n) /* qsort wants a non-null base even for nothing */
		qsort(cs.c, cs.n, sizeof(*cs.c), contact_cmp);
	if (opt_json) {
		err = contacts_json(name, &cs, &doc);
		if (!err) {
			ex = json_print(doc, a->cmd);
			goto out;
		}
	} else {
		err = table_add(&t, "CONTACT", "DIRECTION");
		for (i = 0; !err && i < cs.n; i++)
			err = table_add(&t, cs.c[i].name, dir_names[cs.c[i].dir & 3]);
	}
	if (err)
		ex = store_fail(err, a->cmd);
	else
		table_print(&t);
out:
	table_free(&t);
	free(cs.c);
	store_close(s);
	return ex;
}

static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_UNSPEC || addr_format((const struct sockaddr *)ss, buf, len))
		snprintf(buf, len, "-");
}

/* An address as JSON: "IP:PORT" ("[v6]:PORT"), or null when absent or unprintable. */
static json_t *addr_json(const struct sockaddr_storage *ss)
{
	char buf[ADDR_STRLEN];

	if (ss->ss_family == AF_UNSPEC ||
	    addr_format((const struct sockaddr *)ss, buf, sizeof(buf)))
		return json_null();
	return json_string(buf);
}

static int session_json(const struct store_session *ss, json_t *arr)
{
	json_t *o = json_object(), *nat = json_object(), *local = json_array();
	int err = o && nat && local ? 0 : -ENOMEM;
	unsigned int i;

	if (!err)
		err = jpush(arr, json_incref(o));
	if (!err)
		err = jset_str(o, "user", ss->user);
	/*
	 * A JSON number: the server issues 32-bit ids, exact in every reader
	 * (jq holds numbers as doubles).
	 */
	if (!err)
		err = jset(o, "id", json_integer((json_int_t)ss->id));
	if (!err)
		err = jset(o, "observed", addr_json(&ss->observed)) ?:
		      jset(o, "claimed", addr_json(&ss->claimed));
	for (i = 0; !err && i < ss->n_local && i < STORE_SESSION_MAX_LOCAL; i++) {
		json_t *l = addr_json(&ss->local[i]);

		/* An unprintable local address carries nothing useful: skip it. */
		if (l && json_is_null(l))
			continue;
		err = l ? jpush(local, l) : -ENOMEM;
	}
	if (!err)
		err = jset(o, "local", json_incref(local)) ?:
		      jset_str(nat, "mapping", nat_mapping_name(ss->mapping)) ?:
		      jset_str(nat, "filtering", nat_filtering_name(ss->filtering)) ?:
		      jset(o, "nat", json_incref(nat)) ?:
		      jset_time(o, "since", ss->since) ?:
		      jset_time(o, "refreshed", ss->refreshed);
	json_decref(local);
	json_decref(nat);
	json_decref(o);
	return err;
}

static int session_row(const struct store_session *ss, void *ctx)
{
	const struct sockaddr *claim = (const struct sockaddr *)&ss->claimed;
	char obs[ADDR_STRLEN], claimed[ADDR_STRLEN], nat[NAT_LABEL_MAX], since[32], refreshed[32];
	struct sink *k = ctx;

	if (k->arr)
		return session_json(ss, k->arr);
	fmt_addr(&ss->observed, obs, sizeof(obs));
	if (claim->sa_family != AF_UNSPEC &&
	    !addr_cmp(claim, (const struct sockaddr *)&ss->observed))
		snprintf(claimed, sizeof(claimed), "=");
	else
		fmt_addr(&ss->claimed, claimed, sizeof(claimed));
	if (nat_label(ss->mapping, ss->filtering, nat, sizeof(nat)))
		snprintf(nat, sizeof(nat), "?");
	fmt_time(ss->since, since, sizeof(since));
	fmt_time(ss->refreshed, refreshed, sizeof(refreshed));
	return table_add(k->t, ss->user, obs, claimed, nat, since, refreshed);
}

static int cmd_sessions(const struct args *a)
{
	struct table t = { .ncol = 6 };
	struct sink k = { .t = &t };
	json_t *doc = NULL;
	struct store *s;
	int ex, err;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	if (opt_json)
		err = sink_begin_json(&k, &doc, "sessions");
	else
		err = table_add(&t, "USER", "OBSERVED", "CLAIMED", "NAT", "SINCE", "REFRESHED");
	if (!err)
		err = store_session_list(s, NULL, session_row, &k);
	ex = sink_end(&k, doc, err, a->cmd);
	store_close(s);
	return ex;
}

static int cmd_realm(const struct args *a)
{
	struct store *s;
	json_t *doc;
	int ex;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	if (opt_json) {
		doc = json_object();
		if (!doc || jset_str(doc, "realm", store_realm(s))) {
			json_decref(doc);
			ex = store_fail(-ENOMEM, a->cmd);
		} else {
			ex = json_print(doc, a->cmd);
		}
	} else {
		printf("%s\n", store_realm(s));
	}
	store_close(s);
	return ex;
}

/* --- stats ------------------------------------------------------------------ */

/*
 * Sum the per-CPU "stats" array pinned in @pin_dir into out[PH_REASON_MAX].
 * Reads the pin directly: nothing is loaded or attached, so this works
 * beside a running server and on what a --keep exit left behind.  Returns
 * EX_OK, or an exit code after a message.
 */
static int stats_read(const char *pin_dir, struct ph_stat *out)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	struct statfs sfs;
	int ex = EX_FAIL, fd = -1, err;

	if (statfs(pin_dir, &sfs)) {
		if (errno == ENOENT) {
			say_err("%s does not exist: is pinhole-server running with --xdp "
				"(or stopped with --keep), with this --pin-dir?", pin_dir);
			return EX_NOTFOUND;
		}
		say_err("%s: %s", pin_dir, strerror(errno));
		return EX_FAIL;
	}
	/* Any other file system cannot hold a pinned map: say so, not "EACCES". */
	if (sfs.f_type != BPF_FS_MAGIC) {
		say_err("%s is not on a bpffs (mount -t bpf bpf /sys/fs/bpf)", pin_dir);
		return EX_USAGE;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/stats", pin_dir) >= sizeof(path)) {
		say_err("%s: path too long", pin_dir);
		return EX_USAGE;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = errno;

		fd = -1;
		if (err == ENOENT) {
			say_err("%s: no stats map pinned there (not a pinhole pin dir?)", pin_dir);
			ex = EX_NOTFOUND;
		} else if (err == EPERM || err == EACCES) {
			say_err("%s: %s (reading BPF maps needs root or CAP_BPF)", path,
				strerror(err));
		} else {
			say_err("%s: %s", path, strerror(err));
		}
		goto out;
	}
	/*
	 * A pin of that name that is not our counter array would be read with
	 * the wrong layout: refuse it rather than print nonsense.  A larger
	 * array (a newer program with more reasons) is fine: this build
	 * prints the reasons it knows.
	 */
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		say_err("%s: %s", path, strerror(errno));
		goto out;
	}
	if (info.type != BPF_MAP_TYPE_PERCPU_ARRAY || info.key_size != sizeof(__u32) ||
	    info.value_size != sizeof(struct ph_stat) || info.max_entries < PH_REASON_MAX) {
		say_err("%s is not pinhole's stats map (type %u, key %u, value %u, %u entries)",
			path, info.type, info.key_size, info.value_size, info.max_entries);
		goto out;
	}
	err = xdp_stats_read_fd(fd, out);
	if (err) {
		say_err("%s: %s", path, strerror(-err));
		goto out;
	}
	ex = EX_OK;
out:
	if (fd >= 0)
		close(fd);
	return ex;
}

/* The kernel's session table as stats shows it. */
struct ksess_stats {
	bool present;	     /* a sessions array is pinned in the pin dir */
	uint32_t slots, live;
	uint64_t map_bytes;  /* kernel memory of every map of the program pinned there */
};

static void add_memlock(int map_fd, void *ctx)
{
	*(uint64_t *)ctx += xdp_map_memlock(map_fd);
}

/*
 * The kernel memory of every map the running program uses (pinned in
 * <pin_dir>/prog), its private ones included; 0 if the program is not
 * there or cannot be read.
 */
static uint64_t prog_maps_memlock(const char *pin_dir)
{
	char path[PATH_MAX];
	uint64_t total = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/prog", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	xdp_prog_for_each_map(fd, add_memlock, &total);
	close(fd);
	return total;
}

/* Count the live slots of <pin_dir>/sessions and the kernel memory of the program's maps. */
static int ksess_read(const char *pin_dir, struct ksess_stats *k)
{
	static const char *const pinned[] = {"stats", "listeners", "sessions", "session_events"};
	char path[PATH_MAX];
	struct sessmap m;
	int fd, err;

	memset(k, 0, sizeof(*k));
	k->map_bytes = prog_maps_memlock(pin_dir);
	/* No program pinned (stopped without --keep?): what is pinned, at least. */
	for (size_t i = 0; !k->map_bytes && i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pinned[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		k->map_bytes += xdp_map_memlock(fd);
		close(fd);
	}
	snprintf(path, sizeof(path), "%s/sessions", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	err = sessmap_init(&m, fd, -1, NULL, NULL);
	if (err) {
		close(fd);
		return err;
	}
	k->present = true;
	k->slots = m.slots;
	for (uint32_t slot = 0; slot < m.slots; slot++)
		k->live += sessmap_slot(&m, slot)->id != 0;
	sessmap_fini(&m);
	close(fd);
	return 0;
}

static int count_session(const struct store_session *ss, void *ctx)
{
	(*(unsigned long *)ctx)++;
	return 0;
}

/*
 * {"xdp":{reason:{"packets":..,"bytes":..}},"sessions_online":N|null,
 *  "kernel_sessions":{"slots":..,"live":..,"map_bytes":..}|null} into *@doc.
 */
static int stats_json(const struct ph_stat *st, bool have_store, unsigned long online,
		      const struct ksess_stats *k, json_t **doc)
{
	json_t *d = json_object(), *xdp = json_object(), *o;
	int err = d && xdp ? 0 : -ENOMEM;
	unsigned int r;

	if (!err && k->present) {
		o = json_object();
		err = o ? jset(d, "kernel_sessions", o) : -ENOMEM;
		if (!err)
			err = jset(o, "slots", json_integer(k->slots)) ?:
			      jset(o, "live", json_integer(k->live)) ?:
			      jset(o, "map_bytes", json_integer((json_int_t)k->map_bytes));
	} else if (!err) {
		err = jset(d, "kernel_sessions", json_null());
	}

	if (!err)
		err = jset(d, "xdp", json_incref(xdp));
	/*
	 * json_int_t is signed 64-bit; a counter reaching 2^63 would take
	 * thousands of years at line rate, so the cast loses nothing.
	 */
	for (r = 0; !err && r < PH_REASON_MAX; r++) {
		o = json_object();
		err = o ? jset(xdp, xdp_reason_name(r), o) : -ENOMEM;
		if (!err)
			err = jset(o, "packets", json_integer((json_int_t)st[r].packets)) ?:
			      jset(o, "bytes", json_integer((json_int_t)st[r].bytes));
	}
	if (!err)
		err = jset(d, "sessions_online",
			   have_store ? json_integer((json_int_t)online) : json_null());
	json_decref(xdp);
	if (err) {
		json_decref(d);
		return err;
	}
	*doc = d;
	return 0;
}

static int cmd_stats(const struct args *a)
{
	const char *pin_dir = a->pin_dir ? a->pin_dir : PH_PIN_DIR_DEFAULT;
	struct ph_stat st[PH_REASON_MAX];
	struct table t = { .ncol = 3, .right = 1u << 1 | 1u << 2 };
	struct ksess_stats k;
	unsigned long online = 0;
	bool have_store;
	json_t *doc = NULL;
	struct store *s;
	unsigned int r;
	int ex, err;

	ex = stats_read(pin_dir, st);
	if (ex)
		return ex;
	err = ksess_read(pin_dir, &k);
	if (err) {
		say_err("%s/sessions: %s", pin_dir, strerror(-err));
		return EX_FAIL;
	}
	/*
	 * On the server's host the default store is the server's: count its
	 * sessions without being told.  An explicit --db must exist.
	 */
	have_store = db_given || access(db_path, F_OK) == 0;
	if (have_store) {
		ex = open_store(STORE_O_RDONLY, &s);
		if (ex)
			return ex;
		err = store_session_list(s, NULL, count_session, &online);
		store_close(s);
		if (err)
			return store_fail(err, a->cmd);
	}
	if (opt_json) {
		err = stats_json(st, have_store, online, &k, &doc);
		return err ? store_fail(err, a->cmd) : json_print(doc, a->cmd);
	}
	err = table_add(&t, "REASON", "PACKETS", "BYTES");
	for (r = 0; !err && r < PH_REASON_MAX; r++) {
		char p[24], b[24];

		snprintf(p, sizeof(p), "%llu", (unsigned long long)st[r].packets);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)st[r].bytes);
		err = table_add(&t, xdp_reason_name(r), p, b);
	}
	if (err) {
		ex = store_fail(err, a->cmd);
	} else {
		table_print(&t);
		if (have_store)
			printf("sessions online: %lu\n", online);
		if (k.present)
			printf("kernel sessions: %u live of %u slots; maps %llu bytes of kernel "
			       "memory (%.1f per slot)\n",
			       k.live, k.slots, (unsigned long long)k.map_bytes,
			       (double)k.map_bytes / k.slots);
	}
	table_free(&t);
	return ex;
}

/* --- dispatch ------------------------------------------------------------- */

static int refuse_password_arg(void)
{
	say_err("passwords are never taken from the command line (ps and shell history show "
		"them): pipe one line on stdin or use --password-file FILE");
	return EX_USAGE;
}

/* What a command accepts besides its positionals. */
enum arg_flags {
	ARG_PASSWORD = 1 << 0,	/* reads a password: --password-file */
	ARG_JSON = 1 << 1,	/* lists or reports: --json */
	ARG_PIN_DIR = 1 << 2,	/* reads the XDP maps: --pin-dir */
};

/*
 * The value of option @name at argv[*i] ("--name VALUE" or "--name=VALUE")
 * into *@val.  Returns 1 if argv[*i] is that option (advancing *i past a
 * separate value), 0 if not, or an exit code (negated) after a message.
 */
static int opt_value(int argc, char **argv, int *i, const char *name, const char *cmd,
		     const char **val)
{
	size_t n = strlen(name);
	const char *v = argv[*i];

	if (!strcmp(v, name)) {
		if (++*i == argc) {
			say_err("%s: %s needs a value", cmd, name);
			return -EX_USAGE;
		}
		*val = argv[*i];
		return 1;
	}
	if (!strncmp(v, name, n) && v[n] == '=') {
		*val = v + n + 1;
		return 1;
	}
	return 0;
}

/*
 * Split a command's own arguments into positionals and options.  @npos is
 * how many positionals it takes; @flags (enum arg_flags) which options.
 * Returns EX_OK, an exit code, or -1 when help was printed.
 */
static int parse_args(int argc, char **argv, struct args *a, int npos, unsigned int flags)
{
	bool pw = flags & ARG_PASSWORD;
	int i, r;

	/* Known before any error, so a usage error is one line as --json promises. */
	for (i = 0; i < argc; i++)
		if (!strcmp(argv[i], "--json"))
			opt_json = true;
	if (opt_json && !(flags & ARG_JSON)) {
		say_err("%s: --json is only for the commands that list or report", a->cmd);
		return EX_USAGE;
	}
	for (i = 0; i < argc; i++) {
		const char *v = argv[i];

		if (!strcmp(v, "-h") || !strcmp(v, "--help")) {
			cmd_usage(a->cmd);
			return -1; /* done: exit 0 */
		}
		if ((flags & ARG_JSON) && !strcmp(v, "--json"))
			continue;
		if (flags & ARG_PIN_DIR) {
			r = opt_value(argc, argv, &i, "--pin-dir", a->cmd, &a->pin_dir);
			if (r < 0)
				return -r;
			if (r)
				continue;
		}
		if (pw) {
			r = opt_value(argc, argv, &i, "--password-file", a->cmd, &a->password_file);
			if (r < 0)
				return -r;
			if (r)
				continue;
		}
		if (pw && (!strncmp(v, "--password", 10) || !strncmp(v, "--pass", 6) ||
			   !strcmp(v, "-p") || !strncmp(v, "-p", 2)))
			return refuse_password_arg();
		if (v[0] == '-' && v[1]) {
			say_err("%s: unknown option '%s' (see pinholectl help %s)", a->cmd, v, a->cmd);
			return EX_USAGE;
		}
		if (a->npos == npos) {
			/* `user add bob s3cret`: the extra word is a password. */
			if (pw)
				return refuse_password_arg();
			say_err("%s: unexpected argument '%s' (see pinholectl help %s)", a->cmd, v,
				a->cmd);
			return EX_USAGE;
		}
		a->pos[a->npos++] = v;
	}
	if (a->npos < npos) {
		say_err("%s: missing argument (see pinholectl help %s)", a->cmd, a->cmd);
		return EX_USAGE;
	}
	return EX_OK;
}

enum cmd_id {
	CMD_USER_ADD,
	CMD_USER_PASSWD,
	CMD_USER_DEL,
	CMD_USER_LIST,
	CMD_CONTACT_ALLOW,
	CMD_CONTACT_DENY,
	CMD_CONTACT_LIST,
	CMD_SESSIONS,
	CMD_STATS,
	CMD_REALM,
};

static int run_cmd(enum cmd_id id, const struct args *a)
{
	switch (id) {
	case CMD_USER_ADD:
		return cmd_user_add(a, true);
	case CMD_USER_PASSWD:
		return cmd_user_add(a, false);
	case CMD_USER_DEL:
		return cmd_user_del(a);
	case CMD_USER_LIST:
		return cmd_user_list(a);
	case CMD_CONTACT_ALLOW:
		return cmd_contact(a, true);
	case CMD_CONTACT_DENY:
		return cmd_contact(a, false);
	case CMD_CONTACT_LIST:
		return cmd_contact_list(a);
	case CMD_SESSIONS:
		return cmd_sessions(a);
	case CMD_STATS:
		return cmd_stats(a);
	case CMD_REALM:
		return cmd_realm(a);
	}
	return EX_FAIL;
}

static int dispatch(int argc, char **argv)
{
	static const struct {
		const char *group, *verb;
		enum cmd_id id;
		int npos;
		unsigned int flags;
	} table[] = {
		{ "user", "add", CMD_USER_ADD, 1, ARG_PASSWORD },
		{ "user", "passwd", CMD_USER_PASSWD, 1, ARG_PASSWORD },
		{ "user", "del", CMD_USER_DEL, 1, 0 },
		{ "user", "list", CMD_USER_LIST, 0, ARG_JSON },
		{ "contact", "allow", CMD_CONTACT_ALLOW, 2, 0 },
		{ "contact", "deny", CMD_CONTACT_DENY, 2, 0 },
		{ "contact", "list", CMD_CONTACT_LIST, 1, ARG_JSON },
		{ "sessions", NULL, CMD_SESSIONS, 0, ARG_JSON },
		{ "stats", NULL, CMD_STATS, 0, ARG_JSON | ARG_PIN_DIR },
		{ "realm", NULL, CMD_REALM, 0, ARG_JSON },
	};
	struct args a = { 0 };
	char cmd[32];
	size_t i;
	int rest, ex;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(argv[0], table[i].group))
			continue;
		if (table[i].verb) {
			if (argc < 2) {
				say_err("%s: missing subcommand (see pinholectl --help)", argv[0]);
				return EX_USAGE;
			}
			if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
				usage(stdout);
				return EX_OK;
			}
			if (strcmp(argv[1], table[i].verb))
				continue;
			snprintf(cmd, sizeof(cmd), "%s %s", table[i].group, table[i].verb);
			rest = 2;
		} else {
			snprintf(cmd, sizeof(cmd), "%s", table[i].group);
			rest = 1;
		}
		a.cmd = cmd;
		ex = parse_args(argc - rest, argv + rest, &a, table[i].npos, table[i].flags);
		if (ex)
			return ex < 0 ? EX_OK : ex;
		return run_cmd(table[i].id, &a);
	}
	if (argc >= 2 && (!strcmp(argv[0], "user") || !strcmp(argv[0], "contact")))
		say_err("unknown command '%s %s' (see pinholectl --help)", argv[0], argv[1]);
	else
		say_err("unknown command '%s' (see pinholectl --help)", argv[0]);
	return EX_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "realm", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	log_set_hook(log_hook);
	log_set_level(LOG_ERR);
	/* "+": options after the command belong to the command. */
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			db_path = optarg;
			db_given = true;
			break;
		case 'j':
			opt_json = true;
			break;
		case 'r':
			opt_realm = optarg;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		default:
			/* getopt said which option in its own line. */
			return EX_USAGE;
		}
	}
	if (optind == argc) {
		say_err("missing command (see pinholectl --help)");
		return EX_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		if (optind + 1 < argc) {
			char cmd[64];

			bool two = optind + 2 < argc;

			snprintf(cmd, sizeof(cmd), "%s%s%s", argv[optind + 1], two ? " " : "",
				 two ? argv[optind + 2] : "");
			return cmd_usage(cmd);
		}
		usage(stdout);
		return EX_OK;
	}
	return dispatch(argc - optind, argv + optind);
}
