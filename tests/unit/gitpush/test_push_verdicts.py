"""What each pushed ref does, and that webhook bursts never coalesce into a pushed deploy."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.deploys.models import Deploy
from slipway.errors import Invalid
from slipway.gitpush import service as push_service
from slipway.platform import Platform
from tests.unit.hooks.conftest import Hooked
from tests.unit.hooks.payloads import github_push

A, B, ZERO = "a" * 40, "b" * 40, "0" * 40


def receive(plat: Platform, ref: str, old: str = A, new: str = B, app: str = "hello") -> Any:
    with transaction(plat.sessions) as session:
        verdict = push_service.receive(session, app_service.get(session, app), ref=ref, old=old, new=new,
                                       actor="sshkey:dev/laptop")
        return verdict.action, verdict.message, (verdict.deploy.id if verdict.deploy else None)


def test_only_the_apps_branch_deploys(hooked: Hooked) -> None:
    plat = hooked.platform
    action, message, _ = receive(plat, "refs/heads/feature")
    assert action == "store" and "only main deploys hello" in message
    assert receive(plat, "refs/heads/feature", new=ZERO)[0] == "store"  # deleting another branch is fine
    action, message, _ = receive(plat, "refs/heads/main", new=ZERO)
    assert action == "reject" and "cannot be deleted" in message
    assert receive(plat, "refs/tags/v1")[0] == "store"
    assert hooked.deploys() == []
    action, _, deploy_id = receive(plat, "refs/heads/main")
    assert action == "deploy"
    [deploy] = hooked.deploys()
    assert (deploy.id, deploy.commit, deploy.source, deploy.status) == (deploy_id, B, "push", "queued")


@pytest.mark.parametrize("old, new", [("a" * 39, B), (A, "x" * 40), (A, ""), (A, "B" * 40)])
def test_object_ids_are_checked(hooked: Hooked, old: str, new: str) -> None:
    with pytest.raises(Invalid, match="full hexadecimal object id"):
        receive(hooked.platform, "refs/heads/main", old=old, new=new)


def test_a_webhook_burst_does_not_move_a_pushed_deploy(hooked: Hooked) -> None:
    _, _, pushed_id = receive(hooked.platform, "refs/heads/main")
    for n, sha in enumerate(("c" * 40, "d" * 40)):
        answer = hooked.send("github", github_push("refs/heads/main", after=sha), delivery=f"d-{n}")
        assert answer.status_code == 202, answer.text
    with hooked.platform.sessions() as session:
        rows = {d.id: (d.commit, d.source) for d in session.scalars(select(Deploy).order_by(Deploy.id))}
    assert rows[pushed_id] == (B, "push")  # the pusher still gets the commit they pushed
    assert sorted(v for v in rows.values() if v[1] is None) == [("d" * 40, None)]  # the burst: one, the newest


def test_an_app_on_a_prebuilt_image_refuses_pushes(hooked: Hooked) -> None:
    with transaction(hooked.platform.sessions) as session:
        app_service.update(session, app_service.get(session, "hello"), runtime="docker", image="busybox:1")
    action, message, _ = receive(hooked.platform, "refs/heads/main")
    assert action == "reject" and "prebuilt image" in message
