"""Real receivers on loopback for notification tests: an HTTP server (Slack/Discord/Telegram/webhook
shaped: it records every request) and an SMTP server (aiosmtpd) speaking STARTTLS or TLS with a
certificate from a throwaway CA made here with `cryptography`."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slipway.platform import Platform


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers `status` (after `fail_first` 503s) once `delay` seconds have passed; records requests."""

    status: int = 200
    reply: bytes = b"ok"
    fail_first: int = 0
    delay: float = 0.0
    verify: Callable[[Request], bool] | None = None  # False → 401 (e.g. a bad signature)
    port: int = 0  # 0: any free port
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                status, reply = receiver._handle(request)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 128
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _handle(self, request: Request) -> tuple[int, bytes]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            with self._lock:
                self.requests.append(request)
                if self.fail_first > 0:
                    self.fail_first -= 1
                    return 503, b"busy"
            if self.verify is not None and not self.verify(request):
                return 401, b"bad signature"
            return self.status, self.reply
        finally:
            with self._lock:
                self.in_flight -= 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Certs:
    ca: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certs(directory: Path) -> Certs:
    """A CA and a certificate for localhost / 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Slipway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Certs(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


class SmtpReceiver:
    """aiosmtpd on loopback. mode 'starttls' (STARTTLS required, AUTH after it) or 'tls' (implicit)."""

    USER, PASSWORD = "slipway", "s3cret-smtp-pass"

    def __init__(self, certs: Certs, *, mode: str = "starttls") -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[dict[str, Any]] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                receiver.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                          "data": envelope.content.decode(), "tls": session.ssl is not None,
                                          "login": getattr(session, "login_data", None)})
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == self.USER \
                and data.password.decode() == self.PASSWORD
            return AuthResult(success=ok, handled=False)

        from tests.conftest import free_port

        self.port = free_port()
        context = certs.server_context()
        kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": True}
        if mode == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            # the whole connection is TLS, but aiosmtpd only counts STARTTLS as "TLS" for AUTH
            kwargs.update(ssl_context=context, auth_require_tls=False)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, server_hostname="localhost",
                                     **kwargs)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def drain(platform: Platform, *, timeout: float = 20.0) -> int:
    """Run notify.deliver jobs in this thread (waiting out backoffs) until none is left; return how many ran."""
    from sqlalchemy import select

    from slipway.jobs import queue
    from slipway.jobs.models import Job
    from slipway.jobs.worker import Worker
    from slipway.notify import jobs as notify_jobs
    from slipway.notify.service import DELIVER

    worker = Worker(platform, notify_jobs.HANDLERS, threads=0, name="test")
    ran, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.claim(platform.sessions, worker="test#0", lease=platform.settings.job_lease, kinds=[DELIVER])
        if job is not None:
            worker.run(job, "test#0")
            ran += 1
            continue
        with platform.sessions() as session:
            pending = session.scalar(select(Job.id).where(Job.kind == DELIVER, Job.status.in_(("queued", "running"))))
        if pending is None:
            return ran
        time.sleep(0.01)
    raise AssertionError("notify jobs still pending after the timeout")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
