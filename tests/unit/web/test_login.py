"""Logging in to the dashboard: sessions, the rate limit, CSRF on the login form, safe redirects."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from slipway.auth.models import WebSession
from slipway.platform import Platform
from slipway.web.pages import safe_next

from .conftest import PASSWORD, log_in, login_form_token


def sessions(plat: Platform) -> int:
    with plat.sessions() as session:
        return session.scalar(select(func.count()).select_from(WebSession)) or 0


def test_pages_without_a_session_redirect_to_login(client: TestClient) -> None:
    for path in ["/", "/apps/hello", "/apps/hello/delete", "/apps/hello/deploys/1", "/partials/apps"]:
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=" + path.replace("/", "%2F")


def test_a_query_survives_the_trip_through_login(client: TestClient) -> None:
    response = client.get("/apps/hello", params={"tab": "env"})
    assert response.headers["location"] == "/login?next=%2Fapps%2Fhello%3Ftab%3Denv"


def test_an_htmx_poll_without_a_session_sends_the_page_to_login(client: TestClient) -> None:
    response = client.get("/partials/apps", headers={"HX-Request": "true",
                                                     "HX-Current-URL": "http://testserver/apps/x"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"] == "/login?next=%2Fapps%2Fx"


def test_actions_without_a_session_redirect_to_login(client: TestClient) -> None:
    response = client.post("/apps/hello/deploy", data={"csrf_token": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_a_bad_or_missing_session_cookie_is_no_session(client: TestClient) -> None:
    client.cookies.set("slipway_session", "forged")
    assert client.get("/").status_code == 303


def test_login_sets_a_safe_session_cookie_and_lands_on_next(client: TestClient, plat: Platform) -> None:
    response = log_in(client, next_="/apps/hello")
    assert response.status_code == 303
    assert response.headers["location"] == "/apps/hello"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("slipway_session="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert sessions(plat) == 1
    assert client.get("/").status_code == 200


def test_the_session_cookie_is_secure_over_https(plat: Platform) -> None:
    from slipway.app import create_app

    with TestClient(create_app(platform=plat, background=False), base_url="https://testserver",
                    follow_redirects=False) as client:
        response = log_in(client)
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("slipway_session="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


def test_wrong_password_is_refused_and_the_sixth_failure_is_rate_limited(client: TestClient,
                                                                          plat: Platform) -> None:
    for _ in range(5):
        response = log_in(client, password="wrong password")
        assert response.status_code == 401
        assert "wrong username or password" in response.text
        assert "slipway_session" not in response.headers.get("set-cookie", "")
    # even the right password is refused now: the failures were committed and counted
    response = log_in(client, password=PASSWORD)
    assert response.status_code == 429
    assert "too many failed logins" in response.text
    assert sessions(plat) == 0


def test_unknown_user_gets_the_same_answer(client: TestClient) -> None:
    response = log_in(client, username="nobody")
    assert response.status_code == 401
    assert "wrong username or password" in response.text


def test_the_login_form_is_csrf_protected(client: TestClient, plat: Platform) -> None:
    login_form_token(client)
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    client.cookies.clear()
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403
    assert sessions(plat) == 0


def test_a_login_posted_from_another_origin_is_refused(client: TestClient, plat: Platform) -> None:
    token = login_form_token(client)
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token},
                           headers={"Origin": "http://evil.localhost:8080"})
    assert response.status_code == 403
    assert sessions(plat) == 0


UNSAFE_NEXT = ["//evil.example", "https://evil.example/", "/\\evil.example", "http:/evil.example",
               "javascript:alert(1)", "evil.example", "/\t/evil"]


def test_next_never_leaves_the_site(client: TestClient) -> None:
    response = log_in(client, next_="//evil.example")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    for target in UNSAFE_NEXT:
        assert safe_next(target) == "/", target


def test_login_page_does_not_echo_an_unsafe_next(client: TestClient) -> None:
    page = client.get("/login", params={"next": "//evil.example"})
    assert "evil.example" not in page.text


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/apps/hello?x=1") == "/apps/hello?x=1"
    assert safe_next(None) == "/"
    assert safe_next("") == "/"


def test_logout_ends_the_session(logged_in: TestClient, plat: Platform) -> None:
    from .conftest import page_csrf

    token = page_csrf(logged_in)
    assert logged_in.post("/logout", data={}).status_code == 403  # CSRF on logout too
    response = logged_in.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert sessions(plat) == 0
    assert logged_in.get("/").status_code == 303


def test_a_logged_in_user_skips_the_login_form(logged_in: TestClient) -> None:
    response = logged_in.get("/login", params={"next": "/apps/x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/apps/x"
