#!/usr/bin/env python3
"""grade.py — grade a stacklabs tree, a directory of submissions, or the whole matrix.

    grade.py --lab 2                      grade this tree for lab 2
    grade.py --all [--tree DIR]           labs 1-4
    grade.py --lab 2 --batch SUBS --jobs 4 --out OUT
                                          every SUBS/<student>/ -> OUT/grades.csv, OUT/<student>.json
    grade.py --matrix [--repeat 20]       every test on every phase, against the expected matrix
    --hidden DIR   add an instructor's tests: DIR/*.c (built like grader/progs), ready
                   executables, and DIR/tests.py (tests registered like grader/tests.py)
    --json FILE    write the results as JSON;  --gradescope FILE  as Gradescope's results.json

The grader always builds its own test programs (grader/progs, user/hello, user/syscalls
of the tree this file is in) and hands them to `make labN INITRD_EXTRA=...`, and builds
each lab in a fresh copy of the lab's starter with only the lab's own files
(labs/phaseN/) taken from the tree graded (grader/overlay.py): a submission's other
files, Makefile, scripts and build/ never count, and each one that differs from the
starter is named in the report ("not graded: ...").
"""

import argparse
import csv
import json
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gradelib  # noqa: E402
import sandbox  # noqa: E402
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
        until = "until lab %d" % k if k else "in every lab"
        return ["%s: not vulnerable (expected to fail %s), 0 points" % (t.name, until)]
    return ["%s: vulnerable — %s" % (t.name, later),
            "    observed: %s: %s" % (VERDICT_NAMES.get(o.kind, o.kind), o.verdict.message)]


def report(results, out=sys.stdout):
    """Print every lab's tests and the score line; returns the text."""
    text = []
    for r in results:
        built = "build failed" if r.build else "built in %.1f s" % r.build_seconds
        text.append("== lab %d: %s (%s)" % (r.lab, r.tree, built))
        text += r.notes
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
            "not_graded": r.notes,
            "tests": [outcome_json(o) for o in r.outcomes],
        } for r in results],
        "score": sum(r.score for r in results),
        "max": sum(r.max for r in results),
    }


# Escape sequences (GRUB paints the screen with them) and other control characters:
# Gradescope shows text as it is, so none may reach results.json.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f]")


def plain(text):
    """text without escape sequences or control characters (newlines and tabs kept)."""
    return _ESCAPES.sub("", text)


def gradescope_json(results, elapsed):
    """Gradescope's results.json (gradescope-autograders.readthedocs.io, "Autograder
    Specifications"): score, execution_time, output (plain text), output_format, and
    one test per outcome.  The top-level output shows only the visible tests, the
    files not graded and a build failure (once); a hidden test appears only in its own
    entry, after_published.  A test the lab does not grade is worth 0, named as
    informational, and never "passed" unless the kernel passed it."""
    multi = len(results) > 1
    tests, top = [], []
    for r in results:
        head = "lab%d" % r.lab if multi else ""
        if multi:
            top.append("== lab %d" % r.lab)
        top += r.notes
        if r.build:
            top.append("The build failed: every test of lab %d fails. %s" % (r.lab, r.build.message))
            top += ["    " + ln for ln in r.build.got]
        for o in r.outcomes:
            t = o.test
            name = ("%s %s" % (head, t.name)).strip()
            if o.graded:
                lines = [t.title] + (o.evidence(log=False) if not r.build else
                                     ["not run: the build failed (see the top of the page)"])
            else:
                k = t.fixed_in(r.lab)
                name += " [informational, 0 points: %s]" % (
                    "fixed in lab %d" % k if k else "not fixed in any lab")
                lines = [t.title, "Lab %d is not expected to pass this test yet." % r.lab]
                if not o.passed and not r.build:
                    lines.append("observed: %s: %s" % (VERDICT_NAMES.get(o.kind, o.kind),
                                                       o.verdict.message))
            entry = {
                "name": plain(name),
                "number": str(len(tests) + 1),
                "score": o.earned,
                "max_score": o.max,
                "status": "passed" if o.passed else "failed",
                "output": plain("\n".join(lines)),
                "output_format": "text",
                "visibility": "after_published" if t.hidden else "visible",
            }
            if not o.graded:
                entry["tags"] = ["informational"]
            tests.append(entry)
            if not t.hidden and o.graded:
                top.append("%s: %s (%d/%d)" % (name, "PASS" if o.passed else "FAIL", o.earned, o.max))
    if any(o.test.hidden for r in results for o in r.outcomes):
        top.append("More tests run whose results are shown when the grades are published.")
    return {
        "score": sum(r.score for r in results),
        "execution_time": int(round(elapsed)),
        "output": plain("\n".join(top)),
        "output_format": "text",
        "test_output_format": "text",
        "test_name_format": "text",
        "stdout_visibility": "hidden",      # grade.py's own report names hidden tests
        "tests": tests,
    }


# ---------------------------------------------------------------------------
# Modes.

def grade_one(args, tests, stage):
    labs = LABS if args.all else (args.lab,)
    t0 = time.monotonic()
    results = gradelib.grade_tree(args.tree, labs, tests, stage, args.jobs, cold=args.cold,
                                  use_overlay=not args.no_overlay)
    text = report(results)
    elapsed = time.monotonic() - t0
    if args.json:
        write_json(args.json, results_json(results))
    if args.gradescope:
        write_json(args.gradescope, gradescope_json(results, elapsed))
    return 0


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def grade_batch(args, tests, stage):
    """Every subdirectory of args.batch is one student's submission.  Each is graded
    in its own fresh trees (grader/overlay.py), with its own copy of the programs; its
    logs go to OUT/logs/<student>/, never into the submission.  Up to --jobs builds and
    QEMUs run at once (they share the slots).  OUT/grades.csv is written at the end,
    and on SIGINT/SIGTERM with the submissions that finished."""
    labs = LABS if args.all else (args.lab,)
    students = sorted(d for d in os.listdir(args.batch)
                      if os.path.isdir(os.path.join(args.batch, d)))
    os.makedirs(args.out, exist_ok=True)
    slots = threading.BoundedSemaphore(max(1, args.jobs))
    from concurrent.futures import ThreadPoolExecutor
    t0 = time.monotonic()
    graded = {}
    lock = threading.Lock()
    csv_path = os.path.join(args.out, "grades.csv")

    def one(student):
        tree = os.path.join(args.batch, student)
        results = gradelib.grade_tree(tree, labs, tests, stage, args.jobs, slots, cold=args.cold,
                                      logroot=os.path.join(args.out, "logs", student),
                                      make_jobs=1)     # the trees build in parallel already
        if gradelib.stopping():     # interrupted: its QEMUs were killed, not finished
            return student, None
        write_json(os.path.join(args.out, student + ".json"),
                   dict(student=student, **results_json(results)))
        for r in results:
            print("%s lab %d: %d/%d" % (student, r.lab, r.score, r.max), flush=True)
        with lock:
            graded[student] = results
        return student, results

    def write_csv():
        with lock:
            done = dict(graded)
        write_grades_csv(csv_path, tests, [(s, done[s]) for s in students if s in done])
        return len(done)

    def interrupted():
        n = write_csv()
        print("batch: interrupted; %d of %d submissions finished -> %s" % (
            n, len(students), csv_path), file=sys.stderr, flush=True)

    gradelib.on_interrupt(interrupted)
    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        list(ex.map(one, students))
    write_csv()
    print("batch: %d submissions in %.1f s -> %s" % (
        len(students), time.monotonic() - t0, csv_path))
    return 0


def write_grades_csv(path, tests, graded):
    """One row per student and lab: score, max, then per test the points (or
    vulnerable / n/a for a test the lab does not grade) and its verdict."""
    names = [t.name for t in tests]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "lab", "score", "max"] + names +
                   ["%s verdict" % n for n in names] + ["not graded"])
        for student, results in graded:
            for r in results:
                cells = [o.earned if o.graded else ("vulnerable" if not o.passed else "n/a")
                         for o in r.outcomes]
                kinds = [o.kind for o in r.outcomes]
                w.writerow([student, r.lab, r.score, r.max] + cells + kinds +
                           ["; ".join(r.notes)])
    os.replace(tmp, path)


def totals(tests, labs):
    """Print, per lab, the total to set on Gradescope: the points of the tests that
    lab grades (its public tests, then its hidden ones)."""
    for lab in labs:
        pub = sum(t.points for t in tests if t.passes_in(lab) and not t.hidden)
        hid = sum(t.points for t in tests if t.passes_in(lab) and t.hidden)
        print("lab %d: total %d points (public %d, hidden %d)" % (lab, pub + hid, pub, hid))
    return 0


def matrix_once(args, tests, stage, logroot=None):
    """Run every test on every phase.  Returns ({(test, lab): outcome}, seconds, results)."""
    t0 = time.monotonic()
    # The reference tree is trusted: built as it is, every phase of it.
    results = gradelib.grade_tree(args.tree, LABS, tests, stage, args.jobs, logroot=logroot,
                                  cold=args.cold, use_overlay=False)
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
    ap.add_argument("--only-hidden", action="store_true", help="run only the --hidden tests")
    ap.add_argument("--totals", action="store_true",
                    help="print the points each lab is graded on (public + hidden), and stop")
    ap.add_argument("--cold", action="store_true",
                    help="boot every test through GRUB (default: only `boot` does; the "
                         "others resume from a snapshot taken at its first prompt)")
    ap.add_argument("--no-overlay", action="store_true",
                    help="build the whole tree as it is (a trusted tree only: by default "
                    "only the lab's own files, labs/phaseN/, are taken from it)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--gradescope", metavar="FILE", help="write Gradescope's results.json")
    args = ap.parse_args(argv)
    if not (args.lab or args.all or args.matrix or args.totals):
        ap.error("say --lab N, --all, --matrix or --totals")
    if args.batch and not args.out:
        ap.error("--batch needs --out")
    gradelib.install_handlers()
    gradelib.on_interrupt(sandbox.kill_everything)
    args.hidden = os.path.abspath(args.hidden) if args.hidden else None
    args.tree = os.path.abspath(args.tree)
    off = sandbox.why_off()
    if not (args.matrix or args.totals or args.no_overlay):
        if off:
            print("grader: %s" % off, file=sys.stderr)
        else:
            # What the sandbox user must not read: hidden tests, results, logs, the
            # other submissions, the kit's solutions.
            sandbox.protect(args.hidden, args.out, os.path.join(ROOT, "build", "grade"),
                            os.path.join(ROOT, "labs") if os.path.exists(
                                os.path.join(ROOT, "scripts", "handout.py")) else None)
            for p in (args.json, args.gradescope):
                if p:
                    sandbox.protect(os.path.dirname(os.path.abspath(p)))
            if args.batch:
                sandbox.protect_top(args.batch)
    try:
        tests = load(args.hidden)
        if args.only:
            names = args.only.split(",")
            unknown = set(names) - {t.name for t in tests}
            if unknown:
                ap.error("unknown tests: %s" % ", ".join(sorted(unknown)))
            tests = [t for t in tests if t.name in names]
        if args.only_hidden:
            tests = [t for t in tests if t.hidden]
            if not tests:
                ap.error("--only-hidden: no hidden tests (--hidden DIR with DIR/tests.py)")
        if args.totals:
            return totals(tests, LABS if args.all or not args.lab else (args.lab,))
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
