// SPDX-License-Identifier: MIT
/*
 * Lab helper: an XDP program that passes every frame.  Attached to the
 * client-side veth so the kernel runs NAPI on it; without a program there,
 * frames the server's XDP program sends back with XDP_TX are silently
 * dropped by the veth (see LAB-NOTES.md), and the lab would blame pinhole.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
