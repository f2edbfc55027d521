#!/usr/bin/env python3
"""test_fuzz.py — the system-call fuzzer (user/fuzz.c, driven by scripts/fuzz.py) in
every phase with fixed seeds: 10^4 calls per phase (`make fuzz` makes 10^6).  The
kernel must not panic, not hang, and give back every frame: `memprobe` (pages one
fresh process can map) reads the same before and after.  One line per check:
"TEST fuzz-pN-<what>: ok|FAIL ...".  Usage: test_fuzz.py [PHASE...]
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import fuzz  # noqa: E402  (scripts/fuzz.py: no side effects on import)

CALLS = 10 ** 4
PER_RUN = 5000
SEED = 1

failures = 0


def report(name, ok, why=""):
    global failures
    print("TEST %s: %s" % (name, "ok" if ok else "FAIL " + why), flush=True)
    failures += not ok


def main():
    phases = [int(a) for a in sys.argv[1:]] or [1, 2, 3]
    if not fuzz.build(phases):
        report("fuzz-build", False, "make failed")
        return 1
    logdir = os.path.join(ROOT, "build", "test-fuzz")
    for p in phases:
        res = fuzz.fuzz_phase(p, CALLS, PER_RUN, SEED, logdir)
        print(res.summary(), flush=True)
        t = "fuzz-p%d-" % p
        report(t + "no-panic-no-hang", res.verdict is None, "%s (log %s)" % (res.verdict, res.log))
        report(t + "calls", res.calls >= CALLS or res.verdict is not None,
               "%d calls of %d" % (res.calls, CALLS))
        report(t + "frames-kept", len(res.pages) == 2 and None not in res.pages and
               res.pages[0] == res.pages[1], "memprobe pages before/after: %s" % res.pages)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
