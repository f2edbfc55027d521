#!/usr/bin/env bash
# make test: every suite of the kit. Each suite prints one line per check,
#   TEST <name>: ok      or      TEST <name>: FAIL <why>
# and this script ends with the one summary line "N passed, N failed".
# SUITES="build grader" limits the run to some suites (names below).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
log=build/test.log
: > "$log"
start=$(date +%s)

# suite NAME COMMAND...: run one suite, echo its lines, keep them for the count.
# A suite that exits non-zero without a FAIL line of its own gets one.
suite() {
	local name=$1
	shift
	case " ${SUITES:-all} " in *" all "* | *" $name "*) ;; *) return 0 ;; esac
	echo "== $name: $*"
	local out=build/test-$name.out
	"$@" >"$out" 2>&1
	local rc=$?
	grep -E '^TEST ' "$out" | tee -a "$log"
	if [ $rc -ne 0 ] && ! grep -q '^TEST .*: FAIL' "$out"; then
		echo "TEST $name: FAIL exited $rc without a result line (see $out)" | tee -a "$log"
		tail -20 "$out"
	fi
}

suite build tests/test_build.sh
suite kernel python3 tests/test_kernel.py
suite conform python3 tests/test_conform.py
suite fuzz python3 tests/test_fuzz.py
suite grader python3 tests/test_grader.py
suite gdb tests/test_gdb.sh
suite starters tests/test_starters.sh
suite docs python3 tests/test_docs.py
suite handouts python3 tests/test_handouts.py
suite replay python3 tests/test_replay.py

passed=$(grep -c '^TEST .*: ok' "$log")
failed=$(grep -c '^TEST .*: FAIL' "$log")
echo "test time: $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ] || grep '^TEST .*: FAIL' "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
