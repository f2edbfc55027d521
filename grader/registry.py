"""registry — the tests: each a small function registered with its name, points and
title, and the phases it is expected to pass in.

    @test("hello", 5, "`run hello world` greets and exits 0")
    def hello(m):
        ...

    @test("two-cpus", 10, "...", cpus=2)       # this test's QEMU gets -smp 2

Python 3 standard library only; nothing happens on import (load_tests runs a test file).
"""

import re

TESTS = []


class Test:
    """One registered test: fn(m) on a Machine at the prompt, worth points."""

    def __init__(self, name, points, title, fn, expect=None, hidden=False, cpus=1):
        self.name = name
        self.points = points
        self.title = title
        self.fn = fn
        self.expect = expect    # "PPFP"-style string, one letter per phase 1..4
        self.hidden = hidden
        self.cpus = cpus        # QEMU -smp for this test (1: resumes from the snapshot)

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
    """Register fn as test name, worth points.  expect: "FPP"-style (one letter per
    phase); when omitted it comes from the EXPECT table of the module that defines the
    test.  cpus: the CPUs its QEMU gets (-smp N, 1..qemu.MAX_CPUS); a test with more
    than one boots through GRUB instead of resuming from the one-CPU snapshot."""
    if not isinstance(cpus, int) or not 1 <= cpus <= 8:
        raise ValueError("test %s: cpus=%r (1..8)" % (name, cpus))
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

