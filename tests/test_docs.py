#!/usr/bin/env python3
"""test_docs.py: every link, file path and make target the documentation names exists.

    tests/test_docs.py [--root DIR] [--name PREFIX] [--skip-make] [MD...]

Reads README.md, docs/*.md, handouts/*.md and grader/README.md of the tree (or the
MD files given, relative to --root; default root: this repository; in a starter
tree, every *.md outside build/) and prints one line per check:

    TEST docs-links: ok|FAIL <why>    every relative link and image ([t](x), <img src>)
                                      resolves, and its #anchor names a heading there
    TEST docs-paths: ok|FAIL <why>    every file path the text names (common/..., labs/...,
                                      `kstack.c`, ...) exists in the tree
    TEST docs-make: ok|FAIL <why>     every `make TARGET` shown passes `make -n` in the
                                      tree and runs no script of scripts/, tests/,
                                      grader/ or gdb/ that is missing
    TEST docs-comment-paths: ok|FAIL  every repository path named in a comment of the
                                      tree's code (.c .h .asm .inc .ld .py .sh .gdb,
                                      Makefile, scripts with a #! line; in Python also
                                      docstrings) exists in the tree
    TEST docs-comment-make: ok|FAIL   every `make TARGET` such a comment shows (in
                                      quotes or backquotes, or as a line of its own)
                                      is a target of the tree's Makefile

--name PREFIX renames the lines (tests/test_starters.sh runs this on each starter as
`starter-labN-docs-...`).  Exit status 0 when every check passed.

The comment checks are what keeps a starter honest: it ships the reference's code,
whose comments may name a file or target that only the kit has (docs/design.md,
tests/..., `make handout`). A starter must never name what it lacks.

What counts as a path.  A word that starts with one of the tree's top-level folders
(common/, labs/, grader/, handouts/, docs/, gdb/, scripts/, tests/, user/), or a bare
file name in inline code with a source or document extension (`kstack.c`, `lab2.md`).
build/... is build output and is not checked.  Placeholders are patterns: a capital
N or K after a lowercase letter (labs/phaseN/, handouts/labK*) is any digit, `<...>`
and `{...}` cut the path there, NAME, PROG, FILE, DIR and TEST are any name (user/NAME.c),
`*` is a glob; a pattern must match at least one file.
A path written `like/this` only as an example of what does not exist is the
exception: put it in NOT_FILES below with the reason.
"""

import argparse
import glob
import os
import re
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "docs/*.md", "handouts/*.md", "grader/README.md"]
TOP = ("common", "labs", "grader", "handouts", "docs", "gdb", "scripts", "tests", "user")
FILE_EXT = ("c", "h", "asm", "inc", "py", "sh", "md", "svg", "gdb", "ld")
# Paths the documentation names on purpose although they are no file of the tree.
NOT_FILES = {
    "grader/hidden/": "where an instructor may keep hidden tests (instructors.md)",
    "grader/hidden": "the same",
    "grader/pristine/labN.tar.gz": "written into each starter by scripts/handout.py, not kept in the kit",
    "grader/pristine/": "the same",
    "grader/pristine": "the same",
    "labs/phaseN/fake.mode": "a file of the fake trees tests/test_grader.py makes",
}
# Whole words that stand for any name in a path (user/NAME.c).
PLACEHOLDERS = ("NAME", "PROG", "FILE", "DIR", "TEST")

PATH_RE = re.compile(r"(?<![\w./<-])((?:%s)/[\w.*<>{},/+-]*)" % "|".join(TOP))
BARE_RE = re.compile(r"`([\w.*<>-]+\.(?:%s))`" % "|".join(FILE_EXT))
LINK_RE = re.compile(r"\]\(\s*<?([^)\s>]+)[^)]*\)|<img\b[^>]*\bsrc=\"([^\"]+)\"")


def strip_fences(text):
    """The text with every fenced code block's lines blanked (line numbers kept)."""
    out, fence = [], None
    for ln in text.split("\n"):
        m = re.match(r"^\s*(```+|~~~+)", ln)
        if fence is None and m:
            fence = m.group(1)
            out.append("")
        elif fence is not None:
            if ln.strip().startswith(fence) and not ln.strip()[len(fence):].strip():
                fence = None
            out.append("")
        else:
            out.append(ln)
    return out


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation gone, spaces to '-'."""
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def anchors(path):
    out = set()
    for ln in strip_fences(open(path, encoding="utf-8").read()):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", ln)
        if m:
            out.add(slug(re.sub(r"`", "", m.group(1))))
    return out


def check_links(root, mds):
    bad, n = [], 0
    for md in mds:
        path = os.path.join(root, md)
        for k, ln in enumerate(strip_fences(open(path, encoding="utf-8").read()), 1):
            ln = re.sub(r"`[^`]*`", "", ln)         # no links inside inline code
            for m in LINK_RE.finditer(ln):
                t = m.group(1) or m.group(2)
                if re.match(r"^[a-z][a-z0-9+.-]*:", t):
                    continue                        # a URL
                n += 1
                file, _, anchor = t.partition("#")
                target = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
                if not os.path.exists(target):
                    bad.append("%s:%d: link %s: no such file" % (md, k, t))
                elif anchor and target.endswith(".md") and anchor not in anchors(target):
                    bad.append("%s:%d: link %s: no heading with that anchor" % (md, k, t))
    return n, bad


def pattern_of(p):
    """The glob a named path stands for (placeholders widened), and whether it is one."""
    g = re.sub(r"\{[^}]*\}?", "*", re.split(r"<", p, 1)[0])
    g = re.sub(r"(?<=[a-z])[NK](?=\b|[^a-z])", "[0-9]", g)
    g = re.sub(r"\b(%s)\b" % "|".join(PLACEHOLDERS), "*", g)
    return g, g != p or "*" in g


def named_paths(text):
    """(line number, path) for every path the Markdown text names."""
    for k, ln in enumerate(text.split("\n"), 1):
        for m in PATH_RE.finditer(ln):
            p = m.group(1).rstrip(".,:;)")
            yield k, p
        for m in BARE_RE.finditer(ln):
            yield k, "**/" + m.group(1)


def check_paths(root, mds):
    bad, n = [], 0
    for md in mds:
        text = open(os.path.join(root, md), encoding="utf-8").read()
        for k, p in named_paths(text):
            if p in NOT_FILES:
                continue
            n += 1
            if not path_exists(root, md, p):
                bad.append("%s:%d: %s: no such file" % (md, k, p.replace("**/", "")))
    return n, bad


def path_exists(root, f, p):
    """Whether path p, named in file f, is in the tree: from the root or from f's own
    folder, never under build/; a program (user/NAME) by its source."""
    g, _ = pattern_of(p)
    here = os.path.dirname(os.path.join(root, f))
    hits = glob.glob(os.path.join(root, g), recursive=True) + \
        glob.glob(os.path.join(here, g), recursive=True)
    hits = [h for h in hits if "/build/" not in h[len(root):] + "/"]
    if not hits and re.match(r"(user|grader/progs)/\w+$", p):
        hits = glob.glob(os.path.join(root, p + ".c"))
    return bool(hits)


# ---------------------------------------------------------------------------
# make targets (tests/test_handouts.py uses these too).

OPTS_WITH_ARG = {"-C", "-f", "-j", "-l", "-I", "-o", "-W", "--directory", "--file"}


def make_targets(text, labs=(1, 2, 3)):
    """The targets of every make command line in text; labN stands for each of labs."""
    out = []
    for part in re.split(r"&&|\|\||;|\|", text):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
            words = words[1:]                   # VAR=value make ...
        if not words or words[0] != "make":
            continue
        skip = False
        for w in words[1:]:
            if skip:
                skip = False
            elif w in OPTS_WITH_ARG:
                skip = True
            elif w.startswith("-") or "=" in w or w.startswith(">"):
                continue
            elif re.fullmatch(r"[A-Z][A-Z_]*", w):
                continue                        # a placeholder: TARGET, DIR
            elif "N" in w and re.search(r"(?<=[a-z-])N\b", w):
                out += [re.sub(r"(?<=[a-z-])N\b", str(n), w) for n in labs]
            else:
                out.append(w)
    return out


def read_code(path):
    """(inline code spans with their line, fenced lines) of a Markdown file."""
    spans, fenced, fence = [], [], None
    for n, ln in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        m = re.match(r"^\s*(```+|~~~+)", ln)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            if ln.strip().startswith(fence) and not ln.strip()[len(fence):].strip():
                fence = None
            else:
                fenced.append((n, ln))
        else:
            spans += [(n, m.group(1)) for m in re.finditer(r"`([^`]*\bmake\b[^`]*)`", ln)]
    return spans, fenced


def find_make_commands(paths, labs=(1, 2, 3)):
    """{target: first place it was shown} over the Markdown files paths."""
    where = {}
    for md in paths:
        spans, fenced = read_code(md)
        for n, s in spans:
            for t in make_targets(s, labs):
                where.setdefault(t, "%s:%d" % (os.path.basename(md), n))
        for n, ln in fenced:
            s = ln.strip()
            if s.startswith("$ "):
                s = s[2:]
            if re.match(r"^([A-Za-z_]\w*=\S*\s+)*make\b", s):
                for t in make_targets(s, labs):
                    where.setdefault(t, "%s:%d" % (os.path.basename(md), n))
    return where


def dry_run(targets, root=ROOT):
    """None if `make -n TARGETS` works in root and names no missing script, else why."""
    what = " ".join(targets)
    try:
        # MAKE=true: the recursive $(MAKE) lines (which make -n still runs) become
        # no-ops, so one Makefile parse answers for every target at once.
        r = subprocess.run(["make", "--no-print-directory", "-n", "MAKE=true"] + list(targets),
                           cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
    except subprocess.TimeoutExpired:
        return "make -n %s timed out" % what
    text = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["(no output)"]
        return "make -n %s failed: %s" % (what, last[0])
    for m in re.finditer(r"(?<![\w./-])((?:scripts|tests|grader|gdb)/[\w./-]+\.(?:py|sh))\b", text):
        if not os.path.exists(os.path.join(root, m.group(1))):
            return "make %s runs %s, which does not exist" % (what, m.group(1))
    return None


def check_make(root, paths, labs=(1, 2, 3)):
    return dry_run_each(root, find_make_commands(paths, labs), "shown at")


def dry_run_each(root, where, said):
    """(how many, failures) of `make -n` over where's targets ({target: place}): all at
    once first, then one by one only when that fails, each failure with its place."""
    if not where or dry_run(sorted(where), root) is None:
        return len(where), []
    bad = []
    for t in sorted(where):
        why = dry_run([t], root)
        if why:
            bad.append("%s (%s %s)" % (why, said, where[t]))
    return len(where), bad


# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# Comments of the code: the same paths and make targets, named outside Markdown.

CODE_EXT = {".c": "c", ".h": "c", ".ld": "c", ".asm": "asm", ".inc": "asm", ".py": "py",
            ".sh": "sh", ".gdb": "sh"}


def code_kind(path):
    """How comments are written in path ("c", "asm", "py", "sh"), or None: not code."""
    name = os.path.basename(path)
    if name == "Makefile" or name.endswith(".mk"):
        return "sh"
    kind = CODE_EXT.get(os.path.splitext(name)[1])
    if kind or os.path.splitext(name)[1]:
        return kind
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return None
    if first.startswith(b"#!"):
        return "py" if b"python" in first else "sh"
    return None


def code_files(root):
    """(relative path, kind) of every code file of the tree: what git tracks (the
    reference), or every file outside build/ (a starter, which has no .git)."""
    files = None
    if os.path.exists(os.path.join(root, ".git")):
        try:
            out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                                 capture_output=True).stdout.decode()
            files = [f for f in out.split("\0") if f]
        except (OSError, subprocess.CalledProcessError):
            files = None
    if files is None:
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if x not in (".git", "build", "__pycache__")
                       or d != root and x != "build"]
            files += [os.path.relpath(os.path.join(d, x), root) for x in names]
    out = []
    for f in sorted(files):
        if f.split(os.sep)[0] == "build" or not os.path.isfile(os.path.join(root, f)):
            continue
        kind = code_kind(os.path.join(root, f))
        if kind:
            out.append((f, kind))
    return out


def _line_comments(text, start, quotes):
    """(line number, comment) for each line comment opened by `start` outside quotes."""
    out = []
    for n, ln in enumerate(text.split("\n"), 1):
        q = None
        for i, ch in enumerate(ln):
            if q:
                if ch == "\\":
                    continue
                if ch == q:
                    q = None
            elif ch in quotes and not (ch == "'" and i and ln[i - 1].isalnum()):
                q = ch
            elif ln.startswith(start, i) and (start != "#" or i == 0 or ln[i - 1] in " \t"):
                out.append((n, ln[i + len(start):]))
                break
    return out


def _c_comments(text):
    """(line number, text) of every // and /* */ comment of C (or a linker script)."""
    out, i, n, q = [], 0, 1, None
    while i < len(text):
        ch = text[i]
        if ch == "\n":
            n += 1
        if q:
            if ch == "\\":
                i += 2
                continue
            if ch == q or ch == "\n":
                q = None
        elif ch in "\"'":
            q = ch
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = len(text) if j < 0 else j
            out.append((n, text[i + 2:j]))
            i = j
            continue
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = len(text) if j < 0 else j
            for k, ln in enumerate(text[i + 2:j].split("\n")):
                out.append((n + k, ln))
            n += text[i:j].count("\n")
            i = j + 2
            continue
        i += 1
    return out


def _py_comments(text):
    """(line number, text) of every # comment and docstring of Python source."""
    import ast
    import io
    import tokenize
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(text).readline):
            if t.type == tokenize.COMMENT:
                out.append((t.start[0], t.string[1:]))
        tree = ast.parse(text)
    except (SyntaxError, tokenize.TokenError):
        return _line_comments(text, "#", "\"'")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(getattr(node.body[0], "value", None), ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            first = node.body[0].lineno
            for k, ln in enumerate(node.body[0].value.value.split("\n")):
                out.append((first + k, ln))
    return sorted(out)


def comments(path, kind):
    """(line number, text) of the comments of a code file of that kind."""
    text = open(path, encoding="utf-8", errors="replace").read()
    if kind == "c":
        return _c_comments(text)
    if kind == "py":
        return _py_comments(text)
    if kind == "asm":
        return _line_comments(text, ";", "\"'`")
    return _line_comments(text, "#", "\"'")


def check_comment_paths(root, files):
    """Every path a comment names exists in the tree (the rules of check_paths)."""
    bad, n = [], 0
    for f, kind in files:
        for k, c in comments(os.path.join(root, f), kind):
            for m in PATH_RE.finditer(c):
                p = m.group(1).rstrip(".,:;)'`\"")
                if p in NOT_FILES:
                    continue
                n += 1
                if not path_exists(root, f, p):
                    bad.append("%s:%d: %s: no such file" % (f, k, p))
    return n, bad


def comment_make_commands(root, files, labs):
    """{target: first comment that shows it}: `make ...` in quotes or backquotes, or a
    comment line that is a make command (`#   make lab1-qemu`, `$ make grade`)."""
    where = {}
    for f, kind in files:
        for k, c in comments(os.path.join(root, f), kind):
            spans = re.findall(r"`([^`]*\bmake\b[^`]*)`|'(make\b[^']*)'|\"(make\b[^\"]*)\"", c)
            spans = [x for t in spans for x in t if x]
            s = c.strip()
            s = s[2:] if s.startswith("$ ") else s
            if re.fullmatch(r"([A-Za-z_]\w*=\S*\s+)*make(\s+(-\S+|[A-Za-z_]\w*=\S*|"
                            r"[a-z0-9](?:[\w./%$()-]*[\w)])?))+", s):
                spans.append(s)                 # a line that is a make command
            for span in spans:
                for part in re.split(r"\s\+\s|,|\bthen\b|\bor\b|\band\b", span):
                    part = part[part.find("make"):] if "make" in part else part
                    for t in make_targets(part, labs):
                        if t.strip(".\u2026"):     # `make ...`: an elided command
                            where.setdefault(t, "%s:%d" % (f, k))
    return where


def check_comment_make(root, files, labs):
    return dry_run_each(root, comment_make_commands(root, files, labs), "in a comment at")


def doc_files(root, given):
    if given:
        return given
    if os.path.isdir(os.path.join(root, ".git")) or os.path.exists(os.path.join(root, ".git")):
        pats = DOCS
    else:
        pats = ["**/*.md"]
    out = []
    for p in pats:
        out += [os.path.relpath(f, root) for f in glob.glob(os.path.join(root, p), recursive=True)]
    return sorted(set(f for f in out if not f.startswith("build" + os.sep)))


def labs_in(root):
    """The labs whose tree is in root (labs/phaseN/), for labN placeholders."""
    found = [int(m.group(1)) for d in glob.glob(os.path.join(root, "labs", "phase*"))
             for m in [re.search(r"phase(\d+)$", d)] if m]
    return tuple(sorted(found)) or (1, 2, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=ROOT, help="the tree (default: this repository)")
    ap.add_argument("--name", default="docs", help="prefix of the TEST names")
    ap.add_argument("--skip-make", action="store_true", help="links and paths only")
    ap.add_argument("md", nargs="*", help="Markdown files, relative to --root")
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    mds = doc_files(root, a.md)
    fails = 0

    def report(what, n, bad):
        nonlocal fails
        if bad:
            fails += 1
            print("TEST %s-%s: FAIL %d of %d: %s" % (a.name, what, len(bad), n, bad[0]))
            for b in bad[1:]:
                print("    " + b)
        else:
            print("TEST %s-%s: ok (%d in %d files)" % (a.name, what, n, len(mds)))

    if not mds:
        print("TEST %s-links: FAIL no Markdown files in %s" % (a.name, root))
        return 1
    report("links", *check_links(root, mds))
    report("paths", *check_paths(root, mds))
    if not a.skip_make:
        report("make", *check_make(root, [os.path.join(root, m) for m in mds], labs_in(root)))
    if not a.md:
        code = code_files(root)
        mds = code                              # "in N files" of the lines below
        report("comment-paths", *check_comment_paths(root, code))
        if not a.skip_make:
            report("comment-make", *check_comment_make(root, code, labs_in(root)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
