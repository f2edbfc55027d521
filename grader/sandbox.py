"""sandbox — build student sources and run their kernels as an unprivileged user.

When the grader runs as root (Gradescope's run_autograder does), each submission being
graded gets a user of its own for the time it is graded: stacklabs-sandbox, and
stacklabs-sandbox1, -2, ... when submissions are graded at once (created with useradd
when missing).  Its `make` and its QEMUs run as that user (util-linux setpriv), with a
minimal environment, in a work directory that only it and the grader can reach (under
a 0711 top directory, so other submissions' directories cannot be listed).  The
grader's own files that the user must not read - the hidden tests, the output
directory, the logs, the submissions - are made unreadable to others (chmod go-rwx)
by protect(); the key never exists as a file while student code builds or runs.  So a
source that names an instructor file by absolute path (#include, nasm %include or
incbin) fails to build with "Permission denied" and reveals nothing of it.  Before a
submission's results are written, every process of its user is killed (by uid).

What the user can read: the compiled test programs that go into its kernel's initrd
(the kernel sees them anyway), world-readable system files, and the grader's public
tree.  Without root (an instructor's laptop), the sandbox is off and the grader says
so; STACKLABS_SANDBOX=off turns it off as root too.

Python 3 standard library only; nothing happens on import.
"""

import fcntl
import os
import pwd
import queue
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

BASE_NAME = "stacklabs-sandbox"
# At most this many sandbox users (graders and submissions graded at once).
MAX_USERS = 16
# Their lock files: a user is held by the grader process that locks its file.
LOCK_DIR = os.path.join(tempfile.gettempdir(), "stacklabs-sandbox")
# The environment of everything run in the sandbox.
PATH = "/usr/local/bin:/usr/bin:/bin"

_pool = None
_pool_lock = threading.Lock()
_made = []


def why_off():
    """None if the sandbox can be used, else why not (a sentence)."""
    if os.environ.get("STACKLABS_SANDBOX") == "off":
        return "the sandbox is off (STACKLABS_SANDBOX=off)"
    if os.geteuid() != 0:
        return ("the sandbox is off (not root): student code is built and run as %s"
                % pwd.getpwuid(os.geteuid()).pw_name)
    if not shutil.which("setpriv") or not shutil.which("useradd"):
        return "the sandbox is off: setpriv or useradd is missing"
    return None


class User:
    """One sandbox user and its work directory for one submission."""

    def __init__(self, name):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                            "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group",
                            name], check=True, capture_output=True)
            pw = pwd.getpwnam(name)
        self.name = name
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.work = None

    def prefix(self):
        """setpriv options that make a command run as this user."""
        return ["--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups"]

    def env(self):
        return {"PATH": PATH, "HOME": "/nonexistent", "LANG": "C", "LC_ALL": "C",
                "TMPDIR": os.path.join(self.work, "tmp") if self.work else "/tmp"}

    def begin(self, top):
        """A fresh work directory for one submission under top (0711, root's): the
        user owns it; returns its path."""
        os.makedirs(top, exist_ok=True)
        os.chmod(top, 0o711)
        self.work = tempfile.mkdtemp(prefix="sb-%d-" % os.getpid(), dir=top)
        os.makedirs(os.path.join(self.work, "tmp"))
        give(self.work, self)
        os.chmod(self.work, 0o700)
        return self.work

    def pids(self):
        """Pids of every live process of this user (zombies, already dead, aside)."""
        out = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.stat("/proc/" + p).st_uid != self.uid:
                        continue
                    with open("/proc/%s/stat" % p) as f:
                        if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                            out.append(int(p))
                except (OSError, IndexError):
                    pass
        return out

    def kill_all(self, timeout=5.0, keep=()):
        """SIGKILL every process of this user until none is left, but those that
        descend from a pid in keep (the grader's own running QEMUs).  Returns how
        many were killed."""
        n = 0
        deadline = time.monotonic() + timeout
        while True:
            pids = [p for p in self.pids() if not _descends(p, set(keep))]
            if not pids or time.monotonic() > deadline:
                return n
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                    n += 1
                except OSError:
                    pass
            time.sleep(0.05)

    def end(self):
        """Kill the user's processes and remove its work directory."""
        self.kill_all()
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
            self.work = None


def _descends(pid, keep):
    """Whether pid or one of its ancestors is in keep."""
    for _ in range(64):
        if pid in keep:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid <= 1:
            return False
    return False


def give(path, user):
    """chown -R path to user."""
    for d, dirs, files in os.walk(path):
        os.chown(d, user.uid, user.gid)
        for f in files:
            os.chown(os.path.join(d, f), user.uid, user.gid, follow_symlinks=False)


def _claim(block=False):
    """A sandbox user no other grader on this machine holds: the first of
    stacklabs-sandbox, stacklabs-sandbox1, ... whose lock file (in LOCK_DIR) this
    process can lock.  block: wait for the first one instead.  None if all are held."""
    os.makedirs(LOCK_DIR, exist_ok=True)
    os.chmod(LOCK_DIR, 0o711)
    names = [BASE_NAME + ("" if i == 0 else str(i)) for i in range(MAX_USERS)]
    names = [n for n in names if not any(u.name == n for u in _made)]
    for wait in (False, True) if block else (False,):
        for name in names[:1] if wait else names:
            fd = os.open(os.path.join(LOCK_DIR, name + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                continue
            u = User(name)
            u.lock = fd             # held for as long as this grader lives
            return u
    return None


def acquire():
    """A sandbox user for one submission (waits while all are busy), or None when the
    sandbox is off.  Each is this grader's alone: graders running at once on one
    machine never share one (so killing a user's processes never hits another's).
    Give it back with release()."""
    global _pool
    if why_off():
        return None
    with _pool_lock:
        if _pool is None:
            _pool = queue.Queue()
        if _pool.empty() and len(_made) < MAX_USERS:
            u = _claim(block=not _made)
            if u is not None:
                _made.append(u)
                _pool.put(u)
    return _pool.get()


def release(user):
    if user is not None:
        user.end()
        _pool.put(user)


def kill_everything():
    """Kill the processes of every sandbox user this grader used (at exit, on a signal)."""
    for u in list(_made):
        u.kill_all(timeout=1.0)


def protect_top(path):
    """Make directory path itself unreadable and untraversable by others (its
    contents keep their modes), when the sandbox is on."""
    if why_off() or not path or not os.path.isdir(path):
        return
    os.chmod(path, os.stat(path).st_mode & ~0o077)


def protect(*paths):
    """Make each existing path unreadable to other users (chmod go-rwx, recursively
    for directories) when the sandbox is on."""
    if why_off():
        return
    for top in paths:
        if not top or not os.path.exists(top):
            continue
        for d, dirs, files in os.walk(top):
            for p in [d] + [os.path.join(d, f) for f in files]:
                try:
                    st = os.lstat(p)
                    if not stat.S_ISLNK(st.st_mode):
                        os.chmod(p, st.st_mode & ~0o077)
                except OSError:
                    pass
