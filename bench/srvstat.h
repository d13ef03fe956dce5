/* SPDX-License-Identifier: MIT */
/*
 * What pinhole-load reads about the server it loads, from outside: its
 * Prometheus metrics (plain HTTP GET), its CPU time (/proc/PID/stat), the
 * kernel memory of its BPF maps (fdinfo memlock of every map its pinned
 * program uses) and its pinned "sessions" map.
 */
#ifndef PINHOLE_BENCH_SRVSTAT_H
#define PINHOLE_BENCH_SRVSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/bench_kern_user.h"

/* The series pinhole-load reports; a field is NAN when the server does not export it. */
struct srvstat_metrics {
	double sessions_online;
	double logins_ok;
	double ka_kernel; /* pinhole_keepalives_answered_total{path="kernel"} */
	double ka_user;	  /* ... {path="userspace"} */
	double ka_rejected_unknown;
	double udp_rx;	      /* pinhole_udp_received_packets_total */
	double sweep_seconds; /* pinhole_session_sweep_seconds */
	double sweep_entries;
	double xdp_tx_keepalive; /* pinhole_xdp_packets_total{reason="tx_keepalive"} */
};

/*
 * GET http://@hostport/metrics (IPv4 "a.b.c.d:port") and fill @m.  Waits
 * at most 5 s.  0, or a negative errno (-ECONNREFUSED, -ETIMEDOUT, -EPROTO
 * for a non-200 answer).
 */
int srvstat_metrics(const char *hostport, struct srvstat_metrics *m);

/* User and system CPU seconds process @pid has used.  0 or a negative errno. */
int srvstat_cpu(int pid, double *user_s, double *sys_s);

struct srvstat_mem {
	uint64_t total; /* memlock of every map, bytes */
	unsigned int maps;
	uint64_t sessions;     /* of which the "sessions" map */
	uint32_t sessions_max; /* its max_entries */
};

/*
 * Kernel memory of the maps under bpffs directory @pin_dir: every pinned map
 * and every map of a pinned program or of the program behind a pinned
 * link, each counted once.  0, or -ENOENT (nothing pinned there).
 */
int srvstat_map_memory(const char *pin_dir, struct srvstat_mem *out);

/* Id of the XDP program pinned as "prog" (or behind the "link") in @pin_dir; 0 if none. */
uint32_t srvstat_prog_id(const char *pin_dir);

/*
 * Check that each endpoint in @table[0..n) with a session (id != 0) still
 * holds it in the pinned "sessions" map under @pin_dir: the slot id &
 * PH_SESSION_SLOT_MASK contains exactly that id.  *missing counts those that
 * do not, *checked those looked at.  -ENOENT when there is no such map.
 */
int srvstat_sessions_check(const char *pin_dir, const struct bench_ka_entry *table, uint32_t n,
			   uint64_t *checked, uint64_t *missing);

#endif
