// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "netlink.h"
#include "xdp.h"
#include "bpf/pinhole.skel.h"

#define BPFFS_ROOT "/sys/fs/bpf"

struct xdp_path {
	struct pinhole *skel;
	struct nl *nl;
	int ifindex;
	char ifname[IF_NAMESIZE];
	char pin_dir[PATH_MAX];
	char link_path[PATH_MAX];
	char prog_path[PATH_MAX];	/* the running program, so adoption needs no CAP_SYS_ADMIN */
	int dir_fd;		/* holds the flock that makes pin_dir ours */
	int link_fd;
	bool adopted;
	bool sessions_kept;	/* the sessions array was pinned before we came */
	enum nl_xdp_mode mode;
};

static const char *const reason_names[PH_REASON_MAX] = {
	[PH_TX_BINDING] = "tx_binding",
	[PH_PASS_NOT_IP] = "pass_not_ip",
	[PH_PASS_NOT_UDP] = "pass_not_udp",
	[PH_PASS_NOT_LISTEN] = "pass_not_listen",
	[PH_PASS_IP_OPTIONS] = "pass_ip_options",
	[PH_PASS_FRAGMENT] = "pass_fragment",
	[PH_PASS_TRUNCATED] = "pass_truncated",
	[PH_PASS_BAD_CSUM] = "pass_bad_csum",
	[PH_PASS_NOT_BINDING_REQ] = "pass_not_binding_req",
	[PH_PASS_ATTRIBUTES] = "pass_attributes",
	[PH_PASS_TOO_LONG] = "pass_too_long",
	[PH_PASS_NO_ROOM] = "pass_no_room",
	[PH_DROP_NOT_STUN] = "drop_not_stun",
	[PH_DROP_BAD_COOKIE] = "drop_bad_cookie",
	[PH_DROP_BAD_LENGTH] = "drop_bad_length",
	[PH_DROP_BAD_FINGERPRINT] = "drop_bad_fingerprint",
	[PH_TX_KEEPALIVE] = "tx_keepalive",
	[PH_TX_KA_MOVED] = "tx_ka_moved",
	[PH_TX_KA_UNKNOWN] = "tx_ka_unknown",
	[PH_DROP_KA_INDICATION] = "drop_ka_indication",
	[PH_DROP_KA_BAD_TOKEN] = "drop_ka_bad_token",
	[PH_DROP_KA_UNKNOWN_IND] = "drop_ka_unknown_ind",
	[PH_PASS_KA_NO_EVENT] = "pass_ka_no_event",
	[PH_DROP_RATE_LIMITED] = "drop_rate_limited",
};

const char *xdp_reason_name(enum ph_xdp_reason r)
{
	/* A reason added to the enum without a name here reads "unknown". */
	if ((unsigned int)r >= PH_REASON_MAX || !reason_names[r])
		return "unknown";
	return reason_names[r];
}

/*
 * libbpf would print to stderr; the library speaks only through log.h.  A
 * verifier log arrives as one message of up to a million lines whose verdict
 * is at the end: pass on its head and its tail, line by line.
 */
#define LOG_HEAD_LINES 5
#define LOG_TAIL_LINES 25

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum log_level lvl = level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG;
	char *text, *line, *save = NULL;
	size_t lines = 0, i = 0;

	if (level == LIBBPF_DEBUG || lvl > log_get_level())
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (char *c = text; *c; c++)
		lines += *c == '\n' || !c[1];
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		if (i < LOG_HEAD_LINES || i + LOG_TAIL_LINES >= lines)
			log_msg(lvl, "%s", line);
		else if (i == LOG_HEAD_LINES)
			log_msg(lvl, "... (%zu lines left out)",
				lines - LOG_HEAD_LINES - LOG_TAIL_LINES);
	}
	free(text);
	return 0;
}

static bool on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * Make sure pin_dir exists on a bpffs.  /sys/fs/bpf is not mounted at boot on
 * every distribution; mounting it there is what bpftool and systemd do too.
 * Sets *created when this call made the directory.
 */
static int prepare_pin_dir(const char *pin_dir, bool *created)
{
	size_t root_len = strlen(BPFFS_ROOT);
	int err;

	*created = false;
	if (!strncmp(pin_dir, BPFFS_ROOT, root_len) &&
	    (pin_dir[root_len] == '/' || !pin_dir[root_len]) && !on_bpffs(BPFFS_ROOT)) {
		if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
			err = -errno;
			pr_err("xdp: cannot mount bpffs on %s: %s", BPFFS_ROOT, strerror(-err));
			return err;
		}
		pr_info("xdp: mounted bpffs on %s", BPFFS_ROOT);
	}
	if (mkdir(pin_dir, 0700) == 0) {
		*created = true;
	} else if (errno != EEXIST) {
		err = -errno;
		pr_err("xdp: cannot create pin directory %s: %s", pin_dir, strerror(-err));
		return err;
	}
	if (!on_bpffs(pin_dir)) {
		pr_err("xdp: pin directory %s is not on a bpf filesystem", pin_dir);
		return -EINVAL;
	}
	return 0;
}

/* Only a BPF link may be adopted; a map or program pinned as "link" is not one. */
static bool is_link_fd(int fd)
{
	char proc[64], target[64];
	ssize_t n;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, target, sizeof(target) - 1);
	if (n < 0)
		return true;	/* no /proc: the link info type check must do */
	target[n] = '\0';
	return !strcmp(target, "anon_inode:bpf-link");
}

static int link_info(int link_fd, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(link_fd, info, &len))
		return -errno;
	return 0;
}

static int prog_id_of(int prog_fd, __u32 *id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

/* Which mode runs @prog_id on the interface, per the kernel; NONE if it does not. */
static enum nl_xdp_mode mode_of(const struct nl_xdp_state *st, __u32 prog_id)
{
	if (st->drv_prog_id == prog_id)
		return NL_XDP_NATIVE;
	if (st->skb_prog_id == prog_id)
		return NL_XDP_GENERIC;
	if (st->hw_prog_id == prog_id)
		return NL_XDP_OFFLOAD;
	return NL_XDP_NONE;
}

/*
 * Look at what pin_dir holds: sets p->link_fd to an adoptable link on our
 * interface, removes a link whose interface is gone, refuses one serving a
 * different interface.  Returns 0 or -errno.
 */
static int find_pinned_link(struct xdp_path *p, __u32 *old_prog_id)
{
	struct bpf_link_info info;
	int fd, err;

	fd = bpf_obj_get(p->link_path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return 0;
		pr_err("xdp: cannot open pinned link %s: %s", p->link_path, strerror(-err));
		return err;
	}
	err = link_info(fd, &info);
	if (err) {
		pr_err("xdp: cannot inspect pinned link %s: %s", p->link_path, strerror(-err));
		goto err_close;
	}
	if (!is_link_fd(fd) || info.type != BPF_LINK_TYPE_XDP) {
		pr_err("xdp: %s is not an XDP link; remove it or use another pin directory",
		       p->link_path);
		err = -EINVAL;
		goto err_close;
	}
	if (info.xdp.ifindex == 0) {
		/* The interface went away and took the attachment with it. */
		pr_info("xdp: removing stale link %s (its interface is gone)", p->link_path);
		close(fd);
		if (unlink(p->link_path) && errno != ENOENT) {
			err = -errno;
			pr_err("xdp: cannot remove %s: %s", p->link_path, strerror(-err));
			return err;
		}
		return 0;
	}
	if ((int)info.xdp.ifindex != p->ifindex) {
		pr_err("xdp: %s is attached to ifindex %u, not %s (%d); use another pin directory",
		       p->link_path, info.xdp.ifindex, p->ifname, p->ifindex);
		err = -EBUSY;
		goto err_close;
	}
	p->link_fd = fd;
	*old_prog_id = info.prog_id;
	return 0;

err_close:
	close(fd);
	return err;
}

/* The interface must run nothing, or exactly the program of the link we adopt. */
static int check_foreign(struct xdp_path *p, __u32 adopt_prog_id)
{
	struct nl_xdp_state st;
	int err;

	err = nl_xdp_query(p->nl, p->ifindex, &st);
	if (err) {
		pr_err("xdp: cannot query XDP state of %s: %s", p->ifname, strerror(-err));
		return err;
	}
	if (st.mode == NL_XDP_NONE && !adopt_prog_id)
		return 0;
	if (adopt_prog_id && st.mode != NL_XDP_MULTI && mode_of(&st, adopt_prog_id) != NL_XDP_NONE)
		return 0;
	if (adopt_prog_id && st.mode == NL_XDP_NONE) {
		pr_err("xdp: pinned link %s claims %s but the kernel reports nothing attached",
		       p->link_path, p->ifname);
		return -EIO;
	}
	pr_err("xdp: %s already runs XDP program id %u (%s mode) that pinhole did not attach; "
	       "remove it first (ip link set dev %s xdp off, or stop its owner)",
	       p->ifname, st.prog_id ? st.prog_id : st.drv_prog_id ? st.drv_prog_id : st.skb_prog_id,
	       nl_xdp_mode_name(st.mode), p->ifname);
	return -EBUSY;
}

/*
 * The program the adopted link runs, as an fd for BPF_F_REPLACE.  From its
 * pin first: opening a pin needs only access to bpffs, while opening a
 * program by id is reserved to CAP_SYS_ADMIN.  The id fallback serves pin
 * directories left by an older server that did not pin the program.
 */
static int running_prog_fd(const struct xdp_path *p, __u32 id)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int fd;

	fd = bpf_obj_get(p->prog_path);
	if (fd >= 0) {
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.id == id)
			return fd;
		close(fd);
	}
	fd = bpf_prog_get_fd_by_id(id);
	return fd < 0 ? -errno : fd;
}

/* Pin the running program next to the link; without it the next adoption needs CAP_SYS_ADMIN. */
static void pin_prog(const struct xdp_path *p, int prog_fd)
{
	if (bpf_obj_pin(prog_fd, p->prog_path))
		pr_warn("xdp: cannot pin the program at %s: %s (a restart will need CAP_SYS_ADMIN "
			"to adopt it)", p->prog_path, strerror(errno));
}

/*
 * Swap the freshly loaded program into the adopted link.  BPF_F_REPLACE makes
 * it a compare-and-swap against the program we inspected, and the link is
 * never detached, so the interface is not without the kernel path for a
 * single packet.
 */
static int adopt(struct xdp_path *p, __u32 old_prog_id)
{
	LIBBPF_OPTS(bpf_link_update_opts, uo, .flags = BPF_F_REPLACE);
	int prog_fd = bpf_program__fd(p->skel->progs.pinhole_xdp);
	int old_fd, err;

	old_fd = running_prog_fd(p, old_prog_id);
	if (old_fd < 0) {
		err = old_fd;
		pr_err("xdp: cannot get running program %u: %s", old_prog_id, strerror(-err));
		return err;
	}
	uo.old_prog_fd = old_fd;
	if (bpf_link_update(p->link_fd, prog_fd, &uo)) {
		err = -errno;
		pr_err("xdp: cannot swap the new program into %s: %s", p->link_path,
		       strerror(-err));
		close(old_fd);
		return err;
	}
	close(old_fd);
	p->adopted = true;
	/* The pin follows the program that runs now. */
	unlink(p->prog_path);
	pin_prog(p, prog_fd);
	return 0;
}

/* Attach with a new link, native mode first; pin it so it outlives us. */
static int attach(struct xdp_path *p, bool no_generic)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
	int prog_fd = bpf_program__fd(p->skel->progs.pinhole_xdp);
	int fd, err;

	fd = bpf_link_create(prog_fd, p->ifindex, BPF_XDP, &lo);
	if (fd < 0) {
		err = -errno;
		/* Busy or forbidden stays so in generic mode: no point retrying. */
		if (no_generic || err == -EBUSY || err == -EEXIST || err == -EPERM) {
			pr_err("xdp: cannot attach to %s in native mode: %s", p->ifname,
			       strerror(-err));
			return err;
		}
		pr_warn("xdp: %s has no native XDP (%s); falling back to generic mode, "
			"which runs after the skb is built and is much slower",
			p->ifname, strerror(-err));
		lo.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, p->ifindex, BPF_XDP, &lo);
		if (fd < 0) {
			err = -errno;
			pr_err("xdp: cannot attach to %s in generic mode: %s", p->ifname,
			       strerror(-err));
			return err;
		}
	}
	if (bpf_obj_pin(fd, p->link_path)) {
		err = -errno;
		pr_err("xdp: cannot pin link at %s: %s", p->link_path, strerror(-err));
		close(fd);	/* the last reference: the kernel detaches */
		return err;
	}
	p->link_fd = fd;
	unlink(p->prog_path);	/* a stale pin from a crashed run */
	pin_prog(p, prog_fd);
	return 0;
}

/* Trust the kernel, not our bookkeeping: the new program must be what runs. */
static int verify_attached(struct xdp_path *p)
{
	struct bpf_link_info info;
	struct nl_xdp_state st;
	__u32 id = 0;
	int err;

	err = prog_id_of(bpf_program__fd(p->skel->progs.pinhole_xdp), &id);
	if (!err)
		err = link_info(p->link_fd, &info);
	if (!err)
		err = nl_xdp_query(p->nl, p->ifindex, &st);
	if (err) {
		pr_err("xdp: cannot verify the attachment on %s: %s", p->ifname, strerror(-err));
		return err;
	}
	p->mode = mode_of(&st, id);
	if (info.prog_id != id || (int)info.xdp.ifindex != p->ifindex || p->mode == NL_XDP_NONE) {
		pr_err("xdp: %s runs program %u (%s), link has %u, expected %u", p->ifname,
		       st.prog_id, nl_xdp_mode_name(st.mode), info.prog_id, id);
		return -EIO;
	}
	return 0;
}

/* Bit i set: the i-th map of the object was already pinned before load. */
static __u64 pinned_maps(struct bpf_object *obj)
{
	struct bpf_map *map;
	__u64 mask = 0;
	int i = 0;

	bpf_object__for_each_map(map, obj) {
		const char *path = bpf_map__pin_path(map);

		if (i < 64 && path && access(path, F_OK) == 0)
			mask |= 1ULL << i;
		i++;
	}
	return mask;
}

/*
 * Size the sessions array to @max before load.  A pinned one is reused
 * as is (its sessions are what a restart keeps), so it must already be
 * that size: libbpf would only say "parameter mismatch".
 */
static int size_sessions(struct xdp_path *p, uint32_t max)
{
	struct bpf_map *map = p->skel->maps.sessions;
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	const char *path;
	int fd, err;

	if (!max)
		max = 1;
	if (max > PH_SESSIONS_MAX) {
		pr_err("xdp: at most %u sessions fit the kernel table", PH_SESSIONS_MAX);
		return -EINVAL;
	}
	err = bpf_map__set_max_entries(map, max);
	if (err)
		return err;
	path = bpf_map__pin_path(map);
	fd = path ? bpf_obj_get(path) : -1;
	if (fd < 0)
		return 0;
	err = bpf_obj_get_info_by_fd(fd, &info, &len) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	p->sessions_kept = true;
	if (info.max_entries != max) {
		pr_err("xdp: %s holds %u sessions, not %u: start with --max-sessions %u to keep "
		       "them, or stop the server without --keep to resize",
		       path, info.max_entries, max, info.max_entries);
		return -EINVAL;
	}
	return 0;
}

/* The per-source answer budget, before the program sees a packet (pinhole_kern_user.h). */
static int set_rate(struct xdp_path *p, uint32_t rate, uint32_t burst)
{
	struct ph_rate_cfg cfg = {0};
	__u32 zero = 0;

	if (rate) {
		if (!burst)
			burst = 2 * rate;
		cfg.interval_ns = 1000000000ull / rate;
		cfg.burst_ns = (uint64_t)(burst - 1) * cfg.interval_ns;
	}
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.rate_cfg), &zero, &cfg, BPF_ANY))
		return -errno;
	if (rate)
		pr_info("xdp: unauthenticated answers limited to %u per second per source, burst %u",
			rate, burst);
	return 0;
}

/* Undo the pins a failed open created, keeping the ones it found (counters). */
static void unpin_new_maps(struct bpf_object *obj, __u64 existed)
{
	struct bpf_map *map;
	int i = 0;

	bpf_object__for_each_map(map, obj) {
		if (bpf_map__pin_path(map) && !(i < 64 && (existed & (1ULL << i))))
			bpf_map__unpin(map, NULL);
		i++;
	}
}

struct xdp_path *xdp_path_open(const struct xdp_path_opts *opts)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	const char *pin_dir;
	bool created_dir = false, adopting;
	__u32 old_prog_id = 0;
	struct xdp_path *p;
	__u64 existed = 0;
	int err, ret;

	if (!opts || !opts->ifname) {
		errno = EINVAL;
		return NULL;
	}
	pin_dir = opts->pin_dir ? opts->pin_dir : PH_PIN_DIR_DEFAULT;
	libbpf_set_print(libbpf_log);

	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->dir_fd = -1;
	p->link_fd = -1;
	ret = snprintf(p->pin_dir, sizeof(p->pin_dir), "%s", pin_dir);
	if (ret < 0 || (size_t)ret >= sizeof(p->pin_dir) ||
	    snprintf(p->link_path, sizeof(p->link_path), "%s/link", pin_dir) >=
		    (int)sizeof(p->link_path) ||
	    snprintf(p->prog_path, sizeof(p->prog_path), "%s/prog", pin_dir) >=
		    (int)sizeof(p->prog_path)) {
		err = -ENAMETOOLONG;
		goto err_free;
	}

	p->nl = nl_open();
	if (!p->nl) {
		err = -errno;
		pr_err("xdp: cannot open netlink: %s", strerror(-err));
		goto err_free;
	}
	p->ifindex = nl_link_index(p->nl, opts->ifname);
	if (p->ifindex < 0) {
		err = p->ifindex;
		pr_err("xdp: no interface %s: %s", opts->ifname, strerror(-err));
		goto err_nl;
	}
	snprintf(p->ifname, sizeof(p->ifname), "%s", opts->ifname);

	err = prepare_pin_dir(p->pin_dir, &created_dir);
	if (err)
		goto err_nl;
	/* Two live servers on one pin dir would fight over the link and the maps. */
	p->dir_fd = open(p->pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dir_fd < 0) {
		err = -errno;
		pr_err("xdp: cannot open %s: %s", p->pin_dir, strerror(-err));
		goto err_dir;
	}
	if (flock(p->dir_fd, LOCK_EX | LOCK_NB)) {
		err = -errno;
		if (err == -EWOULDBLOCK) {
			err = -EBUSY;
			pr_err("xdp: %s is in use by another running process", p->pin_dir);
		} else {
			pr_err("xdp: cannot lock %s: %s", p->pin_dir, strerror(-err));
		}
		goto err_dir;
	}

	err = find_pinned_link(p, &old_prog_id);
	if (err)
		goto err_dir;
	adopting = p->link_fd >= 0;
	err = check_foreign(p, old_prog_id);
	if (err)
		goto err_link;

	/* Maps already pinned in pin_dir are reused: counters survive restarts. */
	oo.pin_root_path = p->pin_dir;
	p->skel = pinhole__open_opts(&oo);
	if (!p->skel) {
		err = -errno;
		pr_err("xdp: cannot open the BPF object: %s", strerror(-err));
		goto err_link;
	}
	existed = pinned_maps(p->skel->obj);
	err = size_sessions(p, opts->max_sessions);
	if (err)
		goto err_skel;
	err = pinhole__load(p->skel);
	if (err) {
		pr_err("xdp: cannot load the XDP program against the maps in %s: %s "
		       "(libbpf's messages above say why)", p->pin_dir, strerror(-err));
		goto err_skel;
	}

	err = set_rate(p, opts->answer_rate, opts->answer_burst);
	if (err)
		goto err_maps;
	err = adopting ? adopt(p, old_prog_id) : attach(p, opts->no_generic);
	if (err)
		goto err_maps;
	/*
	 * After a swap the new program is in the pinned link whatever we find
	 * here; a failed check is reported but does not put the old one back.
	 */
	err = verify_attached(p);
	if (err)
		goto err_attach;
	pr_info("xdp: %s program on %s in %s mode; pinned in %s",
		p->adopted ? "adopted the pinned program and swapped in a new" : "attached the",
		p->ifname,
		xdp_path_mode(p), p->pin_dir);
	return p;

err_attach:
	if (!adopting) {
		bpf_link_detach(p->link_fd);
		unlink(p->link_path);
		unlink(p->prog_path);
	}
err_maps:
	/* An adopted link still runs against the pinned maps: leave them be. */
	if (!adopting)
		unpin_new_maps(p->skel->obj, existed);
err_skel:
	pinhole__destroy(p->skel);
err_link:
	if (p->link_fd >= 0)
		close(p->link_fd);
err_dir:
	if (p->dir_fd >= 0)
		close(p->dir_fd);
	if (created_dir)
		rmdir(p->pin_dir);	/* only succeeds if we left it empty */
err_nl:
	nl_close(p->nl);
err_free:
	free(p);
	errno = -err;
	return NULL;
}

static int fill_key(const struct sockaddr_storage *ss, struct ph_listen_key *k)
{
	memset(k, 0, sizeof(*k));	/* hashed bytewise: padding must be zero */
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		k->family = AF_INET;
		k->port = sin->sin_port;
		memcpy(k->addr, &sin->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		k->port = sin6->sin6_port;
		/* A dual-stack socket's v4-mapped address receives plain IPv4 frames. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			k->family = AF_INET;
			memcpy(k->addr, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			k->family = AF_INET6;
			memcpy(k->addr, &sin6->sin6_addr, 16);
		}
	} else {
		return -EINVAL;
	}
	return k->port ? 0 : -EINVAL;
}

/* The value for a listener: RFC 5780 service iff other is set.  0 or -EINVAL. */
static int fill_val(const struct sockaddr_storage *other, struct ph_listen_val *v)
{
	struct ph_listen_key ok;
	static const __u8 any[16];
	int err;

	memset(v, 0, sizeof(*v));
	if (other->ss_family == AF_UNSPEC)
		return 0;
	/* Same conversion as a key: family, port, IPv4 in the first 4 bytes. */
	err = fill_key(other, &ok);
	if (err)
		return err;
	/* OTHER-ADDRESS tells the client where to send: it must be an address. */
	if (!memcmp(ok.addr, any, sizeof(any)))
		return -EINVAL;
	v->flags = PH_LISTEN_RFC5780;
	v->other_family = ok.family;
	v->other_port = ok.port;
	memcpy(v->other_addr, ok.addr, sizeof(v->other_addr));
	return 0;
}

int xdp_path_set_listeners_ex(struct xdp_path *p, const struct xdp_listener *l, size_t n)
{
	struct ph_listen_key want[PH_MAX_LISTENERS], *have = NULL, key, next;
	struct ph_listen_val vals[PH_MAX_LISTENERS];
	int fd = bpf_map__fd(p->skel->maps.listeners);
	__u32 cap = bpf_map__max_entries(p->skel->maps.listeners);
	size_t i, j, nhave = 0;
	int err = 0;
	void *prev;

	if (n > PH_MAX_LISTENERS || n > cap)
		return -E2BIG;
	if (n && !l)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		err = fill_key(&l[i].addr, &want[i]);
		if (!err)
			err = fill_val(&l[i].other, &vals[i]);
		if (err)
			return err;
		/* One key, one value: which of two others would the kernel send? */
		for (j = 0; j < i; j++) {
			if (!memcmp(&want[j], &want[i], sizeof(key)) &&
			    memcmp(&vals[j], &vals[i], sizeof(vals[i])))
				return -EINVAL;
		}
	}
	/* Collect before deleting: deleting while walking restarts the walk. */
	have = calloc(cap, sizeof(*have));
	if (!have)
		return -ENOMEM;
	for (prev = NULL; nhave < cap && !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		have[nhave++] = next;
		key = next;
	}
	/*
	 * Only entries absent from the new set are removed, and first, so a
	 * full map has room for the additions.
	 */
	for (i = 0; i < nhave; i++) {
		for (j = 0; j < n; j++) {
			if (!memcmp(&have[i], &want[j], sizeof(key)))
				break;
		}
		if (j == n && bpf_map_delete_elem(fd, &have[i]) && errno != ENOENT) {
			err = -errno;
			goto out;
		}
	}
	/* An update replaces a kept entry's value in place: it never disappears. */
	for (i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, &want[i], &vals[i], BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}
out:
	free(have);
	return err;
}

int xdp_path_set_listeners(struct xdp_path *p, const struct sockaddr_storage *addrs, size_t n)
{
	struct xdp_listener *l;
	size_t i;
	int err;

	if (n > PH_MAX_LISTENERS)
		return -E2BIG;
	if (n && !addrs)
		return -EINVAL;
	l = calloc(n ? n : 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	/* calloc left every other address AF_UNSPEC (0): no RFC 5780 service. */
	for (i = 0; i < n; i++)
		l[i].addr = addrs[i];
	err = xdp_path_set_listeners_ex(p, l, n);
	free(l);
	return err;
}

int xdp_stats_read_fd(int fd, struct ph_stat *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ph_stat *percpu;
	int err = 0;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	/* A per-CPU lookup fills one value per possible CPU, each 8-byte aligned. */
	_Static_assert(sizeof(struct ph_stat) % 8 == 0, "per-CPU values are not padded");
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (__u32 r = 0; r < PH_REASON_MAX; r++) {
		if (bpf_map_lookup_elem(fd, &r, percpu)) {
			err = -errno;
			break;
		}
		out[r].packets = 0;
		out[r].bytes = 0;
		for (int c = 0; c < ncpu; c++) {
			out[r].packets += percpu[c].packets;
			out[r].bytes += percpu[c].bytes;
		}
	}
	free(percpu);
	return err;
}

int xdp_path_read_stats(struct xdp_path *p, struct ph_stat *out)
{
	return xdp_stats_read_fd(bpf_map__fd(p->skel->maps.stats), out);
}

bool xdp_path_adopted(const struct xdp_path *p)
{
	return p->adopted;
}

uint64_t xdp_map_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

int xdp_prog_for_each_map(int prog_fd, void (*fn)(int map_fd, void *ctx), void *ctx)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info), ids[64];
	int mfd;

	info.nr_map_ids = sizeof(ids) / sizeof(ids[0]);
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	for (__u32 i = 0; i < info.nr_map_ids && i < sizeof(ids) / sizeof(ids[0]); i++) {
		mfd = bpf_map_get_fd_by_id(ids[i]);
		if (mfd < 0)
			continue;
		fn(mfd, ctx);
		close(mfd);
	}
	return 0;
}

int xdp_path_ifindex(const struct xdp_path *p)
{
	return p->ifindex;
}

int xdp_path_sessions_fd(const struct xdp_path *p)
{
	return bpf_map__fd(p->skel->maps.sessions);
}

int xdp_path_events_fd(const struct xdp_path *p)
{
	return bpf_map__fd(p->skel->maps.session_events);
}

bool xdp_path_sessions_kept(const struct xdp_path *p)
{
	return p->sessions_kept;
}

const char *xdp_path_mode(const struct xdp_path *p)
{
	return nl_xdp_mode_name(p->mode);
}

void xdp_path_close(struct xdp_path *p, bool keep)
{
	struct bpf_map *map;

	if (!p)
		return;
	if (keep) {
		pr_info("xdp: leaving the program attached to %s; link and maps stay pinned in %s",
			p->ifname, p->pin_dir);
	} else {
		/* Detach explicitly: another holder of the link must not keep it alive. */
		if (bpf_link_detach(p->link_fd))
			pr_warn("xdp: cannot detach from %s: %s", p->ifname, strerror(errno));
		if (unlink(p->link_path) && errno != ENOENT)
			pr_warn("xdp: cannot remove %s: %s", p->link_path, strerror(errno));
		if (unlink(p->prog_path) && errno != ENOENT)
			pr_warn("xdp: cannot remove %s: %s", p->prog_path, strerror(errno));
		bpf_object__for_each_map(map, p->skel->obj) {
			if (bpf_map__pin_path(map) && bpf_map__unpin(map, NULL))
				pr_warn("xdp: cannot unpin %s", bpf_map__pin_path(map));
		}
		if (rmdir(p->pin_dir))
			pr_warn("xdp: cannot remove %s: %s", p->pin_dir, strerror(errno));
		pr_info("xdp: detached from %s and removed %s", p->ifname, p->pin_dir);
	}
	close(p->link_fd);
	pinhole__destroy(p->skel);
	close(p->dir_fd);
	nl_close(p->nl);
	free(p);
}
