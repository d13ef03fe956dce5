/* SPDX-License-Identifier: MIT */
/*
 * What the tests of the XDP program share (test_xdp, test_xdp_fuzz): byte
 * and checksum helpers for frames built and checked by hand (big-endian
 * fields, an RFC 1071 sum computed independently of the program), and
 * listener set-up.
 */
#ifndef PINHOLE_TESTS_XDP_UTIL_H
#define PINHOLE_TESTS_XDP_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/pinhole.skel.h"
#include "pinhole_kern_user.h"

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Add @n bytes at @p to @s as 16-bit big-endian words (an odd last byte padded). */
static inline uint32_t sum16(const uint8_t *p, size_t n, uint32_t s)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static inline uint16_t fold16(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Sum of the UDP pseudo-header (addresses of @alen bytes each at @saddr, @daddr). */
static inline uint32_t pseudo_sum(const uint8_t *saddr, const uint8_t *daddr, size_t alen,
				  size_t ulen)
{
	return sum16(daddr, alen, sum16(saddr, alen, 0)) + IPPROTO_UDP + (uint32_t)ulen;
}

/*
 * Add listener @addr:@port (NULL: the family's wildcard) to the listeners
 * map @fd, with RFC 5780 service when @other (of @other_family) is given.
 * 0 or -errno.
 */
static inline int xdp_add_listener(int fd, uint8_t family, const char *addr, uint16_t port,
				   uint8_t other_family, const char *other, uint16_t other_port)
{
	struct ph_listen_key k = {.family = family, .port = htons(port)};
	struct ph_listen_val v = {0};

	if (addr && inet_pton(family, addr, k.addr) != 1)
		return -EINVAL;
	if (other) {
		v.flags = PH_LISTEN_RFC5780;
		v.other_family = other_family;
		v.other_port = htons(other_port);
		if (inet_pton(other_family, other, v.other_addr) != 1)
			return -EINVAL;
	}
	return bpf_map_update_elem(fd, &k, &v, BPF_NOEXIST) ? -errno : 0;
}

/*
 * The program's skeleton, opened (not loaded) with every pin path cleared
 * and @sessions slots in its session array: nothing of a test appears
 * under /sys/fs/bpf.  NULL on failure.
 */
static inline struct pinhole *xdp_open_unpinned(uint32_t sessions)
{
	struct pinhole *skel = pinhole__open();
	struct bpf_map *map;

	if (!skel)
		return NULL;
	bpf_object__for_each_map(map, skel->obj)
	{
		if (bpf_map__set_pin_path(map, NULL))
			goto err;
	}
	if (bpf_map__set_max_entries(skel->maps.sessions, sessions))
		goto err;
	return skel;
err:
	pinhole__destroy(skel);
	return NULL;
}

#endif
