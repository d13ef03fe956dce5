#!/bin/bash
# SPDX-License-Identifier: MIT
# Lab helpers, sourced by tests/lab/test_*.sh and tests/lab/demo.sh.
#
# What it gives a script:
#   - network namespaces with unique names (phlab-<pid>-<name>), veth pairs,
#     addresses restricted to 198.18.0.0/15 and 2001:db8::/32;
#   - one EXIT trap that kills every process started through lab_bg, deletes
#     every namespace (and with it every veth and XDP attachment) and removes
#     every pin dir handed out by lab_pin_dir, on success, failure or signal;
#   - polling waits (wait_for_log, wait_for_udp_port, wait_until): no fixed
#     sleeps, so tests are as fast as the system and fail with a reason;
#   - TAP output (ok / not_ok / check / tap_summary) as tests/run.sh counts it.
#
# Everything inside a namespace runs through nsenter --net (lab_in), never
# `ip netns exec`: the latter remounts /sys, and the server's pins under
# /sys/fs/bpf would then be invisible to bpftool and to the test.

LAB_PREFIX="phlab-$$-"
LAB_PIN_PREFIX="/sys/fs/bpf/ph-lab-$$"
LAB_TMP=""
LAB_VERBOSE=${LAB_VERBOSE:-0}

_lab_ns=()
_lab_pids=()
_lab_pins=()
_lab_npin=0
_tap_n=0
_tap_fail=0
_lab_cleaned=0

# --- TAP -------------------------------------------------------------------

ok() {
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n - $*"
}

not_ok() {
	_tap_n=$((_tap_n + 1))
	_tap_fail=$((_tap_fail + 1))
	echo "not ok $_tap_n - $*"
}

# Print text as TAP comments ("# ...") so it never counts as a result line.
diag() {
	if (($#)); then
		printf '%s\n' "$@" | sed 's/^/# /'
	else
		sed 's/^/# /'
	fi
}

# check "desc" cmd...: ok if cmd exits 0; otherwise not ok plus cmd's output.
# cmd runs in this shell (not a subshell), so what it sets or starts (pids,
# arrays) stays visible to the script.
check() {
	local desc=$1 out rc f
	shift
	f=$(mktemp "${LAB_TMP:-/tmp}/check.XXXXXX")
	"$@" >"$f" 2>&1
	rc=$?
	out=$(cat "$f")
	rm -f "$f"
	if ((rc == 0)); then
		ok "$desc"
		((LAB_VERBOSE)) && [[ -n $out ]] && diag "$out"
	else
		not_ok "$desc"
		diag "command: $* (exit $rc)"
		[[ -n $out ]] && diag "$out"
	fi
	return $rc
}

# check_eq "desc" EXPECTED ACTUAL
check_eq() {
	if [[ "$2" == "$3" ]]; then
		ok "$1"
	else
		not_ok "$1"
		diag "expected: '$2'" "     got: '$3'"
		return 1
	fi
}

# Print the plan and a one-line summary; returns non-zero if anything failed.
tap_summary() {
	echo "1..$_tap_n"
	echo "# $((_tap_n - _tap_fail)) passed, $_tap_fail failed"
	((_tap_fail == 0 && _tap_n > 0))
}

tap_failed() {
	echo "$_tap_fail"
}

# Stop the script now (used when a setup step fails and nothing after it
# could mean anything); the EXIT trap still cleans up.
bail_out() {
	echo "Bail out! $*"
	_tap_fail=$((_tap_fail + 1))
	exit 1
}

# --- setup and cleanup ------------------------------------------------------

# lab_init: must run before anything else.  Checks privileges and tools,
# mounts bpffs if needed, creates a scratch dir and installs the cleanup trap.
lab_init() {
	local t
	if ((EUID != 0)); then
		bail_out "the lab needs root (network namespaces, XDP, bpffs)"
	fi
	for t in ip nsenter ss ethtool "$@"; do
		command -v "$t" >/dev/null || bail_out "missing tool: $t"
	done
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf || bail_out "cannot mount bpffs"
	fi
	LAB_TMP=$(mktemp -d "/tmp/${LAB_PREFIX}XXXXXX") || bail_out "mktemp"
	# The script's real stdout: a trap may fire while check() has stdout
	# redirected to a scratch file, and its messages must still be seen.
	exec {LAB_OUT}>&1
	trap lab_cleanup EXIT
	# A signal ends the script through exit, so the EXIT trap runs once.
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# Kill (TERM, then KILL after 3 s) every registered process still alive.
_lab_kill_all() {
	local pid i
	for pid in "${_lab_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${_lab_pids[@]}"; do
		for ((i = 0; i < 60; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	_lab_pids=()
}

lab_cleanup() {
	local rc=$? ns d
	((_lab_cleaned)) && return
	_lab_cleaned=1
	# timeout(1) signals the script and then its process group: a second
	# signal must not cut the clean-up short.
	trap '' INT TERM HUP
	_lab_kill_all
	# Deleting a namespace deletes its veths, which detaches their XDP programs.
	for ns in "${_lab_ns[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for d in "${_lab_pins[@]}"; do
		# Only ever remove what lab_pin_dir handed out.
		[[ $d == "$LAB_PIN_PREFIX"-* && -e $d ]] && rm -rf -- "$d"
	done
	if [[ -n $LAB_TMP && -d $LAB_TMP ]]; then
		if ((_tap_fail)) || ((rc != 0)); then
			echo "# lab files kept for inspection: $LAB_TMP" >&"$LAB_OUT"
		else
			rm -rf -- "$LAB_TMP"
		fi
	fi
}

# lab_ns_name NAME: the unique namespace name for short NAME.
lab_ns_name() {
	echo "${LAB_PREFIX}$1"
}

# lab_ns_add NAME: create namespace phlab-<pid>-NAME with loopback up.
lab_ns_add() {
	local ns
	ns=$(lab_ns_name "$1")
	ip netns add "$ns" || return 1
	_lab_ns+=("$ns")
	ip -n "$ns" link set lo up
}

# lab_in NAME cmd...: run cmd in namespace NAME's network stack only
# (host mounts, including /sys/fs/bpf, stay visible).
lab_in() {
	local ns
	ns=$(lab_ns_name "$1")
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# lab_ip NAME args...: `ip` inside namespace NAME.
lab_ip() {
	local ns
	ns=$(lab_ns_name "$1")
	shift
	ip -n "$ns" "$@"
}

# lab_veth NS1 IF1 NS2 IF2: a veth pair IF1 (in NS1) <-> IF2 (in NS2), both up.
lab_veth() {
	local n1 n2
	n1=$(lab_ns_name "$1")
	n2=$(lab_ns_name "$3")
	ip link add "$2" netns "$n1" type veth peer name "$4" netns "$n2" || return 1
	ip -n "$n1" link set "$2" up && ip -n "$n2" link set "$4" up
}

# lab_addr NS IF ADDR/PLEN: add an address; only benchmarking (198.18.0.0/15)
# and documentation (2001:db8::/32) ranges are allowed, so a typo can never
# send lab traffic to a real network.  IPv6 skips DAD so it is usable at once.
lab_addr() {
	local ns=$1 dev=$2 a=$3
	case $a in
	198.18.* | 198.19.*)
		lab_ip "$ns" addr add "$a" dev "$dev"
		;;
	2001:db8:* | 2001:DB8:*)
		lab_ip "$ns" addr add "$a" dev "$dev" nodad
		;;
	*)
		echo "lab_addr: $a is outside 198.18.0.0/15 and 2001:db8::/32" >&2
		return 1
		;;
	esac
}

# lab_xdp_pass NS IF OBJ: attach the XDP_PASS program (tests/xdp_pass.bpf.c)
# in native mode.  A veth drops frames the peer sends with XDP_TX unless the
# receiving side runs NAPI, which an XDP program turns on (LAB-NOTES.md).
lab_xdp_pass() {
	lab_ip "$1" link set dev "$2" xdpdrv obj "$3" sec xdp
}

# lab_csum_sw NS IF: have the kernel finish UDP checksums in software on IF.
# With TX checksum offload a local socket hands veth (and so the peer's XDP
# program) CHECKSUM_PARTIAL frames whose UDP checksum field is not final;
# pinhole's XDP program treats a bad checksum as "pass to the stack", so the
# kernel path would never be exercised.  Real NICs deliver complete checksums,
# this only concerns locally generated traffic in the lab.
lab_csum_sw() {
	lab_in "$1" ethtool -K "$2" tx off >/dev/null
}

# lab_pin_dir: print a fresh pin dir path (not created) under /sys/fs/bpf,
# registered for removal at exit.  Call it in the main shell, not in $(...),
# through the variable LAB_PIN it sets.
lab_pin_dir() {
	_lab_npin=$((_lab_npin + 1))
	LAB_PIN="$LAB_PIN_PREFIX-$_lab_npin"
	_lab_pins+=("$LAB_PIN")
}

# lab_bg NS LOG cmd...: start cmd in namespace NS in the background with
# stdout and stderr to LOG; sets LAB_PID and registers it for the cleanup.
# nsenter execs cmd, so LAB_PID is cmd's own pid (signals reach it directly).
lab_bg() {
	local ns log=$2
	ns=$(lab_ns_name "$1")
	shift 2
	nsenter --net="/run/netns/$ns" -- "$@" >"$log" 2>&1 &
	LAB_PID=$!
	_lab_pids+=("$LAB_PID")
}

# lab_stop PID [SIGNAL] [TIMEOUT_S]: signal a process started by lab_bg, wait
# for it and return its exit status (124 if it did not exit in time, after
# which it is killed).
lab_stop() {
	local pid=$1 sig=${2:-TERM} timeout=${3:-10} i rc
	kill -"$sig" "$pid" 2>/dev/null
	for ((i = 0; i < timeout * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
	else
		wait "$pid" 2>/dev/null
		rc=$?
	fi
	_lab_forget "$pid"
	return $rc
}

_lab_forget() {
	local p keep=()
	for p in "${_lab_pids[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	_lab_pids=("${keep[@]}")
}

# --- waiting ----------------------------------------------------------------

# wait_until TIMEOUT_S cmd...: poll cmd every 50 ms until it succeeds;
# returns 1 if TIMEOUT_S passes first.
wait_until() {
	local timeout=$1 deadline
	shift
	deadline=$((SECONDS + timeout))
	while ! "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.05
	done
	return 0
}

# wait_for_log FILE PATTERN TIMEOUT_S: wait until FILE has a line matching
# the extended regex PATTERN.  Fails early if LAB_WATCH_PID (optional) dies.
wait_for_log() {
	local file=$1 pat=$2 timeout=${3:-10} deadline
	deadline=$((SECONDS + timeout))
	while ! grep -Eq -- "$pat" "$file" 2>/dev/null; do
		if [[ -n ${LAB_WATCH_PID:-} ]] && ! kill -0 "$LAB_WATCH_PID" 2>/dev/null; then
			grep -Eq -- "$pat" "$file" 2>/dev/null && return 0
			echo "process $LAB_WATCH_PID exited before '$pat' appeared in $file" >&2
			return 1
		fi
		if ((SECONDS >= deadline)); then
			echo "timeout (${timeout}s) waiting for '$pat' in $file" >&2
			return 1
		fi
		sleep 0.05
	done
}

_udp_bound() {
	[[ -n $(lab_in "$1" ss -Hnlu "sport = :$2") ]]
}

# wait_for_udp_port NS PORT [TIMEOUT_S]: wait until a UDP socket is bound to
# PORT in namespace NS.
wait_for_udp_port() {
	wait_until "${3:-10}" _udp_bound "$1" "$2"
}

# --- traffic ------------------------------------------------------------------

# lab_send_udp NS DST PORT HEX: send one UDP datagram whose payload is the
# hex string HEX (spaces allowed) from namespace NS through bash's /dev/udp.
# The bytes go to a file first and cat writes them in one write(): printf
# alone flushes at every 0x0a byte and would split the datagram.
lab_send_udp() {
	local ns=$1 dst=$2 port=$3 hex=${4// /} esc="" i f
	if ! [[ $hex =~ ^([0-9a-fA-F]{2})+$ ]]; then
		echo "lab_send_udp: '$4' is not an even number of hex digits" >&2
		return 1
	fi
	for ((i = 0; i < ${#hex}; i += 2)); do
		esc+="\\x${hex:i:2}"
	done
	f=$(mktemp "$LAB_TMP/udp.XXXXXX") || return 1
	# The format is only \xHH escapes built from validated hex digits.
	# shellcheck disable=SC2059
	printf "$esc" >"$f"
	# shellcheck disable=SC2016 # $1..$3 are the inner shell's arguments
	lab_in "$ns" bash -c 'cat "$1" >"/dev/udp/$2/$3"' _ "$f" "$dst" "$port"
	local rc=$?
	rm -f "$f"
	return $rc
}

# lab_capture_start NS IF FILTER PCAP LOG MARK_DST: capture on IF in NS into
# PCAP (capture filter FILTER plus the marker port) and return once the
# capture provably sees traffic: a marker datagram sent from NS to
# MARK_DST:9 (discard) has reached the file.  Sets LAB_CAP_PID.
LAB_MARK_PORT=9
_lab_mark=0
lab_capture_start() {
	# $7 (optional): the namespace markers are sent from, when the capture's has no address.
	LAB_CAP_NS=${7:-$1}
	LAB_CAP_PCAP=$4
	LAB_CAP_DST=$6
	lab_bg "$1" "$5" dumpcap -q -i "$2" -f "($3) or (udp dst port $LAB_MARK_PORT)" -w "$4"
	LAB_CAP_PID=$LAB_PID
	LAB_WATCH_PID=$LAB_PID wait_for_log "$5" "Capturing on" 10 || return 1
	_lab_capture_mark
}

# Send a marker and wait until dumpcap has written it.  libpcap hands packets
# over in ring blocks that retire on a timer, and dumpcap does not drain the
# ring when told to stop, so the last packets before a stop would be lost.
_lab_capture_mark() {
	local deadline
	_lab_mark=$((_lab_mark + 1))
	lab_send_udp "$LAB_CAP_NS" "$LAB_CAP_DST" "$LAB_MARK_PORT" \
		"$(printf 'phlab-mark-%d' "$_lab_mark" | od -An -tx1 | tr -d ' \n')"
	deadline=$((SECONDS + 10))
	while (($(pcap_count "$LAB_CAP_PCAP" "udp.dstport == $LAB_MARK_PORT") < _lab_mark)); do
		if ((SECONDS >= deadline)); then
			echo "capture: marker $_lab_mark never reached $LAB_CAP_PCAP" >&2
			return 1
		fi
		sleep 0.05
	done
}

# lab_capture_stop: flush (marker) and stop the capture; the pcap then holds
# every packet sent before the call.
lab_capture_stop() {
	local rc=0
	_lab_capture_mark || rc=1
	lab_stop "$LAB_CAP_PID" INT 10 || rc=1
	_lab_mark=0
	return $rc
}

# pcap_count PCAP FILTER: number of packets in PCAP matching display FILTER.
pcap_count() {
	tshark -n -r "$1" -Y "$2" 2>/dev/null | wc -l
}

# --- project specifics ---------------------------------------------------------

# ph_reasons_load HEADER: fill the associative array PH_REASON (name -> index)
# from enum ph_xdp_reason in HEADER, so the tests follow the header instead of
# hard-coding numbers.  Handles explicit "= N" values.
declare -gA PH_REASON=()
ph_reasons_load() {
	local hdr=$1 name val next=0 line
	while read -r line; do
		[[ -z $line ]] && continue
		if [[ $line =~ ^([A-Z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]+)$ ]]; then
			name=${BASH_REMATCH[1]}
			val=${BASH_REMATCH[2]}
		elif [[ $line =~ ^([A-Z0-9_]+)$ ]]; then
			name=${BASH_REMATCH[1]}
			val=$next
		else
			echo "ph_reasons_load: cannot parse '$line'" >&2
			return 1
		fi
		PH_REASON[$name]=$val
		next=$((val + 1))
	done < <(sed -n '/^enum ph_xdp_reason[[:space:]]*{/,/^};/p' "$hdr" |
		sed -e 's#/\*.*\*/##g' -e 's#//.*##' -e '1d' -e '$d' | tr ',' '\n' |
		sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//')
	[[ -n ${PH_REASON[PH_TX_BINDING]:-} && -n ${PH_REASON[PH_REASON_MAX]:-} ]]
}

# ph_stats_json PIN: the stats map as one JSON object {index: packets, ...},
# per-CPU values summed.  bpftool prints BTF-typed per-CPU values as
# formatted.values[].value.packets.
ph_stats_json() {
	bpftool -j map dump pinned "$1/stats" | jq -c '
		map({key: (.formatted.key // .key | tostring),
		     value: ([.formatted.values[].value.packets] | add)})
		| from_entries'
}

# ph_stat JSON NAME: packets counted under reason NAME in a ph_stats_json dump.
ph_stat() {
	local idx=${PH_REASON[$2]:?unknown reason $2}
	jq -r --arg k "$idx" '.[$k] // 0' <<<"$1"
}

# ph_stats_table PIN: a readable "reason packets bytes" table of the non-zero
# counters, names taken from the header.
ph_stats_table() {
	local name json
	json=$(bpftool -j map dump pinned "$1/stats" | jq -c '
		map({key: (.formatted.key // .key | tostring),
		     value: {p: ([.formatted.values[].value.packets] | add),
			     b: ([.formatted.values[].value.bytes] | add)}})
		| from_entries') || return 1
	printf '  %-26s %8s %8s\n' reason packets bytes
	for name in "${!PH_REASON[@]}"; do
		[[ $name == PH_REASON_MAX ]] && continue
		echo "${PH_REASON[$name]} $name"
	done | sort -n | while read -r idx name; do
		jq -r --arg k "$idx" --arg n "$name" \
			'select(.[$k].p > 0) | "  \($n|ascii_downcase|ltrimstr("ph_")) \(.[$k].p) \(.[$k].b)"' \
			<<<"$json"
	done | awk '{ printf "  %-26s %8s %8s\n", $1, $2, $3 }'
}

# ph_xdp_attached NS IF: true if IF in NS has an XDP program attached.
ph_xdp_attached() {
	lab_ip "$1" -d link show dev "$2" | grep -q 'prog/xdp'
}
