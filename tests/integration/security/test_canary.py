"""The canary: an env value set, deployed, rolled back, then looked for everywhere as every role.

It may appear only where an authorized user asked for it in clear (reveal), never at rest in plain text."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import pytest
from sqlalchemy import text

from slipway.config import Settings
from slipway.db import Base
from tests.integration.conftest import run_jobs
from tests.security_world import build_world

pytestmark = pytest.mark.integration


def test_canary_secret_shows_only_on_reveal(settings: Settings, make_repo) -> None:  # type: ignore[no-untyped-def]
    canary = "canary-" + secrets.token_hex(12)
    repo = make_repo()
    with contextlib.closing(build_world(settings)) as worlds:  # closed (and cleaned up) even on failure
        for world in worlds:
            plat = world.platform
            assert world.call("owner", "POST", "/api/v1/apps", json={"name": "bird", "git_url": repo.url}
                              ).status_code == 201
            assert world.call("developer", "PATCH", "/api/v1/apps/bird/env",
                              json={"set": {"GREETING": canary}}).status_code == 200
            first = world.call("developer", "POST", "/api/v1/apps/bird/deploys").json()
            run_jobs(plat)
            first_done = world.call("owner", "GET", f"/api/v1/apps/bird/deploys/{first['id']}").json()
            assert first_done["status"] == "succeeded"
            assert world.call("developer", "PATCH", "/api/v1/apps/bird/env",
                              json={"set": {"GREETING": "plain"}, "deploy": True}).status_code == 200
            run_jobs(plat)
            back = world.call("developer", "POST", "/api/v1/apps/bird/rollback", json={"version": 1})
            assert back.status_code == 202, back.text
            run_jobs(plat)
            assert world.call("owner", "GET", f"/api/v1/apps/bird/deploys/{back.json()['id']}").json()["status"] == \
                "succeeded"

            deploy_ids = [d["id"] for d in world.call("owner", "GET", "/api/v1/apps/bird/deploys").json()]
            looks = ["/api/v1/apps", "/api/v1/apps/bird", "/api/v1/apps/bird/env", "/api/v1/apps/bird/releases",
                     "/api/v1/apps/bird/deploys", "/api/v1/apps/bird/logs", "/api/v1/apps/bird/instances",
                     "/api/v1/apps/bird/activity", "/api/v1/apps/bird/activity?format=csv",
                     "/api/v1/teams/default/activity", "/api/v1/teams/default/activity?format=csv",
                     "/api/v1/apps/bird/hook", "/", "/apps/bird", "/activity", "/apps/bird/activity",
                     "/apps/bird/logs", "/teams/default/activity.csv", "/api/openapi.json",
                     *[f"/api/v1/apps/bird/deploys/{i}/log" for i in deploy_ids],
                     *[f"/apps/bird/deploys/{i}" for i in deploy_ids]]
            for who in world.who:
                for path in looks:
                    response = world.call(who, "GET", path)
                    assert canary not in response.text, (who, path)
            # where an authorized user asks for it in clear, it is there
            revealed = world.call("developer", "GET", "/api/v1/apps/bird/env?reveal=true").json()["env"]
            assert revealed["GREETING"] == canary
            assert canary in world.call("owner", "POST", "/apps/bird/env/reveal",
                                        data={"csrf_token": world.who["owner"].csrf}).text
            for who in ("viewer", "read-token", "deploy-token", "outsider", "other-token", "anonymous"):
                response = world.call(who, "GET", "/api/v1/apps/bird/env?reveal=true")
                assert response.status_code in (401, 403, 404) and canary not in response.text, who
                page = world.call(who, "POST", "/apps/bird/env/reveal", data={"csrf_token": world.who[who].csrf or ""})
                assert canary not in page.text, who

            # not at rest: neither the database nor its files hold the value in plain text
            with plat.engine.connect() as conn:
                for table in Base.metadata.sorted_tables:
                    for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                        assert canary not in repr(tuple(row)), table.name
            url = plat.settings.db_url
            if url.startswith("sqlite:///"):
                db = Path(url.removeprefix("sqlite:///"))
                for path in (db, Path(f"{db}-wal")):
                    if path.exists():
                        assert canary.encode() not in path.read_bytes(), path
