"""Idle footprint of the control plane: `slipway server` with no app, RSS and CPU.

Targets: <= 120 MB RSS (the server process and its children, Caddy excluded) and < 1% of one core.
Caddy is measured separately. Baselines, sampled in the same window: a bare `python -c time.sleep`
process and a bare uvicorn "hello" ASGI app (the floor of any Python web server).

Usage: .venv/bin/python bench/footprint.py [--settle 10] [--window 30] [--set workers=0]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import httpx
import psutil
from harness import free_port, median, platform, report, row, wait_until

MB = 1024 * 1024
RSS_TARGET_MB = 120
CPU_TARGET_PCT = 1.0

HELLO_ASGI = '''\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello"})
'''


class Tree:
    """A process and its descendants (minus names in `exclude`), sampled for RSS and CPU time."""

    def __init__(self, pid: int, exclude: tuple[str, ...] = ()) -> None:
        self.root = psutil.Process(pid)
        self.exclude = exclude
        self.rss: list[float] = []
        self.cpu0 = self.cpu_seconds()
        self.t0 = time.monotonic()

    def procs(self) -> list[psutil.Process]:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        return [p for p in procs if _name(p) not in self.exclude]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self.procs():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def sample(self) -> None:
        total = 0
        for p in self.procs():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        self.rss.append(total / MB)

    def cpu_percent(self) -> float:
        """Average % of one core since construction."""
        return 100 * (self.cpu_seconds() - self.cpu0) / (time.monotonic() - self.t0)

    def breakdown(self) -> list[str]:
        out = []
        for p in self.procs():
            try:
                out.append(f"{p.pid} {' '.join(p.cmdline())[:70]}: {p.memory_info().rss / MB:.1f} MB")
            except psutil.Error:
                pass
        return out


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a server setting for experiments, e.g. --set workers=0 (SLIPWAY_WORKERS)")
    args = parser.parse_args()
    settings = dict(kv.split("=", 1) for kv in args.set)

    with platform("footprint", **settings) as sw:
        (sw.tmp / "hello.py").write_text(HELLO_ASGI)
        port = free_port()
        baselines = {
            "bare python (sleep)": subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]),
            "bare uvicorn hello app": subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "hello:app", "--port", str(port), "--log-level", "warning"],
                cwd=sw.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        }
        try:
            wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), timeout=30, every=0.1)
            caddy_pid = sw.caddy_pid()
            assert sw.server is not None
            print(f"server up; settling {args.settle:g}s, then sampling for {args.window:g}s")
            time.sleep(args.settle)
            server = Tree(sw.server.pid, exclude=("caddy",))
            caddy = Tree(caddy_pid) if caddy_pid else None
            bases = {name: Tree(p.pid) for name, p in baselines.items()}
            trees = [server, *([caddy] if caddy else []), *bases.values()]
            deadline = time.monotonic() + args.window
            while time.monotonic() < deadline:
                for tree in trees:
                    tree.sample()
                time.sleep(1)
            cpu = {id(t): t.cpu_percent() for t in trees}
            print("server processes:", *server.breakdown(), sep="\n  ")
        finally:
            for proc in baselines.values():
                proc.terminate()
                proc.wait(10)

    server_rss, server_cpu = max(server.rss), cpu[id(server)]
    uvicorn = bases["bare uvicorn hello app"]
    rows = [
        row("control plane idle RSS (max)", server_rss, "MB", target=f"<= {RSS_TARGET_MB} MB",
            met=server_rss <= RSS_TARGET_MB, baseline=max(uvicorn.rss), ratio=server_rss / max(uvicorn.rss)),
        row("control plane idle CPU", server_cpu, "% core", target=f"< {CPU_TARGET_PCT:g} %",
            met=server_cpu < CPU_TARGET_PCT, baseline=cpu[id(uvicorn)]),
    ]
    if caddy:
        rows += [row("Caddy idle RSS (max)", max(caddy.rss), "MB"),
                 row("Caddy idle CPU", cpu[id(caddy)], "% core")]
    for name, tree in bases.items():
        rows.append(row(f"baseline: {name} RSS", max(tree.rss), "MB"))
    report("footprint", rows, {
        "server_rss_mb_samples": [round(x, 1) for x in server.rss], "server_rss_median_mb": median(server.rss),
        "caddy_rss_mb": max(caddy.rss) if caddy else None, "settle_s": args.settle, "window_s": args.window,
        "settings": settings,
        "baselines": {n: {"rss_mb": max(t.rss), "cpu_pct": cpu[id(t)]} for n, t in bases.items()}})
    return 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    sys.exit(main())
