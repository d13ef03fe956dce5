// SPDX-License-Identifier: MIT
/*
 * server/sessions.c: ids random, non-zero and unique, lookups by id and by
 * name through the hash chains across deletions, a full table refusing.
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
	    cmocka_unit_test(test_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
