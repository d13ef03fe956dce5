/* SPDX-License-Identifier: MIT */
/*
 * RFC 5780 §4.2: with an alternate address A besides the primary P the
 * server listens on all four combinations of {P.ip, A.ip} x {P.port,
 * A.port}.  This maps a request's arrival socket and CHANGE-REQUEST flags
 * to the socket that must answer, and gives the OTHER-ADDRESS of each.
 */
#ifndef PINHOLE_SERVER_RFC5780_H
#define PINHOLE_SERVER_RFC5780_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct rfc5780 {
	struct sockaddr_storage primary; /* P: a concrete IP and port */
	struct sockaddr_storage alt;	 /* A: same family, other IP, other port */
	unsigned int sock[2][2];	 /* [ip is A][port is A] -> socket index */
};

/*
 * Check @p and @alt (same family, concrete, differing in both IP and port)
 * and fill @r's addresses; the caller fills sock[][] as it binds.
 * 0 or -EINVAL.
 */
int rfc5780_init(struct rfc5780 *r, const struct sockaddr_storage *p,
		 const struct sockaddr_storage *alt);

/* The address of combination (@ip_alt, @port_alt). */
void rfc5780_addr(const struct rfc5780 *r, bool ip_alt, bool port_alt,
		  struct sockaddr_storage *out);

/*
 * For a request received on socket @in with CHANGE-REQUEST @flags
 * (STUN_CHANGE_IP/PORT): the socket to answer from in *out, its address in
 * *origin, and the OTHER-ADDRESS of @in in *other.  -ENOENT when @in is not
 * one of the four sockets.
 */
int rfc5780_route(const struct rfc5780 *r, unsigned int in, uint32_t flags, unsigned int *out,
		  struct sockaddr_storage *origin, struct sockaddr_storage *other);

#endif
