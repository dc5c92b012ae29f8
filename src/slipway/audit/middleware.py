"""Sets the audit context of each HTTP request, and writes the backstop record after a mutating
request that committed no audit record of its own (so no change goes unrecorded, whatever the route)."""

from __future__ import annotations

import logging

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway.audit import context as audit_context
from slipway.audit import service as audit_service
from slipway.db import transaction

log = logging.getLogger(__name__)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        source = "api" if path.startswith(("/api/", "/metrics")) else "webhook" if path.startswith("/hooks/") \
            else "dashboard"
        client = scope.get("client")
        ctx = audit_context.RequestContext(method=scope["method"], path=path,
                                           ip=client[0] if client else "unknown", source=source)
        token = audit_context.current.set(ctx)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            audit_context.current.reset(token)
            if ctx.method in MUTATING and ctx.records == 0 and (ctx.actor is not None or status < 400) \
                    and ctx.route not in ("/login", "/login/2fa"):
                app = scope.get("app")
                platform = getattr(getattr(app, "state", None), "platform", None)
                if platform is not None:
                    try:
                        await to_thread.run_sync(_write, platform, ctx, status)
                    except Exception:  # never turn a done request into an error
                        log.exception("could not write the audit record of %s %s", ctx.method, ctx.path)


def _write(platform: object, ctx: audit_context.RequestContext, status: int) -> None:
    with transaction(platform.sessions) as session:  # type: ignore[attr-defined]
        audit_service.record_request(session, ctx, status)
