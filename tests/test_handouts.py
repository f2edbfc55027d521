#!/usr/bin/env python3
"""test_handouts.py: the handouts must not drift from the code.

    tests/test_handouts.py [--handouts DIR] [--lab N] [--skip-boot] [--cold] [--jobs N] [-v]

Checks every handouts/*.md (or DIR/*.md) and prints one line per check:

    TEST handouts-links: ok|FAIL <why>     every image and local link exists; every
                                           .svg linked or in img/ parses as XML
    TEST handouts-markers: ok|FAIL <why>   labN.md names every exercise region of
                                           labs/phaseN/ (`TODO lab N: task`), and no other
    TEST handouts-make: ok|FAIL <why>      every `make TARGET` shown is a real target
    TEST handouts-examples: ok|FAIL <why>  instructors.md's marker example goes through
                                           scripts/handout.py as it shows, and its
                                           `handout.py --list N` commands run
    TEST handouts-console[FILE:LINE]: ok|FAIL <why>
                                           one line per console block: its monitor
                                           commands, run on the real kernel of that lab,
                                           print the lines the handout shows

Exit status 0 when every check passed, 1 otherwise.  A build that fails, or a lab that
does not boot, is a FAIL line of its own (handouts-console-build, -boot-labN).

Conventions a handout author needs to know
------------------------------------------

make targets.  Looked for in inline code (`make lab1`) and in fenced code blocks
(a line `$ make ...` or `make ...`, perhaps after VAR=value words).  Options
(-s, -j 4, -C DIR) and variable assignments (INITRD_EXTRA=DIR) are skipped, and so
are ALL-CAPS placeholders (TARGET).  A target written with a capital N (labN, grade-labN) stands for
N = 1, 2 and 3.  Each target must pass `make -n TARGET` in the repository, and
every scripts/..., tests/... or grader/... script that the dry run would execute must exist
(the dry run sets MAKE=true, so a recursive `$(MAKE) X` is not followed; the
targets a handout shows are each checked themselves).

Console blocks.  A fenced code block is a console block when a line in it starts
with a monitor prompt, `lab1> `, `lab2> ` or `lab3> `; the prompt names the lab
whose kernel runs the block.  The text after the prompt is a command; the lines
under it, up to the next prompt line, are output the handout promises.  Lines
before the first prompt are promised boot output.

  - Each console block gets a machine of its own, fresh from boot, so pids start
    at 1 in every block.  (Each lab boots once; QEMU saves the machine at its
    first prompt and every block of that lab starts from that snapshot, which
    takes a fraction of a second instead of a boot.  --cold boots every block.)
  - Every promised line must match a different line of the real output of its
    command.  Order does not matter (processes run concurrently), and real lines
    the handout leaves out are fine.
  - Placeholders: `…` (U+2026) or `...` inside a line matches any run of
    characters, including none: `pid=…`, `0xffffffff8…`, `tag=…`.  A line that is
    only `…` or `...` promises nothing (it marks omitted lines).
  - Runs of spaces match any run of spaces, and leading and trailing spaces are
    ignored.
  - A command fails, even with nothing promised under it, if the kernel answers
    `unknown command`, `usage:`, `[k] load-error` or `[k] panic` and the handout
    does not show that line.
  - A block whose output cannot be promised (it differs from run to run) is shown
    without a prompt, e.g. as ```text, and is not run.

The kernels are booted exactly as a student boots them, from the tree this script
is in: `make` builds build/phaseN/kernel.elf, the user programs and the grader's
test programs (grader/progs), and scripts/mkinitrd.sh and scripts/mkiso.sh put them
on a private ISO in a temporary directory, the same initrd `make labN
INITRD_EXTRA=DIR` would build (private, so a grader running at the same time in
this tree cannot swap the initrd under us).  QEMU runs with TCG, as
`make labN-qemu` does; every QEMU started here is killed before the script exits.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402  (its QMP client)
LABS = (1, 2, 3, 4)
import qemu  # noqa: E402  (the one QEMU command line of the kit)
# As `make labN-qemu` boots (plain TCG), headless.
QEMU = qemu.binary() + qemu.flags(icount=False)
BOOT_TIMEOUT = 60       # seconds from QEMU start to the first prompt
CMD_TIMEOUT = 40        # seconds from a command to the next prompt
ELISIONS = ("…", "...")
# Real output that means a command did not do what the handout thinks it does.
ALARMS = ("unknown command", "usage:", "[k] load-error", "[k] panic")

failures = 0
print_lock = threading.Lock()


def report(name, why=None, detail=()):
    """Print `TEST name: ok` or `TEST name: FAIL why` (and indented detail)."""
    global failures
    with print_lock:
        if why is None:
            print("TEST %s: ok" % name)
        else:
            failures += 1
            print("TEST %s: FAIL %s" % (name, why))
            for ln in detail:
                print("    " + ln)
        sys.stdout.flush()


# ---------------------------------------------------------------------------
# Reading the handouts.

class Block:
    """One fenced code block: file, line number of its opening fence, info, lines."""

    def __init__(self, path, line, info, lines):
        self.path, self.line, self.info, self.lines = path, line, info, lines

    def where(self):
        return "%s:%d" % (os.path.basename(self.path), self.line)


def read_blocks(path):
    """Split a Markdown file into its fenced code blocks and its prose lines."""
    blocks, prose = [], []
    fence = None
    with open(path, encoding="utf-8") as f:
        for n, ln in enumerate(f.read().split("\n"), 1):
            m = re.match(r"^\s*(```+|~~~+)\s*(.*)$", ln)
            if fence is None and m:
                fence = m.group(1)
                blocks.append(Block(path, n, m.group(2).strip(), []))
            elif fence is not None and ln.strip().startswith(fence) and not ln.strip()[len(fence):].strip():
                fence = None
            elif fence is not None:
                blocks[-1].lines.append((n, ln))
            else:
                prose.append((n, ln))
    return blocks, prose


# ---------------------------------------------------------------------------
# Links and images.

def check_links(mds, handouts):
    bad, nimg, nsvg = [], 0, 0
    svgs = set(glob.glob(os.path.join(handouts, "img", "*.svg")))
    for md in mds:
        _, prose = read_blocks(md)
        for n, ln in prose:
            ln = re.sub(r"`[^`]*`", "", ln)     # no links inside inline code
            targets = [(m.group(1), True) for m in re.finditer(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)", ln)]
            targets += [(m.group(1), True) for m in re.finditer(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", ln)]
            targets += [(m.group(1), False) for m in re.finditer(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)", ln)]
            for t, is_img in targets:
                if re.match(r"^[a-z]+:", t) or t.startswith("#"):
                    continue                    # a URL or an anchor in this page
                p = os.path.normpath(os.path.join(os.path.dirname(md), t.split("#")[0]))
                if is_img:
                    nimg += 1
                if not os.path.exists(p):
                    bad.append("%s:%d: %s %s does not exist" % (os.path.basename(md), n,
                                                              "image" if is_img else "link", t))
                elif p.endswith(".svg"):
                    svgs.add(p)
    for p in sorted(svgs):
        nsvg += 1
        try:
            ET.parse(p)
        except ET.ParseError as e:
            bad.append("%s is not valid XML: %s" % (os.path.relpath(p, os.path.dirname(handouts)), e))
    if bad:
        report("handouts-links", "%d broken" % len(bad), bad)
    else:
        report("handouts-links")
    return nimg, nsvg


# ---------------------------------------------------------------------------
# Exercise markers.

MARKER_RE = re.compile(r"^\s*(?://|;) LAB(\d+)(?: FULL)? BEGIN: (\S.*?)\s*$")


def check_markers(handouts):
    """Each lab's exercise regions (LABn BEGIN: task, in labs/phaseN/) and the
    handout's `TODO lab N: task` names must be the same set."""
    bad, n = [], 0
    for lab in LABS:
        md = os.path.join(handouts, "lab%d.md" % lab)
        if not os.path.exists(md):
            continue
        code = {}
        for f in sorted(glob.glob(os.path.join(ROOT, "labs", "phase%d" % lab, "*"))):
            with open(f, encoding="utf-8", errors="replace") as fh:
                for k, ln in enumerate(fh, 1):
                    m = MARKER_RE.match(ln)
                    if m and int(m.group(1)) == lab:
                        code.setdefault(m.group(2), "%s:%d" % (os.path.relpath(f, ROOT), k))
        with open(md, encoding="utf-8") as fh:
            text = re.sub(r"\s+", " ", fh.read())
        shown = set(re.findall(r"TODO lab %d: ([^`(]+?)\s*`" % lab, text))
        n += len(code)
        for task, where in sorted(code.items()):
            if task not in shown:
                bad.append("lab%d.md never names the exercise `TODO lab %d: %s` (%s)" % (lab, lab, task, where))
        for task in sorted(shown - set(code)):
            bad.append("lab%d.md names `TODO lab %d: %s`, which is no LAB%d region in labs/phase%d/"
                       % (lab, lab, task, lab, lab))
    if bad:
        report("handouts-markers", "%d mismatched" % len(bad), bad)
    else:
        report("handouts-markers")
    return n


# ---------------------------------------------------------------------------
# The generator's examples in instructors.md.

def check_examples(handouts):
    """instructors.md shows a LAB region, its stub and the starter's text: the
    generator must accept the first two and write the third; and every
    `$ python3 scripts/handout.py ...` line it shows must run."""
    md = os.path.join(handouts, "instructors.md")
    if not os.path.exists(md):
        return 0
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import handout
    blocks = read_blocks(md)[0]
    text = lambda b: "\n".join(ln for _, ln in b.lines)
    bad, n = [], 0
    for i, b in enumerate(blocks):
        m = re.search(r"^\s*(//|;) LAB(\d+) BEGIN", text(b), re.M)
        if not m:
            continue
        n += 1
        lab = int(m.group(2))
        stub = next((s for s in blocks[i + 1:] if re.match(r"\s*(//|;) STUB ", text(s))), None)
        want = next((s for s in blocks[i + 1:] if "TODO lab %d" % lab in text(s)), None)
        if not stub or not want:
            bad.append("%s: a LAB%d region without a STUB block and a TODO block after it"
                       % (b.where(), lab))
            continue
        try:
            parts = handout.parse("labs/phase%d/example.c" % lab, text(b),
                                  handout.read_stubs(text(stub)))
            got = handout.render(parts, lab)
        except handout.MarkerError as e:
            bad.append("%s: scripts/handout.py rejects it: %s" % (b.where(), e))
            continue
        if got.strip("\n") != text(want).strip("\n"):
            bad.append("%s: the starter would read %r, not what %s shows"
                       % (b.where(), got, want.where()))
    for b in blocks:
        for k, ln in b.lines:
            m = re.match(r"^\$ (python3 scripts/handout.py( --list \d+)?)\s*$", ln.strip())
            if not m or not m.group(2):
                continue                        # only what is quick and writes nothing
            n += 1
            r = subprocess.run(shlex.split(m.group(1)), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0 or not r.stdout.strip():
                bad.append("instructors.md:%d: `%s` failed: %s" % (
                    k, m.group(1), r.stdout.decode(errors="replace").strip()[-200:]))
    if bad:
        report("handouts-examples", "%d of %d" % (len(bad), n), bad)
    else:
        report("handouts-examples")
    return n


# ---------------------------------------------------------------------------
# make targets.

# The make-target extraction and dry run are test_docs.py's (it checks every document).
from test_docs import find_make_commands, dry_run  # noqa: E402


def check_make(mds, jobs):
    where = find_make_commands(mds)
    # One dry run for all of them; only if it fails, one per target to say which.
    if not where or dry_run(sorted(where)) is None:
        results = {}
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(8, jobs)) as ex:
            results = dict(zip(where, ex.map(lambda t: dry_run([t]), where)))
    bad = ["%s (shown at %s)" % (why, where[t]) for t, why in sorted(results.items()) if why]
    if bad:
        report("handouts-make", "%d of %d targets" % (len(bad), len(where)), bad)
    else:
        report("handouts-make")
    return len(where)


# ---------------------------------------------------------------------------
# Console blocks.

PROMPT_RE = re.compile(r"^lab([1234])> ?(.*)$")


class Console:
    """A console block: its lab, the boot lines it promises, its (command, lines)."""

    def __init__(self, block):
        self.block, self.lab, self.boot, self.steps = block, None, [], []
        for n, ln in block.lines:
            m = PROMPT_RE.match(ln.rstrip())
            if m:
                self.lab = self.lab or int(m.group(1))
                if int(m.group(1)) != self.lab:
                    raise ValueError("%s mixes prompts of two labs" % block.where())
                if m.group(2).strip():
                    self.steps.append((m.group(2).strip(), []))
                continue
            ln = ln.rstrip()
            if not ln.strip() or ln.strip() in ELISIONS:
                continue
            (self.steps[-1][1] if self.steps else self.boot).append(ln)


def pattern(line):
    """The regular expression for one promised line (see the conventions above)."""
    out = []
    for piece in re.split(r"(…|\.\.\.|\s+)", line.strip()):
        if piece in ELISIONS:
            out.append(".*?")
        elif piece and piece.isspace():
            out.append(r"\s+")
        elif piece:
            out.append(re.escape(piece))
    return re.compile("^" + "".join(out) + "$")


def match_lines(promised, real):
    """Promised lines that have no distinct real line to match (bipartite matching)."""
    real = [r.strip() for r in real]
    pats = [pattern(p) for p in promised]
    cand = [[j for j, r in enumerate(real) if p.match(r)] for p in pats]
    owner = {}

    def assign(i, seen):
        for j in cand[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or assign(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in sorted(range(len(pats)), key=lambda i: len(cand[i])):
        assign(i, set())
    placed = set(owner.values())
    return [promised[i] for i in range(len(promised)) if i not in placed]


def Qmp(path, timeout):
    """A QMP connection (the grader's client), retried until QEMU opens the socket."""
    end = time.time() + timeout
    while True:
        try:
            return gradelib.Qmp(path)
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.02)


class Qemu:
    """One kernel, booted from its ISO or resumed from a snapshot, driven over its
    serial console (and QMP, for snapshots)."""

    def __init__(self, iso, lab, qmp=None, incoming=None):
        self.prompt = ("lab%d> " % lab).encode()
        self.buf = b""
        self.qmp_path = qmp
        argv = QEMU + ["-cdrom", iso]
        if qmp:
            argv += ["-qmp", "unix:%s,server=on,wait=off" % qmp]
        if incoming:
            argv += ["-incoming", "exec:cat %s" % shlex.quote(incoming)]
        if STOP.is_set():
            raise RuntimeError("stopping")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        with print_lock:
            RUNNING.add(self.proc)
        if STOP.is_set():               # a signal came while we were starting it
            self.proc.kill()

    def until_prompt(self, timeout):
        """Read until the prompt; returns (text, how): how is prompt, exit or timeout."""
        start, end = len(self.buf), time.time() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            if self.buf.endswith(self.prompt) and len(self.buf) > start:
                how = "prompt"
                break
            left = end - time.time()
            if left <= 0:
                how = "timeout"
                break
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if r:
                data = os.read(fd, 65536)
                if not data:
                    how = "exit"
                    break
                self.buf += data
            elif self.proc.poll() is not None:
                how = "exit"
                break
        text = self.buf[start:]
        if how == "prompt":
            text = text[:-len(self.prompt)]
        return text.decode("utf-8", errors="replace").replace("\r", ""), how

    def snapshot(self, path, timeout=60):
        """At the prompt: save the machine to path (QEMU's migration to a file)."""
        try:
            q = Qmp(self.qmp_path, 10)
            try:
                q.call("migrate", uri="exec:cat > %s" % shlex.quote(path))
                end = time.time() + timeout
                while time.time() < end:
                    st = q.call("query-migrate").get("status")
                    if st in ("completed", "failed", "cancelled"):
                        return st == "completed" and os.path.getsize(path) > 0
                    time.sleep(0.02)
                return False
            finally:
                q.sock.close()
        except (OSError, ValueError, gradelib.QmpError):
            return False

    def resumed(self, timeout):
        """Wait until a machine started from a snapshot runs (typing earlier is lost)."""
        try:
            q = Qmp(self.qmp_path, timeout)
            try:
                end = time.time() + timeout
                while q.call("query-status").get("status") != "running":
                    if time.time() > end or self.proc.poll() is not None:
                        return False
                    time.sleep(0.01)
                return True
            finally:
                q.sock.close()
        except (OSError, ValueError, gradelib.QmpError):
            return False

    def send(self, cmd):
        try:
            self.proc.stdin.write(cmd.encode() + b"\r")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if self.qmp_path:
            try:
                os.unlink(self.qmp_path)
            except OSError:
                pass
        with print_lock:
            RUNNING.discard(self.proc)


RUNNING = set()                 # every QEMU started and not yet reaped
STOP = threading.Event()        # set on SIGINT/SIGTERM: start no more QEMUs
TIMES = {}


def kill_running():
    with print_lock:
        procs = list(RUNNING)
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def on_signal(signum, frame):
    STOP.set()
    kill_running()
    sys.exit(128 + signum)


def qmp_socket(tmp):
    """A fresh unix socket path (short: the limit is 107 bytes)."""
    global SOCKETS
    SOCKETS += 1
    return os.path.join(tmp, "q%d.sock" % SOCKETS)


SOCKETS = 0


class Lab:
    """One lab's kernel: its ISO, its boot output, and (unless cold) a snapshot of
    the machine at its first prompt that every console block starts from."""

    def __init__(self, n, iso, tmp):
        self.n, self.iso, self.tmp = n, iso, tmp
        self.snap = None
        self.boot_text = None
        self.boot_error = None

    def boot_once(self, cold):
        q = Qemu(self.iso, self.n, qmp=None if cold else qmp_socket(self.tmp))
        try:
            text, how = q.until_prompt(BOOT_TIMEOUT)
            if how != "prompt":
                self.boot_error = ("no lab%d> prompt after boot (%s)" % (self.n, how),
                                   text.splitlines()[-15:])
                return
            self.boot_text = text
            if not cold:
                path = os.path.join(self.tmp, "lab%d.snapshot" % self.n)
                if q.snapshot(path):
                    self.snap = path
        finally:
            q.close()

    def start(self):
        """A machine at the prompt: resumed from the snapshot, or booted.  Returns
        (qemu, boot text) or (None, (why, detail))."""
        if self.snap:
            q = Qemu(self.iso, self.n, qmp=qmp_socket(self.tmp), incoming=self.snap)
            if q.resumed(BOOT_TIMEOUT):
                return q, self.boot_text
            q.close()
        q = Qemu(self.iso, self.n)
        text, how = q.until_prompt(BOOT_TIMEOUT)
        if how != "prompt":
            q.close()
            return None, ("no lab%d> prompt after boot (%s)" % (self.n, how), text.splitlines()[-15:])
        return q, text


def run_console(con, lab, verbose):
    """Start a machine, run the block's commands, compare. Returns None or (why, detail)."""
    q, text = lab.start()
    if q is None:
        return text
    transcript = [text]
    try:
        missing = match_lines(con.boot, text.splitlines())
        if missing:
            return "boot output lacks %d promised line(s)" % len(missing), \
                ["promised: " + m for m in missing] + ["got:"] + ["  " + x for x in text.splitlines()]
        for i, (cmd, promised) in enumerate(con.steps):
            if not q.send(cmd):
                return "the kernel was gone before `%s`" % cmd, []
            text, how = q.until_prompt(CMD_TIMEOUT)
            transcript.append("lab%d> " % con.lab + text)     # text starts with the echo
            lines = text.split("\n")
            if lines and lines[0].strip() == cmd:
                lines = lines[1:]       # the monitor's echo of the command
            missing = match_lines(promised, lines)
            alarms = [ln for ln in lines if any(a in ln for a in ALARMS)
                      and not any(pattern(p).match(ln.strip()) for p in promised)]
            detail = ["got:"] + ["  " + x for x in lines if x.strip()][:40]
            if missing:
                return "`%s` did not print %d promised line(s)" % (cmd, len(missing)), \
                    ["promised: " + m for m in missing] + detail
            if alarms:
                return "`%s` printed %s" % (cmd, alarms[0].strip()), detail
            if how != "prompt" and i < len(con.steps) - 1:
                return "after `%s` the kernel %s before the next command" % (
                    cmd, "exited" if how == "exit" else "stopped answering"), detail
            if how == "timeout":
                return "`%s` did not come back to the prompt in %d s" % (cmd, CMD_TIMEOUT), detail
        return None
    finally:
        q.close()
        if verbose:
            with print_lock:
                print("---- %s (lab %d%s)" % (con.block.where(), con.lab,
                                            ", from the snapshot" if lab.snap else ""))
                print("".join(transcript).rstrip())
                print("----")


def build_isos(labs, tmp):
    """Build each lab's kernel and a private ISO with the grader's programs."""
    progs = sorted(glob.glob(os.path.join(ROOT, "grader", "progs", "*.c")))
    progs = ["build/grader/progs/" + os.path.basename(p)[:-2] for p in progs]
    targets = ["user"] + ["build/phase%d/kernel.elf" % n for n in labs] + progs
    r = subprocess.run(["make", "--no-print-directory", "-s", "-j4"] + targets, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return None, "make %s failed:\n%s" % (" ".join(targets), r.stdout.decode(errors="replace")[-3000:])
    extra = os.path.join(tmp, "extra")
    os.makedirs(extra)
    for p in progs:
        shutil.copy2(os.path.join(ROOT, p), extra)
    def one_iso(n):
        d = os.path.join(tmp, "phase%d" % n)
        os.makedirs(d)
        kernel = os.path.join(d, "kernel.elf")
        shutil.copy2(os.path.join(ROOT, "build", "phase%d" % n, "kernel.elf"), kernel)
        for cmd in (["scripts/mkinitrd.sh", os.path.join(d, "initrd.tar"), "build/user", extra],
                    ["scripts/mkiso.sh", os.path.join(d, "boot.iso"), str(n), kernel,
                     os.path.join(d, "initrd.tar")]):
            r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                return "%s failed:\n%s" % (" ".join(cmd), r.stdout.decode(errors="replace"))
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(labs)) as ex:
        errs = [e for e in ex.map(one_iso, labs) if e]
    if errs:
        return None, errs[0]
    isos = {n: os.path.join(tmp, "phase%d" % n, "boot.iso") for n in labs}
    return isos, None


def check_consoles(mds, only_lab, jobs, verbose, cold):
    consoles = []
    for md in mds:
        for b in read_blocks(md)[0]:
            if any(PROMPT_RE.match(ln) for _, ln in b.lines):
                try:
                    c = Console(b)
                except ValueError as e:
                    report("handouts-console[%s]" % b.where(), str(e))
                    continue
                if only_lab in (None, c.lab):
                    consoles.append(c)
    if not consoles:
        report("handouts-console", "no console blocks found")
        return 0
    labs = sorted({c.lab for c in consoles})
    tmp = tempfile.mkdtemp(prefix="check_handouts.")
    try:
        t0 = time.time()
        isos, err = build_isos(labs, tmp)
        TIMES["build"] = time.time() - t0
        if err:
            report("handouts-console-build", "cannot build the kernels", err.splitlines())
            return len(consoles)

        t0 = time.time()
        lab_of = {n: Lab(n, isos[n], tmp) for n in labs}
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            list(ex.map(lambda lab: lab.boot_once(cold), lab_of.values()))
        TIMES["first boots"] = time.time() - t0
        for lab in lab_of.values():
            if lab.boot_error:
                report("handouts-console-boot-lab%d" % lab.n, *lab.boot_error)

        def one(c):
            """(name, why, detail) for block c; why None when it passed."""
            name = "handouts-console[%s]" % c.block.where()
            if lab_of[c.lab].boot_error:
                return name, "not run: lab %d does not boot" % c.lab, []
            try:
                res = run_console(c, lab_of[c.lab], verbose)
            except RuntimeError:
                return None             # interrupted: no verdict
            return (name, None, []) if res is None else (name, res[0], res[1])

        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            outcomes = list(ex.map(one, consoles))
        TIMES["blocks"] = time.time() - t0
        for o in outcomes:              # in the order of the handouts
            if o:
                report(o[0], o[1], o[2])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return len(consoles)


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--handouts", default=os.path.join(ROOT, "handouts"),
                    help="directory of the .md files (default: handouts/ of this tree)")
    ap.add_argument("--lab", type=int, choices=LABS, help="run only this lab's console blocks")
    ap.add_argument("--skip-boot", action="store_true", help="links and make targets only")
    ap.add_argument("--jobs", type=int, default=min(4, max(2, os.cpu_count() or 1)),
                    help="QEMUs (and make dry runs) at once")
    ap.add_argument("--cold", action="store_true",
                    help="boot every console block through GRUB (default: boot each lab once, "
                         "snapshot it at its first prompt, and start every block from that)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every transcript")
    a = ap.parse_args()
    handouts = os.path.abspath(a.handouts)
    mds = sorted(glob.glob(os.path.join(handouts, "*.md")))
    if not mds:
        print("TEST handouts-links: FAIL no .md files in %s" % handouts)
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.time()
    try:
        nimg, nsvg = check_links(mds, handouts)
        check_markers(handouts)
        check_examples(handouts)
        ntargets = check_make(mds, a.jobs)
        TIMES["make -n"] = time.time() - t0
        nblocks = 0 if a.skip_boot else check_consoles(mds, a.lab, a.jobs, a.verbose, a.cold)
    finally:
        STOP.set()
        kill_running()
    print("check_handouts: %d files, %d images (%d svg), %d make targets, %d console blocks, "
          "%d failed, %.1f s (%s)" % (len(mds), nimg, nsvg, ntargets, nblocks, failures,
                                      time.time() - t0,
                                      ", ".join("%s %.1f s" % kv for kv in TIMES.items())))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
