#!/usr/bin/env python3
"""handout.py — write the student starter of each lab from the reference tree.

    python3 scripts/handout.py              every lab: build/handout/labN/ and labN.tar.gz
    python3 scripts/handout.py --lab 2      one lab
    python3 scripts/handout.py --check      also print `TEST starter-labN-no-solution:` and
                                          `...-no-later-lab:` per lab (make test)
    python3 scripts/handout.py --list 2     print the files lab 2's starter gets, and stop

A starter is what a student of lab N needs, and nothing else: the files STARTER names
(an allowlist: STARTER["every lab"] plus STARTER[K] for every lab K <= N; a file must
also be tracked by git, so an instructor's untracked notes never ship), with
STARTER_VERSION's files written from their starter versions (a README that describes
the starter, not the kit), every Markdown file passed through its lab gates (below),
the Makefile's instructor-only blocks dropped and PHASES cut to 1..N, and every
source file passed through the exercise markers:

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

and the markers and stubs of every other lab go, leaving that lab's solution. Afterwards every
"distinctive" line of lab N's solution (one that nothing else a starter is made of
contains) is looked for in every file of the starter, and so is every name that only
a later lab's tree defines (`current_kernel_stack` in a lab 1 starter): finding one
is an error.

Lab gates (Markdown).  Text the reference shows to everyone but a starter only from
lab K on, or never:

    <!-- lab 3+ -->                 a block: kept in the starters of labs 3, 4, ...
    ...
    <!-- end lab 3+ -->
    | a table row | ... | <!-- lab 3+ -->       one line (also `<!-- instructor -->`)
    <!-- instructor -->             a block no starter gets
    ...
    <!-- end instructor -->

and text only starters show (an HTML comment in the reference, so invisible there):

    <!-- starter before lab 2       kept, without the comment, in the lab 1 starter
    ...                             (also `<!-- starter lab 2` for lab 2 only,
    -->                              `<!-- starter lab 2+`, and `<!-- starter`: all)

Makefile: the lines between `# INSTRUCTOR ONLY BEGIN` and `# INSTRUCTOR ONLY END`
are dropped; between `# STARTER ONLY BEGIN` and `# STARTER ONLY END`, each line's
leading `# ` is removed (so the reference sees a comment).
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

# What a starter is made of: fnmatch patterns on tracked files ("*" crosses "/").
# Lab N's starter gets STARTER["every lab"] and STARTER[K] for every K <= N, so a lab's
# tree, handout and pictures reach no earlier lab's student. A new lab is one entry.
STARTER = {
    "every lab": [
        ".gitignore",
        "Makefile",                     # instructor-only blocks dropped, PHASES cut
        "README.md",                    # from STARTER_VERSION
        "common/*",
        "user/*",
        "gdb/*",                        # the GDB helpers `make gdb` loads
        "scripts/deps.sh",
        "scripts/gdbinit.sh",
        "scripts/mkinitrd.sh",
        "scripts/mkiso.sh",
        "scripts/rr.py",                # make labN-record / -replay / -replay-gdb
        "grader/README.md",             # from STARTER_VERSION
        "grader/*.py",                  # the public grader and its tests
        "grader/progs/*.c",
        "handouts/gdb.md",              # lab-gated
        "handouts/img/syscall-path.svg",
        "handouts/img/vmem-layout.svg",
    ],
    1: ["labs/phase1/*", "handouts/lab1.md", "handouts/img/phase1-stacks.svg"],
    2: ["labs/phase2/*", "handouts/lab2.md", "handouts/img/phase2-stacks.svg"],
    3: ["labs/phase3/*", "handouts/lab3.md", "handouts/img/phase3-stacks.svg",
        "handouts/img/guard-df.svg"],
    4: ["labs/phase4/*", "handouts/lab4.md", "handouts/img/phase4-percpu.svg"],
}

# Files a starter gets from another file of the tree: READMEs that describe what a
# starter holds (the reference's describe the whole kit). Lab-gated like handouts.
STARTER_VERSION = {
    "README.md": "labs/stubs/README.md",
    "grader/README.md": "labs/stubs/grader/README.md",
}

# Never in a starter, whatever STARTER says (a second line of defence, checked by
# --check): the kit's own tests and tools, the instructors' pages, hidden tests.
NEVER = [
    ".ci/*", "docs/*", "tests/*", "labs/stubs/*", "scripts/handout.py", "scripts/bench.py",
    "grader/flaky.sh", "grader/gradescope/*", "handouts/instructors.md",
    "*hidden/*", "*hidden-tests/*",
]

# Files whose exercise markers are processed.
SOURCE_EXT = (".c", ".h", ".asm", ".inc", ".S", ".s")

MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<cc>//|;) LAB(?P<lab>\d+)(?P<full> FULL)? "
                    r"(?:BEGIN: (?P<task>\S.*?)|(?P<kind>END))[ \t]*$")
ANY_MARKER = re.compile(r"(//|;) ?LAB\d+ (FULL )?(BEGIN|STUB|END)\b")
# The depths a starter is made at: "lab" (the default) stubs every LABn region;
# "full" stubs every LABn FULL region whole (the LABn regions inside it go with it)
# and the LABn regions outside any.
DEPTHS = ("lab", "full")
DEPTH = "lab"                   # set by main()
STUB_HEAD = re.compile(r"^(//|;) STUB (?P<task>\S.*?)[ \t]*$")
STUBS = os.path.join("labs", "stubs")


def stub_path(path):
    """Where the stubs of labs/phaseN/<file> live: labs/stubs/phaseN/<file>."""
    return os.path.join(ROOT, STUBS, os.path.relpath(path, "labs"))

# A solution line shorter than this (code or comment, whitespace squeezed) is too
# common to call distinctive: "}", "return 0;", "continue;".
DISTINCT_MIN = 12


class MarkerError(Exception):
    pass


class Region:
    """One exercise region: its lab, task, whether it is a FULL-depth region, its
    solution (plain lines, and for a FULL region the Regions inside it) and its stub."""

    def __init__(self, path, lineno, lab, task, indent, cc, full=False):
        self.path, self.lineno, self.lab, self.task = path, lineno, lab, task
        self.indent, self.cc, self.full = indent, cc, full
        self.solution = []
        self.stub = []          # uncommented

    def lines(self):
        """The solution as plain lines (inner regions' solutions included)."""
        out = []
        for p in self.solution:
            out += [p] if isinstance(p, str) else p.lines()
        return out


def load_stubs(path):
    """task -> stub lines, from labs/stubs/phaseN/<file> (empty if there is no such file)."""
    sp = stub_path(path)
    return read_stubs(open(sp).read()) if os.path.exists(sp) else {}


def read_stubs(text):
    """task -> stub lines of the text of a stub file."""
    stubs, cur = {}, None
    for line in text.split("\n"):
        m = STUB_HEAD.match(line)
        if m:
            cur = stubs.setdefault(m.group("task"), [])
        elif cur is not None:
            cur.append(line)
    for lines in stubs.values():
        while lines and not lines[-1].strip():
            lines.pop()
    return stubs


def parse(path, text, stubs=None):
    """Split text into a list of plain lines and Regions, each Region with its stub
    from stubs (default: labs/stubs/phaseN/<file>).  A LABn FULL region may hold
    LABn regions; nothing else nests.  Raises MarkerError."""
    parts = []
    stack = []                  # the open regions, outermost first
    stubs = load_stubs(path) if stubs is None else stubs
    for n, line in enumerate(text.split("\n"), 1):
        m = MARKER.match(line)
        where = "%s:%d" % (path, n)
        if m:
            lab, full = int(m.group("lab")), bool(m.group("full"))
            kind = "LAB%d%s" % (lab, " FULL" if full else "")
            if m.group("task"):
                if stack and (full or not stack[-1].full or stack[-1].lab != lab):
                    raise MarkerError("%s: %s BEGIN inside the LAB%d region of line %d (only "
                                      "LAB%d regions may sit inside a LAB%d FULL region)"
                                      % (where, kind, stack[-1].lab, stack[-1].lineno,
                                         stack[-1].lab, stack[-1].lab))
                stack.append(Region(path, n, lab, m.group("task"), m.group("indent"),
                                    m.group("cc"), full))
                continue
            if not stack or stack[-1].lab != lab or stack[-1].full != full:
                raise MarkerError("%s: %s END outside a %s region" % (where, kind, kind))
            cur = stack.pop()
            if cur.task not in stubs:
                raise MarkerError("%s: the %s region of line %d has no stub: add a block "
                                  "'%s STUB %s' to %s (every region needs one, even an empty one)"
                                  % (where, kind, cur.lineno, cur.cc, cur.task,
                                     os.path.relpath(stub_path(path), ROOT)))
            cur.stub = list(stubs[cur.task])
            (stack[-1].solution if stack else parts).append(cur)
            continue
        if ANY_MARKER.search(line):
            raise MarkerError("%s: looks like a marker but is not one: %r" % (where, line))
        (stack[-1].solution if stack else parts).append(line)
    if stack:
        raise MarkerError("%s: the LAB%d region of line %d has no END"
                          % (path, stack[-1].lab, stack[-1].lineno))
    return parts


def stubbed(p, lab, depth):
    """True if region p becomes a TODO in lab's starter at depth."""
    return p.lab == lab and (depth == "full" or not p.full)


def todo_regions(parts, lab, depth):
    """The regions of parts that lab's starter at depth shows as TODOs."""
    out = []
    for p in parts:
        if isinstance(p, str):
            continue
        if stubbed(p, lab, depth):
            out.append(p)
        else:
            out += todo_regions(p.solution, lab, depth)
    return out


def render(parts, lab, depth=None):
    """The text of parts for lab's starter at depth (default DEPTH; lab 0: the
    reference, markers gone)."""
    return "\n".join(render_lines(parts, lab, depth or DEPTH))


def render_lines(parts, lab, depth):
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif stubbed(p, lab, depth):
            out.append("%s%s TODO lab %d: %s (see handouts/lab%d.md)"
                       % (p.indent, p.cc, lab, p.task, lab))
            out += p.stub
            out.append("%s%s END TODO lab %d" % (p.indent, p.cc, lab))
        else:
            out += render_lines(p.solution, lab, depth)
    return out


# ---------------------------------------------------------------------------
# Which files.

def repo_files():
    """Every file git tracks (index included); without git, every file but build/."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached"], check=True,
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


def allowlist(lab):
    if lab not in STARTER:
        raise MarkerError("lab %d has no entry in STARTER (scripts/handout.py): say which "
                          "files its starter adds" % lab)
    return STARTER["every lab"] + [p for k in LABS if k <= lab for p in STARTER[k]]


def is_starter_file(f, lab):
    return any(fnmatch.fnmatch(f, pat) for pat in allowlist(lab))


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


GATE_OPEN = re.compile(r"^<!-- (lab (?P<lab>\d+)\+|instructor) -->\s*$")
GATE_CLOSE = re.compile(r"^<!-- end (lab \d+\+|instructor) -->\s*$")
GATE_LINE = re.compile(r"\s*<!-- (lab (?P<lab>\d+)\+|instructor) -->\s*$")
STARTER_OPEN = re.compile(r"^<!-- starter(?: (?P<when>before lab|lab) (?P<lab>\d+)(?P<plus>\+)?)?\s*$")


def gate_md(path, text, lab):
    """Markdown text as lab's starter shows it (see "Lab gates" above)."""
    out, stack = [], []         # stack: (kind, keep) of the open blocks

    def keep():
        return all(k for _, k in stack)

    for n, ln in enumerate(text.split("\n"), 1):
        m = GATE_OPEN.match(ln)
        if m:
            stack.append(("gate", bool(m.group("lab")) and lab >= int(m.group("lab"))))
            continue
        if GATE_CLOSE.match(ln):
            if not stack or stack[-1][0] != "gate":
                raise MarkerError("%s:%d: %r closes no gate" % (path, n, ln.strip()))
            stack.pop()
            continue
        m = STARTER_OPEN.match(ln)
        if m:
            k = m.group("lab") and int(m.group("lab"))
            if not k:
                keep_it = True
            elif m.group("when") == "before lab":
                keep_it = lab < k
            else:
                keep_it = lab >= k if m.group("plus") else lab == k
            stack.append(("starter", keep_it))
            continue
        if ln.strip() == "-->" and stack and stack[-1][0] == "starter":
            stack.pop()
            continue
        m = GATE_LINE.search(ln)
        if m:
            if keep() and m.group("lab") and lab >= int(m.group("lab")):
                out.append(ln[:m.start()])
            continue
        if keep():
            out.append(ln)
    if stack:
        raise MarkerError("%s: a `<!-- %s` block has no end" % (path, stack[-1][0]))
    return "\n".join(out)


def gate_makefile(text, lab):
    """The Makefile as lab's starter has it."""
    out, mode = [], None
    for ln in text.split("\n"):
        if ln in ("# INSTRUCTOR ONLY BEGIN", "# STARTER ONLY BEGIN"):
            mode = ln.split()[1]
        elif ln in ("# INSTRUCTOR ONLY END", "# STARTER ONLY END"):
            mode = None
        elif mode == "STARTER":
            out.append(re.sub(r"^# ?", "", ln))
        elif mode is None:
            out.append(ln)
    if mode:
        raise MarkerError("Makefile: `# %s ONLY BEGIN` has no END" % mode)
    phases = " ".join(str(k) for k in LABS if k <= lab)
    new, n = re.subn(r"^PHASES := .*$", "PHASES := " + phases, "\n".join(out),
                     count=1, flags=re.M)
    if n != 1:
        raise MarkerError("Makefile: no `PHASES := ...` line to cut to lab %d" % lab)
    return new


def starter_text(f, content, lab):
    """The bytes of file f in lab's starter."""
    c = content[STARTER_VERSION.get(f, f)]
    if not isinstance(c, bytes):
        return render(c, lab).encode()
    if f == "Makefile":
        return gate_makefile(c.decode(), lab).encode()
    if f.endswith(".md"):
        return gate_md(STARTER_VERSION.get(f, f), c.decode(), lab).encode()
    return c


def pristine_path(lab):
    """Where a starter carries its own pristine copy (grader/overlay.py grades
    against it): grader/pristine/labN.tar.gz."""
    return os.path.join("grader", "pristine", "lab%d.tar.gz" % lab)	# overlay.PRISTINE_DIR


def out_dir():
    """build/handout, or build/handout-full for the full depth."""
    return OUT if DEPTH == "lab" else OUT + "-" + DEPTH


def write_starter(files, content, lab):
    """build/handout/labN/ and build/handout/labN.tar.gz.  Returns {path: bytes}."""
    dest = os.path.join(ROOT, out_dir(), "lab%d" % lab)
    shutil.rmtree(dest, ignore_errors=True)
    tree = {}
    for f in starter_files(files, lab):
        data = starter_text(f, content, lab)
        tree[f] = data
        p = os.path.join(dest, f)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chmod(p, 0o755 if os.access(os.path.join(ROOT, f), os.X_OK) else 0o644)
    # The starter as handed out, for its own grader: grading takes only labs/phaseN/
    # from a student's tree and everything else from here (grader/overlay.py).
    sys.path.insert(0, os.path.join(ROOT, "grader"))
    import overlay
    sys.path.pop(0)
    pristine = pristine_path(lab)
    tree[pristine] = overlay.tarball_bytes(
        {f: (d, 0o755 if os.access(os.path.join(ROOT, f), os.X_OK) else 0o644)
         for f, d in tree.items()})
    os.makedirs(os.path.join(dest, os.path.dirname(pristine)), exist_ok=True)
    with open(os.path.join(dest, pristine), "wb") as fh:
        fh.write(tree[pristine])
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
        for p in todo_regions(c, lab, DEPTH):
            shared += p.stub
            for ln in p.lines():
                for x in fragments(ln, p.cc):
                    sol.setdefault(x, "%s:%d" % (f, p.lineno))
    for f, data in tree.items():
        m = re.match(r"labs/phase(\d+)/", f)
        if m and int(m.group(1)) < lab or not m and not f.startswith(("labs/", "handouts/")):
            shared.append(data.decode(errors="replace"))
    shared = squeeze("\n".join(shared))
    return {x: w for x, w in sol.items() if x not in shared}


# How lab K is solved, as prose and pictures say it: no starter of a lab before K may
# say it (its code is caught by later_names and the distinctive-line check).
GIVEAWAYS = {
    2: ["store next's top", "tf.rsp in this process", "mov rsp, [it]", "(release)"],
    3: ["tss.ist[", "TSS.ist[", "IST1 (#DF)", "on IST1", "tss.rsp0 = next", "TSS.rsp0 follows",
        "i * 0x5000", "kstack_switch_to(next) sets"],
    4: ["[gs:PCPU_USER_RSP]", "[gs:PCPU_KSTACK_TOP]", "swapgs right before sysretq"],
}

# Starter files that may name a later lab's variables: the GDB helpers read whichever
# lab's symbols the kernel has (they tell the labs apart by them), and say nothing of
# how a lab is solved.
NAMES_EXEMPT = ("gdb/",)


def later_names(tree, content, lab):
    """Names (identifiers with an underscore) that a later lab's tree uses but nothing a
    starter's code is made of does, mapped to where each is: a handout, picture or
    comment that names one tells a student how a later lab is solved."""
    ident = re.compile(r"(?<![\w.])[A-Za-z]\w*_\w+|(?<![\w.])_[A-Z]\w+")
    later, own = {}, set()
    for f, c in content.items():
        m = re.match(r"labs/phase(\d+)/", f)
        if m and int(m.group(1)) == lab:	# the lab's own solution may be named
            text = c.decode(errors="replace") if isinstance(c, bytes) else render(c, 0)
            own.update(ident.findall(text))
    for f, c in content.items():
        m = re.match(r"labs/phase(\d+)/", f)
        if m and int(m.group(1)) > lab:
            text = c.decode(errors="replace") if isinstance(c, bytes) else render(c, 0)
            for x in ident.findall(text):
                later.setdefault(x, f)
    code = "\n".join(d.decode(errors="replace") for f, d in tree.items()
                     if not f.startswith(("handouts/",) + NAMES_EXEMPT) and not f.endswith(".md"))
    return {x: w for x, w in later.items()
            if x not in own and not re.search(r"(?<![\w])%s(?![\w])" % re.escape(x), code)}


def find_solutions(tree, content, lab):
    """Lines of the starter tree that carry a distinctive solution fragment."""
    sol = distinctive(tree, content, lab)
    hits, later = [], []
    for f, data in sorted(tree.items()):
        squeezed = squeeze(data.decode(errors="replace"))
        for x, where in sol.items():
            if x in squeezed:
                hits.append("%s holds %r (the solution at %s)" % (f, x, where))
    for f in sorted(tree):
        if any(fnmatch.fnmatch(f, pat) for pat in NEVER) or later_lab(f, lab):
            later.append("%s is in the starter: it is instructor-only or a later lab's" % f)
    for k, phrases in sorted(GIVEAWAYS.items()):
        for f, data in sorted(tree.items()) if k > lab else ():
            if f.startswith(NAMES_EXEMPT):
                continue
            for x in phrases:
                if x in data.decode(errors="replace"):
                    later.append("%s says %r, how lab %d is solved" % (f, x, k))
    names = later_names(tree, content, lab)
    for f, data in sorted(tree.items()):
        if f.startswith(NAMES_EXEMPT):
            continue
        text = data.decode(errors="replace")
        for x in sorted(names):
            if re.search(r"(?<![\w])%s(?![\w])" % re.escape(x), text):
                later.append("%s names %s, which only a later lab's tree defines (%s)"
                            % (f, x, names[x]))
    if not any(k.startswith("labs/phase%d/" % lab) for k in tree):
        hits.append("the starter has no labs/phase%d" % lab)
    for f, data in tree.items():
        if f.endswith(SOURCE_EXT) and ANY_MARKER.search(data.decode(errors="replace")):
            hits.append("%s still has a LABn marker" % f)
    return sol, hits, later


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", type=int, choices=LABS, action="append",
                    help="only this lab (repeatable); default: every lab")
    ap.add_argument("--check", action="store_true",
                    help="print a TEST line per lab for the no-solution check")
    ap.add_argument("--list", type=int, choices=LABS, metavar="N",
                    help="print the files lab N's starter gets, and stop")
    ap.add_argument("--depth", choices=DEPTHS, default="lab",
                    help="lab: the exercises of the handouts (default); full: the "
                    "course-length variant, larger regions (LABn FULL)")
    args = ap.parse_args()
    global DEPTH
    DEPTH = args.depth

    files = repo_files()
    if args.list:
        print("\n".join(starter_files(files, args.list) + [pristine_path(args.list)]))
        return 0
    try:
        content = load(files)
        for lab in LABS:
            if not any(todo_regions(c, lab, DEPTH)
                       for c in content.values() if not isinstance(c, bytes)):
                raise MarkerError("no LAB%d region anywhere: nothing to hand out" % lab)
        for f, c in content.items():
            for p in [] if isinstance(c, bytes) else c:
                m = re.match(r"labs/phase(\d+)/", f)
                if not isinstance(p, str) and not (m and int(m.group(1)) >= p.lab):
                    print("handout: warning: %s:%d: a LAB%d region outside labs/phase%d/ "
                          "and the later phases" % (f, p.lineno, p.lab, p.lab), file=sys.stderr)
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
        sol, hits, later = find_solutions(tree, content, lab)
        regions = sum(len(todo_regions(c, lab, DEPTH)) for f, c in content.items()
                      if f in tree and not isinstance(c, bytes))
        print("handout: lab %d (%s depth): %s/lab%d/ (%d files, %d regions stubbed) and "
              "lab%d.tar.gz" % (lab, DEPTH, out_dir(), lab, len(tree), regions, lab))
        if args.check:
            print("TEST starter-lab%d-no-solution: %s" % (
                lab, "ok (%d distinctive solution lines, none found)" % len(sol) if not hits
                else "FAIL " + hits[0]))
            print("TEST starter-lab%d-no-later-lab: %s" % (
                lab, "ok (no instructor file, no later lab's file, name or prose)"
                if not later else "FAIL " + later[0]))
        for h in hits + later:
            print("handout: lab %d: %s" % (lab, h), file=sys.stderr)
        bad += bool(hits or later)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
