#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate the seed corpora in tests/fuzz/corpus/<target>/ from the test
# fixtures: the RFC 5769 vectors in tests/test_stun.c (hex strings) go to
# the stun, binding and access seeds; tests/fuzz/seeds.c builds the access,
# binding, nonce, endpoint and server seeds with the codec itself; the
# config seeds are server/pinhole.conf.example and tests/test_config.c's
# files and command lines (FILE 0x00 0x00 ARG 0x00 ARG ..., fuzz_config.c).
# Usage: tests/fuzz/mkcorpus.sh [BUILD_DIR]   (run from the repository root)
set -euo pipefail
build=${1:-build}
out=tests/fuzz/corpus
mkdir -p "$build/fuzz"
for t in stun binding access nonce endpoint server config; do
	rm -rf "${out:?}/$t"
	mkdir -p "$out/$t"
done

python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
src = open("tests/test_stun.c").read()
# static const char rfc5769_xxx[] = "hex" "hex" ...;
for name, body in re.findall(r'static const char (rfc5769_\w+)\[\]\s*=\s*((?:\s*"[^"]*")+)\s*;', src):
    hexs = "".join(re.findall(r'"([^"]*)"', body)).replace(" ", "").replace("\n", "")
    if not re.fullmatch(r"[0-9a-fA-F]*", hexs) or len(hexs) < 40:
        continue  # the tid and password are fixtures too, but not messages
    data = bytes.fromhex(hexs)
    for t in ("stun", "binding", "access"):
        open(f"{out}/{t}/{name}", "wb").write(data)
    # endpoint: stage 0, the vector from the server with the endpoint's tid patched in
    op = bytes([0, 4, 0, len(data) >> 8, len(data) & 255]) + data
    open(f"{out}/endpoint/{name}", "wb").write(op)
PY

gcc -std=gnu11 -O1 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	-I. -Iuserspace -Ibpf -Itests/fuzz -o "$build/fuzz/seeds" tests/fuzz/seeds.c \
	userspace/stun.c userspace/access.c userspace/nonce.c userspace/log.c -lcrypto -lz
"$build/fuzz/seeds" "$out"

cfg=$out/config
cp server/pinhole.conf.example "$cfg/example"
python3 - "$cfg" <<'PY'
import sys
cfg = sys.argv[1]
def seed(name, file=b"", args=None):
    data = file if args is None else file + b"\0\0" + b"\0".join(a.encode() for a in args)
    open(f"{cfg}/{name}", "wb").write(data)
seed("test-config-file", b"# pinhole test config\n\nlisten = 198.18.0.1\n  listen 198.18.0.2:4000   # second\n"
     b"listen=[2001:db8::5]:4001\nxdp veth-srv\nkeep\nxdp-no-generic = yes\nlog-level = warn\n"
     b"pin-dir /sys/fs/bpf/a#b\n")
seed("listen-twice", b"listen 198.18.0.1\nlisten 198.18.0.1:3478\n")
seed("every-key", b"listen = 198.18.0.1:3478\nalt = 198.18.0.2:3479\ndb = /tmp/x.db\nrealm = example.org\n"
     b"metrics = 127.0.0.1:9478\nmax-sessions = 16777216\nlogin-rate = 0\npunch-wait = 10000\n"
     b"nonce-lifetime 3600\nkeepalive 600\nworkers 64\nno-punch = on\r\n")
seed("argv-only", args=["--listen", "198.18.0.1", "--listen=[2001:db8::1]:5000", "--listen",
     "198.18.0.2:3479", "--xdp", "veth0", "--xdp-no-generic", "--keep", "--pin-dir=/sys/fs/bpf/x",
     "--log-level", "debug", "--workers", "2"])
seed("file-and-argv", b"keep\nlisten 198.18.0.5\n", ["--log-level", "debug", "--keep=off", "--listen",
     "198.18.0.9", "--listen", "198.18.0.10:1", "--stun-only"])
seed("conflicts", args=["--alt", "198.18.0.2:3479", "--listen", "198.18.0.1", "--db", "/x",
     "--stun-only", "-h", "-V"])
PY
for t in stun binding access nonce endpoint server config; do
	echo "$t: $(ls "$out/$t" | wc -l) seeds"
done
