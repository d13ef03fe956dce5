/* SPDX-License-Identifier: MIT */
/*
 * The kernel path: pinhole's XDP program, its maps, and its attachment to one
 * interface.  Maps and the program's BPF link are pinned in one bpffs
 * directory, so a server can restart (or be upgraded) while the kernel keeps
 * answering: the next process adopts the pinned link and swaps its freshly
 * loaded program in atomically, against the same maps.
 */
#ifndef PINHOLE_XDP_H
#define PINHOLE_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pinhole_kern_user.h"

struct xdp_path;

struct xdp_path_opts {
	const char *ifname;
	const char *pin_dir;	/* NULL: PH_PIN_DIR_DEFAULT */
	bool no_generic;	/* true: fail instead of falling back to generic mode */
	uint32_t max_sessions;	/* slots of the sessions array (0: 1); a pinned one must match */
	uint32_t answer_rate;	/* unauthenticated answers per source IP per second; 0: no limit */
	uint32_t answer_burst;	/* of those at once (0: 2 * answer_rate) */
};

/*
 * Load the program and its maps and attach to opts->ifname, or adopt what a
 * previous process left attached and pinned in pin_dir (--keep).  Mounts bpffs
 * on /sys/fs/bpf if pin_dir lies there and it is not mounted.  Returns NULL
 * and sets errno: ENODEV (no such interface), EBUSY (another XDP program is
 * attached to the interface, pin_dir's link serves another interface, or
 * another live xdp_path holds pin_dir), EINVAL (pin_dir not on bpffs, or a
 * pinned sessions array of another size than max_sessions),
 * EOPNOTSUPP (no native XDP and no_generic), or what the kernel refused.
 * While open, the path holds an exclusive flock on pin_dir.  Installs a
 * libbpf print hook that routes libbpf's messages through log.h.
 */
struct xdp_path *xdp_path_open(const struct xdp_path_opts *opts);

/*
 * Replace the listeners map with these n addresses (AF_INET or AF_INET6 with
 * a non-zero port; the any-address is the wildcard for its family; an
 * IPv4-mapped IPv6 address counts as IPv4).  Only entries missing from the
 * new set are deleted, so a listener present before and after never
 * disappears from under the running program.
 * Returns 0, -EINVAL (bad address), -E2BIG (more than the map holds), or the
 * map operation's -errno.
 */
int xdp_path_set_listeners(struct xdp_path *p, const struct sockaddr_storage *addrs, size_t n);

/* One listening address, with its RFC 5780 OTHER-ADDRESS if it has one. */
struct xdp_listener {
	struct sockaddr_storage addr;
	struct sockaddr_storage other;	/* ss_family AF_UNSPEC: no RFC 5780 service */
};

/*
 * As xdp_path_set_listeners(), for listeners that may offer RFC 5780
 * service: for one whose other address is set (a concrete AF_INET or
 * AF_INET6 address with a non-zero port; IPv4-mapped counts as IPv4), the
 * kernel's Binding answers carry RESPONSE-ORIGIN (the address the request
 * reached) and OTHER-ADDRESS (l[i].other), as binding_answer_ctx() writes
 * them; requests with CHANGE-REQUEST still go to userspace.  A listener
 * present before and after keeps answering throughout; a changed other
 * address is in effect on every CPU within 25 jiffies (the program's
 * per-CPU listener memo).  The same address twice with different other
 * addresses is -EINVAL.  Returns 0, -EINVAL, -E2BIG, -ENOMEM or the map
 * operation's -errno; on -EINVAL/-E2BIG the map is unchanged.
 */
int xdp_path_set_listeners_ex(struct xdp_path *p, const struct xdp_listener *l, size_t n);

/* Sum the per-CPU stats map into out[PH_REASON_MAX].  Returns 0 or -errno. */
int xdp_path_read_stats(struct xdp_path *p, struct ph_stat *out);
/*
 * Sum a stats map given by fd (e.g. the pinned one, from bpf_obj_get) into
 * out[PH_REASON_MAX].  The caller checked it is a per-CPU array of struct
 * ph_stat with at least PH_REASON_MAX entries.  0 or -errno.
 */
int xdp_stats_read_fd(int fd, struct ph_stat *out);

/* True when open adopted a link a previous process left pinned. */
bool xdp_path_adopted(const struct xdp_path *p);

/* The "sessions" array and the "session_events" ring (sessmap.h); the path owns the fds. */
int xdp_path_sessions_fd(const struct xdp_path *p);
int xdp_path_events_fd(const struct xdp_path *p);

/*
 * True when the sessions array was already pinned (an earlier process left
 * it with --keep): its slots are live sessions to take back, not garbage.
 */
bool xdp_path_sessions_kept(const struct xdp_path *p);

/* The interface the program is attached to, as its index when opened. */
int xdp_path_ifindex(const struct xdp_path *p);

/* The kernel's own account of map @fd's memory (its fdinfo "memlock"); 0 if unknown. */
uint64_t xdp_map_memlock(int fd);

/*
 * Call @fn with an fd of each map program @prog_fd uses (closed when @fn
 * returns).  0 or -errno from reading the program's info.
 */
int xdp_prog_for_each_map(int prog_fd, void (*fn)(int map_fd, void *ctx), void *ctx);

/* How the program is attached, as the kernel reports it: "native" or "generic". */
const char *xdp_path_mode(const struct xdp_path *p);

/*
 * keep: leave program attached and everything pinned for the next process;
 * otherwise detach, unpin, remove pin_dir.  Accepts NULL.
 */
void xdp_path_close(struct xdp_path *p, bool keep);

/*
 * Stable lower-case names for enum ph_xdp_reason ("tx_binding",
 * "pass_not_ip", ... "drop_bad_fingerprint"); "unknown" out of range.
 */
const char *xdp_reason_name(enum ph_xdp_reason r);

#endif
