"""Django apps: `manage.py collectstatic --noinput` at build time, as Heroku does.

A Django app with manifest static storage (WhiteNoise's CompressedManifestStaticFilesStorage) answers
500 on every page that names a static file until collectstatic has written the manifest, so the build
runs it when the app has a manage.py and Django is installed in its environment. DISABLE_COLLECTSTATIC=1
in the app's env skips it. It is the app's own code (settings.py is imported): it runs in the build
sandbox with the app's env vars, and a failure fails the build with a one-line reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from slipway import errors
from slipway.builds import paths, steps
from slipway.builds.base import BuildContext

MANAGE_PY = "manage.py"
SKIP_VARIABLE = "DISABLE_COLLECTSTATIC"
REASON_MAX = 200  # a deploy's reason is one line of at most this
_EXCEPTION_PATH_RE = re.compile(r"^(?:[a-z_][a-z0-9_]*\.)+(?=[A-Z]\w*(?:Error|Exception|Configured|Exit)?:)")


def has_django(venv: Path) -> bool:
    """Django is installed in the venv (looked up on disk: importing it would run the app's packages)."""
    return any(p.is_file() for p in venv.glob("lib/python3*/site-packages/django/__init__.py"))


def collectstatic(ctx: BuildContext, *, venv: Path, env: dict[str, str]) -> None:
    app = ctx.artifact_dir
    if paths.is_file(app, MANAGE_PY) is None or not has_django(venv):
        return
    if ctx.app_env.get(SKIP_VARIABLE, "").strip() not in ("", "0"):
        ctx.log(f"==> {SKIP_VARIABLE} is set: manage.py collectstatic skipped")
        return
    ctx.log("==> Django app: running python manage.py collectstatic --noinput")
    run_env = steps.build_env({**ctx.app_env, **env})
    try:
        steps.run(ctx, [str(venv / "bin" / "python"), MANAGE_PY, "collectstatic", "--noinput"],
                  what="collectstatic", cwd=app, env=run_env)
    except errors.BuildError as exc:
        head, tail = "manage.py collectstatic failed: ", f" — fix it, or set {SKIP_VARIABLE}=1 to skip it"
        why = last_error(exc, room=REASON_MAX - len(head) - len(tail))
        raise errors.BuildError(head + why + tail, detail=exc.detail) from exc


def last_error(exc: errors.BuildError, *, room: int) -> str:
    """The line of a failed step's output that says why: Python's last line (`ImproperlyConfigured: …`,
    without the exception's module path), cut to `room` characters."""
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    tail = [line.strip() for line in detail.get("tail", []) if line.strip()]
    line = tail[-1] if tail else exc.message.splitlines()[0]
    line = _EXCEPTION_PATH_RE.sub("", line)
    return line if len(line) <= room else line[:room - 1] + "…"
