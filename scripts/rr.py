#!/usr/bin/env python3
"""rr.py — record a run of a lab kernel once, then replay it exactly (QEMU record/replay).

    scripts/rr.py record --phase N [--cpus K] [--dir DIR] [--iso ISO --elf ELF]
                         [--burst] [--no-snapshots]
    scripts/rr.py replay --phase N [--dir DIR] [--gdb PORT [--gdbinit FILE]] [--log FILE]

`make labN-record`, `make labN-replay` and `make labN-replay-gdb` call this script.

record  boots build/phaseN/boot.iso under TCG with -icount ...,rr=record and puts this
        terminal on its serial port, like `make labN-qemu`. Everything the guest sees
        from outside (serial input, clocks, interrupts, CD reads) goes into DIR/record.bin.
        DIR (default build/phaseN/rr/) also gets copies of boot.iso and kernel.elf, so
        a rebuild cannot make the recording diverge from its symbols, the serial output
        (serial.log), and snap.qcow2, which holds the snapshots: `boot` at the first
        instruction, and `promptK` each time the monitor prints its prompt (K = 1, 2,
        ...), so that a reverse step replays from the last prompt, not from the boot.
        Keys: Ctrl-A x ends the recording, Ctrl-A s takes a snapshot now, Ctrl-A Ctrl-A
        sends one Ctrl-A. When stdin is not a terminal (tests), each input line is
        sent at the next prompt; the run ends when the guest halts, or at the first
        prompt after the script's end.
replay  runs the recording again with no input (rr=replay) and prints the same serial
        output (also written to DIR/replay.log, or --log FILE). With --gdb PORT, QEMU
        starts halted with its GDB stub on PORT and build/gdbinit is written for
        `make gdb`: reverse-stepi, reverse-continue and the who-wrote helper work there.

Input is paced. Under rr=record, QEMU turns serial input into log events and delivers
them later, all at once, without asking the UART whether it can take them; the UART
(no FIFO) keeps only the last byte, so a command typed or pasted as one burst arrives as
its final newline. The recorder therefore writes one byte and waits until the guest
has taken it (its echo is back, or the guest ran on long enough) before the next, as
a terminal with flow control would. --burst turns the pacing off (it exists to show
that failure).

Exit status: record and replay exit 0 when the guest halted (QEMU's 1) or the recording
ended by Ctrl-A x; QEMU's own status otherwise; 2 for bad usage or a missing build.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grader"))
import gradelib  # noqa: E402  (its QMP client)
import qemu  # noqa: E402  (the one QEMU command line)

# Pacing: after each byte, wait for its echo up to ECHO_WAIT_S; without one (a program
# reading stdin does not echo), until the guest ran ECHO_WAIT_INSNS more instructions
# (it had the time to take the interrupt), at most GIVE_UP_S. A fixed 20 ms per byte
# was not enough on a loaded machine: the vCPU may not run at all in 20 ms.
ECHO_WAIT_S = 0.5
ECHO_WAIT_INSNS = 200000
GIVE_UP_S = 2.0
# shift=3: 8 virtual ns per guest instruction, about TCG's own pace here, so virtual
# time keeps up with real time: boot to prompt recorded takes ~3 s, against ~8 s with
# the grader's shift=0 (a 1 GHz guest that TCG runs at a fraction of that, so every
# timed wait of the BIOS and GRUB stretches). sleep=on: an idle guest waits in real
# time (with sleep=off a recording did not reach the prompt in a minute).
ICOUNT = "shift=3,sleep=on"
PROMPT_RE = re.compile(rb"(?:^|\n)lab\d> $")
CTRL_A = b"\x01"
SCRIPT_END_S = 60      # scripted input: the longest wait for the prompt after the end
SNAP_TRIES = 40         # savevm refused while replay events are pending: retry
SNAP_RETRY_S = 0.05


def die(msg, status=2):
    sys.stderr.write("rr.py: %s\n" % msg)
    sys.exit(status)


def rr_dir(args):
    return os.path.abspath(args.dir or os.path.join(ROOT, "build", "phase%d" % args.phase, "rr"))


def qemu_argv(d, mode, cpus, extra=()):
    """The QEMU command line for record or replay of the recording in d. Both modes
    must build the same machine, or the snapshots and the log do not fit it."""
    # The machine of grader/qemu.py (the kit's one QEMU command line), with the record
    # or replay clock instead of the graded one and the CD behind blkreplay.
    return (qemu.binary() + ["-machine", "pc,accel=tcg"] + qemu.MACHINE +
            ["-smp", str(cpus)] + qemu.HEADLESS + ["-net", "none",
            # The APIC's vapic resets through run_on_cpu, which deadlocks QEMU 7.2
            # when a reverse step loads a snapshot while the vCPU waits for the
            # replay lock (seen as a reverse-continue that never comes back).
            "-global", "apic-common.vapic=off",
            "-icount", "%s,rr=%s,rrfile=%s,rrsnapshot=boot" % (
                ICOUNT, mode, os.path.join(d, "record.bin")),
            # The CD goes through blkreplay, read-only: reads become log events, and a
            # read-only drive lets the snapshots go to snap.qcow2 alone.
            "-drive", "file=%s,format=raw,if=none,id=img-direct,readonly=on"
            % os.path.join(d, "boot.iso"),
            "-drive", "driver=blkreplay,if=none,image=img-direct,id=img-blkreplay,readonly=on",
            "-device", "ide-cd,drive=img-blkreplay",
            "-drive", "file=%s,if=none,id=rr" % os.path.join(d, "snap.qcow2"),
            ] + list(extra))


class Recorder:
    """One recording: QEMU with its serial port on our stdin/stdout, paced input,
    a snapshot at each monitor prompt."""

    def __init__(self, args, d):
        self.args = args
        self.d = d
        self.tty = sys.stdin.isatty()
        self.lock = threading.Lock()        # held while writing a byte or snapshotting
        self.qmp_lock = threading.Lock()
        self.out_cond = threading.Condition()   # serial output seen so far:
        self.out_total = 0                      #   its length
        self.out_tail = b""                     #   and its last 4 KiB
        self.prompts = 0
        self.requests = 0                       # snapshots taken on Ctrl-A s
        self.prompt_ev = threading.Event()
        self.snaps = []
        self.quitting = False
        # A short path: a unix socket's name is limited to 107 bytes.
        self.qmp_dir = tempfile.mkdtemp(prefix="rr.")
        self.qmp_path = os.path.join(self.qmp_dir, "qmp.sock")
        self.qemu = None
        self.qmp = None
        self.log = None

    def start(self):
        argv = qemu_argv(self.d, "record", self.args.cpus,
                         ["-qmp", "unix:%s,server=on,wait=off" % self.qmp_path])
        self.log = open(os.path.join(self.d, "serial.log"), "wb")
        self.qemu = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                self.qmp = gradelib.Qmp(self.qmp_path)
                break
            except OSError:
                if self.qemu.poll() is not None:
                    break
                time.sleep(0.05)
        if self.qmp is None and self.qemu.poll() is None:
            sys.stderr.write("rr.py: no QMP connection to QEMU: no snapshots at the "
                             "prompts, and Ctrl-A x kills QEMU\r\n")

    def hmp(self, cmd):
        with self.qmp_lock:
            return self.qmp.call("human-monitor-command", **{"command-line": cmd})

    def snapshot(self, name):
        """savevm name; QEMU refuses while replay events are pending, so retry."""
        if self.qmp is None:
            return False
        with self.lock:
            for _ in range(SNAP_TRIES):
                try:
                    out = self.hmp("savevm %s" % name)
                except (gradelib.QmpError, OSError) as e:
                    out = str(e)
                if not out.strip():
                    self.snaps.append(name)
                    return True
                if "Try once more" not in out and "right now" not in out:
                    sys.stderr.write("\r\nrr.py: snapshot %s refused: %s\r\n" % (name, out.strip()))
                    return False
                time.sleep(SNAP_RETRY_S)
        sys.stderr.write("\r\nrr.py: snapshot %s: QEMU kept refusing\r\n" % name)
        return False

    def send(self, data):
        """Write data to the guest's serial port one byte at a time, each only once
        the guest has taken the one before (or as one burst with --burst)."""
        if self.args.burst:
            with self.lock:
                self.qemu.stdin.write(data)
                self.qemu.stdin.flush()
            return
        for i in range(len(data)):
            b = data[i:i + 1]
            with self.out_cond:
                mark = self.out_total
            with self.lock:
                self.qemu.stdin.write(b)
                self.qemu.stdin.flush()
            self.wait_taken(b, mark)

    def wait_taken(self, b, mark):
        """Wait until the guest took byte b, written when out_total was mark: its echo
        (the monitor echoes what it reads; CR as a newline) came back, or, with no
        echo (a program reading), the guest ran ECHO_WAIT_INSNS instructions since."""
        echo = b"\n" if b in (b"\r", b"\n") else b
        t0 = time.time()
        while time.time() - t0 < ECHO_WAIT_S:
            with self.out_cond:
                new = self.out_total - mark
                if new > 0 and echo in self.out_tail[-new:]:
                    return
                self.out_cond.wait(0.02)
        start = self.icount()
        while start is not None and time.time() - t0 < GIVE_UP_S:
            now = self.icount()
            if now is None or now - start >= ECHO_WAIT_INSNS:
                break
            time.sleep(0.01)

    def icount(self):
        """The guest's instruction count now (QMP query-replay), or None."""
        try:
            with self.qmp_lock:
                return int(self.qmp.call("query-replay")["icount"])
        except Exception:
            return None

    def pump_output(self):
        """QEMU's stdout to ours and serial.log; a snapshot after each new prompt."""
        tail = b""
        fd = self.qemu.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            if not data:
                break
            self.log.write(data)
            self.log.flush()
            with self.out_cond:
                self.out_total += len(data)
                self.out_tail = (self.out_tail + data)[-4096:]
                self.out_cond.notify_all()
            sys.stdout.buffer.write(data)     # the kernel writes CRLF itself
            sys.stdout.buffer.flush()
            tail = (tail + data)[-64:]
            if PROMPT_RE.search(tail):
                tail = b""
                self.prompts += 1
                if not self.args.no_snapshots:
                    self.snapshot("prompt%d" % self.prompts)
                self.prompt_ev.set()

    def quit(self):
        self.quitting = True
        try:
            with self.qmp_lock:
                self.qmp.call("quit")
        except Exception:
            self.qemu.terminate()

    def pump_tty(self):
        """Keys to the guest; Ctrl-A x quits, Ctrl-A s snapshots, Ctrl-A Ctrl-A = ^A."""
        fd = sys.stdin.fileno()
        escape = False
        while self.qemu.poll() is None:
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                continue
            data = os.read(fd, 1024)
            if not data:
                return
            out = b""
            for b in data:
                c = bytes([b])
                if escape:
                    escape = False
                    if c in (b"x", b"X"):
                        self.send(out)
                        self.quit()
                        return
                    if c in (b"s", b"S"):
                        self.send(out)
                        out = b""
                        self.requests += 1
                        name = "user%d" % self.requests
                        if self.snapshot(name):
                            sys.stderr.write("\r\n[rr: snapshot %s]\r\n" % name)
                        continue
                    if c == CTRL_A:
                        out += CTRL_A
                    continue
                if c == CTRL_A:
                    escape = True
                    continue
                out += c
            self.send(out)

    def pump_script(self):
        """Non-terminal stdin: each line is sent at the next prompt."""
        seen = 0
        for line in sys.stdin.buffer:
            while self.prompts <= seen and self.qemu.poll() is None:
                self.prompt_ev.wait(0.2)
                self.prompt_ev.clear()
            if self.qemu.poll() is not None:
                return
            seen = self.prompts
            self.send(line.rstrip(b"\r\n") + b"\r")
        # The script is over: end at the next prompt (or after SCRIPT_END_S), so a
        # script that does not end with `halt` still ends.
        t0 = time.time()
        while self.prompts <= seen and self.qemu.poll() is None and \
                time.time() - t0 < SCRIPT_END_S:
            self.prompt_ev.wait(0.2)
            self.prompt_ev.clear()
        if self.qemu.poll() is None:
            time.sleep(0.5)
            if self.qemu.poll() is None:
                self.quit()

    def run(self):
        self.start()
        out = threading.Thread(target=self.pump_output, daemon=True)
        out.start()
        saved = None
        if self.tty:
            import termios
            import tty
            saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno())
        try:
            inp = threading.Thread(target=self.pump_tty if self.tty else self.pump_script,
                                   daemon=True)
            inp.start()
            status = self.qemu.wait()
            out.join(5)
        finally:
            if saved is not None:
                import termios
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
        self.log.close()
        shutil.rmtree(self.qmp_dir, ignore_errors=True)
        return status


def cmd_record(args):
    if args.cpus != 1:
        die("QEMU's record/replay records one CPU only (QEMU 7.2 refuses -smp %d with "
            "'Record/replay feature is not supported for smp'): record with CPUS=1"
            % args.cpus)
    d = rr_dir(args)
    b = os.path.join(ROOT, "build", "phase%d" % args.phase)
    src = {"boot.iso": args.iso or os.path.join(b, "boot.iso"),
           "kernel.elf": args.elf or os.path.join(b, "kernel.elf")}
    for f in src.values():
        if not os.path.exists(f):
            die("%s is missing: run make lab%d first" % (f, args.phase))
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for name, f in src.items():
        shutil.copy(f, os.path.join(d, name))
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                    os.path.join(d, "snap.qcow2"), "1G"], check=True)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"phase": args.phase, "cpus": args.cpus, "icount": ICOUNT}, f)
    rec = Recorder(args, d)
    t0 = time.time()
    status = rec.run()
    secs = time.time() - t0
    size = os.path.getsize(os.path.join(d, "record.bin")) if \
        os.path.exists(os.path.join(d, "record.bin")) else 0
    if size == 0:
        sys.stderr.write("\nrr: nothing was recorded: QEMU refused or failed (its message "
                         "is above)\n")
        return status or 1
    sys.stderr.write("\nrr: recorded %.1f s into %s (record.bin %d KiB; snapshots: boot%s)\n"
                     % (secs, os.path.relpath(d, ROOT), size // 1024,
                        "".join(", " + s for s in rec.snaps)))
    sys.stderr.write("rr: make lab%d-replay prints it again; make lab%d-replay-gdb + "
                     "make gdb debugs it, backwards too\n" % (args.phase, args.phase))
    if status == 1 or rec.quitting:
        return 0
    return status


def cmd_replay(args):
    d = rr_dir(args)
    meta_path = os.path.join(d, "meta.json")
    if not os.path.exists(os.path.join(d, "record.bin")) or not os.path.exists(meta_path):
        die("no recording in %s: run make lab%d-record first" % (d, args.phase))
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("icount") != ICOUNT:
        die("%s was recorded with -icount %s, this script replays %s: record again"
            % (d, meta.get("icount"), ICOUNT))
    extra = []
    if args.gdb:
        extra = ["-gdb", "tcp::%d" % args.gdb, "-S"]
        with open(args.gdbinit or os.path.join(ROOT, "build", "gdbinit"), "w") as f:
            f.write(subprocess.run([os.path.join(ROOT, "scripts", "gdbinit.sh"),
                                    str(args.phase), str(args.gdb),
                                    os.path.join(d, "kernel.elf")],
                                   stdout=subprocess.PIPE, check=True,
                                   universal_newlines=True).stdout)
            # A prompt of its own: reverse execution and who-wrote work here.
            f.write("set prompt (gdb-replay) \n")
        sys.stderr.write("rr: replay of %s halted; in another terminal: make gdb "
                         "(port %d)\n" % (os.path.relpath(d, ROOT), args.gdb))
    log_path = args.log or os.path.join(d, "replay.log")
    argv = qemu_argv(d, "replay", meta.get("cpus", 1), extra)
    qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    signal.signal(signal.SIGTERM, lambda *a: qemu.terminate())
    with open(log_path, "wb") as log:
        while True:
            try:
                data = os.read(qemu.stdout.fileno(), 4096)
            except KeyboardInterrupt:
                qemu.terminate()
                continue
            if not data:
                break
            log.write(data)
            log.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    status = qemu.wait()
    return 0 if status in (0, 1) else status


def main():
    ap = argparse.ArgumentParser(description="record/replay a lab kernel run (QEMU rr)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--phase", type=int, required=True)
    r.add_argument("--cpus", type=int, default=1)
    r.add_argument("--dir")
    r.add_argument("--iso", help="record this ISO (default build/phaseN/boot.iso)")
    r.add_argument("--elf", help="its kernel (default build/phaseN/kernel.elf)")
    r.add_argument("--burst", action="store_true",
                   help="send input unpaced (shows why pacing is needed)")
    r.add_argument("--no-snapshots", action="store_true",
                   help="no snapshot at each prompt (only the one at boot)")
    p = sub.add_parser("replay")
    p.add_argument("--phase", type=int, required=True)
    p.add_argument("--dir")
    p.add_argument("--gdb", type=int, metavar="PORT")
    p.add_argument("--log")
    p.add_argument("--gdbinit", help="where to write the GDB script (default build/gdbinit)")
    args = ap.parse_args()
    if args.cmd == "record":
        sys.exit(cmd_record(args))
    sys.exit(cmd_replay(args))


if __name__ == "__main__":
    main()
