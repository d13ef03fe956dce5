// SPDX-License-Identifier: MIT
/*
 * The account store on SQLite.  See store.h for the contract.
 *
 * Addresses are stored as text ("198.18.0.1:3478", "[2001:db8::1]:3478")
 * so that the file reads well in the sqlite3 shell; local addresses are one
 * space-separated column because they are only ever read as a set.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "addr.h"
#include "log.h"
#include "store.h"
#include "stun.h"

/* "PNHL": marks a file as a pinhole store (PRAGMA application_id). */
#define STORE_APPLICATION_ID	0x504e484c

/*
 * Schema migrations: step i takes the file from user_version i to i + 1.
 * All pending steps run in one transaction with the version bump, so a
 * crash mid-migration leaves the old schema intact.  Only ever append.
 */
static const char *const migrations[] = {
	/* 0 -> 1: accounts, permissions, sessions. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  key_sha256 BLOB NOT NULL CHECK (length(key_sha256) = 32),"
	"  key_md5 BLOB NOT NULL CHECK (length(key_md5) = 16),"
	"  userhash BLOB NOT NULL UNIQUE CHECK (length(userhash) = 32),"
	"  created INTEGER NOT NULL"
	");"
	"CREATE TABLE contacts ("
	"  from_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  to_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (from_id, to_id),"
	"  CHECK (from_id <> to_id)"
	") WITHOUT ROWID;"
	/* Presence deltas go to the users who may contact the one who changed. */
	"CREATE INDEX contacts_to ON contacts(to_id);"
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  observed TEXT,"
	"  claimed TEXT,"
	"  locals TEXT NOT NULL DEFAULT '',"
	"  nat_mapping INTEGER NOT NULL,"
	"  nat_filtering INTEGER NOT NULL,"
	"  since INTEGER NOT NULL,"
	"  refreshed INTEGER NOT NULL"
	");"
	"CREATE INDEX sessions_user ON sessions(user_id);",
	/*
	 * 1 -> 2: what a restarted server needs to take a session back from
	 * the kernel's table: its token and session key (as secret as the
	 * account keys beside them).
	 */
	"ALTER TABLE sessions ADD COLUMN token BLOB CHECK (token IS NULL OR length(token) = 16);"
	"ALTER TABLE sessions ADD COLUMN skey BLOB CHECK (skey IS NULL OR length(skey) = 32);",
};

#define STORE_SCHEMA_VERSION	((int)(sizeof(migrations) / sizeof(migrations[0])))

#define USER_COLS	"u.id, u.name, u.key_sha256, u.key_md5, u.userhash, u.created"
#define SESSION_COLS	"s.id, u.name, s.observed, s.claimed, s.locals, s.nat_mapping, " \
			"s.nat_filtering, s.since, s.refreshed, s.token, s.skey"

enum stmt {
	ST_USER_ADD,
	ST_USER_SETPW,
	ST_USER_DEL,
	ST_USER_GET,
	ST_USER_GET_HASH,
	ST_USER_LIST,
	ST_USER_EXISTS,
	ST_CONTACT_ALLOW,
	ST_CONTACT_DENY,
	ST_CONTACT_CHECK,
	ST_CONTACT_OUT,
	ST_CONTACT_IN,
	ST_SESSION_PUT,
	ST_SESSION_TOUCH,
	ST_SESSION_DEL,
	ST_SESSION_CLEAR,
	ST_SESSION_GET,
	ST_SESSION_LIST,
	ST_SESSION_LIST_USER,
	ST_META_GET,
	ST_META_PUT,
	ST_DATA_VERSION,
	ST_MAX,
};

static const char *const stmt_sql[ST_MAX] = {
	[ST_USER_ADD] = "INSERT INTO users (name, key_sha256, key_md5, userhash, created) "
			"VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_USER_SETPW] = "UPDATE users SET key_sha256 = ?2, key_md5 = ?3 WHERE name = ?1",
	[ST_USER_DEL] = "DELETE FROM users WHERE name = ?1",
	[ST_USER_GET] = "SELECT " USER_COLS " FROM users u WHERE u.name = ?1",
	[ST_USER_GET_HASH] = "SELECT " USER_COLS " FROM users u WHERE u.userhash = ?1",
	[ST_USER_LIST] = "SELECT " USER_COLS " FROM users u ORDER BY u.name",
	[ST_USER_EXISTS] = "SELECT 1 FROM users WHERE name = ?1",
	/* No row is inserted when either name is unknown: changes() tells. */
	[ST_CONTACT_ALLOW] = "INSERT INTO contacts (from_id, to_id, created) "
			     "SELECT a.id, b.id, ?3 FROM users a, users b "
			     "WHERE a.name = ?1 AND b.name = ?2",
	[ST_CONTACT_DENY] = "DELETE FROM contacts "
			    "WHERE from_id = (SELECT id FROM users WHERE name = ?1) "
			    "AND to_id = (SELECT id FROM users WHERE name = ?2)",
	[ST_CONTACT_CHECK] = "SELECT 1 FROM contacts c "
			     "JOIN users a ON a.id = c.from_id JOIN users b ON b.id = c.to_id "
			     "WHERE a.name = ?1 AND b.name = ?2",
	[ST_CONTACT_OUT] = "SELECT b.name FROM users a "
			   "JOIN contacts c ON c.from_id = a.id JOIN users b ON b.id = c.to_id "
			   "WHERE a.name = ?1 ORDER BY b.name",
	[ST_CONTACT_IN] = "SELECT a.name FROM users b "
			  "JOIN contacts c ON c.to_id = b.id JOIN users a ON a.id = c.from_id "
			  "WHERE b.name = ?1 ORDER BY a.name",
	/* The WHERE clause also keeps the upsert unambiguous to the parser. */
	[ST_SESSION_PUT] = "INSERT INTO sessions (id, user_id, observed, claimed, locals, "
			   "nat_mapping, nat_filtering, since, refreshed, token, skey) "
			   "SELECT ?1, id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM users "
			   "WHERE name = ?2 "
			   "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
			   "observed = excluded.observed, claimed = excluded.claimed, "
			   "locals = excluded.locals, nat_mapping = excluded.nat_mapping, "
			   "nat_filtering = excluded.nat_filtering, since = excluded.since, "
			   "refreshed = excluded.refreshed, token = excluded.token, "
			   "skey = excluded.skey",
	[ST_SESSION_TOUCH] = "UPDATE sessions SET refreshed = ?2, "
			     "observed = coalesce(?3, observed) WHERE id = ?1",
	[ST_SESSION_DEL] = "DELETE FROM sessions WHERE id = ?1",
	[ST_SESSION_CLEAR] = "DELETE FROM sessions",
	[ST_SESSION_GET] = "SELECT " SESSION_COLS " FROM sessions s "
			   "JOIN users u ON u.id = s.user_id WHERE s.id = ?1",
	[ST_SESSION_LIST] = "SELECT " SESSION_COLS " FROM sessions s "
			    "JOIN users u ON u.id = s.user_id ORDER BY u.name, s.since, s.id",
	[ST_SESSION_LIST_USER] = "SELECT " SESSION_COLS " FROM sessions s "
				 "JOIN users u ON u.id = s.user_id WHERE u.name = ?1 "
				 "ORDER BY s.since, s.id",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_PUT] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
			"ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_DATA_VERSION] = "PRAGMA data_version",
};

/*
 * Contact lists, remembered: a login reads its user's lists up to five
 * times (punches, profile, presence both ways, FETCH), each two statements.
 * One entry per (name, direction) slot, kept until this connection changes
 * users or contacts or another connection commits (PRAGMA data_version).
 */
#define CONTACT_CACHE_SLOTS 4096

struct contact_cache {
	char name[STORE_NAME_MAX + 1];
	uint8_t dir;	/* 1 + enum store_contact_dir; 0: empty */
	int err;	/* 0, or -ENOENT: no such user */
	uint32_t n;	/* names, each NUL-terminated, back to back in names */
	char *names;
	size_t len, cap;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_MAX];
	char *path;
	char realm[STORE_REALM_MAX + 1];
	int version;
	bool readonly;
	struct contact_cache *cc; /* NULL: not allocated yet */
	int64_t cc_version;	  /* data_version the entries were read at */
};

static void cache_flush(struct store *s)
{
	for (unsigned int i = 0; s->cc && i < CONTACT_CACHE_SLOTS; i++)
		s->cc[i].dir = 0;
}

/* --- errors ------------------------------------------------------------- */

static int rc_to_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_NOTFOUND:
		return -ENOENT;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_RANGE:
	case SQLITE_MISUSE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/*
 * Map @rc and log SQLite's message.  A duplicate key is an answer (the
 * name is taken), not a fault, so it is logged at debug level only; any
 * other constraint means the caller passed something the schema refuses.
 */
static int sql_fail(struct store *s, int rc, const char *what)
{
	int err = rc_to_errno(rc), sys;

	/*
	 * SQLite says "unable to open" or "disk I/O error" for what the system
	 * told it plainly: a read-only mount, a full disk, no permission.
	 */
	if (err == -EIO) {
		sys = sqlite3_system_errno(s->db);
		if (sys == EROFS || sys == ENOSPC || sys == EDQUOT || sys == EACCES || sys == EPERM)
			err = sys == EDQUOT ? -ENOSPC : sys == EPERM ? -EACCES : -sys;
	}

	if (err == -EEXIST) {
		int ext = sqlite3_extended_errcode(s->db);

		if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
			pr_debug("store: %s: %s", what, sqlite3_errmsg(s->db));
			return err;
		}
		err = -EINVAL;
	}
	if (err)
		pr_warn("store: %s: %s (%s)", what, sqlite3_errmsg(s->db), s->path);
	return err;
}

/* Leave @st ready for the next call; never keep a read snapshot open. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step a bound statement that returns no rows; 0 or -errno. */
static int exec_stmt(struct store *s, enum stmt id, const char *what)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE ? 0 : sql_fail(s, rc, what);

	stmt_done(st);
	/* Our own writes to users or contacts: data_version does not count them. */
	if (id < ST_SESSION_PUT)
		cache_flush(s);
	return err;
}

/* --- validation --------------------------------------------------------- */

static int ident_check(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return -EINVAL;
	for (n = 0; s[n]; n++) {
		unsigned char c = s[n];

		if (n >= max || c <= 0x20 || c >= 0x7f || c == ':')
			return -EINVAL;
	}
	return n ? 0 : -EINVAL;
}

int store_name_check(const char *name)
{
	return ident_check(name, STORE_NAME_MAX);
}

static int password_check(const char *pw, size_t len)
{
	size_t i;

	if (!pw || !len || len > STORE_PASSWORD_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		unsigned char c = pw[i];

		/* Control bytes are almost always a stray "\r" or a paste accident. */
		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

/* --- open, migrate, close ------------------------------------------------ */

/* One integer from a PRAGMA or query run at open time (not a hot path). */
static int query_int(struct store *s, const char *sql, int *out)
{
	sqlite3_stmt *st;
	int rc, err;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, sql);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		err = 0;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : sql_fail(s, rc, sql);
	}
	sqlite3_finalize(st);
	return err;
}

static int exec_sql(struct store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_fail(s, rc, what);
}

static int realm_load(struct store *s)
{
	sqlite3_stmt *st;
	const unsigned char *v;
	int rc, err = -EUCLEAN;

	rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'realm'", -1, &st,
				NULL);
	if (rc != SQLITE_OK)
		return sql_fail(s, rc, "read realm");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_text(st, 0);
		if (v && !ident_check((const char *)v, STORE_REALM_MAX)) {
			strcpy(s->realm, (const char *)v);
			err = 0;
		} else {
			pr_warn("store: %s: stored realm is invalid", s->path);
		}
	} else if (rc == SQLITE_DONE) {
		pr_warn("store: %s: no realm in the meta table", s->path);
	} else {
		err = sql_fail(s, rc, "read realm");
	}
	sqlite3_finalize(st);
	return err;
}

/*
 * Bring the schema to STORE_SCHEMA_VERSION.  The version is read again
 * under the write lock: another process may have migrated meanwhile.
 */
static int migrate(struct store *s, const char *realm)
{
	char sql[160];
	int version, tables, err, i;

	err = exec_sql(s, "BEGIN IMMEDIATE", "begin migration");
	if (err)
		return err;
	err = query_int(s, "PRAGMA user_version", &version);
	if (err)
		goto rollback;
	if (version == 0) {
		/* A SQLite file some other program made: do not write into it. */
		err = query_int(s, "SELECT count(*) FROM sqlite_schema", &tables);
		if (err)
			goto rollback;
		if (tables) {
			pr_warn("store: %s: a SQLite database, but not a pinhole store", s->path);
			err = -EUCLEAN;
			goto rollback;
		}
	}
	for (i = version; i < STORE_SCHEMA_VERSION; i++) {
		snprintf(sql, sizeof(sql), "migration to schema %d", i + 1);
		err = exec_sql(s, migrations[i], sql);
		if (err)
			goto rollback;
	}
	if (version == 0) {
		sqlite3_stmt *st;
		int rc;

		rc = sqlite3_prepare_v2(s->db,
					"INSERT INTO meta (key, value) VALUES ('realm', ?1), "
					"('created', strftime('%s', 'now'))",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, realm, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
		}
		if (rc != SQLITE_OK && rc != SQLITE_DONE) {
			err = sql_fail(s, rc, "store realm");
			goto rollback;
		}
	}
	snprintf(sql, sizeof(sql), "PRAGMA application_id = %d; PRAGMA user_version = %d",
		 STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
	err = exec_sql(s, sql, "set schema version");
	if (err)
		goto rollback;
	err = exec_sql(s, "COMMIT", "commit migration");
	if (err)
		goto rollback;
	if (version != STORE_SCHEMA_VERSION)
		pr_info("store: %s: schema %d -> %d", s->path, version, STORE_SCHEMA_VERSION);
	return 0;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/*
 * Check that the file is ours and current, migrating it when it is not.
 * Reading user_version is also the first real read of the file, so a
 * corrupt file or one that is not a database fails here, at open.
 */
static int schema_check(struct store *s, const char *realm)
{
	int version, app_id, err;

	err = query_int(s, "PRAGMA user_version", &version);
	if (!err)
		err = query_int(s, "PRAGMA application_id", &app_id);
	if (err == -EUCLEAN)
		pr_warn("store: %s: corrupt, or not a SQLite database", s->path);
	if (err)
		return err;
	if ((version && app_id != STORE_APPLICATION_ID) ||
	    (app_id && app_id != STORE_APPLICATION_ID)) {
		pr_warn("store: %s: a SQLite database, but not a pinhole store", s->path);
		return -EUCLEAN;
	}
	if (version > STORE_SCHEMA_VERSION) {
		pr_warn("store: %s: schema %d is newer than this build knows (%d)", s->path,
			version, STORE_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	if (version < STORE_SCHEMA_VERSION) {
		if (s->readonly) {
			pr_warn("store: %s: schema %d needs migrating to %d, but is read-only",
				s->path, version, STORE_SCHEMA_VERSION);
			return -EROFS;
		}
		err = migrate(s, realm);
		if (err)
			return err;
	}
	s->version = STORE_SCHEMA_VERSION;
	return 0;
}

/* Create an empty file with owner-only permissions; SQLite's WAL and shm inherit them. */
static int create_file(const char *path, bool *created)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	*created = false;
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	close(fd);
	*created = true;
	return 0;
}

struct store *store_open(const char *path, unsigned int flags, const struct store_opts *opts)
{
	const char *realm = opts && opts->realm ? opts->realm : STORE_REALM_DEFAULT;
	int timeout = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms
							: STORE_BUSY_TIMEOUT_MS;
	bool rdonly = flags & STORE_O_RDONLY, created = false;
	struct statvfs vfs;
	struct store *s;
	struct stat sb;
	int rc, err, i;

	if (!path || ident_check(realm, STORE_REALM_MAX)) {
		pr_warn("store: bad %s", path ? "realm" : "path");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->path = strdup(path);
	if (!s->path) {
		err = -ENOMEM;
		goto err_free;
	}
	if ((flags & STORE_O_CREATE) && !rdonly)
		err = create_file(path, &created);
	else
		err = stat(path, &sb) ? -errno : 0;
	if (err) {
		pr_warn("store: %s: %s", path, strerror(-err));
		goto err_free;
	}

	rc = sqlite3_open_v2(path, &s->db,
			     (rdonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		err = s->db ? sql_fail(s, rc, "open") : -ENOMEM;
		goto err_close;
	}
	sqlite3_busy_timeout(s->db, timeout);
	/* SQLite opens a write-protected file read-only without failing. */
	s->readonly = rdonly || sqlite3_db_readonly(s->db, "main") == 1;

	err = exec_sql(s, "PRAGMA foreign_keys = ON", "enable foreign keys");
	if (err)
		goto err_close;
	if (!s->readonly) {
		/* Readers never block the writer and the writer never blocks readers. */
		err = exec_sql(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
			       "enable WAL");
		if (err) {
			if (err == -EUCLEAN)
				pr_warn("store: %s: corrupt, or not a SQLite database", path);
			goto err_close;
		}
	}
	err = schema_check(s, realm);
	if (err)
		goto err_close;
	err = realm_load(s);
	if (err)
		goto err_close;
	if (opts && opts->realm && strcmp(opts->realm, s->realm)) {
		pr_warn("store: %s: realm is \"%s\", not \"%s\" (keys depend on it)", path,
			s->realm, opts->realm);
		err = -EINVAL;
		goto err_close;
	}
	for (i = 0; i < ST_MAX; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&s->st[i], NULL);
		if (rc != SQLITE_OK) {
			err = sql_fail(s, rc, "prepare");
			goto err_close;
		}
	}
	return s;

err_close:
	/*
	 * On a read-only mount SQLite cannot make the WAL index beside the
	 * file and says "unable to open", with the errno of its last fallback
	 * (ENOENT); the file system says what it is.
	 */
	if (err == -EIO && !statvfs(path, &vfs) && (vfs.f_flag & ST_RDONLY)) {
		pr_warn("store: %s: on a read-only file system", path);
		err = -EROFS;
	}
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	/* Leave no half-made store behind for the next open to trip on. */
	if (created) {
		char aux[PATH_MAX + 8];

		unlink(path);
		snprintf(aux, sizeof(aux), "%s-wal", path);
		unlink(aux);
		snprintf(aux, sizeof(aux), "%s-shm", path);
		unlink(aux);
	}
err_free:
	free(s->path);
	free(s);
	errno = -err;
	return NULL;
}

void store_close(struct store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(s->st[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		pr_warn("store: close %s: %s", s->path, sqlite3_errmsg(s->db));
	for (i = 0; s->cc && i < CONTACT_CACHE_SLOTS; i++)
		free(s->cc[i].names);
	free(s->cc);
	free(s->path);
	free(s);
}

const char *store_realm(const struct store *s)
{
	return s->realm;
}

int store_schema_version(const struct store *s)
{
	return s->version;
}

bool store_readonly(const struct store *s)
{
	return s->readonly;
}

/* --- users ---------------------------------------------------------------- */

struct user_keys {
	uint8_t sha256[STUN_KEY_MAX];
	uint8_t md5[STUN_KEY_MAX];
	uint8_t userhash[STUN_USERHASH_LEN];
};

static int derive_keys(const struct store *s, const char *name, const char *pw, size_t plen,
		       struct user_keys *k)
{
	size_t nlen = strlen(name), rlen = strlen(s->realm);
	int n;

	n = stun_long_term_key(STUN_PASSWORD_ALG_SHA256, name, nlen, s->realm, rlen, pw, plen,
			       k->sha256);
	if (n < 0)
		return n;
	if (n != STORE_KEY_SHA256_LEN)
		return -EIO;
	n = stun_long_term_key(STUN_PASSWORD_ALG_MD5, name, nlen, s->realm, rlen, pw, plen,
			       k->md5);
	if (n < 0)
		return n;
	if (n != STORE_KEY_MD5_LEN)
		return -EIO;
	return stun_userhash(name, nlen, s->realm, rlen, k->userhash);
}

/* Parameters 1..3 of the user add and set-password statements: name, SHA-256 and MD5 keys. */
static void bind_name_keys(sqlite3_stmt *st, const char *name, const struct user_keys *k)
{
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, k->sha256, STORE_KEY_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, k->md5, STORE_KEY_MD5_LEN, SQLITE_STATIC);
}

int store_user_add(struct store *s, const char *name, const char *password, size_t plen)
{
	sqlite3_stmt *st = s->st[ST_USER_ADD];
	struct user_keys k;
	int err;

	if (store_name_check(name) || password_check(password, plen))
		return -EINVAL;
	err = derive_keys(s, name, password, plen, &k);
	if (err)
		goto out;
	bind_name_keys(st, name, &k);
	sqlite3_bind_blob(st, 4, k.userhash, STORE_USERHASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, time(NULL));
	err = exec_stmt(s, ST_USER_ADD, "add user");
out:
	explicit_bzero(&k, sizeof(k));
	return err;
}

int store_user_set_password(struct store *s, const char *name, const char *password,
			    size_t plen)
{
	sqlite3_stmt *st = s->st[ST_USER_SETPW];
	struct user_keys k;
	int err;

	if (store_name_check(name) || password_check(password, plen))
		return -EINVAL;
	err = derive_keys(s, name, password, plen, &k);
	if (err)
		goto out;
	bind_name_keys(st, name, &k);
	err = exec_stmt(s, ST_USER_SETPW, "set password");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
out:
	explicit_bzero(&k, sizeof(k));
	return err;
}

int store_user_del(struct store *s, const char *name)
{
	int err;

	if (store_name_check(name))
		return -EINVAL;
	/* Contacts and sessions go with the user: ON DELETE CASCADE. */
	sqlite3_bind_text(s->st[ST_USER_DEL], 1, name, -1, SQLITE_STATIC);
	err = exec_stmt(s, ST_USER_DEL, "delete user");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

static int blob_copy(sqlite3_stmt *st, int col, uint8_t *dst, size_t len)
{
	const void *p = sqlite3_column_blob(st, col);

	if (!p || (size_t)sqlite3_column_bytes(st, col) != len)
		return -EUCLEAN;
	memcpy(dst, p, len);
	return 0;
}

static int text_copy(sqlite3_stmt *st, int col, char *dst, size_t size)
{
	const unsigned char *p = sqlite3_column_text(st, col);
	int n = sqlite3_column_bytes(st, col);

	if (!p || n < 0 || (size_t)n >= size)
		return -EUCLEAN;
	memcpy(dst, p, n + 1);
	return 0;
}

/* Read a row of USER_COLS; a row that breaks the schema's promises is corruption. */
static int user_row(struct store *s, sqlite3_stmt *st, struct store_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(st, 0);
	u->created = sqlite3_column_int64(st, 5);
	if (text_copy(st, 1, u->name, sizeof(u->name)) ||
	    blob_copy(st, 2, u->key_sha256, STORE_KEY_SHA256_LEN) ||
	    blob_copy(st, 3, u->key_md5, STORE_KEY_MD5_LEN) ||
	    blob_copy(st, 4, u->userhash, STORE_USERHASH_LEN)) {
		pr_warn("store: %s: malformed user row %lld", s->path, (long long)u->id);
		return -EUCLEAN;
	}
	return 0;
}

static int user_get_one(struct store *s, enum stmt id, struct store_user *out)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);
	int err;

	if (rc == SQLITE_ROW)
		err = user_row(s, st, out);
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = sql_fail(s, rc, "get user");
	stmt_done(st);
	return err;
}

int store_user_get(struct store *s, const char *name, struct store_user *out)
{
	if (store_name_check(name))
		return -EINVAL;
	sqlite3_bind_text(s->st[ST_USER_GET], 1, name, -1, SQLITE_STATIC);
	return user_get_one(s, ST_USER_GET, out);
}

int store_user_get_by_hash(struct store *s, const uint8_t hash[STORE_USERHASH_LEN],
			   struct store_user *out)
{
	sqlite3_bind_blob(s->st[ST_USER_GET_HASH], 1, hash, STORE_USERHASH_LEN, SQLITE_STATIC);
	return user_get_one(s, ST_USER_GET_HASH, out);
}

int store_user_list(struct store *s, store_user_cb cb, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_USER_LIST];
	struct store_user u;
	int rc, err = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = user_row(s, st, &u);
		if (!err)
			err = cb(&u, ctx);
		if (err)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sql_fail(s, rc, "list users");
	explicit_bzero(&u, sizeof(u));
	stmt_done(st);
	return err;
}

/* --- contacts ------------------------------------------------------------- */

static int user_exists(struct store *s, const char *name)
{
	sqlite3_stmt *st = s->st[ST_USER_EXISTS];
	int rc, err;

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = 0;
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = sql_fail(s, rc, "look up user");
	stmt_done(st);
	return err;
}

static int pair_check(const char *a, const char *b)
{
	if (store_name_check(a) || store_name_check(b) || !strcmp(a, b))
		return -EINVAL;
	return 0;
}

int store_contact_allow(struct store *s, const char *a, const char *b)
{
	sqlite3_stmt *st = s->st[ST_CONTACT_ALLOW];
	int err;

	if (pair_check(a, b))
		return -EINVAL;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, time(NULL));
	err = exec_stmt(s, ST_CONTACT_ALLOW, "allow contact");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

int store_contact_deny(struct store *s, const char *a, const char *b)
{
	sqlite3_stmt *st = s->st[ST_CONTACT_DENY];
	int err;

	if (pair_check(a, b))
		return -EINVAL;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	err = exec_stmt(s, ST_CONTACT_DENY, "deny contact");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

int store_contact_check(struct store *s, const char *a, const char *b)
{
	sqlite3_stmt *st = s->st[ST_CONTACT_CHECK];
	int rc, err;

	if (pair_check(a, b))
		return -EINVAL;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = 0;
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = sql_fail(s, rc, "check contact");
	stmt_done(st);
	return err;
}

/* Has another connection committed since the cache was filled?  Then empty it. */
static int cache_check(struct store *s)
{
	sqlite3_stmt *st = s->st[ST_DATA_VERSION];
	int64_t v;
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		stmt_done(st);
		return sql_fail(s, rc, "data version");
	}
	v = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (v != s->cc_version) {
		cache_flush(s);
		s->cc_version = v;
	}
	if (!s->cc) {
		s->cc = calloc(CONTACT_CACHE_SLOTS, sizeof(*s->cc));
		if (!s->cc)
			return -ENOMEM;
	}
	return 0;
}

/* Read @name's list in direction @dir from the file into cache entry @e. */
static int cache_fill(struct store *s, struct contact_cache *e, const char *name,
		      enum store_contact_dir dir)
{
	sqlite3_stmt *st;
	size_t l;
	int rc, err;

	e->dir = 0;
	e->n = 0;
	e->len = 0;
	strcpy(e->name, name);
	/* An unknown user and a user without contacts must not look alike. */
	err = user_exists(s, name);
	if (err && err != -ENOENT)
		return err;
	e->err = err;
	st = s->st[dir == STORE_CONTACT_OUT ? ST_CONTACT_OUT : ST_CONTACT_IN];
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(st, 0);

		if (!c) {
			err = -EUCLEAN;
			break;
		}
		l = strlen(c) + 1;
		if (e->len + l > e->cap) {
			size_t cap = e->cap ? 2 * e->cap : 1024;
			char *v;

			while (cap < e->len + l)
				cap *= 2;
			v = realloc(e->names, cap);
			if (!v) {
				err = -ENOMEM;
				break;
			}
			e->names = v;
			e->cap = cap;
		}
		memcpy(e->names + e->len, c, l);
		e->len += l;
		e->n++;
	}
	if (!err && rc != SQLITE_DONE)
		err = sql_fail(s, rc, "list contacts");
	stmt_done(st);
	if (!err)
		e->dir = 1 + dir;
	return err;
}

int store_contact_list(struct store *s, const char *name, enum store_contact_dir dir,
		       store_contact_cb cb, void *ctx)
{
	uint32_t h = 2166136261u ^ dir;
	struct contact_cache *e;
	const char *p;
	int err;

	if (store_name_check(name) || (dir != STORE_CONTACT_OUT && dir != STORE_CONTACT_IN))
		return -EINVAL;
	err = cache_check(s);
	if (err)
		return err;
	for (p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	e = &s->cc[h % CONTACT_CACHE_SLOTS];
	if (e->dir != 1 + dir || strcmp(e->name, name)) {
		err = cache_fill(s, e, name, dir);
		if (err)
			return err;
	}
	if (e->err)
		return e->err;
	p = e->names;
	for (uint32_t i = 0; i < e->n; i++, p += strlen(p) + 1) {
		err = cb(p, ctx);
		if (err)
			return err;
	}
	return 0;
}

/* --- sessions ------------------------------------------------------------- */

static int bind_addr(sqlite3_stmt *st, int idx, const struct sockaddr *sa)
{
	char buf[ADDR_STRLEN];

	if (!sa || sa->sa_family == AF_UNSPEC)
		return sqlite3_bind_null(st, idx) == SQLITE_OK ? 0 : -EINVAL;
	if (addr_format(sa, buf, sizeof(buf)))
		return -EINVAL;
	return sqlite3_bind_text(st, idx, buf, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -ENOMEM;
}

static int bind_locals(sqlite3_stmt *st, int idx, const struct store_session *sess)
{
	char buf[STORE_SESSION_MAX_LOCAL * ADDR_STRLEN];
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < sess->n_local; i++) {
		if (off)
			buf[off++] = ' ';
		if (addr_format((const struct sockaddr *)&sess->local[i], buf + off,
				sizeof(buf) - off))
			return -EINVAL;
		off += strlen(buf + off);
	}
	return sqlite3_bind_text(st, idx, buf, -1, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -ENOMEM;
}

int store_session_put(struct store *s, const struct store_session *sess)
{
	sqlite3_stmt *st = s->st[ST_SESSION_PUT];
	int err;

	if (store_name_check(sess->user) || sess->n_local > STORE_SESSION_MAX_LOCAL ||
	    (unsigned int)sess->mapping > STORE_NAT_MAP_LAST ||
	    (unsigned int)sess->filtering > STORE_NAT_FILT_LAST)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, (int64_t)sess->id);
	sqlite3_bind_text(st, 2, sess->user, -1, SQLITE_STATIC);
	err = bind_addr(st, 3, (const struct sockaddr *)&sess->observed);
	if (!err)
		err = bind_addr(st, 4, (const struct sockaddr *)&sess->claimed);
	if (!err)
		err = bind_locals(st, 5, sess);
	if (err) {
		stmt_done(st);
		return err;
	}
	sqlite3_bind_int(st, 6, sess->mapping);
	sqlite3_bind_int(st, 7, sess->filtering);
	sqlite3_bind_int64(st, 8, sess->since);
	sqlite3_bind_int64(st, 9, sess->refreshed);
	if (sess->has_secrets) {
		sqlite3_bind_blob(st, 10, sess->token, sizeof(sess->token), SQLITE_STATIC);
		sqlite3_bind_blob(st, 11, sess->key, sizeof(sess->key), SQLITE_STATIC);
	} else {
		sqlite3_bind_null(st, 10);
		sqlite3_bind_null(st, 11);
	}
	err = exec_stmt(s, ST_SESSION_PUT, "record session");
	/* The INSERT ... SELECT inserts nothing when the user does not exist. */
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

int store_session_touch(struct store *s, uint64_t id, const struct sockaddr *observed,
			int64_t now)
{
	sqlite3_stmt *st = s->st[ST_SESSION_TOUCH];
	int err;

	sqlite3_bind_int64(st, 1, (int64_t)id);
	sqlite3_bind_int64(st, 2, now);
	err = bind_addr(st, 3, observed);
	if (err) {
		stmt_done(st);
		return err;
	}
	err = exec_stmt(s, ST_SESSION_TOUCH, "refresh session");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

int store_session_del(struct store *s, uint64_t id)
{
	int err;

	sqlite3_bind_int64(s->st[ST_SESSION_DEL], 1, (int64_t)id);
	err = exec_stmt(s, ST_SESSION_DEL, "delete session");
	if (!err && sqlite3_changes(s->db) == 0)
		err = -ENOENT;
	return err;
}

int store_session_clear(struct store *s, unsigned int *n)
{
	int err = exec_stmt(s, ST_SESSION_CLEAR, "clear sessions");

	if (!err && n)
		*n = sqlite3_changes(s->db);
	return err;
}

/* NULL or empty text is an absent address (AF_UNSPEC). */
static int column_addr(sqlite3_stmt *st, int col, struct sockaddr_storage *ss)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	memset(ss, 0, sizeof(*ss));
	ss->ss_family = AF_UNSPEC;
	if (!t || !*t)
		return 0;
	return addr_parse(t, ADDR_DEFAULT_PORT, ss) ? -EUCLEAN : 0;
}

static int column_locals(sqlite3_stmt *st, int col, struct store_session *sess)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	char buf[STORE_SESSION_MAX_LOCAL * ADDR_STRLEN];
	char *tok, *save = NULL;

	sess->n_local = 0;
	if (!t)
		return 0;
	if (strlen(t) >= sizeof(buf))
		return -EUCLEAN;
	strcpy(buf, t);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (sess->n_local == STORE_SESSION_MAX_LOCAL ||
		    addr_parse(tok, ADDR_DEFAULT_PORT, &sess->local[sess->n_local]))
			return -EUCLEAN;
		sess->n_local++;
	}
	return 0;
}

static int session_row(struct store *s, sqlite3_stmt *st, struct store_session *sess)
{
	int m = sqlite3_column_int(st, 5), f = sqlite3_column_int(st, 6);

	memset(sess, 0, sizeof(*sess));
	sess->id = (uint64_t)sqlite3_column_int64(st, 0);
	sess->since = sqlite3_column_int64(st, 7);
	sess->refreshed = sqlite3_column_int64(st, 8);
	/* A value from a newer build reads as unknown rather than failing the list. */
	sess->mapping = m >= 0 && m <= STORE_NAT_MAP_LAST ? m : PH_MAP_UNKNOWN;
	sess->filtering = f >= 0 && f <= STORE_NAT_FILT_LAST ? f : PH_FILTER_UNKNOWN;
	if (sqlite3_column_bytes(st, 9) == sizeof(sess->token) &&
	    sqlite3_column_bytes(st, 10) == sizeof(sess->key)) {
		memcpy(sess->token, sqlite3_column_blob(st, 9), sizeof(sess->token));
		memcpy(sess->key, sqlite3_column_blob(st, 10), sizeof(sess->key));
		sess->has_secrets = true;
	}
	if (text_copy(st, 1, sess->user, sizeof(sess->user)) ||
	    column_addr(st, 2, &sess->observed) || column_addr(st, 3, &sess->claimed) ||
	    column_locals(st, 4, sess)) {
		pr_warn("store: %s: malformed session row %llu", s->path,
			(unsigned long long)sess->id);
		return -EUCLEAN;
	}
	return 0;
}

int store_session_get(struct store *s, uint64_t id, struct store_session *out)
{
	sqlite3_stmt *st = s->st[ST_SESSION_GET];
	int rc, err;

	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		err = session_row(s, st, out);
	else if (rc == SQLITE_DONE)
		err = -ENOENT;
	else
		err = sql_fail(s, rc, "get session");
	stmt_done(st);
	return err;
}

int store_session_list(struct store *s, const char *user, store_session_cb cb, void *ctx)
{
	struct store_session sess;
	sqlite3_stmt *st;
	int rc, err = 0;

	if (user) {
		if (store_name_check(user))
			return -EINVAL;
		st = s->st[ST_SESSION_LIST_USER];
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	} else {
		st = s->st[ST_SESSION_LIST];
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		err = session_row(s, st, &sess);
		if (!err)
			err = cb(&sess, ctx);
		if (err)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		err = sql_fail(s, rc, "list sessions");
	stmt_done(st);
	return err;
}

/* --- bulk loading ----------------------------------------------------------- */

int store_bulk_begin(struct store *s, unsigned int cache_mb)
{
	char sql[64];
	int err;

	if (s->readonly)
		return -EROFS;
	/* Not nested: a caller that already holds a transaction would lose its boundary. */
	if (!sqlite3_get_autocommit(s->db))
		return -EINVAL;
	if (cache_mb) {
		/* Negative means KiB; a bulk load's random userhash inserts need the room. */
		snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%llu",
			 (unsigned long long)cache_mb * 1024);
		err = exec_sql(s, sql, "set cache size");
		if (err)
			return err;
	}
	/* IMMEDIATE takes the write lock now, so -EBUSY comes here and not mid-batch. */
	return exec_sql(s, "BEGIN IMMEDIATE", "begin bulk transaction");
}

int store_bulk_end(struct store *s, bool commit)
{
	int err;

	if (sqlite3_get_autocommit(s->db))
		return -EINVAL;
	if (!commit)
		return exec_sql(s, "ROLLBACK", "roll back bulk transaction");
	err = exec_sql(s, "COMMIT", "commit bulk transaction");
	/* SQLite may leave the transaction open after a failed COMMIT (SQLITE_BUSY). */
	if (err && !sqlite3_get_autocommit(s->db))
		exec_sql(s, "ROLLBACK", "roll back bulk transaction");
	return err;
}

/* --- meta: small named values ----------------------------------------------- */

int store_meta_get(struct store *s, const char *key, char *out, size_t cap)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	const char *v;
	int rc, err = 0;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		v = (const char *)sqlite3_column_text(st, 0);
		if (!v || strlen(v) >= cap)
			err = -ENOSPC;
		else
			strcpy(out, v);
	} else if (rc == SQLITE_DONE) {
		err = -ENOENT;
	} else {
		err = sql_fail(s, rc, "read meta");
	}
	stmt_done(st);
	return err;
}

int store_meta_put(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = s->st[ST_META_PUT];

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return exec_stmt(s, ST_META_PUT, "write meta");
}
