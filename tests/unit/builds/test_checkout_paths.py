"""Repository paths never leave the checkout: each reader refuses a link out, and links out are dropped.

These call the readers directly (no pipeline, whose own sanitizing would hide a missing guard), so each test
fails if its one guard is removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from slipway.builds import config, docker, node, node_tools, paths, python, simple
from slipway.builds.paths import OutsideCheckout

SECRET = "planted-secret-7f3a9c"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host file outside the checkout holding a known secret string."""
    secret = tmp_path / "home" / "secret.key"
    secret.parent.mkdir(parents=True)
    secret.write_text(f"{SECRET}\n")
    return secret


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    return root


def _refused(exc: pytest.ExceptionInfo[OutsideCheckout], name: str) -> None:
    assert name in exc.value.message and "outside the repository" in exc.value.message
    assert SECRET not in exc.value.message and SECRET not in str(exc.value.detail)


def test_inside_resolves_links_and_dotdot(checkout: Path, outside: Path) -> None:
    (checkout / "sub").mkdir()
    (checkout / "sub" / "f").write_text("x")
    (checkout / "inner").symlink_to("sub/f")
    assert paths.inside(checkout, "inner") == (checkout / "sub" / "f").resolve()
    assert paths.inside(checkout, "sub/../sub/f") == (checkout / "sub" / "f").resolve()
    (checkout / "abs").symlink_to(outside)
    (checkout / "rel").symlink_to(os.path.relpath(outside, checkout))
    (checkout / "chain").symlink_to("abs")  # a link to a link that leaves
    for name in ("abs", "rel", "chain", "../home/secret.key", "sub/../../home/secret.key"):
        with pytest.raises(OutsideCheckout) as info:
            paths.inside(checkout, name)
        _refused(info, name)
    with pytest.raises(OutsideCheckout):
        paths.inside(checkout, str(outside))  # absolute


@pytest.mark.parametrize("name", ["slipway.toml", "Procfile"])
def test_config_files_as_links_out_are_refused(checkout: Path, outside: Path, name: str) -> None:
    (checkout / name).symlink_to(outside)
    load = config.load_slipway_toml if name == "slipway.toml" else config.load_procfile
    with pytest.raises(OutsideCheckout) as info:
        load(checkout)
    _refused(info, name)


@pytest.mark.parametrize("name", ["package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"])
def test_node_files_as_links_out_are_refused(checkout: Path, outside: Path, name: str) -> None:
    if name != "package.json":
        (checkout / "package.json").write_text("{}")
    (checkout / name).symlink_to(outside)
    with pytest.raises(OutsideCheckout) as info:
        if name == "package.json":
            node.NodeDetector().detect(checkout)
        else:
            node_tools.lockfile(checkout)
    _refused(info, name)


def test_requirements_as_link_or_include_out_is_refused(checkout: Path, outside: Path) -> None:
    (checkout / "requirements.txt").symlink_to(outside)
    with pytest.raises(OutsideCheckout) as info:
        python.PythonDetector().detect(checkout)
    _refused(info, "requirements.txt")

    (checkout / "requirements.txt").unlink()
    (checkout / "requirements.txt").write_text(f"-r {os.path.relpath(outside, checkout)}\n")
    with pytest.raises(OutsideCheckout) as info:
        python._requirement_files(checkout, "requirements.txt")
    assert SECRET not in info.value.message
    (checkout / "requirements.txt").write_text(f"-r {outside}\n")
    with pytest.raises(OutsideCheckout) as info:
        python._requirement_files(checkout, "requirements.txt")
    assert SECRET not in info.value.message
    (checkout / "pyproject.toml").symlink_to(outside)
    with pytest.raises(OutsideCheckout):
        python._pyproject_dependencies(paths.inside(checkout, "pyproject.toml"))


@pytest.mark.parametrize("layout", ["index", "root"])
def test_static_root_out_is_refused(checkout: Path, outside: Path, layout: str) -> None:
    site = outside.parent / "site"
    site.mkdir()
    (site / "index.html").write_text(SECRET)
    if layout == "index":
        (checkout / "index.html").symlink_to(site / "index.html")
    else:
        (checkout / "public").symlink_to(site)
    with pytest.raises(OutsideCheckout) as info:
        simple.static_root(checkout)
    _refused(info, "index.html")


@pytest.mark.parametrize(("key", "target"), [("dockerfile", "file"), ("context", "dir")])
def test_docker_paths_out_are_refused_before_the_engine(checkout: Path, outside: Path, key: str,
                                                        target: str) -> None:
    (checkout / "Dockerfile").write_text("FROM scratch\n")
    (checkout / "link").symlink_to(outside if target == "file" else outside.parent)
    lines: list[str] = []
    with pytest.raises(OutsideCheckout) as info:
        # no engine: the check must come first (the runtime is never touched)
        docker.build(None, checkout, tag="t", overrides={key: "link"}, env={}, log=lines.append,  # type: ignore[arg-type]
                     timeout=10)
    _refused(info, "link")
    assert SECRET not in "\n".join(lines)


def test_drop_escaping_links_keeps_links_inside(checkout: Path, outside: Path) -> None:
    (checkout / "a").mkdir()
    (checkout / "a" / "f").write_text("ok")
    (checkout / "in-file").symlink_to("a/f")
    (checkout / "in-dir").symlink_to("a")
    (checkout / "a" / "abs").symlink_to(outside)
    (checkout / "a" / "rel").symlink_to(os.path.relpath(outside, checkout / "a"))
    (checkout / "out-dir").symlink_to(outside.parent)
    (checkout / "via").symlink_to("a/abs")  # a link inside that leads to a link out
    (checkout / "dangling-out").symlink_to("/nonexistent/secret")
    lines: list[str] = []
    dropped = paths.drop_escaping_links(checkout, lines.append)
    assert sorted(dropped) == ["a/abs", "a/rel", "dangling-out", "out-dir", "via"]
    assert (checkout / "in-file").read_text() == "ok" and (checkout / "in-dir" / "f").exists()
    remaining = [p for p in checkout.rglob("*") if p.is_symlink()]
    assert sorted(p.name for p in remaining) == ["in-dir", "in-file"]
    assert all("outside the repository" in line for line in lines) and SECRET not in "\n".join(lines)
