"""verdict — how a test failed, with its evidence, and what one test did (Outcome).

A test fails by raising Verdict; its kind says how:

    wrong    the output is not what was expected (expected lines against what came back)
    timeout  no prompt within the time limit (a hang)
    panic    the kernel printed "[k] panic" (the line and the register dump are the evidence)
    reset    QEMU exited with status 0: a triple fault under -no-reboot, never a pass
    exit     QEMU exited unexpectedly with another status
    flood    the serial output passed the cap (machine.OUTPUT_CAP), or kept coming
             (machine.FLOOD_BYTES for machine.FLOOD_SECONDS) without a prompt
    missing  "[k] load-error ... reason=\"not found\"" for a program the test runs
    build    the lab's build or the grader's own build failed
    grader   a bug in the grader itself (a Python exception), or the grader was stopped

Python 3 standard library only; nothing happens on import.
"""


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
        self.nbytes = 0          # serial bytes the test read

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

    def evidence(self, indent="    ", log=True):
        """The failure as text lines: verdict, expected, got, and (log) the path of the
        serial log."""
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
        if self.log and log:
            out.append("%sserial log: %s" % (indent, self.log))
        return out
