"""Dashboard actions: CSRF on every POST, deploys queued through the services, env values masked."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.db import transaction
from slipway.deploys.models import Deploy
from slipway.jobs.models import Job
from slipway.platform import Platform

from .conftest import page_csrf


def count(plat: Platform, model: type) -> int:
    with plat.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def make_app(plat: Platform, make_repo: Callable[..., object]) -> Callable[[str], str]:
    def make(name: str = "hello") -> str:
        repo = make_repo(name)
        with transaction(plat.sessions) as session:
            app_service.create(session, name=name, git_url=repo.url, branch="main")  # type: ignore[attr-defined]
        return name

    return make


ACTIONS = ["/apps/hello/deploy", "/apps/hello/restart", "/apps/hello/stop", "/apps/hello/start",
           "/apps/hello/rollback", "/apps/hello/env", "/apps/hello/env/unset", "/apps/hello/env/reveal",
           "/apps/hello/delete", "/apps", "/logout"]


def test_every_action_refuses_a_missing_or_wrong_csrf_token(logged_in: TestClient, plat: Platform,
                                                             make_app: Callable[[str], str]) -> None:
    make_app("hello")
    data = {"key": "A", "lines": "A=1", "confirm": "hello", "name": "other", "git_url": "file:///tmp/x"}
    for path in ACTIONS:
        assert logged_in.post(path, data=data).status_code == 403, path
        assert logged_in.post(path, data={**data, "csrf_token": "wrong"}).status_code == 403, path
        assert logged_in.post(path, data=data, headers={"X-CSRF-Token": "wrong"}).status_code == 403, path
    assert count(plat, Deploy) == 0
    assert count(plat, Job) == 0
    assert count(plat, App) == 1
    assert logged_in.get("/").status_code == 200  # still logged in: the refused logout did nothing


def test_deploy_with_the_token_is_queued_and_shown(logged_in: TestClient, plat: Platform,
                                                   make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in, "/apps/hello")
    response = logged_in.post("/apps/hello/deploy", data={"csrf_token": token})
    assert response.status_code == 303
    with plat.sessions() as session:
        deploy = session.scalars(select(Deploy)).one()
    assert deploy.kind == "deploy"
    assert deploy.status == "queued"
    assert count(plat, Job) == 1
    assert response.headers["location"] == f"/apps/hello/deploys/{deploy.id}"
    page = logged_in.get(response.headers["location"])
    assert page.status_code == 200
    assert f"/api/v1/apps/hello/deploys/{deploy.id}/stream" in page.text
    assert "fetch" in page.text and "drain" in page.text  # the step progress


def test_the_csrf_token_also_works_as_a_header(logged_in: TestClient, plat: Platform,
                                               make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    response = logged_in.post("/apps/hello/deploy", headers={"X-CSRF-Token": token})
    assert response.status_code == 303
    assert count(plat, Deploy) == 1


def test_an_action_posted_from_another_origin_is_refused(logged_in: TestClient, plat: Platform,
                                                         make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    response = logged_in.post("/apps/hello/deploy", data={"csrf_token": token},
                              headers={"Origin": "http://other.localhost:8080"})
    assert response.status_code == 403
    assert count(plat, Deploy) == 0


def test_an_action_the_service_refuses_becomes_a_flash_message(logged_in: TestClient, plat: Platform,
                                                               make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    response = logged_in.post("/apps/hello/restart", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/apps/hello"
    page = logged_in.get("/apps/hello")
    assert "has no live release yet" in page.text
    assert "has no live release yet" not in logged_in.get("/apps/hello").text  # shown once
    assert count(plat, Deploy) == 0


def test_new_app_form_shows_service_errors_inline(logged_in: TestClient, plat: Platform,
                                                  make_repo: Callable[..., object]) -> None:
    token = page_csrf(logged_in)
    repo = make_repo("r")
    response = logged_in.post("/apps", data={"csrf_token": token, "name": "Bad_Name", "git_url": repo.url,  # type: ignore[attr-defined]
                                             "branch": "main"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "invalid app name" in response.text
    assert 'value="Bad_Name"' in response.text  # what the user typed stays in the form
    assert "<html" not in response.text  # a partial, swapped in place
    response = logged_in.post("/apps", data={"csrf_token": token, "name": "ok", "git_url": "file:///nonexistent/x",
                                             "branch": "main"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert count(plat, App) == 0
    response = logged_in.post("/apps", data={"csrf_token": token, "name": "hello", "git_url": repo.url,  # type: ignore[attr-defined]
                                             "branch": "main"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/apps/hello"
    assert count(plat, App) == 1
    assert "hello" in logged_in.get("/partials/apps").text


def test_new_app_without_htmx_renders_the_whole_page(logged_in: TestClient) -> None:
    token = page_csrf(logged_in)
    response = logged_in.post("/apps", data={"csrf_token": token, "name": "-x", "git_url": "file:///x"})
    assert response.status_code == 422
    assert "<html" in response.text and "invalid app name" in response.text


def test_env_values_are_masked_until_revealed_and_always_escaped(logged_in: TestClient, plat: Platform,
                                                                  make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    secret = "<script>alert('s3cr3t')</script>"
    response = logged_in.post("/apps/hello/env", data={"csrf_token": token, "apply": "on",
                                                       "lines": f"API_KEY={secret}\n\n# note\nMODE=a=b\n"})
    assert response.status_code == 303
    assert count(plat, Deploy) == 0  # nothing is live: nothing to roll out
    page = logged_in.get("/apps/hello").text
    assert "Set API_KEY, MODE." in page
    assert "API_KEY" in page and "MODE" in page
    assert "s3cr3t" not in page
    revealed = logged_in.post("/apps/hello/env/reveal", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert revealed.status_code == 200
    assert revealed.headers["cache-control"] == "no-store"
    assert "&lt;script&gt;alert(&#39;s3cr3t&#39;)&lt;/script&gt;" in revealed.text
    assert secret not in revealed.text
    assert "a=b" in revealed.text
    whole_page = logged_in.post("/apps/hello/env/reveal", data={"csrf_token": token})  # without htmx
    assert whole_page.status_code == 200 and "<html" in whole_page.text and "a=b" in whole_page.text
    with plat.sessions() as session:
        assert app_service.env_plain(session, plat.box, app_service.get(session, "hello"))["API_KEY"] == secret


def test_env_errors_change_nothing(logged_in: TestClient, plat: Platform, make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    logged_in.post("/apps/hello/env", data={"csrf_token": token, "lines": "GOOD=1\nPORT=80"})
    page = logged_in.get("/apps/hello").text
    assert "PORT is set by Slipway" in page
    assert "GOOD" not in page
    logged_in.post("/apps/hello/env", data={"csrf_token": token, "lines": "just words"})
    assert "line 1: expected KEY=VALUE" in logged_in.get("/apps/hello").text


def test_unset_removes_a_key(logged_in: TestClient, plat: Platform, make_app: Callable[[str], str]) -> None:
    make_app("hello")
    token = page_csrf(logged_in)
    logged_in.post("/apps/hello/env", data={"csrf_token": token, "lines": "A=1\nB=2"})
    assert logged_in.post("/apps/hello/env/unset", data={"csrf_token": token, "key": "A"}).status_code == 303
    with plat.sessions() as session:
        assert app_service.env_keys(session, app_service.get(session, "hello")) == ["B"]


def test_delete_needs_the_name_typed(logged_in: TestClient, plat: Platform, make_app: Callable[[str], str]) -> None:
    make_app("hello")
    assert logged_in.get("/apps/hello/delete").status_code == 200
    token = page_csrf(logged_in)
    assert logged_in.post("/apps/hello/delete", data={"csrf_token": token, "confirm": "nope"}).status_code == 422
    assert count(plat, App) == 1
    response = logged_in.post("/apps/hello/delete", data={"csrf_token": token, "confirm": "hello"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert count(plat, App) == 0


def test_unknown_app_is_an_html_404(logged_in: TestClient) -> None:
    response = logged_in.get("/apps/nope")
    assert response.status_code == 404
    assert "no app named" in response.text and "<html" in response.text


def test_pages_forbid_framing_and_inline_script(logged_in: TestClient) -> None:
    response = logged_in.get("/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text  # every script is a file under /static
    assert "https://" not in response.text.replace("https://github.com/acme/hello.git", "")  # no CDN


def test_vendored_assets_are_served(client: TestClient) -> None:
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    assert client.get("/static/slipway.css").status_code == 200
    assert client.get("/static/deploy.js").status_code == 200
