#!/usr/bin/env bash
# test_starters.sh — prove the student starters of `make handout` do what they promise.
#
#   tests/test_starters.sh [LAB...]          default: 1 2 3 4
#   DEPTHS="lab full" (default: both): the starters of `make handout` (lab depth,
#   TEST starter-labN-...) and of `make handout DEPTH=full` (starter-full-labN-...)
#
# Writes the starters (python3 scripts/handout.py --check), then for each lab N:
#   no-solution   no line of lab N's solution is anywhere in its starter (handout.py's
#                 own check, then a grep for a few lines that would give it away)
#   no-later-lab  nothing instructor-only, no later lab's file, name, prose or
#                 picture (handout.py's STARTER allowlist, NEVER and GIVEAWAYS)
#   files         the starter holds exactly the files `handout.py --list N` names,
#                 and not the untracked file this script leaves in common/ meanwhile
#   docs-links, docs-paths, docs-make, docs-comment-paths, docs-comment-make
#                 tests/test_docs.py run inside the starter: every link, file path and
#                 `make` target its Markdown names exists there (and handouts/labN.md,
#                 which every TODO line names), and so does every path and `make`
#                 target the comments of its code name: a starter never names what it
#                 lacks
#   tarball       build/handout/labN.tar.gz holds exactly the tree build/handout/labN/
#   build         `make -C build/handout/labN labN` builds
#   prompt, stub  the starter boots to the `labN> ` prompt, and its stubs announce
#                 themselves while falling back to phase N-1 (QEMU driven directly)
#   <test>        one line per grader test (the starter's own grader/grade.py): the starter fails exactly the tests lab N
#                 fixes and passes those that hold at phase N-1 (grader/tests.py EXPECT;
#                 lab 1 has no phase 0: only `boot` runs no program, so only it passes)
# Every check prints `TEST starter-labN-<what>: ok` or `... FAIL <why>`; the exit
# status is 1 if any failed. Every QEMU started here is killed before the next check.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
LABS=${*:-1 2 3 4}
DEPTHS=${DEPTHS:-lab full}
OUT=build/handout
WORK=$OUT/test
nok=0
nfail=0

# report NAME "ok ..." | "FAIL ..."
report() {
	echo "TEST $1: $2"
	case $2 in
	ok*) nok=$((nok + 1)) ;;
	*) nfail=$((nfail + 1)) ;;
	esac
}

# Lines that would give each lab's solution away (handout.py finds every distinctive
# line by itself; these are the ones a reviewer would grep for).
giveaways() {
	case $1 in
	1) printf '%s\n' 'mov rsp, [rel kstack_global_top]' 'mov rsp, [rel syscall_user_rsp]' ;;
	2) printf '%s\n' 'mov rsp, [rel current_kernel_stack]' 'mov rsp, [rsp + 24]' \
		'atomic_store_explicit(&current_kernel_stack' 'memset(arena[i], 0, KSTACK_SIZE)' ;;
	3) printf '%s\n' 'mov rsp, [rel tss + TSS_RSP0]' 'tss.rsp0 = next->kstack_slot' \
		'vm_alloc_range(kernel_pml4, slot_base(i)' 'tss.ist[i] = slot_base(i)' \
		'proc_kill(p, "kstack-guard"' ;;
	esac
}

# The same answers as GDB or objdump disassemble them (AT&T and Intel): the solved
# entry code loading rsp from the symbol that gives the lab away.
giveaways_disassembled() {
	local s
	case $1 in
	1) set -- kstack_global_top syscall_user_rsp ;;
	2) set -- current_kernel_stack
	   printf '%s\n' 'mov[[:space:]]+0x18\(%rsp\),%rsp' 'mov[[:space:]]+rsp,QWORD PTR \[rsp\+0x18\]' ;;
	3) set -- 'tss\+(0x)?4' ;;
	esac
	for s in "$@"; do
		printf '%s\n' "\(%rip\),%rsp[[:space:]]+#.*<$s>" \
			"mov[[:space:]]+rsp,QWORD PTR \[rip[^]]*\][[:space:]]+#.*<$s>"
	done
}

# The serial-console driver: boot ISO, wait for the prompt, send each command; the
# conversation goes to a log. Exit 0 iff every prompt came back; QEMU is killed in
# every case.
DRIVER=$WORK/drive.py
mkdir -p "$WORK"
# One run at a time: handout.py rewrites build/handout/labN/ from scratch.
if command -v flock > /dev/null; then
	exec 9> "$OUT/.lock"
	flock 9
fi
cat > "$DRIVER" <<'EOF'
# drive.py ISO LAB LOG CMD...: the grader's own QEMU driver (grader/machine.py, the one
# QEMU command line of grader/qemu.py); the raw serial conversation goes to LOG.
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "grader"))
import procs
from machine import Machine
from verdict import Verdict
iso, lab, log, cmds = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
procs.install_handlers()
m = Machine(iso, lab, log)
try:
    m.start()
    m.boot(timeout=60)
    for c in cmds:
        m.cmd(c, timeout=60)
    status = 0
except Verdict as v:
    print("drive.py: %s: %s" % (v.kind, v.message))
    status = 1
finally:
    m.close()
sys.exit(status)
EOF

for DEPTH in $DEPTHS; do
# Each depth's starters go to their own tree (handout.py's out_dir) and TEST names:
# starter-labN-... (lab depth), starter-full-labN-... (full depth).
if [ "$DEPTH" = lab ]; then S=starter OUT=build/handout; else S=starter-$DEPTH OUT=build/handout-$DEPTH; fi
WORK=$OUT/test
mkdir -p "$WORK"
# --- write the starters ---------------------------------------------------------------
# An instructor's untracked note, left in a folder every starter takes files from: it
# must reach no starter (only what git tracks and the allowlist names ships).
probe=common/untracked-note-$$.txt
echo "instructor's private note: not for students" > "$probe"
if ! python3 scripts/handout.py --check --depth "$DEPTH" > "$WORK/handout.out" 2>&1; then
	grep -v '^TEST ' "$WORK/handout.out"     # its TEST lines are reported below
fi
rm -f "$probe"
for lab in $LABS; do
	line=$(grep "^TEST starter-lab$lab-no-solution: " "$WORK/handout.out")
	tree=$OUT/lab$lab
	if [ -z "$line" ] || [ ! -d "$tree" ]; then
		report $S-lab$lab-no-solution "FAIL scripts/handout.py wrote no starter: $(tail -1 "$WORK/handout.out")"
		continue
	fi
	why=${line#*: }
	if [ "${why%% *}" = ok ]; then
		while IFS= read -r g; do
			hit=$(grep -rlF --exclude-dir=build -e "$g" "$tree" | head -1)
			if [ -n "$hit" ]; then
				why="FAIL ${hit#$tree/} holds '$g'"
				break
			fi
		done < <(giveaways "$lab")
	fi
	if [ "${why%% *}" = ok ]; then
		while IFS= read -r g; do
			hit=$(grep -rlE --exclude-dir=build -e "$g" "$tree" | head -1)
			if [ -n "$hit" ]; then
				why="FAIL ${hit#$tree/} shows the answer disassembled: $(grep -hEo -m1 -e "$g" "$hit")"
				break
			fi
		done < <(giveaways_disassembled "$lab")
	fi
	report $S-lab$lab-no-solution "$why"

	line=$(grep "^TEST starter-lab$lab-no-later-lab: " "$WORK/handout.out")
	report $S-lab$lab-no-later-lab "${line#*: }"

	# Exactly the allowlisted files.
	python3 scripts/handout.py --list "$lab" | sort > "$WORK/lab$lab.want"
	(cd "$tree" && find . -path ./build -prune -o -type f -print | sed 's|^\./||' | sort) > "$WORK/lab$lab.files"
	if [ -e "$tree/$probe" ]; then
		report $S-lab$lab-files "FAIL the untracked $probe is in the starter"
	elif ! diff "$WORK/lab$lab.want" "$WORK/lab$lab.files" > "$WORK/lab$lab.files.diff"; then
		report $S-lab$lab-files "FAIL the starter's files differ from handout.py --list $lab: $(grep -m1 '^[<>]' "$WORK/lab$lab.files.diff")"
	else
		report $S-lab$lab-files "ok ($(wc -l < "$WORK/lab$lab.files") files, listed in $WORK/lab$lab.files)"
	fi

	# Every link, path and make target its Markdown names, inside the starter.
	if [ ! -f "$tree/handouts/lab$lab.md" ]; then
		report $S-lab$lab-docs-links "FAIL handouts/lab$lab.md (named by every TODO line) is missing"
	fi
	python3 tests/test_docs.py --root "$tree" --name "$S-lab$lab-docs" > "$WORK/lab$lab.docs" 2>&1
	while IFS= read -r line; do
		name=${line#TEST }
		report "${name%%: *}" "${name#*: }"
	done < <(grep '^TEST ' "$WORK/lab$lab.docs")
	grep -q '^TEST ' "$WORK/lab$lab.docs" ||
		report $S-lab$lab-docs-links "FAIL tests/test_docs.py printed no result: $(tail -1 "$WORK/lab$lab.docs")"

	rm -rf "$WORK/tar$lab" && mkdir -p "$WORK/tar$lab"
	if tar -xzf "$OUT/lab$lab.tar.gz" -C "$WORK/tar$lab" &&
		diff -r -x build "$WORK/tar$lab/lab$lab" "$tree" > "$WORK/tar$lab.diff" 2>&1; then
		report $S-lab$lab-tarball "ok ($(tar -tzf "$OUT/lab$lab.tar.gz" | wc -l) files)"
	else
		report $S-lab$lab-tarball "FAIL lab$lab.tar.gz differs from $tree: $(head -1 "$WORK/tar$lab.diff")"
	fi
done

# --- build, boot and grade each starter -------------------------------------------------
for lab in $LABS; do
	tree=$OUT/lab$lab
	[ -d "$tree" ] || continue
	log=$WORK/lab$lab
	# The few grader programs the direct checks run, built by the starter's own Makefile.
	extra=$WORK/extra$lab
	rm -rf "$extra" && mkdir -p "$extra"
	if ! make -C "$tree" build/grader/progs/t_leak build/grader/progs/t_kinfo > "$log-build.log" 2>&1 ||
		! cp "$tree"/build/grader/progs/t_leak "$tree"/build/grader/progs/t_kinfo "$extra"/ ||
		! make -C "$tree" lab$lab INITRD_EXTRA="$ROOT/$extra" >> "$log-build.log" 2>&1; then
		report $S-lab$lab-build "FAIL make lab$lab: $(grep -m1 -E 'error|Error' "$log-build.log")"
		continue
	fi
	report $S-lab$lab-build ok

	nonce=$RANDOM$RANDOM
	case $lab in
	1) cmds=("run hello world") ;;
	2) cmds=("run hello world" "run t_leak $nonce scribble" "run t_leak $nonce peek") ;;
	3) cmds=("run hello world" "run t_kinfo $nonce once") ;;
	4) cmds=("run hello world" "cpus") ;;
	esac
	timeout 300 python3 "$DRIVER" "$tree/build/phase$lab/boot.iso" "$lab" "$log-serial.log" \
		"${cmds[@]}" > "$log-drive.out" 2>&1
	status=$?
	if grep -q "^lab$lab> " "$log-serial.log" && grep -q '^\[k\] ready' "$log-serial.log"; then
		report $S-lab$lab-prompt ok
	else
		report $S-lab$lab-prompt "FAIL no lab$lab> prompt (serial log: $log-serial.log)"
		continue
	fi
	# What each stub must show on the console.
	why=ok
	if [ $status -ne 0 ]; then
		why="FAIL the monitor did not come back (serial log: $log-serial.log)"
	elif [ "$lab" = 1 ] && [ "$DEPTH" = full ]; then
		# No SYSCALL MSRs yet: announced at boot, and `syscall` is #UD.
		if ! grep -q '^\[k\] todo lab=1 what=' "$log-serial.log"; then
			why="FAIL no [k] todo lab=1 line (syscall_init's stub)"
		elif ! grep -q '^\[k\] kill pid=1 reason=#UD ' "$log-serial.log"; then
			why="FAIL run hello was not killed with reason=#UD (no EFER.SCE)"
		fi
	elif [ "$lab" = 1 ]; then
		grep -q '^\[k\] kill pid=1 reason=todo-lab1 ' "$log-serial.log" ||
			why="FAIL run hello was not killed with reason=todo-lab1"
	else
		if ! grep -q "^\[k\] todo lab=$lab what=" "$log-serial.log"; then
			why="FAIL no [k] todo lab=$lab line"
		elif ! grep -q '^Hello, world!' "$log-serial.log" ||
			! grep -q '^\[k\] exit pid=1 status=0' "$log-serial.log"; then
			why="FAIL run hello did not work as in phase $((lab - 1))"
		elif [ "$lab" = 4 ]; then
			# One CPU: phase 3's behaviour, and no per-CPU area as the kernel's GS base.
			grep -qE '^ +0 +[0-9]+ +0 +0x[0-9a-f]+ +0x0000000000000000 ' "$log-serial.log" ||
				why="FAIL cpus: GS_BASE is not 0: the stub should not set up a per-CPU area"
		elif [ "$lab" = 2 ]; then
			run=$(sed -n 's/^RESULT leak role=peek .* run=\([0-9]*\) .*/\1/p' "$log-serial.log")
			[ "${run:-0}" -ge 16 ] ||
				why="FAIL the peek found no leak (run=${run:-none}): the stub is not one shared stack"
		else
			k=$(grep '^RESULT kinfo mode=once' "$log-serial.log")
			top=$(sed -n 's/.* top=\(0x[0-9a-f]*\) .*/\1/p' <<< "$k")
			tss=$(sed -n 's/.* tss=\(0x[0-9a-f]*\) .*/\1/p' <<< "$k")
			if [ -z "$top" ] || [ "$top" = "$tss" ]; then
				why="FAIL kstack_info: top=${top:-none} tss=${tss:-none}: TSS.rsp0 should not follow yet"
			fi
		fi
	fi
	report $S-lab$lab-stub "$why"

	# The grader, on the starter as a student runs it (make grade-labN): the starter's
	# own copy of the public grader, so its programs are built inside the starter
	# (grader runs elsewhere in the repository share build/grade/stage).
	json=$ROOT/$log-grade.json
	rm -f "$json"
	timeout 1200 python3 "$tree/grader/grade.py" --lab "$lab" --json "$json" > "$log-grade.out" 2>&1
	if [ ! -s "$json" ]; then
		report $S-lab$lab-grade "FAIL the grader wrote no results: $(tail -1 "$log-grade.out")"
		continue
	fi
	python3 - "$lab" "$json" "$log-grade.out" "$S" <<'EOF' > "$log-grade.tests"
import json, sys
sys.path.insert(0, "grader")
import tests
lab, path, out, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
# How a starter fails a test: as phase N-1's reference fails it, by the kernel's flaw:
# wrong output, a panic, a hang or a reset (which one depends on where the corrupted
# frames land; the lab-1 starter's stub syscalls kill every program: wrong output).
# Any other kind (a grader crash, a build failure, a missing program, a flood) is not
# the flaw the lab fixes.
FLAW_KINDS = ("wrong", "panic", "timeout", "reset")
for t in json.load(open(path))["labs"][0]["tests"]:
    want = t["name"] == "boot" if lab == 1 else tests.EXPECT.get(t["name"], "??")[lab - 2] == "P"
    got = t["status"] == "pass"
    name = "%s-lab%d-%s" % (prefix, lab, t["name"])
    kind = "/".join(FLAW_KINDS)
    if t["name"] not in tests.EXPECT and lab > 1:
        print("%s FAIL no expectation in grader/tests.py EXPECT" % name)
    elif not got and not want and t["verdict"] not in FLAW_KINDS:
        print("%s FAIL expected to fail with %s, but it failed with %s: %s (see %s)" % (
            name, kind, t["verdict"], t["message"], out))
    elif got == want:
        print("%s ok (%s, %s)" % (name, "passes" if got else "fails with " + t["verdict"],
                                  "as at phase %d" % (lab - 1) if lab > 1 else "stub syscalls"))
    else:
        print("%s FAIL expected to %s, but it %s: %s (see %s)" % (
            name, "pass" if want else "fail", "passed" if got else "failed",
            t["message"] or t["status"], out))
EOF
	while read -r name rest; do
		report "$name" "$rest"
	done < "$log-grade.tests"
done

done

echo "test_starters: $nok ok, $nfail failed"
[ $nfail -eq 0 ]
