"""Every dependency alias the routes use, in one place — and `authorize`, the one gate every route
passes (installed app-wide by create_app; the rules are in auth/policy.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, WebSocketException
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from slipway.audit import context as audit_context
from slipway.auth import service as auth_service
from slipway.auth.policy import APP_PARAMS, SPECIAL, Access, rule_for
from slipway.auth.service import Principal
from slipway.crypto import same
from slipway.errors import Forbidden, NotFound, SlipwayError, TooMany, Unauthorized
from slipway.gitpush import keys as ssh_keys
from slipway.platform import Platform

SESSION_COOKIE = "slipway_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
TRUE = {"1", "true", "yes", "on"}
# all that an SSH key's gateway (`slipway git-serve`, `git-hook`) calls; a key principal reaches nothing else
GATEWAY_ROUTES = frozenset({"/api/v1/apps/{name}/git/receive-pack", "/api/v1/apps/{name}/git/upload-pack",
                            "/api/v1/apps/{name}/git/push", "/api/v1/apps/{name}/deploys/{deploy_id}",
                            "/api/v1/apps/{name}/deploys/{deploy_id}/stream"})


class LoginRequired(Exception):
    """A dashboard page without a session: the page route class answers with a redirect to /login."""


async def get_platform(request: HTTPConnection) -> Platform:
    """async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a hop per request."""
    return request.app.state.platform  # type: ignore[no-any-return]


PlatformDep = Annotated[Platform, Depends(get_platform)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token_from(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _resolve(platform: Platform, token: str | None, cookie: str | None) -> Principal | None:
    with platform.sessions() as session:
        principal = None
        if token is not None and token.startswith(ssh_keys.TOKEN_PREFIX):  # the git gateway, for one SSH key
            principal = _key_principal(session, platform, token)
        elif token is not None:
            principal = auth_service.authenticate_token(session, token)
        elif cookie:
            principal = auth_service.session_principal(session, cookie)
        session.commit()  # last_used_at / last_seen_at
        return principal


def _key_principal(session: Session, platform: Platform, token: str) -> Principal | None:
    key = ssh_keys.authenticate(session, platform.settings, token)
    if key is None:
        return None
    reason = ssh_keys.disabled_reason(key)
    if reason is not None:
        raise Forbidden(reason)
    # a key acts as its user, with their roles of now, capped by the scope and team of what added it
    return Principal("sshkey", key.id, f"{ssh_keys.owner_name(session, key)}/{key.name}", user_id=key.user_id,
                     scope=key.scope, team_id=key.team_id)


def optional_principal(request: Request, platform: PlatformDep) -> Principal | None:
    """Bearer token (CLI, scripts) or dashboard session cookie; None when neither is valid."""
    cached = getattr(request.state, "api_principal", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    principal = _resolve(platform, _token_from(request), request.cookies.get(SESSION_COOKIE))
    request.state.api_principal = principal
    return principal


async def csrf_token_of(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                           "multipart/form-data")):
        form = await request.form()  # cached by Starlette: the route can read it again
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def require_principal(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' "
                           "(create one with `slipway admin token --name NAME` on the server)")
    if principal.session is not None and request.method not in SAFE_METHODS:
        # cookie auth can be ridden by another site: demand the session's CSRF token
        if not same(await csrf_token_of(request), principal.session.csrf_token):
            raise Forbidden("missing or wrong CSRF token")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another origin (Origin, else Referer).

    SameSite cookies do not stop a sibling subdomain (an app at <app>.<base_domain> is same-site
    with the dashboard); the Origin header does. No header at all (old clients, curl) is allowed:
    the CSRF token still has to match.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    host = request.headers.get("host", "")
    return urlsplit(source).netloc.lower() == host.lower()


# ---- authorization: one gate for every route ---------------------------------------------------------


def load_access(session: Session, principal: Principal | None) -> Access:
    from slipway.auth import teams
    from slipway.auth.models import Membership, Project

    access = Access(principal, scope=principal.scope if principal else "admin")
    access.project_teams = {pid: tid for pid, tid in session.execute(select(Project.id, Project.team_id))}
    access.default_team_id = teams.default_team(session).id
    access.default_project_id = teams.default_project(session).id
    if principal is None:
        return access
    if principal.kind == "sshkey" and principal.user_id is None:
        return access  # keys act as users only (a host token's key is disabled before it gets here)
    if principal.kind == "token" and principal.user_id is None:
        access.roles = {(principal.team_id or access.default_team_id, None): "owner"}
        return access
    query = select(Membership).where(Membership.user_id == principal.user_id)
    if principal.kind in ("token", "sshkey") and principal.team_id is not None:
        # a user's token acts in its one team; so does a key that such a token added
        query = query.where(Membership.team_id == principal.team_id)
    access.roles = {(m.team_id, m.project_id): m.role for m in session.scalars(query)}
    return access


def is_page(route: Any) -> bool:
    return type(route).__name__ == "PageRoute"


async def _project_from_body(request: Request) -> str | None:
    kind = request.headers.get("content-type", "")
    try:
        if kind.startswith("application/json"):
            body = json.loads(await request.body() or b"null")
            value = body.get("project") if isinstance(body, dict) else None
        elif kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get("project")
        else:
            value = None
    except ValueError:
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _decide(platform: Platform, principal: Principal | None, perm: str, params: dict[str, str],
            project_name: str | None, found: dict[str, Any]) -> tuple[Access, dict[str, Any]]:
    """The access check proper (in a thread: it reads the database). Raises on a denial; `found` (what
    the request is about) is filled in either way, for the audit record of a refused attempt."""
    from slipway.apps.models import App
    from slipway.auth.models import Project, Team

    with platform.sessions() as session:
        access = load_access(session, principal)
        if principal is not None and principal.user_id is not None and perm not in SPECIAL and \
                auth_service.needs_2fa_setup(session, principal.user_id):
            raise Forbidden("your team requires two-factor authentication: turn it on in your account page "
                            "(/account) first")
        if perm in SPECIAL:
            return access, found
        app_param = next((params[k] for k in APP_PARAMS if k in params), None)
        if app_param is not None:
            app = session.scalar(select(App).where(App.name == app_param))
            if app is None:
                if not access.anywhere(perm):
                    raise Forbidden(f"not allowed: needs {perm}")
                return access, found  # the route answers 404
            project_id = app.project_id or access.default_project_id
            found.update(app_id=app.id, app_name=app.name, project_id=project_id,
                         team_id=access.project_teams.get(project_id))
            if not access.can_project("app:read", project_id):
                raise NotFound(f"no app named {app_param!r}")  # don't tell apps of other teams exist
            if not access.can_project(perm, project_id):
                raise Forbidden(f"not allowed: needs {perm} on {app.name}")
            return access, found
        if "team" in params:
            team = session.scalar(select(Team).where(Team.name == params["team"]))
            if team is None or not access.can_team("team:read", team.id):
                raise NotFound(f"no team named {params['team']!r}")
            found["team_id"] = team.id
            if not access.can_team(perm, team.id):
                raise Forbidden(f"not allowed: needs {perm} in team {team.name}")
            return access, found
        if "project" in params:
            project = session.scalar(select(Project).where(Project.name == params["project"]))
            if project is None or not access.can_project("app:read", project.id):
                raise NotFound(f"no project named {params['project']!r}")
            found.update(project_id=project.id, team_id=project.team_id)
            if not access.can_project(perm, project.id):
                raise Forbidden(f"not allowed: needs {perm} in project {project.name}")
            return access, found
        if perm == "app:create":
            if project_name is not None:
                project = session.scalar(select(Project).where(Project.name == project_name))
                if project is None or not access.can_project("app:read", project.id):
                    raise NotFound(f"no project named {project_name!r}")
                target = project.id
            else:
                choices = access.projects_with(perm)
                target = access.default_project_id if access.default_project_id in choices else \
                    (choices[0] if choices else access.default_project_id)
            if not access.can_project(perm, target):
                raise Forbidden(f"not allowed: needs {perm} in that project")
            found.update(project_id=target, team_id=access.project_teams.get(target))
            return access, found
        if perm.startswith("platform:"):
            if not access.can_platform(perm):
                raise Forbidden(f"not allowed: needs {perm} (a role in the default team)")
            return access, found
        if not access.anywhere(perm):  # lists: the route shows only what the principal can see
            raise Forbidden(f"not allowed: needs {perm}")
        return access, found


async def authorize(request: HTTPConnection) -> None:
    """Look the route up in the policy table, authenticate, check the role where the resource lives,
    check CSRF for cookie sessions, apply the token rate limit, and tell the audit context who it is.

    WebSocket routes pass the same gate (their policy entries have method "*"): a refusal closes the
    handshake with code 1008 and the reason; a cookie session must come from the dashboard's own origin
    (browsers send cookies on cross-site WebSocket handshakes and there is no CSRF token to check)."""
    if request.scope["type"] != "websocket":
        await _authorize(request, request.method)  # type: ignore[attr-defined]
        return
    try:
        await _authorize(request, "GET")
        principal = getattr(request.state, "principal", None)
        if principal is not None and principal.session is not None and not same_origin(request):  # type: ignore[arg-type]
            raise Forbidden("cross-origin WebSocket with a session cookie refused")
    except LoginRequired:
        raise WebSocketException(code=1008, reason="authentication required") from None
    except SlipwayError as exc:
        code = 1008 if exc.status in (401, 403, 404) else 1011
        raise WebSocketException(code=code, reason=f"{exc.status} {exc.message}"[:120]) from None


async def _authorize(request: Any, method: str) -> None:
    platform: Platform = request.app.state.platform
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    rule = rule_for(method, template, status_path=platform.settings.status_path)
    if rule is None:
        raise Forbidden(f"no authorization rule for {method} {template}")
    perm = rule.perm
    if rule.reveal and request.query_params.get(rule.reveal, "").lower() in TRUE:
        perm = "app:env:reveal"
    ctx = audit_context.current.get()
    if ctx is not None:
        ctx.route = template
    if perm == "public":
        return
    page = is_page(route)
    if page:  # the dashboard: the session cookie only
        principal = getattr(request.state, "page_auth", None)
        if principal is None:
            principal = await run_in_threadpool(_resolve, platform, None, request.cookies.get(SESSION_COOKIE))
    else:
        principal = await run_in_threadpool(optional_principal, request, platform)
    if principal is None:
        if page:
            raise LoginRequired()
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' "
                           "(create one with `slipway admin token --name NAME` on the server)")
    if principal.kind == "sshkey" and template not in GATEWAY_ROUTES:
        raise Forbidden("an SSH key may only `git push` (and fetch): it cannot call this")
    request.state.principal = principal
    if ctx is not None:
        ctx.actor, ctx.user_id = principal.actor, principal.user_id
        ctx.token_id = principal.id if principal.kind == "token" else None
    if principal.kind == "token":
        wait = request.app.state.token_buckets.take(principal.id)
        if wait is not None:
            raise TooMany("too many requests with this token: slow down", detail={"retry_after": round(wait, 2)})
    if principal.session is not None and method not in SAFE_METHODS:
        if (page and not same_origin(request)) or not same(await csrf_token_of(request), principal.session.csrf_token):
            raise Forbidden("missing or wrong CSRF token: reload the page and try again")
    project_name = await _project_from_body(request) if perm == "app:create" else None
    params = {k: str(v) for k, v in request.path_params.items()}
    found: dict[str, Any] = {}
    try:
        access, found = await run_in_threadpool(_decide, platform, principal, perm, params, project_name, found)
    finally:
        if ctx is not None:
            for key in ("app_id", "app_name", "project_id", "team_id"):
                if key in found:
                    setattr(ctx, key, found[key])
    request.state.access = access
    request.state.target = found
    if ctx is not None:
        ctx.visible_projects = frozenset(access.projects_with("app:read"))
        ctx.default_project_id = access.default_project_id


def get_access(request: Request) -> Access:
    access = getattr(request.state, "access", None)
    if access is None:  # a public route asked: nobody
        return Access(None)
    return access  # type: ignore[no-any-return]


AccessDep = Annotated[Access, Depends(get_access)]


def target_project(request: Request) -> int | None:
    """The project an app:create request was authorized for (the body's `project`, or the default)."""
    return getattr(request.state, "target", {}).get("project_id")


TargetProject = Annotated[int | None, Depends(target_project)]
