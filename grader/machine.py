"""machine — one QEMU running one kernel ISO, driven through the monitor on its
serial port; QMP snapshots; time budgets that a loaded host does not eat.

A test receives a Machine that has already reached the monitor prompt.  m.cmd(line)
types a line and returns the output up to the next prompt; m.run(prog, ...) runs
programs with fresh nonces and returns a kout.Run.  A hang, a panic, a triple fault, an
unexpected exit or a flood raise the Verdict of that kind.

Python 3 standard library only; nothing happens on import.
"""

import codecs
import json
import os
import re
import secrets
import select
import shlex
import socket
import subprocess
import tempfile
import time

import qemu
from kout import Instance, Run, klines
from procs import reap, spawn
from tags import new_nonce
from verdict import Verdict

# ---------------------------------------------------------------------------
# Limits.  Measured on this 2-core machine, idle: a boot through GRUB to the prompt
# takes 2.0 s; resuming from a snapshot 0.2 s; every command of the public tests
# finishes within 0.7 s (syscalls and t_spin are the longest).  A hang costs at most
# BOOT_TIMEOUT or one command's timeout.  On a loaded host the clock of a timeout stops
# while QEMU waits for a CPU (see Budget; measured here at load 11: QEMU got 15% of a
# CPU, and 2 s boots took 14 s).  Besides, each lab is calibrated by its `boot` test:
# if reaching the prompt took longer than NOMINAL_BOOT of QEMU's run time, the lab's
# other tests get timeouts that much longer (at most MAX_CALIBRATION times).
# STACKLABS_TIMEOUT_SCALE stretches them all by hand.

TIMEOUT_SCALE = float(os.environ.get("STACKLABS_TIMEOUT_SCALE", "1"))
BOOT_TIMEOUT = 15.0
CMD_TIMEOUT = 10.0
NOMINAL_BOOT = 2.5
MAX_CALIBRATION = 4.0
# [k] lines of the kernel's flaw detectors (kstack-foreign, kstack-shared,
# kstack-clobbered, guard-mapped; the kit's design document lists them): a panic
# verdict shows those said before the panic, first.
# A line is quoted only when its fields are sane: on a shared stack the detector's own
# arguments can be overwritten by the other CPU (seen: pid=-2145870064).
FLAW_LINE = re.compile(r"^\[k\] (kstack-foreign pid=[1-9]\d* cpu=[0-7] via=[a-z]+ "
                       r"|kstack-shared pid=[1-9]\d* cpu=[0-7] pid=[1-9]\d* cpu=[0-7] "
                       r"|kstack-clobbered pid=[1-9]\d* frame-owner=[1-9]\d*$"
                       r"|guard-mapped pid=[1-9]\d* guard=0x[0-9a-f]+$)")
# After "[k] panic", how long to keep reading for the register dump and backtrace.
PANIC_GRACE = 2.0
# A kernel that writes more than this to the serial port in one test fails with
# "flood".  Measured: the largest passing test writes 5.6 KB (syscalls, with GRUB's
# lines); a kernel printing flat out manages about 17 KB/s through the emulated UART
# under -icount, so 1 MiB would take a minute and a flood would show as a timeout.
# 64 KiB is reached in about 4 s.  A test that needs more sets m.cap.
OUTPUT_CAP = 64 << 10
# Output that keeps coming is a flood too, whatever the UART's speed: once a command
# (or the boot) has written more than FLOOD_BYTES and has been writing for more than
# FLOOD_SECONDS of QEMU run time without a prompt, it is cut off.  A slow UART (or a
# loaded host) would otherwise need minutes to reach OUTPUT_CAP, and such a kernel
# used to cost every test its whole timeout.  No passing test writes 6 KB in all.
FLOOD_BYTES = 8 << 10
FLOOD_SECONDS = 5.0

# ---------------------------------------------------------------------------
# Timeouts that a loaded host does not eat.

# However loaded the host, a timeout ends after this many times its length in wall time.
HARD_FACTOR = 8


def _waits(pid):
    """{thread id: seconds it spent runnable but waiting for a CPU} for process pid
    (Linux's /proc/PID/task/TID/schedstat; {} where that does not exist)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = int(f.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return out


class Budget:
    """A timeout of `seconds` that counts only the time QEMU could have run: while
    its threads wait for a CPU (other work on the host), the clock stops.  A kernel
    that hangs idle or busy still times out after `seconds`."""

    def __init__(self, pid, seconds):
        self.pid = pid
        self.seconds = seconds
        self.t0 = time.monotonic()
        self.base = _waits(pid)

    def starved(self):
        now = _waits(self.pid)
        return max([w - self.base.get(t, 0.0) for t, w in now.items()] or [0.0])

    def left(self):
        """Seconds left (<= 0: expired)."""
        wall = time.monotonic() - self.t0
        return min(self.seconds - (wall - self.starved()), self.seconds * HARD_FACTOR - wall)

    def spent(self):
        return time.monotonic() - self.t0


# ---------------------------------------------------------------------------
# One QEMU.

class Machine:
    """A fresh QEMU running one kernel ISO, driven through the monitor on its serial
    port.  The serial log is written to log_path as it arrives."""

    def __init__(self, iso, lab, log_path, cpus=1, icount=True, user=None, extra=()):
        self.iso = iso
        self.extra = list(extra)  # more QEMU arguments (a test's -gdb stub, say)
        self.user = user        # a sandbox.User to run QEMU as, or None
        self.cpus = cpus        # QEMU -smp
        self.icount = icount    # False only for benchmarks of plain TCG
        self.lab = lab
        self.log_path = log_path
        self.prompt = re.compile(r"^lab%d> " % lab, re.M)
        self.proc = None
        self.buf = ""           # everything read so far, decoded
        self.pos = 0            # where the unread part starts (after the last prompt)
        self.nbytes = 0
        self.cap = OUTPUT_CAP
        self.scale = 1.0        # the lab's calibration (see Snapshot)
        self.eof = False
        self.panic_at = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.commands = []      # what the test sent, for the evidence
        # What the test wanted from the kernel just then: the `expected` lines of a
        # panic, triple fault or exit (a test may set m.wanted before a command).
        self.wanted = ["the boot lines, then the first `lab%d> ` prompt" % lab]
        self._wanted_set = False
        self.booted = False     # reached the prompt (by booting or resuming)
        self.resumed = False    # started from a snapshot instead of booting

    def _scale(self):
        return TIMEOUT_SCALE * self.scale

    def start(self, qmp=None, incoming=None):
        """Start QEMU.  qmp: a unix socket path for QMP (needed to snapshot or to
        resume); incoming: a snapshot file to resume from instead of booting."""
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "wb")
        argv = qemu.argv(self.iso, cpus=self.cpus, icount=self.icount) + self.extra
        self.qmp_path = qmp
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        if incoming:
            argv += ["-incoming", "exec:cat %s" % shlex.quote(incoming)]
        self.log.write(("# %s\n" % " ".join(shlex.quote(a) for a in argv)).encode())
        self.t_start = time.monotonic()
        self.proc = spawn(argv, user=self.user, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        self.fd = self.proc.stdout.fileno()

    def close(self):
        if getattr(self, "qmp_path", None):
            try:
                os.unlink(self.qmp_path)
            except OSError:
                pass
        if self.proc is not None:
            reap(self.proc)
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        if getattr(self, "log", None):
            self.log.close()

    # --- reading ---------------------------------------------------------------

    def _fill(self, deadline):
        """Wait until deadline for more output and append it to buf."""
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return
        ready, _, _ = select.select([self.fd], [], [], left)
        if not ready:
            return
        data = os.read(self.fd, 65536)
        if not data:
            self.eof = True
            return
        self.nbytes += len(data)
        self.log.write(data)
        self.log.flush()
        if self.nbytes > self.cap:
            raise Verdict("flood", "the kernel wrote more than %d bytes to the serial port; "
                          "stopped reading" % self.cap, got=[ln[:100] for ln in self._tail(3)])
        self.buf += self._decoder.decode(data)

    def _tail(self, n=20):
        lines = self.buf.replace("\r", "").split("\n")
        return [ln[:200] for ln in lines[-n:]]

    def _exit_status(self):
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def _check_panic(self):
        """Raise the panic verdict once "[k] panic" has appeared at a line start."""
        i = self.buf.find("[k] panic")
        while i > 0 and self.buf[i - 1] != "\n":
            i = self.buf.find("[k] panic", i + 1)
        if i < 0:
            return
        deadline = time.monotonic() + PANIC_GRACE * self._scale()
        while not self.eof and time.monotonic() < deadline:
            self._fill(deadline)
        lines = self.buf[i:].replace("\r", "").split("\n")
        # The kernel's flaw detectors, said before the panic, point at the cause.
        said = [ln for ln in self.buf[self.pos:i].replace("\r", "").split("\n")
                if FLAW_LINE.match(ln)][:6]
        status = self._exit_status() if self.eof else None
        note = "" if status is None else " (QEMU exited %d)" % status
        if said:
            note += ", after %s" % said[0][4:120]
        raise Verdict("panic", "kernel panic" + note, expected=self.wanted,
                      got=[ln[:200] for ln in said + lines[:40]])

    def _died(self, during):
        status = self._exit_status()
        self._check_panic()
        if status == 0:
            raise Verdict("reset", "QEMU exited with status 0 %s: a triple fault or reset "
                          "under -no-reboot (never a pass)" % during, expected=self.wanted,
                          got=self._tail())
        if status == 3:
            raise Verdict("panic", "QEMU exited with status 3 (the kernel's panic exit) %s "
                          "without a [k] panic line" % during, expected=self.wanted,
                          got=self._tail())
        raise Verdict("exit", "QEMU exited unexpectedly with status %s %s" % (status, during),
                      expected=self.wanted, got=self._tail())

    def _until_prompt(self, during, timeout):
        """Read until the next prompt; returns the text before it."""
        budget = Budget(self.proc.pid, timeout * self._scale())
        flood = Budget(self.proc.pid, FLOOD_SECONDS * self._scale())
        start = self.nbytes
        while True:
            self._check_panic()
            mo = self.prompt.search(self.buf, self.pos)
            if mo:
                text = self.buf[self.pos:mo.start()]
                self.pos = mo.end()
                return text
            if self.eof:
                self._died(during)
            if self.nbytes - start > FLOOD_BYTES and flood.left() <= 0:
                raise Verdict("flood", "the kernel kept writing to the serial port %s: %d bytes "
                              "in %.0f s and no prompt; stopped reading" % (
                                  during, self.nbytes - start, flood.spent()),
                              got=[ln[:100] for ln in self._tail(3)])
            left = budget.left()
            if left <= 0:
                since = _lines(self.buf[self.pos:])[-20:]
                wall = ""
                if budget.spent() > budget.seconds + 1:
                    wall = ", %.0f s of wall time on a loaded host" % budget.spent()
                raise Verdict("timeout", "no `lab%d> ` prompt within %.0f s %s (a hang%s; %d "
                              "bytes of output in all)" % (self.lab, budget.seconds, during,
                                                           wall, self.nbytes),
                              expected=["lab%d> " % self.lab], got=since)
            self._fill(time.monotonic() + min(left, 0.5))

    # --- snapshots ---------------------------------------------------------------------

    def _qmp(self, timeout=5.0):
        """A QMP connection to this QEMU (None if it does not answer)."""
        budget = Budget(self.proc.pid, timeout * self._scale())
        while budget.left() > 0 and self.proc.poll() is None:
            try:
                return Qmp(self.qmp_path)
            except OSError:
                time.sleep(0.02)
        return None

    def snapshot(self, path, timeout=20.0):
        """At the prompt: save the running machine to path (a live migration, so a
        machine resumed from it runs at once) and carry on.  Returns True on success."""
        q = self._qmp()
        if q is None:
            return False
        try:
            with q:
                q.call("migrate", uri="exec:cat > %s" % shlex.quote(path))
                deadline = time.monotonic() + timeout * self._scale()
                while time.monotonic() < deadline:
                    st = q.call("query-migrate").get("status")
                    if st in ("completed", "failed", "cancelled"):
                        break
                    time.sleep(0.02)
                else:
                    st = "timeout"
                if q.call("query-status").get("status") != "running":
                    q.call("cont")
                return st == "completed" and os.path.getsize(path) > 0
        except (OSError, ValueError, QmpError):
            return False

    def resume(self, timeout=BOOT_TIMEOUT):
        """Wait until a machine started with incoming= runs: it is at the prompt the
        snapshot was taken at.  Nothing may be typed before that: it would be lost."""
        q = self._qmp(timeout)
        if q is None:
            self._died("while resuming from the snapshot") if self.proc.poll() is not None else None
            raise Verdict("timeout", "QEMU did not resume from the snapshot")
        budget = Budget(self.proc.pid, timeout * self._scale())
        with q:
            while q.call("query-status").get("status") != "running":
                if budget.left() <= 0:
                    raise Verdict("timeout", "QEMU did not resume from the snapshot within %.0f s"
                                  % (timeout * self._scale()))
                time.sleep(0.01)
        self.booted = True
        self.resumed = True

    # --- what tests call -----------------------------------------------------------

    def boot(self, timeout=BOOT_TIMEOUT):
        """Wait for the first prompt.  Returns the boot lines."""
        base = _waits(self.proc.pid)
        text = self._until_prompt("while booting", timeout)
        now = _waits(self.proc.pid)
        starved = max([w - base.get(t, 0.0) for t, w in now.items()] or [0.0])
        self.boot_seconds = time.monotonic() - self.t_start - starved
        self.booted = True
        return _lines(text)

    def want(self, *lines):
        """Say what the next command should bring (shown as `expected:` if the kernel
        panics, triple faults or exits instead)."""
        self.wanted = list(lines)
        self._wanted_set = True

    def cmd(self, line, timeout=CMD_TIMEOUT):
        """Type line at the monitor and return the output lines up to the next prompt
        (without the echo of line)."""
        self.commands.append(line)
        if not self._wanted_set:
            self.wanted = ["the output of `%s`, then the `lab%d> ` prompt" % (line, self.lab)]
        self._wanted_set = False
        try:
            self.proc.stdin.write(line.encode() + b"\r")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.eof = True
        lines = _lines(self._until_prompt("after `%s`" % line, timeout))
        if lines and lines[0].strip().endswith(line.strip()):
            lines = lines[1:]
        return lines

    def run(self, *programs, timeout=CMD_TIMEOUT, nonce=None):
        """`run` the programs at once (joined with " & ").  Each program is a string of
        words in which "{nonce}" becomes a fresh nonce (or the nonce given).  Returns a
        Run.  A program the kernel cannot find fails the test as "missing"."""
        instances = []
        for i, spec in enumerate(programs):
            n = nonce or new_nonce()
            words = spec.replace("{nonce}", n).split()
            instances.append(Instance(i, words, n if "{nonce}" in spec else None))
        command = "run " + " & ".join(" ".join(inst.words) for inst in instances)
        lines = self.cmd(command, timeout)
        for _, f in klines(lines, "load-error"):
            if "not found" in f.get("reason", "") and f.get("prog") in [i.prog for i in instances]:
                raise Verdict("missing", "the kernel cannot find program %s" % f.get("prog"),
                              ["%s in the initrd" % f.get("prog")],
                              ['[k] load-error prog=%s reason="%s"' % (f.get("prog"), f.get("reason"))])
        return Run(command, instances, lines)


class QmpError(Exception):
    pass


class Qmp:
    """A minimal QMP client (QEMU's JSON control protocol) on a unix socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        try:
            self.sock.connect(path)
            self.f = self.sock.makefile("rw")
            self._read()                    # the greeting
            self.call("qmp_capabilities")
        except Exception:
            self.sock.close()
            raise OSError("no QMP at %s" % path)

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise QmpError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def call(self, cmd, **args):
        self.f.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            raise QmpError("%s: %s" % (cmd, msg["error"].get("desc")))
        return msg.get("return", {})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()


def _lines(text):
    return [ln for ln in text.replace("\r", "").split("\n")]



class Snapshot:
    """One lab's start-up, shared by its tests.  The taker (the `boot` test) boots
    through GRUB and measures how long that took, which calibrates the timeouts of
    the others; unless cold, it also saves the machine at its first prompt, and the
    others resume from that file."""

    def __init__(self, directory, taker, take=True):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "snapshot.bin")
        self.taker = taker
        self.take = take
        self.ok = None
        self.scale = 1.0

    @staticmethod
    def socket():
        # unix socket paths are limited to 107 bytes: keep them short, in /tmp
        return os.path.join(tempfile.gettempdir(), "sl-%d-%s.qmp" % (os.getpid(), secrets.token_hex(4)))

    def calibrate(self, boot_seconds):
        self.scale = min(MAX_CALIBRATION, max(1.0, boot_seconds / (NOMINAL_BOOT * TIMEOUT_SCALE)))

    def done(self, ok):
        if self.ok is None:
            self.ok = bool(ok)

    def ready(self):
        return bool(self.ok)

