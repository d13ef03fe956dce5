#!/bin/bash
# SPDX-License-Identifier: MIT
# State exhaustion: a running pinhole-server with three live sessions (real
# pinhole-endpoint processes keeping them alive) takes bounded floods from
# tests/tools/ph_flood:
#   - LOGINs with credentials for random user names (store look-up + HMAC each,
#     and a slot in the per-account failure table);
#   - half-finished logins (challenges never followed up);
#   - keepalives with random session ids and tokens;
#   - keepalives naming the live sessions' ids with wrong tokens.
# The server runs with --login-rate 0, so no per-source limit sheds the load: every
# request reaches the code that could keep state.  Asserted:
#   - the server's RSS (VmRSS, sampled every 50 ms during the floods) grows by less
#     than RSS_LIMIT_KB over the level with the sessions up, and a second identical
#     round adds less than RSS_ROUND2_KB (the state is bounded, not just slow);
#   - the floods were really served (answers counted by the flooder);
#   - every live session survives: same session ids in `pinholectl sessions`, the
#     endpoints still running and never logged in again, and a message still goes
#     from one to another.
# Usage: bash tests/lab/test_exhaustion.sh BUILD_DIR (root, from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
CTL=$build/pinholectl
EP=$build/pinhole-endpoint
FLOOD=$build/tests/tools/ph_flood
for b in "$SERVER" "$CTL" "$EP" "$FLOOD"; do
	[[ -x $b ]] || bail_out "$b is not built (make BUILD=${1:-build} all)"
done
lab_init nm

# Bounds.  Everything the server keeps per login, session and source is allocated at
# start; what may still move is the allocator's and SQLite's caches.  Under ASan freed
# memory sits in a quarantine first (up to its size), so the bound is that much looser.
RSS_LIMIT_KB=${RSS_LIMIT_KB:-16384}
RSS_ROUND2_KB=${RSS_ROUND2_KB:-4096}
if nm "$SERVER" 2>/dev/null | grep -q ' __asan_init'; then
	RSS_LIMIT_KB=$((RSS_LIMIT_KB + 262144))
	RSS_ROUND2_KB=$((RSS_ROUND2_KB + 262144))
	diag "sanitized server: RSS bounds widened by ASan's 256 MiB quarantine"
fi

NS=exhaust
lab_ns_add $NS || bail_out "cannot create a namespace"
T=$LAB_TMP
DB=$T/pinhole.db
SRV=127.0.0.1:3478
USERS=(alice bob carol)
for u in "${USERS[@]}"; do
	printf 'pw-%s-%s\n' "$u" $$ >"$T/pw-$u"
	"$CTL" --db "$DB" user add "$u" --password-file "$T/pw-$u" >/dev/null || bail_out "user add $u"
done
for a in "${USERS[@]}"; do
	for b in "${USERS[@]}"; do
		[[ $a == "$b" ]] || "$CTL" --db "$DB" contact allow "$a" "$b" >/dev/null ||
			bail_out "contact allow $a $b"
	done
done

# Short keepalives: a session the floods pushed out would time out within the test.
lab_bg $NS "$T/server.log" "$SERVER" --listen "$SRV" --db "$DB" --login-rate 0 --keepalive 2
SRV_PID=$LAB_PID
LAB_WATCH_PID=$SRV_PID wait_for_log "$T/server.log" ' ready ' 15 || {
	diag <"$T/server.log"
	bail_out "pinhole-server did not start"
}

declare -A EP_FD EP_PID SESS
i=2
for u in "${USERS[@]}"; do
	rm -f "$T/$u.in"
	mkfifo "$T/$u.in"
	exec {fd}<>"$T/$u.in"
	EP_FD[$u]=$fd
	nsenter --net="/run/netns/$(lab_ns_name $NS)" -- "$EP" --server "$SRV" --user "$u" \
		--password-file "$T/pw-$u" --bind "127.0.0.$i:4000$i" <"$T/$u.in" >"$T/$u.log" 2>&1 &
	EP_PID[$u]=$!
	_lab_pids+=("$!")
	i=$((i + 1))
	# One after the other: this test is about floods, not about logins racing each other.
	LAB_WATCH_PID=${EP_PID[$u]} wait_for_log "$T/$u.log" ' logged in session=[0-9]+' 15 ||
		bail_out "$u did not log in: $(tail -3 "$T/$u.log")"
	SESS[$u]=$(sed -n 's/.* logged in session=\([0-9]*\).*/\1/p' "$T/$u.log" | head -1)
done
ok "three live sessions: alice=${SESS[alice]} bob=${SESS[bob]} carol=${SESS[carol]}"

rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SRV_PID/status"
}

# sampler FILE: the largest VmRSS seen, written to FILE every 50 ms until killed.
sampler() {
	local max=0 r
	while r=$(rss_kb) && [[ -n $r ]]; do
		((r > max)) && max=$r && echo "$max" >"$1"
		sleep 0.05
	done
}

# flood NAME ARGS...: run ph_flood in the namespace; its summary goes to $T/NAME.out.
flood() {
	local name=$1
	shift
	lab_in $NS "$FLOOD" --server "$SRV" "$@" >"$T/$name.out" 2>&1
}

# answered NAME: requests the flooder saw answered.
answered() {
	sed -n 's/.*answered=\([0-9]*\).*/\1/p' "$T/$1.out"
}

ids="${SESS[alice]},${SESS[bob]},${SESS[carol]}"
# round N: every flood once, bounded by count and time.
round() {
	flood "login-$1" --count 30000 --seconds 6 login-random &
	local p1=$!
	flood "half-$1" --count 60000 --seconds 4 half &
	local p2=$!
	wait $p1 $p2
	flood "ka-$1" --count 60000 --seconds 4 keepalive &
	p1=$!
	flood "kalive-$1" --count 30000 --seconds 3 keepalive "$ids" &
	p2=$!
	wait $p1 $p2
}

base=$(rss_kb)
echo 0 >"$T/max"
sampler "$T/max" &
spid=$!
round 1
r1=$(rss_kb)
round 2
r2=$(rss_kb)
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
max=$(cat "$T/max")
for f in login half ka kalive; do
	diag "$f: round 1: $(cat "$T/$f-1.out")" "$f: round 2: $(cat "$T/$f-2.out")"
done
diag "VmRSS: ${base} kB with the sessions up, ${r1} kB after round 1, ${r2} kB after round 2, max ${max} kB"

check "the floods were served: random logins answered ($(answered login-1)), challenges ($(answered half-1)), keepalives ($(answered ka-1))" \
	eval "(($(answered login-1) >= 1000 && $(answered half-1) >= 1000 && $(answered ka-1) >= 1000))"
check "random-name logins were refused 401 or 429, never accepted" \
	eval "! grep -Eq ' ok=' '$T/login-1.out' '$T/login-2.out'"
check "VmRSS grew by $((max - base)) kB over the floods (limit ${RSS_LIMIT_KB} kB)" \
	eval "(($max - $base < $RSS_LIMIT_KB))"
check "a second identical round added $((r2 - r1)) kB (limit ${RSS_ROUND2_KB} kB)" \
	eval "(($r2 - $r1 < $RSS_ROUND2_KB))"
check "pinhole-server still running" kill -0 "$SRV_PID"

# Live sessions: still there under the same ids, the endpoints never had to log in again.
sessions=$("$CTL" --db "$DB" sessions --json 2>&1)
for u in "${USERS[@]}"; do
	check "$u's session ${SESS[$u]} survived (pinholectl sessions)" \
		eval "jq -e --arg u '$u' --argjson id '${SESS[$u]}' \
			'[.sessions[] | select(.user == \$u and .id == \$id)] | length == 1' <<<'$sessions'"
	check "$u's endpoint still running, logged in once" \
		eval "kill -0 ${EP_PID[$u]} && (( \$(grep -c ' logged in session=' '$T/$u.log') == 1 ))"
done
echo "@bob still here after the floods" >&"${EP_FD[alice]}"
check "a message from alice still reaches bob" \
	wait_for_log "$T/bob.log" 'message from alice: still here after the floods' 10
# The floods ran for longer than a session's timeout (3 keepalive intervals, 6 s): a
# session whose keepalives had been crowded out would have ended by now.
check "no session timed out or was replaced" \
	eval "! grep -q 'session offline' '$T/server.log'"

for u in "${USERS[@]}"; do
	echo /quit >&"${EP_FD[$u]}"
done
for u in "${USERS[@]}"; do
	lab_stop "${EP_PID[$u]}" TERM 5
done
lab_stop "$SRV_PID" TERM 10
rc=$?
check_eq "pinhole-server exits 0 on SIGTERM" 0 "$rc"
tap_summary
