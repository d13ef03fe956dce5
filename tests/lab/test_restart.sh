#!/bin/bash
# SPDX-License-Identifier: MIT
# Sessions survive the server: alice and bob, each behind a NAT, hold a
# direct session through a pinhole-server started with --xdp and --keep.
#
# 1. stop (SIGTERM): the program, the sessions array and the events ring
#    stay pinned; while no server runs the kernel keeps answering both
#    endpoints' keepalives (XDP tx_keepalive grows) and neither logs in
#    again;
# 2. start again with the same pins and store: "restored 2 session(s)",
#    the same session ids listed, and the restored session keys work: bob's
#    LOGOUT is verified with his and alice hears him go offline in a
#    PRESENCE under hers;
# 3. kill -9 while both are online (bob back with a new session): the same
#    again after the start: every session restored, alice's LOGOUT is
#    verified and bob hears it.
#
# Usage: bash tests/lab/test_restart.sh BUILD_DIR (root, from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
KA_S=1

lab_init nft conntrack jq
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
nat_site_add alice eim-apdf || bail_out "site alice"
nat_site_add bob eim-apdf || bail_out "site bob"

DB=$LAB_TMP/pinhole.db
if ! { acc_user_add "$DB" alice "pw-alice-$$" && acc_user_add "$DB" bob "pw-bob-$$" &&
	acc_allow "$DB" alice bob; }; then
	bail_out "users and contacts"
fi
lab_pin_dir
SRV_FLAGS=(--keepalive "$KA_S" --xdp srv0 --pin-dir "$LAB_PIN" --keep)

# nmatch FILE REGEX: how many lines of FILE match REGEX.
nmatch() {
	grep -Ec -- "$2" "$1" 2>/dev/null
}
_more() {
	(($(nmatch "$1" "$2") > $3))
}
# xdp_count REASON: packets the pinned stats map counted under REASON.
xdp_count() {
	"$ACC_CTL" stats --json --pin-dir "$LAB_PIN" | jq ".xdp.$1.packets"
}
_xdp_grew() {
	(($(xdp_count "$1") >= $2))
}
# session_ids: "user id" for every session pinholectl lists, sorted.
session_ids() {
	"$ACC_CTL" --json --db "$DB" sessions | jq -r '.sessions[] | "\(.user) \(.id)"' | sort
}
dump_logs() {
	{
		for f in "$LAB_TMP"/server-*.log "$LAB_TMP"/ep-*.log; do
			echo "--- $f"
			cat "$f"
		done
	} | diag
}

start_server() {
	acc_server_start "$1" "$DB" "${SRV_FLAGS[@]}" || {
		diag <"$ACC_SRV_LOG"
		bail_out "pinhole-server ($1) did not get ready"
	}
}

start_server first
acc_ep_start B bob bob
acc_ep_wait B ' logged in session=' 15 || bail_out "bob did not log in"
acc_ep_start A alice alice
if acc_ep_wait A ' session with bob established' 15 && acc_ep_wait B ' online: alice verified at ' 5; then
	ok "alice and bob log in and hold a direct session"
else
	dump_logs
	bail_out "no session to restart under"
fi
IDS0=$(session_ids)
diag "sessions: $(echo "$IDS0" | tr '\n' ' ')"
check_eq "pinholectl lists both sessions" 2 "$(echo "$IDS0" | grep -c .)"
check_eq "pinholectl stats: the kernel's table holds both" 2 \
	"$("$ACC_CTL" stats --json --pin-dir "$LAB_PIN" | jq '.kernel_sessions.live')"
ALOGINS=$(nmatch "${ACC_EP_LOG[A]}" ' logged in session=')
BLOGINS=$(nmatch "${ACC_EP_LOG[B]}" ' logged in session=')

# --- 1. stopped: the kernel keeps answering -------------------------------------------

lab_stop "$ACC_SRV_PID" TERM 10
check_eq "server exits cleanly on SIGTERM" 0 "$?"
check "the XDP link, the sessions array and the events ring stay pinned" \
	test -e "$LAB_PIN/link" -a -e "$LAB_PIN/sessions" -a -e "$LAB_PIN/session_events"
ka0=$(xdp_count tx_keepalive)
# Both endpoints keepalive every second: four more answers take about two.
check "with no server running, the kernel answers their keepalives ($ka0 before)" \
	wait_until 8 _xdp_grew tx_keepalive "$((ka0 + 4))"

# --- 2. start again: every session comes back ----------------------------------------

start_server second
check "the new server adopts the kernel's table and restores both sessions" \
	grep -q ' restored 2 session(s) from the kernel table; dropped 0' "$ACC_SRV_LOG"
check_eq "pinholectl lists the same sessions, same ids" "$IDS0" "$(session_ids)"
check_eq "pinholectl stats: the kernel's table still holds both" 2 \
	"$("$ACC_CTL" stats --json --pin-dir "$LAB_PIN" | jq '.kernel_sessions.live')"
n=$(nmatch "${ACC_EP_LOG[A]}" ' contact bob offline$')
acc_ep_quit B >/dev/null
# bob's LOGOUT carries his session key's integrity; alice's PRESENCE hers.
if wait_until 5 _more "${ACC_EP_LOG[A]}" ' contact bob offline$' "$n"; then
	ok "restored keys work: bob's LOGOUT is accepted and alice hears him go offline"
else
	not_ok "restored keys work: bob's LOGOUT is accepted and alice hears him go offline"
	dump_logs
fi
check_eq "alice never logged in again" "$ALOGINS" "$(nmatch "${ACC_EP_LOG[A]}" ' logged in session=')"
check "bob did not log in again before he quit" \
	test "$(nmatch "${ACC_EP_LOG[B]}" ' logged in session=')" -eq "$BLOGINS"

# --- 3. kill -9 -------------------------------------------------------------------------

# A new id, so a new log: waiting on the old one would see its old lines.
acc_ep_start B2 bob bob
if acc_ep_wait B2 ' logged in session=' 15 && acc_ep_wait B2 ' online: alice verified at | session with alice established' 10; then
	ok "bob logs in again while alice stays"
else
	not_ok "bob logs in again while alice stays"
	dump_logs
fi
IDS1=$(session_ids)
check_eq "both sessions listed before the kill" 2 "$(echo "$IDS1" | grep -c .)"
kill -KILL "$ACC_SRV_PID"
wait "$ACC_SRV_PID" 2>/dev/null
ka0=$(xdp_count tx_keepalive)
check "after kill -9 the kernel still answers keepalives" \
	wait_until 8 _xdp_grew tx_keepalive "$((ka0 + 4))"
start_server third
check "after kill -9 the new server restores both sessions" \
	grep -q ' restored 2 session(s) from the kernel table; dropped 0' "$ACC_SRV_LOG"
check_eq "the same sessions, same ids, after kill -9" "$IDS1" "$(session_ids)"
n=$(nmatch "${ACC_EP_LOG[B2]}" ' contact alice offline$')
acc_ep_quit A >/dev/null
if wait_until 5 _more "${ACC_EP_LOG[B2]}" ' contact alice offline$' "$n"; then
	ok "after kill -9: alice's LOGOUT is accepted and bob hears her go offline"
else
	not_ok "after kill -9: alice's LOGOUT is accepted and bob hears her go offline"
	dump_logs
fi
acc_ep_quit B2 >/dev/null
check "no session was lost: no endpoint logged 'session lost'" \
	bash -c "! grep -q 'session lost' '${ACC_EP_LOG[A]}' '${ACC_EP_LOG[B]}' '${ACC_EP_LOG[B2]}'"
check_eq "bob logged in once more, not again after the kill" 1 \
	"$(nmatch "${ACC_EP_LOG[B2]}" ' logged in session=')"

lab_stop "$ACC_SRV_PID" TERM 10
tap_summary
