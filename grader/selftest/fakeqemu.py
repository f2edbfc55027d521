#!/usr/bin/env python3
"""fakeqemu — pretends to be qemu-system-x86_64 running a stacklabs kernel, on
stdin/stdout, so the grader's machinery can be tested without a kernel.

It takes QEMU's arguments and reads its configuration from the file given to -cdrom
(the fake tree's Makefile writes it there):

    phase=N                 the phase it behaves as (the isolation matrix of DESIGN.md)
    mode=ok|hang|reset|panic|flood|forge|slow|exit1
    progs=a,b,c             the programs of its "initrd"

It also answers QMP (-qmp unix:PATH) for the grader's snapshots, and resumes from one
with -incoming "exec:cat FILE" (the "machine state" is the fake kernel's own).

Modes: ok behaves like the reference phase; hang stops before the prompt (and leaves a
child process in its group, to show the grader kills whole groups); reset exits 0
(a triple fault under -no-reboot); panic prints a panic and exits 3; flood writes
without end; forge answers every `run` with plausible lines copied from an earlier
run, without running anything (so the tags belong to another nonce); slow takes
30 s on every `run` (a hang after the prompt).
"""

import os
import subprocess
import sys
import time

OFFSET = 0xCBF29CE484222325


def fnv(s):
    h = OFFSET
    for b in s.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def result(nonce, payload):
    return "RESULT %s tag=%016x" % (payload, fnv("%s|%s" % (nonce, payload)))


def out(s):
    sys.stdout.write(s)
    sys.stdout.flush()


class Kernel:
    def __init__(self, cfg):
        self.phase = int(cfg.get("phase", "1"))
        self.mode = cfg.get("mode", "ok")
        self.progs = [p for p in cfg.get("progs", "").split(",") if p]
        self.next_pid = 1
        self.preempt = self.phase == 3
        self.scribbled = False
        self.prompt = "lab%d> " % self.phase

    # --- the monitor -------------------------------------------------------------

    def boot(self):
        out("\x1b[2JSeaBIOS (fake)\r\n")
        out("[k] boot phase=%d mem=130048KiB\r\n" % self.phase)
        if self.mode == "hang":
            subprocess.Popen(["sleep", "300"])      # a child in our process group
            time.sleep(3600)
        if self.mode == "reset":
            sys.exit(0)
        if self.mode == "panic":
            out('[k] panic msg="fake: boot panic"\r\n rax=0x0 rbx=0x1 rip=0xffffffff80100000\r\n'
                'backtrace: kmain+0x12\r\n')
            sys.exit(3)
        if self.mode == "flood":
            while True:
                out("flood " * 1000 + "\r\n")
        out("[k] ready\r\n" + self.prompt)

    def loop(self):
        buf = b""
        while True:
            c = os.read(0, 1)
            if not c:
                time.sleep(3600)
            if c in b"\r\n":
                out("\r\n")
                if buf.strip():
                    self.command(buf.decode().split())
                out(self.prompt)
                buf = b""
            else:
                out(c.decode(errors="replace"))
                buf += c

    def command(self, words):
        cmd = words[0]
        if cmd == "help":
            out("commands: help ls run ps kstacks set preempt on|off halt\r\n")
        elif cmd == "ls":
            for p in sorted(self.progs):
                out("%-16s %d\r\n" % (p, 12345))
        elif cmd == "set" and words[1:2] == ["preempt"]:
            self.preempt = words[2:3] == ["on"]
            out("[k] preempt %s\r\n" % ("on" if self.preempt else "off"))
        elif cmd == "halt":
            sys.exit(1)
        elif cmd == "run":
            if self.mode == "slow":
                time.sleep(30)
            if self.mode == "forge":
                return self.forge(words[1:])
            self.run(words[1:])
        else:
            out("unknown command: %s (try help)\r\n" % cmd)

    # --- programs --------------------------------------------------------------------

    def run(self, words):
        cmds, cur = [], []
        for w in words + ["&"]:
            if w == "&":
                if cur:
                    cmds.append(cur)
                cur = []
            else:
                cur.append(w)
        procs = []
        for argv in cmds:
            if argv[0] not in self.progs:
                out('[k] load-error prog=%s reason="not found"\r\n' % argv[0])
            elif argv[0].startswith("bad_"):
                out('[k] load-error prog=%s reason="bad ELF header"\r\n' % argv[0])
            else:
                pid = self.next_pid
                self.next_pid += 1
                out("[k] spawn pid=%d prog=%s\r\n" % (pid, argv[0]))
                procs.append((pid, argv))
        n = len(procs)
        for k, (pid, argv) in enumerate(procs):
            end = getattr(self, "p_" + argv[0], self.p_default)(pid, argv, k, n)
            out(end)

    def p_default(self, pid, argv, k, n):
        return "[k] exit pid=%d status=0\r\n" % pid

    def p_hello(self, pid, argv, k, n):
        out("Hello, %s! (pid %d, argc %d)\r\nhello: malloc ok\r\n"
            % (" ".join(argv[1:]) or "world", pid, len(argv)))
        return "[k] exit pid=%d status=0\r\n" % pid

    def p_syscalls(self, pid, argv, k, n):
        out("CHECK basic.getpid: ok\r\nsyscalls: 40 checks, 0 failed\r\n")
        out(result(argv[1], "syscalls basic_pass=26 basic_fail=0 efault_pass=14 efault_fail=0") + "\r\n")
        return "[k] exit pid=%d status=0\r\n" % pid

    def p_t_fault(self, pid, argv, k, n):
        kind = argv[-1]         # t_fault [NONCE] KIND
        reason = {"null-read": "#PF", "null-write": "#PF", "ud2": "#UD", "div0": "#DE",
                  "priv": "#GP", "kernel-read": "#PF", "noncanon": "#GP",
                  "text-write": "#PF", "stack-exec": "#PF"}[kind]
        out("t_fault: about to %s\r\n" % kind)
        if len(argv) == 3:
            out(result(argv[1], "fault kind=%s pid=%d" % (kind, pid)) + "\r\n")
        return "[k] kill pid=%d reason=%s rip=0x401000 cr2=0x0\r\n" % (pid, reason)

    def p_t_kinfo(self, pid, argv, k, n):
        if self.phase == 1:
            top = 0xFFFFFFFF80200000
        else:
            top = 0xFFFFFFFF80300000 + 16384 * (pid if self.phase == 2 else 2 * pid)
        tss = top if self.phase == 3 else 0xFFFFFFFF80100000
        out(result(argv[1], "kinfo mode=%s pid=%d base=0x%016x top=0x%016x entry=0x%016x "
                   "tss=0x%016x consistent=1 inside=1" % (argv[2], pid, top - 16384, top, top - 176, tss))
            + "\r\n")
        return "[k] exit pid=%d status=0\r\n" % pid

    def p_t_leak(self, pid, argv, k, n):
        mode = argv[2]
        if mode in ("scribble", "scribble-hold"):
            self.scribbled = True
            out(result(argv[1], "leak role=scribble copied=512") + "\r\n")
            return "[k] exit pid=%d status=0\r\n" % pid
        if self.phase == 1 and mode == "peek-late":
            return "[k] kill pid=%d reason=#GP rip=0x401000 cr2=0x0\r\n" % pid
        run = 512 if self.phase == 1 and self.scribbled else 3
        out(result(argv[1], "leak role=peek copied=512 matched=%d run=%d" % (run + 2, run)) + "\r\n")
        return "[k] exit pid=%d status=0\r\n" % pid

    def p_t_sleepers(self, pid, argv, k, n):
        bad = 0 if self.phase > 1 or n == 1 else 3
        if n == 2 and self.phase < 3:       # next to a burner
            bad = 2
        out(result(argv[1], "sleep rounds=%s bad=%d" % (argv[2], bad)) + "\r\n")
        return "[k] exit pid=%d status=%d\r\n" % (pid, 1 if bad else 0)

    def p_t_spin(self, pid, argv, k, n):
        bad = 0 if self.phase == 3 or not self.preempt else 7
        start, end = 1000 + k, 2000 + k
        out(result(argv[1], "spin start=%d end=%d rounds=40 bad=%d" % (start, end, bad)) + "\r\n")
        return "[k] exit pid=%d status=%d\r\n" % (pid, 1 if bad else 0)

    def p_t_burn(self, pid, argv, k, n):
        if self.phase == 3:
            return "[k] kill pid=%d reason=kstack-guard rip=0xffffffff80101234 cr2=0xffffff0000003ff8\r\n" % pid
        out(result(argv[1], "burn depth=%s ret=%s" % (argv[2], argv[2])) + "\r\n")
        return "[k] exit pid=%d status=0\r\n" % pid

    def forge(self, words):
        """Plausible lines for whatever was asked, run by nobody: the tags belong to a
        nonce of some earlier run."""
        old = "0123456789abcdef"
        cmds = " ".join(words).split("&")
        pids = []
        for c in cmds:
            pid = self.next_pid
            self.next_pid += 1
            pids.append(pid)
            out("[k] spawn pid=%d prog=%s\r\n" % (pid, c.split()[0]))
        for i, (pid, c) in enumerate(zip(pids, cmds)):
            prog = c.split()[0]
            top = 0xFFFFFFFF80300000 + 16384 * (i + 1)
            payload = {
                "syscalls": "syscalls basic_pass=26 basic_fail=0 efault_pass=14 efault_fail=0",
                "t_kinfo": "kinfo mode=live pid=%d base=0x%016x top=0x%016x entry=0x%016x "
                           "tss=0x%016x consistent=1 inside=1" % (pid, top - 16384, top, top - 176, top),
                "t_leak": "leak role=%s copied=512 matched=2 run=1"
                          % ("scribble" if "scribble" in c else "peek"),
                "t_sleepers": "sleep rounds=%s bad=0" % (c.split() + ["", "", "5"])[2],
                "t_spin": "spin start=1000 end=2000 rounds=40 bad=0",
            }.get(prog)
            if prog == "hello":
                out("Hello, world! (pid %d, argc 2)\r\n" % pid)
            elif payload:
                out(result(old, payload) + "\r\n")
            if prog == "t_fault":
                out("t_fault: about to %s\r\n" % c.split()[1])
            if prog in ("t_burn", "t_fault"):
                out("[k] kill pid=%d reason=kstack-guard rip=0x0 cr2=0x0\r\n" % pid)
            else:
                out("[k] exit pid=%d status=0\r\n" % pid)


STATE = ("phase", "mode", "progs", "next_pid", "preempt", "scribbled", "prompt")


def qmp_server(path, kernel):
    """Answer the few QMP commands the grader uses; `migrate` runs its exec: URI with
    the kernel's state as input, as QEMU would with the machine's."""
    import json
    import socket
    import threading

    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)

    def serve(c):
        f = c.makefile("rw")
        f.write(json.dumps({"QMP": {"version": {"qemu": {"major": 0}}}}) + "\n")
        f.flush()
        for line in f:
            req = json.loads(line)
            cmd, ret = req.get("execute"), {}
            if cmd == "migrate":
                uri = req["arguments"]["uri"]
                state = json.dumps({k: getattr(kernel, k) for k in STATE})
                subprocess.run(["sh", "-c", uri[len("exec:"):]], input=state.encode())
            elif cmd == "query-migrate":
                ret = {"status": "completed"}
            elif cmd == "query-status":
                ret = {"status": "running"}
            f.write(json.dumps({"return": ret}) + "\n")
            f.flush()

    def accept():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def main():
    import json
    args = sys.argv[1:]
    iso = args[args.index("-cdrom") + 1]
    cfg = {}
    with open(iso) as f:
        for ln in f:
            if "=" in ln:
                k, v = ln.strip().split("=", 1)
                cfg[k] = v
    k = Kernel(cfg)
    if "-incoming" in args:
        uri = args[args.index("-incoming") + 1]
        state = json.loads(subprocess.run(["sh", "-c", uri[len("exec:"):]],
                                          capture_output=True).stdout)
        for key, v in state.items():
            setattr(k, key, v)
    if "-qmp" in args:
        qmp_server(args[args.index("-qmp") + 1].split(",")[0][len("unix:"):], k)
    if "-incoming" not in args:
        k.boot()
    k.loop()


if __name__ == "__main__":
    main()
