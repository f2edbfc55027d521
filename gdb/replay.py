# replay.py — GDB commands for a recorded run (loaded by `make gdb` after stacklabs.py).
#
#   who-wrote ADDR [LEN]   go back to the last write to LEN bytes at ADDR (default: the
#                          size of what ADDR points to, else 8) and say who made it:
#                          the process (current), the CPU, the instruction, the function
#                          and its backtrace, and when (the replay's instruction count)
#   rr-now                 where the replay is: its instruction count, and the
#                          snapshots a reverse step can start from
#
# Both need a replay (`make labN-replay-gdb`): QEMU's record/replay is what makes going
# backwards possible. who-wrote is a reverse-continue with one write watchpoint, made
# safe to use: the user's breakpoints are set aside while it runs (they would stop it
# early), QEMU's report of the hit (a bare SIGTRAP, which GDB does not match to the
# watchpoint) is checked against the memory, and the CPU is left on the writing
# instruction. Every failure is one line starting with the command's name.

import re
import time

import gdb

ICOUNT_RE = re.compile(r"instruction count = (\d+)")


class RRError(Exception):
    """A problem to report in one line."""


def _u64(v):
    return int(v.cast(gdb.lookup_type("unsigned long"))) & 0xFFFFFFFFFFFFFFFF


def icount():
    """The replay's instruction count now; RRError when this is not a replay."""
    try:
        out = gdb.execute("monitor info replay", to_string=True)
    except gdb.error as e:
        raise RRError("cannot ask QEMU (%s): attach to `make labN-replay-gdb` with "
                      "`make gdb`" % e)
    m = ICOUNT_RE.search(out)
    if not m:
        raise RRError("QEMU is not replaying a recording (%s): record with "
                      "`make labN-record`, then `make labN-replay-gdb`" % out.strip())
    return int(m.group(1))


def snapshots():
    """[(name, icount)] of the recording's snapshots, oldest first ([] if unknown)."""
    try:
        out = gdb.execute("monitor info snapshots", to_string=True)
    except gdb.error:
        return []
    snaps = []
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and (f[0].isdigit() or f[0] == "--") and f[-1].isdigit():
            snaps.append((f[1], int(f[-1])))
    return sorted(snaps, key=lambda s: s[1])


# Where the running process is found: `current` (one CPU), then per-CPU guesses for a
# kernel that keeps one per CPU; %d is the CPU's index.
CURRENT_EXPRS = ("current", "cpus[%d].current", "percpu[%d].current", "cpu_data[%d].current")


def who_is_running(cpu):
    """'pid P (NAME)' of the process running on cpu, or why it cannot be told."""
    for expr in CURRENT_EXPRS:
        try:
            cur = gdb.parse_and_eval(expr % cpu if "%d" in expr else expr)
            if cur.type.strip_typedefs().code != gdb.TYPE_CODE_PTR:
                continue
            if _u64(cur) == 0:
                return "none (%s is NULL: no process yet)" % expr
            name = cur["name"].string(length=16).split("\0")[0]
            return "pid %d (%s)" % (int(cur["pid"]), name)
        except (gdb.error, gdb.MemoryError, UnicodeDecodeError):
            continue
    return "unknown (no `current` this helper can read)"


def read_bytes(addr, n):
    return bytes(gdb.selected_inferior().read_memory(addr, n))


def _target(arg):
    """(addr, len) from `ADDR [LEN]`: a pointer gives its target's size."""
    words = arg.split()
    if not words:
        raise RRError("usage: who-wrote ADDR [LEN]  (e.g. who-wrote &tf->err)")
    length = None
    expr = arg
    if len(words) > 1 and re.fullmatch(r"\d+|0x[0-9a-fA-F]+", words[-1]):
        length = int(words[-1], 0)
        expr = arg[:arg.rstrip().rfind(words[-1])].strip()
    v = gdb.parse_and_eval(expr)
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        target = t.target().strip_typedefs()
        if length is None and target.code != gdb.TYPE_CODE_VOID and target.sizeof:
            length = target.sizeof
    elif t.code not in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM):
        raise RRError("%s is not an address: give a pointer (&tf->err) or a number"
                      % expr)
    length = length or 8
    if not 1 <= length <= 4096:
        raise RRError("LEN must be 1..4096 bytes")
    return _u64(v), length


class RRCommand(gdb.Command):
    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_USER)
        self.cmdname = name

    def invoke(self, arg, from_tty):
        try:
            self.run(arg.strip())
        except RRError as e:
            raise gdb.GdbError("%s: %s" % (self.cmdname, e))
        except gdb.MemoryError as e:
            raise gdb.GdbError("%s: cannot read memory: %s" % (self.cmdname, e))
        except gdb.error as e:
            raise gdb.GdbError("%s: %s" % (self.cmdname, e))


class WhoWroteCommand(RRCommand):
    """Go back to the last write to ADDR and say who made it: who-wrote ADDR [LEN]

ADDR is an expression: a pointer (who-wrote &tf->err, the pid stamp of a trap frame)
or a number. LEN defaults to the size of what the pointer points to, else 8. Runs
backwards from here (a reverse-continue with a write watchpoint on [ADDR, ADDR+LEN)),
stops on the instruction that wrote, and prints the instruction count, the value
before and after, the process and CPU, the instruction and the backtrace. The
CPU stays there: `bt`, `p current->pid`, `kstack-where`, `who-wrote` again (for the
write before that one) all work. Needs `make labN-replay-gdb`."""

    def run(self, arg):
        addr, length = _target(arg)
        now = icount()
        after = read_bytes(addr, length)
        saved = []
        for bp in gdb.breakpoints() or ():
            if bp.enabled:
                saved.append(bp)
                bp.enabled = False
        wp = None
        try:
            wp = gdb.Breakpoint("*(unsigned char (*)[%d])0x%x" % (length, addr),
                                gdb.BP_WATCHPOINT, gdb.WP_WRITE, internal=True)
            gdb.write("who-wrote: going back from instruction %d to the last write to "
                      "0x%x (%d bytes)...\n" % (now, addr, length))
            t0 = time.time()
            gdb.execute("reverse-continue", to_string=True)
            self.secs = time.time() - t0
            when = icount()
            if when == 0 or when >= now:
                raise RRError("no write to 0x%x between the start of the recording and "
                              "instruction %d" % (addr, now))
            new = read_bytes(addr, length)
            # QEMU stops right after the writing instruction: one step back is the
            # instruction itself, with the old bytes still in memory.
            gdb.execute("reverse-stepi", to_string=True)
            old = read_bytes(addr, length)
            when = icount()
        finally:
            if wp is not None:
                wp.delete()
            for bp in saved:
                bp.enabled = True
        self.report(addr, length, now, when, old, new, after)

    def report(self, addr, length, now, when, old, new, after):
        def val(b):
            return "0x%x" % int.from_bytes(b, "little") if length <= 8 else b.hex()

        frame = gdb.newest_frame()
        pc = frame.pc()
        thread = gdb.selected_thread()
        who = who_is_running(thread.num - 1)
        insn = frame.architecture().disassemble(pc)[0]["asm"]
        sal = frame.find_sal()
        where = frame.name() or "??"
        if sal.symtab is not None:
            where += " (%s:%d)" % (sal.symtab.filename, sal.line)
        gdb.write("who-wrote: the last write to 0x%x before instruction %d\n" % (addr, now))
        gdb.write("  when:    instruction %d of the run (%d instructions before the "
                  "one you asked from)\n" % (when, now - when))
        gdb.write("  search:  reverse-continue took %.1f s\n" % self.secs)
        gdb.write("  value:   %s -> %s%s\n" % (val(old), val(new),
                  "" if new == after else "  (now %s: written again later)" % val(after)))
        gdb.write("  process: %s\n" % who)
        gdb.write("  cpu:     %d\n" % (thread.num - 1))
        gdb.write("  insn:    0x%x <%s>: %s\n" % (pc, where, insn))
        gdb.write("  in:      %s\n" % where)
        for what, a in (("address", addr), ("rsp", int(frame.read_register("rsp")) &
                                            0xFFFFFFFFFFFFFFFF)):
            for line in kstack_where(a):
                gdb.write("  %-8s %s\n" % (what + ":", line))
        gdb.write("  backtrace (innermost first; repeated frames folded):\n")
        for line in backtrace(frame):
            gdb.write("    " + line + "\n")


def kstack_where(addr):
    """stacklabs.py's kstack-where answer for addr, as lines ([] without it)."""
    try:
        out = gdb.execute("kstack-where 0x%x" % addr, to_string=True)
    except gdb.error:
        return []
    return [line for line in out.splitlines() if line.strip() and not line.startswith("+")]


def backtrace(frame, limit=200):
    """The kernel frames from frame outwards, runs of one function folded into one
    line (burn x 64), ending at the first frame GDB cannot name (user space)."""
    lines = []
    run = None          # [name, first index, count, line of the first]
    i = 0
    while frame is not None and i < limit:
        name = frame.name()
        if name is None:
            break
        sal = frame.find_sal()
        loc = "%s:%d" % (sal.symtab.filename, sal.line) if sal.symtab else "??"
        line = "#%-3d 0x%016x in %s (%s)" % (i, frame.pc(), name, loc)
        if run and run[0] == name:
            run[2] += 1
        else:
            if run:
                lines.append(run[3] + ("   ... and %d more frames of %s" % (run[2] - 1, run[0])
                                       if run[2] > 1 else ""))
            run = [name, i, 1, line]
        try:
            frame = frame.older()
        except gdb.error:
            frame = None
        i += 1
    if run:
        lines.append(run[3] + ("   ... and %d more frames of %s" % (run[2] - 1, run[0])
                               if run[2] > 1 else ""))
    if frame is not None and frame.name() is None:
        lines.append("#%-3d (not kernel code: user space or a corrupted frame chain)" % i)
    return lines


class RRNowCommand(RRCommand):
    """Where the replay is: rr-now

Prints the instruction count (instructions run since the boot), and the snapshots a
reverse step can replay from (boot, and promptK: one per monitor prompt)."""

    def run(self, arg):
        n = icount()
        gdb.write("instruction %d of the run\n" % n)
        snaps = snapshots()
        if snaps:
            before = [s for s in snaps if s[1] <= n]
            gdb.write("snapshots: %s\n" % ", ".join("%s@%d" % s for s in snaps))
            if before:
                gdb.write("a reverse step from here replays from %s (%d instructions "
                          "back)\n" % (before[-1][0], n - before[-1][1]))


def register():
    WhoWroteCommand("who-wrote")
    RRNowCommand("rr-now")


register()
