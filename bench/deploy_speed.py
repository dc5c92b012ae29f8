"""Warm redeploy and rollback speed, against the bare cost of starting the app by hand.

- redeploy: a commit that changes only version.txt (dependencies unchanged, so the build is warm);
  the clock runs from the `slipway deploy APP` invocation to the first 200 through Caddy that carries
  the new version. Target: <= 5 s.
- rollback: from `slipway rollback APP` to the previous version answering through Caddy. Target: <= 2 s.
- baseline: `python app.py` with PORT set, from spawn to its first 200 (same app, no platform).

Usage: .venv/bin/python bench/deploy_speed.py [--redeploys 5] [--rollbacks 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import Repo, app_files, free_port, median, platform, report, row, wait_until

APP = "speedy"
REDEPLOY_TARGET = 5.0
ROLLBACK_TARGET = 2.0


def baseline(runs: int) -> list[float]:
    """Spawn `python app.py` (PORT set) and poll it until it answers: the floor any platform pays."""
    times = []
    with tempfile.TemporaryDirectory(prefix="slipway-bench-baseline-") as tmp:
        for name, content in app_files("1").items():
            Path(tmp, name).write_text(content)
        with httpx.Client(timeout=1) as client:
            for _ in range(runs):
                port = free_port()
                t0 = time.monotonic()
                proc = subprocess.Popen([sys.executable, "app.py"], cwd=tmp, env={**os.environ, "PORT": str(port)},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    def up(port: int = port) -> bool:
                        try:
                            return client.get(f"http://127.0.0.1:{port}/").status_code == 200
                        except httpx.HTTPError:
                            return False
                    wait_until(up, timeout=10, every=0.005)
                    times.append(time.monotonic() - t0)
                finally:
                    proc.terminate()
                    proc.wait(5)
    return times


def timed(sw, client: httpx.Client, args: list[str], expect: str) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """Run a CLI command; seconds until `expect` is served through Caddy, seconds until the CLI returned,
    and the deploy id."""
    t0 = time.monotonic()
    cli = sw.cli_popen(*args, "--json")
    try:
        wait_until(lambda: sw.served_version(client, APP) == expect, timeout=60, every=0.01)
        serving = time.monotonic() - t0
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    returned = time.monotonic() - t0
    if cli.returncode != 0:
        raise RuntimeError(f"slipway {' '.join(args)} failed:\n{out}\n{err}")
    return serving, returned, int(json.loads(out)["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redeploys", type=int, default=5)
    parser.add_argument("--rollbacks", type=int, default=3)
    args = parser.parse_args()

    base = baseline(5)
    print(f"baseline: python app.py → first 200: median {median(base):.3f}s (n={len(base)})")

    with platform("deploy-speed") as sw, httpx.Client(timeout=2) as client:
        repo = Repo(sw.tmp / "repo", app_files("1"))
        sw.create_app(APP, repo)
        t0 = time.monotonic()
        sw.cli("deploy", APP)
        print(f"first (cold) deploy: {time.monotonic() - t0:.2f}s")

        deploys: list[tuple[float, float]] = []
        steps: list[dict[str, float]] = []
        version = 1
        for _ in range(args.redeploys):
            version += 1
            repo.commit({"version.txt": f"{version}\n"}, f"v{version}")
            serving, returned, deploy_id = timed(sw, client, ["deploy", APP], str(version))
            deploys.append((serving, returned))
            steps.append(sw.step_durations(APP, deploy_id))
            print(f"redeploy → v{version} serving after {serving:.2f}s (CLI returned after {returned:.2f}s)")

        rollbacks: list[tuple[float, float]] = []
        for _ in range(args.rollbacks):
            # each rollback goes to the previous release: v(n-1), then v(n) again, and so on
            expect = version_of(repo, sw.cli_json("releases", APP)[1]["commit"])
            serving, returned, _ = timed(sw, client, ["rollback", APP], expect)
            rollbacks.append((serving, returned))
            print(f"rollback → version {expect} serving after {serving:.2f}s (CLI returned after {returned:.2f}s)")

    step_names = sorted({k for s in steps for k in s}, key=lambda k: median([s.get(k, 0) for s in steps]),
                        reverse=True)
    step_medians = {k: round(median([s.get(k, 0.0) for s in steps]), 3) for k in step_names}
    print("redeploy steps (median s, from the deploy log): "
          + ", ".join(f"{k} {v:.2f}" for k, v in step_medians.items()))

    b = median(base)
    d_med, d_max = median([d[0] for d in deploys]), max(d[0] for d in deploys)
    r_med, r_max = median([r[0] for r in rollbacks]), max(r[0] for r in rollbacks)
    rows = [
        row("redeploy → new version serving (median)", d_med, "s", target=f"<= {REDEPLOY_TARGET:g} s",
            met=d_med <= REDEPLOY_TARGET, baseline=b, ratio=d_med / b),
        row("redeploy → new version serving (max)", d_max, "s", target=f"<= {REDEPLOY_TARGET:g} s",
            met=d_max <= REDEPLOY_TARGET, baseline=b, ratio=d_max / b),
        row("redeploy → CLI returned (median)", median([d[1] for d in deploys]), "s"),
        row("rollback → old version serving (median)", r_med, "s", target=f"<= {ROLLBACK_TARGET:g} s",
            met=r_med <= ROLLBACK_TARGET, baseline=b, ratio=r_med / b),
        row("rollback → old version serving (max)", r_max, "s", target=f"<= {ROLLBACK_TARGET:g} s",
            met=r_max <= ROLLBACK_TARGET, baseline=b, ratio=r_max / b),
        row("rollback → CLI returned (median)", median([r[1] for r in rollbacks]), "s"),
        row("baseline: python app.py → first 200", b, "s"),
    ]
    report("deploy_speed", rows, {"baseline_s": base, "redeploys_s": deploys, "rollbacks_s": rollbacks,
                                  "redeploy_step_medians_s": step_medians})
    return 0


def version_of(repo: Repo, commit: str) -> str:
    """The version a commit serves: commit 'vN' serves N, the initial one 1."""
    message = repo.git("log", "-1", "--format=%s", commit).strip()
    return message.removeprefix("v") if message.startswith("v") else "1"


if __name__ == "__main__":
    sys.exit(main())
