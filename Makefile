# stacklabs — build, boot, debug, grade and test the four lab kernels.
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
ACCEL ?= tcg
QEMU_COMMON := -machine pc,accel=$(ACCEL) -cpu qemu64 -m 128M -no-reboot -boot order=d \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04
QEMU_TTY := -display none -serial mon:stdio
# CPUS=N (1..8): how many CPUs labN-qemu boots; default 1 for labs 1-3, 2 for lab 4.
# CPUS=2 on labs 1-3 shows why their entry code is not "multi-core ready".
CPUS ?=
smp_of = -smp $(if $(CPUS),$(CPUS),$(if $(filter 4,$(1)),2,1))
GDBPORT := $(shell expr `id -u` % 5000 + 25000)

COMMON_C := $(wildcard common/*.c)
COMMON_ASM := $(wildcard common/*.asm)
USER_PROGS := $(patsubst user/%.c,build/user/%,$(wildcard user/*.c))
GRADER_PROGS := $(patsubst grader/progs/%.c,build/grader/progs/%,$(wildcard grader/progs/*.c))

.PHONY: all help deps test grade bench clean gdb handout gradescope \
	$(foreach n,$(PHASES),lab$(n) lab$(n)-qemu lab$(n)-qemu-gdb grade-lab$(n))

all: $(foreach n,$(PHASES),lab$(n))

help:
	@echo "make labN          build build/phaseN/{kernel.elf,initrd.tar,boot.iso} (N = 1, 2, 3, 4)"
	@echo "make progs         build the grader's test programs into build/grader/progs/"
	@echo "make labN-qemu     boot lab N with the serial console on this terminal (Ctrl-A x quits)"
	@echo "                   CPUS=K boots K CPUs (default: 1 for labs 1-3, 2 for lab 4)"
	@echo "make labN-qemu-gdb boot lab N halted, waiting for 'make gdb' on port $(GDBPORT)"
	@echo "make gdb           attach GDB to the kernel started by labN-qemu-gdb"
	@echo "make grade-labN    grade lab N;  make grade: every lab"
	@echo "make test          every test; ends with 'N passed, N failed'"
	@echo "make bench         system-call and context-switch costs of each phase"
	@echo "make handout       student starter trees under build/handout/"
	@echo "make gradescope    build/gradescope.zip (LAB=N: build/gradescope-labN.zip)"
	@echo "make clean         remove build/"

deps:
	@scripts/deps.sh qemu-system-x86_64 grub-mkrescue xorriso mformat nasm musl-gcc gcc make python3

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
$$(B$(1))/common/%.asm.o: common/%.asm
	@mkdir -p $$(@D)
	@echo "  NASM    $$@"
	@$$(NASM) -f elf64 -g -F dwarf -Icommon/include/ -Ilabs/phase$(1)/ -MD $$@.d -o $$@ $$<
$$(B$(1))/lab/%.asm.o: labs/phase$(1)/%.asm
	@mkdir -p $$(@D)
	@echo "  NASM    $$@"
	@$$(NASM) -f elf64 -g -F dwarf -Icommon/include/ -Ilabs/phase$(1)/ -MD $$@.d -o $$@ $$<

$$(B$(1))/kernel.elf: $$(OBJS$(1)) common/kernel.ld
	@echo "  LD      $$@"
	@$$(LD) $$(KLDFLAGS) -o $$@ $$(OBJS$(1))

# Re-staged every time (INITRD_EXTRA may change); rewritten only when different.
$$(B$(1))/initrd.tar: $$(USER_PROGS) FORCE
	@scripts/mkinitrd.sh $$@ build/user $$(INITRD_EXTRA)

$$(B$(1))/boot.iso: $$(B$(1))/kernel.elf $$(B$(1))/initrd.tar
	@scripts/mkiso.sh $$@ $(1) $$(B$(1))/kernel.elf $$(B$(1))/initrd.tar

lab$(1): $$(B$(1))/boot.iso

lab$(1)-qemu:
	@$$(MAKE) --no-print-directory deps
	@$$(MAKE) --no-print-directory lab$(1)
	@echo "booting lab $(1) (TCG); Ctrl-A x quits QEMU"
	$$(QEMU) $$(QEMU_COMMON) $$(QEMU_TTY) $$(call smp_of,$(1)) -cdrom $$(B$(1))/boot.iso; \
		s=$$$$?; [ $$$$s -eq 1 ] && exit 0 || exit $$$$s

lab$(1)-qemu-gdb:
	@$$(MAKE) --no-print-directory deps
	@$$(MAKE) --no-print-directory lab$(1)
	@scripts/gdbinit.sh $(1) $(GDBPORT) > build/gdbinit
	@echo "lab $(1) halted; in another terminal: make gdb   (port $(GDBPORT))"
	$$(QEMU) $$(QEMU_COMMON) $$(QEMU_TTY) $$(call smp_of,$(1)) -cdrom $$(B$(1))/boot.iso \
		-gdb tcp::$(GDBPORT) -S

grade-lab$(1):
	@$$(MAKE) --no-print-directory deps
	$$(PYTHON) grader/grade.py --lab $(1)

-include $$(shell find $$(B$(1)) -name '*.d' 2>/dev/null)
endef
$(foreach n,$(PHASES),$(eval $(call PHASE_RULES,$(n))))

FORCE:

gdb:
	@test -f build/gdbinit || { echo "run 'make labN-qemu-gdb' in another terminal first"; exit 1; }
	gdb -q -x build/gdbinit

grade:
	@$(MAKE) --no-print-directory deps
	$(PYTHON) grader/grade.py --all

test:
	@test -x tests/run.sh || { echo "make test is the kit's own suite (not in a starter): use make grade-labN"; exit 2; }
	@$(MAKE) --no-print-directory deps
	@tests/run.sh

bench:
	@$(MAKE) --no-print-directory deps
	@$(PYTHON) scripts/bench.py

handout:
	$(PYTHON) scripts/handout.py

# LAB=N: an autograder for lab N only; without it, one that grades every lab.
gradescope:
	grader/gradescope/make_zip.sh build/gradescope$(if $(LAB),-lab$(LAB)).zip $(LAB)

clean:
	rm -rf build
