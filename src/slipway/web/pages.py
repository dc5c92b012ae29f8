"""The dashboard: server-rendered pages (Jinja2) made live with HTMX; every page and action needs a session.

Pages call services, never the HTTP API. Errors from the services become flash messages or inline
form errors; a missing session becomes a redirect to /login.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from slipway.apps import lifecycle
from slipway.apps import service as app_service
from slipway.apps.api import app_out
from slipway.apps.models import App
from slipway.auth import service as auth_service
from slipway.auth.service import Principal
from slipway.bounds import PathId
from slipway.crypto import mask, same
from slipway.db import transaction
from slipway.deploys import service as deploy_service
from slipway.deploys.api import deploy_out
from slipway.errors import SlipwayError, TooMany
from slipway.git import local as local_git
from slipway.platform import Platform
from slipway.routing import service as routing
from slipway.web.deps import (
    SESSION_COOKIE,
    LoginRequired,
    PlatformDep,
    client_ip,
    csrf_token_of,
    get_access,
    same_origin,
    target_project,
)

HERE = Path(__file__).parent
LOGIN_CSRF_COOKIE = "slipway_login_csrf"
FLASH_COOKIE = "slipway_flash"
# the steps a deploy of each kind goes through, in order (see deploys/pipeline.py)
STEPS = {
    "deploy": ["fetch", "build", "start", "health", "switch", "watch", "drain"],
    "rollback": ["release", "start", "health", "switch", "watch", "drain"],
    "config": ["release", "start", "health", "switch", "watch", "drain"],
    "restart": ["start", "health", "switch", "watch", "drain"],
    "start": ["start", "health", "switch", "watch", "drain"],
    "stop": ["stop"],
}
# strict: no inline script or style, so an escaping bug cannot become script execution
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                        trim_blocks=True, lstrip_blocks=True)
templates.filters["when"] = lambda t: t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if t else ""
templates.filters["short"] = lambda sha: (sha or "")[:10]




class PageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class PageRoute(APIRoute):
    """Errors of page routes render as HTML (the API's JSON mapping stays for /api)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                return _to_login(request)
            except PageError as exc:
                return render(request, "error.html", exc.status, message=exc.message)
            except SlipwayError as exc:
                return render(request, "error.html", exc.status, message=exc.message, detail=exc.detail)
            except RequestValidationError:
                return render(request, "error.html", 422, message="invalid form: a required field is missing")

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


# ---- rendering, flash messages, redirects --------------------------------------------------------


def render(request: Request, template: str, status: int = 200, /, *, who: Principal | None = None,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    flash = _read_flash(request) if not template.startswith("partials/") else None
    who = who or getattr(request.state, "principal", None)
    csrf = who.session.csrf_token if who is not None and who.session is not None else ""
    platform = getattr(request.app.state, "platform", None)
    isolation = platform.isolation if platform is not None else None
    unisolated = isolation if isolation is not None and not isolation.isolated else None  # banner, every page
    html = templates.get_template(template).render(request=request, user=who.name if who else None, csrf=csrf,
                                               flash=flash, unisolated=unisolated, **context)
    response = HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, *, flash: str | None = None, kind: str = "ok", href: str | None = None,
             htmx: bool = False) -> Response:
    """303 to `url` (for htmx: an HX-Redirect, which it follows with a full page load)."""
    response = Response(headers={"HX-Redirect": url}) if htmx else RedirectResponse(url, status_code=303)
    if flash is not None:  # shown once, by the next full page
        raw = json.dumps({"kind": kind, "text": flash, "href": href}).encode()
        response.set_cookie(FLASH_COOKIE, base64.urlsafe_b64encode(raw).decode(), max_age=60, path="/",
                            httponly=True, samesite="lax")
    return response


def _read_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return None
    href = value.get("href")
    return {"kind": "error" if value.get("kind") == "error" else "ok", "text": value["text"],
            "href": href if isinstance(href, str) and safe_next(href) == href else None}


def safe_next(target: str | None) -> str:
    """Only a path on this site: never a scheme, a host or a protocol-relative `//host`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 or c == "\\" for c in target):
        return "/"
    return target


def _to_login(request: Request) -> Response:
    if request.headers.get("hx-request"):
        # a poll from a page whose session ended: send the whole page to the login form
        current = urlsplit(request.headers.get("hx-current-url", ""))
        here = safe_next(current.path + (f"?{current.query}" if current.query else ""))
        return Response(status_code=401, headers={"HX-Redirect": f"/login?next={quote(here, safe='')}"})
    if request.method != "GET":
        return redirect("/login")
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"/login?next={quote(here, safe='')}")


# ---- sessions and CSRF -----------------------------------------------------------------------------


def page_principal(request: Request, platform: PlatformDep) -> Principal:
    """The dashboard user (session cookie only); anything else goes to the login form."""
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = None
    if cookie:
        with platform.sessions() as session:
            principal = auth_service.session_principal(session, cookie)
    if principal is None:
        raise LoginRequired()
    request.state.principal = principal
    return principal


async def checked_principal(request: Request, who: Annotated[Principal, Depends(page_principal)]) -> Principal:
    """For every POST: the session's CSRF token (form field or X-CSRF-Token header) and our own origin."""
    assert who.session is not None
    if not same_origin(request) or not same(await csrf_token_of(request), who.session.csrf_token):
        raise PageError(403, "missing or wrong CSRF token: reload the page and try again")
    return who


Viewer = Annotated[Principal, Depends(page_principal)]
Actor = Annotated[Principal, Depends(checked_principal)]


def _login_form(request: Request, status: int = 200, *, error: str | None = None, next_: str = "/",
                username: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status, error=error, next=safe_next(next_), username=username,
                      login_csrf=token)
    # double-submit token: a page on another site can't read it, so it can't post a login for us
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=12 * 3600, path="/login", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/login")
def login_page(request: Request, platform: PlatformDep, next: str = "/") -> Response:  # noqa: A002
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with platform.sessions() as session:
            if auth_service.session_principal(session, cookie) is not None:
                return redirect(safe_next(next))
    return _login_form(request, next_=next)


@router.post("/login")
def login(request: Request, platform: PlatformDep, username: Annotated[str, Form(max_length=256)] = "",
          password: Annotated[str, Form(max_length=1024)] = "", csrf_token: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/") -> Response:  # noqa: A002
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same(csrf_token, expected) or not same_origin(request):
        return _login_form(request, 403, error="the login form expired: please try again", next_=next,
                           username=username)
    try:
        with transaction(platform.sessions) as session:  # commits the failed attempt too (rate limit)
            result = auth_service.login(session, username=username, password=password, ip=client_ip(request),
                                        user_agent=request.headers.get("user-agent", ""))
    except TooMany as exc:
        return _login_form(request, 429, error=exc.message, next_=next, username=username)
    if result is None:
        return _login_form(request, 401, error="wrong username or password", next_=next, username=username)
    cookie, row = result
    response = redirect(f"/login/2fa?next={quote(safe_next(next), safe='')}" if row.mfa_pending else safe_next(next))
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(auth_service.SESSION_TTL.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, platform: PlatformDep, _: Actor) -> Response:
    with transaction(platform.sessions) as session:
        auth_service.logout(session, request.cookies.get(SESSION_COOKIE, ""))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---- apps list and creation ------------------------------------------------------------------------


def _apps(session: Session, platform: Platform) -> list[Any]:
    return [app_out(session, platform, app) for app in app_service.list_all(session)]


@router.get("/")
def apps_page(request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        apps = _apps(session, platform)
    return render(request, "apps.html", apps=apps, form={"branch": "main"}, error=None)


@router.get("/partials/apps")
def apps_partial(request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        apps = _apps(session, platform)
    return render(request, "partials/apps_table.html", apps=apps)


@router.post("/apps")
def create_app(request: Request, platform: PlatformDep, who: Actor, name: Annotated[str, Form(max_length=63)] = "",
               git_url: Annotated[str, Form(max_length=2048)] = "",
               branch: Annotated[str, Form(max_length=255)] = "main") -> Response:
    form = {"name": name.strip(), "git_url": git_url.strip(), "branch": branch.strip() or "main"}
    try:
        with transaction(platform.sessions) as session:
            project_id = target_project(request)
            app_service.create(session, name=form["name"], git_url=form["git_url"], branch=form["branch"],
                               actor=who.actor, project_id=project_id,
                               source_policy=local_git.policy(platform.settings, get_access(request), project_id))
    except SlipwayError as exc:
        error = exc.message + (f": {exc.detail}" if isinstance(exc.detail, str) and exc.detail else "")
        if request.headers.get("hx-request"):
            return render(request, "partials/new_app.html", exc.status, form=form, error=error)
        with platform.sessions() as session:
            apps = _apps(session, platform)
        return render(request, "apps.html", exc.status, apps=apps, form=form, error=error)
    routing.apply(platform)
    return redirect(f"/apps/{form['name']}", flash=f"Created {form['name']}: deploy it when you are ready.",
                    htmx=bool(request.headers.get("hx-request")))


# ---- one app ---------------------------------------------------------------------------------------


def _app_context(session: Session, platform: Platform, name: str) -> dict[str, Any]:
    app = app_service.get(session, name)
    deploys = [deploy_out(session, name, d) for d in deploy_service.deploys(session, app, limit=10)]
    return {"app": app_out(session, platform, app, detail=True), "deploys": deploys}


def _env_rows(session: Session, platform: Platform, app: App, *, reveal: bool) -> list[tuple[str, str]]:
    values = app_service.env_plain(session, platform.box, app)
    return [(key, value if reveal else mask(value)) for key, value in values.items()]


def _app_page(request: Request, platform: Platform, name: str, *, reveal: bool) -> Response:
    with platform.sessions() as session:
        context = _app_context(session, platform, name)
        app = app_service.get(session, name)
        releases = deploy_service.releases(session, app)
        env = _env_rows(session, platform, app, reveal=reveal)
        live_id = app.live_release_id
    return render(request, "app.html", **context, releases=releases, live_id=live_id, env=env, revealed=reveal)


@router.get("/apps/{name}")
def app_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    return _app_page(request, platform, name, reveal=False)


@router.get("/apps/{name}/partials/live")
def app_live_partial(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        context = _app_context(session, platform, name)
    return render(request, "partials/app_live.html", **context)


def _queue(platform: Platform, name: str, kind: str, who: Principal, **kwargs: Any) -> Response:
    try:
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            deploy = deploy_service.request(session, app, kind=kind, actor=who.actor, **kwargs)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}", flash=exc.message, kind="error")
    platform.wake_workers()
    return redirect(f"/apps/{name}/deploys/{deploy.id}")


@router.post("/apps/{name}/deploy")
def deploy_action(name: str, platform: PlatformDep, who: Actor) -> Response:
    return _queue(platform, name, "deploy", who)


@router.post("/apps/{name}/restart")
def restart_action(name: str, platform: PlatformDep, who: Actor) -> Response:
    return _queue(platform, name, "restart", who)


@router.post("/apps/{name}/stop")
def stop_action(name: str, platform: PlatformDep, who: Actor) -> Response:
    return _queue(platform, name, "stop", who)


@router.post("/apps/{name}/start")
def start_action(name: str, platform: PlatformDep, who: Actor) -> Response:
    return _queue(platform, name, "start", who)


@router.post("/apps/{name}/rollback")
def rollback_action(name: str, platform: PlatformDep, who: Actor,
                    version: Annotated[int | None, Form(ge=1)] = None) -> Response:
    return _queue(platform, name, "rollback", who, target_version=version)


# ---- env vars --------------------------------------------------------------------------------------


def parse_env_lines(text: str) -> dict[str, str]:
    """KEY=VALUE per line; blank lines and # comments are skipped; the value keeps any `=` it holds."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise PageError(422, f"line {number}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


@router.post("/apps/{name}/env")
def set_env_action(name: str, platform: PlatformDep, who: Actor, lines: Annotated[str, Form()] = "",
                   apply: Annotated[bool, Form()] = False) -> Response:
    back = f"/apps/{name}#env"
    try:
        values = parse_env_lines(lines)
        if not values:
            return redirect(back, flash="Nothing to set: write KEY=VALUE lines.", kind="error")
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            changed = app_service.set_env(session, platform.box, app, values, actor=who.actor)
            deploy = None
            if changed and apply and app.live_release_id is not None:
                deploy = deploy_service.request(session, app, kind="config", actor=who.actor)
    except (SlipwayError, PageError) as exc:
        return redirect(back, flash=exc.message, kind="error")
    keys = ", ".join(values)
    if deploy is None:
        return redirect(back, flash=f"Set {keys}." if changed else f"{keys}: no change.")
    platform.wake_workers()
    return redirect(back, flash=f"Set {keys}; rolling out in deploy #{deploy.id}.",
                    href=f"/apps/{name}/deploys/{deploy.id}")


@router.post("/apps/{name}/env/unset")
def unset_env_action(name: str, platform: PlatformDep, who: Actor, key: Annotated[str, Form(max_length=255)],
                     apply: Annotated[bool, Form()] = False) -> Response:
    back = f"/apps/{name}#env"
    try:
        with transaction(platform.sessions) as session:
            app = app_service.get(session, name)
            app_service.unset_env(session, app, [key], actor=who.actor)
            deploy = None
            if apply and app.live_release_id is not None:
                deploy = deploy_service.request(session, app, kind="config", actor=who.actor)
    except SlipwayError as exc:
        return redirect(back, flash=exc.message, kind="error")
    if deploy is None:
        return redirect(back, flash=f"Unset {key}.")
    platform.wake_workers()
    return redirect(back, flash=f"Unset {key}; rolling out in deploy #{deploy.id}.",
                    href=f"/apps/{name}/deploys/{deploy.id}")


@router.post("/apps/{name}/env/reveal")
def reveal_env(name: str, request: Request, platform: PlatformDep, _: Actor) -> Response:
    """Values in clear, only on this explicit (CSRF-checked) request; never cached."""
    if not request.headers.get("hx-request"):
        return _app_page(request, platform, name, reveal=True)
    with platform.sessions() as session:
        app = app_service.get(session, name)
        env = _env_rows(session, platform, app, reveal=True)
        has_live = app.live_release_id is not None
    return render(request, "partials/env.html", app={"name": name, "live_release": has_live}, env=env,
                  revealed=True)


# ---- deleting an app -------------------------------------------------------------------------------


@router.get("/apps/{name}/delete")
def delete_page(name: str, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        app_service.get(session, name)
    return render(request, "confirm_delete.html", name=name, error=None)


@router.post("/apps/{name}/delete")
def delete_action(name: str, request: Request, platform: PlatformDep, who: Actor,
                  confirm: Annotated[str, Form(max_length=63)] = "") -> Response:
    if confirm.strip() != name:
        return render(request, "confirm_delete.html", 422, name=name,
                      error=f"type {name} to confirm")
    try:
        lifecycle.delete(platform, name, actor=who.actor)
    except SlipwayError as exc:
        return redirect(f"/apps/{name}", flash=exc.message, kind="error")
    return redirect("/", flash=f"Deleted {name}.")


# ---- one deploy ------------------------------------------------------------------------------------


def _deploy_context(platform: Platform, name: str, deploy_id: int) -> dict[str, Any]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        deploy = deploy_out(session, name, deploy_service.get(session, deploy_id, app))
    steps = list(STEPS.get(deploy.kind, []))
    if deploy.step == "release_command" and "start" in steps:  # only for apps that declare one
        steps.insert(steps.index("start"), "release_command")
    finished = deploy.status in deploy_service.FINISHED
    current = steps.index(deploy.step) if deploy.step in steps else -1
    progress = []
    for index, step in enumerate(steps):
        if finished and deploy.status == "succeeded":
            state = "done"
        elif finished:  # the step it stopped at failed; the ones before it were done
            state = "done" if index < current else "failed" if index == current else "skipped"
        elif deploy.status == "queued" or index > current:
            state = "todo"
        else:
            state = "done" if index < current else "current"
        progress.append((step, state))
    return {"name": name, "deploy": deploy, "progress": progress, "finished": finished}


@router.get("/apps/{name}/deploys/{deploy_id}")
def deploy_page(name: str, deploy_id: PathId, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    return render(request, "deploy.html", **_deploy_context(platform, name, deploy_id))


@router.get("/apps/{name}/deploys/{deploy_id}/partials/status")
def deploy_status_partial(name: str, deploy_id: PathId, request: Request, platform: PlatformDep,
                          _: Viewer) -> Response:
    return render(request, "partials/deploy_status.html", **_deploy_context(platform, name, deploy_id))


def mount(app: FastAPI) -> None:
    # they import this module: load them now
    from slipway.web import (
        alerts_pages,
        deploy_pages,
        domains_pages,
        hooks_pages,
        notify_pages,
        observe,
        previews_pages,
    )

    app.include_router(router)
    app.include_router(observe.router)
    app.include_router(notify_pages.router)
    app.include_router(alerts_pages.router)
    app.include_router(hooks_pages.router)
    app.include_router(deploy_pages.router)
    app.include_router(previews_pages.router)
    app.include_router(domains_pages.router)
    __import__("slipway.web.account", fromlist=["mount"]).mount(app)  # account, team, activity
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
