"""Which interpreter a build picks: real interpreters found in fixture folders, asked for their version."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from slipway import errors
from slipway.builds import versions
from slipway.builds.config import parse_procfile
from slipway.builds.paths import OutsideCheckout
from slipway.builds.python import base_python

REAL = os.path.realpath(base_python())


def folder_with(tmp_path: Path, *names: str, bin_dir: bool = False) -> Path:
    """A folder of interpreters: links named `names` to the real interpreter (its version is honest)."""
    folder = tmp_path / "pythons"
    place = folder / "bin" if bin_dir else folder
    place.mkdir(parents=True, exist_ok=True)
    for name in names:
        (place / name).symlink_to(REAL)
    return folder


def app_with(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    for name, text in files.items():
        (app / name).write_text(text)
    return app


def py(version: tuple[int, int, int], path: str = "/x") -> versions.Interpreter:
    return versions.Interpreter("Python", version, path)


def test_interpreters_in_a_configured_folder_are_asked_their_real_version(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "python3.99", bin_dir=True)  # the name lies: the probe does not
    found = versions.pythons([str(folder)], default=REAL, path_env="")
    assert [f.version for f in found] == [tuple(sys.version_info[:3])]  # one interpreter, found twice
    assert found[0].executable == REAL


def test_a_broken_interpreter_is_not_one_the_host_has(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    script = folder / "python3.12"
    script.write_text("#!/bin/sh\nexit 127\n")
    script.chmod(0o755)
    found = versions.pythons([str(folder)], default=REAL, path_env=str(folder))
    assert [f.executable for f in found] == [versions.probe(REAL, "Python").executable]  # type: ignore[union-attr]


def test_python_version_file_wins_over_runtime_txt_and_requires_python(tmp_path: Path) -> None:
    app = app_with(tmp_path, {".python-version": "# pyenv\n3.12\n", "runtime.txt": "python-3.11.4\n",
                              "pyproject.toml": "[project]\nrequires-python = '>=3.13'\n"})
    request = versions.python_request(app)
    assert request is not None and (request.spec, request.source) == ("3.12", ".python-version")
    (app / ".python-version").unlink()
    request = versions.python_request(app)
    assert request is not None and (request.spec, request.source, request.exact) == ("3.11.4", "runtime.txt",
                                                                                     (3, 11, 4))
    (app / "runtime.txt").unlink()
    request = versions.python_request(app)
    assert request is not None and request.source == "requires-python in pyproject.toml"
    assert request.matches((3, 13, 0)) and not request.matches((3, 12, 9))
    (app / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert versions.python_request(app) is None


def test_the_issue_message_when_no_python_matches(tmp_path: Path) -> None:
    request = versions.python_request(app_with(tmp_path, {".python-version": "3.14\n"}))
    with pytest.raises(errors.BuildError) as info:
        versions.choose(request, [py((3, 11, 7)), py((3, 12, 1)), py((3, 11, 2))], folders_setting="SLIPWAY_PYTHONS")
    assert info.value.message == ("app asks for Python 3.14 (.python-version); this server has 3.11, 3.12 — "
                                  "install it, add its folder to SLIPWAY_PYTHONS, or change .python-version")


def test_choice_prefers_an_exact_patch_then_the_default_then_the_newest() -> None:
    default, other, newer = py((3, 11, 7), "/a"), py((3, 11, 2), "/b"), py((3, 12, 1), "/c")
    host = [default, other, newer]

    def pick(spec: str) -> str:
        m = versions._PINNED_RE.match(spec)
        assert m is not None
        return versions.choose(versions._pinned("Python", spec, "f", "f"), host, folders_setting="S").executable

    assert pick("3.11") == "/a"  # the default serves the whole 3.11 line
    assert pick("3.11.2") == "/b"  # the pinned patch, where the host has it
    assert pick("3.11.9") == "/a"  # no 3.11.9 here: the 3.11 line
    assert pick("3.12.4") == "/c"
    assert versions.choose(None, host, folders_setting="S") is default
    described = versions.describe(newer, versions._pinned("Python", "3.12.4", "runtime.txt", "runtime.txt"))
    assert described == "python: 3.12.1 (/c) — asked 3.12.4 by runtime.txt (this server has no 3.12.4: same 3.12 line)"


@pytest.mark.parametrize(("name", "text", "expected"), [
    (".python-version", "pypy3.10\n", "Slipway understands CPython versions such as 3.12"),
    ("runtime.txt", "ruby-3.2\n", "runtime.txt must name a Python version such as python-3.12.4"),
    ("pyproject.toml", "[project]\nrequires-python = '>>3'\n", "is not a valid version specifier"),
])
def test_unreadable_version_requests_say_what_to_change(tmp_path: Path, name: str, text: str, expected: str) -> None:
    with pytest.raises(errors.BuildError) as info:
        versions.python_request(app_with(tmp_path, {name: text}))
    assert expected in info.value.message and "\n" not in info.value.message


def test_version_files_are_read_inside_the_repository_and_bounded(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("3.12\n")
    app = app_with(tmp_path, {})
    (app / ".python-version").symlink_to(secret)
    with pytest.raises(OutsideCheckout):
        versions.python_request(app)
    (app / ".python-version").unlink()
    (app / ".python-version").write_text("3.12\n" + "#" * 10_000)
    with pytest.raises(errors.BuildError) as info:
        versions.python_request(app)
    assert "larger than 4096 bytes" in info.value.message


def test_node_engines_ranges() -> None:
    node20 = versions.Interpreter("Node", (20, 20, 2), "/n20")
    node18 = versions.Interpreter("Node", (18, 19, 0), "/n18")
    request = versions.node_request({"engines": {"node": ">=22"}})
    with pytest.raises(errors.BuildError) as info:
        versions.choose(request, [node20, node18], folders_setting="SLIPWAY_NODES")
    assert info.value.message == ("app asks for Node >=22 (engines.node in package.json); this server has 18, 20 — "
                                  "install it, add its folder to SLIPWAY_NODES, or change engines.node")
    assert versions.choose(versions.node_request({"engines": {"node": "18.x"}}), [node20, node18],
                           folders_setting="S") is node18
    assert versions.choose(versions.node_request({"engines": {"node": ">=18"}}), [node20, node18],
                           folders_setting="S") is node20
    assert versions.node_request({"engines": {}}) is None
    with pytest.raises(errors.BuildError) as bad:
        versions.node_request({"engines": {"node": "lts/*"}})
    assert "is not a version range" in bad.value.message


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_nodes_on_path_and_in_folders_are_probed(tmp_path: Path) -> None:
    node = os.path.realpath(shutil.which("node") or "")
    folder = tmp_path / "nodes" / "bin"
    folder.mkdir(parents=True)
    (folder / "node").symlink_to(node)
    found = versions.nodes([str(tmp_path / "nodes")], path_env="")
    # the path it was found at: npm and corepack of that install are beside it
    assert [f.executable for f in found] == [str(folder / "node")] and found[0].version[0] >= 10
    assert [f.executable for f in versions.nodes([str(tmp_path / "nodes")], path_env=os.path.dirname(node))] == [
        os.path.join(os.path.dirname(node), "node")]  # the same node twice: once, PATH's first


def test_sandbox_roots_cover_the_install_around_each_interpreter(tmp_path: Path) -> None:
    install = tmp_path / "opt" / "py" / "bin"
    install.mkdir(parents=True)
    (install / "python3.12").symlink_to(REAL)
    roots = versions.sandbox_roots([str(install)])
    assert str(install) in roots and str(install.parent) in roots
    assert str(Path(REAL).parent.parent) in roots  # the real install a link points into


def test_procfile_names_in_any_case_are_read_in_lower_case() -> None:
    warnings: list[str] = []
    assert parse_procfile("Web: gunicorn app:app\nWorker: python w.py\n", warn=warnings.append) == {
        "web": "gunicorn app:app", "worker": "python w.py"}
    assert warnings[0] == ("warning: Procfile line 1: process type 'Web' is read as 'web' "
                           "(process types are lower case)")
    with pytest.raises(errors.BuildError) as info:
        parse_procfile("web: a\nWEB: b\n")
    assert "declared twice" in info.value.message
