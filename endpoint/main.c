// SPDX-License-Identifier: MIT
/*
 * pinhole-endpoint: log in to a pinhole access server, print every step
 * of the flow with a timestamp (stderr, through the log hook), and talk
 * to contacts over direct sessions.  Commands on stdin:
 *   @NAME TEXT   send TEXT to NAME
 *   /contacts    list contacts and their state
 *   /refresh     fetch the routing table again
 *   /quit        log out and exit 0
 * End of stdin does not quit (scripts may close it); SIGINT/SIGTERM log
 * out and exit 0.  Authentication failure or an unreachable server exit 1.
 *
 * Built on the public API alone (endpoint.h, installed as
 * <pinhole/endpoint.h>) plus two generic libpinhole helpers that are no
 * part of the endpoint: addr.h to parse and print addresses and log.h for
 * the timestamped lines the lab tests read.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "addr.h"
#include "endpoint.h"
#include "log.h"

#define PASSWORD_MAX 512
#define LINE_MAX_LEN 2048

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pinhole-endpoint --server IP[:PORT] --user NAME --password-file FILE\n"
		"                        [--bind IP[:PORT]] [--log-level error|warn|info|debug]\n"
		"\n"
		"Logs in to a pinhole access server and holds direct sessions with contacts.\n"
		"stdin commands: '@NAME TEXT' sends TEXT, '/contacts', '/refresh', '/quit'.\n"
		"The password is read from FILE (first line), never from the command line.\n");
}

static const char *fmt_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	if (!sa || addr_format(sa, buf, len))
		snprintf(buf, len, "-");
	return buf;
}

static void list_contacts(struct ep *ep)
{
	size_t n = ep_contact_count(ep);
	char a[ADDR_STRLEN], s[ADDR_STRLEN], nat[16];
	struct ep_contact c;

	pr_info("contacts: %zu", n);
	for (size_t i = 0; i < n; i++) {
		if (ep_contact_get(ep, i, &c))
			continue;
		if (!c.online) {
			pr_info("  %s offline", c.name);
			continue;
		}
		ep_nat_label(c.mapping, c.filtering, nat, sizeof(nat));
		pr_info("  %s online at %s nat=%s direct=%s session=%s", c.name,
			fmt_addr((struct sockaddr *)&c.reflexive, a, sizeof(a)), nat,
			c.direct_ok ? "yes" : "no",
			c.connected ? fmt_addr((struct sockaddr *)&c.session_addr, s, sizeof(s))
				    : "none");
	}
}

static void on_event(struct ep *ep, const struct ep_event *ev, void *arg)
{
	char a[ADDR_STRLEN];
	(void)arg;

	switch (ev->type) {
	case EP_EV_STATE:
		pr_debug("state %s", ep_state_name(ev->state));
		break;
	case EP_EV_REFLEXIVE:
		pr_info("reflexive address %s", fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_NAT:
		pr_info("nat mapping=%s filtering=%s%s%s%s", ep_nat_mapping_name(ev->mapping),
			ep_nat_filtering_name(ev->filtering), ev->text ? " (" : "",
			ev->text ? ev->text : "", ev->text ? ")" : "");
		break;
	case EP_EV_LOGGED_IN:
		pr_info("logged in session=%u observed=%s", ev->session_id,
			fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_CONTACT_ONLINE:
		pr_info("contact %s online at %s direct=%s", ev->peer,
			fmt_addr(ev->addr, a, sizeof(a)), ev->direct ? "yes" : "no");
		break;
	case EP_EV_CONTACT_OFFLINE:
		pr_info("contact %s offline", ev->peer);
		break;
	case EP_EV_CONTACT_MOVED:
		pr_info("contact %s moved to %s", ev->peer, fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_CONTACT_REMOVED:
		pr_info("contact %s removed", ev->peer);
		break;
	case EP_EV_CONTACTS:
		list_contacts(ep);
		break;
	case EP_EV_NO_DIRECT:
		pr_info("direct traffic to %s cannot work (mapping %s / %s): no relay yet",
			ev->peer, ep_nat_mapping_name(ev->mapping),
			ep_nat_mapping_name(ev->peer_mapping));
		break;
	case EP_EV_PUNCH:
		pr_info("punch toward %s %s", ev->peer, fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_PEER_VERIFIED:
		pr_info("online: %s verified at %s", ev->peer, fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_SESSION:
		pr_info("session with %s established at %s", ev->peer,
			fmt_addr(ev->addr, a, sizeof(a)));
		break;
	case EP_EV_MESSAGE:
		pr_info("message from %s: %.*s", ev->peer, (int)ev->text_len, ev->text);
		break;
	case EP_EV_MESSAGE_ACKED:
		pr_info("message %u to %s delivered", ev->msg_id, ev->peer);
		break;
	case EP_EV_MESSAGE_FAILED:
		pr_warn("message %u to %s not acknowledged", ev->msg_id, ev->peer);
		break;
	case EP_EV_RELOGIN:
		pr_info("session lost (%s): logging in again", ev->text);
		break;
	case EP_EV_LOGGED_OUT:
		pr_info("logged out");
		break;
	case EP_EV_ERROR:
		if (ev->peer)
			pr_warn("%s: %s", ev->peer, ev->text);
		else if (ev->state == EP_FAILED)
			pr_err("%s", ev->text);
		else
			pr_warn("%s", ev->text);
		break;
	}
}

static void command(struct ep *ep, char *line)
{
	size_t len = strlen(line);
	char *text;
	int err;

	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (!len)
		return;
	if (line[0] == '@') {
		text = strchr(line, ' ');
		if (!text || !text[1]) {
			pr_warn("usage: @NAME TEXT");
			return;
		}
		*text++ = '\0';
		err = ep_send_message(ep, line + 1, text, NULL);
		if (err == -ENOENT)
			pr_warn("no contact named %s", line + 1);
		else if (err == -ENOTCONN)
			pr_warn("no direct session with %s (yet)", line + 1);
		else if (err)
			pr_warn("cannot send to %s: %s", line + 1, strerror(-err));
		return;
	}
	if (!strcmp(line, "/contacts")) {
		list_contacts(ep);
	} else if (!strcmp(line, "/refresh")) {
		err = ep_refresh(ep);
		if (err)
			pr_warn("cannot refresh: %s", strerror(-err));
	} else if (!strcmp(line, "/quit")) {
		ep_logout(ep);
	} else {
		pr_warn("unknown command (try @NAME TEXT, /contacts, /refresh, /quit)");
	}
}

/* Read what stdin has; run complete lines.  Returns false at end of input. */
static bool read_stdin(struct ep *ep, char *buf, size_t *used)
{
	ssize_t n = read(STDIN_FILENO, buf + *used, LINE_MAX_LEN - 1 - *used);
	char *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	*used += (size_t)n;
	buf[*used] = '\0';
	while ((nl = strchr(buf, '\n'))) {
		*nl = '\0';
		command(ep, buf);
		*used -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *used + 1);
	}
	if (*used == LINE_MAX_LEN - 1) {
		pr_warn("input line too long: dropped");
		*used = 0;
	}
	return true;
}

static int read_password(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t len;

	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		out[--len] = '\0';
	return len ? 0 : -EINVAL;
}

/* The library's diagnostics, at debug level in this program's log. */
static void on_log(void *arg, const char *line)
{
	pr_debug("%s", line);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *server = NULL, *user = NULL, *pwfile = NULL, *bind_s = NULL;
	char password[PASSWORD_MAX], line[LINE_MAX_LEN];
	struct pollfd pfd[3];
	struct ep_config cfg;
	bool stdin_open = true;
	size_t used = 0;
	struct ep *ep;
	sigset_t sigs;
	int c, err, sfd, rc = 1;

	while ((c = getopt_long(argc, argv, "s:u:p:b:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 'u':
			user = optarg;
			break;
		case 'p':
			pwfile = optarg;
			break;
		case 'b':
			bind_s = optarg;
			break;
		case 'l':
			if (log_set_level_str(optarg)) {
				fprintf(stderr, "bad --log-level %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!server || !user || !pwfile || optind != argc) {
		usage(stderr);
		return 2;
	}

	ep_config_init(&cfg);
	if (addr_parse(server, ADDR_DEFAULT_PORT, &cfg.server)) {
		fprintf(stderr, "bad --server %s\n", server);
		return 2;
	}
	/* A bare IP binds any port (the default port 0). */
	if (bind_s && addr_parse(bind_s, 0, &cfg.bind)) {
		fprintf(stderr, "bad --bind %s\n", bind_s);
		return 2;
	}
	err = read_password(pwfile, password, sizeof(password));
	if (err) {
		fprintf(stderr, "cannot read password from %s: %s\n", pwfile,
			err == -EINVAL ? "empty" : strerror(-err));
		return 2;
	}
	cfg.user = user;
	cfg.password = password;
	cfg.on_event = on_event;
	cfg.on_log = on_log;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("signalfd");
		return 1;
	}

	ep = ep_new(&cfg);
	explicit_bzero(password, sizeof(password));
	if (!ep) {
		pr_err("cannot create endpoint: %s", strerror(errno));
		close(sfd);
		return 1;
	}
	pr_info("endpoint %s starting, server %s", user, server);
	err = ep_start(ep, ep_now_ms());
	if (err)
		goto out;

	for (;;) {
		enum ep_state st = ep_get_state(ep);
		int timeout, n;

		if (st == EP_CLOSED) {
			rc = 0;
			break;
		}
		if (st == EP_FAILED)
			break;
		pfd[0] = (struct pollfd){ .fd = ep_fd(ep), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN };
		timeout = ep_next_timeout_ms(ep, ep_now_ms());
		n = poll(pfd, 3, timeout);
		if (n < 0 && errno != EINTR) {
			pr_err("poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				pr_info("signal %u: logging out", si.ssi_signo);
			ep_logout(ep);
		}
		if (n > 0 && (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !read_stdin(ep, line, &used)) {
			pr_debug("end of stdin: still running (SIGINT/SIGTERM or /quit to stop)");
			stdin_open = false;
		}
		err = ep_process(ep, ep_now_ms());
		if (err) {
			pr_err("socket: %s", strerror(-err));
			break;
		}
	}
out:
	ep_free(ep);
	close(sfd);
	return rc;
}
