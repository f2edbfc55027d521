#!/usr/bin/env python3
"""test_kernel.py — the kernel and its monitor, phase by phase, through the same GRUB
ISO that `make labN-qemu` boots. The isolation matrix itself is the grader's self-test;
this suite checks the monitor contract (docs/design.md), the [k] lines, QEMU exit codes,
and phase 1's visible flaw. One line per check: "TEST kernel-pN-<what>: ok|FAIL ...".
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402  (the grader's QEMU driver: one driver for the whole kit)

failures = 0


def report(name, ok, why=""):
    global failures
    print("TEST %s: %s" % (name, "ok" if ok else "FAIL " + why), flush=True)
    failures += not ok


def check(name, lines, pattern, why=None):
    """ok iff some line matches the regex pattern."""
    hit = any(re.search(pattern, ln) for ln in lines)
    report(name, hit, why or "no line matching /%s/ in: %s" % (pattern, lines[-8:]))
    return hit


USER_TOP = 0x00007ffffffff000
MMAP_BASE = 0x0000100000000000     # where the kernel's mmap(NULL) starts looking
BSS_LEN = 2 << 20
PT_LOAD, PT_GNU_STACK = 1, 0x6474e551


def with_extra_load(src, dst, vaddr, memsz):
    """Copy the static ELF src to dst with its PT_GNU_STACK header turned into a
    PT_LOAD of memsz zero bytes (read/write) at vaddr."""
    with open(src, "rb") as f:
        elf = bytearray(f.read())
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    for i in range(phnum):
        at = phoff + 56 * i
        if struct.unpack_from("<I", elf, at)[0] == PT_GNU_STACK:
            struct.pack_into("<IIQQQQQQ", elf, at, PT_LOAD, 6, 0, vaddr, vaddr, 0, memsz, 4096)
            break
    else:
        raise RuntimeError("%s has no PT_GNU_STACK header to reuse" % src)
    with open(dst, "wb") as f:
        f.write(elf)
    os.chmod(dst, 0o755)


def build(phase):
    """The phase's ISO with the grader's programs and two ELFs made here: t_mm with
    a 2 MiB bss-like segment at the mmap base, hello with a segment in the stack."""
    progs = os.path.join(ROOT, "build", "grader", "progs")
    names = [f[:-2] for f in os.listdir(os.path.join(ROOT, "grader", "progs")) if f.endswith(".c")]
    targets = ["build/grader/progs/" + n for n in names] + ["build/user/hello"]
    r = subprocess.run(["make", "-s", "-C", ROOT] + targets,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    extra = os.path.join(ROOT, "build", "test-kernel", "initrd-extra")
    if r.returncode == 0:
        shutil.rmtree(extra, ignore_errors=True)
        shutil.copytree(progs, extra)
        with_extra_load(os.path.join(progs, "t_mm"), os.path.join(extra, "t_mm_bss"),
                        MMAP_BASE, BSS_LEN)
        with_extra_load(os.path.join(ROOT, "build", "user", "hello"),
                        os.path.join(extra, "hello_in_stack"), USER_TOP - 0x10000, 0x10000)
        r = subprocess.run([sys.executable, os.path.join(ROOT, "grader", "mkbad.py"), extra,
                            os.path.join(ROOT, "build", "user", "hello")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode == 0:
        r = subprocess.run(["make", "-s", "-C", ROOT, "lab%d" % phase, "INITRD_EXTRA=" + extra],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report("kernel-p%d-build" % phase, r.returncode == 0, r.stdout[-500:])
    return r.returncode == 0


def monitor_checks(p, m):
    """The monitor contract, on any phase."""
    t = "kernel-p%d-" % p
    lines = m.cmd("help")
    for c in ("help", "ls", "run", "ps", "kstacks", "set preempt", "mem", "ticks", "halt"):
        check(t + "help-" + c.replace(" ", "-"), lines, r"^\s+" + re.escape(c))
    lines = m.cmd("ls")
    for prog in ("hello", "syscalls", "bench", "sleeper", "t_leak"):
        check(t + "ls-" + prog, lines, r"^\s+%s\s+\d+$" % prog)
    lines = m.cmd("run hello world")
    check(t + "hello", lines, r"^Hello, world! \(pid \d+, argc 2\)$")
    spawn = [ln for ln in lines if ln.startswith("[k] spawn")]
    pid = re.search(r"pid=(\d+)", spawn[0]).group(1) if spawn else "?"
    check(t + "hello-exit", lines, r"^\[k\] exit pid=%s status=0( |$)" % pid)
    check(t + "unknown", m.cmd("frobnicate"), r"^unknown command: frobnicate \(try help\)$")
    check(t + "missing-prog", m.cmd("run nosuchprog"),
          r'^\[k\] load-error prog=nosuchprog reason="not found"$')
    check(t + "ps", m.cmd("ps"), r"^\s+0\s+running\s+monitor$")
    # LF alone and CRLF also end a line (cmd() sends CR).
    for name, end in (("lf", b"\n"), ("crlf", b"\r\n")):
        m.proc.stdin.write(b"ps" + end)
        m.proc.stdin.flush()
        check(t + "line-end-" + name, gradelib._lines(m._until_prompt("after ps", 10)),
              r"^\s+0\s+running\s+monitor$")
    check(t + "preempt-on", m.cmd("set preempt on"), r"^\[k\] preempt on$")
    check(t + "preempt-off", m.cmd("set preempt off"), r"^\[k\] preempt off$")
    check(t + "set-usage", m.cmd("set preempt maybe"), r"^usage: set preempt on\|off$")
    want = {1: r"one global kernel stack", 2: r"arena 0x", 3: r"IST1 \(#DF\)"}[p]
    check(t + "kstacks", m.cmd("kstacks"), want)
    syscalls_check(p, m)
    fault_checks(p, m)


def syscalls_check(p, m):
    """user/syscalls must run exactly the checks of tests/fixtures/syscalls-checks.txt,
    each ok, and exit 0: a missing, extra or failing check fails (not a floor)."""
    t = "kernel-p%d-" % p
    with open(os.path.join(ROOT, "tests", "fixtures", "syscalls-checks.txt")) as f:
        want = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    lines = m.cmd("run syscalls", timeout=30)
    got = {}
    for ln in lines:
        mo = re.match(r"^CHECK (\S+): (ok|FAIL.*)$", ln)
        if mo:
            got[mo.group(1)] = mo.group(2)
    missing = [n for n in want if n not in got]
    extra = sorted(set(got) - set(want))
    failed = ["%s: %s" % (n, v) for n, v in got.items() if v != "ok"]
    exits = [ln for ln in lines if re.match(r"^\[k\] exit pid=\d+ status=0( |$)", ln)]
    report(t + "syscalls-set", not missing and not extra and not failed and len(exits) == 1,
           "missing %s extra %s failed %s exit %s" % (missing[:5], extra[:5], failed[:5], exits))


# t_fault's kinds the grader's ring3-fault test does not run, with the reason each
# must be killed for.
EXTRA_FAULTS = {"stack-exec": "#PF"}


def fault_checks(p, m):
    """A ret placed in a stack buffer must fault (the stack is mapped NX): killed with
    #PF at the buffer's address (rip == cr2), after t_fault said it was about to."""
    t = "kernel-p%d-" % p
    for kind, reason in EXTRA_FAULTS.items():
        lines = m.cmd("run t_fault 1 " + kind)
        spawn = [re.search(r"pid=(\d+)", ln).group(1) for ln in lines if ln.startswith("[k] spawn")]
        pid = spawn[0] if spawn else "?"
        kill = [ln for ln in lines if re.match(
            r"^\[k\] kill pid=%s reason=%s rip=(0x[0-9a-f]+) cr2=\1( |$)" % (pid, re.escape(reason)), ln)]
        ok = "t_fault: about to %s" % kind in lines and bool(kill) and \
            not any(ln.startswith("t_fault: survived") for ln in lines)
        report(t + "fault-" + kind, ok, "got %s" % lines[-6:])


def phase_checks(p, m):
    """What each phase's design makes visible."""
    t = "kernel-p%d-" % p
    if p == 1:
        # Two sleepers meet in the kernel on the shared stack: the kernel must say so,
        # by its own detector (the pid stamp in tf.err), and kill the one whose frame
        # was overwritten for exactly that reason.
        lines = m.cmd("run sleeper 50 3 & sleeper 50 3", timeout=20)
        det = [mo for ln in lines
               for mo in [re.match(r"^\[k\] kstack-clobbered pid=(\d+) frame-owner=(\d+)$", ln)] if mo]
        victim = det[0].group(1) if det else "?"
        check(t + "shared-stack-flaw-reported", lines,
              r"^\[k\] kill pid=%s reason=kstack-clobbered " % victim,
              "no kstack-clobbered detection and kill: %s" % lines[-6:])
    else:
        lines = m.cmd("run sleeper 50 3 & sleeper 50 3", timeout=20)
        exits = [ln for ln in lines if re.match(r"^\[k\] exit pid=\d+ status=0( |$)", ln)]
        report(t + "two-sleepers-intact", len(exits) == 2, "got %s" % lines[-8:])
    # Two processes alive at once (both spawned before either runs): one shared top in
    # phase 1, a stack each from phase 2 on. Run one after the other they would get
    # the same top in phase 2 too (the lowest free slot is reused after each reap).
    lines = m.cmd("run t_kinfo 1 once & t_kinfo 1 once")
    tops = [mo.group(1) for ln in lines for mo in [re.search(r" top=(0x[0-9a-f]+)", ln)] if mo]
    if p == 1:
        report(t + "same-top-concurrent", len(tops) == 2 and tops[0] == tops[1], "tops %s" % tops)
    else:
        report(t + "distinct-top-concurrent", len(tops) == 2 and tops[0] != tops[1],
               "tops %s" % tops)
    if p == 3:
        lines = m.cmd("run t_kinfo 1 once")
        mo = [re.search(r" base=(0x[0-9a-f]+) ", ln) for ln in lines]
        base = [int(x.group(1), 16) for x in mo if x]
        report(t + "guarded-range", bool(base) and base[0] >= 0xffffff0000000000,
               "base %s" % [hex(b) for b in base])


def run_checks(m, cmd, t, name, ncheck):
    """Run a program that prints CHECK lines: ok iff exactly ncheck of them, all ok."""
    lines = m.cmd(cmd, timeout=60)
    checks = [ln for ln in lines if ln.startswith("CHECK ")]
    bad = [ln for ln in checks if not ln.endswith(": ok")]
    report(t + name, len(checks) == ncheck and not bad,
           "%d checks (want %d), failing: %s; last lines %s" % (len(checks), ncheck, bad[:4], lines[-4:]))


def killed_pf_at_page(m, cmd, t, name, about):
    lines = m.cmd(cmd)
    kill = [ln for ln in lines if re.match(r"^\[k\] kill pid=\d+ reason=#PF rip=0x[0-9a-f]+ "
                                           r"cr2=0x[0-9a-f]+000( |$)", ln)]
    report(t + name, ("t_mm: about to " + about) in lines and bool(kill) and
           not any("survived" in ln for ln in lines), "got %s" % lines[-4:])


def memory_checks(p, m):
    """Issue 10's memory items: the region bookkeeping, protections and mprotect
    (t_mm check), PROT_NONE and read-only pages fault, an image segment at the mmap
    base is avoided, one in the stack is refused, and no call keeps interrupts off
    for more than a millisecond (the longest gap between two 10 ms timer ticks)."""
    t = "kernel-p%d-" % p
    run_checks(m, "run t_mm check", t, "mm-checks", 27)
    killed_pf_at_page(m, "run t_mm protnone-read", t, "mm-protnone-read", "protnone-read")
    killed_pf_at_page(m, "run t_mm readonly-write", t, "mm-readonly-write", "readonly-write")
    run_checks(m, "run t_mm_bss bss %#x %#x" % (MMAP_BASE, BSS_LEN), t, "mm-bss-at-mmap-base", 2)
    check(t + "mm-segment-in-stack", m.cmd("run hello_in_stack"),
          r'^\[k\] load-error prog=hello_in_stack reason="segment overlaps the user stack"$')
    m.cmd("ticks")
    lines = m.cmd("run sleeper 20 10 & t_mm worst", timeout=120)
    done = any(ln.startswith("t_mm: worst done") for ln in lines)
    gap = [int(mo.group(1)) for ln in m.cmd("ticks") for mo in [re.search(r"max-tick-gap us=(\d+)", ln)] if mo]
    report(t + "max-tick-gap", done and gap and gap[0] <= TICK_US + 1000,
           "worst done %s, longest gap between ticks %s us (a tick is %d us)" % (done, gap, TICK_US))


TICK_US = 10000     # 100 Hz


def free_frames(m):
    """free + heap frames from `mem` (the heap keeps what it took), or None."""
    for ln in m.cmd("mem"):
        mo = re.search(r"frames free=(\d+) heap=(\d+) total=(\d+)", ln)
        if mo:
            return int(mo.group(1)) + int(mo.group(2))
    return None


# Every kind of program the suites run, as monitor lines (NONCE 1); the phases where
# each may run without breaking the kernel by design (a deep t_burn overflows the
# kernel stack before phase 3).
FRAME_RUNS = [
    ("hello", "run hello world", "123"),
    ("syscalls", "run syscalls", "123"),
    ("sleepers", "run sleeper 20 3 & sleeper 20 3", "123"),
    ("t_sleepers", "run t_sleepers 1 3 20 & t_sleepers 1 3 20", "123"),
    ("t_kinfo", "run t_kinfo 1 live & t_kinfo 1 live & t_kinfo 1 once", "123"),
    ("t_leak", "run t_leak 1 scribble & t_leak 1 peek", "123"),
    ("t_burn", "run t_burn 1 8", "123"),
    ("t_burn-guard", "run t_burn 1 200", "3"),
    ("t_spin", "run t_spin 1 30 & t_spin 1 30", "123"),
    ("t_fault", " & ".join(["run t_fault 1 null-read"] + ["t_fault 1 " + k for k in (
        "null-write", "ud2", "div0", "priv", "kernel-read", "noncanon", "text-write", "stack-exec")]),
     "123"),
    ("t_mm", "run t_mm check & t_mm protnone-read & t_mm readonly-write & t_mm worst", "123"),
    ("t_mm_bss", "run t_mm_bss bss %#x %#x" % (MMAP_BASE, BSS_LEN), "123"),
    ("load-errors", "run hello_in_stack & nosuchprog", "123"),
    ("bench", "run bench null 1000 & bench yield 1000", "23"),
    ("bench-alone", "run bench yield 1000", "1"),     # phase 1: one yielder at a time
]


def frame_checks(p, m):
    """Every frame a process held is free again once it is reaped: `mem` after each
    kind of program equals `mem` before it (free + heap; a first run warms the heap)."""
    t = "kernel-p%d-frames-" % p
    m.cmd("run hello warm-up")
    for name, cmd, phases in FRAME_RUNS:
        if str(p) not in phases:
            continue
        before = free_frames(m)
        lines = m.cmd(cmd, timeout=60)
        after = free_frames(m)
        report(t + name, before is not None and before == after,
               "free+heap frames %s before, %s after `%s` (%s)" % (before, after, cmd, lines[-3:]))
    # The grader's malformed ELFs (grader/mkbad.py): each refused, nothing lost.
    bad = sorted(f for f in os.listdir(os.path.join(ROOT, "build", "test-kernel", "initrd-extra"))
                 if f.startswith("bad_"))
    before = free_frames(m)
    refused = [b for b in bad if any(ln.startswith("[k] load-error prog=%s " % b)
                                     for ln in m.cmd("run " + b))]
    after = free_frames(m)
    report(t + "bad-elves", bad and refused == bad and before == after,
           "%d of %d refused; free+heap frames %s before, %s after" % (len(refused), len(bad), before, after))


def iretq_address(kernel, func):
    """Address of the first iretq in func, from objdump."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", kernel], stdout=subprocess.PIPE,
                         text=True).stdout
    inside = False
    for ln in out.splitlines():
        if ln.endswith("<%s>:" % func):
            inside = True
        elif inside and re.match(r"^[0-9a-f]+ <", ln):
            break
        elif inside and "iretq" in ln:
            return int(ln.split(":")[0], 16)
    return None


def iret_check(p, iso, log):
    """The first entry to ring 3 (user_enter) runs iretq on the process's kernel stack,
    never on its trap frame inside proc_table, where an NMI or exception taken there
    (no stack switch in ring 0 before phase 3) would overwrite struct proc. GDB stops
    at that iretq during `run hello` and reads rsp."""
    name = "kernel-p%d-iretq-on-kstack" % p
    kernel = os.path.join(os.path.dirname(iso), "kernel.elf")
    addr = iretq_address(kernel, "user_enter")
    if addr is None:
        report(name, False, "no iretq in user_enter")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    orig = gradelib.qemu_argv
    gradelib.qemu_argv = lambda iso_: orig(iso_) + ["-gdb", "tcp:127.0.0.1:%d" % port]
    m = gradelib.Machine(iso, p, log)
    gdb = None
    try:
        m.start()
        m.boot()
        gdb = subprocess.Popen(
            ["gdb", "-q", "-nx", "-batch", kernel, "-ex", "target remote 127.0.0.1:%d" % port,
             "-ex", "break *0x%x" % addr, "-ex", "continue",
             "-ex", "printf \"rsp=%lx\\n\", $rsp",
             "-ex", "printf \"table=%lx size=%lx\\n\", (unsigned long)&proc_table, sizeof(proc_table)",
             "-ex", "printf \"kstack=%lx-%lx\\n\", current->kstack_base, current->kstack_top",
             "-ex", "delete", "-ex", "detach"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)   # attach, set the breakpoint, continue
        m.cmd("run hello", timeout=60)
        out = gdb.communicate(timeout=60)[0]
        mo = [re.search(r"rsp=([0-9a-f]+)", out), re.search(r"table=([0-9a-f]+) size=([0-9a-f]+)", out),
              re.search(r"kstack=([0-9a-f]+)-([0-9a-f]+)", out)]
        if not all(mo):
            report(name, False, "gdb said: %s" % out[-400:])
            return
        rsp = int(mo[0].group(1), 16)
        table, size = int(mo[1].group(1), 16), int(mo[1].group(2), 16)
        base, top = int(mo[2].group(1), 16), int(mo[2].group(2), 16)
        report(name, base <= rsp < top and not table <= rsp < table + size,
               "rsp 0x%x at iretq; kernel stack 0x%x-0x%x; proc_table 0x%x-0x%x" %
               (rsp, base, top, table, table + size))
    except (gradelib.Verdict, subprocess.TimeoutExpired) as v:
        report(name, False, "%s (log %s)" % (v, log))
    finally:
        gradelib.qemu_argv = orig
        if gdb and gdb.poll() is None:
            gdb.kill()
            gdb.wait()
        m.close()


def halt_check(p, m):
    m.proc.stdin.write(b"halt\r")
    m.proc.stdin.flush()
    try:
        rc = m.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    report("kernel-p%d-halt-exit-1" % p, rc == 1, "QEMU exit status %s" % rc)


def main():
    phases = [int(a) for a in sys.argv[1:]] or [1, 2, 3]
    for p in phases:
        if not build(p):
            continue
        log = os.path.join(ROOT, "build", "test-kernel", "phase%d.log" % p)
        m = gradelib.Machine(os.path.join(ROOT, "build", "phase%d" % p, "boot.iso"), p, log)
        try:
            m.start()
            lines = m.boot()
            check("kernel-p%d-boot-line" % p, lines, r"^\[k\] boot phase=%d mem=\d+KiB$" % p)
            check("kernel-p%d-ready" % p, lines, r"^\[k\] ready$")
            monitor_checks(p, m)
            phase_checks(p, m)
            memory_checks(p, m)
            frame_checks(p, m)
            halt_check(p, m)
        except gradelib.Verdict as v:
            report("kernel-p%d-monitor" % p, False, "%s: %s (log %s)" % (v.kind, v, log))
        finally:
            m.close()
        iret_check(p, os.path.join(ROOT, "build", "phase%d" % p, "boot.iso"),
                   os.path.join(ROOT, "build", "test-kernel", "phase%d-gdb.log" % p))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
