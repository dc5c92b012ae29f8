"""Custom domain to HTTPS: from spawning `slipway domains add APP NAME` to the first HTTPS answer of the app
for NAME, with a real ACME CA (Pebble, Debian's `pebble` package) and pebble-challtestsrv as the DNS server
that both the domain doctor and Pebble ask. No target: the figure is what a user waits for.

Each round adds a new name (round<i>.shop.test, which challtestsrv resolves to 127.0.0.1) and polls every
20 ms, in the same run: plain HTTP through Caddy for that name (the baseline: CLI start-up, the route
change and the domain doctor, everything but the certificate), and HTTPS with Pebble's root trusted and
the name as SNI. Ratio = HTTPS / HTTP: what obtaining the certificate adds. Pebble runs on this host and
does not sleep before validating (PEBBLE_VA_NOSLEEP), so a public CA adds its network round trips.

Usage: .venv/bin/python bench/domains_https.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from harness import SLIPWAY, Repo, Slipway, app_files, cleanup_on_signals, median, report, row, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/pebble.py: Pebble and challtestsrv
from tests.pebble import available, running_pebble  # noqa: E402

APP = "shop"


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with `name` as SNI and Host: the name need not resolve on this host."""

    def __init__(self, name: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(name, port, context=context, timeout=2)
        self._ctx = context

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self.host)


def https_ok(name: str, port: int, context: ssl.SSLContext) -> bool:
    conn = _PinnedHTTPS(name, port, context)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status == 200
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def http_ok(client: httpx.Client, port: int, name: str) -> bool:
    try:
        return client.get(f"http://127.0.0.1:{port}/", headers={"Host": name}).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not available():
        print("needs pebble and pebble-challtestsrv (apt-get install pebble)", file=sys.stderr)
        return 2
    http_times: list[float] = []
    https_times: list[float] = []
    with cleanup_on_signals():
        sw = Slipway("domains-https")
        https_port = int(sw.env["SLIPWAY_HTTPS_PORT"])
        try:
            with running_pebble(sw.tmp / "pebble", http_port=sw.http_port, tls_port=https_port) as pebble:
                sw.env.update({"SLIPWAY_ACME_CA": pebble.directory, "SLIPWAY_ACME_CA_ROOT": str(pebble.api_ca),
                               "SLIPWAY_DNS_RESOLVERS": pebble.dns, "SLIPWAY_PUBLIC_IPS": "127.0.0.1",
                               "SLIPWAY_ACME_CAA_IDENTITIES": "pebble.test"})
                sw.start()
                sw.login()
                sw.create_app(APP, Repo(sw.tmp / "repo", app_files("1")))
                sw.cli("deploy", APP)
                trust = ssl.create_default_context(cafile=str(pebble.root_pem()))
                with httpx.Client(timeout=2) as client:
                    for i in range(1, args.rounds + 1):
                        name = f"round{i}.shop.test"
                        t0 = time.monotonic()
                        add = subprocess.Popen([SLIPWAY, "domains", "add", APP, name, "--json"], env=sw.env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                        wait_until(lambda n=name: http_ok(client, sw.http_port, n), timeout=60, every=0.02)
                        http_times.append(time.monotonic() - t0)
                        wait_until(lambda n=name: https_ok(n, https_port, trust), timeout=120, every=0.02)
                        https_times.append(time.monotonic() - t0)
                        _, err = add.communicate(timeout=60)
                        assert add.returncode == 0, err
                        print(f"{name}: HTTP after {http_times[-1]:.2f}s, HTTPS after {https_times[-1]:.2f}s")
        except BaseException:
            print(f"--- server log ({sw.tmp}) ---\n{sw.server_log()}", file=sys.stderr)
            raise
        finally:
            sw.close()
    med, base = median(https_times), median(http_times)
    rows = [row("domains add → first HTTPS answer (Pebble), median", med, "s", baseline=base, ratio=med / base),
            row("domains add → first HTTPS answer, worst", max(https_times), "s"),
            row("domains add → first HTTP answer (baseline), median", base, "s")]
    report("domains_https", rows, {"https": https_times, "http": http_times})
    return 0


if __name__ == "__main__":
    sys.exit(main())
