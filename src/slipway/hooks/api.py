"""POST /hooks/<provider>/<hook id> (the forges call it, signed) and /api/v1/apps/{name}/hook, deliveries."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from slipway.apps import service as app_service
from slipway.bounds import BeforeId, PathId
from slipway.db import transaction
from slipway.deploys.api import deploy_out
from slipway.deploys.schemas import DeployOut
from slipway.errors import NotFound, SlipwayError
from slipway.hooks import providers
from slipway.hooks import service as hook_service
from slipway.hooks.models import AppHook, HookDelivery
from slipway.hooks.schemas import DeliveryDetail, DeliveryOut, HookOut, HookPatch
from slipway.platform import Platform
from slipway.web.deps import CurrentPrincipal, PlatformDep

intake = APIRouter(tags=["webhooks"])
router = APIRouter(prefix="/api/v1/apps/{name}", tags=["webhooks"])


class TooLarge(SlipwayError):
    status = 413
    code = "too_large"


@intake.post("/hooks/{provider}/{hook_id}")
async def receive(provider: str, hook_id: str, request: Request, platform: PlatformDep) -> JSONResponse:
    """A forge's delivery: 202 queued/ignored, 200 ping or duplicate, 401 bad signature, 400, 404, 413, 503."""
    if providers.get(provider) is None:
        raise NotFound(f"unknown webhook provider {provider!r}")
    limit = platform.settings.webhook_max_bytes
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a chunked body has no Content-Length for the middleware to check
        size += len(chunk)
        if size > limit:
            raise TooLarge("webhook body too large", detail=f"at most {limit} bytes (SLIPWAY_WEBHOOK_MAX_BYTES)")
        chunks.append(chunk)
    work = functools.partial(hook_service.receive, platform, provider_name=provider, hook_id=hook_id,
                             headers={k.lower(): v for k, v in request.headers.items()}, body=b"".join(chunks))
    # the audit context (a contextvar) goes along into the intake thread
    answer = await asyncio.get_running_loop().run_in_executor(_intake_pool(request, platform),
                                                              contextvars.copy_context().run, work)
    return JSONResponse(answer.body, status_code=answer.status)


def _intake_pool(request: Request, platform: Platform) -> ThreadPoolExecutor:
    """Intake threads of their own. On SQLite one is enough — writes take turns anyway — and with one the
    writer never waits for the GIL behind a dozen request threads (that convoy made the p99 tail); on
    PostgreSQL a few run side by side."""
    pool = getattr(request.app.state, "hook_intake_pool", None)
    if pool is None:
        threads = 1 if platform.engine.dialect.name == "sqlite" else 8
        pool = ThreadPoolExecutor(threads, thread_name_prefix="slipway-hook-intake")
        request.app.state.hook_intake_pool = pool
    return pool  # type: ignore[no-any-return]


def hook_out(platform: Platform, app_name: str, hook: AppHook, app_branch: str, *, reveal: bool) -> HookOut:
    return HookOut(app=app_name, hook_id=hook.hook_id, urls=hook_service.urls(platform.settings, hook),
                   secret=hook_service.secret(platform.box, hook) if reveal else None, revealed=reveal,
                   branch_filter=hook.branch_filter or app_branch, deploy_tags=hook.deploy_tags,
                   deploy_window=hook.deploy_window, rotated_at=hook.rotated_at)


@router.get("/hook", response_model=HookOut)
def show_hook(name: str, platform: PlatformDep, _: CurrentPrincipal,
              reveal: bool = Query(False, description="Include the secret in clear.")) -> HookOut:
    with transaction(platform.sessions) as session:  # the hook is created on first look
        app = app_service.get(session, name)
        return hook_out(platform, name, hook_service.ensure(session, platform.box, app), app.branch, reveal=reveal)


@router.post("/hook/rotate", response_model=HookOut)
def rotate_hook(name: str, platform: PlatformDep, who: CurrentPrincipal) -> HookOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        hook = hook_service.rotate(session, platform.box, app, actor=who.actor)
        return hook_out(platform, name, hook, app.branch, reveal=True)


@router.patch("/hook", response_model=HookOut)
def patch_hook(name: str, body: HookPatch, platform: PlatformDep, who: CurrentPrincipal) -> HookOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        hook = hook_service.configure(session, platform.box, app, actor=who.actor, branch_filter=body.branch_filter,
                                      deploy_tags=body.deploy_tags, deploy_window=body.deploy_window)
        return hook_out(platform, name, hook, app.branch, reveal=False)


def delivery_out(row: HookDelivery, *, detail: bool = False) -> DeliveryOut:
    data = dict(id=row.id, provider=row.provider, event=row.event, delivery_id=row.delivery_id,
                verified=row.verified, outcome=row.outcome, reason=row.reason, ref=row.ref, commit=row.commit,
                deploy_id=row.deploy_id, received_at=row.received_at, headers=row.headers,
                body_kept=row.body is not None)
    return DeliveryDetail(**data, body=row.body) if detail else DeliveryOut(**data)


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(name: str, platform: PlatformDep, _: CurrentPrincipal, limit: int = Query(50, ge=1, le=500),
                    before: BeforeId = None
                    ) -> list[DeliveryOut]:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return [delivery_out(d) for d in hook_service.deliveries(session, app, limit=limit, before=before)]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
def show_delivery(name: str, delivery_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> DeliveryOut:
    with platform.sessions() as session:
        app = app_service.get(session, name)
        return delivery_out(hook_service.delivery(session, app, delivery_id), detail=True)


@router.post("/deliveries/{delivery_id}/replay", response_model=DeployOut, status_code=202)
def replay_delivery(name: str, delivery_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> DeployOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        out = deploy_out(session, name, hook_service.replay(session, app, delivery_id, actor=who.actor))
    platform.wake_workers()
    return out
