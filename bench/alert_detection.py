"""Detection to delivery: a health check going down reaches a webhook receiver on loopback within
2 check intervals + 2 s.

A real `slipway server` (product defaults, SQLite, local runtime) runs an app whose /health answers 200
until a flag file exists, then 500. The app has an HTTP health check (`--interval` seconds, the smallest
the API accepts is 5; retries 1: the first failure is "down"), and a signed-webhook channel to a loopback
receiver with a rule on health.down. The bench creates the flag file — the app is broken from that
instant — and measures until the receiver gets the health.down message; then it removes the flag and
measures health.recovered the same way. Repeated `--rounds` times.

Bound: 2 × interval + 2 s (a failure can start just after a probe: one interval to be seen, the dispatcher
and a delivery worker on top). Baseline: the check interval itself (the average wait for the next probe
is half of it). The split says where the time goes: failure → health.down event (the probe schedule), and
event → receiver (dispatcher + delivery: what notifications add).

    .venv/bin/python bench/alert_detection.py [--interval 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from harness import Repo, app_files, percentile, platform, report, row, wait_until  # noqa: E402

SECRET = "bench-secret-0123456789abcdefghij"


class Receiver:
    """Records (arrival time, body) of every signed webhook."""

    def __init__(self) -> None:
        from slipway.notify import signing

        self.got: list[tuple[float, dict]] = []
        self.bad = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                at = time.time()
                ok = signing.verify(SECRET, body=body, timestamp=self.headers.get("X-Slipway-Timestamp", ""),
                                    signature=self.headers.get("X-Slipway-Signature", ""))
                with receiver.lock:
                    receiver.got.append((at, json.loads(body)))
                    receiver.bad += not ok
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slipway"

    def first(self, kind: str, after: float) -> tuple[float, dict] | None:
        with self.lock:
            return next(((t, b) for t, b in self.got if b.get("kind") == kind and t >= after), None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def flagged_app(flag: Path) -> dict[str, str]:
    """The harness app, whose /health answers 500 while `flag` exists."""
    files = app_files("1")
    files["app.py"] = files["app.py"].replace(
        "    def do_GET(self):\n",
        "    def do_GET(self):\n"
        f"        if self.path == '/health' and os.path.exists({str(flag)!r}):\n"
        "            self.send_response(500)\n"
        "            self.send_header('Content-Length', '4')\n"
        "            self.end_headers()\n"
        "            self.wfile.write(b'down')\n"
        "            return\n")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=5.0, help="check interval, seconds (>= 5)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bound = 2 * args.interval + 2
    receiver = Receiver()
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-alert-"))
    flag = work / "broken"
    down: list[float] = []
    down_event: list[float] = []
    up: list[float] = []
    try:
        with platform("alert", egress_allow=f"127.0.0.1:{receiver.server.server_address[1]}") as sw:
            api = httpx.Client(base_url=sw.api_url + "/api/v1", timeout=30,
                               headers={"Authorization": f"Bearer {sw.env['SLIPWAY_TOKEN']}"})
            repo = Repo(work / "repo", flagged_app(flag))
            sw.create_app("watched", repo)
            sw.cli("deploy", "watched")
            api.post("/channels", json={"name": "hook", "type": "webhook",
                                        "config": {"url": receiver.url, "secret": SECRET}}).raise_for_status()
            api.post("/rules", json={"event": "health.*", "app": "watched", "channels": ["hook"]}).raise_for_status()
            api.post("/apps/watched/checks", json={"name": "health", "kind": "http", "target": "/health",
                                                   "interval": args.interval, "timeout": 2,
                                                   "retries": 1}).raise_for_status()
            # healthy first: the check must have run once and be up
            wait_until(lambda: any(c["state"] == "healthy" for c in api.get("/apps/watched/checks").json()),
                       timeout=4 * args.interval + 10, every=0.2)
            for i in range(args.rounds):
                time.sleep(args.interval * (0.3 + 0.5 * i / max(args.rounds - 1, 1)))  # vary the phase
                broke = time.time()
                flag.touch()
                at, body = wait_until(lambda t=broke: receiver.first("health.down", t), timeout=bound * 3, every=0.01)
                down.append(at - broke)
                event_at = dt.datetime.fromisoformat(body["created_at"]).timestamp()
                down_event.append(at - event_at)
                print(f"round {i + 1}: health.down at the receiver {at - broke:.2f} s after the failure "
                      f"(event → receiver {at - event_at:.3f} s)", flush=True)
                fixed = time.time()
                flag.unlink()
                at, _ = wait_until(lambda t=fixed: receiver.first("health.recovered", t), timeout=bound * 3, every=0.01)
                up.append(at - fixed)
                print(f"round {i + 1}: health.recovered {at - fixed:.2f} s after the fix", flush=True)
    finally:
        receiver.close()
    rows = [
        row("failure → health.down at receiver (max)", max(down), "s", target=f"<= {bound:g} s (2 × interval + 2)",
            met=max(down) <= bound, baseline=args.interval, ratio=max(down) / args.interval),
        row("failure → health.down at receiver (median)", percentile(down, 50), "s", baseline=args.interval,
            ratio=percentile(down, 50) / args.interval),
        row("health.down event → receiver (max)", max(down_event), "s", target="dispatcher + delivery"),
        row("fix → health.recovered at receiver (max)", max(up), "s", target=f"<= {bound:g} s",
            met=max(up) <= bound),
        row("bad signatures", receiver.bad, "", target="= 0", met=receiver.bad == 0),
    ]
    report("alert_detection", rows, {"interval": args.interval, "rounds": args.rounds, "down_s": down,
                                     "event_to_receiver_s": down_event, "recovered_s": up})
    return 0 if all(r["met"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
