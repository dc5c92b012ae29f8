"""Webhook intake: signed GitHub push deliveries that `slipway server` verifies, logs and queues, vs a bare
FastAPI endpoint that only returns 200, measured the same way in the same run.

Each request is a distinct, correctly signed push (its own X-GitHub-Delivery and commit), so every one goes
the whole way: look up the hook, decrypt its secret, check the HMAC, parse the JSON, insert the delivery
(unique id), queue the deploy (a burst coalesces into the one queued deploy: an UPDATE) and its event, commit.
The server runs with the product defaults (SQLite in WAL mode, one uvicorn process, the scheduler and its
event dispatchers running) except workers=0 and router=none, so that no deploy starts and only intake is
measured. The load generators share the 2 cores with the server.

Two phases, each first against the bare endpoint, then against ours:

1. closed loop, maximum throughput: wrk -t2 -c16 for --seconds. Each connection sends its next request
   when the previous answer arrives, so the server is always saturated: requests/s is the capacity, and the
   latencies are mostly time spent queued behind the 15 other connections (p50 ~ 16 / throughput). Its p99
   is printed, not judged: at saturation it measures the queue wrk builds, not a service level.
2. open loop at a fixed rate, the service level: --rate requests/s (default 500) for --open-seconds on a
   fixed schedule (harness.open_loop: request i is due at t0 + i/rate over --open-connections keep-alive
   connections, whatever the answers take). Latency is counted from each request's *scheduled* time, so a
   stall counts for every request it delays (no coordinated omission). p50/p99/max at that offered load
   are the SLA figures. The bare endpoint's run checks the generator: it must reach the rate with a send
   lag (due time -> written) near zero, else the figures of this run are not valid (printed as a warning).

Targets (issue #3): >= 500 deliveries/s (closed loop) and p99 < 50 ms at 500 deliveries/s (open loop).
Afterwards the log is checked: one delivery row per 202, none lost.

--postgres URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432) runs the same against a fresh PostgreSQL
database instead of SQLite (scale mode: intake threads then write side by side).

Usage: .venv/bin/python bench/webhook_intake.py [--connections 16] [--seconds 10] [--deliveries 40000]
       [--rate 500] [--open-seconds 10] [--open-connections 64] [--postgres URL]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import WRK, OpenLoopResult, Repo, Slipway, app_files, free_port, open_loop, percentile, report, row

TARGET_RPS, TARGET_P99_MS = 500, 50.0

BARE_APP = '''
from fastapi import FastAPI, Response
app = FastAPI()

@app.post("/hooks/{provider}/{hook_id}")
async def hook(provider: str, hook_id: str) -> Response:
    return Response(status_code=200)
'''


def delivery(secret: str, tag: str) -> tuple[str, str, str]:
    """(body, signature header, delivery id) of one distinct signed push."""
    sha = secrets.token_hex(20)
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 39 + "1", "after": sha,
                       "head_commit": {"id": sha}, "repository": {"full_name": "bench/app"}})
    sig = "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return body, sig, f"bench-{tag}-{secrets.token_hex(4)}"


def lua_script(path: Path, url_path: str, secret: str, count: int) -> None:
    """wrk cycles through `count` pre-signed deliveries (wrk's Lua has no HMAC)."""
    lines = ["local d = {}"]
    for i in range(count):
        body, sig, delivery_id = delivery(secret, str(i))
        lines.append(f"d[{i + 1}] = {{{json.dumps(body)}, {json.dumps(sig)}, {json.dumps(delivery_id)}}}")
    lines += [
        # each wrk thread has its own Lua state: thread k sends deliveries k, k+2, k+4 … so none repeats
        "local counter = 0",
        "setup = function(thread) thread:set('id', counter); counter = counter + 1 end",
        f"local n, i = {count}, nil",
        "request = function()",
        "  if i == nil then i = id end",
        "  i = (i + 2) % n",
        "  local x = d[i + 1]",
        '  return wrk.format("POST", "' + url_path + '", {["Content-Type"] = "application/json",'
        ' ["X-GitHub-Event"] = "push", ["X-Hub-Signature-256"] = x[2], ["X-GitHub-Delivery"] = x[3]}, x[1])',
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")


def raw_requests(url_path: str, secret: str, count: int) -> list[bytes]:
    """`count` distinct signed deliveries as raw HTTP/1.1 requests, for the open-loop generator."""
    out = []
    for i in range(count):
        body, sig, delivery_id = delivery(secret, f"open-{i}")
        head = (f"POST {url_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-GitHub-Event: push\r\nX-Hub-Signature-256: {sig}\r\nX-GitHub-Delivery: {delivery_id}\r\n"
                f"Content-Length: {len(body.encode())}\r\n\r\n")
        out.append(head.encode() + body.encode())
    return out


def run_wrk(base: str, script: Path, connections: int, seconds: int) -> dict[str, float]:
    out = subprocess.run([WRK, "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout=5s", "--latency",
                          "-s", str(script), base], capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    import re

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "p99_ms": ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def bare_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--host", "127.0.0.1", "--port",
                             str(port), "--no-access-log", "--log-level", "warning"], cwd=tmp,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.post(url + "/hooks/github/x", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bare FastAPI server did not come up")


def fresh_postgres(base: str) -> tuple[str, Any]:
    import sqlalchemy

    name = f"slipway_bench_{secrets.token_hex(4)}"
    admin = sqlalchemy.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return f"{base}/{name}", drop


def count_rows(url: str) -> tuple[dict[str, int], int]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        outcomes = {k: v for k, v in conn.exec_driver_sql(
            "select outcome, count(*) from hook_deliveries group by outcome")}
        deploys = conn.exec_driver_sql("select count(*) from deploys").scalar() or 0
    engine.dispose()
    return outcomes, int(deploys)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def open_summary(result: OpenLoopResult) -> dict[str, Any]:
    return {"rate": result.rate, "seconds": result.seconds, "sent": result.sent,
            "achieved_rps": round(result.achieved_rate, 1), "p50_ms": round(result.ms(50), 2),
            "p90_ms": round(result.ms(90), 2), "p99_ms": round(result.ms(99), 2),
            "p999_ms": round(result.ms(99.9), 2), "max_ms": round(max(result.latencies) * 1000, 2),
            "send_lag_p99_ms": round(percentile(result.send_lags, 99) * 1000, 2),
            "statuses": result.statuses, "generator_cpu_s": round(result.cpu_seconds, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16, help="closed loop: wrk connections")
    parser.add_argument("--seconds", type=int, default=10, help="closed loop: seconds per wrk run")
    parser.add_argument("--deliveries", type=int, default=40000, help="distinct signed deliveries to cycle through")
    parser.add_argument("--rate", type=float, default=TARGET_RPS, help="open loop: requests/s offered")
    parser.add_argument("--open-seconds", type=float, default=10.0, help="open loop: seconds per run")
    parser.add_argument("--open-connections", type=int, default=64, help="open loop: keep-alive connections")
    parser.add_argument("--postgres", default="", help="PostgreSQL server URL (without database) to use instead")
    args = parser.parse_args()
    print(f"load average before the run (other work on the machine): {os.getloadavg()}", flush=True)
    db_url, drop = "", None
    if args.postgres:
        db_url, drop = fresh_postgres(args.postgres)
    slipway = Slipway("hooks", router="none", workers="0", **({"database_url": db_url} if db_url else {}))
    tmp = Path(tempfile.mkdtemp(prefix="slipway-bench-bare-"))
    bare = None
    try:
        slipway.start()
        slipway.login()
        repo = Repo(slipway.tmp / "repo", app_files("1"))
        slipway.cli("apps", "create", "bench", "--git", repo.url)
        hook = slipway.cli_json("hooks", "show", "bench", "--reveal")
        hook_path = "/hooks/github/" + hook["hook_id"]
        script = tmp / "deliveries.lua"
        lua_script(script, hook_path, hook["secret"], args.deliveries)
        bare, bare_url = bare_server(tmp)
        print(f"closed loop: wrk -t2 -c{args.connections} -d{args.seconds}s, bare FastAPI then slipway", flush=True)
        baseline = run_wrk(bare_url, script, args.connections, args.seconds)
        ours = run_wrk(slipway.api_url, script, args.connections, args.seconds)
        # the same distinct deliveries for both (the bare endpoint stores nothing), none sent before
        requests = raw_requests(hook_path, hook["secret"], int(args.rate * args.open_seconds))
        print(f"open loop: {args.rate:g} req/s for {args.open_seconds:g}s over {args.open_connections} "
              "connections, bare FastAPI then slipway", flush=True)
        time.sleep(1)
        open_bare = open_loop(port_of(bare_url), requests, rate=args.rate, seconds=args.open_seconds,
                              connections=args.open_connections)
        time.sleep(1)
        open_ours = open_loop(port_of(slipway.api_url), requests, rate=args.rate, seconds=args.open_seconds,
                              connections=args.open_connections)
        outcomes, deploys = count_rows(db_url or f"sqlite:///{slipway.home / 'slipway.db'}")
    finally:
        if drop is not None:
            drop()
        if bare is not None:
            bare.terminate()
            bare.wait(10)
        slipway.close()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    recycled = ours["requests"] > args.deliveries
    print(f"closed loop, bare FastAPI : {baseline['rps']:.0f} req/s, p50 {baseline['p50_ms']:.2f} ms, "
          f"p99 {baseline['p99_ms']:.2f} ms")
    print(f"closed loop, slipway hooks: {ours['rps']:.0f} deliveries/s, p50 {ours['p50_ms']:.2f} ms, "
          f"p99 {ours['p99_ms']:.2f} ms, non-2xx {ours['non_2xx']}"
          + ("  (more requests than distinct deliveries: some were duplicates)" if recycled else ""))
    ratio = ours["rps"] / baseline["rps"] if baseline["rps"] else float("nan")
    print(f"closed loop ratio slipway / bare (req/s): {ratio:.3f}")
    ob, oo = open_summary(open_bare), open_summary(open_ours)
    for name, o in (("bare FastAPI ", ob), ("slipway hooks", oo)):
        print(f"open loop {args.rate:g}/s, {name}: achieved {o['achieved_rps']:.0f}/s, p50 {o['p50_ms']:.2f} ms, "
              f"p90 {o['p90_ms']:.2f} ms, p99 {o['p99_ms']:.2f} ms, p99.9 {o['p999_ms']:.2f} ms, "
              f"max {o['max_ms']:.2f} ms; answers {o['statuses']}; send lag p99 {o['send_lag_p99_ms']:.2f} ms")
    p99_ratio = oo["p99_ms"] / ob["p99_ms"] if ob["p99_ms"] else float("nan")
    print(f"open loop ratio slipway / bare: p99 {p99_ratio:.2f}x, p50 "
          f"{oo['p50_ms'] / ob['p50_ms'] if ob['p50_ms'] else float('nan'):.2f}x")
    generator_ok = open_bare.achieved_rate >= 0.98 * args.rate and ob["send_lag_p99_ms"] < 5.0
    if not generator_ok:
        print("WARNING: the generator did not keep its schedule against the bare endpoint (achieved rate or "
              "send lag): the open-loop figures of this run are not valid", file=sys.stderr)
    accepted = open_ours.ok((202,))
    open_clean = accepted == open_ours.sent
    print(f"delivery log: {outcomes}; deploys: {deploys}; closed loop answered {ours['requests']} (+ those in "
          f"flight when wrk stopped), open loop 202s {accepted}/{open_ours.sent}")
    rows = [row("webhook intake, closed loop (capacity)", ours["rps"], "req/s", target=f">= {TARGET_RPS}",
                met=ours["rps"] >= TARGET_RPS and ours["non_2xx"] == 0, baseline=baseline["rps"], ratio=ratio),
            row("webhook intake p99, closed loop (saturated)", ours["p99_ms"], "ms", baseline=baseline["p99_ms"],
                ratio=ours["p99_ms"] / baseline["p99_ms"] if baseline["p99_ms"] else None),
            row(f"webhook intake p50 at {args.rate:g}/s (open loop)", oo["p50_ms"], "ms", baseline=ob["p50_ms"],
                ratio=oo["p50_ms"] / ob["p50_ms"] if ob["p50_ms"] else None),
            row(f"webhook intake p99 at {args.rate:g}/s (open loop)", oo["p99_ms"], "ms",
                target=f"< {TARGET_P99_MS:g}", met=oo["p99_ms"] < TARGET_P99_MS and open_clean and generator_ok,
                baseline=ob["p99_ms"], ratio=p99_ratio),
            row(f"webhook intake max at {args.rate:g}/s (open loop)", oo["max_ms"], "ms", baseline=ob["max_ms"],
                ratio=oo["max_ms"] / ob["max_ms"] if ob["max_ms"] else None)]
    report("webhook_intake", rows, {"database": "postgresql" if db_url else "sqlite", "bare": baseline,
                                    "slipway": ours, "open_bare": ob, "open_slipway": oo,
                                    "generator_kept_schedule": generator_ok, "outcomes": outcomes,
                                    "deploys": deploys, "connections": args.connections, "seconds": args.seconds,
                                    "cpus": os.cpu_count(), "load_average": os.getloadavg()})
    return 0 if all(r["met"] for r in rows if r["met"] is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
