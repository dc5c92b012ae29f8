"""What a deploy feels like from the real CLI against a real `slipway server`: the `live:` line the moment
traffic switches, the crash watch counted down, `--until live`, `--detach`, and exit codes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from tests.conftest import python_app_files
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration

LIVE = re.compile(r"^live: v(\d+) serving \((\d+\.\d) s\)$", re.M)


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.router = "caddy"
    settings.watch_seconds = 3.0
    with running_host(settings, tmp_path) as h:
        h.server()
        h.login()
        yield h


def deploy_of(host: Host, app: str, deploy_id: int) -> dict:  # type: ignore[type-arg]
    return next(d for d in host.cli_json("deploys", app) if d["id"] == deploy_id)


def test_deploy_prints_live_then_counts_the_watch_down_to_stable(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    host.cli("apps", "create", "feel", "--git", repo.url)
    result = host.cli("deploy", "feel")  # not a terminal here: plain lines, no control characters
    out = result.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out + result.stderr), repr(out)
    live = LIVE.search(out)
    assert live and live.group(1) == "1", out
    lines = out.splitlines()
    countdown = [line for line in lines if line.startswith("watching for crashes: ")]
    assert countdown and countdown[0] == "watching for crashes: 3 s", out
    assert lines.index(live.group(0)) < lines.index(countdown[0]) < lines.index("stable"), out
    assert "✔ deploy of feel v1 succeeded" in out

    # the server's record behind it: live_at between the request and the end, watch_until after live_at
    deploy = host.cli_json("deploys", "feel")[0]
    assert deploy["created_at"] < deploy["live_at"] < deploy["watch_until"] <= deploy["finished_at"]
    assert host.through_router("feel").json()["version"] == "1"

    # a rollback says the same things
    repo.commit({"version.txt": "2\n"}, "v2")
    host.cli("deploy", "feel")
    back = host.cli("rollback", "feel").stdout
    assert (m := LIVE.search(back)) and m.group(1) == "3" and "\nstable\n" in back, back


def test_until_live_returns_while_the_watch_goes_on(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    host.cli("apps", "create", "quick", "--git", repo.url)
    data = host.cli_json("deploy", "quick", "--until", "live")
    # the same shape as before, extended: still running (the watch), but serving
    assert data["status"] == "running" and data["live_at"] and data["watch_until"], data
    assert data["step"] == "watch"
    assert host.through_router("quick").json()["version"] == "1"
    deadline = time.monotonic() + 30
    while deploy_of(host, "quick", data["id"])["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert deploy_of(host, "quick", data["id"])["status"] == "succeeded"

    text = host.cli("rollback", "quick", "--until", "live", check=False)
    assert text.returncode == 1 and "no earlier release" in text.stderr  # nothing to go back to: no wait

    repo.commit({"version.txt": "2\n"}, "v2")
    plain = host.cli("deploy", "quick", "--until", "live").stdout
    assert LIVE.search(plain) and "stable" not in plain.splitlines(), plain
    assert "the crash watch goes on" in plain

    bad = host.cli("deploy", "quick", "--until", "soon", check=False)
    assert bad.returncode == 2 and "expected one of stable, live" in bad.stderr


def test_detach_returns_once_queued_with_the_id(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    host.cli("apps", "create", "later", "--git", repo.url)
    queued = host.cli("deploy", "later", "--detach").stdout
    match = re.fullmatch(r"queued deploy #(\d+) of later\n", queued)
    assert match, queued
    as_json = host.cli_json("deploy", "later", "--detach")  # the old --no-follow spelling is the same flag
    assert as_json["status"] == "queued" and as_json["live_at"] is None
    assert host.cli_json("deploy", "later", "--no-follow")["status"] == "queued"


def test_crash_in_the_watch_exits_non_zero_with_rolled_back_and_why(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo()
    host.cli("apps", "create", "flaky", "--git", repo.url)
    host.cli("deploy", "flaky")
    crashing = python_app_files("2")["app.py"].replace(
        'print("listening on"',
        'import threading; threading.Timer(1.5, lambda: os._exit(7)).start()\nprint("listening on"')
    repo.commit({"app.py": crashing, "version.txt": "2\n"}, "crashes after the switch")
    result = host.cli("deploy", "flaky", check=False)
    assert result.returncode == 1, result.stdout
    assert LIVE.search(result.stdout), result.stdout
    assert "stable" not in result.stdout.splitlines()
    why = re.compile(r"^rolled back: v2 crashed within 3 s of the switch \(flaky-web-v2-\w+: ", re.M)
    assert why.search(result.stderr), result.stderr
    deploy = host.cli_json("deploys", "flaky")[0]
    assert deploy["status"] == "rolled_back"
    assert deploy["reason"].startswith("v2 crashed within 3 s of the switch (flaky-web-v2-")
    assert host.through_router("flaky").json()["version"] == "1"
