"""A failed deploy's page: the one-line reason, and the log tail collapsed under it (escaped, never a repr)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.platform import Platform


def test_the_reason_is_a_line_and_the_tail_is_collapsed(logged_in: TestClient, plat: Platform,
                                                        make_repo: Callable[..., object]) -> None:
    repo = make_repo("hello")
    with transaction(plat.sessions) as session:
        app = app_service.create(session, name="hello", git_url=repo.url, branch="main")  # type: ignore[attr-defined]
        deploy = deploy_service.request(session, app, kind="deploy", actor="test")
        deploy_service.finish(session, deploy, status="failed",
                              reason="the web process crashed before it answered (exited with code 3): <boom>",
                              log_tail="Traceback (most recent call last):\n  <script>alert(1)</script>")
        deploy_id = deploy.id
    page = logged_in.get(f"/apps/hello/deploys/{deploy_id}")
    assert page.status_code == 200
    assert ('<p class="detail reason-line">the web process crashed before it answered (exited with code 3): '
            "&lt;boom&gt;</p>") in page.text
    tail = page.text.split('<details class="log-tail">', 1)[1].split("</details>", 1)[0]
    assert "<summary>Log tail</summary>" in tail and "Traceback (most recent call last):" in tail
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in tail and "<script>alert" not in page.text
    app_page = logged_in.get("/apps/hello")
    assert "exited with code 3" in app_page.text and "Traceback" not in app_page.text  # the list shows the line
