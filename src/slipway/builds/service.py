"""Builds: copy the source, detect the kind of app, install dependencies, run the app's build command.

Layers, later ones win:
1. the detector's defaults (e.g. Node: `web: npm start` when package.json has a start script);
2. the Procfile (`name: command` lines; a `release:` line becomes the release command);
3. slipway.toml ([build] command, [processes], [release] command, [health] path).

After the dependencies, the app's own build step runs: slipway.toml's [build] command, else package.json's
`build` script. It sees the app's env vars (as on Heroku); the deploy redacts them from the log.
"""

from __future__ import annotations

import os
from pathlib import Path

from slipway import errors
from slipway.builds import paths, steps
from slipway.builds.base import BuildContext, BuildResult
from slipway.builds.config import AppConfig, load_procfile, load_slipway_toml
from slipway.builds.registry import Registry, registry
from slipway.builds.simple import declared_root

DEFAULT_HEALTH_PATH = "/"

# How to declare a web process, per kind of app that needs one.
WEB_HINTS = {
    "python": ("add a Procfile with a line such as\n    web: gunicorn app:app --bind 0.0.0.0:$PORT\n"
               "or declare it in slipway.toml:\n    [processes]\n"
               "    web = \"gunicorn app:app --bind 0.0.0.0:$PORT\""),
    "node": ("add a \"start\" script to package.json (it runs as `npm start`), or a Procfile with a line "
             "such as\n    web: node server.js\nor declare it in slipway.toml:\n    [processes]\n"
             "    web = \"node server.js\""),
}
LANGUAGE_NAMES = {"python": "Python", "node": "Node"}


def build(ctx: BuildContext, *, detectors: Registry | None = None) -> BuildResult:
    """Build the app in ctx.source_dir into ctx.artifact_dir; output lines go to ctx.log."""
    detectors = detectors or registry
    steps.start_clock(ctx)
    # absolute paths: build steps run in other directories and results are stored
    ctx.source_dir, ctx.artifact_dir, ctx.cache_dir = (
        Path(os.path.abspath(p)) for p in (ctx.source_dir, ctx.artifact_dir, ctx.cache_dir))
    source, app = ctx.source_dir, ctx.artifact_dir
    if not source.is_dir():
        raise errors.BuildError(f"source directory {source} does not exist")
    app.mkdir(parents=True, exist_ok=True)
    if any(app.iterdir()):
        raise errors.BuildError(f"artifact directory {app} is not empty")
    ctx.cache_dir.mkdir(parents=True, exist_ok=True)

    ctx.log("==> copying the source into the build directory")
    steps.copy_tree(source, app, skip_git=True)
    # nothing in the artifact may point out of it: Caddy serves static sites from it, instances run in it
    paths.drop_escaping_links(app, ctx.log)
    ctx.give(app, ctx.cache_dir, recursive=False)
    ctx.give(app, recursive=True)  # the build writes its own dir (as the app's user when Slipway is root)

    config = load_slipway_toml(app) or AppConfig()
    procfile = load_procfile(app, warn=ctx.log) or {}
    if (app / "slipway.toml").is_file():
        ctx.log("==> using slipway.toml")
    if procfile:
        ctx.log(f"==> Procfile declares: {', '.join(procfile)}")
    declared = dict(procfile)
    procfile_release = declared.pop("release", None)
    declared.update(config.processes)

    built = False
    detector = detectors.select(app)
    if detector is None and config.build_command:
        # nothing to detect yet: the build command may generate the app (e.g. a static site generator)
        _run_build_command(ctx, config.build_command, env={})
        built = True
        detector = detectors.select(app)
    if detector is None:
        raise errors.BuildError(f"no app detected: looked for {detectors.looked_for()}")

    ctx.log(f"==> detected: {detector.describes}")
    result = BuildResult(build_kind=detector.name, artifact_dir=app)
    detector.build(ctx, result)
    if result.static_root is None:
        result.processes.update(declared)  # the Procfile and slipway.toml win over detector defaults
    if config.build_command and not built:
        if result.build_argv:
            ctx.log("==> slipway.toml's [build] command replaces package.json's build script")
        _run_build_command(ctx, config.build_command, env=result.env)
    elif result.build_argv and not built:
        _run_package_build(ctx, result)
    if config.static_root:  # declared: whatever the detector found (a Node build), the router serves that folder
        result.static_root = declared_root(app, config.static_root)
        result.processes.clear()
        ctx.log(f"==> static site served from {config.static_root} ([static] root)")
    result.release_command = config.release_command or procfile_release
    result.health_path = config.health_path or DEFAULT_HEALTH_PATH
    result.health_timeout = config.health_timeout
    result.limits = config.limits
    result.cron = config.cron

    if result.static_root is None and "web" not in result.processes and result.build_kind in WEB_HINTS:
        language = LANGUAGE_NAMES.get(result.build_kind, result.build_kind)
        raise errors.BuildError(
            f"no web process declared for this {language} app: {WEB_HINTS[result.build_kind]}")
    if result.static_root is None and not result.processes:
        raise errors.BuildError("the app declares no processes: add a Procfile or a [processes] table "
                                "in slipway.toml")
    # the build command and installers may have made links too: the artifact is checked again as shipped
    paths.drop_escaping_links(app, ctx.log)
    summary = ", ".join(f"{k}: {v}" for k, v in result.processes.items()) or f"static {result.static_root}"
    ctx.log(f"==> build complete ({result.build_kind}): {summary}")
    return result


def _run_package_build(ctx: BuildContext, result: BuildResult) -> None:
    """package.json's `build` script (Heroku runs it too): the app's own code, with its env vars."""
    assert result.build_argv is not None
    shown = " ".join(Path(result.build_argv[0]).name if i == 0 else a for i, a in enumerate(result.build_argv))
    ctx.log(f"==> running the build script: {shown}")
    run_env = steps.build_env({**ctx.app_env, **result.env, "NODE_ENV": ctx.app_env.get("NODE_ENV", "production")})
    run_env["PATH"] = f"{result.env['PATH']}:{os.environ.get('PATH', steps.RUNTIME_PATH)}"
    steps.run(ctx, result.build_argv, what="build script", cwd=ctx.artifact_dir, env=run_env)


def _run_build_command(ctx: BuildContext, command: str, *, env: dict[str, str]) -> None:
    ctx.log(f"==> running the build command: {command}")
    run_env = steps.build_env({**ctx.app_env, **env})
    if "PATH" in env:
        run_env["PATH"] = f"{env['PATH']}:{os.environ.get('PATH', steps.RUNTIME_PATH)}"
    # This is the only place a build goes through a shell, on purpose: the command is the app's own
    # build script (from its repository's slipway.toml), written as a shell command line and run in
    # the app's own directory with the same trust as the app's code. Nothing from Slipway's side
    # (URLs, branch names, user input) is interpolated into it.
    steps.run(ctx, ["/bin/sh", "-c", command], what="build command", cwd=ctx.artifact_dir, env=run_env)
