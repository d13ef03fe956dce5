#!/bin/bash
# SPDX-License-Identifier: MIT
# Smoke test of the access server with real binaries, on loopback inside a
# network namespace of its own: pinholectl creates users and contacts in a
# temporary store, pinhole-server (with an RFC 5780 alternate address)
# serves it, and two pinhole-endpoint processes on distinct loopback
# addresses log in, get their routing tables, punch, go direct and
# exchange a message each way.  Then the refusals: a wrong password and an
# unknown user get the same answer, and what `pinholectl sessions` shows.
# Usage: bash tests/lab/test_server_access.sh BUILD_DIR (from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
CTL=$build/pinholectl
EP=$build/pinhole-endpoint
for b in "$SERVER" "$CTL" "$EP"; do
	[[ -x $b ]] || bail_out "$b is not built"
done
lab_init

NS=srvacc
lab_ns_add $NS || bail_out "cannot create a namespace"
T=$LAB_TMP
DB=$T/pinhole.db
SRV=127.0.0.1:3478
ALT=127.0.0.9:3479

# A fresh namespace has lo with 127.0.0.1/8: every 127.x address is local.
ctl() {
	"$CTL" --db "$DB" "$@"
}

# start_ep NAME USER PWFILE BIND: an endpoint reading commands from a FIFO
# held open on fd EP_FD[NAME]; its log is $T/NAME.log.
declare -A EP_FD EP_PID
start_ep() {
	local name=$1 user=$2 pw=$3 bind=$4 fd
	rm -f "$T/$name.in"
	mkfifo "$T/$name.in" || return 1
	nsenter --net="/run/netns/$(lab_ns_name $NS)" -- "$EP" --server "$SRV" --user "$user" \
		--password-file "$pw" --bind "$bind" <"$T/$name.in" >"$T/$name.log" 2>&1 &
	EP_PID[$name]=$!
	_lab_pids+=("$!")
	# Opening the write end unblocks the endpoint's open of its stdin.
	exec {fd}>"$T/$name.in"
	EP_FD[$name]=$fd
}

say() {
	echo "$2" >&"${EP_FD[$1]}"
}

# The part of a log line after its timestamp and level.
msg_of() {
	sed -E 's/^[0-9.]+ +[a-z]+ +//'
}

# --- store -----------------------------------------------------------------

printf 'alice-secret\n' >"$T/alice.pw"
printf 'bob-secret\n' >"$T/bob.pw"
printf 'not-her-password\n' >"$T/wrong.pw"
check "pinholectl: user add alice" ctl user add alice --password-file "$T/alice.pw"
check "pinholectl: user add bob" ctl user add bob --password-file "$T/bob.pw"
check "pinholectl: contact allow alice bob" ctl contact allow alice bob
check "pinholectl: contact allow bob alice" ctl contact allow bob alice

# --- server ----------------------------------------------------------------

lab_bg $NS "$T/server.log" "$SERVER" --listen "$SRV" --alt "$ALT" --db "$DB" \
	--keepalive 2
SRV_PID=$LAB_PID
if ! LAB_WATCH_PID=$SRV_PID wait_for_log "$T/server.log" 'ready' 10; then
	diag <"$T/server.log"
	bail_out "pinhole-server did not start"
fi
ok "pinhole-server ready with --db and --alt"
check "server listens on the four RFC 5780 addresses" \
	bash -c "[[ \$(grep -c 'listening on' '$T/server.log') == 4 ]]"

# --- alice, then bob: login, routing table, punch, direct session -------------

start_ep alice alice "$T/alice.pw" 127.0.0.2:40002
check "alice: logged in" wait_for_log "$T/alice.log" 'logged in session=[0-9]+' 10
check "alice: bob is offline in her routing table" wait_for_log "$T/alice.log" 'contact bob offline' 5
check "server: login ok user=alice observed=127.0.0.2:40002" \
	wait_for_log "$T/server.log" 'login ok user=alice observed=127\.0\.0\.2:40002 claimed=127\.0\.0\.2:40002 nat=[a-z]+-[a-z]+ session=[0-9]+' 5

start_ep bob bob "$T/bob.pw" 127.0.0.3:40003
check "bob: logged in" wait_for_log "$T/bob.log" 'logged in session=[0-9]+' 10
check "server: punch sent to=alice toward bob's observed address" \
	wait_for_log "$T/server.log" 'punch sent to=alice toward=127\.0\.0\.3:40003 send=[01]' 5
check "server: punch acked by=alice" wait_for_log "$T/server.log" 'punch acked by=alice' 5
check "bob: alice online at her address" \
	wait_for_log "$T/bob.log" 'contact alice online at 127\.0\.0\.2:40002 direct=yes' 5
check "bob: session with alice established" \
	wait_for_log "$T/bob.log" 'session with alice established at 127\.0\.0\.2:40002' 5
check "alice: bob's ONLINE verified" \
	wait_for_log "$T/alice.log" 'online: bob verified at 127\.0\.0\.3:40003' 5
check "endpoints report no NAT (discovery against --alt)" \
	wait_for_log "$T/bob.log" 'nat mapping=none filtering=none' 1

say bob "@alice hello from bob"
check "alice: message from bob" wait_for_log "$T/alice.log" 'message from bob: hello from bob' 5
check "bob: his message was acked" wait_for_log "$T/bob.log" 'message [0-9]+ to alice delivered' 5
say alice "@bob hello from alice"
check "bob: message from alice" wait_for_log "$T/bob.log" 'message from alice: hello from alice' 5
check "alice: her message was acked" wait_for_log "$T/alice.log" 'message [0-9]+ to bob delivered' 5

sessions=$(ctl sessions 2>&1)
check "pinholectl sessions: alice online at 127.0.0.2:40002" grep -Eq '^alice +127\.0\.0\.2:40002' <<<"$sessions"
check "pinholectl sessions: bob online at 127.0.0.3:40003" grep -Eq '^bob +127\.0\.0\.3:40003' <<<"$sessions"
diag "$sessions"

# --- refusals: a wrong password and an unknown user look the same ------------

start_ep wrong alice "$T/wrong.pw" 127.0.0.4:40004
wrong_pid=${EP_PID[wrong]}
start_ep nobody mallory "$T/wrong.pw" 127.0.0.5:40005
nobody_pid=${EP_PID[nobody]}
check "wrong password: the endpoint gives up" \
	wait_for_log "$T/wrong.log" 'authentication failed' 10
check "unknown user: the endpoint gives up" \
	wait_for_log "$T/nobody.log" 'authentication failed' 10
lab_stop "$wrong_pid" TERM 5
wrong_rc=$?
lab_stop "$nobody_pid" TERM 5
nobody_rc=$?
check_eq "wrong password: endpoint exit status 1" 1 "$wrong_rc"
check_eq "unknown user: endpoint exit status 1" 1 "$nobody_rc"
w=$(grep -E 'authentication failed|refused' "$T/wrong.log" | msg_of)
n=$(grep -E 'authentication failed|refused' "$T/nobody.log" | msg_of)
check "the wrong-password answer was seen" test -n "$w"
check_eq "wrong password and unknown user get the same answer" "$w" "$n"
check "server: login refused user=alice reason=bad-password" \
	wait_for_log "$T/server.log" 'login refused user=alice reason=bad-password' 2
check "server: login refused user=mallory reason=unknown-user" \
	wait_for_log "$T/server.log" 'login refused user=mallory reason=unknown-user' 2
check "alice's real session survived the wrong-password attempt" \
	bash -c "'$CTL' --db '$DB' sessions | grep -Eq '^alice +127\.0\.0\.2:40002'"

# --- logout: bob leaves, alice hears it ---------------------------------------

say bob "/quit"
check "bob: logged out" wait_for_log "$T/bob.log" 'logged out' 5
check "server: session offline user=bob reason=logout" \
	wait_for_log "$T/server.log" 'session offline user=bob reason=logout' 5
two_offline() {
	[[ $(grep -c 'contact bob offline' "$T/alice.log") -ge 2 ]]
}
check "alice: contact bob offline (presence delta)" wait_until 5 two_offline
check "pinholectl sessions: bob gone" bash -c "! '$CTL' --db '$DB' sessions | grep -q '^bob '"

# --- keepalive timeout: bob comes back, then dies without a word -------------

start_ep bob2 bob "$T/bob.pw" 127.0.0.3:40013
bob2_pid=${EP_PID[bob2]}
check "bob (again): logged in" wait_for_log "$T/bob2.log" 'logged in session=[0-9]+' 10
check "alice: hears bob online again" wait_for_log "$T/alice.log" 'contact bob online at 127\.0\.0\.3:40013' 5
kill -KILL "$bob2_pid"
# --keepalive 2: silent for 3 intervals (6 s) and the 1 s sweep ends it.
check "server: session offline user=bob reason=timeout" \
	wait_for_log "$T/server.log" 'session offline user=bob reason=timeout' 12
three_offline() {
	[[ $(grep -c 'contact bob offline' "$T/alice.log") -ge 3 ]]
}
check "alice: contact bob offline after the timeout" wait_until 5 three_offline
check "alice kept her session through it (keepalives answered)" \
	bash -c "'$CTL' --db '$DB' sessions | grep -Eq '^alice +127\.0\.0\.2:40002'"

lab_stop "$SRV_PID" TERM 10
check_eq "server exits 0 on SIGTERM" 0 $?
check "server summary: 3 logins, 2 refused, 1 timeout" \
	grep -Eq 'access: logins=3 .*refused=2 .*timeouts=1 ' "$T/server.log"

if (($(tap_failed))); then
	for f in server alice bob wrong nobody bob2; do
		diag "--- $f.log ---"
		diag <"$T/$f.log"
	done
fi
tap_summary
