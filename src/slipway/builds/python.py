"""Python apps: requirements.txt or pyproject.toml → a virtualenv with the dependencies, cached.

The venv lives in `<cache>/python/<key>`, where key is a digest of the dependency files and the
Python version: an unchanged dependency set reuses the cached env. `<cache>/python/<key>` is a
symlink to the real directory `<cache>/python/envs/<key>-<random>`: a venv cannot be renamed after
it is built (pip writes absolute paths into the shebangs of bin/ scripts), so a new env is built in
its own fresh directory and published with an atomic symlink swap only once pip has succeeded. A
failed install never leaves a half env where a later build would find it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import tomllib
from pathlib import Path

from slipway import errors
from slipway.builds import django, paths, steps, versions
from slipway.builds.base import BuildContext, BuildResult

REQUIREMENTS = "requirements.txt"
PYPROJECT = "pyproject.toml"
_INCLUDE_RE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)\s*=?\s*(\S+)")
# requirement lines that point into the source tree: the env then depends on the code itself
_LOCAL_RE = re.compile(r"^\s*(?:(?:-e|--editable)\s*=?\s*)?(?:\.{1,2}(?:/|$)|/|file:)")

# Create venvs with their own pip (ensurepip). Set to False to use --without-pip and bootstrap pip
# with the control plane's pip (for interpreters whose ensurepip is missing, e.g. Debian without
# python3-venv); build() falls back to that automatically.
VENV_WITH_PIP = True


def base_python() -> str:
    """The interpreter to create app venvs from: the base interpreter when we run inside a venv
    (a venv made from a venv's python would chain to ours), else sys.executable."""
    if sys.prefix != sys.base_prefix:
        base = getattr(sys, "_base_executable", None)
        if base and base != sys.executable and os.path.exists(base):
            return base
        candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        if candidate.exists():
            return str(candidate)
    return sys.executable


class PythonDetector:
    name = "python"
    describes = "requirements.txt or pyproject.toml (Python)"

    def detect(self, source_dir: Path) -> bool:
        return paths.is_file(source_dir, REQUIREMENTS) is not None or paths.is_file(source_dir, PYPROJECT) is not None

    def build(self, ctx: BuildContext, result: BuildResult) -> None:
        app = ctx.artifact_dir
        python = choose_python(ctx)
        inputs: list[bytes | str] = [python.full, python.executable, sys.platform, os.uname().machine]
        if paths.is_file(app, REQUIREMENTS) is not None:
            files, local = _requirement_files(app, REQUIREMENTS)
            for f in files:
                inputs += [str(f.relative_to(os.path.realpath(app))), f.read_bytes()]
            install = ["-r", str(app / REQUIREMENTS)]
            described = REQUIREMENTS
            if local:
                ctx.log("requirements reference local paths: the environment follows every source change")
                inputs.append(steps.tree_digest(app))
            deps_file: str | None = None
        else:
            deps = _pyproject_dependencies(app)
            inputs += ["pyproject", *deps]
            deps_file = "\n".join(deps) + "\n" if deps else None
            install = []
            described = f"{PYPROJECT} [project].dependencies ({len(deps)})"
        key = steps.digest(*inputs)
        venv = ensure_env(ctx, key=key, python=python.executable, install=install, deps_file=deps_file,
                          described=described)
        extra_paths = [str(app)]
        if (app / PYPROJECT).is_file() and (app / "src").is_dir():
            extra_paths.append(str(app / "src"))
        result.env.update({
            "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv}/bin:{steps.RUNTIME_PATH}",
            "PYTHONPATH": ":".join(extra_paths),
            "PYTHONUNBUFFERED": "1",
        })
        django.collectstatic(ctx, venv=venv, env=result.env)


def choose_python(ctx: BuildContext) -> versions.Interpreter:
    """The interpreter the app asks for (or the server's default), named in the build log; a one-line
    BuildError before anything is installed when this server has none that matches."""
    request = versions.python_request(ctx.artifact_dir)
    found = versions.pythons(ctx.pythons, default=base_python())
    chosen = versions.choose(request, found, folders_setting="SLIPWAY_PYTHONS")
    ctx.log(versions.describe(chosen, request))
    return chosen


def _requirement_files(app: Path, first: str) -> tuple[list[Path], bool]:
    """requirements.txt plus every file it includes with -r/-c (recursively), and whether any line
    refers to a local path. Every file must resolve inside the app (pip would print a secret file's lines
    in its errors)."""
    seen: list[Path] = []
    local = False
    real_app = Path(os.path.realpath(app))
    todo = [first]
    while todo:
        relative = todo.pop()
        path = paths.is_file(real_app, relative, what="requirements file")
        if path is None:
            raise errors.BuildError(f"{relative}: included requirements file not found")
        if path in seen:
            continue
        seen.append(path)
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _INCLUDE_RE.match(line)
            if m:
                included = m.group(1)
                if os.path.isabs(included):
                    raise paths.OutsideCheckout(
                        f"{path.relative_to(real_app)} includes {included!r}: an included requirements file "
                        "must be a relative path inside the repository")
                todo.append(os.path.relpath(path.parent / included, real_app))
            elif _LOCAL_RE.match(line):
                local = True
    return seen, local


def _pyproject_dependencies(app: Path) -> list[str]:
    try:
        data = tomllib.loads(paths.read_text(app, PYPROJECT) or "")
    except tomllib.TOMLDecodeError as exc:
        raise errors.BuildError(f"{PYPROJECT}: invalid TOML: {exc}") from exc
    project = data.get("project")
    if not isinstance(project, dict):
        if "poetry" in data.get("tool", {}):
            raise errors.BuildError(
                f"{PYPROJECT} declares its dependencies for Poetry only; add a requirements.txt "
                "(poetry export -f requirements.txt -o requirements.txt) or a [project] table")
        return []
    if "dependencies" in project.get("dynamic", []):
        raise errors.BuildError(
            f"{PYPROJECT} declares dynamic dependencies; list them in [project].dependencies "
            "or add a requirements.txt")
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise errors.BuildError(f"{PYPROJECT}: [project].dependencies must be a list of strings")
    return [d.strip() for d in deps if d.strip()]


def _pip_env(ctx: BuildContext, venv: Path) -> dict[str, str]:
    return steps.build_env({
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv}/bin:{os.environ.get('PATH', steps.RUNTIME_PATH)}",
        "PIP_CACHE_DIR": str(ctx.cache_dir / "pip"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    })


def ensure_env(ctx: BuildContext, *, key: str, python: str, install: list[str], deps_file: str | None,
               described: str) -> Path:
    """The venv for `key`: reused from the cache, or built and published atomically."""
    root = ctx.cache_dir / "python"
    link = root / key
    with steps.cache_lock(root / f".{key}.lock"):
        if link.is_symlink() and (link / "bin" / "python").exists():
            ctx.log(f"reusing cached Python environment {key}")
            return link
        (root / "envs").mkdir(parents=True, exist_ok=True)
        ctx.give(root, root / "envs")
        real = root / "envs" / f"{key}-{secrets.token_hex(4)}"
        ctx.log(f"creating Python environment {key} for {described}")
        try:
            _create_venv(ctx, python=python, venv=real)
            pip = [str(real / "bin" / "python"), "-m", "pip", "install", "--no-input"]
            if deps_file is not None:
                reqs = real / "slipway-requirements.txt"
                reqs.write_text(deps_file, encoding="utf-8")
                ctx.give(reqs)
                install = ["-r", str(reqs)]
            if install:
                ctx.log(f"installing dependencies from {described}")
                steps.run(ctx, [*pip, *install], what="pip install", cwd=ctx.artifact_dir,
                          env=_pip_env(ctx, real))
            else:
                ctx.log("no dependencies to install")
            tmp_link = root / f".{key}.link-{secrets.token_hex(4)}"
            os.symlink(real, tmp_link)
            os.replace(tmp_link, link)  # atomic: the env appears complete or not at all
        except BaseException:
            shutil.rmtree(real, ignore_errors=True)
            raise
    ctx.log(f"Python environment {key} ready")
    return link


def _create_venv(ctx: BuildContext, *, python: str, venv: Path) -> None:
    env = _pip_env(ctx, venv)
    if VENV_WITH_PIP:
        try:
            steps.run(ctx, [python, "-m", "venv", str(venv)], what="creating the virtualenv",
                      cwd=ctx.artifact_dir, env=env)
            return
        except errors.BuildError as exc:
            if "ensurepip" not in exc.message:
                raise
            ctx.log("this Python has no ensurepip; creating the virtualenv without pip")
            shutil.rmtree(venv, ignore_errors=True)
    steps.run(ctx, [python, "-m", "venv", "--without-pip", str(venv)],
              what="creating the virtualenv", cwd=ctx.artifact_dir, env=env)
    # bootstrap pip into the new env with the pip of the interpreter Slipway runs on
    steps.run(ctx, [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                    "--no-input", "pip"], what="installing pip into the virtualenv", cwd=ctx.artifact_dir,
              env=env)
