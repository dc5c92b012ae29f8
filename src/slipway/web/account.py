"""Dashboard: your account (sessions, two-factor, tokens, password), the second login step, and
accepting an invitation. Authorization comes from the central gate (auth/policy.py)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from slipway.auth import service as auth_service
from slipway.auth import teams as team_service
from slipway.auth.api import create_user_token, my_invitation_out, token_out
from slipway.auth.models import Project, Team, User
from slipway.bounds import PathId
from slipway.crypto import same
from slipway.db import transaction
from slipway.errors import SlipwayError, TooMany
from slipway.gitpush import keys
from slipway.gitpush.api import key_out
from slipway.web.deps import SESSION_COOKIE, AccessDep, PlatformDep, client_ip, get_access, same_origin
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render, safe_next

router = APIRouter(route_class=PageRoute, include_in_schema=False)
INVITE_CSRF_COOKIE = "slipway_invite_csrf"


def _cookie(response: Response, request: Request, cookie: str) -> None:
    secure = request.url.scheme == "https" or request.app.state.platform.settings.secure_cookies
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(auth_service.SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


# ---- the account page ----------------------------------------------------------------------------------


def _account(request: Request, platform: object, who: object, status: int = 200, **extra: object) -> Response:
    access = get_access(request)
    with platform.sessions() as session:  # type: ignore[attr-defined]
        user = session.get(User, who.user_id)  # type: ignore[attr-defined]
        sessions = auth_service.list_sessions(session, user.id)
        tokens = [token_out(session, t) for t in auth_service.list_tokens(session, user_id=user.id, all_users=False)]
        ssh_keys = [key_out(session, k) for k in keys.listed(session, user_id=user.id)]
        teams = [session.get(Team, t) for t in sorted({t for t, _ in access.roles})]
        invitations = [my_invitation_out(session, i) for i in team_service.pending_for(session, user.username)]
        setup_uri = auth_service.provisioning_uri(platform.box, user) if user.totp_enabled_at is None else None  # type: ignore[attr-defined]
        setup_secret = platform.box.decrypt(user.totp_secret_enc) if setup_uri else None  # type: ignore[attr-defined]
        required = auth_service.needs_2fa_setup(session, user.id)
    current = who.session.id_hash if who.session else None  # type: ignore[attr-defined]
    return render(
        request,
        "account/account.html",
        status,
        account=user,
        sessions=sessions,
        current=current,
        tokens=tokens,
        ssh_keys=ssh_keys,
        invitations=invitations,
        teams=[t.name for t in teams if t],
        setup_uri=setup_uri,
        setup_secret=setup_secret,
        required=required,
        **extra,
    )


@router.get("/account")
def account_page(request: Request, platform: PlatformDep, who: Viewer) -> Response:
    return _account(request, platform, who)


@router.post("/account/sessions/revoke-others")
def revoke_others(platform: PlatformDep, who: Actor) -> Response:
    assert who.session is not None and who.user_id is not None
    with transaction(platform.sessions) as session:
        count = auth_service.end_other_sessions(session, user_id=who.user_id, keep=who.session.id_hash, actor=who.actor)
    return redirect("/account", flash=f"Logged out {count} other session(s).")


@router.post("/account/sessions/{session_id}/revoke")
def revoke_session(session_id: str, platform: PlatformDep, who: Actor) -> Response:
    assert who.user_id is not None
    with transaction(platform.sessions) as session:
        auth_service.end_session(session, user_id=who.user_id, id_hash=session_id[:64], actor=who.actor)
    return redirect("/account", flash="Session ended.")


@router.post("/account/password")
def change_password(
    request: Request,
    platform: PlatformDep,
    who: Actor,
    current: Annotated[str, Form(max_length=1024)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        with transaction(platform.sessions) as session:
            user = session.get(User, who.user_id)
            if user is None or not auth_service._verify(user, current):
                return redirect("/account", flash="The current password is wrong.", kind="error")
            auth_service.set_password(session, username=user.username, password=password, actor=who.actor)
            cookie, _ = auth_service._new_session(
                session, user, ip=client_ip(request), user_agent=request.headers.get("user-agent", ""), pending=False
            )
    except SlipwayError as exc:
        return redirect("/account", flash=exc.message, kind="error")
    response = redirect("/account", flash="Password changed: every other session has ended.")
    _cookie(response, request, cookie)
    return response


@router.post("/account/2fa/setup")
def setup_2fa(platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            auth_service.begin_2fa(session, platform.box, session.get(User, who.user_id))
    except SlipwayError as exc:
        return redirect("/account", flash=exc.message, kind="error")
    return redirect("/account#2fa", flash="Add the key to your authenticator app, then confirm with a code.")


@router.post("/account/2fa/enable")
def enable_2fa(
    request: Request, platform: PlatformDep, who: Actor, code: Annotated[str, Form(max_length=16)] = ""
) -> Response:
    try:
        with transaction(platform.sessions) as session:
            codes = auth_service.enable_2fa(
                session, platform.box, session.get(User, who.user_id), code, actor=who.actor
            )
    except SlipwayError as exc:
        return redirect("/account#2fa", flash=exc.message, kind="error")
    return _account(request, platform, who, recovery_codes=codes)


@router.post("/account/2fa/disable")
def disable_2fa(platform: PlatformDep, who: Actor, password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    try:
        with transaction(platform.sessions) as session:
            auth_service.disable_2fa(
                session, platform.box, session.get(User, who.user_id), password=password, actor=who.actor
            )
    except SlipwayError as exc:
        return redirect("/account#2fa", flash=exc.message, kind="error")
    return redirect("/account", flash="Two-factor authentication is off.")


@router.post("/account/tokens")
def create_token(
    request: Request,
    platform: PlatformDep,
    who: Actor,
    access: AccessDep,
    name: Annotated[str, Form(max_length=64)] = "",
    scope: Annotated[str, Form(max_length=16)] = "read",
    team: Annotated[str, Form(max_length=64)] = "",
    days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    try:
        expires = float(days) if days.strip() else None
        if expires is not None and not 0 < expires <= 3650:
            raise ValueError
    except ValueError:
        return redirect("/account#tokens", flash="Expiry: a number of days (1 to 3650), or empty.", kind="error")
    try:
        with transaction(platform.sessions) as session:
            plain, row = create_user_token(
                session, who, access, name=name.strip(), scope=scope, team=team or None, expires_in_days=expires
            )
    except SlipwayError as exc:
        return redirect("/account#tokens", flash=exc.message, kind="error")
    return _account(request, platform, who, new_token=plain, new_token_name=row.name)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            auth_service.revoke_token_id(session, token_id=token_id, user_id=who.user_id, actor=who.actor)
    except SlipwayError as exc:
        return redirect("/account#tokens", flash=exc.message, kind="error")
    return redirect("/account#tokens", flash="Token revoked.")


@router.post("/account/invitations/{invitation_id}/accept")
def accept_invitation(invitation_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            user = session.get(User, who.user_id)
            assert user is not None
            team = team_service.accept_addressed(session, user=user, invitation_id=invitation_id).name
    except SlipwayError as exc:
        return redirect("/account#invitations", flash=exc.message, kind="error")
    return redirect(f"/teams/{team}", flash=f"You joined team {team}.")


@router.post("/account/invitations/{invitation_id}/decline")
def decline_invitation(invitation_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            user = session.get(User, who.user_id)
            assert user is not None
            team_service.decline(session, user=user, invitation_id=invitation_id)
    except SlipwayError as exc:
        return redirect("/account#invitations", flash=exc.message, kind="error")
    return redirect("/account#invitations", flash="Invitation declined.")


@router.post("/account/ssh-keys")
def add_ssh_key(
    platform: PlatformDep,
    who: Actor,
    name: Annotated[str, Form(max_length=64)] = "",
    public_key: Annotated[str, Form(max_length=16384)] = "",
) -> Response:
    try:
        with transaction(platform.sessions) as session:
            key = keys.add(session, name=name.strip(), public_key=public_key, user_id=who.user_id, actor=who.actor)
            fingerprint = key.fingerprint
    except SlipwayError as exc:
        return redirect("/account#ssh-keys", flash=exc.message, kind="error")
    keys.sync_authorized_keys(platform.sessions, platform.settings)
    return redirect("/account#ssh-keys", flash=f"Key {fingerprint} added: it may push to your apps.")


@router.post("/account/ssh-keys/{key_id}/remove")
def remove_ssh_key(key_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    try:
        with transaction(platform.sessions) as session:
            keys.remove(session, key_id=key_id, user_id=who.user_id, actor=who.actor)
    except SlipwayError as exc:
        return redirect("/account#ssh-keys", flash=exc.message, kind="error")
    keys.sync_authorized_keys(platform.sessions, platform.settings)
    return redirect("/account#ssh-keys", flash="Key removed: it cannot push any more.")


# ---- the second login step -----------------------------------------------------------------------------------


@router.get("/login/2fa")
def second_factor_page(request: Request, platform: PlatformDep, next: str = "/") -> Response:  # noqa: A002
    with platform.sessions() as session:
        found = auth_service.pending_session(session, request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        return redirect("/login")
    return render(
        request, "account/second_factor.html", next=safe_next(next), pending_csrf=found[0].csrf_token, error=None
    )


@router.post("/login/2fa")
def second_factor(
    request: Request,
    platform: PlatformDep,
    code: Annotated[str, Form(max_length=32)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:  # noqa: A002
    cookie = request.cookies.get(SESSION_COOKIE, "")
    with platform.sessions() as session:
        found = auth_service.pending_session(session, cookie)
    if found is None:
        return redirect("/login")
    if not same_origin(request) or not same(csrf_token, found[0].csrf_token):
        return render(
            request,
            "account/second_factor.html",
            403,
            next=safe_next(next),
            pending_csrf=found[0].csrf_token,
            error="the form expired: please try again",
        )
    try:
        with transaction(platform.sessions) as session:
            result = auth_service.verify_second_factor(
                session,
                platform.box,
                cookie=cookie,
                code=code,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent", ""),
            )
    except TooMany as exc:
        return render(
            request,
            "account/second_factor.html",
            429,
            next=safe_next(next),
            pending_csrf=found[0].csrf_token,
            error=exc.message,
        )
    if result is None:
        return render(
            request,
            "account/second_factor.html",
            401,
            next=safe_next(next),
            pending_csrf=found[0].csrf_token,
            error="that code is not right",
        )
    response = redirect(safe_next(next))
    _cookie(response, request, result[0])
    return response


# ---- invitations ----------------------------------------------------------------------------------------------


def _invite_context(platform: object, token: str) -> dict[str, object] | None:
    with platform.sessions() as session:  # type: ignore[attr-defined]
        try:
            row = team_service.open_invitation(session, token)
        except SlipwayError:
            return None
        team = session.get(Team, row.team_id)
        project = session.get(Project, row.project_id) if row.project_id else None
        return {
            "team": team.name if team else "?",
            "role": row.role,
            "project": project.name if project else None,
            "expires_at": row.expires_at,
        }


def _current_user(request: Request, platform: object) -> auth_service.Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with platform.sessions() as session:  # type: ignore[attr-defined]
        return auth_service.session_principal(session, cookie)


def _invite_page(
    request: Request, platform: object, token: str, status: int = 200, error: str | None = None, username: str = ""
) -> Response:
    invitation = _invite_context(platform, token)
    if invitation is None:
        return render(request, "error.html", 404, message="This invitation is unknown, used or expired.")
    who = _current_user(request, platform)
    form_csrf = who.session.csrf_token if who and who.session else secrets.token_urlsafe(32)
    response = render(
        request,
        "account/invite.html",
        status,
        who=who,
        invitation=invitation,
        token=token,
        form_csrf=form_csrf,
        error=error,
        username=username,
    )
    if who is None:
        response.set_cookie(
            INVITE_CSRF_COOKIE,
            form_csrf,
            max_age=3600,
            path="/invite",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


@router.get("/invite/{token}")
def invite_page(token: str, request: Request, platform: PlatformDep) -> Response:
    return _invite_page(request, platform, token[:128])


@router.post("/invite/{token}")
def accept_invite(
    token: str,
    request: Request,
    platform: PlatformDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    token = token[:128]
    who = _current_user(request, platform)
    expected = who.session.csrf_token if who and who.session else request.cookies.get(INVITE_CSRF_COOKIE, "")
    if not expected or not same(csrf_token, expected) or not same_origin(request):
        return _invite_page(request, platform, token, 403, error="the form expired: please try again")
    try:
        with transaction(platform.sessions) as session:
            if who is not None:
                user = team_service.accept(session, token, user=session.get(User, who.user_id))
                cookie = None
            else:
                user = team_service.accept(session, token, username=username.strip(), password=password)
                cookie, _ = auth_service._new_session(
                    session,
                    user,
                    ip=client_ip(request),
                    user_agent=request.headers.get("user-agent", ""),
                    pending=False,
                )
    except SlipwayError as exc:
        return _invite_page(request, platform, token, exc.status, error=exc.message, username=username)
    response = redirect("/", flash=f"Welcome, {user.username}: you joined the team.")
    if cookie is not None:
        _cookie(response, request, cookie)
        response.delete_cookie(INVITE_CSRF_COOKIE, path="/invite")
    return response


def mount(app: object) -> None:
    from slipway.web import activity, team

    app.include_router(router)  # type: ignore[attr-defined]
    app.include_router(team.router)  # type: ignore[attr-defined]
    app.include_router(activity.router)  # type: ignore[attr-defined]
