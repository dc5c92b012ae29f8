"""Start-up of `scripts/serve` when nothing changed: wall time from running it to the API answering
`/api/v1/health`, in one run with a baseline:

- baseline: `scripts/serve` with SLIPWAY_BOOTSTRAP_FORCE=1, which reinstalls into .venv as every start
  did before the install stamp (pip upgrade + editable install of Slipway and its dependencies);
- ours: `scripts/serve` as a user runs it a second time: the stamp in .venv matches, no pip at all;
- floor: `.venv/bin/slipway server` itself, what `scripts/serve` ends in (so ours - floor is the script's cost).

Each start gets a fresh $SLIPWAY_HOME (new SQLite database, migrations, Caddy started), so the server's
own start-up is in both figures. Runs interleave (baseline, ours, baseline, …) after one warm-up of ours.
Uses the .venv of this checkout (run scripts/bootstrap first).

Usage: .venv/bin/python bench/serve_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import httpx
from harness import SLIPWAY, Slipway, cleanup_on_signals, median, report, row

SERVE = str(Path(__file__).resolve().parent.parent / "scripts" / "serve")
TARGET_S = 5.0  # "it starts in seconds"


def start_serve(force: bool, command: str = SERVE) -> float:
    """Seconds from `command` to a healthy API; everything it started is stopped again."""
    sw = Slipway("serve")
    env = dict(sw.env, **({"SLIPWAY_BOOTSTRAP_FORCE": "1"} if force else {}))
    sw.home.mkdir(parents=True, exist_ok=True)
    try:
        with open(sw.tmp / "server.log", "wb") as log:
            t0 = time.perf_counter()
            argv = [command] if command == SERVE else [command, "server"]
            sw.server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if sw.server.poll() is not None:
                raise RuntimeError(f"scripts/serve exited:\n{sw.server_log()}")
            try:
                if httpx.get(sw.api_url + "/api/v1/health", timeout=1).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"scripts/serve did not come up:\n{sw.server_log()}")
    finally:
        sw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with cleanup_on_signals():
        start_serve(force=False)  # warm-up: page cache, bytecode, and the stamp if it was missing
        ours: list[float] = []
        baseline: list[float] = []
        floor: list[float] = []
        for _ in range(args.runs):
            baseline.append(start_serve(force=True))
            ours.append(start_serve(force=False))
            floor.append(start_serve(force=False, command=SLIPWAY))
    for label, values in (("baseline (reinstall)", baseline), ("ours (stamp holds)", ours),
                          ("floor (slipway server)", floor)):
        print(f"{label:22} " + " ".join(f"{v:.2f}" for v in values) + " s")
    ours_s, base_s = median(ours), median(baseline)
    report("serve_start", [
        row("scripts/serve to healthy API, nothing changed", ours_s, "s", baseline=base_s,
            ratio=ours_s / base_s, target=f"<= {TARGET_S:g} s", met=ours_s <= TARGET_S),
        row("slipway server alone (floor)", median(floor), "s"),
    ], {"ours_s": ours, "baseline_s": baseline, "floor_s": floor})


if __name__ == "__main__":
    main()
