"""The dispatcher: reads new events from the outbox after a stored cursor and queues deliveries.

The cursor row is locked for the whole batch (SELECT … FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on
SQLite) and advanced in the same transaction that inserts the deliveries and their jobs: several
processes can run the dispatcher, each event is handled once, and a crash mid-batch redoes the batch.

Most events go to no channel (a burst of webhook pushes coalescing into one deploy is hundreds of events
a second). A batch is therefore first read without the write lock: when none of its events goes
anywhere, the cursor only moves on, by a compare-and-set (`advance`), and the write lock is held for that
one UPDATE instead of for reading the whole batch — on SQLite every other writer (webhook intake) waits
while it is held.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway.db import read_only, transaction, utcnow
from slipway.events import Event
from slipway.notify import alerts, service
from slipway.notify import message as messages
from slipway.notify.models import Channel, Cursor, Rule, RuleChannel
from slipway.platform import Platform

log = logging.getLogger(__name__)
CURSOR = "events"


def _cursor(session: Session) -> Cursor:
    cursor = session.get(Cursor, CURSOR, with_for_update=True, populate_existing=True)
    if cursor is None:  # the migration creates it; a hand-deleted row starts from now, not from the past
        cursor = Cursor(name=CURSOR, last_event_id=session.scalar(select(func.max(Event.id))) or 0)
        session.add(cursor)
        session.flush()
    return cursor


def _contiguous(rows: list[Any], after: int, grace: float) -> list[Any]:
    """Stop at a hole in the ids younger than `grace`: on PostgreSQL a transaction that took a smaller
    id may commit after a larger one was read. An old hole is a rolled-back transaction: skip it.
    `rows`: events, or rows with their id and created_at."""
    horizon = utcnow() - dt.timedelta(seconds=grace)
    taken, expected = [], after + 1
    for event in rows:
        if event.id != expected and event.created_at > horizon:
            break
        taken.append(event)
        expected = event.id + 1
    return taken


def advance(platform: Platform, name: str, *, seen: int, to: int) -> bool:
    """Move cursor `name` from `seen` to `to` unless another dispatcher moved it meanwhile (then False)."""
    with transaction(platform.sessions) as session:
        moved = session.execute(update(Cursor).where(Cursor.name == name, Cursor.last_event_id == seen)
                                .values(last_event_id=to, updated_at=utcnow())
                                .execution_options(synchronize_session=False)).rowcount
    return bool(moved)


def _quiet_batch(platform: Platform, batch: int) -> tuple[int, int, int] | None:
    """Read without the write lock: (cursor, id of the last event ready, events read) when no event of
    the next batch goes to any channel, else None (the batch needs the full dispatch)."""
    with read_only(platform.sessions) as session:
        seen = session.scalar(select(Cursor.last_event_id).where(Cursor.name == CURSOR))
        if seen is None:
            return None
        rows = session.execute(select(Event.id, Event.created_at, Event.kind, Event.app_id)
                               .where(Event.id > seen).order_by(Event.id).limit(batch)).all()
        todo = _contiguous(rows, seen, platform.settings.notify_gap_grace)
        if not todo:
            return seen, seen, len(rows)
        if any(e.kind.startswith("alert.") for e in todo):
            return None
        rules = session.execute(select(Rule.event, Rule.app_id, Rule.created_at)
                                .where(Rule.enabled.is_(True))).all()
    for event in todo:  # the rule test of _route (a matching rule without channels sends nothing either)
        if any((r.app_id is None or r.app_id == event.app_id) and event.created_at >= r.created_at
               and service.matches(r.event, event.kind) for r in rules):
            return None
    return seen, todo[-1].id, len(rows)


def dispatch(platform: Platform, *, batch: int = 200, rounds: int = 20) -> int:
    """Handle the events waiting; return how many deliveries were created."""
    created = 0
    for _ in range(rounds):
        quiet = _quiet_batch(platform, batch)
        if quiet is not None:
            seen, last, read = quiet
            if last == seen:
                return created
            if advance(platform, CURSOR, seen=seen, to=last) and read < batch:
                break
            continue  # more to read, or another dispatcher moved the cursor: look again
        with transaction(platform.sessions) as session:
            cursor = _cursor(session)
            rows = list(session.scalars(select(Event).where(Event.id > cursor.last_event_id)
                                        .order_by(Event.id).limit(batch)))
            todo = _contiguous(rows, cursor.last_event_id, platform.settings.notify_gap_grace)
            if not todo:
                return created
            created += _route(session, platform, todo)
            cursor.last_event_id, cursor.updated_at = todo[-1].id, utcnow()
        if len(todo) < batch:
            break
    return created


def _alert_targets(session: Session, event: Event, cache: dict[tuple[int, str], list[int]]) -> list[int]:
    """An alert event also goes to its alert rule's channels for the payload's route (see alerts.py)."""
    payload = event.payload or {}
    rule_id, route = payload.get("alert_rule_id"), payload.get("route")
    if not event.kind.startswith("alert.") or not isinstance(rule_id, int) or not isinstance(route, str):
        return []
    if (rule_id, route) not in cache:
        cache[rule_id, route] = alerts.route_channels(session, rule_id, route)
    return cache[rule_id, route]


def _route(session: Session, platform: Platform, todo: list[Event]) -> int:
    rules = list(session.scalars(select(Rule).where(Rule.enabled.is_(True)).order_by(Rule.id)))
    alert_routes: dict[tuple[int, str], list[int]] = {}
    if not rules and not any(e.kind.startswith("alert.") for e in todo):
        return 0
    targets: dict[int, list[int]] = {}
    for link in session.scalars(select(RuleChannel).where(RuleChannel.rule_id.in_([r.id for r in rules]))):
        targets.setdefault(link.rule_id, []).append(link.channel_id)
    channels = {c.id: c for c in session.scalars(select(Channel))}
    mutes = service.active_mutes(session)
    created = 0
    for event in todo:
        chosen: dict[int, int | None] = {}  # channel id → the first rule that sends there (None: an alert rule)
        for rule in rules:
            # a rule applies from its creation on: events still waiting from before it are not its own
            if (rule.app_id is None or rule.app_id == event.app_id) and event.created_at >= rule.created_at \
                    and service.matches(rule.event, event.kind):
                for channel_id in targets.get(rule.id, []):
                    chosen.setdefault(channel_id, rule.id)
        for channel_id in _alert_targets(session, event, alert_routes):
            chosen.setdefault(channel_id, None)
        if not chosen:
            continue
        message = messages.render(session, platform.settings, event)
        mute = mutes.get(event.app_id) if event.app_id else None
        for channel_id, rule_id in sorted(chosen.items()):
            channel = channels[channel_id]
            skip = (f"muted until {mute.until.isoformat()}" if mute else
                    None if channel.enabled else "channel disabled")
            service.queue_delivery(session, platform.settings, channel=channel, message=message,
                                   event_id=event.id, rule_id=rule_id, app_id=event.app_id, skip=skip)
            created += 1
    return created
