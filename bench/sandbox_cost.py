"""The sandbox's cost: instance start-to-healthy and requests/s through Caddy, sandboxed vs not, same run.

- start: LocalRuntime.start() of the stdlib app until its first 200, with the sandbox this host gives
  (bubblewrap + the app's own user as root) and without it, alternating, same machine, same moment.
- rps: two `slipway server`s, one with SLIPWAY_SANDBOX=off and one with the default (auto), the same
  app deployed on each (1 ms of CPU per request), wrk through each one's Caddy, alternating rounds.
Target: sandboxed at most 10 % slower on both.

Usage: .venv/bin/python bench/sandbox_cost.py [--starts 10] [--rounds 3] [--seconds 8]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import Repo, app_files, free_port, median, platform, wait_until, wrk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from slipway.runtimes.base import InstanceSpec  # noqa: E402
from slipway.runtimes.local.runtime import LocalRuntime  # noqa: E402
from slipway.sandbox import Sandbox, detect  # noqa: E402


def start_times(rounds: int) -> tuple[list[float], list[float], str]:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()

    boxed, bare, mode = start_times(args.starts)
    b, u = median(boxed), median(bare)
    print(f"start-to-healthy ({mode}): sandboxed median {b * 1000:.0f} ms, unsandboxed {u * 1000:.0f} ms "
          f"(n={len(boxed)} each): {100 * (b / u - 1):+.1f} %")

    rps: dict[str, list[float]] = {"off": [], "auto": []}
    with platform("sandbox-off", sandbox="off") as off, platform("sandbox-auto") as on:
        isolation = on.api("/health")["isolation"]
        for sw in (off, on):
            repo = Repo(sw.tmp / "repo", app_files("1", work_ms=1.0))
            sw.create_app("cost", repo)
            sw.cli("deploy", "cost")
        for sw in (off, on):
            wrk(sw.router_url, host=sw.host("cost"), threads=1, connections=4, seconds=1)  # warm-up
        for _ in range(args.rounds):
            for kind, sw in (("off", off), ("auto", on)):
                rps[kind].append(wrk(sw.router_url, host=sw.host("cost"), threads=2, connections=16,
                                     seconds=args.seconds).rps)
    r_on, r_off = median(rps["auto"]), median(rps["off"])
    print(f"requests/s through Caddy ({isolation['mode']}): sandboxed median {r_on:.0f}, unsandboxed {r_off:.0f} "
          f"(rounds {rps}): {100 * (r_on / r_off - 1):+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
