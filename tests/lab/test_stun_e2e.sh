#!/bin/bash
# SPDX-License-Identifier: MIT
# End to end: a real STUN client (coturn's turnutils_stunclient) and a real
# dissector (tshark) against pinhole-server, first answering from userspace
# only, then with the XDP program answering in the kernel, then across a
# --keep restart.  Usage: bash tests/lab/test_stun_e2e.sh BUILD_DIR (as root,
# from the repo root).  Prints TAP.
#
#   ns srv: srv0 198.18.0.1/24 2001:db8:1::1/64  <-veth->  ns cli: cli0 198.18.0.2/24 2001:db8:1::2/64
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
SRV4=198.18.0.1
SRV6=2001:db8:1::1
CLI4=198.18.0.2
CLI6=2001:db8:1::2
PORT=3478
# Binding requests per family per round (each turnutils_stunclient run in
# plain mode sends exactly one).
REQS=3

lab_init tshark dumpcap jq bpftool turnutils_stunclient timeout realpath
ph_reasons_load "$root/bpf/pinhole_kern_user.h" || bail_out "cannot parse enum ph_xdp_reason"
[[ -x $SERVER ]] || bail_out "$SERVER is not built"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

lab_ns_add srv || bail_out "netns srv"
lab_ns_add cli || bail_out "netns cli"
lab_veth srv srv0 cli cli0 || bail_out "veth"
lab_addr srv srv0 $SRV4/24 && lab_addr srv srv0 $SRV6/64 &&
	lab_addr cli cli0 $CLI4/24 && lab_addr cli cli0 $CLI6/64 || bail_out "addresses"
lab_csum_sw cli cli0 || bail_out "ethtool tx off on cli0"
lab_xdp_pass cli cli0 "$XDP_PASS_OBJ" || bail_out "XDP_PASS program on cli0"

# --- helpers -------------------------------------------------------------------

# start_server LOG ARGS...: start pinhole-server in srv listening on both
# families, wait for "ready" and the bound port.  Sets SERVER_PID.
start_server() {
	local log=$1
	shift
	lab_bg srv "$log" "$SERVER" --listen "$SRV4:$PORT" --listen "[$SRV6]:$PORT" "$@"
	SERVER_PID=$LAB_PID
	LAB_WATCH_PID=$SERVER_PID wait_for_log "$log" 'ready' 60 &&
		wait_for_udp_port srv $PORT 5
}

# stop_server: SIGTERM, return the exit status.
stop_server() {
	lab_stop "$SERVER_PID" TERM 10
}

# stun_query DST EXPECTED_ADDR: one turnutils_stunclient run in plain mode
# (no -f: it sends a single Binding request without CHANGE-REQUEST and stops
# there, because pinhole's answer carries no OTHER-ADDRESS).  Checks the
# reflexive address it prints; appends the printed port to STUN_PORTS.
STUN_PORTS=()
stun_query() {
	local dst=$1 want=$2 out line hostport addr port n
	out=$(lab_in cli timeout 5 turnutils_stunclient -p $PORT "$dst" 2>&1)
	# It prints the same line twice (its log goes to stdout too).
	n=$(grep 'UDP reflexive addr' <<<"$out" | sort -u | wc -l)
	line=$(grep 'UDP reflexive addr' <<<"$out" | tail -1)
	hostport=${line##*reflexive addr}
	hostport=${hostport#*: }
	hostport=${hostport//[[:space:]]/}
	addr=${hostport%:*}
	port=${hostport##*:}
	if ((n == 1)) && [[ $addr == "$want" && $port =~ ^[0-9]+$ ]] && ((port > 0)) &&
		! grep -q 'RFC 5780' <<<"$out"; then
		STUN_PORTS+=("$port")
		return 0
	fi
	echo "turnutils_stunclient $dst: wanted one reflexive address $want:<port>, got:"
	echo "$out"
	return 1
}

# A Binding request header with transaction id 0x7068..NN (NN = $1).
tid() {
	printf '706861626c61620000000a%02x' "$1"
}

# send_crafted TAG DST: the bad and the unusual datagrams; each has its own
# transaction id so the capture can tell their answers apart.
#   bad cookie (PH_DROP_BAD_COOKIE), a 10-byte datagram (PH_DROP_BAD_LENGTH),
#   a Binding request with the comprehension-required attribute 0x7ff0
#   (unassigned; PH_PASS_ATTRIBUTES, userspace answers 420).
send_crafted() {
	local t=$1 dst=$2
	lab_send_udp cli "$dst" $PORT "0001 0000 00000000 $(tid $((t + 1)))" &&
		lab_send_udp cli "$dst" $PORT "0001 0000 2112a442 0001" &&
		lab_send_udp cli "$dst" $PORT "0001 0008 2112a442 $(tid $((t + 3))) 7ff0 0004 deadbeef"
}

# The transaction id of the 420 case, as tshark prints stun.id.
tid_420() {
	tid $(($1 + 3))
}

# The same as a display filter bytes literal (aa:bb:...).
tid_420_filter() {
	tid_420 "$1" | sed 's/../&:/g; s/:$//'
}

# check_pcap ROUND PCAP NSUCC TAG: dissect the round's capture (TAG as given
# to send_crafted).
check_pcap() {
	local r=$1 pcap=$2 nsucc=$3 t=$4 rows n dst4 dst6 dport ip4 ip6 mport types
	local p found want
	n=$(pcap_count "$pcap" "stun.type == 0x0001 && udp.dstport == 3478 && stun.id == $(tid_420_filter "$t")")
	check_eq "$r: capture holds the crafted attribute requests" 2 "$n"
	n=$(pcap_count "$pcap" 'udp.srcport == 3478 && stun.type == 0x0101')
	check_eq "$r: tshark decodes $nsucc Binding success responses" "$nsucc" "$n"
	n=$(pcap_count "$pcap" 'udp.srcport == 3478')
	check_eq "$r: server sent nothing else (no answer to bad cookie / short datagrams)" \
		$((nsucc + 2)) "$n"
	n=$(pcap_count "$pcap" 'udp.srcport == 3478 && (_ws.malformed || _ws.expert.severity >= error)')
	check_eq "$r: no malformed or expert error in any server response" 0 "$n"

	# Every success: XOR-MAPPED-ADDRESS equals the address and port the
	# response goes to, and nothing but XOR-MAPPED-ADDRESS (+FINGERPRINT).
	rows=$(tshark -n -r "$pcap" -Y 'udp.srcport == 3478 && stun.type == 0x0101' -T fields \
		-E separator='|' -e ip.dst -e ipv6.dst -e udp.dstport -e stun.att.ipv4 \
		-e stun.att.ipv6 -e stun.att.port -e stun.att.type 2>/dev/null)
	local bad_rows=""
	while IFS='|' read -r dst4 dst6 dport ip4 ip6 mport types; do
		[[ -z $dport ]] && continue
		if [[ -n $dst4 ]]; then
			[[ $dst4 == "$CLI4" && $ip4 == "$CLI4" ]] || bad_rows+="v4 $dst4 mapped $ip4;"
		else
			[[ $dst6 == "$CLI6" && $ip6 == "$CLI6" ]] || bad_rows+="v6 $dst6 mapped $ip6;"
		fi
		[[ $mport == "$dport" ]] || bad_rows+=" port $dport mapped $mport;"
		[[ $types == 0x0020 || $types == 0x0020,0x8028 ]] ||
			bad_rows+=" attributes $types;"
	done <<<"$rows"
	if [[ -z $bad_rows && -n $rows ]]; then
		ok "$r: every XOR-MAPPED-ADDRESS equals the client's address and port"
	else
		not_ok "$r: every XOR-MAPPED-ADDRESS equals the client's address and port"
		diag "$bad_rows" "$rows"
	fi

	# The ports turnutils_stunclient printed are the ones answered.
	found=0
	for p in "${STUN_PORTS[@]}"; do
		n=$(pcap_count "$pcap" "stun.type == 0x0101 && udp.dstport == $p && stun.att.port == $p")
		((n == 1)) && found=$((found + 1))
	done
	check_eq "$r: each port turnutils_stunclient printed got exactly one response" \
		"${#STUN_PORTS[@]}" "$found"

	# The 420s: class 4 number 20, UNKNOWN-ATTRIBUTES = 0x7ff0, our tid.
	want=$(tid_420 "$t")
	rows=$(tshark -n -r "$pcap" -Y "udp.srcport == 3478 && stun.type == 0x0111" -T fields \
		-E separator='|' -e stun.id -e stun.att.error.class -e stun.att.error \
		-e stun.att.unknown 2>/dev/null)
	n=$(grep -c "^$want|4|20|0x7ff0\$" <<<"$rows")
	if ((n == 2)); then
		ok "$r: 420 Unknown Attribute (UNKNOWN-ATTRIBUTES 0x7ff0) for IPv4 and IPv6"
	else
		not_ok "$r: 420 Unknown Attribute (UNKNOWN-ATTRIBUTES 0x7ff0) for IPv4 and IPv6"
		diag "want 2 rows $want|4|20|0x7ff0, got:" "$rows"
	fi
}

# run_traffic ROUND PCAP TAG: capture, REQS queries per family, crafted
# packets, stop the capture.
run_traffic() {
	local r=$1 pcap=$2 t=$3 i
	STUN_PORTS=()
	lab_capture_start cli cli0 "udp port $PORT" "$pcap" "$LAB_TMP/$r.dumpcap.log" $SRV4 ||
		{ not_ok "$r: capture on cli0"; return 1; }
	for ((i = 0; i < REQS; i++)); do
		check "$r: IPv4 reflexive address is $CLI4 (query $((i + 1)))" stun_query $SRV4 $CLI4
		check "$r: IPv6 reflexive address is $CLI6 (query $((i + 1)))" stun_query $SRV6 $CLI6
	done
	check "$r: crafted datagrams sent over IPv4" send_crafted "$t" $SRV4
	check "$r: crafted datagrams sent over IPv6" send_crafted "$t" $SRV6
	check "$r: capture stopped with every packet written" lab_capture_stop
}

server_log_on_failure() {
	local before=$1 log=$2
	if (($(tap_failed) > before)); then
		diag "--- $log (last 40 lines) ---"
		tail -40 "$log" | diag
	fi
}

# --- round 1: userspace only ----------------------------------------------------

r=userspace
f0=$(tap_failed)
lab_pin_dir
PIN1=$LAB_PIN
log=$LAB_TMP/server-$r.log
if check "$r: pinhole-server ready (no --xdp)" start_server "$log" --pin-dir "$PIN1"; then
	run_traffic $r "$LAB_TMP/$r.pcap" 16
	check_pcap $r "$LAB_TMP/$r.pcap" $((2 * REQS)) 16
	stop_server
	check_eq "$r: server exits 0 on SIGTERM" 0 $?
	# Its exit summary: every request reached userspace.
	check "$r: server log: answered=$((2 * REQS)) error-reply=2 dropped=4" \
		grep -Eq "answered=$((2 * REQS)) error-reply=2 .*dropped=4 " "$log"
	check "$r: no pin dir left behind" test ! -e "$PIN1"
	check "$r: no XDP program on srv0" bash -c "! ip -n $(lab_ns_name srv) -d link show dev srv0 | grep -q prog/xdp"
fi
server_log_on_failure "$f0" "$log"

# --- round 2: XDP answers --------------------------------------------------------

r=xdp
f0=$(tap_failed)
lab_pin_dir
PIN2=$LAB_PIN
log=$LAB_TMP/server-$r.log
if check "$r: pinhole-server ready (--xdp srv0)" start_server "$log" --xdp srv0 --pin-dir "$PIN2"; then
	check "$r: program attached to srv0 (ip link)" ph_xdp_attached srv srv0
	check "$r: server reports native mode" grep -q 'in native mode' "$log"
	check "$r: stats and listeners pinned in $PIN2" test -e "$PIN2/stats" -a -e "$PIN2/listeners"
	before=$(ph_stats_json "$PIN2" 2>/dev/null)
	run_traffic $r "$LAB_TMP/$r.pcap" 32
	after=$(ph_stats_json "$PIN2" 2>/dev/null)
	check_pcap $r "$LAB_TMP/$r.pcap" $((2 * REQS)) 32
	delta() {
		local a b
		a=$(ph_stat "$after" "$1")
		b=$(ph_stat "$before" "$1")
		if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
			echo $((a - b))
		else
			echo "unreadable stats map"
		fi
	}
	check_eq "$r: tx_binding counts the $((2 * REQS)) Binding requests" $((2 * REQS)) "$(delta PH_TX_BINDING)"
	check_eq "$r: drop_bad_cookie counts 2" 2 "$(delta PH_DROP_BAD_COOKIE)"
	check_eq "$r: drop_bad_length counts 2 (10-byte datagrams)" 2 "$(delta PH_DROP_BAD_LENGTH)"
	check_eq "$r: pass_attributes counts 2 (the 420 cases)" 2 "$(delta PH_PASS_ATTRIBUTES)"
	check_eq "$r: pass_bad_csum stays 0 (lab sends complete checksums)" 0 "$(delta PH_PASS_BAD_CSUM)"
	check_eq "$r: drop_not_stun stays 0" 0 "$(delta PH_DROP_NOT_STUN)"
	stop_server
	check_eq "$r: server exits 0 on SIGTERM" 0 $?
	# Only the two 420 cases reached userspace; XDP answered or dropped the rest.
	check "$r: server log: answered=0 error-reply=2 dropped=0" \
		grep -Eq "answered=0 error-reply=2 .*dropped=0 " "$log"
	check "$r: fresh attach, nothing adopted" bash -c "! grep -qi adopted '$log'"
	check "$r: pin dir removed on exit without --keep" test ! -e "$PIN2"
	check "$r: program detached from srv0 on exit" bash -c "! ip -n $(lab_ns_name srv) -d link show dev srv0 | grep -q prog/xdp"
fi
server_log_on_failure "$f0" "$log"

# --- round 3: --keep, the kernel answers alone, a restart adopts ---------------------

r=keep
f0=$(tap_failed)
lab_pin_dir
PIN3=$LAB_PIN
log=$LAB_TMP/server-$r-1.log
log2=$LAB_TMP/server-$r-2.log
tx() {
	local j
	j=$(ph_stats_json "$PIN3" 2>/dev/null) && ph_stat "$j" PH_TX_BINDING || echo "unreadable stats map"
}
if check "$r: pinhole-server ready (--xdp --keep)" start_server "$log" --xdp srv0 --pin-dir "$PIN3" --keep; then
	check "$r: first query answered" stun_query $SRV4 $CLI4
	stop_server
	check_eq "$r: server exits 0 on SIGTERM" 0 $?
	check "$r: program still attached (ip link)" ph_xdp_attached srv srv0
	check "$r: program still attached (bpftool net)" bash -c \
		"nsenter --net=/run/netns/$(lab_ns_name srv) bpftool net show dev srv0 | grep -A2 '^xdp:' | grep -q srv0"
	check "$r: maps still pinned" test -e "$PIN3/stats" -a -e "$PIN3/listeners"
	c1=$(tx)
	check_eq "$r: tx_binding is 1 after one query" 1 "$c1"
	check "$r: with no server running, the kernel still answers" stun_query $SRV4 $CLI4
	check_eq "$r: that answer came from XDP (tx_binding $c1 -> $((c1 + 1)))" $((c1 + 1)) "$(tx)"
	if check "$r: restarted server ready on the same pin dir" start_server "$log2" --xdp srv0 --pin-dir "$PIN3"; then
		check "$r: restart adopted the pinned program (log)" grep -q 'adopted the pinned program' "$log2"
		check "$r: query after restart answered" stun_query $SRV6 $CLI6
		check_eq "$r: counters continue across the restart" $((c1 + 2)) "$(tx)"
		stop_server
		check_eq "$r: restarted server exits 0 on SIGTERM" 0 $?
		check "$r: pin dir removed" test ! -e "$PIN3"
		check "$r: program detached" bash -c "! ip -n $(lab_ns_name srv) -d link show dev srv0 | grep -q prog/xdp"
	fi
	server_log_on_failure "$f0" "$log2"
fi
server_log_on_failure "$f0" "$log"

tap_summary
