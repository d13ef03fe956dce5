#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo`: pinhole answering STUN in the kernel, shown step by step on a
# two-namespace lab.  Usage: bash tests/lab/demo.sh BUILD_DIR (as root).
# Exits non-zero as soon as a step does not do what it says; everything it
# created (namespaces, XDP attachments, pins) is removed either way.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o

say() {
	printf '[%s] %s\n' "$(date +%H:%M:%S.%3N)" "$*"
}

show() {
	sed 's/^/             /'
}

fail() {
	say "FAILED: $*"
	if [[ -n ${log:-} && -f $log ]]; then
		say "server log:"
		tail -20 "$log" | show
	fi
	exit 1
}

# query DST: run turnutils_stunclient once (plain mode: one Binding request)
# and print the reflexive address it learnt.
query() {
	local out addr
	out=$(lab_in cli timeout 5 turnutils_stunclient "$1" 2>&1)
	addr=$(grep -m1 'UDP reflexive addr' <<<"$out" | sed 's/.*reflexive addr: *//')
	[[ -n $addr ]] || { echo "$out" | show; return 1; }
	echo "$addr"
}

lab_init dumpcap tshark jq bpftool turnutils_stunclient timeout realpath
ph_reasons_load "$root/bpf/pinhole_kern_user.h" || fail "cannot read enum ph_xdp_reason"
[[ -x $SERVER ]] || fail "$SERVER is not built (run make)"
[[ -f $XDP_PASS_OBJ ]] || fail "$XDP_PASS_OBJ is not built (run make)"

say "Building the lab: two network namespaces joined by a veth pair"
lab_ns_add srv && lab_ns_add cli && lab_veth srv srv0 cli cli0 &&
	lab_addr srv srv0 198.18.0.1/24 && lab_addr srv srv0 2001:db8:1::1/64 &&
	lab_addr cli cli0 198.18.0.2/24 && lab_addr cli cli0 2001:db8:1::2/64 ||
	fail "lab setup"
# See lib.sh: the client side needs full software checksums and an XDP
# program of its own for the server's XDP_TX answers to arrive.
lab_csum_sw cli cli0 && lab_xdp_pass cli cli0 "$XDP_PASS_OBJ" || fail "client veth setup"
{
	echo "server  $(lab_ns_name srv)  srv0  198.18.0.1  2001:db8:1::1"
	echo "client  $(lab_ns_name cli)  cli0  198.18.0.2  2001:db8:1::2"
} | show

lab_pin_dir
PIN=$LAB_PIN
log=$LAB_TMP/server.log
say "Starting pinhole-server with its XDP program on srv0 (maps pinned in $PIN)"
lab_bg srv "$log" "$SERVER" --listen 198.18.0.1:3478 --listen '[2001:db8:1::1]:3478' \
	--xdp srv0 --pin-dir "$PIN"
SERVER_PID=$LAB_PID
LAB_WATCH_PID=$SERVER_PID wait_for_log "$log" ready 60 || fail "server did not get ready"
grep -E 'ready|xdp:' "$log" | show
ph_xdp_attached srv srv0 || fail "no XDP program on srv0"
lab_ip srv -d link show dev srv0 | grep -o 'prog/xdp.*' | show

say "Client asks over IPv4: turnutils_stunclient 198.18.0.1"
a=$(query 198.18.0.1) || fail "no answer over IPv4"
echo "reflexive address: $a" | show
[[ $a == 198.18.0.2:* ]] || fail "expected 198.18.0.2:<port>"

say "Client asks over IPv6: turnutils_stunclient 2001:db8:1::1"
a=$(query 2001:db8:1::1) || fail "no answer over IPv6"
echo "reflexive address: $a" | show
[[ $a == 2001:db8:1::2:* ]] || fail "expected 2001:db8:1::2:<port>"

say "Who answered? The kernel counters (bpftool reads the field names from BTF):"
echo "\$ bpftool -j map dump pinned $PIN/stats | jq -c '.[0].formatted'" | show
echo "  (entry 0 = tx_binding; one value per CPU)" | show
bpftool -j map dump pinned "$PIN/stats" | jq -c '.[0].formatted' | show
echo "all non-zero counters, names from bpf/pinhole_kern_user.h:" | show
ph_stats_table "$PIN" | show
j=$(ph_stats_json "$PIN") || fail "cannot read $PIN/stats"
tx=$(ph_stat "$j" PH_TX_BINDING)
((tx == 2)) || fail "tx_binding is $tx, expected 2"
say "tx_binding = 2: both Binding requests were answered by XDP, userspace never saw them"

say "A request the kernel passes up: a Binding request carrying the unknown"
say "comprehension-required attribute 0x7ff0 (userspace must answer 420)"
pcap=$LAB_TMP/demo.pcap
lab_capture_start cli cli0 'udp port 3478' "$pcap" "$LAB_TMP/dumpcap.log" 198.18.0.1 ||
	fail "capture"
lab_send_udp cli 198.18.0.1 3478 "0001 0008 2112a442 64656d6f64656d6f64656d6f 7ff0 0004 deadbeef" ||
	fail "send"
lab_capture_stop || fail "capture stop"
tshark -n -r "$pcap" -Y 'stun' 2>/dev/null | sed 's/^ *[0-9]* *[0-9.]* *//' | show
row=$(tshark -n -r "$pcap" -Y 'udp.srcport == 3478 && stun.type == 0x0111' -T fields \
	-E separator=' ' -e stun.att.error.class -e stun.att.error -e stun.att.unknown 2>/dev/null)
[[ $row == "4 20 0x7ff0" ]] || fail "expected a 420 listing 0x7ff0, tshark saw: '$row'"
j=$(ph_stats_json "$PIN") || fail "cannot read $PIN/stats"
pa=$(ph_stat "$j" PH_PASS_ATTRIBUTES)
((pa == 1)) || fail "pass_attributes is $pa, expected 1"
say "pass_attributes = 1: XDP passed it up, userspace answered 420 Unknown Attribute"

say "Stopping the server (SIGTERM)"
lab_stop "$SERVER_PID" TERM 10
rc=$?
((rc == 0)) || fail "server exited with $rc"
ph_xdp_attached srv srv0 && fail "XDP program still attached to srv0"
[[ -e $PIN ]] && fail "$PIN still exists"
say "Server exited 0, detached its program and removed $PIN"
say "Its own summary of what reached userspace (the two Binding requests did not):"
grep -E 'userspace: answered=' "$log" | show
grep -Eq 'userspace: answered=0 error-reply=1 ' "$log" || fail "userspace summary is not answered=0 error-reply=1"
say "Cleaning up the lab"
exit 0
