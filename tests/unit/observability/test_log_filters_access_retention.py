"""Live-tail filters, Caddy access log parsing and error rate, the retention plan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from slipway.observability.logretention import LogFile, plan
from slipway.observability.logsearch import Query, access_files, error_rate, line_matches, parse_access, scan_access

TS = "2024-05-01T12:00:00.000Z"


def test_live_tail_filters_use_the_search_rules() -> None:
    error, info = f"{TS} stdout ERROR timeout talking to db", f"{TS} stderr INFO all good"
    assert line_matches(error, Query()) and line_matches(info, Query())
    assert line_matches(error, Query(level="warn")) and not line_matches(info, Query(level="warn"))
    assert line_matches(error, Query(q="TIMEOUT")) and not line_matches(info, Query(q="timeout"))
    assert line_matches(info, Query(stream="stderr")) and not line_matches(error, Query(stream="stderr"))
    assert line_matches("garbage", Query()) and not line_matches("garbage", Query(level="info"))


def _entry(ts: float, status: int, uri: str = "/x", method: str = "GET") -> str:
    return json.dumps({"level": "info", "ts": ts, "logger": "http.log.access.slipway_access_hello",
                       "msg": "handled request", "request": {"method": method, "uri": uri, "host": "hello.test"},
                       "duration": 0.0123, "size": 2, "status": status})


def test_access_entries_become_hits_with_levels_from_the_status() -> None:
    hit = parse_access(_entry(1714564800.5, 503, "/pay?x=1", "POST"))
    assert hit is not None
    assert (hit.ts, hit.level, hit.stream, hit.instance) == ("2024-05-01T12:00:00.500Z", "error", "access", "router")
    assert hit.text == "POST /pay?x=1 503 12.3ms"
    assert parse_access(_entry(1714564800, 404)).level == "warn"  # type: ignore[union-attr]
    assert parse_access(_entry(1714564800, 200)).level == "info"  # type: ignore[union-attr]
    assert parse_access("not json") is None and parse_access('{"msg": "no status"}') is None


def test_access_search_reads_rolled_files_oldest_first_and_counts_errors(tmp_path: Path) -> None:
    directory = tmp_path / "caddy" / "access"
    directory.mkdir(parents=True)
    base = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0).timestamp() - 120
    rolled = directory / "hello-2024-05-01T12-00-00.000.log"
    rolled.write_text(_entry(base, 500) + "\n" + _entry(base + 1, 200) + "\n")
    (directory / "hello.log").write_text(_entry(base + 61, 200) + "\n" + _entry(base + 62, 404) + "\n")
    (directory / "hello-world.log").write_text(_entry(base, 500) + "\n")  # another app
    assert [p.name for p in access_files(tmp_path, "hello")] == ["hello-2024-05-01T12-00-00.000.log", "hello.log"]
    hits = list(scan_access(tmp_path, "hello", Query(level="warn")))
    assert [h.text.split()[2] for h in hits] == ["500", "404"]
    assert [h.text.split()[2] for h in scan_access(tmp_path, "hello", Query(q="get /x 2"))] == ["200", "200"]
    points = error_rate(tmp_path, "hello", dt.datetime.fromtimestamp(base - 1, dt.UTC))
    assert [(p["requests"], p["errors"], p["error_rate"]) for p in points] == [(2, 1, 0.5), (2, 0, 0.0)]


def test_retention_plan_drops_old_files_then_oldest_until_under_budget() -> None:
    now = 1_000_000.0
    files = [
        LogFile(Path("live/out.log"), 500, now - 10 * 86400, deletable=False),  # never, however old
        LogFile(Path("a/out.log.2"), 100, now - 9 * 86400, deletable=True),     # too old
        LogFile(Path("a/out.log.1"), 300, now - 3 * 86400, deletable=True),
        LogFile(Path("stopped/out.log"), 300, now - 2 * 86400, deletable=True),
        LogFile(Path("a/out.log"), 100, now, deletable=False),
    ]
    doomed = [f.path.as_posix() for f in plan(files, max_age_s=7 * 86400, max_bytes=10_000, now=now)]
    assert doomed == ["a/out.log.2"]
    doomed = [f.path.as_posix() for f in plan(files, max_age_s=7 * 86400, max_bytes=950, now=now)]
    assert doomed == ["a/out.log.2", "a/out.log.1"]
    doomed = [f.path.as_posix() for f in plan(files, max_age_s=7 * 86400, max_bytes=1, now=now)]
    assert doomed == ["a/out.log.2", "a/out.log.1", "stopped/out.log"]
