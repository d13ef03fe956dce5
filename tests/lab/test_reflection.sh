#!/bin/bash
# SPDX-License-Identifier: MIT
# Reflection and amplification through the kernel path: mallory floods the
# server with Binding requests whose source address is victim's (rewritten
# by an nftables snat rule in mallory's namespace, so the answers really go
# to victim).  pinhole-server runs with --xdp and --answer-rate 50
# --answer-burst 50.
#
#   1. victim receives at most burst + rate x duration answers (counted on
#      the internet bridge), never more packets or bytes than were sent in
#      its name, and the kernel counted the rest as drop_rate_limited;
#   2. carol, another source, is answered at once during the flood
#      (turnutils_stunclient, a third-party client);
#   3. keepalives of unknown sessions in victim's name are held to the same
#      budget (a 401 is an answer to an unauthenticated request too).
#
# Usage: bash tests/lab/test_reflection.sh BUILD_DIR (root, from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
FLOOD=$build/tests/tools/ph_flood
RATE=50
BURST=50
COUNT=20000
SECS=4
# Spread over the seconds, so carol asks while it runs.
PPS=6000

lab_init nft turnutils_stunclient jq
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -x $FLOOD ]] || bail_out "$FLOOD is not built"

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
for s in mallory victim carol; do
	nat_site_add "$s" none || bail_out "site $s"
done
VICTIM=$(site_public_ip victim)
MALLORY=$(site_public_ip mallory)
inet_count_init || bail_out "nft counters on the internet bridge"
inet_count_add to_victim ip saddr "$NAT_SRV_IP" ip daddr "$VICTIM" udp sport "$ACC_PORT" ||
	bail_out "counter to_victim"
inet_count_add spoofed ip saddr "$VICTIM" ip daddr "$NAT_SRV_IP" udp dport "$ACC_PORT" ||
	bail_out "counter spoofed"
inet_count_add to_mallory ip daddr "$MALLORY" udp sport "$ACC_PORT" || bail_out "counter to_mallory"
# mallory's datagrams to the server leave with victim's address.
site_exec mallory nft -f - <<EOF || bail_out "spoofing rule"
table ip spoof {
	chain post {
		type nat hook postrouting priority srcnat;
		ip daddr $NAT_SRV_IP udp dport $ACC_PORT snat to $VICTIM
	}
}
EOF

lab_pin_dir
DB=$LAB_TMP/pinhole.db
acc_server_start refl "$DB" --xdp srv0 --pin-dir "$LAB_PIN" --answer-rate "$RATE" \
	--answer-burst "$BURST" || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server did not get ready"
}
check "the server applies the budget" \
	grep -q "limited to $RATE per second per source, burst $BURST" "$ACC_SRV_LOG"

xdp_count() {
	"$ACC_CTL" stats --json --pin-dir "$LAB_PIN" | jq ".xdp.$1.packets"
}

# flood MODE: run ph_flood from mallory in the background; sets FLOOD_PID, FLOOD_LOG.
flood() {
	FLOOD_LOG=$LAB_TMP/flood-$1.log
	lab_bg "$(site_ns mallory)" "$FLOOD_LOG" "$FLOOD" --server "$NAT_SRV_IP:$ACC_PORT" \
		--count "$COUNT" --seconds "$SECS" --rate "$PPS" "$@"
	FLOOD_PID=$LAB_PID
}
flood_elapsed() {
	sed -nE 's/.* elapsed=([0-9.]+).*/\1/p' "$FLOOD_LOG" | tail -1
}

# --- 1 and 2: Binding requests in victim's name -------------------------------------

limited0=$(xdp_count drop_rate_limited)
flood binding
# carol asks while the flood runs (it is running: the spoofed counter moves).
_spoofing() {
	(($(inet_count spoofed) > 1000))
}
check "the flood is under way (datagrams in victim's name cross the bridge)" wait_until 5 _spoofing
out=$(site_exec carol timeout 3 turnutils_stunclient -p "$ACC_PORT" "$NAT_SRV_IP" 2>&1)
if grep -q "reflexive addr: $(site_public_ip carol):" <<<"$out" && kill -0 "$FLOOD_PID" 2>/dev/null; then
	ok "carol is answered during the flood"
else
	not_ok "carol is answered during the flood"
	diag "$out"
fi
wait "$FLOOD_PID"
sent=$(inet_count spoofed)
answers=$(inet_count to_victim)
elapsed=$(flood_elapsed)
limit=$(awk -v r="$RATE" -v b="$BURST" -v t="$elapsed" 'BEGIN { printf "%d", b + r * (t + 1) }')
diag "flood: $sent requests in victim's name in ${elapsed:-?} s; victim received $answers answers (budget $limit)"
check "the flood sent thousands in victim's name" test "$sent" -ge 2000
check "victim received some answers (the budget is not zero)" test "$answers" -ge 1
check "victim received at most burst + rate x duration answers ($answers <= $limit)" \
	test "$answers" -le "$limit"
check_eq "no answer went to mallory's own address" 0 "$(inet_count to_mallory)"
limited=$(($(xdp_count drop_rate_limited) - limited0))
check "the kernel dropped the rest as drop_rate_limited ($limited >= $sent - $answers - 10)" \
	test "$limited" -ge $((sent - answers - 10))

# --- 3: keepalives of unknown sessions in victim's name ---------------------------------

a0=$(inet_count to_victim)
s0=$(inet_count spoofed)
flood keepalive
wait "$FLOOD_PID"
answers=$(($(inet_count to_victim) - a0))
sent=$(($(inet_count spoofed) - s0))
elapsed=$(flood_elapsed)
# The bucket was emptied above; it refills at the rate (plus at most one burst).
limit=$(awk -v r="$RATE" -v b="$BURST" -v t="$elapsed" 'BEGIN { printf "%d", b + r * (t + 1) }')
diag "keepalive flood: $sent in victim's name, $answers 401s reached victim (budget $limit)"
check "unknown-session keepalives: thousands sent" test "$sent" -ge 2000
check "unknown-session keepalives: victim received at most the budget of 401s ($answers <= $limit)" \
	test "$answers" -le "$limit"

lab_stop "$ACC_SRV_PID" TERM 10
check_eq "the server exits cleanly" 0 "$?"
tap_summary
