#!/usr/bin/env python3
"""overlay — the tree a submission is graded in: the lab's pristine starter with only
the files the student owns taken from the submission.

A student owns, in lab N, the files under labs/phaseN/ (owned()).  Everything else -
the Makefile, scripts/, common/, user/, grader/, a prebuilt build/ - comes from the
starter exactly as it was handed out, so nothing a submission changes outside its own
files can reach the kernel that is graded, its build, or the grader.  Every file of the
submission outside the owned set that differs from the starter (or is not in it) is
named in the report ("not graded: common/monitor.c differs from the starter").

The pristine starter of lab N comes from, in order:
  1. grader/pristine/labN.tar.gz: shipped in every starter (the starter generator
     writes it) and in the Gradescope zip, so `make grade-labN` in a student's tree grades
     exactly as the instructor will;
     (a lab-M starter grading an earlier lab uses its own lab-M starter);
  2. the instructor's kit (the tree that has the starter generator): made in memory
     from the tree.
(STACKLABS_PRISTINE=DIR replaces grader/pristine/: the self-test's fake starters.)

    python3 grader/overlay.py --write DIR LAB...   write DIR/labN.tar.gz (for zips)

Python 3 standard library only; nothing happens on import.
"""

import gzip
import io
import os
import re
import shutil
import sys
import tarfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRISTINE_DIR = os.path.join("grader", "pristine")

# Limits on what is taken from a submission (a lab's own files are a few small sources).
MAX_FILES = 200
MAX_FILE_BYTES = 1 << 20

# Never compared or reported: build products, version control, editor and OS litter.
IGNORED = re.compile(r"^(build|\.git|\.hg|\.svn|__pycache__|\.vscode|\.idea)(/|$)|"
                     r"(^|/)(__pycache__|\.DS_Store)(/|$)|\.pyc$|~$|\.swp$|"
                     r"^grader/pristine/")

_cache = {}
_cache_lock = threading.Lock()


class OverlayError(Exception):
    """The submission cannot be graded at all (no lab tree, or an unreadable one)."""


def owned(lab):
    """The path prefixes a student owns in lab N."""
    return ["labs/phase%d/" % lab]


def is_owned(path, lab):
    return any(path.startswith(p) for p in owned(lab))


def _from_tarball(path):
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile():
                files[m.name] = (tar.extractfile(m).read(), m.mode & 0o777)
    return files


def _from_kit(lab):
    """The starter of lab as the kit's starter generator makes it, in memory."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        import handout
    finally:
        sys.path.pop(0)
    files = handout.repo_files()
    content = handout.load(files)
    out = {}
    for f in handout.starter_files(files, lab):
        mode = 0o755 if os.access(os.path.join(ROOT, f), os.X_OK) else 0o644
        out[f] = (handout.starter_text(f, content, lab), mode)
    return out


def pristine(lab):
    """{path: (bytes, mode)} of lab's starter as handed out.  Raises OverlayError."""
    top = os.environ.get("STACKLABS_PRISTINE") or os.path.join(ROOT, PRISTINE_DIR)
    tb = os.path.join(top, "lab%d.tar.gz" % lab)
    with _cache_lock:
        if tb not in _cache:
            later = [os.path.join(top, "lab%d.tar.gz" % k) for k in range(lab + 1, 10)]
            later = [p for p in later if os.path.exists(p)]
            if os.path.exists(tb):
                _cache[tb] = _from_tarball(tb)
            elif later and not os.path.exists(os.path.join(ROOT, "scripts", "handout.py")):
                # A lab-M starter grading an earlier lab: its tree holds that lab's too.
                _cache[tb] = _from_tarball(later[0])
            elif os.path.exists(os.path.join(ROOT, "scripts", "handout.py")):
                _cache[tb] = _from_kit(lab)
            else:
                raise OverlayError("no pristine starter of lab %d (%s is missing)"
                                   % (lab, os.path.join(PRISTINE_DIR, "lab%d.tar.gz" % lab)))
        return _cache[tb]


def tarball_bytes(files, epoch=1700000000):
    """A deterministic .tar.gz of {path: (bytes, mode)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in sorted(files):
            data, mode = files[f]
            info = tarfile.TarInfo(f)
            info.size = len(data)
            info.mtime = epoch
            info.mode = mode
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch) as gz:
        gz.write(buf.getvalue())
    return raw.getvalue()


def find_tree(sub, lab):
    """The folder of sub that holds the lab: sub itself, or its one subfolder that has
    labs/phaseN/ (a submission zipped one folder deep).  Returns (path, note or None).
    Raises OverlayError with a clear message otherwise."""
    want = os.path.join("labs", "phase%d" % lab)
    if os.path.isdir(os.path.join(sub, want)):
        return sub, None
    try:
        subdirs = sorted(d for d in os.listdir(sub) if os.path.isdir(os.path.join(sub, d))
                         and not os.path.islink(os.path.join(sub, d)))
    except OSError as e:
        raise OverlayError("cannot read the submission: %s" % e)
    hits = [d for d in subdirs if os.path.isdir(os.path.join(sub, d, want))]
    if len(hits) == 1:
        return os.path.join(sub, hits[0]), "graded the folder %s/ of the submission" % hits[0]
    if len(hits) > 1:
        raise OverlayError("the submission has %s/ in several folders (%s): submit one tree"
                           % (want, ", ".join(hits)))
    raise OverlayError("the submission has no %s/ (looked at its top and one folder deep)"
                       % want)


def _walk(tree):
    """Every file of tree as a relative path (symlinks included, not followed)."""
    out = []
    for d, dirs, names in os.walk(tree):
        rel = os.path.relpath(d, tree)
        rel = "" if rel == "." else rel + "/"
        dirs[:] = sorted(x for x in dirs if not IGNORED.search(rel + x + "/")
                         and not os.path.islink(os.path.join(d, x)))
        for x in names:
            out.append(rel + x)
        for x in os.listdir(d):
            p = os.path.join(d, x)
            if os.path.islink(p) and os.path.isdir(p):
                out.append(rel + x)
    return sorted(p for p in out if not IGNORED.search(p))


def _later_lab(path, lab):
    """True for a later lab's tree or handout (a lab-3 tree graded for lab 1)."""
    m = re.match(r"labs/phase(\d+)/|handouts/(?:.*/)?lab(\d+)[^/]*$", path)
    return bool(m) and int(m.group(1) or m.group(2)) > lab


def compare(tree, lab):
    """(owned files to take as {path: bytes-and-mode}, notes naming everything else
    that differs from the starter).  Raises OverlayError."""
    base = pristine(lab)
    take, notes = {}, []
    for rel in _walk(tree):
        p = os.path.join(tree, rel)
        if os.path.islink(p):
            notes.append("not graded: %s is a symbolic link" % rel)
            continue
        if not os.path.isfile(p):
            continue
        if is_owned(rel, lab):
            size = os.path.getsize(p)
            if size > MAX_FILE_BYTES:
                notes.append("not graded: %s is larger than %d bytes" % (rel, MAX_FILE_BYTES))
                continue
            if len(take) >= MAX_FILES:
                raise OverlayError("more than %d files under %s" % (MAX_FILES, owned(lab)[0]))
            with open(p, "rb") as f:
                take[rel] = (f.read(), 0o644)
            continue
        if rel not in base:
            if _later_lab(rel, lab):
                continue        # a later lab's own files: that lab grades them
            notes.append("not graded: %s is not in the starter" % rel)
            continue
        try:
            with open(p, "rb") as f:
                same = f.read() == base[rel][0]
        except OSError:
            same = False
        if not same:
            notes.append("not graded: %s differs from the starter" % rel)
    return take, notes


def make(sub, lab, dest):
    """Write the tree lab is graded in to dest (which must not exist): the pristine
    starter, then the submission's owned files.  Returns the notes for the report
    (which folder was graded, every file not graded).  Raises OverlayError."""
    tree, where = find_tree(os.path.abspath(sub), lab)
    take, notes = compare(tree, lab)
    files = dict((f, v) for f, v in pristine(lab).items()
                 if not f.startswith(PRISTINE_DIR + "/"))
    files.update(take)          # an owned file the submission lacks stays the stub
    os.makedirs(dest)
    for f, (data, mode) in files.items():
        p = os.path.join(dest, f)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chmod(p, mode)
    return ([where] if where else []) + notes


def write_pristine(directory, labs):
    """directory/labN.tar.gz for each lab (for a starter or the Gradescope zip)."""
    os.makedirs(directory, exist_ok=True)
    for lab in labs:
        with open(os.path.join(directory, "lab%d.tar.gz" % lab), "wb") as f:
            f.write(tarball_bytes(pristine(lab)))


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", metavar="DIR", required=True)
    ap.add_argument("labs", type=int, nargs="+")
    a = ap.parse_args(argv)
    write_pristine(a.write, a.labs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
