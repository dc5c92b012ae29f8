"""The sandbox for everything that comes from a repository: build steps, release commands, instances,
one-offs and terminals on the local runtime.

Decided once per control plane (`detect`), from what the host allows:

- users:       bubblewrap namespaces (mount, PID, IPC, UTS) and, because Slipway runs as root, each app
               runs as its own system user and group (created once, removed with the app), no
               capabilities, no-new-privs;
- namespaces:  the same namespaces (inside an unprivileged user namespace) but every app runs as the
               Slipway user: what a non-root install gets (also `SLIPWAY_SANDBOX=namespaces`);
- unisolated:  no bubblewrap or the kernel refuses the namespaces, or `SLIPWAY_SANDBOX=off`: apps run
               as Slipway itself. Loud (start-up warning, /api/v1/health, a dashboard banner) and it
               refuses what needs a boundary (fork previews, a second team).

Inside the sandbox the file system is the host's, read-only, with these hidden under empty tmpfs:
$SLIPWAY_HOME (then only the app's own release, read-only, and its own writable dirs are bound back),
/tmp and /var/tmp (private), /run (every daemon socket: the control plane's, podman's, postgres'),
/root and the Slipway user's home. Sockets are hidden with tmpfs rather than a read-only bind on
purpose: connect() to a unix socket works through a read-only mount. /proc is the sandbox's own (a
new PID namespace: no other process, no other environ), /dev a minimal one. The network namespace
stays shared: apps listen on 127.0.0.1:$PORT for the router.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import hashlib
import logging
import os
import pwd
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

MODES = ("users", "namespaces", "unisolated")
SETTING_VALUES = ("auto", "namespaces", "off")
USER_PREFIX = "slw-"
USER_COMMENT = "slipway app"  # in the GECOS field: how Slipway finds the users it created
# paths hidden from every sandbox besides $SLIPWAY_HOME (those that exist are covered with a tmpfs)
HIDDEN = ("/tmp", "/var/tmp", "/run", "/var/run", "/root", "/etc/slipway")
STICKY = ("/tmp", "/var/tmp")  # covered with a fresh, world-writable tmpfs: the sandbox's private /tmp


@dataclass(frozen=True)
class Isolation:
    mode: str  # users | namespaces | unisolated
    reason: str

    @property
    def isolated(self) -> bool:
        return self.mode != "unisolated"

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "reason": self.reason, "isolated": self.isolated}


@dataclass(frozen=True)
class AppUser:
    name: str
    uid: int
    gid: int


def _probe(bwrap: str, extra: Sequence[str]) -> str | None:
    """Run a trivial sandbox; None when it works, else why not (the host's own words)."""
    argv = [bwrap, *extra, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--ro-bind", "/", "/",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--die-with-parent", "--", "true"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} cannot run: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {(done.stderr or done.stdout).strip()[:300]}"
    return None


@functools.lru_cache(maxsize=8)
def detect(setting: str = "auto") -> Isolation:
    """The strongest isolation this host allows (runs `bwrap … true` once per process and setting)."""
    if setting == "off":
        return Isolation("unisolated", "SLIPWAY_SANDBOX=off")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Isolation("unisolated", "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    root = os.geteuid() == 0
    want_users = root and setting == "auto"
    if want_users:
        if shutil.which("setpriv") is None or not (shutil.which("useradd") and shutil.which("userdel")):
            want_users = False
    problem = _probe(bwrap, [] if want_users else ["--unshare-user"])
    if problem is not None:
        return Isolation("unisolated", problem)
    if want_users:
        return Isolation("users", "bubblewrap namespaces; each app runs as its own system user")
    why = ("SLIPWAY_SANDBOX=namespaces" if setting == "namespaces"
           else "Slipway does not run as root" if not root else "setpriv or useradd is missing")
    return Isolation("namespaces", f"bubblewrap namespaces; apps share Slipway's user ({why})")


def user_name(home: Path, app: str) -> str:
    """A short, stable system user name for an app of this install (user names are limited to 32)."""
    digest = hashlib.sha256(f"{Path(home).resolve()}\0{app}".encode()).hexdigest()[:12]
    return f"{USER_PREFIX}{digest}"


@dataclass
class Sandbox:
    """How this control plane runs an app's code. One per Platform; cheap to use per start."""

    isolation: Isolation
    home: Path
    bwrap: str = field(default_factory=lambda: shutil.which("bwrap") or "bwrap")
    setpriv: str = field(default_factory=lambda: shutil.which("setpriv") or "setpriv")
    hidden: tuple[str, ...] = HIDDEN
    # interpreter installs the admin configured (SLIPWAY_PYTHONS / SLIPWAY_NODES, resolved): bound back
    # read-only when a hidden path covers them (a pyenv under /root), or no app could run on them
    tool_roots: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(os.path.abspath(self.home))
        home = os.path.realpath(self.home)
        kept = []
        for root in self.tool_roots:
            if _under(root, home) or _under(home, root):
                # binding it would show an app the control plane's files (or other apps')
                log.warning("interpreter folder %s is not made visible to apps: it overlaps SLIPWAY_HOME", root)
            else:
                kept.append(root)
        self.tool_roots = tuple(kept)

    # ---- paths an app owns -----------------------------------------------------------------------

    def app_home(self, app: str) -> Path:
        return self.home / "homes" / app

    def app_cache(self, app: str) -> Path:
        """Per app, on purpose: a shared dependency cache would let one app's build poison another's."""
        return self.home / "cache" / "apps" / app

    # ---- users -----------------------------------------------------------------------------------

    def user(self, app: str) -> AppUser | None:
        """The app's own system user in users mode (created on first use, then only looked up)."""
        if self.isolation.mode != "users":
            return None
        # looked up every time (a read of /etc/passwd, microseconds): another process of this install may
        # have deleted and re-created it with the app, and a stale uid would run the app as nobody known
        name = user_name(self.home, app)
        found = _lookup(name)
        if found is not None:
            return found
        with self._lock:
            return _lookup(name) or self._create_user(name, app)

    def _create_user(self, name: str, app: str) -> AppUser:
        comment = f"{USER_COMMENT} {app} {_gecos(str(self.home))}"
        argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--comment", comment, name]
        last = ""
        for attempt in range(20):  # /etc/passwd is locked while another useradd runs: try again
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                                  check=False)
            found = _lookup(name)
            if found is not None:
                return found
            last = (done.stderr or done.stdout).strip()
            time.sleep(0.05 * (attempt + 1))
        from slipway.errors import Unavailable

        raise Unavailable(f"cannot create the system user of {app}: {last}")

    def remove_user(self, app: str) -> None:
        """Delete the app's system user and group (the app is being deleted)."""
        if os.geteuid() != 0:
            return
        _delete_user(user_name(self.home, app))

    def remove_all_users(self) -> int:
        """Delete every app user created for this home (tests; uninstall). Returns how many."""
        marker = f"{USER_COMMENT} "
        suffix = f" {_gecos(str(self.home))}"
        gone = 0
        for entry in pwd.getpwall():
            if (entry.pw_name.startswith(USER_PREFIX) and entry.pw_gecos.startswith(marker)
                    and entry.pw_gecos.endswith(suffix)):
                _delete_user(entry.pw_name)
                gone += 1
        return gone

    def give(self, app: str, *paths: Path, recursive: bool = False) -> None:
        """Make `paths` the app's own (users mode): what its build writes, what its instances read."""
        user = self.user(app)
        if user is None:
            return
        for path in paths:
            _chown(path, user)
            if recursive and path.is_dir() and not path.is_symlink():
                for dirpath, dirnames, filenames in os.walk(path):
                    for name in (*dirnames, *filenames):
                        _chown(Path(dirpath) / name, user)

    def prepare(self, app: str) -> None:
        """The app's writable home and its cache exist and are its own (cheap: call per start)."""
        for path in (self.app_home(app), self.app_cache(app)):
            path.mkdir(parents=True, exist_ok=True)
        self.give(app, self.app_home(app), self.app_cache(app))

    # ---- argv ------------------------------------------------------------------------------------

    def wrap(self, argv: Sequence[str], *, app: str, cwd: str | Path, ro: Iterable[str | Path] = (),
             rw: Iterable[str | Path] = (), die_with_parent: bool = True) -> list[str]:
        """`argv` as it must run for `app`: bwrap … -- setpriv … -- argv (unchanged when unisolated)."""
        args = [str(a) for a in argv]
        if not self.isolation.isolated:
            return args
        user = self.user(app)
        hidden = [*self.hidden, *_slipway_user_home()]
        return build_argv(args, bwrap=self.bwrap, setpriv=self.setpriv, home=self.home, cwd=str(cwd),
                          hidden=hidden, ro=[*_interpreter(hidden), *_covered(self.tool_roots, hidden),
                                             *(str(p) for p in ro)],
                          rw=[str(p) for p in rw], user=user,
                          user_namespace=self.isolation.mode == "namespaces", die_with_parent=die_with_parent)

    def runtime_paths(self, app: str, cwd: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
        """(read-only, writable) paths of a running release: the release and the app's cache read-only
        (its venv, node_modules), its home writable."""
        ro = [cwd, str(self.app_cache(app))]
        venv = env.get("VIRTUAL_ENV", "")
        legacy = str(self.home / "cache" / "python")
        if venv.startswith(legacy + os.sep):
            # built before caches were per app: its venv is in the old shared cache (packages only)
            ro.append(legacy)
        return ro, [str(self.app_home(app))]


def build_argv(argv: Sequence[str], *, bwrap: str, setpriv: str, home: Path, cwd: str, hidden: Sequence[str],
               ro: Sequence[str], rw: Sequence[str], user: AppUser | None, user_namespace: bool,
               die_with_parent: bool) -> list[str]:
    """The sandboxed command line. Pure: unit-tested without running anything."""
    out = [bwrap, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--hostname", "app"]
    if user_namespace:
        out.append("--unshare-user")  # no capabilities inside, even when Slipway runs as root
    out += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/dev/shm"]
    covered = {os.path.normpath(p) for p in hidden if os.path.lexists(p) and not os.path.islink(p)}
    covered.add(os.path.normpath(str(home)))
    tmpfs: list[str] = []
    made: set[str] = set()
    # parents first: a tmpfs over /tmp would otherwise cover a tmpfs over /tmp/x/home made before it
    for path in sorted(covered, key=lambda p: (p.count("/"), p)):
        out += _parents(path, tmpfs, made)
        if path in STICKY:
            out += ["--perms", "1777"]  # private, but writable by the app's user (and sticky, like the host's)
        out += ["--tmpfs", path]
        tmpfs.append(path)
    for flag, paths in (("--ro-bind", ro), ("--bind", rw)):
        for path in _existing(paths):
            out += _parents(path, tmpfs, made)
            out += [flag, path, path]
    if die_with_parent:
        out.append("--die-with-parent")
    out += ["--chdir", cwd, "--"]
    if user is not None:
        out += [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return out + list(argv)


def _parents(path: str, tmpfs: Sequence[str], made: set[str]) -> list[str]:
    """--dir for the directories between the tmpfs that covers `path` and `path` itself. bubblewrap
    would otherwise make them with the modes of the host's directories ($SLIPWAY_HOME's are 0700) and
    the app's user could not reach its own release."""
    cover = max((t for t in tmpfs if path.startswith(t.rstrip("/") + "/")), key=len, default=None)
    if cover is None:
        return []
    out: list[str] = []
    parts = Path(path).relative_to(cover).parts[:-1]
    current = Path(cover)
    for part in parts:
        current = current / part
        if str(current) not in made:
            made.add(str(current))
            out += ["--perms", "0755", "--dir", str(current)]
    return out


def _existing(paths: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for path in paths:
        norm = os.path.normpath(path)
        if os.path.exists(norm) and norm not in seen:
            seen.append(norm)
    return seen


def _slipway_user_home() -> list[str]:
    try:
        home = pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return []
    return [home] if home not in ("/", "") else []


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _covered(paths: Iterable[str], hidden: Sequence[str]) -> list[str]:
    return [p for p in paths if any(_under(p, h) for h in hidden)]


def _interpreter(hidden: Sequence[str]) -> list[str]:
    """The Python that app venvs are made from by default, when it lives in a hidden directory (pyenv
    under the Slipway user's home): bound back read-only, or no Python app could start."""
    return _covered([os.path.realpath(sys.base_prefix)], hidden)


def _gecos(text: str) -> str:
    """What useradd accepts in a comment (no ':', ',' or newline)."""
    return re.sub(r"[^A-Za-z0-9/._ -]", "_", text)


def _lookup(name: str) -> AppUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return AppUser(name, entry.pw_uid, entry.pw_gid)


def _delete_user(name: str) -> None:
    user = _lookup(name)
    if user is None:
        return
    # nothing of a deleted app runs on under a uid that no longer has a name (or a later app's)
    for proc in psutil.process_iter(["uids"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if user.uid in (proc.info["uids"].real, proc.info["uids"].effective):
                proc.kill()
    for _ in range(20):
        subprocess.run(["userdel", name], stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
        if _lookup(name) is None:
            break
        time.sleep(0.05)
    with contextlib.suppress(KeyError):
        grp.getgrnam(name)
        subprocess.run(["groupdel", name], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                       check=False)


def _chown(path: Path, user: AppUser) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.lchown(path, user.uid, user.gid)


def from_settings(setting: str, home: Path, *, tool_roots: Sequence[str] = ()) -> Sandbox:
    isolation = detect(setting)
    if not isolation.isolated:
        log.warning("!!! UNISOLATED MODE: code from repositories runs as Slipway's own user, with the "
                    "control plane's files in reach (%s). Fork previews and a second team are refused.",
                    isolation.reason)
    else:
        log.info("sandbox: %s (%s)", isolation.mode, isolation.reason)
    return Sandbox(isolation, home, tool_roots=tuple(tool_roots))
