"""Zero downtime for docker-runtime apps: steady load through Caddy on two Dockerfile apps while one is
redeployed 19 times and rolled back once (20 switches), exactly as bench/zero_downtime.py does for local apps.

Targets (both apps): 0 failed requests from a client that never retries or reconnects on its own; the
bystander's WebSocket survives; p99 and max latency around each switch <= 2x steady (same run).
Exits 1 if any request failed.

Usage: .venv/bin/python bench/docker_zero_downtime.py [--rate 200] [--connections 8] [--steady 10]
       [--switches 20] [--lenient]
"""

from __future__ import annotations

import argparse
import secrets
import sys

from docker_common import docker_app_files, engine, remove_app
from harness import Repo, platform, report
from switch_load import figures, run_switches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests/s through Caddy, per app")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--steady", type=float, default=10)
    parser.add_argument("--switches", type=int, default=20, help="deploys, the last one a rollback")
    parser.add_argument("--lenient", action="store_true",
                        help="replace idle connections the server closed and retry an unanswered GET once")
    args = parser.parse_args()
    host = engine()
    tag = secrets.token_hex(2)
    app, bystander = f"dsteady{tag}", f"dbystander{tag}"

    with platform("docker-zero-downtime", docker_host=host) as sw:
        try:
            repos = {}
            for name in (app, bystander):
                repos[name] = Repo(sw.tmp / f"repo-{name}", docker_app_files("1"))
                sw.cli_json("apps", "create", name, "--git", repos[name].url, "--runtime", "docker")
                sw.cli("deploy", name, timeout=600)

            def switch(number: int) -> int:
                if number == args.switches - 1:
                    return int(sw.cli_json("rollback", app)["id"])
                repos[app].commit({"version.txt": f"{number + 2}\n"}, f"v{number + 2}")
                return int(sw.cli_json("deploy", app)["id"])

            run = run_switches(sw, app, bystander, switch, switches=args.switches, rate=args.rate,
                               connections=args.connections, steady=args.steady, strict=not args.lenient)
        finally:
            remove_app(host, app)
            remove_app(host, bystander)

    rows, details, failed = figures(run, prefix="docker: ")
    report("docker_zero_downtime", rows, {**details, "rate_per_app": args.rate,
                                          "connections_per_app": args.connections,
                                          "client": "lenient" if args.lenient else "strict (no retry, no reconnect)"})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
