"""The gateway's side of the API: who an SSH key acts as, and what it may reach."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.auth import service as auth_service
from slipway.auth import teams
from slipway.config import Settings
from slipway.db import transaction, utcnow
from slipway.gitpush import keys
from slipway.gitpush.models import SshKey
from tests.security_world import World, build_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    yield from build_world(settings)


def new_public_key(tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text()


def key_for(world: World, who: str, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    response = world.call(who, "POST", "/api/v1/ssh-keys", json={"name": "laptop", "public_key":
                                                                  new_public_key(tmp_path, who)})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def gateway(world: World, key_id: int) -> dict[str, str]:
    return {"Authorization": "Bearer " + keys.key_token(keys.gateway_secret(world.platform.settings), key_id)}


def test_a_key_acts_with_its_owners_roles_and_deploy_scope(world: World, tmp_path: Path) -> None:
    viewer, developer = key_for(world, "viewer", tmp_path), key_for(world, "developer", tmp_path)
    post = world.client.post
    assert post("/api/v1/apps/alpha/git/upload-pack", headers=gateway(world, viewer["id"])).status_code == 200
    refused = post("/api/v1/apps/alpha/git/receive-pack", headers=gateway(world, viewer["id"]))
    assert refused.status_code == 403 and "app:deploy" in refused.json()["error"]
    opened = post("/api/v1/apps/alpha/git/receive-pack", headers=gateway(world, developer["id"]))
    assert opened.status_code == 200
    repo = Path(opened.json()["repo"])
    assert (repo / "HEAD").exists() and (repo / "hooks" / "proc-receive").stat().st_mode & 0o111
    # another team's app does not exist for this key
    assert post("/api/v1/apps/beta/git/receive-pack", headers=gateway(world, developer["id"])).status_code == 404
    # a key cannot widen itself: no key management, no env values
    assert world.client.get("/api/v1/apps/alpha/env?reveal=true",
                            headers=gateway(world, developer["id"])).status_code == 403
    assert post("/api/v1/ssh-keys", headers=gateway(world, developer["id"]),
                json={"name": "more", "public_key": new_public_key(tmp_path, "more")}).status_code == 403


def test_forged_and_removed_keys_are_refused(world: World, tmp_path: Path) -> None:
    key = key_for(world, "developer", tmp_path)
    good = gateway(world, key["id"])["Authorization"]
    for forged in (good[:-1] + ("0" if good[-1] != "0" else "1"), f"Bearer sshkey.{key['id']}.", "Bearer sshkey.x.y",
                   "Bearer " + keys.key_token(b"another host's secret", key["id"])):
        answer = world.client.post("/api/v1/apps/alpha/git/receive-pack", headers={"Authorization": forged})
        assert answer.status_code == 401, forged
    assert world.call("developer", "DELETE", f"/api/v1/ssh-keys/{key['id']}").status_code == 204
    answer = world.client.post("/api/v1/apps/alpha/git/receive-pack", headers={"Authorization": good})
    assert answer.status_code == 401


def test_only_the_gateway_opens_repositories_and_reports_pushes(world: World) -> None:
    for path in ("/api/v1/apps/alpha/git/receive-pack", "/api/v1/apps/alpha/git/upload-pack"):
        answer = world.call("host-token", "POST", path)
        assert answer.status_code == 403 and "git gateway" in answer.json()["error"]
    answer = world.call("host-token", "POST", "/api/v1/apps/alpha/git/push",
                        json={"ref": "refs/heads/main", "old": "0" * 40, "new": "a" * 40})
    assert answer.status_code == 403
    info = world.call("viewer", "GET", "/api/v1/apps/alpha/git").json()
    assert info["branch"] == "main" and info["remote"].endswith(":alpha")


def test_keys_are_per_user_and_written_to_authorized_keys(world: World, tmp_path: Path) -> None:
    mine = key_for(world, "developer", tmp_path)
    assert [k["id"] for k in world.call("developer", "GET", "/api/v1/ssh-keys").json()] == [mine["id"]]
    assert world.call("viewer", "GET", "/api/v1/ssh-keys").json() == []
    assert world.call("viewer", "DELETE", f"/api/v1/ssh-keys/{mine['id']}").status_code == 404
    again = world.call("viewer", "POST", "/api/v1/ssh-keys",
                       json={"name": "copy", "public_key": (tmp_path / "developer.pub").read_text()})
    assert again.status_code == 409 and "someone else" in again.json()["error"]
    bad = world.call("viewer", "POST", "/api/v1/ssh-keys",
                     json={"name": "x", "public_key": 'command="sh" ' + (tmp_path / "developer.pub").read_text()})
    assert bad.status_code == 422 and "unsupported key type" in bad.json()["error"]

    path = keys.authorized_keys_path(world.platform.settings)
    assert path is not None
    text = path.read_text()
    assert text.count("slipway-key-") == 1 and f"--key {mine['id']} " in text and oct(path.stat().st_mode)[-3:] == "600"
    assert world.call("developer", "DELETE", f"/api/v1/ssh-keys/{mine['id']}").status_code == 204
    text = path.read_text()
    assert "slipway-key-" not in text and keys.BEGIN in text  # the block stays, empty


# ---- keys belong to users (issue #11, finding 2) ------------------------------------------------------


def token_of(world: World, *, user: str | None, team: str, scope: str) -> str:
    with transaction(world.platform.sessions) as session:
        user_id = auth_service.user_by_name(session, user).id if user else None
        plain, _ = auth_service.create_token(session, name=f"{user}-{team}-{scope}", user_id=user_id,
                                             team_id=teams.get_team(session, team).id, scope=scope)
    return plain


def add_with(world: World, token: str, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    return world.client.post("/api/v1/ssh-keys", headers={"Authorization": f"Bearer {token}"},
                             json={"name": name, "public_key": new_public_key(tmp_path, name)})


def test_a_read_token_of_another_team_cannot_add_a_key_to_push_to_our_app(world: World, tmp_path: Path) -> None:
    """The finding: a read-scope token of team B added a key, and the key pushed to team A's app."""
    read_b = token_of(world, user="outsider", team="other", scope="read")
    refused = add_with(world, read_b, tmp_path, "sneaky")
    assert refused.status_code == 403 and "read-scope token cannot add SSH keys" in refused.json()["error"]
    host_b = token_of(world, user=None, team="other", scope="admin")  # a host token: no user at all
    refused = add_with(world, host_b, tmp_path, "sneakier")
    assert refused.status_code == 403 and "a host token has no user" in refused.json()["error"]
    for token in (read_b, host_b, world.who["host-token"].token):
        assert world.client.get("/api/v1/ssh-keys", headers={"Authorization": f"Bearer {token}"}).json() == []
    # team B's own user, with every right in team B, still gets nowhere near team A's app
    mine = add_with(world, token_of(world, user="outsider", team="other", scope="admin"), tmp_path, "laptop")
    assert mine.status_code == 201 and mine.json()["owner"] == "outsider" and mine.json()["team"] == "other"
    post = world.client.post
    assert post("/api/v1/apps/alpha/git/receive-pack", headers=gateway(world, mine.json()["id"])).status_code == 404
    assert post("/api/v1/apps/alpha/git/upload-pack", headers=gateway(world, mine.json()["id"])).status_code == 404
    assert post("/api/v1/apps/beta/git/receive-pack", headers=gateway(world, mine.json()["id"])).status_code == 200
    assert keys.authorized_keys_path(world.platform.settings).read_text().count("slipway-key-") == 1


def test_keys_added_with_host_tokens_are_disabled_with_a_clear_message(world: World, tmp_path: Path) -> None:
    with transaction(world.platform.sessions) as session:  # what such keys look like after the migration
        old = [SshKey(name=f"old{i}", user_id=None, public_key=new_public_key(tmp_path, f"old{i}").split(" ")[0]
                      + f" AAAAold{i}", fingerprint=f"SHA256:old{i}", created_by="token:host",
                      disabled_at=utcnow() if i else None) for i in range(2)]
        session.add_all(old)
        session.flush()
        ids = [k.id for k in old]
    for key_id in ids:  # disabled or not, a key without a user acts as nobody
        for path in ("/api/v1/apps/alpha/git/receive-pack", "/api/v1/apps/alpha/git/upload-pack"):
            answer = world.client.post(path, headers=gateway(world, key_id))
            assert answer.status_code == 403
            assert answer.json()["error"] == keys.DISABLED_HOST_KEY
    listed = world.call("host-token", "GET", "/api/v1/ssh-keys").json()
    assert [k["disabled"] for k in listed] == [keys.DISABLED_HOST_KEY] * 2
    assert world.call("host-token", "DELETE", f"/api/v1/ssh-keys/{ids[0]}").status_code == 204  # still removable


def test_a_key_acts_with_its_users_current_roles(world: World, tmp_path: Path) -> None:
    key = key_for(world, "developer", tmp_path)
    assert key["scope"] == "admin" and key["team"] is None  # added in the dashboard: capped by roles only
    path = "/api/v1/apps/alpha/git/receive-pack"
    assert world.client.post(path, headers=gateway(world, key["id"])).status_code == 200
    with transaction(world.platform.sessions) as session:
        teams.set_member(session, team=teams.default_team(session), role="viewer", actor="admin",
                         user=auth_service.user_by_name(session, "developer"))
    refused = world.client.post(path, headers=gateway(world, key["id"]))
    assert refused.status_code == 403 and "app:deploy" in refused.json()["error"]
    with transaction(world.platform.sessions) as session:
        teams.remove_member(session, team=teams.default_team(session), actor="admin",
                            user=auth_service.user_by_name(session, "developer"))
    assert world.client.post("/api/v1/apps/alpha/git/upload-pack", headers=gateway(world, key["id"])).status_code == 404


def test_a_key_is_capped_by_the_scope_and_team_of_the_token_that_added_it(world: World, tmp_path: Path) -> None:
    deploy = add_with(world, world.who["deploy-token"].token, tmp_path, "ci")  # the owner's deploy-scope token
    assert deploy.status_code == 201 and deploy.json()["scope"] == "deploy" and deploy.json()["team"] == "default"
    headers = gateway(world, deploy.json()["id"])
    assert world.client.post("/api/v1/apps/alpha/git/receive-pack", headers=headers).status_code == 200
    # it pushes, and that is all: no administration, no reading, though its user is the team's owner
    for method, path, body in (("PATCH", "/api/v1/apps/alpha", {"branch": "x"}), ("GET", "/api/v1/apps", None),
                               ("POST", "/api/v1/teams/default/invitations", {"role": "owner"}),
                               ("GET", "/api/v1/apps/alpha/logs", None), ("POST", "/api/v1/tokens", {"name": "t"})):
        answer = world.client.request(method, path, headers=headers, json=body)
        assert answer.status_code == 403 and "SSH key may only" in answer.json()["error"], (method, path)
    with transaction(world.platform.sessions) as session:  # the cap is read from the key at every call
        session.get(SshKey, deploy.json()["id"]).scope = "read"
    refused = world.client.post("/api/v1/apps/alpha/git/receive-pack", headers=headers)
    assert refused.status_code == 403 and "app:deploy" in refused.json()["error"]
    # a user of two teams: a key added by their token of team B stays in team B
    with transaction(world.platform.sessions) as session:
        teams.set_member(session, team=teams.default_team(session), role="developer", actor="admin",
                         user=auth_service.user_by_name(session, "outsider"))
    in_b = add_with(world, token_of(world, user="outsider", team="other", scope="deploy"), tmp_path, "b-only")
    assert world.client.post("/api/v1/apps/alpha/git/receive-pack",
                             headers=gateway(world, in_b.json()["id"])).status_code == 404
    assert world.client.post("/api/v1/apps/beta/git/receive-pack",
                             headers=gateway(world, in_b.json()["id"])).status_code == 200
    everywhere = world.call("outsider", "POST", "/api/v1/ssh-keys",
                            json={"name": "desk", "public_key": new_public_key(tmp_path, "desk")}).json()
    for app in ("alpha", "beta"):
        assert world.client.post(f"/api/v1/apps/{app}/git/receive-pack",
                                 headers=gateway(world, everywhere["id"])).status_code == 200
