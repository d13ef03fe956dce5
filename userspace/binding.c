// SPDX-License-Identifier: MIT
/*
 * Binding responder: the userspace half of the Binding rules (DESIGN.md;
 * the XDP program implements the same rules for the requests it answers).
 *
 * Decisions the rules leave open, made here:
 * - A request of a method other than Binding gets 400 Bad Request, typed
 *   with the request's own method and the error class.  RFC 8489 §6.3
 *   names no code for an unknown method; 400 says "do not retry this
 *   unchanged", which is true, and a request must not go unanswered
 *   (the client would retransmit for ~39 s).  Indications of any other
 *   method are dropped: RFC 8489 §6.3.2 never answers an indication.
 * - 400 checks come before 420: a request that is malformed stays
 *   malformed without its unknown attributes, so telling the client to
 *   drop them (420) would only buy a second round trip and a 400.
 * - The 420's UNKNOWN-ATTRIBUTES lists, in request order and each once,
 *   the unknown comprehension-required types, CHANGE-REQUEST (flags set,
 *   and only without RFC 5780 service: with it the caller answers from
 *   the socket the flags select) and RESPONSE-PORT (RFC 5780 §7.2 ties it
 *   to a padded response to a port the client names, a reflection tool
 *   this server does not offer), at most STUN_MSG_MAX_UNKNOWN of them.
 * - RESPONSE-ORIGIN and OTHER-ADDRESS go on success answers only: discovery
 *   (RFC 5780 §4.3-4.4) reads them from successes, and rule 11 fixes the
 *   error responses' bytes, which both paths share.
 * - PADDING (RFC 5780) is accepted and ignored: rule 10 fixes the success
 *   response bytes, so the response is not padded.
 * - Attributes after MESSAGE-INTEGRITY are ignored as RFC 8489 §14.5 says.
 *   The XDP program never answers those requests (MESSAGE-INTEGRITY is
 *   comprehension-required), so this cannot make the two paths disagree.
 */
#include <string.h>
#include <netinet/in.h>

#include "binding.h"
#include "stun.h"

static const char *const outcome_names[BINDING_OUTCOME_MAX] = {
    [BINDING_ANSWERED] = "answered",
    [BINDING_ERROR_REPLY] = "error-reply",
    [BINDING_CONSUMED] = "consumed",
    [BINDING_DROPPED] = "dropped",
};

const char *binding_outcome_name(enum binding_outcome o)
{
	if ((unsigned int)o >= BINDING_OUTCOME_MAX)
		return "invalid";
	return outcome_names[o];
}

/*
 * Copy @src into @dst as the address the response reports, turning an
 * IPv4-mapped IPv6 source (a dual-stack socket) into plain IPv4.
 */
static int source_address(const struct sockaddr *src, struct sockaddr_storage *dst)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return -1;
	if (src->sa_family == AF_INET) {
		memcpy(dst, src, sizeof(struct sockaddr_in));
		return 0;
	}
	if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)src;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)dst;

			s4->sin_family = AF_INET;
			s4->sin_port = s6->sin6_port;
			memcpy(&s4->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			memcpy(dst, src, sizeof(struct sockaddr_in6));
		}
		return 0;
	}
	return -1;
}

/*
 * Attributes that earn a 420, in request order, each once: the unknown
 * comprehension-required ones plus the RFC 5780 ones this server cannot
 * honour (CHANGE-REQUEST with flags unless @rfc5780, RESPONSE-PORT).
 * Returns how many went to @list.
 */
static size_t unsupported_attrs(const struct stun_msg *m, bool rfc5780, uint16_t *list, size_t max)
{
	struct stun_attr_iter it;
	const uint8_t *val;
	uint16_t type, len;
	size_t n = 0, i;

	stun_attr_iter_init(&it);
	while (n < max && stun_msg_next_attr(m, &it, &type, &val, &len)) {
		bool refuse;

		if (type == STUN_ATTR_CHANGE_REQUEST) {
			uint32_t flags;

			/* validated earlier: a duplicate or a bad length is a 400 */
			refuse = !rfc5780 && !stun_msg_get_change_request(m, &flags) && flags;
		} else if (type == STUN_ATTR_RESPONSE_PORT) {
			refuse = true;
		} else {
			refuse = stun_attr_required(type) && !stun_attr_known(type);
		}
		if (!refuse)
			continue;
		for (i = 0; i < n && list[i] != type; i++)
			;
		if (i == n)
			list[n++] = type;
	}
	return n;
}

static size_t error_reply(const struct stun_msg *m, uint16_t method, int code,
			  const uint16_t *unknown, size_t n_unknown, uint8_t *out, size_t cap,
			  enum binding_outcome *outcome)
{
	struct stun_builder b;
	int len;

	stun_build_init(&b, out, cap, stun_type_make(method, STUN_CLASS_ERROR), m->tid);
	stun_build_add_error(&b, code, NULL);
	if (code == STUN_ERR_UNKNOWN_ATTRIBUTE)
		stun_build_add_unknown_attrs(&b, unknown, n_unknown);
	if (m->has_fingerprint)
		stun_build_fingerprint(&b);
	len = stun_build_finish(&b);
	if (len < 0) {
		*outcome = BINDING_DROPPED;
		return 0;
	}
	*outcome = BINDING_ERROR_REPLY;
	return (size_t)len;
}

size_t binding_answer_msg(const struct stun_msg *m, const struct sockaddr *src,
			  const struct binding_ctx *ctx, uint8_t *out, size_t cap,
			  enum binding_outcome *outcome)
{
	enum binding_outcome dummy;
	uint16_t unknown[STUN_MSG_MAX_UNKNOWN];
	struct sockaddr_storage peer, origin, other;
	bool rfc5780 = ctx && ctx->other;
	struct stun_builder b;
	uint16_t method;
	size_t n;
	int err, rlen;

	if (!outcome)
		outcome = &dummy;
	*outcome = BINDING_DROPPED;
	if (!out || source_address(src, &peer))
		return 0;
	if (rfc5780 && (source_address(ctx->origin, &origin) || source_address(ctx->other, &other)))
		return 0;

	/* Rule 7 */
	method = stun_type_method(m->type);
	switch (stun_type_class(m->type)) {
	case STUN_CLASS_INDICATION:
		if (method == STUN_METHOD_BINDING)
			*outcome = BINDING_CONSUMED;
		return 0;
	case STUN_CLASS_SUCCESS:
	case STUN_CLASS_ERROR:
		return 0;
	}
	if (method != STUN_METHOD_BINDING)
		return error_reply(m, method, STUN_ERR_BAD_REQUEST, NULL, 0, out, cap, outcome);

	/* Rule 8: duplicates and malformed known attributes first (see top). */
	err = stun_msg_check_attrs(m, NULL);
	if (err == -STUN_E_DUPLICATE || err == -STUN_E_BAD_VALUE)
		return error_reply(m, method, STUN_ERR_BAD_REQUEST, NULL, 0, out, cap, outcome);
	n = unsupported_attrs(m, rfc5780, unknown, STUN_MSG_MAX_UNKNOWN);
	if (n)
		return error_reply(m, method, STUN_ERR_UNKNOWN_ATTRIBUTE, unknown, n, out, cap,
				   outcome);

	/*
	 * Rule 10: exactly XOR-MAPPED-ADDRESS, with RFC 5780 service then
	 * RESPONSE-ORIGIN and OTHER-ADDRESS, then FINGERPRINT iff the request
	 * had one.
	 */
	stun_build_init(&b, out, cap, STUN_BINDING_SUCCESS, m->tid);
	stun_build_add_xor_addr(&b, (const struct sockaddr *)&peer);
	if (rfc5780) {
		stun_build_add_addr(&b, STUN_ATTR_RESPONSE_ORIGIN,
				    (const struct sockaddr *)&origin);
		stun_build_add_addr(&b, STUN_ATTR_OTHER_ADDRESS, (const struct sockaddr *)&other);
	}
	if (m->has_fingerprint)
		stun_build_fingerprint(&b);
	rlen = stun_build_finish(&b);
	if (rlen < 0)
		return 0;
	*outcome = BINDING_ANSWERED;
	return (size_t)rlen;
}

size_t binding_answer_ctx(const uint8_t *req, size_t len, const struct sockaddr *src,
			  const struct binding_ctx *ctx, uint8_t *out, size_t cap,
			  enum binding_outcome *outcome)
{
	struct stun_msg m;

	/* Rules 1-6: anything structurally wrong is dropped without a word. */
	if (stun_msg_parse(&m, req, len)) {
		if (outcome)
			*outcome = BINDING_DROPPED;
		return 0;
	}
	return binding_answer_msg(&m, src, ctx, out, cap, outcome);
}

size_t binding_answer(const uint8_t *req, size_t len, const struct sockaddr *src, uint8_t *out,
		      size_t cap, enum binding_outcome *outcome)
{
	return binding_answer_ctx(req, len, src, NULL, out, cap, outcome);
}
