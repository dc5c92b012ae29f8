"""Scheduled jobs with a real `slipway server` and the CLI: a scheduled run happens on its own, a timeout
kills a run, and a scheduled time that passes while the server is down is recorded as missed, then caught
up once when it is back."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway.config import Settings
from tests.integration.hosts import Host, running_host

pytestmark = pytest.mark.integration
GRACE = "3"


@pytest.fixture
def host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    settings.job_lease = 5.0
    with running_host(settings, tmp_path) as h:
        yield h


def wait_for(check, timeout: float, every: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def runs(host: Host, job: str) -> list[dict[str, Any]]:
    return host.cli_json("cron", "runs", "hello", job)  # type: ignore[no-any-return]


def test_scheduled_run_timeout_and_missed_after_downtime(host: Host, make_repo) -> None:  # type: ignore[no-untyped-def]
    server = host.server(SLIPWAY_CRON_GRACE=GRACE)
    host.login()
    host.cli_json("apps", "create", "hello", "--git", make_repo().url, "--branch", "main")
    host.cli("deploy", "hello")
    preview = host.cli_json("cron", "preview", "30 1 * * *", "--tz", "Europe/Lisbon",
                            "--after", "2026-03-28T12:00:00Z", "-n", "2")
    assert preview["runs"] == ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]
    bad = host.cli("cron", "preview", "0 0 31 2 *", check=False)
    assert bad.returncode != 0 and "day-of-month" in bad.stderr + bad.stdout

    added = json.loads(host.cli("cron", "add", "hello", "tick", "* * * * *", "--json", "--",
                                "python3", "-c", "print('tick')").stdout)  # options before --: after, it's argv
    assert len(added["next_runs"]) == 3 and added["command"] == ["python3", "-c", "print('tick')"]
    host.cli("cron", "add", "hello", "slow", "@yearly", "--timeout", "2s", "--",
             "python3", "-c", "import time; time.sleep(120)")

    # a timeout kills the run (by hand: it need not wait for its time)
    host.cli("cron", "run", "hello", "slow")
    slow = wait_for(lambda: [r for r in runs(host, "slow") if r["status"] not in ("queued", "running")], 60)
    assert slow[0]["status"] == "timeout" and slow[0]["duration"] < 60

    # the every-minute job runs on its own, at its time
    done = wait_for(lambda: [r for r in runs(host, "tick") if r["trigger"] == "schedule"
                             and r["status"] == "succeeded"], 75)
    started, scheduled = (dt.datetime.fromisoformat(done[0][k]) for k in ("started_at", "scheduled_at"))
    assert done[0]["exit_code"] == 0 and started >= scheduled

    # down across the next scheduled time (and past the grace): recorded missed, then one catch-up run
    host.kill9(server)
    down_since = dt.datetime.now(dt.UTC)
    next_minute = down_since.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    time.sleep((next_minute - down_since).total_seconds() + float(GRACE) + 2)
    host.server(SLIPWAY_CRON_GRACE=GRACE)
    ledger = wait_for(lambda: (lambda rs: rs if any(r["status"] == "missed" for r in rs) and any(
        r["trigger"] == "catch-up" and r["status"] == "succeeded" for r in rs) else None)(runs(host, "tick")), 60)
    missed = [r for r in ledger if r["status"] == "missed"]
    assert dt.datetime.fromisoformat(missed[0]["scheduled_at"]) == next_minute
    assert "did not start within" in missed[0]["reason"]
    listed_jobs = host.cli_json("cron", "list", "hello")
    assert {j["name"] for j in listed_jobs} == {"tick", "slow"}
    table = host.cli("cron", "list", "hello").stdout
    assert "tick" in table and "Every minute" in table
