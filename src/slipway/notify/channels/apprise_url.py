"""Any service apprise knows (~100: ntfy, Pushover, Matrix, Teams, Gotify…) by its apprise URL."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import ClassVar

from pydantic import field_validator

from slipway.egress import EgressRefused
from slipway.notify.channels.base import ChannelConfig, DeliveryFailed, Message, SendContext, secret


@contextmanager
def _apprise() -> Iterator[ModuleType]:
    """Imported on first use (it is large). Its plugins load lazily on first use too, and one of them
    still imports the deprecated imghdr module: that warning is apprise's, not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise

        yield apprise


class AppriseConfig(ChannelConfig):
    url: str = secret("An apprise URL, e.g. ntfys://ntfy.sh/topic or pover://user@token.")

    @field_validator("url")
    @classmethod
    def _known(cls, value: str) -> str:
        with _apprise() as apprise:
            known = apprise.Apprise().add(value)
        if not known:
            raise ValueError("apprise does not understand this URL (see github.com/caronc/apprise/wiki)")
        return value


    def egress_targets(self) -> list[tuple[str, int]]:
        return apprise_targets(self.url)


def apprise_targets(url: str) -> list[tuple[str, int]]:
    """The (host, port) each service in an apprise URL names, as apprise itself parsed it.

    Services with a fixed API host (Pushover, Telegram…) carry a token where the host goes: such a "host"
    does not resolve, so the egress rules let it pass; a host that resolves is where apprise connects
    (json://, ntfy://, gotify://, mailto://…) and must pass the rules."""
    found = []
    with _apprise() as apprise:
        services = apprise.Apprise()
        services.add(url)
        for service in services:
            port = getattr(service, "port", None)
            secure = bool(getattr(service, "secure", False))
            port = int(port) if isinstance(port, int) and port else (443 if secure else 80)
            # `host` is the URL's; mailto:// may send to another server named in the query (?smtp=…)
            for attr in ("host", "smtp_host"):
                host = getattr(service, attr, None)
                if isinstance(host, str) and host:
                    found.append((host, port))
    return found


class Apprise:
    name: ClassVar[str] = "apprise"
    label: ClassVar[str] = "Apprise URL (ntfy, Pushover, Matrix, Teams, …)"
    Config: ClassVar[type[ChannelConfig]] = AppriseConfig

    def send(self, ctx: SendContext, message: Message, config: AppriseConfig) -> None:
        # apprise connects by itself (requests): the targets are checked again now, as DNS may have changed.
        # What remains is the instant between this lookup and apprise's own (see docs/security.md).
        try:
            for host, port in apprise_targets(config.url):
                ctx.platform.egress.check_host(host, port)
        except EgressRefused as exc:
            raise DeliveryFailed(exc.message, retry=False) from exc
        kind = {"error": "failure", "warning": "warning", "success": "success"}.get(message.severity, "info")
        with _apprise() as apprise:
            target = apprise.Apprise(asset=apprise.AppriseAsset(app_id="Slipway", app_desc="Slipway"))
            target.add(config.url)
            with apprise.LogCapture(level=logging.WARNING) as captured:
                ok = target.notify(title=message.title, body=message.plain(), notify_type=kind)
        if not ok:  # apprise only says no: what it logged is the reason
            raise DeliveryFailed(captured.getvalue().strip()[-500:] or "apprise could not deliver")
