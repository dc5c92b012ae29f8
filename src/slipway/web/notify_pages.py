"""Dashboard pages of notifications: the notification center (and the bell), channels with forms rendered
from each type's JSON schema, "Send test", rules and app mutes. Calls slipway.notify's services directly.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from slipway.apps import service as app_service
from slipway.bounds import PathId
from slipway.db import transaction, utcnow
from slipway.errors import Invalid, SlipwayError
from slipway.notify import deliver, service
from slipway.notify.channels import TYPES, get_type
from slipway.notify.message import KNOWN_KINDS
from slipway.notify.schemas import parse_duration
from slipway.platform import Platform
from slipway.web.deps import PlatformDep
from slipway.web.pages import Actor, PageRoute, Viewer, redirect, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
BASE = "/notifications/channels"
MUTE_CHOICES = (("30m", "30 minutes"), ("1h", "1 hour"), ("2h", "2 hours"), ("8h", "8 hours"), ("1d", "1 day"),
                ("1w", "1 week"))
PREFIX = "cfg."  # config fields in the form, apart from the channel's own name/type and the CSRF token


# ---- forms from the channel types' JSON schemas ------------------------------------------------------


ACRONYMS = {"url": "URL", "tls": "TLS", "id": "ID", "api": "API", "ca": "CA", "smtp": "SMTP"}


def label_of(name: str) -> str:
    text = " ".join(ACRONYMS.get(w, w) for w in name.split("_"))  # from_addr → From addr, api_url → API URL
    return text[:1].upper() + text[1:]


def form_fields(type_name: str) -> list[dict[str, Any]]:
    """The inputs of a channel type's config form, from its JSON schema (secret fields: password inputs)."""
    schema = get_type(type_name).Config.model_json_schema()
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = "text"
        if prop.get("secret"):
            kind = "password"
        elif "enum" in prop:
            kind = "select"
        elif prop.get("type") == "integer":
            kind = "number"
        elif prop.get("type") == "boolean":
            kind = "checkbox"
        elif prop.get("type") == "array":
            kind = "lines"
        fields.append({"name": name, "input": PREFIX + name, "label": label_of(name),
                       "help": prop.get("description", ""), "kind": kind, "required": name in required,
                       "default": prop.get("default"), "options": prop.get("enum", []),
                       "min": prop.get("minimum"), "max": prop.get("maximum"), "minlength": prop.get("minLength")})
    return fields


def form_values(fields: list[dict[str, Any]], config: dict[str, Any] | None) -> dict[str, Any]:
    """What each input shows: the current (masked) config, else the schema's default."""
    values = {}
    for f in fields:
        value = (config or {}).get(f["name"], f["default"])
        if f["kind"] == "lines":
            value = "\n".join(value or [])
        values[f["name"]] = "" if value is None else value
    return values


def parse_config(fields: list[dict[str, Any]], form: FormData, *, current: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Form → config dict typed by the schema. On edit (`current` = the masked config), a secret left empty
    or sent back masked is left out, so the stored secret is kept."""
    config: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f["input"])
        text = raw.strip() if isinstance(raw, str) else ""
        if f["kind"] == "checkbox":
            config[f["name"]] = raw is not None
        elif f["kind"] == "password":
            if current is not None and (not text or text == current.get(f["name"])):
                continue
            if text or f["required"]:
                config[f["name"]] = text
        elif f["kind"] == "number":
            if text:
                try:
                    config[f["name"]] = int(text)
                except ValueError:
                    raise Invalid(f"{f['label']}: a whole number, not {text!r}") from None
            elif f["required"]:
                config[f["name"]] = None
        elif f["kind"] == "lines":
            items = [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]
            if items or f["required"]:
                config[f["name"]] = items
        elif text or f["required"] or current is not None:
            config[f["name"]] = text if text or f["default"] is None else f["default"]
    return config


def error_text(exc: SlipwayError) -> str:
    detail = exc.detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc", []))
                msg = str(item.get("msg", "")).removeprefix("Value error, ")
                parts.append(f"{loc}: {msg}" if loc else msg)
        return exc.message + (": " + "; ".join(parts) if parts else "")
    return exc.message + (f": {detail}" if isinstance(detail, str) and detail else "")


# ---- the notification center -----------------------------------------------------------------------


@router.get("/partials/bell")
def bell_partial(request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        unread = service.unread_count(session)
    return render(request, "partials/notify_bell.html", unread=unread)


def body_text(title: str, body: str, url: str | None) -> str:
    """The stored plain text without what the list shows apart (title, link), blank runs folded."""
    lines = [line.rstrip() for line in body.splitlines()]
    if lines and lines[0].strip() == title.strip():
        lines = lines[1:]
    lines = [line for line in lines if not url or line.strip() != url]
    text = "\n".join(lines).strip()
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


@router.get("/notifications")
def center_page(request: Request, platform: PlatformDep, _: Viewer, unread: bool = Query(False),
                before: int | None = Query(None, ge=1)) -> Response:
    with platform.sessions() as session:
        rows = service.notifications(session, unread=unread, limit=50, before=before)
        names = {a.id: a.name for a in app_service.list_all(session)}
        count = service.unread_count(session)
    items = [{"n": n, "app": names.get(n.app_id or -1), "body": body_text(n.title, n.body, n.url)} for n in rows]
    return render(request, "notify/center.html", items=items, unread=count, only_unread=unread,
                  older=rows[-1].id if len(rows) == 50 else None)


@router.post("/notifications/read")
def mark_read(platform: PlatformDep, _: Actor, ids: Annotated[list[int], Form()] = [],  # noqa: B006
              all: Annotated[bool, Form()] = False, back: Annotated[str, Form()] = "") -> Response:  # noqa: A002
    with transaction(platform.sessions) as session:
        marked = service.mark_read(session, ids=ids, everything=all)
    target = "/notifications?unread=true" if back == "unread" else "/notifications"
    return redirect(target, flash=f"Marked {marked} notification{'s' if marked != 1 else ''} read.")


# ---- channels, rules, mutes ---------------------------------------------------------------------------


def _channel_row(platform: Platform, channel: Any) -> dict[str, Any]:
    return {"c": channel, "failing": service.failing(platform.settings, channel),
            "label": TYPES[channel.type].label if channel.type in TYPES else channel.type,
            "config": service.masked_config(platform.box, channel)}


def _rule_row(session: Session, rule: Any, names: dict[int, str]) -> dict[str, Any]:
    return {"r": rule, "app": names.get(rule.app_id) if rule.app_id else None,
            "channels": [c.name for c in service.rule_channels(session, rule.id)]}


def event_choices() -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for kind in KNOWN_KINDS:
        groups.setdefault(kind.split(".")[0], []).append(kind)
    return list(groups.items())


def _channels_page(request: Request, platform: Platform, *, new_type: str | None = None,
                   form: dict[str, Any] | None = None, error: str | None = None, rule_error: str | None = None,
                   status: int = 200) -> Response:
    new_type = new_type if new_type in TYPES else "webhook"
    fields = form_fields(new_type)
    with platform.sessions() as session:
        channels = [_channel_row(platform, c) for c in service.list_channels(session)]
        apps = app_service.list_all(session)
        names = {a.id: a.name for a in apps}
        rules = [_rule_row(session, r, names) for r in service.list_rules(session)]
        mutes = [{"app": names[i], "m": m} for i, m in service.active_mutes(session).items() if i in names]
    values = (form or {}).get("values") or form_values(fields, None)
    return render(request, "notify/channels.html", status, channels=channels, rules=rules, mutes=mutes,
                  apps=[a.name for a in apps], types=[(t.name, t.label) for t in TYPES.values()], new_type=new_type,
                  fields=fields, values=values, name=(form or {}).get("name", ""), error=error,
                  rule_error=rule_error, events=event_choices(), mute_choices=MUTE_CHOICES)


@router.get(BASE)
def channels_page(request: Request, platform: PlatformDep, _: Viewer,
                  type: str | None = Query(None, max_length=32)) -> Response:  # noqa: A002
    return _channels_page(request, platform, new_type=type)


@router.post(BASE)
async def create_channel(request: Request, platform: PlatformDep, who: Actor) -> Response:
    form = await request.form()
    type_name = str(form.get("type", ""))
    name = str(form.get("name", "")).strip()
    fields = form_fields(type_name) if type_name in TYPES else []
    values = {f["name"]: str(form.get(f["input"], "")) if f["kind"] != "checkbox" else f["input"] in form
              for f in fields}
    for f in fields:  # a secret typed into a form that comes back with an error is not shown again
        if f["kind"] == "password":
            values[f["name"]] = ""
    try:
        config = parse_config(fields, form)
        with transaction(platform.sessions) as session:
            service.create_channel(session, platform.box, name=name, type=type_name, config=config,
                                   policy=platform.egress, actor=who.actor)
    except SlipwayError as exc:
        return _channels_page(request, platform, new_type=type_name, form={"name": name, "values": values},
                              error=error_text(exc), status=422 if exc.status < 500 else exc.status)
    return redirect(BASE, flash=f"Created the channel {name}: send it a test.")


@router.get(BASE + "/{channel_id}")
def edit_channel_page(channel_id: PathId, request: Request, platform: PlatformDep, _: Viewer) -> Response:
    with platform.sessions() as session:
        row = _channel_row(platform, service.get_channel(session, channel_id))
        deliveries = service.list_deliveries(session, channel_id=channel_id, limit=20)
    fields = form_fields(row["c"].type)
    return render(request, "notify/channel.html", row=row, fields=fields, values=form_values(fields, row["config"]),
                  deliveries=deliveries, error=None)


@router.post(BASE + "/{channel_id}")
async def update_channel(channel_id: PathId, request: Request, platform: PlatformDep, who: Actor) -> Response:
    form = await request.form()
    try:
        with transaction(platform.sessions) as session:
            channel = service.get_channel(session, channel_id)
            current = service.masked_config(platform.box, channel)
            config = parse_config(form_fields(channel.type), form, current=current)
            service.update_channel(session, platform.box, channel, name=str(form.get("name", "")).strip() or None,
                                   config=config, enabled="enabled" in form, policy=platform.egress,
                                   actor=who.actor)
            label = channel.name
    except SlipwayError as exc:
        return redirect(f"{BASE}/{channel_id}", flash=error_text(exc), kind="error")
    return redirect(f"{BASE}/{channel_id}", flash=f"Saved {label}.")


@router.post(BASE + "/{channel_id}/delete")
def delete_channel(channel_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        channel = service.get_channel(session, channel_id)
        label = channel.name
        service.delete_channel(session, channel, actor=who.actor)
    return redirect(BASE, flash=f"Deleted the channel {label}.")


@router.post(BASE + "/{channel_id}/test")
def test_channel(channel_id: PathId, request: Request, platform: PlatformDep, who: Actor,
                 back: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Send a test now; with htmx the result replaces the button's neighbour, else it is a flash."""
    with platform.sessions() as session:
        channel = service.get_channel(session, channel_id)
        label = channel.name
    delivery = deliver.send_test(platform, channel_id, actor=who.actor)
    ok = delivery.status == "sent"
    if request.headers.get("hx-request"):
        return render(request, "partials/notify_test.html", ok=ok, error=delivery.error, at=utcnow())
    text = f"Test sent to {label}." if ok else f"The test to {label} failed: {delivery.error}"
    return redirect(f"{BASE}/{channel_id}" if back == "channel" else BASE, flash=text, kind="ok" if ok else "error")


@router.post("/notifications/rules")
def create_rule(request: Request, platform: PlatformDep, who: Actor,
                event: Annotated[str, Form(max_length=64)] = "", app: Annotated[str, Form(max_length=63)] = "",
                channels: Annotated[list[str], Form()] = []) -> Response:  # noqa: B006
    try:
        with transaction(platform.sessions) as session:
            service.create_rule(session, event=event.strip(), channels=list(channels), app=app or None,
                                actor=who.actor)
    except SlipwayError as exc:
        return _channels_page(request, platform, rule_error=error_text(exc), status=422)
    return redirect(BASE + "#rules", flash=f"Added a rule for {event}{' on ' + app if app else ''}.")


@router.post("/notifications/rules/{rule_id}/delete")
def delete_rule(rule_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        service.delete_rule(session, service.get_rule(session, rule_id), actor=who.actor)
    return redirect(BASE + "#rules", flash=f"Deleted rule {rule_id}.")


@router.post("/notifications/rules/{rule_id}/toggle")
def toggle_rule(rule_id: PathId, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        rule = service.get_rule(session, rule_id)
        service.update_rule(session, rule, enabled=not rule.enabled, actor=who.actor)
        state = "on" if rule.enabled else "off"
    return redirect(BASE + "#rules", flash=f"Rule {rule_id} is {state}.")


@router.post("/notifications/mutes")
def mute_app(platform: PlatformDep, who: Actor, app: Annotated[str, Form(max_length=63)] = "",
             duration: Annotated[str, Form(alias="for", max_length=16)] = "1h",
             reason: Annotated[str, Form(max_length=255)] = "") -> Response:
    try:
        until = utcnow() + parse_duration(duration)
    except ValueError as exc:
        return redirect(BASE + "#mutes", flash=str(exc), kind="error")
    try:
        with transaction(platform.sessions) as session:
            service.mute(session, app_service.get(session, app), until=until, reason=reason.strip(),
                         actor=who.actor)
    except SlipwayError as exc:
        return redirect(BASE + "#mutes", flash=exc.message, kind="error")
    return redirect(BASE + "#mutes", flash=f"Muted {app} until {until:%Y-%m-%d %H:%M} UTC.")


@router.post("/notifications/mutes/{app}/delete")
def unmute_app(app: str, platform: PlatformDep, who: Actor) -> Response:
    with transaction(platform.sessions) as session:
        service.unmute(session, app_service.get(session, app), actor=who.actor)
    return redirect(BASE + "#mutes", flash=f"Notifications of {app} resume.")

