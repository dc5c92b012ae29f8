"""The dashboard's notification center: a delivery is a stored notification with an unread state."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import select

from slipway.db import transaction
from slipway.notify.channels.base import ChannelConfig, Message, SendContext
from slipway.notify.models import Delivery, Notification


class BrowserConfig(ChannelConfig):
    pass


class Browser:
    name: ClassVar[str] = "browser"
    label: ClassVar[str] = "In-browser (notification center)"
    Config: ClassVar[type[ChannelConfig]] = BrowserConfig

    def send(self, ctx: SendContext, message: Message, config: BrowserConfig) -> None:
        with transaction(ctx.platform.sessions) as session:
            if session.scalar(select(Notification.id).where(Notification.delivery_id == ctx.delivery_id)):
                return  # an earlier attempt stored it and then lost its lease: once is enough
            delivery = session.get(Delivery, ctx.delivery_id)
            session.add(Notification(delivery_id=ctx.delivery_id, channel_id=ctx.channel_id,
                                     app_id=delivery.app_id if delivery else None, kind=message.kind,
                                     severity=message.severity, title=message.title[:255],
                                     body=message.plain(tail=False), url=message.url))
