"""1,000 notifications queued at once to a slow receiver (200 ms per request): all delivered, none twice,
with bounded concurrency.

A real `slipway server` (product defaults, SQLite) gets a signed-webhook channel pointing at a loopback
receiver that sleeps 200 ms per request, and a rule `deploy.failed` → that channel. The bench then writes
1,000 deploy.failed events into the outbox in one transaction (what a burst of failures looks like to the
dispatcher), and the server's own dispatcher and delivery workers do the rest. The receiver counts
deliveries by X-Slipway-Delivery (duplicates), checks every signature, and records the highest number of
requests it had in flight at once.

Baseline, in the same run: the same receiver, the same request, sent one after the other by a single
client (25 of them, extrapolated to 1,000) — what a notifier without a worker pool would take. The
theoretical floor with N delivery workers is 1,000 × 200 ms / N.

    .venv/bin/python bench/notify_throughput.py [--count 1000] [--delay 0.2] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from harness import platform, report, row, wait_until  # noqa: E402

SECRET = "bench-secret-0123456789abcdefghij"


class SlowReceiver:
    def __init__(self, delay: float) -> None:
        from slipway.notify import signing

        self.delay = delay
        self.counts: dict[str, int] = {}
        self.bad_signatures = 0
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                time.sleep(receiver.delay)
                ok = signing.verify(SECRET, body=body, timestamp=self.headers.get("X-Slipway-Timestamp", ""),
                                    signature=self.headers.get("X-Slipway-Signature", ""))
                with receiver.lock:
                    receiver.in_flight -= 1
                    key = self.headers.get("X-Slipway-Delivery", "?")
                    receiver.counts[key] = receiver.counts.get(key, 0) + 1
                    receiver.bad_signatures += not ok
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.max_in_flight = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sequential_baseline(receiver: SlowReceiver, n: int) -> float:
    """Seconds per notification sent one after the other (same body shape, same signature)."""
    from slipway.notify import signing

    body = b'{"kind":"deploy.failed","title":"baseline"}'
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            now = int(time.time())
            client.post(receiver.url, content=body, headers={
                "Content-Type": "application/json", "X-Slipway-Delivery": f"baseline-{i}",
                "X-Slipway-Timestamp": str(now), "X-Slipway-Signature": signing.sign(SECRET, now, body)})
    return (time.monotonic() - started) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the receiver takes per request")
    parser.add_argument("--workers", type=int, default=None, help="SLIPWAY_NOTIFY_WORKERS (default: product's)")
    args = parser.parse_args()
    receiver = SlowReceiver(args.delay)
    settings = {"notify_workers": str(args.workers)} if args.workers else {}
    settings["egress_allow"] = f"127.0.0.1:{receiver.server.server_address[1]}"  # the receiver is on loopback
    try:
        with platform("notify", **settings) as sw:
            from slipway.config import Settings

            workers = args.workers or Settings.model_fields["notify_workers"].default
            client = httpx.Client(base_url=sw.api_url + "/api/v1", timeout=30,
                                  headers={"Authorization": f"Bearer {sw.env['SLIPWAY_TOKEN']}"})
            client.post("/channels", json={"name": "slow", "type": "webhook",
                                           "config": {"url": receiver.url, "secret": SECRET}}).raise_for_status()
            client.post("/rules", json={"event": "deploy.failed", "channels": ["slow"]}).raise_for_status()
            time.sleep(1.5)  # the rule exists before the burst (a rule applies to events after its creation)

            per_send = sequential_baseline(receiver, 25)
            receiver.reset()

            import slipway.models  # noqa: F401  (every table, for the foreign keys)
            from slipway import events
            from slipway.db import make_engine, session_factory, transaction

            engine = make_engine(f"sqlite:///{sw.home / 'slipway.db'}")
            print(f"queueing {args.count} notifications at once; receiver takes {args.delay * 1000:.0f} ms each, "
                  f"{workers} delivery workers", flush=True)
            started = time.monotonic()
            with transaction(session_factory(engine)) as session:
                for i in range(args.count):
                    events.emit(session, "deploy.failed", actor="bench", reason=f"burst {i}")
            engine.dispose()
            wait_until(lambda: len(receiver.counts) >= args.count, timeout=args.count * args.delay + 120,
                       every=0.05)
            wall = time.monotonic() - started
            time.sleep(2 * args.delay + 1)  # anything sent twice would arrive now
            sent = client.get("/deliveries", params={"status": "sent", "limit": 1}).json()
            duplicates = sum(c - 1 for c in receiver.counts.values())
    finally:
        receiver.close()
    floor = args.count * args.delay / workers
    sequential = per_send * args.count
    rows = [
        row("delivered (distinct deliveries)", len(receiver.counts), "", target=f"= {args.count}",
            met=len(receiver.counts) == args.count),
        row("delivered twice", duplicates, "", target="= 0", met=duplicates == 0),
        row("bad signatures", receiver.bad_signatures, "", target="= 0", met=receiver.bad_signatures == 0),
        row("max concurrent requests at the receiver", receiver.max_in_flight, "",
            target=f"<= {workers} (workers)", met=receiver.max_in_flight <= workers),
        row("wall time, burst → last delivery", wall, "s", baseline=sequential, ratio=sequential / wall),
        row("vs theoretical floor (count × delay / workers)", wall, "s", baseline=floor, ratio=wall / floor),
    ]
    report("notify_throughput", rows, {"count": args.count, "delay": args.delay, "workers": workers,
                                       "sequential_per_send_s": per_send, "last_sent": sent[:1]})
    return 0 if all(r["met"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
