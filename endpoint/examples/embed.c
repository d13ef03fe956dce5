// SPDX-License-Identifier: MIT
/*
 * libpinhole-endpoint in your own poll() loop: log in, list the contacts, message PEER
 * once a direct session is up, print what arrives, log out (exit 0 once done, with PEER
 * when TEXT is acked and PEER wrote back; 1 on failure or after 30 s).  Build:
 *   cc embed.c $(pkg-config --cflags --libs pinhole-endpoint) -o embed
 */
#define _POSIX_C_SOURCE 200809L
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <pinhole/endpoint.h>

struct app {
	const char *peer, *text;
	bool listed, sent, acked, heard;
};

static void on_event(struct ep *ep, const struct ep_event *ev, void *arg)
{
	struct app *a = arg;
	struct ep_contact c;
	char nat[16];

	switch (ev->type) {
	case EP_EV_CONTACTS:
		for (size_t i = 0; ep_contact_get(ep, i, &c) == 0; i++) {
			ep_nat_label(c.mapping, c.filtering, nat, sizeof(nat));
			printf("contact %s %s nat=%s\n", c.name, c.online ? "online" : "offline",
			       nat);
		}
		a->listed = true;
		break;
	case EP_EV_SESSION:	  /* our ONLINE was answered: the direct path works */
	case EP_EV_PEER_VERIFIED: /* or theirs reached us and checked out */
		if (a->peer && !a->sent && !strcmp(ev->peer, a->peer))
			a->sent = ep_send_message(ep, a->peer, a->text, NULL) == 0;
		break;
	case EP_EV_MESSAGE: /* .text is not NUL-terminated */
		printf("message from %s: %.*s\n", ev->peer, (int)ev->text_len, ev->text);
		a->heard |= a->peer && !strcmp(ev->peer, a->peer);
		break;
	case EP_EV_MESSAGE_ACKED:
		printf("message %u to %s delivered\n", (unsigned)ev->msg_id, ev->peer);
		a->acked = true;
		break;
	case EP_EV_ERROR: /* .err and .text say what went wrong */
		fprintf(stderr, "error: %.*s\n", (int)ev->text_len, ev->text);
		break;
	default:
		break;
	}
	fflush(stdout);
	/* ep_logout() may be called from the callback, and again: it is idempotent. */
	if (a->listed && (!a->peer || (a->acked && a->heard)))
		ep_logout(ep);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST }, *ai;
	struct app a = { .peer = argc == 7 ? argv[5] : NULL, .text = argc == 7 ? argv[6] : NULL };
	struct ep_config cfg;
	char pw[256] = "";
	struct ep *ep;
	uint64_t end;
	FILE *f;

	if ((argc != 5 && argc != 7) || getaddrinfo(argv[1], argv[2], &hints, &ai)) {
		fprintf(stderr, "usage: embed SERVER_IP PORT USER PASSWORD_FILE [PEER TEXT]\n");
		return 2;
	}
	ep_config_init(&cfg);
	memcpy(&cfg.server, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	f = fopen(argv[4], "r"); /* first line; empty or missing: ep_new() fails EINVAL */
	if (f && fgets(pw, sizeof(pw), f))
		pw[strcspn(pw, "\r\n")] = '\0';
	if (f)
		fclose(f);
	cfg.user = argv[3];
	cfg.password = pw; /* copied by ep_new() */
	cfg.on_event = on_event;
	cfg.arg = &a;
	ep = ep_new(&cfg);
	memset(pw, 0, sizeof(pw));
	if (!ep) {
		perror("ep_new");
		return 1;
	}
	end = ep_start(ep, ep_now_ms()) ? 0 : ep_now_ms() + 30000;
	while (ep_get_state(ep) != EP_CLOSED && ep_get_state(ep) != EP_FAILED &&
	       ep_now_ms() < end) {
		struct pollfd p = { .fd = ep_fd(ep), .events = POLLIN };
		int t = ep_next_timeout_ms(ep, ep_now_ms());

		poll(&p, 1, t < 0 || t > 500 ? 500 : t); /* also wake to check our deadline */
		if (ep_process(ep, ep_now_ms()))
			break;
	}
	a.listed &= ep_get_state(ep) == EP_CLOSED && (!a.peer || (a.acked && a.heard));
	ep_free(ep);
	return a.listed ? 0 : 1;
}
