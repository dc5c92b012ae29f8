"""Tables of notifications: channels, rules, deliveries and their attempts, the browser's inbox,
the dispatcher's cursor over the events outbox, app mutes, crash episodes, alert rules and alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db import Base, utcnow


class Channel(Base):
    """Somewhere messages go. `config` holds the non-secret fields, `secrets_enc` the encrypted rest."""

    __tablename__ = "notify_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(16))  # slack | discord | telegram | email | webhook | browser | apprise
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_enc: Mapped[str | None] = mapped_column(Text, default=None)  # Box-encrypted JSON object
    enabled: Mapped[bool] = mapped_column(default=True)
    # health, updated by every delivery attempt: a channel failing for long is flagged in the API
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Rule(Base):
    """Events matching `event` (a kind, `group.*` or `*`) of one app (or of all: app_id NULL) → channels."""

    __tablename__ = "notify_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(64))
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RuleChannel(Base):
    __tablename__ = "notify_rule_channels"

    rule_id: Mapped[int] = mapped_column(ForeignKey("notify_rules.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"),
                                            primary_key=True)


class Delivery(Base):
    """One message to one channel. (event_id, channel_id) is unique: an event reaches a channel once,
    however many rules match and however many dispatchers run. Test sends have no event."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "channel_id", name="uq_notify_deliveries_event_channel"),
                      Index("ix_notify_deliveries_channel_created", "channel_id", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), default=None)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("notify_rules.id", ondelete="SET NULL"), default=None)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rendered once: retries send the same
    # queued → sent | retrying → … | failed ; skipped (muted app, disabled channel) never sends
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Attempt(Base):
    __tablename__ = "notify_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notify_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    ok: Mapped[bool]
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(default=0)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """The dashboard's notification center (the `browser` channel delivers here)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("notify_deliveries.id", ondelete="SET NULL"),
                                                    unique=True, default=None)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notify_channels.id", ondelete="SET NULL"),
                                                   default=None)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), default="info")
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(String(1024), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Cursor(Base):
    """How far a consumer of the events outbox got. Row-locked while advanced: one dispatcher at a time."""

    __tablename__ = "notify_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Mute(Base):
    """Quiet hours for an app: until `until`, its notifications are recorded as skipped."""

    __tablename__ = "notify_mutes"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    until: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(String(255), default="")
    actor: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CrashEpisode(Base):
    """An app's instances crashing, from the first crash seen until they stay up for a quiet period.
    One open episode per app: app.crashed is emitted when it opens, app.recovered when it closes."""

    __tablename__ = "notify_crash_episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_crash_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AlertRule(Base):
    """"metric op threshold for duration" on one app (app_id) or every app (NULL); disk is the host's.
    Channels are named on the rule itself (AlertRuleChannel), escalation channels apart."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(32))  # cpu | memory | restarts | response_time | error_rate | disk
    operator: Mapped[str] = mapped_column(String(2))  # > >= < <=
    threshold: Mapped[float]
    duration: Mapped[float] = mapped_column(default=0.0)  # seconds the condition must hold at every sample
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), default=None)
    severity: Mapped[str] = mapped_column(String(16), default="warning")  # info | warning | critical
    enabled: Mapped[bool] = mapped_column(default=True)
    reminder_minutes: Mapped[float | None] = mapped_column(default=None)  # re-notify a firing alert
    escalation_minutes: Mapped[float | None] = mapped_column(default=None)  # unacknowledged this long → escalate
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AlertRuleChannel(Base):
    __tablename__ = "alert_rule_channels"

    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"),
                                            primary_key=True)
    escalation: Mapped[bool] = mapped_column(primary_key=True, default=False)


class Alert(Base):
    """One firing of a rule for one target ("app:<id>" or "host"): firing → acknowledged → resolved.
    At most one unresolved alert per (rule, target): a partial unique index, so two evaluators racing
    cannot both open one."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open", "rule_id", "target", unique=True,
              sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
        Index("ix_alerts_state_started", "state", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), default=None)
    target: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="firing")  # firing | acknowledged | resolved
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), default=None)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_notified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_value: Mapped[float | None] = mapped_column(default=None)


class AlertEvent(Base):
    """An alert's timeline: fired, reminded, escalated, acknowledged, resolved (event_id: its outbox event,
    whose deliveries say where it went)."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128), default="system")
    value: Mapped[float | None] = mapped_column(default=None)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
