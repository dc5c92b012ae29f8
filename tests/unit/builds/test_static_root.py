"""slipway.toml `[static] root`: the folder a static site publishes, inside the checkout, never hidden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.unit.builds.test_build_detection import make

from slipway import errors
from slipway.builds import service
from slipway.builds.config import parse_slipway_toml
from slipway.builds.paths import OutsideCheckout


def test_the_declared_folder_is_served(tmp_path: Path) -> None:
    ctx = make(tmp_path, {"slipway.toml": "[static]\nroot = 'site/out'\n", "site/out/index.html": "hi",
                          "index.html": "the repository's own readme page"})
    result = service.build(ctx)
    assert result.static_root == ctx.artifact_dir / "site" / "out" and result.processes == {}


def test_a_folder_the_build_command_makes_is_served(tmp_path: Path) -> None:
    toml = "[static]\nroot = 'build'\n[build]\ncommand = 'mkdir build && echo x > build/a.txt'\n"
    ctx = make(tmp_path, {"slipway.toml": toml})
    assert service.build(ctx).static_root == ctx.artifact_dir / "build"


def test_it_wins_over_a_language_and_its_processes(tmp_path: Path) -> None:
    """A Python (or Node) repository whose build publishes a folder: a static site, no process to run."""
    ctx = make(tmp_path, {"requirements.txt": "", "Procfile": "web: gunicorn app:app",
                          "slipway.toml": "[static]\nroot = 'docs'\n", "docs/index.html": "docs"})
    result = service.build(ctx)
    assert result.static_root == ctx.artifact_dir / "docs" and result.processes == {}


@pytest.mark.parametrize(("root", "words"), [
    ("missing", "is not a folder of the repository"),
    ("index.html", "is not a folder of the repository"),
    (".secrets", "is a hidden folder"),
    ("sub/.out", "is a hidden folder"),
    ("../outside", "resolves outside the repository"),
    ("/etc", "must be a relative path"),
])
def test_a_root_that_is_not_a_folder_of_the_repository_is_refused(tmp_path: Path, root: str, words: str) -> None:
    ctx = make(tmp_path, {"slipway.toml": f"[static]\nroot = '{root}'\n", "index.html": "x",
                          ".secrets/index.html": "key", "sub/.out/index.html": "x"})
    with pytest.raises(errors.BuildError) as info:
        service.build(ctx)
    assert words in info.value.message, info.value.message


def test_a_link_out_of_the_checkout_or_to_a_dot_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "host-secrets"
    outside.mkdir()
    (outside / "index.html").write_text("host file")
    ctx = make(tmp_path, {"slipway.toml": "[static]\nroot = 'public'\n", ".env/index.html": "x"})
    os.symlink(outside, ctx.source_dir / "public")
    with pytest.raises(errors.BuildError):  # the link is dropped from the checkout: nothing to publish
        service.build(ctx)
    ctx = make(tmp_path / "again", {"slipway.toml": "[static]\nroot = 'public'\n", ".env/index.html": "x"})
    os.symlink(".env", ctx.source_dir / "public")
    with pytest.raises(errors.BuildError) as info:
        service.build(ctx)
    assert "hidden folder" in info.value.message


def test_the_table_is_checked() -> None:
    assert parse_slipway_toml("[static]\nroot = 'dist'\n").static_root == "dist"
    with pytest.raises(errors.BuildError, match="unknown key"):
        parse_slipway_toml("[static]\nfolder = 'dist'\n")
    with pytest.raises(errors.BuildError, match="non-empty string"):
        parse_slipway_toml("[static]\nroot = ''\n")
    assert issubclass(OutsideCheckout, errors.BuildError)
