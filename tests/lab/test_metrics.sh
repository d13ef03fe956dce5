#!/bin/bash
# SPDX-License-Identifier: MIT
# pinhole-server --metrics in the NAT lab: the server runs with the XDP
# program on its interface and a store; two endpoints (one behind a NAT
# with address-and-port-dependent filtering, so a punch is needed) log in,
# exchange messages and log out, and coturn's turnutils_stunclient sends
# Binding requests the kernel answers.  curl scrapes /metrics before,
# during and after, and the values must follow the traffic: logins ok
# 0 -> 2, sessions online 0 -> 2 -> 0, punches sent and acknowledged,
# kernel tx_binding up by the requests sent, store calls timed.  Every
# scrape passes `promtool check metrics`.  A taken --metrics port must end
# the start with one error line and a non-zero exit.
# Usage: bash tests/lab/test_metrics.sh BUILD_DIR (root, repo root).
#
#   srv 198.18.0.1:3478 (+ 198.18.0.3:3479), metrics on 127.0.0.1:9478 in srv
#    |  internet 198.18.0.0/24
#   open (none) . apdf (eim-apdf)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"
# Our own names, so a parallel run of another lab test never collides.
LAB_PREFIX="phlab-met-$$-"
LAB_PIN_PREFIX="/sys/fs/bpf/ph-met-$$"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
METRICS=127.0.0.1:9478
STUN_REQS=5

lab_init nft conntrack curl promtool turnutils_stunclient timeout realpath
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
nat_site_add open none && nat_site_add apdf eim-apdf || bail_out "sites"

DB=$LAB_TMP/pinhole.db
acc_user_add "$DB" alice "pw-alice-$$" && acc_user_add "$DB" bob "pw-bob-$$" &&
	acc_allow "$DB" alice bob || bail_out "users"

# scrape N: GET /metrics from inside the server's namespace into
# $LAB_TMP/scrape-N.txt (headers in .hdr).
scrape() {
	srv_exec curl -sS --max-time 5 -D "$LAB_TMP/scrape-$1.hdr" -o "$LAB_TMP/scrape-$1.txt" \
		"http://$METRICS/metrics"
}

# metric N SERIES: the value of SERIES (name{labels} exactly as exposed) in
# scrape N; empty if absent.
metric() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$LAB_TMP/scrape-$1.txt"
}

# promcheck N: promtool's verdict on scrape N (lint included).
promcheck() {
	promtool check metrics <"$LAB_TMP/scrape-$1.txt"
}

# scrape_until N SECONDS SERIES OP VALUE: scrape into N until SERIES OP
# VALUE holds (OP: -eq, -ge, ...); the loops publish every 250 ms.
_cmp() {
	case $1 in
	-eq) (($2 == $3)) ;;
	-ge) (($2 >= $3)) ;;
	-gt) (($2 > $3)) ;;
	esac
}
scrape_until() {
	local n=$1 t=$2 series=$3 op=$4 want=$5 v deadline=$((SECONDS + $2))
	while :; do
		if scrape "$n"; then
			v=$(metric "$n" "$series")
			[[ -n $v ]] && _cmp "$op" "${v%.*}" "$want" && return 0
		fi
		if ((SECONDS >= deadline)); then
			echo "after ${t}s: $series = '${v:-absent}', wanted $op $want" >&2
			return 1
		fi
		sleep 0.1
	done
}

# check_metric DESC N SERIES OP VALUE: one TAP line on scrape N.
check_metric() {
	local v
	v=$(metric "$2" "$3")
	if [[ -n $v ]] && _cmp "$4" "${v%.*}" "$5"; then
		ok "$1 ($3 = $v)"
	else
		not_ok "$1"
		diag "$3 = '${v:-absent}', wanted $4 $5"
	fi
}

lab_pin_dir
acc_server_start m "$DB" --xdp srv0 --pin-dir "$LAB_PIN" --metrics "$METRICS" --keepalive 5 || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server with --metrics did not start"
}
ok "pinhole-server ready with --xdp srv0 and --metrics $METRICS"
check "the log names the metrics URL" grep -q "metrics served url=http://$METRICS/metrics" "$ACC_SRV_LOG"

# --- before any traffic --------------------------------------------------------
check "scrape 0: GET /metrics answers" scrape 0
check "scrape 0: Content-Type is the text exposition 0.0.4" \
	grep -qi '^content-type: text/plain; version=0.0.4' "$LAB_TMP/scrape-0.hdr"
check "scrape 0: promtool check metrics passes" promcheck 0
check_metric "scrape 0: no login yet" 0 'pinhole_logins_total{outcome="ok"}' -eq 0
check_metric "scrape 0: no session online" 0 pinhole_sessions_online -eq 0
check_metric "scrape 0: XDP on" 0 pinhole_xdp_enabled -eq 1
check_metric "scrape 0: access protocol on" 0 pinhole_access_enabled -eq 1
check "scrape 0: build info names version, libbpf, liburing and libmicrohttpd" grep -Eq \
	'^pinhole_build_info\{version="[^"]+",libbpf="[0-9]+\.[0-9]+[^"]*",liburing="[0-9]+\.[0-9]+[^"]*",libmicrohttpd="[0-9.]+"\} 1$' \
	"$LAB_TMP/scrape-0.txt"
check "scrape 0: every kernel verdict reason is a label of pinhole_xdp_packets_total" \
	test "$(grep -c '^pinhole_xdp_packets_total{reason="' "$LAB_TMP/scrape-0.txt")" -ge 16

# --- two endpoints log in and talk -------------------------------------------------
acc_ep_start alice open alice
acc_ep_wait alice ' logged in session=' 15 || diag <"${ACC_EP_LOG[alice]}"
acc_ep_start bob apdf bob
acc_ep_wait bob ' logged in session=' 15 || diag <"${ACC_EP_LOG[bob]}"
if acc_ep_wait alice ' (session with bob established|online: bob verified)' 10 &&
	acc_ep_wait bob ' (session with alice established|online: alice verified)' 10; then
	ok "alice and bob hold a direct session"
else
	not_ok "alice and bob hold a direct session"
	diag <"${ACC_EP_LOG[alice]}"
	diag <"${ACC_EP_LOG[bob]}"
fi
acc_ep_cmd alice "@bob metrics-hello-from-alice"
acc_ep_cmd bob "@alice metrics-hello-from-bob"
check "bob got alice's message" acc_ep_wait bob ' message from alice: metrics-hello-from-alice$' 5
check "alice got bob's message" acc_ep_wait alice ' message from bob: metrics-hello-from-bob$' 5

check "scrape 1: logins ok reaches 2" scrape_until 1 5 'pinhole_logins_total{outcome="ok"}' -eq 2
check_metric "scrape 1: two sessions online" 1 pinhole_sessions_online -eq 2
check_metric "scrape 1: a punch was sent" 1 pinhole_punches_sent_total -ge 1
check "scrape 1b: the punch was acknowledged" scrape_until 1 5 pinhole_punches_acked_total -ge 1
check_metric "scrape 1: account look-ups timed (one per login at least)" 1 \
	'pinhole_store_call_duration_seconds_count{op="user_get"}' -ge 2
check_metric "scrape 1: session records timed" 1 \
	'pinhole_store_call_duration_seconds_count{op="session_put"}' -eq 2
check_metric "scrape 1: the histogram's +Inf bucket equals its count" 1 \
	'pinhole_store_call_duration_seconds_bucket{op="session_put",le="+Inf"}' -eq 2
check_metric "scrape 1: login challenges counted" 1 'pinhole_logins_total{outcome="challenge"}' -ge 2
check_metric "scrape 1: userspace received the access traffic" 1 pinhole_udp_received_packets_total -ge 6
check "scrape 1: promtool check metrics passes" promcheck 1

# --- Binding requests the kernel answers ---------------------------------------------
# The endpoints' own discovery requests were answered in the kernel too: count from here.
tx0=$(metric 1 'pinhole_xdp_packets_total{reason="tx_binding"}')
tx0=${tx0:-0}
for ((i = 1; i <= STUN_REQS; i++)); do
	site_exec open timeout 5 turnutils_stunclient -p "$ACC_PORT" "$NAT_SRV_IP" >>"$LAB_TMP/stunclient.txt" 2>&1
done
check "turnutils_stunclient got its reflexive address" grep -q 'UDP reflexive addr' "$LAB_TMP/stunclient.txt"
check "scrape 2: kernel tx_binding grows by the $STUN_REQS requests (was $tx0)" \
	scrape_until 2 5 'pinhole_xdp_packets_total{reason="tx_binding"}' -ge $((tx0 + STUN_REQS))
check_metric "scrape 2: binding answered in the kernel agrees" 2 \
	'pinhole_binding_answered_total{path="kernel"}' -ge $((tx0 + STUN_REQS))
check "scrape 2: promtool check metrics passes" promcheck 2

# --- logout ----------------------------------------------------------------------------
acc_ep_quit alice >/dev/null
acc_ep_quit bob >/dev/null
check "scrape 3: sessions online back to 0 after both log out" \
	scrape_until 3 10 pinhole_sessions_online -eq 0
check_metric "scrape 3: two logouts" 3 'pinhole_sessions_ended_total{reason="logout"}' -eq 2
check_metric "scrape 3: logins ok stays 2 (a counter)" 3 'pinhole_logins_total{outcome="ok"}' -eq 2
check_metric "scrape 3: session removals timed" 3 \
	'pinhole_store_call_duration_seconds_count{op="session_del"}' -ge 2
check "scrape 3: promtool check metrics passes" promcheck 3
# Report (not a test): mean store-call time per op over this run.
for op in user_get contact_list session_put session_del; do
	c=$(metric 3 "pinhole_store_call_duration_seconds_count{op=\"$op\"}")
	t=$(metric 3 "pinhole_store_call_duration_seconds_sum{op=\"$op\"}")
	((${c:-0} > 0)) && diag "store $op: $c calls, mean $(awk -v t="$t" -v c="$c" 'BEGIN { printf "%.1f", t / c * 1e6 }') us"
done

# --- HTTP edges ------------------------------------------------------------------------------
code=$(srv_exec curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/nope")
check_eq "GET /nope: 404" 404 "$code"
code=$(srv_exec curl -s -o /dev/null -w '%{http_code}' -X POST "http://$METRICS/metrics")
check_eq "POST /metrics: 405" 405 "$code"

# --- a taken port: one clear line, non-zero exit ---------------------------------------------
srv_exec "$ACC_SERVER" --stun-only --listen "$NAT_SRV_IP:3490" --metrics "$METRICS" \
	>"$LAB_TMP/taken.log" 2>&1
rc=$?
check "a second server on the same --metrics port exits non-zero (got $rc)" test "$rc" -ne 0
check_eq "... with exactly one line" 1 "$(wc -l <"$LAB_TMP/taken.log")"
check "... naming the address and the reason" \
	grep -Eq " error +metrics: cannot listen on $METRICS \(tcp\): Address already in use$" \
	"$LAB_TMP/taken.log"
diag <"$LAB_TMP/taken.log"
srv_exec "$ACC_SERVER" --stun-only --metrics 127.0.0.1 >"$LAB_TMP/noport.log" 2>&1
rc=$?
check_eq "--metrics without a port: usage error (exit 2)" 2 "$rc"
check "... saying what it expects" grep -q "metrics '127.0.0.1': expected IP:PORT" "$LAB_TMP/noport.log"

# --- the server itself ---------------------------------------------------------------------------
lab_stop "$ACC_SRV_PID" TERM 10
check_eq "pinhole-server exits 0 on SIGTERM with --metrics" 0 "$?"
check "the metrics port is closed after exit" \
	bash -c "! nsenter --net=/run/netns/$(lab_ns_name "$NAT_SRV_NS") curl -s --max-time 2 http://$METRICS/metrics"
tap_summary
