"""Channels, rules, mutes, deliveries and the notification center: logic without HTTP."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from slipway import events
from slipway.apps import service as app_service
from slipway.apps.models import App
from slipway.bounds import INT32_MAX, digits, row_id
from slipway.config import Settings
from slipway.crypto import Box, mask
from slipway.db import utcnow
from slipway.egress import Policy
from slipway.errors import Conflict, Invalid, NotFound
from slipway.jobs import queue
from slipway.notify.channels import get_type
from slipway.notify.channels.base import ChannelConfig, Message
from slipway.notify.models import Attempt, Channel, Delivery, Mute, Notification, Rule, RuleChannel

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}\Z")
PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*\.(\*|[a-z][a-z0-9_]*))\Z")
DELIVER = "notify.deliver"

# ---- channels ----------------------------------------------------------------------------------


def get_channel(session: Session, ref: int | str) -> Channel:
    """By id, or by name (what the CLI passes)."""
    if isinstance(ref, int) or digits(ref):  # an id; one past the id range names no channel
        channel_id = ref if isinstance(ref, int) else row_id(ref)
        channel = session.get(Channel, channel_id) if channel_id and 0 < channel_id <= INT32_MAX else None
    else:
        channel = session.scalar(select(Channel).where(Channel.name == ref))
    if channel is None:
        raise NotFound(f"no channel {ref!r}")
    return channel


def list_channels(session: Session) -> list[Channel]:
    return list(session.scalars(select(Channel).order_by(Channel.name)))


def _validated(type_name: str, values: dict[str, Any]) -> ChannelConfig:
    try:
        return get_type(type_name).Config.model_validate(values)
    except ValidationError as exc:
        detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        raise Invalid(f"invalid {type_name} channel config", detail) from None


def _store(box: Box, channel: Channel, config: ChannelConfig) -> None:
    data = config.model_dump()
    secret = {k: data.pop(k) for k in config.secret_fields()}
    channel.config = data
    channel.secrets_enc = box.encrypt(json.dumps(secret)) if secret else None


def load_config(box: Box, channel: Channel) -> ChannelConfig:
    values = dict(channel.config)
    if channel.secrets_enc:
        values.update(json.loads(box.decrypt(channel.secrets_enc)))
    return _validated(channel.type, values)


def masked_config(box: Box, channel: Channel) -> dict[str, Any]:
    config = load_config(box, channel)
    data = config.model_dump()
    for key in config.secret_fields():
        data[key] = mask(data[key]) if data[key] else ""
    return data


def _check_egress(config: ChannelConfig, policy: Policy) -> None:
    """Every host the channel will connect to must pass the egress rules (checked again at each send)."""
    for host, port in config.egress_targets():
        policy.check_host(host, port)


def create_channel(session: Session, box: Box, *, name: str, type: str, config: dict[str, Any],
                   policy: Policy, enabled: bool = True, actor: str = "system") -> Channel:
    if not NAME.match(name):
        raise Invalid(f"invalid channel name {name!r}: letters, digits, '.', '_' or '-' (64 at most)")
    if session.scalar(select(Channel.id).where(Channel.name == name)):
        raise Conflict(f"a channel named {name!r} already exists")
    channel = Channel(name=name, type=type, enabled=enabled)
    validated = _validated(type, config)
    _check_egress(validated, policy)
    _store(box, channel, validated)
    session.add(channel)
    session.flush()
    events.emit(session, "channel.created", actor=actor, channel=name, type=type)
    return channel


def update_channel(session: Session, box: Box, channel: Channel, *, policy: Policy, name: str | None = None,
                   config: dict[str, Any] | None = None, enabled: bool | None = None,
                   actor: str = "system") -> Channel:
    """Patch semantics: config keys not given keep their value, and so does a secret sent back masked."""
    if name is not None and name != channel.name:
        if not NAME.match(name):
            raise Invalid(f"invalid channel name {name!r}")
        if session.scalar(select(Channel.id).where(Channel.name == name)):
            raise Conflict(f"a channel named {name!r} already exists")
        channel.name = name
    if config:
        current = load_config(box, channel)
        merged = current.model_dump()
        for key, value in config.items():
            if key in current.secret_fields() and value == mask(str(merged.get(key) or "x")):
                continue
            merged[key] = value
        validated = _validated(channel.type, merged)
        _check_egress(validated, policy)
        _store(box, channel, validated)
    if enabled is not None:
        channel.enabled = enabled
    events.emit(session, "channel.updated", actor=actor, channel=channel.name,
                fields=sorted(set(config or {}) | ({"enabled"} if enabled is not None else set())))
    return channel


def delete_channel(session: Session, channel: Channel, *, actor: str = "system") -> None:
    events.emit(session, "channel.deleted", actor=actor, channel=channel.name)
    session.delete(channel)


def failing(settings: Settings, channel: Channel, now: dt.datetime | None = None) -> bool:
    """Flagged: N failures in a row, or nothing but failures for longer than notify_flag_seconds."""
    now = now or utcnow()
    return channel.consecutive_failures >= settings.notify_flag_failures or (
        channel.failing_since is not None
        and (now - channel.failing_since).total_seconds() > settings.notify_flag_seconds)


def record_health(session: Session, channel_id: int, error: str | None) -> None:
    """One statement per attempt, so concurrent deliveries to one channel never lose a count."""
    now = utcnow()
    values: dict[str, Any] = (
        {"consecutive_failures": 0, "failing_since": None, "last_success_at": now} if error is None else
        {"consecutive_failures": Channel.consecutive_failures + 1,
         "failing_since": func.coalesce(Channel.failing_since, now), "last_error": error[:2000]})
    session.execute(update(Channel).where(Channel.id == channel_id).values(**values)
                    .execution_options(synchronize_session=False))


# ---- rules -------------------------------------------------------------------------------------


def matches(pattern: str, kind: str) -> bool:
    return pattern == "*" or pattern == kind or (pattern.endswith(".*") and kind.startswith(pattern[:-1]))


def _channel_ids(session: Session, refs: list[int | str]) -> list[int]:
    if not refs:
        raise Invalid("a rule needs at least one channel")
    return sorted({get_channel(session, ref).id for ref in refs})


def list_rules(session: Session) -> list[Rule]:
    return list(session.scalars(select(Rule).order_by(Rule.id)))


def get_rule(session: Session, rule_id: int) -> Rule:
    rule = session.get(Rule, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id}")
    return rule


def rule_channels(session: Session, rule_id: int) -> list[Channel]:
    return list(session.scalars(select(Channel).join(RuleChannel, RuleChannel.channel_id == Channel.id)
                                .where(RuleChannel.rule_id == rule_id).order_by(Channel.name)))


def _set_rule_channels(session: Session, rule: Rule, ids: list[int]) -> None:
    session.execute(delete(RuleChannel).where(RuleChannel.rule_id == rule.id))
    session.add_all(RuleChannel(rule_id=rule.id, channel_id=i) for i in ids)


def _check_pattern(event: str) -> str:
    if not PATTERN.match(event):
        raise Invalid(f"invalid event pattern {event!r}", "a kind (deploy.failed), a group (deploy.*) or *")
    return event


def create_rule(session: Session, *, event: str, channels: list[int | str], app: str | None = None,
                enabled: bool = True, actor: str = "system") -> Rule:
    app_id = app_service.get(session, app).id if app else None
    rule = Rule(event=_check_pattern(event), app_id=app_id, enabled=enabled)
    session.add(rule)
    session.flush()
    _set_rule_channels(session, rule, _channel_ids(session, channels))
    events.emit(session, "rule.created", app_id=app_id, actor=actor, rule_id=rule.id, event=event)
    return rule


def update_rule(session: Session, rule: Rule, *, event: str | None = None, channels: list[int | str] | None = None,
                app: str | None = None, all_apps: bool = False, enabled: bool | None = None,
                actor: str = "system") -> Rule:
    if event is not None:
        rule.event = _check_pattern(event)
    if all_apps:
        rule.app_id = None
    elif app is not None:
        rule.app_id = app_service.get(session, app).id
    if enabled is not None:
        rule.enabled = enabled
    if channels is not None:
        _set_rule_channels(session, rule, _channel_ids(session, channels))
    events.emit(session, "rule.updated", app_id=rule.app_id, actor=actor, rule_id=rule.id)
    return rule


def delete_rule(session: Session, rule: Rule, *, actor: str = "system") -> None:
    events.emit(session, "rule.deleted", actor=actor, rule_id=rule.id, event=rule.event)
    session.delete(rule)


# ---- mutes -------------------------------------------------------------------------------------


def mute(session: Session, app: App, *, until: dt.datetime, reason: str = "", actor: str = "system") -> Mute:
    if until.tzinfo is None:
        raise Invalid("'until' needs a time zone (e.g. 2030-01-01T08:00:00Z)")
    if until <= utcnow():
        raise Invalid("'until' is in the past")
    row = session.get(Mute, app.id) or Mute(app_id=app.id)
    row.until, row.reason, row.actor, row.created_at = until, reason[:255], actor, utcnow()
    session.add(row)
    events.emit(session, "app.muted", app_id=app.id, actor=actor, until=until.isoformat(), reason=reason)
    return row


def unmute(session: Session, app: App, *, actor: str = "system") -> bool:
    row = session.get(Mute, app.id)
    if row is None:
        return False
    session.delete(row)
    events.emit(session, "app.unmuted", app_id=app.id, actor=actor)
    return True


def active_mutes(session: Session, now: dt.datetime | None = None) -> dict[int, Mute]:
    return {m.app_id: m for m in session.scalars(select(Mute).where(Mute.until > (now or utcnow())))}


# ---- deliveries --------------------------------------------------------------------------------


def queue_delivery(session: Session, settings: Settings, *, channel: Channel, message: Message,
                   event_id: int | None = None, rule_id: int | None = None, app_id: int | None = None,
                   skip: str | None = None) -> Delivery:
    """A delivery and (unless skipped) its job, in the caller's transaction: no delivery without a job."""
    delivery = Delivery(channel_id=channel.id, event_id=event_id, rule_id=rule_id, app_id=app_id,
                        kind=message.kind, message=message.model_dump(mode="json"),
                        status="skipped" if skip else "queued", error=skip)
    session.add(delivery)
    session.flush()
    if not skip:
        delivery.job_id = queue.enqueue(session, DELIVER, {"delivery_id": delivery.id},
                                        max_attempts=settings.notify_max_attempts).id
    return delivery


def list_deliveries(session: Session, *, channel_id: int | None = None, status: str | None = None,
                    app_id: int | None = None, limit: int = 50, before: int | None = None) -> list[Delivery]:
    query = select(Delivery)
    for column, value in ((Delivery.channel_id, channel_id), (Delivery.status, status), (Delivery.app_id, app_id)):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(Delivery.id < before)
    return list(session.scalars(query.order_by(Delivery.id.desc()).limit(limit)))


def get_delivery(session: Session, delivery_id: int) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"no delivery {delivery_id}")
    return delivery


def attempts(session: Session, delivery_id: int) -> list[Attempt]:
    return list(session.scalars(select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.id)))


# ---- the notification center -------------------------------------------------------------------


def notifications(session: Session, *, unread: bool = False, limit: int = 50,
                  before: int | None = None) -> list[Notification]:
    query = select(Notification)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.id < before)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(Notification.read_at.is_(None))) or 0


def mark_read(session: Session, *, ids: list[int] | None = None, everything: bool = False) -> int:
    query = update(Notification).where(Notification.read_at.is_(None))
    if not everything:
        if not ids:
            return 0
        query = query.where(Notification.id.in_(ids))
    return session.execute(query.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount

