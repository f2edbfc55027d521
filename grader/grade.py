#!/usr/bin/env python3
"""grade.py — grade a stacklabs tree, a directory of submissions, or the whole matrix.

    grade.py --lab 2                      grade this tree for lab 2
    grade.py --all [--tree DIR]           labs 1-3
    grade.py --lab 2 --batch SUBS --jobs 4 --out OUT
                                          every SUBS/<student>/ -> OUT/grades.csv, OUT/<student>.json
    grade.py --matrix [--repeat 20]       every test on every phase, against the expected matrix
    --hidden DIR   add an instructor's tests: DIR/*.c (built like grader/progs), ready
                   executables, and DIR/tests.py (tests registered like grader/tests.py)
    --json FILE    write the results as JSON;  --gradescope FILE  as Gradescope's results.json

The grader always builds its own test programs (grader/progs, user/hello, user/syscalls
of the tree this file is in) and hands them to `make labN INITRD_EXTRA=...`, so a
submission's copies never count.
"""

import argparse
import csv
import json
import os
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gradelib  # noqa: E402
from gradelib import ROOT, VERDICT_NAMES  # noqa: E402

LABS = (1, 2, 3, 4)


def load(hidden=None):
    """Load the public tests, then the hidden ones.  Returns the list of tests."""
    if not gradelib.TESTS:
        gradelib.load_tests(os.path.join(ROOT, "grader", "tests.py"))
        if hidden and os.path.exists(os.path.join(hidden, "tests.py")):
            gradelib.load_tests(os.path.join(hidden, "tests.py"), hidden=True)
    return list(gradelib.TESTS)


def stage_dir():
    """This grader's own staging directory (one per process, removed at exit), so
    graders running at once never rebuild each other's programs.  Those of graders
    that were killed are removed here."""
    top = os.path.join(ROOT, "build", "grade")
    gradelib.prune_dead(top, "stage-")
    d = os.path.join(top, "stage-%d" % os.getpid())
    gradelib.remove_at_exit(d)
    return d


def build_stage(hidden, jobs):
    """Build the grader's programs; exit 2 if the grader's own tree is broken."""
    d = stage_dir()
    bad = gradelib.build_stage(d, hidden, jobs)
    if bad:
        print("grader: cannot build its own test programs: %s" % bad.message)
        for ln in bad.got:
            print("    " + ln)
        sys.exit(2)
    return d


# ---------------------------------------------------------------------------
# Reports.

def line_for(o):
    """`name: PASS (5/5)` and friends, plus the evidence lines of a failure."""
    t = o.test
    if o.graded:
        head = "%s: %s (%d/%d)" % (t.name, "PASS" if o.passed else "FAIL", o.earned, t.points)
        if o.seconds:
            head += "  %.1fs" % o.seconds
        return [head] + o.evidence()
    k = t.fixed_in(o.lab)
    later = "fixed in lab %d" % k if k else "not fixed in any lab"
    if o.passed:
        return ["%s: not vulnerable (expected to fail until lab %s), 0 points" % (t.name, k)]
    return ["%s: vulnerable — %s" % (t.name, later),
            "    observed: %s: %s" % (VERDICT_NAMES.get(o.kind, o.kind), o.verdict.message)]


def report(results, out=sys.stdout):
    """Print every lab's tests and the score line; returns the text."""
    text = []
    for r in results:
        built = "build failed" if r.build else "built in %.1f s" % r.build_seconds
        text.append("== lab %d: %s (%s)" % (r.lab, r.tree, built))
        for o in r.outcomes:
            text += line_for(o)
        if len(results) > 1:
            text.append("lab %d score: %d/%d" % (r.lab, r.score, r.max))
    text.append("Score: %d/%d" % (sum(r.score for r in results), sum(r.max for r in results)))
    s = "\n".join(text)
    print(s, file=out, flush=True)
    return s


def outcome_json(o):
    v = o.verdict
    return {
        "name": o.test.name,
        "title": o.test.title,
        "points": o.test.points,
        "graded": o.graded,
        "hidden": o.test.hidden,
        "expected": "pass" if o.graded else "fail",
        "status": "pass" if o.passed else ("fail" if o.graded else "vulnerable"),
        "earned": o.earned,
        "max": o.max,
        "verdict": o.kind,
        "message": v.message if v else "",
        "expected_lines": v.expected if v else [],
        "got_lines": v.got if v else [],
        "log": o.log,
        "seconds": round(o.seconds, 2),
        "start": "resumed" if o.resumed else "booted",
        "serial_bytes": getattr(o, "nbytes", 0),
    }


def results_json(results):
    return {
        "labs": [{
            "tree": r.tree,
            "lab": r.lab,
            "score": r.score,
            "max": r.max,
            "build": None if not r.build else {"message": r.build.message, "errors": r.build.got},
            "tests": [outcome_json(o) for o in r.outcomes],
        } for r in results],
        "score": sum(r.score for r in results),
        "max": sum(r.max for r in results),
    }


def gradescope_json(results, elapsed, text):
    """Gradescope's results.json: score, execution_time, output, tests[]."""
    tests = []
    for r in results:
        for o in r.outcomes:
            name = o.test.name if len(results) == 1 else "lab%d %s" % (r.lab, o.test.name)
            lines = line_for(o)
            if not o.graded:
                name += " (vulnerable until lab %s, 0 points)" % o.test.fixed_in(r.lab)
            tests.append({
                "name": name,
                "number": str(len(tests) + 1),
                "score": o.earned,
                "max_score": o.max,
                # A test this lab does not grade is worth 0 and expected to show the
                # flaw: not a red mark for the student.
                "status": "passed" if o.passed or not o.graded else "failed",
                "output": "\n".join(lines[1:]) or o.test.title,
                "visibility": "after_published" if o.test.hidden else "visible",
            })
    return {
        "score": sum(r.score for r in results),
        "execution_time": int(round(elapsed)),
        "output": text,
        "tests": tests,
    }


# ---------------------------------------------------------------------------
# Modes.

def grade_one(args, tests, stage):
    labs = LABS if args.all else (args.lab,)
    t0 = time.monotonic()
    results = gradelib.grade_tree(args.tree, labs, tests, stage, args.jobs, cold=args.cold)
    text = report(results)
    elapsed = time.monotonic() - t0
    if args.json:
        write_json(args.json, results_json(results))
    if args.gradescope:
        write_json(args.gradescope, gradescope_json(results, elapsed, text))
    return 0


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def grade_batch(args, tests, stage):
    """Every subdirectory of args.batch is one student's tree."""
    labs = LABS if args.all else (args.lab,)
    students = sorted(d for d in os.listdir(args.batch)
                      if os.path.isdir(os.path.join(args.batch, d)))
    os.makedirs(args.out, exist_ok=True)
    slots = threading.BoundedSemaphore(max(1, args.jobs))
    from concurrent.futures import ThreadPoolExecutor
    t0 = time.monotonic()

    def one(student):
        tree = os.path.join(args.batch, student)
        results = gradelib.grade_tree(tree, labs, tests, stage, args.jobs, slots, cold=args.cold,
                                       make_jobs=1)     # the trees build in parallel already
        write_json(os.path.join(args.out, student + ".json"),
                   dict(student=student, **results_json(results)))
        for r in results:
            print("%s lab %d: %d/%d" % (student, r.lab, r.score, r.max), flush=True)
        return student, results

    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        graded = list(ex.map(one, students))
    names = [t.name for t in tests]
    with open(os.path.join(args.out, "grades.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lab", "score", "max"] + names)
        for student, results in graded:
            for r in results:
                cells = [o.earned if o.graded else ("vulnerable" if not o.passed else "n/a")
                         for o in r.outcomes]
                w.writerow([student, r.lab, r.score, r.max] + cells)
    print("batch: %d submissions in %.1f s -> %s" % (
        len(students), time.monotonic() - t0, os.path.join(args.out, "grades.csv")))
    return 0


def matrix_once(args, tests, stage, logroot=None):
    """Run every test on every phase.  Returns ({(test, lab): outcome}, seconds, results)."""
    t0 = time.monotonic()
    results = gradelib.grade_tree(args.tree, LABS, tests, stage, args.jobs, logroot=logroot,
                                  cold=args.cold)
    cells = {(o.test.name, r.lab): o for r in results for o in r.outcomes}
    return cells, time.monotonic() - t0, results


def print_matrix(tests, cells, out=sys.stdout):
    """The matrix, one row per test; a cell off the expected matrix is marked !!.
    Returns the number of such cells."""
    wrong = 0
    fmt = " ".join(["%-18s"] * (1 + len(LABS)))
    print(fmt % tuple(["test"] + ["phase %d" % lab for lab in LABS]), file=out)
    for t in tests:
        row = []
        for lab in LABS:
            o = cells[(t.name, lab)]
            cell = "pass" if o.passed else "FAIL(%s)" % o.kind
            if o.passed != t.passes_in(lab):
                cell += " !!"
                wrong += 1
            row.append(cell)
        print(fmt % tuple([t.name] + row), file=out)
    return wrong


def matrix(args, tests, stage):
    runs = max(1, args.repeat)
    first = None
    same = True
    kinds_varied = set()
    for k in range(runs):
        # With --repeat, each run keeps its failure logs apart: build/grade/repeat-K/labN/.
        logroot = os.path.join(args.tree, "build", "grade", "repeat-%d" % (k + 1)) if runs > 1 else None
        if logroot:
            shutil.rmtree(logroot, ignore_errors=True)
        cells, secs, results = matrix_once(args, tests, stage, logroot)
        wrong = print_matrix(tests, cells)
        builds = sum(r.build_seconds for r in results)
        print("matrix: %s (%d runs, %.1f s wall, of which builds %.1f s)" % (
            "as expected" if not wrong else "%d cells differ from the expected matrix" % wrong,
            len(cells), secs, builds), flush=True)
        if args.json and k == 0:
            write_json(args.json, results_json(results))
        verdicts = {key: o.passed for key, o in cells.items()}
        kinds = {key: o.kind for key, o in cells.items()}
        if first is None:
            first = (verdicts, kinds, wrong)
        else:
            if verdicts != first[0]:
                same = False
                for key in verdicts:
                    if verdicts[key] != first[0][key]:
                        print("repeat %d: %s on phase %d changed: %s" % (
                            k + 1, key[0], key[1], kinds[key]))
            kinds_varied |= {key for key in kinds if kinds[key] != first[1][key]}
        if runs > 1:
            print("repeat %d/%d: %s" % (k + 1, runs, "same verdicts" if verdicts == first[0]
                                        else "VERDICTS DIFFER"), flush=True)
    if runs > 1:
        print("repeat: %d runs, verdicts identical every time: %s" % (runs, "yes" if same else "no"))
        if kinds_varied:
            print("repeat: failure kinds varied (still failures) in: %s" % ", ".join(
                "%s/phase%d" % key for key in sorted(kinds_varied)))
    return 0 if same and not first[2] else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--lab", type=int, choices=LABS)
    ap.add_argument("--all", action="store_true", help="labs 1-4")
    ap.add_argument("--tree", default=ROOT, help="the tree to grade (default: this one)")
    ap.add_argument("--batch", metavar="DIR", help="grade every DIR/<student>/")
    ap.add_argument("--out", metavar="OUTDIR", help="batch output directory")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                    help="QEMUs at once (default: the number of cores)")
    ap.add_argument("--hidden", metavar="DIR", help="instructor's extra tests")
    ap.add_argument("--matrix", action="store_true", help="every test on every phase")
    ap.add_argument("--repeat", type=int, default=1, help="with --matrix: run it N times")
    ap.add_argument("--only", metavar="T1,T2", help="run only these tests")
    ap.add_argument("--cold", action="store_true",
                    help="boot every test through GRUB (default: only `boot` does; the "
                         "others resume from a snapshot taken at its first prompt)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--gradescope", metavar="FILE", help="write Gradescope's results.json")
    args = ap.parse_args(argv)
    if not (args.lab or args.all or args.matrix):
        ap.error("say --lab N, --all or --matrix")
    if args.batch and not args.out:
        ap.error("--batch needs --out")
    args.hidden = os.path.abspath(args.hidden) if args.hidden else None
    args.tree = os.path.abspath(args.tree)
    try:
        tests = load(args.hidden)
        if args.only:
            names = args.only.split(",")
            unknown = set(names) - {t.name for t in tests}
            if unknown:
                ap.error("unknown tests: %s" % ", ".join(sorted(unknown)))
            tests = [t for t in tests if t.name in names]
        stage = build_stage(args.hidden, args.jobs)
        if args.matrix:
            return matrix(args, tests, stage)
        if args.batch:
            return grade_batch(args, tests, stage)
        return grade_one(args, tests, stage)
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
    finally:
        gradelib.kill_all()


if __name__ == "__main__":
    sys.exit(main())
