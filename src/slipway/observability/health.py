"""Probes (HTTP, TCP, deep JSON) and the state machine of a check. No database here.

A probe answers up, degraded or down with the response time and a short output. The state machine
turns a run of results into healthy → degraded → down: the first failures make a healthy check
"degraded" (it is failing, not yet down), `retries` consecutive failures make it "down" and open an
incident, and the next success closes it. A deep check whose document reports a failing dependency
is "degraded" without counting as a failure.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from slipway.egress import EgressRefused, Policy

UP, DEGRADED, DOWN = "up", "degraded", "down"
GOOD_WORDS = {"ok", "pass", "passed", "up", "healthy", "green", "true", "success"}
DEGRADED_WORDS = {"degraded", "warn", "warning", "partial", "yellow"}
MAX_OUTPUT = 2000
# A check observes; it runs unattended every few seconds, so it must never change anything. GET and HEAD are
# the methods HTTP defines as safe; anything else (a DELETE on an admin API, a POST that "has no side
# effects" today) is refused at config time and again when an older row still carries it.
SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Probe:
    """What to check: built from a Check row (or a smoke check), with the URL or address resolved."""

    kind: str  # http | tcp | json
    url: str = ""  # http/json
    host: str = ""  # tcp
    port: int = 0  # tcp
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    expected_status: int | None = None
    body_contains: str | None = None
    timeout: float = 5.0
    # True when Slipway built the address itself: the app's own instance (127.0.0.1:<its port>). Such probes
    # skip the egress rules; every address a user typed goes through them.
    own: bool = False


@dataclass(frozen=True)
class Result:
    status: str  # up | degraded | down
    response_ms: float | None
    output: str  # why (short); for up, a summary such as "200 OK"


class Clients:
    """The two HTTP clients probes use: `outside` obeys the egress rules, `own` reaches the app's instances."""

    def __init__(self, policy: Policy, *, max_connections: int = 20) -> None:
        self.policy = policy
        limits = httpx.Limits(max_connections=max_connections)
        self.outside = policy.client(limits=limits)
        self.own = httpx.Client(follow_redirects=False, trust_env=False, limits=limits)

    def close(self) -> None:
        self.outside.close()
        self.own.close()

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run(probe: Probe, clients: Clients) -> Result:
    if probe.kind == "tcp":
        return _tcp(probe, clients.policy)
    if probe.method not in SAFE_METHODS:
        return Result(DOWN, None, f"{probe.method} {probe.url}: checks may only use GET or HEAD")
    return _http(probe, clients.own if probe.own else clients.outside)


def _tcp(probe: Probe, policy: Policy) -> Result:
    started = time.perf_counter()
    try:
        if probe.own:
            sock = socket.create_connection((probe.host, probe.port), timeout=probe.timeout)
        else:
            sock = policy.connect(probe.host, probe.port, timeout=probe.timeout)
        sock.close()
    except EgressRefused as exc:
        return Result(DOWN, None, f"TCP connect to {probe.host}:{probe.port}: {exc.message}"[:MAX_OUTPUT])
    except OSError as exc:
        return Result(DOWN, None, f"TCP connect to {probe.host}:{probe.port} failed: {exc}"[:MAX_OUTPUT])
    return Result(UP, _ms(started), f"TCP connect to {probe.host}:{probe.port} ok")


def _http(probe: Probe, client: httpx.Client) -> Result:
    started = time.perf_counter()
    try:
        response = client.request(probe.method, probe.url, headers=probe.headers, timeout=probe.timeout)
    except httpx.TimeoutException:
        return Result(DOWN, None, f"{probe.method} {probe.url}: no answer within {probe.timeout:g} s")
    except httpx.HTTPError as exc:
        return Result(DOWN, None, f"{probe.method} {probe.url}: {type(exc).__name__}: {exc}"[:MAX_OUTPUT])
    elapsed = _ms(started)
    line = f"{probe.method} {probe.url} → {response.status_code}"
    if probe.kind == "json":
        return _deep(probe, response, elapsed, line)
    if not status_matches(response.status_code, probe.expected_status):
        wanted = probe.expected_status or "2xx/3xx"
        return Result(DOWN, elapsed, f"{line}, expected {wanted}: {_snippet(response.text)}")
    if probe.body_contains and probe.body_contains not in response.text:
        return Result(DOWN, elapsed, f"{line}, body does not contain {probe.body_contains!r}: "
                                     f"{_snippet(response.text)}")
    return Result(UP, elapsed, line)


def _deep(probe: Probe, response: httpx.Response, elapsed: float, line: str) -> Result:
    if probe.expected_status is not None and response.status_code != probe.expected_status:
        return Result(DOWN, elapsed, f"{line}, expected {probe.expected_status}: {_snippet(response.text)}")
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return Result(DOWN, elapsed, f"{line}: not a JSON health document: {_snippet(response.text)}")
    status, failing = judge_document(document)
    if status == UP and probe.expected_status is None and response.status_code >= 500:
        status = DOWN  # a 5xx with a cheerful body is still a failure
    detail = f"; failing: {', '.join(failing)}" if failing else ""
    return Result(status, elapsed, f"{line}, status {status}{detail}"[:MAX_OUTPUT])


def judge_document(document: Any) -> tuple[str, list[str]]:
    """{"status": "ok", "checks": {"db": "ok", "redis": "fail"}} → ("degraded", ["redis: fail"]).

    The overall word decides up/degraded/down; any failing dependency makes an "up" document degraded.
    Dependencies may be strings or objects with a "status"; "checks", "dependencies", "details" and
    "components" are read (Spring Boot, .NET and RFC-draft health documents use these).
    """
    if not isinstance(document, dict):
        return DOWN, ["the document is not a JSON object"]
    overall = _word(document.get("status", "ok"))
    failing = []
    for key in ("checks", "dependencies", "details", "components"):
        deps = document.get(key)
        if isinstance(deps, dict):
            for name, value in deps.items():
                word = _word(value.get("status") if isinstance(value, dict) else value)
                if word not in GOOD_WORDS:
                    failing.append(f"{name}: {word}")
    if overall in GOOD_WORDS:
        return (DEGRADED if failing else UP), failing
    if overall in DEGRADED_WORDS:
        return DEGRADED, failing
    return DOWN, failing or [f"status: {overall}"]


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "ok" if value else "fail"
    return str(value).strip().lower()


def status_matches(code: int, expected: int | None) -> bool:
    return code == expected if expected is not None else 200 <= code < 400


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# ---- the state machine ------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    state: str  # healthy | degraded | down
    failures: int
    action: str | None  # "open" an incident, "close" it, or nothing


def transition(state: str, failures: int, retries: int, result: str, *, incident_open: bool) -> Transition:
    if result == DOWN:
        failures += 1
        if failures >= max(1, retries):
            return Transition("down", failures, None if incident_open else "open")
        return Transition("down" if incident_open else "degraded", failures, None)
    close = "close" if incident_open else None
    return Transition("healthy" if result == UP else "degraded", 0, close)


WORST = {"unknown": 0, "healthy": 1, "degraded": 2, "down": 3}


def worst(states: list[str]) -> str:
    return max(states, key=lambda s: WORST.get(s, 0)) if states else "unknown"
