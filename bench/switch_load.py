"""What the zero-downtime benches share: traffic to a deployed app and a bystander app (keep-alive HTTP and a
WebSocket each) while the deployed app is switched N times, and the figures of that run.

Honest by default: the HTTP clients never retry and never reconnect on their own (PacedLoad strict), and a
WebSocket that ends is counted, with the deploy step it ended in. Latency "around a switch" covers the
samples due from 1 s before to 2 s after each deploy's "Switching traffic" step: the seconds in which a
switch could hurt, compared with the same load's steady seconds before any deploy.
"""

from __future__ import annotations

import collections
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import PacedLoad, Sample, Slipway, percentile, row

AROUND = (1.0, 2.0)  # seconds before and after each switch


def summary(samples: list[Sample]) -> dict[str, object]:
    latencies = [s.latency * 1000 for s in samples]
    failures = [s for s in samples if not s.ok]
    return {"requests": len(samples), "failed": len(failures),
            "failures": dict(collections.Counter(s.detail for s in failures)),
            "served": dict(collections.Counter(s.detail for s in samples if s.ok)),
            "p50_ms": round(percentile(latencies, 50), 3), "p99_ms": round(percentile(latencies, 99), 3),
            "p999_ms": round(percentile(latencies, 99.9), 3), "max_ms": round(max(latencies, default=0), 3)}


@dataclass
class WsProbe:
    """A WebSocket through Caddy to `host`, exchanging a message every `every` seconds in a thread. When it
    ends (closed, reset, no answer in 5 s) the end is recorded and a new one is opened."""

    port: int
    host: str
    every: float = 0.5
    tls: ssl.SSLContext | None = None  # wss:// through the HTTPS server
    exchanges: int = 0
    opened: int = 0
    ends: list[tuple[float, str]] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WsProbe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                scheme = "wss" if self.tls else "ws"
                with connect(f"{scheme}://{self.host}:{self.port}/", sock=sock, open_timeout=5, ssl=self.tls,
                             server_hostname=self.host if self.tls else None) as ws:
                    self.opened += 1
                    while not self._stop.wait(self.every):
                        ws.send(f"m{self.exchanges}")
                        reply = str(ws.recv(timeout=5))
                        if not reply.endswith(f":m{self.exchanges}"):
                            raise ValueError(f"unexpected reply {reply!r}")
                        self.exchanges += 1
                        if not self.versions or self.versions[-1] != reply.split(":")[0]:
                            self.versions.append(reply.split(":")[0])
            except Exception as exc:  # every way a WebSocket can end is an end to count
                if not self._stop.is_set():
                    self.ends.append((time.time(), type(exc).__name__))
                    self._stop.wait(0.2)


@dataclass
class Traffic:
    http: PacedLoad
    ws: WsProbe


@dataclass(frozen=True)
class Https:
    """The same traffic over HTTPS too: each app's name served with a certificate, and a client trusting it."""
    hosts: dict[str, str]  # app → a name the router serves over HTTPS for it
    trust: ssl.SSLContext


def start_traffic(sw: Slipway, host: str, *, rate: float, connections: int, strict: bool,
                  tls: ssl.SSLContext | None = None) -> Traffic:
    port = sw.https_port if tls else sw.http_port
    return Traffic(PacedLoad(port, host, rate=rate, connections=connections, strict=strict, tls=tls).start(),
                   WsProbe(port, host, tls=tls).start())


def run_switches(sw: Slipway, app: str, bystander: str, switch: Callable[[int], int], *, switches: int,
                 rate: float, connections: int, steady: float, strict: bool,
                 https: Https | None = None) -> dict[str, Any]:
    """Traffic to both apps (over HTTP, and with `https` over HTTPS as well, at the same rate each); `steady`
    seconds of baseline; then switch(i) for i in range(switches) (it switches `app` and returns the deploy
    id). Returns the raw material for figures()."""
    traffic = {name: start_traffic(sw, sw.host(name), rate=rate, connections=connections, strict=strict)
               for name in (app, bystander)}
    roles = [("deployed", app), ("bystander", bystander)]
    if https is not None:
        for role, name in list(roles):
            traffic[f"{name} https"] = start_traffic(sw, https.hosts[name], rate=rate, connections=connections,
                                                     strict=strict, tls=https.trust)
            roles.append((f"{role} HTTPS", f"{name} https"))
    try:
        time.sleep(2)  # warm-up: connections open, Caddy's upstream pool filled
        steady_from = {name: t.http.mark() for name, t in traffic.items()}
        time.sleep(steady)
        switches_from = {name: t.http.mark() for name, t in traffic.items()}
        loads_before = caddy_loads(sw)
        deploy_ids, timings = [], []
        for number in range(switches):
            t0 = time.monotonic()
            deploy_ids.append(switch(number))
            timings.append(round(time.monotonic() - t0, 2))
            print(f"switch {number + 1}/{switches}: {timings[-1]:.1f}s")
        time.sleep(2)  # requests in flight at the end still count, and the last switch's window closes
        loads = caddy_loads(sw) - loads_before
    finally:
        for t in traffic.values():
            t.http.stop()
            t.ws.stop()
    marks = sorted(m for i in deploy_ids for m in sw.step_marks(app, i))
    return {"traffic": traffic, "steady_from": steady_from, "switches_from": switches_from, "marks": marks,
            "timings": timings, "app": app, "bystander": bystander, "caddy_loads": loads, "roles": roles}


def caddy_loads(sw: Slipway) -> int:
    """How many configs were loaded into Slipway's Caddy so far (its admin API logs each POST /load)."""
    try:
        text = (sw.home / "caddy" / "caddy.log").read_text(errors="replace")
    except OSError:
        return 0
    return text.count('"uri":"/load"')


def figures(run: dict[str, Any], prefix: str = "") -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    """Rows for report(), details, and the number of failed requests of both apps (the exit status)."""
    marks: list[tuple[float, str]] = run["marks"]
    switch_times = [ts for ts, title in marks if title.startswith("Switching traffic")]
    rows = [row(f"{prefix}Caddy config loads during the switches", run["caddy_loads"], "loads",
                target="== 0 (switches reach Caddy through slot files)", met=run["caddy_loads"] == 0)]
    details: dict[str, Any] = {"switch_seconds": run["timings"], "switches_seen_in_logs": len(switch_times),
                               "caddy_loads": run["caddy_loads"]}
    failed = 0
    for role, name in run.get("roles") or [("deployed", run["app"]), ("bystander", run["bystander"])]:
        traffic: Traffic = run["traffic"][name]
        samples = traffic.http.samples
        steady = samples[run["steady_from"][name]:run["switches_from"][name]]
        during = samples[run["switches_from"][name]:]
        around = [x for x in during if any(t - AROUND[0] <= x.sent <= t + AROUND[1] for t in switch_times)]
        s, d, a = summary(steady), summary(during), summary(around)
        app_failed = sum(not x.ok for x in samples)
        failed += app_failed
        p99_ratio = a["p99_ms"] / s["p99_ms"] if s["p99_ms"] else float("nan")  # type: ignore[operator]
        max_ratio = a["max_ms"] / s["max_ms"] if s["max_ms"] else float("nan")  # type: ignore[operator]
        by_step: dict[str, list[float]] = collections.defaultdict(list)
        for x in during:  # which part of a deploy the slow requests fall in: the switch's, or the deploy's
            step = max((m for m in marks if m[0] <= x.sent), default=(0.0, "before"))[1].split(" ")[0]
            by_step[step].append(x.latency * 1000)
        p99_by_step = {k: round(percentile(v, 99), 1) for k, v in by_step.items()}
        ws = traffic.ws
        ws_met = (not ws.ends) if role.startswith("bystander") else None
        rows += [
            row(f"{prefix}{role} app: failed requests (all phases)", app_failed, "req", target="== 0",
                met=app_failed == 0),
            row(f"{prefix}{role} app: connections reopened", traffic.http.reopened, "conn"),
            row(f"{prefix}{role} app: p99 latency around switches", a["p99_ms"], "ms",  # type: ignore[arg-type]
                target="<= 2x steady p99", met=p99_ratio <= 2.0, baseline=s["p99_ms"],  # type: ignore[arg-type]
                ratio=p99_ratio),
            row(f"{prefix}{role} app: max latency around switches", a["max_ms"], "ms",  # type: ignore[arg-type]
                target="<= 2x steady max", met=max_ratio <= 2.0, baseline=s["max_ms"],  # type: ignore[arg-type]
                ratio=max_ratio),
            row(f"{prefix}{role} app: WebSocket ends", len(ws.ends), "ends",
                target="== 0" if ws_met is not None else "(one per old instance stopped)", met=ws_met),
        ]
        details[role] = {"app": name, "steady": s, "during": d, "around_switches": a,
                         "reopened": traffic.http.reopened, "reconnects": traffic.http.reconnects,
                         "retried": traffic.http.retried, "ws_exchanges": ws.exchanges, "ws_opened": ws.opened,
                         "ws_ends": [_when(ts, marks) + f" ({why})" for ts, why in ws.ends],
                         "ws_versions": ws.versions, "p99_ms_by_step": p99_by_step}
        print(f"{role:9} ({name}) steady : {s}")
        print(f"{role:9} ({name}) around : {a}")
        print(f"{role:9} ({name}) reopened connections {traffic.http.reopened}, retried {traffic.http.retried}; "
              f"WebSocket: {ws.exchanges} exchanges, {ws.opened} opened, ends: {details[role]['ws_ends'][:25]}")
        print(f"{role:9} p99 by deploy step (ms): " + ", ".join(
            f"{k} {v} (n={len(by_step[k])})" for k, v in sorted(p99_by_step.items(), key=lambda kv: -kv[1])))
        for x in [x for x in samples if not x.ok][:20]:
            print(f"{role:9} failed: {x.detail} {_when(x.sent, marks)}")
    return rows, details, failed


def _when(ts: float, marks: list[tuple[float, str]]) -> str:
    """`ts` relative to the deploy step it fell in."""
    step = max((m for m in marks if m[0] <= ts), default=(ts, "before the switches"))
    return f"{ts - step[0]:+.3f}s after '{step[1]}'"
