"""Router overhead: requests/s through Caddy (HTTP and HTTPS) vs straight to the app instance, same run.

Three apps are deployed by Slipway and measured in turn, each four ways with the same wrk settings:
  direct  — wrk straight at the instance's port (`slipway ps APP --json`): the baseline;
  slipway — wrk through Slipway's Caddy with the app's Host header: the figure (target: >= 0.7 x direct);
  bare    — wrk through a second Caddy with the smallest reverse_proxy config: tells Caddy's own cost apart
            from anything our rendered config adds;
  https   — wrk over HTTPS (TLS 1.3, ECDSA P-256, keep-alive) through that second Caddy, which serves a
            certificate of a CA made for the run (bench/tls_cert.py, loaded into Caddy's tls app as PEM):
            the cost of TLS termination. Slipway's own Caddy serves HTTP only until HTTPS lands (issue #14,
            domains); then this line should go through it;
  slot    — wrk through the second Caddy on a route whose upstream dial is a `{file.…}` placeholder, as
            Slipway's routes are (routing/slots.py): the cost of reading the slot file per request.
The apps: `app-1ms`, the stdlib app spending 1 ms of CPU per request like a small real handler (the target
is judged on it); `stdlib`, the tests' ThreadingHTTPServer app with an empty handler (~65 µs per request);
and `asyncio`, a minimal keep-alive responder (~10 µs of CPU per request: the worst case for any proxy's
ratio, where Caddy's own ~80 µs per proxied request dominates on a 2-core machine).
wrk, Caddy and the app share the machine's cores, so Caddy's CPU is taken from the app and wrk, as on a
single-host deployment; each line prints the CPU the app and Caddy used (% of one core).

Usage: .venv/bin/python bench/router_overhead.py [--threads 2] [--connections 32] [--seconds 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import tls_cert
from harness import BIN, Repo, WrkResult, app_files, free_port, median, platform, report, row, wait_until, wrk

TARGET = 0.7
# name → app_files() options: two near-empty handlers (the proxy's worst case) and one that spends 1 ms of CPU
# per request, like a small real handler (a query and a template); the target is judged on that one
APPS: dict[str, dict[str, Any]] = {"stdlib": {}, "asyncio": {"fast": True}, "app-1ms": {"work_ms": 1.0}}
JUDGED = "app-1ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the three runs this many times (median)")
    parser.add_argument("--apps", default="app-1ms,stdlib,asyncio", help="which apps, comma-separated")
    args = parser.parse_args()
    opts = {"threads": args.threads, "connections": args.connections, "seconds": args.seconds}
    apps = [a for a in args.apps.split(",") if a]

    results: dict[str, dict[str, list[WrkResult]]] = {}
    cpu_us: dict[str, float] = {}
    with platform("router-overhead") as sw:
        for app in apps:
            sw.create_app(app, Repo(sw.tmp / f"repo-{app}", app_files("1", **APPS[app])))
            sw.cli("deploy", app)
        for app in apps:
            instance = next(i for i in sw.cli_json("ps", app) if i["state"] == "running")
            direct_url, router_url = f"http://127.0.0.1:{instance['port']}/", sw.router_url + "/"
            # both paths answer the same app before we measure
            assert httpx.get(direct_url).json()["version"] == "1"
            assert httpx.get(router_url, headers={"Host": sw.host(app)}).json()["version"] == "1"
            pids = {"app": int(instance["pid"]), "caddy": sw.caddy_pid() or 0}
            runs: dict[str, list[WrkResult]] = {"direct": [], "slipway": [], "bare": [], "https": [], "slot": []}
            with bare_caddy(sw.tmp, int(instance["port"])) as (bare_url, bare_pid, https_url, slot_url):
                wrk(direct_url, threads=1, connections=4, seconds=1)  # warm-up
                wrk(router_url, host=sw.host(app), threads=1, connections=4, seconds=1)
                wrk(bare_url, threads=1, connections=4, seconds=1)
                wrk(https_url, threads=1, connections=4, seconds=1)
                wrk(slot_url, threads=1, connections=4, seconds=1)
                for _ in range(args.rounds):
                    runs["direct"].append(measured(f"{app:8} direct ", wrk, pids, direct_url, opts))
                    runs["slipway"].append(measured(f"{app:8} slipway", wrk, pids, router_url,
                                                    {**opts, "host": sw.host(app)}, cpu_us, app))
                    runs["bare"].append(measured(f"{app:8} bare   ", wrk, pids | {"caddy": bare_pid}, bare_url, opts,
                                                 cpu_us, f"{app}/bare"))
                    runs["https"].append(measured(f"{app:8} https  ", wrk, pids | {"caddy": bare_pid}, https_url,
                                                  opts))
                    runs["slot"].append(measured(f"{app:8} slot   ", wrk, pids | {"caddy": bare_pid}, slot_url,
                                                 opts, cpu_us, f"{app}/slot"))
            results[app] = runs

    rows, errors = [], 0
    for app, runs in results.items():
        rps = {k: median([x.rps for x in v]) for k, v in runs.items()}
        p99 = {k: median([x.p99_ms for x in v]) for k, v in runs.items()}
        ratio = rps["slipway"] / rps["direct"]
        errors += sum(x.non_2xx + x.socket_errors for v in runs.values() for x in v)
        rows += [
            row(f"{app} app: req/s through Caddy", rps["slipway"], "req/s",
                target=f"ratio >= {TARGET:g}" if app == JUDGED else "(context)",
                met=ratio >= TARGET if app == JUDGED else None, baseline=rps["direct"], ratio=ratio),
            row(f"{app} app: req/s through a bare Caddy", rps["bare"], "req/s", baseline=rps["direct"],
                ratio=rps["bare"] / rps["direct"]),
            row(f"{app} app: req/s over HTTPS through the bare Caddy", rps["https"], "req/s",
                baseline=rps["direct"], ratio=rps["https"] / rps["direct"]),
            row(f"{app} app: HTTPS vs HTTP through the bare Caddy", rps["https"], "req/s", baseline=rps["bare"],
                ratio=rps["https"] / rps["bare"]),
            row(f"{app} app: req/s through the bare Caddy, slot-file dial", rps["slot"], "req/s", baseline=rps["bare"],
                ratio=rps["slot"] / rps["bare"]),
            row(f"{app} app: bare Caddy CPU per request, slot-file vs literal dial",
                cpu_us.get(f"{app}/slot", float("nan")), "µs", baseline=cpu_us.get(f"{app}/bare", float("nan")),
                ratio=cpu_us.get(f"{app}/slot", float("nan")) / cpu_us.get(f"{app}/bare", float("nan"))),
            row(f"{app} app: p99 through Caddy", p99["slipway"], "ms", baseline=p99["direct"],
                ratio=p99["slipway"] / p99["direct"]),
            row(f"{app} app: Caddy CPU per request", cpu_us.get(app, float("nan")), "µs"),
        ]
    rows.append(row("errors (non-2xx + socket), all runs", errors, "req"))
    report("router_overhead", rows, {"wrk": opts, "cpus": os.cpu_count(), "runs": {
        app: {k: [vars(x) | {"raw": None} for x in v] for k, v in runs.items()} for app, runs in results.items()}})
    return 0


def measured(label: str, run: Callable[..., WrkResult], pids: dict[str, int], url: str, opts: dict[str, Any],
             caddy_us: dict[str, float] | None = None, key: str = "") -> WrkResult:
    """Run wrk and print its figures with the CPU the app and Caddy used meanwhile (% of one core);
    caddy_us[key] gets Caddy's CPU microseconds per request."""
    procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
    before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    t0 = time.monotonic()
    result = run(url, **opts)
    elapsed = time.monotonic() - t0
    used = {name: sum(p.cpu_times()[:2]) - before[name] for name, p in procs.items()}
    cpu = {name: 100 * seconds / elapsed for name, seconds in used.items()}
    if caddy_us is not None and "caddy" in used:
        caddy_us[key] = 1e6 * used["caddy"] / max(1, result.requests)
    print(f"{label}: {result.rps:9.0f} req/s  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
          f"errors {result.non_2xx + result.socket_errors}  CPU "
          + ", ".join(f"{name} {pct:.0f}%" for name, pct in cpu.items()))
    return result


class bare_caddy:  # noqa: N801 (a context manager used like a function)
    """A second Caddy with the smallest reverse_proxy config in front of the same instance: tells Caddy's
    own cost apart from what our rendered config adds. It serves the same route over HTTPS too, with a
    certificate of a CA made for the run."""

    def __init__(self, tmp: Path, upstream_port: int) -> None:
        self.tmp, self.port, self.admin = tmp, free_port(), str(tmp / f"bare-caddy-{upstream_port}.sock")
        self.tls_port, self.slot_port, self.cert = free_port(), free_port(), tls_cert.make(tmp)
        routes = [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": f"127.0.0.1:{upstream_port}"}]}]}]
        slot = tmp / f"bare-slot-{upstream_port}.dial"
        slot.write_text(f"127.0.0.1:{upstream_port}")
        slot_routes = [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "{file." + str(slot) + "}"}]}]}]
        config = {"admin": {"listen": f"unix/{self.admin}|0600"}, "apps": {
            "http": {"servers": {
                "bare": {"listen": [f"127.0.0.1:{self.port}"], "automatic_https": {"disable": True},
                         "routes": routes},
                # a connection policy turns TLS on; default_sni: wrk sends no SNI to an IP address
                "bare_tls": {"listen": [f"127.0.0.1:{self.tls_port}"], "automatic_https": {"disable": True},
                             "tls_connection_policies": [{"default_sni": "localhost"}], "routes": routes},
                "bare_slot": {"listen": [f"127.0.0.1:{self.slot_port}"], "automatic_https": {"disable": True},
                              "routes": slot_routes}}},
            "tls": {"certificates": {"load_pem": [{"certificate": self.cert.cert_pem, "key": self.cert.key_pem}]}},
        }}
        self.config = tmp / f"bare-caddy-{upstream_port}.json"
        self.config.write_text(json.dumps(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> tuple[str, int, str, str]:
        self.proc = subprocess.Popen([str(BIN / "caddy"), "run", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "HOME": str(self.tmp), "XDG_DATA_HOME": str(self.tmp),
                                          "XDG_CONFIG_HOME": str(self.tmp)})
        url, https_url = f"http://127.0.0.1:{self.port}/", f"https://127.0.0.1:{self.tls_port}/"
        wait_until(lambda: _answers(url), timeout=20, every=0.05)
        # the HTTPS line answers the same app with the certificate of our CA (verified, not skipped)
        trust = ssl.create_default_context(cafile=str(self.cert.ca_file))
        wait_until(lambda: _answers(https_url, trust), timeout=20, every=0.05)
        slot_url = f"http://127.0.0.1:{self.slot_port}/"
        wait_until(lambda: _answers(slot_url), timeout=20, every=0.05)
        return url, self.proc.pid, https_url, slot_url

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        try:
            with httpx.Client(transport=httpx.HTTPTransport(uds=self.admin), trust_env=False) as admin:
                admin.post("http://localhost/stop", timeout=5)
        except httpx.HTTPError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _answers(url: str, verify: ssl.SSLContext | bool = True) -> bool:
    try:
        return httpx.get(url, timeout=1, verify=verify).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
