"""Zero-downtime deploys: steady load through Caddy while the app is redeployed 5 times and rolled back once.

Targets: 0 failed requests (any non-2xx, reset, EOF or timeout), and p99 latency during the deploys
<= 2x the p99 of the same load measured just before them (the baseline, same run).

Load: PacedLoad (harness.py), an asyncio HTTP/1.1 keep-alive client sending a fixed rate over a few
connections and recording every request; latency is counted from each request's scheduled send time.
Exits 1 if any request failed.

Usage: .venv/bin/python bench/zero_downtime.py [--rate 200] [--connections 8] [--steady 10] [--redeploys 5]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

from harness import PacedLoad, Repo, Sample, app_files, percentile, platform, report, row

APP = "steady"


def summary(samples: list[Sample]) -> dict[str, object]:
    latencies = [s.latency * 1000 for s in samples]
    failures = [s for s in samples if not s.ok]
    return {"requests": len(samples), "failed": len(failures),
            "failures": dict(collections.Counter(s.detail for s in failures)),
            "served": dict(collections.Counter(s.detail for s in samples if s.ok)),
            "p50_ms": round(percentile(latencies, 50), 3), "p99_ms": round(percentile(latencies, 99), 3),
            "p999_ms": round(percentile(latencies, 99.9), 3), "max_ms": round(max(latencies, default=0), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests/s through Caddy (default 200)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--steady", type=float, default=10, help="seconds of steady load before the deploys")
    parser.add_argument("--redeploys", type=int, default=5)
    parser.add_argument("--stdlib-app", action="store_true",
                        help="use the stdlib ThreadingHTTPServer app instead of the asyncio one")
    parser.add_argument("--strict", action="store_true",
                        help="count requests sent on idle connections the server already closed as failures")
    args = parser.parse_args()

    with platform("zero-downtime") as sw:
        repo = Repo(sw.tmp / "repo", app_files("1", fast=not args.stdlib_app))
        sw.create_app(APP, repo)
        sw.cli("deploy", APP)

        load = PacedLoad(sw.http_port, sw.host(APP), rate=args.rate, connections=args.connections,
                         strict=args.strict).start()
        try:
            time.sleep(2)  # warm-up: connections open, Caddy's upstream pool filled
            steady_from = load.mark()
            time.sleep(args.steady)
            deploys_from = load.mark()
            timings, deploy_ids = [], []
            for version in range(2, 2 + args.redeploys):
                repo.commit({"version.txt": f"{version}\n"}, f"v{version}")
                t0 = time.monotonic()
                deploy_ids.append(sw.cli_json("deploy", APP)["id"])
                timings.append(("deploy", version, round(time.monotonic() - t0, 2)))
                print(f"deploy v{version}: {timings[-1][2]:.1f}s, {len(load.samples) - deploys_from} requests so far")
            t0 = time.monotonic()
            deploy_ids.append(sw.cli_json("rollback", APP)["id"])
            timings.append(("rollback", args.redeploys, round(time.monotonic() - t0, 2)))
            print(f"rollback: {timings[-1][2]:.1f}s")
            deploys_to = load.mark()
            time.sleep(1)  # requests in flight at the end still count
        finally:
            samples = load.stop()
        marks = sorted(m for i in deploy_ids for m in sw.step_marks(APP, i))

    warmup, steady, during = samples[:steady_from], samples[steady_from:deploys_from], samples[deploys_from:]
    s, d, w = summary(steady), summary(during), summary(warmup)
    failed = s["failed"] + d["failed"] + w["failed"]  # type: ignore[operator]
    ratio = d["p99_ms"] / s["p99_ms"]  # type: ignore[operator]
    print(f"steady : {s}")
    print(f"deploys: {d}")
    print(f"idle keep-alive connections closed by the server and reopened: {load.reconnects}")
    print(f"GETs retried after the server closed their connection unanswered (RFC 9112 9.3.1): {load.retried}")
    if w["failed"]:
        print(f"warm-up: {w}")
    by_step: dict[str, list[float]] = collections.defaultdict(list)
    for x in during:  # which part of a deploy the slow requests fall in
        step = max((m for m in marks if m[0] <= x.sent), default=(0.0, "before"))[1].split(" ")[0]
        by_step[step].append(x.latency * 1000)
    print("p99 by deploy step (ms): " + ", ".join(
        f"{k} {percentile(v, 99):.1f} (n={len(v)})" for k, v in sorted(by_step.items(), key=lambda kv: -len(kv[1]))))
    for x in [x for x in samples if not x.ok][:20]:  # when, relative to the deploy steps
        step = max((m for m in marks if m[0] <= x.sent), default=(x.sent, "before the deploys"))
        print(f"failed: {x.detail} sent {x.sent - step[0]:+.3f}s after '{step[1]}'")

    rows = [
        row("failed requests (all phases)", failed, "req", target="== 0", met=failed == 0),
        row("requests during deploys", d["requests"], "req"),  # type: ignore[arg-type]
        row("p99 latency during deploys", d["p99_ms"], "ms", target="<= 2x steady p99",  # type: ignore[arg-type]
            met=ratio <= 2.0, baseline=s["p99_ms"], ratio=ratio),  # type: ignore[arg-type]
        row("p99 latency steady (baseline)", s["p99_ms"], "ms"),  # type: ignore[arg-type]
        row("max latency during deploys", d["max_ms"], "ms", baseline=s["max_ms"]),  # type: ignore[arg-type]
    ]
    report("zero_downtime", rows, {"steady": s, "deploys": d, "warmup": w, "deploy_timings_s": timings,
                                   "rate": args.rate, "connections": args.connections,
                                   "idle_connections_closed_by_server": load.reconnects,
                                   "retried_on_closed_connection": load.retried,
                                   "deploys_to_index": deploys_to,
                                   "p99_ms_by_step": {k: percentile(v, 99) for k, v in by_step.items()}})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
