#!/bin/bash
# SPDX-License-Identifier: MIT
# Run the libFuzzer targets built by `make fuzzers` ($BUILD/fuzz/fuzz_*).
#
#   tests/fuzz/run.sh BUILD smoke [SECONDS]  each target SECONDS (default 10) on a scratch
#                                            copy of its seeds; TAP lines, for `make test`
#   tests/fuzz/run.sh BUILD long  [SECONDS]  each target SECONDS (default 120), keeping the
#                                            corpus in BUILD/fuzz/corpus-<target>
#
# Seeds come from tests/fuzz/corpus/<target>/ (tests/fuzz/mkcorpus.sh); inputs
# that once failed live in tests/fuzz/regressions/<target>/ and run first.  A
# crash or violated property prints "not ok", the reproducer's path
# (BUILD/fuzz/artifacts/) and the report's first lines; exit status 1.
# Each line: "ok - fuzz_<t> N execs (E/s, cov: C ft: F)".
set -uo pipefail
build=${1:-build}
mode=${2:-smoke}
case $mode in
smoke) secs=${3:-10} ;;
long) secs=${3:-120} ;;
*)
	echo "usage: $0 BUILD smoke|long [SECONDS]" >&2
	exit 2
	;;
esac
fdir=$build/fuzz
art=$fdir/artifacts
mkdir -p "$art" "$fdir/logs"
failed=0
scratch=$(mktemp -d "/tmp/pinhole-fuzz-$$.XXXXXX")
# fuzz_server keeps its SQLite store in $TMPDIR: tmpfs when there is one (fsync per login).
if [[ -d /dev/shm && -w /dev/shm ]]; then
	tmpdir=$(mktemp -d "/dev/shm/pinhole-fuzz-$$.XXXXXX")
else
	tmpdir=$(mktemp -d "$scratch/tmp.XXXXXX")
fi
trap 'rm -rf "$scratch" "$tmpdir"' EXIT
export TMPDIR=$tmpdir

targets=("$fdir"/fuzz_*)
if [[ ! -x ${targets[0]} ]]; then
	echo "not ok - no fuzz targets in $fdir (make BUILD=$build fuzzers)"
	exit 1
fi
for bin in "${targets[@]}"; do
	[[ -x $bin ]] || continue
	t=$(basename "$bin")
	name=${t#fuzz_}
	log=$fdir/logs/$t-$mode.log
	if [[ $t == fuzz_endpoint && $(id -u) != 0 ]]; then
		echo "ok - $t # SKIP needs root (own network namespace)"
		continue
	fi
	# Inputs that once failed (tests/fuzz/regressions/<target>/) must pass, every run.
	regs=(tests/fuzz/regressions/"$name"/*)
	if [[ -f ${regs[0]} ]]; then
		rlog=$fdir/logs/$t-regressions.log
		if timeout --kill-after=10 120 "$bin" "${regs[@]}" >"$rlog" 2>&1; then
			echo "ok - $t regressions (${#regs[@]} inputs)"
		else
			failed=1
			echo "not ok - $t regressions (log: $rlog)"
			grep -E 'property violated|ERROR: |SUMMARY|Running: ' "$rlog" | head -8 |
				sed 's/^/# /'
		fi
	fi
	if [[ $mode == smoke ]]; then
		corpus=$scratch/$name
		mkdir -p "$corpus"
		cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
		dirs=("$corpus")
	else
		corpus=$fdir/corpus-$name
		mkdir -p "$corpus"
		# New units go to the first directory; the committed seeds are only read.
		dirs=("$corpus" "tests/fuzz/corpus/$name")
	fi
	timeout --kill-after=10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$art/$t-" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	covft=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
	if ((rc == 0)) && [[ -n $execs ]]; then
		echo "ok - $t ${execs} execs (${rate}/s, ${covft:-cov: ?})"
	else
		failed=1
		echo "not ok - $t exit $rc after ${execs:-?} execs (log: $log)"
		grep -E 'property violated|ERROR: |SUMMARY|Test unit written|^fuzz_' "$log" |
			head -8 | sed 's/^/# /'
	fi
done
exit $failed
