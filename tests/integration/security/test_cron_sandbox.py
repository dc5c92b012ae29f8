"""A scheduled job of a hostile app runs in the same sandbox as its other processes: the probe of
test_sandbox.py (control-plane files, other apps' files, the host's /tmp, the admin socket, the control
plane's environment, other processes) run as a cron job finds nothing of the platform."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.conftest import APP_PY
from tests.integration.conftest import Api
from tests.integration.cron.test_cron_api import run_cron
from tests.integration.security.test_sandbox import ENV_CANARY, SECRET, Host, assert_contained, probe_script

pytestmark = pytest.mark.integration


def test_a_cron_run_reaches_nothing_of_the_platform(api: Api, make_repo, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
                                                    ) -> None:
    monkeypatch.setenv("SLIPWAY_PROBE_CANARY", ENV_CANARY)
    platform = api.platform
    home = platform.settings.home
    assert platform.isolation.isolated, platform.isolation.reason
    secrets = [home / "secret.key", home / "slipway.db"]
    for path in secrets:
        if not path.exists():  # the test database may live elsewhere: a canary stands in for it
            path.write_text(SECRET)
    other = home / "artifacts" / "victim" / "build-1"
    other.mkdir(parents=True)
    (other / "private.txt").write_text(SECRET)
    host_tmp = Path("/tmp") / f"slipway-probe-{os.getpid()}-cron"
    host_tmp.write_text(SECRET)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(home / "admin.sock"))
    host = Host(home, secrets, other, home / "admin.sock", host_tmp)
    try:
        repo = make_repo(files={"app.py": APP_PY, "version.txt": "1\n", "requirements.txt": "",
                                "probe.sh": probe_script(host), "Procfile": "web: python app.py\n"})
        api.call("POST", "/apps", 201, json={"name": "attacker", "git_url": repo.url})
        assert api.deploy("attacker")["status"] == "succeeded"
        api.call("POST", "/apps/attacker/cron", 201, json={"name": "probe", "schedule": "@hourly",
                                                           "command": ["sh", "probe.sh"], "timeout": 60})
        api.call("POST", "/apps/attacker/cron/probe/run", 202)
        run_cron(platform)
        run = api.call("GET", "/apps/attacker/cron/probe/runs", 200).json()[0]
        lines = api.call("GET", "/apps/attacker/logs/search", 200,
                         params={"instance": run["instance"], "limit": 1000}).json()["lines"]
        output = "\n".join(line["text"] for line in lines)
        user = platform.sandbox.user("attacker") if platform.sandbox else None  # type: ignore[union-attr]
        assert_contained(output, host, user=user.uid if user is not None else None, process="cron run")
    finally:
        sock.close()
        host_tmp.unlink(missing_ok=True)
