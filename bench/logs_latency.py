"""Live log latency: a line written by an app reaches an SSE subscriber of
GET /api/v1/apps/{name}/logs?follow=true in ≤ 250 ms p95.

A real supervised instance prints its own wall-clock time every 0.2 s; a real uvicorn server (the API)
streams the app's log; the subscriber (httpx) takes the difference on arrival — same machine, same clock.
Path measured: app → pipe → supervisor → out.log → follow (file poll) → SSE → client.
Baseline, same run: the same lines read by tailing out.log directly with a 10 ms poll (what the file
alone costs), so the ratio is what the API path adds.

    .venv/bin/python bench/logs_latency.py [--lines 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from harness import cleanup_on_signals, free_port, percentile, report, row
from metrics_common import add_app, bench_platform, start_instance

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.db import transaction

TICK_SCRIPT = "import time\nwhile True:\n    print('tick', repr(time.time()), flush=True); time.sleep(0.2)"
TICKER = f'{sys.executable} -u -c "{TICK_SCRIPT}"'


def tail_file(path: Path, count: int, out: list[float]) -> None:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        buffer = b""
        while len(out) < count:
            chunk = fh.read()
            if not chunk:
                time.sleep(0.01)
                continue
            now = time.time()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if b" tick " in line:
                    out.append((now - float(line.rsplit(b" ", 1)[1])) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=150)
    args = parser.parse_args()
    with cleanup_on_signals(), bench_platform() as plat:
        app_id, release_id = add_app(plat, "ticker")
        start_instance(plat, app_id=app_id, release_id=release_id, app="ticker", instance_id="ticker-web-1",
                       command=TICKER)
        with transaction(plat.sessions) as session:
            token, _ = auth_service.create_token(session, name="bench")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(platform=plat, background=False), host="127.0.0.1",
                                               port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        baseline: list[float] = []
        tailer = threading.Thread(target=tail_file, args=(plat.runtime.root / "ticker-web-1" / "out.log",  # type: ignore[attr-defined]
                                                          args.lines, baseline), daemon=True)
        ours: list[float] = []
        try:
            with httpx.Client(timeout=30) as client, client.stream(
                    "GET", f"http://127.0.0.1:{port}/api/v1/apps/ticker/logs?follow=true&lines=1",
                    headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status_code == 200, response.read()
                tailer.start()
                skipped = False
                for line in response.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    if not skipped:  # the tail sent at connect is old by design
                        skipped = True
                        continue
                    now = time.time()
                    text = json.loads(line[6:])
                    if " tick " in text:
                        ours.append((now - float(text.rsplit(" ", 1)[1])) * 1000)
                    if len(ours) >= args.lines:
                        break
            tailer.join(10)
        finally:
            server.should_exit = True
            thread.join(10)
        p95 = percentile(ours, 95)
        base95 = percentile(baseline, 95)
        report("logs_latency", [
            row("log line → SSE subscriber p95", p95, "ms", target="<= 250 ms", met=p95 <= 250, baseline=base95,
                ratio=p95 / base95 if base95 else None),
            row("log line → SSE subscriber p50", percentile(ours, 50), "ms", baseline=percentile(baseline, 50)),
            row("log line → SSE subscriber max", max(ours), "ms"),
        ], {"lines": len(ours), "baseline_lines": len(baseline), "poll_seconds": 0.1})


if __name__ == "__main__":
    main()
