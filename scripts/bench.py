#!/usr/bin/env python3
"""bench.py — `make bench`: what each phase's entry path and context switch cost.

For each phase, boots the kernel twice: under plain TCG (wall-clock ns, what a student
feels) and under TCG with -icount shift=0 (one virtual ns per guest instruction, so the
figure is an instruction count and repeats exactly). In each boot it runs
  bench null N                  getpid in a loop: the null system-call round trip
  bench yield N & bench yield N sched_yield ping-pong between two processes
and prints one table. Figures are ns per operation from the programs' clock_gettime.
"""
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402

NULL_ITERS = int(os.environ.get("BENCH_NULL_ITERS", "500000"))
YIELD_ITERS = int(os.environ.get("BENCH_YIELD_ITERS", "100000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def elapsed(lines, mode):
    """(iters, elapsed_ns) of every BENCH line of this mode."""
    out = []
    for ln in lines:
        mo = re.match(r"^BENCH %s iters=(\d+) elapsed_ns=(\d+)" % mode, ln)
        if mo:
            out.append((int(mo.group(1)), int(mo.group(2))))
    return out


def measure(phase, icount):
    """Median ns per null call and per yield switch over REPEAT runs in one boot."""
    log = os.path.join(ROOT, "build", "bench", "phase%d-%s.log" % (phase, "icount" if icount else "tcg"))
    m = gradelib.Machine(os.path.join(ROOT, "build", "phase%d" % phase, "boot.iso"), phase, log, icount=icount)
    null, pingpong = [], []
    try:
        m.start()
        m.boot(timeout=60)
        m.cmd("set preempt off")	# the same scheduling in every phase
        for _ in range(REPEAT):
            r = elapsed(m.cmd("run bench null %d" % NULL_ITERS, timeout=120), "null")
            null += [e / n for n, e in r]
            r = elapsed(m.cmd("run bench yield %d & bench yield %d" % (YIELD_ITERS, YIELD_ITERS),
                              timeout=120), "yield")
            if len(r) == 2:
                # Each process's window holds its own yields and the other's: 2N switches.
                pingpong.append(statistics.mean(e for _, e in r) / (2 * YIELD_ITERS))
    except gradelib.Verdict as v:
        print("phase %d: %s: %s (log %s)" % (phase, v.kind, v, log), file=sys.stderr)
    finally:
        m.close()
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    return med(null), med(pingpong)


def main():
    r = subprocess.run(["make", "-s", "-C", ROOT, "all"])
    if r.returncode:
        return r.returncode
    rows = {}
    for p in (1, 2, 3):
        rows[p] = measure(p, False) + measure(p, True)
    print()
    print("ns per operation (median of %d runs; null: %d getpid calls, ping-pong: 2 x %d yields)"
          % (REPEAT, NULL_ITERS, YIELD_ITERS))
    print("%-8s %14s %16s %18s %20s" % ("phase", "null (TCG)", "ping-pong (TCG)",
                                         "null (icount)", "ping-pong (icount)"))
    fmt = lambda x, w: ("%*.1f" % (w, x)) if x == x else "%*s" % (w, "broken")
    for p, (n, pp, ni, ppi) in rows.items():
        print("%-8s %s %s %s %s" % ("phase %d" % p, fmt(n, 14), fmt(pp, 16), fmt(ni, 18), fmt(ppi, 20)))
    print("(\"broken\": phase 1's two yielding processes corrupt each other on the shared stack)")
    base_n, base_pp = rows[1][2], rows[2][3]
    print()
    print("icount (instructions): phase 2 null vs phase 1: %+.1f%%; phase 3 ping-pong vs phase 2: %+.1f%%"
          % (100 * (rows[2][2] / base_n - 1), 100 * (rows[3][3] / base_pp - 1)))
    print("TCG wall clock:        phase 2 null vs phase 1: %+.1f%%; phase 3 ping-pong vs phase 2: %+.1f%%"
          % (100 * (rows[2][0] / rows[1][0] - 1), 100 * (rows[3][1] / rows[2][1] - 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
