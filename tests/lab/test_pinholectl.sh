#!/bin/bash
# SPDX-License-Identifier: MIT
# pinholectl against real store files: passwords from stdin, a file and a
# terminal (never argv), the keys it stores checked against an independent
# SHA-256/MD5, users, contacts, sessions, realm, and the errors an operator
# meets (unknown user, duplicate, bad name, locked, read-only, corrupt) with
# their exit codes.  Every --json output is parsed with jq and its values
# checked.  Last, `pinholectl stats` against a real pinhole-server with --xdp
# in network namespaces: Binding requests from turnutils_stunclient and a
# pinhole-endpoint login, the counters compared with bpftool's dump of the
# same pinned map (skipped without root).
# Usage: bash tests/lab/test_pinholectl.sh BUILD_DIR (from the repo root).
# Needs: sqlite3 (CLI), sha256sum, md5sum, jq, setpriv (read-only check as
# root), python3 (terminal prompt check); for stats: root, bpftool, ethtool,
# turnutils_stunclient.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

CTL=$build/pinholectl
[[ -x $CTL ]] || bail_out "$CTL is not built"
for t in sqlite3 sha256sum md5sum jq; do
	command -v $t >/dev/null || bail_out "missing tool: $t"
done

tmp=$(mktemp -d "/tmp/ph-store-$$-XXXXXX") || bail_out "mktemp"
lock_pid=""
lab_on=0
cleanup() {
	local rc=$?
	[[ -n $lock_pid ]] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
	rm -rf -- "$tmp"
	# The stats lab's namespaces, server and pin dirs (lib.sh); it reads $?.
	if ((lab_on)); then
		(exit "$rc")
		lab_cleanup
	fi
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

# jrun ARGS...: as run, with --json after the command's own arguments.
jrun() {
	run "$@" --json
}

# jq_eq DESC EXPECTED FILTER: the last run exited 0 and jq FILTER on its
# stdout (which must be valid JSON) prints EXPECTED (jq -c output).
jq_eq() {
	local desc=$1 want=$2 filter=$3 got
	if ((rc != 0)); then
		not_ok "$desc"
		diag "exit $rc" "stderr: $(cat "$err")"
		return 1
	fi
	if ! got=$(jq -c "$filter" "$out" 2>&1); then
		not_ok "$desc"
		diag "jq '$filter' failed: $got" "stdout: $(cat "$out")"
		return 1
	fi
	check_eq "$desc" "$want" "$got" || diag "stdout: $(cat "$out")"
}

# json_err DESC CODE PATTERN: the last run (with --json) failed with CODE,
# printed nothing on stdout and exactly one line on stderr matching PATTERN.
json_err() {
	local desc=$1 code=$2 pat=$3
	if ((rc == code)) && [[ ! -s $out ]] && (($(wc -l <"$err") == 1)) &&
		grep -Eq -- "$pat" "$err"; then
		ok "$desc"
	else
		not_ok "$desc"
		diag "exit $rc (want $code), want one stderr line /$pat/, empty stdout" \
			"stdout: $(cat "$out")" "stderr: $(cat "$err")"
	fi
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

long_name=$(printf 'n%.0s' {1..64})
jrun user list
jq_eq "user list --json: the same users in name order" \
	"\"alice bob carol erin $long_name\"" '[.users[].name] | join(" ")'
jq_eq "user list --json: only name and created per user" '[["created","name"]]' \
	'[.users[] | keys] | unique'
jq_eq "user list --json: created as in the table (ISO 8601 UTC)" \
	"\"$(awk '$1 == "alice" { print $2 }' < <("$CTL" --db "$db" user list))\"" \
	'.users[] | select(.name == "alice") | .created'
jq_eq "user list --json: created looks like YYYY-MM-DDTHH:MM:SSZ" true \
	'all(.users[]; .created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))'
"$CTL" --json --db "$db" user list >"$out" 2>"$err"
rc=$?
jq_eq "--json before the command works too" 5 '.users | length'

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

jrun contact list alice
jq_eq "contact list --json: the user" '"alice"' '.user'
jq_eq "contact list --json: name and direction, in name order" \
	'["bob:both","carol:out"]' '[.contacts[] | "\(.name):\(.direction)"]'
jrun contact list carol
jq_eq "contact list --json: carol sees alice as in" '[{"name":"alice","direction":"in"}]' '.contacts'
jrun contact list erin
jq_eq "contact list --json: no contacts is an empty list" '{"user":"erin","contacts":[]}' '.'
jrun contact list nobody
json_err "contact list --json, unknown user: exit 3, one line on stderr" 3 "no such user 'nobody'"
jrun contact list
json_err "contact list --json, missing name: exit 2, one line on stderr" 2 "missing argument"

run contact deny alice bob
expect "contact deny alice bob" 0 "alice may no longer contact bob"
run contact list alice
expect "after deny: bob only in" 0 "^bob +in$"
jrun contact list alice
jq_eq "contact list --json after deny: bob in, carol out" '["bob:in","carol:out"]' \
	'[.contacts[] | "\(.name):\(.direction)"]'

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
jrun sessions
jq_eq "sessions --json with nobody online: an empty list" '{"sessions":[]}' '.'

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
# A session whose endpoint claimed nothing and whose address is not known yet.
sql "INSERT INTO sessions (id, user_id, observed, claimed, locals, nat_mapping, nat_filtering, since, refreshed)
     SELECT 79, id, NULL, NULL, '', 0, 0, 1700000200, 1700000201 FROM users WHERE name = 'erin'" ||
	bail_out "inserting a session"
jrun sessions
jq_eq "sessions --json: one entry per session, ordered by user" '["alice","carol","erin"]' '[.sessions[].user]'
jq_eq "sessions --json: alice's session in full" \
	'{"user":"alice","id":77,"observed":"198.18.5.1:40000","claimed":"198.18.5.1:40000","local":["10.0.0.2:5000"],"nat":{"mapping":"eim","filtering":"apdf"},"since":"2023-11-14T22:13:20Z","refreshed":"2023-11-14T22:13:40Z"}' \
	'.sessions[0]'
jq_eq "sessions --json: IPv6 observed, a different claimed address, no NAT" \
	'["[2001:db8::7]:3478","198.18.9.9:1",[],"none","none",78]' \
	'.sessions[1] | [.observed, .claimed, .local, .nat.mapping, .nat.filtering, .id]'
jq_eq "sessions --json: unknown addresses are null, undiscovered NAT is unknown" \
	'[null,null,"unknown","unknown","2023-11-14T22:16:41Z"]' \
	'.sessions[2] | [.observed, .claimed, .nat.mapping, .nat.filtering, .refreshed]'
jq_eq "sessions --json: ids are numbers" '["number"]' '[.sessions[].id | type] | unique'
run user del alice
check_eq "user del removed alice's session" 0 "$(sql "SELECT count(*) FROM sessions WHERE id = 77")"

# --- realm -------------------------------------------------------------------

run realm
expect "realm prints the default realm" 0 "^pinhole$"
jrun realm
jq_eq "realm --json" '{"realm":"pinhole"}' '.'

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
"$CTL" --db "$tmp/junk.db" sessions --json >"$out" 2>"$err"
rc=$?
json_err "sessions --json on a corrupt file: exit 7, one line, no JSON" 7 "corrupt or not a pinhole store"
"$CTL" --db "$tmp/missing.db" --json user list >"$out" 2>"$err"
rc=$?
json_err "user list --json on a missing database: exit 3, one line" 3 "no such database"
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
jrun user list extra
json_err "extra argument with --json: one line, exit 2" 2 "unexpected argument"
echo pw | "$CTL" --db "$db" user add kim --json >"$out" 2>"$err"
rc=$?
json_err "--json on a command that does not report: refused, exit 2" 2 "only for the commands that list or report"
check_eq "... and nothing was added" 0 "$(sql "SELECT count(*) FROM users WHERE name = 'kim'")"
run --help
expect "--help documents the JSON shapes" 0 '"sessions_online"'
run stats --help
expect "stats --help" 0 "pin-dir DIR"

# --- stats: errors without a server -------------------------------------------

missing_pin=/sys/fs/bpf/ph-lab-json-$$-missing
run stats --pin-dir "$missing_pin"
expect "stats: a pin dir that does not exist: exit 3, says why" 3 "does not exist: is pinhole-server running with --xdp"
jrun stats --pin-dir "$missing_pin"
json_err "stats --json: a missing pin dir is one line on stderr" 3 "does not exist"
run stats --pin-dir "$tmp"
expect "stats: a directory not on bpffs: exit 2" 2 "not on a bpffs"
"$CTL" >"$out" 2>"$err"
rc=$?
expect "no command: one line naming it" 2 "missing command"

# --- stats against a real server with --xdp --------------------------------------
#
#   ns srv: srv0 198.18.0.1/24  <-veth->  ns cli: cli0 198.18.0.2/24
#
# The counters pinholectl prints must be the ones the kernel keeps: checked
# against the requests sent and against bpftool's dump of the same pin.

STATS_REQS=5
SERVER=$build/pinhole-server
EP=$build/pinhole-endpoint
XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o

# stats_pair: one pinholectl stats --json and one bpftool dump of the same
# map as {"reason":{"packets":P,"bytes":B}} (bpftool's keys are enum
# indexes, named through the header), in STATS_CTL / STATS_BPF.  Other
# traffic (ARP) may move a counter between two reads, so it takes a pair
# whose bpftool dumps before and after agree.
stats_pair() {
	local i b1 b2 names
	names=$(for n in "${!PH_REASON[@]}"; do
		[[ $n == PH_REASON_MAX ]] || echo "${PH_REASON[$n]} ${n#PH_}"
	done | jq -Rn '[inputs | split(" ") | {key: .[0], value: (.[1] | ascii_downcase)}] | from_entries')
	for ((i = 0; i < 20; i++)); do
		b1=$(bpftool -j map dump pinned "$STATS_PIN/stats") || return 1
		STATS_CTL=$("$CTL" --db "$sdb" stats --pin-dir "$STATS_PIN" --json) || return 1
		b2=$(bpftool -j map dump pinned "$STATS_PIN/stats") || return 1
		[[ $b1 == "$b2" ]] || continue
		STATS_BPF=$(jq -c --argjson names "$names" '
			map({key: $names[(.formatted.key // .key) | tostring],
			     value: {packets: ([.formatted.values[].value.packets] | add),
				     bytes: ([.formatted.values[].value.bytes] | add)}})
			| map(select(.key != null)) | from_entries' <<<"$b1")
		return 0
	done
	echo "the counters kept moving between reads"
	return 1
}

stats_lab() {
	local log=$LAB_TMP/server.log eplog=$LAB_TMP/endpoint.log i n tx table_row ep_pid sid

	ph_reasons_load "$root/bpf/pinhole_kern_user.h" || bail_out "cannot parse enum ph_xdp_reason"
	lab_ns_add srv || bail_out "netns srv"
	lab_ns_add cli || bail_out "netns cli"
	lab_veth srv srv0 cli cli0 || bail_out "veth"
	lab_addr srv srv0 198.18.0.1/24 || bail_out "address of srv0"
	lab_addr cli cli0 198.18.0.2/24 || bail_out "address of cli0"
	lab_csum_sw cli cli0 || bail_out "ethtool tx off on cli0"
	lab_xdp_pass cli cli0 "$XDP_PASS_OBJ" || bail_out "XDP_PASS program on cli0"
	lab_pin_dir
	STATS_PIN=$LAB_PIN
	sdb=$LAB_TMP/stats.db
	# run / jrun below work on the server's store (bash scoping: they see this).
	local db=$sdb
	printf 'sam-secret\n' >"$LAB_TMP/sam.pw"
	"$CTL" --db "$sdb" user add sam --password-file "$LAB_TMP/sam.pw" >/dev/null ||
		bail_out "user add sam"

	lab_bg srv "$log" "$SERVER" --listen 198.18.0.1:3478 --xdp srv0 --pin-dir "$STATS_PIN" \
		--db "$sdb"
	STATS_SRV=$LAB_PID
	if ! LAB_WATCH_PID=$STATS_SRV wait_for_log "$log" 'ready' 60 ||
		! wait_for_udp_port srv 3478 5; then
		diag <"$log"
		bail_out "pinhole-server --xdp did not start"
	fi
	ok "stats: pinhole-server ready with --xdp srv0 --pin-dir $STATS_PIN"

	run stats --pin-dir "$STATS_PIN"
	expect "stats before any request: tx_binding 0, no sessions" 0 "^tx_binding +0 +0$"
	expect "stats: the store's sessions online" 0 "^sessions online: 0$"
	jrun stats --pin-dir "$STATS_PIN"
	jq_eq "stats --json: every reason of the enum, in enum order" \
		"$(for n in "${!PH_REASON[@]}"; do
			[[ $n == PH_REASON_MAX ]] || echo "${PH_REASON[$n]} ${n#PH_}"
		done | sort -n | awk '{ print tolower($2) }' | jq -Rcn '[inputs]')" '.xdp | keys_unsorted'
	jq_eq "stats --json: sessions_online 0 with a store" 0 '.sessions_online'
	"$CTL" --db "$tmp/none.db" stats --pin-dir "$STATS_PIN" --json >"$out" 2>"$err"
	rc=$?
	json_err "stats --json with a --db that does not exist: exit 3" 3 "no such database"

	for ((i = 1; i <= STATS_REQS; i++)); do
		check "stats: turnutils_stunclient query $i answered (198.18.0.2)" bash -c \
			"nsenter --net=/run/netns/$(lab_ns_name cli) timeout 5 turnutils_stunclient -p 3478 198.18.0.1 2>&1 |
			 grep -q 'UDP reflexive addr: 198.18.0.2:'"
	done
	jrun stats --pin-dir "$STATS_PIN"
	jq_eq "stats --json: tx_binding counts the $STATS_REQS Binding requests" "$STATS_REQS" '.xdp.tx_binding.packets'
	tx=$(jq '.xdp.tx_binding.bytes' "$out")
	check "stats --json: tx_binding bytes: $STATS_REQS equal frames ($tx bytes)" \
		test "${tx:-0}" -gt 0 -a $((${tx:-0} % STATS_REQS)) -eq 0
	run stats --pin-dir "$STATS_PIN"
	expect "stats table: tx_binding $STATS_REQS packets, $tx bytes" 0 "^tx_binding +$STATS_REQS +$tx$"
	expect "stats table: header" 0 "^REASON +PACKETS +BYTES$"
	table_row=$(awk '$1 == "tx_binding" || $1 == "drop_bad_fingerprint" { print length($0) }' "$out" | sort -u | wc -l)
	check_eq "stats table: numbers right-aligned (rows end in the same column)" 1 "$table_row"
	if check "stats: pinholectl and bpftool read while the counters stood still" stats_pair; then
		check_eq "stats --json equals bpftool's dump of the pinned map (every reason, packets and bytes)" \
			"$(jq -cS . <<<"$STATS_BPF")" "$(jq -cS .xdp <<<"$STATS_CTL")"
		check_eq "bpftool agrees: tx_binding $STATS_REQS" "$STATS_REQS" "$(jq .tx_binding.packets <<<"$STATS_BPF")"
	fi

	# A real login: the store's session count follows it.
	lab_bg cli "$eplog" "$EP" --server 198.18.0.1:3478 --user sam \
		--password-file "$LAB_TMP/sam.pw" --bind 198.18.0.2:40002 </dev/null
	ep_pid=$LAB_PID
	if check "stats: pinhole-endpoint sam logged in" wait_for_log "$eplog" 'logged in session=[0-9]+' 15; then
		sid=$(grep -Eo 'logged in session=[0-9]+' "$eplog" | head -1 | cut -d= -f2)
		jrun stats --pin-dir "$STATS_PIN"
		jq_eq "stats --json: sessions_online 1 after the login" 1 '.sessions_online'
		jq_eq "stats --json: the endpoint's Binding requests were answered in the kernel too" true \
			".xdp.tx_binding.packets > $STATS_REQS"
		run stats --pin-dir "$STATS_PIN"
		expect "stats table: sessions online: 1" 0 "^sessions online: 1$"
		jrun sessions
		jq_eq "sessions --json: sam's live session (id, observed address)" \
			"[\"sam\",${sid:-0},\"198.18.0.2:40002\"]" '[.sessions[] | .user, .id, .observed]'
		check "stats after the login: pinholectl and bpftool agree" stats_pair &&
			check_eq "stats --json equals bpftool's dump after the login" \
				"$(jq -cS . <<<"$STATS_BPF")" "$(jq -cS .xdp <<<"$STATS_CTL")"
	fi
	lab_stop "$ep_pid" TERM 5

	lab_stop "$STATS_SRV" TERM 10
	check_eq "stats: server exits 0 on SIGTERM" 0 $?
	run stats --pin-dir "$STATS_PIN"
	expect "stats once the server stopped (pins removed): exit 3, says why" 3 "does not exist: is pinhole-server running"
	if (($(tap_failed))); then
		diag "--- server log ---"
		tail -30 "$log" | diag
		diag "--- endpoint log ---"
		tail -30 "$eplog" 2>/dev/null | diag
	fi
}

if ((EUID != 0)); then
	ok "# SKIP stats against a real server (needs root)"
elif [[ ! -x $SERVER || ! -x $EP || ! -f $XDP_PASS_OBJ ]]; then
	not_ok "stats lab: $SERVER, $EP or $XDP_PASS_OBJ is not built"
else
	root=$(cd "$here/../.." && pwd)
	lab_init bpftool jq turnutils_stunclient timeout
	lab_on=1
	# lab_init installed its own EXIT trap; ours runs lab_cleanup as well.
	trap cleanup EXIT
	stats_lab
fi

tap_summary
