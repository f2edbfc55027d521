#!/usr/bin/env python3
"""test_replay.py: record a lab run, replay it, and go back in GDB to the write that broke it.

    tests/test_replay.py [--lab N] [--burst] [--no-snapshots]

Two scenarios, the two walkthroughs of handouts/gdb.md ("Going backwards"):

    lab 1  run sleeper & sleeper          pid 1 is killed (kstack-clobbered): its frame's
                                          pid stamp says 2. who-wrote &tf->err must find
                                          pid 2 writing it in syscall_dispatch.
    lab 2  run t_sleepers 3 8 30 & t_burn 3 100 20
                                          the kernel panics in pid 1 (t_sleepers), on
                                          pid 2's stack. who-wrote current->ctx.rbp (the
                                          stack slot pid 1 took its frame pointer from)
                                          must find pid 2 (t_burn) writing it in burn.

Each scenario is recorded with scripts/rr.py (what `make labN-record` runs), input
sent line by line at the prompts as scripted input, and prints:

    TEST rr-labN-record: ok|FAIL    the recording shows the run's [k] lines: the command
                                    arrived whole (a burst arrives as its newline alone)
    TEST rr-labN-snapshots: ok|FAIL snap.qcow2 holds `boot` and one `promptK` per prompt
    TEST rr-labN-replay: ok|FAIL    the replay's serial output equals the recording's,
                                    byte for byte, with no input
    TEST rr-labN-who-wrote: ok|FAIL a scripted GDB session on the replay (make gdb's
                                    init lines, then the walkthrough's commands) names
                                    the writer: process, function, and replays from the
                                    last prompt's snapshot, not from the boot
    TEST rr-handout: ok|FAIL        every `(gdb-replay) ` command handouts/gdb.md shows
                                    ran in these sessions and printed the lines shown
                                    under it (numbers aside; both labs must have run)

--burst records with unpaced input (scripts/rr.py --burst): the record checks must fail.
--no-snapshots records without the prompt snapshots: snapshots and who-wrote must fail.
The kernels are the tree's own (make builds them) on private ISOs with the grader's
programs; recordings, logs and GDB transcripts stay in build/rrtest/. Every QEMU
started is killed before the script exits. Exit status 1 if any check failed.
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "rrtest")
RECORD_TIMEOUT = 150
REPLAY_TIMEOUT = 150
GDB_TIMEOUT = 240

SCENARIOS = {
    1: {
        # The kernel dies after the kill (lab1.md, experiment (c)): one prompt.
        "input": ["run sleeper & sleeper"],
        "expect": ["[k] spawn pid=2 prog=sleeper",
                   "[k] kstack-clobbered pid=1 frame-owner=2",
                   "[k] kill pid=1 reason=kstack-clobbered",
                   "[k] panic msg="],
        "prompts": 1,
        "gdb": ["hbreak proc_kill", "continue", "up", "p tf->err", "rr-now",
                "who-wrote &tf->err", "who-wrote &tf->err"],
        "writer": [r"process: pid 2 \(sleeper\)", r"in:\s+syscall_dispatch "],
    },
    2: {
        "input": ["run t_sleepers 3 8 30 & t_burn 3 100 20"],
        "expect": ["[k] spawn pid=2 prog=t_burn", "[k] exit pid=2 status=0",
                   "[k] panic msg="],
        "prompts": 1,
        "gdb": ["hbreak panic_trap", "continue", "kstack-where tf->rsp", "p current->pid",
                "x/2gx current->ctx.rbp", "rr-now", "who-wrote *(long *)current->ctx.rbp"],
        "writer": [r"process: pid 2 \(t_burn\)", r"in:\s+burn "],
    },
}

failures = 0
RUNNING = []


def report(name, why=None, detail=()):
    global failures
    if why is None:
        print("TEST %s: ok" % name)
    else:
        failures += 1
        print("TEST %s: FAIL %s" % (name, why))
        for line in detail:
            print("    " + line)
    sys.stdout.flush()


def start(argv, **kw):
    p = subprocess.Popen(argv, cwd=ROOT, start_new_session=True, **kw)
    RUNNING.append(p)
    return p


def stop(p):
    """Kill p's process group (rr.py and its QEMU), by the group id we created."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()
    if p in RUNNING:
        RUNNING.remove(p)


def on_signal(signum, frame):
    for p in list(RUNNING):
        stop(p)
    sys.exit(128 + signum)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """True once something listens on TCP port (read from /proc, no connection)."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                for line in f.readlines()[1:]:
                    f_ = line.split()
                    if f_[3] == "0A" and int(f_[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            pass
    return False


def build(tmp):
    """The tree's kernels and a private ISO per lab with the grader's programs."""
    progs = ["build/grader/progs/" + os.path.basename(p)[:-2]
             for p in sorted(glob.glob(os.path.join(ROOT, "grader", "progs", "*.c")))]
    targets = ["user"] + ["build/phase%d/kernel.elf" % n for n in SCENARIOS] + progs
    r = subprocess.run(["make", "--no-print-directory", "-s"] + targets, cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        return "make failed: %s" % r.stdout.decode(errors="replace")[-2000:]
    extra = os.path.join(tmp, "extra")
    os.makedirs(extra)
    for p in progs:
        shutil.copy2(os.path.join(ROOT, p), extra)
    for n in SCENARIOS:
        d = os.path.join(tmp, "phase%d" % n)
        os.makedirs(d)
        shutil.copy2(os.path.join(ROOT, "build", "phase%d" % n, "kernel.elf"), d)
        for cmd in (["scripts/mkinitrd.sh", os.path.join(d, "initrd.tar"), "build/user", extra],
                    ["scripts/mkiso.sh", os.path.join(d, "boot.iso"), str(n),
                     os.path.join(d, "kernel.elf"), os.path.join(d, "initrd.tar")]):
            r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                return "%s failed: %s" % (" ".join(cmd), r.stdout.decode(errors="replace"))
    return None


def record(n, sc, tmp, burst, no_snapshots):
    """Record scenario n into tmp/recN; returns (dir, seconds) or (None, why)."""
    d = os.path.join(tmp, "rec%d" % n)
    argv = [sys.executable, "scripts/rr.py", "record", "--phase", str(n), "--dir", d,
            "--iso", os.path.join(tmp, "phase%d" % n, "boot.iso"),
            "--elf", os.path.join(tmp, "phase%d" % n, "kernel.elf")]
    if burst:
        argv.append("--burst")
    if no_snapshots:
        argv.append("--no-snapshots")
    t0 = time.time()
    with open(os.path.join(tmp, "record%d.out" % n), "wb") as out:
        p = start(argv, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
        p.stdin.write("".join(line + "\n" for line in sc["input"]).encode())
        p.stdin.close()
        try:
            p.wait(RECORD_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(p)
            return None, "no end within %d s (see %s/record%d.out)" % (RECORD_TIMEOUT, tmp, n)
        stop(p)
    return d, time.time() - t0


def check_record(n, sc, d):
    name = "rr-lab%d-record" % n
    with open(os.path.join(d, "serial.log"), "rb") as f:
        log = f.read().decode(errors="replace")
    missing = [e for e in sc["expect"] if e not in log]
    refused = [line for line in log.splitlines() if line.startswith("qemu-system-x86_64:")]
    if refused:
        report(name, "QEMU refused the recording: %s" % " / ".join(refused))
        return False
    if missing:
        report(name, "the recorded run lacks %s: the command did not arrive whole"
               % ", ".join(repr(m) for m in missing),
               ["serial.log: " + line for line in log.splitlines()[-8:]])
    else:
        report(name)
    return not missing


def check_snapshots(n, sc, d):
    name = "rr-lab%d-snapshots" % n
    r = subprocess.run(["qemu-img", "snapshot", "-l", os.path.join(d, "snap.qcow2")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    tags = [line.split()[1] for line in r.stdout.splitlines()
            if line.split() and line.split()[0].isdigit()]
    want = ["boot"] + ["prompt%d" % i for i in range(1, sc["prompts"] + 1)]
    if r.returncode != 0 or [t for t in want if t not in tags]:
        report(name, "snap.qcow2 holds %s, want %s" % (tags or "no snapshot", want))
    else:
        report(name)


def check_replay(n, d):
    name = "rr-lab%d-replay" % n
    log = os.path.join(d, "replay.log")
    t0 = time.time()
    p = start([sys.executable, "scripts/rr.py", "replay", "--phase", str(n), "--dir", d,
               "--log", log], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
              stderr=subprocess.STDOUT)
    try:
        p.wait(REPLAY_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(p)
        report(name, "the replay did not end within %d s" % REPLAY_TIMEOUT)
        return None
    stop(p)
    with open(os.path.join(d, "serial.log"), "rb") as f:
        want = f.read()
    with open(log, "rb") as f:
        got = f.read()
    if got != want:
        at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                  min(len(got), len(want)))
        report(name, "replay.log differs from serial.log at byte %d (%d vs %d bytes)"
               % (at, len(got), len(want)),
               ["recorded: %r" % want[max(0, at - 40):at + 40],
                "replayed: %r" % got[max(0, at - 40):at + 40]])
    else:
        report(name)
    return time.time() - t0


def check_who_wrote(n, sc, d, tmp):
    name = "rr-lab%d-who-wrote" % n
    port = free_port()
    gdbinit = os.path.join(tmp, "gdbinit%d" % n)
    q = start([sys.executable, "scripts/rr.py", "replay", "--phase", str(n), "--dir", d,
               "--gdb", str(port), "--gdbinit", gdbinit, "--log",
               os.path.join(d, "gdb-replay.log")],
              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 30
        while not listening(port) and time.time() < deadline and q.poll() is None:
            time.sleep(0.1)
        if not listening(port):
            report(name, "the replay's GDB stub never listened on port %d" % port)
            return None
        script = os.path.join(tmp, "who%d.gdb" % n)
        with open(script, "w") as f:
            f.write("\n".join(["set trace-commands on"] + sc["gdb"]) + "\n")
        t0 = time.time()
        try:
            r = subprocess.run(["gdb", "-q", "-batch", "-nx", "-x", gdbinit, "-x", script],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, timeout=GDB_TIMEOUT)
            out = r.stdout
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
                else (e.stdout or "")
            report(name, "GDB did not finish within %d s" % GDB_TIMEOUT,
                   out.splitlines()[-10:])
            return None
        secs = time.time() - t0
    finally:
        stop(q)
    with open(os.path.join(tmp, "who%d.out" % n), "w") as f:
        f.write(out)
    lines = [ln for ln in out.splitlines() if ln.startswith("who-wrote") or
             ln.startswith("  ")]
    missing = [w for w in sc["writer"] if not re.search(w, out)]
    snap = re.search(r"replays from (\w+)", out.split("who-wrote:")[0])
    if missing:
        report(name, "who-wrote did not name the writer (%s)" % ", ".join(missing),
               lines[-14:] or out.splitlines()[-14:])
    elif not snap or snap.group(1) == "boot":
        report(name, "a reverse step would replay from %s, not from the last prompt"
               % (snap.group(1) if snap else "(rr-now said nothing)"))
    else:
        report(name)
    return secs


REPLAY_PROMPT = "(gdb-replay) "


def handout_blocks(path):
    """[(line number, command, [promised lines])] of every `(gdb-replay) ` line in the
    fenced blocks of path (the replay sessions of "Going backwards")."""
    out, fenced, cur = [], False, None
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("```"):
                fenced, cur = not fenced, None
            elif fenced and line.startswith(REPLAY_PROMPT):
                cur = (no, line[len(REPLAY_PROMPT):].strip(), [])
                out.append(cur)
            elif fenced and line.startswith("(gdb) "):
                cur = None
            elif fenced and cur is not None and line.strip() not in ("", "...", "\u2026"):
                cur[2].append(line)
    return out


def check_handout(path, transcripts):
    """Every (gdb-replay) command of the handout was run by a session here, and the
    lines shown under it came out of one run of it (numbers aside), as
    tests/gdb_check.py checks the (gdb) blocks."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import gdb_check
    ran = {}
    for text in transcripts:
        for c, o in gdb_check.transcript(text):
            ran.setdefault(gdb_check._shape(c), []).append(o.splitlines())
    blocks = handout_blocks(path)
    if not blocks:
        return report("rr-handout", "%s shows no (gdb-replay) session" % path)
    for no, cmd, promised in blocks:
        outs = ran.get(gdb_check._shape(cmd))
        where = "%s:%d" % (os.path.relpath(path, ROOT), no)
        if outs is None:
            return report("rr-handout", "%s: `%s` is not a command these sessions run"
                          % (where, cmd))
        if not any(all(any(gdb_check._promise_matches(p, ln) for ln in o) for p in promised)
                   for o in outs):
            bad = [p for p in promised if not any(gdb_check._promise_matches(p, ln)
                                                  for o in outs for ln in o)]
            return report("rr-handout", "%s: `%s` never printed %r" % (where, cmd,
                                                                       (bad or promised)[0]))
    report("rr-handout")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", type=int, choices=sorted(SCENARIOS))
    ap.add_argument("--burst", action="store_true",
                    help="record with unpaced input: the record checks must fail")
    ap.add_argument("--no-snapshots", action="store_true",
                    help="record without the prompt snapshots: the snapshots and "
                    "who-wrote checks must fail")
    args = ap.parse_args()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    why = build(OUT)
    if why:
        report("rr-build", why)
        return 1
    for n, sc in sorted(SCENARIOS.items()):
        if args.lab and n != args.lab:
            continue
        d, secs = record(n, sc, OUT, args.burst, args.no_snapshots)
        if d is None:
            report("rr-lab%d-record" % n, secs)
            continue
        print("rr-lab%d: recorded in %.1f s, record.bin %d bytes"
              % (n, secs, os.path.getsize(os.path.join(d, "record.bin"))))
        # The later checks run on a failed recording too (a burst that lost the
        # command still replays): each must say what it sees.
        rec = os.path.join(d, "record.bin")
        recorded = os.path.exists(rec) and os.path.getsize(rec) > 0
        if not check_record(n, sc, d) and not recorded:
            continue
        check_snapshots(n, sc, d)
        secs = check_replay(n, d)
        if secs is not None:
            print("rr-lab%d: replayed in %.1f s" % (n, secs))
        secs = check_who_wrote(n, sc, d, OUT)
        if secs is not None:
            print("rr-lab%d: GDB session (to the event, then who-wrote) %.1f s" % (n, secs))
    outs = sorted(glob.glob(os.path.join(OUT, "who*.out")))
    if not args.lab and len(outs) == len(SCENARIOS):
        texts = []
        for o in outs:
            with open(o) as f:
                texts.append(f.read())
        check_handout(os.path.join(ROOT, "handouts", "gdb.md"), texts)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
