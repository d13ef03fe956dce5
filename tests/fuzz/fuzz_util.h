/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).  A target
 * checks properties, not just survival: FUZZ_CHECK aborts with the failed
 * condition, which libFuzzer reports as a crash and saves the input for.
 */
#ifndef PINHOLE_FUZZ_UTIL_H
#define PINHOLE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Keeps reads from being optimised away: ASan must see every byte a getter hands out. */
extern volatile uint8_t fuzz_sink;

/*
 * True when [p, p + n) lies inside [base, base + len).  Compares integers,
 * not pointers, so an out-of-range pointer is a property failure, not UB.
 */
static inline int fuzz_inside(const void *p, size_t n, const void *base, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return a >= b && n <= len && a - b <= len - n;
}

/* Read every byte of [p, p + n): an over-read becomes an ASan report. */
static inline void fuzz_touch(const void *p, size_t n)
{
	const volatile uint8_t *q = p;
	uint8_t x = 0;

	for (size_t i = 0; i < n; i++)
		x ^= q[i];
	fuzz_sink ^= x;
}

#define FUZZ_SINK_DEFINE volatile uint8_t fuzz_sink

/* Constants the targets and the seed builder (seeds.c) must agree on. */
#define FUZZ_NONCE_SECRET "fuzz nonce secret"
#define FUZZ_NONCE_NOW_MS 1700000000000ull
#define FUZZ_EP_SESS_ID 7
#define FUZZ_EP_TOKEN "fuzz token 16 b"			  /* PH_TOKEN_LEN with its NUL */
#define FUZZ_EP_BOB_KEY "pair key alice<->bob, 32 bytes!" /* PH_PAIR_KEY_LEN with its NUL */


/*
 * fuzz_server's input (seeds.c writes the seeds): one options byte (FUZZ_SRV_O_*), then
 * records of [flags, dt, len_hi, len_lo, len bytes].  dt advances the clock by dt * dt * 4 ms
 * (up to about 260 s) before the record; flags (FUZZ_SRV_F_*) pick the source, socket and
 * the harness's fix-ups, which stand in for an endpoint's state the fuzzer cannot guess
 * (the nonce the server minted, the session token, the keys).
 */
enum {
	FUZZ_SRV_O_NO_PUNCH = 1 << 0,
	FUZZ_SRV_O_NO_WAIT = 1 << 1,	/* punch_wait_ms 0 (default 300) */
	FUZZ_SRV_O_RATE = 1 << 2,	/* login_rate 2 (default unlimited) */
	FUZZ_SRV_O_ONE_SESSION = 1 << 3, /* max_sessions 1 (default 16) */
	FUZZ_SRV_O_FAST_KA = 1 << 4,	/* keepalive_s 1 (default 20) */
	FUZZ_SRV_O_KMAP = 1 << 5,	/* a kernel session table (BPF array; root only) */
};

enum {
	FUZZ_SRV_F_SRC = 0x03,	 /* source 0..3: fuzz_server.c's srcs[] */
	FUZZ_SRV_F_FIXUP = 0x04, /* rebuild with the real nonce, session, tid and keys */
	FUZZ_SRV_F_BOB = 0x08,	 /* the fix-ups act as bob (else alice) */
	FUZZ_SRV_F_SOCK = 0x70,	 /* >> 4, modulo the socket count */
	FUZZ_SRV_F_TICK = 0x80,	 /* no datagram: only the clock moves (and srv_tick runs) */
};

#define FUZZ_SRV_REALM	"pinhole"
#define FUZZ_SRV_PW_ALICE "alice password"
#define FUZZ_SRV_PW_BOB	"bob password"

#endif
