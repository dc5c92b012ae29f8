"""Token scopes, expiry and rate limit; 2FA with recovery codes; lockout backoff; sessions; members."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from sqlalchemy import select

from slipway.auth import service as auth_service
from slipway.auth import teams
from slipway.auth.models import ApiToken, LoginAttempt, User, WebSession
from slipway.config import Settings
from slipway.db import transaction, utcnow
from slipway.errors import TooMany
from tests.security_world import PASSWORD, World, build_world


def test_read_scope_token_reads_but_cannot_change(world: World) -> None:
    assert world.call("read-token", "GET", "/api/v1/apps/alpha").status_code == 200
    assert world.call("read-token", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "1"}}).status_code == 403
    assert world.call("read-token", "POST", "/api/v1/apps/alpha/stop").status_code == 403
    assert world.call("deploy-token", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "1"}}).status_code == 403
    assert world.call("developer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "1"}}).status_code == 200
    assert world.call("viewer", "PATCH", "/api/v1/apps/alpha/env", json={"set": {"A": "2"}}).status_code == 403


def test_tokens_api_shows_once_scopes_expires_revokes(world: World) -> None:
    made = world.call("developer", "POST", "/api/v1/tokens", json={"name": "ci", "scope": "deploy",
                                                                   "expires_in_days": 1})
    assert made.status_code == 201, made.text
    plain = made.json()["token"]
    listed = world.call("developer", "GET", "/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    headers = {"Authorization": f"Bearer {plain}"}
    assert world.client.get("/api/v1/whoami", headers=headers).json()["scope"] == "deploy"
    # a developer's token can never do more than the developer: no app deletion even with admin scope
    admin = world.call("developer", "POST", "/api/v1/tokens", json={"name": "adm", "scope": "admin"}).json()
    assert world.client.delete("/api/v1/apps/alpha", headers={"Authorization": f"Bearer {admin['token']}"}
                               ).status_code == 403
    assert world.call("developer", "DELETE", f"/api/v1/tokens/{made.json()['id']}").status_code == 204
    assert world.client.get("/api/v1/whoami", headers=headers).status_code == 401
    with transaction(world.platform.sessions) as session:
        row = session.get(ApiToken, admin["id"])
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert world.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {admin['token']}"}).status_code == 401


def test_token_rate_limit(settings: Settings) -> None:
    settings.token_burst = 3
    settings.token_rate_per_minute = 1
    for world in build_world(settings):
        codes = [world.call("host-token", "GET", "/api/v1/whoami").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        assert world.call("read-token", "GET", "/api/v1/whoami").status_code == 200  # per token


def test_lockout_grows_exponentially(world: World) -> None:
    with transaction(world.platform.sessions) as session:
        for _ in range(auth_service.MAX_FAILURES):
            auth_service.login(session, username="viewer", password="wrong-password", ip="10.1.1.1")
    with transaction(world.platform.sessions) as session, pytest.raises(TooMany):
        auth_service.login(session, username="viewer", password=PASSWORD, ip="10.9.9.9")  # per account
    with transaction(world.platform.sessions) as session:
        first = auth_service.lockout_until(session, username="viewer", ip="x")
        session.add_all([LoginAttempt(username="viewer", ip="10.1.1.1", ok=False) for _ in range(3)])
    with world.platform.sessions() as session:
        later = auth_service.lockout_until(session, username="viewer", ip="x")
    assert first is not None and later is not None
    assert later - utcnow() > (first - utcnow()) * 4  # 2**3 times the base, from the newest failure
    with world.platform.sessions() as session:  # another IP, another account: not locked
        assert auth_service.lockout_until(session, username="admin", ip="10.2.2.2") is None


def test_two_factor_login_with_totp_and_recovery_code(world: World) -> None:
    box = world.platform.box
    with transaction(world.platform.sessions) as session:
        user = session.scalar(select(User).where(User.username == "viewer"))
        secret = auth_service.begin_2fa(session, box, user)
        codes = auth_service.enable_2fa(session, box, user, pyotp.TOTP(secret).now(), actor="user:viewer")
        assert user.totp_secret_enc and secret not in user.totp_secret_enc  # encrypted at rest
        assert all(c not in str(user.recovery_hashes) for c in codes)  # hashed
    client = world.client
    client.cookies.clear()
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/login/2fa")
    pending = client.cookies.get("slipway_session")
    assert client.get("/api/v1/whoami").status_code == 401  # a pending session opens nothing
    assert client.get("/").status_code == 303
    form = client.get("/login/2fa")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    assert client.post("/login/2fa", data={"code": "000000", "csrf_token": token}).status_code == 401
    done = client.post("/login/2fa", data={"code": codes[0], "csrf_token": token})
    assert done.status_code == 303
    assert client.cookies.get("slipway_session") != pending  # a new session id after the second factor
    assert client.get("/api/v1/whoami").json()["name"] == "viewer"
    with world.platform.sessions() as session:
        user = session.scalar(select(User).where(User.username == "viewer"))
        assert len(user.recovery_hashes) == len(codes) - 1  # each recovery code works once
        assert auth_service.check_code(session, box, user, codes[0]) is None


def test_team_can_require_2fa(world: World) -> None:
    assert world.call("owner", "PATCH", "/api/v1/teams/default", json={"require_2fa": True}).status_code == 200
    response = world.call("developer", "GET", "/api/v1/apps")
    assert response.status_code == 403 and "two-factor" in response.json()["error"]
    assert world.call("developer", "GET", "/account").status_code == 200  # where to turn it on
    assert world.call("developer", "GET", "/api/v1/whoami").status_code == 200
    assert world.call("host-token", "GET", "/api/v1/apps").status_code == 200  # host-made: no user behind it


def test_session_fixation_login_always_issues_a_new_id(world: World) -> None:
    client = world.client
    client.cookies.clear()
    client.cookies.set("slipway_session", "attacker-chosen-value")
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf})
    issued = response.cookies.get("slipway_session")
    assert issued and issued != "attacker-chosen-value"
    with world.platform.sessions() as session:
        assert auth_service.session_principal(session, "attacker-chosen-value") is None


def test_removing_a_member_ends_sessions_and_tokens_at_once(world: World) -> None:
    made = world.call("developer", "POST", "/api/v1/tokens", json={"name": "laptop", "scope": "deploy"}).json()
    assert world.call("admin", "DELETE", "/api/v1/teams/default/members/developer").status_code == 204
    assert world.call("developer", "GET", "/api/v1/whoami").status_code == 401
    assert world.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {made['token']}"}).status_code == 401
    with world.platform.sessions() as session:
        user = session.scalar(select(User).where(User.username == "developer"))
        assert session.scalars(select(WebSession).where(WebSession.user_id == user.id)).all() == []


def test_admins_cannot_make_owners_and_a_team_keeps_one_owner(world: World) -> None:
    response = world.call("admin", "PUT", "/api/v1/teams/default/members/viewer", json={"role": "owner"})
    assert response.status_code == 403
    assert world.call("owner", "PUT", "/api/v1/teams/default/members/viewer", json={"role": "developer"}
                      ).status_code == 200
    assert world.call("owner", "DELETE", "/api/v1/teams/default/members/owner").status_code == 409


def test_invitation_link_creates_an_account_in_the_team(world: World) -> None:
    made = world.call("admin", "POST", "/api/v1/teams/default/invitations", json={"role": "viewer"})
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    path = "/invite/" + link.rsplit("/", 1)[1]
    client = world.client
    client.cookies.clear()
    page = client.get(path)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post(path, data={"username": "grace", "password": "long enough pw", "csrf_token": "x"}
                       ).status_code == 403
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]
    joined = client.post(path, data={"username": "grace", "password": "long enough pw", "csrf_token": csrf})
    assert joined.status_code == 303, joined.text
    assert client.get("/api/v1/whoami").json()["roles"] == [{"team": "default", "project": None, "role": "viewer"}]
    assert client.get(path).status_code == 404  # used
    assert teams.rank("viewer") < teams.rank("developer")
