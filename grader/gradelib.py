"""gradelib — the machinery under grade.py, in the manner of MIT's gradelib.

A test is one small function, registered with its name, points and title:

    @test("hello", 5, "`run hello world` greets and exits 0")
    def hello(m):
        r = m.run("hello world")
        r.expect_line(r"^Hello, world!")
        r.expect_exit(0, 0)

It receives a Machine: a fresh QEMU that has already reached the monitor prompt.
Anything that goes wrong raises Verdict, whose kind says how the test failed:

    wrong    the output is not what was expected (expected lines against what came back)
    timeout  no prompt within the time limit (a hang)
    panic    the kernel printed "[k] panic" (the line and the register dump are the evidence)
    reset    QEMU exited with status 0: a triple fault under -no-reboot, never a pass
    exit     QEMU exited unexpectedly with another status
    flood    the serial output passed OUTPUT_CAP
    missing  "[k] load-error ... reason=\"not found\"" for a program the test runs
    build    `make labN` or the grader's own build failed
    grader   a bug in the grader itself (a Python exception)

Every program a test runs gets a fresh nonce on its command line.  A program proves it
ran by printing "RESULT <payload> tag=<fnv1a64 of nonce|payload, 16 hex>"; a RESULT
line whose tag matches none of the nonces handed out does not count.

Python 3 standard library only.
"""

import atexit
import codecs
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time

# The grader's own tree: its programs, headers and tools are the ones used, always.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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
# After "[k] panic", how long to keep reading for the register dump and backtrace.
PANIC_GRACE = 2.0
# A kernel that writes more than this to the serial port in one test fails with
# "flood".  Measured: the largest passing test writes 5.6 KB (syscalls, with GRUB's
# lines); a kernel printing flat out manages about 17 KB/s through the emulated UART
# under -icount, so 1 MiB would take a minute and a flood would show as a timeout.
# 64 KiB is reached in about 4 s.  A test that needs more sets m.cap.
OUTPUT_CAP = 64 << 10

# Every QEMU the grader starts carries this variable; the self-test looks for
# leftovers by it.
MARK_VAR = "STACKLABS_GRADER_RUN"

QEMU_FLAGS = [
    "-machine", "pc,accel=tcg",
    "-cpu", "qemu64",
    "-m", "128M",
    "-nographic",
    "-no-reboot",
    "-serial", "stdio",
    "-display", "none",
    "-monitor", "none",
    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
    "-icount", "shift=0,sleep=off",
    # Straight to the CD: SeaBIOS's default order first times out on floppy and disk,
    # which under -icount costs 6 s of busy-waiting per boot.
    "-boot", "order=d",
]


def qemu_argv(iso, cpus=1):
    """The grading QEMU command line for one ISO.  STACKLABS_QEMU replaces the binary
    (the self-test points it at a fake kernel).  cpus > 1: see smp_flags."""
    binary = shlex.split(os.environ.get("STACKLABS_QEMU", "qemu-system-x86_64"))
    return binary + smp_flags(QEMU_FLAGS, cpus) + ["-cdrom", iso]


# --- SMP (issue 12; kept apart so it ports to the split gradelib) -------------------
# A test with cpus=N > 1 boots N CPUs.  Not under -icount: QEMU 7.2 with -icount runs
# the vCPUs round-robin on one thread and, measured here, lets the second vCPU run
# only when the first halts (a 900 ms system-call loop on CPU 0 never let CPU 1 take
# a single timer interrupt), so two processes are never in the kernel at once.
# These tests run on multi-threaded TCG instead, and their verdicts rest on
# invariants checked on every call (registers, entry stack, TSS.rsp0), never on
# where a tick or a vCPU switch lands.  They boot cold: a one-CPU snapshot cannot
# resume on two.
def smp_flags(flags, cpus):
    if cpus <= 1:
        return list(flags)
    out, skip = [], False
    for i, f in enumerate(flags):
        if skip:
            skip = False
        elif f == "-icount":
            skip = True
        elif f == "-machine":
            out += ["-machine", "pc", "-accel", "tcg,thread=multi"]
            skip = True
        else:
            out.append(f)
    return out + ["-smp", str(cpus)]


# ---------------------------------------------------------------------------
# Nonces and tags.

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data):
    """FNV-1a 64 of bytes (or of a str's UTF-8 bytes)."""
    if isinstance(data, str):
        data = data.encode()
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def tag(nonce, payload):
    """The tag a test program prints after payload: fnv1a64("<nonce>|<payload>")."""
    return "%016x" % fnv1a64("%s|%s" % (nonce, payload))


def new_nonce():
    """16 fresh hex characters."""
    return secrets.token_hex(8)


def xorshift_bytes(nonce, n):
    """The first n bytes of stacklabs.h's sl_rng seeded with nonce (a secret the
    grader can recompute)."""
    s = fnv1a64(nonce) | 1
    out = bytearray()
    mask = 0xFFFFFFFFFFFFFFFF
    while len(out) < n:
        s ^= s >> 12
        s = (s ^ (s << 25)) & mask
        s ^= s >> 27
        out += ((s * 0x2545F4914F6CDD1D) & mask).to_bytes(8, "little")
    return bytes(out[:n])


# ---------------------------------------------------------------------------
# Child processes.  Each starts in its own process group; reap() kills the whole
# group.  kill_all() runs at exit and on SIGTERM/SIGHUP, so nothing outlives us.

_live = {}
_live_lock = threading.Lock()
_stopping = threading.Event()

# util-linux's setpriv makes the child die with the grader even if the grader itself
# is SIGKILLed (Linux's parent-death signal).  Python's preexec_fn could do the same,
# but is unsafe in a program with threads.
_SETPRIV = shutil.which("setpriv")


def spawn(argv, **kw):
    """Popen argv in a new process group that kill_all() knows about."""
    if _stopping.is_set():
        raise Verdict("grader", "the grader is stopping")
    env = dict(kw.pop("env", None) or os.environ)
    env[MARK_VAR] = str(os.getpid())
    if _SETPRIV:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--"] + list(argv)
    with _live_lock:
        p = subprocess.Popen(argv, start_new_session=True, env=env, **kw)
        _live[p.pid] = p
    return p


def reap(p):
    """Kill p's process group (whatever is still in it) and collect p."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _live_lock:
        _live.pop(p.pid, None)


def stop_all():
    """Start nothing more, and kill everything started: for interrupts."""
    _stopping.set()
    kill_all()


def kill_all():
    """Kill every process group the grader started and has not reaped yet."""
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


_remove = []


def remove_at_exit(path):
    """Remove directory path when the grader ends (normally or by SIGTERM/SIGHUP)."""
    _remove.append(path)


def prune_dead(directory, prefix):
    """Remove directory/<prefix><pid>... left by graders that were killed."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-")[0]
        if name.startswith(prefix) and pid.isdigit() and not os.path.exists("/proc/" + pid):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def _cleanup():
    kill_all()
    for d in _remove:
        shutil.rmtree(d, ignore_errors=True)


def _on_signal(signum, frame):
    stop_all()
    _cleanup()
    os._exit(128 + signum)


atexit.register(_cleanup)
if threading.current_thread() is threading.main_thread():
    for _sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_sig, _on_signal)


def run_cmd(argv, timeout, cwd=None, env=None):
    """Run argv to completion (killed after timeout).  Returns (status, output text);
    status None means it timed out."""
    p = spawn(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, "(killed after %d s)" % timeout
    finally:
        reap(p)


# ---------------------------------------------------------------------------
# Verdicts.

class Verdict(Exception):
    """How a test failed, with the evidence: expected lines against what came back."""

    def __init__(self, kind, message, expected=None, got=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.expected = list(expected or [])
        self.got = list(got or [])


def fail(message, expected=None, got=None):
    """Fail the running test with "wrong output"."""
    raise Verdict("wrong", message, expected, got)


# ---------------------------------------------------------------------------
# Kernel output.

KLINE = re.compile(r"^\[k\] ([\w-]+)(.*)$")
FIELD = re.compile(r'([\w-]+)=("[^"]*"|\S+)')
RESULT = re.compile(r"^RESULT (.*) tag=([0-9a-fA-F]{16})\s*$")


def fields(text):
    """key=value pairs of text (quoted values unquoted) as a dict."""
    return {k: v.strip('"') for k, v in FIELD.findall(text)}


def klines(lines, event=None):
    """The [k] lines among lines as (event, fields) pairs, of one event if given."""
    out = []
    for ln in lines:
        mo = KLINE.match(ln)
        if mo and (event is None or mo.group(1) == event):
            out.append((mo.group(1), fields(mo.group(2))))
    return out


def as_int(v, default=None):
    """v as an integer (decimal or 0x hex), default when it is not one."""
    try:
        return int(v, 0)
    except (TypeError, ValueError):
        return default


class Instance:
    """One program of one `run` command: its name, arguments and nonce, and once the
    command is done its pid, its end, and its RESULT lines."""

    def __init__(self, index, words, nonce):
        self.index = index
        self.prog = words[0]
        self.words = words
        self.nonce = nonce
        self.pid = None
        self.status = None      # exit status, if it exited
        self.kill = None        # fields of its [k] kill line, if it was killed
        self.results = []       # dicts of fields of RESULT lines bound to its nonce

    def label(self):
        pid = "pid %s" % self.pid if self.pid is not None else "never spawned"
        return "%s #%d (%s)" % (self.prog, self.index + 1, pid)


class Run:
    """The output of one `run` command, parsed and checked against its nonces."""

    def __init__(self, command, instances, lines):
        self.command = command
        self.instances = instances
        self.lines = lines
        self.rejected = []      # RESULT lines whose tag matches no nonce
        self.valid = []         # fields of every RESULT line whose tag matches a nonce
        self._parse()

    def _parse(self):
        spawns = [f for _, f in klines(self.lines, "spawn")]
        for inst, f in zip(self.instances, spawns):
            inst.pid = as_int(f.get("pid"))
        by_pid = {i.pid: i for i in self.instances if i.pid is not None}
        self.stray = []         # exit/kill lines for pids this command never spawned
        for ev, f in klines(self.lines):
            if ev not in ("exit", "kill"):
                continue
            inst = by_pid.get(as_int(f.get("pid")))
            if inst is None:
                self.stray.append("[k] %s %s" % (ev, " ".join("%s=%s" % kv for kv in f.items())))
            elif ev == "exit":
                inst.status = as_int(f.get("status"))
            else:
                inst.kill = f
        for ln in self.lines:
            if not ln.startswith("RESULT"):
                continue
            mo = RESULT.match(ln)
            owners = []
            if mo:
                payload, t = mo.group(1), mo.group(2).lower()
                owners = [i for i in self.instances if i.nonce and tag(i.nonce, payload) == t]
            if not owners:
                self.rejected.append(ln)
                continue
            f = fields(payload)
            self.valid.append(f)
            # Programs that share a nonce (to share a secret) are told apart by pid.
            if len(owners) > 1 and "pid" in f:
                owners = [i for i in owners if i.pid == as_int(f["pid"])] or owners
            if len(owners) == 1:
                owners[0].results.append(f)

    # --- checks a test calls -------------------------------------------------

    def check_pids(self):
        """Every program was spawned once, and every exit/kill line names a pid of
        this command's spawn lines."""
        for inst in self.instances:
            if inst.pid is None:
                fail("no `[k] spawn` line for %s" % inst.label(),
                     ["[k] spawn pid=N prog=%s" % inst.prog], self.lines)
        if self.stray:
            fail("exit/kill line for a pid this command never spawned",
                 ["pids %s" % [i.pid for i in self.instances]], self.stray)

    def expect_line(self, regex, what=None):
        """Some output line matches regex; returns its match."""
        rx = re.compile(regex)
        for ln in self.lines:
            mo = rx.search(ln)
            if mo:
                return mo
        fail("no line matching %s" % (what or regex), [regex], self.lines)

    def expect_exit(self, i, status=0):
        """Program i exited (not killed) with status."""
        self.check_pids()
        inst = self.instances[i]
        if inst.kill is not None:
            fail("%s was killed" % inst.label(),
                 ["[k] exit pid=%s status=%d" % (inst.pid, status)],
                 ["[k] kill pid=%s %s" % (inst.pid, " ".join(
                     "%s=%s" % kv for kv in inst.kill.items() if kv[0] != "pid"))])
        if inst.status != status:
            got = ["[k] exit pid=%s status=%s" % (inst.pid, inst.status)] \
                if inst.status is not None else ["(no exit line for pid %s)" % inst.pid]
            fail("%s did not exit with status %d" % (inst.label(), status),
                 ["[k] exit pid=%s status=%d" % (inst.pid, status)], got)

    def expect_kill(self, i, reason):
        """Program i was killed with reason; returns the kill line's fields."""
        self.check_pids()
        inst = self.instances[i]
        want = "[k] kill pid=%s reason=%s" % (inst.pid, reason)
        if inst.kill is None:
            got = ["[k] exit pid=%s status=%s" % (inst.pid, inst.status)] \
                if inst.status is not None else self.lines
            fail("%s was not killed" % inst.label(), [want], got)
        if inst.kill.get("reason") != reason:
            fail("%s was killed for the wrong reason" % inst.label(), [want],
                 ["[k] kill pid=%s reason=%s" % (inst.pid, inst.kill.get("reason"))])
        return inst.kill

    def result(self, i, **want):
        """Program i's one valid RESULT line as a dict; with want, each key must hold
        that value (compared as text)."""
        inst = self.instances[i]
        if not inst.results and inst.kill is not None:
            fail("%s was killed before it printed its RESULT line" % inst.label(),
                 ["RESULT ... tag=..."], ["[k] kill pid=%s %s" % (inst.pid, " ".join(
                     "%s=%s" % kv for kv in inst.kill.items() if kv[0] != "pid"))])
        if not inst.results:
            why = "no RESULT line carrying the tag of %s's nonce" % inst.label()
            if self.rejected:
                why += " (%d RESULT line(s) with a wrong or missing tag ignored)" % len(self.rejected)
            fail(why, ["RESULT ... tag=<fnv1a64 of %s|payload>" % inst.nonce],
                 self.rejected or self.lines)
        r = inst.results[-1]
        if "pid" in r and inst.pid is not None and as_int(r["pid"]) != inst.pid:
            fail("%s: RESULT reports pid %s" % (inst.label(), r["pid"]),
                 ["pid=%s" % inst.pid], ["pid=%s" % r["pid"]])
        bad = ["%s=%s" % (k, r.get(k)) for k, v in want.items() if r.get(k) != str(v)]
        if bad:
            fail("%s: RESULT fields differ" % inst.label(),
                 ["%s=%s" % kv for kv in want.items()],
                 ["RESULT " + " ".join("%s=%s" % kv for kv in r.items())])
        return r

    def find(self, **want):
        """The one valid RESULT line (any program's) whose fields hold want."""
        hits = [f for f in self.valid if all(f.get(k) == str(v) for k, v in want.items())]
        if len(hits) != 1:
            fail("%d valid RESULT lines with %s" % (len(hits), " ".join("%s=%s" % kv for kv in want.items())),
                 ["one RESULT ... %s ... tag=<nonce's tag>" % " ".join("%s=%s" % kv for kv in want.items())],
                 [ln for ln in self.lines if ln.startswith("RESULT")] or self.lines)
        return hits[0]

    def field(self, i, key):
        """Integer field key of program i's RESULT line."""
        r = self.result(i)
        v = as_int(r.get(key))
        if v is None:
            fail("%s: RESULT has no integer %s" % (self.instances[i].label(), key),
                 ["%s=<number>" % key], ["RESULT " + " ".join("%s=%s" % kv for kv in r.items())])
        return v


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

    def __init__(self, iso, lab, log_path, cpus=1):
        self.iso = iso
        self.lab = lab
        self.cpus = cpus        # -smp (smp_flags)
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
        self.booted = False     # reached the prompt (by booting or resuming)
        self.resumed = False    # started from a snapshot instead of booting

    def _scale(self):
        return TIMEOUT_SCALE * self.scale

    def start(self, qmp=None, incoming=None):
        """Start QEMU.  qmp: a unix socket path for QMP (needed to snapshot or to
        resume); incoming: a snapshot file to resume from instead of booting."""
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "wb")
        argv = qemu_argv(self.iso, self.cpus)
        self.qmp_path = qmp
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        if incoming:
            argv += ["-incoming", "exec:cat %s" % shlex.quote(incoming)]
        self.log.write(("# %s\n" % " ".join(shlex.quote(a) for a in argv)).encode())
        self.t_start = time.monotonic()
        self.proc = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
        status = self._exit_status() if self.eof else None
        note = "" if status is None else " (QEMU exited %d)" % status
        raise Verdict("panic", "kernel panic" + note, got=[ln[:200] for ln in lines[:40]])

    def _died(self, during):
        status = self._exit_status()
        self._check_panic()
        if status == 0:
            raise Verdict("reset", "QEMU exited with status 0 %s: a triple fault or reset "
                          "under -no-reboot (never a pass)" % during, got=self._tail())
        if status == 3:
            raise Verdict("panic", "QEMU exited with status 3 (the kernel's panic exit) %s "
                          "without a [k] panic line" % during, got=self._tail())
        raise Verdict("exit", "QEMU exited unexpectedly with status %s %s" % (status, during),
                      got=self._tail())

    def _until_prompt(self, during, timeout):
        """Read until the next prompt; returns the text before it."""
        budget = Budget(self.proc.pid, timeout * self._scale())
        while True:
            self._check_panic()
            mo = self.prompt.search(self.buf, self.pos)
            if mo:
                text = self.buf[self.pos:mo.start()]
                self.pos = mo.end()
                return text
            if self.eof:
                self._died(during)
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

    def cmd(self, line, timeout=CMD_TIMEOUT):
        """Type line at the monitor and return the output lines up to the next prompt
        (without the echo of line)."""
        self.commands.append(line)
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
        import socket
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
        import json
        while True:
            line = self.f.readline()
            if not line:
                raise QmpError("QMP closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def call(self, cmd, **args):
        import json
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


# ---------------------------------------------------------------------------
# Tests and their registry.

TESTS = []


class Test:
    def __init__(self, name, points, title, fn, expect=None, hidden=False, cpus=1):
        self.name = name
        self.points = points
        self.title = title
        self.fn = fn
        self.expect = expect    # "PPFP"-style string, one letter per phase 1..4
        self.hidden = hidden
        self.cpus = cpus        # CPUs the test boots (smp_flags)

    def passes_in(self, lab):
        """Whether the reference kernel of lab passes this test."""
        return self.expect[lab - 1] == "P"

    def fixed_in(self, lab):
        """The first lab after lab in which the test passes (None if never)."""
        for k in range(lab + 1, len(self.expect) + 1):
            if self.passes_in(k):
                return k
        return None


def test(name, points, title, expect=None, cpus=1):
    """Register fn as test name, worth points.  expect: "FPPP"-style (phases 1..4);
    when omitted it comes from the EXPECT table of the module that defines the test.
    cpus: how many CPUs its QEMU boots."""
    def register(fn):
        if any(t.name == name for t in TESTS):
            raise ValueError("test %s registered twice" % name)
        TESTS.append(Test(name, points, title, fn, expect, cpus=cpus))
        return fn
    return register


def load_tests(path, hidden=False):
    """Run a test-definition file; its @test functions join TESTS, their
    expectations taken from its EXPECT table where not given.  Returns the new tests."""
    before = len(TESTS)
    scope = {"__file__": path, "__name__": "stacklabs_tests_%d" % before}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), scope)
    table = scope.get("EXPECT", {})
    new = TESTS[before:]
    for t in new:
        t.hidden = hidden
        t.expect = t.expect or table.get(t.name)
        if not t.expect or not re.fullmatch(r"[PF]{3,4}", t.expect):
            raise ValueError("%s: test %s has no expectation like \"FPPP\"" % (path, t.name))
        # An expectation from before lab 4 ("FPP"): phase 4 keeps all of phase 3.
        t.expect += t.expect[-1] * (4 - len(t.expect))
    return new


# ---------------------------------------------------------------------------
# Outcomes.

class Outcome:
    """What one test did on one lab's kernel."""

    def __init__(self, test, lab, verdict=None, seconds=0.0, log=None, booted=False, commands=(),
                 resumed=False):
        self.test = test
        self.lab = lab
        self.verdict = verdict   # None: passed
        self.seconds = seconds
        self.log = log
        self.booted = booted
        self.commands = list(commands)
        self.resumed = resumed

    @property
    def passed(self):
        return self.verdict is None

    @property
    def kind(self):
        return "pass" if self.verdict is None else self.verdict.kind

    @property
    def graded(self):
        return self.test.passes_in(self.lab)

    @property
    def earned(self):
        return self.test.points if self.graded and self.passed else 0

    @property
    def max(self):
        return self.test.points if self.graded else 0

    def evidence(self, indent="    "):
        """The failure as text lines: verdict, expected, got, log."""
        v = self.verdict
        if v is None:
            return []
        out = ["%s%s: %s" % (indent, VERDICT_NAMES.get(v.kind, v.kind), v.message)]
        if self.commands:
            out.append("%safter: %s" % (indent, " ; ".join(self.commands[-3:])))
        if v.expected:
            out.append("%sexpected:" % indent)
            out += ["%s    %s" % (indent, ln) for ln in v.expected[:20]]
        if v.got:
            out.append("%sgot:" % indent)
            got = [ln for ln in v.got if ln.strip()] or v.got
            if len(got) > 40:
                got = got[:20] + ["... (%d more lines)" % (len(got) - 40)] + got[-20:]
            out += ["%s    %s" % (indent, ln[:200]) for ln in got]
        if self.log:
            out.append("%sserial log: %s" % (indent, self.log))
        return out


VERDICT_NAMES = {
    "wrong": "wrong output",
    "timeout": "timeout",
    "panic": "kernel panic",
    "reset": "triple fault / reset",
    "exit": "unexpected QEMU exit",
    "flood": "flood",
    "missing": "missing program",
    "build": "build failure",
    "grader": "grader error",
}


def run_one(t, lab, iso, logdir, stage=None, slots=None, snap=None):
    """Run test t on a fresh QEMU of lab's kernel.  Returns an Outcome; the serial log
    is kept only when the test failed.  slots: a semaphore that bounds concurrent QEMUs.
    snap: a Snapshot.  The test that takes it boots through GRUB, saves the machine
    at its first prompt and goes on; the others resume from that file (a fresh QEMU
    process, at the prompt in 0.2 s instead of a 2 s boot)."""
    log = os.path.join(logdir, "%s.log" % t.name)
    m = Machine(iso, lab, log, getattr(t, "cpus", 1))
    if m.cpus > 1 and snap:     # boots cold (smp_flags), with the lab's calibration
        m.scale = snap.scale
        snap = None
    m.stage = stage
    verdict = None
    if slots:
        slots.acquire()
    t0 = time.monotonic()
    try:
        if snap and snap.taker != t.name:
            m.scale = snap.scale
        if snap and snap.ready():
            try:
                m.start(qmp=snap.socket(), incoming=snap.path)
                m.resume()
            except Verdict:
                # The machine was at the prompt when saved: a resume that fails is the
                # grader's trouble (a loaded host), never the kernel's.  Boot instead.
                m.close()
                m = Machine(iso, lab, log)
                m.stage, m.scale = stage, snap.scale
                m.start()
                m.boot()
        elif snap and snap.taker == t.name:
            m.start(qmp=snap.socket() if snap.take else None)
            m.boot()
            snap.calibrate(m.boot_seconds)
            if snap.take:
                snap.done(m.snapshot(snap.path))
        else:
            m.start()
            m.boot()
        t.fn(m)
    except Verdict as v:
        verdict = v
    except Exception as e:  # a bug in the test or the grader: say so, never pass
        import traceback
        verdict = Verdict("grader", "%s: %s" % (type(e).__name__, e),
                          got=traceback.format_exc().splitlines()[-6:])
    finally:
        m.close()
        if slots:
            slots.release()
        if snap and snap.taker == t.name and snap.take and not snap.ready():
            snap.done(False)
    secs = time.monotonic() - t0
    if verdict is None:
        try:
            os.unlink(log)
        except OSError:
            pass
        log = None
    o = Outcome(t, lab, verdict, secs, log, m.booted, m.commands, m.resumed)
    o.nbytes = m.nbytes
    return o


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


# ---------------------------------------------------------------------------
# Building: the grader's own programs into a staging directory, then the tree.

# Programs of the grader's tree's user/ that the grader builds itself, so a
# submission's copies never stand in for them.
USER_PROGS = ["hello", "syscalls"]
MUSL_CC = ["musl-gcc", "-static", "-O2", "-g", "-Wall", "-Wextra"]


def _compile(src, out, include):
    status, text = run_cmd(MUSL_CC + ["-I" + include, "-o", out] + src, timeout=120)
    return status == 0, text


def _error_lines(text, n=30):
    """The compiler/make lines that say what went wrong (at most n)."""
    keep = [ln for ln in text.splitlines()
            if re.search(r"error|Error|undefined reference|\*\*\*|No rule|not found", ln)]
    return (keep or text.splitlines())[-n:]


def build_stage(stage, hidden=None, jobs=2):
    """Build the grader's programs into stage: grader/progs/*.c, user/hello and
    user/syscalls (all from ROOT), hidden/*.c and hidden executables, then the
    malformed ELFs of grader/mkbad.py.  Returns None, or a Verdict("build")."""
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    include = os.path.join(ROOT, "user", "include")
    jobs_list = []
    progs = os.path.join(ROOT, "grader", "progs")
    for d in [progs] + ([hidden] if hidden else []):
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.endswith(".c"):
                    jobs_list.append(([os.path.join(d, f)], os.path.join(stage, f[:-2])))
    for name in USER_PROGS:
        src = os.path.join(ROOT, "user", name + ".c")
        sub = os.path.join(ROOT, "user", name)
        if os.path.isdir(sub):
            jobs_list.append(([os.path.join(sub, f) for f in sorted(os.listdir(sub))
                               if f.endswith(".c")], os.path.join(stage, name)))
        elif os.path.exists(src):
            jobs_list.append(([src], os.path.join(stage, name)))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max(1, jobs)) as ex:
        results = list(ex.map(lambda j: (j,) + _compile(j[0], j[1], include), jobs_list))
    for (src, out), ok, text in results:
        if not ok:
            return Verdict("build", "the grader's program %s does not compile"
                           % os.path.relpath(src[0], ROOT), got=_error_lines(text))
    if hidden and os.path.isdir(hidden):
        for f in sorted(os.listdir(hidden)):
            p = os.path.join(hidden, f)
            if os.path.isfile(p) and os.access(p, os.X_OK) and not f.endswith((".c", ".py", ".sh")):
                shutil.copy2(p, os.path.join(stage, f))
    mkbad = os.path.join(ROOT, "grader", "mkbad.py")
    ref = os.path.join(stage, "hello")
    if os.path.exists(mkbad) and os.path.exists(ref):
        import sys
        status, text = run_cmd([sys.executable, mkbad, stage, ref], timeout=60)
        if status != 0:
            return Verdict("build", "grader/mkbad.py failed", got=_error_lines(text))
    return None


def build_tree(tree, lab, stage, make_jobs=1, timeout=600):
    """`make -C tree -jN labN INITRD_EXTRA=stage`.  Returns (iso, None) or (None, Verdict)."""
    status, text = run_cmd(["make", "-C", tree, "-j%d" % max(1, make_jobs), "lab%d" % lab,
                            "INITRD_EXTRA=" + stage], timeout=timeout)
    iso = os.path.join(tree, "build", "phase%d" % lab, "boot.iso")
    if status != 0:
        why = "make lab%d timed out" % lab if status is None else "make lab%d failed (status %d)" % (lab, status)
        return None, Verdict("build", why, got=_error_lines(text))
    if not os.path.exists(iso):
        return None, Verdict("build", "make lab%d did not produce %s" % (lab, iso))
    return iso, None


def bad_elves(stage):
    """Names of the malformed ELFs grader/mkbad.py wrote into stage."""
    return sorted(f for f in os.listdir(stage) if f.startswith("bad_"))


# ---------------------------------------------------------------------------
# Grading one tree.

class LabResult:
    """One lab of one tree: the build, then one Outcome per test (in TESTS order)."""

    def __init__(self, tree, lab, outcomes, build=None, build_seconds=0.0):
        self.tree = tree
        self.lab = lab
        self.outcomes = outcomes
        self.build = build          # None, or the build Verdict
        self.build_seconds = build_seconds

    @property
    def score(self):
        return sum(o.earned for o in self.outcomes)

    @property
    def max(self):
        return sum(o.max for o in self.outcomes)


def _not_run(t, lab, why, log=None):
    return Outcome(t, lab, Verdict(why.kind, why.message, why.expected, why.got), 0.0, log)


def build_lab(tree, lab, stage, slots, results, outcomes, tests, rundir, make_jobs=1):
    """Build lab in tree and record a LabResult.  Returns the path of a private copy of
    the ISO (so a `make labN` run meanwhile, by anyone, cannot swap the kernel or its
    initrd under the tests), or None when the build failed (every test then fails).
    Graders building the same tree take turns (a lock file in its build/)."""
    import fcntl
    t0 = time.monotonic()
    os.makedirs(os.path.join(tree, "build"), exist_ok=True)
    mine = os.path.join(rundir, "lab%d" % lab, "boot.iso")
    os.makedirs(os.path.dirname(mine), exist_ok=True)
    if slots:
        slots.acquire()
    try:
        with open(os.path.join(tree, "build", ".grade.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            iso, bad = build_tree(tree, lab, stage, make_jobs)
            if iso:
                shutil.copyfile(iso, mine)
    finally:
        if slots:
            slots.release()
    results[lab] = LabResult(tree, lab, [], bad, time.monotonic() - t0)
    if bad:
        for t in tests:
            outcomes[(lab, t.name)] = _not_run(t, lab, bad)
        return None
    return mine


def grade_tree(tree, labs, tests, stage, jobs=2, slots=None, logroot=None, cold=False,
               make_jobs=None):
    """Build tree for each lab, one after the other (the labs share build/), and run
    every test of a lab in a pool of jobs threads as soon as that lab is built.  Each
    lab's `boot` test goes first and boots through GRUB; if the kernel never reached
    the prompt there, the lab's other tests are not run and share that verdict.
    Otherwise it saved the machine at that prompt and the other tests resume from it
    (cold=True: every test boots through GRUB).  make runs with -j make_jobs (default
    jobs).  Returns [LabResult]."""
    from concurrent.futures import ThreadPoolExecutor
    tree = os.path.abspath(tree)
    logroot = logroot or os.path.join(tree, "build", "grade")
    # This run's ISO copies and snapshots: private, so graders may share a tree.
    rundir = os.path.join(logroot, "run-%d-%s" % (os.getpid(), secrets.token_hex(3)))
    prune_dead(logroot, "run-")
    prune_dead(tempfile.gettempdir(), "sl-")       # QMP sockets of killed graders
    remove_at_exit(rundir)
    results = {}
    outcomes = {}
    busy = [0]                  # tests submitted and not yet finished
    cond = threading.Condition()

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        snaps = {}

        def launch(lab, iso, t, rest):
            with cond:
                busy[0] += 1
            logdir = os.path.join(logroot, "lab%d" % lab)
            f = ex.submit(run_one, t, lab, iso, logdir, stage, slots, snaps.get(lab))
            f.add_done_callback(lambda f: finished(lab, iso, t, rest, f))

        def finished(lab, iso, t, rest, f):
            try:
                o = f.result()
            except BaseException as e:  # run_one catches everything; belt and braces
                o = Outcome(t, lab, Verdict("grader", repr(e)))
            outcomes[(lab, t.name)] = o
            try:
                if rest and not o.passed and not o.booted:
                    v = o.verdict
                    why = Verdict(v.kind, "not run: the kernel never reached the prompt in "
                                  "`%s` (%s)" % (t.name, VERDICT_NAMES.get(v.kind, v.kind)))
                    for r in rest:
                        outcomes[(lab, r.name)] = _not_run(r, lab, why, o.log)
                else:
                    for r in rest:
                        launch(lab, iso, r, [])
            except RuntimeError:        # the pool is shutting down (interrupted)
                for r in rest:
                    outcomes.setdefault((lab, r.name), _not_run(
                        r, lab, Verdict("grader", "not run: the grader was interrupted")))
            finally:
                with cond:
                    busy[0] -= 1
                    cond.notify_all()

        try:
            for lab in labs:
                iso = build_lab(tree, lab, stage, slots, results, outcomes, tests, rundir,
                                make_jobs or jobs)
                if iso is None:
                    continue
                first = [t for t in tests if t.name == "boot"] or tests[:1]
                rest = [t for t in tests if t not in first]
                if rest:
                    snaps[lab] = Snapshot(os.path.dirname(iso), first[0].name, take=not cold)
                for t in first:
                    launch(lab, iso, t, rest)
            with cond:
                while busy[0]:
                    cond.wait()
        except BaseException:           # Ctrl-C: no QEMU may wait for the pool to drain
            stop_all()
            shutil.rmtree(rundir, ignore_errors=True)
            raise
    shutil.rmtree(rundir, ignore_errors=True)
    for lab in labs:
        results[lab].outcomes = [outcomes[(lab, t.name)] for t in tests]
    return [results[lab] for lab in labs]
