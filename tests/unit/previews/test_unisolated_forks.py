"""Unisolated mode refuses pull requests from forks: a stranger's code never runs beside the platform."""

from __future__ import annotations

from sqlalchemy import select

from slipway.previews.models import Preview
from slipway.sandbox import Isolation, Sandbox
from tests.unit.hooks.conftest import Hooked
from tests.unit.previews.payloads import github_pull

SHA = "a" * 40
SHA2 = "b" * 40


def test_a_fork_pull_request_is_refused_and_recorded(hooked: Hooked) -> None:
    home = hooked.platform.settings.home
    hooked.platform.sandbox = Sandbox(Isolation("unisolated", "bubblewrap is not installed"), home)
    # the app opted in to fork previews: only the missing sandbox stands in the way
    assert hooked.client.patch("/api/v1/apps/hello/preview-settings", json={"forks": True}).status_code == 200
    fork = hooked.send("github", github_pull("opened", 2, SHA2, fork=True), event="pull_request", delivery="f")
    assert fork.status_code in (200, 202), fork.text
    assert "unisolated" in fork.text
    with hooked.platform.sessions() as session:
        preview = session.scalars(select(Preview).where(Preview.number == 2)).one()
        assert preview.state == "refused" and "unisolated" in (preview.reason or "")
        assert preview.app_id is None  # nothing was created, nothing will build
    # a pull request from the repository itself is the team's own code: still previewed
    own = hooked.send("github", github_pull("opened", 1, SHA), event="pull_request", delivery="o")
    assert own.status_code == 202 and "refused" not in own.text
