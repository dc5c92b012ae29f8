"""Paths that come from a repository or from app config never leave the checkout.

A repository is untrusted input: a committed `Dockerfile`, `Procfile`, `slipway.toml`, `requirements.txt` or
static root can be a symlink to a host file (`/…/secret.key`), and a build would then read (and print) it.
Two rules, applied everywhere a build touches the checkout:

- `inside(root, relative)` is THE way to turn a repository path into a file path: it resolves symlinks and
  `..` and refuses anything that lands outside `root`, with a message that names the path, never its content;
- `drop_escaping_links(root)` removes every symlink under `root` that resolves outside it (absolute targets,
  `..` chains, links to links): it runs on the fetched checkout and on a built artifact, so nothing outside
  the checkout survives into what Caddy's file_server serves or what a docker build sends to the engine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from slipway import errors


class OutsideCheckout(errors.BuildError):
    """A repository or app-config path that resolves outside the checkout (a symlink or '..')."""


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(path))


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def inside(root: Path, relative: str | Path, *, what: str = "path") -> Path:
    """`root/relative`, resolved, if it stays inside `root` (it need not exist). Raises OutsideCheckout.

    The returned path is the resolved one: open that, not `root/relative`, so that a link swapped in
    between the check and the use cannot redirect the read (the checkout is ours while a build runs)."""
    text = str(relative)
    if not text or os.path.isabs(text) or "\0" in text:
        raise OutsideCheckout(f"{what} {text!r} must be a relative path inside the repository")
    real_root = _real(root)
    target = _real(real_root / text)
    if not _within(target, real_root):
        raise OutsideCheckout(
            f"{what} {text!r} resolves outside the repository (a symlink or '..' pointing out of it): "
            "Slipway only reads files inside the checkout")
    return target


def is_file(root: Path, relative: str | Path, *, what: str = "path") -> Path | None:
    """The resolved file if `relative` is a regular file inside `root`, None when there is none there;
    OutsideCheckout when the path (or a link on it) leads outside, whether or not something is there."""
    target = inside(root, relative, what=what)
    return target if target.is_file() else None


# Config files a build reads (Procfile, package.json, pyproject.toml, .python-version…) are small; a
# repository that commits a huge one must not make the control plane read it all into memory.
MAX_CONFIG_BYTES = 1 << 20


def read_text(root: Path, relative: str | Path, *, what: str | None = None,
              max_bytes: int = MAX_CONFIG_BYTES) -> str | None:
    """The UTF-8 text of a repository file, None if there is none (OutsideCheckout / BuildError otherwise).
    Errors never quote the content."""
    name = what or str(relative)
    path = is_file(root, relative, what=name)
    if path is None:
        return None
    with path.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise errors.BuildError(f"{name} is larger than {max_bytes} bytes: Slipway does not read it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.BuildError(f"{name} is not valid UTF-8 (byte {exc.start})") from exc


def drop_escaping_links(root: Path, log: Callable[[str], None] | None = None) -> list[str]:
    """Remove every symlink under `root` that resolves outside it; returns their relative paths.

    Links inside the tree (e.g. node_modules/.bin/x -> ../x/cli.js) stay. Dangling links that would point
    outside once their target exists are dropped too: realpath follows a dangling chain as far as it goes."""
    real_root = _real(root)
    dropped: list[str] = []
    todo = [str(real_root)]
    while todo:  # scandir: the entry type comes with the listing, no stat per file (node_modules is big)
        with os.scandir(todo.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    if _within(_real(entry.path), real_root):
                        continue
                    os.unlink(entry.path)
                    rel = os.path.relpath(entry.path, real_root)
                    dropped.append(rel)
                    if log is not None:
                        log(f"==> removed the symlink {rel}: it points outside the repository")
                elif entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
    return dropped
