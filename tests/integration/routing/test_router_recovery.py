"""The real `slipway server`: a router whose config was wiped through its admin socket serves again by itself.

This is the outage of issue #11 (a health check sent DELETE to Caddy's admin API: every app of every team
went offline). The admin API is no longer reachable that way, but if the config is lost anyway the
server's periodic router check gives Caddy the database's route table again within seconds.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.integration.hosts import Host, running_host

from slipway.config import Settings
from slipway.routing.admin import CaddyAdmin

pytestmark = pytest.mark.integration


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.router = "caddy"
    with running_host(settings, tmp_path) as h:
        yield h


def answers(host: Host, app: str) -> bool:
    try:
        return host.through_router(app).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_wiped_router_config_is_restored_by_the_server(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    repo = make_repo()
    host.cli_json("apps", "create", "hello", "--git", repo.url, "--branch", "main")
    assert host.cli_json("deploy", "hello")["status"] == "succeeded"
    assert answers(host, "hello")

    sock = host.settings.caddy_admin_socket
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    caddy_pid = int((host.settings.home / "caddy" / "caddy.pid").read_text())
    listening = {c.laddr.port for c in psutil.Process(caddy_pid).net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {host.settings.http_port}  # the admin API is on no TCP port

    admin = CaddyAdmin(sock)
    try:
        admin.delete_config()  # what the DELETE health check did to Caddy's admin API
        assert admin.config() is None
    finally:
        admin.close()
    deadline = time.monotonic() + 60  # the check runs every 5 s; generous on a loaded machine
    while not answers(host, "hello"):
        assert time.monotonic() < deadline, "the router's config was not restored:\n" + host.logs()[-3000:]
        time.sleep(0.2)
    assert "lost the route table" in host.logs()
