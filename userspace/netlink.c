// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "log.h"
#include "netlink.h"

/*
 * A link message carries every attribute of the interface; 32 KiB holds one
 * with room to spare, and a dump datagram never exceeds it.
 */
#define NL_BUF_SIZE 32768

struct nl {
	struct mnl_socket *sock;
	unsigned int portid;
	unsigned int seq;
	char buf[NL_BUF_SIZE];
};

/* Carries the caller's callback through mnl_cb_run2 next to our error handler. */
struct talk {
	mnl_cb_t cb;
	void *data;
	int err;	/* first error a data callback reported */
};

struct nl *nl_open(void)
{
	struct nl *nl;
	int one = 1;
	int err;

	nl = calloc(1, sizeof(*nl));
	if (!nl)
		return NULL;
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock) {
		err = -errno;
		goto err_free;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto err_close;
	}
	/*
	 * Extended acks carry the kernel's own explanation of a refusal; capped
	 * acks keep it from echoing our request.  Both are best effort.
	 */
	mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (unsigned int)random();
	return nl;

err_close:
	mnl_socket_close(nl->sock);
err_free:
	free(nl);
	errno = -err;
	return NULL;
}

void nl_close(struct nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

static int ext_ack_attr_cb(const struct nlattr *attr, void *data)
{
	const char **msg = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		*msg = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

static int error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const char *msg = NULL;
	unsigned int off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP;	/* the ack that ends a non-dump request */
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
			mnl_attr_parse(nlh, off, ext_ack_attr_cb, &msg);
	}
	if (msg)
		pr_debug("netlink: kernel says: %s (%s)", msg, strerror(-e->error));
	errno = -e->error;
	return MNL_CB_ERROR;
}

static int done_cb(const struct nlmsghdr *nlh, void *data)
{
	const int *status = mnl_nlmsg_get_payload(nlh);

	/* A dump the kernel had to abort ends with DONE carrying its -errno. */
	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*status)) && *status < 0) {
		errno = -*status;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

static int noop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

static int overrun_cb(const struct nlmsghdr *nlh, void *data)
{
	errno = ENOBUFS;
	return MNL_CB_ERROR;
}

static int data_trampoline(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	int ret;

	/* After a callback failed, the rest of a dump is read but not parsed. */
	if (t->err)
		return MNL_CB_OK;
	ret = t->cb(nlh, t->data);
	if (ret == MNL_CB_ERROR) {
		t->err = errno ? -errno : -EBADMSG;
		return MNL_CB_OK;
	}
	return ret;
}

/*
 * Send @nlh and feed each reply message to @cb until the kernel's ack (plain
 * requests) or NLMSG_DONE (dumps).  Replies to other sequence numbers, left
 * over from an earlier request, are skipped.  Returns 0 or -errno.
 */
static int talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	/* libmnl applies no defaults to a control array: every type is listed. */
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP] = noop_cb,
		[NLMSG_ERROR] = error_cb,
		[NLMSG_DONE] = done_cb,
		[NLMSG_OVERRUN] = overrun_cb,
	};
	struct talk t = { .cb = cb, .data = data };
	unsigned int seq = ++nl->seq;
	ssize_t len;
	int ret;

	nlh->nlmsg_seq = seq;
	if (!(nlh->nlmsg_flags & NLM_F_DUMP))
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		len = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
		if (len < 0)
			return -errno;
		if ((size_t)len >= sizeof(struct nlmsghdr) &&
		    ((struct nlmsghdr *)nl->buf)->nlmsg_seq != seq) {
			pr_debug("netlink: skipping a stale reply (seq %u, want %u)",
				 ((struct nlmsghdr *)nl->buf)->nlmsg_seq, seq);
			ret = MNL_CB_OK;
			continue;
		}
		errno = 0;
		ret = mnl_cb_run2(nl->buf, len, seq, nl->portid, data_trampoline, &t, ctl,
				  MNL_ARRAY_SIZE(ctl));
	} while (ret > 0);
	if (ret < 0)
		return errno ? -errno : -EPROTO;
	return t.err;
}

static struct nlmsghdr *link_request(struct nl *nl, int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	/* Counters are the bulk of a link message and nobody here reads them. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nlh;
}

struct link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	struct nl_xdp_state xdp;
	int seen;
};

static int xdp_attr_cb(const struct nlattr *attr, void *data)
{
	struct nl_xdp_state *x = data;
	int type = mnl_attr_get_type(attr);

	switch (type) {
	case IFLA_XDP_ATTACHED:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
			return MNL_CB_ERROR;
		switch (mnl_attr_get_u8(attr)) {
		case XDP_ATTACHED_DRV:
			x->mode = NL_XDP_NATIVE;
			break;
		case XDP_ATTACHED_SKB:
			x->mode = NL_XDP_GENERIC;
			break;
		case XDP_ATTACHED_HW:
			x->mode = NL_XDP_OFFLOAD;
			break;
		case XDP_ATTACHED_MULTI:
			x->mode = NL_XDP_MULTI;
			break;
		default:
			x->mode = NL_XDP_NONE;
			break;
		}
		break;
	case IFLA_XDP_PROG_ID:
	case IFLA_XDP_DRV_PROG_ID:
	case IFLA_XDP_SKB_PROG_ID:
	case IFLA_XDP_HW_PROG_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		if (type == IFLA_XDP_PROG_ID)
			x->prog_id = mnl_attr_get_u32(attr);
		else if (type == IFLA_XDP_DRV_PROG_ID)
			x->drv_prog_id = mnl_attr_get_u32(attr);
		else if (type == IFLA_XDP_SKB_PROG_ID)
			x->skb_prog_id = mnl_attr_get_u32(attr);
		else
			x->hw_prog_id = mnl_attr_get_u32(attr);
		break;
	}
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct link_info *li = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		snprintf(li->name, sizeof(li->name), "%s", mnl_attr_get_str(attr));
		break;
	case IFLA_XDP:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		return mnl_attr_parse_nested(attr, xdp_attr_cb, &li->xdp);
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_info *li = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	ifi = mnl_nlmsg_get_payload(nlh);
	li->ifindex = ifi->ifi_index;
	li->seen = 1;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, li);
}

static int get_link(struct nl *nl, int ifindex, const char *name, struct link_info *li)
{
	struct nlmsghdr *nlh;
	int err;

	memset(li, 0, sizeof(*li));
	nlh = link_request(nl, ifindex);
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	err = talk(nl, nlh, link_cb, li);
	if (err)
		return err;
	/* An ack without a link message would be a kernel bug; do not trust zeros. */
	return li->seen ? 0 : -EPROTO;
}

int nl_link_index(struct nl *nl, const char *name)
{
	struct link_info li;
	int err;

	if (!name || !*name || strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	err = get_link(nl, 0, name, &li);
	if (err)
		return err;
	return li.ifindex > 0 ? li.ifindex : -EPROTO;
}

int nl_link_name(struct nl *nl, int ifindex, char name[IF_NAMESIZE])
{
	struct link_info li;
	int err;

	if (ifindex <= 0)
		return -ENODEV;
	err = get_link(nl, ifindex, NULL, &li);
	if (err)
		return err;
	if (!li.name[0])
		return -EPROTO;
	memcpy(name, li.name, IF_NAMESIZE);
	return 0;
}

int nl_xdp_query(struct nl *nl, int ifindex, struct nl_xdp_state *out)
{
	struct link_info li;
	int err;

	if (ifindex <= 0)
		return -ENODEV;
	err = get_link(nl, ifindex, NULL, &li);
	if (err)
		return err;
	/* Older kernels report a single-mode attachment only through PROG_ID. */
	if (!li.xdp.drv_prog_id && !li.xdp.skb_prog_id && !li.xdp.hw_prog_id) {
		if (li.xdp.mode == NL_XDP_NATIVE)
			li.xdp.drv_prog_id = li.xdp.prog_id;
		else if (li.xdp.mode == NL_XDP_GENERIC)
			li.xdp.skb_prog_id = li.xdp.prog_id;
		else if (li.xdp.mode == NL_XDP_OFFLOAD)
			li.xdp.hw_prog_id = li.xdp.prog_id;
	}
	*out = li.xdp;
	return 0;
}

const char *nl_xdp_mode_name(enum nl_xdp_mode mode)
{
	switch (mode) {
	case NL_XDP_NONE:
		return "none";
	case NL_XDP_NATIVE:
		return "native";
	case NL_XDP_GENERIC:
		return "generic";
	case NL_XDP_OFFLOAD:
		return "offload";
	case NL_XDP_MULTI:
		return "multi";
	}
	return "unknown";
}

struct addr_dump {
	int ifindex;
	int family;
	struct nl_addr *out;
	size_t cap;
	size_t n;
};

struct addr_attrs {
	const struct nlattr *local;
	const struct nlattr *address;
	const struct nlattr *flags;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	struct addr_attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case IFA_LOCAL:
		a->local = attr;
		break;
	case IFA_ADDRESS:
		a->address = attr;
		break;
	case IFA_FLAGS:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		a->flags = attr;
		break;
	}
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_dump *d = data;
	struct addr_attrs a = { 0 };
	const struct ifaddrmsg *ifa;
	const struct nlattr *which;
	struct nl_addr *o;
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	ifa = mnl_nlmsg_get_payload(nlh);
	if ((int)ifa->ifa_index != d->ifindex)
		return MNL_CB_OK;
	if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
		return MNL_CB_OK;
	if (d->family != AF_UNSPEC && ifa->ifa_family != d->family)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, &a) < 0)
		return MNL_CB_ERROR;
	/* On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours. */
	which = a.local ? a.local : a.address;
	if (!which)
		return MNL_CB_OK;
	alen = ifa->ifa_family == AF_INET ? 4 : 16;
	if (mnl_attr_get_payload_len(which) != alen) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (d->n < d->cap) {
		o = &d->out[d->n];
		memset(o, 0, sizeof(*o));
		if (ifa->ifa_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&o->addr;

			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, mnl_attr_get_payload(which), 4);
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&o->addr;

			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, mnl_attr_get_payload(which), 16);
			/* A link-local address is only usable together with its link. */
			if (ifa->ifa_scope == RT_SCOPE_LINK)
				sin6->sin6_scope_id = ifa->ifa_index;
		}
		o->prefixlen = ifa->ifa_prefixlen;
		o->scope = ifa->ifa_scope;
		/* ifa_flags has only 8 bits; IFA_FLAGS carries all of them. */
		o->flags = a.flags ? mnl_attr_get_u32(a.flags) : ifa->ifa_flags;
	}
	d->n++;
	return MNL_CB_OK;
}

int nl_addr_dump(struct nl *nl, int ifindex, int family, struct nl_addr *out, size_t cap)
{
	struct addr_dump d = {
		.ifindex = ifindex, .family = family, .out = out, .cap = cap,
	};
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int err;

	if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	if (cap && !out)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(nl->buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = family;
	err = talk(nl, nlh, addr_cb, &d);
	if (err)
		return err;
	return d.n > INT32_MAX ? -EOVERFLOW : (int)d.n;
}
