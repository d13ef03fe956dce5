#!/bin/bash
# SPDX-License-Identifier: MIT
# Password guessing against one account from many sources (server/auth.h's
# per-account failure limit: AUTH_ACCT_BURST failures, then one per
# AUTH_ACCT_REFILL_MS, with the address that last proved the password exempt):
#   - guesses spread over four sources, each under the per-source login rate:
#     exactly the burst is answered 401, the rest 429 (the proper error, not silence);
#   - then even the right password from a new source gets 429 (a guess tells nothing);
#   - alice at the address she logged in from still gets in;
#   - another account is not touched;
#   - an unknown name goes through exactly the same sequence (no user enumeration);
#   - the server logs the refusals as reason=account-limited and keeps running.
# Client: tests/tools/ph_flood (guess mode: one full login per attempt).
# Usage: bash tests/lab/test_bruteforce.sh BUILD_DIR (root, from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

SERVER=$build/pinhole-server
CTL=$build/pinholectl
FLOOD=$build/tests/tools/ph_flood
for b in "$SERVER" "$CTL" "$FLOOD"; do
	[[ -x $b ]] || bail_out "$b is not built (make BUILD=${1:-build} all)"
done
lab_init

# The policy's numbers, from the header the server is built with.
BURST=$(sed -n 's/^#define AUTH_ACCT_BURST[[:space:]]*\([0-9]*\).*/\1/p' "$repo/server/auth.h")
[[ -n $BURST ]] || bail_out "AUTH_ACCT_BURST not found in server/auth.h"
SOURCES=4
PER_SOURCE=$(((BURST + 2 + SOURCES - 1) / SOURCES)) # burst + 2 guesses in all

NS=brute
lab_ns_add $NS || bail_out "cannot create a namespace"
T=$LAB_TMP
DB=$T/pinhole.db
SRV=127.0.0.1:3478
for u in alice bob; do
	printf 'pw-%s-%s\n' "$u" $$ >"$T/pw-$u"
	"$CTL" --db "$DB" user add "$u" --password-file "$T/pw-$u" >/dev/null || bail_out "user add $u"
done

lab_bg $NS "$T/server.log" "$SERVER" --listen "$SRV" --db "$DB"
SRV_PID=$LAB_PID
LAB_WATCH_PID=$SRV_PID wait_for_log "$T/server.log" ' ready ' 15 || {
	diag <"$T/server.log"
	bail_out "pinhole-server did not start"
}

# guess SRC USER PASSWORD N: N full logins from 127.0.0.SRC; prints one result per line.
guess() {
	lab_in $NS "$FLOOD" --server "$SRV" --bind "127.0.0.$1" --count "$4" --seconds 30 \
		guess "$2" "$3" | sed -n 's/^guess [0-9]*: //p'
}

# attack BASE USER: BURST + 2 wrong guesses spread over SOURCES sources 127.0.0.BASE..
# (each well under the per-source rate's burst); prints the results in order.
attack() {
	local s
	for ((s = 0; s < SOURCES; s++)); do
		guess $(($1 + s)) "$2" "wrong-$s" "$PER_SOURCE"
	done | head -n $((BURST + 2)) | paste -sd' '
}

check_eq "alice logs in from her address (127.0.0.10)" ok "$(guess 10 alice "pw-alice-$$" 1)"

want="$(printf 'error 401 %.0s' $(seq "$BURST"))error 429 error 429"
got=$(attack 20 alice)
check_eq "$((BURST + 2)) wrong guesses for alice from $SOURCES sources: $BURST x 401, then 429" \
	"$want" "$got"
check_eq "then the right password from a new source (127.0.0.30) is refused 429" "error 429" \
	"$(guess 30 alice "pw-alice-$$" 1)"
check_eq "alice at her own address still logs in" ok "$(guess 10 alice "pw-alice-$$" 1)"
check_eq "bob (another account) logs in from an attacking source" ok \
	"$(guess 21 bob "pw-bob-$$" 1)"
check_eq "an unknown name goes through exactly the same answers" "$want" "$(attack 40 nosuchuser)"
n=$(grep -c 'login refused user=alice reason=account-limited' "$T/server.log")
check "the server logs alice's refusals as reason=account-limited ($n)" eval "((n >= 3))"
check "the per-source limit never fired (each source stayed under it)" \
	eval "! grep -q 'reason=rate-limited' '$T/server.log'"
check "pinhole-server still running" kill -0 "$SRV_PID"
lab_stop "$SRV_PID" TERM 10
rc=$?
check_eq "pinhole-server exits 0 on SIGTERM" 0 "$rc"
tap_summary
