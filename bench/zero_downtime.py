"""Zero-downtime switches: steady load through Caddy on two apps while one is redeployed 19 times and rolled
back once (20 traffic switches); the other, a bystander, is measured in the same run.

Targets, for the deployed app and the bystander: 0 failed requests (any non-2xx, reset, EOF or timeout) from a
client that never retries and never reconnects on its own (connections reopened after a failure are a
figure too); a WebSocket to the bystander survives every switch (the deployed app's WebSocket ends when the
old instance it is tunnelled to is stopped, once per switch: counted, not a target); p99 and max latency in
the seconds around each switch <= 2x the same load's steady p99 and max (baseline, same run).

Load: PacedLoad (harness.py), an asyncio HTTP/1.1 keep-alive client sending a fixed rate over a few
connections per app and recording every request; latency is counted from each request's scheduled send time.
Exits 1 if any request failed.

Usage: .venv/bin/python bench/zero_downtime.py [--rate 200] [--connections 8] [--steady 10] [--switches 20]
       [--lenient] [--stdlib-app]
"""

from __future__ import annotations

import argparse
import sys

from harness import Repo, app_files, platform, report
from switch_load import figures, run_switches

APP, BYSTANDER = "steady", "bystander"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests/s through Caddy, per app (default 200)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections per app")
    parser.add_argument("--steady", type=float, default=10, help="seconds of steady load before the switches")
    parser.add_argument("--switches", type=int, default=20, help="deploys, the last one a rollback (default 20)")
    parser.add_argument("--stdlib-app", action="store_true",
                        help="use the stdlib ThreadingHTTPServer app (no WebSocket) instead of the asyncio one")
    parser.add_argument("--lenient", action="store_true",
                        help="client behaves like a forgiving HTTP library: replace idle connections the server "
                             "closed, retry a GET once when its kept-alive connection closed unanswered (counted)")
    args = parser.parse_args()

    with platform("zero-downtime") as sw:
        repos = {}
        for name in (APP, BYSTANDER):
            repos[name] = Repo(sw.tmp / f"repo-{name}", app_files("1", fast=not args.stdlib_app))
            sw.create_app(name, repos[name])
            sw.cli("deploy", name)

        def switch(number: int) -> int:
            if number == args.switches - 1:
                return int(sw.cli_json("rollback", APP)["id"])
            repos[APP].commit({"version.txt": f"{number + 2}\n"}, f"v{number + 2}")
            return int(sw.cli_json("deploy", APP)["id"])

        run = run_switches(sw, APP, BYSTANDER, switch, switches=args.switches, rate=args.rate,
                           connections=args.connections, steady=args.steady, strict=not args.lenient)

    rows, details, failed = figures(run)
    report("zero_downtime", rows, {**details, "rate_per_app": args.rate, "connections_per_app": args.connections,
                                   "client": "lenient" if args.lenient else "strict (no retry, no reconnect)"})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
