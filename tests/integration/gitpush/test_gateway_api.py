"""The gateway's side of the API: who an SSH key acts as, and what it may reach."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.config import Settings
from slipway.gitpush import keys
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
