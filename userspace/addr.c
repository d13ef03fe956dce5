// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* Strict decimal 1..65535: no sign, no spaces, no hex, no leading junk. */
static int parse_port(const char *s, uint16_t *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

/* @s is the text between the brackets (or all of a bare IPv6 literal). */
static int parse_v6(const char *s, size_t n, uint16_t port, struct sockaddr_storage *out)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char *scope;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	scope = strchr(buf, '%');
	if (scope) {
		char *end;
		unsigned long idx;

		*scope++ = '\0';
		if (!*scope)
			return -EINVAL;
		idx = strtoul(scope, &end, 10);
		if (*end || scope[0] < '0' || scope[0] > '9')
			idx = if_nametoindex(scope);
		if (idx == 0 || idx > UINT32_MAX)
			return -EINVAL;
		sin6.sin6_scope_id = (uint32_t)idx;
	}
	if (inet_pton(AF_INET6, buf, &sin6.sin6_addr) != 1)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out, &sin6, sizeof(sin6));
	return 0;
}

static int parse_v4(const char *s, size_t n, uint16_t port, struct sockaddr_storage *out)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	char buf[INET_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &sin.sin_addr) != 1)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(out, &sin, sizeof(sin));
	return 0;
}

int addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	const char *colon, *close;
	uint16_t port = default_port;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (!close)
			return -EINVAL;
		if (close[1] == ':') {
			if (parse_port(close + 2, &port))
				return -EINVAL;
		} else if (close[1] != '\0') {
			return -EINVAL;
		}
		return parse_v6(s + 1, (size_t)(close - s - 1), port, out);
	}
	colon = strchr(s, ':');
	if (!colon)
		return parse_v4(s, strlen(s), port, out);
	/* Two or more colons can only be a bare IPv6 literal. */
	if (strchr(colon + 1, ':'))
		return parse_v6(s, strlen(s), port, out);
	if (parse_port(colon + 1, &port))
		return -EINVAL;
	return parse_v4(s, (size_t)(colon - s), port, out);
}

int addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 12] = "";
	int n;

	if (len)
		buf[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		n = snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		if (sin6->sin6_scope_id) {
			char name[IF_NAMESIZE];

			if (if_indextoname(sin6->sin6_scope_id, name))
				snprintf(scope, sizeof(scope), "%%%s", name);
			else
				snprintf(scope, sizeof(scope), "%%%u", sin6->sin6_scope_id);
		}
		n = snprintf(buf, len, "[%s%s]:%u", ip, scope, ntohs(sin6->sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

static int cmp_num(unsigned long a, unsigned long b)
{
	return (a > b) - (a < b);
}

int addr_cmp(const struct sockaddr *a, const struct sockaddr *b)
{
	int r = cmp_num(a->sa_family, b->sa_family);

	if (r)
		return r;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		r = memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr));
		if (r)
			return r;
		return cmp_num(ntohs(x->sin_port), ntohs(y->sin_port));
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		r = memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
		if (r)
			return r;
		r = cmp_num(ntohs(x->sin6_port), ntohs(y->sin6_port));
		if (r)
			return r;
		return cmp_num(x->sin6_scope_id, y->sin6_scope_id);
	}
	return 0;
}

size_t addr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

uint16_t addr_port(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	case AF_INET6:
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	default:
		return 0;
	}
}

void addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

bool addr_is_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}
