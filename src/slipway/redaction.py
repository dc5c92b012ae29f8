"""Masking an app's secrets in what Slipway shows of its output: the deploy log (masked as it is written)
and the instance logs (masked as they are served, for every caller who may not reveal env values).

An app prints a secret in clear more often than it should, and now and then base64- or URL-encoded (a
Basic auth header, a connection URL): each of those forms is masked too. Values shorter than MIN_LENGTH
stay: masking "1" or "yes" would mangle every line and protect nothing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from slipway.apps.models import App
    from slipway.auth.policy import Access
    from slipway.crypto import Box

MASK = "••••••••"
MIN_LENGTH = 4
RELEASES = 20  # env snapshots of this many recent releases are masked too (old values survive in old logs)


def forms(value: str) -> set[str]:
    """The value and the encodings of it that an app may print: base64 (standard and URL-safe, with and
    without padding) and URL-encoding (path and query style)."""
    raw = value.encode()
    out = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        out |= {encoded, encoded.rstrip("=")}
    return {form for form in out if len(form) >= MIN_LENGTH}


class Redactor:
    """Replaces every form of every value with MASK. `Redactor([])` changes nothing (and is cheap)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        found = {form for value in values if len(value) >= MIN_LENGTH for form in forms(value)}
        # longest first: a value that contains another is masked whole
        self.pattern = re.compile("|".join(re.escape(f) for f in sorted(found, key=len, reverse=True))) \
            if found else None

    def __bool__(self) -> bool:
        return self.pattern is not None

    def __call__(self, text: str) -> str:
        return self.pattern.sub(MASK, text) if self.pattern is not None else text


NOTHING: Callable[[str], str] = Redactor()


def app_values(session: Session, box: Box, app: App) -> list[str]:
    """Every env value of the app: the current ones and those of its recent releases."""
    from slipway.apps import service as app_service
    from slipway.deploys.models import Release

    values = list(app_service.env_plain(session, box, app).values())
    snapshots = session.scalars(select(Release.env_enc).where(Release.app_id == app.id)
                                .order_by(Release.id.desc()).limit(RELEASES))
    for encrypted in snapshots:
        try:
            env = json.loads(box.decrypt(encrypted))
        except ValueError:
            continue
        if isinstance(env, dict):
            values += [v for v in env.values() if isinstance(v, str)]
    return values


def for_caller(session: Session, box: Box, app: App, access: Access) -> Callable[[str], str]:
    """What to pass a caller's view of the app's logs through: nothing for those who may reveal env values
    (app:env:reveal), the app's redactor for everyone else (viewers, deploy- and read-scope tokens …)."""
    if access.can_app("app:env:reveal", app):
        return NOTHING
    return Redactor(app_values(session, box, app))
