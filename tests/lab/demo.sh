#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo`: two people behind two home NATs talk directly.
#
#   alice ── NAT (eim-apdf) ──┐                  ┌── NAT (eim-apdf) ── bob
#                             └── internet ──────┘
#                                    │
#                         pinhole-server 198.18.0.1:3478 (+ 198.18.0.3:3479)
#
# Both NATs drop unsolicited packets (like most home routers), so alice's
# first packet to bob would die at bob's NAT.  pinhole makes it work: when
# alice logs in, the server tells bob (over the binding bob keeps open with
# keepalives) to send one packet toward alice; that opens bob's NAT, and
# alice's ONLINE then gets through.  Every line below is what the programs
# themselves print, with their own timestamps, merged in time order.
# Usage: bash tests/lab/demo.sh BUILD_DIR (as root).  Exits non-zero as
# soon as a step does not do what it says; everything it created
# (namespaces, XDP attachments, pins) is removed either way.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o

# Bold headings on a terminal only.
B="" R="" N=""
if [[ -t 1 ]]; then
	B=$'\033[1m' R=$'\033[1;31m' N=$'\033[0m'
fi
say() {
	printf '\n%s== %s%s\n' "$B" "$*" "$N"
}

# Merged view of every program's log: the lines added since the last call,
# sorted by their timestamps, each prefixed with who printed it.
declare -A shown=()
logs=()
follow() {
	logs+=("$1=$2")
	shown[$2]=0
}
show_new() {
	local e who f n tmp=$LAB_TMP/merge
	: >"$tmp"
	for e in "${logs[@]}"; do
		who=${e%%=*}
		f=${e#*=}
		[[ -f $f ]] || continue
		n=$(wc -l <"$f")
		tail -n +"$((shown[$f] + 1))" "$f" | head -n "$((n - shown[$f]))" |
			awk -v who="$who" '$1 ~ /^[0-9]+\.[0-9]+$/ {
				print $1 "\t" who "\t" substr($0, index($0, $2)) }' >>"$tmp"
		shown[$f]=$n
	done
	sort -s -t$'\t' -k1,1n "$tmp" | awk -F'\t' '{
		s = int($1); ms = substr($1, index($1, ".") + 1)
		printf "%s.%s  %-6s %s\n", strftime("%H:%M:%S", s), ms, $2, $3 }'
}

fail() {
	show_new
	printf '\n%sFAILED: %s%s\n' "$R" "$*" "$N"
	exit 1
}

lab_init nft conntrack timeout realpath bpftool jq
acc_init "$build" || fail "run make first"
[[ -f $XDP_PASS_OBJ ]] || fail "$XDP_PASS_OBJ is not built (run make)"
ph_reasons_load "$root/bpf/pinhole_kern_user.h" || fail "cannot read enum ph_xdp_reason"

say "The lab: a server, an 'internet' bridge, alice and bob each behind a home NAT"
nat_lab_init --xdp-pass "$XDP_PASS_OBJ" && nat_site_add alice eim-apdf &&
	nat_site_add bob eim-apdf || fail "lab setup"
inet_count_init && inet_count_add a2b ip saddr "$(site_public_ip alice)" ip daddr "$(site_public_ip bob)" meta l4proto udp &&
	inet_count_add b2a ip saddr "$(site_public_ip bob)" ip daddr "$(site_public_ip alice)" meta l4proto udp &&
	inet_count_access_via_server via_srv || fail "counters"
nat_lab_describe | sed 's/^/   /'
echo "   (eim-apdf: same public port for every destination, but only answers get in)"

say "Accounts: pinholectl creates alice and bob and lets them talk"
DB=$LAB_TMP/pinhole.db
acc_user_add "$DB" alice "alice-secret-$$" && acc_user_add "$DB" bob "bob-secret-$$" &&
	acc_allow "$DB" alice bob || fail "pinholectl"
echo "   \$ pinholectl --db pinhole.db user add alice   (password on stdin)"
echo "   \$ pinholectl --db pinhole.db contact allow alice bob (and bob alice)"

say "Start pinhole-server: XDP program on srv0, RFC 5780 alternate address $NAT_SRV_ALT_IP:$ACC_ALT_PORT"
lab_pin_dir
PIN=$LAB_PIN
follow server "$LAB_TMP/server-demo.log"
# Keepalives every 2 s instead of 20, so the demo sees the kernel answer some.
acc_server_start demo "$DB" --xdp srv0 --pin-dir "$PIN" --keepalive 2 ||
	fail "the server did not get ready"
show_new

say "bob comes online: discovers his NAT (RFC 5780), logs in, keeps his binding open"
follow bob "$LAB_TMP/ep-bob.log"
acc_ep_start bob bob bob
acc_ep_wait bob ' logged in ' 15 || fail "bob did not log in"
acc_ep_wait bob ' contacts: ' 5 || fail "bob got no contact list"
show_new

say "alice comes online: the server has bob punch toward her, then she reaches bob directly"
follow alice "$LAB_TMP/ep-alice.log"
acc_ep_start alice alice alice
acc_ep_wait alice ' session with bob established' 15 || fail "alice got no direct session with bob"
acc_ep_wait bob ' online: alice verified' 5 || fail "bob did not verify alice's ONLINE"
show_new

say "A message each way, over the direct path"
acc_ep_cmd alice "@bob hi bob, alice here, straight through two NATs"
acc_ep_wait bob ' message from alice: ' 5 || fail "bob got no message"
acc_ep_cmd bob "@alice hi alice! the server never saw this"
acc_ep_wait alice ' message from bob: ' 5 || fail "alice got no message"
acc_ep_wait bob ' message .* delivered' 5 || fail "bob's message was not acked"
show_new

say "Was it really direct?  Counters on the internet bridge:"
a2b=$(inet_count a2b)
b2a=$(inet_count b2a)
vs=$(inet_count via_srv)
printf '   alice (%s) -> bob (%s): %s packets\n' "$(site_public_ip alice)" "$(site_public_ip bob)" "$a2b"
printf '   bob -> alice: %s packets\n' "$b2a"
printf '   ONLINE/MESSAGE sent to the server: %s\n' "$vs"
((a2b > 0 && b2a > 0 && vs == 0)) || fail "the session did not go direct"

say "How long did it take?"
t_start=$(acc_ts "${ACC_EP_LOG[alice]}" ' endpoint alice starting') || fail "no start line"
t_nat=$(acc_ts "${ACC_EP_LOG[alice]}" ' nat mapping=')
t_login=$(acc_ts "${ACC_EP_LOG[alice]}" ' logged in ')
t_punch=$(acc_ts "${ACC_EP_LOG[bob]}" ' punch toward alice ')
t_online=$(acc_ts "${ACC_EP_LOG[bob]}" ' online: alice verified') || fail "no ONLINE line"
t_sess=$(acc_ts "${ACC_EP_LOG[alice]}" ' session with bob established')
row() {
	[[ -n $2 ]] && printf '   %-52s +%5d ms\n' "$1" "$(acc_ms_between "$t_start" "$2")"
}
row "alice sends her first STUN Binding request" "$t_start"
row "alice knows her NAT (RFC 5780 tests done)" "$t_nat"
row "bob punches toward alice (told by the server)" "$t_punch"
row "alice is logged in (profile + routes fetched next)" "$t_login"
row "bob receives and verifies alice's ONLINE" "$t_online"
row "alice has bob's answer: direct session" "$t_sess"
total=$(acc_ms_between "$t_start" "$t_online")
echo "   => ${total} ms from alice's first STUN packet to bob receiving ONLINE"
echo "      (most of it is discovery: the filtering tests wait for answers that a"
echo "       filtering NAT never lets in)"

say "The XDP program's counters (bpftool reads the names from BTF)"
ph_stats_table "$PIN" | sed 's/^/ /' || fail "cannot read $PIN/stats"
j=$(ph_stats_json "$PIN") || fail "cannot read $PIN/stats"
tx=$(ph_stat "$j" PH_TX_BINDING)
if ((tx > 0)); then
	echo "   tx_binding = $tx: Binding requests answered in the kernel, userspace never saw them"
else
	echo "   tx_binding = 0: with --alt every Binding request went up to userspace"
	echo "   (RFC 5780 answers carry OTHER-ADDRESS and RESPONSE-ORIGIN, which the kernel path does not add)"
fi

say "Keepalives in the kernel: the session table the XDP program checks them against"
_ka_seen() {
	(($(ph_stat "$(ph_stats_json "$PIN")" PH_TX_KEEPALIVE) >= 2))
}
wait_until 8 _ka_seen || fail "no keepalive answered in the kernel"
echo "   \$ pinholectl stats   (its last lines)"
"$ACC_CTL" --db "$DB" stats --pin-dir "$PIN" | tail -2 | sed 's/^/   /'
echo "   \$ bpftool map dump pinned $PIN/sessions   (the live slots; port in host order)"
bpftool -j map dump pinned "$PIN/sessions" |
	jq -c '.[] | .formatted | select(.value.id != 0) | {slot: .key, id: .value.id,
		last_seen: .value.last_seen, family: .value.family,
		port: ((.value.port % 256) * 256 + (.value.port / 256 | floor))}' |
	sed 's/^/   /'
echo "   tx_keepalive = $(ph_stat "$(ph_stats_json "$PIN")" PH_TX_KEEPALIVE):" \
	"keepalives checked (token), refreshed and answered in the kernel"

say "Clean-up: both log out, the server stops"
acc_ep_quit alice || fail "alice did not exit cleanly"
acc_ep_quit bob || fail "bob did not exit cleanly"
lab_stop "$ACC_SRV_PID" TERM 10 || fail "the server did not exit cleanly"
show_new
ph_xdp_attached "$NAT_SRV_NS" srv0 && fail "XDP program still attached"
say "Done: alice and bob talked directly; namespaces, XDP program and pins removed on exit"
exit 0
