/* SPDX-License-Identifier: MIT */
/*
 * Binding responder: the userspace answer to one datagram that arrived on a
 * STUN listening address:port.  It follows the Binding rules the XDP program
 * follows too, so the two paths produce byte-identical success responses;
 * the XDP test compares against binding_answer() and binding_answer_ctx().
 * Stateless and allocation free: safe to call from any thread on any input.
 */
#ifndef PINHOLE_BINDING_H
#define PINHOLE_BINDING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum binding_outcome {
	BINDING_ANSWERED,    /* success response written */
	BINDING_ERROR_REPLY, /* 400/420 error response written */
	BINDING_CONSUMED,    /* Binding indication: no answer by design */
	BINDING_DROPPED,     /* malformed or not for us: silently dropped */
	BINDING_OUTCOME_MAX,
};

#define BINDING_REPLY_MAX 1280 /* out must have room for this many bytes */

/*
 * Answer one datagram received from src (AF_INET or AF_INET6; an IPv4-mapped
 * IPv6 source is answered as IPv4).  Returns the reply length written to out,
 * or 0 when nothing is sent; *outcome says why.  A NULL or unsupported src,
 * or cap too small for the reply, drops the datagram (BINDING_DROPPED).
 */
size_t binding_answer(const uint8_t *req, size_t len, const struct sockaddr *src, uint8_t *out,
		      size_t cap, enum binding_outcome *outcome);

/*
 * Where the answer comes from, for a server with RFC 5780 service (an
 * alternate address, RFC 5780 §4.2).  Both are concrete addresses
 * (AF_INET or AF_INET6; IPv4-mapped IPv6 is written as IPv4); for a
 * socket bound to the any-address, origin is the address the request
 * reached (IP_PKTINFO), as the XDP program reports it.
 */
struct binding_ctx {
	const struct sockaddr *origin; /* RESPONSE-ORIGIN: where the answer is sent from */
	const struct sockaddr *other;  /* OTHER-ADDRESS; NULL: no RFC 5780 service */
};

/*
 * As binding_answer(); with ctx->other set the success answer carries
 * RESPONSE-ORIGIN and OTHER-ADDRESS (after XOR-MAPPED-ADDRESS, before
 * FINGERPRINT: the XDP program's layout) and a CHANGE-REQUEST is accepted
 * whatever its flags (the caller sends the answer from the socket the
 * flags select and passes that socket's address as origin).  RESPONSE-PORT
 * still gets 420.  A NULL ctx or ctx->other is binding_answer() exactly;
 * ctx->other set with origin NULL or of an unsupported family drops
 * (BINDING_DROPPED), as an unusable src does.
 */
size_t binding_answer_ctx(const uint8_t *req, size_t len, const struct sockaddr *src,
			  const struct binding_ctx *ctx, uint8_t *out, size_t cap,
			  enum binding_outcome *outcome);

struct stun_msg;

/*
 * As binding_answer_ctx() for a message the caller already parsed with
 * stun_msg_parse() (which applied rules 1-6): a server that parses once to
 * dispatch does not parse again.  @ctx may be NULL.
 */
size_t binding_answer_msg(const struct stun_msg *m, const struct sockaddr *src,
			  const struct binding_ctx *ctx, uint8_t *out, size_t cap,
			  enum binding_outcome *outcome);

/* Stable lower-case name of @o ("answered", ...); "invalid" when out of range. */
const char *binding_outcome_name(enum binding_outcome o);

#endif
