// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"

static char err[CONFIG_ERR_LEN];

/* argv from a NULL-terminated list, program name first. */
#define LOAD(c, ...)                                                                               \
	({                                                                                         \
		char *const _argv[] = {"pinhole-server", __VA_ARGS__, NULL};                       \
		err[0] = '\0';                                                                     \
		config_load((c), (int)(sizeof(_argv) / sizeof(_argv[0])) - 1, _argv, err,         \
			    sizeof(err));                                                          \
	})

static char *write_bytes(const char *text, size_t len)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_config_server_%d_XXXXXX", getpid());
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *write_file(const char *text)
{
	return write_bytes(text, strlen(text));
}

static void assert_listen(const struct config *c, size_t i, const char *want)
{
	char buf[ADDR_STRLEN];

	assert_true(i < c->n_listen);
	assert_int_equal(addr_format((const struct sockaddr *)&c->listen[i], buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_defaults(void **state)
{
	struct config c;
	char *const argv[] = {"pinhole-server", NULL};

	assert_int_equal(config_load(&c, 1, argv, err, sizeof(err)), 0);
	assert_int_equal(c.n_listen, 2);
	assert_true(c.listen_default);
	assert_listen(&c, 0, "0.0.0.0:3478");
	assert_listen(&c, 1, "[::]:3478");
	assert_string_equal(c.xdp_ifname, "");
	assert_false(c.keep);
	assert_false(c.xdp_no_generic);
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/pinhole");
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.workers, 1);
}

static void test_flags(void **state)
{
	struct config c;

	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1", "--listen=[2001:db8::1]:5000",
			      "--listen", "198.18.0.2:3479", "--xdp", "veth0", "--xdp-no-generic",
			      "--keep", "--pin-dir=/sys/fs/bpf/x", "--log-level", "debug",
			      "--workers", "2"),
			 0);
	assert_int_equal(c.n_listen, 3);
	assert_false(c.listen_default);
	assert_listen(&c, 0, "198.18.0.1:3478");
	assert_listen(&c, 1, "[2001:db8::1]:5000");
	assert_listen(&c, 2, "198.18.0.2:3479");
	assert_string_equal(c.xdp_ifname, "veth0");
	assert_true(c.xdp_no_generic);
	assert_true(c.keep);
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/x");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.workers, 2);

	assert_int_equal(LOAD(&c, "--help"), 0);
	assert_true(c.help);
	assert_int_equal(LOAD(&c, "-V"), 0);
	assert_true(c.version);
	assert_int_equal(LOAD(&c, "--keep=no"), 0);
	assert_false(c.keep);
}

/* Each bad command line fails with exactly this one-line message. */
static void test_argv_errors(void **state)
{
	struct config c;

	assert_int_equal(LOAD(&c, "--lisen", "1.2.3.4"), -EINVAL);
	assert_string_equal(err, "unknown option '--lisen' (see --help)");
	assert_int_equal(LOAD(&c, "--listen"), -EINVAL);
	assert_string_equal(err, "--listen needs a value");
	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1:70000"), -EINVAL);
	assert_string_equal(err, "--listen '198.18.0.1:70000': not IP, IP:PORT, IPv6 or "
				 "[IPv6]:PORT with port 1-65535");
	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1", "--listen", "198.18.0.1:3478"),
			 -EINVAL);
	assert_string_equal(err, "--listen '198.18.0.1:3478': 198.18.0.1:3478 given twice");
	assert_int_equal(LOAD(&c, "--log-level", "loud"), -EINVAL);
	assert_string_equal(err, "--log-level 'loud': expected error, warn, info or debug");
	assert_int_equal(LOAD(&c, "--workers", "0"), -EINVAL);
	assert_string_equal(err, "--workers '0': expected a number from 1 to 64");
	assert_int_equal(LOAD(&c, "--workers", "2x"), -EINVAL);
	assert_int_equal(LOAD(&c, "--pin-dir", "relative"), -EINVAL);
	assert_string_equal(err, "--pin-dir 'relative': must be an absolute path on bpffs");
	assert_int_equal(LOAD(&c, "--xdp", "this-name-is-far-too-long"), -EINVAL);
	assert_string_equal(err, "--xdp 'this-name-is-far-too-long': not an interface name");
	assert_int_equal(LOAD(&c, "--keep=maybe"), -EINVAL);
	assert_string_equal(err, "--keep 'maybe': expected yes or no");
	assert_int_equal(LOAD(&c, "stray"), -EINVAL);
	assert_string_equal(err, "unexpected argument 'stray' (see --help)");
	assert_int_equal(LOAD(&c, "--xdp-no-generic"), -EINVAL);
	assert_string_equal(err, "--xdp-no-generic needs --xdp IFNAME");
	assert_int_equal(LOAD(&c, "--config", "/nonexistent/pinhole.conf"), -ENOENT);
	assert_string_equal(err, "/nonexistent/pinhole.conf: No such file or directory");
	/* Exactly one line. */
	assert_null(strchr(err, '\n'));
}

static void test_file(void **state)
{
	struct config c;
	char *path = write_file("# pinhole test config\n"
				"\n"
				"listen = 198.18.0.1\n"
				"  listen 198.18.0.2:4000   # second\n"
				"listen=[2001:db8::5]:4001\n"
				"xdp veth-srv\n"
				"keep\n"
				"xdp-no-generic = yes\n"
				"log-level = warn\n"
				"pin-dir /sys/fs/bpf/a#b\n");

	assert_int_equal(LOAD(&c, "--config", path), 0);
	assert_int_equal(c.n_listen, 3);
	assert_listen(&c, 0, "198.18.0.1:3478");
	assert_listen(&c, 1, "198.18.0.2:4000");
	assert_listen(&c, 2, "[2001:db8::5]:4001");
	assert_string_equal(c.xdp_ifname, "veth-srv");
	assert_true(c.keep);
	assert_true(c.xdp_no_generic);
	assert_int_equal(c.log_level, LOG_WARN);
	/* '#' inside a word is not a comment. */
	assert_string_equal(c.pin_dir, "/sys/fs/bpf/a#b");
	assert_string_equal(c.config_file, path);

	/* argv wins: scalars replaced, and its --listen list replaces the file's. */
	assert_int_equal(LOAD(&c, "--log-level", "debug", "--config", path, "--keep=off",
			      "--listen", "198.18.0.9", "--listen", "198.18.0.10:1"),
			 0);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_false(c.keep);
	assert_int_equal(c.n_listen, 2);
	assert_listen(&c, 0, "198.18.0.9:3478");
	assert_listen(&c, 1, "198.18.0.10:1");
	/* What argv did not mention still comes from the file. */
	assert_string_equal(c.xdp_ifname, "veth-srv");
	unlink(path);
}

static void file_error(const char *text, int line, const char *want)
{
	struct config c;
	char *path = write_file(text);
	char expect[CONFIG_ERR_LEN];

	snprintf(expect, sizeof(expect), "%s:%d: %s", path, line, want);
	assert_int_equal(LOAD(&c, "--config", path), -EINVAL);
	assert_string_equal(err, expect);
	unlink(path);
}

static void test_file_errors(void **state)
{
	static const char nul[] = "realm = a\0b\n";
	char expect[CONFIG_ERR_LEN], *path;
	struct config c;

	/* A NUL byte would cut the value short without a word. */
	path = write_bytes(nul, sizeof(nul) - 1);
	snprintf(expect, sizeof(expect), "%s:1: NUL byte in line", path);
	assert_int_equal(LOAD(&c, "--config", path), -EINVAL);
	assert_string_equal(err, expect);
	unlink(path);

	file_error("listen 198.18.0.1\nlisen 198.18.0.2\n", 2, "unknown key 'lisen'");
	file_error("# c\n\nlisten = junk\n", 3,
		   "listen 'junk': not IP, IP:PORT, IPv6 or [IPv6]:PORT with port 1-65535");
	file_error("listen\n", 1, "listen needs a value");
	file_error("keep = sometimes\n", 1, "keep 'sometimes': expected yes or no");
	file_error("log-level = 3\n", 1, "log-level '3': expected error, warn, info or debug");
	file_error("config = /etc/other.conf\n", 1, "command-line only key 'config'");
	file_error("help\n", 1, "command-line only key 'help'");
	file_error("listen 198.18.0.1\nlisten 198.18.0.1:3478\n", 2,
		   "listen '198.18.0.1:3478': 198.18.0.1:3478 given twice");
}

static void test_too_many(void **state)
{
	struct config c;
	char text[CONFIG_MAX_LISTEN * 32 + 64] = "";
	char *path;

	for (int i = 0; i <= CONFIG_MAX_LISTEN; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 "listen 198.18.1.%d\n", i);
	path = write_file(text);
	assert_int_equal(LOAD(&c, "--config", path), -EINVAL);
	assert_non_null(strstr(err, ":65: listen '198.18.1.64': more than 64 listen addresses"));
	unlink(path);
}

/* The access server's settings: defaults, flags, file keys and their errors. */
static void test_access(void **state)
{
	struct config c;
	char buf[ADDR_STRLEN];
	char *path;

	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1"), 0);
	assert_string_equal(c.db_path, "/var/lib/pinhole/pinhole.db");
	assert_false(c.db_given);
	assert_false(c.stun_only);
	assert_string_equal(c.realm, "");
	assert_int_equal(c.alt.ss_family, AF_UNSPEC);
	assert_null(config_alt_primary(&c));
	assert_false(c.no_punch);
	assert_int_equal(c.punch_wait_ms, 300);
	assert_int_equal(c.nonce_lifetime_s, 60);
	assert_int_equal(c.keepalive_s, 20);
	assert_int_equal(c.login_rate, 10);
	assert_int_equal(c.max_sessions, 16384);

	assert_int_equal(LOAD(&c, "--listen", "[2001:db8::1]:4000", "--listen", "198.18.0.1",
			      "--db", "/tmp/x.db", "--realm", "example.org", "--alt",
			      "198.18.0.3:3479", "--no-punch", "--punch-wait", "0", "--keepalive",
			      "2", "--login-rate=0", "--max-sessions", "100"),
			 0);
	assert_string_equal(c.db_path, "/tmp/x.db");
	assert_true(c.db_given);
	assert_string_equal(c.realm, "example.org");
	assert_int_equal(addr_format((struct sockaddr *)&c.alt, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "198.18.0.3:3479");
	/* The primary is the first listener of the alternate's family. */
	assert_ptr_equal(config_alt_primary(&c), &c.listen[1]);
	assert_true(c.no_punch);
	assert_int_equal(c.punch_wait_ms, 0);
	assert_int_equal(c.keepalive_s, 2);
	assert_int_equal(c.login_rate, 0);
	assert_int_equal(c.max_sessions, 100);
	/* --alt without a port: the default port + 1. */
	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1", "--alt", "198.18.0.3"), 0);
	assert_int_equal(addr_port((struct sockaddr *)&c.alt), 3479);

	assert_int_equal(LOAD(&c, "--keepalive", "0"), -EINVAL);
	assert_string_equal(err, "--keepalive '0': expected a number from 1 to 600");
	assert_int_equal(LOAD(&c, "--nonce-lifetime", "0"), -EINVAL);
	assert_int_equal(LOAD(&c, "--nonce-lifetime", "3"), 0);
	assert_int_equal(c.nonce_lifetime_s, 3);
	assert_int_equal(LOAD(&c, "--punch-wait", "10001"), -EINVAL);
	assert_string_equal(err, "--punch-wait '10001': expected a number from 0 to 10000");
	assert_int_equal(LOAD(&c, "--realm", "a:b"), -EINVAL);
	assert_string_equal(err, "--realm 'a:b': printable ASCII without space or ':'");
	assert_int_equal(LOAD(&c, "--alt", "0.0.0.0:3479"), -EINVAL);
	assert_string_equal(err, "--alt '0.0.0.0:3479': not a concrete IP[:PORT]");
	/* The default listeners are wildcards: nothing for RFC 5780 to pair with. */
	assert_int_equal(LOAD(&c, "--alt", "198.18.0.3:3479"), -EINVAL);
	assert_string_equal(
		err, "--alt needs a --listen of its family with a concrete IP and another port");
	/* Same IP as the primary: not an alternate. */
	assert_int_equal(LOAD(&c, "--listen", "198.18.0.1", "--alt", "198.18.0.1:3479"), -EINVAL);
	assert_int_equal(LOAD(&c, "--stun-only", "--db", "/tmp/x.db"), -EINVAL);
	assert_string_equal(err, "--stun-only and --db exclude each other");

	path = write_file("listen = 198.18.0.1\ndb = /tmp/f.db\nalt 198.18.0.3:4000\n"
			  "no-punch\nkeepalive = 5\nlogin-rate 3\nrealm r1\n");
	assert_int_equal(LOAD(&c, "--config", path, "--keepalive", "7"), 0);
	assert_string_equal(c.db_path, "/tmp/f.db");
	assert_true(c.no_punch);
	assert_int_equal(c.keepalive_s, 7);
	assert_int_equal(c.login_rate, 3);
	assert_string_equal(c.realm, "r1");
	assert_non_null(config_alt_primary(&c));
	unlink(path);
}

static void assert_metrics(const struct config *c, const char *want)
{
	char buf[ADDR_STRLEN];

	assert_int_equal(addr_format((const struct sockaddr *)&c->metrics, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_metrics(void **state)
{
	struct config c;
	char *path;

	assert_int_equal(LOAD(&c, "--listen", "127.0.0.1"), 0);
	assert_int_equal(c.metrics.ss_family, AF_UNSPEC);
	assert_int_equal(LOAD(&c, "--metrics", "127.0.0.1:9478"), 0);
	assert_metrics(&c, "127.0.0.1:9478");
	assert_int_equal(LOAD(&c, "--metrics=[::1]:9100"), 0);
	assert_metrics(&c, "[::1]:9100");
	/* No default port: a bare IP (v4 or v6) is refused, and so are port 0 and junk. */
	assert_int_equal(LOAD(&c, "--metrics", "127.0.0.1"), -EINVAL);
	assert_string_equal(err, "--metrics '127.0.0.1': expected IP:PORT or [IPv6]:PORT");
	assert_int_equal(LOAD(&c, "--metrics", "::1"), -EINVAL);
	assert_int_equal(LOAD(&c, "--metrics", "127.0.0.1:0"), -EINVAL);
	assert_int_equal(LOAD(&c, "--metrics", "localhost:9100"), -EINVAL);
	assert_int_equal(LOAD(&c, "--metrics"), -EINVAL);
	assert_string_equal(err, "--metrics needs a value");
	/* From a file, and the command line wins. */
	path = write_file("metrics = 0.0.0.0:9478\n");
	assert_int_equal(LOAD(&c, "--config", path), 0);
	assert_metrics(&c, "0.0.0.0:9478");
	assert_int_equal(LOAD(&c, "--config", path, "--metrics", "127.0.0.2:9000"), 0);
	assert_metrics(&c, "127.0.0.2:9000");
	unlink(path);
}

static void test_usage(void **state)
{
	static const char *const flags[] = {"--listen", "--xdp ", "--xdp-no-generic", "--keep",
					    "--pin-dir", "--config", "--log-level", "--help",
					    "--version", "--workers", "--db", "--alt", "--no-punch",
					    "--punch-wait", "--keepalive", "--realm", "--login-rate",
					    "--stun-only", "--max-sessions", "--nonce-lifetime"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	config_usage(f, "pinhole-server");
	fclose(f);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (!strstr(buf, flags[i]))
			fail_msg("--help does not explain %s", flags[i]);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),    cmocka_unit_test(test_flags),
		cmocka_unit_test(test_argv_errors), cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_errors), cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_usage),       cmocka_unit_test(test_access),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
