"""Each app's bare repository on the Slipway host: what `git push slipway main` writes into.

Pushes to the deploy branch go through git's proc-receive hook (git ≥ 2.29): by the time it runs, the pushed
objects are in the repository (a worker process can fetch the commit), but the branch has not moved yet. The
hook deploys the commit and only then lets git update the branch, or rejects the push with the deploy's
reason — so `git push` exits non-zero when the deploy fails, and the branch always names what went live.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from pathlib import Path

from slipway import proc
from slipway.apps.validation import APP_NAME
from slipway.config import Settings
from slipway.errors import Invalid, Unavailable
from slipway.git.service import git_env

MIN_GIT = (2, 29)  # receive.procReceiveRefs and the proc-receive hook


def repo_path(settings: Settings, app_name: str) -> Path:
    if not APP_NAME.match(app_name):
        raise Invalid(f"invalid app name {app_name!r}")
    return settings.home / "repos" / f"{app_name}.git"


def hook_script() -> str:
    # the interpreter that runs Slipway, so the hook imports this very installation
    return f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m slipway.cli.main git-hook\n"


def ensure(settings: Settings, app_name: str, branch: str) -> Path:
    """Create the app's bare repository (idempotent) and (re)write its hook and settings."""
    git = shutil.which("git")
    if git is None:
        raise Unavailable("git is not installed on this server")
    _check_version(git)
    path = repo_path(settings, app_name)
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(git, ["init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)])
    for key, value in (("receive.procReceiveRefs", "refs/heads"),  # every branch push asks the hook
                       ("receive.denyDeletes", "false"),  # the hook decides (it keeps the deploy branch)
                       ("receive.denyNonFastForwards", "false"),  # `git push -f` of an older commit deploys it
                       ("core.logAllRefUpdates", "true"),  # a reflog: what was deployed when
                       ("receive.maxInputSize", str(settings.git_max_push_mb * 1024 * 1024))):  # a disk-filler
        _git(git, ["--git-dir", str(path), "config", key, value])
    hook = path / "hooks" / "proc-receive"
    hook.parent.mkdir(exist_ok=True)
    script = hook_script()
    if not hook.exists() or hook.read_text() != script:
        tmp = hook.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(hook)
    return path


def remove(settings: Settings, app_name: str) -> None:
    shutil.rmtree(repo_path(settings, app_name), ignore_errors=True)


def _git(git: str, args: list[str]) -> str:
    result = proc.run([git, *args], env=git_env(), timeout=30, tail_lines=20)
    if not result.ok:
        raise Unavailable(f"git {args[0]} failed: {'; '.join(result.tail[-3:]) or result.returncode}")
    return "\n".join(result.tail)


def _check_version(git: str) -> None:
    text = _git(git, ["version"])
    match = re.search(r"(\d+)\.(\d+)", text)
    if match and (int(match.group(1)), int(match.group(2))) < MIN_GIT:
        raise Unavailable(f"`git push` deploys need git {'.'.join(map(str, MIN_GIT))} or newer on the Slipway "
                          f"host (found: {text.strip()})")

