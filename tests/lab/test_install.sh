#!/bin/bash
# SPDX-License-Identifier: MIT
# `make install` and what it installs, checked from a staging DESTDIR:
#   - the file list, modes, the shared library's soname chain and exports;
#   - <pinhole/endpoint.h> compiles alone (C99 and C++), pkg-config finds the
#     library, and endpoint/examples/embed.c builds against the installed copy
#     (shared and static) and runs in a namespace against the installed
#     pinhole-server: it logs in, lists its contacts and exchanges a message
#     with an installed pinhole-endpoint;
#   - the systemd unit passes `systemd-analyze verify`, and the installed
#     server runs with exactly the unit's capabilities: XDP attach, --keep,
#     and adoption of the kept program on restart;
#   - the example config parses; every man page renders without warnings and
#     documents exactly the long options its binary's --help shows;
#   - `make uninstall` leaves the DESTDIR without a file.
# Usage: bash tests/lab/test_install.sh BUILD_DIR (from the repo root).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(realpath -m "${1:-build}")
# shellcheck source=tests/lab/lib.sh
source "$here/lib.sh"

lab_init make pkg-config systemd-analyze man lexgrog readelf nm setpriv cc
T=$LAB_TMP
D=$T/dest
P=$D/usr/local

mk() {
	make -s --no-print-directory -C "$repo" BUILD="$build" "$@"
}

# --- install -------------------------------------------------------------------

check "make install DESTDIR=..." mk DESTDIR="$D" install || bail_out "install failed"

expected="bin/pinhole-endpoint
bin/pinhole-load
etc/pinhole/pinhole.conf.example
include/pinhole/endpoint.h
lib/libpinhole-endpoint.a
lib/libpinhole-endpoint.so
lib/libpinhole-endpoint.so.0
lib/libpinhole-endpoint.so.0.1.0
lib/pinhole/pinhole.bpf.o
lib/pkgconfig/pinhole-endpoint.pc
lib/systemd/system/pinhole-server.service
sbin/pinhole-server
sbin/pinholectl
share/man/man1/pinhole-endpoint.1
share/man/man1/pinhole-load.1
share/man/man8/pinhole-server.8
share/man/man8/pinholectl.8
share/pinhole/install-manifest"
got=$(cd "$P" && find . \( -type f -o -type l \) -printf '%P\n' | LC_ALL=C sort)
check_eq "installed files are exactly the expected ones under PREFIX" "$expected" "$got"
check "nothing installed outside PREFIX" \
	bash -c "[[ -z \$(find '$D' \\( -type f -o -type l \\) -not -path '$P/*') ]]"
modes=$(cd "$P" && stat -c '%a %n' sbin/pinhole-server sbin/pinholectl bin/pinhole-endpoint \
	bin/pinhole-load share/man/man8/pinhole-server.8 include/pinhole/endpoint.h)
check_eq "modes: binaries 755, data 644" "755 sbin/pinhole-server
755 sbin/pinholectl
755 bin/pinhole-endpoint
755 bin/pinhole-load
644 share/man/man8/pinhole-server.8
644 include/pinhole/endpoint.h" "$modes"
check_eq "libpinhole-endpoint.so -> .so.0 -> .so.0.1.0" \
	"libpinhole-endpoint.so.0 libpinhole-endpoint.so.0.1.0" \
	"$(readlink "$P/lib/libpinhole-endpoint.so") $(readlink "$P/lib/libpinhole-endpoint.so.0")"
check "shared library soname is libpinhole-endpoint.so.0" \
	bash -c "readelf -d '$P/lib/libpinhole-endpoint.so.0.1.0' | grep -q 'SONAME.*\\[libpinhole-endpoint.so.0\\]'"
exports=$(nm -D --defined-only "$P/lib/libpinhole-endpoint.so.0.1.0" | awk '$3 != "" {print $3}' |
	sed 's/@.*//' | grep -v '^PINHOLE_ENDPOINT_' | grep -vc '^ep_')
check_eq "shared library exports only ep_* symbols" 0 "$exports"
check "shared library exports ep_new and ep_process" \
	bash -c "nm -D --defined-only '$P/lib/libpinhole-endpoint.so.0.1.0' | grep -q ' ep_new@' &&
		nm -D --defined-only '$P/lib/libpinhole-endpoint.so.0.1.0' | grep -q ' ep_process@'"
check_eq "static library defines only ep_* globally" 0 \
	"$(nm -g --defined-only "$P/lib/libpinhole-endpoint.a" | awk 'NF == 3 {print $3}' | grep -vc '^ep_')"
check "the manifest lists every installed file" \
	bash -c "diff <(sed -n 's|^f /usr/local/||p' '$P/share/pinhole/install-manifest') - <<<'$expected'"
cp "$P/share/pinhole/install-manifest" "$T/manifest.1"
check "a second install is idempotent (same manifest)" \
	bash -c "make -s --no-print-directory -C '$repo' BUILD='$build' DESTDIR='$D' install &&
		cmp '$T/manifest.1' '$P/share/pinhole/install-manifest'"

# PREFIX=/usr moves the config to /etc and the paths inside the unit and the .pc file.
D2=$T/dest-usr
check "make install PREFIX=/usr" mk PREFIX=/usr DESTDIR="$D2" install
check "PREFIX=/usr: config in /etc, unit in /usr/lib/systemd/system, .pc prefix=/usr" \
	bash -c "[[ -f '$D2/etc/pinhole/pinhole.conf.example' &&
		-f '$D2/usr/lib/systemd/system/pinhole-server.service' ]] &&
		grep -qx 'prefix=/usr' '$D2/usr/lib/pkgconfig/pinhole-endpoint.pc' &&
		grep -qx 'ExecStart=/usr/sbin/pinhole-server --config /etc/pinhole/pinhole.conf --keep' \
			'$D2/usr/lib/systemd/system/pinhole-server.service'"
check "make uninstall PREFIX=/usr leaves no file" \
	bash -c "make -s --no-print-directory -C '$repo' BUILD='$build' PREFIX=/usr DESTDIR='$D2' uninstall &&
		[[ -z \$(find '$D2' -mindepth 1) ]]"

# --- header and pkg-config ---------------------------------------------------------

# PKG_CONFIG_SYSROOT_DIR maps the .pc file's /usr/local paths into the DESTDIR.
export PKG_CONFIG_PATH=$P/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
printf '#include <pinhole/endpoint.h>\nint main(void) { return ep_now_ms() == 0; }\n' >"$T/hdr.c"
check "<pinhole/endpoint.h> compiles alone (C99, -pedantic, only the installed include dir)" \
	cc -std=c99 -pedantic -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -I"$P/include" \
	-c "$T/hdr.c" -o "$T/hdr.o"
if command -v g++ >/dev/null; then
	cp "$T/hdr.c" "$T/hdr.cc"
	check "<pinhole/endpoint.h> compiles as C++ and links extern \"C\"" \
		g++ -Wall -Wextra -Werror -I"$P/include" "$T/hdr.cc" -L"$P/lib" -lpinhole-endpoint \
		-o "$T/hdr-cc"
fi
version=$("$P/sbin/pinhole-server" --version | awk '{print $2}')
check_eq "pkg-config --modversion equals pinhole-server --version" "$version" \
	"$(pkg-config --modversion pinhole-endpoint 2>&1)"
check "pkg-config --cflags points into the DESTDIR's include dir" \
	bash -c "[[ \$(pkg-config --cflags pinhole-endpoint) == *'-I$P/include'* ]]"

ex=$repo/endpoint/examples/embed.c
check "the example is about 100 lines (at most 110)" test "$(wc -l <"$ex")" -le 110
# shellcheck disable=SC2046 # word splitting of pkg-config's output is intended
check "example builds against the installed shared library through pkg-config" \
	cc -std=c11 -Wall -Wextra -Werror "$ex" $(pkg-config --cflags --libs pinhole-endpoint) \
	-o "$T/embed-shared"
check "shared example needs libpinhole-endpoint.so.0" \
	bash -c "readelf -d '$T/embed-shared' | grep -q 'NEEDED.*libpinhole-endpoint.so.0'"
static_libs=$(pkg-config --static --libs pinhole-endpoint | sed 's/-lpinhole-endpoint/-l:libpinhole-endpoint.a/')
# shellcheck disable=SC2046,SC2086
check "example builds against the installed static library (pkg-config --static)" \
	cc -std=c11 -Wall -Wextra -Werror "$ex" $(pkg-config --cflags pinhole-endpoint) $static_libs \
	-o "$T/embed-static"
check "static example does not need libpinhole-endpoint.so" \
	bash -c "! readelf -d '$T/embed-static' | grep -q libpinhole-endpoint"

# --- the example against the installed server -------------------------------------

NS=inst
lab_ns_add $NS || bail_out "cannot create a namespace"
DB=$T/pinhole.db
SRV_IP=127.0.0.1
SRV_PORT=3478
ctl() {
	"$P/sbin/pinholectl" --db "$DB" "$@"
}
printf 'alice-secret\n' >"$T/alice.pw"
printf 'bob-secret\n' >"$T/bob.pw"
check "installed pinholectl: user add alice" ctl user add alice --password-file "$T/alice.pw"
check "installed pinholectl: user add bob" ctl user add bob --password-file "$T/bob.pw"
check "installed pinholectl: contacts both ways" \
	bash -c "'$P/sbin/pinholectl' --db '$DB' contact allow alice bob &&
		'$P/sbin/pinholectl' --db '$DB' contact allow bob alice"

lab_bg $NS "$T/server.log" "$P/sbin/pinhole-server" --listen "$SRV_IP:$SRV_PORT" \
	--alt 127.0.0.9:3479 --db "$DB" --keepalive 2
SRV_PID=$LAB_PID
LAB_WATCH_PID=$SRV_PID wait_for_log "$T/server.log" 'ready' 10 ||
	{ diag <"$T/server.log"; bail_out "the installed pinhole-server did not start"; }
ok "installed pinhole-server ready"

rm -f "$T/bob.in"
mkfifo "$T/bob.in"
lab_bg $NS "$T/bob.log" bash -c 'exec "$1" --server "$2" --user bob --password-file "$3" \
	--bind 127.0.0.3:40003 <"$4"' _ "$P/bin/pinhole-endpoint" "$SRV_IP" "$T/bob.pw" "$T/bob.in"
BOB_PID=$LAB_PID
exec {BOB_FD}>"$T/bob.in"
LAB_WATCH_PID=$BOB_PID check "installed pinhole-endpoint (bob) logged in" \
	wait_for_log "$T/bob.log" 'logged in session=[0-9]+' 10

lab_bg $NS "$T/embed.log" env LD_LIBRARY_PATH="$P/lib" "$T/embed-shared" "$SRV_IP" "$SRV_PORT" \
	alice "$T/alice.pw" bob "hello from embed"
EMBED_PID=$LAB_PID
LAB_WATCH_PID=$EMBED_PID check "example: logged in and listed bob online" \
	wait_for_log "$T/embed.log" '^contact bob online nat=none$' 10
check "bob: message from the example" \
	wait_for_log "$T/bob.log" 'message from alice: hello from embed' 10
check "bob: direct session with the example" \
	wait_for_log "$T/bob.log" 'session with alice established|online: alice verified' 5
echo "@alice hello from bob" >&"$BOB_FD"
check "example: bob's message arrived" \
	wait_for_log "$T/embed.log" '^message from bob: hello from bob$' 10
check "example: its message was acked" \
	wait_for_log "$T/embed.log" '^message [0-9]+ to bob delivered$' 5
lab_stop "$EMBED_PID" CONT 15
check_eq "example (shared) logged out and exited 0" 0 "$?"
check "server: alice logged out" wait_for_log "$T/server.log" 'session offline user=alice .*reason=logout' 5

lab_bg $NS "$T/embed-static.log" "$T/embed-static" "$SRV_IP" "$SRV_PORT" alice "$T/alice.pw"
EMBED_PID=$LAB_PID
lab_stop "$EMBED_PID" CONT 15
check_eq "example (static) logged in, listed its contacts, logged out: exit 0" 0 "$?"
check "example (static): bob listed online" grep -q '^contact bob online' "$T/embed-static.log"
((_tap_fail)) && diag <"$T/embed.log"
echo "/quit" >&"$BOB_FD"
lab_stop "$BOB_PID" TERM 5
lab_stop "$SRV_PID" TERM 5

# --- the systemd unit ----------------------------------------------------------------

unit=$P/lib/systemd/system/pinhole-server.service
mkdir -p "$T/unit"
sed "s|/usr/local/|$P/|g" "$unit" >"$T/unit/pinhole-server.service"
check "systemd-analyze verify (paths rewritten into the DESTDIR)" \
	env MANPATH="$P/share/man" systemd-analyze verify "$T/unit/pinhole-server.service"
check "verify is live: it rejects the unit while ExecStart does not exist" \
	bash -c "! MANPATH='$P/share/man' systemd-analyze verify '$unit' 2>/dev/null"
check "unit: --keep, Restart=on-failure, StateDirectory=pinhole, no full root" \
	bash -c "grep -q '^ExecStart=.*--keep' '$unit' && grep -qx 'Restart=on-failure' '$unit' &&
		grep -qx 'StateDirectory=pinhole' '$unit' && grep -q '^CapabilityBoundingSet=CAP_' '$unit' &&
		grep -qx 'NoNewPrivileges=yes' '$unit'"

# Run the installed server with exactly the unit's capability set (bounding, inheritable
# and ambient, as systemd does for uid 0 with AmbientCapabilities=).
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ \+/,+/g')
caps="-all,+$caps"
diag "unit capabilities as setpriv sees them: $caps"
lab_ns_add xdp || bail_out "cannot create a namespace"
lab_veth xdp inst0 xdp inst1 || bail_out "cannot create a veth pair"
lab_addr xdp inst0 198.18.0.1/24
lab_pin_dir
run_capped() {
	lab_bg xdp "$1" setpriv --bounding-set "$caps" --inh-caps "$caps" --ambient-caps "$caps" -- \
		"$P/sbin/pinhole-server" --stun-only --listen 198.18.0.1:3478 --xdp inst0 --keep \
		--pin-dir "$LAB_PIN"
}
run_capped "$T/capped1.log"
if LAB_WATCH_PID=$LAB_PID wait_for_log "$T/capped1.log" 'ready' 10; then
	ok "unit capabilities: XDP attached and pinned"
else
	not_ok "unit capabilities: XDP attached and pinned"
	diag <"$T/capped1.log"
fi
lab_stop "$LAB_PID" TERM 5
check_eq "unit capabilities: clean stop with --keep" 0 "$?"
check "unit capabilities: the program stayed attached" \
	bash -c "ip -n '$(lab_ns_name xdp)' link show inst0 | grep -q 'prog/xdp'"
run_capped "$T/capped2.log"
if LAB_WATCH_PID=$LAB_PID wait_for_log "$T/capped2.log" 'ready' 10 &&
	grep -q 'adopted the pinned program' "$T/capped2.log"; then
	ok "unit capabilities: a restart adopts the kept program"
else
	not_ok "unit capabilities: a restart adopts the kept program"
	diag <"$T/capped2.log"
fi
lab_stop "$LAB_PID" TERM 5

# --- man pages --------------------------------------------------------------------------

man_warnings() {
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null
}
printf '.TH BAD 1\n.SH NAME\nbad \\- page\n.NOSUCHMACRO\n' >"$T/bad.1"
check "man warning check is live (a bad page warns)" test -n "$(man_warnings "$T/bad.1")"

# Long options documented by a page: those in the tag line of a .TP item.
man_flags() {
	awk '/^\.TP/ { getline; print }' "$1" | sed 's/\\-/-/g; s/\\f[BIRP]//g' |
		grep -oE -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u
}
# Long options a binary's --help shows, including per-command/per-mode help.
help_text() {
	case $1 in
	pinholectl)
		"$P/sbin/pinholectl" --help
		"$P/sbin/pinholectl" --help | awk '/^Commands:/ { on = 1; next } /^$/ { on = 0 }
			on { c = ""; for (i = 1; i <= NF && $i ~ /^[a-z]+$/; i++) c = c " " $i; print c }' |
			while read -r cmd; do
				# shellcheck disable=SC2086 # cmd is "user add" etc.
				"$P/sbin/pinholectl" $cmd --help
			done
		;;
	pinhole-load)
		"$P/bin/pinhole-load" --help 2>&1
		for m in $("$P/bin/pinhole-load" --help 2>&1 | awk '/^modes:/ { on = 1; next } on { print $1 }'); do
			"$P/bin/pinhole-load" "$m" --help 2>&1
		done
		;;
	pinhole-server) "$P/sbin/pinhole-server" --help ;;
	pinhole-endpoint) "$P/bin/pinhole-endpoint" --help ;;
	esac
}
# Only where --help defines an option: usage lines, "[--flag" forms, and lines that start
# with "--flag ARG" / "-x, --flag" followed by an argument or the description column;
# prose that mentions another program's flag ("runs with --xdp (or ...") is no option.
# --help itself is implied.
help_flags() {
	{
		echo --help
		help_text "$1" |
			grep -oE -- '^[Uu]sage:.*|\[--[a-z][a-z0-9-]*|^ *(-[a-zA-Z], )?--[a-z][a-z0-9-]*( [A-Z]|  |$)' |
			grep -oE -- '--[a-z][a-z0-9-]*'
	} | LC_ALL=C sort -u
}
# flags_agree BIN PAGE: print the differences; fails if there is any.
flags_agree() {
	local h m
	h=$(help_flags "$1")
	m=$(man_flags "$2")
	[[ -n $h ]] || { echo "no flags in $1 --help"; return 1; }
	diff <(echo "$h") <(echo "$m") |
		sed -n 's/^< /in --help, not in the man page: /p; s/^> /in the man page, not in --help: /p' |
		grep . && return 1
	return 0
}

for pair in pinhole-server:man8/pinhole-server.8 pinholectl:man8/pinholectl.8 \
	pinhole-endpoint:man1/pinhole-endpoint.1 pinhole-load:man1/pinhole-load.1; do
	bin=${pair%%:*}
	page=$P/share/man/${pair#*:}
	w=$(man_warnings "$page")
	check_eq "man page $bin renders without warnings" "" "$w"
	check "man page $bin has a NAME line lexgrog understands" \
		bash -c "lexgrog '$page' | grep -q '\"$bin - '"
	check "man page $bin documents exactly the long options of $bin --help" flags_agree "$bin" "$page"
done
grep -vx '\.B \\-\\-keep' "$P/share/man/man8/pinhole-server.8" >"$T/short.8"
check "the option comparison is live (a page missing --keep is caught)" \
	bash -c "$(declare -f man_flags help_flags help_text flags_agree); P='$P';
		! flags_agree pinhole-server '$T/short.8' >/dev/null"

# --- example config -----------------------------------------------------------------

conf=$P/etc/pinhole/pinhole.conf.example
check "the example config parses (pinhole-server --config FILE --help)" \
	bash -c "'$P/sbin/pinhole-server' --config '$conf' --help >/dev/null"
{
	cat "$conf"
	echo "no-such-key = 1"
} >"$T/bad.conf"
check "the config check is live: an unknown key is refused" \
	bash -c "! '$P/sbin/pinhole-server' --config '$T/bad.conf' --help >/dev/null 2>&1"
# Every setting the example shows, commented out or not, is a key the server takes, and
# every option of --help that a file can set is shown.
settings=$(grep -oE '^#?[a-z][a-z0-9-]*( = .*)?$' "$conf" | sed 's/^#//')
bad=""
while read -r line; do
	printf '%s\n' "$line" >"$T/one.conf"
	"$P/sbin/pinhole-server" --config "$T/one.conf" --help >/dev/null 2>&1 || bad+="$line; "
done <<<"$settings"
check_eq "every setting in the example config parses on its own" "" "$bad"
check_eq "the example config shows every option a file can set" \
	"$(help_flags pinhole-server | sed 's/^--//' | grep -vxE 'help|version|config')" \
	"$(awk '{print $1}' <<<"$settings" | LC_ALL=C sort -u)"

# --- uninstall -----------------------------------------------------------------------------

check "make uninstall" mk DESTDIR="$D" uninstall
check_eq "uninstall leaves no file in the DESTDIR" "" "$(find "$D" \( -type f -o -type l \) -printf '%P\n')"
check_eq "uninstall removes the directories install created" "" "$(find "$D" -mindepth 1 -printf '%P\n')"

tap_summary
