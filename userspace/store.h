/* SPDX-License-Identifier: MIT */
/*
 * The account store: accounts (derived keys only, never passwords),
 * directional contact permissions and the sessions the server reports
 * (who is online, where, behind what NAT).  SQLite is the embedded backend.
 *
 * One file is shared by the running server and pinholectl: WAL mode, a
 * busy timeout, and no caching above SQLite, so an account added by
 * pinholectl is visible to the server's next lookup.  Every statement is
 * prepared once at open; every call resets its statement before returning,
 * so no call leaves a read snapshot open that would hide other writers.
 *
 * A struct store belongs to one thread.  Functions return 0 or a negative
 * errno:
 *   -EINVAL   bad argument (name, realm or password format; a value the
 *             schema refuses)
 *   -ENOENT   no such user / contact / session
 *   -EEXIST   already there (duplicate user, contact already allowed)
 *   -EBUSY    another connection holds the write lock past the busy timeout
 *   -EROFS    the file (or the handle) is read-only
 *   -ENOSPC   disk full
 *   -EUCLEAN  the file is corrupt or not a SQLite database
 *   -EIO      anything else SQLite reports
 * Storage errors are logged with SQLite's own message through pr_warn;
 * expected outcomes (not found, duplicate) are only logged at debug level.
 *
 * Names (users) are 1..STORE_NAME_MAX bytes of printable ASCII without
 * space and without ':'.  Why: a name is hashed into the RFC 8489 key as
 * "name:realm:password", so ':' would make two accounts' inputs ambiguous;
 * printable ASCII without space is exactly what the PRECIS IdentifierClass
 * (RFC 8265, required for USERNAME by RFC 8489) leaves unchanged, so the
 * key hashed here equals the one a conforming client derives.  Names are
 * case sensitive.  The realm follows the same rule (1..STORE_REALM_MAX).
 * Passwords are 1..STORE_PASSWORD_MAX bytes without control characters and
 * are hashed as given (UTF-8 is not normalised: non-ASCII passwords must be
 * typed the same way on the endpoint).
 */
#ifndef PINHOLE_STORE_H
#define PINHOLE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "access_proto.h"

#define STORE_NAME_MAX		64
#define STORE_REALM_MAX		127
#define STORE_PASSWORD_MAX	256
#define STORE_REALM_DEFAULT	"pinhole"
/* Where the server and pinholectl look when --db is not given. */
#define STORE_PATH_DEFAULT	"/var/lib/pinhole/pinhole.db"
/* How long a call waits for another connection's write lock. */
#define STORE_BUSY_TIMEOUT_MS	5000
/* Local (host) addresses kept per session. */
#define STORE_SESSION_MAX_LOCAL	8

#define STORE_KEY_SHA256_LEN	32
#define STORE_KEY_MD5_LEN	16
#define STORE_USERHASH_LEN	32

/*
 * Sessions record NAT behaviour as enum ph_nat_mapping / ph_nat_filtering
 * (bpf/access_proto.h, the values the endpoint reports on the wire).  The
 * numbers are persisted: those enums may be appended to, never renumbered.
 */
#define STORE_NAT_MAP_LAST	PH_MAP_ADDRESS_PORT_DEPENDENT
#define STORE_NAT_FILT_LAST	PH_FILTER_ADDRESS_PORT_DEPENDENT

enum store_open_flags {
	STORE_O_CREATE = 1 << 0,	/* create (mode 0600) and migrate if missing */
	STORE_O_RDONLY = 1 << 1,	/* never write; writes fail with -EROFS */
};

struct store_opts {
	/* Realm for a new store (NULL: STORE_REALM_DEFAULT).  For an existing
	 * store a non-NULL realm must match the stored one (-EINVAL otherwise):
	 * every key depends on it. */
	const char *realm;
	/* Milliseconds to wait for a lock; 0 means STORE_BUSY_TIMEOUT_MS. */
	int busy_timeout_ms;
};

struct store;

struct store_user {
	int64_t id;
	char name[STORE_NAME_MAX + 1];
	uint8_t key_sha256[STORE_KEY_SHA256_LEN];	/* SHA-256(name:realm:password) */
	uint8_t key_md5[STORE_KEY_MD5_LEN];		/* MD5(name:realm:password) */
	uint8_t userhash[STORE_USERHASH_LEN];		/* SHA-256(name:realm), RFC 8489 USERHASH */
	int64_t created;				/* unix seconds */
};

struct store_session {
	uint64_t id;				/* the server's session id */
	char user[STORE_NAME_MAX + 1];
	struct sockaddr_storage observed;	/* source the server saw (reflexive) */
	struct sockaddr_storage claimed;	/* reflexive address the endpoint reported */
	struct sockaddr_storage local[STORE_SESSION_MAX_LOCAL];
	unsigned int n_local;
	enum ph_nat_mapping mapping;
	enum ph_nat_filtering filtering;
	int64_t since;				/* login, unix seconds */
	int64_t refreshed;			/* last refresh the server recorded */
	/* What a restarted server needs to take the session back (never shown). */
	bool has_secrets;
	uint8_t token[16];			/* the session token (PH_TOKEN_LEN) */
	uint8_t key[32];			/* the session key (PH_PAIR_KEY_LEN) */
};

/*
 * Open the store at @path (flags from enum store_open_flags).  With
 * STORE_O_CREATE a missing file is created with mode 0600 (it holds
 * password-equivalent keys), and an old schema is migrated in one
 * transaction.  @opts may be NULL.
 * Returns the handle, or NULL with errno: ENOENT (no file and no
 * STORE_O_CREATE, or missing directory), EUCLEAN (corrupt, not a database,
 * or a database that is not a pinhole store), ENOTSUP (schema newer than
 * this build), EROFS (read-only but needs creating or migrating), EBUSY
 * (migration blocked by another writer), EINVAL (bad or mismatched realm),
 * EACCES, ENOMEM, EIO.  The reason is logged through pr_warn.
 */
struct store *store_open(const char *path, unsigned int flags, const struct store_opts *opts);

/* Finalize statements and close.  NULL is fine. */
void store_close(struct store *s);

/* The realm fixed when the store was created (valid until store_close). */
const char *store_realm(const struct store *s);

/* Schema version of the open file (PRAGMA user_version). */
int store_schema_version(const struct store *s);

/* True if @s was opened, or fell back to, read-only. */
bool store_readonly(const struct store *s);

/* 0 if @name follows the naming rule above, -EINVAL otherwise. */
int store_name_check(const char *name);

/* --- users ------------------------------------------------------------ */

/*
 * Add user @name with @password (@plen bytes, not NUL-terminated needed).
 * Only the derived keys are stored.  -EINVAL (bad name or password),
 * -EEXIST, -EBUSY, -EROFS, -ENOSPC, -EUCLEAN, -EIO.
 */
int store_user_add(struct store *s, const char *name, const char *password, size_t plen);

/* Replace @name's keys with ones derived from a new password.  -ENOENT if no such user. */
int store_user_set_password(struct store *s, const char *name, const char *password,
			    size_t plen);

/* Delete @name with its contacts (both directions) and sessions.  -ENOENT if none. */
int store_user_del(struct store *s, const char *name);

/* Fill @out for @name.  -EINVAL (bad name), -ENOENT, or a storage error. */
int store_user_get(struct store *s, const char *name, struct store_user *out);

/* Fill @out for the user whose RFC 8489 USERHASH is @hash.  -ENOENT if none. */
int store_user_get_by_hash(struct store *s, const uint8_t hash[STORE_USERHASH_LEN],
			   struct store_user *out);

/*
 * Call @cb for each user in name order until it returns non-zero, which is
 * then returned.  @cb may call other store functions on @s, but not this one.
 */
typedef int (*store_user_cb)(const struct store_user *u, void *ctx);
int store_user_list(struct store *s, store_user_cb cb, void *ctx);

/* --- contacts: "A may contact B" -------------------------------------- */

/*
 * Allow @a to contact @b (one direction; allow B A for the other).
 * -EINVAL (bad name, or a == b), -ENOENT (either user unknown), -EEXIST
 * (already allowed), or a storage error.
 */
int store_contact_allow(struct store *s, const char *a, const char *b);

/* Remove the permission for @a to contact @b.  -ENOENT if there was none. */
int store_contact_deny(struct store *s, const char *a, const char *b);

/* 0 if @a may contact @b, -ENOENT if not (or either user is unknown). */
int store_contact_check(struct store *s, const char *a, const char *b);

enum store_contact_dir {
	STORE_CONTACT_OUT,	/* the users @name may contact (its profile) */
	STORE_CONTACT_IN,	/* the users who may contact @name */
};

/*
 * Call @cb with each contact name of @name in direction @dir, in name
 * order, until it returns non-zero (then returned).  -ENOENT if @name is
 * not a user.  @cb may call other store functions on @s, but not this one.
 */
typedef int (*store_contact_cb)(const char *contact, void *ctx);
int store_contact_list(struct store *s, const char *name, enum store_contact_dir dir,
		       store_contact_cb cb, void *ctx);

/* --- sessions ----------------------------------------------------------- */

/*
 * Record (insert, or replace by id) session @sess of user @sess->user.
 * Addresses of family AF_UNSPEC are stored as absent.  -EINVAL (bad name,
 * n_local too large, enum out of range), -ENOENT (no such user), or a
 * storage error.
 */
int store_session_put(struct store *s, const struct store_session *sess);

/*
 * Refresh session @id: set its refresh time to @now and, if @observed is
 * not NULL, its observed address (NAT rebinding).  -ENOENT if no such session.
 */
int store_session_touch(struct store *s, uint64_t id, const struct sockaddr *observed,
			int64_t now);

/* Remove session @id (logout, timeout).  -ENOENT if none. */
int store_session_del(struct store *s, uint64_t id);

/* Remove every session (a server starting without its old state).  Count in *n (may be NULL). */
int store_session_clear(struct store *s, unsigned int *n);

/* Fill @out for session @id.  -ENOENT if none. */
int store_session_get(struct store *s, uint64_t id, struct store_session *out);

/*
 * Call @cb for each session, of user @user or of everyone if @user is
 * NULL, ordered by user then login time, until it returns non-zero (then
 * returned).  @cb may call other store functions on @s, but not this one.
 */
typedef int (*store_session_cb)(const struct store_session *sess, void *ctx);
int store_session_list(struct store *s, const char *user, store_session_cb cb, void *ctx);

/* --- bulk loading ------------------------------------------------------- */

/*
 * Open one write transaction on @s for many store_user_add() /
 * store_contact_allow() calls (imports, pinhole-load's millions of
 * accounts), and give this connection a page cache of @cache_mb MiB (0:
 * leave it) so index inserts stay in memory.  Each call otherwise commits
 * by itself, which costs a WAL commit per row.  Other connections keep
 * reading what was committed before; their writes wait (up to their busy
 * timeout) until store_bulk_end(), so keep batches short while a server
 * writes.  -EBUSY (another writer), -EINVAL (already in a transaction),
 * -EROFS, -EIO.
 */
int store_bulk_begin(struct store *s, unsigned int cache_mb);

/*
 * End the transaction store_bulk_begin() opened: commit when @commit, else
 * roll back every call since.  A failed commit is rolled back too.
 * -EINVAL (no transaction open), -EBUSY, -ENOSPC, -EIO.
 */
int store_bulk_end(struct store *s, bool commit);

/* --- meta: small named values (server state that outlives a process) ---- */

/* Copy the value of @key into @out (@cap bytes).  0, -ENOENT, -ENOSPC (too long), -errno. */
int store_meta_get(struct store *s, const char *key, char *out, size_t cap);

/* Set @key to @value.  0 or -errno. */
int store_meta_put(struct store *s, const char *key, const char *value);

#endif
