"""A generic webhook: the message as JSON, signed with HMAC-SHA256 (see slipway.notify.signing)."""

from __future__ import annotations

import json
import time
from typing import ClassVar

from pydantic import Field, field_validator

from slipway.notify import signing
from slipway.notify.channels.base import ChannelConfig, Message, SendContext, post_json, secret


class WebhookConfig(ChannelConfig):
    url: str = Field(description="Where to POST the JSON message.")
    secret: str = secret("Shared secret of the HMAC-SHA256 signature (X-Slipway-Signature).", min_length=16)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("expected an http(s) URL")
        return value


class Webhook:
    name: ClassVar[str] = "webhook"
    label: ClassVar[str] = "Webhook (signed JSON)"
    Config: ClassVar[type[ChannelConfig]] = WebhookConfig

    def request(self, ctx: SendContext, message: Message, config: WebhookConfig,
                now: float | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({"delivery_id": ctx.delivery_id, **message.model_dump()},
                          separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time() if now is None else now)
        headers = {"Content-Type": "application/json",
                   signing.EVENT_HEADER: message.kind,
                   signing.DELIVERY_HEADER: str(ctx.delivery_id),
                   signing.TIMESTAMP_HEADER: str(timestamp),
                   signing.SIGNATURE_HEADER: signing.sign(config.secret, timestamp, body)}
        return body, headers

    def send(self, ctx: SendContext, message: Message, config: WebhookConfig) -> None:
        body, headers = self.request(ctx, message, config)
        post_json(ctx, config.url, {}, headers=headers, content=body)
