#!/bin/bash
# SPDX-License-Identifier: MIT
# The NAT lab (tests/lab/nat.sh) really has the behaviours it claims, judged
# by tools nobody here wrote: coturn's turnserver as an RFC 5780 server and
# turnutils_natdiscovery from each site's host, then plain socat datagrams
# for the hole-punching cases the project relies on.
# Usage: bash tests/lab/test_nat_lab.sh BUILD_DIR (as root, from the repo
# root).  Prints TAP.
#
#   srv 198.18.0.1 + 198.18.0.3 (turnserver, ports 3478 and 3479)
#    |  internet 198.18.0.0/24
#   open (none) . cone (eim) . apdf, apdf2 (eim-apdf) . sym (edm)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
STUN_PORT=3478
ALT_PORT=3479

lab_init nft conntrack turnserver turnutils_natdiscovery socat timeout realpath

# --- the lab --------------------------------------------------------------------

xdp_opt=()
[[ -f $XDP_PASS_OBJ ]] && xdp_opt=(--xdp-pass "$XDP_PASS_OBJ")
nat_lab_init "${xdp_opt[@]}" || bail_out "nat_lab_init"
nat_site_add open none || bail_out "site open"
nat_site_add cone eim || bail_out "site cone"
nat_site_add apdf eim-apdf || bail_out "site apdf"
nat_site_add sym edm || bail_out "site sym"
nat_site_add apdf2 eim-apdf || bail_out "site apdf2"
ok "lab built: server, internet bridge and 5 sites (none, eim, eim-apdf x2, edm)"
nat_lab_describe | diag

if ((${#xdp_opt[@]})); then
	check "xdp_pass attached on psrv, the internet-side peer of the server's veth" \
		ph_xdp_attached "$NAT_INET_NS" psrv
else
	not_ok "xdp_pass attached on psrv ($XDP_PASS_OBJ is not built)"
fi
# fails cmd...: succeed only if cmd fails (checks that the library refuses).
fails() {
	! "$@" 2>/dev/null
}

# nonempty cmd...: succeed if cmd prints something.
nonempty() {
	[[ -n $("$@") ]]
}

check "an unknown NAT kind is refused" fails nat_site_add bad fullcone
check "a duplicate site name is refused" fails nat_site_add apdf eim
check_eq "addresses: public and private of a NAT site" "198.18.0.13 198.19.3.2" \
	"$(site_public_ip apdf) $(site_private_ip apdf)"
check_eq "addresses: a site without NAT is its own public address" "198.18.0.11 198.18.0.11" \
	"$(site_public_ip open) $(site_private_ip open)"

# --- coturn as the RFC 5780 server ---------------------------------------------------

# No config file (-n), no CLI, no TLS, STUN only; the pid file and the
# SQLite user db (opened even in STUN-only mode) go to the scratch dir so
# nothing outside the test is touched.
lab_bg "$NAT_SRV_NS" "$LAB_TMP/turnserver.out" turnserver -n --no-cli --stun-only \
	-L "$NAT_SRV_IP" -L "$NAT_SRV_ALT_IP" -p $STUN_PORT --alt-listening-port $ALT_PORT \
	--no-tls --no-dtls --log-file "$LAB_TMP/turnserver.log" --simple-log --no-stdout-log \
	--pidfile "$LAB_TMP/turnserver.pid" --userdb "$LAB_TMP/turndb"
TURN_PID=$LAB_PID

turn_listening() {
	local ss a p
	ss=$(srv_exec ss -Hnlu)
	for a in "$NAT_SRV_IP" "$NAT_SRV_ALT_IP"; do
		for p in $STUN_PORT $ALT_PORT; do
			grep -q "$a:$p " <<<"$ss" || return 1
		done
	done
}
wait_until 15 turn_listening && kill -0 "$TURN_PID" 2>/dev/null ||
	bail_out "turnserver is not listening on both addresses and ports (see $LAB_TMP/turnserver.*)"
ok "turnserver listens on $NAT_SRV_IP and $NAT_SRV_ALT_IP, ports $STUN_PORT and $ALT_PORT"

# --- RFC 5780 behaviour discovery per site ---------------------------------------------

# All sites at once: the filtering tests of the firewalled NATs wait for
# natdiscovery's own receive timeouts.  -L binds the host's own address so
# natdiscovery can tell "No NAT" (mapped == local) from a NAT.
declare -A disc_pid=()
for s in $(nat_sites); do
	site_exec "$s" timeout 60 turnutils_natdiscovery -m -f -L "$(site_private_ip "$s")" \
		"$NAT_SRV_IP" >"$LAB_TMP/disc-$s.txt" 2>&1 &
	disc_pid[$s]=$!
done
for s in "${!disc_pid[@]}"; do
	wait "${disc_pid[$s]}" || echo "natdiscovery exit status $? for $s" >>"$LAB_TMP/disc-$s.txt"
done

# reflexive_ips SITE: the distinct addresses natdiscovery was mapped to.
reflexive_ips() {
	sed -n 's/.*UDP reflexive addr: \([0-9.]*\):[0-9]*$/\1/p' "$LAB_TMP/disc-$1.txt" | sort -u |
		paste -sd' '
}

# check_disc SITE DESC REGEX...: natdisc_check on SITE's natdiscovery output.
check_disc() {
	local s=$1
	shift
	natdisc_check "$LAB_TMP/disc-$s.txt" "$@"
}

check_disc open "natdiscovery: none -> no NAT, endpoint-independent filtering" \
	'^No NAT!' '^NAT with Endpoint Independent Filtering!' '!Dependent'
check_disc cone "natdiscovery: eim -> endpoint-independent mapping and filtering" \
	'!^No NAT' '^NAT with Endpoint Independent Mapping!' \
	'^NAT with Endpoint Independent Filtering!' '!Dependent'
for s in apdf apdf2; do
	check_disc $s "natdiscovery: eim-apdf ($s) -> endpoint-independent mapping, address and port dependent filtering" \
		'!^No NAT' '^NAT with Endpoint Independent Mapping!' \
		'^NAT with Address and Port Dependent Filtering!' '!Address Dependent Filtering' \
		'!Endpoint Independent Filtering'
done
check_disc sym "natdiscovery: edm -> address(-and-port) dependent mapping, dependent filtering" \
	'!^No NAT' '^NAT with Address (and Port )?Dependent Mapping!' \
	'^NAT with Address (and Port )?Dependent Filtering!' '!Endpoint Independent'
for s in $(nat_sites); do
	check_eq "natdiscovery: $s is seen from the internet as its public address" \
		"$(site_public_ip "$s")" "$(reflexive_ips "$s")"
done

# --- plain datagrams: filtering and hole punching -----------------------------------

# A socat endpoint: one UDP socket bound to the host's address and LPORT,
# sending each line written to its fifo to PEER:PPORT and writing every
# datagram it receives, from anyone, to its log.
declare -A ep_fd=() ep_pid=() ep_log=()
ep_start() {
	local name=$1 site=$2 lport=$3 peer=$4 pport=$5 fifo fd
	fifo=$LAB_TMP/ep-$name.in
	ep_log[$name]=$LAB_TMP/ep-$name.log
	mkfifo "$fifo" || return 1
	# Held open read-write by the test, so socat never sees EOF on it.
	exec {fd}<>"$fifo"
	ep_fd[$name]=$fd
	lab_bg "$(site_ns "$site")" "${ep_log[$name]}" socat \
		"UDP-DATAGRAM:$peer:$pport,bind=$(site_private_ip "$site"):$lport" \
		"OPEN:$fifo,rdonly!!STDOUT"
	ep_pid[$name]=$LAB_PID
	wait_for_udp_port "$(site_ns "$site")" "$lport" 5
}

# ep_send NAME TEXT: NAME sends one datagram "TEXT\n" to its peer.
ep_send() {
	printf '%s\n' "$2" >&"${ep_fd[$1]}"
}

# ep_got NAME TEXT [TIMEOUT]: wait until NAME has received TEXT.
ep_got() {
	LAB_WATCH_PID=${ep_pid[$1]} wait_for_log "${ep_log[$1]}" "^$2\$" "${3:-5}"
}

ep_has() {
	grep -q "^$2\$" "${ep_log[$1]}"
}

_dropped_above() {
	(($(nat_dropped "$1") > $2))
}

# send_dropped SITE_NAT FROM TEXT TO: FROM sends TEXT; wait (bounded) until
# SITE_NAT's firewall has dropped a packet, then TO must not have it.  The
# drop counter turns "nothing arrived" into a condition one can wait for.
send_dropped() {
	local nat=$1 from=$2 text=$3 to=$4 base
	base=$(nat_dropped "$nat") || return 1
	ep_send "$from" "$text"
	if ! wait_until 5 _dropped_above "$nat" "$base"; then
		echo "the $nat NAT dropped nothing within 5 s"
		return 1
	fi
	if ep_has "$to" "$text"; then
		echo "$to received '$text' although the NAT counted a drop"
		return 1
	fi
}

A_PUB=$(site_public_ip apdf)
O_IP=$(site_public_ip open)

# eim-apdf against a host without NAT.
ep_start a1 apdf 5000 "$O_IP" 6000 && ep_start o1 open 6000 "$A_PUB" 5000 ||
	bail_out "socat endpoints a1/o1"
check "eim-apdf: an unsolicited datagram from another site is dropped by the NAT" \
	send_dropped apdf o1 unsolicited-1 a1
ep_send a1 punch-1
check "eim-apdf: the inside host's punch reaches the outside host" ep_got o1 punch-1
ep_send o1 after-punch-1
check "eim-apdf: after the punch the outside host's datagram gets through (source port kept)" \
	ep_got a1 after-punch-1
check "nat_flush: the NAT's conntrack table holds entries before the flush" \
	nonempty nat_conntrack apdf
nat_flush apdf
check_eq "nat_flush: conntrack table empty afterwards" "" "$(nat_conntrack apdf)"
check "nat_flush: the hole is closed again (the outside datagram is dropped)" \
	send_dropped apdf o1 after-flush-1 a1

# Full cone: nothing to punch.
ep_start c1 cone 5002 "$O_IP" 6002 && ep_start o2 open 6002 "$(site_public_ip cone)" 5002 ||
	bail_out "socat endpoints c1/o2"
ep_send o2 unsolicited-2
check "eim: an unsolicited datagram from another site reaches the inside host" \
	ep_got c1 unsolicited-2

# Two eim-apdf sites: the scenario pinhole's punch relies on.
B_PUB=$(site_public_ip apdf2)
ep_start a3 apdf 5001 "$B_PUB" 6001 && ep_start b3 apdf2 6001 "$A_PUB" 5001 ||
	bail_out "socat endpoints a3/b3"
check "eim-apdf x2: before any punch, B's datagram is dropped by A's NAT" \
	send_dropped apdf b3 early-3 a3
# B's datagram opened B's own NAT toward A: start the real sequence afresh.
nat_flush apdf && nat_flush apdf2
check "eim-apdf x2: A's punch is dropped by B's NAT" send_dropped apdf2 a3 punch-3 b3
ep_send b3 b-to-a-3
check "eim-apdf x2: after A's punch, B's datagram reaches A" ep_got a3 b-to-a-3
ep_send a3 a-to-b-3
check "eim-apdf x2: and A's next datagram reaches B" ep_got b3 a-to-b-3

# --- rebinding ------------------------------------------------------------------------

# first_mapped_port SITE LPORT: the reflexive port natdiscovery's first
# response reports for the host's LPORT.
first_mapped_port() {
	site_exec "$1" timeout 20 turnutils_natdiscovery -m -L "$(site_private_ip "$1")" -l "$2" \
		"$NAT_SRV_IP" 2>&1 | sed -n 's/.*UDP reflexive addr: [0-9.]*:\([0-9]*\)$/\1/p' | head -1
}

p1=$(first_mapped_port apdf 40000)
check_eq "eim-apdf keeps the source port" 40000 "$p1"
nat_flush apdf
p2=$(first_mapped_port apdf 40000)
check_eq "nat_flush alone: eim-apdf maps the same port again (Linux prefers the original)" \
	40000 "$p2"
check "nat_rebind on a site without NAT is refused" fails nat_rebind open
nat_rebind apdf
p3=$(first_mapped_port apdf 40000)
if [[ $p3 =~ ^[0-9]+$ ]] && ((p3 != 40000)); then
	ok "nat_rebind: eim-apdf maps the same host port to a new public port ($p3)"
else
	not_ok "nat_rebind: eim-apdf maps the same host port to a new public port"
	diag "got '$p3'"
fi

# turnserver dies of SIGTERM (status 143) rather than exiting: only check
# that it stayed up through every test above.
check "turnserver stayed up through the run" kill -0 "$TURN_PID"
lab_stop "$TURN_PID" TERM 10

# --- XDP_TX replies cross the lab ----------------------------------------------------

# pinhole's XDP program answers Binding requests with XDP_TX on srv0; the
# frames reach the bridge only because psrv runs xdp_pass (nat_lab_init
# --xdp-pass).  Needs pinhole-server from BUILD (another module's binary).
SERVER=$build/pinhole-server
ROOT=$(cd "$here/../.." && pwd)
# stun_reflexive SITE: the reflexive address turnutils_stunclient prints.
stun_reflexive() {
	site_exec "$1" timeout 5 turnutils_stunclient -p $STUN_PORT "$NAT_SRV_IP" 2>&1 |
		sed -n 's/.*UDP reflexive addr: \([0-9.]*\):[0-9]*$/\1/p' | head -1
}
if [[ -x $SERVER ]] && ((${#xdp_opt[@]})) && command -v bpftool >/dev/null &&
	command -v jq >/dev/null && ph_reasons_load "$ROOT/bpf/pinhole_kern_user.h"; then
	lab_pin_dir
	lab_bg "$NAT_SRV_NS" "$LAB_TMP/pinhole-server.log" "$SERVER" \
		--listen "$NAT_SRV_IP:$STUN_PORT" --xdp srv0 --pin-dir "$LAB_PIN"
	SRV_PID=$LAB_PID
	if LAB_WATCH_PID=$SRV_PID wait_for_log "$LAB_TMP/pinhole-server.log" ready 15; then
		bad=""
		for s in $(nat_sites); do
			r=$(stun_reflexive "$s")
			[[ $r == "$(site_public_ip "$s")" ]] || bad+=" $s:'$r'"
		done
		tx=$(ph_stat "$(ph_stats_json "$LAB_PIN")" PH_TX_BINDING)
		n=$(nat_sites | wc -l)
		if [[ -z $bad ]] && ((tx >= n)); then
			ok "XDP_TX: every site got its reflexive address from pinhole's XDP program ($tx answered in the kernel)"
		else
			not_ok "XDP_TX: every site got its reflexive address from pinhole's XDP program"
			diag "wrong or missing:${bad:- none}; kernel answers: $tx (want >= $n)"
			diag <"$LAB_TMP/pinhole-server.log"
		fi
	else
		not_ok "XDP_TX: pinhole-server --xdp srv0 ready"
		diag <"$LAB_TMP/pinhole-server.log"
	fi
	lab_stop "$SRV_PID" TERM 10
else
	ok "XDP_TX across the lab # SKIP needs $SERVER, $XDP_PASS_OBJ, bpftool and jq"
fi

# --- teardown -----------------------------------------------------------------------

# A process started in a site without lab_bg must not outlive the lab.
# (Started from a subshell so it is not this shell's job: no "Terminated".)
stray=$(
	site_exec apdf sleep 600 >/dev/null 2>&1 &
	echo $!
)
lab_ns_left() {
	compgen -G "/run/netns/$(lab_ns_name nl-)*"
}
nat_lab_cleanup
if ! lab_ns_left >/dev/null && wait_until 5 fails kill -0 "$stray"; then
	ok "nat_lab_cleanup removes every lab namespace and stops what ran in them"
else
	not_ok "nat_lab_cleanup removes every lab namespace and stops what ran in them"
	diag "left: $(lab_ns_left | paste -sd' ')" "stray sleep alive: $(kill -0 "$stray" 2>/dev/null && echo yes || echo no)"
fi
tap_summary
