// SPDX-License-Identifier: MIT
/*
 * server/sessions.c: ids non-zero and unique, their low bits the slot;
 * lookups by id and by name across deletions, a full table refusing; the
 * live bits the sweep walks; sessions put back at their slot on restart.
 * (Compiled in: the Makefile links tests against libpinhole only.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "access.h"
#include "addr.h"
#include "stun.h"

#include "server/sessions.h"

#include <stdio.h>


static void test_add_find_del(void **state)
{
	struct sessions t;
	struct session *s[64];
	char name[16];
	uint32_t i = 0, n = 0;

	/* Few buckets for many sessions: long chains get exercised. */
	assert_int_equal(sessions_init(&t, 64), 0);
	for (int k = 0; k < 64; k++) {
		snprintf(name, sizeof(name), "user%d", k);
		s[k] = sessions_add(&t, name);
		assert_non_null(s[k]);
		assert_int_not_equal(s[k]->id, 0);
		for (int j = 0; j < k; j++)
			assert_int_not_equal(s[j]->id, s[k]->id);
	}
	assert_null(sessions_add(&t, "one-more"));
	assert_int_equal(errno, ENOSPC);
	/* Delete every other one; the rest stay findable both ways. */
	for (int k = 0; k < 64; k += 2)
		sessions_del(&t, s[k]);
	assert_int_equal(t.n, 32);
	for (int k = 0; k < 64; k++) {
		snprintf(name, sizeof(name), "user%d", k);
		if (k % 2 == 0) {
			assert_null(sessions_find_user(&t, name));
			continue;
		}
		assert_ptr_equal(sessions_find(&t, s[k]->id), s[k]);
		assert_ptr_equal(sessions_find_user(&t, name), s[k]);
	}
	while (sessions_next(&t, &i))
		n++;
	assert_int_equal(n, 32);
	/* Freed slots are reused. */
	assert_non_null(sessions_add(&t, "late"));
	assert_non_null(sessions_find_user(&t, "late"));
	assert_null(sessions_find(&t, 0));
	sessions_fini(&t);
}

/* An id names its slot; a stale id (same slot, other generation) finds nothing. */
static void test_slot_ids(void **state)
{
	struct sessions t;
	struct session *a, *b;
	uint32_t slot, id;

	(void)state;
	assert_int_equal(sessions_init(&t, 100), 0);
	for (int k = 0; k < 100; k++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", k);
		a = sessions_add(&t, name);
		assert_non_null(a);
		slot = a->id & PH_SESSION_SLOT_MASK;
		assert_true(slot < 100);
		assert_ptr_equal(a, &t.v[slot]);
	}
	a = sessions_find_user(&t, "u42");
	id = a->id;
	slot = id & PH_SESSION_SLOT_MASK;
	assert_null(sessions_find(&t, id ^ (1u << PH_SESSION_SLOT_BITS)));
	assert_null(sessions_find(&t, (id & ~PH_SESSION_SLOT_MASK) | 100)); /* past the table */
	sessions_del(&t, a);
	assert_null(sessions_find(&t, id));
	b = sessions_add(&t, "again");
	assert_non_null(b);
	assert_int_equal(b->id & PH_SESSION_SLOT_MASK, slot); /* the only free slot */
	/* Another generation or, 1 in 255, the same id: either way a fresh token. */
	assert_ptr_equal(sessions_find(&t, b->id), b);
	sessions_fini(&t);
}

/* The live bits: every live slot once, in order, and none of the freed ones. */
static void test_next_live(void **state)
{
	struct sessions t;
	struct session *s[200];
	uint32_t slot, n = 0, prev = 0;

	(void)state;
	assert_int_equal(sessions_init(&t, 200), 0);
	assert_int_equal(sessions_next_live(&t, 0), 200);
	for (int k = 0; k < 200; k++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", k);
		s[k] = sessions_add(&t, name);
		assert_non_null(s[k]);
	}
	for (int k = 0; k < 200; k++)
		if (k % 3)
			sessions_del(&t, s[k]);
	for (slot = sessions_next_live(&t, 0); slot < 200; slot = sessions_next_live(&t, slot + 1)) {
		assert_true(n == 0 || slot > prev);
		assert_int_not_equal(t.v[slot].id, 0);
		prev = slot;
		n++;
	}
	assert_int_equal(n, t.n);
	assert_int_equal(n, 67);
	assert_int_equal(sessions_next_live(&t, 500), 200);
	sessions_fini(&t);
}

/* Restart: a session goes back to the slot its id names, once. */
static void test_restore(void **state)
{
	const uint32_t id = 0x7fu << PH_SESSION_SLOT_BITS | 9;
	struct sessions t;
	struct session *a;

	(void)state;
	assert_int_equal(sessions_init(&t, 16), 0);
	a = sessions_restore(&t, id, "alice");
	assert_non_null(a);
	assert_ptr_equal(a, &t.v[9]);
	assert_ptr_equal(sessions_find(&t, id), a);
	assert_ptr_equal(sessions_find_user(&t, "alice"), a);
	assert_int_equal(sessions_next_live(&t, 0), 9);
	assert_null(sessions_restore(&t, id, "bob"));
	assert_int_equal(errno, EEXIST);
	assert_null(sessions_restore(&t, 0x01000003u, "alice"));
	assert_int_equal(errno, EEXIST);
	assert_null(sessions_restore(&t, 0x01000000u | 16, "bob"));
	assert_int_equal(errno, EINVAL);
	assert_null(sessions_restore(&t, 0, "bob"));
	assert_int_equal(errno, EINVAL);
	/* New sessions take the other slots. */
	for (int k = 0; k < 15; k++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", k);
		assert_non_null(sessions_add(&t, name));
	}
	assert_null(sessions_add(&t, "full"));
	sessions_fini(&t);
}

static void test_bad_names(void **state)
{
	struct sessions t;

	assert_int_equal(sessions_init(&t, 4), 0);
	assert_null(sessions_add(&t, ""));
	assert_int_equal(errno, EINVAL);
	assert_null(sessions_add(&t, "has space"));
	assert_null(sessions_add(&t, "a:b"));
	assert_int_equal(t.n, 0);
	sessions_fini(&t);
	assert_int_equal(sessions_init(&t, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_find_del),
	    cmocka_unit_test(test_slot_ids),
	    cmocka_unit_test(test_next_live),
	    cmocka_unit_test(test_restore),
	    cmocka_unit_test(test_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
