#!/bin/bash
# SPDX-License-Identifier: MIT
# Run a command (the test suite) with the sanitizers' reports collected in DIR, and fail
# when any was written: a leak at a daemon's exit or a UBSan finding in a lab process
# whose log the test never reads still fails the run.  `make test SANITIZE=1` runs
#   tests/tools/sanitized.sh BUILD/sanitizer bash tests/run.sh BUILD
# with ASAN_OPTIONS/UBSAN_OPTIONS log_path=DIR/report (files DIR/report.<pid>).
# Exit status: the command's, or 1 if it passed but a report exists.
set -uo pipefail
if (($# < 2)); then
	echo "usage: $0 REPORT_DIR COMMAND..." >&2
	exit 2
fi
dir=$1
shift
rm -rf -- "$dir"
mkdir -p -- "$dir" || exit 1
"$@"
rc=$?
shopt -s nullglob
reports=("$dir"/report.*)
# gcc's UBSan writes to stderr whatever log_path says: look for it in the suite's logs too.
mapfile -t logs < <(grep -lE 'runtime error: |ERROR: (Address|Leak)Sanitizer' -r \
	"$dir/../test-logs" 2>/dev/null)
if ((${#logs[@]})); then
	echo "sanitizers: findings in the test logs:"
	grep -HE 'runtime error: |ERROR: (Address|Leak)Sanitizer' "${logs[@]}" | head -10 |
		sed 's/^/    /'
	((rc == 0)) && rc=1
fi
if ((${#reports[@]})); then
	echo "sanitizers: ${#reports[@]} report(s) in $dir:"
	for r in "${reports[@]}"; do
		# The first lines name the finding and the process (its command line is not in the
		# report: the pid is, and the test logs say which binary had it).
		echo "  --- $r"
		grep -E 'ERROR|SUMMARY|runtime error|Direct leak|Indirect leak' "$r" | head -8 |
			sed 's/^/    /'
	done
	((rc == 0)) && rc=1
elif ((${#logs[@]} == 0)); then
	echo "sanitizers: no reports (ASan, UBSan, LeakSanitizer)"
fi
exit $rc
