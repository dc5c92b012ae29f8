"""Control-plane CPU of scheduling 1,000 every-minute jobs, against the same process ticking idle.

The scheduling side only (what `cron-tick` costs a Slipway process per minute): N jobs `* * * * *` on
SQLite (or PostgreSQL with --database-url); one simulated minute is 60 ticks (SLIPWAY_CRON_TICK = 1 s),
one of which finds all N jobs due and writes N ledger rows + N queue jobs. Baseline, same run, same
database and job count: 60 ticks with nothing due. Both are process CPU time (time.process_time), so
the figure does not depend on wall-clock sleeps. Not measured here: the runs themselves (N process
starts per minute) and the scheduled-second → process-start delay the issue also asks for.

    .venv/bin/python bench/cron_tick.py [--jobs 1000] [--minutes 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from harness import report, row  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    from sqlalchemy import delete

    from slipway.apps.models import App
    from slipway.config import Settings
    from slipway.cron import ledger
    from slipway.cron.models import CronJob, CronRun
    from slipway.db import transaction, utcnow
    from slipway.jobs.models import Job
    from slipway.platform import build_platform

    with tempfile.TemporaryDirectory(prefix="bench-cron-") as tmp:
        settings = Settings(home=Path(tmp) / "home", database_url=args.database_url, router="none", workers=0,
                            secret_key="bench-key-" + "x" * 24)
        platform = build_platform(settings)
        try:
            with transaction(platform.sessions) as session:
                app = App(name="bench", git_url="file:///nonexistent", branch="main")
                session.add(app)
                session.flush()
                start = utcnow().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
                session.add_all(CronJob(app_id=app.id, name=f"job-{i}", schedule="* * * * *", tz="UTC",
                                        command=["true"], next_run_at=start) for i in range(args.jobs))
            busy, idle, queued = [], [], 0
            for minute in range(args.minutes):
                moment = start + dt.timedelta(minutes=minute)
                began = time.process_time()
                queued += ledger.tick(platform, moment + dt.timedelta(seconds=1))  # the one busy tick
                for second in range(2, 61):  # the minute's other 59 ticks find nothing due
                    ledger.tick(platform, moment + dt.timedelta(seconds=second - 0.5))  # before the next minute
                busy.append(time.process_time() - began)
                began = time.process_time()
                for tick in range(60):  # baseline: 60 ticks before the next due time (same jobs, same DB)
                    ledger.tick(platform, moment + dt.timedelta(seconds=1 + tick * 0.9))
                idle.append(time.process_time() - began)
                with transaction(platform.sessions) as session:  # keep the queue from growing across minutes
                    session.execute(delete(Job))
                    session.execute(delete(CronRun))
        finally:
            platform.close()
    assert queued == args.jobs * args.minutes, f"queued {queued}, expected {args.jobs * args.minutes}"
    ours, base = sorted(busy)[len(busy) // 2], sorted(idle)[len(idle) // 2]
    report("cron_tick", [
        row(f"tick CPU per minute, {args.jobs} jobs due", ours, "s", baseline=base,
            ratio=ours / base if base else None),
        row("per scheduled run", ours / args.jobs * 1000, "ms"),
    ], {"jobs": args.jobs, "minutes": args.minutes, "busy": busy, "idle": idle, "database": args.database_url
        or "sqlite"})


if __name__ == "__main__":
    main()
