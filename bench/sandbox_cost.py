"""What the sandbox costs: the same app on two Slipways in the same run, one sandboxed (SLIPWAY_SANDBOX=auto,
the product default) and one not (SLIPWAY_SANDBOX=off, the baseline).

- start-to-healthy: `slipway restart APP` N times; per restart, the seconds from the deploy log's
  "Starting vN" line to its "Switching traffic" line (the new instance started — sandbox set up — and passed
  the health gate, polled every 50 ms). Target: sandboxed <= 1.10 x unsandboxed (median).
- requests/s through Caddy: wrk (keep-alive) through each Slipway's Caddy with the app's Host header.
  Target: sandboxed >= 0.90 x unsandboxed.
- runtime start → first 200 (`--starts`, 10): LocalRuntime.start() of the app straight, with this host's
  sandbox and without, alternating — the sandbox's own cost without the deploy pipeline around it.
- warm redeploy to serving: a commit that changes only version.txt; from spawning `slipway deploy APP` to
  the first 200 through Caddy with the new version (as deploy_speed.py). Target: sandboxed <= 5 s (median
  and max); the ratio to the unsandboxed one is printed too.

The two Slipways run one after the other (never at the same time: they would measure each other), in
rounds A B B A …, so a drift of the machine's load hits both alike. The isolation mode each one reports
(`/api/v1/health`) is printed: a baseline that is not `unisolated`, or a sandboxed run that is, makes the
comparison void (exit 2).

Usage: .venv/bin/python bench/sandbox_cost.py [--restarts 5] [--redeploys 3] [--seconds 10] [--rounds 2]
                                               [--starts 10] [--app stdlib|asyncio]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import Repo, Slipway, app_files, free_port, median, platform, report, row, wait_until, wrk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from slipway.runtimes.base import InstanceSpec  # noqa: E402
from slipway.runtimes.local.runtime import LocalRuntime  # noqa: E402
from slipway.sandbox import Sandbox, detect  # noqa: E402

APP = "sbx"
MODES = ("auto", "off")  # auto: the product default (sandboxed); off: the unsandboxed baseline
SLOWER_TARGET = 1.10  # start-to-healthy: at most 10 % longer
RPS_TARGET = 0.90  # requests/s: at most 10 % fewer
REDEPLOY_TARGET = 5.0


def start_times(rounds: int) -> tuple[list[float], list[float], str]:
    """LocalRuntime.start() of the stdlib app until its first 200, sandboxed and not, alternating: the
    sandbox's own cost without the deploy pipeline around it (from the sandbox branch's bench)."""
    base = Path("/var/lib") if Path("/var/lib").stat().st_uid == 0 and shutil.os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="slipway-bench-sandbox-", dir=base))
    isolation = detect("auto")
    box = Sandbox(isolation, home)
    release = home / "artifacts" / "bench" / "build-1"
    release.mkdir(parents=True)
    for name, content in app_files("1").items():
        (release / name).write_text(content)
    box.give("bench", release, recursive=True)
    runtimes = {"sandboxed": LocalRuntime(home / "instances", sandbox=box),
                "unsandboxed": LocalRuntime(home / "instances")}
    times: dict[str, list[float]] = {"sandboxed": [], "unsandboxed": []}
    try:
        with httpx.Client(timeout=1) as client:
            for n in range(rounds):
                for kind, runtime in runtimes.items():
                    port = free_port()
                    spec = InstanceSpec(f"bench-{kind}-{n}", "bench", 1, "web", f"{sys.executable} app.py",
                                        str(release), {"PATH": "/usr/local/bin:/usr/bin:/bin", "PORT": str(port),
                                                       "HOME": str(box.app_home("bench"))}, port, 2.0)
                    t0 = time.monotonic()
                    runtime.start(spec)

                    def up(port: int = port) -> bool:
                        try:
                            return client.get(f"http://127.0.0.1:{port}/").status_code == 200
                        except httpx.HTTPError:
                            return False

                    wait_until(up, timeout=20, every=0.005)
                    times[kind].append(time.monotonic() - t0)
                    runtime.stop(spec.instance_id, 1.0)
    finally:
        for runtime in runtimes.values():
            for instance_id in runtime.instances():
                runtime.stop(instance_id, 0.5)
        box.remove_all_users()
        shutil.rmtree(home, ignore_errors=True)
    return times["sandboxed"], times["unsandboxed"], isolation.mode


def isolation(sw: Slipway) -> dict[str, Any]:
    health = httpx.get(sw.api_url + "/api/v1/health", timeout=5).json()
    return health.get("isolation") or {"mode": "unknown (no isolation in /api/v1/health)", "reason": ""}


def start_to_healthy(sw: Slipway, deploy_id: int) -> float:
    lines = sw.api(f"/apps/{APP}/deploys/{deploy_id}/log")["lines"]

    def at(prefix: str) -> float:
        for line in lines:
            if line["line"].startswith("-----> " + prefix):
                t = dt.datetime.fromisoformat(line["ts"])
                return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()
        raise RuntimeError(f"deploy {deploy_id} has no '{prefix}' step:\n" + "\n".join(x["line"] for x in lines))

    return at("Switching traffic") - at("Starting v")


def redeploy(sw: Slipway, client: httpx.Client, repo: Repo, version: int) -> float:
    repo.commit({"version.txt": f"{version}\n"}, f"v{version}")
    t0 = time.monotonic()
    cli = sw.cli_popen("deploy", APP, "--json")
    try:
        wait_until(lambda: sw.served_version(client, APP) == str(version), timeout=60, every=0.01)
        serving = time.monotonic() - t0
        out, err = cli.communicate(timeout=90)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    if cli.returncode != 0:
        raise RuntimeError(f"slipway deploy failed:\n{out}\n{err}")
    return serving


def measure(mode: str, args: argparse.Namespace, results: dict[str, dict[str, list[Any]]]) -> None:
    """One round on a fresh Slipway with SLIPWAY_SANDBOX=mode."""
    with platform(f"sandbox-{mode}", sandbox=mode) as sw, httpx.Client(timeout=2) as client:
        mine = results[mode]
        mine["isolation"].append(isolation(sw))
        repo = Repo(sw.tmp / "repo", app_files("1", fast=args.app == "asyncio"))
        sw.create_app(APP, repo)
        sw.cli("deploy", APP)
        for _ in range(args.restarts):
            deploy = sw.cli_json("restart", APP)
            if deploy["status"] != "succeeded":
                raise RuntimeError(f"restart failed: {deploy}")
            mine["start_s"].append(start_to_healthy(sw, int(deploy["id"])))
        version = 1
        for _ in range(args.redeploys):
            version += 1
            mine["redeploy_s"].append(redeploy(sw, client, repo, version))
        result = wrk(sw.router_url + "/", host=sw.host(APP), seconds=args.seconds)
        if result.non_2xx or result.socket_errors:
            print(f"  [{mode}] wrk: {result.non_2xx} non-2xx, {result.socket_errors} socket errors")
        mine["rps"].append(result.rps)
        print(f"[{mode}] isolation {mine['isolation'][-1].get('mode')}: start-to-healthy "
              f"{', '.join(f'{s:.3f}' for s in mine['start_s'][-args.restarts:])} s; redeploy→serving "
              f"{', '.join(f'{s:.2f}' for s in mine['redeploy_s'][-args.redeploys:])} s; {result.rps:.0f} req/s",
              flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5, help="restarts per round and mode")
    parser.add_argument("--redeploys", type=int, default=3, help="warm redeploys per round and mode")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per round and mode")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; the order alternates: A B, B A, …")
    parser.add_argument("--app", choices=("stdlib", "asyncio"), default="stdlib")
    parser.add_argument("--starts", type=int, default=10, help="runtime-level starts per kind (0: skip)")
    args = parser.parse_args()

    boxed: list[float] = []
    bare_starts: list[float] = []
    if args.starts:
        boxed, bare_starts, start_mode = start_times(args.starts)
        print(f"runtime start → first 200 ({start_mode}): sandboxed {', '.join(f'{x:.3f}' for x in boxed)} s; "
              f"unsandboxed {', '.join(f'{x:.3f}' for x in bare_starts)} s", flush=True)

    results: dict[str, dict[str, list[Any]]] = {
        m: {"start_s": [], "redeploy_s": [], "rps": [], "isolation": []} for m in MODES}
    for r in range(args.rounds):
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            measure(mode, args, results)

    sandboxed, bare = results["auto"], results["off"]
    modes = {m: sorted({i.get("mode", "?") for i in results[m]["isolation"]}) for m in MODES}
    print(f"isolation: sandboxed run {modes['auto']}, baseline run {modes['off']}")
    start, start_base = median(sandboxed["start_s"]), median(bare["start_s"])
    rps, rps_base = median(sandboxed["rps"]), median(bare["rps"])
    dep, dep_base = median(sandboxed["redeploy_s"]), median(bare["redeploy_s"])
    dep_max = max(sandboxed["redeploy_s"])
    rows = [
        row("start-to-healthy, sandboxed (median)", start, "s", baseline=start_base, ratio=start / start_base,
            target=f"<= {SLOWER_TARGET:g} x off", met=start / start_base <= SLOWER_TARGET),
        row("requests/s via Caddy, sandboxed (median)", rps, "req/s", baseline=rps_base, ratio=rps / rps_base,
            target=f">= {RPS_TARGET:g} x off", met=rps / rps_base >= RPS_TARGET),
        row("redeploy → serving, sandboxed (median)", dep, "s", baseline=dep_base, ratio=dep / dep_base,
            target=f"<= {REDEPLOY_TARGET:g} s", met=dep <= REDEPLOY_TARGET),
        row("redeploy → serving, sandboxed (max)", dep_max, "s", target=f"<= {REDEPLOY_TARGET:g} s",
            met=dep_max <= REDEPLOY_TARGET),
        *([row("runtime start → first 200, sandboxed (median)", median(boxed), "s", baseline=median(bare_starts),
               ratio=median(boxed) / median(bare_starts), target=f"<= {SLOWER_TARGET:g} x off",
               met=median(boxed) / median(bare_starts) <= SLOWER_TARGET)] if boxed else []),
        row("start-to-healthy, unsandboxed (median)", start_base, "s"),
        row("requests/s via Caddy, unsandboxed (median)", rps_base, "req/s"),
    ]
    report("sandbox_cost", rows, {"app": args.app, "isolation": modes, "results": results,
                                  "runtime_starts_s": {"sandboxed": boxed, "unsandboxed": bare_starts}})
    void = modes["off"] != ["unisolated"] or "unisolated" in modes["auto"]
    if void:
        print("the comparison is void: the baseline must run unisolated and the sandboxed run isolated",
              file=sys.stderr)
    return 2 if void else 0


if __name__ == "__main__":
    sys.exit(main())
