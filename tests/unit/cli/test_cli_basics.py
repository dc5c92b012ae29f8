"""What the `slipway` executable prints outside of any API call: its version, `admin` commands run
without the server's environment, tables through a pipe. Real processes, real databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from slipway import __version__

SLIPWAY = str(Path(sys.executable).parent / "slipway")


def slipway(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # stdout and stderr are pipes, as in a script: never a terminal
    return subprocess.run([SLIPWAY, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """A user's shell with no SLIPWAY_* at all, and a HOME of its own (the default home lives there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_") and k != "COLUMNS"}
    env["HOME"] = str(tmp_path / "user")
    env.pop("XDG_DATA_HOME", None)
    (tmp_path / "user").mkdir()
    (tmp_path / "cwd").mkdir()
    return env


def test_version(bare_env: dict[str, str], tmp_path: Path) -> None:
    result = slipway("--version", env=bare_env, cwd=tmp_path / "cwd")
    assert result.returncode == 0 and result.stdout.strip() == f"slipway {__version__}"


def everything_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


@pytest.mark.parametrize("args", [["tokens"], ["token", "--name", "ci"], ["rotate-key"], ["prune-audit"],
                                  ["user", "create", "ann", "--password-stdin"], ["user", "disable-2fa", "ann"]])
def test_admin_without_the_servers_environment_says_where_it_looked(args: list[str], bare_env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    result = slipway("admin", *args, env=bare_env, cwd=tmp_path / "cwd", stdin="secret password\n")
    assert result.returncode == 1, result.stdout + result.stderr
    default_home = tmp_path / "user" / ".local" / "share" / "slipway"
    assert f"no Slipway database in {default_home} (the default home: SLIPWAY_HOME is not set)" in result.stderr
    assert "SLIPWAY_HOME" in result.stderr and "server's SLIPWAY_* environment" in result.stderr
    assert "Traceback" not in result.stderr
    # nothing created: no database, no home, no secret key, nothing in the current directory
    assert everything_under(tmp_path / "user") == []
    assert everything_under(tmp_path / "cwd") == []


def test_admin_names_an_explicit_home_that_has_no_database(bare_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "not-the-servers"
    home.mkdir()
    result = slipway("admin", "rotate-key", env={**bare_env, "SLIPWAY_HOME": str(home)}, cwd=tmp_path / "cwd")
    assert result.returncode == 1
    assert f"no Slipway database in {home} (SLIPWAY_HOME)" in result.stderr and "Traceback" not in result.stderr
    assert everything_under(home) == []  # in particular no secret.key


def test_admin_with_a_relative_sqlite_url_creates_nothing_in_the_current_directory(
        bare_env: dict[str, str], tmp_path: Path) -> None:
    result = slipway("admin", "tokens", env={**bare_env, "SLIPWAY_DATABASE_URL": "sqlite:///slipway.db"},
                     cwd=tmp_path / "cwd")
    assert result.returncode == 1 and "no Slipway database at slipway.db" in result.stderr
    assert everything_under(tmp_path / "cwd") == []


def test_admin_on_an_unreachable_database_is_one_clear_line(bare_env: dict[str, str], tmp_path: Path) -> None:
    url = "postgresql+psycopg://slipway:hunter2@127.0.0.1:1/slipway"
    result = slipway("admin", "tokens", env={**bare_env, "SLIPWAY_DATABASE_URL": url}, cwd=tmp_path / "cwd")
    assert result.returncode == 1
    assert "cannot open the database postgresql+psycopg://slipway:***@127.0.0.1:1/slipway" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_admin_refuses_an_empty_database(bare_env: dict[str, str], tmp_path: Path) -> None:
    import sqlite3

    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    result = slipway("admin", "tokens", env={**bare_env, "SLIPWAY_DATABASE_URL": f"sqlite:///{empty}"},
                     cwd=tmp_path / "cwd")
    assert result.returncode == 1 and "is not a Slipway server's database" in result.stderr
    assert sqlite3.connect(empty).execute("select count(*) from sqlite_master").fetchone() == (0,)  # not migrated


def test_admin_with_the_servers_environment_works_and_tables_are_not_wrapped_in_a_pipe(
        bare_env: dict[str, str], tmp_path: Path, db_url: str) -> None:
    env = {**bare_env, "SLIPWAY_HOME": str(tmp_path / "home"), "SLIPWAY_DATABASE_URL": db_url}
    name = "deploy-bot-for-the-production-cluster-in-the-eu-west-region-x"  # 62 characters, and 8 more columns
    assert slipway("admin", "token", "--name", name, "--scope", "read", env=env, cwd=tmp_path / "cwd").returncode == 0
    listed = slipway("admin", "tokens", env=env, cwd=tmp_path / "cwd")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "PREFIX", "SCOPE"]
    row = next(line for line in lines if name in line)  # the whole name on one line, with its other columns
    assert row.split()[0] == name and row.split()[2] == "read" and len(row) > 120
    # COLUMNS, when set, still decides (a user who wants 80 columns gets them)
    narrow = slipway("admin", "tokens", env={**env, "COLUMNS": "80"}, cwd=tmp_path / "cwd")
    assert all(len(line) <= 80 for line in narrow.stdout.splitlines()) and name not in narrow.stdout
