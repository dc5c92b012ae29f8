"""The CLI starts fast: a client command loads Typer and the CLI's own modules, never the server's
packages (each costs tens to hundreds of milliseconds on every command). Runs the real entry point in a
fresh interpreter and inspects what it imported; never asserts a timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import free_port

# the server's side and the heavy clients: none belongs to a command that only talks to the API
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "docker", "apprise", "jinja2",
         "pydantic_settings", "slipway.config", "slipway.db", "httpx")

PROBE = """
import json, sys
from slipway.cli.main import main
sys.argv = ["slipway", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m in HEAVY)), file=sys.stderr)
"""


def loaded_by(argv: list[str], url: str) -> list[str]:
    code = f"HEAVY = {HEAVY!r}\n" + PROBE
    env = {"SLIPWAY_URL": url, "SLIPWAY_TOKEN": "slp_none", "PATH": "/usr/bin:/bin", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True,
                            env=env, timeout=60, stdin=subprocess.DEVNULL)
    return json.loads(result.stderr.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("argv", [
    ["--version"], ["--help"], ["apps", "list", "--json"], ["apps", "list"], ["apps", "show", "x"],
    ["ps", "x"], ["scale", "x", "web=2", "--no-follow"], ["env", "list", "x"], ["admin", "--help"],
])
def test_client_commands_load_no_server_package(argv: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the command fails after its request
    assert loaded_by(argv, url) == []


def test_the_probe_sees_a_heavy_import() -> None:
    """The check above can fail: following a stream (here, logs -f) does load httpx."""
    assert "httpx" in loaded_by(["logs", "x", "-f"], f"http://127.0.0.1:{free_port()}")


def test_version_loads_no_http_client_nor_rich() -> None:
    probe = """
import json, sys
from slipway.cli.main import main
sys.argv = ["slipway", "--version"]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in ("rich", "urllib.request", "http.client", "ssl", "pydantic") if m in sys.modules)),
      file=sys.stderr)
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    assert result.stdout.startswith("slipway ") and json.loads(result.stderr.strip().splitlines()[-1]) == []
