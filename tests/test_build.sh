#!/usr/bin/env bash
# Build checks: the three kernels and their products, incremental rebuilds,
# INITRD_EXTRA, a tree left clean, and the rule that labs/phaseN holds only what
# differs between phases. One line per check: "TEST build-<what>: ok|FAIL <why>".
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
ok() { echo "TEST build-$1: ok"; }
fail() { echo "TEST build-$1: FAIL $2"; rc=1; }
# built MAKEOUTPUT: the lines of make's output that say something was rebuilt
built() { grep -E '^  (CC|NASM|LD|ISO|INITRD|MUSLCC) ' <<<"$1" || true; }

before=$(git status --porcelain --untracked-files=all | grep -v '^?? build/' | sort)

if out=$(make -j2 all 2>&1); then ok all; else fail all "$(tail -5 <<<"$out")"; fi
for n in 1 2 3 4; do
	b=build/phase$n
	if [ -f $b/kernel.elf ] && [ -f $b/initrd.tar ] && [ -f $b/boot.iso ]; then
		ok products-$n
	else
		fail products-$n "missing in $b: $(ls $b 2>&1 | tr '\n' ' ')"
	fi
	if grub-file --is-x86-multiboot2 $b/kernel.elf; then ok multiboot2-$n
	else fail multiboot2-$n "grub-file does not see a multiboot2 header"; fi
	# grep -q would stop reading early: tar then dies of SIGPIPE and pipefail fails it.
	if tar -tf $b/initrd.tar 2>/dev/null | grep -x hello > /dev/null &&
	   [ "$(od -An -c -j257 -N5 $b/initrd.tar | tr -d ' ')" = ustar ]; then ok initrd-ustar-$n
	else fail initrd-ustar-$n "not a ustar archive holding hello"; fi
done

out=$(make -j2 all 2>&1)
if [ -z "$(built "$out")" ]; then ok incremental-noop
else fail incremental-noop "a second make rebuilt: $(built "$out" | head -3 | tr '\n' ';')"; fi

touch common/proc.c
out=$(make lab1 2>&1)
want=$'  CC      build/phase1/common/proc.o\n  LD      build/phase1/kernel.elf\n  ISO     build/phase1/boot.iso'
if [ "$(built "$out")" = "$want" ]; then ok incremental-one-file
else fail incremental-one-file "touching proc.c rebuilt: $(built "$out" | tr '\n' ';')"; fi
make -s all >/dev/null 2>&1

# An included file is a prerequisite too: a student edits labs/phase4/gsswap.inc and
# every nasm file that expands its macros must be rebuilt (nasm's own -MD listed none).
touch labs/phase4/gsswap.inc
out=$(make lab4 2>&1)
miss=""
for o in common/trap.asm.o common/swtch.asm.o lab/entry.asm.o; do
	grep -qx "  NASM    build/phase4/$o" <<<"$(built "$out")" || miss="$miss $o"
done
if [ -z "$miss" ]; then ok incremental-include
else fail incremental-include "touching labs/phase4/gsswap.inc did not rebuild:$miss"; fi
touch common/include/trapframe.inc
out=$(make lab1 2>&1)
if grep -qx "  NASM    build/phase1/lab/entry.asm.o" <<<"$(built "$out")"; then ok incremental-include-common
else fail incremental-include-common "touching common/include/trapframe.inc did not rebuild phase 1's entry.asm"; fi
make -s all >/dev/null 2>&1

extra=build/test-extra
rm -rf $extra && mkdir -p $extra
cp build/user/hello $extra/extra_prog
echo "not a program" > $extra/notes.txt
make lab1 INITRD_EXTRA=$extra >/dev/null 2>&1
list=$(tar -tf build/phase1/initrd.tar)
if grep -qx extra_prog <<<"$list" && ! grep -qx notes.txt <<<"$list"; then ok initrd-extra
else fail initrd-extra "initrd holds: $(tr '\n' ' ' <<<"$list")"; fi
make lab1 >/dev/null 2>&1
if ! tar -tf build/phase1/initrd.tar | grep -qx extra_prog; then ok initrd-extra-removed
else fail initrd-extra-removed "extra_prog still in the initrd without INITRD_EXTRA"; fi
if out=$(make lab1 INITRD_EXTRA=build/no-such-dir 2>&1); then fail initrd-extra-missing "accepted a missing dir"
elif grep -q "not a directory" <<<"$out"; then ok initrd-extra-missing
else fail initrd-extra-missing "unclear error: $(tail -2 <<<"$out")"; fi

after=$(git status --porcelain --untracked-files=all | grep -v '^?? build/' | sort)
if [ "$before" = "$after" ]; then ok tree-clean
else fail tree-clean "the build changed files outside build/: $(comm -13 <(echo "$before") <(echo "$after") | head -3)"; fi

names() { (cd "$1" && ls | sort); }
if [ "$(names labs/phase1)" = "$(names labs/phase2)" ] && [ "$(names labs/phase2)" = "$(names labs/phase3)" ] && [ "$(names labs/phase3)" = "$(names labs/phase4)" ]; then
	ok labs-same-files
else fail labs-same-files "labs/phaseN hold different file names"; fi
dup=$(comm -12 <(names labs/phase1) <(names common))
if [ -z "$dup" ]; then ok labs-no-common-file; else fail labs-no-common-file "in both: $dup"; fi
for n in 1 2 3 4; do
	syms() { nm -g --defined-only "$@" 2>/dev/null | awk '{print $3}' | sort -u; }
	both=$(comm -12 <(syms build/phase$n/lab/*.o) <(syms build/phase$n/common/*.o))
	if [ -z "$both" ]; then ok labs-no-common-symbol-$n
	else fail labs-no-common-symbol-$n "defined in both: $both"; fi
done

out=$(make -n -B lab1 TOOLPREFIX=foo- 2>&1)
if grep -q 'foo-gcc' <<<"$out" && grep -q 'foo-ld' <<<"$out"; then ok toolprefix
else fail toolprefix "TOOLPREFIX=foo- not used"; fi

# make labN-qemu after a triple fault: QEMU (with -no-reboot) exits 0 as for Ctrl-A x,
# and only its reset log (-D) tells them apart. A stand-in QEMU writes that log.
fake=$(mktemp -d)
for kind in reset quit; do
	{
		echo '#!/bin/sh'
		echo 'while [ $# -gt 0 ]; do [ "$1" = -D ] && log=$2; shift; done'
		echo 'echo "CPU Reset (CPU 0)" > "$log"'
		[ $kind = reset ] && echo 'echo "Triple fault" >> "$log"'
		echo 'exit 0'
	} > "$fake/qemu-$kind"
	chmod +x "$fake/qemu-$kind"
done
out=$(make --no-print-directory lab1-qemu QEMU="$fake/qemu-reset" 2>&1); st=$?
if [ $st -eq 2 ] && grep -q '^QEMU reset: triple fault.*make lab1-qemu-gdb' <<<"$out"; then
	out=$(make --no-print-directory lab1-qemu QEMU="$fake/qemu-quit" 2>&1); st=$?
	if [ $st -eq 0 ] && ! grep -q '^QEMU reset' <<<"$out"; then ok qemu-triple-fault
	else fail qemu-triple-fault "a plain quit (status 0, no triple fault) gave status $st: $(tail -1 <<<"$out")"; fi
else
	fail qemu-triple-fault "after a triple fault make lab1-qemu gave status $st and: $(tail -1 <<<"$out")"
fi
rm -rf "$fake"
exit $rc
