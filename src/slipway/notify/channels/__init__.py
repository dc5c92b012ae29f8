"""The registry of channel types (a new one is a class with name, label, Config and send())."""

from __future__ import annotations

from slipway.errors import Invalid
from slipway.notify.channels.apprise_url import Apprise
from slipway.notify.channels.base import ChannelType
from slipway.notify.channels.browser import Browser
from slipway.notify.channels.chat import Discord, Slack, Telegram
from slipway.notify.channels.email import Email
from slipway.notify.channels.webhook import Webhook

TYPES: dict[str, ChannelType] = {t.name: t for t in (Slack(), Discord(), Telegram(), Email(), Webhook(),
                                                      Browser(), Apprise())}


def get_type(name: str) -> ChannelType:
    try:
        return TYPES[name]
    except KeyError:
        raise Invalid(f"unknown channel type {name!r}", f"one of: {', '.join(TYPES)}") from None
