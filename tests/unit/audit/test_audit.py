"""Every mutating action leaves one append-only audit record: who, from where, what, old → new, redacted."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from fastapi.routing import iter_route_contexts
from sqlalchemy import select

from slipway.audit import service as audit_service
from slipway.audit.models import AuditRecord
from slipway.db import transaction, utcnow
from slipway.events import emit
from tests.security_world import PASSWORD, World


def records(world: World, **where: object) -> list[AuditRecord]:
    with world.platform.sessions() as session:
        stmt = select(AuditRecord).order_by(AuditRecord.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(AuditRecord, key) == value)
        return list(session.scalars(stmt))


def test_api_change_is_recorded_with_who_where_and_redacted_values(world: World) -> None:
    secret = "canary-9d1f3e"
    assert world.call("developer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"DB_PASSWORD": secret}}
                      ).status_code == 200
    assert world.call("developer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"DB_PASSWORD": secret + "2"}}
                      ).status_code == 200
    rows = records(world, action="env.set")
    assert len(rows) == 2
    row = rows[-1]
    assert row.actor == "user:developer" and row.source == "api" and row.ip == "testclient"
    assert row.resource_type == "app" and row.resource_name == "alpha" and row.project_id is not None
    assert row.detail["keys"] == ["DB_PASSWORD"]
    changed = [v for k, v in row.changes.items() if k.startswith("env_vars.value_enc")]
    assert changed == [["[redacted]", "[redacted]"]]
    assert secret not in repr([r.detail for r in rows]) + repr([r.changes for r in rows])


def test_old_and_new_values_of_an_update(world: World) -> None:
    assert world.call("admin", "PATCH", "/api/v1/apps/alpha", json={"branch": "release"}).status_code == 200
    row = records(world, action="app.updated")[-1]
    assert row.changes[f"apps.branch#{row.app_id}"] == ["main", "release"]


def test_token_rights_and_logins_are_recorded(world: World) -> None:
    world.call("viewer", "POST", "/api/v1/tokens", json={"name": "script"})
    world.call("owner", "PUT", "/api/v1/teams/default/members/viewer", json={"role": "developer"})
    client = world.client
    client.cookies.clear()
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "viewer", "password": "nope-nope", "csrf_token": csrf})
    actions = [(r.action, r.actor) for r in records(world)]
    assert ("token.created", "user:viewer") in actions
    assert ("member.role_changed", "user:owner") in actions
    assert ("login.failed", "user:viewer") in actions
    change = records(world, action="member.role_changed")[-1]
    assert change.detail["old_role"] == "viewer" and change.detail["role"] == "developer"
    assert records(world, action="login.failed")[-1].source == "dashboard"


def test_a_mutating_request_without_an_event_still_leaves_a_record(world: World) -> None:
    assert world.call("viewer", "POST", "/api/v1/notifications/read", json={"all": True}).status_code in (200, 422)
    row = records(world, action="http.post")[-1]
    assert row.actor == "user:viewer" and row.detail["route"] == "/api/v1/notifications/read"
    denied = world.call("viewer", "DELETE", "/api/v1/apps/alpha")
    assert denied.status_code == 403
    row = records(world, action="http.delete")[-1]
    assert row.status == 403 and row.resource_name == "alpha"  # refused attempts are kept too


def test_webhook_and_system_actors(world: World) -> None:
    with transaction(world.platform.sessions) as session:
        emit(session, "deploy.requested", app_id=None, actor="webhook:github", ref="main")
        emit(session, "deploy.started", actor="scheduler")
    assert records(world, action="deploy.requested")[-1].source == "webhook"
    assert records(world, action="deploy.started")[-1].source == "scheduler"


def test_activity_api_filters_visibility_and_csv(world: World) -> None:
    world.call("developer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "1"}})
    world.call("outsider", "PATCH", "/api/v1/apps/beta/env", json={"set": {"B": "=HYPERLINK(1)"}},)
    mine = world.call("viewer", "GET", "/api/v1/teams/default/activity", params={"action": "env.*"}).json()
    assert {r["resource_name"] for r in mine} == {"alpha"}
    assert world.call("viewer", "GET", "/api/v1/teams/other/activity").status_code == 404
    assert world.call("outsider", "GET", "/api/v1/apps/alpha/activity").status_code == 404
    by_user = world.call("owner", "GET", "/api/v1/apps/alpha/activity", params={"user": "developer"}).json()
    assert by_user and all(r["actor"] == "user:developer" for r in by_user)
    assert world.call("owner", "GET", "/api/v1/apps/alpha/activity", params={"since": "bogus"}).status_code == 422
    export = world.call("owner", "GET", "/api/v1/teams/default/activity", params={"format": "csv"})
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert any(r["action"] == "env.set" for r in rows)
    page = world.call("viewer", "GET", "/activity")
    assert page.status_code == 200 and "env.set" in page.text and "beta" not in page.text


def test_no_route_edits_or_deletes_audit_records(world: World) -> None:
    for rc in iter_route_contexts(world.client.app.routes):
        if "activity" in (rc.path or "") or "audit" in (rc.path or ""):
            assert (rc.methods or set()) <= {"GET", "HEAD"}, rc.path


def test_retention_prune(world: World) -> None:
    with transaction(world.platform.sessions) as session:
        session.add(AuditRecord(actor="system", source="system", action="old.thing",
                                ts=utcnow() - dt.timedelta(days=400)))
    with transaction(world.platform.sessions) as session:
        assert audit_service.prune(session, retention_days=365) == 1
    assert records(world, action="old.thing") == []
    assert records(world)  # the recent ones stay


def test_dashboard_actions_are_recorded_as_dashboard(world: World) -> None:
    response = world.call("developer", "POST", "/apps/alpha/env",
                          data={"lines": "X=1", "csrf_token": world.who["developer"].csrf})
    assert response.status_code == 303
    row = records(world, action="env.set")[-1]
    assert row.source == "dashboard" and row.actor == "user:developer"
    assert PASSWORD not in repr(records(world))


def test_the_activity_page_refreshes_its_rows_with_the_same_filters(world: World) -> None:
    page = world.call("viewer", "GET", "/activity", params={"action": "env.*", "since": "24h"})
    assert page.status_code == 200
    body = page.text
    assert 'id="activity-rows"' in body and 'hx-trigger="every 5s"' in body and 'hx-select="#activity-rows"' in body
    assert 'hx-get="/activity?action=env.' in body and "since=24h" in body
    # what the refresh fetches shows a change made after the page was opened
    world.call("developer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"LATER": "1"}})
    again = world.call("viewer", "GET", "/activity", params={"action": "env.*", "since": "24h"}).text
    assert "LATER" not in body and "LATER" in again
