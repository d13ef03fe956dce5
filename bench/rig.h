/* SPDX-License-Identifier: MIT */
/*
 * Small helpers pinhole-load's modes share: entering the generator's network
 * namespace, reading an interface's MAC, parsing MACs, clocks, CPU pinning,
 * attaching XDP programs, reading a program's kernel run-time statistics, and
 * the option values and CSV files every mode takes.
 */
#ifndef PINHOLE_BENCH_RIG_H
#define PINHOLE_BENCH_RIG_H

#include <stdint.h>
#include <stdio.h>

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

/*
 * Parse a duration in decimal seconds (fractions allowed) in [@min_s, @max_s]
 * into nanoseconds.  Returns 0, or -EINVAL (also when out of range), leaving
 * @ns alone.
 */
int rig_parse_seconds(const char *s, double min_s, double max_s, uint64_t *ns);

/*
 * Parse an IPv4 network "a.b.c.d/len" with len in [@min_len, 30] (@min_len at
 * least 1) into its
 * first usable address (host order) and the number of usable addresses: the
 * network and broadcast addresses are skipped because the stack treats them
 * specially.  Returns 0 or -EINVAL, leaving @base and @count alone.
 */
int rig_parse_ip4_net(const char *s, unsigned int min_len, uint32_t *base, uint32_t *count);

/*
 * Open CSV file @path for appending rows, writing @header and a newline first
 * when the file is empty, so runs appended later share one header.  Returns
 * the stream, or NULL with errno set.
 */
FILE *rig_csv_open(const char *path, const char *header);

#endif
