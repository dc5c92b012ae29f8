"""create_app(): the FastAPI app, its routers, error mapping and background loops."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy.exc
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from slipway import __version__
from slipway.config import Settings
from slipway.errors import SlipwayError, from_exception
from slipway.platform import Platform, build_platform
from slipway.server import Background

log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024


class BodyLimit:
    """Refuse bodies over MAX_BODY (webhooks under /hooks/: over hook_limit) before anything reads them,
    and URLs with a NUL."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, hook_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.hook_limit = hook_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self.hook_limit if self.hook_limit and scope["path"].startswith("/hooks/") else self.limit
            if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
                # no name, id or filter holds a NUL; PostgreSQL refuses it in text (a DataError, a 500)
                response = JSONResponse({"error": "the URL contains a NUL character", "code": "invalid",
                                         "detail": None}, status_code=422)
                await response(scope, receive, send)
                return
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                response = JSONResponse({"error": "request body too large", "code": "too_large",
                                         "detail": f"at most {limit} bytes"}, status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None,
               background: bool = True, run_migrations: bool = True) -> FastAPI:
    settings = settings or (platform.settings if platform else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        plat = platform or build_platform(settings, run_migrations=run_migrations)
        app.state.platform = plat
        loops = Background(plat) if background else None
        if loops:
            _sync_git_keys(plat)
            loops.start()
        try:
            yield
        finally:
            if loops:
                loops.stop()
            if platform is None:
                plat.close()

    from slipway.audit import recorder  # noqa: F401  (every event becomes an audit record)
    from slipway.audit.middleware import AuditMiddleware
    from slipway.auth.ratelimit import Buckets
    from slipway.web.deps import authorize

    # authorize: the one gate of every route (rules in auth/policy.py)
    app = FastAPI(title="Slipway", version=__version__, lifespan=lifespan, docs_url="/api/docs",
                  openapi_url="/api/openapi.json", redoc_url=None, dependencies=[Depends(authorize)])
    if platform is not None:
        app.state.platform = platform
    app.state.token_buckets = Buckets(settings.token_rate_per_minute, settings.token_burst)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(BodyLimit, hook_limit=settings.webhook_max_bytes)

    @app.exception_handler(SlipwayError)
    async def _slipway_error(_: Request, exc: SlipwayError) -> JSONResponse:
        return JSONResponse({"error": exc.message, "code": exc.code, "detail": exc.detail},
                            status_code=exc.status)

    async def _infrastructure_error(request: Request, exc: Exception) -> JSONResponse:
        # the database down or the disk full: a JSON error naming the cause, not a plain-text 500
        from slipway.selfcheck import data_disks

        platform = getattr(request.app.state, "platform", None)
        error = from_exception(exc, disks=data_disks(platform.settings) if platform is not None else ())
        if error is None:
            raise exc  # a bug: the server's own 500 handler, with the traceback in the log
        log.warning("%s %s: %s (%s)", request.method, request.url.path, error.message, exc.__class__.__name__)
        return await _slipway_error(request, error)

    for infrastructure in (OSError, sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError):
        app.add_exception_handler(infrastructure, _infrastructure_error)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # the database refused a value a client sent (a NUL in a body string, a number past its column):
        # bad input, not a server fault; logged so a value Slipway made itself still shows up
        log.warning("the database refused a value: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return JSONResponse({"error": "a value is out of range or contains characters the database cannot store "
                                      "(such as NUL)", "code": "invalid", "detail": None}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "code": "invalid", "detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "code": "http_error", "detail": None},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    from slipway.apps.api import router as apps_router
    from slipway.audit.api import router as audit_router
    from slipway.auth.api import router as auth_router
    from slipway.auth.api import teams_router
    from slipway.deploys.api import router as deploys_router
    from slipway.hooks.api import intake as hooks_intake
    from slipway.hooks.api import router as hooks_router
    from slipway.notify.api import router as notify_router
    from slipway.web.pages import mount as mount_dashboard

    app.include_router(hooks_intake)  # first: the forges' deliveries are the hot path, matched before ~200 routes
    app.include_router(auth_router)
    app.include_router(apps_router)
    app.include_router(deploys_router)
    app.include_router(hooks_router)
    from slipway.forge.api import router as forge_router
    from slipway.previews.api import router as previews_router

    app.include_router(previews_router)
    app.include_router(forge_router)
    from slipway.observability.api import mount as mount_observability

    mount_observability(app, settings)
    app.include_router(notify_router)
    app.include_router(teams_router)
    app.include_router(audit_router)
    from slipway.gitpush.api import router as gitpush_router

    app.include_router(gitpush_router)
    from slipway.domains.api import certs_router
    from slipway.domains.api import router as domains_router
    from slipway.domains.api import token_router as doctor_token_router

    app.include_router(domains_router)
    app.include_router(doctor_token_router)
    app.include_router(certs_router)
    from slipway.cron.api import router as cron_router

    app.include_router(cron_router)
    mount_dashboard(app)
    _document_errors(app)
    return app


# The shape every 4xx body has (the handlers above), in place of FastAPI's default validation error schema.
ERROR_SCHEMA = {"title": "Error", "type": "object", "required": ["error", "code"],
                "properties": {"error": {"type": "string"}, "code": {"type": "string"},
                               "detail": {"description": "More about the error: a list of fields, a hint, or null."}}}


def _document_errors(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schemas = build().get("components", {}).get("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = ERROR_SCHEMA
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _sync_git_keys(platform: Platform) -> None:
    """The authorized_keys block names this installation's interpreter and API address: bring it up to date."""
    from slipway.gitpush import keys

    try:
        path = keys.sync_authorized_keys(platform.sessions, platform.settings)
    except OSError as exc:
        log.warning("cannot write the git push keys to %s: %s (git push over SSH will not work)",
                    platform.settings.git_authorized_keys, exc)
    else:
        if path is not None:
            log.info("git push keys written to %s", path)
