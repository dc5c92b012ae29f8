"""Detectors with nothing to install: apps that only declare processes, and static sites."""

from __future__ import annotations

from pathlib import Path

from slipway.builds import paths
from slipway.builds.base import BuildContext, BuildResult
from slipway.builds.config import load_procfile, load_slipway_toml

STATIC_ROOTS = ("", "public", "dist")  # where index.html is looked for, in this order


def static_root(app: Path) -> Path | None:
    """The first of STATIC_ROOTS holding an index.html. A root (or its index.html) that links out of the
    app directory is refused: Caddy's file_server would serve whatever it points at."""
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
        return static_root(source_dir) is not None

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        root = static_root(ctx.artifact_dir)
        assert root is not None
        result.static_root = root
        result.processes.clear()
        ctx.log(f"static site served from {root.relative_to(ctx.artifact_dir)}/")
