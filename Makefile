# stacklabs — build, boot, debug and grade the lab kernels, one per phase of PHASES.
# Everything is built under build/; `make help` lists the targets.

PHASES := 1 2 3 4

# Toolchain: an x86_64-elf cross compiler if there is one, then x86_64-linux-gnu-,
# then the native gcc on an x86_64 host. Override with TOOLPREFIX=.
ifndef TOOLPREFIX
TOOLPREFIX := $(shell \
	if command -v x86_64-elf-gcc >/dev/null 2>&1; then echo x86_64-elf-; \
	elif command -v x86_64-linux-gnu-gcc >/dev/null 2>&1; then echo x86_64-linux-gnu-; \
	elif [ "$$(uname -m)" = x86_64 ]; then echo ""; \
	else echo "x86_64-elf-"; fi)
endif
CC := $(TOOLPREFIX)gcc
LD := $(TOOLPREFIX)ld
NASM := nasm
MUSLCC := musl-gcc
QEMU := qemu-system-x86_64
PYTHON := python3

KCFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror=implicit-function-declaration \
	-ffreestanding -fno-builtin-printf -mno-red-zone -mcmodel=kernel -mgeneral-regs-only \
	-fno-pic -fno-pie -fno-stack-protector -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -nostdlib -MMD -MP
KLDFLAGS := -nostdlib -z max-page-size=0x1000 -z noexecstack -T common/kernel.ld
UCFLAGS := -static -O2 -g -Wall -Wextra -Iuser/include

# QEMU: TCG by default (ACCEL=kvm is an opt-in for interactive speed only; on these
# machines KVM is a software layer where a ring-3 SYSCALL shuts the guest down).
# The flags come from grader/qemu.py, the one definition of the QEMU command line that
# the grader and every test suite use too (read only when a labN-qemu target runs).
ACCEL ?= tcg
# CPUS=N (1..8): how many CPUs labN-qemu boots. By default one, and two for a phase of
# SMP_PHASES (its kernel keeps per-CPU data); `make help` says which labs of this tree
# those are. CPUS=2 on a one-CPU phase shows why its entry code is not "multi-core ready".
CPUS ?=
SMP_PHASES := 4
cpus_of = $(if $(CPUS),$(CPUS),$(if $(filter $(SMP_PHASES),$(1)),2,1))
comma := ,
smp_labs = $(filter $(SMP_PHASES),$(PHASES))
QEMU_FLAGS = $(shell $(PYTHON) grader/qemu.py --make --accel $(ACCEL) --cpus $(call cpus_of,$(1)))
GDBPORT := $(shell expr `id -u` % 5000 + 25000)
QEMU_LOG ?= cpu_reset
# After QEMU: `halt` (status 1) is a normal end; status 0 with a reset in the log is a
# triple fault (with -no-reboot QEMU exits 0 for it, as for Ctrl-A x), said in one line
# with where to look, and status 2. $(1) = phase.
define QEMU_STATUS
s=$$?; \
if [ $$s -eq 0 ] && grep -q 'Triple fault' build/phase$(1)/qemu.log; then \
	echo "QEMU reset: triple fault (a fault the CPU could not deliver). To find where:" \
		"make lab$(1)-qemu-gdb + make gdb (hbreak trap; watch rsp), or" \
		"make lab$(1)-qemu QEMU_LOG=cpu_reset,int and read the last exceptions" \
		"(v=0e #PF, v=08 #DF) in build/phase$(1)/qemu.log"; \
	exit 2; \
fi; \
[ $$s -eq 1 ] && exit 0 || exit $$s
endef

# common/asm-offsets.c is never linked: it generates build/phaseN/include/asm-offsets.inc.
COMMON_C := $(filter-out common/asm-offsets.c,$(wildcard common/*.c))
COMMON_ASM := $(wildcard common/*.asm)
USER_PROGS := $(patsubst user/%.c,build/user/%,$(wildcard user/*.c))
GRADER_PROGS := $(patsubst grader/progs/%.c,build/grader/progs/%,$(wildcard grader/progs/*.c))

.PHONY: all help deps grade clean gdb \
	$(foreach n,$(PHASES),lab$(n) lab$(n)-qemu lab$(n)-qemu-gdb grade-lab$(n))
# INSTRUCTOR ONLY BEGIN
# The kit's own targets: a student's starter (scripts/handout.py) has none of them.
.PHONY: test bench fuzz handout gradescope
# INSTRUCTOR ONLY END

all: $(foreach n,$(PHASES),lab$(n))

help:
	@echo "make labN          build build/phaseN/{kernel.elf,initrd.tar,boot.iso} (N: $(PHASES))"
	@echo "make progs         build the grader's test programs into build/grader/progs/"
	@echo "make labN-qemu     boot lab N with the serial console on this terminal (Ctrl-A x quits)"
	@echo "                   CPUS=K boots K CPUs (default: $(if $(smp_labs),2 for lab $(smp_labs)$(comma) 1 for the others,1))"
	@echo "make labN-qemu-gdb boot lab N halted, waiting for 'make gdb' on port $(GDBPORT)"
	@echo "make labN-record   boot lab N like labN-qemu, recording the run (build/phaseN/rr/)"
	@echo "make labN-replay   replay that recording: the same serial output, no input"
	@echo "make labN-replay-gdb  replay it halted for 'make gdb' (reverse-stepi, reverse-continue, who-wrote)"
	@echo "make gdb           attach GDB to the kernel started by labN-qemu-gdb or labN-replay-gdb"
	@echo "make grade-labN    grade lab N;  make grade: every lab"
# INSTRUCTOR ONLY BEGIN
	@echo "make test          every test; ends with 'N passed, N failed'"
	@echo "make bench         system-call and context-switch costs of each phase"
	@echo "make fuzz          10^6 random system calls per phase (FUZZ_CALLS=, FUZZ_SEED=)"
	@echo "make handout       student starter trees under build/handout/ (DEPTH=full: build/handout-full/)"
	@echo "make gradescope    build/gradescope-labN.zip per lab (LAB=N: one; ALL=1: + build/gradescope.zip)"
# INSTRUCTOR ONLY END
	@echo "make clean         remove build/"

deps:
	@scripts/deps.sh qemu-system-x86_64 grub-mkrescue xorriso mformat nasm musl-gcc gdb gcc make python3

# ---- user programs ---------------------------------------------------------------
build/user/%: user/%.c $(wildcard user/include/*.h)
	@mkdir -p $(@D)
	@echo "  MUSLCC  $@"
	@$(MUSLCC) $(UCFLAGS) -o $@ $<

build/grader/progs/%: grader/progs/%.c $(wildcard user/include/*.h)
	@mkdir -p $(@D)
	@echo "  MUSLCC  $@"
	@$(MUSLCC) $(UCFLAGS) -o $@ $<

user: $(USER_PROGS)
progs: $(GRADER_PROGS)
.PHONY: user progs

# ---- one kernel per phase --------------------------------------------------------
# $(1) = phase number
define PHASE_RULES
B$(1) := build/phase$(1)
OBJS$(1) := $$(patsubst common/%.c,$$(B$(1))/common/%.o,$$(COMMON_C)) \
	$$(patsubst common/%.asm,$$(B$(1))/common/%.asm.o,$$(COMMON_ASM)) \
	$$(patsubst labs/phase$(1)/%.c,$$(B$(1))/lab/%.o,$$(wildcard labs/phase$(1)/*.c)) \
	$$(patsubst labs/phase$(1)/%.asm,$$(B$(1))/lab/%.asm.o,$$(wildcard labs/phase$(1)/*.asm))

$$(B$(1))/common/%.o: common/%.c
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	@$$(CC) $$(KCFLAGS) -Ilabs/phase$(1) -Icommon/include -c -o $$@ $$<
$$(B$(1))/lab/%.o: labs/phase$(1)/%.c
	@mkdir -p $$(@D)
	@echo "  CC      $$@"
	@$$(CC) $$(KCFLAGS) -Ilabs/phase$(1) -Icommon/include -c -o $$@ $$<
# Every nasm object depends on every .inc it could include: nasm 2.16's -MD runs the
# preprocessor alone, which cannot evaluate trapframe.inc's `%if TF_... != ...` checks,
# and then lists no include at all (a student's edit to gsswap.inc rebuilt nothing).
INC$(1) := $$(wildcard common/include/*.inc labs/phase$(1)/*.inc) $$(B$(1))/include/asm-offsets.inc
$$(B$(1))/common/%.asm.o: common/%.asm $$(INC$(1))
	@mkdir -p $$(@D)
	@echo "  NASM    $$@"
	@$$(NASM) -f elf64 -g -F dwarf -Icommon/include/ -Ilabs/phase$(1)/ -I$$(B$(1))/include/ -o $$@ $$<
$$(B$(1))/lab/%.asm.o: labs/phase$(1)/%.asm $$(INC$(1))
	@mkdir -p $$(@D)
	@echo "  NASM    $$@"
	@$$(NASM) -f elf64 -g -F dwarf -Icommon/include/ -Ilabs/phase$(1)/ -I$$(B$(1))/include/ -o $$@ $$<

# The nasm offsets, as Linux's asm-offsets: compile common/asm-offsets.c to assembly
# and turn each marker line `.ascii "->NAME value"` into `NAME equ value`. The .d file
# (-MT) makes it depend on every header the structs come from.
$$(B$(1))/include/asm-offsets.inc: common/asm-offsets.c
	@mkdir -p $$(@D)
	@echo "  GEN     $$@"
	@$$(CC) $$(KCFLAGS) -Ilabs/phase$(1) -Icommon/include -MT $$@ -MF $$(B$(1))/include/asm-offsets.d \
		-S -o $$(B$(1))/include/asm-offsets.s $$<
	@{ echo "; Generated from common/asm-offsets.c by the Makefile: do not edit."; \
	  sed -n 's/^[[:space:]]*\.ascii[[:space:]]*"->\([A-Za-z0-9_]*\) \([0-9]*\)"$$$$/\1 equ \2/p' \
		$$(B$(1))/include/asm-offsets.s; } > $$@.tmp
	@mv $$@.tmp $$@

$$(B$(1))/kernel.elf: $$(OBJS$(1)) common/kernel.ld
	@echo "  LD      $$@"
	@$$(LD) $$(KLDFLAGS) -o $$@ $$(OBJS$(1))

# Re-staged every time (INITRD_EXTRA may change); rewritten only when different.
$$(B$(1))/initrd.tar: $$(USER_PROGS) FORCE
	@scripts/mkinitrd.sh $$@ build/user $$(INITRD_EXTRA)

$$(B$(1))/boot.iso: $$(B$(1))/kernel.elf $$(B$(1))/initrd.tar
	@scripts/mkiso.sh $$@ $(1) $$(B$(1))/kernel.elf $$(B$(1))/initrd.tar

lab$(1): $$(B$(1))/boot.iso

# QEMU_LOG=cpu_reset,int also logs every exception and interrupt (QEMU_STATUS above).
lab$(1)-qemu:
	@$$(MAKE) --no-print-directory deps
	@$$(MAKE) --no-print-directory lab$(1)
	@echo "booting lab $(1) (TCG); Ctrl-A x quits QEMU"
	$$(QEMU) $$(call QEMU_FLAGS,$(1)) -cdrom $$(B$(1))/boot.iso \
		-d $$(QEMU_LOG) -D $$(B$(1))/qemu.log; \
		$$(call QEMU_STATUS,$(1))

lab$(1)-qemu-gdb:
	@$$(MAKE) --no-print-directory deps
	@$$(MAKE) --no-print-directory lab$(1)
	@scripts/gdbinit.sh $(1) $(GDBPORT) > build/gdbinit
	@echo "lab $(1) halted; in another terminal: make gdb   (port $(GDBPORT))"
	$$(QEMU) $$(call QEMU_FLAGS,$(1)) -cdrom $$(B$(1))/boot.iso -gdb tcp::$(GDBPORT) -S \
		-d $$(QEMU_LOG) -D $$(B$(1))/qemu.log; \
		$$(call QEMU_STATUS,$(1))

grade-lab$(1):
	@$$(MAKE) --no-print-directory deps
	$$(PYTHON) grader/grade.py --lab $(1)

# Record/replay (scripts/rr.py): the recording, its snapshots and copies of the ISO and
# kernel.elf go to $$(B$(1))/rr/. One CPU unless CPUS= says otherwise (QEMU 7.2 records
# only one: rr.py says so).
.PHONY: lab$(1)-record lab$(1)-replay lab$(1)-replay-gdb
lab$(1)-record:
	@$$(MAKE) --no-print-directory deps
	@scripts/deps.sh qemu-img
	@$$(MAKE) --no-print-directory lab$(1)
	@echo "recording lab $(1) (TCG, -icount rr=record); Ctrl-A x ends, Ctrl-A s takes a snapshot"
	$$(PYTHON) scripts/rr.py record --phase $(1) --cpus $$(or $$(CPUS),1)

lab$(1)-replay:
	$$(PYTHON) scripts/rr.py replay --phase $(1)

lab$(1)-replay-gdb:
	$$(PYTHON) scripts/rr.py replay --phase $(1) --gdb $(GDBPORT)

-include $$(shell find $$(B$(1)) -name '*.d' 2>/dev/null)
endef
$(foreach n,$(PHASES),$(eval $(call PHASE_RULES,$(n))))

FORCE:

gdb:
	@test -f build/gdbinit || { echo "run 'make labN-qemu-gdb' in another terminal first"; exit 1; }
	gdb -q -x build/gdbinit

# INSTRUCTOR ONLY BEGIN
grade:
	@$(MAKE) --no-print-directory deps
	$(PYTHON) grader/grade.py --all
# INSTRUCTOR ONLY END
# STARTER ONLY BEGIN
# grade: $(foreach n,$(PHASES),grade-lab$(n))
# STARTER ONLY END

# INSTRUCTOR ONLY BEGIN
test:
	@$(MAKE) --no-print-directory deps
	@tests/run.sh

bench:
	@$(MAKE) --no-print-directory deps
	@$(PYTHON) scripts/bench.py

# The system-call fuzzer (user/fuzz.c): the kernel must not panic, hang or lose a frame.
FUZZ_CALLS ?= 1000000
FUZZ_SEED ?= 1
fuzz:
	@$(MAKE) --no-print-directory deps
	@$(PYTHON) scripts/fuzz.py --calls $(FUZZ_CALLS) --seed $(FUZZ_SEED)

# DEPTH=full: the course-length starters (larger exercises) in build/handout-full/.
handout:
	$(PYTHON) scripts/handout.py $(if $(DEPTH),--depth $(DEPTH))

# One autograder per lab (LAB=N: that lab's only); ALL=1: also the one that grades every
# lab and adds the scores up. HIDDEN=DIR adds hidden tests (checked on the reference first).
gradescope:
	@for n in $(if $(LAB),$(LAB),$(PHASES)); do \
		grader/gradescope/make_zip.sh build/gradescope-lab$$n.zip $$n || exit 1; done
	@$(if $(ALL),grader/gradescope/make_zip.sh build/gradescope.zip,true)
# INSTRUCTOR ONLY END

clean:
	rm -rf build
