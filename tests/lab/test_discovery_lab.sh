#!/bin/bash
# SPDX-License-Identifier: MIT
# RFC 5780 behaviour discovery against pinhole-server in the NAT lab: each
# site's pinhole-endpoint names the NAT it really sits behind, and coturn's
# turnutils_natdiscovery (a client nobody here wrote) pointed at
# pinhole-server gets the same answers it gets from coturn's own server
# (test_nat_lab.sh).  Run twice: userspace only, then with the XDP program
# on the server's interface (the kernel answers plain Binding requests, so
# it must not strip what discovery needs).
# Usage: bash tests/lab/test_discovery_lab.sh BUILD_DIR (root, repo root).
#
#   srv 198.18.0.1:3478 (primary) + 198.18.0.3:3479 (alternate)
#    |  internet 198.18.0.0/24
#   open (none) . cone (eim) . apdf (eim-apdf) . sym (edm)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o

lab_init nft conntrack turnutils_natdiscovery timeout realpath
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
nat_site_add open none && nat_site_add cone eim && nat_site_add apdf eim-apdf &&
	nat_site_add sym edm || bail_out "sites"
nat_lab_describe | diag

# What the endpoint must print for each lab NAT (nat_mapping_name /
# nat_filtering_name): no NAT has no filtering either; fully random
# masquerade maps every destination to a new port.
declare -A want=([none]="mapping=none filtering=none" [eim]="mapping=eim filtering=eif"
	[eim-apdf]="mapping=eim filtering=apdf" [edm]="mapping=apdm filtering=apdf")

DB=$LAB_TMP/pinhole.db
for s in $(nat_sites); do
	acc_user_add "$DB" "u$s" "pw-$s-$$" || bail_out "pinholectl user add u$s"
done

# run_mode MODE FLAG...: one server run; every site's endpoint and
# natdiscovery against it.
run_mode() {
	local mode=$1 s line t0
	shift
	acc_server_start "$mode" "$DB" "$@" || {
		not_ok "[$mode] pinhole-server ready with --alt $NAT_SRV_ALT_IP:$ACC_ALT_PORT"
		diag <"$ACC_SRV_LOG"
		lab_stop "$ACC_SRV_PID" TERM 5
		return 1
	}
	ok "[$mode] pinhole-server ready with --alt $NAT_SRV_ALT_IP:$ACC_ALT_PORT"
	t0=$SECONDS
	for s in $(nat_sites); do
		acc_ep_start "$mode-$s" "$s" "u$s"
	done
	for s in $(nat_sites); do
		local id=$mode-$s kind
		kind=$(site_kind "$s")
		if acc_ep_wait "$id" ' nat mapping=' 15; then
			line=$(grep -m1 ' nat mapping=' "${ACC_EP_LOG[$id]}")
			if [[ $line == *" nat ${want[$kind]}"* ]]; then
				ok "[$mode] endpoint at $s ($kind) discovers ${want[$kind]}"
			else
				not_ok "[$mode] endpoint at $s ($kind) discovers ${want[$kind]}"
				diag "got: $line"
				diag <"${ACC_EP_LOG[$id]}"
			fi
		else
			not_ok "[$mode] endpoint at $s ($kind) discovers ${want[$kind]}"
			diag <"${ACC_EP_LOG[$id]}"
		fi
		line=$(grep -m1 ' reflexive address ' "${ACC_EP_LOG[$id]}")
		check_eq "[$mode] endpoint at $s learns its public address" "$(site_public_ip "$s")" \
			"$(sed -n 's/.* reflexive address \([0-9.]*\):[0-9]*$/\1/p' <<<"$line")"
	done
	diag "[$mode] all four discoveries done in $((SECONDS - t0)) s"
	for s in $(nat_sites); do
		acc_ep_quit "$mode-$s" >/dev/null
	done

	# coturn's client, all sites at once (the filtering tests wait for
	# its receive timeouts).  -L: the host's own address, so it can tell
	# "No NAT" from a NAT.
	local -A pid=()
	for s in $(nat_sites); do
		nat_flush "$s"
		site_exec "$s" timeout 60 turnutils_natdiscovery -m -f -L "$(site_private_ip "$s")" \
			-p "$ACC_PORT" "$NAT_SRV_IP" >"$LAB_TMP/nd-$mode-$s.txt" 2>&1 &
		pid[$s]=$!
	done
	for s in "${!pid[@]}"; do
		wait "${pid[$s]}" || echo "natdiscovery exit status $?" >>"$LAB_TMP/nd-$mode-$s.txt"
	done
	natdisc_check "$LAB_TMP/nd-$mode-open.txt" \
		"[$mode] natdiscovery vs pinhole-server: none -> no NAT, endpoint-independent filtering" \
		'^No NAT!' '^NAT with Endpoint Independent Filtering!' '!Dependent'
	natdisc_check "$LAB_TMP/nd-$mode-cone.txt" \
		"[$mode] natdiscovery vs pinhole-server: eim -> endpoint-independent mapping and filtering" \
		'!^No NAT' '^NAT with Endpoint Independent Mapping!' \
		'^NAT with Endpoint Independent Filtering!' '!Dependent'
	natdisc_check "$LAB_TMP/nd-$mode-apdf.txt" \
		"[$mode] natdiscovery vs pinhole-server: eim-apdf -> endpoint-independent mapping, address and port dependent filtering" \
		'!^No NAT' '^NAT with Endpoint Independent Mapping!' \
		'^NAT with Address and Port Dependent Filtering!' '!Address Dependent Filtering' \
		'!Endpoint Independent Filtering'
	natdisc_check "$LAB_TMP/nd-$mode-sym.txt" \
		"[$mode] natdiscovery vs pinhole-server: edm -> dependent mapping, dependent filtering" \
		'!^No NAT' '^NAT with Address (and Port )?Dependent Mapping!' \
		'^NAT with Address (and Port )?Dependent Filtering!' '!Endpoint Independent'

	check "[$mode] pinhole-server stayed up" kill -0 "$ACC_SRV_PID"
	lab_stop "$ACC_SRV_PID" TERM 10
	for s in $(nat_sites); do
		nat_flush "$s"
	done
}

run_mode userspace
lab_pin_dir
run_mode xdp --xdp srv0 --pin-dir "$LAB_PIN"
tap_summary
