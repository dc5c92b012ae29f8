"""Detectors with nothing to install: apps that only declare processes, and static sites."""

from __future__ import annotations

from pathlib import Path

from slipway import errors
from slipway.builds import paths
from slipway.builds.base import BuildContext, BuildResult
from slipway.builds.config import load_procfile, load_slipway_toml

STATIC_ROOTS = ("", "public", "dist")  # where index.html is looked for, in this order


def declared_root(app: Path, root: str) -> Path:
    """The folder slipway.toml's `[static] root` names, resolved inside the checkout (a link or '..' out
    of it is refused) and not a hidden folder (those are never served). BuildError otherwise."""
    target = paths.inside(app, root, what="[static] root")
    if not target.is_dir():
        raise errors.BuildError(f"slipway.toml: [static] root {root!r} is not a folder of the repository "
                                "(nor made by the build): create it, or fix the path")
    # as written and as resolved (a link may name a dot-folder)
    named = [*Path(root).parts, *target.relative_to(paths.inside(app, ".")).parts]
    if any(part.startswith(".") and part not in (".", "..") for part in named):
        raise errors.BuildError(f"slipway.toml: [static] root {root!r} is a hidden folder: dotfiles and "
                                "dot-folders are never served; publish a folder whose name has no leading dot")
    return target


def static_root(app: Path) -> Path | None:
    """`[static] root` when slipway.toml declares it (None until that folder exists: a build command may
    make it), else the first of STATIC_ROOTS holding an index.html. A root (or its index.html) that links
    out of the app directory is refused: Caddy's file_server would serve whatever it points at."""
    config = load_slipway_toml(app)
    if config is not None and config.static_root:
        target = paths.inside(app, config.static_root, what="[static] root")
        return target if target.is_dir() else None
    for sub in STATIC_ROOTS:
        # raises when the root or its index.html resolves outside `app`
        if paths.is_file(app, f"{sub}/index.html" if sub else "index.html", what="static site file"):
            return app / sub if sub else app
    return None


class ProcfileDetector:
    """An app in any language that brings its own commands (a Procfile or slipway.toml [processes])."""

    name = "procfile"
    describes = "slipway.toml, Procfile"

    def detect(self, source_dir: Path) -> bool:
        procfile = load_procfile(source_dir) or {}
        if set(procfile) - {"release"}:
            return True
        config = load_slipway_toml(source_dir)
        return bool(config and config.processes)

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        ctx.log("no language detected: running the declared processes as they are")


class StaticDetector:
    name = "static"
    describes = "index.html (static site)"

    def detect(self, source_dir: Path) -> bool:
        config = load_slipway_toml(source_dir)
        return bool(config and config.static_root) or static_root(source_dir) is not None

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        config = load_slipway_toml(ctx.artifact_dir)
        if config is not None and config.static_root:
            return  # the build service checks it once the build command (if any) has run
        root = static_root(ctx.artifact_dir)
        assert root is not None
        result.static_root = root
        result.processes.clear()
        ctx.log(f"static site served from {root.relative_to(ctx.artifact_dir).as_posix()}/")
