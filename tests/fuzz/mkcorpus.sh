#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate the seed corpora in tests/fuzz/corpus/<target>/ from the test
# fixtures: the RFC 5769 vectors in tests/test_stun.c (hex strings) go to
# the stun, binding and access seeds; tests/fuzz/seeds.c builds the access,
# binding, nonce and endpoint seeds with the codec itself.
# Usage: tests/fuzz/mkcorpus.sh [BUILD_DIR]   (run from the repository root)
set -euo pipefail
build=${1:-build}
out=tests/fuzz/corpus
mkdir -p "$build/fuzz"
for t in stun binding access nonce endpoint; do
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
for t in stun binding access nonce endpoint; do
	echo "$t: $(ls "$out/$t" | wc -l) seeds"
done
