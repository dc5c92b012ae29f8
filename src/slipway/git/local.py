"""Local git sources (an absolute path or a file:// URL): who may use them, and never inside $SLIPWAY_HOME.

A local path reads whatever repository the server can read: another app's `repos/<app>.git`, another team's
code. So a local source is refused when it resolves (symlinks included, and through a `.git` file, a
worktree's `commondir` or an object store's `alternates`) inside Slipway's data directory; it is allowed only
to team Owners and Admins unless SLIPWAY_LOCAL_GIT says otherwise ('none': nobody; 'all': anyone who may edit
the app). The check runs when the source is set (API, CLI, dashboard) and again before every fetch, since the
path can be swapped for a symlink later.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from slipway import errors
from slipway.auth.policy import Access
from slipway.config import Settings


def is_local(url: str) -> bool:
    return url.startswith("/") or url[:7].lower() == "file://"


def local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path) if url[:7].lower() == "file://" else url)


def check_source(url: str, *, settings: Settings, privileged: bool | None) -> None:
    """Raise Forbidden/Invalid if `url` is a local source this caller may not use.

    privileged: whether the caller is an Owner or Admin of the app's team; None at fetch time (no caller:
    the role was checked when the source was set)."""
    if not url or not is_local(url):
        return
    mode = settings.local_git
    if mode == "none":
        raise errors.Forbidden("local git sources (paths and file:// URLs) are turned off on this server "
                               "(SLIPWAY_LOCAL_GIT=none): use an https://, ssh:// or git:// URL, or git push")
    if mode == "admins" and privileged is False:
        raise errors.Forbidden("only an Owner or Admin of the team may use a local git source (a path or "
                               "file:// URL); use an https://, ssh:// or git:// URL, or git push")
    home = Path(os.path.realpath(settings.home))
    for place in _places(local_path(url)):
        if place == home or place.is_relative_to(home):
            raise errors.Invalid("the git source is inside Slipway's data directory (SLIPWAY_HOME), where apps' "
                                 "repositories and secrets live: it cannot be used as an app's source")


def _places(path: Path) -> list[Path]:
    """Every directory git would read for the repository at `path`, resolved."""
    real = Path(os.path.realpath(path))
    places = [real]
    gitdirs = [real]
    dotgit = real / ".git"
    if dotgit.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = _small(dotgit)
        if text.startswith("gitdir:"):
            target = Path(os.path.realpath(real / text[len("gitdir:"):].strip()))
            places.append(target)
            gitdirs.append(target)
    elif dotgit.is_dir():
        gitdirs.append(Path(os.path.realpath(dotgit)))
    for gitdir in list(gitdirs):
        common = gitdir / "commondir"
        if common.is_file():
            target = Path(os.path.realpath(gitdir / _small(common).strip()))
            places.append(target)
            gitdirs.append(target)
    for gitdir in gitdirs:
        alternates = gitdir / "objects" / "info" / "alternates"
        if alternates.is_file():
            for line in _small(alternates).splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    places.append(Path(os.path.realpath(gitdir / "objects" / line)))
    return places


def _small(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return f.read(64 * 1024).decode("utf-8", "replace")
    except OSError:
        return ""


def privileged(access: Access, project_id: int | None) -> bool:
    """An Owner or Admin of the team (or project) the app belongs to, through a credential that may act so."""
    return access.can_project("app:create", project_id)


def policy(settings: Settings, access: Access, project_id: int | None) -> Callable[[str], None]:
    """The check a route passes to apps.service.create/update for the git source a caller sets."""
    allowed = privileged(access, project_id)
    return lambda url: check_source(url, settings=settings, privileged=allowed)
