#!/bin/bash
# SPDX-License-Identifier: MIT
# pinhole-server and pinholectl when the world around them breaks:
#   - the store locked by another process: a writer holding BEGIN EXCLUSIVE (pinholectl
#     refuses with exit 5, the server starts and serves logins), then a lock that keeps
#     readers out too (logins answered 500, a start fails with one clear line); after the
#     lock goes everything works and nothing was lost;
#   - the store read-only (a read-only bind mount in a private mount namespace);
#   - the store corrupt (garbage over the header; garbage over a page);
#   - the disk full while writing the store (a 1 MiB tmpfs in a private mount
#     namespace, filled up): changes refused with a clear error, PRAGMA integrity_check
#     ok, every earlier account intact; after freeing space the same command succeeds;
#   - a bad flag or config file: exactly one line on stderr naming the problem, exit 2;
#   - the interface under a running `--xdp IF` deleted: the server logs
#     "xdp: interface IF is gone; serving from userspace" and still answers STUN on its
#     other address.
# Never a crash: every exit status is checked to be below 128 (no signal, no sanitizer
# abort), and every server is stopped with SIGTERM and must exit 0.
# Usage: bash tests/lab/test_faults.sh BUILD_DIR (root, from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
CTL=$build/pinholectl
FLOOD=$build/tests/tools/ph_flood
for b in "$SERVER" "$CTL" "$FLOOD"; do
	[[ -x $b ]] || bail_out "$b is not built (make BUILD=${1:-build} all)"
done
lab_init sqlite3 unshare mount dd

NS=faults
lab_ns_add $NS || bail_out "cannot create a namespace"
T=$LAB_TMP
SRV=127.0.0.1:3478

# ctl DB ARGS...: pinholectl on DB, stdout to $T/out, stderr to $T/err; returns its status.
ctl() {
	local db=$1
	shift
	"$CTL" --db "$db" "$@" >"$T/out" 2>"$T/err"
}

# one_line FILE REGEX: FILE holds exactly one line and it matches REGEX.
one_line() {
	[[ $(wc -l <"$1") == 1 ]] && grep -Eq -- "$2" "$1"
}

# Run a command in the private mount namespace held by process $MNT_PID.
in_mnt() {
	nsenter --mount="/proc/$MNT_PID/ns/mnt" -- "$@"
}

# mnt_ns_start: a process holding a private mount namespace (gone, mounts and all,
# when the cleanup kills it).  Sets MNT_PID.
mnt_ns_start() {
	unshare -m --propagation private -- sleep 600 &
	MNT_PID=$!
	_lab_pids+=("$MNT_PID")
	# unshare has switched namespaces once /proc shows a different one.
	wait_until 5 eval '[[ $(readlink /proc/$MNT_PID/ns/mnt) != $(readlink /proc/self/ns/mnt) ]]'
}

# srv_start ID DB [WRAP...] [-- FLAGS...]: pinhole-server on $SRV in $NS with store DB;
# WRAP (e.g. in_mnt) runs it in another mount namespace.  Waits for "ready" or its
# exit.  Sets SRV_PID, SRV_LOG; returns 0 once ready.
srv_start() {
	local id=$1 db=$2 wrap=()
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		wrap+=("$1")
		shift
	done
	(($#)) && shift
	SRV_LOG=$T/server-$id.log
	if ((${#wrap[@]})); then
		lab_bg $NS "$SRV_LOG" nsenter --mount="/proc/$MNT_PID/ns/mnt" -- \
			"$SERVER" --listen "$SRV" --db "$db" "$@"
	else
		lab_bg $NS "$SRV_LOG" "$SERVER" --listen "$SRV" --db "$db" "$@"
	fi
	SRV_PID=$LAB_PID
	LAB_WATCH_PID=$SRV_PID wait_for_log "$SRV_LOG" ' ready ' 15 2>/dev/null
}

# srv_exit: wait (15 s) for a server that should fail to start; sets rc to its status
# (124 if it had to be killed).  Not in $(...): only this shell can wait for it.
srv_exit() {
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.05
	done
	lab_stop "$SRV_PID" TERM 1
	rc=$?
}

# srv_stop_clean DESC: SIGTERM; ok if it exits 0.
srv_stop_clean() {
	local rc
	lab_stop "$SRV_PID" TERM 10
	rc=$?
	if ((rc == 0)); then
		ok "$1: the server stops cleanly (exit 0)"
	else
		not_ok "$1: the server stops cleanly (exit $rc)"
		tail -5 "$SRV_LOG" | diag
	fi
}

# login USER PASSWORD: one full login through $SRV; prints "ok", "error CODE" or "none".
login() {
	lab_in $NS "$FLOOD" --server "$SRV" --count 1 --seconds 10 guess "$1" "$2" |
		sed -n 's/^guess 1: //p'
}

# users DB: the user names, one line, sorted (read straight from SQLite).
users() {
	sqlite3 "$1" 'SELECT name FROM users ORDER BY name' 2>&1 | paste -sd' '
}

# A writer on DB in the background (coprocess): lock_take DB [strong].  strong also keeps
# readers out (locking_mode=EXCLUSIVE on a WAL store).  lock_drop releases it.
lock_take() {
	local line
	coproc LOCK { exec sqlite3 "$1"; }
	_lab_pids+=("$LOCK_PID")
	[[ ${2:-} == strong ]] && echo 'PRAGMA locking_mode=EXCLUSIVE;' >&"${LOCK[1]}"
	printf "BEGIN EXCLUSIVE;\nINSERT INTO users SELECT * FROM users WHERE 0;\nSELECT 'locked';\n" \
		>&"${LOCK[1]}"
	while read -r -t 10 line <&"${LOCK[0]}"; do
		[[ $line == locked ]] && return 0
	done
	return 1
}
lock_drop() {
	printf 'ROLLBACK;\n.quit\n' >&"${LOCK[1]}"
	lab_stop "$LOCK_PID" TERM 5
}

# --- a store to break -------------------------------------------------------------------

DB=$T/pinhole.db
for u in alice bob carol; do
	printf 'pw-%s\n' "$u" >"$T/pw-$u"
	ctl "$DB" user add "$u" --password-file "$T/pw-$u" || bail_out "user add $u: $(cat "$T/err")"
done
ctl "$DB" contact allow alice bob && ctl "$DB" contact allow bob alice || bail_out "contact allow"
before=$(users "$DB")
check_eq "store set up: three accounts" "alice bob carol" "$before"

# --- locked: a writer holds BEGIN EXCLUSIVE ---------------------------------------------

lock_take "$DB" || bail_out "sqlite3 could not take the write lock"
printf 'pw-dave\n' >"$T/pw-dave"
ctl "$DB" user add dave --password-file "$T/pw-dave"
rc=$?
if ((rc == 5)) && one_line "$T/err" 'locked' && [[ ! -s $T/out ]]; then
	ok "write-locked store: 'pinholectl user add' exits 5 with one line: $(cat "$T/err")"
else
	not_ok "write-locked store: 'pinholectl user add' exits 5 with one clear line"
	{ echo "exit $rc"; cat "$T/err"; } | diag
fi
ctl "$DB" contact allow carol alice
rc=$?
check "write-locked store: 'pinholectl contact allow' exits 5 with one line" \
	eval "(($rc == 5)) && one_line '$T/err' locked"
if srv_start locked "$DB"; then
	ok "write-locked store: the server starts (readers are not blocked)"
	check_eq "write-locked store: alice logs in" "ok" "$(login alice pw-alice)"
	lock_drop
	check "lock gone: 'pinholectl user add dave' succeeds" ctl "$DB" user add dave \
		--password-file "$T/pw-dave"
	check "lock gone: 'pinholectl contact allow carol alice' succeeds" \
		ctl "$DB" contact allow carol alice
	check_eq "lock gone: dave logs in on the running server" "ok" "$(login dave pw-dave)"
	srv_stop_clean "write-locked store"
else
	srv_exit
	if ((rc > 0 && rc < 128)) && grep -q "store $DB" "$SRV_LOG"; then
		ok "write-locked store: the server refuses to start (exit $rc): $(grep -m1 error "$SRV_LOG")"
	else
		not_ok "write-locked store: the server starts, or exits non-zero naming the store"
		{ echo "exit $rc"; cat "$SRV_LOG"; } | diag
	fi
	lock_drop
	ctl "$DB" user add dave --password-file "$T/pw-dave"
	ctl "$DB" contact allow carol alice
fi
check_eq "after the lock: every account there, nothing half-written" "alice bob carol dave" \
	"$(users "$DB")"
# contact_n DB A B: 1 if A may contact B.
contact_n() {
	sqlite3 "$1" "SELECT count(*) FROM contacts c JOIN users a ON a.id = c.from_id
		JOIN users b ON b.id = c.to_id WHERE a.name = '$2' AND b.name = '$3'"
}
check_eq "after the lock: carol may contact alice" 1 "$(contact_n "$DB" carol alice)"

# --- locked: readers kept out too (locking_mode=EXCLUSIVE) --------------------------------

# A running server holds its WAL store open (a shared lock no one can break), so this
# lock can only be taken while no server runs: then a start must fail cleanly.
lock_take "$DB" strong || bail_out "sqlite3 could not take the exclusive lock"
ctl "$DB" user list
rc=$?
check "store locked for readers: 'pinholectl user list' exits 5 with one line" \
	eval "(($rc == 5)) && one_line '$T/err' locked"
if srv_start strong "$DB"; then
	not_ok "store locked for readers: the server start fails"
	lab_stop "$SRV_PID" TERM 5
else
	srv_exit
	err=$(grep -E ' error ' "$SRV_LOG")
	if ((rc > 0 && rc < 128)) && [[ $(wc -l <<<"$err") == 1 && $err == *"store $DB"* ]]; then
		ok "store locked for readers: the server start fails (exit $rc) with one error line: ${err#* error }"
	else
		not_ok "store locked for readers: the server start fails with one error line naming the store"
		{ echo "exit $rc"; cat "$SRV_LOG"; } | diag
	fi
	# Not a bare errno: the operator must learn that another process holds the store.
	if grep -Eiq ' error .*(locked|busy)' "$SRV_LOG"; then
		ok "store locked for readers: the error line says the store is locked/busy"
	else
		not_ok "store locked for readers: the error line says the store is locked/busy"
	fi
fi
lock_drop
srv_start strong2 "$DB" || bail_out "server did not start after the lock: $(tail -3 "$SRV_LOG")"
ok "strong lock gone: the server starts"
check_eq "strong lock gone: alice logs in" "ok" "$(login alice pw-alice)"
srv_stop_clean "strong lock"
check_eq "after both locks: nothing lost" "alice bob carol dave" "$(users "$DB")"

# --- read-only -------------------------------------------------------------------------

mnt_ns_start || bail_out "cannot hold a private mount namespace"
mkdir -p "$T/ro"
cp "$DB" "$T/ro/pinhole.db"
RO=$T/ro/pinhole.db
in_mnt mount --bind "$T/ro" "$T/ro" && in_mnt mount -o remount,bind,ro "$T/ro" ||
	bail_out "read-only bind mount"
check "read-only: the mount is read-only inside the namespace, root cannot write" \
	in_mnt bash -c "! touch '$T/ro/x' 2>/dev/null"
in_mnt "$CTL" --db "$RO" user add erin --password-file "$T/pw-dave" >"$T/out" 2>"$T/err"
rc=$?
if ((rc == 6)) && one_line "$T/err" 'read-only'; then
	ok "read-only store: 'pinholectl user add' exits 6 with one line: $(cat "$T/err")"
else
	not_ok "read-only store: 'pinholectl user add' exits 6 with one clear line"
	{ echo "exit $rc"; cat "$T/err"; } | diag
fi
in_mnt "$CTL" --db "$RO" contact deny alice bob >"$T/out" 2>"$T/err"
rc=$?
check "read-only store: 'pinholectl contact deny' exits 6 with one line" \
	eval "(($rc == 6)) && one_line '$T/err' 'read-only'"
if srv_start ro "$RO" in_mnt; then
	r=$(login alice pw-alice)
	if [[ $r == ok ]]; then
		ok "read-only store: the server starts and serves logins read-only"
	else
		not_ok "read-only store: a server that starts serves logins (got '$r')"
		diag <"$SRV_LOG"
	fi
	srv_stop_clean "read-only store"
else
	srv_exit
	err=$(grep -E ' error ' "$SRV_LOG")
	if ((rc > 0 && rc < 128)) && [[ $(wc -l <<<"$err") == 1 && $err == *"$RO"* ]] &&
		grep -Eiq 'read-only' <<<"$err"; then
		ok "read-only store: the server refuses to start (exit $rc) with one error line: ${err#* error }"
	else
		not_ok "read-only store: the server serves read-only or exits with one line naming the store and 'read-only'"
		{ echo "exit $rc"; cat "$SRV_LOG"; } | diag
	fi
fi
check_eq "read-only store: unchanged" "alice bob carol dave" "$(users "$RO")"
lab_stop "$MNT_PID" TERM 5

# --- corrupt ---------------------------------------------------------------------------

# corrupt_check NAME DB: the server and pinholectl on a broken DB.
corrupt_check() {
	local name=$1 db=$2 rc r err
	if srv_start "corrupt-$name" "$db"; then
		# Started: it must still answer, with a login or a clear per-request error.
		r=$(login alice pw-alice)
		if [[ $r == ok || $r == "error 500" ]] && kill -0 "$SRV_PID" 2>/dev/null; then
			ok "$name: the server starts and answers a login ($r), no crash"
		else
			not_ok "$name: a server that starts answers logins without crashing (got '$r')"
			diag <"$SRV_LOG"
		fi
		srv_stop_clean "$name"
	else
		srv_exit
		err=$(grep -E ' error ' "$SRV_LOG")
		if ((rc > 0 && rc < 128)) && [[ $(wc -l <<<"$err") == 1 && $err == *"$db"* ]]; then
			ok "$name: the server refuses to start (exit $rc) with one line: ${err#* error }"
		else
			not_ok "$name: the server refuses to start with one error line naming the store"
			{ echo "exit $rc"; cat "$SRV_LOG"; } | diag
		fi
	fi
	ctl "$db" user list
	rc=$?
	if ((rc == 7)) && one_line "$T/err" .; then
		ok "$name: 'pinholectl user list' exits 7 with one line: $(cat "$T/err")"
	elif ((rc == 0)); then
		# A page the listing never reads: then a write must not crash either.
		ctl "$db" user add zed --password-file "$T/pw-dave"
		rc=$?
		if ((rc < 128)) && { ((rc == 0)) || one_line "$T/err" .; }; then
			ok "$name: pinholectl reads the intact part; a write exits $rc without crashing"
		else
			not_ok "$name: pinholectl write on a damaged store: exit $rc"
			diag <"$T/err"
		fi
	else
		not_ok "$name: 'pinholectl user list' exits 7 with one clear line"
		{ echo "exit $rc"; cat "$T/err"; } | diag
	fi
}

cp "$DB" "$T/corrupt-header.db"
# Bytes 0..99 are the SQLite header ("SQLite format 3", page size, counters).
head -c 100 /dev/urandom | dd of="$T/corrupt-header.db" conv=notrunc status=none
corrupt_check "garbage over the header" "$T/corrupt-header.db"

cp "$DB" "$T/corrupt-page.db"
psz=$(sqlite3 "$DB" 'PRAGMA page_size')
npages=$(sqlite3 "$DB" 'PRAGMA page_count')
# Every page after the first (the schema): the tables' b-trees.
head -c $((psz * (npages - 1))) /dev/urandom |
	dd of="$T/corrupt-page.db" bs="$psz" seek=1 conv=notrunc status=none
corrupt_check "garbage over every page but the first" "$T/corrupt-page.db"

# --- disk full -----------------------------------------------------------------------------

mnt_ns_start || bail_out "cannot hold a private mount namespace"
FULL=$T/full
mkdir -p "$FULL"
in_mnt mount -t tmpfs -o size=1m,mode=0700 phfaults "$FULL" || bail_out "tmpfs"
FDB=$FULL/pinhole.db
for u in alice bob carol; do
	in_mnt "$CTL" --db "$FDB" user add "$u" --password-file "$T/pw-$u" >/dev/null ||
		bail_out "user add $u on the tmpfs"
done
# The server holds the store open, as in production (its -shm stays mapped).
srv_start full "$FDB" in_mnt || bail_out "server on the tmpfs: $(tail -3 "$SRV_LOG")"
in_mnt dd if=/dev/zero of="$FULL/fill" bs=4k status=none 2>/dev/null
check "disk full: the tmpfs has no space left" \
	eval "[[ \$(in_mnt df --output=avail -k '$FULL' | tail -1 | tr -d ' ') == 0 ]]"
in_mnt "$CTL" --db "$FDB" user add frank --password-file "$T/pw-dave" >"$T/out" 2>"$T/err"
rc=$?
if ((rc != 0 && rc < 128)) && one_line "$T/err" 'disk full|No space'; then
	ok "disk full: 'pinholectl user add' refused (exit $rc): $(cat "$T/err")"
else
	not_ok "disk full: 'pinholectl user add' refused with one clear line"
	{ echo "exit $rc"; cat "$T/err"; } | diag
fi
in_mnt "$CTL" --db "$FDB" contact allow alice carol >"$T/out" 2>"$T/err"
rc=$?
if ((rc != 0 && rc < 128)) && one_line "$T/err" 'disk full|No space'; then
	ok "disk full: 'pinholectl contact allow' refused (exit $rc): $(cat "$T/err")"
else
	not_ok "disk full: 'pinholectl contact allow' refused with one clear line"
	{ echo "exit $rc"; cat "$T/err"; } | diag
fi
check_eq "disk full: PRAGMA integrity_check" "ok" \
	"$(in_mnt sqlite3 "$FDB" 'PRAGMA integrity_check' 2>&1)"
check_eq "disk full: the earlier accounts are intact" "alice bob carol" \
	"$(in_mnt sqlite3 "$FDB" 'SELECT name FROM users ORDER BY name' 2>&1 | paste -sd' ')"
check_eq "disk full: logins still work (reads)" "ok" "$(login bob pw-bob)"
in_mnt rm -f "$FULL/fill"
check "space freed: the same 'pinholectl user add frank' succeeds" \
	in_mnt "$CTL" --db "$FDB" user add frank --password-file "$T/pw-dave"
check "space freed: the same 'pinholectl contact allow alice carol' succeeds" \
	in_mnt "$CTL" --db "$FDB" contact allow alice carol
check_eq "space freed: frank logs in" "ok" "$(login frank pw-dave)"
srv_stop_clean "disk full"
lab_stop "$MNT_PID" TERM 5

# --- bad flags and config files ------------------------------------------------------------

# bad_input DESC REGEX CMD...: exit 2, exactly one line on stderr matching REGEX, nothing
# on stdout.
bad_input() {
	local desc=$1 re=$2 rc
	shift 2
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if ((rc == 2)) && one_line "$T/err" "$re" && [[ ! -s $T/out ]]; then
		ok "$desc: exit 2, one line: $(cat "$T/err")"
	else
		not_ok "$desc: exit 2 and one line on stderr naming it (/$re/)"
		diag "exit $rc; stderr $(wc -l <"$T/err") lines:"
		head -3 "$T/err" | diag
	fi
}

printf 'listen = 127.0.0.1:3478\nbogus-key = 1\n' >"$T/unknown.conf"
printf '# comment\nkeepalive = soon\n' >"$T/badval.conf"
printf 'login-rate\n' >"$T/novalue.conf"
printf 'max-sessions = 99999999999999999999\n' >"$T/overflow.conf"
bad_input "server: unknown flag" "'--bogus'" "$SERVER" --bogus
bad_input "server: bad value" "--keepalive.*'abc'" "$SERVER" --keepalive abc
bad_input "server: flag without its value" "--keepalive" "$SERVER" --keepalive
bad_input "server: value out of range" "--max-sessions.*'0'" "$SERVER" --max-sessions 0
bad_input "server: bad address" "--listen.*'198\.18\.0\.300'" "$SERVER" --listen 198.18.0.300
bad_input "server: missing config file" "$T/nonexistent\.conf" \
	"$SERVER" --config "$T/nonexistent.conf"
bad_input "server: config with an unknown key" "unknown\.conf:2: .*'bogus-key'" \
	"$SERVER" --config "$T/unknown.conf"
bad_input "server: config with a bad value" "badval\.conf:2: .*keepalive.*'soon'" \
	"$SERVER" --config "$T/badval.conf"
bad_input "server: config key without a value" "novalue\.conf:1: .*login-rate" \
	"$SERVER" --config "$T/novalue.conf"
bad_input "server: config value that overflows" "overflow\.conf:1: .*max-sessions" \
	"$SERVER" --config "$T/overflow.conf"
bad_input "server: config file is a directory" "$T" "$SERVER" --config "$T"
bad_input "pinholectl: unknown flag" "'?--bogus'?" "$CTL" --db "$DB" --bogus user list
bad_input "pinholectl: unknown command" "'frob'" "$CTL" --db "$DB" frob
bad_input "pinholectl: command without its argument" "user add.*missing" "$CTL" --db "$DB" user add
bad_input "pinholectl: flag without its value" "'?--db'?" "$CTL" --db

# --- the interface goes away under XDP ------------------------------------------------------

lab_ns_add xcli || bail_out "namespace"
lab_veth $NS xf0 xcli xf1 || bail_out "veth"
lab_addr $NS xf0 198.18.77.1/24 && lab_addr xcli xf1 198.18.77.2/24 || bail_out "addresses"
lab_pin_dir
PIN=$LAB_PIN
XLOG=$T/server-xdp.log
lab_bg $NS "$XLOG" "$SERVER" --stun-only --listen 198.18.77.1:3478 --listen "$SRV" \
	--xdp xf0 --pin-dir "$PIN"
SRV_PID=$LAB_PID SRV_LOG=$XLOG
if ! LAB_WATCH_PID=$SRV_PID wait_for_log "$XLOG" ' ready ' 15; then
	diag <"$XLOG"
	bail_out "pinhole-server --xdp xf0 did not start"
fi
ok "server with --xdp xf0 ready"
check "XDP attached to xf0" ph_xdp_attached $NS xf0
r=$(lab_in xcli "$FLOOD" --server 198.18.77.1:3478 --count 3 --seconds 5 binding)
check "before: Binding requests over xf0 answered" grep -q ' ok=3' <<<"$r"
lab_ip $NS link del xf0 || bail_out "cannot delete xf0"
if wait_for_log "$XLOG" 'xdp: interface xf0 is gone; serving from userspace' 10; then
	ok "xf0 deleted: the server logs 'xdp: interface xf0 is gone; serving from userspace'"
else
	not_ok "xf0 deleted: the server logs 'xdp: interface xf0 is gone; serving from userspace'"
	tail -5 "$XLOG" | diag
fi
check "xf0 deleted: the server is still running" kill -0 "$SRV_PID"
r=$(lab_in $NS "$FLOOD" --server "$SRV" --count 3 --seconds 5 binding)
check "xf0 deleted: Binding requests to $SRV still answered ($r)" grep -q ' ok=3' <<<"$r"
srv_stop_clean "interface gone"

tap_summary
