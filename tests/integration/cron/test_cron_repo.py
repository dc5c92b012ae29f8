"""Jobs declared in slipway.toml follow the live release: a deploy applies them, a rollback restores the
old release's jobs; jobs added through the API are left alone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import python_app_files
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration


def jobs(api: Api) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in api.call("GET", "/apps/hello/cron", 200).json()}


def test_deploy_applies_and_rollback_restores_repository_jobs(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={**python_app_files("1"), "slipway.toml": (
        '[cron.cleanup]\nschedule = "*/5 * * * *"\ncommand = "python3 -c \'print(1)\'"\n'
        '[cron.nightly]\nschedule = "@daily"\ncommand = ["python3", "-c", "print(2)"]\ntz = "Europe/Lisbon"\n')})
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "branch": "main"})
    assert api.deploy("hello")["status"] == "succeeded"
    first = jobs(api)
    assert set(first) == {"cleanup", "nightly"}
    assert first["cleanup"]["command"] == ["python3", "-c", "print(1)"] and first["nightly"]["tz"] == "Europe/Lisbon"
    api.call("POST", "/apps/hello/cron", 201, json={"name": "manual", "schedule": "@hourly", "command": ["true"]})

    repo.commit({"version.txt": "2\n", "slipway.toml": (
        '[cron.cleanup]\nschedule = "*/10 * * * *"\ncommand = "python3 -c \'print(10)\'"\n')})
    assert api.deploy("hello")["status"] == "succeeded"
    second = jobs(api)
    assert set(second) == {"cleanup", "manual"}  # nightly left the repository; the API's job stays
    assert (second["cleanup"]["source"], second["manual"]["source"]) == ("repo", "api")
    assert second["cleanup"]["schedule"] == "*/10 * * * *"

    assert api.deploy("hello", "/rollback", {"version": 1})["status"] == "succeeded"
    back = jobs(api)
    assert set(back) == {"cleanup", "nightly", "manual"}
    assert back["cleanup"]["schedule"] == "*/5 * * * *" and back["cleanup"]["command"][-1] == "print(1)"


def test_a_bad_job_fails_the_build_with_the_reason(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={**python_app_files("1"), "slipway.toml": '[cron.x]\nschedule = "0 0 31 2 *"\n'
                                                                       'command = "true"\n'})
    api.call("POST", "/apps", 201, json={"name": "hello", "git_url": repo.url, "branch": "main"})
    deploy = api.deploy("hello")
    assert deploy["status"] == "failed"
    assert "[cron.x]: invalid schedule '0 0 31 2 *': Bad day-of-month" in api.log("hello", deploy["id"])
    assert jobs(api) == {}
