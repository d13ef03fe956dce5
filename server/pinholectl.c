// SPDX-License-Identifier: MIT
/*
 * pinholectl: manage the account store the server reads (users, contact
 * permissions) and look at who is online.  Works on the same file as a
 * running pinhole-server: the server sees changes on its next lookup.
 *
 * Passwords are read from stdin (one line; prompted twice without echo on
 * a terminal) or from the first line of --password-file, never from argv,
 * where every user of the machine could read them in ps or shell history.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "nat.h"
#include "store.h"

/* Exit codes, so scripts can tell failures apart. */
enum {
	EX_OK = 0,
	EX_FAIL = 1,		/* anything not below */
	EX_USAGE = 2,		/* bad arguments, bad name, bad password */
	EX_NOTFOUND = 3,	/* no such user / database */
	EX_EXISTS = 4,		/* user already exists */
	EX_BUSY = 5,		/* another writer holds the lock */
	EX_RDONLY = 6,		/* database is read-only */
	EX_CORRUPT = 7,		/* corrupt, or not a pinhole store */
};

static const char *db_path = STORE_PATH_DEFAULT;
static const char *opt_realm;

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
	{ "user list", "user list", "List users and when they were added (UTC).\n" },
	{ "contact allow", "contact allow A B",
	  "Let A contact B.  One direction only: `contact allow B A` for the other.\n" },
	{ "contact deny", "contact deny A B", "Take away A's permission to contact B.\n" },
	{ "contact list", "contact list A",
	  "A's contacts: \"out\" = A may contact them, \"in\" = they may contact A,\n"
	  "\"both\" = both ways.\n" },
	{ "sessions", "sessions",
	  "Who is online: user, observed (reflexive) address, the address the endpoint\n"
	  "claimed (\"=\" when the same), NAT behaviour as MAPPING-FILTERING in RFC 4787\n"
	  "terms (eim adm apdm - eif adf apdf; \"none\" = no NAT and no filtering;\n"
	  "\"unknown\" = not discovered), login time and last refresh (UTC).\n" },
	{ "realm", "realm", "Print the realm the keys are derived in (fixed at creation).\n" },
};

#define N_HELPS (sizeof(helps) / sizeof(helps[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: pinholectl [--db PATH] [--realm REALM] [-v] COMMAND ...\n\n"
		     "Commands:\n");
	for (i = 0; i < N_HELPS; i++)
		fprintf(out, "  %s\n", helps[i].synopsis);
	fprintf(out,
		"\nOptions:\n"
		"  --db PATH       the store (default %s)\n"
		"  --realm REALM   realm for a new store (default \"%s\"); must match an\n"
		"                  existing one\n"
		"  -v, --verbose   show the store's own messages (SQLite errors)\n"
		"  -h, --help      this text; COMMAND --help for one command\n\n"
		"Names: 1-%d printable ASCII characters, no spaces, no ':'; case sensitive.\n"
		"Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 already exists,\n"
		"5 database locked, 6 read-only, 7 corrupt or not a pinhole store.\n",
		STORE_PATH_DEFAULT, STORE_REALM_DEFAULT, STORE_NAME_MAX);
}

static int cmd_usage(const char *cmd, bool to_stdout)
{
	size_t i;

	for (i = 0; i < N_HELPS; i++) {
		if (strcmp(helps[i].name, cmd))
			continue;
		fprintf(to_stdout ? stdout : stderr, "usage: pinholectl [--db PATH] %s\n\n%s",
			helps[i].synopsis, helps[i].text);
		return to_stdout ? EX_OK : EX_USAGE;
	}
	usage(to_stdout ? stdout : stderr);
	return to_stdout ? EX_OK : EX_USAGE;
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

			if (c + 1 == t->ncol)
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

/* --- commands ------------------------------------------------------------- */

struct args {
	const char *cmd;	/* "user add", ... for messages and help */
	int npos;
	const char *pos[4];
	const char *password_file;
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

static int user_row(const struct store_user *u, void *ctx)
{
	char when[32];

	fmt_time(u->created, when, sizeof(when));
	return table_add(ctx, u->name, when);
}

static int cmd_user_list(const struct args *a)
{
	struct table t = { .ncol = 2 };
	struct store *s;
	int ex, err;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	err = table_add(&t, "NAME", "CREATED");
	if (!err)
		err = store_user_list(s, user_row, &t);
	if (err)
		ex = store_fail(err, a->cmd);
	else
		table_print(&t);
	table_free(&t);
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

static int cmd_contact_list(const struct args *a)
{
	static const char *const dir_names[] = { "", "out", "in", "both" };
	struct contact_set cs = { 0 };
	struct table t = { .ncol = 2 };
	const char *name = a->pos[0];
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
	qsort(cs.c, cs.n, sizeof(*cs.c), contact_cmp);
	err = table_add(&t, "CONTACT", "DIRECTION");
	for (i = 0; !err && i < cs.n; i++)
		err = table_add(&t, cs.c[i].name, dir_names[cs.c[i].dir & 3]);
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

static int session_row(const struct store_session *ss, void *ctx)
{
	const struct sockaddr *claim = (const struct sockaddr *)&ss->claimed;
	char obs[ADDR_STRLEN], claimed[ADDR_STRLEN], nat[NAT_LABEL_MAX], since[32], refreshed[32];

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
	return table_add(ctx, ss->user, obs, claimed, nat, since, refreshed);
}

static int cmd_sessions(const struct args *a)
{
	struct table t = { .ncol = 6 };
	struct store *s;
	int ex, err;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	err = table_add(&t, "USER", "OBSERVED", "CLAIMED", "NAT", "SINCE", "REFRESHED");
	if (!err)
		err = store_session_list(s, NULL, session_row, &t);
	if (err)
		ex = store_fail(err, a->cmd);
	else
		table_print(&t);
	table_free(&t);
	store_close(s);
	return ex;
}

static int cmd_realm(const struct args *a)
{
	struct store *s;
	int ex;

	ex = open_store(STORE_O_RDONLY, &s);
	if (ex)
		return ex;
	printf("%s\n", store_realm(s));
	store_close(s);
	return EX_OK;
}

/* --- dispatch ------------------------------------------------------------- */

static int refuse_password_arg(void)
{
	say_err("passwords are never taken from the command line (ps and shell history show "
		"them): pipe one line on stdin or use --password-file FILE");
	return EX_USAGE;
}

/*
 * Split a command's own arguments into positionals and options.  @npos is
 * how many positionals it takes; @pw whether it reads a password.  Returns
 * EX_OK, an exit code, or -1 when help was printed.
 */
static int parse_args(int argc, char **argv, struct args *a, int npos, bool pw)
{
	int i;

	for (i = 0; i < argc; i++) {
		const char *v = argv[i];

		if (!strcmp(v, "-h") || !strcmp(v, "--help"))
			return cmd_usage(a->cmd, true) == EX_OK ? -1 : EX_USAGE;
		if (pw && !strcmp(v, "--password-file")) {
			if (++i == argc) {
				say_err("%s: --password-file needs a file", a->cmd);
				return EX_USAGE;
			}
			a->password_file = argv[i];
			continue;
		}
		if (pw && !strncmp(v, "--password-file=", 16)) {
			a->password_file = v + 16;
			continue;
		}
		if (pw && (!strncmp(v, "--password", 10) || !strncmp(v, "--pass", 6) ||
			   !strcmp(v, "-p") || !strncmp(v, "-p", 2)))
			return refuse_password_arg();
		if (v[0] == '-' && v[1]) {
			say_err("%s: unknown option '%s'", a->cmd, v);
			return cmd_usage(a->cmd, false);
		}
		if (a->npos == npos) {
			/* `user add bob s3cret`: the extra word is a password. */
			if (pw)
				return refuse_password_arg();
			say_err("%s: unexpected argument '%s'", a->cmd, v);
			return cmd_usage(a->cmd, false);
		}
		a->pos[a->npos++] = v;
	}
	if (a->npos < npos) {
		say_err("%s: missing argument", a->cmd);
		return cmd_usage(a->cmd, false);
	}
	return EX_OK;
}

static int dispatch(int argc, char **argv)
{
	static const struct {
		const char *group, *verb;
		int npos;
		bool pw;
	} table[] = {
		{ "user", "add", 1, true },	{ "user", "passwd", 1, true },
		{ "user", "del", 1, false },	{ "user", "list", 0, false },
		{ "contact", "allow", 2, false }, { "contact", "deny", 2, false },
		{ "contact", "list", 1, false }, { "sessions", NULL, 0, false },
		{ "realm", NULL, 0, false },
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
				say_err("%s: missing subcommand", argv[0]);
				usage(stderr);
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
		ex = parse_args(argc - rest, argv + rest, &a, table[i].npos, table[i].pw);
		if (ex)
			return ex < 0 ? EX_OK : ex;
		switch (i) {
		case 0:
			return cmd_user_add(&a, true);
		case 1:
			return cmd_user_add(&a, false);
		case 2:
			return cmd_user_del(&a);
		case 3:
			return cmd_user_list(&a);
		case 4:
			return cmd_contact(&a, true);
		case 5:
			return cmd_contact(&a, false);
		case 6:
			return cmd_contact_list(&a);
		case 7:
			return cmd_sessions(&a);
		default:
			return cmd_realm(&a);
		}
	}
	if (argc >= 2 && (!strcmp(argv[0], "user") || !strcmp(argv[0], "contact")))
		say_err("unknown command '%s %s'", argv[0], argv[1]);
	else
		say_err("unknown command '%s'", argv[0]);
	usage(stderr);
	return EX_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "realm", required_argument, NULL, 'r' },
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
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		if (optind + 1 < argc) {
			char cmd[64];

			bool two = optind + 2 < argc;

			snprintf(cmd, sizeof(cmd), "%s%s%s", argv[optind + 1], two ? " " : "",
				 two ? argv[optind + 2] : "");
			return cmd_usage(cmd, true);
		}
		usage(stdout);
		return EX_OK;
	}
	return dispatch(argc - optind, argv + optind);
}
