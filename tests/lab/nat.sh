#!/bin/bash
# SPDX-License-Identifier: MIT
# NAT lab: a lab "internet" and endpoint sites behind real Linux NATs
# (nftables + conntrack), sourced by lab tests and the demo after lib.sh.
#
#   ns nl-srv  srv0 198.18.0.1/24 + 198.18.0.3/24 (RFC 5780 alternate address)
#      |
#   ns nl-inet  bridge br0 (the "internet", 198.18.0.0/24; ports psrv, p1, p2, ...)
#      |                                  |
#   ns nl-<site>-nat  wan0 198.18.0.(10+N)   ns nl-<site> (kind none)
#                     lan0 198.19.N.1/24        eth0 198.18.0.(10+N)/24
#      |
#   ns nl-<site>  eth0 198.19.N.2/24, default route via 198.19.N.1
#
# NAT kinds (one nftables table "natlab" per NAT namespace):
#   none      the host sits on the internet segment itself;
#   eim       endpoint-independent mapping and filtering ("full cone"):
#             static 1:1 snat + dnat of the public address to the host;
#   eim-apdf  endpoint-independent mapping, address-and-port-dependent
#             filtering: masquerade (Linux keeps the source port when it
#             can) behind a stateful firewall;
#   edm       endpoint-dependent mapping ("symmetric"): masquerade
#             random,fully-random behind the same firewall.
# The firewall matters: without it an unsolicited datagram to the NAT is
# accepted locally and leaves a conntrack entry, and the inside host's next
# flow to that peer is remapped to a random port (conntrack clash), which no
# home router does (LAB-NOTES.md).
#
# Namespace short names (for lab_in / lab_bg / lab_ip): $NAT_SRV_NS,
# $NAT_INET_NS, $(site_ns SITE), $(site_nat_ns SITE).
#
# Usage:
#   source tests/lab/lib.sh; source tests/lab/nat.sh
#   lab_init; nat_lab_init --xdp-pass BUILD/tests/xdp_pass.bpf.o
#   nat_site_add alice eim-apdf; nat_site_add bob edm
#   site_exec alice some-client --server "$NAT_SRV_IP"

if ! declare -F lab_ns_add >/dev/null; then
	# shellcheck source=tests/lab/lib.sh
	source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

NAT_SRV_IP=198.18.0.1
NAT_SRV_ALT_IP=198.18.0.3
NAT_SRV_NS=nl-srv
NAT_INET_NS=nl-inet
NAT_KINDS="none eim eim-apdf edm"

_nat_up=0
_nat_next=0
_nat_nsl=()
_nat_sites=()
declare -gA _nat_kind=() _nat_idx=()

# Run FUNC ARGS quietly unless LAB_VERBOSE; print the failing step otherwise.
_nat_step() {
	local what=$1 out
	shift
	if ! out=$("$@" 2>&1); then
		echo "nat lab: $what failed: $* :: $out" >&2
		return 1
	fi
}

_nat_ns_add() {
	lab_ns_add "$1" || return 1
	_nat_nsl+=("$1")
}

# nat_lab_init [--xdp-pass OBJ]: create the internet segment (namespace
# $NAT_INET_NS, bridge br0) and the server host $NAT_SRV_NS with
# $NAT_SRV_IP/24 and $NAT_SRV_ALT_IP/24 on srv0.  With --xdp-pass, attach
# OBJ's XDP_PASS program to psrv, the internet-side peer of srv0, so frames
# a server's XDP program bounces with XDP_TX are not dropped by the veth.
# Needs lab_init first (root, LAB_TMP, the EXIT trap).  Returns 1 on any
# failed step (with the reason on stderr); the trap still cleans up.
nat_lab_init() {
	local xdp=""
	while (($#)); do
		case $1 in
		--xdp-pass)
			xdp=$2
			shift 2
			;;
		*)
			echo "nat_lab_init: unknown option $1" >&2
			return 1
			;;
		esac
	done
	if [[ -z ${LAB_TMP:-} ]]; then
		echo "nat_lab_init: call lab_init first" >&2
		return 1
	fi
	((_nat_up)) && return 0
	_nat_hook_trap
	_nat_ns_add "$NAT_INET_NS" || return 1
	_nat_step "bridge" lab_ip "$NAT_INET_NS" link add br0 type bridge || return 1
	_nat_step "bridge up" lab_ip "$NAT_INET_NS" link set br0 up || return 1
	_nat_ns_add "$NAT_SRV_NS" || return 1
	_nat_uplink "$NAT_SRV_NS" srv0 psrv || return 1
	_nat_step "server address" lab_addr "$NAT_SRV_NS" srv0 "$NAT_SRV_IP/24" || return 1
	_nat_step "server alt address" lab_addr "$NAT_SRV_NS" srv0 "$NAT_SRV_ALT_IP/24" || return 1
	if [[ -n $xdp ]]; then
		_nat_step "xdp_pass on psrv" lab_xdp_pass "$NAT_INET_NS" psrv "$xdp" || return 1
	fi
	_nat_up=1
}

# _nat_uplink NS IF PORT: veth IF (in NS) <-> PORT (in the internet
# namespace, enslaved to br0).  UDP checksums are finished in software on IF
# (lab_csum_sw): forwarded frames keep CHECKSUM_PARTIAL across veths, and an
# XDP program downstream would see an unfinished checksum.
_nat_uplink() {
	_nat_step "veth $1/$2" lab_veth "$1" "$2" "$NAT_INET_NS" "$3" || return 1
	_nat_step "enslave $3" lab_ip "$NAT_INET_NS" link set "$3" master br0 || return 1
	_nat_step "tx csum $1/$2" lab_csum_sw "$1" "$2"
}

# nat_site_add SITE KIND: add site SITE (lowercase letters, digits, at most
# 12 chars) with NAT KIND (none | eim | eim-apdf | edm).  Site number N
# (1, 2, ... in order of creation) gives public address 198.18.0.(10+N); the
# host behind the NAT is 198.19.N.2/24.  Returns 1 on a bad name or kind or
# a failed step.
nat_site_add() {
	local site=$1 kind=$2 n pub host nat
	if ((!_nat_up)); then
		echo "nat_site_add: call nat_lab_init first" >&2
		return 1
	fi
	if [[ ! $site =~ ^[a-z0-9]{1,12}$ || -n ${_nat_kind[$site]:-} ]]; then
		echo "nat_site_add: bad or duplicate site name '$site'" >&2
		return 1
	fi
	case " $NAT_KINDS " in
	*" $kind "*) ;;
	*)
		echo "nat_site_add: unknown kind '$kind' (want one of: $NAT_KINDS)" >&2
		return 1
		;;
	esac
	n=$((_nat_next + 1))
	if ((n > 200)); then
		echo "nat_site_add: too many sites" >&2
		return 1
	fi
	_nat_next=$n
	pub=198.18.0.$((10 + n))
	host=nl-$site
	_nat_ns_add "$host" || return 1
	_nat_kind[$site]=$kind
	_nat_idx[$site]=$n
	_nat_sites+=("$site")
	if [[ $kind == none ]]; then
		_nat_uplink "$host" eth0 "p$n" || return 1
		_nat_step "host address" lab_addr "$host" eth0 "$pub/24" || return 1
		return 0
	fi
	nat=nl-$site-nat
	_nat_ns_add "$nat" || return 1
	_nat_uplink "$nat" wan0 "p$n" || return 1
	_nat_step "nat public address" lab_addr "$nat" wan0 "$pub/24" || return 1
	_nat_step "veth lan" lab_veth "$nat" lan0 "$host" eth0 || return 1
	_nat_step "tx csum lan0" lab_csum_sw "$nat" lan0 || return 1
	_nat_step "tx csum eth0" lab_csum_sw "$host" eth0 || return 1
	_nat_step "nat private address" lab_addr "$nat" lan0 "198.19.$n.1/24" || return 1
	_nat_step "host address" lab_addr "$host" eth0 "198.19.$n.2/24" || return 1
	_nat_step "host route" lab_ip "$host" route add default via "198.19.$n.1" || return 1
	_nat_step "forwarding" lab_in "$nat" sysctl -qw net.ipv4.ip_forward=1 || return 1
	_nat_rules "$kind" "$pub" "198.19.$n.2" | _nat_step "nft ruleset" lab_in "$nat" nft -f - ||
		return 1
}

# _nat_rules KIND PUBLIC PRIVATE: the nftables ruleset of a NAT of KIND.
# The firewall's last rules count what they drop (nat_dropped), so a test
# can wait for "the NAT dropped it" instead of sleeping on a negative.
_nat_rules() {
	local kind=$1 pub=$2 priv=$3
	if [[ $kind == eim ]]; then
		cat <<-EOF
			table ip natlab {
				chain prerouting {
					type nat hook prerouting priority dstnat; policy accept;
					iifname "wan0" ip daddr $pub dnat to $priv
				}
				chain postrouting {
					type nat hook postrouting priority srcnat; policy accept;
					oifname "wan0" ip saddr $priv snat to $pub
				}
			}
		EOF
		return
	fi
	local masq=masquerade
	[[ $kind == edm ]] && masq="masquerade random,fully-random"
	cat <<-EOF
		table ip natlab {
			counter dropped_in {
			}
			counter dropped_fwd {
			}
			chain input {
				type filter hook input priority filter; policy drop;
				ct state established,related accept
				iifname { "lo", "lan0" } accept
				counter name "dropped_in" drop
			}
			chain forward {
				type filter hook forward priority filter; policy drop;
				ct state established,related accept
				iifname "lan0" oifname "wan0" accept
				counter name "dropped_fwd" drop
			}
			chain postrouting {
				type nat hook postrouting priority srcnat; policy accept;
				oifname "wan0" $masq
			}
		}
	EOF
}

_nat_need_site() {
	if [[ -z ${_nat_kind[$1]:-} ]]; then
		echo "nat lab: no site '$1'" >&2
		return 1
	fi
}

# site_ns SITE: print the short namespace name of SITE's host (for lab_in,
# lab_bg, lab_ip, wait_for_udp_port).
site_ns() {
	_nat_need_site "$1" || return 1
	echo "nl-$1"
}

# site_nat_ns SITE: print the short namespace name of SITE's NAT box; fails
# for a site of kind none (it has no NAT box).
site_nat_ns() {
	_nat_need_site "$1" || return 1
	if [[ ${_nat_kind[$1]} == none ]]; then
		echo "site_nat_ns: site '$1' has no NAT" >&2
		return 1
	fi
	echo "nl-$1-nat"
}

# site_kind SITE: print SITE's NAT kind.
site_kind() {
	_nat_need_site "$1" || return 1
	echo "${_nat_kind[$1]}"
}

# site_public_ip SITE: print the address the internet sees SITE's host as
# (the NAT's wan address, or the host's own for kind none).
site_public_ip() {
	_nat_need_site "$1" || return 1
	echo "198.18.0.$((10 + _nat_idx[$1]))"
}

# site_private_ip SITE: print the address SITE's host has on its own
# interface (equal to site_public_ip for kind none).
site_private_ip() {
	_nat_need_site "$1" || return 1
	if [[ ${_nat_kind[$1]} == none ]]; then
		site_public_ip "$1"
	else
		echo "198.19.${_nat_idx[$1]}.2"
	fi
}

# nat_sites: print every site name, one a line, in order of creation.
nat_sites() {
	((${#_nat_sites[@]})) && printf '%s\n' "${_nat_sites[@]}"
	return 0
}

# nat_lab_describe: print the lab as a table (site, kind, host address,
# public address), server first; for logs and the demo.
nat_lab_describe() {
	local s
	printf '%-12s %-9s %-14s %s\n' site kind host public
	printf '%-12s %-9s %-14s %s\n' server - "$NAT_SRV_IP" "$NAT_SRV_IP + $NAT_SRV_ALT_IP"
	for s in "${_nat_sites[@]}"; do
		printf '%-12s %-9s %-14s %s\n' "$s" "${_nat_kind[$s]}" "$(site_private_ip "$s")" \
			"$(site_public_ip "$s")"
	done
}

# site_exec SITE cmd...: run cmd in SITE's host namespace (network only;
# host mounts stay visible) and return its status.
site_exec() {
	local ns
	ns=$(site_ns "$1") || return 1
	shift
	lab_in "$ns" "$@"
}

# nat_exec SITE cmd...: run cmd in SITE's NAT namespace (nft, conntrack).
nat_exec() {
	local ns
	ns=$(site_nat_ns "$1") || return 1
	shift
	lab_in "$ns" "$@"
}

# srv_exec cmd...: run cmd in the server host's namespace.
srv_exec() {
	lab_in "$NAT_SRV_NS" "$@"
}

# nat_conntrack SITE: print SITE's NAT conntrack table (UDP entries only,
# one a line; empty if none).  Empty for kind none.
nat_conntrack() {
	_nat_need_site "$1" || return 1
	[[ ${_nat_kind[$1]} == none ]] && return 0
	nat_exec "$1" conntrack -L -p udp 2>/dev/null
}

# nat_flush SITE: delete every conntrack entry in SITE's NAT, so existing
# mappings and the holes they opened are forgotten (the next outbound
# datagram creates a new mapping: a new port for edm; eim and eim-apdf keep
# the port since Linux prefers the original one; see nat_rebind).  No-op
# for kind none.  Returns non-zero if conntrack fails.
nat_flush() {
	_nat_need_site "$1" || return 1
	[[ ${_nat_kind[$1]} == none ]] && return 0
	nat_exec "$1" conntrack -F >/dev/null 2>&1
}

# nat_rebind SITE: force a NAT rebinding as the server would see it after a
# home router reboot: for every remote SITE's NAT holds a UDP mapping toward
# now, the inside host's next datagram leaves on a different public port.
# Flushes conntrack, then inserts each old reply tuple (remote -> public
# port) as a placeholder entry for 60 s, so the NAT's port choice clashes
# and picks a random free port.  On this kernel the host's flows to other
# remotes then reuse that new mapping (masquerade prefers an existing
# mapping of the same source), so an eim-apdf NAT stays endpoint-
# independent after the rebinding (test_presence.sh relies on it).
# Placeholders open no hole (a packet matching one is
# still "new" to the firewall).  Kinds eim-apdf and edm only: returns 1 for
# eim (static 1:1) and none, or if conntrack fails.
nat_rebind() {
	local site=$1 line remote rport pport pub rc=0
	local -a tuples=()
	_nat_need_site "$site" || return 1
	case ${_nat_kind[$site]} in
	eim-apdf | edm) ;;
	*)
		echo "nat_rebind: kind ${_nat_kind[$site]} of '$site' cannot rebind" >&2
		return 1
		;;
	esac
	pub=$(site_public_ip "$site")
	# An outbound mapping's reply tuple is remote:rport -> pub:pport; that is
	# the tuple the NAT must find taken to move to another port.
	while read -r line; do
		[[ $line =~ dst=([0-9.]+)\ sport=[0-9]+\ dport=([0-9]+).*src=([0-9.]+)\ dst=$pub\ sport=[0-9]+\ dport=([0-9]+) ]] ||
			continue
		remote=${BASH_REMATCH[1]}
		rport=${BASH_REMATCH[2]}
		pport=${BASH_REMATCH[4]}
		tuples+=("$remote $rport $pport")
	done < <(nat_conntrack "$site")
	nat_flush "$site" || return 1
	for line in "${tuples[@]}"; do
		read -r remote rport pport <<<"$line"
		nat_exec "$site" conntrack -I -p udp -s "$remote" -d "$pub" \
			--sport "$rport" --dport "$pport" -t 60 >/dev/null 2>&1 || rc=1
	done
	return $rc
}

# nat_dropped SITE: print how many packets SITE's NAT firewall has dropped
# (input + forward); 0 for kinds without a firewall (none, eim).
nat_dropped() {
	local a b
	_nat_need_site "$1" || return 1
	case ${_nat_kind[$1]} in
	none | eim)
		echo 0
		return 0
		;;
	esac
	a=$(nat_exec "$1" nft list counter ip natlab dropped_in | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	b=$(nat_exec "$1" nft list counter ip natlab dropped_fwd | sed -n 's/.*packets \([0-9]*\).*/\1/p')
	[[ -n $a && -n $b ]] || return 1
	echo $((a + b))
}

# nat_lab_cleanup: stop every process running in a lab namespace (TERM,
# then KILL after 3 s) and delete the namespaces, which removes their veths,
# XDP attachments, nftables tables and conntrack state.  Idempotent; runs
# from the EXIT trap before lib.sh's lab_cleanup, and may be called earlier
# to tear the lab down.
nat_lab_cleanup() {
	local ns full pids=() pid i
	for ns in "${_nat_nsl[@]}"; do
		full=$(lab_ns_name "$ns")
		[[ -e /run/netns/$full ]] || continue
		# Anything started in a lab namespace without lab_bg (a background
		# `site_exec ... &`) would keep the namespace alive after `ip netns
		# del`; these are only processes inside namespaces this lab made.
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$full" 2>/dev/null)
	done
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		for ((i = 0; i < 60; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	for ns in "${_nat_nsl[@]}"; do
		ip netns del "$(lab_ns_name "$ns")" 2>/dev/null
	done
	_nat_nsl=()
	_nat_sites=()
	_nat_kind=()
	_nat_idx=()
	_nat_next=0
	_nat_up=0
}

# lib.sh has one EXIT trap (lab_cleanup) and no hook list: chain ours in
# front of it, handing lab_cleanup the script's exit status so it still
# keeps LAB_TMP for inspection after a failure.
_nat_on_exit() {
	local rc=$?
	# timeout(1) signals the script and then its whole process group, so a
	# second SIGINT/SIGTERM often lands here; lib.sh's handler (exit) would
	# abort the cleanup half way.
	trap '' INT TERM HUP
	nat_lab_cleanup
	(exit $rc)
	lab_cleanup
}

_nat_hook_trap() {
	local cur
	cur=$(trap -p EXIT)
	[[ $cur == *_nat_on_exit* ]] && return
	if [[ $cur == *lab_cleanup* ]]; then
		trap _nat_on_exit EXIT
	fi
}

# --- access lab: pinhole-server, users, endpoints, direct-path counters -------
#
# Appended for the access tests (test_discovery_lab.sh, test_access_*.sh) and
# the demo.  The server runs in $NAT_SRV_NS on $NAT_SRV_IP:$ACC_PORT with the
# RFC 5780 alternate $NAT_SRV_ALT_IP:$ACC_ALT_PORT; endpoints run in site
# host namespaces with their stdin on a fifo the script holds open, so a
# test types commands into them (`acc_ep_cmd alice "@bob hi"`).
#
#   acc_init BUILD                         binaries from BUILD
#   acc_server_start ID DB [FLAG...]       start, wait for "ready"
#   acc_user_add DB NAME PASSWORD          pinholectl user add (password on stdin)
#   acc_allow DB A B                       contact allow both ways
#   acc_ep_start ID SITE USER [FLAG...]    pinhole-endpoint in SITE as USER
#   acc_ep_cmd ID LINE / acc_ep_wait ID REGEX [TIMEOUT] / acc_ep_quit ID
#   acc_ts FILE REGEX                      the ms timestamp of the first match
#   inet_count_init / inet_count_add NAME RULE / inet_count NAME

ACC_PORT=3478
ACC_ALT_PORT=3479
ACC_SERVER=""
ACC_CTL=""
ACC_EP=""
ACC_SRV_PID=""
ACC_SRV_LOG=""
declare -gA ACC_EP_PID=() ACC_EP_LOG=() ACC_EP_FD=() ACC_PW=()

# acc_init BUILD: find pinhole-server, pinholectl and pinhole-endpoint in
# BUILD; returns 1 (with the missing one on stderr) if one is not built.
acc_init() {
	local b=$1 f
	ACC_SERVER=$b/pinhole-server
	ACC_CTL=$b/pinholectl
	ACC_EP=$b/pinhole-endpoint
	for f in "$ACC_SERVER" "$ACC_CTL" "$ACC_EP"; do
		if [[ ! -x $f ]]; then
			echo "acc_init: $f is not built" >&2
			return 1
		fi
	done
}

# acc_server_start ID DB [FLAG...]: start pinhole-server in the server
# namespace, primary $NAT_SRV_IP:$ACC_PORT, alternate
# $NAT_SRV_ALT_IP:$ACC_ALT_PORT (unless FLAGs contain --listen/--alt of
# their own), store DB, extra FLAGs; log in $LAB_TMP/server-ID.log.  Waits
# (15 s) for "ready".  Sets ACC_SRV_PID and ACC_SRV_LOG.
acc_server_start() {
	local id=$1 db=$2 a
	local -a def=(--listen "$NAT_SRV_IP:$ACC_PORT" --alt "$NAT_SRV_ALT_IP:$ACC_ALT_PORT")
	shift 2
	for a in "$@"; do
		[[ $a == --listen || $a == --alt ]] && def=()
	done
	ACC_SRV_LOG=$LAB_TMP/server-$id.log
	lab_bg "$NAT_SRV_NS" "$ACC_SRV_LOG" "$ACC_SERVER" "${def[@]}" --db "$db" "$@"
	ACC_SRV_PID=$LAB_PID
	LAB_WATCH_PID=$ACC_SRV_PID wait_for_log "$ACC_SRV_LOG" ' ready' 15
}

# acc_user_add DB NAME PASSWORD: create user NAME (password on stdin, as an
# operator would) and keep the password in $LAB_TMP/pw-NAME for
# acc_ep_start.  Returns pinholectl's status.
acc_user_add() {
	local db=$1 name=$2 pw=$3
	printf '%s\n' "$pw" >"$LAB_TMP/pw-$name" || return 1
	ACC_PW[$name]=$LAB_TMP/pw-$name
	printf '%s\n' "$pw" | "$ACC_CTL" --db "$db" user add "$name" >/dev/null
}

# acc_allow DB A B: A may contact B and B may contact A.
acc_allow() {
	"$ACC_CTL" --db "$1" contact allow "$2" "$3" >/dev/null &&
		"$ACC_CTL" --db "$1" contact allow "$3" "$2" >/dev/null
}

# acc_ep_start ID SITE USER [FLAG...]: start pinhole-endpoint for USER
# (password file from acc_user_add, or $LAB_TMP/pw-USER) in SITE's host,
# server $NAT_SRV_IP:$ACC_PORT unless FLAGs give --server; stdin is a fifo
# held open by the script (acc_ep_cmd writes to it), stdout+stderr go to
# $LAB_TMP/ep-ID.log.  The process is registered for the EXIT cleanup.
# Sets ACC_EP_PID[ID], ACC_EP_LOG[ID], ACC_EP_FD[ID].
acc_ep_start() {
	local id=$1 site=$2 user=$3 ns fifo fd a
	local -a srv=(--server "$NAT_SRV_IP:$ACC_PORT")
	shift 3
	for a in "$@"; do
		[[ $a == --server ]] && srv=()
	done
	ns=$(site_ns "$site") || return 1
	fifo=$LAB_TMP/ep-$id.in
	rm -f "$fifo"
	mkfifo "$fifo" || return 1
	# Read-write, so opening never blocks and the endpoint never sees EOF.
	exec {fd}<>"$fifo"
	ACC_EP_FD[$id]=$fd
	ACC_EP_LOG[$id]=$LAB_TMP/ep-$id.log
	nsenter --net="/run/netns/$(lab_ns_name "$ns")" -- "$ACC_EP" "${srv[@]}" \
		--user "$user" --password-file "${ACC_PW[$user]:-$LAB_TMP/pw-$user}" "$@" \
		<"$fifo" >"${ACC_EP_LOG[$id]}" 2>&1 &
	ACC_EP_PID[$id]=$!
	_lab_pids+=("$!")
}

# acc_ep_cmd ID LINE: type LINE into endpoint ID's stdin.
acc_ep_cmd() {
	printf '%s\n' "$2" >&"${ACC_EP_FD[$1]}"
}

# acc_ep_wait ID REGEX [TIMEOUT_S]: wait until endpoint ID's log has a line
# matching REGEX; fails early if the endpoint exits without printing it.
acc_ep_wait() {
	LAB_WATCH_PID=${ACC_EP_PID[$1]} wait_for_log "${ACC_EP_LOG[$1]}" "$2" "${3:-10}"
}

# acc_ep_alive ID: the endpoint process is still running.
acc_ep_alive() {
	kill -0 "${ACC_EP_PID[$1]}" 2>/dev/null
}

# acc_ep_quit ID [TIMEOUT_S]: /quit, wait for the exit (TERM then KILL after
# TIMEOUT_S, default 5) and return its status; closes the fifo.
acc_ep_quit() {
	local id=$1 t=${2:-5} pid=${ACC_EP_PID[$1]} i rc fd
	acc_ep_cmd "$id" /quit 2>/dev/null
	for ((i = 0; i < t * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	lab_stop "$pid" TERM 3
	rc=$?
	fd=${ACC_EP_FD[$id]}
	[[ -n $fd ]] && exec {fd}>&-
	ACC_EP_FD[$id]=""
	return $rc
}

# acc_ts FILE REGEX: print the timestamp (seconds.milliseconds, the first
# field of every line the log hook writes) of FILE's first line matching
# REGEX; empty and status 1 if none.
acc_ts() {
	local l
	l=$(grep -E -m1 -- "$2" "$1" 2>/dev/null) || return 1
	l=${l%% *}
	[[ $l =~ ^[0-9]+\.[0-9]{3}$ ]] || return 1
	echo "$l"
}

# acc_ms_between T1 T2: milliseconds from T1 to T2 (acc_ts stamps).
acc_ms_between() {
	echo $((10#${2/./} - 10#${1/./}))
}

# inet_count_init: an nftables table (bridge family) on the internet
# bridge that counts what crosses it, for "did this go direct?" checks.
inet_count_init() {
	lab_in "$NAT_INET_NS" nft -f - <<-'EOT'
		table bridge phcount {
			chain forward {
				type filter hook forward priority filter; policy accept;
			}
		}
	EOT
}

# inet_count_add NAME MATCH...: count packets crossing the internet that
# match the nft expression MATCH (e.g. "ip saddr 198.18.0.11 ip daddr
# 198.18.0.12 udp") under counter NAME.
inet_count_add() {
	local name=$1
	shift
	lab_in "$NAT_INET_NS" nft add counter bridge phcount "$name" &&
		lab_in "$NAT_INET_NS" nft add rule bridge phcount forward "$@" counter name "$name"
}

# inet_count NAME: packets counted under NAME so far.
inet_count() {
	lab_in "$NAT_INET_NS" nft list counter bridge phcount "$1" |
		sed -n 's/.*packets \([0-9]*\).*/\1/p'
}

# inet_count_access_via_server NAME: count ONLINE and MESSAGE requests
# (STUN types 0x3020 / 0x3021: methods 0xC10 / 0xC11, class request) sent
# to the server's addresses; direct sessions must leave this at 0.
inet_count_access_via_server() {
	inet_count_add "$1" ip daddr "{ $NAT_SRV_IP, $NAT_SRV_ALT_IP }" \
		udp dport "{ $ACC_PORT, $ACC_ALT_PORT }" '@ih,0,16' '{ 0x3020, 0x3021 }'
}

# natdisc_verdicts FILE: turnutils_natdiscovery's verdict lines in FILE,
# joined with " | ".
natdisc_verdicts() {
	grep -E '^(No NAT!|NAT with )' "$1" | paste -sd'|' | sed 's/|/ | /g'
}

# natdisc_check FILE DESC REGEX...: TAP ok when every extended REGEX
# matches one of FILE's verdict lines and no "!REGEX" matches any.
natdisc_check() {
	local f=$1 desc=$2 v re bad=""
	shift 2
	v=$(natdisc_verdicts "$f")
	for re in "$@"; do
		if [[ $re == !* ]]; then
			grep -Eq -- "${re#!}" <<<"${v//' | '/$'\n'}" && bad+=" unexpected /${re#!}/;"
		else
			grep -Eq -- "$re" <<<"${v//' | '/$'\n'}" || bad+=" missing /$re/;"
		fi
	done
	if [[ -z $bad ]]; then
		ok "$desc"
		diag "$v"
	else
		not_ok "$desc"
		diag "$bad" "verdicts: $v"
		diag <"$f"
	fi
}
