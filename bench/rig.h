/* SPDX-License-Identifier: MIT */
/*
 * Small helpers pinhole-load's modes share: entering the generator's network
 * namespace, reading an interface's MAC, parsing MACs, clocks, CPU pinning,
 * attaching XDP programs, and reading a program's kernel run-time statistics.
 */
#ifndef PINHOLE_BENCH_RIG_H
#define PINHOLE_BENCH_RIG_H

#include <stdint.h>

#define RIG_MAC_LEN	6
#define RIG_MAC_STRLEN	18	/* "aa:bb:cc:dd:ee:ff" and NUL */

/* Monotonic clock in nanoseconds. */
uint64_t rig_now_ns(void);

/*
 * Move the calling thread (call it before creating threads) into the network
 * namespace bound at /run/netns/@name, as `ip netns exec` would, but without
 * remounting /sys, so bpffs pins stay visible.  Returns 0 or a negative errno.
 */
int rig_netns_enter(const char *name);

/* Parse "aa:bb:cc:dd:ee:ff" into @mac.  Returns 0 or -EINVAL. */
int rig_mac_parse(const char *s, uint8_t mac[RIG_MAC_LEN]);
/* Format @mac into @buf (RIG_MAC_STRLEN bytes). */
void rig_mac_format(const uint8_t mac[RIG_MAC_LEN], char buf[RIG_MAC_STRLEN]);

/* Hardware address of interface @ifname in the current namespace; 0 or negative errno. */
int rig_if_mac(const char *ifname, uint8_t mac[RIG_MAC_LEN]);

/* Pin the calling thread to @cpu.  Returns 0 or a negative errno. */
int rig_pin_cpu(int cpu);

/*
 * Kernel statistics of BPF program @prog_id: total run time in ns and run
 * count, as kept while sysctl kernel.bpf_stats_enabled is 1 (both stay 0
 * otherwise).  Returns 0, or a negative errno (-ENOENT: no such program).
 */
int rig_prog_stats(uint32_t prog_id, uint64_t *run_time_ns, uint64_t *run_cnt);

/*
 * Parse a decimal unsigned integer in [@min, @max] (suffixes k and M multiply
 * by 10^3 and 10^6).  Returns 0, or -EINVAL / -ERANGE, leaving @out alone.
 */
int rig_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
