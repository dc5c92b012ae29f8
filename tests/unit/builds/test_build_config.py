"""slipway.toml and Procfile parsing."""

from __future__ import annotations

import pytest

from slipway import errors
from slipway.builds.config import parse_procfile, parse_slipway_toml


def test_full_slipway_toml() -> None:
    config = parse_slipway_toml(
        """
[build]
command = "make assets"

[processes]
web = "gunicorn app:app"
worker = "python worker.py"

[release]
command = "python manage.py migrate"

[health]
path = "/healthz"
"""
    )
    assert config.build_command == "make assets"
    assert config.processes == {"web": "gunicorn app:app", "worker": "python worker.py"}
    assert config.release_command == "python manage.py migrate"
    assert config.health_path == "/healthz"


def test_empty_slipway_toml_is_fine() -> None:
    config = parse_slipway_toml("")
    assert config.build_command is None and config.processes == {} and config.health_path is None


def test_malformed_toml_names_line_and_column() -> None:
    with pytest.raises(errors.BuildError) as info:
        parse_slipway_toml('[build]\ncommand = "ok"\n[processes\nweb = "x"\n')
    message = info.value.message
    assert "slipway.toml" in message and "line 3, column" in message and "Expected ']'" in message


def test_malformed_toml_at_end_of_file() -> None:
    with pytest.raises(errors.BuildError, match=r"end of file \(line 2\): Invalid value"):
        parse_slipway_toml('[build]\ncommand = ')


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[deploy]\nx = 1\n", "unknown key(s) deploy"),
        ("extra = 1\n[build]\ncommand='x'\n", "unknown key(s) extra"),
        ("[build]\ncommand = 'x'\ncmd = 'y'\n", "unknown key(s) in [build]: build.cmd"),
        ("[health]\npath = '/x'\ninterval = 3\n", "health.interval"),
        ("[release]\nrun = 'x'\n", "release.run"),
    ],
)
def test_unknown_keys_are_named(text: str, fragment: str) -> None:
    with pytest.raises(errors.BuildError) as info:
        parse_slipway_toml(text)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("build = 'x'\n", "'build' must be a table"),
        ("[build]\ncommand = 3\n", "build.command must be a non-empty string"),
        ("[build]\ncommand = '  '\n", "build.command must be a non-empty string"),
        ("[processes]\nweb = ['a']\n", "processes.web must be a non-empty command string"),
        ("[processes]\n'we b' = 'x'\n", "invalid process type name"),
        ("[health]\npath = 'healthz'\n", "must start with '/'"),
    ],
)
def test_bad_values(text: str, fragment: str) -> None:
    with pytest.raises(errors.BuildError) as info:
        parse_slipway_toml(text)
    assert fragment in info.value.message


def test_procfile() -> None:
    text = """# processes
web: gunicorn app:app --bind 0.0.0.0:$PORT

worker:python worker.py --queue a:b
  release :  ./migrate.sh
"""
    assert parse_procfile(text) == {
        "web": "gunicorn app:app --bind 0.0.0.0:$PORT",
        "worker": "python worker.py --queue a:b",
        "release": "./migrate.sh",
    }


def test_empty_procfile() -> None:
    assert parse_procfile("\n# nothing\n") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("web: ok\njust a line\n", "Procfile line 2: expected 'name: command'"),
        ("\n\nweb:\n", "Procfile line 3: process type 'web' has no command"),
        ("web: a\nweb: b\n", "Procfile line 2: process type 'web' is declared twice"),
        ("w$b: a\n", "Procfile line 1: invalid process type name 'w$b'"),
    ],
)
def test_bad_procfile_names_the_line(text: str, fragment: str) -> None:
    with pytest.raises(errors.BuildError) as info:
        parse_procfile(text)
    assert fragment in info.value.message


def test_start_command_and_health_timeout() -> None:
    config = parse_slipway_toml('[start]\ncommand = "gunicorn app:app"\n[health]\npath = "/up"\ntimeout = 30\n')
    assert config.processes == {"web": "gunicorn app:app"}
    assert (config.health_path, config.health_timeout) == ("/up", 30.0)


@pytest.mark.parametrize("text", ['[health]\ntimeout = 0\n', '[health]\ntimeout = "soon"\n',
                                  '[start]\ncommand = "a"\n[processes]\nweb = "b"\n'])
def test_start_and_timeout_are_validated(text: str) -> None:
    with pytest.raises(errors.BuildError):
        parse_slipway_toml(text)
