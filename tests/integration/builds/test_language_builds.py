"""Real builds: Python venvs with pip from PyPI, Node with npm, static sites; caches reused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slipway import errors
from slipway.builds import python as python_builds
from slipway.builds import service
from slipway.builds.base import BuildContext, BuildResult

pytestmark = pytest.mark.integration


class Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = root / "cache"
        self.count = 0
        self.lines: list[str] = []

    def source(self, files: dict[str, str]) -> Path:
        self.count += 1
        source = self.root / f"src{self.count}"
        source.mkdir()
        for name, text in files.items():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_text(text)
        return source

    def build(self, files: dict[str, str], timeout: float = 600) -> BuildResult:
        source = self.source(files)
        self.lines = []
        ctx = BuildContext(source_dir=source, artifact_dir=self.root / f"artifact{self.count}",
                           cache_dir=self.cache, log=self.lines.append, timeout=timeout)
        return service.build(ctx)


@pytest.fixture
def builder(tmp_path: Path) -> Builder:
    return Builder(tmp_path)


def run_in(result: BuildResult, *args: str) -> str:
    env = {"HOME": str(result.artifact_dir), **result.env}
    return subprocess.run(list(args), cwd=result.artifact_dir, env=env, check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()


# ---------------------------------------------------------------------------------------------- Python


def test_python_build_and_cache_reuse(builder: Builder) -> None:
    files = {
        "requirements.txt": "six==1.16.0\n",
        "app.py": "import six\nprint('six', six.__version__)\n",
        "Procfile": "web: python app.py\n",
    }
    first = builder.build(files)
    assert first.build_kind == "python"
    assert first.processes == {"web": "python app.py"}
    venv = Path(first.env["VIRTUAL_ENV"])
    assert venv.parent == builder.cache / "python"
    assert first.env["PATH"].startswith(f"{venv}/bin:")
    assert not any("reusing cached Python environment" in line for line in builder.lines)
    assert any("Successfully installed six" in line for line in builder.lines)  # pip output streamed
    assert run_in(first, "python", "app.py") == "six 1.16.0"
    # the env is built from the base interpreter, not chained to the venv Slipway may run in
    cfg = (venv / "pyvenv.cfg").read_text()
    assert f"home = {Path(sys.prefix) / 'bin'}\n" not in cfg or sys.prefix == sys.base_prefix
    assert (venv / "bin" / "pip").exists()

    files["app.py"] = "import six\nprint('changed', six.__version__)\n"
    second = builder.build(files)
    assert second.env["VIRTUAL_ENV"] == str(venv)
    key = venv.name
    assert f"reusing cached Python environment {key}" in builder.lines
    assert run_in(second, "python", "app.py") == "changed 1.16.0"
    assert len(list((builder.cache / "python" / "envs").iterdir())) == 1


def test_python_install_failure_leaves_no_env(builder: Builder) -> None:
    # an unparseable requirement fails inside pip without asking the index anything
    with pytest.raises(errors.BuildError) as info:
        builder.build({"requirements.txt": "this is not a requirement ===\n", "Procfile": "web: x\n"})
    assert "pip install failed" in info.value.message
    assert "Invalid requirement" in info.value.message  # the tail of pip's output
    python_cache = builder.cache / "python"
    assert not [p for p in python_cache.iterdir() if p.is_symlink()]
    assert list((python_cache / "envs").iterdir()) == []


def test_pyproject_without_web_process(builder: Builder) -> None:
    with pytest.raises(errors.BuildError) as info:
        builder.build({"pyproject.toml": "[project]\nname = 'demo'\nversion = '1'\ndependencies = []\n"})
    assert "no web process declared for this Python app" in info.value.message
    assert "Procfile" in info.value.message and "[processes]" in info.value.message


def test_pyproject_src_layout_and_toml_processes(builder: Builder) -> None:
    result = builder.build({
        "pyproject.toml": "[project]\nname = 'demo'\nversion = '1'\n",
        "src/demo/__init__.py": "MESSAGE = 'from src'\n",
        "slipway.toml": "[processes]\nweb = 'python -m demo'\n",
    })
    assert result.processes == {"web": "python -m demo"}
    assert "no dependencies to install" in builder.lines
    assert run_in(result, "python", "-c", "import demo; print(demo.MESSAGE)") == "from src"


def test_venv_without_ensurepip_fallback(builder: Builder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(python_builds, "VENV_WITH_PIP", False)
    result = builder.build({"requirements.txt": "six\n", "Procfile": "web: python -c 'import six'\n"})
    venv = Path(result.env["VIRTUAL_ENV"])
    assert (venv / "bin" / "pip").exists()
    run_in(result, "python", "-c", "import six")


def test_base_python_is_not_the_running_venv() -> None:
    base = python_builds.base_python()
    assert os.path.exists(base)
    if sys.prefix != sys.base_prefix:
        assert not Path(base).resolve().is_relative_to(Path(sys.prefix).resolve()) or \
            Path(sys.prefix).resolve() == Path(sys.base_prefix).resolve()


# ---------------------------------------------------------------------------------------------- Node

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")

PACKAGE = {"name": "demo", "version": "1.0.0", "scripts": {"start": "node server.js"}}
LOCK = {"name": "demo", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "demo", "version": "1.0.0"}}}


@needs_npm
def test_node_build_with_lockfile_and_cache(builder: Builder) -> None:
    files = {
        "package.json": json.dumps(PACKAGE),
        "package-lock.json": json.dumps(LOCK),
        "server.js": "console.log(process.env.NODE_ENV)\n",
    }
    first = builder.build(files)
    assert first.build_kind == "node"
    assert first.processes == {"web": "npm start"}
    assert first.env["NODE_ENV"] == "production"
    assert first.env["PATH"].startswith(f"{first.artifact_dir}/node_modules/.bin:")
    assert (first.artifact_dir / "node_modules").is_dir()
    assert any("npm ci" in line for line in builder.lines)
    assert run_in(first, "node", "server.js") == "production"

    second = builder.build(files)
    assert any(line.startswith("reusing cached node_modules") for line in builder.lines)
    assert (second.artifact_dir / "node_modules").is_dir()


@needs_npm
def test_node_without_start_script(builder: Builder) -> None:
    with pytest.raises(errors.BuildError) as info:
        builder.build({"package.json": json.dumps({"name": "demo", "version": "1.0.0"})})
    message = info.value.message
    assert "no web process declared for this Node app" in message and '"start" script' in message


@needs_npm
def test_node_procfile_wins_and_npm_install_without_lockfile(builder: Builder) -> None:
    result = builder.build({
        "package.json": json.dumps(PACKAGE),
        "Procfile": "web: node server.js --port $PORT\n",
    })
    assert result.processes == {"web": "node server.js --port $PORT"}
    assert any("npm install" in line for line in builder.lines)


@needs_npm
def test_node_install_failure_shows_npm_output(builder: Builder) -> None:
    # package.json and the lockfile disagree: npm ci refuses before asking the registry anything
    package = dict(PACKAGE, dependencies={"left-pad": "1.3.0"})
    with pytest.raises(errors.BuildError) as info:
        builder.build({"package.json": json.dumps(package), "package-lock.json": json.dumps(LOCK)})
    assert "npm ci failed" in info.value.message
    assert "package-lock.json" in info.value.message and "in sync" in info.value.message  # npm's cause


def test_node_or_npm_missing(builder: Builder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(errors.BuildError, match="Node.js is not installed on this server: install it"):
        builder.build({"package.json": json.dumps(PACKAGE)})
    node = shutil.which("node", path=os.defpath + ":/usr/bin:/usr/local/bin")
    if node is not None:  # a node without npm beside it or on PATH
        (empty / "node").symlink_to(os.path.realpath(node))
        with pytest.raises(errors.BuildError) as info:
            builder.build({"package.json": json.dumps(PACKAGE)})
        assert info.value.message == ("package.json asks for npm, which this server lacks: "
                                      "install it (apt-get install npm)")


def test_invalid_package_json(builder: Builder) -> None:
    with pytest.raises(errors.BuildError, match="package.json: invalid JSON at line 3, column 1: Expecting value"):
        builder.build({"package.json": '{\n  "name": \n}'})


# ---------------------------------------------------------------------------------------------- others


def test_static_site_at_root(builder: Builder) -> None:
    result = builder.build({"index.html": "<h1>hi</h1>", "style.css": ""})
    assert result.build_kind == "static"
    assert result.static_root == result.artifact_dir
    assert result.processes == {}


def test_nothing_matched(builder: Builder) -> None:
    with pytest.raises(errors.BuildError, match="^no app detected: looked for slipway.toml, Procfile"):
        builder.build({"main.go": "package main\n"})
