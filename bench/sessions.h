/* SPDX-License-Identifier: MIT */
/*
 * pinhole-load sessions: N endpoints at carrier scale against a running
 * pinhole-server.  Creates their accounts in the store, logs them in over
 * the access protocol (bench/logins.h), then sends every endpoint's
 * keepalive once per interval from the in-kernel generator (bench/ka.bpf.c)
 * and counts the answers in XDP; reports logins/s, keepalives answered/s,
 * sessions lost, server CPU, map memory per endpoint, userspace wake-ups
 * per keepalive and the sweep time.
 */
#ifndef PINHOLE_BENCH_SESSIONS_H
#define PINHOLE_BENCH_SESSIONS_H

/* Mode entry point: 0 done (no session lost), 3 sessions were lost, 1 failure, 2 usage. */
int sessions_main(int argc, char **argv);

#endif
