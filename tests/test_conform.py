#!/usr/bin/env python3
"""test_conform.py — Linux-exact answers, by differential test (issue 10 item 6).

user/conform.c prints one line per system-call case.  This suite runs the same static
binary natively on the Linux host (fds 0-2 on a pseudo-terminal: 0 read-only, 1 and 2
write-only, as the kernel's console is) and in each phase, and diffs the two outputs.
They must be identical except for the cases in DIFFERENCES, each with the reason why
Linux's answer depends on something this kernel does not have.  Every documented
difference must still differ (a stale entry fails too).  One line per check:
"TEST conform-<what>: ok|FAIL ...".  Usage: test_conform.py [PHASE...]
"""
import difflib
import os
import pty
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402

BINARY = os.path.join(ROOT, "build", "user", "conform")
EXIT_STATUS = 5     # conform ends with exit_group(0x105)

# case -> why Linux's answer depends on something this kernel does not have.
DIFFERENCES = {
    "probe-500": "the lab probes (500-503) exist only in this kernel; Linux: ENOSYS",
    "ioctl-tcgets": "the console has no termios; every ioctl but TIOCGWINSZ is ENOTTY "
                    "(docs/design.md)",
}

failures = 0


def report(name, ok, why=""):
    global failures
    print("TEST %s: %s" % (name, "ok" if ok else "FAIL " + why), flush=True)
    failures += not ok


def host_run():
    """Run conform natively with fds 0-2 on a pty; returns (status, lines)."""
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    rd = os.open(name, os.O_RDONLY | os.O_NOCTTY)
    wr = os.open(name, os.O_WRONLY | os.O_NOCTTY)
    p = subprocess.Popen([BINARY], stdin=rd, stdout=wr, stderr=wr, close_fds=True)
    for fd in (rd, wr, slave):
        os.close(fd)
    out = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:         # EIO: every slave fd is closed
            break
        if not data:
            break
        out += data
    os.close(master)
    status = p.wait()
    return status, out.decode("utf-8", "replace").replace("\r", "").split("\n")


def case_lines(lines):
    """The lines from "conform: start" to "conform: end" (kernel lines dropped)."""
    try:
        a, b = lines.index("conform: start"), lines.index("conform: end")
    except ValueError:
        return None
    return [ln for ln in lines[a:b + 1] if not ln.startswith("[k] ")]


def cases(lines):
    return {m.group(1): m.group(2) for ln in lines for m in [re.match(r"^(\S+): (.*)$", ln)] if m}


def compare(label, host, guest):
    """Report one phase's output against the host's."""
    h, g = cases(host), cases(guest)
    differ = sorted(k for k in set(h) | set(g) if h.get(k) != g.get(k))
    bad = [k for k in differ if k not in DIFFERENCES]
    # Lines that are not cases (bytes the write cases wrote) must match too.
    plain_h = [ln for ln in host if not re.match(r"^\S+: ", ln)]
    plain_g = [ln for ln in guest if not re.match(r"^\S+: ", ln)]
    report("conform-%s-identical" % label, not bad and plain_h == plain_g,
           "; ".join("%s: host %s, here %s" % (k, h.get(k), g.get(k)) for k in bad[:12]) +
           ("" if plain_h == plain_g else " written bytes differ: %s" %
            list(difflib.unified_diff(plain_h, plain_g, lineterm=""))[:8]))
    stale = [k for k in DIFFERENCES if h.get(k) == g.get(k)]
    report("conform-%s-documented-differ" % label, not stale,
           "documented as different but identical: %s" % stale)


def build(phase):
    r = subprocess.run(["make", "-s", "-C", ROOT, "lab%d" % phase],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    report("conform-p%d-build" % phase, r.returncode == 0, r.stdout[-500:])
    return r.returncode == 0


def guest_run(phase):
    """Boot the phase, run conform; returns (exit status or None, lines)."""
    log = os.path.join(ROOT, "build", "test-conform", "phase%d.log" % phase)
    m = gradelib.Machine(os.path.join(ROOT, "build", "phase%d" % phase, "boot.iso"), phase, log)
    try:
        m.start()
        m.boot()
        lines = m.cmd("run conform", timeout=120)
        exits = [int(mo.group(1)) for ln in lines
                 for mo in [re.match(r"^\[k\] exit pid=\d+ status=(\d+)(?: |$)", ln)] if mo]
        return (exits[0] if exits else None), lines
    except gradelib.Verdict as v:
        report("conform-p%d-run" % phase, False, "%s: %s (log %s)" % (v.kind, v, log))
        return None, []
    finally:
        m.close()


def main():
    phases = [int(a) for a in sys.argv[1:]] or [1, 2, 3]
    r = subprocess.run(["make", "-s", "-C", ROOT, "build/user/conform"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        report("conform-host-build", False, r.stdout[-500:])
        return 1
    status, out = host_run()
    host = case_lines(out)
    report("conform-host-run", status == EXIT_STATUS and host is not None,
           "exit %s, %d lines: %s" % (status, len(out), out[-4:]))
    if host is None:
        return 1
    for p in phases:
        if not build(p):
            continue
        status, lines = guest_run(p)
        guest = case_lines(lines)
        report("conform-p%d-run" % p, status == EXIT_STATUS and guest is not None,
               "exit %s: %s" % (status, lines[-6:]))
        if guest is not None:
            compare("p%d" % p, host, guest)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
