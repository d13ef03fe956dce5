#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every test: the cmocka unit suites (build/tests/test_*) and the lab
# scripts (tests/lab/test_*.sh, which print TAP "ok"/"not ok" lines).
# Usage: tests/run.sh BUILD_DIR [unit|lab]; last line: "N passed, N failed".
set -uo pipefail
build=${1:-build}
which=${2:-all}
passed=0
failed=0
failures=()
log_dir=$build/test-logs
mkdir -p "$log_dir"

run_unit() {
	local t=$1 name log p f
	name=$(basename "$t")
	log=$log_dir/$name.log
	CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
	local rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0}
	f=${f:-0}
	# A crash or an early exit counts as a failure even if cmocka said nothing.
	if ((rc != 0 && f == 0)); then f=1; fi
	if ((p + f == 0)); then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-28s %3d passed, %d failed\n' "$name" "$p" "$f"
	if ((f)); then
		failures+=("$name")
		sed 's/^/    /' "$log" | grep -E 'FAIL|ERROR|error|Assert|assert' | head -20
	fi
}

run_lab() {
	local t=$1 name log p f
	name=$(basename "$t" .sh)
	log=$log_dir/$name.log
	timeout --kill-after=10 600 bash "$t" "$build" >"$log" 2>&1
	local rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if ((rc != 0 && f == 0)); then f=1; fi
	if ((p + f == 0)); then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-28s %3d passed, %d failed\n' "$name" "$p" "$f"
	if ((f)); then
		failures+=("$name")
		grep -E '^not ok|^#' "$log" | head -30 | sed 's/^/    /'
		echo "    (full log: $log)"
	fi
}

if [[ $which == all || $which == unit ]]; then
	for t in "$build"/tests/test_*; do
		[[ -x $t && $t != *.d && $t != *.o ]] && run_unit "$t"
	done
fi
if [[ $which == all || $which == lab ]]; then
	for t in tests/lab/test_*.sh; do
		[[ -f $t ]] && run_lab "$t"
	done
fi
# A short fuzzing smoke run of every libFuzzer target (`make fuzz` runs them long).
if [[ $which == all || $which == fuzz ]] && compgen -G "$build/fuzz/fuzz_*" >/dev/null; then
	log=$log_dir/fuzz-smoke.log
	bash tests/fuzz/run.sh "$build" smoke "${FUZZ_SMOKE_SECONDS:-3}" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if ((rc != 0 && f == 0)); then f=1; fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-28s %3d passed, %d failed\n' fuzz-smoke "$p" "$f"
	if ((f)); then
		failures+=(fuzz-smoke)
		grep -E '^not ok|^#' "$log" | head -20 | sed 's/^/    /'
	fi
fi
if ((${#failures[@]})); then
	echo "failing: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
