"""The control plane's own files: $SLIPWAY_HOME and its directories 0700, its files 0600.

New files are created that way (umask 077 in `slipway server` / `slipway worker`, explicit modes where
it matters); `secure_home` fixes a home made by an older version, at every start. It walks the control
plane's own state only (not artifacts, caches or app homes: those belong to the apps, see sandbox).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

# directories of the control plane whose every file is private (instances: spec, state, logs)
PRIVATE_TREES = ("instances", "caddy", "git", "logs", "repos")


def secure_home(home: Path) -> None:
    home = Path(home)
    if not home.is_dir():
        return
    _chmod(home, 0o700)
    for entry in home.iterdir():
        if entry.is_symlink():
            continue
        if entry.is_dir():
            _chmod(entry, 0o700)
        else:
            _chmod(entry, 0o600)  # slipway.db (+ -wal, -shm), secret.key, server logs, locks
    for tree in PRIVATE_TREES:
        root = home / tree
        if root.is_dir() and not root.is_symlink():
            _private_tree(root)
    scrub_spec_files(home / "instances")


def _private_tree(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            _chmod(Path(dirpath) / name, 0o700)
        for name in filenames:
            path = Path(dirpath) / name
            with contextlib.suppress(OSError):
                mode = path.lstat().st_mode
                if stat.S_ISREG(mode) and stat.S_IMODE(mode) & 0o077:
                    # keep the owner's bits (a git hook stays executable), drop group and others
                    os.chmod(path, stat.S_IMODE(mode) & 0o700)


def scrub_spec_files(instances: Path) -> None:
    """Instance spec files written by older versions held the app's whole environment: drop it.

    The running supervisors read it at their start already; a restart hands it over in memory."""
    if not instances.is_dir():
        return
    for spec in instances.glob("*/spec.json"):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            data = json.loads(spec.read_text(encoding="utf-8"))
            if data["instance"].get("env"):
                data["instance"]["env"] = {}
                tmp = spec.with_name(".spec.json.scrub")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(data, indent=2))
                os.replace(tmp, spec)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        if stat.S_IMODE(path.lstat().st_mode) != mode:
            os.chmod(path, mode)
