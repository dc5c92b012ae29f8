"""Membership by consent (issue #11, finding 7): adding a user who is not in the team invites them; the
answer never tells whether a name exists or has 2FA; a member's role still changes at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from slipway.auth import teams
from slipway.auth.models import User
from slipway.db import transaction, utcnow
from slipway.errors import Forbidden
from tests.security_world import World


def members(world: World, team: str = "default") -> set[str]:
    return {m["username"] for m in world.call("owner", "GET", f"/api/v1/teams/{team}/members").json()}


def require_2fa(world: World, on: bool) -> None:
    with transaction(world.platform.sessions) as session:
        teams.update_team(session, teams.default_team(session), require_2fa=on, actor="test")


def set_2fa(world: World, username: str) -> None:
    with transaction(world.platform.sessions) as session:
        session.scalar(select(User).where(User.username == username)).totp_enabled_at = utcnow()


def test_a_user_of_another_team_is_invited_not_added(world: World) -> None:
    """The finding: PUT …/members/{user} added a user of another team at once; their new team could then
    lock them out of everything with require-2FA."""
    answer = world.call("owner", "PUT", "/api/v1/teams/default/members/outsider", json={"role": "developer"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "invited" and answer.json()["two_factor"] is None
    assert "outsider" not in members(world)
    assert world.call("outsider", "GET", "/api/v1/apps/alpha").status_code == 404
    require_2fa(world, True)
    assert world.call("outsider", "GET", "/api/v1/apps/beta").status_code == 200  # not locked out of their team
    require_2fa(world, False)
    mine = world.call("outsider", "GET", "/api/v1/account/invitations").json()
    assert [(i["team"], i["role"]) for i in mine] == [("default", "developer")]
    assert world.call("owner", "GET", "/api/v1/teams/default/invitations").json()[0]["username"] == "outsider"
    joined = world.call("outsider", "POST", f"/api/v1/account/invitations/{mine[0]['id']}/accept")
    assert joined.status_code == 200 and joined.json()["name"] == "default"
    assert "outsider" in members(world)
    assert world.call("outsider", "GET", "/api/v1/account/invitations").json() == []


def test_unknown_and_existing_names_get_the_same_answer(world: World) -> None:
    set_2fa(world, "outsider")
    answers = {name: world.call("admin", "PUT", f"/api/v1/teams/default/members/{name}", json={"role": "viewer"})
               for name in ("outsider", "no-such-user")}
    shapes = {name: (a.status_code, {k: v for k, v in a.json().items() if k not in ("username", "invitation_id")})
              for name, a in answers.items()}
    assert shapes["outsider"] == shapes["no-such-user"] == (202, {"role": "viewer", "project": None,
                                                                  "two_factor": None, "status": "invited"})
    deleted = {name: world.call("admin", "DELETE", f"/api/v1/teams/default/members/{name}")
               for name in ("outsider", "no-such-user")}
    assert {d.status_code for d in deleted.values()} == {404}
    assert [d.json()["error"].replace(name, "X") for name, d in deleted.items()] == \
        ["X is not a member of default"] * 2
    # nobody outside the team sees its members (and their 2FA state)
    assert world.call("outsider", "GET", "/api/v1/teams/default/members").status_code == 404


def test_a_members_role_still_changes_at_once(world: World) -> None:
    answer = world.call("owner", "PUT", "/api/v1/teams/default/members/viewer", json={"role": "developer"})
    assert answer.status_code == 200 and answer.json()["status"] == "member"
    assert answer.json()["two_factor"] is False and answer.json()["role"] == "developer"
    assert world.call("viewer", "GET", "/api/v1/apps/alpha/logs").status_code == 200
    # a role above the caller's own is refused for members and invitations alike
    for name in ("viewer", "outsider", "no-such-user"):
        refused = world.call("admin", "PUT", f"/api/v1/teams/default/members/{name}", json={"role": "owner"})
        assert refused.status_code == 403, name


def test_only_the_addressee_answers_and_only_as_themselves(world: World) -> None:
    invited = world.call("owner", "PUT", "/api/v1/teams/default/members/outsider", json={"role": "admin"}).json()
    path = f"/api/v1/account/invitations/{invited['invitation_id']}"
    assert world.call("developer", "POST", path + "/accept").status_code == 404
    assert world.call("host-token", "POST", path + "/accept").status_code == 403
    read = world.call("outsider", "POST", "/api/v1/tokens", json={"name": "ro", "scope": "read"}).json()["token"]
    refused = world.client.post(path + "/accept", headers={"Authorization": f"Bearer {read}"})
    assert refused.status_code == 403 and "admin-scope token" in refused.json()["error"]
    assert world.call("outsider", "POST", path + "/decline").status_code == 204
    assert world.call("outsider", "POST", path + "/accept").status_code == 404
    assert "outsider" not in members(world)
    # a second invitation replaces the first; an admin-scope token of the user accepts it (the CLI's way)
    again = world.call("owner", "PUT", "/api/v1/teams/default/members/outsider", json={"role": "viewer"}).json()
    mine = world.call("other-token", "GET", "/api/v1/account/invitations").json()
    assert [i["id"] for i in mine] == [again["invitation_id"]]
    assert world.call("other-token", "POST", f"/api/v1/account/invitations/{again['invitation_id']}/accept"
                      ).status_code == 200
    assert "outsider" in members(world)


def test_an_addressed_invitation_cannot_be_taken_with_its_link(world: World) -> None:
    with transaction(world.platform.sessions) as session:
        team = teams.default_team(session)
        plain, _ = teams.invite(session, team=team, role="owner", username="outsider", actor="test")
        intruder = session.scalar(select(User).where(User.username == "viewer"))
        with pytest.raises(Forbidden, match="addressed to another account"):
            teams.accept(session, plain, user=intruder)
        with pytest.raises(Forbidden, match="addressed to another account"):
            teams.accept(session, plain, username="outsider2", password="long enough password")


def test_a_team_founder_invites_the_owner_they_name(world: World) -> None:
    made = world.call("owner", "POST", "/api/v1/teams", json={"name": "third", "owner": "outsider"})
    assert made.status_code == 201 and made.json()["role"] == "owner"
    assert members(world, "third") == {"owner"}
    assert [i["team"] for i in world.call("outsider", "GET", "/api/v1/account/invitations").json()] == ["third"]
    ghost = world.call("owner", "POST", "/api/v1/teams", json={"name": "fourth", "owner": "no-such-user"})
    assert ghost.status_code == 201  # the same answer for a name that does not exist


def test_the_dashboard_invites_and_the_account_page_accepts(world: World) -> None:
    owner = world.who["owner"]
    added = world.call("owner", "POST", "/teams/default/members",
                       data={"username": "outsider", "role": "developer", "csrf_token": owner.csrf})
    assert added.status_code == 303 and "outsider" not in members(world)
    forced = world.call("owner", "POST", "/teams/default/members/outsider/role",  # the per-member form, crafted
                        data={"role": "owner", "csrf_token": owner.csrf})
    assert forced.status_code == 303 and "outsider" not in members(world)
    team_page = world.call("owner", "GET", "/teams/default").text
    assert "outsider" in team_page  # in the invitations, with the name it is for
    page = world.call("outsider", "GET", "/account")
    assert page.status_code == 200 and "/accept" in page.text
    invitation = re.search(r'/account/invitations/(\d+)/accept', page.text).group(1)  # type: ignore[union-attr]
    accepted = world.call("outsider", "POST", f"/account/invitations/{invitation}/accept",
                          data={"csrf_token": world.who["outsider"].csrf})
    assert accepted.status_code == 303 and accepted.headers["location"] == "/teams/default"
    assert "outsider" in members(world)
    assert world.call("outsider", "GET", "/api/v1/apps/alpha").status_code == 200


def test_a_name_no_account_can_have_is_refused_plainly(world: World) -> None:
    for bad in ("a b", "x" * 65, "ab%0A"):
        answer = world.call("owner", "PUT", f"/api/v1/teams/default/members/{bad}", json={"role": "viewer"})
        assert answer.status_code == 422, (bad, answer.text)
