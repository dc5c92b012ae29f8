"""Chat channels: Slack and Discord incoming webhooks, Telegram bots.

Written with httpx rather than apprise's plugins on purpose: those plugins post only to the SaaS hosts
(hooks.slack.com, discord.com, api.telegram.org), so a test could never watch a real send. Here the
webhook URL (and Telegram's API base, which may also be a self-hosted Bot API server) is whatever the
channel says, and the tests deliver to loopback receivers and check the exact request each service gets.
Anything apprise supports beyond these stays available through the `apprise` channel type.
"""

from __future__ import annotations

import html
from typing import ClassVar

from pydantic import Field, field_validator

from slipway.notify.channels.base import ChannelConfig, Message, SendContext, clip, post_json, secret

COLORS = {"info": 0x3B82F6, "success": 0x22C55E, "warning": 0xF59E0B, "error": 0xEF4444}
ICONS = {"info": "ℹ️", "success": "✅", "warning": "⚠️", "error": "❌"}


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("expected an http(s) URL")
    return value


def _tail(message: Message, limit: int) -> str:
    return clip("\n".join(message.log_tail), limit) if message.log_tail else ""


class SlackConfig(ChannelConfig):
    webhook_url: str = secret("Incoming webhook URL (https://hooks.slack.com/services/…).")

    _url = field_validator("webhook_url")(_http_url)


class Slack:
    name: ClassVar[str] = "slack"
    label: ClassVar[str] = "Slack (incoming webhook)"
    Config: ClassVar[type[ChannelConfig]] = SlackConfig

    def payload(self, message: Message) -> dict[str, object]:
        title = f"{ICONS.get(message.severity, '')} {message.title}".strip()
        blocks: list[dict[str, object]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(f"*{title}*\n{message.text}".strip(), 3000)}},
        ]
        facts = [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in message.facts()]
        if facts:
            blocks.append({"type": "section", "fields": facts[:10]})
        if message.reason:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": clip(f"*Reason*\n{message.reason}", 3000)}})
        if message.log_tail:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"```{_tail(message, 2900)}```"}})
        if message.url:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn",
                                                            "text": f"<{message.url}|Open in Slipway>"}]})
        return {"text": title, "blocks": blocks}

    def send(self, ctx: SendContext, message: Message, config: SlackConfig) -> None:
        post_json(ctx, config.webhook_url, self.payload(message))


class DiscordConfig(ChannelConfig):
    webhook_url: str = secret("Webhook URL (https://discord.com/api/webhooks/…).")
    username: str = Field("Slipway", description="Name the messages are posted under.")

    _url = field_validator("webhook_url")(_http_url)


class Discord:
    name: ClassVar[str] = "discord"
    label: ClassVar[str] = "Discord (webhook)"
    Config: ClassVar[type[ChannelConfig]] = DiscordConfig

    def payload(self, message: Message, username: str) -> dict[str, object]:
        description = message.text
        if message.reason:
            description += f"\n**Reason:** {message.reason}"
        if message.log_tail:
            description += f"\n```\n{_tail(message, 3000)}\n```"
        embed: dict[str, object] = {
            "title": clip(message.title, 256), "description": clip(description.strip(), 4096),
            "color": COLORS.get(message.severity, COLORS["info"]),
            "fields": [{"name": k, "value": v, "inline": True} for k, v in message.facts()],
        }
        if message.url:
            embed["url"] = message.url
        if message.created_at:
            embed["timestamp"] = message.created_at
        return {"username": username, "embeds": [embed], "allowed_mentions": {"parse": []}}

    def send(self, ctx: SendContext, message: Message, config: DiscordConfig) -> None:
        post_json(ctx, config.webhook_url, self.payload(message, config.username))


class TelegramConfig(ChannelConfig):
    bot_token: str = secret("Bot token from @BotFather (123456:ABC…).")
    chat_id: str = Field(description="Chat, group or channel id (e.g. -1001234567890 or @channelname).")
    api_url: str = Field("https://api.telegram.org", description="Bot API base URL (a self-hosted Bot API "
                                                                 "server works too).")

    _url = field_validator("api_url")(_http_url)


class Telegram:
    name: ClassVar[str] = "telegram"
    label: ClassVar[str] = "Telegram (bot)"
    Config: ClassVar[type[ChannelConfig]] = TelegramConfig

    def payload(self, message: Message, chat_id: str) -> dict[str, object]:
        esc = html.escape
        parts = [f"<b>{esc(ICONS.get(message.severity, ''))} {esc(message.title)}</b>"]
        if message.text:
            parts.append(esc(message.text))
        parts += [f"<b>{esc(k)}:</b> {esc(v)}" for k, v in message.facts()]
        if message.reason:
            parts.append(f"<b>Reason:</b> {esc(message.reason)}")
        if message.log_tail:
            parts.append(f"<pre>{esc(_tail(message, 2500))}</pre>")
        if message.url:
            parts.append(f'<a href="{esc(message.url, quote=True)}">Open in Slipway</a>')
        return {"chat_id": chat_id, "text": clip("\n".join(parts), 4096), "parse_mode": "HTML",
                "disable_web_page_preview": True}

    def send(self, ctx: SendContext, message: Message, config: TelegramConfig) -> None:
        url = f"{config.api_url.rstrip('/')}/bot{config.bot_token}/sendMessage"
        post_json(ctx, url, self.payload(message, config.chat_id))
