"""/api/v1 channels, rules, deliveries, the notification center and app mutes."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.bounds import BeforeId, PathId
from slipway.db import transaction
from slipway.notify import deliver, service
from slipway.notify.channels import TYPES
from slipway.notify.message import KNOWN_KINDS
from slipway.notify.models import Channel, Delivery, Notification, Rule
from slipway.notify.schemas import (
    AttemptOut,
    ChannelCreate,
    ChannelOut,
    ChannelTypeOut,
    ChannelUpdate,
    DeliveryOut,
    MarkRead,
    MuteIn,
    MuteOut,
    NotificationOut,
    NotificationPage,
    RuleIn,
    RuleOut,
    RuleUpdate,
)
from slipway.platform import Platform
from slipway.web.deps import CurrentPrincipal, PlatformDep

router = APIRouter(prefix="/api/v1", tags=["notifications"])


def channel_out(platform: Platform, channel: Channel) -> ChannelOut:
    return ChannelOut(id=channel.id, name=channel.name, type=channel.type,
                      config=service.masked_config(platform.box, channel), enabled=channel.enabled,
                      failing=service.failing(platform.settings, channel),
                      consecutive_failures=channel.consecutive_failures, failing_since=channel.failing_since,
                      last_error=channel.last_error, last_success_at=channel.last_success_at,
                      created_at=channel.created_at)


def _app_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    return {a.id: a.name for a in session.scalars(select(App).where(App.id.in_(wanted)))} if wanted else {}


def rule_out(session: Session, rule: Rule) -> RuleOut:
    channels = service.rule_channels(session, rule.id)
    app = session.get(App, rule.app_id) if rule.app_id else None
    return RuleOut(id=rule.id, event=rule.event, app=app.name if app else None, channels=[c.name for c in channels],
                   channel_ids=[c.id for c in channels], enabled=rule.enabled, created_at=rule.created_at)


def delivery_out(session: Session, delivery: Delivery, *, with_attempts: bool = False) -> DeliveryOut:
    channel = session.get(Channel, delivery.channel_id)
    app = session.get(App, delivery.app_id) if delivery.app_id else None
    log = [AttemptOut(number=a.number, ok=a.ok, error=a.error, duration_ms=a.duration_ms, at=a.at)
           for a in service.attempts(session, delivery.id)] if with_attempts else None
    return DeliveryOut(id=delivery.id, channel_id=delivery.channel_id, channel=channel.name if channel else None,
                       event_id=delivery.event_id, rule_id=delivery.rule_id, app=app.name if app else None,
                       kind=delivery.kind, title=str(delivery.message.get("title", "")), status=delivery.status,
                       attempts=delivery.attempts, error=delivery.error, created_at=delivery.created_at,
                       sent_at=delivery.sent_at, attempt_log=log)


# ---- catalog -----------------------------------------------------------------------------------


@router.get("/notify/types", response_model=list[ChannelTypeOut])
def channel_types(_: CurrentPrincipal) -> list[ChannelTypeOut]:
    """Channel types and the JSON schema of their config (the dashboard renders its forms from it)."""
    return [ChannelTypeOut(type=t.name, label=t.label, config_schema=t.Config.model_json_schema(),
                           secret_fields=sorted(t.Config.secret_fields())) for t in TYPES.values()]


@router.get("/notify/events", response_model=list[str])
def event_kinds(_: CurrentPrincipal) -> list[str]:
    return list(KNOWN_KINDS)


# ---- channels ----------------------------------------------------------------------------------


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(platform: PlatformDep, _: CurrentPrincipal) -> list[ChannelOut]:
    with platform.sessions() as session:
        return [channel_out(platform, c) for c in service.list_channels(session)]


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(body: ChannelCreate, platform: PlatformDep, who: CurrentPrincipal) -> ChannelOut:
    with transaction(platform.sessions) as session:
        channel = service.create_channel(session, platform.box, name=body.name, type=body.type,
                                         config=body.config, enabled=body.enabled, policy=platform.egress,
                                         actor=who.actor)
        return channel_out(platform, channel)


@router.get("/channels/{ref}", response_model=ChannelOut)
def show_channel(ref: str, platform: PlatformDep, _: CurrentPrincipal) -> ChannelOut:
    with platform.sessions() as session:
        return channel_out(platform, service.get_channel(session, ref))


@router.patch("/channels/{ref}", response_model=ChannelOut)
def update_channel(ref: str, body: ChannelUpdate, platform: PlatformDep, who: CurrentPrincipal) -> ChannelOut:
    with transaction(platform.sessions) as session:
        channel = service.update_channel(session, platform.box, service.get_channel(session, ref), name=body.name,
                                         config=body.config, enabled=body.enabled, policy=platform.egress,
                                         actor=who.actor)
        return channel_out(platform, channel)


@router.delete("/channels/{ref}", status_code=204)
def delete_channel(ref: str, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    with transaction(platform.sessions) as session:
        service.delete_channel(session, service.get_channel(session, ref), actor=who.actor)
    return Response(status_code=204)


@router.post("/channels/{ref}/test", response_model=DeliveryOut)
def test_channel(ref: str, platform: PlatformDep, who: CurrentPrincipal) -> DeliveryOut:
    """Send a test message now; the answer says whether it went through (status sent or failed, error)."""
    with platform.sessions() as session:
        channel_id = service.get_channel(session, ref).id
    delivery = deliver.send_test(platform, channel_id, actor=who.actor)
    with platform.sessions() as session:
        return delivery_out(session, delivery, with_attempts=True)


@router.get("/channels/{ref}/deliveries", response_model=list[DeliveryOut])
def channel_deliveries(ref: str, platform: PlatformDep, _: CurrentPrincipal, status: str | None = None,
                       limit: int = Query(50, ge=1, le=500), before: BeforeId = None) -> list[DeliveryOut]:
    with platform.sessions() as session:
        channel = service.get_channel(session, ref)
        return [delivery_out(session, d) for d in service.list_deliveries(
            session, channel_id=channel.id, status=status, limit=limit, before=before)]


# ---- deliveries --------------------------------------------------------------------------------


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(platform: PlatformDep, _: CurrentPrincipal, status: str | None = None, app: str | None = None,
                    limit: int = Query(50, ge=1, le=500), before: BeforeId = None) -> list[DeliveryOut]:
    with platform.sessions() as session:
        app_id = app_service.get(session, app).id if app else None
        return [delivery_out(session, d) for d in service.list_deliveries(
            session, status=status, app_id=app_id, limit=limit, before=before)]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut)
def show_delivery(delivery_id: PathId, platform: PlatformDep, _: CurrentPrincipal) -> DeliveryOut:
    with platform.sessions() as session:
        return delivery_out(session, service.get_delivery(session, delivery_id), with_attempts=True)


# ---- rules -------------------------------------------------------------------------------------


@router.get("/rules", response_model=list[RuleOut])
def list_rules(platform: PlatformDep, _: CurrentPrincipal) -> list[RuleOut]:
    with platform.sessions() as session:
        return [rule_out(session, r) for r in service.list_rules(session)]


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, platform: PlatformDep, who: CurrentPrincipal) -> RuleOut:
    with transaction(platform.sessions) as session:
        rule = service.create_rule(session, event=body.event, channels=body.channels, app=body.app,
                                   enabled=body.enabled, actor=who.actor)
        return rule_out(session, rule)


@router.patch("/rules/{rule_id}", response_model=RuleOut)
def update_rule(rule_id: PathId, body: RuleUpdate, platform: PlatformDep, who: CurrentPrincipal) -> RuleOut:
    with transaction(platform.sessions) as session:
        rule = service.update_rule(session, service.get_rule(session, rule_id), event=body.event,
                                   channels=body.channels, app=body.app, all_apps=body.all_apps,
                                   enabled=body.enabled, actor=who.actor)
        return rule_out(session, rule)


@router.delete("/rules/{rule_id}", status_code=204)
def delete_rule(rule_id: PathId, platform: PlatformDep, who: CurrentPrincipal) -> Response:
    with transaction(platform.sessions) as session:
        service.delete_rule(session, service.get_rule(session, rule_id), actor=who.actor)
    return Response(status_code=204)


# ---- the notification center -------------------------------------------------------------------


@router.get("/notifications", response_model=NotificationPage)
def list_notifications(platform: PlatformDep, _: CurrentPrincipal, unread: bool = False,
                       limit: int = Query(50, ge=1, le=500), before: BeforeId = None) -> NotificationPage:
    with platform.sessions() as session:
        rows = service.notifications(session, unread=unread, limit=limit, before=before)
        names = _app_names(session, {n.app_id for n in rows})
        return NotificationPage(unread=service.unread_count(session), items=[_notification(n, names) for n in rows])


def _notification(n: Notification, names: dict[int, str]) -> NotificationOut:
    return NotificationOut(id=n.id, kind=n.kind, severity=n.severity, app=names.get(n.app_id or -1), title=n.title,
                           body=n.body, url=n.url, created_at=n.created_at, read=n.read_at is not None)


@router.post("/notifications/read")
def mark_read(body: MarkRead, platform: PlatformDep, _: CurrentPrincipal) -> dict[str, int]:
    with transaction(platform.sessions) as session:
        marked = service.mark_read(session, ids=body.ids, everything=body.all)
        return {"marked": marked, "unread": service.unread_count(session)}


# ---- muting ------------------------------------------------------------------------------------


def _mute_out(session: Session, app: App) -> MuteOut:
    mute = service.active_mutes(session).get(app.id)
    if mute is None:
        return MuteOut(app=app.name, muted=False)
    return MuteOut(app=app.name, muted=True, until=mute.until, reason=mute.reason, actor=mute.actor)


@router.get("/mutes", response_model=list[MuteOut])
def list_mutes(platform: PlatformDep, _: CurrentPrincipal) -> list[MuteOut]:
    with platform.sessions() as session:
        mutes = service.active_mutes(session)
        names = _app_names(session, set(mutes))
        return [MuteOut(app=names[i], muted=True, until=m.until, reason=m.reason, actor=m.actor)
                for i, m in mutes.items() if i in names]


@router.get("/apps/{name}/mute", response_model=MuteOut)
def show_mute(name: str, platform: PlatformDep, _: CurrentPrincipal) -> MuteOut:
    with platform.sessions() as session:
        return _mute_out(session, app_service.get(session, name))


@router.post("/apps/{name}/mute", response_model=MuteOut)
def mute_app(name: str, body: MuteIn, platform: PlatformDep, who: CurrentPrincipal) -> MuteOut:
    assert body.until is not None
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        service.mute(session, app, until=body.until, reason=body.reason, actor=who.actor)
        session.flush()
        return _mute_out(session, app)


@router.delete("/apps/{name}/mute", response_model=MuteOut)
def unmute_app(name: str, platform: PlatformDep, who: CurrentPrincipal) -> MuteOut:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        service.unmute(session, app, actor=who.actor)
        session.flush()
        return _mute_out(session, app)


# ---- alert rules and alerts (notify/alerts_api.py) ---------------------------------------------

from slipway.notify import alerts_api  # noqa: E402

alerts_api.register(router)
