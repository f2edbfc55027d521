"""kout — the kernel's output, parsed: `[k]` event lines and the RESULT lines of one
`run` command, checked against the nonces its programs were given.

A test calls the Run methods (expect_line, expect_exit, expect_kill, result, find,
field); each fails the test with a "wrong output" Verdict that shows expected lines
against what came back.

Python 3 standard library only; nothing happens on import.
"""

import re

from tags import tag_ok
from verdict import fail

KLINE = re.compile(r"^\[k\] ([\w-]+)(.*)$")
FIELD = re.compile(r'([\w-]+)=("[^"]*"|\S+)')
RESULT = re.compile(r"^RESULT (.*) tag=([0-9a-fA-F]{64}|[0-9a-fA-F]{16})\s*$")


def fields(text):
    """key=value pairs of text (quoted values unquoted) as a dict."""
    return {k: v.strip('"') for k, v in FIELD.findall(text)}


def klines(lines, event=None):
    """The [k] lines among lines as (event, fields) pairs, of one event if given."""
    out = []
    for ln in lines:
        mo = KLINE.match(ln)
        if mo and (event is None or mo.group(1) == event):
            out.append((mo.group(1), fields(mo.group(2))))
    return out


def as_int(v, default=None):
    """v as an integer (decimal or 0x hex), default when it is not one."""
    try:
        return int(v, 0)
    except (TypeError, ValueError):
        return default


class Instance:
    """One program of one `run` command: its name, arguments and nonce, and once the
    command is done its pid, its end, and its RESULT lines."""

    def __init__(self, index, words, nonce):
        self.index = index
        self.prog = words[0]
        self.words = words
        self.nonce = nonce
        self.pid = None
        self.status = None      # exit status, if it exited
        self.kill = None        # fields of its [k] kill line, if it was killed
        self.results = []       # dicts of fields of RESULT lines bound to its nonce

    def label(self):
        pid = "pid %s" % self.pid if self.pid is not None else "never spawned"
        return "%s #%d (%s)" % (self.prog, self.index + 1, pid)


class Run:
    """The output of one `run` command, parsed and checked against its nonces."""

    def __init__(self, command, instances, lines):
        self.command = command
        self.instances = instances
        self.lines = lines
        self.rejected = []      # RESULT lines whose tag matches no nonce
        self.valid = []         # fields of every RESULT line whose tag matches a nonce
        self._parse()

    def _parse(self):
        spawns = [f for _, f in klines(self.lines, "spawn")]
        for inst, f in zip(self.instances, spawns):
            inst.pid = as_int(f.get("pid"))
        by_pid = {i.pid: i for i in self.instances if i.pid is not None}
        self.stray = []         # exit/kill lines for pids this command never spawned
        for ev, f in klines(self.lines):
            if ev not in ("exit", "kill"):
                continue
            inst = by_pid.get(as_int(f.get("pid")))
            if inst is None:
                self.stray.append("[k] %s %s" % (ev, " ".join("%s=%s" % kv for kv in f.items())))
            elif ev == "exit":
                inst.status = as_int(f.get("status"))
            else:
                inst.kill = f
        for ln in self.lines:
            if not ln.startswith("RESULT"):
                continue
            mo = RESULT.match(ln)
            owners = []
            if mo:
                payload, t = mo.group(1), mo.group(2).lower()
                owners = [i for i in self.instances if i.nonce and tag_ok(i.nonce, payload, t)]
            if not owners:
                self.rejected.append(ln)
                continue
            f = fields(payload)
            self.valid.append(f)
            # Programs that share a nonce (to share a secret) are told apart by pid.
            if len(owners) > 1 and "pid" in f:
                owners = [i for i in owners if i.pid == as_int(f["pid"])] or owners
            if len(owners) == 1:
                owners[0].results.append(f)

    # --- checks a test calls -------------------------------------------------

    def check_pids(self):
        """Every program was spawned once, and every exit/kill line names a pid of
        this command's spawn lines."""
        for inst in self.instances:
            if inst.pid is None:
                fail("no `[k] spawn` line for %s" % inst.label(),
                     ["[k] spawn pid=N prog=%s" % inst.prog], self.lines)
        if self.stray:
            fail("exit/kill line for a pid this command never spawned",
                 ["pids %s" % [i.pid for i in self.instances]], self.stray)

    def expect_line(self, regex, what=None):
        """Some output line matches regex; returns its match."""
        rx = re.compile(regex)
        for ln in self.lines:
            mo = rx.search(ln)
            if mo:
                return mo
        fail("no line matching %s" % (what or regex), [regex], self.lines)

    def expect_exit(self, i, status=0):
        """Program i exited (not killed) with status."""
        self.check_pids()
        inst = self.instances[i]
        if inst.kill is not None:
            fail("%s was killed" % inst.label(),
                 ["[k] exit pid=%s status=%d" % (inst.pid, status)],
                 ["[k] kill pid=%s %s" % (inst.pid, " ".join(
                     "%s=%s" % kv for kv in inst.kill.items() if kv[0] != "pid"))])
        if inst.status != status:
            got = ["[k] exit pid=%s status=%s" % (inst.pid, inst.status)] \
                if inst.status is not None else ["(no exit line for pid %s)" % inst.pid]
            fail("%s did not exit with status %d" % (inst.label(), status),
                 ["[k] exit pid=%s status=%d" % (inst.pid, status)], got)

    def expect_kill(self, i, reason):
        """Program i was killed with reason; returns the kill line's fields."""
        self.check_pids()
        inst = self.instances[i]
        want = "[k] kill pid=%s reason=%s" % (inst.pid, reason)
        if inst.kill is None:
            got = ["[k] exit pid=%s status=%s" % (inst.pid, inst.status)] \
                if inst.status is not None else self.lines
            fail("%s was not killed" % inst.label(), [want], got)
        if inst.kill.get("reason") != reason:
            fail("%s was killed for the wrong reason" % inst.label(), [want],
                 ["[k] kill pid=%s reason=%s" % (inst.pid, inst.kill.get("reason"))])
        return inst.kill

    def result(self, i, **want):
        """Program i's one valid RESULT line as a dict; with want, each key must hold
        that value (compared as text)."""
        inst = self.instances[i]
        if not inst.results and inst.kill is not None:
            fail("%s was killed before it printed its RESULT line" % inst.label(),
                 ["RESULT ... tag=..."], ["[k] kill pid=%s %s" % (inst.pid, " ".join(
                     "%s=%s" % kv for kv in inst.kill.items() if kv[0] != "pid"))])
        if not inst.results:
            why = "no RESULT line carrying the tag of %s's nonce" % inst.label()
            if self.rejected:
                why += " (%d RESULT line(s) with a wrong or missing tag ignored)" % len(self.rejected)
            fail(why, ["RESULT ... tag=<its tag for nonce %s>" % inst.nonce],
                 self.rejected or self.lines)
        r = inst.results[-1]
        if "pid" in r and inst.pid is not None and as_int(r["pid"]) != inst.pid:
            fail("%s: RESULT reports pid %s" % (inst.label(), r["pid"]),
                 ["pid=%s" % inst.pid], ["pid=%s" % r["pid"]])
        bad = ["%s=%s" % (k, r.get(k)) for k, v in want.items() if r.get(k) != str(v)]
        if bad:
            # The program's own diagnostic lines say which value went wrong.
            fail("%s: RESULT fields differ" % inst.label(),
                 ["%s=%s" % kv for kv in want.items()],
                 ["RESULT " + " ".join("%s=%s" % kv for kv in r.items())] +
                 [ln for ln in self.lines if ln.startswith("DETAIL ")][:10])
        return r

    def find(self, **want):
        """The one valid RESULT line (any program's) whose fields hold want."""
        hits = [f for f in self.valid if all(f.get(k) == str(v) for k, v in want.items())]
        if len(hits) != 1:
            fail("%d valid RESULT lines with %s" % (len(hits), " ".join("%s=%s" % kv for kv in want.items())),
                 ["one RESULT ... %s ... tag=<nonce's tag>" % " ".join("%s=%s" % kv for kv in want.items())],
                 [ln for ln in self.lines if ln.startswith("RESULT")] or self.lines)
        return hits[0]

    def field(self, i, key):
        """Integer field key of program i's RESULT line."""
        r = self.result(i)
        v = as_int(r.get(key))
        if v is None:
            fail("%s: RESULT has no integer %s" % (self.instances[i].label(), key),
                 ["%s=<number>" % key], ["RESULT " + " ".join("%s=%s" % kv for kv in r.items())])
        return v

