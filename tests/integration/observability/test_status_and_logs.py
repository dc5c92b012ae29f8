"""The public status page (only opted-in apps, nothing internal) and log search over real instance logs."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from tests.conftest import free_port
from tests.integration.conftest import Api
from tests.integration.observability.conftest import deploy_app

pytestmark = pytest.mark.integration


def test_status_page_lists_opted_in_apps_and_leaks_nothing(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    for name in ("shop", "secretadmin"):
        api.call("POST", "/apps", 201, json={"name": name, "git_url": make_repo(name).url})
    dead_port = free_port()
    check = api.call("POST", "/apps/shop/checks", 201, json={
        "name": "internal-probe-name", "target": f"http://10.1.2.3.invalid:{dead_port}/health?token=hunter2",
        "retries": 1, "timeout": 1, "headers": {"Authorization": "Bearer hunter2"}}).json()
    api.call("POST", "/apps/secretadmin/checks", 201, json={"name": "x", "target": "/", "retries": 1})
    api.call("POST", f"/apps/shop/checks/{check['id']}/run", 200)  # down: an open incident with output
    api.call("PATCH", "/apps/shop/status-page", 200, json={"enabled": True, "display_name": "Shop"})
    api.call("POST", "/monitors", 201, json={"name": "Public website", "target": f"http://127.0.0.1:{dead_port}/",
                                             "status_page": True, "retries": 1})
    api.call("POST", "/monitors", 201, json={"name": "hidden-monitor", "target": "http://127.0.0.1:1/"})

    page = api.client.get("/status")  # no token
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Shop" in html and "Public website" in html and "Ongoing outage" in html
    assert len(re.findall(r'class="bar ', html)) == 2 * 90
    for leak in ("secretadmin", "hidden-monitor", "internal-probe-name", "hunter2", "10.1.2.3", str(dead_port),
                 "127.0.0.1", "ConnectError", "health?token", "shop-web", "Bearer"):
        assert leak not in html, leak
    assert api.client.get("/static/status.css").status_code == 200

    api.call("PATCH", "/apps/shop/status-page", 200, json={"enabled": False})
    assert "Shop" not in api.client.get("/status").text
    assert api.call("GET", "/apps/shop/status-page", 200).json()["enabled"] is False


def test_log_search_by_level_text_time_and_release(api: Api, make_repo) -> None:  # type: ignore[no-untyped-def]
    app = deploy_app(api, make_repo, "noisy", noisy=True)
    [instance] = app["instances"]
    httpx.get(f"http://127.0.0.1:{instance['port']}/log", timeout=5)
    deadline = time.monotonic() + 10
    while "slow payment" not in api.call("GET", "/apps/noisy/logs?lines=50", 200).text:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    def search(query: str) -> list[dict[str, object]]:
        return api.call("GET", f"/apps/noisy/logs/search?{query}", 200).json()["lines"]  # type: ignore[no-any-return]

    errors = search("level=error")
    assert [line["text"] for line in errors] == ["ERROR payment failed for order 17"]
    assert errors[0]["instance"] == instance["id"] and errors[0]["release"] == 1 and errors[0]["stream"] == "stdout"
    warn_up = search("level=warn")
    assert [line["level"] for line in warn_up] == ["error", "warn"]  # newest last
    assert [line["text"] for line in search("q=PAYMENT")] == [
        "ERROR payment failed for order 17", '{"level": "warning", "msg": "slow payment gateway"}']
    assert [line["level"] for line in search("q=booting")] == ["debug"]
    assert search("stream=stderr")[-1]["text"] == "something without a level"
    assert search("q=payment&since=1m")  # relative times
    assert search("q=payment&until=2000-01-01T00:00:00Z") == []
    assert search("q=payment&release=2") == []
    page = api.call("GET", "/apps/noisy/logs/search?limit=2", 200).json()
    assert len(page["lines"]) == 2 and page["truncated"] is True

    export = api.call("GET", "/apps/noisy/logs/search?q=payment&format=text", 200)
    assert export.headers["content-type"].startswith("text/plain")
    assert [line.split(" ", 2)[1] for line in export.text.splitlines()] == [instance["id"]] * 2
    deploys = api.call("GET", "/apps/noisy/logs/search?source=deploys&q=release", 200).json()["lines"]
    assert any("release v1 created" in str(line["text"]) for line in deploys)
    api.call("GET", "/apps/noisy/logs/search?level=loud", 422)
    api.call("GET", "/apps/noisy/logs/search?since=yesterday", 422)
