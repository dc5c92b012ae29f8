"""Helpers shared by the detectors: the build deadline, running build steps, caches, copying trees."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from slipway import errors, proc
from slipway.builds.base import BuildContext

# The PATH app instances get from the runtime; build results put their own bin dirs in front.
RUNTIME_PATH = "/usr/local/bin:/usr/bin:/bin"
TAIL_LINES = 25


def start_clock(ctx: BuildContext) -> None:
    if ctx.deadline is None:
        ctx.deadline = time.monotonic() + ctx.timeout


def remaining(ctx: BuildContext) -> float:
    start_clock(ctx)
    assert ctx.deadline is not None
    left = ctx.deadline - time.monotonic()
    if left <= 0:
        raise errors.BuildError(f"build timed out after {ctx.timeout:g}s")
    return left


def build_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for build subprocesses: the server's, minus Slipway's own settings and secrets
    (the app's build scripts are untrusted code), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.pop("VIRTUAL_ENV", None)  # the control plane's venv is not the app's
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


_ERROR_LINE_RE = re.compile(r"\berror\b|ERR!|^fatal:", re.IGNORECASE)
KEY_LINES = 8
# the tool's own prefix on an error line (`npm error`, `npm ERR!`, pip's `ERROR:`), to judge what follows it
_ERROR_PREFIX_RE = re.compile(r"^\s*(?:npm\s+(?:error|ERR!)|ERROR:|error:|fatal:)\s*", re.IGNORECASE)


def cause(key_lines: Sequence[str]) -> str:
    """The error line that says what went wrong: npm starts with `npm error code EUSAGE` and an empty
    `npm error`, and gives the cause a line or two later, so headers of fewer than three words are passed over."""
    lines = [line.strip() for line in key_lines if line.strip()]
    for line in lines:
        if len(_ERROR_PREFIX_RE.sub("", line).split()) >= 3:
            return line
    return lines[0] if lines else ""


def run(ctx: BuildContext, args: Sequence[str | Path], *, what: str, cwd: Path,
        env: Mapping[str, str]) -> proc.Result:
    """Run one build step, streaming its output to ctx.log; BuildError with the output tail on failure.

    The error message holds the first error-looking lines (npm and pip print the cause first and
    pages of help after it) and the last lines of output."""
    key_lines: list[str] = []

    def on_line(line: str) -> None:
        if len(key_lines) < KEY_LINES and line.strip() and _ERROR_LINE_RE.search(line):
            key_lines.append(line)
        ctx.log(line)

    argv = [str(a) for a in args]
    box = ctx.sandbox
    if box is not None and ctx.app and box.isolation.isolated:
        # the app's own code (install scripts, setup.py, the build command): in its sandbox, where only
        # the build dir and the app's own cache are there (and writable)
        box.prepare(ctx.app)
        env = {**env, "HOME": str(box.app_home(ctx.app))}
        argv = box.wrap(argv, app=ctx.app, cwd=cwd, rw=[ctx.artifact_dir, ctx.cache_dir, box.app_home(ctx.app)])
    result = proc.run(argv, cwd=cwd, env=env, timeout=remaining(ctx), on_line=on_line, tail_lines=TAIL_LINES)
    if result.timed_out:
        raise errors.BuildError(f"{what} timed out (build timeout {ctx.timeout:g}s)",
                                detail={"tail": result.tail})
    if not result.ok:
        # one line: the first error-looking line is the cause; the output goes to the deploy's log tail
        why = cause(key_lines)
        raise errors.BuildError(f"{what} failed (exit status {result.returncode})" + (f": {why}" if why else ""),
                                detail={"tail": result.tail, "errors": key_lines})
    return result


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:24]


def tree_digest(root: Path) -> str:
    """A digest of every file under root (paths, modes, contents; symlink targets), .git excluded."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            h.update(rel.encode() + b"\0")
            if path.is_symlink():
                h.update(b"L" + os.readlink(path).encode() + b"\0")
            elif path.is_file():
                h.update(b"F" + str(os.stat(path).st_mode & 0o111).encode())
                with path.open("rb") as f:
                    for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                        h.update(chunk)
    return h.hexdigest()[:24]


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (two builds filling the same cache entry wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path, *, hardlink: bool = False, skip_git: bool = False) -> None:
    """Copy src into dst (dst may exist), keeping symlinks as symlinks. With hardlink=True files are
    hard-linked where the filesystem allows (fast, no extra space) and copied otherwise."""
    ignore = shutil.ignore_patterns(".git") if skip_git else None
    shutil.copytree(src, dst, symlinks=True, ignore=ignore, dirs_exist_ok=True,
                    copy_function=_link_or_copy if hardlink else shutil.copy2)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
