"""building — the grader's own programs into a staging directory, and a tree's kernel.

Python 3 standard library only; nothing happens on import.
"""

import os
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import tags

from procs import run_cmd
from verdict import Verdict

# The grader's own tree: its programs, headers and tools are the ones used, always.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Programs of the grader's tree's user/ that the grader builds itself, so a
# submission's copies never stand in for them.
USER_PROGS = ["hello", "syscalls"]
MUSL_CC = ["musl-gcc", "-static", "-O2", "-g", "-Wall", "-Wextra"]


def _compile(src, out, include, keyhdr=None):
    """musl-gcc src into out.  keyhdr: the run's key header, -include'd (the key
    itself is never on the command line), and the program stripped."""
    extra = ["-include", keyhdr, "-s"] if keyhdr else []
    status, text = run_cmd(MUSL_CC + extra + ["-I" + include, "-o", out] + src, timeout=120)
    return status == 0, text


def _error_lines(text, n=30):
    """The compiler/make lines that say what went wrong (at most n)."""
    keep = [ln for ln in text.splitlines()
            if re.search(r"error|Error|undefined reference|\*\*\*|No rule|not found", ln)]
    return (keep or text.splitlines())[-n:]


def build_stage(stage, hidden=None, jobs=2):
    """Build the grader's programs into stage: grader/progs/*.c, user/hello and
    user/syscalls (all from ROOT), hidden/*.c and hidden executables, then the
    malformed ELFs of grader/mkbad.py.  Every program is compiled with a key made
    fresh here (tags.new_key, tags.set_key: from now on only its tags count), given
    to the compiler in a header in a private directory that is removed at once, and
    stripped.  A ready hidden executable cannot know the key: its RESULT lines never
    count (give hidden tests as C sources).  Returns None, or a Verdict("build")."""
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    key = tags.new_key()
    keydir = tempfile.mkdtemp(prefix="sl-key-")     # mode 0700
    keyhdr = os.path.join(keydir, "sl_key.h")
    with open(os.open(keyhdr, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(tags.key_header(key))
    try:
        bad = _build_progs(stage, hidden, jobs, keyhdr)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
    if bad is None:
        tags.set_key(key)
    return bad


def _build_progs(stage, hidden, jobs, keyhdr):
    include = os.path.join(ROOT, "user", "include")
    jobs_list = []
    progs = os.path.join(ROOT, "grader", "progs")
    for d in [progs] + ([hidden] if hidden else []):
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.endswith(".c"):
                    jobs_list.append(([os.path.join(d, f)], os.path.join(stage, f[:-2])))
    for name in USER_PROGS:
        src = os.path.join(ROOT, "user", name + ".c")
        sub = os.path.join(ROOT, "user", name)
        if os.path.isdir(sub):
            jobs_list.append(([os.path.join(sub, f) for f in sorted(os.listdir(sub))
                               if f.endswith(".c")], os.path.join(stage, name)))
        elif os.path.exists(src):
            jobs_list.append(([src], os.path.join(stage, name)))
    with ThreadPoolExecutor(max(1, jobs)) as ex:
        results = list(ex.map(lambda j: (j,) + _compile(j[0], j[1], include, keyhdr), jobs_list))
    for (src, out), ok, text in results:
        if not ok:
            return Verdict("build", "the grader's program %s does not compile"
                           % os.path.relpath(src[0], ROOT), got=_error_lines(text))
    if hidden and os.path.isdir(hidden):
        for f in sorted(os.listdir(hidden)):
            p = os.path.join(hidden, f)
            if os.path.isfile(p) and os.access(p, os.X_OK) and not f.endswith((".c", ".py", ".sh")):
                shutil.copy2(p, os.path.join(stage, f))
    mkbad = os.path.join(ROOT, "grader", "mkbad.py")
    # mkbad's reference: hello unstripped and without the key (beside the key header,
    # removed with it).
    ref = os.path.join(os.path.dirname(keyhdr), "hello")
    src = os.path.join(ROOT, "user", "hello.c")
    if os.path.exists(mkbad) and os.path.exists(src) and _compile([src], ref, include)[0]:
        status, text = run_cmd([sys.executable, mkbad, stage, ref], timeout=60)
        if status != 0:
            return Verdict("build", "grader/mkbad.py failed", got=_error_lines(text))
    return None


def build_tree(tree, lab, stage, make_jobs=1, timeout=600, user=None):
    """`make -C tree -jN labN INITRD_EXTRA=stage`, as sandbox user if given.  Returns
    (iso, None) or (None, Verdict)."""
    status, text = run_cmd(["make", "-C", tree, "-j%d" % max(1, make_jobs), "lab%d" % lab,
                            "INITRD_EXTRA=" + stage], timeout=timeout, user=user)
    iso = os.path.join(tree, "build", "phase%d" % lab, "boot.iso")
    if status != 0:
        why = "make lab%d timed out" % lab if status is None else "make lab%d failed (status %d)" % (lab, status)
        return None, Verdict("build", why, got=_error_lines(text))
    if not os.path.exists(iso):
        return None, Verdict("build", "make lab%d did not produce %s" % (lab, iso))
    return iso, None


def bad_elves(stage):
    """Names of the malformed ELFs grader/mkbad.py wrote into stage."""
    return sorted(f for f in os.listdir(stage) if f.startswith("bad_"))

