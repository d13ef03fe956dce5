/* SPDX-License-Identifier: MIT */
/*
 * The reply counter (bench/count.bpf.c): attached with XDP to the generator
 * veth, it classifies every frame that comes back (enum bench_count) and
 * drops it.  Counts are per-CPU; counter_read() sums them.
 */
#ifndef PINHOLE_BENCH_COUNTER_H
#define PINHOLE_BENCH_COUNTER_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bench_kern_user.h"

struct counter;

/*
 * Load the counter for answers from UDP port @server_port (host order).
 * Returns NULL with errno set on failure.
 */
struct counter *counter_new(uint16_t server_port);
/* Detaches first if attached.  Accepts NULL. */
void counter_free(struct counter *c);

/*
 * Attach to interface @ifindex (native XDP; fails with -EEXIST rather than
 * replace a program someone else attached).  Returns 0 or a negative errno.
 */
int counter_attach(struct counter *c, int ifindex);

/* Sum the per-CPU counts into @out.  Returns 0 or a negative errno. */
int counter_read(struct counter *c, uint64_t out[BENCH_CNT_MAX]);

/*
 * Classify one frame as the attached program would (a test run, not counted
 * by counter_read() in a way that matters: only deltas are reported).
 * Returns 0 and sets *@cls, or a negative errno; frames the counter passes
 * (not IPv4) return -ENOMSG.
 */
int counter_classify(struct counter *c, const uint8_t *frame, size_t len, enum bench_count *cls);

/* Stable lower-case name of @cls ("valid", ...). */
const char *counter_class_name(enum bench_count cls);

#endif
