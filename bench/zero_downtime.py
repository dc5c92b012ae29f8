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

HTTPS (the default; --no-https to leave it out): each app also gets a custom domain (`<app>.https.test`) with
a certificate of a CA made for the run, uploaded with `slipway certs upload` (SLIPWAY_ACME_CA_ROOT trusts
that CA); the same no-retry clients and a wss:// WebSocket run over HTTPS through Slipway's Caddy, at the same
rate, beside the HTTP ones, and every figure is reported for both. Uploading (not ACME) keeps a CA out of the
measured run; the switch reaches both servers through the same slot files.

Usage: .venv/bin/python bench/zero_downtime.py [--rate 200] [--connections 8] [--steady 10] [--switches 20]
       [--lenient] [--stdlib-app] [--no-https]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import ssl
import sys
import tempfile
from pathlib import Path

import tls_cert
from harness import Repo, Slipway, app_files, platform, report
from switch_load import Https, figures, run_switches

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
    parser.add_argument("--no-https", action="store_true", help="measure over HTTP only")
    args = parser.parse_args()
    certs = Path(tempfile.mkdtemp(prefix="slipway-bench-ca-"))
    try:
        return run(args, certs)
    finally:
        shutil.rmtree(certs, ignore_errors=True)


def run(args: argparse.Namespace, certs: Path) -> int:
    hosts = {name: f"{name}.https.test" for name in (APP, BYSTANDER)}
    ca_file, files = tls_cert.make_for_upload(certs, tuple(hosts.values()))
    with platform("zero-downtime", acme_ca_root=str(ca_file)) as sw:
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

        https = None if args.no_https else serve_over_https(sw, hosts, files, ca_file)
        result = run_switches(sw, APP, BYSTANDER, switch, switches=args.switches, rate=args.rate,
                              connections=args.connections, steady=args.steady, strict=not args.lenient,
                              https=https)

    rows, details, failed = figures(result)
    report("zero_downtime", rows, {**details, "rate_per_app": args.rate, "connections_per_app": args.connections,
                                   "client": "lenient" if args.lenient else "strict (no retry, no reconnect)"})
    return 1 if failed else 0



def serve_over_https(sw: Slipway, hosts: dict[str, str], files: dict[str, tuple[Path, Path]],
                     ca_file: Path) -> Https:
    """Each app's custom domain with its uploaded certificate, checked to answer over HTTPS before measuring
    (adding a domain reloads Caddy: done before any traffic starts)."""
    trust = ssl.create_default_context(cafile=str(ca_file))
    for app, host in hosts.items():
        sw.cli_json("domains", "add", app, host)  # the doctor fails (no DNS): the uploaded certificate serves it
        cert, key = files[host]
        sw.cli_json("certs", "upload", app, host, "--cert", str(cert), "--key", str(key))
        with socket.create_connection(("127.0.0.1", sw.https_port), timeout=10) as raw, \
                trust.wrap_socket(raw, server_hostname=host) as tls:  # verifies the chain and the name
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            status = tls.recv(64).split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise RuntimeError(f"https://{host}/ answered {status!r}")
    return Https(hosts=hosts, trust=trust)


if __name__ == "__main__":
    sys.exit(main())
