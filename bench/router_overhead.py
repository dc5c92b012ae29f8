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
import os
import sys

import httpx

from harness import Repo, app_files, median, platform, report, row, wrk

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
        wrk(direct_url, threads=1, connections=4, seconds=1)  # warm-up
        wrk(router_url, host=sw.host(APP), threads=1, connections=4, seconds=1)
        direct, routed = [], []
        for _ in range(args.rounds):
            direct.append(wrk(direct_url, **opts))
            print(f"direct : {direct[-1].rps:9.0f} req/s  p50 {direct[-1].p50_ms:.2f} ms  p99 {direct[-1].p99_ms:.2f} ms"
                  f"  errors {direct[-1].non_2xx + direct[-1].socket_errors}")
            routed.append(wrk(router_url, host=sw.host(APP), **opts))
            print(f"caddy  : {routed[-1].rps:9.0f} req/s  p50 {routed[-1].p50_ms:.2f} ms  p99 {routed[-1].p99_ms:.2f} ms"
                  f"  errors {routed[-1].non_2xx + routed[-1].socket_errors}")

    d_rps, r_rps = median([x.rps for x in direct]), median([x.rps for x in routed])
    ratio = r_rps / d_rps
    errors = sum(x.non_2xx + x.socket_errors for x in direct + routed)
    rows = [
        row("requests/s through Caddy", r_rps, "req/s", target=f"ratio >= {TARGET:g}", met=ratio >= TARGET,
            baseline=d_rps, ratio=ratio),
        row("requests/s direct to the instance (baseline)", d_rps, "req/s"),
        row("p99 latency through Caddy", median([x.p99_ms for x in routed]), "ms",
            baseline=median([x.p99_ms for x in direct]),
            ratio=median([x.p99_ms for x in routed]) / median([x.p99_ms for x in direct])),
        row("errors (non-2xx + socket), both runs", errors, "req"),
    ]
    report("router_overhead", rows, {"wrk": opts, "app": "stdlib" if args.stdlib_app else "asyncio",
                                     "cpus": os.cpu_count(),
                                     "direct": [vars(x) | {"raw": None} for x in direct],
                                     "caddy": [vars(x) | {"raw": None} for x in routed]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
