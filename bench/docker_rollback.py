"""Rollback of a docker app: seconds from asking for it to the old image serving through Caddy.

Target: <= 3 s. Baseline: the same rollback of a local-runtime app, in the same run. Also checks that the
rollback ran the old image (same image id) and built nothing.

Usage: .venv/bin/python bench/docker_rollback.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time

import httpx
from docker_common import docker_app_files, engine, remove_app
from harness import Repo, app_files, median, platform, report, row, wait_until


def rollback_seconds(sw, app: str, client: httpx.Client, want: str) -> float:  # type: ignore[no-untyped-def]
    """From asking to the old version answering through Caddy; then wait for the deploy's watch window and
    drain to end, so the next round starts from an idle app (as a user's rollback would)."""
    t0 = time.monotonic()
    deploy = sw.cli_json("rollback", app, "--no-follow")
    wait_until(lambda: sw.served_version(client, app) == want, timeout=60, every=0.01)
    elapsed = time.monotonic() - t0
    wait_until(lambda: sw.api(f"/apps/{app}/deploys/{deploy['id']}")["finished_at"], timeout=120, every=0.1)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    host = engine()
    dapp, lapp = f"drb{secrets.token_hex(2)}", "localrb"
    docker_times: list[float] = []
    local_times: list[float] = []
    same_image = True
    with platform("docker-rollback", docker_host=host) as sw, httpx.Client(timeout=2) as client:
        try:
            drepo = Repo(sw.tmp / "drepo", docker_app_files("1"))
            lrepo = Repo(sw.tmp / "lrepo", app_files("1", fast=True))
            sw.cli_json("apps", "create", dapp, "--git", drepo.url, "--runtime", "docker")
            sw.create_app(lapp, lrepo)
            for app, repo in ((dapp, drepo), (lapp, lrepo)):
                sw.cli("deploy", app, timeout=600)
                repo.commit({"version.txt": "2\n"}, "v2")
                sw.cli("deploy", app, timeout=600)
            for _ in range(args.rounds):  # v2 → v1 → v2 … each one a rollback to the previous release
                for app, times in ((dapp, docker_times), (lapp, local_times)):
                    want = "1" if sw.served_version(client, app) == "2" else "2"
                    times.append(rollback_seconds(sw, app, client, want))
            releases = sw.api(f"/apps/{dapp}/releases")
            deploys = sw.api(f"/apps/{dapp}/deploys?limit=200")
            rollbacks = [d for d in deploys if d["kind"] == "rollback"]
            for deploy in rollbacks:
                log = sw.api(f"/apps/{dapp}/deploys/{deploy['id']}/log")
                if any("docker build" in line["line"] or "STEP" in line["line"] for line in log["lines"]):
                    same_image = False
            print(f"docker releases: {[(r['version'], r['kind'], r['build_kind']) for r in releases]}")
        finally:
            remove_app(host, dapp)

    d, loc = median(docker_times), median(local_times)
    print(f"docker rollbacks (s): {[round(t, 2) for t in docker_times]}")
    print(f"local rollbacks (s):  {[round(t, 2) for t in local_times]}")
    rows = [
        row("docker rollback to the old image serving", d, "s", target="<= 3 s", met=d <= 3.0,
            baseline=loc, ratio=d / loc if loc else None),
        row("local rollback (baseline)", loc, "s"),
        row("rollbacks that built nothing", 1.0 if same_image else 0.0, "bool", target="== 1", met=same_image),
    ]
    report("docker_rollback", rows, {"docker_s": docker_times, "local_s": local_times})
    return 0 if d <= 3.0 and same_image else 1


if __name__ == "__main__":
    sys.exit(main())
