"""EVERY route of the app, against every role, anonymous, scoped tokens and another team's owner.

The route table is read from the app itself; a route without an entry in auth/policy.py fails here.
Handlers never run: get_platform (which every handler needs, and the central gate does not take
through dependency injection) is overridden to answer 418, so a 418 means "the gate let it through".
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts

from slipway.auth.policy import ROUTES, SCOPE_PERMS, Rule, rule_for
from slipway.config import Settings
from slipway.errors import SlipwayError
from slipway.web.deps import get_platform, is_page
from tests.security_world import World, build_world

PARAMS = {"name": "alpha", "app": "alpha", "team": "default", "project": "default", "username": "viewer",
          "provider": "github", "hook_id": "nohook", "ref": "nochannel", "server": "local", "process_type": "web",
          "token": "inv_nothing", "session_id": "nosession", "token_id": "999999"}
ROLE_PERMS = {
    "owner": SCOPE_PERMS["admin"],
    "admin": SCOPE_PERMS["admin"] - {"team:owner"},
    "developer": {"app:read", "platform:read", "team:read", "audit:read", "app:logs", "app:deploy", "app:write",
                  "app:env:reveal"},
    "viewer": {"app:read", "platform:read", "team:read", "audit:read"},
}
EXPECTED_RIGHTS = {**ROLE_PERMS, "host-token": ROLE_PERMS["owner"], "read-token": SCOPE_PERMS["read"],
                   "deploy-token": SCOPE_PERMS["deploy"]}


class Reached(SlipwayError):
    status = 418
    code = "reached"


def concrete(path: str) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1).split(":")[0]
        return PARAMS.get(key, "1")

    return re.sub(r"\{([^}]+)\}", sub, path)


def routes(app) -> list[tuple[str, str, object]]:  # type: ignore[no-untyped-def]
    out = []
    for rc in iter_route_contexts(app.routes):
        methods = sorted((rc.methods or {"*"}) - {"HEAD"})
        for method in methods:
            out.append((method, rc.path, rc.original_route))
    return out


def expected(who: str, method: str, path: str, rule: Rule, route: object) -> bool:
    perm = rule.perm
    if perm == "public":
        return True
    if who == "anonymous" or (who.endswith("-token") and is_page(route)):  # the dashboard takes sessions only
        return False
    if perm == "authenticated":
        return True
    if who in ("outsider", "other-token"):
        # owner of team "other" only: nothing of the default team, no platform rights; lists and creating
        # an app (in their own project) are fine
        has_resource = any(f"{{{p}}}" in path for p in ("name", "app", "team", "project"))
        return not has_resource and not perm.startswith("platform:")
    return perm in EXPECTED_RIGHTS[who]


@pytest.fixture
def gate_world(settings: Settings):  # type: ignore[no-untyped-def]
    settings.token_burst = 100000
    for world in build_world(settings):
        app = world.client.app

        def reached() -> None:
            raise Reached("the gate let it through")

        app.dependency_overrides[get_platform] = reached  # type: ignore[attr-defined]
        yield world


def test_every_route_has_a_policy_entry(world: World) -> None:
    status_path = world.platform.settings.status_path
    missing = [(m, p) for m, p, _ in routes(world.client.app) if rule_for(m, p, status_path=status_path) is None]
    assert missing == [], f"routes without an authorization rule in auth/policy.py: {missing}"
    known = {(m, p) for m, p, _ in routes(world.client.app)}
    stale = [key for key in ROUTES if key not in known and key[1] != "/status"]
    assert stale == [], f"policy entries for routes that do not exist: {stale}"


def test_non_api_routes_are_public(world: World) -> None:
    """Starlette routes and mounts (docs, static) are outside the dependency gate: they must be public."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    for method, path, route in routes(world.client.app):
        if not isinstance(route, APIRoute | APIWebSocketRoute):  # FastAPI WebSockets pass the gate too
            assert rule_for(method, path).perm == "public", (method, path)  # type: ignore[union-attr]


def is_websocket(route: object) -> bool:
    from fastapi.routing import APIWebSocketRoute

    return isinstance(route, APIWebSocketRoute)


class WsResponse:
    """A WebSocket handshake as a status: 1008 (policy violation) is how the gate refuses one."""

    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text, self.headers = status_code, text, {}


def ws_call(world: World, who: str, path: str) -> WsResponse:
    from starlette.websockets import WebSocketDisconnect

    headers = world.who[who].headers() if who in world.who else {}
    world.client.cookies.clear()
    for k, v in (world.who[who].cookies() if who in world.who else {}).items():
        world.client.cookies.set(k, v)
    try:
        with world.client.websocket_connect(path, headers=headers) as ws:
            ws.receive()
    except WebSocketDisconnect as exc:
        status = getattr(exc, "status_code", None)  # an HTTP denial response (an exception handler's answer)
        if status is not None:
            return WsResponse(status, getattr(exc, "text", ""))
        return WsResponse(403 if exc.code == 1008 else 418, str(exc.reason))
    except Reached:
        return WsResponse(418, "reached")
    return WsResponse(418, "accepted")


PRINCIPALS = ("anonymous", "owner", "admin", "developer", "viewer", "host-token", "read-token", "deploy-token",
              "outsider", "other-token")


@pytest.mark.parametrize("who", PRINCIPALS)
def test_route_matrix(gate_world: World, who: str) -> None:
    world = gate_world
    status_path = world.platform.settings.status_path
    wrong = []
    for method, path, route in routes(world.client.app):
        rule = rule_for(method, path, status_path=status_path)
        assert rule is not None, (method, path)
        url = concrete(path) if path != "/static" else "/static/slipway.css"
        verb = "GET" if method == "*" else method
        response = ws_call(world, who, url) if is_websocket(route) else world.call(who, verb, url)
        allowed = response.status_code == 418 or response.status_code < 300
        if rule.perm == "public":  # the gate lets anyone through; the route may still answer 404 or 400
            allowed = response.status_code not in (401, 403) and not (
                response.status_code == 303 and response.headers["location"].startswith("/login"))
        denied = response.status_code in (401, 403, 404) or (
            response.status_code == 303 and response.headers["location"].startswith("/login"))
        assert allowed or denied, (who, method, path, response.status_code, response.text[:200])
        if allowed != expected(who, method, path, rule, route):
            wrong.append((method, path, rule.perm, response.status_code))
    assert wrong == [], f"{who}: unexpected allow/deny: {wrong}"


def test_reveal_needs_a_developer(gate_world: World) -> None:
    assert gate_world.call("viewer", "GET", "/api/v1/apps/alpha/env").status_code == 418
    assert gate_world.call("viewer", "GET", "/api/v1/apps/alpha/env?reveal=true").status_code == 403
    assert gate_world.call("read-token", "GET", "/api/v1/apps/alpha/hook?reveal=1").status_code == 403
    assert gate_world.call("developer", "GET", "/api/v1/apps/alpha/env?reveal=true").status_code == 418


def test_other_teams_apps_look_like_they_do_not_exist(world: World) -> None:
    response = world.call("other-token", "GET", "/api/v1/apps/alpha")
    assert response.status_code == 404
    assert world.call("other-token", "GET", "/api/v1/apps/nonexistent").status_code == 404
    assert world.call("other-token", "GET", "/api/v1/apps/beta").status_code == 200
    names = [a["name"] for a in world.call("other-token", "GET", "/api/v1/apps").json()]
    assert names == ["beta"]
    names = [a["name"] for a in world.call("viewer", "GET", "/api/v1/apps").json()]
    assert names == ["alpha"]


def test_a_route_without_a_rule_is_refused(settings: Settings) -> None:
    for world in build_world(settings):
        app = world.client.app

        @app.get("/api/v1/unlisted")  # type: ignore[attr-defined]
        def unlisted() -> dict[str, str]:
            return {"leak": "yes"}

        response = world.call("owner", "GET", "/api/v1/unlisted")
        assert response.status_code == 403
        assert "no authorization rule" in response.json()["error"]
