// SPDX-License-Identifier: MIT
/*
 * The kernel's session table (sessmap.h): slot writes, batch reads and the
 * events ring.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "sessmap.h"

/* The family values the program stores (Linux's, as in the listeners map). */
_Static_assert(AF_INET == 2 && AF_INET6 == 10, "map families are Linux's");

uint32_t sessmap_now_s(void)
{
	struct timespec ts;

	/* The program reads the coarse clock; whole seconds of either agree. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

/* @sa into the map's form; an IPv4-mapped IPv6 address is IPv4, as on the wire. */
static int to_map_addr(const struct sockaddr *sa, struct ph_session *v)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	memset(v->addr, 0, sizeof(v->addr));
	if (sa->sa_family == AF_INET) {
		v->family = AF_INET;
		memcpy(v->addr, &s4->sin_addr, 4);
		v->port = s4->sin_port;
	} else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		v->family = AF_INET;
		memcpy(v->addr, &s6->sin6_addr.s6_addr[12], 4);
		v->port = s6->sin6_port;
	} else if (sa->sa_family == AF_INET6) {
		v->family = AF_INET6;
		memcpy(v->addr, &s6->sin6_addr, 16);
		v->port = s6->sin6_port;
	} else {
		return -EINVAL;
	}
	return 0;
}

static void from_map_addr(uint8_t family, const uint8_t *addr, uint16_t port_be,
			  struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = port_be;
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		s6->sin6_port = port_be;
	} else {
		out->ss_family = AF_UNSPEC;
	}
}

void sessmap_addr(const struct ph_session *s, struct sockaddr_storage *out)
{
	from_map_addr(s->family, s->addr, s->port, out);
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct ph_session_event *ev = data;
	struct sessmap *m = ctx;
	struct sessmap_move mv;

	/* The program writes only whole events of a known family; anything else is skipped. */
	if (len < sizeof(*ev) || (ev->family != AF_INET && ev->family != AF_INET6))
		return 0;
	mv.id = ev->id;
	from_map_addr(ev->family, ev->addr, ev->port, &mv.addr);
	from_map_addr(ev->family, ev->local_addr, ev->local_port, &mv.local);
	if (m->on_move)
		m->on_move(&mv, m->ctx);
	return 0;
}

int sessmap_init(struct sessmap *m, int map_fd, int events_fd, sessmap_move_fn fn, void *ctx)
{
	struct bpf_map_info info = {0};
	__u32 len = sizeof(info);
	int err;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (bpf_obj_get_info_by_fd(map_fd, &info, &len))
		return -errno;
	if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != 4 ||
	    info.value_size != sizeof(struct ph_session) || !info.max_entries ||
	    info.max_entries > PH_SESSIONS_MAX || !(info.map_flags & BPF_F_MMAPABLE))
		return -EINVAL;
	m->view_len = (size_t)info.max_entries * sizeof(struct ph_session);
	m->view = mmap(NULL, m->view_len, PROT_READ, MAP_SHARED, map_fd, 0);
	if (m->view == MAP_FAILED) {
		err = -errno;
		m->view = NULL;
		return err;
	}
	m->fd = map_fd;
	m->slots = info.max_entries;
	m->on_move = fn;
	m->ctx = ctx;
	if (events_fd >= 0) {
		m->rb = ring_buffer__new(events_fd, on_event, m, NULL);
		if (!m->rb) {
			err = -errno;
			sessmap_fini(m);
			return err;
		}
	}
	return 0;
}

void sessmap_fini(struct sessmap *m)
{
	ring_buffer__free(m->rb);
	m->rb = NULL;
	if (m->view)
		munmap((void *)m->view, m->view_len);
	m->view = NULL;
	m->fd = -1;
}

int sessmap_put(struct sessmap *m, uint32_t id, const uint8_t token[PH_SESSION_TOKEN_LEN],
		const struct sockaddr *observed, uint16_t interval_s, uint32_t now_s)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;
	struct ph_session v;

	if (!id || slot >= m->slots)
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	if (to_map_addr(observed, &v))
		return -EINVAL;
	v.id = id;
	v.last_seen = now_s;
	v.interval_s = interval_s;
	memcpy(v.token, token, PH_SESSION_TOKEN_LEN);
	return bpf_map_update_elem(m->fd, &slot, &v, BPF_ANY) ? -errno : 0;
}

int sessmap_del(struct sessmap *m, uint32_t id)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;
	struct ph_session v;

	if (!id || slot >= m->slots)
		return -EINVAL;
	/* An array cannot delete: a zero id is a free slot to the program. */
	memset(&v, 0, sizeof(v));
	return bpf_map_update_elem(m->fd, &slot, &v, BPF_ANY) ? -errno : 0;
}

int sessmap_get(struct sessmap *m, uint32_t id, struct ph_session *out)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;

	if (!id || slot >= m->slots)
		return -EINVAL;
	memcpy(out, (const void *)sessmap_slot(m, slot), sizeof(*out));
	return out->id == id ? 0 : -ENOENT;
}

int sessmap_touch(struct sessmap *m, uint32_t id, const struct sockaddr *observed,
		  uint32_t now_s)
{
	uint32_t slot = id & PH_SESSION_SLOT_MASK;
	struct ph_session v;
	int err = sessmap_get(m, id, &v);

	if (err)
		return err;
	if (to_map_addr(observed, &v))
		return -EINVAL;
	v.last_seen = now_s;
	/*
	 * Read-modify-write races a keepalive the kernel handles meanwhile;
	 * both write the same session's newest address and a current time.
	 */
	return bpf_map_update_elem(m->fd, &slot, &v, BPF_EXIST) ? -errno : 0;
}

int sessmap_drain(struct sessmap *m)
{
	if (!m->rb)
		return 0;
	return ring_buffer__consume(m->rb);
}
