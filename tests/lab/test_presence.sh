#!/bin/bash
# SPDX-License-Identifier: MIT
# Presence deltas through real binaries across real nftables NATs: what an
# online contact hears when a user logs in, rebinds, logs out or goes
# silent, and that what it hears is a small delta, never a whole table.
#
#   srv 198.18.0.1:3478 + 198.18.0.3:3479, --keepalive 2 (timeout 3 intervals)
#    |  internet bridge (counters: alice_pub <-> bob_pub, ONLINE/MESSAGE to srv)
#   alice (eim-apdf)          bob (eim-apdf; PRES_BOB_KIND=eim for full cone)
#
# 1. login: bob is online; alice logs in; bob hears about alice (PUNCH)
#    before alice's LOGIN is answered and before her ONLINE reaches him.
# 2. NAT rebinding: nat_rebind alice while the two hold a direct session;
#    alice's next keepalive reaches the server from a new public port, the
#    server logs "session moved", bob hears MOVED, the direct session
#    recovers at exactly the address the delta announced, and a message
#    each way crosses directly.  Both NATs filter (APDF), so recovery needs
#    both halves: bob's ONLINE toward the announced address (opening his
#    NAT) and alice's next direct PROBE from it (opening hers).
# 3. logout: alice /quit -> bob hears OFFLINE, `pinholectl sessions` drops her.
# 4. keepalive timeout: alice logs in again, then is frozen (SIGSTOP); the
#    server ends her session after about 3 intervals of silence, measured
#    from her last keepalive as captured on the server's wire (psrv), and bob
#    hears OFFLINE; resumed, alice finds her session gone and logs in again.
# 5. size: every PUNCH/PRESENCE the server sent bob (captured on psrv,
#    STUN framing decoded by tshark) is one datagram under PH_DATAGRAM_MAX
#    with exactly one PRESENCE attribute and no CONTACT attribute, one
#    delta per event; FETCH answers to alice in the same capture do carry
#    CONTACTs (the count can fail).
#
# After nat_rebind, Linux masquerade stays endpoint-independent: the first
# new flow from alice's socket gets a random free port and later flows
# from the same socket reuse that mapping (the kernel looks for an
# existing mapping of the same source before searching), so her new port
# toward bob is the one the server saw.
#
# Usage: bash tests/lab/test_presence.sh BUILD_DIR (root, from the repo root).
# LAB_XDP=0 runs the server without its XDP program (default: with it).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
LAB_XDP=${LAB_XDP:-1}
PROTO_H=$repo/bpf/access_proto.h
KA_S=2

lab_init nft conntrack tshark dumpcap text2pcap realpath awk
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"
t_start=$SECONDS

# --- wire constants from the shared header, not hard-coded ------------------------

# hdr_val NAME: the value of #define NAME, or of enumerator NAME (explicit
# "= N" or counted from the one before it) in access_proto.h.
hdr_val() {
	local line n=0 v
	v=$(sed -nE "s/^#define[[:space:]]+$1[[:space:]]+(0x[0-9A-Fa-f]+|[0-9]+).*/\1/p" "$PROTO_H")
	if [[ -n $v ]]; then
		echo "$v"
		return 0
	fi
	while read -r line; do
		if [[ $line =~ ^([A-Z0-9_]+)[[:space:]]*=[[:space:]]*(0x[0-9A-Fa-f]+|[0-9]+)$ ]]; then
			n=$((BASH_REMATCH[2]))
			line=${BASH_REMATCH[1]}
		fi
		if [[ $line == "$1" ]]; then
			printf '0x%x\n' "$n"
			return 0
		fi
		n=$((n + 1))
	done < <(sed -n '/^enum [a-z_]* {/,/^};/p' "$PROTO_H" | grep -v '^enum\|^};' |
		sed -e 's#/\*.*\*/##g' | tr ',' '\n' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' |
		grep -v '^$')
	return 1
}

# stun_type METHOD CLASS: the STUN message type (RFC 8489 §5: the class
# bits C0/C1 sit at bits 4 and 8, between the method's bits), as 0xNNNN.
stun_type() {
	local m=$(($1)) c=$(($2))
	printf '0x%04x' $(((m & 0xf) | ((m & 0x70) << 1) | ((m & 0xf80) << 2) |
		((c & 1) << 4) | ((c & 2) << 7)))
}

DGRAM_MAX=$(hdr_val PH_DATAGRAM_MAX)
ATTR_PRESENCE=$(hdr_val PH_ATTR_PRESENCE)
ATTR_CONTACT=$(hdr_val PH_ATTR_CONTACT)
ATTR_SESSION=$(hdr_val PH_ATTR_SESSION)
TOKEN_LEN=$(hdr_val PH_TOKEN_LEN)
T_PUNCH=$(stun_type "$(hdr_val PH_METHOD_PUNCH)" 0)
T_PRESENCE=$(stun_type "$(hdr_val PH_METHOD_PRESENCE)" 0)
T_FETCH_OK=$(stun_type "$(hdr_val PH_METHOD_FETCH)" 2)
ST_OFFLINE=$(hdr_val PH_CONTACT_OFFLINE)
ST_ONLINE=$(hdr_val PH_CONTACT_ONLINE)
ST_MOVED=$(hdr_val PH_CONTACT_MOVED)
for v in DGRAM_MAX ATTR_PRESENCE ATTR_CONTACT ATTR_SESSION TOKEN_LEN ST_OFFLINE ST_ONLINE ST_MOVED; do
	[[ -n ${!v} ]] || bail_out "cannot read $v from $PROTO_H"
done

# --- lab --------------------------------------------------------------------------

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
nat_site_add alice eim-apdf || bail_out "site alice"
nat_site_add bob "${PRES_BOB_KIND:-eim-apdf}" || bail_out "site bob"
APUB=$(site_public_ip alice)
BPUB=$(site_public_ip bob)
inet_count_init || bail_out "nft counters on the internet bridge"
inet_count_access_via_server via_srv || bail_out "via-server counter"
inet_count_add ab ip saddr "$APUB" ip daddr "$BPUB" udp dport != "$LAB_MARK_PORT" ||
	bail_out "counter ab"
inet_count_add ba ip saddr "$BPUB" ip daddr "$APUB" udp dport != "$LAB_MARK_PORT" ||
	bail_out "counter ba"
nat_lab_describe | diag

DB=$LAB_TMP/pinhole.db
if ! { acc_user_add "$DB" alice "pw-alice-$$" && acc_user_add "$DB" bob "pw-bob-$$" &&
	acc_allow "$DB" alice bob; }; then
	bail_out "users and contacts"
fi

# The server's wire, from before anyone logs in: every datagram to or from
# port 3478 on srv0 (the marker goes to bob's public address, port 9).
PCAP=$LAB_TMP/srv.pcap
# On psrv, the internet's side of srv0: the kernel answers keepalives with
# XDP_TX, which a capture on srv0 itself never sees.
lab_capture_start "$NAT_INET_NS" psrv "udp port $ACC_PORT" "$PCAP" "$LAB_TMP/dumpcap.log" "$BPUB" \
	"$NAT_SRV_NS" || bail_out "capture on psrv did not start"

srv_flags=(--keepalive "$KA_S")
if ((LAB_XDP)); then
	lab_pin_dir
	srv_flags+=(--xdp srv0 --pin-dir "$LAB_PIN")
fi
acc_server_start pres "$DB" "${srv_flags[@]}" || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server did not get ready"
}
SLOG=$ACC_SRV_LOG
ka_line=$(grep -m1 -E 'access protocol on: keepalive ' "$SLOG")
[[ $ka_line =~ keepalive\ ([0-9]+)\ s\ \(jitter\ ([0-9]+)\ ms,\ timeout\ ([0-9]+)\ ms ]] ||
	bail_out "server did not announce its keepalive settings: $ka_line"
KA_MS=$((BASH_REMATCH[1] * 1000))
KA_JITTER_MS=${BASH_REMATCH[2]}
KA_TIMEOUT_MS=${BASH_REMATCH[3]}
check_eq "server: keepalive ${KA_S} s as configured (jitter $KA_JITTER_MS ms, timeout $KA_TIMEOUT_MS ms)" \
	"$((KA_S * 1000))" "$KA_MS"
# Bounded waits scale with the interval: a keepalive is due within
# interval + jitter; allow two of them plus scheduling slack.
KA_WAIT=$(((2 * (KA_MS + KA_JITTER_MS)) / 1000 + 2))

# --- helpers ------------------------------------------------------------------------

# hexpat VALUE BYTES: VALUE as BYTES colon-separated hex bytes (a tshark
# byte-string literal).
hexpat() {
	printf "%0$(($2 * 2))x" "$(($1))" | sed 's/../&:/g; s/:$//'
}

# nmatch FILE REGEX: how many lines of FILE match REGEX.
nmatch() {
	grep -Ec -- "$2" "$1" 2>/dev/null
}

# wait_more FILE REGEX N TIMEOUT_S: wait until FILE has more than N lines
# matching REGEX.
_more() {
	(($(nmatch "$1" "$2") > $3))
}
wait_more() {
	wait_until "$4" _more "$1" "$2" "$3"
}

# le T1 T2: T1 <= T2 (decimal seconds).
le() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'
}

# Every log, for a failure's diagnostics (diag prints its arguments or
# its stdin, not both).
dump_logs() {
	{
		echo "--- server"
		cat "$SLOG"
		echo "--- alice ($A)"
		cat "${ACC_EP_LOG[$A]:-/dev/null}"
		echo "--- bob"
		cat "${ACC_EP_LOG[B]:-/dev/null}"
	} | diag
}

ctl_sessions() {
	"$ACC_CTL" --db "$DB" sessions
}

# _ctl_lists NAME [ADDR]: pinholectl sessions has a row for NAME (at ADDR).
_ctl_lists() {
	ctl_sessions | grep -Eq "^$1 +${2:-}"
}
_ctl_not_lists() {
	! ctl_sessions | grep -Eq "^$1 "
}

BLOG=""
ALOG=""

# --- 1. login delta ----------------------------------------------------------------

acc_ep_start B bob bob
BLOG=${ACC_EP_LOG[B]}
acc_ep_wait B ' logged in session=' 15 || {
	diag <"$BLOG"
	bail_out "bob did not log in"
}
A=A1
acc_ep_start A1 alice alice
ALOG=${ACC_EP_LOG[A1]}
if acc_ep_wait A1 ' logged in session=' 15 && acc_ep_wait A1 ' session with bob established' 10 &&
	acc_ep_wait B ' online: alice verified at ' 5; then
	ok "login: alice logs in and holds a direct session with bob"
else
	not_ok "login: alice logs in and holds a direct session with bob"
	dump_logs
	bail_out "no session to test presence on"
fi
ALICE_OBS1=$(sed -nE 's/.* login ok user=alice observed=([0-9.]+:[0-9]+) .*/\1/p' "$SLOG" | head -1)
t_heard=$(acc_ts "$BLOG" ' (contact alice online at|punch toward alice) ')
t_answered=$(acc_ts "$ALOG" ' logged in session=')
t_verified=$(acc_ts "$BLOG" ' online: alice verified at ')
diag "bob heard of alice at $t_heard; alice's LOGIN answered at $t_answered; alice's ONLINE verified by bob at $t_verified"
# Within bob's own log the order of lines is exact; across processes the
# millisecond stamps may tie.
l_heard=$(grep -nE -m1 ' (contact alice online at|punch toward alice) ' "$BLOG" | cut -d: -f1)
l_verified=$(grep -nE -m1 ' online: alice verified at ' "$BLOG" | cut -d: -f1)
if [[ -n $t_heard && -n $l_heard && -n $l_verified ]] && ((l_heard < l_verified)) &&
	le "$t_heard" "$t_answered" && le "$t_heard" "$t_verified"; then
	ok "login delta: bob hears alice is online (PUNCH at $t_heard) before her LOGIN is answered and before her ONLINE reaches him ($(acc_ms_between "$t_heard" "$t_verified") ms earlier)"
else
	not_ok "login delta: bob hears alice is online before her ONLINE reaches him"
	dump_logs
fi
check "login delta: the server sent the PUNCH toward alice's observed address ($ALICE_OBS1)" \
	grep -Eq " punch sent to=bob toward=$ALICE_OBS1 " "$SLOG"

# --- 2. NAT rebinding --------------------------------------------------------------

n_moved=$(nmatch "$SLOG" ' session moved user=alice ')
n_brecov=$(nmatch "$BLOG" ' (session with alice established|online: alice verified) at ')
t_rebind=$(date +%s.%3N)
check "rebind: alice's NAT forgets its mappings (nat_rebind alice)" nat_rebind alice
if wait_more "$SLOG" ' session moved user=alice ' "$n_moved" "$KA_WAIT"; then
	mv_line=$(grep -E ' session moved user=alice ' "$SLOG" | sed -n "$((n_moved + 1))p")
	[[ $mv_line =~ from=([0-9.]+:[0-9]+)\ to=([0-9.]+):([0-9]+) ]]
	mv_from=${BASH_REMATCH[1]:-}
	mv_to=${BASH_REMATCH[2]:-}:${BASH_REMATCH[3]:-}
	t_moved=${mv_line%% *}
	if [[ $mv_from == "$ALICE_OBS1" && ${mv_to%:*} == "$APUB" && $mv_to != "$ALICE_OBS1" ]]; then
		ok "rebind: server logs session moved user=alice from=$mv_from to=$mv_to ($(acc_ms_between "$t_rebind" "$t_moved") ms after the rebind)"
	else
		not_ok "rebind: the move is from alice's old to a new port of her public address"
		diag "$mv_line" "expected from=$ALICE_OBS1 to=$APUB:<other port>"
	fi
else
	not_ok "rebind: server logs session moved user=alice within $KA_WAIT s"
	dump_logs
	mv_to=none
fi
if ((LAB_XDP)); then
	# The kernel answered the keepalive from the new mapping, followed the
	# session there and reported the move on its ring: no userspace keepalive.
	_kernel_moved() {
		local n
		n=$("$ACC_CTL" stats --json --pin-dir "$LAB_PIN" | jq '.xdp.tx_ka_moved.packets')
		((n >= 1))
	}
	check "rebind: the kernel followed the move (XDP tx_ka_moved counted)" wait_until 3 _kernel_moved
fi
check "rebind: bob hears alice moved to $mv_to" \
	acc_ep_wait B " contact alice moved to ${mv_to//./\\.}\$" 5
check "rebind: alice learns her new reflexive address from the keepalive answer" \
	acc_ep_wait A1 " reflexive address ${mv_to//./\\.}\$" 5
check "rebind: pinholectl sessions shows alice at $mv_to" \
	wait_until 3 _ctl_lists alice "${mv_to//./\\.} "
# Recovery: alice's next direct PROBE (one per interval) reaches bob from
# her new mapping; bob re-verifies her there with ONLINE.
if wait_more "$BLOG" ' (session with alice established|online: alice verified) at ' "$n_brecov" "$KA_WAIT"; then
	rc_line=$(grep -E ' (session with alice established|online: alice verified) at ' "$BLOG" |
		sed -n "$((n_brecov + 1))p")
	t_rec=${rc_line%% *}
	rc_addr=${rc_line##* at }
	if [[ $rc_addr == "$mv_to" ]]; then
		ok "rebind: bob's session with alice recovers at the announced $rc_addr ($(acc_ms_between "$t_rebind" "$t_rec") ms after the rebind)"
	else
		not_ok "rebind: bob's session with alice recovers at the announced address"
		diag "$rc_line" "announced: $mv_to"
	fi
else
	not_ok "rebind: bob's session with alice recovers within $KA_WAIT s"
	dump_logs
fi
ab0=$(inet_count ab)
ba0=$(inet_count ba)
acc_ep_cmd A1 "@bob after-move-from-alice"
check "rebind: alice -> bob message delivered after the move" \
	acc_ep_wait B ' message from alice: after-move-from-alice$' 5
acc_ep_cmd B "@alice after-move-from-bob"
check "rebind: bob -> alice message delivered after the move" \
	acc_ep_wait A1 ' message from bob: after-move-from-bob$' 5
ab1=$(inet_count ab)
ba1=$(inet_count ba)
if ((ab1 > ab0 && ba1 > ba0)); then
	ok "rebind: the messages crossed public-to-public ($((ab1 - ab0)) alice->bob, $((ba1 - ba0)) bob->alice packets)"
else
	not_ok "rebind: the messages crossed public-to-public"
	diag "alice->bob $ab0 -> $ab1, bob->alice $ba0 -> $ba1"
fi

# --- 3. logout delta ---------------------------------------------------------------

n_boff=$(nmatch "$BLOG" ' contact alice offline$')
acc_ep_quit A1
check_eq "logout: alice /quit exits 0" 0 "$?"
check "logout: server logs session offline user=alice reason=logout" \
	wait_for_log "$SLOG" ' session offline user=alice reason=logout' 5
check "logout: bob hears alice went offline" \
	wait_more "$BLOG" ' contact alice offline$' "$n_boff" 5
check "logout: pinholectl sessions no longer lists alice" wait_until 3 _ctl_not_lists alice
check "logout: pinholectl sessions still lists bob" _ctl_lists bob "${BPUB//./\\.}:"

# --- 4. keepalive timeout ------------------------------------------------------------

n_login=$(nmatch "$SLOG" ' login ok user=alice ')
n_bverif=$(nmatch "$BLOG" ' online: alice verified at ')
A=A2
acc_ep_start A2 alice alice
ALOG=${ACC_EP_LOG[A2]}
if acc_ep_wait A2 ' logged in session=' 15 && acc_ep_wait A2 ' session with bob established' 10 &&
	wait_more "$BLOG" ' online: alice verified at ' "$n_bverif" 5; then
	ok "timeout: alice logs in again and is back in session with bob"
else
	not_ok "timeout: alice logs in again and is back in session with bob"
	dump_logs
fi
ALICE_OBS2=$(grep -E ' login ok user=alice ' "$SLOG" | sed -n "$((n_login + 1))p" |
	sed -nE 's/.* observed=([0-9.]+:[0-9]+) .*/\1/p')
A2_PORT=${ALICE_OBS2#*:}
# alice's keepalives as the server's wire sees them: Binding requests from
# her current public address whose first attribute is SESSION (type and
# length: id + token; tshark names no field for an attribute it does not
# know).
KA_FILTER="ip.src == $APUB && udp.srcport == ${A2_PORT:-0} && udp.dstport == $ACC_PORT && stun.type == 0x0001 && udp.payload[20:4] == $(hexpat "$ATTR_SESSION" 2):$(hexpat $((4 + TOKEN_LEN)) 2)"
_ka_seen() {
	(($(pcap_count "$PCAP" "$KA_FILTER") > 0))
}
# Freeze her only after her first keepalive, so "her last keepalive" is one.
check "timeout: alice's first keepalive reached the server (seen on psrv)" \
	wait_until "$((KA_WAIT + 2))" _ka_seen
n_boff=$(nmatch "$BLOG" ' contact alice offline$')
kill -STOP "${ACC_EP_PID[A2]}"
t_stop=$(date +%s.%3N)
if wait_for_log "$SLOG" ' session offline user=alice reason=timeout' \
	$(((2 * KA_TIMEOUT_MS) / 1000 + 2)); then
	t_off=$(acc_ts "$SLOG" ' session offline user=alice reason=timeout')
	ok "timeout: server logs session offline user=alice reason=timeout ($(acc_ms_between "$t_stop" "$t_off") ms after SIGSTOP)"
else
	t_off=""
	not_ok "timeout: server logs session offline user=alice reason=timeout"
	dump_logs
fi
check "timeout: bob hears alice went offline" \
	wait_more "$BLOG" ' contact alice offline$' "$n_boff" 5
check "timeout: pinholectl sessions no longer lists alice" wait_until 3 _ctl_not_lists alice
# Resumed, alice's next keepalive gets 401 and she logs in again; bob
# hears her come back.
n_bheard=$(nmatch "$BLOG" ' (contact alice online at|punch toward alice) ')
kill -CONT "${ACC_EP_PID[A2]}"
check "timeout: resumed alice finds her session gone and logs in again" \
	acc_ep_wait A2 ' session lost \(keepalive refused\): logging in again' "$KA_WAIT"
check "timeout: bob hears alice online again" \
	wait_more "$BLOG" ' (contact alice online at|punch toward alice) ' "$n_bheard" 10
acc_ep_quit A2 >/dev/null
acc_ep_quit B >/dev/null

# --- 5. what went over the server's wire ----------------------------------------------

lab_capture_stop || not_ok "capture flushed and stopped"

# The keepalive timing from (4): her last keepalive before SIGSTOP (pcap
# time) to the server's offline log line (same clock, CLOCK_REALTIME).
t_ka=$(tshark -n -r "$PCAP" -Y "$KA_FILTER && frame.time_epoch <= $t_stop" \
	-T fields -e frame.time_epoch 2>/dev/null | tail -1)
if [[ -n $t_off && -n $t_ka ]]; then
	ratio=$(awk -v o="$t_off" -v k="$t_ka" -v i="$KA_MS" 'BEGIN { printf "%.2f", (o - k) * 1000 / i }')
	if awk -v r="$ratio" 'BEGIN { exit !(r >= 2.5 && r <= 6) }'; then
		ok "timeout: session ended $ratio intervals after alice's last keepalive (in [2.5, 6]; last keepalive $t_ka, offline $t_off)"
	else
		not_ok "timeout: session ended within [2.5, 6] intervals of alice's last keepalive"
		diag "last keepalive $t_ka, offline $t_off, $ratio intervals of $KA_MS ms"
	fi
else
	not_ok "timeout: alice's last keepalive and the offline time are known"
	diag "last keepalive '${t_ka}', offline '${t_off}', filter: $KA_FILTER"
fi

# tshark 4.0's STUN dissector gives up on methods it does not know (ours
# are in the designated-expert range), so each access datagram is handed
# to it again with its method bits set to Binding (class kept): the header
# checks (cookie, length == datagram), the attribute walk and the padding
# are then tshark's.  decode_access FILTER OUT writes one line per matching
# datagram of $PCAP: frame, UDP payload bytes, original type, whether tshark
# took it as one STUN message, PRESENCE and CONTACT attribute counts, and
# the state byte of the first PRESENCE (struct ph_contact_attr).
decode_access() {
	local filter=$1 out=$2 raw=$LAB_TMP/access.raw txt=$LAB_TMP/access.txt
	local re=$LAB_TMP/access-rewritten.pcap fr hex t nt
	tshark -n -r "$PCAP" -Y "$filter" -T fields -e frame.number -e udp.payload >"$raw" 2>/dev/null
	: >"$txt"
	while read -r fr hex; do
		t=$((16#${hex:0:4}))
		nt=$(printf '%04x' $(((t & 0x0110) | 0x0001)))
		printf '%s%s\n' "$nt" "${hex:4}" | fold -w 32 |
			awk '{ b = ""; for (i = 1; i < length($0); i += 2) b = b " " substr($0, i, 2);
			       printf "%06x%s\n", (NR - 1) * 16, b }' >>"$txt"
	done <"$raw"
	if [[ ! -s $raw ]]; then
		: >"$out"
		return 0
	fi
	text2pcap -q -u "$ACC_PORT,$ACC_PORT" "$txt" "$re" >/dev/null 2>&1 || return 1
	tshark -n -r "$re" -T pdml 2>/dev/null | awk -v p="$ATTR_PRESENCE" -v c="$ATTR_CONTACT" '
		/^<packet>/ { stun = 0; np = 0; nc = 0; st = "-"; want = 0 }
		/<proto name="stun"/ { stun = 1 }
		/name="stun.unknown_attribute"/ {
			if (index($0, "Unknown attribute " p "\"")) { np++; want = (np == 1) }
			if (index($0, "Unknown attribute " c "\"")) nc++
		}
		/name="stun.value"/ && want {
			match($0, /value="[0-9a-f]+"/); st = substr($0, RSTART + 7, 2); want = 0
		}
		/^<\/packet>/ { print stun, np, nc, st }' >"$LAB_TMP/access.dec"
	awk '{ print $1, length($2) / 2, substr($2, 1, 4) }' "$raw" | paste -d' ' - "$LAB_TMP/access.dec" >"$out"
}

# Every PUNCH/PRESENCE request the server sent bob.
DELTAS=$LAB_TMP/deltas.txt
decode_access "ip.src == $NAT_SRV_IP && udp.srcport == $ACC_PORT && ip.dst == $BPUB && (udp.payload[0:2] == $(hexpat "$T_PUNCH" 2) || udp.payload[0:2] == $(hexpat "$T_PRESENCE" 2))" \
	"$DELTAS" || not_ok "decoding the capture (text2pcap)"
n_delta=$(wc -l <"$DELTAS")
{
	echo "server -> bob PUNCH/PRESENCE datagrams (frame, bytes, type, stun?, PRESENCE, CONTACT, state):"
	cat "$DELTAS"
} | diag
bad=""
declare -A seen_state=()
while read -r fr len typ stun np nc st; do
	((len < DGRAM_MAX)) || bad+=" frame $fr: $len bytes;"
	((stun == 1)) || bad+=" frame $fr: not one STUN message;"
	((np == 1)) || bad+=" frame $fr: $np PRESENCE attributes;"
	((nc == 0)) || bad+=" frame $fr: $nc CONTACT attributes;"
	[[ $st == - ]] || seen_state[$((16#$st))]=1
	: "$typ"
done <"$DELTAS"
if ((n_delta >= 5)) && [[ -z $bad ]]; then
	max=$(awk 'BEGIN { m = 0 } { if ($2 > m) m = $2 } END { print m }' "$DELTAS")
	ok "deltas small: $n_delta PUNCH/PRESENCE datagrams to bob, each one STUN message with one PRESENCE and no CONTACT attribute, largest $max bytes (< $DGRAM_MAX)"
else
	not_ok "deltas small: >= 5 PUNCH/PRESENCE datagrams to bob, each one STUN message with one PRESENCE and no CONTACT, < $DGRAM_MAX bytes"
	diag "count $n_delta;$bad"
fi
check_eq "deltas: the PRESENCE attributes bob got say OFFLINE, ONLINE and MOVED" \
	"$((ST_OFFLINE)) $((ST_ONLINE)) $((ST_MOVED))" "$(printf '%s\n' "${!seen_state[@]}" | sort -n | xargs)"
# One delta per event, in order (a retransmission repeats its neighbour):
# login (PUNCH), rebind, logout, login, timeout, login after resuming, quit.
on=$(printf '%d' "$ST_ONLINE")
mv=$(printf '%d' "$ST_MOVED")
off=$(printf '%d' "$ST_OFFLINE")
check_eq "deltas: one per event, in order (login, move, logout, login, timeout, login, logout)" \
	"$on $mv $off $on $off $on $off" \
	"$(awk '{ print $7 }' "$DELTAS" | uniq | while read -r x; do echo $((16#$x)); done | xargs)"
# The control: the same decoding counts the CONTACTs of a routing table.
FETCHES=$LAB_TMP/fetches.txt
decode_access "ip.src == $NAT_SRV_IP && ip.dst == $APUB && udp.payload[0:2] == $(hexpat "$T_FETCH_OK" 2)" \
	"$FETCHES" || not_ok "decoding the capture (text2pcap)"
n_contact=$(awk '{ n += $6 } END { print n + 0 }' "$FETCHES")
if ((n_contact > 0)); then
	ok "control: the same decoding finds $n_contact CONTACT attribute(s) in $(wc -l <"$FETCHES") FETCH answer(s) to alice"
else
	not_ok "control: the same decoding finds CONTACT attributes in the FETCH answers to alice"
	diag <"$FETCHES"
fi

check_eq "no ONLINE or MESSAGE was ever sent to the server" 0 "$(inet_count via_srv)"
check "pinhole-server stayed up" kill -0 "$ACC_SRV_PID"
lab_stop "$ACC_SRV_PID" TERM 10
# PRES_KEEP_LOGS=DIR keeps the logs and the capture of a passing run too.
if [[ -n ${PRES_KEEP_LOGS:-} ]]; then
	mkdir -p "$PRES_KEEP_LOGS" && cp "$LAB_TMP"/*.log "$PCAP" "$DELTAS" "$PRES_KEEP_LOGS"/ &&
		diag "logs and capture copied to $PRES_KEEP_LOGS"
fi
diag "total $((SECONDS - t_start)) s"
tap_summary
