#!/bin/sh
# test_gdb.sh — the GDB workflow of handouts/gdb.md, checked on every phase.
#
# For each lab: build its kernel, boot it halted in QEMU (TCG) with a gdb stub on a
# free port, drive the monitor over the serial port, and run a scripted `gdb -batch`
# session (the init lines `make gdb` uses, then gdb/walkthrough.gdb): break in
# syscall_entry, step over the stack switch, compare rsp before and after with the
# phase's promise, and run the helper commands (ps, kstacks, trapframe,
# kstack-where). Phase 1 also shows the 32/64-bit pitfall. Then every (gdb) command
# handouts/gdb.md shows must be one these sessions ran, with the output it shows
# (source line numbers included), and a copy of gdb.md with one line number moved
# must fail that check.
# tests/gdb_check.py does the work and prints one line per check:
#   TEST gdb-phaseN-<what>: ok | FAIL <why>
#   TEST gdb-handout: ok | FAIL <why>
#   TEST gdb-handout-drift: ok | FAIL <why>
# Exits 1 if any check failed. Every QEMU started is killed on the way out.
# Logs and transcripts: build/gdbtest/phaseN/. PHASES="2 3" runs only those (and
# skips the handout check, which needs the transcripts of every phase).
cd "$(dirname "$0")/.." || exit 2
mkdir -p build/gdbtest
STACKLABS_GDB_PIDS=build/gdbtest/qemu.$$.pids
export STACKLABS_GDB_PIDS
: > "$STACKLABS_GDB_PIDS"

child=
cleanup() {
	[ -n "$child" ] && kill "$child" 2>/dev/null
	while read -r pid; do
		kill "$pid" 2>/dev/null
	done < "$STACKLABS_GDB_PIDS"
	rm -f "$STACKLABS_GDB_PIDS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a command in the background and wait for it, so that a signal reaches the
# traps at once instead of after the command.
run() {
	"$@" &
	child=$!
	wait "$child"
	st=$?
	child=
	return $st
}

# Default: every phase this tree has (a lab 1 starter has only labs/phase1).
all=$(for d in labs/phase[0-9]; do [ -d "$d" ] && echo "${d#labs/phase}"; done)
status=0
for n in ${PHASES:-$all}; do
	rm -rf "build/gdbtest/phase$n"
	# The kernel and the user programs; check.py puts them on an ISO of its own.
	if ! make -s "build/phase$n/kernel.elf" user > "build/gdbtest/build-lab$n.log" 2>&1; then
		echo "TEST gdb-phase$n-build: FAIL make build/phase$n/kernel.elf user (see build/gdbtest/build-lab$n.log)"
		status=1
		continue
	fi
	run python3 tests/gdb_check.py --phase "$n" || status=1
done
if [ -z "${PHASES:-}" ]; then
	run python3 tests/gdb_check.py --handout handouts/gdb.md || status=1
fi

# Negative controls: phase N's kernel judged by phase M's expectations must fail the
# checks that tell the phases apart (after the handout check: these runs overwrite the
# transcripts under build/gdbtest/phaseN/).
# control N M CHECK...: every CHECK must FAIL; prints TEST gdb-control-pN-as-M.
control() {
	n=$1 m=$2
	shift 2
	case " $(echo ${PHASES:-$all}) " in *" $n "*) ;; *) return 0 ;; esac
	out=build/gdbtest/control-p$n-as-$m.out
	run python3 tests/gdb_check.py --phase "$n" --expect "$m" > "$out" 2>&1
	passed=
	for c in "$@"; do
		grep -q "^TEST gdb-phase$n-$c: FAIL" "$out" || passed="$passed $c"
	done
	if ! grep -q "^TEST gdb-phase$n-break: ok" "$out"; then
		echo "TEST gdb-control-p$n-as-$m: FAIL the session did not run (see $out)"
		status=1
	elif [ -n "$passed" ]; then
		echo "TEST gdb-control-p$n-as-$m: FAIL passed with phase $m's expectations:$passed (see $out)"
		status=1
	else
		echo "TEST gdb-control-p$n-as-$m: ok ($* fail, as they must)"
	fi
}
control 1 2 switch tss-rsp0 kstacks kstack-where
control 2 1 switch tss-rsp0 kstacks kstack-where
control 2 3 tss-rsp0 kstacks kstack-where
control 3 2 tss-rsp0 kstacks kstack-where

# make test needs gdb: `make deps` must check for it.
if make -s -n deps | grep -qw gdb; then
	echo "TEST gdb-in-deps: ok"
else
	echo "TEST gdb-in-deps: FAIL make deps does not check for gdb, which make test needs"
	status=1
fi
exit $status
