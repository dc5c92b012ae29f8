"""Any service apprise knows (~100: ntfy, Pushover, Matrix, Teams, Gotify…) by its apprise URL."""

from __future__ import annotations

import logging
from typing import ClassVar

from pydantic import field_validator

from slipway.notify.channels.base import ChannelConfig, DeliveryFailed, Message, SendContext, secret


class AppriseConfig(ChannelConfig):
    url: str = secret("An apprise URL, e.g. ntfys://ntfy.sh/topic or pover://user@token.")

    @field_validator("url")
    @classmethod
    def _known(cls, value: str) -> str:
        import apprise

        if not apprise.Apprise().add(value):
            raise ValueError("apprise does not understand this URL (see github.com/caronc/apprise/wiki)")
        return value


class Apprise:
    name: ClassVar[str] = "apprise"
    label: ClassVar[str] = "Apprise URL (ntfy, Pushover, Matrix, Teams, …)"
    Config: ClassVar[type[ChannelConfig]] = AppriseConfig

    def send(self, ctx: SendContext, message: Message, config: AppriseConfig) -> None:
        import apprise

        target = apprise.Apprise(asset=apprise.AppriseAsset(app_id="Slipway", async_mode=False))
        target.add(config.url)
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = target.notify(title=message.title, body=message.plain(),
                               notify_type={"error": "failure", "warning": "warning",
                                            "success": "success"}.get(message.severity, "info"))
        if not ok:  # apprise only says no: what it logged is the reason
            raise DeliveryFailed(captured.getvalue().strip()[-500:] or "apprise could not deliver")
