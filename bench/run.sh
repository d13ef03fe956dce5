#!/bin/bash
# SPDX-License-Identifier: MIT
# make bench: Binding requests per second answered by pinhole with XDP,
# pinhole without XDP and coturn --stun-only, on one two-namespace veth rig,
# plus pinhole_xdp's ns/packet against a bare swap-and-XDP_TX program.
#
#   ns gen: g0 198.18.0.2, sources 198.18.128.0/17   <-veth->   ns srv: s0 198.18.0.1
#
# pinhole-load generates requests in the kernel (BPF_PROG_TEST_RUN with live
# frames, XDP_TX out of g0) and counts valid answers with an XDP program on g0.
# Usage: bench/run.sh BUILD_DIR.  Environment: BENCH_DURATION (seconds per
# run, default 3), BENCH_ROUNDS (runs per server, the median is reported,
# default 3), BENCH_STATS_DURATION (seconds of each bpf_stats run, default 2),
# BENCH_THREADS (generator threads, default: all CPUs), BENCH_SECTIONS
# (default "binding sessions").
# Sessions section: BENCH_SESSIONS_MAX (largest endpoint count of 10k, 100k,
# 1M, 10M to run, default 100000: that much fits about ten minutes here, the
# server logs in ~1.5k endpoints per second), BENCH_SESSIONS_KEEPALIVE
# (interval, default 20 s), BENCH_SESSIONS_DURATION (keepalive phase, default
# 20 s), BENCH_SESSIONS_CONTACTS (default 50), BENCH_SESSIONS_RATE (keepalives
# per second of the extra "-rate" runs at the largest count, default 500000 =
# ten million endpoints at 20 s; 0 skips them).
# Output: a table on stdout, $BUILD/bench/binding.csv (median run per
# server), binding-runs.csv (every run) and nspp.csv (ns/packet, both methods);
# sessions.csv (one row per endpoint count and path) and sessions.png.
set -uo pipefail

build=${1:-build}
load=$build/pinhole-load
server=$build/pinhole-server
duration=${BENCH_DURATION:-3}
rounds=${BENCH_ROUNDS:-3}
stats_duration=${BENCH_STATS_DURATION:-2}
sources=1000000
threads=${BENCH_THREADS:-$(nproc)}
out=$build/bench
csv=$out/binding.csv
runs_csv=$out/binding-runs.csv
nspp_csv=$out/nspp.csv
sessions_csv=$out/sessions.csv
sessions_png=$out/sessions.png
sections=${BENCH_SECTIONS:-binding sessions}
sessions_max=${BENCH_SESSIONS_MAX:-100000}
sessions_ka=${BENCH_SESSIONS_KEEPALIVE:-20}
sessions_dur=${BENCH_SESSIONS_DURATION:-20}
sessions_contacts=${BENCH_SESSIONS_CONTACTS:-50}
sessions_rate=${BENCH_SESSIONS_RATE:-500000}
metrics=198.18.0.1:9479
gen=ph-bench-gen-$$
srv=ph-bench-srv-$$
pin=/sys/fs/bpf/ph-bench-$$
srv_ip=198.18.0.1
gen_ip=198.18.0.2
src_net=198.18.128.0/17
port=3478
tmp=$(mktemp -d /tmp/ph-bench.XXXXXX)
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=0
server_pid=
load_pid=

log() { echo "# $*" >&2; }
want() { [[ " $sections " == *" $1 "* ]]; }
die() {
	log "error: $*"
	exit 1
}

stop_server() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null
		# Give it the chance to detach XDP and unpin; then insist.
		for _ in $(seq 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
	fi
}

cleanup() {
	if [[ -n $load_pid ]]; then
		kill "$load_pid" 2>/dev/null
		wait "$load_pid" 2>/dev/null
	fi
	stop_server
	# Deleting the namespaces removes both veth ends and every XDP program on them.
	ip netns del "$gen" 2>/dev/null
	ip netns del "$srv" 2>/dev/null
	rm -rf "$pin"
	sysctl -qw kernel.bpf_stats_enabled="$old_stats"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_srv() { nsenter --net=/run/netns/"$srv" "$@"; }

# XDP program id attached to s0, empty when none.
s0_prog_id() {
	ip -n "$srv" -d link show dev s0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -1
}

s0_xdp() { # s0_xdp OBJ | off
	if [[ $1 == off ]]; then
		ip -n "$srv" link set dev s0 xdp off
	else
		ip -n "$srv" link set dev s0 xdpdrv obj "$1" sec xdp
	fi
}

# wait_for SECONDS CMD...: poll until CMD succeeds; no fixed sleeps.
wait_for() {
	local t=$1
	shift
	for _ in $(seq $((t * 10))); do
		"$@" && return 0
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

udp_bound() { [[ -n $(in_srv ss -Huln "sport = :$port") ]]; }
logged_ready() { grep -q ready "$tmp/server.log"; }

# run_load LABEL [stats]: one bounded generator run against whatever answers on
# s0.  Plain runs measure throughput with kernel.bpf_stats_enabled=0 (timing
# every BPF run costs ~50 ns here and would slow the whole rig); "stats" runs
# turn it on and record the s0 program's run_time_ns/run_cnt instead.
run_load() {
	local label=$1 mode=${2:-} id rc dest=$tmp/raw.csv secs=$duration
	id=$(s0_prog_id)
	if [[ $mode == stats ]]; then
		[[ -n $id ]] || return 1
		dest=$tmp/stats.csv
		secs=$stats_duration
		sysctl -qw kernel.bpf_stats_enabled=1
	fi
	log "run $label${mode:+ ($mode)}: s0 program ${id:-none}, ${secs}s"
	# In the background and waited for, so INT/TERM reach the trap at once.
	timeout --kill-after=5 $((${secs%.*} + 30)) \
		"$load" binding --netns "$gen" --ifname g0 --dst-mac "$s0_mac" --dst-ip "$srv_ip" \
		--port "$port" --src-net "$src_net" --sources "$sources" --duration "$secs" \
		--threads "$threads" ${mode:+--prog-id "$id"} --label "$label" --csv "$dest" \
		>"$tmp/$label$mode.out" 2>"$tmp/$label$mode.err" &
	load_pid=$!
	wait "$load_pid"
	rc=$?
	load_pid=
	sysctl -qw kernel.bpf_stats_enabled=0
	sed 's/^/#   /' "$tmp/$label$mode.out" >&2
	if ((rc)); then
		log "$label: pinhole-load failed (rc $rc):"
		sed 's/^/#   /' "$tmp/$label$mode.err" >&2
	fi
	return $rc
}

start_server() { # start_server NAME READY-CHECK CMD...
	local name=$1 check=$2
	shift 2
	: >"$tmp/server.log"
	# nsenter execs the server, so $! is the server itself (a function would
	# put a subshell in between and the kill would miss it).
	nsenter --net=/run/netns/"$srv" "$@" >"$tmp/server.log" 2>&1 &
	server_pid=$!
	if ! wait_for 15 "$check"; then
		log "$name did not come up; its log (verifier lines left out):"
		grep -v ' [0-9]*: (\| ; \|R[0-9]=' "$tmp/server.log" | tail -12 | sed 's/^/#   /' >&2
		stop_server
		return 1
	fi
}

[[ -x $load ]] || die "$load not built (make BUILD=$build)"
if want binding; then
	command -v turnserver >/dev/null || die "coturn's turnserver is not installed"
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mkdir -p "$out"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$csv" "$runs_csv" "$nspp_csv" "$sessions_csv" "$sessions_png"

log "selftest: generator frames and reply counter"
"$load" selftest >"$tmp/selftest.out" 2>&1 || {
	cat "$tmp/selftest.out" >&2
	die "pinhole-load selftest failed"
}

# ---- topology ----------------------------------------------------------
ip netns add "$gen" || die "cannot create netns $gen"
ip netns add "$srv" || die "cannot create netns $srv"
# One veth queue per CPU: ndo_xdp_xmit picks the peer queue by CPU, so the two
# generator threads do not contend on one ring.
ip -n "$gen" link add g0 numtxqueues "$(nproc)" numrxqueues "$(nproc)" type veth \
	peer name s0 numtxqueues "$(nproc)" numrxqueues "$(nproc)" netns "$srv" ||
	die "cannot create the veth pair"
ip -n "$gen" addr add "$gen_ip/24" dev g0
ip -n "$srv" addr add "$srv_ip/24" dev s0
for ns in "$gen" "$srv"; do ip -n "$ns" link set lo up; done
ip -n "$gen" link set g0 up
ip -n "$srv" link set s0 up
g0_mac=$(ip -n "$gen" -br link show dev g0 | awk '{print $3}')
s0_mac=$(ip -n "$srv" -br link show dev s0 | awk '{print $3}')
# Userspace servers answer up to 32766 source addresses: route them all to the
# generator with a permanent neighbour, so no ARP is ever needed or lost.
ip -n "$srv" neigh replace "$gen_ip" lladdr "$g0_mac" dev s0 nud permanent
ip -n "$srv" route add "$src_net" via "$gen_ip" dev s0
in_srv sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.s0.rp_filter=0
# veth leaves the UDP checksum of locally sent datagrams to "hardware" (only the
# pseudo-header sum is filled in), so the counter would see coturn's and
# pinhole's userspace answers as corrupt.  Checksum in software instead, as a
# real NIC would in hardware; XDP_TX frames are unaffected.
in_srv ethtool -K s0 tx off >/dev/null || die "cannot turn off tx checksum offload on s0"

# Targets from the issue; reported, never asserted (benchmarks are not tests).
target() { # target DESC VALUE OP LIMIT
	local verdict
	if [[ -z $2 ]]; then
		verdict="not measured"
	elif awk -v a="$2" -v b="$4" "BEGIN { exit !(a $3 b) }"; then
		verdict=met
	else
		verdict="NOT met"
	fi
	printf '  %-48s %-10s %s\n' "$1" "${2:--}" "$verdict"
}

# ---- Binding requests: the rig ceiling, pinhole with and without XDP, coturn
bench_binding() {
	# ---- (0) rig ceiling: bare swap-and-XDP_TX on s0 ------------------------
	s0_xdp "$build/bench/bare_tx.bpf.o" || die "cannot attach bare_tx to s0"
	for _ in $(seq "$rounds"); do run_load bare_tx; done
	run_load bare_tx stats
	s0_xdp off

	# ---- (a) pinhole with XDP --------------------------------------------------
	if [[ -x $server ]]; then
		# One worker per CPU, as coturn runs one UDP thread per CPU by default.
		if start_server pinhole-xdp logged_ready "$server" --listen "$srv_ip:$port" --xdp s0 \
			--pin-dir "$pin" --workers "$(nproc)"; then
			for _ in $(seq "$rounds"); do run_load pinhole-xdp; done
			run_load pinhole-xdp stats
			stop_server
		fi
		# The server pins its XDP link so the kernel keeps answering across restarts:
		# removing the pins is what detaches it.
		rm -rf "$pin"
		for _ in $(seq 50); do
			[[ -z $(s0_prog_id) ]] && break
			sleep 0.1
		done
		[[ -n $(s0_prog_id) ]] && s0_xdp off
	else
		log "pinhole-server not built: skipping both pinhole runs"
	fi

	# ---- (b) pinhole without XDP, (c) coturn: the stack receives ---------------
	s0_xdp "$build/bench/pass.bpf.o" || die "cannot attach the pass program to s0"
	# What kernel.bpf_stats_enabled itself adds per run: the cost of timing XDP_PASS.
	run_load pass stats
	# Rounds alternate the two servers, so a burst of other load on the machine
	# does not land on one of them only.
	for _ in $(seq "$rounds"); do
		if [[ -x $server ]] && start_server pinhole-user logged_ready "$server" \
			--listen "$srv_ip:$port" --workers "$(nproc)"; then
			run_load pinhole-user
			stop_server
		fi
		if start_server coturn udp_bound turnserver -n --stun-only --listening-ip "$srv_ip" \
			--listening-port "$port" --no-cli --no-tls --no-dtls --no-tcp --log-file stdout \
			--simple-log --no-stdout-log --pidfile "$tmp/turnserver.pid" \
			--userdb "$tmp/turndb"; then
			run_load coturn
			stop_server
		fi
	done
	s0_xdp off

	# ---- ns/packet by prog-test-run ------------------------------------------
	log "ns/packet by BPF_PROG_TEST_RUN"
	"$load" nspp --listen "$srv_ip:$port" --runs 200000 --csv "$tmp/testrun.csv" >"$tmp/nspp.out" \
		2>"$tmp/nspp.err"
	nspp_rc=$?
	if ((nspp_rc != 0)); then
		sed 's/^/#   /' "$tmp/nspp.err" | grep -v '^#   [0-9]*: \|^#   ;' | tail -8 >&2
	fi

	# ---- report --------------------------------------------------------------
	[[ -f $tmp/raw.csv ]] || die "no run produced a result"
	cp "$tmp/raw.csv" "$runs_csv"
	# Median run of each server by answered pps (bare_tx: by reflected frames).
	{
		head -1 "$tmp/raw.csv"
		for label in bare_tx pinhole-xdp pinhole-user coturn; do
			awk -F, -v l="$label" -v OFS=, 'NR > 1 && $1 == l {
				$16 = (l == "bare_tx" ? $10 : $8); print }' "$tmp/raw.csv" |
				sort -t, -k16,16g | awk -F, -v OFS=, '{ r[NR] = $0 }
				END { if (NR) { $0 = r[int((NR + 1) / 2)]; NF = 13; print } }'
		done
	} >"$tmp/median.csv"
	awk -F, -v OFS=, '
		NR == 1 { hdr = $0; next }
		{ row[NR] = $0; ans[NR] = $8; if ($1 == "coturn") ct = $8 }
		END {
			print hdr, "ratio_vs_coturn"
			for (i = 2; i <= NR; i++)
				print row[i], (ct > 0 ? sprintf("%.2f", ans[i] / ct) : "")
		}' "$tmp/median.csv" >"$csv"

	# ns/packet of both methods in one CSV: method,program,mean_ns,median_ns,runs
	{
		echo "method,program,mean_ns,median_ns,runs"
		[[ -f $tmp/stats.csv ]] && awk -F, -v OFS=, 'NR > 1 && $12 > 0 {
			p = $1 == "pinhole-xdp" ? "pinhole_xdp" : $1 == "pass" ? "xdp_pass" : $1
			print "live_bpf_stats", p, $13, "", $12 }' "$tmp/stats.csv"
		[[ -f $tmp/testrun.csv ]] && awk -F, -v OFS=, 'NR > 1 && $2 == "XDP_TX" {
			print "prog_test_run", $1, $4, $5, $7 }' "$tmp/testrun.csv"
	} >"$nspp_csv"

	ans() { awk -F, -v l="$1" '$1 == l { print $8 }' "$csv"; }
	ns_of() { awk -F, -v m="$1" -v p="$2" -v c="${3:-3}" '$1 == m && $2 == p { print $c }' "$nspp_csv"; }
	ratio() { [[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b }'; }

	echo
	echo "Binding requests answered: median of $rounds runs of ${duration}s per server, one rig:"
	echo -n "generator $threads threads"
	echo " (in-kernel, live frames), $sources source address:port pairs, veth g0 <-> s0"
	printf '  %-14s %14s %14s %10s %10s\n' server offered_pps answered_pps invalid "vs coturn"
	awk -F, 'NR > 1 && $1 != "bare_tx" {
		printf "  %-14s %14.0f %14.0f %10d %10s\n", $1, $6, $8, $9, $14 }' "$csv"
	awk -F, 'NR > 1 && $1 == "bare_tx" {
		printf "  %-14s %14.0f %14.0f %10s %10s   <- rig ceiling: requests bounced unchanged\n",
			"(bare_tx)", $6, $10 / $2, "-", "-" }' "$csv"
	echo
	echo "XDP cost per packet, ns (same Binding request; bare_tx = swap MACs/IPs/ports + XDP_TX)"
	printf '  %-34s %10s %12s %8s\n' method bare_tx pinhole_xdp ratio
	b=$(ns_of live_bpf_stats bare_tx); p=$(ns_of live_bpf_stats pinhole_xdp)
	printf '  %-34s %10s %12s %8s\n' "live rig, bpf_stats run_time/run_cnt" "${b:--}" "${p:--}" \
		"$(ratio "$p" "$b")"
	b=$(ns_of prog_test_run bare_tx); p=$(ns_of prog_test_run pinhole_xdp)
	printf '  %-34s %10s %12s %8s\n' "prog-test-run repeat=1, mean" "${b:--}" "${p:--}" "$(ratio "$p" "$b")"
	b=$(ns_of prog_test_run bare_tx 4); p=$(ns_of prog_test_run pinhole_xdp 4)
	printf '  %-34s %10s %12s %8s\n' "prog-test-run repeat=1, median" "${b:--}" "${p:--}" \
		"$(ratio "$p" "$b")"
	pass=$(ns_of live_bpf_stats xdp_pass)
	[[ -n $pass ]] && echo "  (an XDP_PASS program measures $pass ns in the live rig: that much is the timing itself)"
	grep -q WARNING "$tmp/nspp.out" 2>/dev/null && grep WARNING "$tmp/nspp.out"
	echo

	echo "Targets"
	target "pinhole XDP answers >= 25 x coturn" "$(ratio "$(ans pinhole-xdp)" "$(ans coturn)")" ">=" 25
	target "pinhole userspace answers >= 1.5 x coturn" "$(ratio "$(ans pinhole-user)" "$(ans coturn)")" \
		">=" 1.5
	target "generator offers >= 2 Mpps (best XDP run)" \
		"$(awk -F, '($1 == "bare_tx" || $1 == "pinhole-xdp") && $6 > m { m = $6 }
			END { if (m) printf "%.0f", m }' "$csv")" ">=" 2000000
	target "XDP ns/pkt <= 1.3 x bare_tx (live bpf_stats)" \
		"$(ratio "$(ns_of live_bpf_stats pinhole_xdp)" "$(ns_of live_bpf_stats bare_tx)")" "<=" 1.3
	target "XDP ns/pkt <= 1.3 x bare_tx (prog-test-run)" \
		"$(ratio "$(ns_of prog_test_run pinhole_xdp)" "$(ns_of prog_test_run bare_tx)")" "<=" 1.3
	echo
}

# ---- sessions: N endpoints log in, then keepalives; XDP vs userspace -------
metrics_up() { in_srv curl -sf -o /dev/null "http://$metrics/metrics"; }
srv_ready() { udp_bound && metrics_up; }

# sessions_run COUNT PATH DB: one server (PATH xdp: --xdp s0; userspace: no
# XDP, the pass program on s0) and one bounded pinhole-load sessions run.
sessions_run() {
	local c=$1 path=$2 db=$3 load_ka=${4:-$sessions_ka} label=${5:-$2} rc id
	local -a flags=(--listen "$srv_ip:$port" --db "$db" --keepalive "$sessions_ka"
		--max-sessions $((c + c / 8 + 1024)) --metrics "$metrics" --workers "$(nproc)"
		--log-level warn)
	local -a extra=()
	if [[ $path == xdp ]]; then
		flags+=(--xdp s0 --pin-dir "$pin")
		extra=(--pin-dir "$pin")
	else
		s0_xdp "$build/bench/pass.bpf.o" || return 1
	fi
	if ! start_server "pinhole-$path" srv_ready "$server" "${flags[@]}"; then
		s0_xdp off
		return 1
	fi
	id=$(s0_prog_id)
	[[ -n $id ]] && extra+=(--server-prog-id "$id")
	log "sessions $label: $c endpoints, $sessions_contacts contacts," \
		"keepalive ${load_ka}s for ${sessions_dur}s"
	timeout --kill-after=5 $((c / 200 + sessions_dur + 180)) \
		"$load" sessions --netns "$gen" --ifname g0 --dst-mac "$s0_mac" \
		--server "$srv_ip:$port" --db "$db" --endpoints "$c" \
		--contacts "$sessions_contacts" \
		--keepalive "$load_ka" --login-keepalive "$sessions_ka" --duration "$sessions_dur" \
		--server-pid "$server_pid" \
		--metrics "$metrics" "${extra[@]}" --label "$label" --csv "$sessions_csv" \
		>"$tmp/sessions-$c-$label.out" 2>"$tmp/sessions-$c-$label.err" &
	load_pid=$!
	wait "$load_pid"
	rc=$?
	load_pid=
	sed 's/^/#   /' "$tmp/sessions-$c-$label.out" >&2
	# 3: the run completed but sessions were lost (the report says how many).
	if ((rc != 0 && rc != 3)); then
		log "sessions $label $c: pinhole-load failed (rc $rc):"
		grep -v '^\[' "$tmp/sessions-$c-$label.err" | tail -8 | sed 's/^/#   /' >&2
	fi
	stop_server
	if [[ $path == xdp ]]; then
		rm -rf "$pin"
		for _ in $(seq 50); do
			id=$(s0_prog_id)
			[[ -z $id ]] && break
			sleep 0.1
		done
	fi
	s0_xdp off 2>/dev/null
	return 0
}

# The table, the targets and the chart from $sessions_csv.
sessions_report() {
	local ratio
	[[ -s $sessions_csv ]] || {
		log "sessions: no run produced a result"
		return 1
	}
	echo
	echo "Sessions: each endpoint logs in over the access protocol" \
		"($sessions_contacts contacts, every page fetched), then sends a keepalive" \
		"every ${sessions_ka}s for ${sessions_dur}s"
	printf '  %-10s %9s %9s %11s %11s %6s %8s %12s %9s %10s %9s\n' path endpoints logins/s \
		ka_sent/s ka_answ/s lost srv_cpu% ka/cpu-s wakeup/ka B/endpoint sweep_s
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		function v(n) { return $(c[n]) == "" ? "-" : $(c[n]) }
		{ cpu = $(c["cpu_user_s"]) + $(c["cpu_sys_s"]) + $(c["xdp_prog_s"])
		  d = $(c["duration_s"])
		  printf "  %-10s %9d %9.0f %11.0f %11.0f %6d %7.1f%% %12s %9s %10s %9s\n",
			$1, $(c["endpoints"]), $(c["logins_per_s"]), $(c["ka_sent_per_s"]),
			$(c["ka_answered_per_s"]), $(c["lost"]), (d > 0 ? 100 * cpu / d : 0),
			v("ka_per_cpu_s"), v("wakeups_per_ka"), v("map_bytes_per_endpoint"),
			v("sweep_s") }' "$sessions_csv"
	echo "  (srv_cpu%: server process user+system CPU plus its XDP program's run time over the"
	echo "   keepalive phase; B/endpoint: kernel memory of every pinhole map / endpoints, the"
	echo "   sessions map being sized by --max-sessions)"
	# XDP's keepalives per server CPU-second over userspace's, at the largest count both ran.
	# The rate runs (keepalives at the 10M-endpoint rate) decide when there are any.
	ratio=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ v[$1, $(c["endpoints"])] = $(c["ka_per_cpu_s"]); n[$(c["endpoints"])] = 1 }
		END { for (e in n) if (v["xdp-rate", e] > 0 && v["userspace-rate", e] > 0) {
			      printf "%.1f", v["xdp-rate", e] / v["userspace-rate", e]; exit }
		      best = -1
		      for (e in n)
			      if (v["xdp", e] > 0 && v["userspace", e] > 0 && e + 0 > best)
				      best = e + 0
		      if (best >= 0) printf "%.1f", v["xdp", best] / v["userspace", best] }' "$sessions_csv")
	echo
	echo "Targets (sessions)"
	target "logins/s >= 20000 (best run, $sessions_contacts contacts)" \
		"$(awk -F, 'NR > 1 && $9 > m { m = $9 } END { if (m) printf "%.0f", m }' \
			"$sessions_csv")" \
		">=" 20000
	target "sessions lost == 0 (worst XDP run)" \
		"$(awk -F, 'NR > 1 && $1 ~ /^xdp/ && $18 > m { m = $18 } END { print m + 0 }' \
			"$sessions_csv")" "==" 0
	target "sessions lost == 0 (worst userspace-only run)" \
		"$(awk -F, 'NR > 1 && $1 ~ /^userspace/ && $18 > m { m = $18 }
			END { print m + 0 }' "$sessions_csv")" "==" 0
	target "XDP keepalives per CPU-s >= 10 x userspace" "$ratio" ">=" 10
	target "endpoints held by XDP (>= 10,000,000)" \
		"$(awk -F, 'NR > 1 && $1 == "xdp" && $18 == 0 && $6 > m { m = $6 }
			END { print m + 0 }' "$sessions_csv")" ">=" 10000000
	sessions_chart
}

# The four series of one kind of sessions run, as gnuplot plot clauses joined by
# ", ": answered/s (left axis) then server CPU % (right axis), each for XDP (colour
# 1) and userspace only (colour 2).  chart_series DAT KIND TITLE-SUFFIX STYLE...:
# rows labelled xdpKIND / userspaceKIND, four point styles in that order.
chart_series() {
	local dat=$1 kind=$2 suffix=$3 col impl name lc what axes sep=""
	shift 3
	for col in 3 4; do
		what="answered/s" axes=""
		((col == 4)) && what="server CPU %" axes=" axes x1y2"
		for impl in xdp userspace; do
			name=XDP lc=1
			[[ $impl == userspace ]] && name="userspace only" lc=2
			printf '%s"< grep '\''^%s%s '\'' %s" using 2:%s%s with %s lc %s title "%s, %s%s"' \
				"$sep" "$impl" "$kind" "$dat" "$col" "$axes" "$1" "$lc" "$what" "$name" \
				"$suffix"
			sep=", "
			shift
		done
	done
}

sessions_chart() {
	local dat=$tmp/sessions.dat
	command -v gnuplot >/dev/null || {
		log "gnuplot not installed: no chart"
		return 0
	}
	# label, endpoints (for a -rate run: the endpoints that would send its rate at
	# the nominal interval), answered/s, server CPU %.
	awk -F, -v ka="$sessions_ka" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ d = $(c["duration_s"])
		  cpu = $(c["cpu_user_s"]) + $(c["cpu_sys_s"]) + $(c["xdp_prog_s"])
		  x = $(c["endpoints"])
		  if ($1 ~ /-rate$/ && $(c["keepalive_s"]) > 0)
			  x = x * ka / $(c["keepalive_s"])
		  print $1, x, $(c["ka_answered_per_s"]), (d > 0 ? 100 * cpu / d : 0) }' \
		"$sessions_csv" | sort -k1,1 -k2,2n >"$dat"
	gnuplot <<-EOF 2>"$tmp/gnuplot.err" || log "gnuplot failed: $(head -3 "$tmp/gnuplot.err")"
		set terminal pngcairo size 1100,650 noenhanced
		set output "$sessions_png"
		set title "pinhole-load sessions: keepalive every ${sessions_ka} s, $(nproc) vCPUs" . \
			"\n(open points at the right: fewer endpoints sending that many endpoints' rate)"
		set logscale x
		set logscale y
		set xlabel "endpoints (logged in over the access protocol)"
		set ylabel "keepalives answered per second"
		set y2label "server CPU, % of one CPU (process + XDP program)"
		set ytics nomirror
		set y2tics
		set y2range [0:100]
		set key top left
		set grid
		set offsets graph 0.03, graph 0.06, 0, 0
		plot $(chart_series "$dat" "" "" "linespoints lw 3 pt 7" "linespoints lw 1 pt 5" \
			"linespoints dt 2 pt 7" "linespoints dt 2 pt 5"), \
		     $(chart_series "$dat" -rate ", rate run" "points pt 6 ps 2" "points pt 4 ps 2" \
			"points pt 8 ps 2" "points pt 10 ps 2")
	EOF
	[[ -s $sessions_png ]] && log "chart: $sessions_png"
}

bench_sessions() {
	local -a counts=()
	local c path db
	for c in 10000 100000 1000000 10000000; do
		((c <= sessions_max)) && counts+=("$c")
	done
	if ((${#counts[@]} == 0)); then
		log "sessions: BENCH_SESSIONS_MAX=$sessions_max is below 10000: skipped"
		return 0
	fi
	command -v curl >/dev/null || die "curl is not installed (server metrics)"
	# Every endpoint address is local in gen, so one socket per port receives for
	# all of them; login traffic leaves with complete checksums (XDP on s0 answers
	# the Binding requests only then).
	ip -n "$gen" route replace local "$src_net" dev lo || die "local route for $src_net"
	ip -n "$gen" neigh replace "$srv_ip" lladdr "$s0_mac" dev g0 nud permanent
	nsenter --net=/run/netns/"$gen" ethtool -K g0 tx off >/dev/null
	for c in "${counts[@]}"; do
		# One store per count: the userspace run reuses the accounts the XDP run made.
		db=$tmp/sessions-$c.db
		for path in xdp userspace; do
			sessions_run "$c" "$path" "$db"
		done
		# The largest count's endpoints also send at the rate ten million endpoints
		# would at 20 s (labels xdp-rate, userspace-rate): the per-packet cost of each
		# path at carrier rate, whatever count fitted the time.
		if [[ $c == "${counts[-1]}" ]] && ((sessions_rate > 0)); then
			local ka
			ka=$(awk -v c="$c" -v r="$sessions_rate" 'BEGIN { printf "%.3f", c / r }')
			if awk -v k="$ka" 'BEGIN { exit !(k >= 0.1) }'; then
				for path in xdp userspace; do
					sessions_run "$c" "$path" "$db" "$ka" "$path-rate"
				done
			else
				log "sessions: $c endpoints cannot send $sessions_rate/s" \
					"(interval below 0.1 s)"
			fi
		fi
		rm -f "$db" "$db-wal" "$db-shm"
	done
	sessions_report
}

want binding && bench_binding
want sessions && bench_sessions

echo "Machine: $(nproc) CPUs, load average at start $load_start, at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(generator, veth NAPI, responder and counter all share these CPUs; other load skews every row)"
want binding && echo "CSV: $csv (every run: $runs_csv) $nspp_csv"
want sessions && echo "CSV: $sessions_csv, chart: $sessions_png"
