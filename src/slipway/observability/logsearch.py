"""Search over the instances' log files (`<ts> <stream> <text>` lines, rotated out.log.N … out.log).

Lines are read file by file, oldest first, filtered on the cheap fields first (the ISO timestamp
compares as a string), and merged across instances by timestamp, newest last. A file whose last write
is older than `since` is skipped unread.

Every function that serves lines takes `redact` (redaction.for_caller: the app's env values masked for
a caller who may not reveal them); it applies before the text filter, so `q` cannot probe a masked value.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from slipway.deploys.models import Deploy, DeployLogLine, Release
from slipway.instances.models import Instance
from slipway.platform import Platform
from slipway.redaction import NOTHING, Redactor

LEVELS = {"debug": 10, "info": 20, "warn": 30, "error": 40}
ALIASES = {"trace": "debug", "debug": "debug", "info": "info", "notice": "info", "warn": "warn",
           "warning": "warn", "err": "error", "error": "error", "fatal": "error", "critical": "error",
           "crit": "error", "panic": "error", "alert": "error", "emerg": "error", "severe": "error"}
JSON_KEYS = ("level", "severity", "levelname", "lvl", "log.level", "loglevel")
LOGFMT = re.compile(r"\b(?:level|lvl|severity)=\"?([A-Za-z]+)", re.IGNORECASE)
WORD = re.compile(r"(?<![A-Za-z])(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)"
                  r"(?![A-Za-z])")
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (stdout|stderr) (.*)\Z", re.DOTALL)
HEAD = 120  # a level word is looked for in the first characters only (not in the message body)
# numeric levels in JSON logs come from pino/bunyan (Node); Python JSON loggers write level names
NUMERIC = {10: "debug", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "error"}


def parse_level(text: str) -> str | None:
    """The level of one line of app output: from a JSON object, logfmt `level=`, or a level word
    (ERROR, WARN, [INFO], E/ … as written by common loggers) near the start; None if none is found."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            document = None
        if isinstance(document, dict):
            for key in JSON_KEYS:
                value = document.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    return NUMERIC.get(min(value - value % 10, 60))
                if isinstance(value, str) and value.lower() in ALIASES:
                    return ALIASES[value.lower()]
            return None
    head = text[:HEAD]
    match = LOGFMT.search(head)
    if match and match.group(1).lower() in ALIASES:
        return ALIASES[match.group(1).lower()]
    match = WORD.search(head)
    return ALIASES[match.group(1).lower()] if match else None


@dataclass(frozen=True)
class Query:
    q: str | None = None
    level: str | None = None  # minimum level
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    release: int | None = None
    instance: str | None = None
    stream: str | None = None
    limit: int = 500


@dataclass(frozen=True)
class Hit:
    ts: str
    stream: str
    level: str | None
    text: str
    instance: str
    release: int | None
    process_type: str

    def as_text(self) -> str:
        return f"{self.ts} {self.instance} {self.stream} {self.text}"


def _stamp(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _files(directory: Path) -> list[Path]:
    """out.log.N … out.log.1, out.log: oldest first."""
    rotated = sorted((p for p in directory.glob("out.log.*") if p.suffix[1:].isdigit()),
                     key=lambda p: int(p.suffix[1:]), reverse=True)
    return [*rotated, directory / "out.log"]


def _scan(directory: Path, query: Query, meta: tuple[str, int | None, str], redact: Redactor = NOTHING
          ) -> Iterator[Hit]:
    since, until = _stamp(query.since), _stamp(query.until)
    needle = query.q.lower() if query.q else None
    minimum = LEVELS.get(query.level or "", 0)
    epoch_since = query.since.timestamp() if query.since else None
    for path in _files(directory):
        try:
            if epoch_since is not None and os.stat(path).st_mtime < epoch_since:
                continue
            fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue  # rotated away between listing and opening
        with fh:
            for raw in fh:
                ts = raw[:24]
                if since is not None and ts < since:
                    continue
                if until is not None and ts > until:
                    return  # files are in time order: nothing later can match
                match = LINE.match(raw.rstrip("\n"))
                if match is None:
                    continue
                _, stream, text = match.groups()
                if query.stream and stream != query.stream:
                    continue
                text = redact(text)
                if needle is not None and needle not in text.lower():
                    continue
                level = parse_level(text)
                if minimum and LEVELS.get(level or "", 0) < minimum:
                    continue
                yield Hit(ts, stream, level, text, *meta)


def instances_of(session: Session, app_id: int, query: Query) -> list[tuple[str, int | None, str]]:
    rows = session.execute(
        select(Instance.id, Release.version, Instance.process_type)
        .join(Release, Release.id == Instance.release_id, isouter=True)
        .where(Instance.app_id == app_id).order_by(Instance.created_at)).all()
    return [(iid, version, ptype) for iid, version, ptype in rows
            if (query.instance is None or iid == query.instance)
            and (query.release is None or version == query.release)]


def log_root(platform: Platform) -> Path:
    root = getattr(platform.runtime, "root", None)
    return Path(root) if root is not None else platform.settings.home / "instances"


def stream(platform: Platform, app_id: int, query: Query, redact: Redactor = NOTHING) -> Iterator[Hit]:
    """Every matching line, oldest first (lazy: an export never holds the whole result)."""
    with platform.sessions() as session:
        metas = instances_of(session, app_id, query)
    root = log_root(platform)
    scans = [_scan(root / meta[0], query, meta, redact) for meta in metas if (root / meta[0]).is_dir()]
    return heapq.merge(*scans, key=lambda hit: hit.ts)


def search(platform: Platform, app_id: int, query: Query, redact: Redactor = NOTHING) -> tuple[list[Hit], bool]:
    """The newest `limit` matches, newest last; and whether older matches were left out."""
    newest: deque[Hit] = deque(maxlen=query.limit)
    total = 0
    for hit in stream(platform, app_id, query, redact):
        newest.append(hit)
        total += 1
    return list(newest), total > query.limit


def search_deploy_logs(session: Session, app_id: int, query: Query, redact: Redactor = NOTHING
                       ) -> list[dict[str, object]]:
    """The same filters over the deploy logs in the database (text in SQL, level in Python; the text in
    Python too when lines are redacted: a value set after a deploy is not masked in its stored log)."""
    stmt = (select(DeployLogLine.ts, DeployLogLine.line, Deploy.id)
            .join(Deploy, Deploy.id == DeployLogLine.deploy_id).where(Deploy.app_id == app_id))
    if query.q and not redact:
        stmt = stmt.where(func.lower(DeployLogLine.line).contains(query.q.lower(), autoescape=True))
    if query.since:
        stmt = stmt.where(DeployLogLine.ts >= query.since)
    if query.until:
        stmt = stmt.where(DeployLogLine.ts <= query.until)
    python_q = query.q.lower() if query.q and redact else None
    rows = session.execute(stmt.order_by(DeployLogLine.ts.desc(), DeployLogLine.id.desc())
                           .limit(query.limit * 4 if query.level or python_q else query.limit)).all()
    minimum = LEVELS.get(query.level or "", 0)
    out = [{"ts": _stamp(ts), "deploy": deploy_id, "level": parse_level(line), "text": redact(line)}
           for ts, line, deploy_id in reversed(rows)]
    if python_q is not None:
        out = [o for o in out if python_q in str(o["text"]).lower()]
    if minimum:
        out = [o for o in out if LEVELS.get(str(o["level"] or ""), 0) >= minimum]
    return out[-query.limit:]


# ---- live tail filters ------------------------------------------------------------------------------------


def redact_line(line: str, redact: Redactor) -> str:
    """One runtime line (`<ts> <stream> <text>`) with its text redacted (the time and stream as they are)."""
    if not redact:
        return line
    match = LINE.match(line.rstrip("\n"))
    if match is None:
        return redact(line)
    ts, stream_, text = match.groups()
    return f"{ts} {stream_} {redact(text)}"


def line_matches(line: str, query: Query) -> bool:
    """Whether one runtime line (`<ts> <stream> <text>`, as logs()/follow() give them) passes the query's
    stream, text and level filters (the same rules as search; release/instance are chosen per instance)."""
    match = LINE.match(line.rstrip("\n"))
    if match is None:
        return not (query.stream or query.q or query.level)
    _, stream_, text = match.groups()
    if query.stream and stream_ != query.stream:
        return False
    if query.q and query.q.lower() not in text.lower():
        return False
    minimum = LEVELS.get(query.level or "", 0)
    return not minimum or LEVELS.get(parse_level(text) or "", 0) >= minimum


def wanted(query: Query, instance_id: str, release: int | None) -> bool:
    return (query.instance is None or query.instance == instance_id) and (
        query.release is None or query.release == release)


# ---- router access logs (Caddy JSON lines, one file per app) -----------------------------------------------


def access_dir(home: Path) -> Path:
    return home / "caddy" / "access"


def access_files(home: Path, app_name: str) -> list[Path]:
    """<app>-<time>.log rolled files (Caddy's lumberjack names, oldest first), then <app>.log."""
    directory = access_dir(home)
    pattern = re.compile(re.escape(app_name) + r"-\d{4}-\d\d-\d\dT[\d.-]+\.log(\.gz)?$")
    rolled = sorted(p for p in directory.glob(f"{app_name}-*.log") if pattern.match(p.name)) \
        if directory.is_dir() else []
    return [*rolled, directory / f"{app_name}.log"]


def parse_access(raw: str) -> Hit | None:
    """One Caddy access log entry as a Hit: `METHOD uri status duration`, level error for 5xx, warn for 4xx."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or "status" not in entry:
        return None
    ts = entry.get("ts")
    if isinstance(ts, (int, float)):
        stamp = _stamp(dt.datetime.fromtimestamp(ts, dt.UTC))
    elif isinstance(ts, str):
        try:
            stamp = _stamp(dt.datetime.fromisoformat(ts.replace("Z", "+00:00")))
        except ValueError:
            return None
    else:
        return None
    request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
    status = int(entry.get("status") or 0)
    duration = float(entry.get("duration") or 0.0)
    level = "error" if status >= 500 else "warn" if status >= 400 else "info"
    text = f"{request.get('method', '-')} {request.get('uri', '-')} {status} {duration * 1000:.1f}ms"
    return Hit(str(stamp), "access", level, text, "router", None, "web")


def scan_access(home: Path, app_name: str, query: Query) -> Iterator[Hit]:
    since, until = _stamp(query.since), _stamp(query.until)
    needle = query.q.lower() if query.q else None
    minimum = LEVELS.get(query.level or "", 0)
    epoch_since = query.since.timestamp() if query.since else None
    for path in access_files(home, app_name):
        try:
            if epoch_since is not None and os.stat(path).st_mtime < epoch_since:
                continue
            fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
        with fh:
            for raw in fh:
                hit = parse_access(raw)
                if hit is None or (since is not None and hit.ts < since):
                    continue
                if until is not None and hit.ts > until:
                    return
                if needle is not None and needle not in hit.text.lower():
                    continue
                if minimum and LEVELS.get(hit.level or "", 0) < minimum:
                    continue
                yield hit


def search_access(home: Path, app_name: str, query: Query) -> tuple[list[Hit], bool]:
    newest: deque[Hit] = deque(maxlen=query.limit)
    total = 0
    for hit in scan_access(home, app_name, query):
        newest.append(hit)
        total += 1
    return list(newest), total > query.limit


def error_rate(home: Path, app_name: str, since: dt.datetime) -> list[dict[str, object]]:
    """Per minute since `since`: requests, 5xx count and their share, from the app's access log."""
    buckets: dict[str, list[int]] = {}
    for hit in scan_access(home, app_name, Query(since=since)):
        counts = buckets.setdefault(hit.ts[:16] + ":00Z", [0, 0])
        counts[0] += 1
        counts[1] += hit.level == "error"
    return [{"ts": minute, "requests": total, "errors": errors, "error_rate": errors / total}
            for minute, (total, errors) in sorted(buckets.items())]
