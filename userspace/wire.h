/* SPDX-License-Identifier: MIT */
/*
 * Big-endian field access for the codecs.  Callers have already checked
 * that the bytes lie inside their buffer (each codec has one gate for it).
 */
#ifndef PINHOLE_WIRE_H
#define PINHOLE_WIRE_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t wire_rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t wire_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wire_wr16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xFF;
}

static inline void wire_wr32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xFF;
	p[2] = (v >> 8) & 0xFF;
	p[3] = v & 0xFF;
}

/* STUN attributes are padded to a multiple of 4 bytes. */
static inline size_t wire_pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

#endif
