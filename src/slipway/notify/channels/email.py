"""Email over SMTP (smtplib): implicit TLS, STARTTLS or plain, certificate checked, several recipients."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from slipway.egress import EgressRefused, Policy
from slipway.notify.channels.base import ChannelConfig, DeliveryFailed, Message, SendContext, secret


class EmailConfig(ChannelConfig):
    host: str = Field(description="SMTP server host name.")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for TLS, 25 for plain.")
    security: Literal["starttls", "tls", "none"] = Field("starttls", description="How the connection is "
                                                         "encrypted; 'none' only for a relay on a trusted network.")
    username: str = Field("", description="Login (empty: no authentication).")
    password: str = secret("Password of the login.", default="")
    from_addr: str = Field(description="Sender address, e.g. 'Slipway <slipway@example.com>'.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    verify_tls: bool = Field(True, description="Check the server certificate (leave on).")
    ca_file: str = Field("", description="PEM file of a private CA to trust (an internal relay).")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a or any(c in a for c in "\r\n,;")]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value

    def egress_targets(self) -> list[tuple[str, int]]:
        return [(self.host, self.port)]


class Email:
    name: ClassVar[str] = "email"
    label: ClassVar[str] = "Email (SMTP)"
    Config: ClassVar[type[ChannelConfig]] = EmailConfig

    def build(self, message: Message, config: EmailConfig) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = f"[Slipway] {message.title}"
        mail["From"] = config.from_addr
        mail["To"] = ", ".join(config.to)
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="slipway")
        mail["X-Slipway-Event"] = message.kind
        mail.set_content(message.plain())
        return mail

    def _context(self, config: EmailConfig) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=config.ca_file or None)
        if not config.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, ctx: SendContext, message: Message, config: EmailConfig) -> None:
        mail = self.build(message, config)
        try:
            policy = ctx.platform.egress
            if config.security == "tls":
                smtp: smtplib.SMTP = _PinnedSMTPSSL(policy, timeout=ctx.timeout, context=self._context(config))
            else:
                smtp = _PinnedSMTP(policy, timeout=ctx.timeout)
            smtp.connect(config.host, config.port)
            with smtp:
                if config.security == "starttls":
                    smtp.starttls(context=self._context(config))
                if config.username:
                    smtp.login(config.username, config.password)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}", retry=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed(f"recipients refused: {', '.join(exc.recipients)}", retry=False) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(f"SMTP server does not support it: {exc}", retry=False) from exc
        except smtplib.SMTPResponseException as exc:  # 4xx: try later; 5xx: it will not change
            raise DeliveryFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retry=exc.smtp_code < 500) from exc
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryFailed(f"TLS certificate refused: {exc.verify_message}", retry=False) from exc
        except EgressRefused as exc:
            raise DeliveryFailed(exc.message, retry=False) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc


class _PinnedSMTP(smtplib.SMTP):
    """smtplib, connecting through the egress rules to the address they checked (the name stays the
    server's for STARTTLS and its certificate check)."""

    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # starttls() checks the certificate against it (smtplib sets it only in __init__)
        return self._policy.connect(host, port, timeout)


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    def __init__(self, policy: Policy, **kwargs: Any) -> None:
        self._policy = policy
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host
        return self.context.wrap_socket(self._policy.connect(host, port, timeout), server_hostname=self._host)
