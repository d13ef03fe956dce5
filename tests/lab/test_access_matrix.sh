#!/bin/bash
# SPDX-License-Identifier: MIT
# The whole 4x4 matrix of NAT pairs through real pinhole binaries: B is
# online behind NAT kind Y, A logs in behind kind X.  Every pair that can
# go direct must: B verifies A's ONLINE, A gets B's answer, one message
# each way, and the packets cross the internet bridge from A's public
# address to B's and back (nft counters on the bridge), while no ONLINE or
# MESSAGE ever goes to the server.  The pairs that cannot (eim-apdf <-> edm
# both orders, edm <-> edm) are reported plainly by A's endpoint, which
# stays responsive.  Then the punch is shown to matter: the eim-apdf pair
# with the server's --no-punch gets no direct session, and with punching
# it does.
# Usage: bash tests/lab/test_access_matrix.sh BUILD_DIR (root, repo root).
# LAB_XDP=0 runs the server without its XDP program (default: with it).
#
#   srv 198.18.0.1:3478 + 198.18.0.3:3479
#    |  internet bridge (counters: A_pub -> B_pub, B_pub -> A_pub, X -> srv)
#   a<kind> x4 (newcomers A)          b<kind> x4 (B, already online)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
LAB_XDP=${LAB_XDP:-1}

lab_init nft conntrack timeout realpath
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

# Short site suffix -> lab NAT kind.
KINDS="none eim apdf edm"
declare -A kind_of=([none]=none [eim]=eim [apdf]=eim-apdf [edm]=edm)

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
for k in $KINDS; do
	nat_site_add "a$k" "${kind_of[$k]}" || bail_out "site a$k"
	nat_site_add "b$k" "${kind_of[$k]}" || bail_out "site b$k"
done
inet_count_init || bail_out "nft counters on the internet bridge"
inet_count_access_via_server via_srv || bail_out "via-server counter"
nat_lab_describe | diag

DB=$LAB_TMP/pinhole.db
srv_flags=()
if ((LAB_XDP)); then
	lab_pin_dir
	srv_flags=(--xdp srv0 --pin-dir "$LAB_PIN")
fi
acc_server_start punch "$DB" "${srv_flags[@]}" || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server did not get ready"
}
ok "pinhole-server ready (${srv_flags[*]:-userspace only})"

# expect_direct X Y: 0 if pair (A behind X, B behind Y) should go direct
# with punching (nat_direct_possible, RFC 5128 §3.3/3.5 on the lab's NATs).
expect_direct() {
	case "$1/$2" in
	apdf/edm | edm/apdf | edm/edm) return 1 ;;
	esac
	return 0
}

npair=0
declare -a timings=()

# pair X Y [TAG [direct|nodirect]]: run one pair with fresh users; prints
# TAP lines.  The expectation defaults to expect_direct's.
pair() {
	local x=$1 y=$2 tag=${3:-} exp=${4:-} i a b ida idb apub bpub t0 t1 why=""
	if [[ -z $exp ]]; then
		exp=nodirect
		expect_direct "$x" "$y" && exp=direct
	fi
	npair=$((npair + 1))
	i=$npair
	a=a$i$x
	b=b$i$y
	ida=A$i
	idb=B$i
	apub=$(site_public_ip "a$x")
	bpub=$(site_public_ip "b$y")
	acc_user_add "$DB" "$a" "pw-$a" && acc_user_add "$DB" "$b" "pw-$b" &&
		acc_allow "$DB" "$a" "$b" || {
		not_ok "$tag$x -> $y: users and contacts"
		return 1
	}
	inet_count_add "ab$i" ip saddr "$apub" ip daddr "$bpub" udp dport != "$LAB_MARK_PORT"
	inet_count_add "ba$i" ip saddr "$bpub" ip daddr "$apub" udp dport != "$LAB_MARK_PORT"
	local desc="${tag:+$tag }A at $x (${kind_of[$x]}) -> B at $y (${kind_of[$y]})"

	acc_ep_start "$idb" "b$y" "$b"
	if ! acc_ep_wait "$idb" ' logged in session=' 15; then
		not_ok "$desc: B logs in"
		diag <"${ACC_EP_LOG[$idb]}"
		acc_ep_quit "$idb" >/dev/null
		return 1
	fi
	t0=$(date +%s%3N)
	acc_ep_start "$ida" "a$x" "$a"
	if ! acc_ep_wait "$ida" ' logged in session=' 15; then
		not_ok "$desc: A logs in"
		diag <"${ACC_EP_LOG[$ida]}"
		acc_ep_quit "$ida" >/dev/null
		acc_ep_quit "$idb" >/dev/null
		return 1
	fi

	if [[ $exp == direct ]]; then
		# Stop waiting early if A gives up (then allow 2 s more: a probe
		# from B may still teach A a path).
		if acc_ep_wait "$ida" " (session with $b established|direct traffic to $b cannot work)" 10; then
			grep -q " direct traffic to $b cannot work" "${ACC_EP_LOG[$ida]}" &&
				why+=" A said direct traffic cannot work;"
			acc_ep_wait "$ida" " session with $b established" 2 || why+=" A: no session with B;"
		else
			why+=" A: no session with B;"
		fi
		acc_ep_wait "$idb" " online: $a verified" 5 || why+=" B: A's ONLINE not verified;"
		if [[ -z $why ]]; then
			acc_ep_cmd "$ida" "@$b hello-from-$a"
			acc_ep_wait "$idb" " message from $a: hello-from-$a\$" 5 || why+=" B got no message;"
			acc_ep_cmd "$idb" "@$a hello-from-$b"
			acc_ep_wait "$ida" " message from $b: hello-from-$b\$" 5 || why+=" A got no message;"
		fi
		t1=$(date +%s%3N)
		local nab nba
		nab=$(inet_count "ab$i")
		nba=$(inet_count "ba$i")
		((nab > 0 && nba > 0)) || why+=" not direct: $nab packets A->B, $nba B->A on the bridge;"
		if [[ -z $why ]]; then
			ok "$desc: direct (ONLINE verified, message each way; $nab/$nba packets public-to-public; $((t1 - t0)) ms from A's start)"
			timings+=("$x->$y:$((t1 - t0))")
		else
			not_ok "$desc: direct"
			diag "$why"
			{ echo "--- A ($a)"; cat "${ACC_EP_LOG[$ida]}"; } | diag
			{ echo "--- B ($b)"; cat "${ACC_EP_LOG[$idb]}"; } | diag
		fi
	else
		local n
		if acc_ep_wait "$ida" " direct traffic to $b cannot work" 10; then
			# Still responsive: answers /contacts after the verdict.
			n=$(grep -c ' contacts: ' "${ACC_EP_LOG[$ida]}")
			acc_ep_cmd "$ida" /contacts
			if wait_until 3 eval "(( \$(grep -c ' contacts: ' '${ACC_EP_LOG[$ida]}') > $n ))" &&
				acc_ep_alive "$ida" &&
				! grep -q " session with $b established" "${ACC_EP_LOG[$ida]}"; then
				ok "$desc: reported 'direct traffic to $b cannot work', endpoint still responsive"
			else
				not_ok "$desc: reported, and the endpoint still responsive"
				diag <"${ACC_EP_LOG[$ida]}"
			fi
		else
			not_ok "$desc: A reports that direct traffic cannot work"
			{ echo "--- A ($a)"; cat "${ACC_EP_LOG[$ida]}"; } | diag
			{ echo "--- B ($b)"; cat "${ACC_EP_LOG[$idb]}"; } | diag
		fi
	fi
	"${PAIR_HOOK:-:}" "$ida" "$idb" "a$x" "b$y"
	acc_ep_quit "$ida" >/dev/null
	acc_ep_quit "$idb" >/dev/null
	# Forget every mapping and hole so the next pair starts from nothing.
	nat_flush "a$x"
	nat_flush "b$y"
}

t_start=$SECONDS
for x in $KINDS; do
	for y in $KINDS; do
		pair "$x" "$y"
	done
done
diag "matrix: 16 pairs in $((SECONDS - t_start)) s; ms from A's start to both messages: ${timings[*]}"
check_eq "no ONLINE or MESSAGE was ever sent to the server" 0 "$(inet_count via_srv)"
check "pinhole-server stayed up through the matrix" kill -0 "$ACC_SRV_PID"
lab_stop "$ACC_SRV_PID" TERM 10

# --- the punch matters -------------------------------------------------------------

# With --no-punch, B (eim-apdf) is told about A but sends no probe, so A's
# ONLINE would die at B's NAT: the server must not promise a direct path
# (A says it cannot work) and nothing may cross from B to A.
acc_server_start nopunch "$DB" "${srv_flags[@]}" --no-punch || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server --no-punch did not get ready"
}
# The RFC side of it, at the packet level, while both are online: without
# B's probe, a datagram from A's site to B's reflexive address dies in B's
# NAT (B's binding to the server is open, but only toward the server).
_dropped_above() {
	(($(nat_dropped "$1") > $2))
}
nopunch_probe() {
	local b_refl d0
	b_refl=$(sed -n 's/.* reflexive address \([0-9.]*:[0-9]*\)$/\1/p' "${ACC_EP_LOG[$2]}" | head -1)
	d0=$(nat_dropped "$4")
	lab_send_udp "$(site_ns "$3")" "${b_refl%:*}" "${b_refl#*:}" \
		"$(printf 'no-punch' | od -An -tx1 | tr -d ' \n')"
	check "[--no-punch] a datagram from A's site to B's reflexive address ($b_refl) is dropped by B's NAT" \
		wait_until 5 _dropped_above "$4" "$d0"
}
PAIR_HOOK=nopunch_probe
pair apdf apdf "[--no-punch]" nodirect
PAIR_HOOK=""
np_i=$npair
check_eq "[--no-punch] no packet crossed from B's public address to A's (no probe)" 0 \
	"$(inet_count "ba$np_i")"
grep -E "punch sent to=b${np_i}apdf " "$ACC_SRV_LOG" | diag
check "[--no-punch] the server told B about A without asking for a probe (send=0)" \
	grep -Eq "punch sent to=b${np_i}apdf .*send=0" "$ACC_SRV_LOG"
lab_stop "$ACC_SRV_PID" TERM 10

acc_server_start punch2 "$DB" "${srv_flags[@]}" || bail_out "pinhole-server did not restart"
pair apdf apdf "[punch]" direct
check "[punch] the server asked B to probe A (send=1)" \
	grep -Eq "punch sent to=b${npair}apdf .*send=1" "$ACC_SRV_LOG"
lab_stop "$ACC_SRV_PID" TERM 10
diag "total $((SECONDS - t_start)) s"
tap_summary
