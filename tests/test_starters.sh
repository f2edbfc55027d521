#!/usr/bin/env bash
# test_starters.sh — prove the student starters of `make handout` do what they promise.
#
#   tests/test_starters.sh [LAB...]          default: 1 2 3 4
#
# Writes the starters (python3 scripts/handout.py --check), then for each lab N:
#   no-solution   no line of lab N's solution is anywhere in its starter (handout.py's
#                 own check, then a grep for a few lines that would give it away)
#   links         handouts/labN.md (which the TODO lines name) is there, and every
#                 local link of every Markdown file in the starter resolves
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

# The serial-console driver: boot ISO, wait for the prompt, send each command, and
# print the whole conversation. Exit 0 iff every prompt came back; QEMU is killed
# in every case.
DRIVER=$WORK/drive.py
mkdir -p "$WORK"
# One run at a time: handout.py rewrites build/handout/labN/ from scratch.
if command -v flock > /dev/null; then
	exec 9> "$OUT/.lock"
	flock 9
fi
cat > "$DRIVER" <<'EOF'
import os, select, signal, subprocess, sys, time
iso, lab, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
argv = ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-cpu", "qemu64", "-m", "128M",
        "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-display", "none", "-serial", "stdio", "-monitor", "none", "-cdrom", iso]
q = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, start_new_session=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
buf = b""
prompt = ("lab%s> " % lab).encode()

def until_prompt(limit):
    global buf
    end = time.monotonic() + limit
    while True:
        i = buf.find(prompt)
        if i >= 0:
            out, buf = buf[:i + len(prompt)], buf[i + len(prompt):]
            return out, True
        left = end - time.monotonic()
        if left <= 0 or q.poll() is not None and not select.select([q.stdout], [], [], 0)[0]:
            out, buf = buf, b""
            return out + b"\n(no prompt: %s)\n" % (b"timeout" if left <= 0 else b"QEMU exited"), False
        if select.select([q.stdout], [], [], min(left, 0.2))[0]:
            d = os.read(q.stdout.fileno(), 65536)
            if not d:
                end = 0
            buf += d

ok = True
try:
    out, ok = until_prompt(60)
    sys.stdout.write(out.decode(errors="replace"))
    for c in cmds:
        if not ok:
            break
        q.stdin.write(c.encode() + b"\r")
        q.stdin.flush()
        out, ok = until_prompt(60)
        sys.stdout.write(out.decode(errors="replace"))
finally:
    try:
        os.killpg(q.pid, signal.SIGKILL)
    except OSError:
        pass
    q.wait()
print()
sys.exit(0 if ok else 1)
EOF

# --- write the starters ---------------------------------------------------------------
if ! python3 scripts/handout.py --check > "$WORK/handout.out" 2>&1; then
	grep -v '^TEST ' "$WORK/handout.out"     # its TEST lines are reported below
fi
for lab in $LABS; do
	line=$(grep "^TEST starter-lab$lab-no-solution: " "$WORK/handout.out")
	tree=$OUT/lab$lab
	if [ -z "$line" ] || [ ! -d "$tree" ]; then
		report starter-lab$lab-no-solution "FAIL scripts/handout.py wrote no starter: $(tail -1 "$WORK/handout.out")"
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
	report starter-lab$lab-no-solution "$why"

	# Every handout the TODO lines name, and every local link of every Markdown file.
	report starter-lab$lab-links "$(python3 - "$tree" "$lab" <<'EOF'
import os, re, sys
tree, lab = sys.argv[1], sys.argv[2]
bad = []
if not os.path.isfile(os.path.join(tree, "handouts", "lab%s.md" % lab)):
    bad.append("handouts/lab%s.md (named by every TODO line) is missing" % lab)
link = re.compile(r"\]\(\s*<?([^)>\s]+)|\bsrc=[\"']([^\"']+)")
for d, _, names in os.walk(tree):
    if os.path.relpath(d, tree).split(os.sep)[0] == "build":
        continue
    for n in names:
        if not n.endswith(".md"):
            continue
        p = os.path.join(d, n)
        for m in link.finditer(open(p, encoding="utf-8", errors="replace").read()):
            t = (m.group(1) or m.group(2)).split("#")[0]
            if not t or re.match(r"^[a-z][a-z0-9+.-]*:", t):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(d, t))):
                bad.append("%s links to %s, which this starter lacks"
                           % (os.path.relpath(p, tree), t))
print("FAIL " + "; ".join(bad[:3]) if bad else "ok")
EOF
)"

	rm -rf "$WORK/tar$lab" && mkdir -p "$WORK/tar$lab"
	if tar -xzf "$OUT/lab$lab.tar.gz" -C "$WORK/tar$lab" &&
		diff -r -x build "$WORK/tar$lab/lab$lab" "$tree" > "$WORK/tar$lab.diff" 2>&1; then
		report starter-lab$lab-tarball "ok ($(tar -tzf "$OUT/lab$lab.tar.gz" | wc -l) files)"
	else
		report starter-lab$lab-tarball "FAIL lab$lab.tar.gz differs from $tree: $(head -1 "$WORK/tar$lab.diff")"
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
		report starter-lab$lab-build "FAIL make lab$lab: $(grep -m1 -E 'error|Error' "$log-build.log")"
		continue
	fi
	report starter-lab$lab-build ok

	nonce=$RANDOM$RANDOM
	case $lab in
	1) cmds=("run hello world") ;;
	2) cmds=("run hello world" "run t_leak $nonce scribble" "run t_leak $nonce peek") ;;
	3) cmds=("run hello world" "run t_kinfo $nonce once") ;;
	4) cmds=("run hello world" "cpus") ;;
	esac
	timeout 300 python3 "$DRIVER" "$tree/build/phase$lab/boot.iso" "$lab" "${cmds[@]}" > "$log-serial.log" 2>&1
	status=$?
	if grep -q "^lab$lab> " "$log-serial.log" && grep -q '^\[k\] ready' "$log-serial.log"; then
		report starter-lab$lab-prompt ok
	else
		report starter-lab$lab-prompt "FAIL no lab$lab> prompt (serial log: $log-serial.log)"
		continue
	fi
	# What each stub must show on the console.
	why=ok
	if [ $status -ne 0 ]; then
		why="FAIL the monitor did not come back (serial log: $log-serial.log)"
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
	report starter-lab$lab-stub "$why"

	# The grader, on the starter as a student runs it (make grade-labN): the starter's
	# own copy of the public grader, so its programs are built inside the starter
	# (grader runs elsewhere in the repository share build/grade/stage).
	json=$ROOT/$log-grade.json
	rm -f "$json"
	timeout 1200 python3 "$tree/grader/grade.py" --lab "$lab" --json "$json" > "$log-grade.out" 2>&1
	if [ ! -s "$json" ]; then
		report starter-lab$lab-grade "FAIL the grader wrote no results: $(tail -1 "$log-grade.out")"
		continue
	fi
	python3 - "$lab" "$json" "$log-grade.out" <<'EOF' > "$log-grade.tests"
import json, sys
sys.path.insert(0, "grader")
import tests
lab, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for t in json.load(open(path))["labs"][0]["tests"]:
    want = t["name"] == "boot" if lab == 1 else tests.EXPECT.get(t["name"], "??")[lab - 2] == "P"
    got = t["status"] == "pass"
    name = "starter-lab%d-%s" % (lab, t["name"])
    if t["name"] not in tests.EXPECT and lab > 1:
        print("%s FAIL no expectation in grader/tests.py EXPECT" % name)
    elif got == want:
        print("%s ok (%s, %s)" % (name, "passes" if got else "fails",
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

echo "test_starters: $nok ok, $nfail failed"
[ $nfail -eq 0 ]
