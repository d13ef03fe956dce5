// SPDX-License-Identifier: MIT
/* RFC 5780 socket routing (rfc5780.h). */
#include <errno.h>
#include <string.h>

#include "addr.h"
#include "rfc5780.h"
#include "stun_proto.h"

int rfc5780_init(struct rfc5780 *r, const struct sockaddr_storage *p,
		 const struct sockaddr_storage *alt)
{
	struct sockaddr_storage a, b;

	memset(r, 0, sizeof(*r));
	if (p->ss_family != alt->ss_family ||
	    (p->ss_family != AF_INET && p->ss_family != AF_INET6) ||
	    addr_is_any((const struct sockaddr *)p) || addr_is_any((const struct sockaddr *)alt))
		return -EINVAL;
	if (addr_port((const struct sockaddr *)p) == addr_port((const struct sockaddr *)alt))
		return -EINVAL;
	/* Same IP? Compare with the ports made equal. */
	a = *p;
	b = *alt;
	addr_set_port((struct sockaddr *)&b, addr_port((const struct sockaddr *)&a));
	if (!addr_cmp((const struct sockaddr *)&a, (const struct sockaddr *)&b))
		return -EINVAL;
	r->primary = *p;
	r->alt = *alt;
	return 0;
}

void rfc5780_addr(const struct rfc5780 *r, bool ip_alt, bool port_alt, struct sockaddr_storage *out)
{
	*out = ip_alt ? r->alt : r->primary;
	addr_set_port((struct sockaddr *)out,
		      addr_port((const struct sockaddr *)(port_alt ? &r->alt : &r->primary)));
}

int rfc5780_route(const struct rfc5780 *r, unsigned int in, uint32_t flags, unsigned int *out,
		  struct sockaddr_storage *origin, struct sockaddr_storage *other)
{
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 2; j++) {
			bool ni, nj;

			if (r->sock[i][j] != in)
				continue;
			ni = (flags & STUN_CHANGE_IP) ? !i : i;
			nj = (flags & STUN_CHANGE_PORT) ? !j : j;
			*out = r->sock[ni][nj];
			rfc5780_addr(r, ni, nj, origin);
			rfc5780_addr(r, !i, !j, other);
			return 0;
		}
	}
	return -ENOENT;
}
