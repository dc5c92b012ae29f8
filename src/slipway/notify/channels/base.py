"""What every channel type shares: the message it sends, its typed config, how a send fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from slipway.egress import url_target

if TYPE_CHECKING:
    from slipway.platform import Platform


def secret(description: str, **kwargs: Any) -> Any:
    """A config field stored encrypted (platform.box) and masked in every API answer."""
    return Field(description=description, json_schema_extra={"secret": True}, **kwargs)


class ChannelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def egress_targets(self) -> list[tuple[str, int]]:
        """(host, port) pairs this config makes Slipway connect to, for the egress rules at config time.
        By default every http(s) URL among the fields; channels with other targets say so."""
        return [url_target(value) for value in self.model_dump().values()
                if isinstance(value, str) and value.startswith(("http://", "https://"))]

    @classmethod
    def secret_fields(cls) -> set[str]:
        return {name for name, f in cls.model_fields.items()
                if isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get("secret")}


class Message(BaseModel):
    """A rendered notification, stored with its delivery so that every retry sends the same thing."""

    kind: str
    title: str
    text: str = ""
    severity: str = "info"  # info | success | warning | error
    url: str | None = None
    app: str | None = None
    environment: str | None = None
    release: int | None = None
    commit: str | None = None
    deploy_id: int | None = None
    reason: str | None = None
    log_tail: list[str] = Field(default_factory=list)
    event_id: int | None = None
    created_at: str | None = None

    def facts(self) -> list[tuple[str, str]]:
        """The short labelled values every channel shows (app, environment, release, commit)."""
        pairs = [("App", self.app), ("Environment", self.environment),
                 ("Release", f"v{self.release}" if self.release else None),
                 ("Commit", self.commit[:12] if self.commit else None)]
        return [(k, v) for k, v in pairs if v]

    def plain(self, *, tail: bool = True) -> str:
        """The whole message as plain text (email, apprise, fallbacks)."""
        lines = [self.title, ""] if self.title else []
        if self.text:
            lines += [self.text, ""]
        lines += [f"{k}: {v}" for k, v in self.facts()]
        if self.reason:
            lines += ["", f"Reason: {self.reason}"]
        if tail and self.log_tail:
            lines += ["", "Last log lines:", *("  " + line for line in self.log_tail)]
        if self.url:
            lines += ["", self.url]
        return "\n".join(lines).strip() + "\n"


class DeliveryFailed(Exception):
    """A send that did not go through. retry=False: trying again would fail the same way (bad token, 404)."""

    def __init__(self, message: str, *, retry: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


@dataclass
class SendContext:
    platform: Platform
    delivery_id: int
    channel_id: int

    @property
    def timeout(self) -> float:
        return self.platform.settings.notify_timeout


class ChannelType(Protocol):
    name: ClassVar[str]
    label: ClassVar[str]
    Config: ClassVar[type[ChannelConfig]]

    def send(self, ctx: SendContext, message: Message, config: Any) -> None: ...


def post_json(ctx: SendContext, url: str, body: dict[str, Any], *, headers: dict[str, str] | None = None,
              content: bytes | None = None) -> httpx.Response:
    """POST with the channel timeout; a 2xx returns, anything else raises DeliveryFailed."""
    try:  # through the egress rules: the URL is a user's, the connection goes only where they allow
        with ctx.platform.egress.client(timeout=ctx.timeout, headers={"User-Agent": "Slipway-Notify/1"}) as client:
            if content is not None:
                response = client.post(url, content=content, headers=headers)
            else:
                response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:  # refused, reset, timeout, DNS: the receiver may be back later
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    check(response)
    return response


def check(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    after = response.headers.get("retry-after", "")
    raise DeliveryFailed(f"HTTP {status}: {response.text[:300]}".strip(),
                         retry=status >= 500 or status in (408, 425, 429),
                         retry_after=float(after) if after.replace(".", "", 1).isdigit() else None)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
