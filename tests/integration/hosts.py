"""Running the real `slipway` executables as a user would, with an isolated $SLIPWAY_HOME."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from slipway.config import Settings

SLIPWAY = str(Path(sys.executable).parent / "slipway")


def settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_") or k == "SLIPWAY_TEST_POSTGRES"}
    env.update({
        "SLIPWAY_HOME": str(settings.home), "SLIPWAY_DATABASE_URL": settings.db_url,
        "SLIPWAY_LISTEN": settings.listen, "SLIPWAY_HTTP_PORT": str(settings.http_port),
        "SLIPWAY_HTTPS_PORT": str(settings.https_port), "SLIPWAY_CADDY_ADMIN": str(settings.caddy_admin_socket),
        "SLIPWAY_PORT_RANGE": settings.port_range, "SLIPWAY_SECRET_KEY": settings.secret_key,
        "SLIPWAY_WATCH_SECONDS": str(settings.watch_seconds), "SLIPWAY_DRAIN_SECONDS": str(settings.drain_seconds),
        "SLIPWAY_STOP_GRACE": str(settings.stop_grace), "SLIPWAY_HEALTH_TIMEOUT": str(settings.health_timeout),
        "SLIPWAY_JOB_LEASE": str(settings.job_lease), "SLIPWAY_ROUTER": settings.router,
        "SLIPWAY_URL": settings.api_url, "SLIPWAY_LOG_LEVEL": "warning",
        "SLIPWAY_GIT_AUTHORIZED_KEYS": settings.git_authorized_keys, "SLIPWAY_GIT_SSH_HOST": settings.git_ssh_host,
        "SLIPWAY_GIT_SSH_PORT": str(settings.git_ssh_port), "SLIPWAY_GIT_SSH_USER": settings.git_ssh_user,
        "SLIPWAY_EGRESS_ALLOW": settings.egress_allow,
    })
    return env


class Host:
    """`slipway server` / `slipway worker` processes and CLI calls sharing one environment."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.env = settings_env(settings)
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{args[0]}-{len(self.procs)}.log", "wb")  # noqa: SIM115 (owned by the child)
        proc = subprocess.Popen([SLIPWAY, *args], env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def server(self, **extra_env: str) -> subprocess.Popen[bytes]:
        proc = self.spawn("server", extra_env=extra_env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"slipway server exited: {self.logs()}")
            try:
                if httpx.get(self.settings.api_url + "/api/v1/health", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"slipway server did not come up: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("*.log")))

    def cli(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([SLIPWAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"slipway {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def login(self) -> None:
        self.env["SLIPWAY_TOKEN"] = self.cli_json("admin", "token", "--name", "tests")["token"]

    def as_user(self, username: str, role: str = "owner") -> None:
        """Act as a dashboard user of the default team (a token of their account) from now on."""
        result = subprocess.run([SLIPWAY, "admin", "user", "create", username, "--password-stdin", "--role", role],
                                env=self.env, input="correct horse battery\n", capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        self.env["SLIPWAY_TOKEN"] = self.cli_json("admin", "token", "--name", username, "--user", username)["token"]

    def through_router(self, app: str, path: str = "/") -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.settings.http_port}{path}",
                         headers={"Host": f"{app}.{self.settings.base_domain}"}, timeout=5)

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        from slipway.runtimes.local.runtime import LocalRuntime

        runtime = LocalRuntime(self.settings.home / "instances")
        for instance_id in runtime.instances():
            runtime.stop(instance_id, 0.5)
        from slipway.routing.admin import CaddyAdmin

        admin = CaddyAdmin(self.settings.caddy_admin_socket)  # the router outlives the control plane by
        admin.stop()  # design: stop it explicitly
        admin.close()


@contextmanager
def running_host(settings: Settings, tmp_path: Path) -> Iterator[Host]:
    """A real `slipway server` for one test, its logs under tmp_path/logs, stopped afterwards."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    host = Host(settings, logs)
    try:
        yield host
    finally:
        host.close()
