"""Webhook intake: signed GitHub push deliveries/s that `slipway server` verifies, logs and queues, vs a bare
FastAPI endpoint that only returns 200, same wrk settings, same run.

Each request is a distinct, correctly signed push (its own X-GitHub-Delivery and commit), so every one goes
the whole way: look up the hook, decrypt its secret, check the HMAC, parse the JSON, insert the delivery
(unique id), queue the deploy (a burst coalesces into the one queued deploy: an UPDATE) and its event, commit.
The server runs with the product defaults (SQLite in WAL mode, one uvicorn process) except workers=0 and
router=none, so that no deploy starts and only intake is measured. wrk (2 threads) shares the 2 cores.
Target: >= 500 deliveries/s with p99 < 50 ms. Afterwards the log is checked: one row per 202, none lost.

--postgres URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432) runs the same against a fresh PostgreSQL
database instead of SQLite (scale mode: intake threads then write side by side).

Usage: .venv/bin/python bench/webhook_intake.py [--connections 16] [--seconds 10] [--deliveries 40000]
       [--postgres URL]
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
from harness import WRK, Repo, Slipway, app_files, free_port, report, row

TARGET_RPS, TARGET_P99_MS = 500, 50.0

BARE_APP = '''
from fastapi import FastAPI, Response
app = FastAPI()

@app.post("/hooks/{provider}/{hook_id}")
async def hook(provider: str, hook_id: str) -> Response:
    return Response(status_code=200)
'''


def lua_script(path: Path, url_path: str, secret: str, count: int) -> None:
    """wrk cycles through `count` pre-signed deliveries (wrk's Lua has no HMAC)."""
    lines = ["local d = {}"]
    for i in range(count):
        sha = secrets.token_hex(20)
        body = json.dumps({"ref": "refs/heads/main", "before": "0" * 39 + "1", "after": sha,
                           "head_commit": {"id": sha}, "repository": {"full_name": "bench/app"}})
        sig = "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        lines.append(f"d[{i + 1}] = {{{json.dumps(body)}, {json.dumps(sig)}, \"bench-{i}-{secrets.token_hex(4)}\"}}")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--deliveries", type=int, default=40000, help="distinct signed deliveries to cycle through")
    parser.add_argument("--postgres", default="", help="PostgreSQL server URL (without database) to use instead")
    args = parser.parse_args()
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
        baseline = run_wrk(bare_url, script, args.connections, args.seconds)
        ours = run_wrk(slipway.api_url, script, args.connections, args.seconds)
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
    print(f"bare FastAPI : {baseline['rps']:.0f} req/s, p50 {baseline['p50_ms']:.2f} ms, "
          f"p99 {baseline['p99_ms']:.2f} ms")
    print(f"slipway hooks: {ours['rps']:.0f} deliveries/s, p50 {ours['p50_ms']:.2f} ms, p99 {ours['p99_ms']:.2f} ms, "
          f"non-2xx {ours['non_2xx']}; log: {outcomes}; deploys: {deploys}"
          + ("  (more requests than distinct deliveries: some were duplicates)" if recycled else ""))
    ratio = ours["rps"] / baseline["rps"] if baseline["rps"] else float("nan")
    print(f"ratio slipway / bare: {ratio:.3f}")
    rows = [row("webhook intake (verified, logged, queued)", ours["rps"], "req/s", target=f">= {TARGET_RPS}",
                met=ours["rps"] >= TARGET_RPS and ours["non_2xx"] == 0, baseline=baseline["rps"], ratio=ratio),
            row("webhook intake p99", ours["p99_ms"], "ms", target=f"< {TARGET_P99_MS:g}",
                met=ours["p99_ms"] < TARGET_P99_MS, baseline=baseline["p99_ms"])]
    report("webhook_intake", rows, {"database": "postgresql" if db_url else "sqlite", "bare": baseline,
                                    "slipway": ours, "outcomes": outcomes, "deploys": deploys,
                                    "connections": args.connections, "seconds": args.seconds,
                                    "cpus": os.cpu_count()})
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
