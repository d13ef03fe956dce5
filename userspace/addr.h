/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses as the operator writes them: "IP", "IP:PORT",
 * "[IPv6]:PORT" and bare "IPv6", with an optional "%scope" on IPv6.
 * Parsed into sockaddr_storage, formatted back the same way, compared.
 */
#ifndef PINHOLE_ADDR_H
#define PINHOLE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ADDR_DEFAULT_PORT	3478	/* RFC 8489 section 18.6 */
/* Longest text addr_format() writes, NUL included: "[v6%scope]:65535". */
#define ADDR_STRLEN		(46 + 16 + 8 + 1)

/*
 * Parse @s into @out.  A missing port means @default_port.  IPv6 with a port
 * must be bracketed ("[::1]:3478"); bare IPv6 ("::1") takes the default port.
 * Ports are decimal 1..65535.  Returns 0, or -EINVAL for anything else (empty,
 * junk, trailing characters, out-of-range port, unknown scope); @out is then
 * left untouched.
 */
int addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out);

/*
 * Write @sa as "a.b.c.d:port" or "[v6]:port" into @buf (@len bytes, at least
 * ADDR_STRLEN is always enough).  Returns 0, -EAFNOSUPPORT for a family other
 * than AF_INET/AF_INET6, or -ENOSPC when @len is too small (buf then holds "").
 */
int addr_format(const struct sockaddr *sa, char *buf, size_t len);

/*
 * Total order on addresses: family, then address bytes, then port, then
 * IPv6 scope.  Returns <0, 0 or >0 like memcmp.  Families other than INET and
 * INET6 compare by family only.
 */
int addr_cmp(const struct sockaddr *a, const struct sockaddr *b);

/* Length to pass to bind/sendto for @sa's family, 0 for other families. */
size_t addr_len(const struct sockaddr *sa);
/* Port in host order; 0 for families without one. */
uint16_t addr_port(const struct sockaddr *sa);
/* Set the port (host order); ignored for families without one. */
void addr_set_port(struct sockaddr *sa, uint16_t port);
/* True for 0.0.0.0 and :: (the wildcard of either family). */
bool addr_is_any(const struct sockaddr *sa);

#endif
