/* SPDX-License-Identifier: MIT */
/*
 * Byte and checksum helpers for the tests that build and check frames by
 * hand (test_xdp, test_xdp_fuzz): big-endian fields and an RFC 1071 sum
 * computed independently of the program under test.
 */
#ifndef PINHOLE_TESTS_FRAME_UTIL_H
#define PINHOLE_TESTS_FRAME_UTIL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
