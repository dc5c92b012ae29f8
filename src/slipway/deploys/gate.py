"""The health gate: a release gets traffic only once its new instances answer.

When it fails, it says what it saw, in one line (see reasons.py): the process exited (and how), the app
listens on another port than $PORT (seen in its listening sockets, at once, not after the timeout), the
app answered an error (the status and the start of the body), or nothing answered at all. The app's last
output goes to the deploy log and to the deploy's log tail.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from slipway.deploys.models import Release
from slipway.errors import DeployError
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.runtimes.base import InstanceState, Runtime

CRASHED = ("backoff", "crashloop", "stopped", "missing")
# listening addresses the router's 127.0.0.1:<port> reaches (a dual-stack "::" socket takes IPv4 too)
REACHABLE = ("0.0.0.0", "127.0.0.1", "::", "::ffff:127.0.0.1")
# an app seen listening only on other ports for this long is told so (a server may open an admin or
# metrics port a moment before $PORT: one look is not enough, a second is)
WRONG_PORT_GRACE = 1.0
BODY_LINES = 5  # of an error answer, kept for the log tail
BODY_BYTES = 16_384  # of an error answer, read at most (the rest is never downloaded)
BODY_SECONDS = 1.0  # spent reading it at most (plus one read timeout)

Log = Callable[[str], None]


@dataclass
class _Watch:
    """What the gate last saw of one new web instance."""

    instance: Instance
    runtime: Runtime
    status: int | None = None  # the last HTTP status it answered (>= 500 while it is still waited for)
    body: str = ""  # the text of that answer
    silent: bool = False  # the last attempt connected but got no answer in time
    elsewhere_since: float | None = None  # when it was first seen listening, but not on $PORT


def wait_until_healthy(platform: Platform, release: Release, new: list[Instance], *, log: Log) -> None:
    """Every new web instance answers its health check (status < 500); every other one is up.

    Raises DeployError (one-line message, the app's last output as detail) as soon as an instance exits
    or listens on the wrong port, or when time runs out."""
    path = release.config.get("health_path") or "/"
    timeout = release.config.get("health_timeout") or platform.settings.health_timeout
    deadline = time.monotonic() + timeout
    runtimes = {i.id: platform.runtime_for(i.runtime or "local") for i in new}
    waiting = {i.id: _Watch(i, runtimes[i.id]) for i in new if i.process_type == "web"}
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            for instance_id, watch in list(waiting.items()):
                _fail_if_exited(watch, log)
                if _answered(client, watch, path, log):
                    del waiting[instance_id]
                    continue
                _fail_if_elsewhere(watch, release, log)
            if not waiting:
                break
            if time.monotonic() > deadline:
                watch = next(iter(waiting.values()))
                raise _timed_out(watch, release, path, timeout, log)
            time.sleep(0.05)
    # other process types have no endpoint: they must at least be up
    for instance in new:
        state = runtimes[instance.id].state(instance.id)
        if state.status in CRASHED:
            raise _exited(_Watch(instance, runtimes[instance.id]), state, log)


def _answered(client: httpx.Client, watch: _Watch, path: str, log: Log) -> bool:
    instance = watch.instance
    try:
        # streamed: the app chooses the body, and only its first BODY_BYTES are ever read
        with client.stream("GET", f"http://127.0.0.1:{instance.port}{path}",
                           headers={"Accept-Encoding": "identity"}) as response:  # no decompression bomb
            status = response.status_code
            body = _first_bytes(response) if status >= 500 else b""
    except httpx.TimeoutException:
        watch.silent = True
        return False
    except httpx.HTTPError:
        watch.silent = False
        return False
    watch.silent = False
    if status < 500:
        log(f"{instance.id} is healthy (GET {path} → {status})")
        return True
    if watch.status != status:
        log(f"{instance.id}: GET {path} answered {status}")
    watch.status, watch.body = status, body_text(body.decode("utf-8", "replace"))
    return False


def _first_bytes(response: httpx.Response) -> bytes:
    """At most BODY_BYTES of the body, for at most BODY_SECONDS (an app may trickle it a byte at a time)."""
    data = b""
    until = time.monotonic() + BODY_SECONDS
    for chunk in response.iter_raw():
        data += chunk
        if len(data) >= BODY_BYTES or time.monotonic() > until:
            break
    return data[:BODY_BYTES]


def _fail_if_exited(watch: _Watch, log: Log) -> None:
    state = watch.runtime.state(watch.instance.id)
    if state.status in CRASHED or state.restarts > 0:
        raise _exited(watch, state, log)


def _exited(watch: _Watch, state: InstanceState, log: Log) -> DeployError:
    """The process ended before it was healthy: how it ended, and the last thing it said."""
    instance = watch.instance
    lines = watch.runtime.logs(instance.id, 20)
    for line in lines:
        log(f"  {line}")
    how = state.last_exit_reason or state.status
    last = last_words(lines)
    when = "at start" if instance.process_type != "web" else "before it answered"
    return DeployError(f"the {instance.process_type} process crashed {when} ({how})" + (f": {last}" if last else ""),
                       lines)


def _fail_if_elsewhere(watch: _Watch, release: Release, log: Log) -> None:
    """Listening, but not on $PORT: nothing will ever answer the router; say where it listens, now."""
    listening = getattr(watch.runtime, "listening", None)
    port = watch.instance.port
    if listening is None or port is None:
        return
    addresses = listening(watch.instance.id)
    if not addresses or any(p == port and host in REACHABLE for host, p in addresses):
        watch.elsewhere_since = None
        return
    now = time.monotonic()
    if watch.elsewhere_since is None:
        watch.elsewhere_since = now
        return
    if now - watch.elsewhere_since < WRONG_PORT_GRACE:
        return
    where = ", ".join(shown(a) for a in addresses[:3]) + (" …" if len(addresses) > 3 else "")
    hint = bind_hint(str((release.config.get("processes") or {}).get("web") or ""))
    lines = watch.runtime.logs(watch.instance.id, 20)
    for line in lines:
        log(f"  {line}")
    if any(p == port for _, p in addresses):  # the right port on an address the router does not dial
        raise DeployError(f"the web process listens on {where}, which the router cannot reach: listen on "
                          f"0.0.0.0:$PORT, e.g. {hint}", lines)
    raise DeployError(f"the web process listens on {where}, not on $PORT ({port}): bind to $PORT, e.g. {hint}",
                      lines)


def _timed_out(watch: _Watch, release: Release, path: str, timeout: float, log: Log) -> DeployError:
    instance = watch.instance
    lines = watch.runtime.logs(instance.id, 20)
    for line in lines:
        log(f"  {line}")
    if watch.status is not None:
        tail = [f"GET {path} answered {watch.status}:", *watch.body.splitlines()[:BODY_LINES], "", *lines]
        first = " ".join(watch.body.split()) or "(empty body)"
        return DeployError(f"GET {path} answered {watch.status}: {first}", tail)
    if watch.silent:
        return DeployError(f"GET {path} got no answer within {timeout:g} s: the web process accepts "
                           f"connections on $PORT ({instance.port}) but never replies", lines)
    container_port = release.config.get("container_port")
    if release.config.get("runtime") == "docker" and container_port:
        return DeployError(f"nothing answered on the container's port {container_port} within {timeout:g} s: "
                           "listen on $PORT, or set [docker] port to the port the app listens on", lines)
    return DeployError(f"nothing listens on $PORT ({instance.port}) after {timeout:g} s: the web process must "
                       f"listen on 0.0.0.0:$PORT", lines)


# ---- wording -----------------------------------------------------------------------------------


def shown(address: tuple[str, int]) -> str:
    """A listening address as messages write it: 0.0.0.0:8080, [::]:8080."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

_HINTS = (  # (a word of the web command, how that server binds to $PORT)
    ("gunicorn", "gunicorn --bind 0.0.0.0:$PORT"),
    ("uvicorn", "uvicorn --host 0.0.0.0 --port $PORT"),
    ("hypercorn", "hypercorn --bind 0.0.0.0:$PORT"),
    ("waitress", "waitress-serve --listen=0.0.0.0:$PORT"),
    ("runserver", "python manage.py runserver 0.0.0.0:$PORT"),
    ("flask", "flask run --host 0.0.0.0 --port $PORT"),
    ("node", "app.listen(process.env.PORT)"),
    ("npm", "app.listen(process.env.PORT)"),
    ("yarn", "app.listen(process.env.PORT)"),
    ("pnpm", "app.listen(process.env.PORT)"),
)


def bind_hint(command: str) -> str:
    """How the app's own server would listen on $PORT, after the words of its web command."""
    words = set(re.split(r"[\s/:=]+", command.lower()))
    for word, hint in _HINTS:
        if word in words:
            return hint
    return "gunicorn --bind 0.0.0.0:$PORT"


_TAG = re.compile(r"<[^>]*>")
_HIDDEN = re.compile(r"<(head|script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def body_text(body: str) -> str:
    """The readable lines of an answer's body: HTML without its tags, scripts and styles."""
    text = body[:20_000]
    if "<" in text and ">" in text:
        text = html.unescape(_TAG.sub("\n", _HIDDEN.sub("", text)))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def last_words(lines: list[str]) -> str:
    """The app's last line of output (without the log's timestamp and stream, nor the supervisor's notes)."""
    for line in reversed(lines):
        parts = line.rstrip("\n").split(" ", 2)
        text = parts[2] if len(parts) == 3 else line
        if text.strip() and not text.startswith("[slipway]"):
            return text.strip()
    return ""
