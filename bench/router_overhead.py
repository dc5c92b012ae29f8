"""Router overhead: requests/s through Caddy vs straight to the app instance, same run, same wrk settings.

The app is deployed by Slipway; the direct run targets the instance's own port (`slipway ps APP --json`).
Target: through-Caddy rps / direct rps >= 0.7. By default the app is the small asyncio responder (so the
app is not what limits both runs); --stdlib-app uses the ThreadingHTTPServer app of the tests instead.
Note that wrk, Caddy and the app share the machine's cores: with few cores, part of the gap is Caddy's own
CPU taken from the app, which is what a single-host deployment pays too.

Usage: .venv/bin/python bench/router_overhead.py [--threads 2] [--connections 32] [--seconds 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from harness import BIN, Repo, WrkResult, app_files, free_port, median, platform, report, row, wait_until, wrk

APP = "fast"
TARGET = 0.7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="alternate direct/Caddy runs this many times")
    parser.add_argument("--stdlib-app", action="store_true")
    args = parser.parse_args()
    opts = {"threads": args.threads, "connections": args.connections, "seconds": args.seconds}

    with platform("router-overhead") as sw:
        repo = Repo(sw.tmp / "repo", app_files("1", fast=not args.stdlib_app))
        sw.create_app(APP, repo)
        sw.cli("deploy", APP)
        port = sw.instance_port(APP)
        direct_url, router_url = f"http://127.0.0.1:{port}/", sw.router_url + "/"
        # both paths answer the same app before we measure
        assert httpx.get(direct_url).json()["version"] == "1"
        assert httpx.get(router_url, headers={"Host": sw.host(APP)}).json()["version"] == "1"
        app_pid = int(sw.cli_json("ps", APP)[0]["pid"])
        pids = {"app": app_pid, "caddy": sw.caddy_pid() or 0}
        with bare_caddy(sw.tmp, port) as bare_url:
            wrk(direct_url, threads=1, connections=4, seconds=1)  # warm-up
            wrk(router_url, host=sw.host(APP), threads=1, connections=4, seconds=1)
            wrk(bare_url, threads=1, connections=4, seconds=1)
            direct, routed, bare = [], [], []
            for _ in range(args.rounds):
                direct.append(measured("direct ", lambda: wrk(direct_url, **opts), pids))
                routed.append(measured("slipway", lambda: wrk(router_url, host=sw.host(APP), **opts), pids))
                bare.append(measured("bare   ", lambda: wrk(bare_url, **opts), pids | {"caddy": bare_pid(sw.tmp)}))

    d_rps, r_rps = median([x.rps for x in direct]), median([x.rps for x in routed])
    ratio = r_rps / d_rps
    errors = sum(x.non_2xx + x.socket_errors for x in direct + routed + bare)
    rows = [
        row("requests/s through Caddy", r_rps, "req/s", target=f"ratio >= {TARGET:g}", met=ratio >= TARGET,
            baseline=d_rps, ratio=ratio),
        row("requests/s direct to the instance (baseline)", d_rps, "req/s"),
        row("requests/s through a bare Caddy (min. config)", median([x.rps for x in bare]), "req/s",
            baseline=d_rps, ratio=median([x.rps for x in bare]) / d_rps),
        row("p99 latency through Caddy", median([x.p99_ms for x in routed]), "ms",
            baseline=median([x.p99_ms for x in direct]),
            ratio=median([x.p99_ms for x in routed]) / median([x.p99_ms for x in direct])),
        row("errors (non-2xx + socket), all runs", errors, "req"),
    ]
    report("router_overhead", rows, {"wrk": opts, "app": "stdlib" if args.stdlib_app else "asyncio",
                                     "cpus": os.cpu_count(),
                                     "direct": [vars(x) | {"raw": None} for x in direct],
                                     "caddy": [vars(x) | {"raw": None} for x in routed],
                                     "bare_caddy": [vars(x) | {"raw": None} for x in bare]})
    return 0


def measured(label: str, run: Callable[[], WrkResult], pids: dict[str, int]) -> WrkResult:
    """Run wrk and print its figures with the CPU the app and Caddy used meanwhile (% of one core)."""
    procs = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
    before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
    t0 = time.monotonic()
    result = run()
    elapsed = time.monotonic() - t0
    cpu = {name: 100 * (sum(p.cpu_times()[:2]) - before[name]) / elapsed for name, p in procs.items()}
    print(f"{label}: {result.rps:9.0f} req/s  p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
          f"errors {result.non_2xx + result.socket_errors}  CPU "
          + ", ".join(f"{name} {pct:.0f}%" for name, pct in cpu.items()))
    return result


class bare_caddy:  # noqa: N801 (a context manager used like a function)
    """A second Caddy with the smallest reverse_proxy config in front of the same instance: tells Caddy's
    own cost apart from what our rendered config adds."""

    def __init__(self, tmp: Path, upstream_port: int) -> None:
        self.tmp, self.port, self.admin = tmp, free_port(), f"127.0.0.1:{free_port()}"
        config = {"admin": {"listen": self.admin}, "apps": {"http": {"servers": {"bare": {
            "listen": [f"127.0.0.1:{self.port}"], "automatic_https": {"disable": True},
            "routes": [{"handle": [{"handler": "reverse_proxy",
                                    "upstreams": [{"dial": f"127.0.0.1:{upstream_port}"}]}]}]}}}}}
        (tmp / "bare-caddy.json").write_text(json.dumps(config))
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.proc = subprocess.Popen([str(BIN / "caddy"), "run", "--config", str(self.tmp / "bare-caddy.json"),
                                      "--pidfile", str(self.tmp / "bare-caddy.pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}/"
        wait_until(lambda: _answers(url), timeout=20, every=0.05)
        return url

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        try:
            httpx.post(f"http://{self.admin}/stop", timeout=5)
        except httpx.HTTPError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def bare_pid(tmp: Path) -> int:
    return int((tmp / "bare-caddy.pid").read_text().strip())


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
