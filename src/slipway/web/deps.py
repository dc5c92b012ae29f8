"""Every dependency alias the routes use, in one place."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from slipway.auth import service as auth_service
from slipway.auth.service import Principal
from slipway.crypto import same
from slipway.errors import Forbidden, Unauthorized
from slipway.platform import Platform

SESSION_COOKIE = "slipway_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_platform(request: Request) -> Platform:
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


def optional_principal(request: Request, platform: PlatformDep) -> Principal | None:
    """Bearer token (CLI, scripts) or dashboard session cookie; None when neither is valid."""
    token = _token_from(request)
    with platform.sessions() as session:
        if token is not None:
            principal = auth_service.authenticate_token(session, token)
            session.commit()  # last_used_at
            return principal
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            return auth_service.session_principal(session, cookie)
    return None


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
