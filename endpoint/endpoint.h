/* SPDX-License-Identifier: MIT */
/*
 * libpinhole-endpoint: a pinhole endpoint you embed in your own event loop.
 *
 * One endpoint is one UDP socket (bound where the config says) carrying
 * everything: RFC 5780 discovery, LOGIN, FETCH, keepalives, the server's
 * PUNCH/PRESENCE instructions and the direct sessions with contacts, so
 * the binding the keepalives hold open is the very path peers use.
 *
 *	struct ep *ep = ep_new(&cfg);
 *	ep_start(ep, ep_now_ms());
 *	loop: poll(ep_fd(ep), POLLIN, ep_next_timeout_ms(ep, now));
 *	      ep_process(ep, ep_now_ms());
 *
 * Everything that happens is reported through cfg.on_event, called from
 * inside ep_process() (and the other calls); the callback may call
 * ep_send_message(), ep_refresh() and ep_logout(), but not ep_free().
 * No global state: any number of endpoints may live in one process.
 * Times are milliseconds of CLOCK_MONOTONIC (ep_now_ms()).
 *
 * State: DISCOVERING -> LOGGING_IN -> ONLINE (fetching the routing table,
 * then holding direct sessions) -> LOGGING_OUT -> CLOSED, or FAILED
 * (authentication failed, server unreachable) from anywhere.
 *
 * Threads: one endpoint is not thread-safe; make every call for it from
 * one thread at a time (the event callback runs on that thread).
 * Distinct endpoints share nothing and may run on different threads at
 * once.  The library prints nothing at the default log level: whatever
 * goes wrong is an EP_EV_ERROR event or a return value.
 *
 * This header is installed as <pinhole/endpoint.h> and needs nothing but
 * libc headers; build with `pkg-config --cflags --libs pinhole-endpoint`.
 */
#ifndef PINHOLE_ENDPOINT_H
#define PINHOLE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest user name and message text, in bytes (the wire protocol's limits). */
#define EP_NAME_MAX 64
#define EP_TEXT_MAX 900

/* NAT mapping behaviour in RFC 4787 terms, as RFC 5780 discovery found it. */
enum ep_nat_mapping {
	EP_MAP_UNKNOWN = 0,
	EP_MAP_NONE, /* no NAT: reflexive == local */
	EP_MAP_ENDPOINT_INDEPENDENT,
	EP_MAP_ADDRESS_DEPENDENT,
	EP_MAP_ADDRESS_PORT_DEPENDENT,
};

/* NAT filtering behaviour in RFC 4787 terms. */
enum ep_nat_filtering {
	EP_FILTER_UNKNOWN = 0,
	EP_FILTER_NONE, /* no filtering at all (no NAT, no firewall) */
	EP_FILTER_ENDPOINT_INDEPENDENT,
	EP_FILTER_ADDRESS_DEPENDENT,
	EP_FILTER_ADDRESS_PORT_DEPENDENT,
};

struct ep;

enum ep_state {
	EP_DISCOVERING = 0,
	EP_LOGGING_IN,
	EP_ONLINE,
	EP_LOGGING_OUT,
	EP_CLOSED,
	EP_FAILED,
};

enum ep_event_type {
	EP_EV_STATE,		/* state changed: .state */
	EP_EV_REFLEXIVE,	/* test I answered: .addr is our reflexive address */
	EP_EV_NAT,		/* discovery finished: .mapping, .filtering (may be UNKNOWN) */
	EP_EV_LOGGED_IN,	/* .session_id, .addr (reflexive as the server saw it) */
	EP_EV_CONTACT_ONLINE,	/* .peer at .addr; .direct: worth trying directly */
	EP_EV_CONTACT_OFFLINE,	/* .peer */
	EP_EV_CONTACT_MOVED,	/* .peer now at .addr (server delta or verified probe) */
	EP_EV_CONTACT_REMOVED,	/* .peer left our profile */
	EP_EV_CONTACTS,		/* a FETCH round finished: list with ep_contact_get() */
	EP_EV_NO_DIRECT,	/* .peer cannot be reached directly: .mapping / .peer_mapping */
	EP_EV_PUNCH,		/* the server had us probe .peer at .addr */
	EP_EV_PEER_VERIFIED,	/* .peer's ONLINE verified, it is at .addr */
	EP_EV_SESSION,		/* our ONLINE to .peer was answered from .addr */
	EP_EV_MESSAGE,		/* from .peer: .text (.text_len bytes, not NUL-terminated) */
	EP_EV_MESSAGE_ACKED,	/* .peer acked message .msg_id */
	EP_EV_MESSAGE_FAILED,	/* .peer never acked .msg_id */
	EP_EV_RELOGIN,		/* the server forgot our session: logging in again */
	EP_EV_LOGGED_OUT,
	EP_EV_ERROR,		/* .err (negative errno) and .text: what went wrong */
};

struct ep_event {
	enum ep_event_type type;
	enum ep_state state;
	const char *peer;
	const struct sockaddr *addr;
	const char *text;
	size_t text_len;
	enum ep_nat_mapping mapping, peer_mapping;
	enum ep_nat_filtering filtering, peer_filtering;
	uint32_t session_id;
	uint32_t msg_id;
	bool direct;
	int err;
};

typedef void (*ep_event_fn)(struct ep *ep, const struct ep_event *ev, void *arg);

/* Optional diagnostics: one line (no newline) per call, for the caller's log. */
typedef void (*ep_log_fn)(void *arg, const char *line);

struct ep_config {
	struct sockaddr_storage server; /* the access server's primary address */
	struct sockaddr_storage bind;	/* AF_UNSPEC: any address of the server's family */
	const char *user;
	const char *password; /* copied; wiped on ep_free() */
	ep_event_fn on_event;
	ep_log_fn on_log;	/* NULL: diagnostics are dropped (the library never prints) */
	void *arg;		/* passed to on_event and on_log */
	unsigned int rto_ms;	       /* first retransmission timeout (100) */
	unsigned int max_tries;	       /* sends per request (6) */
	unsigned int probe_timeout_ms; /* per RFC 5780 test after the first (500) */
};

/* Defaults for @cfg (everything zero/unset but the timings). */
void ep_config_init(struct ep_config *cfg);

/*
 * Create an endpoint: copy @cfg, open and bind the UDP socket.  Sends
 * nothing yet.  NULL with errno: EINVAL (no server, user or password, or a
 * user name the protocol cannot carry), EADDRINUSE etc. from bind(),
 * ENOMEM.
 */
struct ep *ep_new(const struct ep_config *cfg);

/* Close the socket and free everything (no LOGOUT: call ep_logout() first). NULL is fine. */
void ep_free(struct ep *ep);

/* Begin: RFC 5780 discovery, then login.  0, -EALREADY, or -errno from sending. */
int ep_start(struct ep *ep, uint64_t now_ms);

/* The socket to poll for POLLIN. */
int ep_fd(const struct ep *ep);

/* Milliseconds until ep_process() has timer work; -1: none (CLOSED/FAILED). */
int ep_next_timeout_ms(const struct ep *ep, uint64_t now_ms);

/*
 * Read every pending datagram and run due timers.  Returns 0 or a
 * negative errno for a local failure (the socket); protocol trouble is
 * reported as events, never as a return value.
 */
int ep_process(struct ep *ep, uint64_t now_ms);

/*
 * Send @text (1..EP_TEXT_MAX bytes of UTF-8, no control characters) to
 * @peer over the direct session; acked or failed later by event, with the
 * id written to *msg_id (may be NULL).  0, -ENOENT (unknown contact),
 * -ENOTCONN (no direct session yet), -EINVAL (bad text), -ENOMEM.
 */
int ep_send_message(struct ep *ep, const char *peer, const char *text, uint32_t *msg_id);

/*
 * Fetch the routing table again (EP_EV_CONTACTS when done; a refresh
 * asked for during a fetch runs right after it).  0, -ENOTCONN (not
 * logged in), -ENOMEM.
 */
int ep_refresh(struct ep *ep);

/*
 * End the session: LOGOUT to the server, then CLOSED (after the answer
 * or the retransmissions).  Before login it just closes.  0 or -errno.
 */
int ep_logout(struct ep *ep);

/* Current state. */
enum ep_state ep_get_state(const struct ep *ep);
/* "discovering", "logging-in", "online", "logging-out", "closed", "failed". */
const char *ep_state_name(enum ep_state s);

/* "unknown", "none", "eim", "adm", "apdm"; "?" for a value outside the enum. */
const char *ep_nat_mapping_name(enum ep_nat_mapping m);
/* "unknown", "none", "eif", "adf", "apdf"; "?" for a value outside the enum. */
const char *ep_nat_filtering_name(enum ep_nat_filtering f);
/*
 * Combined label into @buf: "none" for no NAT and no filtering, otherwise
 * "<mapping>-<filtering>" ("eim-apdf").  16 bytes always suffice.  0, or
 * -ENOSPC when @len is too small (@buf gets "").
 */
int ep_nat_label(enum ep_nat_mapping m, enum ep_nat_filtering f, char *buf, size_t len);

/* A contact as the endpoint knows it. */
struct ep_contact {
	char name[EP_NAME_MAX + 1];
	bool online;
	bool direct_ok; /* the server's DIRECT_OK flag */
	enum ep_nat_mapping mapping;
	enum ep_nat_filtering filtering;
	struct sockaddr_storage reflexive;    /* as the server observed it */
	struct sockaddr_storage session_addr; /* where the direct session goes (or AF_UNSPEC) */
	bool connected;			      /* direct session established */
};

/* Number of contacts, and the @i-th (0, -ERANGE). */
size_t ep_contact_count(const struct ep *ep);
int ep_contact_get(const struct ep *ep, size_t i, struct ep_contact *out);

/* Our session: id (0 before login), local and reflexive addresses, NAT behaviour. */
struct ep_info {
	uint32_t session_id;
	struct sockaddr_storage local;
	struct sockaddr_storage reflexive;
	enum ep_nat_mapping mapping;
	enum ep_nat_filtering filtering;
	uint32_t keepalive_interval_ms, keepalive_jitter_ms;
};
void ep_get_info(const struct ep *ep, struct ep_info *out);

/* Counters, for tests and operators. */
struct ep_stats {
	uint64_t dropped_bad;	    /* not STUN, malformed, failed integrity */
	uint64_t dropped_unmatched; /* a response nobody asked for / from the wrong source */
	uint64_t rejected_peer;	    /* ONLINE/MESSAGE/PROBE failing the pair key or unknown name */
	uint64_t replays;	    /* a known request id from a new source */
	uint64_t keepalives_sent;   /* to the server (first sends, not retransmissions) */
	uint64_t probes_sent;	    /* to peers */
	uint64_t logins;	    /* successful logins */
};
void ep_get_stats(const struct ep *ep, struct ep_stats *out);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t ep_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
