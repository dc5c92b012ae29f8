"""DockerRuntime: instances as containers of a Docker Engine API (Docker itself, or Podman's compatible API).

The engine keeps all the state: containers are named after the instance id and labelled, restarted by
the engine's own on-failure policy, and keep running when Slipway stops. Nothing here assumes the
engine is on this host, except that published ports are bound to its loopback (the router dials
127.0.0.1:<port>, so today the engine must share the control plane's host or its network namespace).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import requests

from slipway.errors import Conflict, Invalid, NotFound, SlipwayError, Unavailable
from slipway.runtimes import docker_tty
from slipway.runtimes.base import OOM_REASON, InstanceSpec, InstanceState, Limits, LineSink
from slipway.runtimes.local.logfile import format_line

LABEL = "io.slipway"
MANAGED = f"{LABEL}.managed"
ONE_OFF = f"{LABEL}.one-off"
DEFAULT_CONTAINER_PORT = 8000
API_VERSION = "1.41"  # what Podman's compatible API speaks; Docker Engine accepts it too
LOG_WINDOW = 3600  # seconds of log read first for logs(); the whole log only if that has too few lines
# Podman 4's compatible API stamps every *partial* write of a line (`print("a", "b")` in unbuffered Python
# is several writes) and drops partial records under `tail`: see _mend_partials
# Every container Slipway creates (instances, one-offs, terminals) starts from no capability at all and
# gets back only these, the ones typical web images need to start as root, fix the ownership of their own
# files and drop to an unprivileged user (nginx, Apache, php-fpm, images with `gosu`/`su-exec` entrypoints):
#   CHOWN, DAC_OVERRIDE, FOWNER  root may own/write its own image's files (entrypoints chown data dirs)
#   SETUID, SETGID               switch to the app's unprivileged user
#   KILL                         a root master process signals its workers running as another user
#   NET_BIND_SERVICE             listen on a port below 1024 inside the container (e.g. nginx on 80)
# Left out from the engine's defaults: NET_RAW (raw sockets: spoofing on the host's bridge), MKNOD (device
# nodes), SYS_CHROOT, SETPCAP, SETFCAP (grant capabilities to files), FSETID, AUDIT_WRITE.
# no-new-privileges: setuid/setcap binaries in an image cannot raise privileges past these.
CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE")
SECURITY_OPT = ("no-new-privileges",)

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
T = TypeVar("T")


@dataclass(frozen=True)
class Death:
    exit_code: int
    oom: bool
    inferred: bool = False  # OOM concluded from a SIGKILL under a memory limit, not flagged by the engine


class DockerRuntime:
    name = "docker"

    def __init__(self, base_url: str, *, timeout: float = 60.0, start_timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        # caches only (the engine is the truth): death history per container state, CPU samples
        self._deaths: dict[str, tuple[tuple[Any, ...], list[Death]]] = {}
        self._cpu: dict[str, tuple[int, float]] = {}
        self._podman: bool | None = None

    # ---- the engine ------------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:  # no connection is made here: the first call reaches the engine
                self._client = docker.DockerClient(base_url=self.base_url, version=API_VERSION,
                                                   timeout=int(self.timeout))
            return self._client

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run an engine call; an engine that is gone or refuses becomes a clear Unavailable."""
        try:
            return fn()
        except docker.errors.NotFound as exc:
            raise NotFound(f"docker: {what}: {_explain(exc)}") from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise Conflict(f"docker: {what}: {_explain(exc)}") from exc
            raise Unavailable(f"the docker engine refused to {what}", _explain(exc)) from exc
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise Unavailable(f"the docker engine at {self.base_url} is unreachable ({what})",
                              f"{type(exc).__name__}: {exc}") from exc

    @property
    def podman(self) -> bool:
        if self._podman is None:
            version = self.call("read the engine's version", self.client.version)
            self._podman = any("podman" in str(c.get("Name", "")).lower() for c in version.get("Components") or [])
        return self._podman

    def ping(self) -> bool:
        try:
            return bool(self.call("ping", self.client.ping))
        except SlipwayError:
            return False

    def _container(self, instance_id: str) -> Any | None:
        try:
            return self.call(f"inspect {instance_id}", lambda: self.client.containers.get(instance_id))
        except NotFound:
            return None

    # ---- Runtime protocol ------------------------------------------------------------------------

    def start(self, spec: InstanceSpec) -> None:
        if not spec.image:
            raise Invalid(f"{spec.instance_id}: the docker runtime needs an image to run")
        existing = self._container(spec.instance_id)
        if existing is not None:
            if existing.status in ("running", "restarting"):
                raise Conflict(f"instance {spec.instance_id} is already running")
            self.call(f"remove the old {spec.instance_id}", lambda: existing.remove(force=True))
        container_port = spec.container_port or DEFAULT_CONTAINER_PORT
        options = self._options(spec, labels={MANAGED: "1"})
        options.update(
            name=spec.instance_id,
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 0},  # the engine counts restarts
            ports={f"{container_port}/tcp": ("127.0.0.1", spec.port)} if spec.port else {},
        )
        container = self.call(f"start {spec.instance_id}", lambda: self.client.containers.run(
            spec.image, self._command(spec), detach=True, **options))
        # like the local runtime: return once the engine has made its first attempt to run it
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self.call(f"inspect {spec.instance_id}", container.reload)
            if container.status != "created":
                return
            time.sleep(0.05)

    def stop(self, instance_id: str, grace: float | None = None) -> None:
        container = self._container(instance_id)
        if container is None or container.status in ("exited", "dead", "created", "stopped"):
            return
        timeout = math.ceil(grace if grace is not None else 10.0)
        self.call(f"stop {instance_id}", lambda: container.stop(timeout=timeout))  # SIGTERM, then SIGKILL

    def state(self, instance_id: str) -> InstanceState:
        container = self._container(instance_id)
        if container is None:
            return InstanceState(instance_id, "missing")
        attrs = container.attrs
        st = attrs.get("State") or {}
        restarts = int(attrs.get("RestartCount") or 0)
        engine_status = st.get("Status") or container.status
        status = {"running": "running", "restarting": "backoff", "created": "starting", "configured": "starting",
                  "paused": "running", "initialized": "starting"}.get(engine_status, "stopped")
        started = _unix(st.get("StartedAt"))
        deaths = self._death_history(container, restarts, engine_status) if restarts or status == "stopped" \
            else []
        oom_kills = sum(1 for d in deaths if d.oom)
        last = deaths[-1] if deaths else None
        code = last.exit_code if last else (st.get("ExitCode") if status == "stopped" else None)
        reason = _describe(last) if last else (f"exited with code {code}" if code is not None else None)
        return InstanceState(instance_id, status, st.get("Pid") or None, restarts, code, reason,
                             started if status != "stopped" else None, oom_kills)

    def instances(self) -> list[str]:
        containers = self.call("list containers", lambda: self.client.containers.list(
            all=True, filters={"label": f"{MANAGED}=1"}))
        return sorted(c.name for c in containers)

    def logs(self, instance_id: str, lines: int = 100) -> list[str]:
        container = self._container(instance_id)
        if container is None or lines <= 0:
            return []
        merged: list[tuple[float, int, str]] = []
        podman = self.podman
        for order, stream in enumerate(("stdout", "stderr")):
            def read(since: int | None, s: str = stream) -> list[str]:
                # Podman loses partial lines under `tail`: read a time window instead, then cut
                options: dict[str, Any] = {"since": since} if podman and since else ({} if podman else
                                                                                    {"tail": lines})
                raw = self.call(f"read the logs of {instance_id}", lambda: container.logs(
                    stdout=s == "stdout", stderr=s == "stderr", timestamps=True, **options))
                return raw.decode(errors="replace").splitlines()

            texts = read(int(time.time()) - LOG_WINDOW)
            if podman and len(texts) < lines:
                texts = read(None)
            for text in texts[-lines:]:
                when, line = _split_timestamp(_mend_partials(text) if podman else text)
                merged.append((when, order, format_line(stream, line, when).rstrip("\n")))
        merged.sort(key=lambda item: (item[0], item[1]))
        return [line for _, _, line in merged[-lines:]]

    def follow(self, instance_id: str, stop_after: float | None = None) -> Iterator[str]:
        container = self._container(instance_id)
        if container is None:
            return iter(())
        since = int(time.time())
        streams = [self.call(f"follow the logs of {instance_id}", lambda s=s: container.logs(
            stdout=s == "stdout", stderr=s == "stderr", stream=True, follow=True, timestamps=True, since=since))
            for s in ("stdout", "stderr")]
        return _merge_follow(streams, ("stdout", "stderr"), stop_after, mend=self.podman)

    def remove(self, instance_id: str) -> None:
        container = self._container(instance_id)
        if container is None:
            return
        if container.status in ("running", "restarting"):
            raise Conflict(f"instance {instance_id} is running; stop it first")
        with contextlib.suppress(NotFound):
            self.call(f"remove {instance_id}", lambda: container.remove(v=True))
        self._deaths.pop(container.id, None)
        self._cpu.pop(instance_id, None)

    # ---- optional methods ------------------------------------------------------------------------

    def stats(self, instance_id: str) -> dict[str, float | None]:
        """One sample: CPU % of one core (since the previous sample), memory, network, PIDs."""
        container = self._container(instance_id)
        if container is None or container.status != "running":
            return {}
        raw = self.call(f"read the stats of {instance_id}", lambda: container.stats(stream=False))
        now = time.monotonic()
        cpu = raw.get("cpu_stats") or {}
        total = int((cpu.get("cpu_usage") or {}).get("total_usage") or 0)
        previous = self._cpu.get(instance_id)
        self._cpu[instance_id] = (total, now)
        cpu_percent = None
        if previous is not None and now > previous[1] and total >= previous[0]:
            cpu_percent = (total - previous[0]) / ((now - previous[1]) * 1e9) * 100.0
        memory = raw.get("memory_stats") or {}
        detail = memory.get("stats") or {}
        # like `docker stats`: page cache the kernel can drop at once is not the app's memory
        cache = detail.get("inactive_file", detail.get("total_inactive_file", detail.get("cache", 0))) or 0
        usage = memory.get("usage")
        networks = (raw.get("networks") or {}).values()
        return {
            "cpu_percent": cpu_percent,
            "memory_bytes": float(max(0, usage - cache)) if usage is not None else None,
            "memory_limit_bytes": float(memory["limit"]) if memory.get("limit") else None,
            "net_rx_bytes": float(sum(n.get("rx_bytes", 0) for n in networks)),
            "net_tx_bytes": float(sum(n.get("tx_bytes", 0) for n in networks)),
            "pids": float((raw.get("pids_stats") or {}).get("current") or 0),
        }

    def limits_support(self) -> tuple[bool, str]:
        return True, "enforced by the container engine"

    def pids_support(self) -> tuple[bool, str]:
        return True, "enforced by the container engine"

    def capacity(self) -> tuple[float, int]:
        info = self.call("read the engine's info", self.client.info)
        return float(info.get("NCPU") or 1), int(info.get("MemTotal") or 0)

    def run_once(self, spec: InstanceSpec, argv: list[str], *, on_line: LineSink, timeout: float) -> int:
        """A one-off command in a new container of the release's image; removed when it ends."""
        if not spec.image:
            raise Invalid("the docker runtime needs an image to run")
        options = self._options(spec, labels={ONE_OFF: "1"})
        container = self.call("start a one-off container", lambda: self.client.containers.run(
            spec.image, argv, detach=True, name=spec.instance_id, **options))
        # the output stream blocks while the command prints nothing: a timer kills it at the deadline
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            with contextlib.suppress(Exception):
                container.kill()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            stream = self.call("follow the one-off's output", lambda: container.logs(stream=True, follow=True))
            deadline = time.monotonic() + timeout
            for line in _lines(stream, deadline):
                on_line(line)
            remaining = max(1.0, deadline - time.monotonic())
            try:
                result = self.call("wait for the one-off", lambda: container.wait(timeout=remaining))
            except Unavailable:
                expired.set()
            if expired.is_set():
                on_line(f"[slipway] the command did not finish within {timeout:g} s: killed")
                return 124
            return int(result.get("StatusCode", 1))
        finally:
            timer.cancel()
            with contextlib.suppress(SlipwayError):
                self.call("remove the one-off container", lambda: container.remove(force=True))

    def open_tty(self, spec: InstanceSpec, argv: list[str], *, rows: int = 24,
                 cols: int = 80) -> docker_tty.ContainerTerminal:
        """run_once's one-off container, interactive: a TTY and stdin open, attached; removed on close()."""
        if not spec.image:
            raise Invalid("the docker runtime needs an image to run")
        return docker_tty.open_tty(self, spec.image, argv, name=spec.instance_id, rows=rows, cols=cols,
                                   options=self._options(spec, labels={ONE_OFF: "1"}))

    def prune_one_offs(self, older_than: float = 3600.0) -> int:
        """Remove one-off containers (`run`, `run -t`) that ended more than `older_than` seconds ago: a
        control plane that dies during a session leaves its container behind, exited. Running ones stay."""
        # the state is judged here: engines differ in the status filters they know (podman: no "dead")
        containers = self.call("list one-off containers", lambda: self.client.containers.list(
            all=True, filters={"label": f"{ONE_OFF}=1"}))
        removed = 0
        for container in containers:
            state = container.attrs.get("State") or {}
            ended = _unix(state.get("FinishedAt")) or _unix(container.attrs.get("Created"))
            if container.status in ("running", "paused", "restarting") or state.get("Running") or ended is None \
                    or time.time() - ended < older_than:
                continue
            try:
                self.call("remove a one-off container", lambda c=container: c.remove(force=True))
            except SlipwayError:
                continue  # gone meanwhile, or the engine is busy: the next round
            removed += 1
        return removed

    # ---- helpers ---------------------------------------------------------------------------------

    def _options(self, spec: InstanceSpec, *, labels: dict[str, str]) -> dict[str, Any]:
        """What every container Slipway creates gets: env, labels, limits, and the hardening below."""
        limits = spec.limits
        options: dict[str, Any] = dict(
            environment=dict(spec.env),
            labels={**labels, f"{LABEL}.app": spec.app, f"{LABEL}.release": str(spec.release),
                    f"{LABEL}.process-type": spec.process_type, f"{LABEL}.instance": spec.instance_id},
            init=True,  # a real PID 1: SIGTERM reaches the app, zombies are reaped
            # the process limit applies always (the default when unset): a fork bomb stops at it
            pids_limit=(limits or Limits()).pids_max,
            cap_drop=["ALL"],
            cap_add=list(CAPABILITIES),
            security_opt=list(SECURITY_OPT),
        )
        if limits and limits.memory:
            options.update(mem_limit=limits.memory, memswap_limit=limits.memory)  # over it: OOM, not swap
        if limits and limits.memory_reservation:
            options["mem_reservation"] = limits.memory_reservation
        if limits and limits.cpus:
            options["nano_cpus"] = int(limits.cpus * 1e9)
        if limits and limits.cpu_reservation:
            options["cpu_shares"] = max(2, int(limits.cpu_reservation * 1024))
        return options

    @staticmethod
    def _command(spec: InstanceSpec) -> list[str] | None:
        # the Procfile line is the app's own code, run by the image's shell like `docker run … sh -c`;
        # no command: the image's own ENTRYPOINT/CMD
        return ["/bin/sh", "-c", "exec " + spec.command] if spec.command else None

    def _death_history(self, container: Any, restarts: int, engine_status: str) -> list[Death]:
        """Every exit of the container, oldest first, with OOM kills told apart.

        The engine's State shows only the current run, so the history comes from its events. An exit is
        an OOM kill when the engine says so (an `oom` event, State.OOMKilled) or, for engines that do not
        report it (Podman on cgroup v1), when a container with a memory limit was SIGKILLed and its
        restart policy restarted it: nobody asked it to stop, and the kernel's OOM killer sends SIGKILL.
        """
        st = container.attrs.get("State") or {}
        key = (restarts, engine_status, st.get("StartedAt"), st.get("FinishedAt"))
        cached = self._deaths.get(container.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        created = _unix(container.attrs.get("Created")) or (time.time() - 86400)
        raw = self.call(f"read the events of {container.name}", lambda: list(self.client.events(
            since=int(created) - 1, until=int(time.time()) + 1, decode=True,
            filters={"container": container.id})))
        memory_limit = bool((container.attrs.get("HostConfig") or {}).get("Memory"))
        deaths: list[Death] = []
        oom_seen = False
        for event in raw:
            action = event.get("Action") or event.get("status")
            if action == "oom":
                oom_seen = True
            elif action == "die":
                attributes = (event.get("Actor") or {}).get("Attributes") or {}
                code = int(attributes.get("exitCode") or attributes.get("containerExitCode") or 0)
                deaths.append(Death(code, oom_seen))
                oom_seen = False
        for i, death in enumerate(deaths):
            restarted = i < len(deaths) - 1 or engine_status in ("running", "restarting")
            if not death.oom and death.exit_code == 137 and memory_limit and restarted:
                deaths[i] = Death(137, True, inferred=True)
        if deaths and st.get("OOMKilled") and not deaths[-1].oom:
            deaths[-1] = Death(deaths[-1].exit_code, True)
        self._deaths[container.id] = (key, deaths)
        return deaths


def _describe(death: Death) -> str:
    if death.oom:
        return OOM_REASON + (" (SIGKILL under its memory limit)" if death.inferred else "")
    if death.exit_code > 128:
        return f"killed by signal {death.exit_code - 128} (exit code {death.exit_code})"
    return f"exited with code {death.exit_code}"


def _explain(exc: docker.errors.APIError | docker.errors.DockerException) -> str:
    explanation = getattr(exc, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode(errors="replace")
    return str(explanation or exc)


def _unix(value: str | None) -> float | None:
    """An engine timestamp (RFC 3339, nanoseconds, Z) as unix time; None for the zero time."""
    if not value or value.startswith("0001-01-01"):
        return None
    head, _, rest = value.partition(".")
    fraction = ""
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        fraction = "." + digits[:6]
    try:
        moment = dt.datetime.strptime(head.rstrip("Z") + fraction, "%Y-%m-%dT%H:%M:%S" + (".%f" if fraction else ""))
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC).timestamp()


def _split_timestamp(text: str) -> tuple[float, str]:
    stamp, _, line = text.partition(" ")
    when = _unix(stamp)
    return (when, line) if when is not None else (time.time(), text)


def _mend_partials(text: str) -> str:
    """Drop the stamps Podman puts inside a line, at each partial write ("<ts> listening on<ts>  <ts> 8000").

    The line's own stamp, and a stamp that starts the app's text, stay."""
    head = _STAMP.match(text)
    if head is None:
        return text
    rest = text[head.end():]
    return text[:head.end()] + rest[:1] + _STAMP.sub("", rest[1:])


def _lines(stream: Iterator[bytes], deadline: float) -> Iterator[str]:
    buffer = b""
    for chunk in stream:
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            yield raw.decode(errors="replace").rstrip("\r")
        if time.monotonic() > deadline:
            return
    if buffer:
        yield buffer.decode(errors="replace")


def _merge_follow(streams: list[Any], names: tuple[str, ...], stop_after: float | None, *,
                  mend: bool = False) -> Iterator[str]:
    """Lines of several engine log streams as they come, until stop_after seconds or all have ended."""
    lines: queue.Queue[str | None] = queue.Queue(maxsize=10000)

    def pump(stream: Any, name: str) -> None:
        try:
            for text in _lines(stream, math.inf):
                when, line = _split_timestamp(_mend_partials(text) if mend else text)
                lines.put(format_line(name, line, when).rstrip("\n"))
        except Exception:  # noqa: BLE001 - the engine went away: this stream simply ends
            pass
        finally:
            lines.put(None)

    for stream, name in zip(streams, names, strict=True):
        threading.Thread(target=pump, args=(stream, name), daemon=True).start()
    deadline = time.monotonic() + stop_after if stop_after is not None else math.inf
    running = len(streams)
    try:
        while running:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            try:
                line = lines.get(timeout=min(wait, 1.0))
            except queue.Empty:
                continue
            if line is None:
                running -= 1
            else:
                yield line
    finally:
        for stream in streams:
            with contextlib.suppress(Exception):
                stream.close()
