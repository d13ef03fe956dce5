#!/bin/bash
# SPDX-License-Identifier: MIT
# pinholectl against real store files: passwords from stdin, a file and a
# terminal (never argv), the keys it stores checked against an independent
# SHA-256/MD5, users, contacts, sessions, realm, and the errors an operator
# meets (unknown user, duplicate, bad name, locked, read-only, corrupt) with
# their exit codes.  No network.  Usage: bash tests/lab/test_pinholectl.sh
# BUILD_DIR (from the repo root).  Needs: sqlite3 (CLI), sha256sum, md5sum,
# setpriv (read-only check as root), python3 (terminal prompt check).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

CTL=$build/pinholectl
[[ -x $CTL ]] || bail_out "$CTL is not built"
for t in sqlite3 sha256sum md5sum; do
	command -v $t >/dev/null || bail_out "missing tool: $t"
done

tmp=$(mktemp -d "/tmp/ph-store-$$-XXXXXX") || bail_out "mktemp"
lock_pid=""
cleanup() {
	[[ -n $lock_pid ]] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
	rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

db=$tmp/pinhole.db
out=$tmp/out
err=$tmp/err

# run ARGS...: pinholectl on $db; stdout in $out, stderr in $err, exit code in $rc.
run() {
	"$CTL" --db "$db" "$@" >"$out" 2>"$err"
	rc=$?
}

# expect DESC CODE PATTERN: last run exited CODE and stderr+stdout match PATTERN.
expect() {
	local desc=$1 code=$2 pat=$3
	if ((rc == code)) && grep -Eq -- "$pat" "$out" "$err"; then
		ok "$desc"
	else
		not_ok "$desc"
		diag "exit $rc (want $code), want /$pat/" "stdout: $(cat "$out")" "stderr: $(cat "$err")"
	fi
}

sql() {
	sqlite3 -batch -noheader "$db" "$@"
}

# Upper-case hex of SHA-256 / MD5 of a string, as SQLite's hex() prints.
sha256_hex() {
	printf '%s' "$1" | sha256sum | cut -c1-64 | tr a-f A-F
}
md5_hex() {
	printf '%s' "$1" | md5sum | cut -c1-32 | tr a-f A-F
}

# --- creating and adding ---------------------------------------------------

run user list
expect "user list on a missing database: not found" 3 "no such database"
check "a read command does not create the database" test ! -e "$db"

echo 'alice pass phrase 1' | "$CTL" --db "$db" user add alice >"$out" 2>"$err"
rc=$?
expect "user add alice, password on stdin" 0 "added user alice"
check_eq "database created owner-only (0600)" 600 "$(stat -c %a "$db")"

printf 'bob-pw-2\r\nsecond line ignored\n' >"$tmp/bob.pw"
run user add bob --password-file "$tmp/bob.pw"
expect "user add bob --password-file (CRLF line)" 0 "added user bob"
printf 'carol-pw-3\n' >"$tmp/carol.pw"
run user add carol --password-file="$tmp/carol.pw"
expect "user add carol --password-file=FILE" 0 "added user carol"

check_eq "stored SHA-256 key of alice = SHA-256(alice:pinhole:password)" \
	"$(sha256_hex 'alice:pinhole:alice pass phrase 1')" \
	"$(sql "SELECT hex(key_sha256) FROM users WHERE name = 'alice'")"
check_eq "stored MD5 key of alice = MD5(alice:pinhole:password)" \
	"$(md5_hex 'alice:pinhole:alice pass phrase 1')" \
	"$(sql "SELECT hex(key_md5) FROM users WHERE name = 'alice'")"
check_eq "password file: first line, CR stripped" \
	"$(sha256_hex 'bob:pinhole:bob-pw-2')" \
	"$(sql "SELECT hex(key_sha256) FROM users WHERE name = 'bob'")"
if cat "$db"* | grep -aqE 'alice pass phrase|bob-pw-2|carol-pw-3'; then
	not_ok "no password text in the database files"
else
	ok "no password text in the database files"
fi

# --- passwords never from argv ---------------------------------------------

run user add dave s3cret-argv
expect "user add NAME PASSWORD refused" 2 "never taken from the command line"
run user add dave --password s3cret-argv
expect "--password refused" 2 "never taken from the command line"
run user add dave --password=s3cret-argv
expect "--password=X refused" 2 "never taken from the command line"
run user add dave -p s3cret-argv
expect "-p refused" 2 "never taken from the command line"
check_eq "no user created by a refused command" 0 "$(sql "SELECT count(*) FROM users WHERE name = 'dave'")"

"$CTL" --db "$db" user add dave </dev/null >"$out" 2>"$err"
rc=$?
expect "empty stdin: no password" 2 "no password"
run user add dave --password-file "$tmp/missing.pw"
expect "missing password file" 3 "missing.pw"
head -c 300 /dev/zero | tr '\0' x >"$tmp/long.pw"
run user add dave --password-file "$tmp/long.pw"
expect "over-long password refused" 2 "longer than 256"

# A terminal gets a prompt without echo, asked twice.
if command -v python3 >/dev/null; then
	cat >"$tmp/drive_pty.py" <<'EOF'
import os, pty, signal, sys
ctl, db, user, pw1, pw2 = sys.argv[1:6]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ctl, [ctl, "--db", db, "user", "add", user])
# A prompt that never comes, or input that is lost, fails the test, never hangs it.
def give_up(*_):
    os.kill(pid, signal.SIGKILL)
    sys.exit("timed out; terminal so far: %r" % seen)
signal.signal(signal.SIGALRM, give_up)
signal.alarm(10)
seen = b""
def wait_for(s):
    global seen
    while s not in seen:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            chunk = b""
        if not chunk:
            sys.exit("eof before %r: %r" % (s, seen))
        seen += chunk
wait_for(b"Password for " + user.encode() + b": ")
os.write(fd, pw1.encode() + b"\n")
wait_for(b"Again: ")
os.write(fd, pw2.encode() + b"\n")
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        seen += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
# Echo off: the password must not come back on the terminal.
if pw1.encode() in seen:
    sys.exit("password echoed")
sys.exit(os.waitstatus_to_exitcode(status))
EOF
	python3 "$tmp/drive_pty.py" "$CTL" "$db" erin 'erin tty pw' 'erin tty pw' >"$out" 2>"$err"
	rc=$?
	expect "terminal: prompted twice, no echo, user added" 0 "added user erin"
	check_eq "terminal password derived the key" "$(sha256_hex 'erin:pinhole:erin tty pw')" \
		"$(sql "SELECT hex(key_sha256) FROM users WHERE name = 'erin'")"
	python3 "$tmp/drive_pty.py" "$CTL" "$db" frank 'one' 'two' >"$out" 2>"$err"
	rc=$?
	expect "terminal: mismatched passwords refused" 2 "do not match"
else
	ok "# SKIP terminal prompt (no python3)"
fi

# --- users -----------------------------------------------------------------

echo other | "$CTL" --db "$db" user add alice >"$out" 2>"$err"
rc=$?
expect "duplicate user: exit 4" 4 "user 'alice' already exists"
for bad in 'a:b' 'a b' '' "$(printf 'n%.0s' {1..65})"; do
	echo pw | "$CTL" --db "$db" user add "$bad" >"$out" 2>"$err"
	rc=$?
	expect "bad name '${bad:0:10}' refused" 2 "bad user name"
done
echo pw | "$CTL" --db "$db" user add "$(printf 'n%.0s' {1..64})" >"$out" 2>"$err"
rc=$?
expect "64-character name accepted" 0 "added user"

run user list
expect "user list" 0 "^NAME +CREATED$"
check_eq "user list: users in name order" "alice bob carol erin $(printf 'n%.0s' {1..64})" \
	"$(tail -n +2 "$out" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
# Aligned: the second column starts at the same offset on every line.
check_eq "user list: columns aligned" 1 \
	"$(awk '{ print index($0, $2) }' "$out" | sort -u | wc -l)"
check "user list: CREATED is an ISO-8601 UTC time" \
	grep -Eq '^alice +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "$out"

printf 'new-bob-pw\n' | "$CTL" --db "$db" user passwd bob >"$out" 2>"$err"
rc=$?
expect "user passwd bob" 0 "new password for bob"
check_eq "user passwd: new key stored" "$(sha256_hex 'bob:pinhole:new-bob-pw')" \
	"$(sql "SELECT hex(key_sha256) FROM users WHERE name = 'bob'")"
echo x | "$CTL" --db "$db" user passwd nobody >"$out" 2>"$err"
rc=$?
expect "user passwd unknown user: exit 3" 3 "no such user 'nobody'"

# --- contacts ----------------------------------------------------------------

run contact allow alice bob
expect "contact allow alice bob" 0 "alice may now contact bob"
run contact allow alice bob
expect "contact allow again: no error" 0 "already contact bob"
run contact allow alice nobody
expect "contact allow with unknown user: exit 3" 3 "no such user 'nobody'"
run contact allow alice alice
expect "contact allow with oneself refused" 2 "own contact"
run contact allow alice
expect "contact allow with one name: usage" 2 "missing argument"
run contact list alice
expect "contact list alice: bob out" 0 "^bob +out$"
run contact list bob
expect "contact list bob: alice in (directional)" 0 "^alice +in$"
run contact allow bob alice
run contact list alice
expect "both directions shown as both" 0 "^bob +both$"
run contact allow alice carol
run contact list alice
check_eq "contact list: header and rows in name order" "CONTACT DIRECTION|bob both|carol out" \
	"$(awk '{print $1, $2}' "$out" | paste -sd'|')"

run contact deny alice bob
expect "contact deny alice bob" 0 "alice may no longer contact bob"
run contact list alice
expect "after deny: bob only in" 0 "^bob +in$"
check_eq "deny removed one direction only" 1 "$(sql "SELECT count(*) FROM contacts c JOIN users a ON a.id = c.from_id WHERE a.name = 'bob'")"
run contact deny alice bob
expect "contact deny again: no error" 0 "was not allowed"
run contact deny nobody bob
expect "contact deny unknown user: exit 3" 3 "no such user 'nobody'"
run contact list nobody
expect "contact list unknown user: exit 3" 3 "no such user 'nobody'"

run user del bob
expect "user del bob" 0 "deleted user bob"
run contact list alice
check_eq "user del removed bob's contacts" "CONTACT DIRECTION|carol out" \
	"$(awk '{print $1, $2}' "$out" | paste -sd'|')"
run user del bob
expect "user del unknown user: exit 3" 3 "no such user 'bob'"

# --- sessions (rows as the server writes them) ------------------------------

run sessions
expect "sessions with nobody online: header" 0 "^USER +OBSERVED +CLAIMED +NAT +SINCE +REFRESHED$"
sql "INSERT INTO sessions (id, user_id, observed, claimed, locals, nat_mapping, nat_filtering, since, refreshed)
     SELECT 77, id, '198.18.5.1:40000', '198.18.5.1:40000', '10.0.0.2:5000', 2, 4, 1700000000, 1700000020
     FROM users WHERE name = 'alice';
     INSERT INTO sessions (id, user_id, observed, claimed, locals, nat_mapping, nat_filtering, since, refreshed)
     SELECT 78, id, '[2001:db8::7]:3478', '198.18.9.9:1', '', 1, 1, 1700000100, 1700000100
     FROM users WHERE name = 'carol';" || bail_out "inserting sessions"
run sessions
expect "sessions: alice, observed address, NAT type, since" 0 \
	"^alice +198\.18\.5\.1:40000 += +eim-apdf +2023-11-14T22:13:20Z +2023-11-14T22:13:40Z$"
expect "sessions: a claimed address that differs is shown" 0 \
	"^carol +\[2001:db8::7\]:3478 +198\.18\.9\.9:1 +none "
check_eq "sessions: columns aligned" 1 "$(awk '{ print index($0, $2) }' "$out" | sort -u | wc -l)"
run user del alice
check_eq "user del removed alice's session" 0 "$(sql "SELECT count(*) FROM sessions WHERE id = 77")"

# --- realm -------------------------------------------------------------------

run realm
expect "realm prints the default realm" 0 "^pinhole$"
"$CTL" --db "$db" --realm example.org realm >"$out" 2>"$err"
rc=$?
expect "another realm on an existing store refused" 2 "realm is \"pinhole\", not \"example.org\""
db2=$tmp/realm.db
echo 'pw' | "$CTL" --db "$db2" --realm example.org user add zoe >"$out" 2>"$err"
rc=$?
expect "new store with --realm" 0 "added user zoe \(realm example.org\)"
check_eq "key derived with the store's realm" "$(sha256_hex 'zoe:example.org:pw')" \
	"$(sqlite3 -batch "$db2" "SELECT hex(key_sha256) FROM users WHERE name = 'zoe'")"
"$CTL" --db "$db2" realm >"$out" 2>"$err"
rc=$?
expect "realm read back from the store" 0 "^example.org$"
echo pw | "$CTL" --db "$tmp/bad-realm.db" --realm 'a:b' user add zoe >"$out" 2>"$err"
rc=$?
expect "bad realm refused" 2 "bad realm"

# --- locked, read-only, corrupt ---------------------------------------------

# Another writer holds the lock (as a long pinholectl or a backup would).
coproc LOCK { sqlite3 -batch "$db" 2>&1; }
lock_pid=$LOCK_PID
lock_w=${LOCK[1]}
lock_r=${LOCK[0]}
printf "BEGIN EXCLUSIVE;\nSELECT 'locked';\n" >&"$lock_w"
if read -r -t 10 line <&"$lock_r" && [[ $line == locked ]]; then
	t0=$(date +%s%N)
	echo pw | "$CTL" --db "$db" user add gina >"$out" 2>"$err"
	rc=$?
	t1=$(date +%s%N)
	expect "write while another writer holds the lock: exit 5" 5 "locked by another writer"
	ms=$(((t1 - t0) / 1000000))
	if ((ms >= 4000 && ms < 15000)); then
		ok "locked: gave up after the busy timeout (${ms} ms), no hang"
	else
		not_ok "locked: gave up after the busy timeout (${ms} ms), no hang"
	fi
	run user list
	expect "reads still work while another writer holds the lock" 0 "^carol "
	printf 'COMMIT;\n' >&"$lock_w"
	# End of input ends sqlite3, which releases the lock.
	exec {lock_w}>&-
	wait "$lock_pid"
	lock_pid=""
	echo pw | "$CTL" --db "$db" user add gina >"$out" 2>"$err"
	rc=$?
	expect "write works once the lock is released" 0 "added user gina"
else
	not_ok "could not take the lock with sqlite3 (got '${line:-}')"
fi

# Root ignores file modes: drop the capabilities that let it.
if command -v setpriv >/dev/null; then
	chmod 0400 "$db"
	echo pw | setpriv --bounding-set=-dac_override,-dac_read_search \
		"$CTL" --db "$db" user add hal >"$out" 2>"$err"
	rc=$?
	expect "write-protected database: exit 6" 6 "is read-only"
	setpriv --bounding-set=-dac_override,-dac_read_search \
		"$CTL" --db "$db" contact allow carol gina >"$out" 2>"$err"
	rc=$?
	expect "write-protected database, contact allow: exit 6" 6 "is read-only"
	setpriv --bounding-set=-dac_override,-dac_read_search \
		"$CTL" --db "$db" user list >"$out" 2>"$err"
	rc=$?
	expect "write-protected database is still readable" 0 "^gina "
	chmod 0600 "$db"
	check_eq "nothing lost or added" "carol erin gina" \
		"$(sql "SELECT group_concat(name, ' ') FROM (SELECT name FROM users WHERE length(name) < 10 ORDER BY name)")"
else
	ok "# SKIP read-only file (no setpriv)"
fi

head -c 8192 /dev/urandom >"$tmp/junk.db"
cp "$tmp/junk.db" "$tmp/junk.orig"
"$CTL" --db "$tmp/junk.db" user list >"$out" 2>"$err"
rc=$?
expect "not a database: exit 7" 7 "corrupt or not a pinhole store"
check_eq "corrupt: one line on stderr" 1 "$(wc -l <"$err")"
echo pw | "$CTL" --db "$tmp/junk.db" user add ivan >"$out" 2>"$err"
rc=$?
expect "not a database, user add: exit 7" 7 "corrupt or not a pinhole store"
check "corrupt file left untouched" cmp -s "$tmp/junk.db" "$tmp/junk.orig"
sqlite3 "$tmp/foreign.db" "CREATE TABLE photos (id INTEGER PRIMARY KEY)"
echo pw | "$CTL" --db "$tmp/foreign.db" user add ivan >"$out" 2>"$err"
rc=$?
expect "someone else's SQLite database: exit 7" 7 "corrupt or not a pinhole store"
"$CTL" -v --db "$tmp/junk.db" user list >"$out" 2>"$err"
rc=$?
expect "-v shows SQLite's own message" 7 "file is not a database"
sql "PRAGMA user_version = 99"
run user list
expect "store from a newer build refused" 1 "newer pinhole"
sql "PRAGMA user_version = 1"

# --- help and usage ------------------------------------------------------------

run --help
expect "--help lists the commands" 0 "contact allow A B"
run user add --help
expect "user add --help" 0 "password-file"
run sessions --help
expect "sessions --help" 0 "MAPPING-FILTERING"
run help contact deny
expect "help contact deny" 0 "contact deny A B"
run user frob
expect "unknown command: usage" 2 "unknown command 'user frob'"
run user list extra
expect "extra argument: usage" 2 "unexpected argument"
"$CTL" >"$out" 2>"$err"
rc=$?
expect "no command: usage" 2 "usage: pinholectl"

tap_summary
