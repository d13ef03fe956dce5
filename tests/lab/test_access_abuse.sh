#!/bin/bash
# SPDX-License-Identifier: MIT
# pinhole-server against bad input and hostile clients, in the NAT lab:
#   - wrong password and unknown user: the same error (endpoint and wire);
#   - a stale nonce gets 438, and a retry with the fresh nonce succeeds;
#   - a LOGIN captured off the wire and replayed from elsewhere is refused;
#   - a login flood from one source is rate limited (429) while another
#     source logs in as fast as before;
#   - an ONLINE forged without the pair key is rejected by the endpoint;
#   - a client claiming someone else's address cannot aim a PUNCH at it:
#     the probe goes to the address the server observed;
#   - `pinholectl contact deny A B` + `/refresh` on A: B is gone from A.
# The hostile client is a small Python STUN implementation written here
# from RFC 8489 (long-term credentials, SHA-256), independent of the C
# codec it tests.
# Usage: bash tests/lab/test_access_abuse.sh BUILD_DIR (root, repo root).
#
#   srv 198.18.0.1:3478 + 198.18.0.3:3479
#    |  internet 198.18.0.0/24
#   home (eim-apdf: alice) . open (none: bob) . evil (eim: mallory, replays,
#   forgeries) . flood (none: the flooder) . calm (none: carol) .
#   victim (none: the address mallory claims)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lab/nat.sh
source "$here/nat.sh"

XDP_PASS_OBJ=$build/tests/xdp_pass.bpf.o
# The nonce lifetime the stale-nonce check waits out: the server's
# --nonce-lifetime if it has one, else its default (NONCE_DEFAULT_LIFETIME_MS).
STALE_WAIT_S=${STALE_WAIT_S:-}

lab_init nft conntrack timeout realpath python3 dumpcap tshark
acc_init "$build" || bail_out "binaries missing (make BUILD=$build all)"
[[ -f $XDP_PASS_OBJ ]] || bail_out "$XDP_PASS_OBJ is not built"

nat_lab_init --xdp-pass "$XDP_PASS_OBJ" || bail_out "nat_lab_init"
nat_site_add home eim-apdf && nat_site_add open none && nat_site_add evil eim &&
	nat_site_add flood none && nat_site_add calm none && nat_site_add victim none &&
	nat_site_add guess none ||
	bail_out "sites"
inet_count_init || bail_out "nft counters"
nat_lab_describe | diag

PY=$LAB_TMP/phstun.py
cat >"$PY" <<'PYEOF'
# SPDX-License-Identifier: MIT
# A hostile pinhole client for the lab: just enough RFC 8489 to log in with
# long-term credentials (SHA-256), forge, replay and flood.
import hashlib, hmac, os, socket, struct, sys, time, zlib

COOKIE = 0x2112A442
LOGIN, ONLINE = 0xC01, 0xC10
A_USERNAME, A_ERROR, A_REALM, A_NONCE = 0x0006, 0x0009, 0x0014, 0x0015
A_MI256, A_PWALG, A_XMA, A_PWALGS, A_FP = 0x001C, 0x001D, 0x0020, 0x8002, 0x8028
A_LOCAL, A_CLAIMED, A_NAT, A_SESSION, A_PEER_NAME = 0x4003, 0x4004, 0x4005, 0x4001, 0x4009

def mtype(method, cls):
    return (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | cls

def attr(t, v):
    return struct.pack("!HH", t, len(v)) + v + b"\0" * (-len(v) % 4)

def addr_v(ip, port):
    return struct.pack("!BBH", 0, 1, port) + socket.inet_aton(ip)

def finish(typ, tid, body, key):
    # MESSAGE-INTEGRITY-SHA256 over the message with the length counting
    # it, then FINGERPRINT with the length counting that too.
    if key is not None:
        hdr = struct.pack("!HHI", typ, len(body) + 36, COOKIE) + tid
        body += attr(A_MI256, hmac.new(key, hdr + body, hashlib.sha256).digest())
    hdr = struct.pack("!HHI", typ, len(body) + 8, COOKIE) + tid
    crc = zlib.crc32(hdr + body) ^ 0x5354554E
    return hdr + body + attr(A_FP, struct.pack("!I", crc))

def parse(buf):
    typ, ln, cookie = struct.unpack("!HHI", buf[:8])
    tid, attrs, off = buf[8:20], {}, 20
    while off + 4 <= 20 + ln and off + 4 <= len(buf):
        t, l = struct.unpack("!HH", buf[off:off + 4])
        attrs.setdefault(t, []).append(buf[off + 4:off + 4 + l])
        off += 4 + l + (-l % 4)
    return typ, tid, attrs

def err_code(attrs):
    v = attrs.get(A_ERROR, [None])[0]
    return v[2] * 100 + v[3] if v else 0

class Client:
    def __init__(self, server, bind=None):
        self.srv = (server.split(":")[0], int(server.split(":")[1]))
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if bind:
            self.s.bind((bind.split(":")[0], int(bind.split(":")[1])))
        self.s.settimeout(0.2)

    def ask(self, msg, tries=6, dest=None):
        """Send (retransmitting) until an answer with our tid arrives."""
        tid = msg[8:20]
        for _ in range(tries):
            self.s.sendto(msg, dest or self.srv)
            end = time.time() + 0.4
            while time.time() < end:
                try:
                    buf, src = self.s.recvfrom(2048)
                except socket.timeout:
                    continue
                if len(buf) >= 20 and buf[8:20] == tid:
                    return parse(buf)
        return None

    def challenge(self):
        r = self.ask(finish(mtype(LOGIN, 0), os.urandom(12), b"", None))
        if not r:
            sys.exit("no answer to LOGIN")
        return r

    def login(self, user, pw, chal, claim=None, nat=(2, 2)):
        _, _, a = chal
        realm, nonce, algs = a[A_REALM][0], a[A_NONCE][0], a[A_PWALGS][0]
        key = hashlib.sha256(user.encode() + b":" + realm + b":" + pw.encode()).digest()
        local = self.s.getsockname()
        body = attr(A_USERNAME, user.encode()) + attr(A_REALM, realm) + attr(A_NONCE, nonce)
        body += attr(A_PWALGS, algs) + attr(A_PWALG, struct.pack("!HH", 2, 0))
        if claim:
            body += attr(A_CLAIMED, addr_v(claim.split(":")[0], int(claim.split(":")[1])))
        body += attr(A_LOCAL, addr_v(local[0], local[1]))
        body += attr(A_NAT, struct.pack("!BBxx", *nat))
        msg = finish(mtype(LOGIN, 0), os.urandom(12), body, key)
        return msg, self.ask(msg)

def show(r):
    if r is None:
        return "none"
    typ, _, a = r
    cls = typ & 0x0110
    if cls == 0x0100:
        return "success"
    if cls == 0x0110:
        return "error %d attrs=%s" % (err_code(a), ",".join("%04x" % t for t in sorted(a)))
    return "type %04x" % typ

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "login":          # login SERVER USER PASSWORD [CLAIM]
        c = Client(args[0])
        _, r = c.login(args[1], args[2], c.challenge(), args[3] if len(args) > 3 else None)
        print("local %s:%d" % c.s.getsockname())
        print("login", show(r))
    elif cmd == "stale":        # stale SERVER USER PASSWORD WAIT_S
        c = Client(args[0])
        chal = c.challenge()
        time.sleep(float(args[3]))
        _, r = c.login(args[1], args[2], chal)
        print("stale-login", show(r))
        if r and err_code(r[2]) == 438:
            _, r = c.login(args[1], args[2], r)
            print("retry-login", show(r))
    elif cmd == "replay":       # replay SERVER HEX
        c = Client(args[0])
        print("replay", show(c.ask(bytes.fromhex(args[1]))))
    elif cmd == "flood":        # flood SERVER USER SECONDS: wrong-password logins, flat out
        c, secs = Client(args[0]), float(args[2])
        codes, i = {}, 0
        t0 = time.time()
        print("flood started", flush=True)
        while time.time() - t0 < secs:
            i += 1
            r = c.ask(finish(mtype(LOGIN, 0), os.urandom(12), b"", None), tries=1)
            if r and err_code(r[2]) == 401:
                _, r = c.login(args[1], "wrong-%d" % i, r)
            k = show(r).split(" attrs")[0]
            codes[k] = codes.get(k, 0) + 1
        print("flood %d attempts in %.2fs" % (i, time.time() - t0),
              " ".join("%s=%d" % (k.replace(" ", ""), v) for k, v in sorted(codes.items())))
    elif cmd == "online":       # online DEST_IP:PORT NAME: ONLINE with a made-up key
        c = Client(args[0])
        body = attr(A_PEER_NAME, args[1].encode())
        msg = finish(mtype(ONLINE, 0), os.urandom(12), body, os.urandom(32))
        print("local %s:%d" % c.s.getsockname())
        print("online", show(c.ask(msg, tries=3)))
    else:
        sys.exit("unknown command " + cmd)

main()
PYEOF

# py SITE ARGS...: run the hostile client in SITE's host.
py() {
	local s=$1
	shift
	site_exec "$s" timeout 120 python3 "$PY" "$@"
}

DB=$LAB_TMP/pinhole.db
SRV=$NAT_SRV_IP:$ACC_PORT
for u in alice bob carol mallory dave erin; do
	acc_user_add "$DB" "$u" "pw-$u-$$" || bail_out "user add $u"
done
acc_allow "$DB" alice bob && acc_allow "$DB" mallory bob && acc_allow "$DB" carol dave ||
	bail_out "contact allow"

srv_flags=()
if "$ACC_SERVER" --help 2>&1 | grep -q -- '--nonce-lifetime'; then
	srv_flags+=(--nonce-lifetime 3)
	STALE_WAIT_S=${STALE_WAIT_S:-4}
fi
STALE_WAIT_S=${STALE_WAIT_S:-62}
acc_server_start abuse "$DB" "${srv_flags[@]}" || {
	diag <"$ACC_SRV_LOG"
	bail_out "pinhole-server did not get ready"
}
ok "pinhole-server ready ${srv_flags[*]}"

# The stale-nonce check waits out a nonce lifetime: run it alongside.
py victim stale "$SRV" erin "pw-erin-$$" "$STALE_WAIT_S" >"$LAB_TMP/stale.out" 2>&1 &
stale_pid=$!

# --- same error for wrong password and unknown user ---------------------------------

printf 'not-the-password\n' >"$LAB_TMP/pw-wrong"
printf 'whatever\n' >"$LAB_TMP/pw-nosuch"
ACC_PW[carol]=$LAB_TMP/pw-wrong
ACC_PW[nosuchuser]=$LAB_TMP/pw-nosuch
acc_ep_start wrongpw guess carol
acc_ep_start nouser guess nosuchuser
# err_line ID: the endpoint's error line without timestamp and user name.
err_line() {
	grep -m1 ' error ' "${ACC_EP_LOG[$1]}" | cut -d' ' -f2- | sed "s/$2/USER/g"
}
rc1=0 rc2=0
wait_until 15 eval '! acc_ep_alive wrongpw && ! acc_ep_alive nouser'
lab_stop "${ACC_EP_PID[wrongpw]}" TERM 1 || rc1=$?
lab_stop "${ACC_EP_PID[nouser]}" TERM 1 || rc2=$?
e1=$(err_line wrongpw carol)
e2=$(err_line nouser nosuchuser)
if ((rc1 != 0 && rc1 != 124 && rc2 != 0 && rc2 != 124)) && [[ -n $e1 && $e1 == "$e2" ]]; then
	ok "wrong password and unknown user: both exit $rc1/$rc2 with the same message: $e1"
else
	not_ok "wrong password and unknown user: same non-zero exit and message"
	diag "wrong password: exit $rc1: $e1" "unknown user: exit $rc2: $e2"
	diag <"${ACC_EP_LOG[wrongpw]}"
fi
check "the server logs 'login refused' for both" eval \
	"grep -q 'login refused user=carol' '$ACC_SRV_LOG' && grep -q 'login refused user=nosuchuser' '$ACC_SRV_LOG'"
grep 'login refused' "$ACC_SRV_LOG" | diag
# On the wire: the same error code and the same attribute types.
w1=$(py evil login "$SRV" carol not-it | sed -n 's/^login //p')
w2=$(py evil login "$SRV" nosuchuser not-it | sed -n 's/^login //p')
if [[ $w1 == "error 401 "* && $w1 == "$w2" ]]; then
	ok "on the wire too: wrong password and unknown user both get '$w1'"
else
	not_ok "on the wire: same answer for wrong password and unknown user"
	diag "wrong password: $w1" "unknown user: $w2"
fi

# --- alice (eim-apdf) and bob (none) online; capture alice's LOGIN -------------------

cap=$LAB_TMP/home.pcap
lab_capture_start "$(site_nat_ns home)" wan0 "udp port $ACC_PORT" "$cap" "$LAB_TMP/dumpcap.log" \
	"$NAT_SRV_IP" || bail_out "capture on home's NAT"
acc_ep_start bob open bob --log-level debug
acc_ep_wait bob ' logged in session=' 15 || bail_out "bob did not log in"
acc_ep_start alice home alice
acc_ep_wait alice ' logged in session=' 15 || bail_out "alice did not log in"
check "alice and bob hold a direct session" acc_ep_wait alice ' session with bob established' 10
lab_capture_stop || bail_out "capture stop"

# --- replay ------------------------------------------------------------------------

# The credentialed LOGIN (type 0x3001 with a USERNAME) alice's endpoint sent.
login_hex=$(tshark -n -r "$cap" -Y "udp.dstport == $ACC_PORT && udp.payload[0:2] == 30:01 && udp.length > 80" \
	-T fields -e udp.payload 2>/dev/null | tail -1 | tr -d ':')
if [[ -z $login_hex ]]; then
	not_ok "captured alice's LOGIN off the wire"
	tshark -n -r "$cap" 2>/dev/null | diag
else
	n0=$(grep -c 'login ok user=alice' "$ACC_SRV_LOG")
	r1=$(py evil replay "$SRV" "$login_hex" | sed -n 's/^replay //p')
	r2=$(py home replay "$SRV" "$login_hex" | sed -n 's/^replay //p')
	n1=$(grep -c 'login ok user=alice' "$ACC_SRV_LOG")
	if [[ $r1 == "error 401"* && $r2 == "error 401"* ]] && ((n1 == n0)); then
		ok "alice's captured LOGIN replayed from another site and from her own NAT (new port): 401 both, no new session"
	else
		not_ok "a replayed LOGIN is refused"
		diag "from evil: $r1" "from home, new port: $r2" "alice logins before/after: $n0/$n1"
	fi
fi

# --- forged ONLINE -------------------------------------------------------------------

bob_addr=$(sed -n 's/.* reflexive address \([0-9.:]*\)$/\1/p' "${ACC_EP_LOG[bob]}" | head -1)
f=$(py evil online "$bob_addr" alice)
fsrc=$(sed -n 's/^local //p' <<<"$f")
if [[ $f == *"online none"* ]] && acc_ep_wait bob " rejected ONLINE from $(site_public_ip evil):" 5 &&
	! grep -q " online: alice verified at $(site_public_ip evil)" "${ACC_EP_LOG[bob]}"; then
	ok "an ONLINE naming alice but keyed wrongly is rejected by bob (logged, unanswered)"
else
	not_ok "a forged ONLINE is rejected"
	diag "forger ($fsrc -> $bob_addr): $f"
	diag <"${ACC_EP_LOG[bob]}"
fi

# --- PUNCH toward a claimed address --------------------------------------------------

# mallory (eim) claims to be at the victim's address; bob must be told to
# probe mallory's observed address, never the claimed one.  bob sits behind
# no NAT, so the server would not ask for a probe: use dave (eim-apdf) as
# the one that is punched.
acc_ep_quit alice >/dev/null
nat_flush home
acc_allow "$DB" mallory dave
acc_ep_start dave home dave
acc_ep_wait dave ' logged in session=' 15 || bail_out "dave did not log in"
evil_ip=$(site_public_ip evil)
vic=$(site_public_ip victim):40000
inet_count_add to_victim ip daddr "$(site_public_ip victim)" udp dport 40000
inet_count_add home_to_evil ip saddr "$(site_public_ip home)" ip daddr "$evil_ip" meta l4proto udp
_count_above() {
	(($(inet_count "$1") > $2))
}
m=$(py evil login "$SRV" mallory "pw-mallory-$$" "$vic")
diag "mallory: $m"
grep -E 'login ok user=mallory|punch sent to=dave' "$ACC_SRV_LOG" | diag
if grep -Eq "login ok user=mallory observed=$evil_ip:[0-9]+ claimed=$vic" "$ACC_SRV_LOG"; then
	ok "the server logs mallory's observed ($evil_ip) and claimed ($vic) addresses"
else
	not_ok "the server logs mallory's observed and claimed addresses"
fi
if grep -Eq "punch sent to=dave toward=$evil_ip:[0-9]+ " "$ACC_SRV_LOG" &&
	! grep -Eq "punch sent to=dave toward=$vic " "$ACC_SRV_LOG" &&
	acc_ep_wait dave " punch toward mallory $evil_ip:" 5 &&
	wait_until 3 _count_above home_to_evil 0 &&
	(($(inet_count to_victim) == 0)); then
	ok "the punch goes to mallory's observed address ($(inet_count home_to_evil) packets), none to the claimed one"
else
	not_ok "the punch goes to the observed address only"
	diag "to victim: $(inet_count to_victim); dave -> evil: $(inet_count home_to_evil)"
	diag <"${ACC_EP_LOG[dave]}"
fi

# --- login flood ------------------------------------------------------------------------

# login_ms ID: ms from the endpoint's start line to "logged in".
login_ms() {
	local a b
	a=$(acc_ts "${ACC_EP_LOG[$1]}" ' endpoint .* starting') && b=$(acc_ts "${ACC_EP_LOG[$1]}" ' logged in ')
	[[ -n $a && -n $b ]] && acc_ms_between "$a" "$b"
}
ACC_PW[carol]=$LAB_TMP/pw-carol
acc_ep_start base calm carol
acc_ep_wait base ' logged in ' 15 && base_ms=$(login_ms base)
acc_ep_quit base >/dev/null
# An unknown user, so no per-user limit can be what slows carol.  The
# flood runs for 4 s; carol logs in while it is going.
py flood flood "$SRV" nobody 4 >"$LAB_TMP/flood.out" 2>&1 &
flood_pid=$!
wait_for_log "$LAB_TMP/flood.out" 'flood started' 10
acc_ep_start during calm carol
acc_ep_wait during ' logged in ' 15 && during_ms=$(login_ms during)
flood_running=0
kill -0 "$flood_pid" 2>/dev/null && flood_running=1
wait "$flood_pid"
flood=$(cat "$LAB_TMP/flood.out")
diag "flood from $(site_public_ip flood): $flood"
diag "carol's login: ${base_ms:-?} ms alone, ${during_ms:-?} ms during the flood"
if [[ $flood == *"error429="* ]]; then
	ok "a login flood from one source is answered 429 (rate limited)"
else
	not_ok "a login flood from one source is answered 429 (rate limited)"
fi
if [[ -n ${base_ms:-} && -n ${during_ms:-} ]] && ((flood_running)) &&
	((during_ms <= base_ms + 500 && during_ms <= 3 * base_ms + 100)); then
	ok "another source's login is not slowed (${during_ms} ms vs ${base_ms} ms alone)"
else
	not_ok "another source's login is not slowed by the flood"
	diag "alone: ${base_ms:-none} ms, during: ${during_ms:-none} ms; flood still running at carol's login: $flood_running"
fi
acc_ep_quit during >/dev/null

# --- contact deny + refresh ---------------------------------------------------------------

acc_ep_start alice2 home alice
had_bob=0
acc_ep_wait alice2 ' logged in ' 15 && acc_ep_wait alice2 ' contacts: 1' 5 &&
	grep -q '^[0-9.]* info    bob online' "${ACC_EP_LOG[alice2]}" && had_bob=1
"$ACC_CTL" --db "$DB" contact deny alice bob >/dev/null || not_ok "pinholectl contact deny alice bob"
n=$(grep -c ' contacts: ' "${ACC_EP_LOG[alice2]}")
acc_ep_cmd alice2 /refresh
wait_until 5 eval "(( \$(grep -c ' contacts: ' '${ACC_EP_LOG[alice2]}') > $n ))"
acc_ep_cmd alice2 /contacts
wait_until 5 eval "(( \$(grep -c ' contacts: ' '${ACC_EP_LOG[alice2]}') > $n + 1 ))"
last=$(tac "${ACC_EP_LOG[alice2]}" | sed '/ contacts: /q' | tac)
if ((had_bob)) && [[ $last == *" contacts: 0"* && $last != *" bob "* ]]; then
	ok "after 'pinholectl contact deny alice bob' and /refresh, bob is gone from alice's contacts"
else
	not_ok "after contact deny + /refresh, bob is gone from alice's contacts"
	diag "bob listed before the deny: $had_bob" "$last"
	diag <"${ACC_EP_LOG[alice2]}"
fi

# --- stale nonce -------------------------------------------------------------------------

wait "$stale_pid"
stale=$(cat "$LAB_TMP/stale.out")
diag "$stale"
if grep -q '^stale-login error 438' <<<"$stale" && grep -q '^retry-login success' <<<"$stale"; then
	ok "a nonce older than its lifetime (${STALE_WAIT_S}s) gets 438, the retry with the fresh nonce succeeds"
else
	not_ok "stale nonce: 438, then success with the fresh one"
fi

check "pinhole-server stayed up" kill -0 "$ACC_SRV_PID"
# Endpoints first: each logs out, which needs the server's answer.
for id in bob dave alice2; do
	acc_ep_quit "$id" >/dev/null
done
lab_stop "$ACC_SRV_PID" TERM 10
tap_summary
