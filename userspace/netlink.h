/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink through libmnl: interface lookups, address dumps and XDP attach
 * state.  Everything asks the kernel over RTM_GETLINK/RTM_GETADDR, so name and
 * index lookups, address lists and XDP state all follow one code path and see
 * the network namespace the socket was opened in.
 */
#ifndef PINHOLE_NETLINK_H
#define PINHOLE_NETLINK_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <sys/socket.h>

/* One NETLINK_ROUTE socket; requests on it are serialised by the caller. */
struct nl;

/* Open a route netlink socket.  Returns NULL and sets errno on failure. */
struct nl *nl_open(void);
/* Close the socket and free @nl.  Accepts NULL. */
void nl_close(struct nl *nl);

/*
 * Index of interface @name.  Returns the index (> 0), -ENODEV when there is no
 * such interface, -EINVAL for a name that cannot be one, or another -errno.
 */
int nl_link_index(struct nl *nl, const char *name);
/*
 * Name of interface @ifindex into @name (IF_NAMESIZE bytes).  Returns 0,
 * -ENODEV when there is no such interface, or another -errno.
 */
int nl_link_name(struct nl *nl, int ifindex, char name[IF_NAMESIZE]);

/* One address of an interface, as RTM_GETADDR reports it. */
struct nl_addr {
	struct sockaddr_storage addr;	/* sin/sin6, port 0; link-local v6 gets scope_id */
	uint8_t prefixlen;
	uint8_t scope;			/* RT_SCOPE_* */
	uint32_t flags;			/* IFA_F_* (tentative, deprecated, ...) */
};

/*
 * Store the addresses of interface @ifindex of @family (AF_INET, AF_INET6 or
 * AF_UNSPEC for both) in out[0..cap).  Returns how many the interface has,
 * which may exceed @cap (only the first @cap are stored, like snprintf), or
 * -errno.  An interface that does not exist simply has no addresses.
 */
int nl_addr_dump(struct nl *nl, int ifindex, int family, struct nl_addr *out, size_t cap);

enum nl_xdp_mode {
	NL_XDP_NONE = 0,
	NL_XDP_NATIVE,		/* driver mode */
	NL_XDP_GENERIC,		/* skb mode */
	NL_XDP_OFFLOAD,		/* hardware */
	NL_XDP_MULTI,		/* more than one mode at once (offload + another) */
};

/* XDP attach state of one interface (IFLA_XDP). */
struct nl_xdp_state {
	enum nl_xdp_mode mode;
	uint32_t prog_id;	/* the attached program; 0 when none or MULTI */
	uint32_t drv_prog_id;	/* per-mode ids, 0 where nothing is attached */
	uint32_t skb_prog_id;
	uint32_t hw_prog_id;
};

/*
 * Query the XDP attach state of interface @ifindex into @out.  Returns 0,
 * -ENODEV when there is no such interface, or another -errno.
 */
int nl_xdp_query(struct nl *nl, int ifindex, struct nl_xdp_state *out);

/* "none", "native", "generic", "offload" or "multi". */
const char *nl_xdp_mode_name(enum nl_xdp_mode mode);

#endif
