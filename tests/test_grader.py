#!/usr/bin/env python3
"""test_grader.py — the grader's own tests (`make test`).  One line per check:

    TEST <name>: ok [figures]
    TEST <name>: FAIL <why>

then exactly one line "N passed, N failed"; exit status 1 if any failed.

Three groups:
  fake-*      the machinery against tests/fixtures/fakeqemu.py (no kernel needed):
              every verdict kind, forged RESULT lines, batch mode, hidden tests,
              Gradescope's results.json;
  reference-* the reference trees give exactly the matrix of docs/design.md (timed);
  broken-*    copies of the reference tree with one small patch each, built under
              build/selftest/<name>/, each with its expected verdict and score.
Last: no process the grader started is still alive.

    test_grader.py [--fake-only] [--only NAME,NAME]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
HERE = os.path.join(os.path.dirname(TESTS), "grader")   # the grader under test
sys.path.insert(0, HERE)
import building  # noqa: E402
import gradelib  # noqa: E402
import machine  # noqa: E402
import overlay  # noqa: E402
import tags  # noqa: E402
import procs  # noqa: E402
import grade  # noqa: E402
from gradelib import ROOT  # noqa: E402

WORK = os.path.join(ROOT, "build", "selftest")
# The system's python3 where there is one: a sandbox user may not reach sys.executable.
FAKE_QEMU = "%s %s" % ("/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable,
                       os.path.join(TESTS, "fixtures", "fakeqemu.py"))


class Failure(Exception):
    pass


def require(cond, why):
    if not cond:
        raise Failure(why)


CHECKS = []


def check(name, group):
    def register(fn):
        CHECKS.append((name, group, fn))
        return fn
    return register


def tests():
    return grade.load()


def by_name():
    return {t.name: t for t in tests()}


_stage = {}


def stage():
    """The grader's programs, built once for every check."""
    if "dir" not in _stage:
        d = os.path.join(WORK, "stage")
        bad = gradelib.build_stage(d, None, 2)
        if bad:
            raise Failure("cannot build the grader's programs: %s %s" % (bad.message, bad.got[-3:]))
        _stage["dir"] = d
    return _stage["dir"]


def outcomes(results):
    return {(r.lab, o.test.name): o for r in results for o in r.outcomes}


def summary(results):
    return " ".join("lab%d=%d/%d" % (r.lab, r.score, r.max) for r in results)


# ---------------------------------------------------------------------------
# The fake kernel.

# A stand-in for the stacklabs Makefile: the "ISO" is the fake kernel's configuration,
# its mode read from labs/phaseN/fake.mode (the file a student owns in lab N).
FAKE_MAKEFILE = r"""EXTRA := t_kinfo,t_leak,t_sleepers,t_spin,t_burn,t_smp,t_fault,bad_magic,bad_trunc
lab1 lab2 lab3 lab4:
	@n=$(patsubst lab%,%,$@); mode=$$(cat labs/phase$$n/fake.mode 2>/dev/null || echo ok); \
	if [ "$$mode" = nocompile ]; then \
	    echo 'labs/phase2/kstack.c:12:5: error: expected ";" before "}" token'; exit 2; fi; \
	mkdir -p build/phase$$n; \
	if [ "$$mode" = noextra ]; then progs=hello,syscalls; \
	    else progs="$$(ls $(INITRD_EXTRA) | tr '\n' ,)$(EXTRA)"; fi; \
	printf 'phase=%s\nmode=%s\nprogs=%s\n' $$n $$mode "$$progs" > build/phase$$n/boot.iso
"""
FAKE_PRISTINE = os.path.join(WORK, "fake", "pristine")


def fake_pristine():
    """The fake starters (STACKLABS_PRISTINE): the fake Makefile, fake.mode ok."""
    if not os.path.isdir(FAKE_PRISTINE):
        os.makedirs(FAKE_PRISTINE)
        for lab in (1, 2, 3, 4):
            files = {"Makefile": (FAKE_MAKEFILE.encode(), 0o644)}
            for k in range(1, lab + 1):
                files["labs/phase%d/fake.mode" % k] = (b"ok\n", 0o644)
            with open(os.path.join(FAKE_PRISTINE, "lab%d.tar.gz" % lab), "wb") as f:
                f.write(overlay.tarball_bytes(files))
    return FAKE_PRISTINE


def fake_tree(name, mode):
    """A fake submission: the fake starter with every lab's fake.mode set to mode."""
    d = os.path.join(WORK, "fake", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(FAKE_MAKEFILE)
    for lab in (1, 2, 3, 4):
        os.makedirs(os.path.join(d, "labs", "phase%d" % lab))
        with open(os.path.join(d, "labs", "phase%d" % lab, "fake.mode"), "w") as f:
            f.write(mode + "\n")
    return d


class fake_env:
    """Point the grader at the fake QEMU (and shrink its timeouts) for a while."""

    def __init__(self, scale=0.2):
        self.scale = scale

    def __enter__(self):
        self.old = (os.environ.get("STACKLABS_QEMU"), os.environ.get("STACKLABS_PRISTINE"),
                    machine.TIMEOUT_SCALE)
        os.environ["STACKLABS_QEMU"] = FAKE_QEMU
        os.environ["STACKLABS_PRISTINE"] = fake_pristine()
        machine.TIMEOUT_SCALE = self.scale

    def __exit__(self, *exc):
        for k, v in zip(("STACKLABS_QEMU", "STACKLABS_PRISTINE"), self.old):
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        machine.TIMEOUT_SCALE = self.old[2]


def fake_grade(mode, labs=(1, 2, 3)):
    tree = fake_tree(mode, mode)
    with fake_env():
        return gradelib.grade_tree(tree, labs, tests(), stage(), 2)


def expect_all(results, kind):
    for r in results:
        for o in r.outcomes:
            require(o.kind == kind, "lab %d %s: %s, expected %s" % (r.lab, o.test.name, o.kind, kind))
        require(r.score == 0, "lab %d scored %d" % (r.lab, r.score))


def matrix_ok(results):
    """Return the cells that differ from EXPECT."""
    return ["%s/phase%d=%s" % (o.test.name, r.lab, o.kind)
            for r in results for o in r.outcomes if o.passed != o.test.passes_in(r.lab)]


@check("fnv1a64-vectors", "fake")
def _():
    require(gradelib.fnv1a64(b"") == 0xCBF29CE484222325, "fnv1a64('')")
    require(gradelib.fnv1a64(b"a") == 0xAF63DC4C8601EC8C, "fnv1a64('a')")
    require(gradelib.fnv1a64(b"foobar") == 0x85944171F73967E8, "fnv1a64('foobar')")


# RFC 4231, section 4: HMAC-SHA-256 test cases 1-7 (key, data, MAC; case 5's MAC is
# truncated to 128 bits).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]

HMAC_MAIN = r"""#include <stdio.h>
#include <stdlib.h>
#include "sl_hmac.h"
static size_t unhex(const char *s, unsigned char *out) {
	size_t n = 0;
	for (; s[0] && s[1]; s += 2) { char b[3] = {s[0], s[1], 0}; out[n++] = strtoul(b, 0, 16); }
	return n;
}
int main(int argc, char **argv) {
	static unsigned char key[512], data[512], mac[SL_SHA256_LEN];
	for (int i = 1; i + 1 < argc; i += 2) {
		size_t kl = unhex(argv[i], key), dl = unhex(argv[i + 1], data);
		const void *parts[2] = {data, data + dl / 3};
		size_t lens[2] = {dl / 3, dl - dl / 3};      /* in two parts, to test the joining */
		sl_hmac_sha256(key, kl, 2, parts, lens, mac);
		for (int j = 0; j < SL_SHA256_LEN; j++) printf("%02x", mac[j]);
		printf("\n");
	}
	return 0;
}
"""


@check("hmac-sha256-rfc4231", "fake")
def _():
    """user/include/sl_hmac.h and Python's hmac against RFC 4231's test vectors."""
    import hashlib
    import hmac
    os.makedirs(WORK, exist_ok=True)
    src, exe = os.path.join(WORK, "hmaccheck.c"), os.path.join(WORK, "hmaccheck")
    with open(src, "w") as f:
        f.write(HMAC_MAIN)
    ok, text = building._compile([src], exe, os.path.join(ROOT, "user", "include"))
    require(ok, "cannot compile: %s" % text[-300:])
    args = [x.hex() for k, d, _ in RFC4231 for x in (k, d)]
    out = subprocess.run([exe] + args, capture_output=True, text=True).stdout.split()
    require(len(out) == len(RFC4231), "C printed %d MACs" % len(out))
    for i, ((k, d, want), got) in enumerate(zip(RFC4231, out)):
        require(got.startswith(want), "test case %d: C gives %s, RFC 4231 %s" % (i + 1, got, want))
        py = hmac.new(k, d, hashlib.sha256).hexdigest()
        require(py.startswith(want), "test case %d: Python's hmac gives %s" % (i + 1, py))
    return "%d test cases" % len(RFC4231)


@check("tag-agrees-with-stacklabs.h", "fake")
def _():
    """Compile sl_result and sl_rng from user/include/stacklabs.h, with a key header
    as the grader does and without one, and compare with tags.py."""
    src = os.path.join(WORK, "tagcheck.c")
    exe = os.path.join(WORK, "tagcheck")
    os.makedirs(WORK, exist_ok=True)
    with open(src, "w") as f:
        f.write('#include "stacklabs.h"\nint main(int c, char **v) {\n'
                ' struct sl_rng r; unsigned char b[24];\n'
                ' sl_result(v[1], "%s", v[2]);\n'
                ' sl_rng_seed(&r, v[1]); sl_rng_fill(&r, b, sizeof b);\n'
                ' for (int i = 0; i < 24; i++) printf("%02x", b[i]);\n'
                ' printf("\\n"); return 0; }\n')
    key = os.urandom(32)
    hdr = os.path.join(WORK, "tagcheck_key.h")
    with open(hdr, "w") as f:
        f.write(tags.key_header(key))
    payload = "spin start=1 end=2 bad=0"
    nonce = gradelib.new_nonce()
    for keyhdr, want in ((None, "%016x" % gradelib.fnv1a64("%s|%s" % (nonce, payload))),
                         (hdr, tags.hmac_tag(key, nonce, payload))):
        ok, text = building._compile([src], exe, os.path.join(ROOT, "user", "include"), keyhdr)
        require(ok, "cannot compile: %s" % text[-300:])
        out = subprocess.run([exe, nonce, payload], capture_output=True, text=True).stdout.splitlines()
        line = "RESULT %s tag=%s" % (payload, want)
        require(out[0] == line, "C printed %r, Python expects %r (%s)" % (
            out[0], line, "keyed" if keyhdr else "no key"))
        require(out[1] == gradelib.xorshift_bytes(nonce, 24).hex(), "sl_rng differs")
    return "keyed: HMAC-SHA-256, 64 hex; without a key: FNV-1a, 16 hex"


@check("fake-reference-matrix", "fake")
def _():
    results = fake_grade("ok")
    bad = matrix_ok(results)
    require(not bad, "off the matrix: %s" % ", ".join(bad))
    for r in results:
        # Two-CPU tests boot cold (grader/qemu.py, flags): a one-CPU snapshot cannot resume.
        starts = [o.resumed for o in r.outcomes if getattr(o.test, "cpus", 1) == 1]
        require(starts[0] is False and all(starts[1:]),
                "lab %d: only `boot` should boot, the rest resume: %s" % (r.lab, starts))
    return summary(results)


@check("fake-hang", "fake")
def _():
    t0 = time.monotonic()
    results = fake_grade("hang", (3,))
    expect_all(results, "timeout")
    secs = time.monotonic() - t0
    require(secs < 4 * machine.BOOT_TIMEOUT * 0.2 + 5, "took %.1f s" % secs)
    require(os.path.exists(results[0].outcomes[0].log), "no serial log kept")
    return "%.1f s, log %s" % (secs, os.path.relpath(results[0].outcomes[0].log, ROOT))


@check("fake-hang-after-prompt", "fake")
def _():
    results = fake_grade("slow", (2,))
    o = outcomes(results)
    require(o[(2, "boot")].passed, "boot should pass")
    require(o[(2, "hello")].kind == "timeout", "hello: %s" % o[(2, "hello")].kind)
    require(o[(2, "hello")].seconds < machine.CMD_TIMEOUT * 0.2 + 3, "hang cost %.1f s" % o[(2, "hello")].seconds)
    return "score %s" % summary(results)


@check("fake-triple-fault", "fake")
def _():
    results = fake_grade("reset", (1,))
    expect_all(results, "reset")


@check("fake-panic", "fake")
def _():
    results = fake_grade("panic", (2,))
    expect_all(results, "panic")
    v = results[0].outcomes[0].verdict
    require(v.got and v.got[0].startswith("[k] panic"), "evidence lacks the panic line: %s" % v.got[:2])
    require(any("rip=" in ln for ln in v.got), "evidence lacks the register dump")


@check("fake-flood", "fake")
def _():
    results = fake_grade("flood", (3,))
    expect_all(results, "flood")
    size = os.path.getsize(results[0].outcomes[0].log)
    require(size < machine.OUTPUT_CAP + 200000, "log of %d bytes" % size)
    return "log %d bytes" % size


@check("fake-flood-slow-uart", "fake")
def _():
    """A flood at 4 KB/s (a slow UART): cut off as a flood within FLOOD_SECONDS of
    passing FLOOD_BYTES, long before the 64 KiB cap or the boot timeout."""
    t0 = time.monotonic()
    results = fake_grade("trickle", (2,))
    secs = time.monotonic() - t0
    expect_all(results, "flood")
    o = results[0].outcomes[0]
    require(o.seconds < 10, "cut off after %.1f s" % o.seconds)
    return "boot cut off after %.1f s (%s)" % (o.seconds, o.verdict.message)


@check("fake-feedback", "fake")
def _():
    """A failure report carries the program's own DETAIL lines, and a panic says what
    the test wanted instead."""
    o = outcomes(fake_grade("ok", (1,)))[(1, "blocked-3")]
    ev = "\n".join(o.evidence())
    require("DETAIL reg=r12" in ev, "no DETAIL line in blocked-3's report on phase 1:\n%s" % ev)
    o = outcomes(fake_grade("panicrun", (3,)))
    ev = "\n".join(o[(3, "hello")].evidence())
    require("expected:" in ev and "the output of `run hello world`" in ev, "hello:\n%s" % ev)
    ev = "\n".join(o[(3, "overflow")].evidence())
    require("reason=kstack-guard" in ev, "overflow:\n%s" % ev)
    return "DETAIL shown; a panic shows what `overflow` wanted"


@check("fake-forge", "fake")
def _():
    results = fake_grade("forge", (3,))
    forged = {"syscalls-basic", "bad-pointers", "ring3-fault", "kinfo-distinct", "tss-follows",
              "leak-after-exit", "leak-live", "blocked-3", "preempt", "overflow"}
    for o in results[0].outcomes:
        if o.test.name in forged:
            require(not o.passed, "%s passed on forged lines" % o.test.name)
    require(all(o.earned == 0 for o in results[0].outcomes if o.test.name in forged), "points for forgery")
    return "score %s" % summary(results)


@check("fake-missing-programs", "fake")
def _():
    """A Makefile that ignores INITRD_EXTRA: the grader's programs are not there."""
    results = fake_grade("noextra", (3,))
    o = outcomes(results)
    for name in ("boot", "hello", "syscalls-basic", "bad-pointers"):
        require(o[(3, name)].passed, "%s: %s" % (name, o[(3, name)].kind))
    for name in ALL_BUT_BOOT[3:]:      # bad-elf onwards: each runs a grader program
        require(o[(3, name)].kind == "missing", "%s: %s" % (name, o[(3, name)].kind))
    return "score %s" % summary(results)


@check("fake-build-failure", "fake")
def _():
    results = fake_grade("nocompile", (1, 2))
    expect_all(results, "build")
    require(any("error:" in ln for ln in results[0].build.got), "compiler error not shown")


def run_grade(args, env_extra=None, timeout=600):
    env = dict(os.environ, STACKLABS_QEMU=FAKE_QEMU, STACKLABS_TIMEOUT_SCALE="0.2",
               STACKLABS_SELFTEST=str(os.getpid()), STACKLABS_PRISTINE=fake_pristine())
    env.update(env_extra or {})
    p = subprocess.run([sys.executable, os.path.join(HERE, "grade.py")] + args, env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


@check("fake-cli-output", "fake")
def _():
    tree = fake_tree("cli", "ok")
    rc, out = run_grade(["--lab", "1", "--tree", tree])
    lines = out.splitlines()
    require(rc == 0, "status %d" % rc)
    require("boot: PASS (5/5)" in out.replace("  ", " ") or any(ln.startswith("boot: PASS (5/5)") for ln in lines),
            "no `boot: PASS (5/5)` line")
    require(any(ln.startswith("blocked-3: vulnerable — fixed in lab 2") for ln in lines),
            "no vulnerable line for blocked-3")
    require(lines[-1].startswith("Score: "), "last line %r" % lines[-1])
    return lines[-1]


@check("fake-matrix-repeat-cli", "fake")
def _():
    tree = fake_tree("matrix-cli", "ok")
    rc, out = run_grade(["--matrix", "--repeat", "2", "--tree", tree, "--only", "boot,hello,blocked-3"])
    require(rc == 0, "status %d: %s" % (rc, out[-300:]))
    require(out.count("matrix: as expected") == 2, "matrix lines: %s" % out[-300:])
    require("verdicts identical every time: yes" in out, "no repeat summary")
    tree = fake_tree("matrix-cli-forge", "forge")
    rc, out = run_grade(["--matrix", "--tree", tree, "--only", "boot,blocked-3"])
    require(rc == 1 and "!!" in out, "a forging kernel's matrix must differ (status %d)" % rc)


def tree_listing(d):
    """{path: (size, mtime)} of every file under d."""
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            st = os.lstat(p)
            out[os.path.relpath(p, d)] = (st.st_size, st.st_mtime)
    return out


@check("fake-batch", "fake")
def _():
    subs = os.path.join(WORK, "fake", "batch")
    shutil.rmtree(subs, ignore_errors=True)
    for student, mode in (("alice", "ok"), ("bob", "forge"), ("carol", "nocompile"), ("dave", "hang")):
        src = fake_tree("batch-" + student, mode)
        shutil.copytree(src, os.path.join(subs, student))
    # erin zipped her tree one folder deep; frank handed in no lab tree at all.
    shutil.copytree(fake_tree("batch-erin", "ok"), os.path.join(subs, "erin", "lab2"))
    os.makedirs(os.path.join(subs, "frank", "notes"))
    before = tree_listing(subs)
    out = os.path.join(WORK, "fake", "batch-out")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    rc, text = run_grade(["--lab", "2", "--batch", subs, "--jobs", "2", "--out", out])
    secs = time.monotonic() - t0
    require(rc == 0, "status %d: %s" % (rc, text[-500:]))
    import csv
    with open(os.path.join(out, "grades.csv")) as f:
        rows = list(csv.DictReader(f))
    score = {r["student"]: int(r["score"]) for r in rows}
    row = {r["student"]: r for r in rows}
    require(sorted(score) == ["alice", "bob", "carol", "dave", "erin", "frank"], "rows %s" % sorted(score))
    require(score["alice"] == int(rows[0]["max"]) and score["carol"] == 0 and score["dave"] == 0,
            "scores %s" % score)
    require(0 < score["bob"] < score["alice"], "forger scored %d" % score["bob"])
    require(score["erin"] == score["alice"], "the nested submission scored %d" % score["erin"])
    for s in score:
        with open(os.path.join(out, s + ".json")) as f:
            require(json.load(f)["student"] == s, "bad json for %s" % s)
    require("boot" in rows[0] and "overflow" in rows[0], "no per-test columns")
    require(row["dave"]["boot verdict"] == "timeout" and row["carol"]["hello verdict"] == "build"
            and row["alice"]["boot verdict"] == "pass", "verdict columns: %s" % {
                s: row[s].get("boot verdict") for s in row})
    with open(os.path.join(out, "frank.json")) as f:
        msg = json.load(f)["labs"][0]["build"]["message"]
    require("has no labs/phase2/" in msg, "frank's message: %s" % msg)
    require("graded the folder lab2/" in row["erin"]["not graded"], "erin: %r" % row["erin"]["not graded"])
    require(tree_listing(subs) == before, "the grader wrote into the submissions: %s" % sorted(
        set(tree_listing(subs)) ^ set(before))[:3])
    require(os.path.isdir(os.path.join(out, "logs", "dave")), "no logs under the output directory")
    return "6 submissions in %.1f s, scores %s" % (secs, score)


@check("fake-batch-sigint", "fake")
def _():
    """SIGINT to a batch: it stops within 2 s, no QEMU is left, and grades.csv holds
    the submissions that finished."""
    import csv
    import signal as _signal
    subs = os.path.join(WORK, "fake", "batch-int")
    shutil.rmtree(subs, ignore_errors=True)
    shutil.copytree(fake_tree("bi-a", "ok"), os.path.join(subs, "a-quick"))
    for s in ("b-hang", "c-hang", "d-hang"):      # 45 s each before the boot times out
        shutil.copytree(fake_tree("bi-" + s, "hang"), os.path.join(subs, s))
    out = os.path.join(WORK, "fake", "batch-int-out")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, STACKLABS_QEMU=FAKE_QEMU, STACKLABS_SELFTEST=str(os.getpid()),
               STACKLABS_PRISTINE=fake_pristine(), STACKLABS_TIMEOUT_SCALE="3")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "grade.py"), "--lab", "2", "--batch",
                          subs, "--jobs", "4", "--out", out], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while not os.path.exists(os.path.join(out, "a-quick.json")):
            require(time.monotonic() < deadline and p.poll() is None, "a-quick never finished")
            time.sleep(0.1)
    except Failure:
        p.send_signal(_signal.SIGTERM)
        p.wait()
        raise
    time.sleep(0.5)
    running = sum(b"fakeqemu" in _cmdline(pid) for pid in leftovers())
    t0 = time.monotonic()
    p.send_signal(_signal.SIGINT)
    try:
        status = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        status = "still running after 20 s"
    secs = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    time.sleep(0.3)
    left = leftovers()
    require(not left, "left running: %s" % left)
    require(secs < 2, "took %.1f s to stop (status %s)" % (secs, status))
    require(os.path.exists(os.path.join(out, "grades.csv")), "no grades.csv: %s" % err[-200:])
    with open(os.path.join(out, "grades.csv")) as f:
        rows = list(csv.DictReader(f))
    require([r["student"] for r in rows] == ["a-quick"], "rows: %s" % [r["student"] for r in rows])
    return "%d QEMUs running; stopped in %.1f s (status %s); grades.csv: a-quick" % (running, secs, status)


def make_hidden(name, expect="PPP"):
    """An instructor's hidden-test directory: one C program and its test."""
    hidden = os.path.join(WORK, "fake", name)
    shutil.rmtree(hidden, ignore_errors=True)
    os.makedirs(hidden)
    with open(os.path.join(hidden, "h_echo.c"), "w") as f:
        f.write('#include "stacklabs.h"\nint main(int c, char **v) '
                '{ sl_result(v[1], "echo ok=1"); return 0; }\n')
    with open(os.path.join(hidden, "tests.py"), "w") as f:
        f.write('from gradelib import test\n'
                'EXPECT = {"hidden-echo": "%s"}\n' % expect +
                '@test("hidden-echo", 7, "a hidden program runs")\n'
                'def hidden_echo(m):\n'
                '    r = m.run("h_echo {nonce}")\n'
                '    r.expect_exit(0, 0)\n')
    return hidden


@check("fake-hidden-tests", "fake")
def _():
    hidden = make_hidden("hidden")
    tree = fake_tree("hidden-tree", "ok")
    js = os.path.join(WORK, "fake", "hidden.json")
    rc, text = run_grade(["--lab", "3", "--tree", tree, "--hidden", hidden, "--json", js])
    require(rc == 0, "status %d: %s" % (rc, text[-300:]))
    with open(js) as f:
        t = [x for x in json.load(f)["labs"][0]["tests"] if x["name"] == "hidden-echo"]
    require(t and t[0]["hidden"] and t[0]["max"] == 7, "hidden test missing: %s" % t)
    require(t[0]["status"] == "pass", "hidden test: %s %s" % (t[0]["verdict"], t[0]["message"]))
    require("hidden-echo: " in text, "hidden test not reported")


@check("fake-never-fixed", "fake")
def _():
    """A test no lab is expected to pass: its line says so, never "lab None"."""
    hidden = make_hidden("hidden-fff", expect="FFF")
    tree = fake_tree("fff-tree", "ok")
    gs = os.path.join(WORK, "fake", "fff-results.json")
    rc, text = run_grade(["--lab", "2", "--tree", tree, "--hidden", hidden, "--gradescope", gs])
    require(rc == 0, "status %d: %s" % (rc, text[-300:]))
    line = [ln for ln in text.splitlines() if ln.startswith("hidden-echo: ")]
    require(line, "no hidden-echo line")
    require("None" not in line[0] and "every lab" in line[0], "line: %s" % line[0])
    with open(gs) as f:
        names = [t["name"] for t in json.load(f)["tests"]]
    require(not any("None" in n for n in names), "results.json names: %s" % names)
    return line[0]


def interrupted_grader(mode, sig, nohup=False, args=None):
    """Start grade.py on a fake kernel, send it sig once its QEMUs run; returns
    (status, seconds it took to go, leftovers, how many QEMUs were running).
    nohup: start it with SIGINT and SIGHUP ignored, as nohup and `cmd &` in a
    non-interactive shell do."""
    import signal as _signal
    tree = fake_tree("sig-" + mode, mode)
    env = dict(os.environ, STACKLABS_QEMU=FAKE_QEMU, STACKLABS_SELFTEST=str(os.getpid()),
               STACKLABS_PRISTINE=fake_pristine())

    def ignore():
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "grade.py")] +
                         (args or ["--lab", "3", "--tree", tree]), env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=ignore if nohup else None)
    deadline = time.monotonic() + 60
    while not any(b"fakeqemu" in _cmdline(pid) for pid in leftovers()):
        require(time.monotonic() < deadline and p.poll() is None, "no QEMU ever started")
        time.sleep(0.1)
    time.sleep(1)           # the boot test has snapshot; the others are resuming
    running = sum(b"fakeqemu" in _cmdline(pid) for pid in leftovers())
    t0 = time.monotonic()
    p.send_signal(getattr(_signal, sig))
    try:
        status = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        status = "still running after 20 s"
    secs = time.monotonic() - t0
    time.sleep(0.5)
    return status, secs, leftovers(), running


@check("fake-sigint-kills-qemu", "fake")
def _():
    status, secs, left, n = interrupted_grader("slow", "SIGINT")
    require(not left, "left running: %s" % left)
    require(secs < 5, "took %.1f s to stop" % secs)
    return "%d QEMUs running; grader status %s after %.1f s" % (n, status, secs)


@check("fake-sigint-under-nohup", "fake")
def _():
    """SIGINT stops the grader even when it was started with SIGINT ignored."""
    status, secs, left, n = interrupted_grader("slow", "SIGINT", nohup=True)
    require(not left, "left running: %s" % left)
    require(status == 130, "grader status %s (still running?)" % status)
    require(secs < 2, "took %.1f s to stop" % secs)
    return "%d QEMUs running; grader status %s after %.1f s" % (n, status, secs)


@check("fake-sigterm-kills-qemu", "fake")
def _():
    status, secs, left, n = interrupted_grader("hang", "SIGTERM")
    require(not left, "left running: %s" % left)
    return "%d QEMUs (and a child) running; grader status %s after %.1f s" % (n, status, secs)


@check("fake-sigkill-kills-qemu", "fake")
def _():
    """Even SIGKILL: setpriv's parent-death signal takes QEMU down with the grader."""
    if not procs._SETPRIV:
        raise Failure("no setpriv (util-linux): a SIGKILLed grader leaves QEMU running")
    status, secs, left, n = interrupted_grader("slow", "SIGKILL")
    require(not left, "left running: %s" % left)
    return "%d QEMUs running; grader status %s" % (n, status)


# --- Gradescope ---------------------------------------------------------------

# Gradescope's autograder specification (gradescope-autograders.readthedocs.io,
# "Autograder Specifications"): the fields it reads, their types and their values.
GS_STATUS = {"passed", "failed"}
GS_VIS = {"visible", "hidden", "after_due_date", "after_published"}
GS_FORMATS = {"text", "html", "simple_format", "md", "ansi"}
GS_TOP = {"score": (int, float), "execution_time": (int, float), "output": str,
          "output_format": str, "test_output_format": str, "test_name_format": str,
          "visibility": str, "stdout_visibility": str, "extra_data": dict, "tests": list,
          "leaderboard": list}
GS_TEST = {"score": (int, float), "max_score": (int, float), "status": str, "name": str,
           "name_format": str, "number": str, "output": str, "output_format": str,
           "tags": list, "visibility": str, "extra_data": dict}


def validate_results(path, hidden_names=()):
    """Check results.json against the specification, and what this grader promises:
    output_format set; no escape sequence or control character anywhere; no kept log
    path; a hidden test (hidden_names) named or described nowhere but in its own
    after_published entry; an informational test worth 0 and, when the kernel failed
    it, not "passed".  Returns the dict."""
    with open(path) as f:
        raw = f.read()
    r = json.loads(raw)
    unknown = set(r) - set(GS_TOP)
    require(not unknown, "fields Gradescope does not know: %s" % sorted(unknown))
    for k, ty in GS_TOP.items():
        require(k not in r or isinstance(r[k], ty), "%s is not %s" % (k, ty))
    for k in ("score", "execution_time", "output", "output_format", "tests"):
        require(k in r, "no %s" % k)
    require(r["tests"], "tests[] is empty")
    for k in ("output_format", "test_output_format", "test_name_format"):
        require(k not in r or r[k] in GS_FORMATS, "%s %r" % (k, r.get(k)))
    require(r.get("visibility", "visible") in GS_VIS, "visibility %r" % r.get("visibility"))
    require(r.get("stdout_visibility", "hidden") in GS_VIS, "stdout_visibility")
    require(not re.search(r"\\u001b|\\u00(0[0-8]|1[0-9a-f])|\\u000b|\\u007f", raw),
            "an escape sequence or control character in results.json")
    require("serial log:" not in raw and "/autograder/" not in raw, "a kept log path")
    own = []
    for t in r["tests"]:
        unknown = set(t) - set(GS_TEST)
        require(not unknown, "test fields Gradescope does not know: %s" % sorted(unknown))
        for k, ty in GS_TEST.items():
            require(k not in t or isinstance(t[k], ty), "test %s: %s is not %s" % (t.get("name"), k, ty))
        for k in ("name", "number", "score", "max_score", "status", "output", "visibility"):
            require(k in t, "test %s has no %s" % (t.get("name"), k))
        require(t["status"] in GS_STATUS, "status %r" % t["status"])
        require(t["visibility"] in GS_VIS, "visibility %r" % t["visibility"])
        require(t.get("output_format", "text") in GS_FORMATS, "output_format %r" % t.get("output_format"))
        require(0 <= t["score"] <= t["max_score"] or t["max_score"] == 0 == t["score"],
                "%s: score %s of %s" % (t["name"], t["score"], t["max_score"]))
        if "informational" in t.get("tags", []):
            require(t["max_score"] == 0 and t["score"] == 0, "%s: informational, worth points" % t["name"])
            require("observed:" not in t["output"] or t["status"] == "failed",
                    "%s: the kernel failed it, but it shows as passed" % t["name"])
        mine = [h for h in hidden_names if h in t["name"]]
        if mine:
            require(t["visibility"] == "after_published", "%s is %s" % (t["name"], t["visibility"]))
            own.append(t)
    for h in hidden_names:
        require(h not in r["output"], "the top-level output names hidden test %s" % h)
        for t in r["tests"]:
            if t not in own:
                require(h not in t["name"] + t["output"], "%s names hidden test %s" % (t["name"], h))
    require(abs(sum(t["score"] for t in r["tests"]) - r["score"]) < 1e-9, "score != sum of tests")
    return r


def make_zip(z, lab, hidden, reference="ok"):
    """make_zip.sh, its hidden tests checked on a fake reference kernel."""
    env = dict(os.environ, HIDDEN=hidden or "", REFERENCE=fake_tree("gs-ref-" + reference, reference),
               STACKLABS_QEMU=FAKE_QEMU, STACKLABS_TIMEOUT_SCALE="0.2",
               STACKLABS_SELFTEST=str(os.getpid()), STACKLABS_PRISTINE=fake_pristine())
    return subprocess.run(["bash", os.path.join(HERE, "gradescope", "make_zip.sh"), z] +
                          ([lab] if lab else []), capture_output=True, text=True, env=env)


def gradescope_root(name, submission_mode, lab="2", hidden=None):
    """A fake /autograder: source/ unpacked from make_zip.sh's zip, submission/."""
    root = os.path.join(WORK, "gradescope", name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    z = os.path.join(root, "autograder.zip")
    p = make_zip(z, lab, hidden)
    require(p.returncode == 0, "make_zip.sh: %s" % (p.stdout + p.stderr)[-300:])
    import zipfile
    with zipfile.ZipFile(z) as zf:
        zf.extractall(os.path.join(root, "source"))
        for info in zf.infolist():      # extractall drops the mode bits
            mode = info.external_attr >> 16
            if mode:
                os.chmod(os.path.join(root, "source", info.filename), mode & 0o7777)
    for f in ("setup.sh", "run_autograder"):
        require(os.access(os.path.join(root, "source", f), os.X_OK), "%s not executable in the zip" % f)
    shutil.copytree(fake_tree("gs-" + name, submission_mode), os.path.join(root, "submission"))
    return root


def run_autograder(root):
    env = dict(os.environ, GRADESCOPE_ROOT=root, STACKLABS_QEMU=FAKE_QEMU,
               STACKLABS_TIMEOUT_SCALE="0.2", STACKLABS_SELFTEST=str(os.getpid()),
               STACKLABS_PRISTINE=fake_pristine())
    p = subprocess.run([os.path.join(root, "source", "run_autograder")], env=env,
                       capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout + p.stderr


@check("gradescope-fake-root", "fake")
def _():
    root = gradescope_root("ok", "ok")
    rc, text = run_autograder(root)
    require(rc == 0, "run_autograder status %d: %s" % (rc, text[-400:]))
    r = validate_results(os.path.join(root, "results", "results.json"))
    graded = [t for t in r["tests"] if t["max_score"] > 0]
    require(r["score"] == sum(t["max_score"] for t in graded), "score %s" % r["score"])
    info = [t for t in r["tests"] if "informational" in t.get("tags", [])]
    require(info and all(t["status"] == "failed" for t in info),
            "the lab-2 kernel fails tss-follows, preempt, overflow: %s" % [
                (t["name"], t["status"]) for t in info])
    return "score %s, %d tests, %d informational" % (r["score"], len(r["tests"]), len(info))


@check("gradescope-no-build", "fake")
def _():
    root = gradescope_root("nocompile", "nocompile")
    rc, text = run_autograder(root)
    require(rc == 0, "run_autograder status %d: %s" % (rc, text[-400:]))
    r = validate_results(os.path.join(root, "results", "results.json"))
    require(r["score"] == 0, "score %s" % r["score"])
    require("error:" in r["output"], "compiler errors not in the top-level output")
    again = [t["name"] for t in r["tests"] if "error:" in t["output"]]
    require(not again, "the compiler errors repeated in %s" % again[:3])
    return "score 0, %d tests, errors shown once" % len(r["tests"])


@check("gradescope-all-labs-hidden", "fake")
def _():
    hidden = make_hidden("gs-hidden")
    root = gradescope_root("all", "ok", lab=None, hidden=hidden)
    rc, text = run_autograder(root)
    require(rc == 0, "run_autograder status %d: %s" % (rc, text[-400:]))
    r = validate_results(os.path.join(root, "results", "results.json"), ["hidden-echo", "a hidden program runs"])
    names = [t["name"] for t in r["tests"]]
    require(any(n.startswith("lab1 ") for n in names) and any(n.startswith("lab4 ") for n in names),
            "not every lab graded: %s" % names[:3])
    h = [t for t in r["tests"] if "hidden-echo" in t["name"]]
    require(len(h) == 4 and all(t["visibility"] == "after_published" for t in h),
            "hidden tests: %s" % h)
    # Every lab's graded public tests, plus the hidden one (7 points, "PPPP") in each.
    want = sum(t.points for lab in (1, 2, 3, 4) for t in tests() if t.passes_in(lab)) + 4 * 7
    require(r["score"] == want, "score %s, expected %d" % (r["score"], want))
    return "score %s, %d tests" % (r["score"], len(r["tests"]))


@check("gradescope-hidden-checked-before-zip", "fake")
def _():
    """make_zip.sh refuses hidden tests that do not give their EXPECT row on the
    reference (here: a hidden test expected to pass everywhere, on a kernel that hangs
    after its prompt in every `run`)."""
    hidden = make_hidden("gs-hidden-bad")
    z = os.path.join(WORK, "gradescope", "bad.zip")
    if os.path.exists(z):
        os.unlink(z)
    p = make_zip(z, "2", hidden, reference="slow")
    require(p.returncode != 0 and not os.path.exists(z), "make_zip.sh zipped them (status %d)" % p.returncode)
    require("do not give their EXPECT rows" in p.stderr, "no clear message: %s" % p.stderr[-200:])
    p = make_zip(z, "2", hidden)
    require(p.returncode == 0, "make_zip.sh on a good reference: %s" % (p.stdout + p.stderr)[-300:])
    want = sum(t.points for t in tests() if t.passes_in(2)) + 7
    require("lab 2: total %d points" % want in p.stdout, "no total for lab 2: %s" % p.stdout[-200:])
    return [ln for ln in p.stdout.splitlines() if "total" in ln][0]


# ---------------------------------------------------------------------------
# The real kernel.

def have_kernel():
    return os.path.exists(os.path.join(ROOT, "Makefile")) and os.path.isdir(os.path.join(ROOT, "common"))


@check("reference-matrix", "real")
def _():
    require(have_kernel(), "no kernel tree at %s" % ROOT)
    # A copy: others may run `make labN` in this tree meanwhile, and a build racing
    # ours can leave an ISO whose initrd lacks some of the grader's programs.
    tree = copy_tree("reference")
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    results = gradelib.grade_tree(tree, (1, 2, 3, 4), tests(), stage(), 2, use_overlay=False)
    secs = time.monotonic() - t0
    builds = [r for r in results if r.build]
    require(not builds, "build failed: %s" % [(r.lab, r.build.message, r.build.got[-3:]) for r in builds])
    bad = matrix_ok(results)
    require(not bad, "off the matrix: %s" % ", ".join(bad))
    runs = sum(len(r.outcomes) for r in results)
    build_s = sum(r.build_seconds for r in results)
    busy = load >= (os.cpu_count() or 2)
    # The speed target is for this machine when it is not busy with other work
    # (90 s since lab 4's two-CPU tests, which boot cold).
    require(secs <= 90 or busy, "%.1f s wall (target 90 s)" % secs)
    return "%d runs in %.1f s wall (builds %.1f s, target 90 s%s); %s" % (
        runs, secs, build_s, ", not judged: host load %.1f at the start" % load if busy else "",
        summary(results))


# Broken kernels: (name, phase, patches, expected).  A patch is (file, old, new): the
# text `old` must occur exactly once in file (else the check fails loudly: a patch
# must never land in a comment or the wrong copy), and is replaced by `new`.
# expected: {"kind": K} (every test fails with verdict K, score 0), or
# {"fail": {test: kind-or-None}} (exactly these graded tests fail; None = any kind).

MONITOR_START = "\tproc_start_monitor(monitor_main);\n"

# A monitor whose `run` prints what the programs would print, without running them:
# RESULT lines replayed from another run, each with a tag that is valid for that run's
# nonce (a fresh random one, different in every self-test run; the payloads are those a
# real run prints).  It forges every program given a nonce; others (hello, bad_*)
# still really run.
FORGE_C = r"""
// selftest: replay valid-looking RESULT lines instead of running nonce-carrying programs.
static int forge_pid;

static int
forge(const char *prog, int argc, char **argv)
{
	if (argc < 2 || strlen(argv[1]) != 16)
		return 0;
	int pid = ++forge_pid + 100;
	u64 top = 0xffffff8000008000UL + 0x5000UL * pid;
	kprintf("[k] spawn pid=%d prog=%s\n", pid, prog);
	if (strcmp(prog, "syscalls") == 0)
		kprintf("RESULT @syscalls@\n");
	else if (strcmp(prog, "t_kinfo") == 0)
		kprintf("RESULT kinfo mode=live pid=%d base=0x%016lx top=0x%016lx entry=0x%016lx tss=0x%016lx "
			"consistent=1 inside=1 tag=%s\n", pid, top - 0x4000, top, top - 0xb0, top,
			pid == 101 ? "@kinfo101@" : pid == 102 ? "@kinfo102@" : "@kinfo103@");
	else if (strcmp(prog, "t_leak") == 0 && argc > 2 && strncmp(argv[2], "scribble", 8) == 0)
		kprintf("RESULT @scribble@\n");
	else if (strcmp(prog, "t_leak") == 0)
		kprintf("RESULT @peek@\n");
	else if (strcmp(prog, "t_sleepers") == 0)
		kprintf("RESULT %s\n", argc > 2 && argv[2][0] == '8' ? "@sleep8@" : "@sleep5@");
	else if (strcmp(prog, "t_spin") == 0)
		kprintf("RESULT @spin@\n");
	else if (strcmp(prog, "t_fault") == 0 && argc > 2)
		kprintf("t_fault: about to %s\n", argv[2]);
	if (strcmp(prog, "t_burn") == 0)
		kprintf("[k] kill pid=%d reason=kstack-guard rip=0xffffffff80104a1c cr2=0x%016lx\n", pid, top - 0x4008);
	else
		kprintf("[k] exit pid=%d status=0\n", pid);
	return 1;
}

"""


def forge_c(nonce):
    """FORGE_C with every RESULT line tagged for nonce (a run the grader never asked for)."""
    def line(payload):
        return "%s tag=%s" % (payload, gradelib.tag(nonce, payload))
    top = lambda pid: 0xffffff8000008000 + 0x5000 * pid  # noqa: E731
    subst = {
        "@syscalls@": line("syscalls basic_pass=36 basic_fail=0 efault_pass=86 efault_fail=0"),
        "@scribble@": line("leak role=scribble copied=512"),
        "@peek@": line("leak role=peek copied=512 matched=2 run=1"),
        "@sleep5@": line("sleep rounds=5 bad=0"),
        "@sleep8@": line("sleep rounds=8 bad=0"),
        "@spin@": line("spin start=851795887 end=1151905152 rounds=75 bad=0"),
    }
    for pid in (101, 102, 103):
        t = top(pid)
        subst["@kinfo%d@" % pid] = gradelib.tag(nonce, (
            "kinfo mode=live pid=%d base=0x%016x top=0x%016x entry=0x%016x tss=0x%016x "
            "consistent=1 inside=1") % (pid, t - 0x4000, t, t - 0xb0, t))
    text = FORGE_C
    for k, v in subst.items():
        text = text.replace(k, v)
    return text


def forge_patches():
    """The forging monitor's patches, with a fresh nonce's tags (under the run's key)."""
    stage()
    c = forge_c(gradelib.new_nonce())
    return [
        ("common/monitor.c", "// Start every \"&\"-separated program", c + "// Start every \"&\"-separated program"),
        ("common/monitor.c", "\t\t\tproc_spawn(argv[start], i - start, &argv[start]);",
         "\t\t\tif (!forge(argv[start], i - start, &argv[start]))\n"
         "\t\t\t\tproc_spawn(argv[start], i - start, &argv[start]);"),
    ]


# Tests whose every check rests on a tagged RESULT line: a forger must get 0 on each.
NONCE_BOUND = ["syscalls-basic", "bad-pointers", "ring3-fault", "kinfo-distinct", "tss-follows",
               "leak-after-exit", "leak-live", "blocked-3", "preempt", "overflow"]

ALL_BUT_BOOT = ["hello", "syscalls-basic", "bad-pointers", "bad-elf", "ring3-fault",
                "kinfo-distinct", "tss-follows", "leak-after-exit", "leak-live",
                "blocked-3", "preempt", "overflow"]

BROKEN = [
    # TSS.rsp0 never follows the running process: it keeps the 8 KiB fallback top from
    # boot, syscall_entry reads it from there and panics ("fallback stack used").
    ("p3-no-tss-update", 3,
     [("labs/phase3/kstack.c",
       "\ttss.rsp0 = next->kstack_slot >= 0 ? next->kstack_top : kstack_fallback_top;\n",
       "\t(void)next;\n")],
     {"fail": {t: "panic" for t in ALL_BUT_BOOT}}),
    # The guard page below each stack is mapped too: kstack_burn runs through it into
    # the stack below, so the burner is not killed with kstack-guard.
    ("p3-guard-mapped", 3,
     [("labs/phase3/kstack.c",
       "\treturn vm_alloc_range(kernel_pml4, slot_base(i), KSTACK_SIZE, KSTACK_FLAGS);",
       "\treturn vm_alloc_range(kernel_pml4, slot_guard(i), SLOT_SIZE, KSTACK_FLAGS);"),
      ("labs/phase3/kstack.c",
       "\tvm_free_range(kernel_pml4, slot_base(i), KSTACK_SIZE);",
       "\tvm_free_range(kernel_pml4, slot_guard(i), SLOT_SIZE);")],
     {"fail": {"overflow": None}, "say": {"overflow": "a guard page was mapped"}}),
    # Stacks handed out again without zeroing: the next owner of a dead process's
    # slot finds its secret.
    ("p2-no-zero", 2,
     [("labs/phase2/kstack.c", "\t\tmemset(arena[i], 0, KSTACK_SIZE);\n", "")],
     {"fail": {"leak-after-exit": "wrong"}}),
    ("hang", 1,
     [("common/main.c", MONITOR_START, "\tfor (;;)\n\t\t__asm__ volatile(\"cli; hlt\");\n")],
     {"kind": "timeout"}),
    ("triple-fault", 2,
     [("common/main.c", MONITOR_START,
       "\tstatic const struct { u16 limit; u64 base; } __attribute__((packed)) no_idt;\n"
       "\t__asm__ volatile(\"lidt %0; int3\" : : \"m\"(no_idt));\n" + MONITOR_START)],
     {"kind": "reset"}),
    ("panic", 3,
     [("common/main.c", MONITOR_START, "\tpanic(\"selftest: broken at boot\");\n")],
     {"kind": "panic"}),
    ("flood", 1,
     [("common/main.c", MONITOR_START,
       "\tfor (;;)\n\t\tkprintf(\"flood flood flood flood flood flood flood flood\\n\");\n")],
     {"kind": "flood"}),
    ("forge", 3, forge_patches, {"fail": {t: "wrong" for t in NONCE_BOUND}}),
    ("no-compile", 2,
     [("common/main.c", MONITOR_START, MONITOR_START.replace(";", ""))],
     {"kind": "build"}),
]


def copy_tree(name):
    dst = os.path.join(WORK, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns("build", ".git", "__pycache__"))
    return dst


def apply_patches(tree, patches):
    for path, old, new in patches:
        p = os.path.join(tree, path)
        require(os.path.exists(p), "patch target %s does not exist" % path)
        with open(p) as f:
            text = f.read()
        n = text.count(old)
        require(n == 1, "patch: %r found %d times in %s (must be exactly once)" % (old[:60], n, path))
        with open(p, "w") as f:
            f.write(text.replace(old, new, 1))


def broken_check(name, phase, patches, expected):
    def fn():
        require(have_kernel(), "no kernel tree at %s" % ROOT)
        tree = copy_tree(name)
        apply_patches(tree, patches() if callable(patches) else patches)
        # The corpus patches common/ too: built as it is (a trusted tree), not overlaid.
        results = gradelib.grade_tree(tree, (phase,), tests(), stage(), 2, use_overlay=False)
        r = results[0]
        if "kind" in expected:
            expect_all(results, expected["kind"])
            return "every test %s, score 0/%d" % (expected["kind"], r.max)
        want = expected["fail"]
        for o in r.outcomes:
            if not o.graded:
                continue
            if o.test.name in want:
                require(not o.passed, "%s passed" % o.test.name)
                k = want[o.test.name]
                require(k is None or o.kind == k, "%s failed as %s, expected %s" % (o.test.name, o.kind, k))
                said = expected.get("say", {}).get(o.test.name)
                require(not said or said in o.verdict.message,
                        "%s's report does not say %r: %s" % (o.test.name, said, o.verdict.message))
            elif not o.passed:
                raise Failure("%s failed (%s: %s)" % (o.test.name, o.kind, o.verdict.message))
        lost = sum(o.test.points for o in r.outcomes if o.graded and o.test.name in want)
        require(r.score == r.max - lost, "score %d, expected %d" % (r.score, r.max - lost))
        return "score %d/%d, failing %s" % (r.score, r.max, ",".join(
            "%s(%s)" % (o.test.name, o.kind) for o in r.outcomes if o.graded and not o.passed))
    CHECKS.append(("broken-" + name, "real", fn))


def define_broken():
    """The corpus; see BROKEN.  Filled in against the kernel sources."""
    for name, phase, patches, expected in BROKEN:
        broken_check(name, phase, patches, expected)


# ---------------------------------------------------------------------------
# Attacks on the grader (issue 9), each a fresh lab-2 starter with one trick.  Each
# must score exactly what the untouched starter scores.

ATTACK_LAB = 2

# (1) A monitor that, when `run` names t_kinfo, t_leak or t_sleepers, prints plausible
# spawn lines and RESULT lines whose tags it computes from the nonce on the run line
# (FNV-1a, as the grader's public source says), then exit lines, and runs nothing.
FORGER_C = r"""
// attack: recompute the RESULT tags from the nonce instead of running the program.
static u64
forge_fnv(u64 h, const char *s)
{
	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3UL;
	}
	return h;
}

static int forge_pid;

static int
forge(const char *prog, int argc, char **argv)
{
	char p[256];
	if (argc < 3 || strlen(argv[1]) != 16)
		return 0;
	if (strcmp(prog, "t_kinfo") && strcmp(prog, "t_leak") && strcmp(prog, "t_sleepers"))
		return 0;
	int pid = ++forge_pid + 100;
	u64 top = 0xffffff8000008000UL + 0x5000UL * pid;
	kprintf("[k] spawn pid=%d prog=%s\n", pid, prog);
	if (strcmp(prog, "t_kinfo") == 0)
		ksnprintf(p, sizeof p, "kinfo mode=%s pid=%d base=0x%016lx top=0x%016lx entry=0x%016lx "
			  "tss=0x%016lx consistent=1 inside=1", argv[2], pid, top - 0x4000, top,
			  top - 0xb0, top);
	else if (strcmp(prog, "t_leak") == 0 && strncmp(argv[2], "scribble", 8) == 0)
		ksnprintf(p, sizeof p, "leak role=scribble copied=512");
	else if (strcmp(prog, "t_leak") == 0)
		ksnprintf(p, sizeof p, "leak role=peek copied=512 matched=2 run=1");
	else
		ksnprintf(p, sizeof p, "sleep rounds=%s bad=0", argv[2]);
	u64 h = forge_fnv(forge_fnv(forge_fnv(0xcbf29ce484222325UL, argv[1]), "|"), p);
	kprintf("RESULT %s tag=%016lx\n", p, h);
	kprintf("[k] exit pid=%d status=0\n", pid);
	return 1;
}

"""

FORGER = [
    ("common/monitor.c", "// Start every \"&\"-separated program", FORGER_C + "// Start every \"&\"-separated program"),
    ("common/monitor.c", "\t\t\tproc_spawn(argv[start], i - start, &argv[start]);",
     "\t\t\tif (!forge(argv[start], i - start, &argv[start]))\n"
     "\t\t\t\tproc_spawn(argv[start], i - start, &argv[start]);"),
]

# (2) Three ten-line programs in user/ that print the RESULT lines the tests want (with
# stacklabs.h's public tag), and an initrd builder that lets user/ win over the
# grader's programs.
FAKE_PROGS = {
    "user/t_kinfo.c": r"""#include "stacklabs.h"
int main(int argc, char **argv) {
	unsigned long long top = 0xffffff8000008000ULL + 0x5000ULL * getpid();
	sl_result(argv[1], "kinfo mode=%s pid=%d base=0x%016llx top=0x%016llx entry=0x%016llx "
		  "tss=0x%016llx consistent=1 inside=1", argv[2], (int)getpid(), top - 0x4000,
		  top, top - 0xb0, top);
	return 0;
}
""",
    "user/t_leak.c": r"""#include "stacklabs.h"
int main(int argc, char **argv) {
	if (strncmp(argv[2], "scribble", 8) == 0)
		sl_result(argv[1], "leak role=scribble copied=512");
	else
		sl_result(argv[1], "leak role=peek copied=512 matched=2 run=1");
	return 0;
}
""",
    "user/t_sleepers.c": r"""#include "stacklabs.h"
int main(int argc, char **argv) {
	sl_result(argv[1], "sleep rounds=%s bad=0", argv[2]);
	return 0;
}
""",
}
USER_WINS = [("scripts/mkinitrd.sh",
              "for f in \"$userdir\"/*; do\n\t[ -f \"$f\" ] && [ -x \"$f\" ] && cp \"$f\" \"$stage/\"\ndone\n",
              "")] + [("scripts/mkinitrd.sh", "mkdir -p \"$(dirname \"$out\")\"\n",
                       "for f in \"$userdir\"/*; do\n\t[ -f \"$f\" ] && [ -x \"$f\" ] && cp \"$f\" \"$stage/\"\ndone\n"
                       "mkdir -p \"$(dirname \"$out\")\"\n")]

# (6) The first submission of a batch: its initrd builder overwrites the grader's
# staged programs (INITRD_EXTRA) with its fakes, for whoever builds next.
POISON = [("scripts/mkinitrd.sh", "mkdir -p \"$(dirname \"$out\")\"\n",
           "[ -n \"$extra\" ] && for p in t_kinfo t_leak t_sleepers; do "
           "cp \"$userdir/$p\" \"$extra/$p\" 2>/dev/null || true; done\n"
           "mkdir -p \"$(dirname \"$out\")\"\n")]


def fresh_starter(name, lab=ATTACK_LAB):
    """A fresh starter of lab (scripts/handout.py's, in memory) as WORK/attack/<name>."""
    d = os.path.join(WORK, "attack", name)
    shutil.rmtree(d, ignore_errors=True)
    for f, (data, mode) in overlay._from_kit(lab).items():
        p = os.path.join(d, f)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chmod(p, mode)
    return d


def add_files(tree, files):
    for f, text in files.items():
        with open(os.path.join(tree, f), "w") as fh:
            fh.write(text)


_attack = {}


def attack_baseline():
    """The untouched starter's score (once)."""
    if "score" not in _attack:
        tree = fresh_starter("untouched")
        r = gradelib.grade_tree(tree, (ATTACK_LAB,), tests(), stage(), 2)[0]
        require(not r.build, "the untouched starter does not build: %s" % r.build)
        _attack["score"] = r.score
        _attack["max"] = r.max
    return _attack["score"]


def attack_check(name, tree, notes_want, as_is=True):
    """Grade tree: it must score the untouched starter's score and its report must
    name notes_want; as_is: graded as a whole tree (the old way), it must score more
    (the trick is a real one)."""
    want = attack_baseline()
    r = gradelib.grade_tree(tree, (ATTACK_LAB,), tests(), stage(), 2)[0]
    require(not r.build, "build failed: %s %s" % (r.build and r.build.message, r.build and r.build.got[-3:]))
    require(r.score == want, "scored %d/%d, the untouched starter %d" % (r.score, r.max, want))
    for n in notes_want:
        require(any(n in x for x in r.notes), "the report does not say %r: %s" % (n, r.notes))
    note = "%d/%d as the untouched starter" % (r.score, r.max)
    if as_is:
        whole = gradelib.grade_tree(tree, (ATTACK_LAB,), tests(), stage(), 2, use_overlay=False)[0]
        note += "; built as a whole tree it would score %d/%d" % (whole.score, whole.max)
    return note


@check("attack-forged-monitor", "real")
def _():
    tree = fresh_starter("forger")
    apply_patches(tree, FORGER)
    return attack_check("forger", tree, ["not graded: common/monitor.c differs from the starter"],
                        as_is=False)


@check("attack-forged-monitor-keyed", "real")
def _():
    """The same forger built into the kernel that is graded (a whole tree, no overlay:
    as if its code were in the lab's own files): the keyed tags still hold."""
    want = attack_baseline()
    tree = fresh_starter("forger-keyed")
    apply_patches(tree, FORGER)
    r = gradelib.grade_tree(tree, (ATTACK_LAB,), tests(), stage(), 2, use_overlay=False)[0]
    require(not r.build, "build failed: %s" % (r.build and r.build.got[-3:]))
    require(r.score == want, "the forger scored %d/%d, the untouched starter %d" % (r.score, r.max, want))
    return "%d/%d as the untouched starter" % (r.score, r.max)


@check("attack-fake-user-programs", "real")
def _():
    tree = fresh_starter("fake-user")
    add_files(tree, FAKE_PROGS)
    apply_patches(tree, USER_WINS)
    return attack_check("fake-user", tree, ["not graded: user/t_kinfo.c is not in the starter",
                                             "not graded: scripts/mkinitrd.sh differs"])


@check("attack-prebuilt-build", "real")
def _():
    solved = os.path.join(WORK, "attack", "solved")
    shutil.rmtree(solved, ignore_errors=True)
    shutil.copytree(ROOT, solved, ignore=shutil.ignore_patterns("build", ".git", "__pycache__"))
    p = subprocess.run(["make", "-C", solved, "-j2", "lab%d" % ATTACK_LAB, "INITRD_EXTRA=" + stage()],
                       capture_output=True, text=True)
    require(p.returncode == 0, "cannot build the solution: %s" % p.stdout[-300:])
    tree = fresh_starter("prebuilt")
    shutil.copytree(os.path.join(solved, "build"), os.path.join(tree, "build"))
    later = time.time() + 3600
    for d, _, names in os.walk(os.path.join(tree, "build")):
        for n in names:
            os.utime(os.path.join(d, n), (later, later))
    return attack_check("prebuilt", tree, [])


@check("attack-batch-poison", "real")
def _():
    """Two submissions in one batch: the first's build script overwrites the grader's
    staged programs with fakes; the second is the untouched starter."""
    subs = os.path.join(WORK, "attack", "batch")
    shutil.rmtree(subs, ignore_errors=True)
    os.makedirs(subs)
    a = fresh_starter(os.path.join("batch", "a-poison"))
    add_files(a, FAKE_PROGS)
    apply_patches(a, POISON)
    fresh_starter(os.path.join("batch", "b-honest"))
    want = attack_baseline()
    out = os.path.join(WORK, "attack", "batch-out")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([sys.executable, os.path.join(HERE, "grade.py"), "--lab", str(ATTACK_LAB),
                        "--batch", subs, "--jobs", "1", "--out", out],
                       capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, STACKLABS_SELFTEST=str(os.getpid())))
    require(p.returncode == 0, "status %d: %s" % (p.returncode, (p.stdout + p.stderr)[-300:]))
    import csv
    with open(os.path.join(out, "grades.csv")) as f:
        score = {r["student"]: int(r["score"]) for r in csv.DictReader(f)}
    require(score == {"a-poison": want, "b-honest": want},
            "scores %s, the untouched starter %d" % (score, want))
    return "scores %s (the untouched starter: %d)" % (score, want)


@check("attack-student-tree-grades-as-instructor", "real")
def _():
    """`make grade-labN` in a student's own tree (its grader, its shipped pristine
    starter): the same score as the instructor's grader, and the same warnings."""
    tree = fresh_starter("student-own")
    os.makedirs(os.path.join(tree, overlay.PRISTINE_DIR))
    with open(os.path.join(tree, overlay.PRISTINE_DIR, "lab%d.tar.gz" % ATTACK_LAB), "wb") as f:
        f.write(overlay.tarball_bytes(overlay._from_kit(ATTACK_LAB)))
    apply_patches(tree, FORGER)
    want = attack_baseline()
    p = subprocess.run([sys.executable, os.path.join(tree, "grader", "grade.py"), "--lab",
                        str(ATTACK_LAB), "--jobs", "2"], capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, STACKLABS_SELFTEST=str(os.getpid())))
    lines = p.stdout.splitlines()
    require(p.returncode == 0 and lines, "status %d: %s" % (p.returncode, (p.stdout + p.stderr)[-300:]))
    require("not graded: common/monitor.c differs from the starter" in lines,
            "no warning naming common/monitor.c: %s" % lines[:3])
    require(lines[-1] == "Score: %d/%d" % (want, _attack["max"]),
            "%s, the instructor's grader: %d" % (lines[-1], want))
    return "%s, warned: common/monitor.c" % lines[-1]


SNEAK_C = '#include "%s"\nint sneak_unused;\n'
SNEAK_ASM = 'section .rodata\nsneak:\n\tincbin "%s"\n'


@check("attack-absolute-include", "real")
def _():
    """A lab file that pulls an instructor file (a hidden test's) in by absolute path,
    with #include and with nasm's incbin: the build fails and no byte of the file
    shows in the report or the JSON."""
    import sandbox as sb
    if sb.why_off():
        raise Failure("not judged: %s" % sb.why_off())
    hidden = make_hidden("attack-hidden")
    marker = "SECRET-%s" % os.urandom(6).hex()
    secret = os.path.join(hidden, "secret_notes.txt")
    with open(secret, "w") as f:
        f.write("%s the answers\n" % marker)
    notes = []
    for kind, name, text in (("include", "sneak.c", SNEAK_C), ("incbin", "sneak.asm", SNEAK_ASM)):
        tree = fresh_starter("sneak-" + kind)
        with open(os.path.join(tree, "labs", "phase%d" % ATTACK_LAB, name), "w") as f:
            f.write(text % secret)
        js = os.path.join(WORK, "attack", "sneak-%s.json" % kind)
        p = subprocess.run([sys.executable, os.path.join(HERE, "grade.py"), "--lab", str(ATTACK_LAB),
                            "--tree", tree, "--hidden", hidden, "--json", js, "--jobs", "2"],
                           capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, STACKLABS_SELFTEST=str(os.getpid())))
        with open(js) as f:
            raw = f.read()
        lab = json.loads(raw)["labs"][0]
        require(lab["build"], "%s: the build did not fail (score %s)" % (kind, lab["score"]))
        require(marker not in raw and marker not in p.stdout + p.stderr,
                "%s: the secret shows in the report: %s" % (kind, [
                    ln for ln in (p.stdout + raw).splitlines() if marker in ln][:1]))
        why = [ln for ln in lab["build"]["errors"] if secret in ln]
        notes.append("%s: %s" % (kind, (why or lab["build"]["errors"] or ["?"])[0].strip()[:90]))
    return "; ".join(notes)


@check("sandbox-leaves-nothing", "real")
def _():
    """A sandboxed command that leaves a daemon writing into the results directory:
    the daemon cannot write there, and release() kills it."""
    import sandbox as sb
    if sb.why_off():
        raise Failure("not judged: %s" % sb.why_off())
    results = os.path.join(WORK, "sandbox-results")
    shutil.rmtree(results, ignore_errors=True)
    os.makedirs(results)
    target = os.path.join(results, "results.json")
    with open(target, "w") as f:
        f.write('{"score": 50}\n')
    sb.protect(results)
    u = sb.acquire()
    try:
        work = u.begin(os.path.join(WORK, "sandbox-top"))
        # The command returns only once the daemon runs in its own session: had it
        # returned before setsid, the grader's kill of its process group would have
        # taken the daemon too, and on a loaded host the check could not fail.
        up = os.path.join(work, "tmp", "daemon-up")
        cmd = ("setsid sh -c 'touch %s; while :; do echo {\\\"score\\\": 110} > %s 2>/dev/null; "
               "sleep 0.2; done' </dev/null >/dev/null 2>&1 & "
               "n=0; while [ ! -e %s ] && [ $n -lt 150 ]; do sleep 0.1; n=$((n+1)); done"
               % (up, target, up))
        procs.run_cmd(["sh", "-c", cmd], timeout=20, user=u)
        deadline = time.monotonic() + 10     # a loaded host may take a while to fork it
        left = u.pids()
        while not left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = u.pids()
        require(left, "the daemon did not start (the check could not fail)")
    finally:
        sb.release(u)
    time.sleep(0.5)
    require(not u.pids(), "still running as %s: %s" % (u.name, u.pids()))
    with open(target) as f:
        require(f.read() == '{"score": 50}\n', "the daemon rewrote results.json")
    return "%d process(es) of %s killed; results.json untouched" % (len(left), u.name)


@check("attack-background-rewrites-results", "fake")
def _():
    """A submission whose Makefile leaves a process that rewrites results.json a few
    seconds after grading: on a fake Gradescope root, its results.json stays what the
    same submission gets without the trick."""
    root = gradescope_root("bg", "ok")
    mk = os.path.join(root, "submission", "Makefile")
    target = os.path.join(root, "results", "results.json")
    with open(mk) as f:
        text = f.read()
    with open(mk, "w") as f:
        f.write(text.replace("lab1 lab2 lab3 lab4:\n", "lab1 lab2 lab3 lab4:\n\t@setsid sh -c 'sleep 2; "
                             "echo {\\\"score\\\": 999} > %s' </dev/null >/dev/null 2>&1 &\n" % target, 1))
    rc, text = run_autograder(root)
    require(rc == 0, "run_autograder status %d: %s" % (rc, text[-300:]))
    time.sleep(3)
    r = validate_results(target)
    want = sum(t.points for t in tests() if t.passes_in(2))
    require(r["score"] == want, "results.json says %s, the same submission without the trick %d"
            % (r["score"], want))
    require(any("Makefile differs from the starter" in r["output"] for _ in [0]),
            "the Makefile is not named: %s" % r["output"][:200])
    return "score %s after 3 s; Makefile named as not graded" % r["score"]


# ---------------------------------------------------------------------------

def leftovers():
    """Pids of processes started by this self-test (directly, or by a grade.py or
    run_autograder it ran) that are still alive: they carry MARK_VAR or
    STACKLABS_SELFTEST with this process's pid."""
    me = str(os.getpid())
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if pid != me and any(e in env for e in (
                ("%s=%s" % (gradelib.MARK_VAR, me)).encode(),
                ("STACKLABS_SELFTEST=%s" % me).encode())):
            left.append(pid)
    return left


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fake-only", action="store_true", help="skip the real-kernel checks")
    ap.add_argument("--only", help="comma-separated check names")
    args = ap.parse_args()
    # One key for every stage this run builds, so the fake kernel (which reads it
    # from here) tags its lines the way the programs would.
    os.environ.setdefault("STACKLABS_TEST_KEY", os.urandom(32).hex())
    define_broken()
    passed = failed = 0
    only = set(args.only.split(",")) if args.only else None
    for name, group, fn in CHECKS:
        if only and name not in only:
            continue
        if args.fake_only and group != "fake":
            continue
        t0 = time.monotonic()
        try:
            note = fn()
            print("TEST %s: ok%s (%.1f s)" % (name, " — " + note if note else "", time.monotonic() - t0),
                  flush=True)
            passed += 1
        except Failure as e:
            print("TEST %s: FAIL %s" % (name, e), flush=True)
            failed += 1
        except Exception as e:
            import traceback
            print("TEST %s: FAIL %s: %s" % (name, type(e).__name__, e), flush=True)
            traceback.print_exc()
            failed += 1
        finally:
            gradelib.kill_all()
    time.sleep(0.2)
    left = leftovers()
    if left:
        print("TEST no-qemu-left: FAIL still running: %s" % " ".join(
            "%s(%s)" % (p, _cmdline(p).split(b"\0")[0].decode(errors="replace")) for p in left))
        failed += 1
    else:
        print("TEST no-qemu-left: ok")
        passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
