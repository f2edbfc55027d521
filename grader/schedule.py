"""schedule — grading one tree: build each lab, then run its tests in a pool of
threads, `boot` first (it calibrates the timeouts and saves the snapshot the others
resume from).

Python 3 standard library only; nothing happens on import.
"""

import fcntl
import os
import secrets
import shutil
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import overlay
import sandbox
from building import ROOT, build_tree
from machine import Machine, Snapshot
from procs import live_pids, prune_dead, remove_at_exit, stop_all
from verdict import VERDICT_NAMES, Outcome, Verdict

# Where the sandbox users' work directories go (0711: theirs cannot be listed).
SANDBOX_TOP = os.path.join(tempfile.gettempdir(), "stacklabs-sandbox")


def run_one(t, lab, iso, logdir, stage=None, slots=None, snap=None, user=None):
    """Run test t on a fresh QEMU of lab's kernel.  Returns an Outcome; the serial log
    is kept only when the test failed.  slots: a semaphore that bounds concurrent QEMUs.
    snap: a Snapshot.  The test that takes it boots through GRUB, saves the machine
    at its first prompt and goes on; the others resume from that file (a fresh QEMU
    process, at the prompt in 0.2 s instead of a 2 s boot)."""
    log = os.path.join(logdir, "%s.log" % t.name)
    m = Machine(iso, lab, log, cpus=t.cpus, user=user)
    m.stage = stage
    if t.cpus != 1 and snap and snap.taker != t.name:
        # The snapshot is of a one-CPU machine: boot this one through GRUB, with the
        # lab's calibration once `boot` has measured it.
        snap = _Calibrated(snap)
    verdict = None
    if slots:
        slots.acquire()
    t0 = time.monotonic()
    try:
        if snap and snap.taker != t.name:
            m.scale = snap.scale
        if snap and snap.ready():
            try:
                m.start(qmp=snap.socket(), incoming=snap.path)
                m.resume()
            except Verdict:
                # The machine was at the prompt when saved: a resume that fails is the
                # grader's trouble (a loaded host), never the kernel's.  Boot instead.
                m.close()
                m = Machine(iso, lab, log, cpus=t.cpus, user=user)
                m.stage, m.scale = stage, snap.scale
                m.start()
                m.boot()
        elif snap and snap.taker == t.name:
            m.start(qmp=snap.socket() if snap.take else None)
            m.boot()
            snap.calibrate(m.boot_seconds)
            if snap.take:
                snap.done(m.snapshot(snap.path))
        else:
            m.start()
            m.boot()
        t.fn(m)
    except Verdict as v:
        verdict = v
    except Exception as e:  # a bug in the test or the grader: say so, never pass
        verdict = Verdict("grader", "%s: %s" % (type(e).__name__, e),
                          got=traceback.format_exc().splitlines()[-6:])
    finally:
        m.close()
        if slots:
            slots.release()
        if snap and snap.taker == t.name and snap.take and not snap.ready():
            snap.done(False)
    secs = time.monotonic() - t0
    if verdict is None:
        try:
            os.unlink(log)
        except OSError:
            pass
        log = None
    o = Outcome(t, lab, verdict, secs, log, m.booted, m.commands, m.resumed)
    o.nbytes = m.nbytes
    return o



# ---------------------------------------------------------------------------
# Grading one tree.

class _Calibrated:
    """A Snapshot's calibration without its machine state (for tests whose QEMU
    differs from the snapshot's, e.g. more CPUs)."""

    def __init__(self, snap):
        self._snap = snap
        self.taker = snap.taker

    @property
    def scale(self):
        return self._snap.scale

    def ready(self):
        return False


class LabResult:
    """One lab of one tree: the build, then one Outcome per test (in TESTS order)."""

    def __init__(self, tree, lab, outcomes, build=None, build_seconds=0.0, notes=()):
        self.tree = tree
        self.lab = lab
        self.outcomes = outcomes
        self.build = build          # None, or the build Verdict
        self.build_seconds = build_seconds
        self.notes = list(notes)    # "not graded: ..." lines of the overlay

    @property
    def score(self):
        return sum(o.earned for o in self.outcomes)

    @property
    def max(self):
        return sum(o.max for o in self.outcomes)


def _not_run(t, lab, why, log=None):
    return Outcome(t, lab, Verdict(why.kind, why.message, why.expected, why.got), 0.0, log)


def build_lab(tree, lab, stage, slots, results, outcomes, tests, rundir, make_jobs=1,
              use_overlay=True, user=None):
    """Build lab and record a LabResult.  use_overlay: in a fresh directory under
    rundir holding the lab's pristine starter and only the owned files of tree
    (overlay.make); otherwise tree as it is (a trusted tree: the reference, the
    self-test's corpus), graders building the same tree taking turns (a lock file in
    its build/).  Returns the path of a private copy of the ISO, or None when the build
    failed (every test then fails with the build verdict)."""
    t0 = time.monotonic()
    mine = os.path.join(rundir, "lab%d" % lab, "boot.iso")
    os.makedirs(os.path.dirname(mine), exist_ok=True)
    notes, bad = [], None
    if use_overlay:
        where = os.path.join(rundir, "lab%d" % lab, "tree")
        try:
            notes = overlay.make(tree, lab, where)
            if user is not None:
                sandbox.give(where, user)
        except overlay.OverlayError as e:
            bad = Verdict("build", "not graded: %s" % e)
    else:
        where = tree
        os.makedirs(os.path.join(tree, "build"), exist_ok=True)
    if slots:
        slots.acquire()
    try:
        if bad is None and use_overlay:
            iso, bad = build_tree(where, lab, stage, make_jobs, user=user)
            if user is not None:    # nothing the build started outlives it (the
                user.kill_all(keep=live_pids())    # QEMUs of earlier labs run on)
        elif bad is None:
            with open(os.path.join(where, "build", ".grade.lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                iso, bad = build_tree(where, lab, stage, make_jobs)
                if iso:
                    shutil.copyfile(iso, mine)
        if bad is None and use_overlay:
            shutil.copyfile(iso, mine)
    finally:
        if slots:
            slots.release()
    results[lab] = LabResult(tree, lab, [], bad, time.monotonic() - t0, notes)
    if bad:
        for t in tests:
            outcomes[(lab, t.name)] = _not_run(t, lab, bad)
        return None
    return mine


def grade_tree(tree, labs, tests, stage, jobs=2, slots=None, logroot=None, cold=False,
               make_jobs=None, use_overlay=True):
    """See _grade_tree.  With the overlay and the sandbox on (sandbox.py), the
    submission's builds and QEMUs run as a sandbox user of its own, in its work
    directory, and every process of that user is killed before this returns."""
    user = sandbox.acquire() if use_overlay else None
    try:
        return _grade_tree(tree, labs, tests, stage, jobs, slots, logroot, cold, make_jobs,
                           use_overlay, user)
    finally:
        sandbox.release(user)


def _grade_tree(tree, labs, tests, stage, jobs, slots, logroot, cold, make_jobs,
                use_overlay, user):
    """Grade tree (a submission: only its owned files count, see overlay.py; with
    use_overlay=False, a trusted tree built as it is).  The grader's programs (stage)
    are copied to a directory of this call's own, so no submission sees another's.
    logroot: where the failing tests' serial logs go (default: the grader's own
    build/grade/; never the submission).
    Build each lab, one after the other, and run
    every test of a lab in a pool of jobs threads as soon as that lab is built.  Each
    lab's `boot` test goes first and boots through GRUB; if the kernel never reached
    the prompt there, the lab's other tests are not run and share that verdict.
    Otherwise it saved the machine at that prompt and the other tests resume from it
    (cold=True: every test boots through GRUB).  make runs with -j make_jobs (default
    jobs).  Returns [LabResult]."""
    tree = os.path.abspath(tree)
    logroot = logroot or os.path.join(ROOT, "build", "grade")
    # This run's trees, programs, ISO copies and snapshots: private to this call (in
    # the sandbox user's work directory when there is one).
    prune_dead(logroot, "run-")
    prune_dead(tempfile.gettempdir(), "sl-")       # QMP sockets of killed graders
    if user is not None:
        prune_dead(SANDBOX_TOP, "sb-")
        rundir = user.begin(SANDBOX_TOP)
    else:
        rundir = os.path.join(logroot, "run-%d-%s" % (os.getpid(), secrets.token_hex(3)))
        os.makedirs(rundir)
    remove_at_exit(rundir)
    mystage = os.path.join(rundir, "progs")
    shutil.copytree(stage, mystage)
    if user is not None:        # root's, readable: they go into the sandbox's initrd
        os.chmod(rundir, 0o711)
        os.chown(rundir, 0, 0)
        for d, _, files in os.walk(mystage):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o755)
    stage = mystage
    results = {}
    outcomes = {}
    busy = [0]                  # tests submitted and not yet finished
    cond = threading.Condition()

    with ThreadPoolExecutor(max(1, jobs)) as ex:
        snaps = {}

        def launch(lab, iso, t, rest):
            with cond:
                busy[0] += 1
            logdir = os.path.join(logroot, "lab%d" % lab)
            f = ex.submit(run_one, t, lab, iso, logdir, stage, slots, snaps.get(lab), user)
            f.add_done_callback(lambda f: finished(lab, iso, t, rest, f))

        def finished(lab, iso, t, rest, f):
            try:
                o = f.result()
            except BaseException as e:  # run_one catches everything; belt and braces
                o = Outcome(t, lab, Verdict("grader", repr(e)))
            outcomes[(lab, t.name)] = o
            try:
                if rest and not o.passed and not o.booted:
                    v = o.verdict
                    why = Verdict(v.kind, "not run: the kernel never reached the prompt in "
                                  "`%s` (%s)" % (t.name, VERDICT_NAMES.get(v.kind, v.kind)))
                    for r in rest:
                        outcomes[(lab, r.name)] = _not_run(r, lab, why, o.log)
                else:
                    for r in rest:
                        launch(lab, iso, r, [])
            except RuntimeError:        # the pool is shutting down (interrupted)
                for r in rest:
                    outcomes.setdefault((lab, r.name), _not_run(
                        r, lab, Verdict("grader", "not run: the grader was interrupted")))
            finally:
                with cond:
                    busy[0] -= 1
                    cond.notify_all()

        try:
            for lab in labs:
                iso = build_lab(tree, lab, stage, slots, results, outcomes, tests, rundir,
                                make_jobs or jobs, use_overlay, user)
                if iso is None:
                    continue
                first = [t for t in tests if t.name == "boot"] or tests[:1]
                rest = [t for t in tests if t not in first]
                if rest:
                    snapdir = os.path.join(os.path.dirname(iso), "snap")
                    os.makedirs(snapdir, exist_ok=True)
                    if user is not None:    # QEMU, as the user, writes the snapshot
                        sandbox.give(snapdir, user)
                    snaps[lab] = Snapshot(snapdir, first[0].name, take=not cold)
                for t in first:
                    launch(lab, iso, t, rest)
            with cond:
                while busy[0]:
                    cond.wait()
        except BaseException:           # Ctrl-C: no QEMU may wait for the pool to drain
            stop_all()
            shutil.rmtree(rundir, ignore_errors=True)
            raise
    shutil.rmtree(rundir, ignore_errors=True)
    for lab in labs:
        results[lab].outcomes = [outcomes[(lab, t.name)] for t in tests]
    return [results[lab] for lab in labs]
