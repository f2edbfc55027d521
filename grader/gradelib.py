"""gradelib — the grader's machinery, in the manner of MIT's gradelib: one import for
test files (`from gradelib import test, fail, ...`), re-exporting modules with one job
each:

    procs     child processes (own process groups, killed with the grader) and signals
    qemu      the one QEMU command line of the kit (also printed for the Makefile)
    machine   one QEMU driven over its serial port; QMP snapshots; time budgets
    kout      `[k]` lines and tagged RESULT lines of a `run` command
    tags      nonces and RESULT tags
    verdict   Verdict (how a test failed, with its evidence) and Outcome
    registry  @test and the list of tests
    building  the grader's programs into a staging directory; a tree's kernel
    schedule  grading one tree: builds, then the tests in a pool of threads

A test is one small function, registered with its name, points and title:

    @test("hello", 5, "`run hello world` greets and exits 0")
    def hello(m):
        r = m.run("hello world")
        r.expect_line(r"^Hello, world!")
        r.expect_exit(0, 0)

It receives a Machine: a fresh QEMU that has already reached the monitor prompt.
Anything that goes wrong raises Verdict (see verdict.py for the kinds).

Nothing happens on import: grade.py's main() calls procs.install_handlers().
Python 3 standard library only.
"""

from building import ROOT, bad_elves, build_stage, build_tree  # noqa: E402,F401
from kout import Instance, Run, as_int, fields, klines  # noqa: E402,F401
from machine import (BOOT_TIMEOUT, CMD_TIMEOUT, OUTPUT_CAP, Budget, Machine,  # noqa: E402,F401
                     Qmp, QmpError, Snapshot)
from procs import (MARK_VAR, install_handlers, kill_all, on_interrupt,  # noqa: E402,F401
                   prune_dead, remove_at_exit, run_cmd, spawn, reap, stop_all, stopping)
from registry import TESTS, Test, load_tests, test  # noqa: E402,F401
from schedule import LabResult, grade_tree, run_one  # noqa: E402,F401
from tags import fnv1a64, new_nonce, tag, xorshift_bytes  # noqa: E402,F401
from verdict import VERDICT_NAMES, Outcome, Verdict, fail  # noqa: E402,F401
