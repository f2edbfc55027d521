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
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402  (the grader's QEMU driver: one driver for the whole kit)
import machine  # noqa: E402

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
    check(t + "ps", m.cmd("ps"), r"^\s+0\s+running\s+\d+\s+monitor$")
    # LF alone and CRLF also end a line (cmd() sends CR).
    for name, end in (("lf", b"\n"), ("crlf", b"\r\n")):
        m.proc.stdin.write(b"ps" + end)
        m.proc.stdin.flush()
        check(t + "line-end-" + name, machine._lines(m._until_prompt("after ps", 10)),
              r"^\s+0\s+running\s+\d+\s+monitor$")
    check(t + "preempt-on", m.cmd("set preempt on"), r"^\[k\] preempt on$")
    check(t + "preempt-off", m.cmd("set preempt off"), r"^\[k\] preempt off$")
    check(t + "set-usage", m.cmd("set preempt maybe"), r"^usage: set preempt on\|off$")
    want = {1: r"one global kernel stack", 2: r"arena 0x", 3: r"IST1 \(#DF\)",
            4: r"per-CPU area of CPU 0 at 0x"}[p]
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
        # was overwritten for exactly that reason. What the corruption does next depends
        # on the kernel's frame layout (the survivor may return with bad registers or
        # the kernel may panic on a clobbered return address): after a panic, the
        # checks go on on a fresh boot.
        try:
            lines = m.cmd("run sleeper 50 3 & sleeper 50 3", timeout=20)
        except gradelib.Verdict as v:
            if v.kind != "panic":
                raise
            lines = machine._lines(m.buf[m.pos:])	# the whole run, not only the dump
            qmp = m.qmp_path
            m.close()
            m.__init__(m.iso, m.lab, m.log_path + ".reboot")
            m.start(qmp=qmp)
            m.cap = 1 << 20
            m.boot()
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
    if p >= 3:
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
    # A sleeper beside it waits on timer ticks; on phase 1 two processes in the kernel
    # at once share one stack (its lesson), so there t_mm runs alone.
    lines = m.cmd("run t_mm worst" if p == 1 else "run sleeper 20 10 & t_mm worst", timeout=120)
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
    ("hello", "run hello world", "1234"),
    ("syscalls", "run syscalls", "1234"),
    # Two processes blocked in phase 1's kernel at once corrupt each other (its
    # lesson): there each blocking program runs alone.
    ("sleepers", "run sleeper 20 3 & sleeper 20 3", "234"),
    ("sleeper-alone", "run sleeper 20 3", "1"),
    ("t_sleepers", "run t_sleepers 1 3 20 & t_sleepers 1 3 20", "234"),
    ("t_sleepers-alone", "run t_sleepers 1 3 20", "1"),
    ("t_kinfo", "run t_kinfo 1 live & t_kinfo 1 live & t_kinfo 1 once", "234"),
    ("t_kinfo-alone", "run t_kinfo 1 live", "1"),
    ("t_leak", "run t_leak 1 scribble & t_leak 1 peek", "1234"),
    ("t_burn", "run t_burn 1 8", "1234"),
    ("t_burn-guard", "run t_burn 1 200", "34"),
    ("t_spin", "run t_spin 1 30 & t_spin 1 30", "1234"),
    ("t_fault", " & ".join(["run t_fault 1 null-read"] + ["t_fault 1 " + k for k in (
        "null-write", "ud2", "div0", "priv", "kernel-read", "noncanon", "text-write", "stack-exec")]),
     "1234"),
    ("t_mm", "run t_mm check & t_mm protnone-read & t_mm readonly-write & t_mm worst", "234"),
    ("t_mm-check-alone", "run t_mm check", "1"),
    ("t_mm-worst-alone", "run t_mm worst", "1"),
    ("t_mm_bss", "run t_mm_bss bss %#x %#x" % (MMAP_BASE, BSS_LEN), "1234"),
    ("load-errors", "run hello_in_stack & nosuchprog", "1234"),
    ("bench", "run bench null 1000 & bench yield 1000", "234"),
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
    m = gradelib.Machine(iso, p, log, extra=["-gdb", "tcp:127.0.0.1:%d" % port])
    gdb = None
    try:
        m.start()
        m.boot()
        gdb = subprocess.Popen(
            ["gdb", "-q", "-nx", "-batch", kernel, "-ex", "target remote 127.0.0.1:%d" % port,
             "-ex", "break *0x%x" % addr, "-ex", "continue",
             "-ex", "printf \"rsp=%lx\\n\", $rsp",
             "-ex", "printf \"table=%lx size=%lx\\n\", (unsigned long)&proc_table, sizeof(proc_table)",
             # current is this_cpu()->proc, a macro GDB cannot see; one CPU here: cpus[0].
             "-ex", "printf \"kstack=%lx-%lx\\n\", cpus[0].proc->kstack_base, cpus[0].proc->kstack_top",
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
        if gdb and gdb.poll() is None:
            gdb.kill()
            gdb.wait()
        m.close()


# Every character some reader takes for a line break (str.splitlines, a terminal's
# CR/BS/escape sequences): a forged line must not start after any of them.
READER_BREAKS = re.compile("\r\n|[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


def raw_cmd(m, line, timeout=30):
    """Type line; the serial text up to the next prompt, CRs and all."""
    m.commands.append(line)
    m.proc.stdin.write(line.encode() + b"\r")
    m.proc.stdin.flush()
    return m._until_prompt("after `%s`" % line, timeout)


def forge_check(p, m):
    """Issue 10 item 8: a ring-3 program writing `[k] ...` in every way it can
    (user/forge.c) produces no serial line that reads as a kernel line; the only
    [k] lines are the kernel's own spawn and exit lines."""
    t = "kernel-p%d-" % p
    # Phase 1 cannot have two processes blocked in the kernel at once: no partner.
    cmd = "run forge" if p == 1 else "run forge 300 & hello & sleeper 450 1"
    try:
        text = raw_cmd(m, cmd)
    except gradelib.Verdict as v:
        report(t + "forge-no-kernel-lines", False, "the reader took a forged line for the "
               "kernel's: %s %s" % (v.kind, v))
        raise
    # The kernel's exit lines end with frames=N (what the process held); compare
    # without it. A forged copy cannot pass: each pid's exit must appear exactly once.
    lines = [re.sub(r"^(\[k\] exit pid=\d+ status=\d+) frames=\d+$", r"\1", ln.strip(" \t"))
             for ln in READER_BREAKS.split(text)]
    spawned = dict(re.findall(r"^\[k\] spawn pid=(\d+) prog=(\w+)$", text.replace("\r", ""), re.M))
    genuine = set("[k] spawn pid=%s prog=%s" % kv for kv in spawned.items())
    genuine |= set("[k] exit pid=%s status=0" % pid for pid in spawned)
    forged = [ln for ln in lines if ln.startswith("[k]") and ln not in genuine]
    report(t + "forge-no-kernel-lines", not forged and "forge: done" in lines,
           "forged kernel lines: %s" % forged[:4] if forged else "no `forge: done`")
    exits = [ln for ln in lines if ln.startswith("[k] exit")]
    report(t + "forge-real-exits", len(spawned) == (1 if p == 1 else 3) and
           sorted(exits) == sorted("[k] exit pid=%s status=0" % pid for pid in spawned),
           "spawned %s, exit lines %s" % (spawned, exits))


def hmp(m, command):
    """One QEMU human-monitor command through the machine's QMP socket."""
    q = m._qmp()
    if q is None:
        raise gradelib.Verdict("exit", "no QMP socket to send `%s`" % command)
    with q:
        return q.call("human-monitor-command", **{"command-line": command})


def send_until(m, line, marker, timeout=30):
    """Type line, then read until marker appears in the output (or raise)."""
    m.commands.append(line)
    m.proc.stdin.write(line.encode() + b"\r")
    m.proc.stdin.flush()
    deadline = time.monotonic() + timeout
    while marker not in m.buf[m.pos:]:
        m._check_panic()
        if m.eof or time.monotonic() > deadline:
            raise gradelib.Verdict("timeout", "no `%s` after `%s`" % (marker, line))
        m._fill(min(deadline, time.monotonic() + 0.2))


NMI_LINE = re.compile(r"^\[k\] nmi cpu=0 rip=(0x[0-9a-f]+)$")
USER_END = 0x800000000000


def nmi_rips(lines):
    return [int(mo.group(1), 16) for ln in lines for mo in [NMI_LINE.match(ln)] if mo]


def nmi_checks(p, m):
    """Issue 10 item 3: an NMI is logged and returns wherever it lands (kernel idle,
    a ring-3 spin, a ring-3 getpid loop); it never kills or panics."""
    t = "kernel-p%d-nmi-" % p
    hmp(m, "nmi")
    deadline = time.monotonic() + 10
    while "[k] nmi" not in m.buf[m.pos:] and time.monotonic() < deadline and not m.eof:
        m._check_panic()
        m._fill(time.monotonic() + 0.2)
    lines = m.cmd("ps")
    rips = nmi_rips(lines)
    report(t + "idle", len(rips) == 1 and rips[0] >= 0xffffffff80000000 and
           any(re.match(r"^\s+0\s+running\s+\d+\s+monitor$", ln) for ln in lines),
           "want one [k] nmi in the kernel, then ps: %s" % lines[-6:])
    for mode in ("spin", "getpid"):
        send_until(m, "run busy %s 1500" % mode, "busy: ready")
        for _ in range(3):
            hmp(m, "nmi")
            time.sleep(0.1)
        lines = machine._lines(m._until_prompt("after busy %s" % mode, 60))
        rips = nmi_rips(lines)
        user = [r for r in rips if r < USER_END]
        ok = (len(rips) == 3 and any(re.match(r"^\[k\] exit pid=\d+ status=0(?: |$)", ln) for ln in lines)
              and any(ln.startswith("busy: done mode=" + mode) for ln in lines)
              and not any(ln.startswith("[k] kill") for ln in lines))
        if mode == "spin":
            ok = ok and bool(user)
        report(t + "ring3-" + mode, ok, "want 3 [k] nmi lines%s and a clean exit: %s"
               % (" (one in ring 3)" if mode == "spin" else "", lines[-8:]))


CR0_NE, CR0_AM = 1 << 5, 1 << 18
CR4_MCE, CR4_OSXMMEXCPT = 1 << 6, 1 << 10


def xfault_checks(p, m):
    """Issue 10 item 4: CR0.NE, CR0.AM and CR4.OSXMMEXCPT are set, and #MF, #AC and
    #XM kill the program with their own reason (user/xfault.c).  QEMU 7.2's TCG
    raises neither #AC (it does no alignment checks) nor #XM (SSE exceptions only set
    MXCSR flags): a program that survives those two is reported as a NOTE, not a pass;
    the CR bits and the host run of the same program stand in for them."""
    regs = hmp(m, "info registers")
    cr0 = int(re.search(r"CR0=([0-9a-f]+)", regs).group(1), 16)
    cr4 = int(re.search(r"CR4=([0-9a-f]+)", regs).group(1), 16)
    want = {"CR0.NE": cr0 & CR0_NE, "CR0.AM": cr0 & CR0_AM, "CR4.MCE": cr4 & CR4_MCE,
            "CR4.OSXMMEXCPT": cr4 & CR4_OSXMMEXCPT}
    report("kernel-p%d-cr-bits" % p, all(want.values()),
           "clear: %s (CR0=%x CR4=%x)" % ([k for k, v in want.items() if not v], cr0, cr4))
    for kind, reason in (("x87", "#MF"), ("ac", "#AC"), ("sse", "#XM")):
        lines = m.cmd("run xfault " + kind)
        killed = any(re.match(r"^\[k\] kill pid=\d+ reason=%s rip=0x[0-9a-f]+ cr2=0x0$"
                              % re.escape(reason), ln) for ln in lines)
        if kind != "x87" and "xfault: survived " + kind in lines:
            print("NOTE kernel-p%d-xfault-%s: QEMU's TCG did not raise %s" % (p, kind, reason))
            continue
        report("kernel-p%d-xfault-%s" % (p, kind), killed,
               "want [k] kill reason=%s: %s" % (reason, lines[-4:]))


def host_xfault_checks():
    """The same program natively: Linux kills it with SIGFPE, SIGBUS, SIGFPE."""
    import signal
    for kind, sig in (("x87", signal.SIGFPE), ("ac", signal.SIGBUS), ("sse", signal.SIGFPE)):
        r = subprocess.run([os.path.join(ROOT, "build", "user", "xfault"), kind],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        report("kernel-host-xfault-%s" % kind, r.returncode == -sig,
               "exit %s on the host, want signal %d" % (r.returncode, sig))


def mce_check(p, iso, qmp):
    """Issue 10 item 3: a machine check is a panic that says so (QEMU exits 3)."""
    log = os.path.join(ROOT, "build", "test-kernel", "phase%d-mce.log" % p)
    m = gradelib.Machine(iso, p, log)
    try:
        m.start(qmp=qmp)
        m.boot()
        try:
            hmp(m, "mce 0 0 0xb200000000000000 0x5 0 0")
        except (OSError, gradelib.QmpError):
            pass            # QEMU may be gone before it answers: the panic exits it
        deadline = time.monotonic() + 30
        while not m.eof and time.monotonic() < deadline:
            m._check_panic()
            m._fill(min(deadline, time.monotonic() + 0.2))
        m._check_panic()
        report("kernel-p%d-mce-panic" % p, False, "no [k] panic after #MC: %s" % m._tail(4))
    except gradelib.Verdict as v:
        got = " ".join(v.got or [])
        report("kernel-p%d-mce-panic" % p, v.kind == "panic" and
               re.search(r'^\[k\] panic msg="machine check \(#MC\)', got or "") is not None
               and m._exit_status() == 3,
               "%s: %s %s (log %s)" % (v.kind, v, (v.got or [])[:2], log))
    finally:
        m.close()


LINE_MAX = 1023     # characters the monitor takes in one line (common/monitor.c)
NUSER = 63          # process slots for programs: NPROC - 1 (the monitor)


def spawns(lines):
    return [ln for ln in lines if re.match(r"^\[k\] spawn ", ln)]


def monitor_line_checks(p, m):
    """Issue 10 item 7: the monitor never drops input silently.  Lines of any length:
    everything runs, or an error line says what was refused and nothing runs.  TAB is
    a blank, escape sequences are ignored, typed-ahead input is kept, and one `run`
    fills the process table (the program after that gets a [k] load-error)."""
    t = "kernel-p%d-line-" % p
    check(t + "tab", m.cmd("run\thello\tworld"), r"^Hello, world! \(pid \d+, argc 2\)$")
    m.proc.stdin.write(b"\x1b[A\x1b[Bps\x1b[D\x1bOC\r")
    m.proc.stdin.flush()
    lines = machine._lines(m._until_prompt("after ps with arrow keys", 10))
    report(t + "arrow-keys", any(re.match(r"^\s+0\s+running\s+\d+\s+monitor$", ln) for ln in lines)
           and not any("unknown command" in ln for ln in lines), "got %s" % lines[-4:])
    lines = m.cmd("run hello " + "x " * 700)
    report(t + "too-long-refused", not spawns(lines) and any(re.match(
        r"^error: line refused, nothing run: too long \(1410 characters, at most %d\)$"
        % LINE_MAX, ln) for ln in lines), "got %s" % lines[-4:])
    longest = "run hello"
    lines = m.cmd(longest + " " * (LINE_MAX - len(longest) - 5) + "world")
    check(t + "longest-runs", lines, r"^Hello, world! \(pid \d+, argc 2\)$")
    lines = m.cmd("run hello\x01")
    report(t + "control-refused", not spawns(lines) and any(
        ln == "error: line refused, nothing run: control character 0x01" for ln in lines),
        "got %s" % lines[-4:])
    lines = m.cmd("run hello & & hello")
    report(t + "empty-program-refused", not spawns(lines) and any(
        ln.startswith("error: run: empty program") for ln in lines), "got %s" % lines[-4:])
    # Typed ahead while a program runs: more than the kernel's 256-byte input ring.
    m.proc.stdin.write(b"run busy spin 300\r" + b"run hello" + b" " * 600 + b"typeahead\r")
    m.proc.stdin.flush()
    m._until_prompt("after busy spin", 30)
    check(t + "typeahead-kept", machine._lines(m._until_prompt("after the typed-ahead line", 30)),
          r"^Hello, typeahead! \(pid \d+, argc 2\)$")
    for n in (NUSER, NUSER + 1, 76):
        lines = m.cmd("run " + " & ".join(["hello"] * n), timeout=120)
        exits = [ln for ln in lines if re.match(r"^\[k\] exit pid=\d+ status=0(?: |$)", ln)]
        full = [ln for ln in lines if ln == '[k] load-error prog=hello reason="process table full"']
        report("%sfill-%d" % (t, n), len(spawns(lines)) == NUSER and len(exits) == NUSER and
               len(full) == n - NUSER, "%d programs: %d spawned, %d exited, %d load-errors"
               % (n, len(spawns(lines)), len(exits), len(full)))


def halt_check(p, m):
    m.proc.stdin.write(b"halt\r")
    m.proc.stdin.flush()
    try:
        rc = m.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    report("kernel-p%d-halt-exit-1" % p, rc == 1, "QEMU exit status %s" % rc)


def symbol_extents(kernel):
    """name -> (start, end) of every function in the kernel ELF: [start, start + size),
    or, for a function without a size (nasm's), up to the next symbol of any kind."""
    out = subprocess.run(["nm", "-n", "-S", "--defined-only", kernel], capture_output=True,
                         text=True).stdout.split("\n")
    syms = []
    for ln in out:
        f = ln.split()
        if len(f) == 4:
            syms.append((int(f[0], 16), int(f[1], 16), f[2], f[3]))
        elif len(f) == 3:
            syms.append((int(f[0], 16), 0, f[1], f[2]))
    ext = {}
    for i, (start, size, kind, name) in enumerate(syms):
        if kind not in "tT":
            continue
        nxt = [s[0] for s in syms[i + 1:] if s[0] > start]
        ext[name] = (start, start + size if size else (nxt[0] if nxt else start + 1))
    return ext


def backtrace_check(p, iso, log):
    """Phase 2 panics on a kernel stack overflow (its lesson): every frame its backtrace
    names must lie inside that function. A garbage return address (the overflow wrecks
    the rbp chain) must print as `?`, not as some asm function plus a large offset."""
    if p != 2:
        return
    t = "kernel-p%d-" % p
    m = gradelib.Machine(iso, p, log)
    try:
        m.start()
        m.boot()
        try:
            m.cmd("run t_sleepers 1 8 30 & t_burn 1 100 20", timeout=60)
            lines = []
        except gradelib.Verdict as v:
            lines = machine._lines(m.buf) if v.kind == "panic" else []
    finally:
        m.close()
    ext = symbol_extents(os.path.join(ROOT, "build", "phase%d" % p, "kernel.elf"))
    frames = [mo for ln in lines
              for mo in [re.match(r"^  0x([0-9a-f]{16}) (\S+)\+0x([0-9a-f]+)$", ln)] if mo]
    bad = []
    for mo in frames:
        addr, name, off = int(mo.group(1), 16), mo.group(2), int(mo.group(3), 16)
        start, end = ext.get(name, (None, None))
        if start is None or start + off != addr or not start <= addr < end:
            bad.append(mo.group(0).strip())
    report(t + "backtrace-names-only-its-own", bool(frames) and not bad,
           "no panic backtrace (log %s)" % log if not frames else
           "frames outside the function named: %s" % bad)


def smp_flaw_check(p, iso, log, runs=4):
    """Phases 1-3 on two CPUs: four t_smp in the kernel at once break the kernel (lab 4's
    lesson), and every run must say why in [k] lines, never end in a bare panic or a
    silent hang: at least one `[k] kstack-foreign` line (the entry's, or the panic's own
    via=panic when the entry's was lost with the stack it ran on), or in phase 1 the
    panic's `[k] kstack-shared` (two CPUs' processes on the one stack) or its own
    detector's `[k] kstack-clobbered`."""
    if p > 3:
        return
    t = "kernel-p%d-" % p
    bare = []
    for i in range(runs):
        m = gradelib.Machine(iso, p, "%s.%d" % (log, i), cpus=2, icount=False)
        try:
            m.start()
            m.boot()
            try:
                m.cmd("run " + " & ".join(["t_smp 1 sys 3000"] * 4), timeout=60)
            except gradelib.Verdict:
                pass
            text = m.buf
        finally:
            m.close()
        if not re.search(r"^\[k\] kstack-(foreign|shared|clobbered) pid=\d+ ", text, re.M):
            bare.append("run %d: %s" % (i, [ln for ln in text.splitlines() if ln.startswith("[k]")][-3:]))
    report(t + "smp-flaw-explained", not bare, "no [k] kstack-foreign, kstack-shared or kstack-clobbered line: %s" % bare)


def main():
    phases = [int(a) for a in sys.argv[1:]] or [1, 2, 3, 4]
    tmp = tempfile.mkdtemp(prefix="stacklabs-kernel-")
    subprocess.run(["make", "-s", "-C", ROOT, "build/user/xfault"])
    host_xfault_checks()
    for p in phases:
        if not build(p):
            continue
        log = os.path.join(ROOT, "build", "test-kernel", "phase%d.log" % p)
        iso = os.path.join(ROOT, "build", "phase%d" % p, "boot.iso")
        m = gradelib.Machine(iso, p, log)
        qmp = os.path.join(tmp, "p%d.qmp" % p)
        try:
            m.start(qmp=qmp)
            m.cap = 1 << 20
            lines = m.boot()
            check("kernel-p%d-boot-line" % p, lines, r"^\[k\] boot phase=%d cpus=1 mem=\d+KiB$" % p)
            check("kernel-p%d-ready" % p, lines, r"^\[k\] ready$")
            monitor_checks(p, m)
            monitor_line_checks(p, m)
            phase_checks(p, m)
            memory_checks(p, m)
            frame_checks(p, m)
            forge_check(p, m)
            nmi_checks(p, m)
            xfault_checks(p, m)
            halt_check(p, m)
        except gradelib.Verdict as v:
            report("kernel-p%d-monitor" % p, False, "%s: %s (log %s)" % (v.kind, v, log))
        finally:
            m.close()
        iret_check(p, os.path.join(ROOT, "build", "phase%d" % p, "boot.iso"),
                   os.path.join(ROOT, "build", "test-kernel", "phase%d-gdb.log" % p))
        mce_check(p, iso, qmp)
        backtrace_check(p, iso, os.path.join(ROOT, "build", "test-kernel", "phase%d-bt.log" % p))
        smp_flaw_check(p, iso, os.path.join(ROOT, "build", "test-kernel", "phase%d-smp.log" % p))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
