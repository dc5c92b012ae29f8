"""Push-to-live: from a signed GitHub push webhook arriving at `slipway server` to the pushed commit
serving through Caddy, for a small Python app with unchanged dependencies. Target: <= 6 s.

Each round commits a new version.txt (requirements unchanged, so the build is warm), POSTs the push
delivery (signed, X-GitHub-Delivery unique) to the app's hook, and polls the app's host through Caddy every
10 ms until the new version answers. Baseline in the same run: `python app.py` from spawn to its first 200
(the floor any platform pays to start this app).

Usage: .venv/bin/python bench/push_to_live.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import sys
import time

import httpx
from deploy_speed import baseline
from harness import Repo, app_files, median, platform, report, row, wait_until

APP = "pushy"
TARGET = 6.0


def push(client: httpx.Client, url: str, secret: str, sha: str) -> httpx.Response:
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 39 + "1", "after": sha, "head_commit": {"id": sha},
                       "repository": {"full_name": "bench/pushy"}}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(url, content=body, headers={"Content-Type": "application/json", "X-GitHub-Event": "push",
                                                   "X-GitHub-Delivery": secrets.token_hex(8),
                                                   "X-Hub-Signature-256": signature})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = baseline(5)
    print(f"baseline: python app.py → first 200: median {median(base):.3f}s (n={len(base)})")
    times: list[float] = []
    with platform("push-to-live") as sw, httpx.Client(timeout=5) as client:
        repo = Repo(sw.tmp / "repo", app_files("1"))
        sw.create_app(APP, repo)
        sw.cli("deploy", APP)  # the first (cold) deploy: dependencies installed once
        hook = sw.cli_json("hooks", "show", APP, "--reveal")
        url = f"{sw.api_url}/hooks/github/{hook['hook_id']}"
        for version in range(2, 2 + args.rounds):
            sha = repo.commit({"version.txt": f"{version}\n"}, f"v{version}")
            wait_until(lambda: not any(d["status"] in ("queued", "running") for d in sw.api(f"/apps/{APP}/deploys")),
                       timeout=60, every=0.1)  # the previous round's deploy has finished its watch and drain
            t0 = time.monotonic()
            answer = push(client, url, hook["secret"], sha)
            answered = time.monotonic() - t0
            assert answer.status_code == 202, answer.text
            wait_until(lambda v=str(version): sw.served_version(client, APP) == v, timeout=60, every=0.01)
            times.append(time.monotonic() - t0)
            print(f"push → v{version} serving after {times[-1]:.2f}s (webhook answered in {answered * 1000:.1f} ms)")
    med, worst = median(times), max(times)
    rows = [row("push-to-live (webhook → new commit through Caddy), median", med, "s", target=f"<= {TARGET:g}",
                met=med <= TARGET, baseline=median(base), ratio=med / median(base)),
            row("push-to-live, worst", worst, "s", target=f"<= {TARGET:g}", met=worst <= TARGET)]
    report("push_to_live", rows, {"samples": times, "baseline": base})
    return 0 if all(r["met"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
