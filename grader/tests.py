"""The public tests: one small function each, with its name, points and title.

Each test gets `m`, a fresh QEMU already at the monitor prompt (see gradelib.Machine),
and fails by raising a Verdict (gradelib.fail for wrong output).  Every check is on
values the test programs computed and bound to their nonce with a tag, or on the
kernel's own [k] lines whose pids must match the spawn lines of the same command.
"""

from gradelib import test, fail, bad_elves, klines, new_nonce, Verdict

# Which phases each test passes in (P) or fails in (F), phase 1, 2, 3, 4: what each
# phase isolates and what it does not, in one place.  Lab N is graded on the tests with P in column N;
# the others still run and show as "vulnerable — fixed in lab K".
EXPECT = {
    "boot":            "PPPP",
    "hello":           "PPPP",
    "syscalls-basic":  "PPPP",
    "bad-pointers":    "PPPP",
    "bad-elf":         "PPPP",
    "ring3-fault":     "PPPP",
    "kinfo-distinct":  "FPPP",
    "tss-follows":     "FFPP",
    "leak-after-exit": "FPPP",
    "leak-live":       "FPPP",
    "blocked-3":       "FPPP",
    "preempt":         "FFPP",
    "overflow":        "FFPP",
    "smp-syscalls":    "FFFP",
    "smp-tss":         "FFFP",
    "smp-preempt":     "FFFP",
    "smp-overflow":    "FFFP",
}

# Kernel stacks are 16 KiB in phases 2 and 3.
KSTACK_SIZE = 16384
# A peek that returns this many bytes of the secret in a row has found it.
LEAK_RUN = 16


# --- the basics --------------------------------------------------------------

@test("boot", 5, "the monitor prompts, `help` lists its commands, `ls` lists hello")
def boot(m):
    out = m.cmd("help")
    text = "\n".join(out)
    missing = [c for c in ("help", "ls", "run", "ps", "kstacks", "set preempt", "halt")
               if c not in text]
    if missing:
        fail("`help` does not mention %s" % ", ".join(missing),
             ["help", "ls", "run", "ps", "kstacks", "set preempt on|off", "halt"], out)
    out = m.cmd("ls")
    if not any(ln.split()[:1] == ["hello"] for ln in out):
        fail("`ls` does not list hello", ["hello <size>"], out)


@test("hello", 5, "`run hello world` prints Hello, world! and exits with status 0")
def hello(m):
    r = m.run("hello world")
    mo = r.expect_line(r"^Hello, world!(?: \(pid (\d+),)?")
    r.expect_exit(0, 0)
    if mo.group(1) and int(mo.group(1)) != r.instances[0].pid:
        fail("hello's getpid() is not the pid the kernel spawned it as",
             ["Hello, world! (pid %d, ..." % r.instances[0].pid], [mo.group(0)])


def syscalls_group(m, group, what, min_pass):
    """Run `syscalls`; its group's checks (basic or efault) must all pass, and at
    least min_pass of them."""
    r = m.run("syscalls {nonce}")
    r.check_pids()
    if r.field(0, group + "_fail") != 0 or r.field(0, group + "_pass") < min_pass:
        fail(what, ["%s_pass>=%d %s_fail=0" % (group, min_pass, group)],
             [ln for ln in r.lines if ln.startswith("CHECK %s." % group) and "FAIL" in ln]
             or [ln for ln in r.lines if ln.startswith("RESULT")])


@test("syscalls-basic", 10, "every system call of the contract does what it says")
def syscalls_basic(m):
    syscalls_group(m, "basic", "system-call checks failed", 20)


@test("bad-pointers", 10, "bad user pointers get -EFAULT and never crash the kernel")
def bad_pointers(m):
    syscalls_group(m, "efault", "-EFAULT checks failed", 10)


@test("bad-elf", 10, "each malformed ELF is refused with a load-error; the monitor goes on")
def bad_elf(m):
    names = bad_elves(m.stage)
    if not names:
        fail("the grader has no malformed ELFs (grader/mkbad.py)", ["bad_*"], [])
    for name in names:
        r = m.run(name)             # reason="not found" fails the test as "missing"
        want = "[k] load-error prog=%s reason=\"...\"" % name
        if not [f for _, f in klines(r.lines, "load-error") if f.get("prog") == name]:
            fail("%s was not refused" % name, [want], r.lines)
        if klines(r.lines, "spawn"):
            fail("%s was spawned although malformed" % name, [want], r.lines)
    r = m.run("hello world")
    r.expect_line(r"^Hello, world!")
    r.expect_exit(0, 0)


# The kinds of fault t_fault makes in ring 3, and the reason each must be killed for.
FAULTS = {
    "null-read":   "#PF",
    "null-write":  "#PF",
    "ud2":         "#UD",
    "div0":        "#DE",
    "priv":        "#GP",
    "kernel-read": "#PF",
    "noncanon":    "#GP",
    "text-write":  "#PF",
}


# t_fault proves it ran up to its fault with a tagged RESULT line (kind and pid);
# the kernel's [k] kill line must then name that pid and the right reason.
@test("ring3-fault", 10, "a faulting program is killed with the right reason; the kernel goes on")
def ring3_fault(m):
    for kind, reason in FAULTS.items():
        r = m.run("t_fault {nonce} " + kind)
        r.expect_line(r"^t_fault: about to %s$" % kind)
        r.result(0, kind=kind)
        r.expect_kill(0, reason)
        if any(ln.startswith("t_fault: survived") for ln in r.lines):
            fail("t_fault %s ran on after its fault" % kind, ["[k] kill ..."], r.lines)
    r = m.run("hello world")
    r.expect_line(r"^Hello, world!")
    r.expect_exit(0, 0)


# --- kstack_info -----------------------------------------------------------------

def three_kinfo(m):
    """Run three live t_kinfo at once (each calls kstack_info 8 times and yields in
    between).  Returns their base/top/tss, after checking each was consistent,
    had its entry rsp inside its own stack, and exited 0."""
    r = m.run(*["t_kinfo {nonce} live"] * 3)
    infos = []
    for i in range(3):
        r.result(i, mode="live", consistent=1, inside=1)
        r.expect_exit(i, 0)
        infos.append({k: r.field(i, k) for k in ("base", "top", "tss")})
    return infos


@test("kinfo-distinct", 10, "three live processes have three disjoint 16 KiB kernel stacks")
def kinfo_distinct(m):
    infos = three_kinfo(m)
    got = ["base=%#x top=%#x" % (s["base"], s["top"]) for s in infos]
    if len({s["top"] for s in infos}) != 3:
        fail("the three processes share a kernel stack top", ["three distinct tops"], got)
    for s in infos:
        if s["top"] - s["base"] != KSTACK_SIZE:
            fail("a kernel stack is not %d bytes" % KSTACK_SIZE,
                 ["top-base=%d" % KSTACK_SIZE], got)
    ranges = sorted((s["base"], s["top"]) for s in infos)
    for (b1, t1), (b2, t2) in zip(ranges, ranges[1:]):
        if b2 < t1:
            fail("kernel stacks overlap", ["[base,top) pairwise disjoint"], got)


@test("tss-follows", 15, "TSS.rsp0 is the running process's own stack top")
def tss_follows(m):
    infos = three_kinfo(m)
    for s in infos:
        if s["tss"] != s["top"]:
            fail("TSS.rsp0 is not the caller's stack top", ["tss == top for each"],
                 ["top=%#x tss=%#x" % (x["top"], x["tss"]) for x in infos])


# --- stack residue -------------------------------------------------------------------

@test("leak-after-exit", 15, "a dead process's kernel-stack bytes are not seen by the next")
def leak_after_exit(m):
    n = new_nonce()     # one nonce: the scribbler and the peeker derive the same secret
    a = m.run("t_leak {nonce} scribble", nonce=n)
    a.result(0, role="scribble", copied=512)
    a.expect_exit(0, 0)
    b = m.run("t_leak {nonce} peek", nonce=n)
    b.result(0, role="peek", copied=512)
    b.expect_exit(0, 0)
    run = b.field(0, "run")
    if run >= LEAK_RUN:
        fail("the peek found %d bytes of the dead process's secret in a row" % run,
             ["run<%d" % LEAK_RUN], ["run=%d" % run])


@test("leak-live", 15, "a process blocked in the kernel keeps its stack bytes to itself")
def leak_live(m):
    n = new_nonce()
    r = m.run("t_leak {nonce} scribble-hold", "t_leak {nonce} peek-late", nonce=n)
    r.expect_exit(0, 0)
    r.expect_exit(1, 0)
    r.find(role="scribble", copied=512)
    peek = r.find(role="peek", copied=512)
    if int(peek["run"]) >= LEAK_RUN:
        fail("the peek found %s bytes of the live process's secret in a row" % peek["run"],
             ["run<%d" % LEAK_RUN], ["run=%s" % peek["run"]])


# --- processes meeting in the kernel ---------------------------------------------------

@test("blocked-3", 20, "three processes asleep in the kernel at once keep their registers")
def blocked_3(m):
    r = m.run(*["t_sleepers {nonce} 5 30"] * 3)
    for i in range(3):
        r.result(i, rounds=5, bad=0)
        r.expect_exit(i, 0)


@test("preempt", 20, "two spinning processes preempted from ring 3 keep every register")
def preempt(m):
    m.cmd("set preempt on")
    r = m.run("t_spin {nonce} 300", "t_spin {nonce} 300")    # 300 ms of spinning each
    spans = []
    for i in range(2):
        r.result(i, bad=0)
        r.expect_exit(i, 0)
        spans.append((r.field(i, "start"), r.field(i, "end")))
    (s1, e1), (s2, e2) = spans
    if not (s1 < e2 and s2 < e1):
        fail("the two spinners never ran at the same time (no preemption)",
             ["overlapping [start,end] intervals"],
             ["#1 [%d,%d]" % spans[0], "#2 [%d,%d]" % spans[1]])


def guard_pages_said(m, check, unmapped_too=True):
    """Run check(); if it fails, say in the verdict whether the kernel found a guard page
    mapped (`[k] guard-mapped`, common/proc.c checks each new process's guard page in the
    page tables), the usual reason an overflow runs on into the next stack."""
    try:
        check()
    except Verdict as v:
        mapped = [ln for ln in m.buf.splitlines() if ln.startswith("[k] guard-mapped ")]
        if mapped:
            v.message += ("; a guard page was mapped, so the overflow ran on into the stack "
                          "below instead of faulting: " + mapped[0])
        elif m.lab >= 3 and unmapped_too:
            v.message += ("; no guard page was mapped ([k] guard-mapped never said): either the "
                          "stacks have no guard page below them, or it was unmapped and the "
                          "fault on it was not handled")
        raise


@test("overflow", 20, "a kernel stack overflow kills only the overflowing process")
def overflow(m):
    m.want("[k] kill pid=<t_burn's> reason=kstack-guard",
           "t_sleepers: RESULT rounds=8 bad=0, [k] exit status=0", "then the `lab%d> ` prompt" % m.lab)

    def check():
        r = m.run("t_sleepers {nonce} 8 30", "t_burn {nonce} 100 20")
        r.expect_kill(1, "kstack-guard")
        r.result(0, rounds=8, bad=0)
        r.expect_exit(0, 0)
    guard_pages_said(m, check)


# --- two CPUs (issue 12) ----------------------------------------------------------------
#
# Each test boots two CPUs (cpus=2: grader/qemu.py, flags) and runs four programs at once,
# so both CPUs have processes in the kernel and in ring 3 at the same time. t_smp checks
# every system call it makes (registers, user rsp, entry_rsp on its own stack,
# TSS.rsp0 = its own top) and records through getcpu which CPUs it ran on. The verdicts
# rest on those per-call checks, not on where a tick or a vCPU switch lands: on phases
# 1-3 every call made on CPU 1 enters through a global that another CPU set.

SMP_CPUS = 2
SMP_PROCS = 4
SMP_ROUNDS = 3000       # system calls per t_smp sys: a few hundred ms of TCG
SMP_SPIN_MS = 300


def smp_run(m, progs):
    """Run progs at once, each spawned once.  Returns the Run."""
    r = m.run(*progs, timeout=60)
    r.check_pids()
    return r


def smp_cpus_used(r, idx):
    """Union of the CPU masks the t_smp programs idx reported; fail unless it has
    both CPUs."""
    mask = 0
    for i in idx:
        mask |= r.field(i, "cpus")
    if mask & 3 != 3:
        fail("the programs did not run on both CPUs (getcpu)",
             ["cpus mask with bits 0 and 1 (union over the programs)"],
             ["cpus=%s" % r.field(i, "cpus") for i in idx])


def smp_intact(r, i, what):
    """t_smp #i: its RESULT line, every check clean, exit 0; `what` names the check
    the test is about, which is looked at first."""
    res = r.result(i)
    order = [what] + [k for k in ("bad", "outside", "tssbad") if k != what]
    names = {
        "bad": "registers or user rsp changed across a system call or in ring 3",
        "outside": "system calls entered the kernel off the caller's own stack "
                   "(kstack_info.entry_rsp outside [base, top])",
        "tssbad": "TSS.rsp0 of the CPU the call ran on was not the caller's stack top",
    }
    for k in order:
        if res.get(k) != "0":
            fail("%s: %s %s time(s)" % (r.instances[i].label(), names[k], res.get(k)),
                 ["%s=0" % k], [ln for ln in r.lines if ln.startswith(("DETAIL", "[k] kstack-foreign"))]
                 + ["RESULT " + " ".join("%s=%s" % kv for kv in res.items())])
    r.expect_exit(i, 0)


@test("smp-syscalls", 20, "two CPUs in system calls at once: registers, user rsp and "
      "entry stack intact on every call", cpus=SMP_CPUS)
def smp_syscalls(m):
    r = smp_run(m, ["t_smp {nonce} sys %d" % SMP_ROUNDS] * SMP_PROCS)
    for i in range(SMP_PROCS):
        smp_intact(r, i, "outside")
    smp_cpus_used(r, range(SMP_PROCS))


@test("smp-tss", 15, "TSS.rsp0 on two CPUs: each call sees its own stack top in the "
      "TSS of the CPU it runs on", cpus=SMP_CPUS)
def smp_tss(m):
    r = smp_run(m, ["t_smp {nonce} sys %d" % SMP_ROUNDS] * SMP_PROCS)
    for i in range(SMP_PROCS):
        smp_intact(r, i, "tssbad")
    smp_cpus_used(r, range(SMP_PROCS))


@test("smp-preempt", 20, "preemption on two CPUs: spinning processes keep every "
      "register, run interleaved, enter on their own stacks", cpus=SMP_CPUS)
def smp_preempt(m):
    m.cmd("set preempt on")
    r = smp_run(m, ["t_smp {nonce} spin %d" % SMP_SPIN_MS] * SMP_PROCS)
    for i in range(SMP_PROCS):
        smp_intact(r, i, "bad")
    spans = [(r.field(i, "start"), r.field(i, "end")) for i in range(SMP_PROCS)]
    if not all(s1 < e2 and s2 < e1 for (s1, e1) in spans for (s2, e2) in spans):
        fail("the spinners did not all run at the same time", ["overlapping [start,end]"],
             ["#%d [%d,%d]" % (i + 1, s, e) for i, (s, e) in enumerate(spans)])
    smp_cpus_used(r, range(SMP_PROCS))


@test("smp-overflow", 20, "a kernel stack overflow on one CPU kills only that process; "
      "the other CPU's processes finish intact", cpus=SMP_CPUS)
def smp_overflow(m):
    progs = ["t_smp {nonce} sys %d" % SMP_ROUNDS] * (SMP_PROCS - 1) + ["t_burn {nonce} 100 20"]

    def check():
        r = smp_run(m, progs)
        r.expect_kill(SMP_PROCS - 1, "kstack-guard")
        for i in range(SMP_PROCS - 1):
            smp_intact(r, i, "bad")
        smp_cpus_used(r, range(SMP_PROCS - 1))
    guard_pages_said(m, check, unmapped_too=False)	# on phases 1-3 it fails for want of CPU 1's own stack
