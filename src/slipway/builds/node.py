"""Node apps: package.json → `npm ci` (with a lockfile) or `npm install`, node_modules cached.

The cache key is a digest of the lockfile (or package.json when there is none) and the node/npm
versions. On a miss, npm installs in the artifact directory (so the app's own files are there for
install scripts) and node_modules is then copied into `<cache>/node/<key>` via a temporary
directory and an atomic rename. On a hit, the cached node_modules is hard-linked into the artifact.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from slipway import errors, proc
from slipway.builds import paths, steps
from slipway.builds.base import BuildContext, BuildResult

LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")


def read_package_json(app: Path) -> dict[str, object]:
    text = paths.read_text(app, "package.json")
    if text is None:
        raise errors.BuildError("package.json is not a file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.BuildError(
            f"package.json: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise errors.BuildError("package.json must contain a JSON object")
    return data


def has_start_script(package: dict[str, object]) -> bool:
    scripts = package.get("scripts")
    return isinstance(scripts, dict) and isinstance(scripts.get("start"), str) and bool(scripts["start"])


class NodeDetector:
    name = "node"
    describes = "package.json (Node)"

    def detect(self, source_dir: Path) -> bool:
        return paths.is_file(source_dir, "package.json") is not None

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        app = ctx.artifact_dir
        package = read_package_json(app)
        npm = shutil.which("npm")
        if npm is None:
            raise errors.BuildError(
                "this is a Node app (package.json) but npm is not installed on this server: "
                "install Node.js with npm (e.g. apt-get install nodejs npm) and deploy again")
        node_dir = str(Path(os.path.realpath(npm)).parent)
        env = steps.build_env({
            "npm_config_cache": str(ctx.cache_dir / "npm"),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_yes": "true",
        })
        versions = _versions(npm, env)
        lockfile = next((f for f in (paths.is_file(app, name) for name in LOCKFILES) if f is not None), None)
        if lockfile is not None:
            command, described = [npm, "ci"], f"npm ci ({lockfile.name})"
            key = steps.digest("ci", versions, lockfile.name, lockfile.read_bytes())
        else:
            command, described = [npm, "install"], "npm install (no package-lock.json)"
            key = steps.digest("install", versions, paths.inside(app, "package.json").read_bytes())

        root = ctx.cache_dir / "node"
        cached = root / key
        modules = app / "node_modules"
        with steps.cache_lock(root / f".{key}.lock"):
            if (cached / "node_modules").is_dir():
                ctx.log(f"reusing cached node_modules {key}")
                steps.remove(modules)
                steps.copy_tree(cached / "node_modules", modules, hardlink=True)
                ctx.give(modules, recursive=True)
            else:
                ctx.log(f"installing Node dependencies: {described}")
                steps.run(ctx, command, what=described.split(" (")[0], cwd=app, env=env)
                modules.mkdir(exist_ok=True)  # a package without dependencies gets none
                ctx.give(modules)
                tmp = root / f".{key}.tmp-{secrets.token_hex(4)}"
                try:
                    steps.copy_tree(modules, tmp / "node_modules", hardlink=False)
                    ctx.give(tmp, recursive=True)
                    os.rename(tmp, cached)  # atomic: the cache entry is complete or absent
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
                ctx.log(f"cached node_modules {key}")

        if has_start_script(package):
            result.processes.setdefault("web", "npm start")
        path = f"{app}/node_modules/.bin:{steps.RUNTIME_PATH}"
        if node_dir not in steps.RUNTIME_PATH.split(":"):
            path += f":{node_dir}"
        result.env.update({"NODE_ENV": "production", "PATH": path})


def _versions(npm: str, env: dict[str, str]) -> str:
    """node and npm versions, part of the cache key (native modules are built per node version)."""
    out = []
    node = shutil.which("node") or "node"
    for args in ([node, "--version"], [npm, "--version"]):
        try:
            out.append(proc.check_output(args, env=env, timeout=60).strip())
        except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise errors.BuildError(f"cannot run {' '.join(args)}: {exc}") from exc
    return " ".join(out)
