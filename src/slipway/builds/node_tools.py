"""The package manager a Node app's lockfile names: package-lock.json → npm, yarn.lock → yarn,
pnpm-lock.yaml → pnpm (no lockfile: npm install).

A tool is looked for beside the chosen node, then on the server's PATH, then through corepack (which
fetches the version package.json's `packageManager` names). Whatever runs it, it runs in the build
sandbox: corepack downloads and runs code the app chose.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from slipway import errors
from slipway.builds import paths, steps
from slipway.builds.base import BuildContext

# in the order they are looked for: the first one present decides
LOCKFILES = (("package-lock.json", "npm"), ("npm-shrinkwrap.json", "npm"), ("yarn.lock", "yarn"),
             ("pnpm-lock.yaml", "pnpm"))
EXECUTABLES = {"npm": ("npm",), "yarn": ("yarn", "yarnpkg"), "pnpm": ("pnpm",)}
INSTALL_HINT = {"npm": "apt-get install npm", "yarn": "npm install --global yarn", "pnpm": "npm install --global pnpm"}


@dataclass
class PackageTool:
    name: str  # npm | yarn | pnpm
    argv: list[str]  # how it is run: ["/usr/bin/npm"] or ["/usr/bin/corepack", "pnpm"]
    lockfile: Path | None
    version: str = ""
    others: list[str] = field(default_factory=list)  # other lockfiles found (ignored, with a warning)

    @property
    def described(self) -> str:
        via = " through corepack" if len(self.argv) > 1 else ""
        return f"{self.name} {self.version}{via}".strip()

    def install_args(self) -> list[str]:
        if self.name == "npm":
            return ["ci"] if self.lockfile is not None else ["install"]
        if self.name == "yarn":
            major = re.match(r"\d+", self.version)
            if major is not None and int(major[0]) >= 2:
                return ["install", "--immutable"]
            return ["install", "--frozen-lockfile", "--non-interactive"]
        return ["install", "--frozen-lockfile"]

    def run_script(self, name: str) -> list[str]:
        return [*self.argv, "run", name]


def lockfile(app: Path) -> tuple[str, Path | None, list[str]]:
    """(tool name, its lockfile, other lockfiles present) for the app directory."""
    found = [(name, tool, path) for name, tool in LOCKFILES if (path := paths.is_file(app, name)) is not None]
    if not found:
        return "npm", None, []
    name, tool, path = found[0]
    return tool, path, [n for n, _, _ in found[1:]]


def find(ctx: BuildContext, app: Path, *, node_dir: str, env: dict[str, str]) -> PackageTool:
    """The lockfile's own tool, ready to run (its version asked in the sandbox); BuildError naming the fix
    when this server has neither the tool nor corepack."""
    name, lock, others = lockfile(app)
    search = os.pathsep.join([node_dir, env.get("PATH", steps.RUNTIME_PATH)])
    argv: list[str] | None = None
    for executable in EXECUTABLES[name]:
        path = shutil.which(executable, path=search)
        if path is not None:
            argv = [path]
            break
    if argv is None and name != "npm" and (corepack := shutil.which("corepack", path=search)) is not None:
        argv = [corepack, name]
    if argv is None:
        source = lock.name if lock is not None else "package.json"
        alternative = " or enable corepack (corepack enable)" if name != "npm" else ""
        raise errors.BuildError(
            f"{source} asks for {name}, which this server lacks: install it ({INSTALL_HINT[name]}){alternative}"
            + (", or commit a package-lock.json instead" if name != "npm" else ""))
    tool = PackageTool(name, argv, lock, others=others)
    if others:
        ctx.log(f"warning: {lock.name if lock else ''} decides the package manager; also found: "
                f"{', '.join(others)} (remove the ones you do not use)")
    done = steps.run(ctx, [*argv, "--version"], what=f"{name} --version", cwd=app, env=env)
    tool.version = done.tail[-1].strip() if done.tail else ""
    return tool
