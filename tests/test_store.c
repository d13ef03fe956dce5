// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "addr.h"
#include "log.h"
#include "store.h"
#include "stun.h"

/* Per-test scratch directory under /tmp, removed with everything in it. */
struct fixture {
	char dir[64];
	char db[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ph-store-test-%d-XXXXXX", getpid());
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/pinhole.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[512];
	struct dirent *de;
	DIR *d = opendir(f->dir);

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct store *open_new(struct fixture *f)
{
	struct store *s = store_open(f->db, STORE_O_CREATE, NULL);

	assert_non_null(s);
	return s;
}

static void add_user(struct store *s, const char *name, const char *pw)
{
	assert_int_equal(store_user_add(s, name, pw, strlen(pw)), 0);
}

static int raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Whole file into memory (size in *len), NULL if it does not exist. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat sb;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	*len = 0;
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc(sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, sb.st_size), sb.st_size);
	close(fd);
	*len = sb.st_size;
	return buf;
}

/* --- open / migrate ------------------------------------------------------ */

static void test_create_migrate(void **state)
{
	struct fixture *f = *state;
	struct store *s;
	struct stat sb;

	/* Without STORE_O_CREATE a missing file is an error, not a new store. */
	errno = 0;
	assert_null(store_open(f->db, 0, NULL));
	assert_int_equal(errno, ENOENT);
	assert_int_not_equal(stat(f->db, &sb), 0);

	s = open_new(f);
	assert_int_equal(store_schema_version(s), 2);
	assert_string_equal(store_realm(s), STORE_REALM_DEFAULT);
	assert_false(store_readonly(s));
	store_close(s);

	/* The file holds password-equivalent keys: owner only. */
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(f->db, "PRAGMA application_id"), 0x504e484c);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema WHERE name = 'users'"),
			 1);
	/* WAL is a property of the file, kept across connections. */
	assert_int_equal(raw_int(f->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"),
			 1);
}

static void test_realm(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .realm = "example.org" };
	struct store *s;

	s = store_open(f->db, STORE_O_CREATE, &o);
	assert_non_null(s);
	assert_string_equal(store_realm(s), "example.org");
	store_close(s);

	/* The realm is fixed at creation: reopening without one reads it back... */
	s = store_open(f->db, 0, NULL);
	assert_non_null(s);
	assert_string_equal(store_realm(s), "example.org");
	store_close(s);
	/* ...and asking for another one is refused, not silently applied. */
	o.realm = "pinhole";
	errno = 0;
	assert_null(store_open(f->db, STORE_O_CREATE, &o));
	assert_int_equal(errno, EINVAL);
	o.realm = "bad:realm";
	errno = 0;
	assert_null(store_open(f->db, 0, &o));
	assert_int_equal(errno, EINVAL);
}

static void test_reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct store_user u;
	struct store *s = open_new(f);

	add_user(s, "alice", "pw-alice");
	add_user(s, "bob", "pw-bob");
	assert_int_equal(store_contact_allow(s, "alice", "bob"), 0);
	store_close(s);

	s = store_open(f->db, STORE_O_CREATE, NULL);
	assert_non_null(s);
	assert_int_equal(store_user_get(s, "alice", &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(store_user_get(s, "bob", &u), 0);
	assert_int_equal(store_contact_check(s, "alice", "bob"), 0);
	store_close(s);
}

/* --- users ---------------------------------------------------------------- */

struct names {
	char name[8][STORE_NAME_MAX + 1];
	int n;
};

static int collect_user(const struct store_user *u, void *ctx)
{
	struct names *nm = ctx;

	assert_true(nm->n < 8);
	strcpy(nm->name[nm->n++], u->name);
	return 0;
}

static int stop_after_one(const struct store_user *u, void *ctx)
{
	(*(int *)ctx)++;
	return 42;
}

static void test_users(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct names nm = { 0 };
	struct store_user u;
	int calls = 0;

	add_user(s, "carol", "pw1");
	add_user(s, "alice", "pw2");
	add_user(s, "bob", "pw3");
	assert_int_equal(store_user_add(s, "alice", "other", 5), -EEXIST);

	assert_int_equal(store_user_get(s, "alice", &u), 0);
	assert_string_equal(u.name, "alice");
	assert_true(u.id > 0);
	assert_true(u.created >= time(NULL) - 60 && u.created <= time(NULL) + 1);
	assert_int_equal(store_user_get(s, "Alice", &u), -ENOENT);	/* case sensitive */
	assert_int_equal(store_user_get(s, "nobody", &u), -ENOENT);

	assert_int_equal(store_user_list(s, collect_user, &nm), 0);
	assert_int_equal(nm.n, 3);
	assert_string_equal(nm.name[0], "alice");
	assert_string_equal(nm.name[1], "bob");
	assert_string_equal(nm.name[2], "carol");
	/* A callback's non-zero return stops the walk and comes back. */
	assert_int_equal(store_user_list(s, stop_after_one, &calls), 42);
	assert_int_equal(calls, 1);

	assert_int_equal(store_user_del(s, "bob"), 0);
	assert_int_equal(store_user_del(s, "bob"), -ENOENT);
	assert_int_equal(store_user_get(s, "bob", &u), -ENOENT);
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_user_list(s, collect_user, &nm), 0);
	assert_int_equal(nm.n, 2);
	/* The list statement was reset: a write right after it is not blocked. */
	add_user(s, "bob", "pw3");
	store_close(s);
}

static void test_names(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	char n64[STORE_NAME_MAX + 2];
	static const char *const bad[] = { "", "a:b", "a b", "tab\t", "\x01x", "caf\xc3\xa9",
					   "del\x7f" };
	unsigned int i;

	memset(n64, 'n', STORE_NAME_MAX);
	n64[STORE_NAME_MAX] = '\0';
	assert_int_equal(store_name_check(n64), 0);
	add_user(s, n64, "pw");
	add_user(s, "a.b-c_d@example.org", "pw");
	n64[STORE_NAME_MAX] = 'n';
	n64[STORE_NAME_MAX + 1] = '\0';
	assert_int_equal(store_name_check(n64), -EINVAL);
	assert_int_equal(store_user_add(s, n64, "pw", 2), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_name_check(bad[i]), -EINVAL);
		assert_int_equal(store_user_add(s, bad[i], "pw", 2), -EINVAL);
	}
	assert_int_equal(store_name_check(NULL), -EINVAL);
	/* Passwords: non-empty, no control characters (a stray CR), bounded. */
	assert_int_equal(store_user_add(s, "dave", "", 0), -EINVAL);
	assert_int_equal(store_user_add(s, "dave", "pw\r", 3), -EINVAL);
	assert_int_equal(store_user_add(s, "dave", "p\0w", 3), -EINVAL);
	{
		char big[STORE_PASSWORD_MAX + 1];

		memset(big, 'x', sizeof(big));
		assert_int_equal(store_user_add(s, "dave", big, sizeof(big)), -EINVAL);
		assert_int_equal(store_user_add(s, "dave", big, sizeof(big) - 1), 0);
	}
	/* Spaces and UTF-8 are fine inside a password. */
	add_user(s, "erin", "caf\xc3\xa9 au lait");
	store_close(s);
}

static void test_keys_no_password(void **state)
{
	static const char pw[] = "Tr0ub4dor&3-horse-battery";
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	struct fixture *f = *state;
	bool saw_name = false;
	struct store_user u, v;
	uint8_t key[STUN_KEY_MAX], hash[STUN_USERHASH_LEN];
	char path[256];
	uint8_t *buf;
	size_t len;
	struct store *s = open_new(f);

	add_user(s, "mallory-test", pw);
	assert_int_equal(store_user_get(s, "mallory-test", &u), 0);
	assert_int_equal(stun_long_term_key(STUN_PASSWORD_ALG_SHA256, "mallory-test", 12,
					    "pinhole", 7, pw, strlen(pw), key),
			 32);
	assert_memory_equal(u.key_sha256, key, 32);
	assert_int_equal(stun_long_term_key(STUN_PASSWORD_ALG_MD5, "mallory-test", 12, "pinhole",
					    7, pw, strlen(pw), key),
			 16);
	assert_memory_equal(u.key_md5, key, 16);
	assert_int_equal(stun_userhash("mallory-test", 12, "pinhole", 7, hash), 0);
	assert_memory_equal(u.userhash, hash, 32);
	assert_int_equal(store_user_get_by_hash(s, hash, &v), 0);
	assert_string_equal(v.name, "mallory-test");
	hash[0] ^= 1;
	assert_int_equal(store_user_get_by_hash(s, hash, &v), -ENOENT);

	/* A new password gives new keys. */
	assert_int_equal(store_user_set_password(s, "mallory-test", "second-pw", 9), 0);
	assert_int_equal(store_user_get(s, "mallory-test", &v), 0);
	assert_memory_not_equal(v.key_sha256, u.key_sha256, 32);
	assert_int_equal(store_user_set_password(s, "nobody", "x", 1), -ENOENT);
	store_close(s);

	/* Every byte SQLite left on disk: the database and any WAL or journal. */
	for (unsigned int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", f->db, suffix[i]);
		buf = slurp(path, &len);
		if (!buf)
			continue;
		assert_null(memmem(buf, len, pw, strlen(pw)));
		assert_null(memmem(buf, len, "second-pw", 9));
		/* Proves the search reads the real content. */
		if (memmem(buf, len, "mallory-test", 12))
			saw_name = true;
		free(buf);
	}
	assert_true(saw_name);
}

/* --- contacts --------------------------------------------------------------- */

static int collect_contact(const char *c, void *ctx)
{
	struct names *nm = ctx;

	assert_true(nm->n < 8);
	strcpy(nm->name[nm->n++], c);
	return 0;
}

static int count_contacts(struct store *s, const char *name, enum store_contact_dir dir)
{
	struct names nm = { 0 };
	int err = store_contact_list(s, name, dir, collect_contact, &nm);

	return err ? err : nm.n;
}

static void test_contacts(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct names nm = { 0 };

	add_user(s, "alice", "a");
	add_user(s, "bob", "b");
	add_user(s, "carol", "c");

	assert_int_equal(store_contact_allow(s, "alice", "bob"), 0);
	assert_int_equal(store_contact_allow(s, "alice", "carol"), 0);
	assert_int_equal(store_contact_allow(s, "alice", "bob"), -EEXIST);
	assert_int_equal(store_contact_allow(s, "alice", "nobody"), -ENOENT);
	assert_int_equal(store_contact_allow(s, "nobody", "alice"), -ENOENT);
	assert_int_equal(store_contact_allow(s, "alice", "alice"), -EINVAL);
	assert_int_equal(store_contact_allow(s, "alice", "b:b"), -EINVAL);

	/* Directional: alice may contact bob, bob may not contact alice. */
	assert_int_equal(store_contact_check(s, "alice", "bob"), 0);
	assert_int_equal(store_contact_check(s, "bob", "alice"), -ENOENT);
	assert_int_equal(store_contact_list(s, "alice", STORE_CONTACT_OUT, collect_contact, &nm),
			 0);
	assert_int_equal(nm.n, 2);
	assert_string_equal(nm.name[0], "bob");
	assert_string_equal(nm.name[1], "carol");
	memset(&nm, 0, sizeof(nm));
	assert_int_equal(store_contact_list(s, "bob", STORE_CONTACT_IN, collect_contact, &nm), 0);
	assert_int_equal(nm.n, 1);
	assert_string_equal(nm.name[0], "alice");
	assert_int_equal(count_contacts(s, "bob", STORE_CONTACT_OUT), 0);
	assert_int_equal(count_contacts(s, "alice", STORE_CONTACT_IN), 0);
	/* A user without contacts is not an unknown user. */
	assert_int_equal(count_contacts(s, "nobody", STORE_CONTACT_OUT), -ENOENT);

	/* Deny removes one direction only. */
	assert_int_equal(store_contact_allow(s, "bob", "alice"), 0);
	assert_int_equal(store_contact_deny(s, "alice", "bob"), 0);
	assert_int_equal(store_contact_check(s, "alice", "bob"), -ENOENT);
	assert_int_equal(store_contact_check(s, "bob", "alice"), 0);
	assert_int_equal(store_contact_deny(s, "alice", "bob"), -ENOENT);
	assert_int_equal(store_contact_deny(s, "alice", "nobody"), -ENOENT);
	assert_int_equal(count_contacts(s, "alice", STORE_CONTACT_OUT), 1);
	store_close(s);
}

/* --- sessions --------------------------------------------------------------- */

static void sa_set(struct sockaddr_storage *ss, const char *text)
{
	assert_int_equal(addr_parse(text, ADDR_DEFAULT_PORT, ss), 0);
}

static void sa_equal(const struct sockaddr_storage *a, const char *text)
{
	struct sockaddr_storage b;

	sa_set(&b, text);
	assert_int_equal(addr_cmp((const struct sockaddr *)a, (const struct sockaddr *)&b), 0);
}

static void make_session(struct store_session *ss, uint64_t id, const char *user, int64_t since)
{
	memset(ss, 0, sizeof(*ss));
	ss->id = id;
	strcpy(ss->user, user);
	sa_set(&ss->observed, "198.18.1.1:40000");
	sa_set(&ss->claimed, "198.18.1.1:40000");
	sa_set(&ss->local[0], "10.0.0.2:5000");
	sa_set(&ss->local[1], "[2001:db8::2]:5000");
	ss->n_local = 2;
	ss->mapping = PH_MAP_ENDPOINT_INDEPENDENT;
	ss->filtering = PH_FILTER_ADDRESS_PORT_DEPENDENT;
	ss->since = since;
	ss->refreshed = since;
}

struct sess_list {
	uint64_t id[8];
	int n;
};

static int collect_session(const struct store_session *ss, void *ctx)
{
	struct sess_list *l = ctx;

	assert_true(l->n < 8);
	l->id[l->n++] = ss->id;
	return 0;
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct store_session ss, got;
	struct sockaddr_storage moved;
	struct sess_list l = { 0 };
	unsigned int n;

	add_user(s, "alice", "a");
	add_user(s, "bob", "b");

	make_session(&ss, 0xfedcba9876543210ull, "bob", 1000);
	ss.claimed.ss_family = AF_UNSPEC;	/* an endpoint that claimed nothing */
	assert_int_equal(store_session_put(s, &ss), 0);
	make_session(&ss, 7, "alice", 2000);
	sa_set(&ss.claimed, "[2001:db8:1::5]:3478");
	assert_int_equal(store_session_put(s, &ss), 0);

	assert_int_equal(store_session_get(s, 7, &got), 0);
	assert_string_equal(got.user, "alice");
	sa_equal(&got.observed, "198.18.1.1:40000");
	sa_equal(&got.claimed, "[2001:db8:1::5]:3478");
	assert_int_equal(got.n_local, 2);
	sa_equal(&got.local[0], "10.0.0.2:5000");
	sa_equal(&got.local[1], "[2001:db8::2]:5000");
	assert_int_equal(got.mapping, PH_MAP_ENDPOINT_INDEPENDENT);
	assert_int_equal(got.filtering, PH_FILTER_ADDRESS_PORT_DEPENDENT);
	assert_int_equal(got.since, 2000);
	/* The full 64-bit id survives SQLite's signed integers. */
	assert_int_equal(store_session_get(s, 0xfedcba9876543210ull, &got), 0);
	assert_true(got.id == 0xfedcba9876543210ull);
	assert_int_equal(got.claimed.ss_family, AF_UNSPEC);

	/* Same id again replaces (a re-login), it does not duplicate. */
	make_session(&ss, 7, "alice", 3000);
	ss.n_local = 0;
	ss.mapping = PH_MAP_NONE;
	assert_int_equal(store_session_put(s, &ss), 0);
	assert_int_equal(store_session_get(s, 7, &got), 0);
	assert_int_equal(got.n_local, 0);
	assert_int_equal(got.mapping, PH_MAP_NONE);
	assert_int_equal(got.since, 3000);

	/* Refresh, then a NAT rebinding. */
	assert_int_equal(store_session_touch(s, 7, NULL, 3020), 0);
	assert_int_equal(store_session_get(s, 7, &got), 0);
	assert_int_equal(got.refreshed, 3020);
	sa_equal(&got.observed, "198.18.1.1:40000");
	sa_set(&moved, "198.18.1.1:40999");
	assert_int_equal(store_session_touch(s, 7, (struct sockaddr *)&moved, 3040), 0);
	assert_int_equal(store_session_get(s, 7, &got), 0);
	sa_equal(&got.observed, "198.18.1.1:40999");
	assert_int_equal(store_session_touch(s, 99, NULL, 1), -ENOENT);

	/* Ordered by user. */
	assert_int_equal(store_session_list(s, NULL, collect_session, &l), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.id[0] == 7 && l.id[1] == 0xfedcba9876543210ull);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_session_list(s, "bob", collect_session, &l), 0);
	assert_int_equal(l.n, 1);

	/* Bad input. */
	make_session(&ss, 8, "nobody", 1);
	assert_int_equal(store_session_put(s, &ss), -ENOENT);
	make_session(&ss, 8, "alice", 1);
	ss.n_local = STORE_SESSION_MAX_LOCAL + 1;
	assert_int_equal(store_session_put(s, &ss), -EINVAL);
	make_session(&ss, 8, "alice", 1);
	ss.filtering = STORE_NAT_FILT_LAST + 1;
	assert_int_equal(store_session_put(s, &ss), -EINVAL);

	assert_int_equal(store_session_del(s, 7), 0);
	assert_int_equal(store_session_del(s, 7), -ENOENT);
	assert_int_equal(store_session_get(s, 7, &got), -ENOENT);
	assert_int_equal(store_session_clear(s, &n), 0);
	assert_int_equal(n, 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(store_session_list(s, NULL, collect_session, &l), 0);
	assert_int_equal(l.n, 0);
	store_close(s);
}

/* What a restart needs: a session's token and key come back; meta values persist. */
static void test_session_secrets_meta(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct store_session ss, got;
	char v[80];

	add_user(s, "alice", "a");
	make_session(&ss, 9, "alice", 1000);
	assert_int_equal(store_session_put(s, &ss), 0);
	assert_int_equal(store_session_get(s, 9, &got), 0);
	assert_false(got.has_secrets);

	ss.has_secrets = true;
	memset(ss.token, 0xa5, sizeof(ss.token));
	memset(ss.key, 0x5a, sizeof(ss.key));
	ss.key[31] = 1;
	assert_int_equal(store_session_put(s, &ss), 0);
	assert_int_equal(store_session_get(s, 9, &got), 0);
	assert_true(got.has_secrets);
	assert_memory_equal(got.token, ss.token, sizeof(ss.token));
	assert_memory_equal(got.key, ss.key, sizeof(ss.key));

	assert_int_equal(store_meta_get(s, "pair_secret", v, sizeof(v)), -ENOENT);
	assert_int_equal(store_meta_put(s, "pair_secret", "00ff"), 0);
	assert_int_equal(store_meta_put(s, "pair_secret", "0a0b"), 0);
	assert_int_equal(store_meta_get(s, "pair_secret", v, 3), -ENOSPC);
	store_close(s);
	s = store_open(f->db, 0, NULL);
	assert_non_null(s);
	assert_int_equal(store_meta_get(s, "pair_secret", v, sizeof(v)), 0);
	assert_string_equal(v, "0a0b");
	/* The realm lives in the same table and is untouched. */
	assert_string_equal(store_realm(s), STORE_REALM_DEFAULT);
	store_close(s);
}

static void test_user_del_cascades(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct store_session ss, got;

	add_user(s, "alice", "a");
	add_user(s, "bob", "b");
	add_user(s, "carol", "c");
	assert_int_equal(store_contact_allow(s, "alice", "bob"), 0);
	assert_int_equal(store_contact_allow(s, "bob", "alice"), 0);
	assert_int_equal(store_contact_allow(s, "carol", "alice"), 0);
	assert_int_equal(store_contact_allow(s, "carol", "bob"), 0);
	make_session(&ss, 1, "alice", 10);
	assert_int_equal(store_session_put(s, &ss), 0);
	make_session(&ss, 2, "bob", 10);
	assert_int_equal(store_session_put(s, &ss), 0);

	assert_int_equal(store_user_del(s, "alice"), 0);
	assert_int_equal(count_contacts(s, "bob", STORE_CONTACT_OUT), 0);
	assert_int_equal(count_contacts(s, "bob", STORE_CONTACT_IN), 1);	/* carol */
	assert_int_equal(count_contacts(s, "carol", STORE_CONTACT_OUT), 1);
	assert_int_equal(store_session_get(s, 1, &got), -ENOENT);
	assert_int_equal(store_session_get(s, 2, &got), 0);
	/* Re-adding the name starts clean: nothing of the old account comes back. */
	add_user(s, "alice", "a2");
	assert_int_equal(count_contacts(s, "alice", STORE_CONTACT_IN), 0);
	assert_int_equal(count_contacts(s, "alice", STORE_CONTACT_OUT), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contacts"), 1);
	store_close(s);
}

/* --- sharing the file ------------------------------------------------------- */

/* The server keeps its handle open while pinholectl writes through another. */
static void test_second_connection(void **state)
{
	struct fixture *f = *state;
	struct store *srv = open_new(f), *ctl;
	struct store_user u;
	struct names nm = { 0 };

	add_user(srv, "alice", "a");
	assert_int_equal(store_user_get(srv, "bob", &u), -ENOENT);
	ctl = store_open(f->db, STORE_O_CREATE, NULL);
	assert_non_null(ctl);
	add_user(ctl, "bob", "b");
	assert_int_equal(store_contact_allow(ctl, "alice", "bob"), 0);

	assert_int_equal(store_user_get(srv, "bob", &u), 0);
	assert_int_equal(store_contact_check(srv, "alice", "bob"), 0);
	assert_int_equal(store_user_list(srv, collect_user, &nm), 0);
	assert_int_equal(nm.n, 2);

	assert_int_equal(store_contact_deny(ctl, "alice", "bob"), 0);
	assert_int_equal(store_contact_check(srv, "alice", "bob"), -ENOENT);
	assert_int_equal(store_user_del(ctl, "bob"), 0);
	assert_int_equal(store_user_get(srv, "bob", &u), -ENOENT);
	store_close(ctl);
	store_close(srv);
}

/*
 * The server's contact lists are remembered between calls: a change made
 * by another connection (pinholectl) or by this one is seen on the very
 * next call, and session writes do not throw the lists away.
 */
static void test_contact_cache(void **state)
{
	struct fixture *f = *state;
	struct store *srv = open_new(f), *ctl;
	struct store_session ss;

	add_user(srv, "alice", "a");
	add_user(srv, "bob", "b");
	add_user(srv, "carol", "c");
	assert_int_equal(store_contact_allow(srv, "alice", "bob"), 0);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 1);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 1);
	assert_int_equal(count_contacts(srv, "bob", STORE_CONTACT_IN), 1);
	/* This connection's own change. */
	assert_int_equal(store_contact_allow(srv, "alice", "carol"), 0);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 2);
	/* Another connection's change. */
	ctl = store_open(f->db, 0, NULL);
	assert_non_null(ctl);
	assert_int_equal(store_contact_deny(ctl, "alice", "bob"), 0);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 1);
	assert_int_equal(count_contacts(srv, "bob", STORE_CONTACT_IN), 0);
	/* A user deleted elsewhere is unknown again, not "no contacts". */
	assert_int_equal(store_user_del(ctl, "carol"), 0);
	assert_int_equal(count_contacts(srv, "carol", STORE_CONTACT_OUT), -ENOENT);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 0);
	/* Session rows written here change nothing in the lists. */
	make_session(&ss, 5, "alice", 1000);
	assert_int_equal(store_session_put(srv, &ss), 0);
	assert_int_equal(count_contacts(srv, "alice", STORE_CONTACT_OUT), 0);
	store_close(ctl);
	store_close(srv);
}

static void test_readonly_handle(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct store_session ss;
	struct store_user u;

	add_user(s, "alice", "a");
	store_close(s);

	s = store_open(f->db, STORE_O_RDONLY, NULL);
	assert_non_null(s);
	assert_true(store_readonly(s));
	assert_int_equal(store_user_add(s, "bob", "b", 1), -EROFS);
	assert_int_equal(store_user_del(s, "alice"), -EROFS);
	make_session(&ss, 1, "alice", 1);
	assert_int_equal(store_session_put(s, &ss), -EROFS);
	assert_int_equal(store_user_get(s, "alice", &u), 0);
	store_close(s);

	s = store_open(f->db, 0, NULL);
	assert_non_null(s);
	assert_int_equal(store_user_get(s, "alice", &u), 0);
	assert_int_equal(store_user_get(s, "bob", &u), -ENOENT);
	store_close(s);
}

/* Root ignores file modes; drop the capabilities that let it, for real checks. */
static void drop_dac_override(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (geteuid() == 0 && syscall(SYS_capset, &hdr, data))
		_exit(100);
}

/*
 * A write-protected file (mode 0400) opened without STORE_O_RDONLY: reads
 * work, writes fail with -EROFS, nothing is lost.  Runs in a child that has
 * given up root's override of file modes.
 */
static void test_readonly_file(void **state)
{
	struct fixture *f = *state;
	struct store *s = open_new(f);
	struct store_user u;
	int status;
	pid_t pid;

	add_user(s, "alice", "a");
	store_close(s);
	assert_int_equal(chmod(f->db, 0400), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		drop_dac_override();
		s = store_open(f->db, STORE_O_CREATE, NULL);
		if (!s)
			_exit(1);
		if (!store_readonly(s))
			_exit(2);
		if (store_user_get(s, "alice", &u))
			_exit(3);
		if (store_user_add(s, "bob", "b", 1) != -EROFS)
			_exit(4);
		if (store_contact_allow(s, "alice", "bob") != -EROFS)
			_exit(5);
		if (store_user_del(s, "alice") != -EROFS)
			_exit(6);
		store_close(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(chmod(f->db, 0600), 0);
	s = store_open(f->db, 0, NULL);
	assert_non_null(s);
	assert_int_equal(store_user_get(s, "alice", &u), 0);
	assert_int_equal(store_user_get(s, "bob", &u), -ENOENT);
	store_close(s);
}

/* --- damaged and foreign files ---------------------------------------------- */

static void write_file(const char *path, const void *buf, size_t len, off_t off, int flags)
{
	int fd = open(path, O_WRONLY | flags, 0600);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void test_corrupt(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[8192], *before, *after;
	size_t blen, alen;
	struct store *s;

	/* Not a database at all. */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	write_file(f->db, junk, sizeof(junk), 0, O_CREAT | O_TRUNC);
	errno = 0;
	assert_null(store_open(f->db, STORE_O_CREATE, NULL));
	assert_int_equal(errno, EUCLEAN);
	/* Refused without a single byte written: the operator can still rescue it. */
	after = slurp(f->db, &alen);
	assert_int_equal(alen, sizeof(junk));
	assert_memory_equal(after, junk, sizeof(junk));
	free(after);

	/* A real store whose pages after the first were overwritten. */
	unlink(f->db);
	s = open_new(f);
	add_user(s, "alice", "a");
	store_close(s);
	before = slurp(f->db, &blen);
	assert_true(blen > 4096);
	free(before);
	write_file(f->db, junk, blen - 4096 < sizeof(junk) ? blen - 4096 : sizeof(junk), 4096,
		   0);
	errno = 0;
	assert_null(store_open(f->db, STORE_O_CREATE, NULL));
	assert_int_equal(errno, EUCLEAN);
}

static void test_foreign_and_newer(void **state)
{
	struct fixture *f = *state;
	struct store *s;

	/* Somebody else's SQLite database: refused, and left alone. */
	raw_exec(f->db, "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT)");
	errno = 0;
	assert_null(store_open(f->db, STORE_O_CREATE, NULL));
	assert_int_equal(errno, EUCLEAN);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_schema"), 1);
	unlink(f->db);

	/* A store written by a newer build: refused rather than misread. */
	s = open_new(f);
	store_close(s);
	raw_exec(f->db, "PRAGMA user_version = 99");
	errno = 0;
	assert_null(store_open(f->db, STORE_O_CREATE, NULL));
	assert_int_equal(errno, ENOTSUP);

	/* An older one (here: empty, version 0) is migrated. */
	unlink(f->db);
	write_file(f->db, "", 0, 0, O_CREAT);
	s = store_open(f->db, 0, NULL);
	assert_non_null(s);
	assert_int_equal(store_schema_version(s), 2);
	store_close(s);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Another writer holds the lock: -EBUSY after the timeout, reads still work. */
static void test_busy(void **state)
{
	struct fixture *f = *state;
	struct store_opts o = { .busy_timeout_ms = 200 };
	struct store_user u;
	struct store *s;
	sqlite3 *other;
	int64_t t0, dt;

	s = store_open(f->db, STORE_O_CREATE, &o);
	assert_non_null(s);
	add_user(s, "alice", "a");

	assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

	t0 = now_ms();
	assert_int_equal(store_user_add(s, "bob", "b", 1), -EBUSY);
	dt = now_ms() - t0;
	assert_true(dt >= 150);
	assert_true(dt < 3000);
	/* WAL: the writer's lock does not stop readers. */
	assert_int_equal(store_user_get(s, "alice", &u), 0);

	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	add_user(s, "bob", "b");
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_realm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_no_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_secrets_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_del_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contact_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_handle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_and_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
	};

	/* Expected failures log warnings; keep the test output to results. */
	log_set_level(LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
