// SPDX-License-Identifier: MIT
/*
 * XDP_PASS for the server-side veth when a userspace server is measured:
 * frames XDP_TXed into a veth are dropped unless its peer runs NAPI, and an
 * attached XDP program is what reliably turns it on (LAB-NOTES).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
