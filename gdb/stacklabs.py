# stacklabs.py — GDB commands for the stacklabs kernels (loaded by `make gdb`).
#
#   ps                  the process table: pid, state, name, pml4, kernel stack
#   kstacks             every kernel stack, its guard page, saved rsp, TSS.rsp0,
#                       and the lines only this phase has (global top, the atomic,
#                       IST stacks)
#   trapframe [ADDR]    a struct trapframe by field name; without ADDR the frame at
#                       the top of the current process's kernel stack (or, inside
#                       syscall_entry, the one being pushed at rsp); sets $tf
#   kstack-where [ADDR] which kernel stack, guard page or IST stack ADDR is in
#                       (default $rsp)
#
# The same tables as the monitor's `ps` and `kstacks`, read from the kernel's memory
# while it is stopped, so they work at any breakpoint, even in a kernel whose monitor
# can no longer run. The phase is told from the symbols the kernel defines:
#   kstack_global_top -> phase 1, current_kernel_stack -> phase 2,
#   kstack_fallback_top (and neither of the above) -> phase 3.
# Every failure (no symbols, no target, memory not mapped yet) is one line starting
# with the command's name, never a Python traceback.

import re

import gdb

KSTACK_SIZE = 16 * 1024
FALLBACK_SIZE = 8 * 1024
PAGE_SIZE = 4096
USER_TOP = 0x00007FFFFFFFF000   # first address user space never gets
USER_END = 0x0000800000000000   # end of the lower canonical half
T_SYSCALL = 0x100
DIRECT_MAP = 0xFFFF800000000000  # all of RAM at phys + DIRECT_MAP (common/include/kernel.h)
PTE_P, PTE_W, PTE_U, PTE_PS, PTE_NX = 1, 2, 4, 0x80, 1 << 63
PTE_ADDR = 0x000FFFFFFFFFF000
NIST = 3
IST_NAMES = ("#DF", "NMI", "#MC")

# Vector names as trap.c prints them; IRQs are 32-47.
VECTOR_NAMES = {
    0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
    8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF",
    17: "#AC", 18: "#MC", 19: "#XM", 32: "IRQ0 timer", 36: "IRQ4 COM1",
    39: "IRQ7 spurious", T_SYSCALL: "T_SYSCALL",
}

# The system calls of the contract (Linux x86_64 numbers) and the lab probes.
SYSCALL_NAMES = {
    0: "read", 1: "write", 9: "mmap", 11: "munmap", 12: "brk", 16: "ioctl",
    20: "writev", 24: "sched_yield", 35: "nanosleep", 39: "getpid", 60: "exit",
    158: "arch_prctl", 218: "set_tid_address", 228: "clock_gettime",
    231: "exit_group", 500: "kstack_info", 501: "kstack_scribble",
    502: "kstack_peek", 503: "kstack_burn",
}

GPRS = ("r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8",
    "rbp", "rdi", "rsi", "rdx", "rcx", "rbx", "rax")


class SLError(Exception):
    """A problem to report to the student in one line."""


# ---- reading the kernel ---------------------------------------------------------

def _symbol(name):
    """The gdb.Symbol for a kernel variable, global or file-static, or None."""
    sym = gdb.lookup_global_symbol(name)
    if sym is None and hasattr(gdb, "lookup_static_symbol"):
        sym = gdb.lookup_static_symbol(name)
    return sym


def _has(name):
    return _symbol(name) is not None


def _var(name):
    """The value of kernel variable name; SLError if it does not exist."""
    sym = _symbol(name)
    if sym is None:
        raise SLError("no symbol %s in the loaded kernel" % name)
    return sym.value()


def _u64(value):
    """A gdb.Value (integer, pointer, enum, _Atomic) as a Python int, unsigned."""
    return int(value.cast(gdb.lookup_type("unsigned long"))) & 0xFFFFFFFFFFFFFFFF


def _addr_of(name):
    """The address of kernel object name, or None when there is no such symbol."""
    sym = _symbol(name)
    if sym is None:
        return None
    return _u64(sym.value().address)


def phase():
    """1, 2, 3 or 4, told from the symbols; SLError when no stacklabs kernel is loaded."""
    if _has("percpu_area"):
        return 4
    if _has("kstack_global_top"):
        return 1
    if _has("current_kernel_stack"):
        return 2
    if _has("kstack_fallback_top"):
        return 3
    if not _has("proc_table"):
        raise SLError("no stacklabs kernel symbols: load one with "
            "`file build/phaseN/kernel.elf` (make gdb does this)")
    raise SLError("cannot tell the phase: none of kstack_global_top, "
        "current_kernel_stack, kstack_fallback_top is defined")


def need_target():
    """SLError unless GDB is attached to a stopped kernel."""
    phase()
    if gdb.selected_inferior().pid == 0 or gdb.selected_thread() is None:
        raise SLError("no running kernel: start `make labN-qemu-gdb` in one terminal, "
            "then `make gdb` (it runs `target remote`)")
    if gdb.selected_thread().is_running():
        raise SLError("the kernel is running: interrupt it (Ctrl-C) or wait for a "
            "breakpoint")


def need_scheduler():
    """SLError unless the kernel has reached its scheduler (proc_table is filled)."""
    need_target()
    try:
        started = int(_var("sched_started"))
    except gdb.MemoryError:
        raise SLError("cannot read kernel memory yet: the CPU is still in the BIOS, "
            "GRUB or boot.asm (paging off); `continue` to a breakpoint in the "
            "kernel first (e.g. hbreak syscall_entry)")
    if not started:
        raise SLError("the kernel has not started its scheduler yet (proc_table is "
            "empty); continue until the monitor prompt")


def _name(p):
    """p->name as a Python string (up to the first NUL)."""
    chars = p["name"]
    lo, hi = chars.type.range()
    out = []
    for i in range(lo, hi + 1):
        c = int(chars[i]) & 0xFF
        if c == 0:
            break
        out.append(chr(c) if 32 <= c < 127 else "?")
    return "".join(out)


def _state(p):
    """p->state as the monitor names it: 'running', 'zombie', ..."""
    s = str(p["state"])
    return s[2:].lower() if s.startswith("P_") else s


class Proc:
    """One used slot of proc_table, read once."""

    def __init__(self, p, is_current):
        self.pid = int(p["pid"])
        self.state = _state(p)
        self.name = _name(p)
        self.pml4 = _u64(p["pml4"])
        self.base = _u64(p["kstack_base"])
        self.top = _u64(p["kstack_top"])
        self.slot = int(p["kstack_slot"])
        self.saved_rsp = _u64(p["ctx"]["rsp"])
        self.current = is_current

    def label(self):
        return "pid %d (%s)" % (self.pid, self.name)


def cpu_index():
    """The CPU GDB is looking at: QEMU shows vCPU n as thread n+1 (`info threads`,
    `thread N` to switch)."""
    n = gdb.selected_thread().num - 1
    try:
        ncpu = int(_var("ncpu"))
    except gdb.error:
        return 0
    return n if 0 <= n < ncpu else 0


def this_cpu():
    """cpus[cpu_index()]: the struct cpu of the CPU GDB is looking at."""
    return _var("cpus")[cpu_index()]


def procs():
    """Every used slot of proc_table, in table order; `current` is the process the
    selected CPU (GDB thread) runs."""
    need_scheduler()
    table = _var("proc_table")
    lo, hi = table.type.range()
    cur = _u64(this_cpu()["proc"])
    out = []
    for i in range(lo, hi + 1):
        p = table[i]
        if str(p["state"]) == "P_UNUSED":
            continue
        out.append(Proc(p, _u64(p.address) == cur))
    return out


def current_proc():
    for p in procs():
        if p.current:
            return p
    raise SLError("current does not point into proc_table")


def page_walk(va):
    """What the page tables say about va: (mapped, text). Reads CR3, then each level's
    entry through the kernel's direct map, as the MMU would (SDM Vol. 3A 4.5, 4-level
    paging); never assumes what a region should be. SLError if they cannot be read."""
    try:
        cr3 = _u64(gdb.parse_and_eval("$cr3"))
    except gdb.error:
        raise SLError("this GDB/QEMU reports no $cr3: cannot read the page tables")
    table = cr3 & PTE_ADDR
    inf = gdb.selected_inferior()
    for name, shift in (("PML4", 39), ("PDPT", 30), ("PD", 21), ("PT", 12)):
        slot = (va >> shift) & 511
        try:
            e = int.from_bytes(bytes(inf.read_memory(DIRECT_MAP + table + 8 * slot, 8)),
                               "little")
        except gdb.MemoryError:
            raise SLError("cannot read the %s at physical 0x%x (CR3 0x%x) through the "
                          "direct map" % (name, table, cr3))
        if not e & PTE_P:
            return False, "not mapped (CR3 0x%x: %s entry %d not present)" % (cr3, name, slot)
        if name == "PT" or (name in ("PDPT", "PD") and e & PTE_PS):
            size = {"PDPT": 1 << 30, "PD": 1 << 21, "PT": 1 << 12}[name]
            pa = (e & PTE_ADDR & ~(size - 1)) + (va & (size - 1))
            flags = ["present", "writable" if e & PTE_W else "read-only",
                     "user" if e & PTE_U else "supervisor"] + (["NX"] if e & PTE_NX else [])
            return True, "MAPPED (CR3 0x%x: %s entry %d = 0x%x: %s) -> physical 0x%x" % (
                cr3, name, slot, e, " ".join(flags), pa)
        table = e & PTE_ADDR
    raise AssertionError("unreachable")


def guard_of(ph, p):
    """The guard page below p's kernel stack (phase 3 slots only), or None."""
    if ph >= 3 and p.slot >= 0:
        return p.base - PAGE_SIZE
    return None


def tss_rsp0():
    """TSS.rsp0 of the selected CPU (each CPU has its own TSS)."""
    return _u64(this_cpu()["tss"].dereference()["rsp0"])


def tss_ist(i):
    return _u64(this_cpu()["tss"].dereference()["ist"][i])


def entry_top(ph):
    """Where syscall_entry loads rsp from in this phase, and that variable's name."""
    if ph == 1:
        return _u64(_var("kstack_global_top")), "kstack_global_top"
    if ph == 2:
        return _u64(_var("current_kernel_stack")), "current_kernel_stack"
    if ph == 4:
        n = cpu_index()
        return (_u64(_var("percpu_area")[n]["kstack_top"]),
                "percpu_area[%d].kstack_top ([gs:16] on CPU %d)" % (n, n))
    return _u64(_var("tss")["rsp0"]), "tss.rsp0"


def owner_of_top(ph, top, plist):
    """Who a stack top belongs to, for the summary lines."""
    owners = [p.label() for p in plist if p.top == top and p.top]
    if owners:
        return ", ".join(owners)
    if ph >= 2 and top == _u64(_var("kstack_fallback_top")):
        return "the fallback stack"
    irq = _addr_of("irq_stack")
    if irq is not None and top == irq + KSTACK_SIZE:
        return "irq_stack, shared by every interrupt from ring 3"
    return "no process"


def _hex(v):
    return "0x%016x" % v


# ---- commands -----------------------------------------------------------------

class SLCommand(gdb.Command):
    """Base: turns every expected failure into one line (gdb.GdbError)."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_USER)
        self.cmdname = name

    def invoke(self, arg, from_tty):
        try:
            self.run(arg.strip())
        except SLError as e:
            raise gdb.GdbError("%s: %s" % (self.cmdname, e))
        except gdb.MemoryError as e:
            raise gdb.GdbError("%s: cannot read memory: %s" % (self.cmdname, e))
        except gdb.error as e:
            raise gdb.GdbError("%s: %s" % (self.cmdname, e))
        except Exception as e:  # a bug in this file: still one line, with its cause
            raise gdb.GdbError("%s: internal error in gdb/stacklabs.py: %s: %s"
                               % (self.cmdname, type(e).__name__, e))

    def run(self, arg):
        raise NotImplementedError


class PsCommand(SLCommand):
    """List the kernel's processes: ps

Reads proc_table like the monitor's `ps`, plus each process's page table (pml4,
0 for the monitor, a kernel thread) and kernel stack [KSTACK_BASE, KSTACK_TOP)."""

    def run(self, arg):
        if arg:
            raise SLError("takes no arguments")
        phase()
        plist = procs()
        gdb.write("  PID  STATE     NAME          PML4                "
            "KSTACK_BASE         KSTACK_TOP\n")
        for p in plist:
            gdb.write("  %3d  %-8s  %-12s  %s  %s  %s\n" % (p.pid, p.state,
                p.name, _hex(p.pml4), _hex(p.base), _hex(p.top)))


class KstacksCommand(SLCommand):
    """Map the kernel stacks: kstacks

One line per process: kernel stack BASE and TOP, the GUARD page below it (phase 3
only), the SAVED_RSP of a switched-out process (ctx.rsp; "running" for current),
and NOTE: "entry" when syscall_entry would load this TOP, "rsp0" when TSS.rsp0 is
this TOP. Then TSS.rsp0, the syscall entry rsp, and the phase's own lines:
phase 1 kstack_global_top; phase 2 current_kernel_stack and kstack_fallback_top;
phase 3 tss.ist[0..2] (IST1-3) and kstack_fallback_top."""

    def run(self, arg):
        if arg:
            raise SLError("takes no arguments")
        ph = phase()
        plist = procs()
        rsp0 = tss_rsp0()
        etop, evar = entry_top(ph)
        gdb.write("  PID  NAME          BASE                TOP                 "
            "GUARD               SAVED_RSP           NOTE\n")
        for p in plist:
            guard = guard_of(ph, p)
            notes = []
            if p.top and p.top == etop:
                notes.append("entry")
            if p.top and p.top == rsp0:
                notes.append("rsp0")
            line = "  %3d  %-12s  %s  %s  %-18s  %-18s  %s" % (p.pid, p.name,
                _hex(p.base), _hex(p.top),
                _hex(guard) if guard is not None else "none",
                "running" if p.current else _hex(p.saved_rsp), ",".join(notes))
            gdb.write(line.rstrip() + "\n")
        gdb.write("  TSS.rsp0 = %s   (%s)\n" % (_hex(rsp0), owner_of_top(ph, rsp0, plist)))
        gdb.write("  syscall entry rsp = %s = %s   (%s)\n" % (evar, _hex(etop),
            owner_of_top(ph, etop, plist)))
        getattr(self, "phase%d" % ph)(plist)

    def phase1(self, plist):
        base = _addr_of("global_kstack")
        top = _u64(_var("kstack_global_top"))
        gdb.write("  phase 1: kstack_global_top = %s, one stack %s-%s for every process;"
            " no guard pages\n" % (_hex(top), _hex(base if base is not None else
            top - KSTACK_SIZE), _hex(top)))
        slot = _u64(gdb.parse_and_eval("*(unsigned long *)&syscall_user_rsp"))
        gdb.write("  phase 1: syscall_user_rsp = %s, the one global slot for the user rsp\n"
            % _hex(slot))

    def phase2(self, plist):
        cks = _u64(_var("current_kernel_stack"))
        fb = _u64(_var("kstack_fallback_top"))
        gdb.write("  phase 2: current_kernel_stack = %s (%s)\n" % (_hex(cks),
            owner_of_top(2, cks, plist)))
        gdb.write("  phase 2: kstack_fallback_top = %s (boot only; used after that = "
            "panic)\n" % _hex(fb))
        arena = _addr_of("arena")
        if arena is not None:
            size = _var("arena").type.sizeof
            gdb.write("  phase 2: arena %s-%s, %d x 16 KiB, adjacent, no guards\n" %
                (_hex(arena), _hex(arena + size), size // KSTACK_SIZE))

    def phase3(self, plist):
        for i in range(NIST):
            top = tss_ist(i)
            base = top - KSTACK_SIZE
            gdb.write("  phase 3: tss.ist[%d] = %s  IST%d (%s) %s-%s guard %s\n" % (
                i, _hex(top), i + 1, IST_NAMES[i], _hex(base), _hex(top),
                _hex(base - PAGE_SIZE)))
        gdb.write("  phase 3: kstack_fallback_top = %s (boot only; used after that = "
            "panic)\n" % _hex(_u64(_var("kstack_fallback_top"))))

    def phase4(self, plist):
        """Phase 3's lines for this CPU, then every CPU's per-CPU area."""
        self.phase3(plist)
        areas = _var("percpu_area")
        for i in range(int(_var("ncpu"))):
            a = areas[i]
            if not _u64(a["self"]):
                continue
            pid = int(a["proc"].dereference()["pid"]) if _u64(a["proc"]) else -1
            gdb.write("  phase 4: percpu_area[%d] at %s: kstack_top %s, user_rsp slot %s, "
                "pid %d\n" % (i, _hex(_u64(a["self"])), _hex(_u64(a["kstack_top"])),
                _hex(_u64(a["user_rsp"])), pid))


def _syscall_entry_range():
    """(start, call) of syscall_entry: its address and that of `call syscall_dispatch`."""
    start = int(gdb.parse_and_eval("(unsigned long)&syscall_entry"))
    arch = gdb.selected_frame().architecture()
    call = None
    for insn in arch.disassemble(start, count=48):
        if insn["asm"].split()[0].startswith("call"):
            call = insn["addr"]
            break
    return start, call


def _in_syscall_entry(pc):
    """True when pc is in syscall_entry (its labels included)."""
    where = _symbol_at(pc) or ""
    return re.match(r"syscall_entry(\.\w+)?( \+ \d+)? in section", where) is not None


def _symbol_at(addr):
    """`info symbol` for addr ("tss + 4 in section .bss"), or None."""
    try:
        out = gdb.execute("info symbol %d" % addr, to_string=True)
    except gdb.error:
        return None
    for line in out.splitlines():
        if " in section " in line and not line.startswith("+"):
            return line.strip()
    return None


def _frame_arg(arg):
    """The address named by a trapframe argument: a pointer, a struct or an integer."""
    v = gdb.parse_and_eval(arg)
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_STRUCT:
        if v.address is None:
            raise SLError("%s is a struct value with no address" % arg)
        return _u64(v.address)
    return _u64(v)


class TrapframeCommand(SLCommand):
    """Print a struct trapframe by field name: trapframe [ADDR]

ADDR is any expression: a pointer (trapframe tf, trapframe $rdi), a struct
(trapframe current->init_tf) or an address. Without ADDR: the frame at the top of
the current process's kernel stack, (struct trapframe *)(current->kstack_top -
sizeof(struct trapframe)), where syscall_entry builds it; inside syscall_entry, the
frame at the stack top it switched to, with the slots not pushed yet marked.
Sets $tf to the frame, so `p $tf->rip` and `x/i $tf->rip - 2` work next."""

    def run(self, arg):
        ph = phase()
        need_target()
        tftype = gdb.lookup_type("struct trapframe")
        size = tftype.sizeof
        notes = []
        pushed = size
        if arg:
            addr = _frame_arg(arg)
            how = arg
        else:
            addr, how, pushed, notes = self.default_frame(ph, size)
        ptr = gdb.Value(addr).cast(tftype.pointer())
        tf = ptr.dereference()
        vals = {f.name: _u64(tf[f.name]) for f in tftype.fields()}
        offs = {f.name: f.bitpos // 8 for f in tftype.fields()}
        gdb.set_convenience_variable("tf", ptr)
        gdb.write("trapframe at %s = %s\n" % (_hex(addr), how))
        for n in notes:
            gdb.write("  (%s)\n" % n)
        if pushed == 0:
            return

        def show(name):
            if offs[name] < size - pushed:
                return "%-4s %-18s" % (name, "(not pushed yet)")
            return "%-4s %s" % (name, _hex(vals[name]))

        # The general registers, three to a line in struct order (lowest address first).
        for i in range(0, len(GPRS), 3):
            gdb.write(("  " + "  ".join(show(r) for r in GPRS[i:i + 3])).rstrip() + "\n")
        if vals["vector"] == T_SYSCALL and offs["rax"] >= size - pushed and \
                not any("on its way out" in n for n in notes):
            nr = vals["rax"]
            gdb.write("  (rax = %d = %s while the call is on its way in; syscall_dispatch "
                      "replaces it with the result)\n" % (nr, SYSCALL_NAMES.get(nr, "?")))
        for name in ("vector", "err", "rip", "cs", "rflags", "rsp", "ss"):
            if offs[name] < size - pushed:
                gdb.write("  %-7s (not pushed yet)\n" % name)
                continue
            line = "  %-7s %s  %s" % (name, _hex(vals[name]), self.explain(name, vals))
            gdb.write(line.rstrip() + "\n")
        if pushed == size and vals["cs"] not in (0x08, 0x23) and not arg:
            gdb.write("  (cs is neither 0x08 nor 0x23: this is probably not a trap "
                "frame)\n")

    def default_frame(self, ph, size):
        cur = current_proc()
        if cur.pml4 == 0:
            raise SLError("current is %s, a kernel thread: it never enters through "
                "syscall_entry, so it has no user frame; give an address "
                "(trapframe ADDR)" % cur.label())
        addr = cur.top - size
        how = "current->kstack_top - sizeof(struct trapframe), %s" % cur.label()
        notes = []
        pushed = size
        pc = int(gdb.parse_and_eval("(unsigned long)$pc"))
        if not _in_syscall_entry(pc):
            return addr, how, pushed, notes
        rsp = int(gdb.parse_and_eval("(unsigned long)$rsp"))
        start, call = _syscall_entry_range()
        etop, evar = entry_top(ph)
        if call is not None and pc > call:
            notes.append("syscall_entry is on its way out after syscall_dispatch "
                "returned: rax holds the result; the frame stays in memory below rsp "
                "as it was popped")
            return addr, how, pushed, notes
        if rsp < USER_END:
            notes.append("rsp 0x%x is still the user stack: syscall_entry has not "
                "switched stacks yet, so this frame is left over from an earlier "
                "entry" % rsp)
            return addr, how, pushed, notes
        if etop - size <= rsp <= etop:
            pushed = etop - rsp
            addr = etop - size
            how = "%s - sizeof(struct trapframe), %s" % (evar, cur.label())
            if pushed == size:
                how = "$rsp (syscall_entry has pushed the whole frame), %s" % cur.label()
            else:
                notes.append("syscall_entry has pushed %d of %d bytes so far" %
                    (pushed, size))
            if etop != cur.top:
                notes.append("WARNING: syscall_entry switched to %s = 0x%x, but "
                    "current->kstack_top = 0x%x" % (evar, etop, cur.top))
        return addr, how, pushed, notes

    @staticmethod
    def explain(name, v):
        if name == "vector":
            vec = v["vector"]
            if vec == T_SYSCALL:
                return "T_SYSCALL: built by syscall_entry"
            if vec == 0:
                return "#DE, or never set (a frame no entry stub built)"
            return VECTOR_NAMES.get(vec, "IRQ%d" % (vec - 32) if 32 <= vec < 48 else "?")
        if name == "err":
            if v["vector"] == T_SYSCALL:
                return "syscall_dispatch stamps the pid here"
            return "CPU error code"
        if name == "rip":
            if v["rip"] < USER_END:
                side = "user rip"
                if v["vector"] == T_SYSCALL:
                    side += " (SYSCALL saved it in rcx): the instruction after `syscall`"
                return side
            return "kernel rip"
        if name == "cs":
            return {0x23: "user code (RPL 3)", 0x08: "kernel code"}.get(v["cs"], "?")
        if name == "rflags":
            bits = [b for b, m in (("IF", 0x200), ("TF", 0x100), ("DF", 0x400))
                if v["rflags"] & m]
            return " ".join(bits)
        if name == "rsp":
            return "user rsp" if v["rsp"] < USER_END else "kernel rsp"
        if name == "ss":
            return {0x1b: "user data (RPL 3)", 0x10: "kernel data"}.get(v["ss"], "?")
        return ""


class KstackWhereCommand(SLCommand):
    """Say which kernel stack an address is in: kstack-where [ADDR]

ADDR defaults to $rsp. Answers with every region that holds it: a process's kernel
stack (and how far below its top), a guard page (phase 3), an IST stack, the
fallback stack, phase 2's shared interrupt stack or free arena slots, user space;
then what the page tables (from CR3) say about it: mapped with which rights, or
not. A guard page is called unmapped only when the page tables say so."""

    def run(self, arg):
        ph = phase()
        need_target()
        addr = _u64(gdb.parse_and_eval(arg if arg else "$rsp"))
        lines = []
        try:
            mapped, tables = page_walk(addr)
        except SLError as e:
            mapped, tables = None, "unknown: %s" % e
        for lo, hi, desc in self.regions(ph):
            if lo <= addr < hi and desc.startswith("GUARD"):
                if mapped is False:
                    what = "unmapped: touching it is a #PF, then #DF on IST1"
                elif mapped:
                    what = "but MAPPED in the page tables: no guard at all, an overflow " \
                           "writes here without a fault"
                else:
                    what = "the page tables could not be read"
                lines.append("%s (%s) [0x%x-0x%x), 0x%x bytes below the stack's base" %
                             (desc, what, lo, hi, hi - addr))
            elif lo <= addr < hi:
                lines.append("%s [0x%x-0x%x), 0x%x bytes below its top" %
                             (desc, lo, hi, hi - addr))
            elif addr == hi and not desc.startswith("GUARD"):
                lines.append("the top of %s (an empty stack: the first push "
                             "writes 0x%x)" % (desc, hi - 8))
        if addr < USER_TOP:
            lines.append("user space (below USER_TOP 0x%x)" % USER_TOP)
        if not lines:
            lines.append("in no kernel stack, guard page or IST stack")
            sym = _symbol_at(addr)
            if sym:
                lines.append("kernel symbol: " + sym)
        lines.append("page tables: " + tables)
        for line in lines:
            gdb.write("0x%x: %s\n" % (addr, line))

    def regions(self, ph):
        """(lo, hi, description) of every stack-like region of this phase."""
        out = []
        plist = procs()
        shared = {}
        for p in plist:
            if p.top:
                shared.setdefault((p.base, p.top), []).append(p)
        for (base, top), owners in shared.items():
            names = ", ".join(p.label() for p in owners)
            if ph == 1 and owners[0].pml4:
                desc = "the global kernel stack, shared by " + names
            else:
                desc = "kernel stack of " + names
            out.append((base, top, desc))
            g = guard_of(ph, owners[0])
            if g is not None:
                out.append((g, base, "GUARD PAGE below the kernel stack of " + names))
        if ph == 1:
            base = _addr_of("global_kstack")
            if base is not None and not any(lo == base for lo, _, _ in out):
                out.append((base, base + KSTACK_SIZE, "the global kernel stack (no "
                    "process in the kernel)"))
        if ph == 2:
            arena = _addr_of("arena")
            if arena is not None:
                n = _var("arena").type.sizeof // KSTACK_SIZE
                used = {p.slot for p in plist if p.slot >= 0}
                for i in range(n):
                    if i not in used:
                        lo = arena + i * KSTACK_SIZE
                        out.append((lo, lo + KSTACK_SIZE, "arena slot %d (free)" % i))
            irq = _addr_of("irq_stack")
            if irq is not None:
                out.append((irq, irq + KSTACK_SIZE, "irq_stack (TSS.rsp0: every "
                    "interrupt from ring 3, shared)"))
        if ph >= 3:
            for i in range(NIST):
                top = tss_ist(i)
                out.append((top - KSTACK_SIZE, top, "IST%d stack (%s)" %
                    (i + 1, IST_NAMES[i])))
                out.append((top - KSTACK_SIZE - PAGE_SIZE, top - KSTACK_SIZE,
                    "GUARD PAGE below the IST%d stack" % (i + 1)))
        if ph >= 2:
            fb = _u64(_var("kstack_fallback_top"))
            out.append((fb - FALLBACK_SIZE, fb, "the fallback stack (boot only)"))
        return out


class CpusCommand(SLCommand):
    """List the CPUs: cpus

One line per started CPU, as the monitor's `cpus`: its number, LAPIC id, the GDB
thread that shows it, the pid it runs (-1: idle), its TSS.rsp0 and timer ticks. `*`
marks the CPU GDB is looking at; `thread N` selects CPU N-1."""

    def run(self, arg):
        if arg:
            raise SLError("takes no arguments")
        need_scheduler()
        me = cpu_index()
        cpus = _var("cpus")
        gdb.write("    CPU  LAPIC  THREAD  PID  TSS.RSP0            TICKS\n")
        for i in range(int(_var("ncpu"))):
            c = cpus[i]
            if not int(c["started"]):
                gdb.write("    %3d  %5d  (not started)\n" % (i, int(c["lapic_id"])))
                continue
            p = c["proc"].dereference()
            gdb.write("  %s %3d  %5d  %6d  %3d  %s  %d\n" % ("*" if i == me else " ", i,
                int(c["lapic_id"]), i + 1, int(p["pid"]),
                _hex(_u64(c["tss"].dereference()["rsp0"])), _u64(c["ticks"])))


def _command_exists(name):
    try:
        gdb.execute("help " + name, to_string=True)
        return True
    except gdb.error:
        return False


def register():
    """Define the commands; `ps` only if GDB has none of its own (sl-ps always)."""
    reloading = getattr(gdb, "_stacklabs_loaded", False)
    if reloading or not _command_exists("ps"):
        PsCommand("ps")
    PsCommand("sl-ps")
    KstacksCommand("kstacks")
    TrapframeCommand("trapframe")
    KstackWhereCommand("kstack-where")
    CpusCommand("cpus")
    # `current` is a C macro in the kernel (this CPU's cpus[].proc, smp.h), which
    # GDB cannot see: define it for expressions like `p current->pid`, for the CPU
    # of the selected thread (vCPU n is thread n+1).
    gdb.execute("macro define current (cpus[$_thread - 1].proc)")
    gdb._stacklabs_loaded = True


register()
