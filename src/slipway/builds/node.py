"""Node apps: package.json → the lockfile's own tool installs (npm ci, yarn, pnpm; npm install without
a lockfile), node_modules cached; the `build` script runs when package.json has one (see service.py).

The node is the one engines.node asks for (see versions.py). The cache key is a digest of the lockfile
(or package.json when there is none), the tool and the node/tool versions. On a miss, the tool
installs in the artifact directory (so the app's own files are there for install scripts) and
node_modules is then copied into `<cache>/node/<key>` via a temporary directory and an atomic rename.
On a hit, the cached node_modules is hard-linked into the artifact.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

from slipway import errors
from slipway.builds import node_tools, paths, steps, versions
from slipway.builds.base import BuildContext, BuildResult


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


def has_script(package: dict[str, object], name: str) -> bool:
    scripts = package.get("scripts")
    return isinstance(scripts, dict) and isinstance(scripts.get(name), str) and bool(scripts[name].strip())


class NodeDetector:
    name = "node"
    describes = "package.json (Node)"

    def detect(self, source_dir: Path) -> bool:
        return paths.is_file(source_dir, "package.json") is not None

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        app = ctx.artifact_dir
        package = read_package_json(app)
        node = choose_node(ctx, package)
        node_dir = str(Path(node.executable).parent)
        env = steps.build_env({
            "npm_config_cache": str(ctx.cache_dir / "npm"),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_yes": "true",
            "COREPACK_HOME": str(ctx.cache_dir / "corepack"),
            "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
        })
        env["PATH"] = f"{node_dir}:{env.get('PATH', steps.RUNTIME_PATH)}"  # the chosen node runs npm's scripts
        tool = node_tools.find(ctx, app, node_dir=node_dir, env=env)
        lock = tool.lockfile
        described = f"{tool.name} {' '.join(tool.install_args())} ({lock.name if lock else 'no lockfile'})"
        locked = lock.read_bytes() if lock is not None else paths.inside(app, "package.json").read_bytes()
        key = steps.digest(tool.name, " ".join(tool.install_args()), node.full, tool.version,
                           lock.name if lock else "package.json", locked)
        _install(ctx, key=key, argv=[*tool.argv, *tool.install_args()], described=described, env=env)

        if has_script(package, "build"):
            result.build_argv = tool.run_script("build")
        if has_script(package, "start"):
            result.processes.setdefault("web", "npm start")
        result.env.update({"NODE_ENV": "production",
                           "PATH": f"{app}/node_modules/.bin:{node_dir}:{steps.RUNTIME_PATH}"})


def choose_node(ctx: BuildContext, package: dict[str, object]) -> versions.Interpreter:
    """The node engines.node asks for (or the first on PATH), named in the build log; a one-line
    BuildError before anything is installed when this server has none that matches."""
    request = versions.node_request(package)
    found = versions.nodes(ctx.nodes)
    if not found:
        raise errors.BuildError(
            "this is a Node app (package.json) but Node.js is not installed on this server: install it "
            "(e.g. apt-get install nodejs npm) or add its folder to SLIPWAY_NODES, and deploy again")
    chosen = versions.choose(request, found, folders_setting="SLIPWAY_NODES")
    ctx.log(versions.describe(chosen, request))
    return chosen


def _install(ctx: BuildContext, *, key: str, argv: list[str], described: str, env: dict[str, str]) -> None:
    """node_modules for `key`: hard-linked from the cache, or installed and then cached atomically."""
    app = ctx.artifact_dir
    root = ctx.cache_dir / "node"
    cached = root / key
    modules = app / "node_modules"
    with steps.cache_lock(root / f".{key}.lock"):
        if (cached / "node_modules").is_dir():
            ctx.log(f"reusing cached node_modules {key}")
            steps.remove(modules)
            steps.copy_tree(cached / "node_modules", modules, hardlink=True)
            ctx.give(modules, recursive=True)
            return
        ctx.log(f"installing Node dependencies: {described}")
        steps.run(ctx, argv, what=described.split(" (")[0], cwd=app, env=env)
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
