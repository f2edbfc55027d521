#!/usr/bin/env python3
"""fuzz.py — `make fuzz`: run user/fuzz.c in each phase and say whether the kernel held.

    scripts/fuzz.py [--calls N] [--per-run N] [--seed S] [PHASE...]

For each phase (default 1 2 3): boot the phase's ISO, run `memprobe` (how many pages
one fresh process can map), then `run fuzz SEED PER_RUN` with SEED, SEED+1, ... until
CALLS calls are made (a run the fuzzer's own faults kill counts the calls up to its
last mark, and the next seed goes on), then `memprobe` again.  The kernel held if it
never panicked, never hung (every run came back to the prompt in time) and the two
memprobe counts are equal (no frame lost).  Prints one summary line per phase, with
calls per second and the seeds used.  Exit status 0 iff every phase held.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402

RUN_TIMEOUT = 300       # s for one run of PER_RUN calls: more is a hang


class Result:
    def __init__(self, phase):
        self.phase = phase
        self.calls = 0
        self.runs = 0
        self.killed = []        # (seed, calls made, kill line)
        self.seeds = []
        self.verdict = None     # None, or "panic: ..." / "timeout: ..." / ...
        self.pages = []         # memprobe before, after
        self.seconds = 0.0
        self.log = None

    def held(self):
        return self.verdict is None and len(self.pages) == 2 and self.pages[0] == self.pages[1]

    def summary(self):
        rate = self.calls / self.seconds if self.seconds else 0.0
        seeds = "%d..%d" % (self.seeds[0], self.seeds[-1]) if self.seeds else "-"
        verdict = self.verdict or ("held" if self.held() else "FRAMES LOST")
        return ("fuzz phase%d: %d calls in %d runs (seeds %s), %.0f calls/s, %d runs killed "
                "by their own faults, pages before/after %s, %s" %
                (self.phase, self.calls, self.runs, seeds, rate, len(self.killed),
                 "/".join(map(str, self.pages)) or "?", verdict))


def memprobe(m):
    lines = m.cmd("run memprobe", timeout=120)
    got = [int(mo.group(1)) for ln in lines for mo in [re.match(r"^memprobe: pages=(\d+)$", ln)] if mo]
    return got[0] if got else None


def one_run(m, seed, per_run):
    """Returns (calls made, kill line or None)."""
    lines = m.cmd("run fuzz %d %d" % (seed, per_run), timeout=RUN_TIMEOUT)
    if any(ln == "fuzz: done seed=%d calls=%d" % (seed, per_run) for ln in lines):
        return per_run, None
    marks = [int(mo.group(1)) for ln in lines
             for mo in [re.search(r"fuzz: mark seed=%d at=(\d+)$" % seed, ln)] if mo]
    kills = [ln for ln in lines if ln.startswith("[k] kill ")]
    return (marks[-1] if marks else 0), (kills[0] if kills else "no done line: %s" % lines[-3:])


def fuzz_phase(phase, calls, per_run, seed, logdir):
    """Fuzz one phase; returns a Result."""
    res = Result(phase)
    res.log = os.path.join(logdir, "phase%d.log" % phase)
    m = gradelib.Machine(os.path.join(ROOT, "build", "phase%d" % phase, "boot.iso"), phase,
                         res.log)
    m.cap = 1 << 62         # the fuzzer writes to the console now and then
    try:
        m.start()
        m.boot()
        res.pages.append(memprobe(m))
        t0 = time.monotonic()
        while res.calls < calls:
            n, kill = one_run(m, seed, min(per_run, calls - res.calls))
            res.seeds.append(seed)
            res.runs += 1
            res.calls += n
            if kill:
                res.killed.append((seed, n, kill))
            seed += 1
            m.buf = m.buf[m.pos:]   # keep memory flat over a million calls
            m.pos = 0
        res.seconds = time.monotonic() - t0
        res.pages.append(memprobe(m))
    except gradelib.Verdict as v:
        res.verdict = "%s after seed %s: %s %s" % (v.kind, seed, v, (v.got or [])[-6:])
        res.seconds = res.seconds or 1.0
    finally:
        m.close()
    return res


def build(phases):
    targets = ["lab%d" % p for p in phases]
    r = subprocess.run(["make", "-s", "-C", ROOT] + targets, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout[-2000:])
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=10 ** 6, help="calls per phase")
    ap.add_argument("--per-run", type=int, default=20000, help="calls per run of fuzz")
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("phases", nargs="*", type=int, default=[1, 2, 3])
    a = ap.parse_args()
    if not build(a.phases):
        return 2
    logdir = os.path.join(ROOT, "build", "fuzz")
    ok = True
    for p in a.phases:
        res = fuzz_phase(p, a.calls, a.per_run, a.seed, logdir)
        print(res.summary(), flush=True)
        for seed, n, kill in res.killed[:5]:
            print("  seed %d killed after %d calls: %s" % (seed, n, kill))
        ok = ok and res.held()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
