// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "rig.h"

uint64_t rig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int rig_netns_enter(const char *name)
{
	char path[PATH_MAX];
	int fd, err = 0;

	/* A name with a slash would escape /run/netns. */
	if (!*name || strchr(name, '/'))
		return -EINVAL;
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

int rig_mac_parse(const char *s, uint8_t mac[RIG_MAC_LEN])
{
	unsigned int b[RIG_MAC_LEN];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != RIG_MAC_LEN)
		return -EINVAL;
	for (int i = 0; i < RIG_MAC_LEN; i++)
		mac[i] = b[i];
	return 0;
}

void rig_mac_format(const uint8_t mac[RIG_MAC_LEN], char buf[RIG_MAC_STRLEN])
{
	snprintf(buf, RIG_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

int rig_if_mac(const char *ifname, uint8_t mac[RIG_MAC_LEN])
{
	struct ifreq ifr = {};
	int fd, err = 0;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, RIG_MAC_LEN);
	close(fd);
	return err;
}

int rig_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* pthread_* return the error number instead of setting errno. */
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int rig_prog_stats(uint32_t prog_id, uint64_t *run_time_ns, uint64_t *run_cnt)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd, err = 0;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
	} else {
		*run_time_ns = info.run_time_ns;
		*run_cnt = info.run_cnt;
	}
	close(fd);
	return err;
}

int rig_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	if (end == s)
		return -EINVAL;
	if (*end == 'k')
		mul = 1000, end++;
	else if (*end == 'M')
		mul = 1000000, end++;
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	v *= mul;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int rig_parse_seconds(const char *s, double min_s, double max_s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails the range test too. */
	if (errno || end == s || *end || !(v >= min_s && v <= max_s))
		return -EINVAL;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

int rig_parse_ip4_net(const char *s, unsigned int min_len, uint32_t *base, uint32_t *count)
{
	char buf[32], *slash;
	struct in_addr a;
	uint64_t len;
	uint32_t mask;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	/* At most /30, so at least two usable addresses remain. */
	if (inet_pton(AF_INET, buf, &a) != 1 || rig_parse_u64(slash + 1, min_len, 30, &len))
		return -EINVAL;
	mask = ~0u << (32 - len);
	*base = (ntohl(a.s_addr) & mask) + 1;
	*count = ~mask - 1;
	return 0;
}

FILE *rig_csv_open(const char *path, const char *header)
{
	struct stat st;
	FILE *f;

	f = fopen(path, "a");
	if (!f)
		return NULL;
	if (!fstat(fileno(f), &st) && st.st_size == 0)
		fprintf(f, "%s\n", header);
	return f;
}
