#!/usr/bin/env python3
"""handout.py — write the student starter of each lab from the reference tree.

    python3 scripts/handout.py              every lab: build/handout/labN/ and labN.tar.gz
    python3 scripts/handout.py --lab 2      one lab
    python3 scripts/handout.py --check      also print one `TEST starter-labN-no-solution:`
                                          line per lab (make test)
    python3 scripts/handout.py --list 2     print the files lab 2's starter gets, and stop

A starter is the repository as a student of lab N needs it: every file `git ls-files`
names (tracked, or new and not ignored), minus instructor-only material (INSTRUCTOR_ONLY below) and minus the later
labs (labs/phaseK and handouts/labK* for K > N, which hold lab N's solution), with
every source file passed through the exercise markers:

    // LAB2 BEGIN: allocate, zero and free a per-process stack     (nasm: ; LAB2 ...)
    ...the solution...
    // LAB2 END

and each region's stub kept beside the reference, in labs/stubs/phaseN/<same file>, so the
lab trees (and the diffs between them) hold solutions only:

    // STUB allocate, zero and free a per-process stack             (nasm: ; STUB ...)
    ...the stub, as it will appear in the starter...

In lab N's starter a LABN region becomes

    // TODO lab 2: allocate, zero and free a per-process stack (see handouts/lab2.md)
    ...the stub...
    // END TODO lab 2

and the markers and stubs of every other lab go, leaving that lab's solution. The
Makefile's PHASES line is cut to 1..N. Afterwards every "distinctive" line of lab N's
solution (one that nothing else a starter is made of contains) is looked for in every
file of the starter; finding one is an error.
"""

import argparse
import fnmatch
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join("build", "handout")
LABS = (1, 2, 3, 4)

# Files no starter gets (fnmatch patterns on the repository path; "*" crosses "/").
INSTRUCTOR_ONLY = [
    "grader/flaky.sh",          # the whole matrix, N times
    "grader/hidden/*",          # hidden tests, wherever an instructor keeps them
    "hidden/*",
    "hidden-tests/*",
    "*/hidden-tests/*",
    "grader/gradescope/*",      # building the Gradescope autograder
    "handouts/instructors.md",
    "scripts/handout.py",       # this generator
    "tests/*",                  # the kit's own tests (make test), which test every
                                # phase, the grader and the starters themselves
    "labs/stubs/*",             # the stubs, already in place in the starter
    ".ci/*",                    # the kit's own CI
]

# Files whose exercise markers are processed.
SOURCE_EXT = (".c", ".h", ".asm", ".inc", ".S", ".s")

MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<cc>//|;) LAB(?P<lab>\d+) "
                    r"(?:BEGIN: (?P<task>\S.*?)|(?P<kind>END))[ \t]*$")
ANY_MARKER = re.compile(r"(//|;) ?LAB\d+ (BEGIN|STUB|END)\b")
STUB_HEAD = re.compile(r"^(//|;) STUB (?P<task>\S.*?)[ \t]*$")
STUBS = os.path.join("labs", "stubs")


def stub_path(path):
    """Where the stubs of labs/phaseN/F live: labs/stubs/phaseN/F."""
    return os.path.join(ROOT, STUBS, os.path.relpath(path, "labs"))

# A solution line shorter than this (code or comment, whitespace squeezed) is too
# common to call distinctive: "}", "return 0;", "continue;".
DISTINCT_MIN = 12


class MarkerError(Exception):
    pass


class Region:
    """One exercise region: its lab, task, and solution and stub lines (raw text)."""

    def __init__(self, path, lineno, lab, task, indent, cc):
        self.path, self.lineno, self.lab, self.task = path, lineno, lab, task
        self.indent, self.cc = indent, cc
        self.solution = []
        self.stub = []          # uncommented


def load_stubs(path):
    """task -> stub lines, from labs/stubs/phaseN/<file> (empty if there is no such file)."""
    stubs, cur = {}, None
    sp = stub_path(path)
    if not os.path.exists(sp):
        return stubs
    for line in open(sp).read().split("\n"):
        m = STUB_HEAD.match(line)
        if m:
            cur = stubs.setdefault(m.group("task"), [])
        elif cur is not None:
            cur.append(line)
    for lines in stubs.values():
        while lines and not lines[-1].strip():
            lines.pop()
    return stubs


def parse(path, text):
    """Split text into a list of plain lines and Regions, each Region with its stub
    from labs/stubs/phaseN/<file>.  Raises MarkerError."""
    parts = []
    cur = None
    stubs = load_stubs(path)
    for n, line in enumerate(text.split("\n"), 1):
        m = MARKER.match(line)
        where = "%s:%d" % (path, n)
        if m:
            lab = int(m.group("lab"))
            if m.group("task"):
                if cur:
                    raise MarkerError("%s: LAB%d BEGIN inside the LAB%d region of line %d"
                                      % (where, lab, cur.lab, cur.lineno))
                cur = Region(path, n, lab, m.group("task"), m.group("indent"), m.group("cc"))
                continue
            if not cur or cur.lab != lab:
                raise MarkerError("%s: LAB%d END outside a LAB%d region" % (where, lab, lab))
            if cur.task not in stubs:
                raise MarkerError("%s: the LAB%d region of line %d has no stub: add a block "
                                  "'%s STUB %s' to %s (every region needs one, even an empty one)"
                                  % (where, lab, cur.lineno, cur.cc, cur.task,
                                     os.path.relpath(stub_path(path), ROOT)))
            cur.stub = list(stubs[cur.task])
            parts.append(cur)
            cur = None
            continue
        if ANY_MARKER.search(line):
            raise MarkerError("%s: looks like a marker but is not one: %r" % (where, line))
        if cur is None:
            parts.append(line)
        else:
            cur.solution.append(line)
    if cur:
        raise MarkerError("%s: the LAB%d region of line %d has no END"
                          % (path, cur.lab, cur.lineno))
    return parts


def render(parts, lab):
    """The text of parts for lab's starter (lab 0: the reference, markers gone)."""
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif p.lab == lab:
            out.append("%s%s TODO lab %d: %s (see handouts/lab%d.md)"
                       % (p.indent, p.cc, lab, p.task, lab))
            out += p.stub
            out.append("%s%s END TODO lab %d" % (p.indent, p.cc, lab))
        else:
            out += p.solution
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Which files.

def repo_files():
    """Every file `git add -A` would commit: tracked, or new and not ignored (with its
    working-tree content); without git, every file but build/."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], check=True,
                             capture_output=True).stdout.decode()
        files = sorted(set(f for f in out.split("\0") if f))
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in (".git", "build", "__pycache__")]
            files += [os.path.relpath(os.path.join(d, x), ROOT) for x in names]
    return sorted(f for f in files if os.path.isfile(os.path.join(ROOT, f)))


def later_lab(path, lab):
    """True if path belongs to a lab after lab (its tree or its handout)."""
    m = re.match(r"labs/phase(\d+)/", path)
    if m:
        return int(m.group(1)) > lab
    m = re.match(r"handouts/(?:.*/)?lab(\d+)[^/]*$", path)
    return bool(m) and int(m.group(1)) > lab


def is_starter_file(f, lab):
    return not any(fnmatch.fnmatch(f, pat) for pat in INSTRUCTOR_ONLY) and not later_lab(f, lab)


def starter_files(files, lab):
    return [f for f in files if is_starter_file(f, lab)]


# ---------------------------------------------------------------------------
# Writing a starter.

def load(files):
    """path -> parts (source files with markers) or bytes (everything else)."""
    content = {}
    for f in files:
        data = open(os.path.join(ROOT, f), "rb").read()
        if f.endswith(SOURCE_EXT):
            content[f] = parse(f, data.decode())
        else:
            content[f] = data
    return content


def starter_text(f, c, lab):
    """The bytes of file f in lab's starter."""
    if not isinstance(c, bytes):
        return render(c, lab).encode()
    if f == "Makefile":
        phases = " ".join(str(k) for k in LABS if k <= lab)
        new, n = re.subn(rb"^PHASES := .*$", b"PHASES := " + phases.encode(), c,
                         count=1, flags=re.M)
        if n != 1:
            raise MarkerError("Makefile: no `PHASES := ...` line to cut to lab %d" % lab)
        return new
    return c


def write_starter(files, content, lab):
    """build/handout/labN/ and build/handout/labN.tar.gz.  Returns {path: bytes}."""
    dest = os.path.join(ROOT, OUT, "lab%d" % lab)
    shutil.rmtree(dest, ignore_errors=True)
    tree = {}
    for f in starter_files(files, lab):
        data = starter_text(f, content[f], lab)
        tree[f] = data
        p = os.path.join(dest, f)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chmod(p, 0o755 if os.access(os.path.join(ROOT, f), os.X_OK) else 0o644)
    write_tarball(dest, lab, tree)
    return tree


def write_tarball(dest, lab, tree):
    """labN.tar.gz: labN/<file> for every file, sorted, owner root, one fixed date,
    so the same tree always gives the same bytes."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "1700000000"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in sorted(tree):
            info = tarfile.TarInfo("lab%d/%s" % (lab, f))
            info.size = len(tree[f])
            info.mtime = epoch
            info.mode = os.stat(os.path.join(dest, f)).st_mode & 0o777
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(tree[f]))
    with open(dest + ".tar.gz", "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as gz:
            gz.write(buf.getvalue())


# ---------------------------------------------------------------------------
# No solution in a starter.


def fragments(line, cc):
    """The code and the trailing comment (cc) of a source line, whitespace squeezed,
    each kept only if it is long enough to be distinctive."""
    code, _, comment = line.partition(cc)
    out = [re.sub(r"\s+", " ", x).strip(" ;") for x in (code, comment)]
    return [x for x in out if len(x) >= DISTINCT_MIN]


def squeeze(text):
    return re.sub(r"[ \t]+", " ", text)


def distinctive(tree, content, lab):
    """Fragments of lab's solutions found nowhere in what the starter legitimately
    shares with the reference (its files outside labs/ and handouts/, the earlier
    labs' trees, and lab's stubs), mapped to where each is.  Those must appear
    nowhere in the starter."""
    sol = {}
    shared = []
    for f, c in content.items():
        if isinstance(c, bytes):
            continue
        for p in c:
            if not isinstance(p, str) and p.lab == lab:
                shared += p.stub
                for ln in p.solution:
                    for x in fragments(ln, p.cc):
                        sol.setdefault(x, "%s:%d" % (f, p.lineno))
    for f, data in tree.items():
        m = re.match(r"labs/phase(\d+)/", f)
        if m and int(m.group(1)) < lab or not m and not f.startswith(("labs/", "handouts/")):
            shared.append(data.decode(errors="replace"))
    shared = squeeze("\n".join(shared))
    return {x: w for x, w in sol.items() if x not in shared}


def find_solutions(tree, content, lab):
    """Lines of the starter tree that carry a distinctive solution fragment."""
    sol = distinctive(tree, content, lab)
    hits = []
    for f, data in sorted(tree.items()):
        squeezed = squeeze(data.decode(errors="replace"))
        for x, where in sol.items():
            if x in squeezed:
                hits.append("%s holds %r (the solution at %s)" % (f, x, where))
    if not any(k.startswith("labs/phase%d/" % lab) for k in tree):
        hits.append("the starter has no labs/phase%d" % lab)
    for f, data in tree.items():
        if f.endswith(SOURCE_EXT) and ANY_MARKER.search(data.decode(errors="replace")):
            hits.append("%s still has a LABn marker" % f)
    return sol, hits


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", type=int, choices=LABS, action="append",
                    help="only this lab (repeatable); default: every lab")
    ap.add_argument("--check", action="store_true",
                    help="print a TEST line per lab for the no-solution check")
    ap.add_argument("--list", type=int, choices=LABS, metavar="N",
                    help="print the files lab N's starter gets, and stop")
    args = ap.parse_args()

    files = repo_files()
    if args.list:
        print("\n".join(starter_files(files, args.list)))
        return 0
    try:
        content = load(files)
        for lab in LABS:
            if not any(not isinstance(p, str) and p.lab == lab
                       for c in content.values() if not isinstance(c, bytes) for p in c):
                raise MarkerError("no LAB%d region anywhere: nothing to hand out" % lab)
        for f, c in content.items():
            for p in [] if isinstance(c, bytes) else c:
                if not isinstance(p, str) and not f.startswith("labs/phase%d/" % p.lab):
                    print("handout: warning: %s:%d: a LAB%d region outside labs/phase%d/"
                          % (f, p.lineno, p.lab, p.lab), file=sys.stderr)
    except MarkerError as e:
        print("handout: %s" % e, file=sys.stderr)
        return 1

    bad = 0
    for lab in args.lab or LABS:
        try:
            tree = write_starter(files, content, lab)
        except MarkerError as e:
            print("handout: %s" % e, file=sys.stderr)
            return 1
        sol, hits = find_solutions(tree, content, lab)
        regions = sum(1 for c in content.values() if not isinstance(c, bytes)
                      for p in c if not isinstance(p, str) and p.lab == lab)
        print("handout: lab %d: %s/lab%d/ (%d files, %d regions stubbed) and lab%d.tar.gz"
              % (lab, OUT, lab, len(tree), regions, lab))
        if args.check:
            print("TEST starter-lab%d-no-solution: %s" % (
                lab, "ok (%d distinctive solution lines, none found)" % len(sol) if not hits
                else "FAIL " + hits[0]))
        for h in hits:
            print("handout: lab %d: %s" % (lab, h), file=sys.stderr)
        bad += bool(hits)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
