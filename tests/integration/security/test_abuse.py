"""Abuse at the edge: each test fails if its protection is removed."""

from __future__ import annotations

from tests.security_world import World


def test_csrf_without_token_is_refused_for_cookie_sessions(world: World) -> None:
    who = world.who["owner"]
    world.client.cookies.clear()
    world.client.cookies.set("slipway_session", who.cookie)  # type: ignore[arg-type]
    assert world.client.patch("/api/v1/apps/alpha/env", json={"set": {"A": "1"}}).status_code == 403
    assert world.client.post("/apps/alpha/stop", data={}).status_code == 403
    assert world.client.post("/apps/alpha/stop", data={"csrf_token": "wrong"}).status_code == 403
    # the right token, but from another origin (a sibling app subdomain)
    response = world.client.post("/apps/alpha/stop", data={"csrf_token": who.csrf},
                                 headers={"Origin": "http://evil.localhost"})
    assert response.status_code == 403
    assert world.client.post("/apps/alpha/stop", data={"csrf_token": who.csrf}).status_code == 303


def test_a_token_of_another_team_cannot_touch_our_app(world: World) -> None:
    for method, path in (("GET", "/api/v1/apps/alpha"), ("GET", "/api/v1/apps/alpha/env?reveal=true"),
                         ("POST", "/api/v1/apps/alpha/deploys"), ("DELETE", "/api/v1/apps/alpha"),
                         ("GET", "/api/v1/apps/alpha/logs"), ("GET", "/api/v1/apps/alpha/activity"),
                         ("GET", "/api/v1/teams/default/members")):
        assert world.call("other-token", method, path).status_code == 404, (method, path)
    assert world.call("other-token", "PUT", "/api/v1/teams/default/members/outsider",
                      json={"role": "owner"}).status_code == 404
    assert world.call("other-token", "POST", "/api/v1/apps", json={"name": "x", "git_url": "https://e.com/x.git",
                                                                   "project": "default"}).status_code == 404


def test_path_traversal_in_log_and_file_parameters(world: World) -> None:
    for bad in ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "web/../../x"):
        response = world.call("owner", "GET", f"/api/v1/apps/alpha/logs?process_type={bad}")
        assert response.status_code in (404, 422) and "root:" not in response.text
    response = world.call("owner", "GET", "/static/../../auth/service.py")
    assert response.status_code == 404 and "argon2" not in response.text
    response = world.call("owner", "GET", "/static/%2e%2e/%2e%2e/auth/service.py")
    assert response.status_code == 404 and "argon2" not in response.text


def test_oversized_bodies_are_refused_before_reading(world: World) -> None:
    big = "x" * (1024 * 1024 + 1)
    response = world.call("owner", "PATCH", "/api/v1/apps/alpha/env", content=big,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    response = world.call("owner", "POST", "/login", content=big,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_header_injection_in_redirects_and_downloads(world: World) -> None:
    page = world.client.get("/login", params={"next": "/x\r\nSet-Cookie: evil=1"})
    assert "evil" not in page.headers.get("set-cookie", "")
    response = world.call("owner", "GET", "/api/v1/apps/alpha/activity", params={"format": "csv"})
    assert "\r" not in response.headers["content-disposition"] and "\n" not in response.headers["content-disposition"]
    # an env value with a newline cannot become a second variable
    world.call("owner", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "1\nB=2"}})
    keys = world.call("owner", "GET", "/api/v1/apps/alpha/env").json()["env"]
    assert "B" not in keys
    # a crafted token header never authenticates
    assert world.client.get("/api/v1/whoami", headers={"Authorization": "Bearer x\tslw_y"}).status_code == 401


def test_csv_export_neutralises_formulas(world: World) -> None:
    world.call("owner", "POST", "/api/v1/teams/default/projects", json={"name": "p1"})
    from slipway.audit.service import _cell

    assert _cell("=HYPERLINK(\"http://evil\")").startswith("'")
    assert _cell("+1") == "'+1" and _cell("ok") == "ok"
