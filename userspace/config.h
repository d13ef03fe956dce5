/* SPDX-License-Identifier: MIT */
/*
 * pinhole-server settings, from the command line and from a --config file.
 *
 * A file holds one setting per line, "key = value" or "key value", with the
 * long flag names as keys ("listen = 198.18.0.1:3478", "keep", "# comment").
 * Boolean keys stand alone or take yes/no/true/false/on/off/1/0.  The command
 * line wins over the file: a scalar given on both takes the argv value, and
 * any --listen on the command line replaces the file's whole listen list.
 * With no listen at all the server listens on 0.0.0.0:3478 and [::]:3478.
 */
#ifndef PINHOLE_CONFIG_H
#define PINHOLE_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"
#include "pinhole_kern_user.h"

#define CONFIG_MAX_LISTEN	PH_MAX_LISTENERS
#define CONFIG_MAX_WORKERS	64
/* Error messages are one line; this holds any of them. */
#define CONFIG_ERR_LEN		(PATH_MAX + 256)
#define CONFIG_PUNCH_WAIT_MS_DEFAULT	300
#define CONFIG_PUNCH_WAIT_MS_MAX	10000
#define CONFIG_NONCE_LIFETIME_S_DEFAULT	60
#define CONFIG_NONCE_LIFETIME_S_MAX	3600
#define CONFIG_KEEPALIVE_S_DEFAULT	20
#define CONFIG_KEEPALIVE_S_MAX		600
#define CONFIG_LOGIN_RATE_DEFAULT	10
#define CONFIG_ANSWER_RATE_DEFAULT	100
#define CONFIG_ANSWER_RATE_MAX		10000000
#define CONFIG_MAX_SESSIONS_DEFAULT	16384

struct config {
	struct sockaddr_storage listen[CONFIG_MAX_LISTEN];
	size_t n_listen;
	bool listen_default;		/* listen[] holds the defaults, none was given */
	bool listen_from_argv;		/* argv gave --listen: the file's list was dropped */
	char xdp_ifname[IF_NAMESIZE];	/* "" = no XDP path */
	bool xdp_no_generic;
	bool keep;
	char pin_dir[PATH_MAX];
	char config_file[PATH_MAX];	/* "" = none */
	enum log_level log_level;
	unsigned int workers;
	/* access protocol */
	char db_path[PATH_MAX];		/* "" = STORE_PATH_DEFAULT if its directory exists */
	bool db_given;			/* --db was set: failing to open it is fatal */
	bool stun_only;			/* no store, no access protocol */
	char realm[128];		/* "" = the store's */
	struct sockaddr_storage alt;	/* RFC 5780 alternate address; AF_UNSPEC = none */
	bool no_punch;
	unsigned int punch_wait_ms;
	unsigned int nonce_lifetime_s;
	unsigned int keepalive_s;
	unsigned int login_rate;	/* per source per second; 0 = unlimited */
	unsigned int answer_rate;	/* XDP: unauthenticated answers per source IP per second */
	unsigned int answer_burst;	/* 0 = 2 * answer_rate */
	unsigned int max_sessions;
	struct sockaddr_storage metrics; /* Prometheus over HTTP; AF_UNSPEC = off */
	bool help;
	bool version;
};

/* Fill @c with the defaults (no listen addresses yet; config_load adds them). */
void config_init(struct config *c);

/*
 * Build the settings from @argv: defaults, then the --config file if argv
 * names one, then argv itself, then the default listeners if none was given.
 * Accepts "--flag value" and "--flag=value".  Returns 0, or a negative errno
 * with a one-line message in @err ("--listen 'x': ...", "FILE:LINE: ...").
 * With --help or --version set it stops early and returns 0.
 */
int config_load(struct config *c, int argc, char *const argv[], char *err, size_t errlen);

/*
 * Apply one file to @c (used by config_load; exposed for tests).  Returns 0,
 * -EINVAL with "PATH:LINE: problem" in @err, or the open/read -errno with
 * "PATH: reason".
 */
int config_parse_file(struct config *c, const char *path, char *err, size_t errlen);

/*
 * The primary address RFC 5780 pairs with --alt: the first --listen of
 * its family with a concrete IP, another IP and another port.  NULL when
 * there is no --alt or no such listener.
 */
const struct sockaddr_storage *config_alt_primary(const struct config *c);

/* Print the --help text to @f. */
void config_usage(FILE *f, const char *prog);

#endif
