// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"

/* Parse @in with default port 3478 and expect it to format back as @want. */
static void roundtrip(const char *in, const char *want)
{
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_parse(in, ADDR_DEFAULT_PORT, &ss), 0);
	assert_int_equal(addr_format((struct sockaddr *)&ss, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_parse_forms(void **state)
{
	roundtrip("198.18.0.1", "198.18.0.1:3478");
	roundtrip("198.18.0.1:5349", "198.18.0.1:5349");
	roundtrip("0.0.0.0:1", "0.0.0.0:1");
	roundtrip("255.255.255.255:65535", "255.255.255.255:65535");
	roundtrip("[2001:db8::1]:3479", "[2001:db8::1]:3479");
	roundtrip("[::]", "[::]:3478");
	roundtrip("2001:db8::1", "[2001:db8::1]:3478");
	roundtrip("::", "[::]:3478");
	roundtrip("::ffff:198.18.0.1", "[::ffff:198.18.0.1]:3478");
	roundtrip("[fe80::1%1]:3478", "[fe80::1%lo]:3478");
	roundtrip("[fe80::1%lo]:3478", "[fe80::1%lo]:3478");
}

static void test_parse_fields(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};

	assert_int_equal(addr_parse("198.18.0.7:1234", 9, &ss), 0);
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc6120007);
	assert_int_equal(ntohs(sin->sin_port), 1234);
	assert_int_equal(addr_port((struct sockaddr *)&ss), 1234);
	assert_int_equal(addr_len((struct sockaddr *)&ss), sizeof(struct sockaddr_in));

	assert_int_equal(addr_parse("2001:db8::2", 9, &ss), 0);
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_memory_equal(&sin6->sin6_addr, want6, 16);
	assert_int_equal(ntohs(sin6->sin6_port), 9);
	assert_int_equal(addr_len((struct sockaddr *)&ss), sizeof(struct sockaddr_in6));
	addr_set_port((struct sockaddr *)&ss, 4000);
	assert_int_equal(ntohs(sin6->sin6_port), 4000);
}

static void test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"", "junk", "198.18.0", "198.18.0.256", "198.18.0.1:", "198.18.0.1:0",
		"198.18.0.1:65536", "198.18.0.1:99999999", "198.18.0.1:-1", "198.18.0.1:+80",
		"198.18.0.1:0x10", "198.18.0.1:80 ", " 198.18.0.1", "198.18.0.1:80:81",
		"[2001:db8::1]:", "[2001:db8::1]x", "[2001:db8::1", "[198.18.0.1]:80",
		"[]:80", "2001:db8::g", "[2001:db8::1]:70000", "[fe80::1%]:1",
		"[fe80::1%nosuchif0]:1", "localhost", "localhost:80",
	};
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ss, 0xa5, sizeof(ss));
		if (addr_parse(bad[i], ADDR_DEFAULT_PORT, &ss) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		/* A failed parse leaves the output alone. */
		assert_int_equal(((uint8_t *)&ss)[0], 0xa5);
	}
	assert_int_equal(addr_parse(NULL, 1, &ss), -EINVAL);
}

static void test_format_errors(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_un_like {
		sa_family_t family;
	} other = {.family = AF_UNIX};
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_parse("[2001:db8::1]:3478", 1, &ss), 0);
	assert_int_equal(addr_format((struct sockaddr *)&ss, buf, 5), -ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(addr_format((struct sockaddr *)&other, buf, sizeof(buf)), -EAFNOSUPPORT);
}

static void test_cmp_any(void **state)
{
	struct sockaddr_storage a, b;

	assert_int_equal(addr_parse("198.18.0.1:3478", 1, &a), 0);
	assert_int_equal(addr_parse("198.18.0.1", 3478, &b), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&a, (struct sockaddr *)&b), 0);
	assert_int_equal(addr_parse("198.18.0.1:3479", 1, &b), 0);
	assert_true(addr_cmp((struct sockaddr *)&a, (struct sockaddr *)&b) < 0);
	assert_true(addr_cmp((struct sockaddr *)&b, (struct sockaddr *)&a) > 0);
	assert_int_equal(addr_parse("198.18.0.2:1", 1, &b), 0);
	assert_true(addr_cmp((struct sockaddr *)&a, (struct sockaddr *)&b) < 0);
	assert_int_equal(addr_parse("[::ffff:198.18.0.1]:3478", 1, &b), 0);
	assert_true(addr_cmp((struct sockaddr *)&a, (struct sockaddr *)&b) != 0);
	assert_int_equal(addr_parse("[2001:db8::1]", 1, &a), 0);
	assert_int_equal(addr_parse("2001:db8::1", 1, &b), 0);
	assert_int_equal(addr_cmp((struct sockaddr *)&a, (struct sockaddr *)&b), 0);

	assert_false(addr_is_any((struct sockaddr *)&a));
	assert_int_equal(addr_parse("0.0.0.0", 1, &a), 0);
	assert_true(addr_is_any((struct sockaddr *)&a));
	assert_int_equal(addr_parse("[::]:9", 1, &a), 0);
	assert_true(addr_is_any((struct sockaddr *)&a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),	cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),	cmocka_unit_test(test_format_errors),
		cmocka_unit_test(test_cmp_any),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
