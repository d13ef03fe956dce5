#!/bin/bash
# SPDX-License-Identifier: MIT
# pinhole-load sessions at small scale, as a test: 2000 endpoints with
# distinct source addresses log in to pinhole-server --xdp over the real
# access protocol (Binding, LOGIN 401, LOGIN, FETCH of every page with 50
# contacts each), then keep their sessions with keepalives every 2 s for 8 s
# from the in-kernel generator.  Asserts: every endpoint logged in with a
# full profile, no session lost (no 401, every session still in the pinned
# "sessions" map when the server has one, pinhole_sessions_online), the
# keepalives sent were answered, and the kernel's tx_keepalive counter grew
# by the answers (when the XDP program has the sessions path).
# Part 2: the same under a server restart: the server (started with --keep
# and a --pin-dir) is stopped mid-run and started again with the same pin
# dir and store; no session may be lost across it.
# Usage: bash tests/lab/test_load.sh BUILD_DIR (root, repo root).
#
#   ns gen: g0 198.18.0.2, endpoints 198.18.128.0/17 (local route on lo)
#       |  veth
#   ns srv: s0 198.18.0.1:3478 pinhole-server --xdp s0, metrics :9479
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
LAB_PREFIX="phlab-load-$$-"
LAB_PIN_PREFIX="/sys/fs/bpf/ph-load-$$"

SERVER=$build/pinhole-server
LOAD=$build/pinhole-load
SRV_IP=198.18.0.1
GEN_IP=198.18.0.2
SRC_NET=198.18.128.0/17
PORT=3478
METRICS=$SRV_IP:9479
N=${LOAD_TEST_ENDPOINTS:-2000}
KA=2
DUR=8
RESTART_DUR=14

lab_init bpftool jq realpath timeout
for f in "$SERVER" "$LOAD"; do
	[[ -x $f ]] || bail_out "$f is not built (make BUILD=$build all)"
done

# --- topology ------------------------------------------------------------------
{ lab_ns_add gen && lab_ns_add srv; } || bail_out "namespaces"
lab_veth gen g0 srv s0 || bail_out "veth"
{ lab_addr gen g0 "$GEN_IP/24" && lab_addr srv s0 "$SRV_IP/24"; } || bail_out "addresses"
G0_MAC=$(lab_ip gen -br link show dev g0 | awk '{print $3}')
S0_MAC=$(lab_ip srv -br link show dev s0 | awk '{print $3}')
# Every endpoint address is local in gen (one socket per port receives for all of
# them); srv routes them back to gen.  Permanent neighbours: no ARP for 32766 sources.
lab_ip gen route add local "$SRC_NET" dev lo || bail_out "local route"
lab_ip gen neigh replace "$SRV_IP" lladdr "$S0_MAC" dev g0 nud permanent
lab_ip srv neigh replace "$GEN_IP" lladdr "$G0_MAC" dev s0 nud permanent
lab_ip srv route add "$SRC_NET" via "$GEN_IP" dev s0 || bail_out "route to the endpoints"
lab_in srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
lab_in gen sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.g0.rp_filter=0
# Complete UDP checksums on locally sent datagrams (lib.sh: lab_csum_sw).
{ lab_csum_sw srv s0 && lab_csum_sw gen g0; } || bail_out "checksum offload off"

DB=$LAB_TMP/pinhole.db
lab_pin_dir
PIN=$LAB_PIN

# start_server ID: pinhole-server with XDP on s0, --keep, our pin dir; waits for "ready".
start_server() {
	SLOG=$LAB_TMP/server-$1.log
	lab_bg srv "$SLOG" "$SERVER" --listen "$SRV_IP:$PORT" --db "$DB" --xdp s0 --keep \
		--pin-dir "$PIN" --keepalive "$KA" --max-sessions 16384 --metrics "$METRICS"
	SRV_PID=$LAB_PID
	LAB_WATCH_PID=$SRV_PID wait_for_log "$SLOG" ' ready' 15
}

# col CSV NAME: column NAME of the last row of CSV.
col() {
	awk -F, -v n="$2" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ v = $(c[n]) } END { print v }' "$1"
}

# tx_keepalive packets in the pinned stats map (0 when the program has no such reason).
tx_keepalive() {
	bpftool -j map dump pinned "$PIN/stats" 2>/dev/null | jq '
		[.[] | select(.formatted.key == (env.R | tonumber)) | .formatted.values[].value.packets]
		| add // 0' 2>/dev/null || echo 0
}
# Index of PH_TX_KEEPALIVE in enum ph_xdp_reason: its position among the entries.
R=$(awk '/^enum ph_xdp_reason/ { on = 1; n = 0; next } on && /^\t(PH_[A-Z_]+)/ {
		if ($1 ~ /^PH_TX_KEEPALIVE,?$/) { print n; exit } n++ }' \
	"$here/../../bpf/pinhole_kern_user.h")
export R

# run_load ID [ARGS...]: pinhole-load sessions in gen against the server; output in
# $LAB_TMP/load-ID.{out,err}, one CSV row in $LAB_TMP/load-ID.csv.
run_load() {
	local id=$1
	shift
	timeout --kill-after=5 120 nsenter --net=/run/netns/"$(lab_ns_name gen)" -- \
		"$LOAD" sessions --ifname g0 --dst-mac "$S0_MAC" --server "$SRV_IP:$PORT" --db "$DB" \
		--endpoints "$N" --contacts 50 --keepalive "$KA" --metrics "$METRICS" \
		--pin-dir "$PIN" --csv "$LAB_TMP/load-$id.csv" --label "$id" "$@" \
		>"$LAB_TMP/load-$id.out" 2>"$LAB_TMP/load-$id.err"
}

# --- part 1: steady state -------------------------------------------------------
start_server a || {
	diag <"$SLOG"
	bail_out "pinhole-server did not get ready"
}
ka0=$(tx_keepalive)
run_load steady --duration "$DUR" --server-pid "$SRV_PID"
rc=$?
diag <"$LAB_TMP/load-steady.out"
CSV=$LAB_TMP/load-steady.csv
if [[ ! -s $CSV ]]; then
	diag <"$LAB_TMP/load-steady.err"
	bail_out "pinhole-load sessions wrote no result (exit $rc)"
fi
check_eq "steady: pinhole-load exits 0 (no session lost)" 0 "$rc"
check_eq "steady: all $N endpoints logged in" "$N" "$(col "$CSV" logins_ok)"
check_eq "steady: no login failed" 0 "$(col "$CSV" logins_failed)"
# 50 contacts take several routing-table pages: every endpoint fetched all of them.
cmin=$(grep -oE 'contacts per endpoint [0-9]+\.\.[0-9]+' "$LAB_TMP/load-steady.out")
check_eq "steady: every endpoint received its 50 contacts" \
	"contacts per endpoint 50..50" "$cmin"
check_eq "steady: sessions lost" 0 "$(col "$CSV" lost)"
check_eq "steady: no keepalive answered 401" 0 "$(col "$CSV" ka_401)"
sent=$(col "$CSV" ka_sent)
ans=$(col "$CSV" ka_answered)
exp=$(col "$CSV" ka_expected)
if awk -v s="$sent" -v a="$ans" -v e="$exp" 'BEGIN { exit !(a >= e * 0.97 && a <= s && s > 0) }'; then
	ok "steady: keepalives answered $ans of $sent sent (expected $exp at $N per ${KA} s)"
else
	not_ok "steady: keepalives answered $ans of $sent sent (expected $exp at $N per ${KA} s)"
fi
check_eq "steady: every endpoint's keepalive was answered" "$N" "$(col "$CSV" answered_endpoints)"
check_eq "steady: pinhole_sessions_online says all $N are online" "$N" "$(col "$CSV" online)"
if [[ -e $PIN/sessions ]]; then
	check_eq "steady: all $N sessions in the pinned sessions map" "0 of $N" \
		"$(col "$CSV" map_missing) of $(col "$CSV" map_checked)"
	ka1=$(tx_keepalive)
	if ((ka1 - ka0 >= ans)); then
		ok "steady: XDP tx_keepalive grew by $((ka1 - ka0)) (>= $ans answered)"
	else
		not_ok "steady: XDP tx_keepalive grew by $((ka1 - ka0)) (>= $ans answered)"
	fi
else
	not_ok "steady: the server pins a sessions map (kernel keepalive path)"
	diag "no $PIN/sessions: keepalives were answered by userspace"
fi

# --- part 2: restart under load ---------------------------------------------------
# The load runs in the background; once keepalives flow, the server is stopped
# (it was started with --keep) and started again on the same pin dir and store.
run_load restart --duration "$RESTART_DUR" --prefix lr &
LOAD_PID=$!
_lab_pids+=("$LOAD_PID")
if wait_for_log "$LAB_TMP/load-restart.err" 'keepalives: sent [1-9]' 60; then
	lab_stop "$SRV_PID" TERM 10
	check_eq "restart: the server stops cleanly" 0 "$?"
	if start_server b; then
		ok "restart: the server starts again on the same pin dir and store"
	else
		not_ok "restart: the server starts again on the same pin dir and store"
		diag <"$SLOG"
	fi
else
	not_ok "restart: keepalives started flowing"
	diag <"$LAB_TMP/load-restart.err"
fi
wait "$LOAD_PID"
rc=$?
_lab_forget "$LOAD_PID"
diag <"$LAB_TMP/load-restart.out"
CSV=$LAB_TMP/load-restart.csv
if [[ -s $CSV ]]; then
	check_eq "restart: all $N endpoints logged in" "$N" "$(col "$CSV" logins_ok)"
	check_eq "restart: no keepalive answered 401 across the restart" 0 "$(col "$CSV" ka_401)"
	check_eq "restart: sessions lost across the restart" 0 "$(col "$CSV" lost)"
	check_eq "restart: pinhole_sessions_online after the restart" "$N" "$(col "$CSV" online)"
	check_eq "restart: every endpoint's keepalive was answered" "$N" \
		"$(col "$CSV" answered_endpoints)"
else
	not_ok "restart: pinhole-load sessions wrote a result (exit $rc)"
	diag <"$LAB_TMP/load-restart.err"
fi

tap_summary
