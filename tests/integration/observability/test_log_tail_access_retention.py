"""Filtered live tail over SSE, router access logs from a real Caddy, log retention on real files."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port
from tests.integration.conftest import Api
from tests.integration.observability.conftest import deploy_app

from slipway import errors
from slipway.observability import logretention
from slipway.observability.logsearch import access_files, log_root, parse_access
from slipway.routing.base import Route, RouteTable
from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy
from slipway.runtimes.local.runtime import LocalRuntime

pytestmark = pytest.mark.integration


def test_live_tail_applies_the_search_filters(api: Api, make_repo, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    app = deploy_app(api, make_repo, "noisy", noisy=True)
    [instance] = app["instances"]
    follow = LocalRuntime.follow
    monkeypatch.setattr(LocalRuntime, "follow", lambda self, iid, stop_after=None: follow(self, iid, stop_after=2.0))
    timer = threading.Timer(0.5, lambda: httpx.get(f"http://127.0.0.1:{instance['port']}/log", timeout=5))
    timer.start()
    try:
        response = api.call("GET", "/apps/noisy/logs?follow=true&level=warn&q=payment", 200)
    finally:
        timer.join()
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(data) == 2, data  # not the DEBUG history, not INFO, not the level-less stderr line
    assert "ERROR payment failed" in data[0] and "slow payment gateway" in data[1]

    # the same filters on history, from a time (the log files, as search reads them)
    history = api.call("GET", "/apps/noisy/logs?since=10m&level=error", 200).text.splitlines()
    assert len(history) == 1 and history[0].endswith("stdout ERROR payment failed for order 17")
    assert api.call("GET", "/apps/noisy/logs?stream=stderr", 200).text.splitlines()[-1].endswith(
        "stderr something without a level")
    assert api.call("GET", "/apps/noisy/logs?release=2", 200).text == ""
    assert "DEBUG booting" in api.call("GET", "/apps/noisy/logs", 200).text  # no filter: as before
    api.call("GET", "/apps/noisy/logs?level=loud", 422)


def test_access_log_search_and_error_rate(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    deploy_app(api, make_repo, "hello")
    directory = api.platform.settings.home / "caddy" / "access"
    directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    lines = [f'{{"ts": {now - 3 + i}, "status": {status}, "duration": 0.002, '
             f'"request": {{"method": "GET", "uri": "/p{i}"}}, "logger": "http.log.access.x"}}'
             for i, status in enumerate((200, 404, 502))]
    (directory / "hello.log").write_text("\n".join(lines) + "\n")
    found = api.call("GET", "/apps/hello/logs/search?source=access&level=warn", 200).json()["lines"]
    assert [(h["text"], h["level"]) for h in found] == [("GET /p1 404 2.0ms", "warn"), ("GET /p2 502 2.0ms", "error")]
    assert api.call("GET", "/apps/hello/logs/search?source=access&q=/p0", 200).json()["lines"][0]["stream"] == "access"
    points = api.call("GET", "/apps/hello/error-rate", 200).json()["points"]
    assert sum(p["requests"] for p in points) == 3 and sum(p["errors"] for p in points) == 1
    api.call("GET", "/apps/hello/error-rate?range=1y", 422)
    api.call("GET", "/apps/nope/error-rate", 404)


def test_retention_deletes_old_and_oversized_files_but_never_live_ones(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    app = deploy_app(api, make_repo, "hello")
    [instance] = app["instances"]
    platform = api.platform
    directory = log_root(platform) / instance["id"]
    old = time.time() - 30 * 86400
    for n, size in ((1, 1000), (2, 1000), (3, 1000)):
        path = directory / f"out.log.{n}"
        path.write_text("x" * size)
        os.utime(path, (old + n, old + n) if n == 3 else (time.time() - n, time.time() - n))
    os.utime(directory / "out.log", (old, old))  # live: kept however old
    access = platform.settings.home / "caddy" / "access"
    access.mkdir(parents=True, exist_ok=True)
    (access / "hello-2024-01-01T00-00-00.000.log").write_text("{}\n")
    os.utime(access / "hello-2024-01-01T00-00-00.000.log", (old, old))
    (access / "hello.log").write_text("{}\n")
    platform.settings.log_max_mb_per_app = 1500 / (1024 * 1024) + (directory / "out.log").stat().st_size / (1024 * 1024)
    assert logretention.enforce(platform) == 3  # out.log.3 and the rolled access log by age, then out.log.2 by size
    assert sorted(p.name for p in directory.glob("out.log*")) == ["out.log", "out.log.1"]
    assert [p.name for p in access_files(platform.settings.home, "hello") if p.exists()] == ["hello.log"]


@pytest.fixture
def caddy(tmp_path: Path) -> Iterator[CaddyProcess]:
    try:
        binary = find_caddy()
    except errors.Unavailable as exc:
        pytest.skip(f"needs the caddy binary: {exc.message}")
    process = CaddyProcess(binary, tmp_path / "caddy" / "admin.sock", tmp_path / "caddy")
    try:
        process.start()
        yield process
    finally:
        process.stop()
        process.close()


def test_caddy_writes_each_apps_access_log_to_its_file(caddy: CaddyProcess, tmp_path: Path) -> None:
    port = free_port()
    router = CaddyRouter(caddy.admin, port, free_port(), process=caddy, bind_host="127.0.0.1",
                         access_log_dir=str(tmp_path / "access"))
    try:
        router.apply(RouteTable([Route(host="hello.test", app="hello"), Route(host="shop.test", app="shop")]))
        assert httpx.get(f"http://127.0.0.1:{port}/a?b=1", headers={"Host": "hello.test"}).status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "unknown.test"}).status_code == 404
        path = tmp_path / "access" / "hello.log"
        deadline = time.monotonic() + 5
        while not (path.exists() and path.read_text()):
            assert time.monotonic() < deadline, "no access log written"
            time.sleep(0.02)
        [hit] = [parse_access(line) for line in path.read_text().splitlines()]
        assert hit is not None and hit.text.startswith("GET /a?b=1 503 ") and hit.level == "error"
        assert not (tmp_path / "access" / "shop.log").exists() or not (tmp_path / "access" / "shop.log").read_text()
    finally:
        router.close()
