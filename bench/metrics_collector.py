"""Collector cost: sampling 200 running instances every 10 s must use ≤ 5 % of one core.

The instances are real supervised processes of the local runtime running `sleep` (light, as the brief
allows), with their rows in a real SQLite database. We run the collector's periodic tick every
SLIPWAY_METRICS_INTERVAL (10 s) for a minute and measure this process's CPU time (user + system, all
threads: the collector runs in-process) against the wall time. Baseline, in the same run: a loop that
only calls psutil.pids() at the same pace.

    .venv/bin/python bench/metrics_collector.py [--instances 200] [--seconds 60] [--interval 10]
"""

from __future__ import annotations

import argparse
import time

import psutil
from harness import cleanup_on_signals, report, row
from metrics_common import add_app, bench_platform, start_instance

from slipway.observability.collector import Collector


def cpu_seconds() -> float:
    return time.process_time()  # user + system of every thread, at nanosecond resolution


def paced(seconds: float, interval: float, work: callable) -> tuple[float, int]:  # type: ignore[valid-type]
    """Run `work` every `interval` for `seconds`; return (CPU seconds used, rounds)."""
    start_cpu, start = cpu_seconds(), time.monotonic()
    rounds = 0
    while time.monotonic() - start < seconds:
        work()
        rounds += 1
        next_at = start + rounds * interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    return cpu_seconds() - start_cpu, rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    with cleanup_on_signals(), bench_platform() as plat:
        t0 = time.monotonic()
        for i in range(args.instances):
            app_id, release_id = add_app(plat, f"app{i}")
            start_instance(plat, app_id=app_id, release_id=release_id, app=f"app{i}", instance_id=f"app{i}-web-1",
                           command="sleep 100000")
        started = time.monotonic() - t0
        collector = Collector(plat)
        rows_per_round = collector.tick()  # first round: primes cpu_percent and the process cache
        round_times: list[float] = []

        def one_round() -> None:
            begin = time.perf_counter()
            collector.tick()
            round_times.append(time.perf_counter() - begin)

        ours, rounds = paced(args.seconds, args.interval, one_round)
        base, base_rounds = paced(args.seconds, args.interval, psutil.pids)
        collector.close()
        share = 100 * ours / args.seconds
        base_share = 100 * base / args.seconds
        report("metrics_collector", [
            row(f"collector CPU, {args.instances} instances every {args.interval:g}s", share, "% core",
                target="<= 5 % of one core", met=share <= 5.0, baseline=base_share,
                ratio=share / base_share if base_share else None),
            row("one sampling round (wall, median)", sorted(round_times)[len(round_times) // 2] * 1000, "ms"),
        ], {"instances": args.instances, "rounds": rounds, "baseline_rounds": base_rounds,
            "rows_per_round": rows_per_round, "cpu_seconds": ours, "baseline_cpu_seconds": base,
            "start_seconds": started, "cores": psutil.cpu_count()})


if __name__ == "__main__":
    main()
