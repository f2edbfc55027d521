"""procs — the grader's child processes and its signal handling.

Every child starts in its own process group, carries MARK_VAR (so the self-test can
find leftovers) and, through util-linux's setpriv, dies with the grader even if the
grader is SIGKILLed (Linux's parent-death signal).  reap() kills a child's whole group;
kill_all() every group not reaped yet.

Nothing happens on import: main() calls install_handlers(), which makes SIGINT, SIGTERM
and SIGHUP kill every child, remove the run's scratch directories and exit (SIGINT
first calls an on_interrupt hook, so a batch can write what it finished), whether or
not the caller ignored SIGINT (nohup, `&` in a script).

Python 3 standard library only.
"""

import atexit
import os
import shutil
import signal
import subprocess
import threading

from verdict import Verdict

# Every process the grader starts carries this variable (the grader's pid).
MARK_VAR = "STACKLABS_GRADER_RUN"

_live = {}
_live_lock = threading.Lock()
_stopping = threading.Event()
_remove = []
_hooks = []

# util-linux's setpriv: a parent-death signal without preexec_fn (unsafe with threads).
_SETPRIV = shutil.which("setpriv")

# The only variables of the grader's environment a sandboxed command gets: the
# self-test's fake QEMU, its timeout scale and its fixed key (never set for real).
PASS_TO_SANDBOX = ("STACKLABS_QEMU", "STACKLABS_TIMEOUT_SCALE", "STACKLABS_TEST_KEY",
                   "STACKLABS_SELFTEST")


def spawn(argv, user=None, **kw):
    """Popen argv in a new process group that kill_all() knows about.  user: a
    sandbox.User to run it as, with that user's minimal environment.  Raises
    Verdict("grader") once the grader is stopping."""
    if _stopping.is_set():
        raise Verdict("grader", "the grader is stopping")
    env = dict(kw.pop("env", None) or os.environ)
    if user is not None:
        env = dict(user.env(), **{k: v for k, v in env.items() if k in PASS_TO_SANDBOX})
    env[MARK_VAR] = str(os.getpid())
    if user is not None:
        argv = [_SETPRIV, "--pdeathsig", "KILL"] + user.prefix() + ["--"] + list(argv)
    elif _SETPRIV:
        argv = [_SETPRIV, "--pdeathsig", "KILL", "--"] + list(argv)
    with _live_lock:
        p = subprocess.Popen(argv, start_new_session=True, env=env, **kw)
        _live[p.pid] = p
    if _stopping.is_set():      # a signal came while it was starting
        kill_all()
    return p


def live_pids():
    """Pids of the children started and not reaped yet."""
    with _live_lock:
        return set(_live)


def reap(p):
    """Kill p's process group (whatever is still in it) and collect p."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with _live_lock:
        _live.pop(p.pid, None)


def stopping():
    """True once the grader was told to stop (start nothing more)."""
    return _stopping.is_set()


def stop_all():
    """Start nothing more, and kill everything started: for interrupts."""
    _stopping.set()
    kill_all()


def kill_all():
    """Kill every process group the grader started and has not reaped yet."""
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def remove_at_exit(path):
    """Remove directory path when the grader ends (normally or by a signal)."""
    _remove.append(path)


def on_interrupt(fn):
    """Call fn() (after every child is killed, before exiting) when a signal stops
    the grader: e.g. to write the CSV of what finished."""
    _hooks.append(fn)


def prune_dead(directory, prefix):
    """Remove directory/<prefix><pid>... left by graders that were killed."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split("-")[0]
        if name.startswith(prefix) and pid.isdigit() and not os.path.exists("/proc/" + pid):
            path = os.path.join(directory, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass


def cleanup():
    """Kill every child and remove the scratch directories (idempotent)."""
    kill_all()
    for d in _remove:
        shutil.rmtree(d, ignore_errors=True)


def _on_signal(signum, frame):
    stop_all()
    for fn in _hooks:
        try:
            fn()
        except Exception:       # a failing hook must not keep QEMUs alive
            pass
    cleanup()
    os._exit(128 + signum)


def install_handlers():
    """For main(): on SIGINT/SIGTERM/SIGHUP kill every child, run the on_interrupt
    hooks, clean up and exit 128+signal; at a normal exit, clean up.  SIGINT is
    handled even when the caller ignored it (nohup), as the README promises."""
    atexit.register(cleanup)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def run_cmd(argv, timeout, cwd=None, env=None, user=None):
    """Run argv to completion (killed after timeout), as sandbox user if given.
    Returns (status, output text); status None means it timed out."""
    p = spawn(argv, user=user, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None, "(killed after %d s)" % timeout
    finally:
        reap(p)
