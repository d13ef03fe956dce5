/* SPDX-License-Identifier: MIT */
/*
 * The kernel's session table: the XDP program's "sessions" array (one
 * struct ph_session per slot, a session id's low bits naming its slot) and
 * its "session_events" ring of NAT rebindings.  Userspace writes a slot when
 * a login is answered and clears it when the session ends; the kernel
 * refreshes last_seen and follows address changes.  Reading goes through a
 * read-only mapping of the array (BPF_F_MMAPABLE): one pass over ten
 * million slots measured 24 ms here, where BPF_MAP_LOOKUP_BATCH took 5.8 s
 * (570 ns a slot, nearly all of it per-element copying in the kernel).
 * Writes go through the map update call.
 *
 * Times are CLOCK_MONOTONIC seconds, the clock bpf_ktime_get_coarse_ns()
 * reads in the program.
 */
#ifndef PINHOLE_SESSMAP_H
#define PINHOLE_SESSMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pinhole_kern_user.h"

struct ring_buffer;

/* A NAT rebinding the kernel followed: session @id now at @addr (reaching @local). */
struct sessmap_move {
	uint32_t id;
	struct sockaddr_storage addr;
	struct sockaddr_storage local;
};

typedef void (*sessmap_move_fn)(const struct sessmap_move *mv, void *ctx);

struct sessmap {
	int fd;			/* the "sessions" array */
	uint32_t slots;		/* its max_entries */
	const volatile struct ph_session *view; /* the array, mapped read-only */
	size_t view_len;
	struct ring_buffer *rb; /* NULL: no events ring */
	sessmap_move_fn on_move;
	void *ctx;
};

/*
 * Use the sessions array @map_fd (checked: an mmapable array of struct
 * ph_session), mapping it read-only, and, if @events_fd >= 0, the events
 * ring, delivering moves to @fn.  The fds stay the caller's.  0, -EINVAL
 * (not the map it should be), -errno (mmap, ring).
 */
int sessmap_init(struct sessmap *m, int map_fd, int events_fd, sessmap_move_fn fn, void *ctx);

/* Release what sessmap_init took.  Safe on a zeroed or finished map. */
void sessmap_fini(struct sessmap *m);

/* CLOCK_MONOTONIC in whole seconds: the kernel's last_seen clock. */
uint32_t sessmap_now_s(void);

/*
 * Write session @id's slot: its token, observed address, keepalive
 * interval, last_seen = @now_s.  0, -EINVAL (bad id or address, slot beyond
 * the array), or the map update's -errno.
 */
int sessmap_put(struct sessmap *m, uint32_t id, const uint8_t token[PH_SESSION_TOKEN_LEN],
		const struct sockaddr *observed, uint16_t interval_s, uint32_t now_s);

/* Clear @id's slot (whoever holds it now: the caller owns the slot).  0 or -errno. */
int sessmap_del(struct sessmap *m, uint32_t id);

/*
 * A keepalive userspace accepted for @id from @observed: record it as the
 * kernel would (last_seen, address), so kernel and userspace agree.
 * -ENOENT if the slot no longer holds @id.
 */
int sessmap_touch(struct sessmap *m, uint32_t id, const struct sockaddr *observed,
		  uint32_t now_s);

/* Read slot of @id into @out.  0, -ENOENT (slot holds another id or none), -errno. */
int sessmap_get(struct sessmap *m, uint32_t id, struct ph_session *out);

/*
 * Slot @slot (< m->slots) as the kernel has it now, read from the mapping.
 * Fields may change while read (the kernel writes last_seen and the
 * address in place); id and last_seen are each read whole.
 */
static inline const volatile struct ph_session *sessmap_slot(const struct sessmap *m,
								uint32_t slot)
{
	return &m->view[slot];
}

/* Deliver every pending move event to the callback.  Returns the count or -errno. */
int sessmap_drain(struct sessmap *m);

/* The address in @s as a sockaddr (AF_UNSPEC for a free slot). */
void sessmap_addr(const struct ph_session *s, struct sockaddr_storage *out);

#endif
