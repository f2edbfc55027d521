#!/usr/bin/env python3
"""qemu — the one definition of the QEMU command line that boots a stacklabs kernel.

Every QEMU of the kit comes from here: the grader's (machine.Machine), the kernel,
handout, starter and GDB suites, the benchmark, and the Makefile's labN-qemu targets,
which read their flags from this file at make time:

    python3 grader/qemu.py --make [--accel tcg|kvm] [--cpus N]
        prints the flags `make labN-qemu` uses (interactive: no -icount)

Graded and tested runs are TCG with -icount shift=0,sleep=off (one virtual ns per
instruction, so a run repeats); interactive runs are plain TCG.  The serial port is
QEMU's stdio.  Python 3 standard library only; nothing happens on import.
"""

import os
import shlex
import sys

# The machine every phase boots on, interactive or graded.
MACHINE = [
    "-cpu", "qemu64",
    "-m", "128M",
    "-no-reboot",
    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    # Straight to the CD: SeaBIOS's default order first times out on floppy and disk,
    # which under -icount costs 6 s of busy-waiting per boot.
    "-boot", "order=d",
]

# A deterministic clock: one virtual ns per guest instruction, no sleeping when idle.
ICOUNT = ["-icount", "shift=0,sleep=off"]

# No window, no QEMU monitor: the serial port on stdin/stdout is the whole machine.
HEADLESS = ["-display", "none", "-monitor", "none", "-serial", "stdio"]

# What `make labN-qemu` adds: the serial port and QEMU's monitor (Ctrl-A c) on the tty.
TTY = ["-display", "none", "-serial", "mon:stdio"]

# The most CPUs a test or a student may ask for (`make labN-qemu CPUS=N`: N <= 8).
MAX_CPUS = 8


def flags(accel="tcg", cpus=1, icount=True, headless=True):
    """The QEMU flags, without the binary and the ISO.  accel: tcg (anything graded
    or tested) or kvm (interactive opt-in); cpus: -smp N (1..MAX_CPUS)."""
    if not 1 <= int(cpus) <= MAX_CPUS:
        raise ValueError("cpus must be 1..%d, not %s" % (MAX_CPUS, cpus))
    machine = ["-machine", "pc,accel=%s" % accel]
    if int(cpus) > 1 and accel == "tcg":
        # Several CPUs run on multi-threaded TCG, never under -icount: QEMU 7.2 with
        # -icount runs the vCPUs round-robin on one thread and, measured here, lets the
        # second run only when the first halts (a 900 ms system-call loop on CPU 0 never
        # let CPU 1 take one timer interrupt or wake-up IPI; again on 2026-11-30 with
        # shift 0, 3, 7 and auto; Zephyr saw the same, zephyrproject-rtos/zephyr#26868),
        # so two processes are never in the kernel at once. The two-CPU tests rest on
        # invariants checked on every call (registers, entry stack, TSS.rsp0), never on
        # where a tick lands.
        machine = ["-machine", "pc", "-accel", "tcg,thread=multi"]
        icount = False
    f = machine + MACHINE + ["-smp", str(int(cpus))]
    if icount:
        f += ICOUNT
    return f + (HEADLESS if headless else TTY)


def binary():
    """The QEMU program as a list: STACKLABS_QEMU replaces it (the self-test points it
    at a fake kernel)."""
    return shlex.split(os.environ.get("STACKLABS_QEMU", "qemu-system-x86_64"))


def argv(iso, cpus=1, icount=True, accel="tcg"):
    """The whole command line that boots iso headless, serial on stdio."""
    return binary() + flags(accel, cpus, icount) + ["-cdrom", iso]


def main(args):
    import argparse
    ap = argparse.ArgumentParser(description="print stacklabs' QEMU flags")
    ap.add_argument("--make", action="store_true", help="the flags of `make labN-qemu`")
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--icount", action="store_true", help="add -icount (graded runs)")
    a = ap.parse_args(args)
    print(" ".join(shlex.quote(x) for x in flags(a.accel, a.cpus, a.icount or not a.make,
                                                  headless=not a.make)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
