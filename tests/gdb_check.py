#!/usr/bin/env python3
"""gdb_check.py — scripted GDB sessions against one lab kernel, one TEST line per check.

    tests/gdb_check.py --phase N [--expect M] [--send LINE]...
    tests/gdb_check.py --handout handouts/gdb.md      (TEST gdb-handout, gdb-handout-drift)

Boots phase N's kernel halted in QEMU with the command `make labN-qemu-gdb` runs
(TCG, gdb stub on a free port; the ISO is a private copy of the kernel with the plain
initrd), drives the monitor over the serial port, and runs `gdb -batch` with the init
lines `make gdb` uses (scripts/gdbinit.sh) followed by gdb/walkthrough.gdb. GDB traces
every command (`set trace-commands on`), so the log reads as a transcript; the checks
read the values back from it. --expect M applies phase M's expectations (and its
monitor input) to phase N's kernel: that is how each check is shown to be able to fail.

Prints `TEST gdb-phaseN-<what>: ok` or `... FAIL <why>`; exits 1 if any failed.
Logs and the transcript go to build/gdbtest/phaseN/. Every QEMU started is killed
before exit; its pid is also appended to $STACKLABS_GDB_PIDS (default
build/gdbtest/qemu.pids) for the caller's trap.
Python 3 standard library only.
"""

import argparse
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GDBDIR = os.path.join(ROOT, "gdb")
OUT = os.path.join(ROOT, "build", "gdbtest")
USER_END = 0x0000800000000000
TF_SIZE = 176
KSTACK_SIZE = 16 * 1024
# Every QEMU started is recorded here too, for the caller's trap (tests/test_gdb.sh).
PIDFILE = os.environ.get("STACKLABS_GDB_PIDS", os.path.join(OUT, "qemu.pids"))
MARK_PORT = 65432  # GDBPORT for `make -n`, replaced by a free port
SESSION_TIMEOUT = 60.0 * float(os.environ.get("STACKLABS_TIMEOUT_SCALE", "1"))


# What the monitor is told at each prompt, by phase. Phase 1 runs the two processes
# one after the other: two live processes meeting in its kernel corrupt each other.
SENDS = {
    1: ["run hello", "run hello"],
    2: ["run hello & hello"],
    3: ["run hello & hello"],
    4: ["run hello & hello"],
}

failures = 0


def check(phase, what, fn, *args):
    """Run one check function (None = ok, else why) and report it; a bug in the
    check itself is a FAIL too, with its exception."""
    try:
        why = fn(*args)
    except Exception as e:
        why = "check.py: %s: %s" % (type(e).__name__, e)
    report(phase, what, why)


def report(phase, what, why=None):
    """Print one TEST line; why=None means ok."""
    global failures
    if why is None:
        print("TEST gdb-phase%d-%s: ok" % (phase, what), flush=True)
    else:
        failures += 1
        why = why.replace("\n", " | ")
        if len(why) > 600:
            why = why[:600] + "... (see build/gdbtest/phase%d/)" % phase
        print("TEST gdb-phase%d-%s: FAIL %s" % (phase, what, why), flush=True)


_make_qemu = {}


def qemu_argv(phase, port, iso):
    """The QEMU command `make labN-qemu-gdb` runs (read once with make -n, so this
    test boots exactly as a student does), for this port and the private ISO."""
    if phase not in _make_qemu:
        # CPUS=1: the walkthrough follows one CPU (lab 4 boots two by default; with
        # two, the other CPU's processes would hit the same breakpoints).
        r = subprocess.run(["make", "-n", "--no-print-directory", "lab%d-qemu-gdb" % phase,
                            "GDBPORT=%d" % MARK_PORT, "CPUS=1"], cwd=ROOT,
                           capture_output=True, text=True)
        lines = [l for l in r.stdout.splitlines() if l.startswith("qemu-system-x86_64 ")]
        if r.returncode != 0 or len(lines) != 1:
            raise RuntimeError("`make -n lab%d-qemu-gdb` shows no QEMU command: %s" %
                               (phase, (r.stderr or r.stdout).strip()[-300:]))
        argv = shlex.split(lines[0].split(";")[0])	# then comes the exit-status check
        if "-cdrom" not in argv or "-S" not in argv or "tcp::%d" % MARK_PORT not in argv:
            raise RuntimeError("unexpected QEMU command in `make -n lab%d-qemu-gdb`: %s" %
                               (phase, lines[0]))
        _make_qemu[phase] = argv
    argv = list(_make_qemu[phase])
    argv[argv.index("-cdrom") + 1] = iso
    argv[argv.index("tcp::%d" % MARK_PORT)] = "tcp::%d" % port
    return argv


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Qemu:
    """A halted QEMU with its gdb stub on a free port; the serial port is driven by
    a thread that types sends[i] at the i-th monitor prompt."""

    def __init__(self, phase, iso, sends):
        self.prompt = ("lab%d> " % phase).encode()
        self.sends = list(sends)
        self.serial = b""
        self.lock = threading.Lock()
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                qemu_argv(phase, self.port, iso),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            with open(PIDFILE, "a") as f:
                f.write("%d\n" % self.proc.pid)
            if self._wait_listening():
                break
            # Lost the port to someone else between bind and QEMU: try another.
            self.kill()
        threading.Thread(target=self._reader, daemon=True).start()

    def _wait_listening(self, timeout=10.0):
        """True once this QEMU (and nobody else) listens on self.port."""
        want = ":%04X " % self.port
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            try:
                fds = os.listdir("/proc/%d/fd" % self.proc.pid)
                mine = {os.readlink("/proc/%d/fd/%s" % (self.proc.pid, fd)) for fd in fds}
                for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                    with open(table) as f:
                        for line in f.readlines()[1:]:
                            col = line.split()
                            if want in col[1] + " " and col[3] == "0A" and \
                                    "socket:[%s]" % col[9] in mine:
                                return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _reader(self):
        prompts = 0
        while True:
            data = self.proc.stdout.read1(4096)
            if not data:
                return
            with self.lock:
                self.serial += data
                n = self.serial.count(self.prompt)
            while prompts < n:
                prompts += 1
                if self.sends:
                    try:
                        self.proc.stdin.write(self.sends.pop(0).encode() + b"\r")
                        self.proc.stdin.flush()
                    except OSError:
                        return

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def private_boot(phase, logdir):
    """A private copy of build/phaseN/kernel.elf and an ISO of it with the plain
    initrd (build/user), both in logdir: a grader or `make labN INITRD_EXTRA=...`
    running at the same time in this tree may rewrite build/phaseN/boot.iso under a
    booting QEMU. Returns (kernel, iso)."""
    kernel = os.path.join(logdir, "kernel.elf")
    initrd = os.path.join(logdir, "initrd.tar")
    iso = os.path.join(logdir, "boot.iso")
    shutil.copy2(os.path.join(ROOT, "build", "phase%d" % phase, "kernel.elf"), kernel)
    for cmd in (["scripts/mkinitrd.sh", initrd, "build/user"],
                ["scripts/mkiso.sh", iso, str(phase), kernel, initrd]):
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return kernel, iso


def gdbinit(phase, port, kernel, path):
    """The init file `make gdb` uses (scripts/gdbinit.sh writes it), for this port and
    with the private copy of the kernel in its `file` line."""
    text = subprocess.run([os.path.join(ROOT, "scripts", "gdbinit.sh"), str(phase),
                           str(port)], check=True, capture_output=True, text=True).stdout
    shared = "file %s\n" % os.path.join(ROOT, "build", "phase%d" % phase, "kernel.elf")
    if shared not in text:
        raise RuntimeError("scripts/gdbinit.sh has no line %r" % shared.strip())
    with open(path, "w") as f:
        f.write(text.replace(shared, "file %s\n" % kernel))


def run_gdb(args, timeout=SESSION_TIMEOUT):
    """Run gdb -batch with args; (output, seconds). stderr is merged into stdout."""
    t0 = time.time()
    cmd = ["gdb", "-q", "-nx", "-batch", "-ex", "set trace-commands on"] + args
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=timeout, text=True)
        out = r.stdout
    except subprocess.TimeoutExpired as e:
        out = (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or "")
        out += "\n[check.py: gdb timed out after %.0f s]\n" % timeout
    return out, time.time() - t0


def transcript(out):
    """[(command, output)] from a trace-commands log ('+cmd' lines start a command)."""
    steps = []
    for line in out.splitlines():
        if line.startswith("+") and not line.startswith("++"):
            steps.append([line[1:].strip(), []])
        elif line.startswith("++"):
            continue  # a command run by a helper or by gdb itself
        elif steps:
            steps[-1][1].append(line)
    return [(c, "\n".join(o)) for c, o in steps]


def outputs(steps, command):
    """Every output of command, in order."""
    return [o for c, o in steps if c == command]


def value(text):
    """The integer of a `$N = 0x...` (or decimal) print, or None."""
    m = re.search(r"^\$\d+ = (0x[0-9a-f]+|-?\d+)\s*$", text, re.M)
    return int(m.group(1), 0) if m else None


def nth(lst, i):
    return lst[i] if -len(lst) <= i < len(lst) else ""


# ---- the sessions -------------------------------------------------------------

def session_main(phase, expect, logdir, kernel, iso):
    """Boot, run walkthrough.gdb; the transcript steps, gdb's output, the serial
    output and gdb's time."""
    q = Qemu(phase, iso, SENDS[expect])
    try:
        init = os.path.join(logdir, "gdbinit")
        gdbinit(phase, q.port, kernel, init)
        pre = []
        if expect == 1:
            # Before the first continue: a helper with the CPU still in the BIOS.
            pre = ["-ex", "ps"]
        args = ["-x", init] + pre
        args += ["-x", os.path.join(GDBDIR, "walkthrough.gdb")]
        out, secs = run_gdb(args)
    finally:
        q.kill()
        with q.lock:
            serial = q.serial.decode(errors="replace")
    with open(os.path.join(logdir, "gdb.log"), "w") as f:
        f.write(out)
    with open(os.path.join(logdir, "serial.log"), "w") as f:
        f.write(serial)
    return transcript(out), out, serial, secs


def session_pitfall(phase, logdir, kernel, iso):
    """The 32/64-bit pitfall, both halves, on one halted QEMU: a GDB told i386 before
    it connects, then the kit's init lines and boot32.gdb (a stop in 32-bit code)."""
    q = Qemu(phase, iso, [])
    try:
        i386, _ = run_gdb([
            "-ex", "set architecture i386",
            "-ex", "file %s" % kernel,
            "-ex", "target remote localhost:%d" % q.port,
        ], timeout=20)
        init = os.path.join(logdir, "gdbinit-pitfall")
        gdbinit(phase, q.port, kernel, init)
        boot32, _ = run_gdb(["-x", init, "-x", os.path.join(GDBDIR, "boot32.gdb"),
                             "-ex", "kill"], timeout=30)
    finally:
        q.kill()
    with open(os.path.join(logdir, "pitfall.log"), "w") as f:
        f.write(i386 + boot32)
    return i386, transcript(boot32)


def session_no_target(phase, logdir, kernel):
    """The helpers with symbols but no target, then with the symbols unloaded."""
    args = ["-ex", "file " + kernel, "-ex", "source " + os.path.join(GDBDIR, "stacklabs.py")]
    for c in ["help ps", "ps", "sl-ps", "kstacks", "trapframe", "kstack-where 0x1000", "file",
              "ps", "kstacks"]:
        args += ["-ex", c]
    out, _ = run_gdb(args, timeout=20)
    with open(os.path.join(logdir, "no-target.log"), "w") as f:
        f.write(out)
    steps = transcript(out)
    cmds = [c for c, _ in steps]
    cut = cmds.index("file") if "file" in cmds else len(steps)
    return steps[:cut], steps[cut + 1:]


# ---- the checks ---------------------------------------------------------------

class Stop:
    """What the walkthrough recorded at one syscall_entry stop."""

    def __init__(self, steps, i):
        self.pid = value(nth(outputs(steps, "p current->pid"), i))
        rsps = outputs(steps, "p/x $rsp")
        self.before = value(nth(rsps, 2 * i))
        self.after = value(nth(rsps, 2 * i + 1))
        self.top = value(nth(outputs(steps, "p/x current->kstack_top"), i))
        self.rsp0 = value(nth(outputs(steps, "p/x tss.rsp0"), i))
        self.kstacks = nth(outputs(steps, "kstacks"), i)

    def __repr__(self):
        f = lambda v: "?" if v is None else "0x%x" % v
        return "pid=%s rsp %s -> %s top=%s rsp0=%s" % (self.pid, f(self.before),
                                                       f(self.after), f(self.top), f(self.rsp0))


def kstacks_row(text, pid):
    """The kstacks line of pid as [pid, name, base, top, guard, saved, note...]."""
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0] == str(pid):
            return f
    return None


def check_break(n, out, serial, a, b):
    hits = out.count("Breakpoint 1, syscall_entry ()")
    if hits < 2 and "[check.py: gdb timed out" in out:
        tail = serial.rstrip().splitlines()[-2:]
        return "gdb timed out after %d stop(s) in syscall_entry; serial ended %r (see " \
               "build/gdbtest/phase%d/)" % (hits, tail, n)
    if hits < 2:
        return "syscall_entry hit %d time(s), want 2 (see build/gdbtest/phase%d/gdb.log)" % (hits, n)
    if a.pid is None or b.pid is None or a.pid < 1 or a.pid == b.pid:
        return "want two different user pids at the two stops, got %s and %s" % (a.pid, b.pid)
    return None


def check_user_rsp(a, b):
    for s in (a, b):
        if s.before is None or s.before >= USER_END:
            return "pid %s: rsp at syscall_entry = %s, want a user address" % (
                s.pid, s.before if s.before is None else "0x%x" % s.before)
    return None


def check_switch(e, a, b):
    if None in (a.after, b.after, a.top, b.top):
        return "missing values: %r / %r" % (a, b)
    if e == 1:
        m = re.search(r"kstack_global_top = (0x[0-9a-f]+)", a.kstacks)
        gtop = int(m.group(1), 16) if m else None
        if a.after != b.after or a.after != gtop:
            return ("want the same global top for both processes (kstack_global_top %s), "
                    "got %r / %r" % (m and m.group(1), a, b))
        return None
    for s in (a, b):
        if s.after != s.top:
            return "pid %s: rsp after the switch 0x%x != its kstack_top 0x%x" % (
                s.pid, s.after, s.top)
    if a.after == b.after:
        return "both processes entered at the same top 0x%x, want one each" % a.after
    return None


def check_rsp0(e, a, b):
    for s in (a, b):
        if s.rsp0 is None or s.after is None:
            return "missing values: %r" % s
        if e in (1, 3) and s.rsp0 != s.after:
            return "pid %s: TSS.rsp0 0x%x != the syscall stack top 0x%x" % (
                s.pid, s.rsp0, s.after)
        if e == 2 and s.rsp0 == s.after:
            return ("pid %s: TSS.rsp0 0x%x is this process's stack; phase 2 leaves it on "
                    "one static stack" % (s.pid, s.rsp0))
    if e == 2 and a.rsp0 != b.rsp0:
        return "TSS.rsp0 moved (0x%x, 0x%x); phase 2 keeps one static stack" % (a.rsp0, b.rsp0)
    return None


def check_ps(steps, a):
    ps = nth(outputs(steps, "ps"), -1)
    if "PID  STATE     NAME" not in ps:
        return "no ps header in %r" % ps[:200]
    row = re.search(r"^\s+%s\s+running\s+hello\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+"
                    r"(0x[0-9a-f]+)$" % a.pid, ps, re.M)
    if not row:
        return "no 'running hello' line for pid %s in:\n%s" % (a.pid, ps)
    if int(row.group(1), 16) == 0:
        return "pid %s has pml4 0" % a.pid
    if int(row.group(3), 16) != a.top:
        return "pid %s KSTACK_TOP %s != current->kstack_top 0x%x" % (a.pid, row.group(3), a.top)
    if not re.search(r"^\s+0\s+waiting\s+monitor\s", ps, re.M):
        return "no 'waiting monitor' line for pid 0 in:\n%s" % ps
    return None


def check_kstacks(e, a, b):
    text = a.kstacks
    row = kstacks_row(text, a.pid)
    if not row:
        return "no line for pid %s in:\n%s" % (a.pid, text)
    if int(row[3], 16) != a.top or row[5] != "running":
        return "pid %s: want TOP 0x%x and SAVED_RSP running, got %s" % (a.pid, a.top, row)
    guard = row[4]
    if e >= 3 and guard != "0x%016x" % (int(row[2], 16) - 4096):
        return "pid %s: GUARD %s, want BASE - 4096" % (a.pid, guard)
    if e in (1, 2) and guard != "none":
        return "pid %s: GUARD %s, want none in phase %d" % (a.pid, guard, e)
    if "TSS.rsp0 = 0x%016x" % (a.rsp0 or 0) not in text:
        return "no 'TSS.rsp0 = 0x%016x' line" % (a.rsp0 or 0)
    if e == 1 and not re.search(r"phase 1: kstack_global_top = 0x%016x" % (a.after or 0), text):
        return "no 'phase 1: kstack_global_top = 0x%016x' line" % (a.after or 0)
    if e == 2 and "phase 2: current_kernel_stack = 0x%016x" % a.top not in text:
        return "no 'phase 2: current_kernel_stack = 0x%016x' line" % a.top
    if e == 2 and "phase 2: kstack_fallback_top = " not in text:
        return "no 'phase 2: kstack_fallback_top' line"
    if e >= 3:
        ist = re.findall(r"phase 3: tss.ist\[(\d)\] = (0x[0-9a-f]+)", text)
        if len(ist) != 3 or len(set(v for _, v in ist)) != 3:
            return "want three distinct tss.ist[0..2] lines, got %s" % ist
    if e in (2, 3, 4):
        # Both processes are alive at the first stop, each with a stack of its own.
        other = kstacks_row(text, b.pid)
        if not other:
            return "pid %s (alive, runnable) missing at the first stop:\n%s" % (b.pid, text)
        saved = int(other[5], 16) if other[5].startswith("0x") else None
        if int(other[3], 16) == a.top or saved is None or \
                not int(other[2], 16) <= saved < int(other[3], 16):
            return "pid %s: want its own stack and a saved rsp in it, got %s" % (b.pid, other)
    return None


def check_trapframe(steps, a):
    tf = nth(outputs(steps, "trapframe"), 0)
    m = re.search(r"^trapframe at (0x[0-9a-f]+)", tf, re.M)
    if not m:
        return "no 'trapframe at' line in %r" % tf[:300]
    if a.top is None or int(m.group(1), 16) != a.top - TF_SIZE:
        return "frame at %s, want current->kstack_top - %d" % (m.group(1), TF_SIZE)
    fields = dict((k, int(v, 16)) for k, v in
                  re.findall(r"\b(rip|rsp|vector|cs|ss)\s+(0x[0-9a-f]+)", tf))
    shown = ", ".join("%s=0x%x" % kv for kv in sorted(fields.items()))
    if fields.get("rip", USER_END) >= USER_END:
        return "the rip field is not a user address: %s" % shown
    if fields.get("rsp") != a.before:
        return "the rsp field is not the user rsp at entry (%s): %s" % (
            "?" if a.before is None else "0x%x" % a.before, shown)
    if (fields.get("vector"), fields.get("cs"), fields.get("ss")) != (0x100, 0x23, 0x1b):
        return "want vector 0x100 cs 0x23 ss 0x1b: %s" % shown
    x = nth(outputs(steps, "x/i $tf->rip - 2"), 0)
    if not re.search(r"\bsyscall\b", x):
        return "the instruction before tf.rip is not syscall: %r" % x
    tf2 = nth(outputs(steps, "trapframe tf"), 0)
    if not tf2.startswith("trapframe at %s = tf\n" % m.group(1)):
        return "trapframe tf (in syscall_dispatch) is not the same frame: %r" % tf2[:200]
    init = nth(outputs(steps, "trapframe current->init_tf"), 0)
    if not re.search(r"^  cs      0x0000000000000023", init, re.M):
        return "trapframe current->init_tf has no user cs: %r" % init[:300]
    return None


def check_where(e, steps, a, b):
    w1 = nth(outputs(steps, "kstack-where $rsp"), 0)
    want1 = {1: "the global kernel stack, shared by pid %s" % a.pid}.get(
        e, "kernel stack of pid %s (hello)" % a.pid)
    if want1 not in w1:
        return "kstack-where $rsp in syscall_dispatch: want %r, got %r" % (want1, w1)
    w2 = nth(outputs(steps, "kstack-where current->kstack_base - 8"), 0)
    want2 = {1: "in no kernel stack",
             2: "kernel stack of pid %s (hello)" % a.pid,
             3: "GUARD PAGE below the kernel stack of pid %s (hello) (unmapped" % b.pid,
             4: "GUARD PAGE below the kernel stack of pid %s (hello) (unmapped" % b.pid}[e]
    if want2 not in w2:
        return "kstack-where below pid %s's stack: want %r, got %r" % (b.pid, want2, w2)
    # What the page tables say, read by the helper through CR3: a live stack is
    # mapped, phase 3's guard page is not.
    for w, want in ((w1, "page tables: MAPPED"),
                    (w2, "page tables: not mapped" if e >= 3 else "page tables: MAPPED")):
        if want not in w:
            return "kstack-where: want %r (from the page tables), got %r" % (want, w)
    return None


def check_errors(n, with_syms, bare, pre):
    """Helpers fail with one line, never a traceback."""
    helps = [o for c, o in with_syms if c == "help ps"]
    if not helps or not helps[0].startswith("List the kernel's processes"):
        return "help ps: %r" % helps
    for c, o in with_syms:
        name = c.split()[0]
        if name in ("ps", "sl-ps", "kstacks", "trapframe", "kstack-where"):
            if "Traceback" in o or "Python Exception" in o:
                return "%s without a target printed a traceback:\n%s" % (c, o)
            if not o.startswith(name + ": no running kernel"):
                return "%s without a target: %r" % (c, o)
    for c, o in bare:
        if c in ("ps", "kstacks") and not o.startswith(c + ": no stacklabs kernel symbols"):
            return "%s without symbols: %r" % (c, o)
    if pre is not None and not pre.startswith("ps: cannot read kernel memory yet"):
        return "ps in the BIOS: %r" % pre
    return None


def check_arch_i386(out):
    if "Remote 'g' packet reply is too long" not in out:
        return "want \"Remote 'g' packet reply is too long\", got %r" % out[-300:]
    return None


def check_boot32(steps, kernel):
    x = nth(outputs(steps, "x/7i $pc"), 0)
    if "r9d" not in x:
        return "want the 32-bit `inc ecx; cmp ecx, 0x200` misread as `cmp $0x200,%%r9d`: %r" % x
    # The handout's way to read boot code: objdump in 32-bit mode.
    dump = subprocess.run(["objdump", "-d", "-j", ".boot", "-m", "i386", kernel],
                          capture_output=True, text=True).stdout
    if not re.search(r"\binc\s+%ecx\n.*\bcmp\s+\$0x200,%ecx\n", dump):
        return "objdump -d -j .boot -m i386 does not show `inc %ecx; cmp $0x200,%ecx`"
    return None


# ---- the handout -----------------------------------------------------------------

# A place in the source: `file.c:62`, GDB's `file F, line 31.`, or the line number GDB
# prints before a source line (`31<TAB>mov ...`). Its number is a fact about the code,
# the same in every run: a handout that shows one must show the right one (`...` in
# its place shows none).
SOURCE_LINE = re.compile(r"(?:\.(?:c|h|asm|inc|S|py|gdb):|, line )\d+\b|^\d+(?=\t)")


def _shape(line):
    """A line with its run-dependent numbers blanked (addresses, pids, history numbers,
    sizes change from build to build and run to run) and its spaces collapsed; source
    line numbers (SOURCE_LINE) are kept."""
    line = re.sub(r"localhost:\d+", "localhost:PORT", line)
    line = re.sub(r"^file \S*kernel\.elf$", "file KERNEL", line)
    kept = []

    def keep(m):
        kept.append(m.group(0))
        return "\x01%s\x01" % "".join(chr(ord("a") + int(d)) for d in str(len(kept) - 1))

    line = SOURCE_LINE.sub(keep, line)
    line = re.sub(r"0x[0-9a-f]+", "0x#", line)
    line = re.sub(r"\b\d+\b", "#", line)
    line = re.sub(r"\x01([a-j]+)\x01",
                  lambda m: kept[int("".join(str(ord(c) - ord("a")) for c in m.group(1)))],
                  line)
    return " ".join(line.split())


def _promise_matches(promise, line):
    """A handout line against a real one; `...` or `…` inside a promise matches anything."""
    parts = [re.escape(_shape(p)) for p in re.split(r"\.\.\.|\u2026", promise)]
    return re.fullmatch(".*".join(parts), _shape(line)) is not None


def handout_blocks(path):
    """[(line number, command, [promised output lines])] of every `(gdb) ` line in the
    fenced blocks of the handout. Continuation lines (` >stepi`) and lines that are
    only `...` promise nothing."""
    out = []
    fenced = False
    cur = None
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("```"):
                fenced = not fenced
                cur = None
                continue
            if not fenced:
                continue
            if line.startswith("(gdb) "):
                cur = (no, line[len("(gdb) "):].strip(), [])
                out.append(cur)
            elif cur is not None and line.strip() not in ("", "...", "\u2026") and \
                    not line.lstrip().startswith(">"):
                cur[2].append(line)
    return out


def check_handout(path):
    """Every (gdb) command the handout shows was run by this test, and the lines it
    promises under it came out of one run of that command (numbers that change from
    run to run aside; source line numbers count: see SOURCE_LINE)."""
    runs = []
    for log in sorted(glob.glob(os.path.join(OUT, "phase*", "*.log"))):
        with open(log) as f:
            runs += transcript(f.read())
    if not runs:
        return "no transcripts under build/gdbtest/: run the phases first"
    ran = {}
    for c, o in runs:
        ran.setdefault(_shape(c), []).append(o.splitlines())
    for no, cmd, promised in handout_blocks(path):
        outs = ran.get(_shape(cmd))
        if outs is None:
            return "%s:%d: `%s` is not a command tests/test_gdb.sh runs" % (
                os.path.relpath(path, ROOT), no, cmd)
        if not any(all(any(_promise_matches(p, l) for l in o) for p in promised)
                   for o in outs):
            bad = [p for p in promised if not any(_promise_matches(p, l) for o in outs
                                                  for l in o)]
            return "%s:%d: `%s` never printed %r" % (os.path.relpath(path, ROOT), no, cmd,
                                                    (bad or promised)[0])
    return None


def check_handout_drift(path):
    """The handout check must catch a drifted line number: the first source line number
    a (gdb) block shows (SOURCE_LINE), moved by one in a copy of the handout, must make
    check_handout fail. None if it does; else why."""
    with open(path) as f:
        lines = f.read().split("\n")
    fenced, after_cmd = False, False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced, after_cmd = not fenced, False
            continue
        if fenced and line.startswith("(gdb) "):
            after_cmd = True
            continue
        m = SOURCE_LINE.search(line) if fenced and after_cmd else None
        if m and re.search(r"\d+$", m.group(0)):
            old = re.search(r"\d+$", m.group(0)).group(0)
            lines[i] = line[:m.start()] + m.group(0)[:-len(old)] + str(int(old) + 1) + \
                line[m.end():]
            break
    else:
        return "%s shows no source line number in a (gdb) block to move" % path
    copy = os.path.join(OUT, "gdb-drift.md")
    os.makedirs(OUT, exist_ok=True)
    with open(copy, "w") as f:
        f.write("\n".join(lines))
    why = check_handout(copy)
    where = "line %d: %r" % (i + 1, lines[i].strip())
    if why is None:
        return "a copy with %s (one off) passed the handout check" % where
    print("  drift: a copy of %s with %s fails: %s" % (os.path.relpath(path, ROOT), where, why),
          flush=True)
    return None


def main():
    # A TERM (test_gdb.sh's trap) unwinds like an exception: gdb and QEMU get killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", type=int, choices=(1, 2, 3, 4))
    ap.add_argument("--handout", metavar="MD",
                    help="check the (gdb) blocks of MD against the transcripts the "
                    "phases left in build/gdbtest/ (TEST gdb-handout)")
    ap.add_argument("--expect", type=int, choices=(1, 2, 3, 4),
                    help="apply this phase's expectations instead (default: --phase)")
    ap.add_argument("--send", action="append",
                    help="type this at a monitor prompt instead (repeatable; for "
                    "trying the checks out)")
    opts = ap.parse_args()
    if opts.handout:
        why = check_handout(opts.handout)
        print("TEST gdb-handout: %s" % ("ok" if why is None else "FAIL " + why), flush=True)
        # The check must be able to fail on a line number alone (a negative control).
        drift = check_handout_drift(opts.handout) if why is None else None
        if why is None:
            print("TEST gdb-handout-drift: %s" % (
                "ok (a source line number moved by one fails the check)" if drift is None
                else "FAIL " + drift), flush=True)
        return 0 if why is None and drift is None else 1
    if not opts.phase:
        ap.error("--phase or --handout is required")
    if opts.send:
        SENDS[opts.expect or opts.phase] = opts.send
    n = opts.phase
    e = opts.expect or n
    logdir = os.path.join(OUT, "phase%d" % n)
    os.makedirs(logdir, exist_ok=True)

    t0 = time.time()
    try:
        kernel, iso = private_boot(n, logdir)
        tb = time.time()
        steps, out, serial, secs = session_main(n, e, logdir, kernel, iso)
    except Exception as ex:
        report(n, "session", "could not run the GDB session: %s: %s" % (type(ex).__name__, ex))
        return 1
    a, b = Stop(steps, 0), Stop(steps, 1)
    check(n, "break", check_break, n, out, serial, a, b)
    check(n, "user-rsp", check_user_rsp, a, b)
    check(n, "switch", check_switch, e, a, b)
    check(n, "tss-rsp0", check_rsp0, e, a, b)
    check(n, "ps", check_ps, steps, a)
    check(n, "kstacks", check_kstacks, e, a, b)
    check(n, "trapframe", check_trapframe, steps, a)
    check(n, "kstack-where", check_where, e, steps, a, b)
    t1 = time.time()
    if e == 1:
        arch, boot32 = session_pitfall(n, logdir, kernel, iso)
        check(n, "arch-i386", check_arch_i386, arch)
        check(n, "boot32", check_boot32, boot32, kernel)
    t2 = time.time()
    with_syms, bare = session_no_target(n, logdir, kernel)
    pre = None
    if e == 1:
        pre = nth(outputs(steps, "ps"), 0)
    check(n, "errors", check_errors, n, with_syms, bare, pre)
    t3 = time.time()
    print("  phase %d: %.1f s (private ISO %.1f s; walkthrough %.1f s, of it gdb %.1f s; "
          "pitfall %.1f s; no-target %.1f s); transcript in build/gdbtest/phase%d/gdb.log" %
          (n, t3 - t0, tb - t0, t1 - tb, secs, t2 - t1, t3 - t2, n), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
