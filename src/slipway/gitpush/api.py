"""/api/v1/ssh-keys (your keys) and /api/v1/apps/{name}/git (the push remote, and the gateway's calls)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.auth.models import Team
from slipway.auth.service import Principal
from slipway.bounds import PathId
from slipway.db import transaction
from slipway.deploys.api import deploy_out
from slipway.errors import Forbidden
from slipway.gitpush import keys, repos
from slipway.gitpush import service as push_service
from slipway.gitpush.models import SshKey
from slipway.gitpush.schemas import GitInfo, GitOpened, GitPushIn, GitPushOut, SshKeyIn, SshKeyOut
from slipway.platform import Platform
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["git push"])


def key_out(session: Session, key: SshKey) -> SshKeyOut:
    team = session.get(Team, key.team_id) if key.team_id else None
    return SshKeyOut(id=key.id, name=key.name, fingerprint=key.fingerprint, type=key.public_key.split()[0],
                     owner=keys.owner_name(session, key), scope=key.scope, team=team.name if team else None,
                     disabled=keys.disabled_reason(key), created_at=key.created_at, last_used_at=key.last_used_at)


def key_cap(who: Principal) -> tuple[str, int | None]:
    """(scope, team) a new key of `who` is capped to: a token's own scope and team; a session: none."""
    return (who.scope, who.team_id) if who.kind == "token" else ("admin", None)


@router.get("/ssh-keys", response_model=list[SshKeyOut])
def list_keys(platform: PlatformDep, who: CurrentPrincipal) -> list[SshKeyOut]:
    """Your SSH keys (with a host token: the disabled keys that host tokens once registered)."""
    with platform.sessions() as session:
        return [key_out(session, k) for k in keys.listed(session, user_id=who.user_id)]


@router.post("/ssh-keys", response_model=SshKeyOut, status_code=201)
async def add_key(body: SshKeyIn, platform: PlatformDep, who: CurrentPrincipal) -> SshKeyOut:
    """Register a public key of yours: it may then `git push` to every app you may deploy, with your current
    roles, capped by the scope (and team) of the token that adds it. Host tokens and read-scope tokens cannot."""
    def add() -> SshKeyOut:
        _no_gateway(who)
        scope, team_id = key_cap(who)
        with transaction(platform.sessions) as session:
            key = keys.add(session, name=body.name, public_key=body.public_key, user_id=who.user_id,
                           actor=who.actor, scope=scope, team_id=team_id)
            out = key_out(session, key)
        keys.sync_authorized_keys(platform.sessions, platform.settings)
        return out

    return await run_in_threadpool(add)


@router.delete("/ssh-keys/{key_id}", status_code=204)
async def remove_key(key_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    def remove() -> None:
        _no_gateway(who)
        with transaction(platform.sessions) as session:
            keys.remove(session, key_id=key_id, user_id=who.user_id, actor=who.actor)
        keys.sync_authorized_keys(platform.sessions, platform.settings)

    await run_in_threadpool(remove)
    return Response(status_code=204)


@router.get("/apps/{name}/git", response_model=GitInfo)
def git_info(name: str, platform: PlatformDep, _: CurrentPrincipal) -> GitInfo:
    """The remote to `git remote add`, and the branch that deploys."""
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return GitInfo(remote=platform.settings.git_remote(app.name), branch=app.branch)


@router.post("/apps/{name}/git/receive-pack", response_model=GitOpened)
def open_for_push(name: str, platform: PlatformDep, who: CurrentPrincipal) -> GitOpened:
    """The gateway, before `git receive-pack`: the app's repository, created on first push."""
    return _open(platform, name, who)


@router.post("/apps/{name}/git/upload-pack", response_model=GitOpened)
def open_for_fetch(name: str, platform: PlatformDep, who: CurrentPrincipal) -> GitOpened:
    """The gateway, before `git upload-pack` (clone or fetch what was pushed)."""
    return _open(platform, name, who)


@router.post("/apps/{name}/git/push", response_model=GitPushOut)
def pushed(name: str, body: GitPushIn, platform: PlatformDep, who: CurrentPrincipal) -> GitPushOut:
    """The gateway's proc-receive hook, once per pushed branch: deploy, keep, or refuse it."""
    _only_gateway(who)
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        verdict = push_service.receive(session, app, ref=body.ref, old=body.old, new=body.new, actor=who.actor)
        out = GitPushOut(action=verdict.action, message=verdict.message,
                         deploy=deploy_out(session, name, verdict.deploy) if verdict.deploy else None)
    if verdict.deploy is not None:
        platform.wake_workers()
    return out


def _open(platform: Platform, name: str, who: Principal) -> GitOpened:
    _only_gateway(who)
    with platform.sessions() as session:
        app = app_service.get(session, name)
        branch = app.branch
    path = repos.ensure(platform.settings, name, branch)
    return GitOpened(repo=str(path), branch=branch)


def _only_gateway(who: Principal) -> None:
    # a filesystem path and pushes without a pusher: for `slipway git-serve`, which sshd runs for a key
    if who.kind != "sshkey":
        raise Forbidden("only the git gateway (an SSH key's `git push`) may call this")


def _no_gateway(who: Principal) -> None:
    if who.kind == "sshkey":
        raise Forbidden("an SSH key cannot manage SSH keys")
