"""Zero downtime for a docker-runtime app: steady load through Caddy during 5 redeploys (Dockerfile builds)
and 1 rollback, exactly as bench/zero_downtime.py does for a local app.

Targets: 0 failed requests; p99 during the deploys <= 2x the p99 of the same load just before (baseline,
same run). Exits 1 if any request failed.

Usage: .venv/bin/python bench/docker_zero_downtime.py [--rate 200] [--connections 8] [--steady 10] [--redeploys 5]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

from docker_common import docker_app_files, engine, remove_app
from harness import PacedLoad, Repo, platform, report, row
from zero_downtime import summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--steady", type=float, default=10)
    parser.add_argument("--redeploys", type=int, default=5)
    args = parser.parse_args()
    host = engine()
    app = f"dsteady{secrets.token_hex(2)}"

    with platform("docker-zero-downtime", docker_host=host) as sw:
        try:
            repo = Repo(sw.tmp / "repo", docker_app_files("1"))
            sw.cli_json("apps", "create", app, "--git", repo.url, "--runtime", "docker")
            sw.cli("deploy", app, timeout=600)
            load = PacedLoad(sw.http_port, sw.host(app), rate=args.rate, connections=args.connections).start()
            try:
                time.sleep(2)
                steady_from = load.mark()
                time.sleep(args.steady)
                deploys_from = load.mark()
                timings = []
                for version in range(2, 2 + args.redeploys):
                    repo.commit({"version.txt": f"{version}\n"}, f"v{version}")
                    t0 = time.monotonic()
                    sw.cli_json("deploy", app)
                    timings.append(("deploy", version, round(time.monotonic() - t0, 2)))
                    print(f"deploy v{version}: {timings[-1][2]:.1f}s")
                t0 = time.monotonic()
                sw.cli_json("rollback", app)
                timings.append(("rollback", args.redeploys, round(time.monotonic() - t0, 2)))
                print(f"rollback: {timings[-1][2]:.1f}s")
                time.sleep(1)
            finally:
                samples = load.stop()
        finally:
            remove_app(host, app)

    warmup, steady, during = samples[:steady_from], samples[steady_from:deploys_from], samples[deploys_from:]
    s, d, w = summary(steady), summary(during), summary(warmup)
    failed = s["failed"] + d["failed"] + w["failed"]  # type: ignore[operator]
    ratio = d["p99_ms"] / s["p99_ms"] if s["p99_ms"] else 0.0  # type: ignore[operator]
    print(f"steady : {s}")
    print(f"deploys: {d}")
    for x in [x for x in samples if not x.ok][:20]:
        print(f"failed: {x.detail}")
    rows = [
        row("docker: failed requests (all phases)", failed, "req", target="== 0", met=failed == 0),
        row("docker: requests during deploys", d["requests"], "req"),  # type: ignore[arg-type]
        row("docker: p99 latency during deploys", d["p99_ms"], "ms", target="<= 2x steady p99",  # type: ignore[arg-type]
            met=ratio <= 2.0, baseline=s["p99_ms"], ratio=ratio),  # type: ignore[arg-type]
        row("docker: p99 latency steady (baseline)", s["p99_ms"], "ms"),  # type: ignore[arg-type]
    ]
    report("docker_zero_downtime", rows, {"steady": s, "deploys": d, "warmup": w, "deploy_timings_s": timings,
                                          "rate": args.rate, "connections": args.connections})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
