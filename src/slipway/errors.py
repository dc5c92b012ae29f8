"""One error hierarchy, mapped to HTTP once (in app.py) and to CLI exit codes by the client."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class SlipwayError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class Invalid(SlipwayError):
    status = 422
    code = "invalid"


class NotFound(SlipwayError):
    status = 404
    code = "not_found"


class Conflict(SlipwayError):
    status = 409
    code = "conflict"


class Unauthorized(SlipwayError):
    status = 401
    code = "unauthorized"


class Forbidden(SlipwayError):
    status = 403
    code = "forbidden"


class TooMany(SlipwayError):
    status = 429
    code = "rate_limited"


class Unavailable(SlipwayError):
    """Something we depend on is missing or exhausted (port pool, router, git remote)."""

    status = 503
    code = "unavailable"


class GitError(SlipwayError):
    status = 422
    code = "git_error"


class BuildError(SlipwayError):
    status = 422
    code = "build_failed"


class DeployError(SlipwayError):
    status = 409
    code = "deploy_failed"


class DatabaseUnavailable(Unavailable):
    """The database cannot be reached or opened (server down, file gone, connection pool exhausted)."""

    code = "database_unavailable"

    def __init__(self, message: str, detail: object = None) -> None:  # `detail` names the cause too
        super().__init__(message, message if detail is None else detail)


class DiskFull(SlipwayError):
    """A write failed for lack of space (a file of ours, or the database's)."""

    status = 507
    code = "disk_full"

    def __init__(self, message: str, detail: object = None) -> None:
        super().__init__(message, message if detail is None else detail)


# SQLite's primary result codes that mean "the database is not there / not usable", not a bug of ours
_SQLITE_FULL = 13
_SQLITE_UNAVAILABLE = {5: "database is locked", 6: "database table is locked", 8: "database is read-only",
                       10: "disk I/O error", 11: "database file is corrupt", 14: "unable to open database file",
                       26: "file is not a database"}


_SQLITE_IOERR = 10
NEARLY_FULL = 1024 * 1024  # bytes free under which a failed write is put down to a full disk


def from_exception(exc: BaseException, *, disks: Iterable[Path] = ()) -> SlipwayError | None:
    """What an infrastructure failure means to a caller: disk full (507) or database unavailable (503).

    The one place that knows the database drivers' errors; app.py maps the result to HTTP like any other
    SlipwayError. None: not an infrastructure failure (a bug), left to be a 500. The messages name the
    cause but no path, host or URL (the health endpoint is public). SQLite reports a full disk as a
    "disk I/O error" when it fails to grow its WAL or shared-memory file: `disks` (where the database and
    Slipway's files are) tell the two apart."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"disk full: {exc.strerror or 'no space left on device'}")
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection is busy or hanging
        return DatabaseUnavailable("database unavailable: no connection available (pool timeout)")
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        primary = sqlite_code & 0xFF
        if primary == _SQLITE_FULL or primary == _SQLITE_IOERR and _nearly_full(disks):
            return DiskFull("disk full: the database cannot grow (database or disk is full)")
        if primary in _SQLITE_UNAVAILABLE:
            return DatabaseUnavailable(f"database unavailable: {_SQLITE_UNAVAILABLE[primary]}")
        return None
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate == "53100":  # PostgreSQL disk_full
        return DiskFull("disk full: the database server has no space left")
    if sqlstate.startswith(("08", "57P", "53")) or exc.connection_invalidated or (
            not sqlstate and isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)):
        return DatabaseUnavailable(f"database unavailable: {_cause(orig)}")
    return None


def _nearly_full(paths: Iterable[Path]) -> bool:
    import shutil

    for path in paths:
        try:
            if shutil.disk_usage(path).free < NEARLY_FULL:
                return True
        except OSError:
            continue
    return False


def _cause(orig: BaseException | None) -> str:
    """The driver's reason without the host/port it names: 'connection to server at "10.0.0.5", port
    5432 failed: Connection refused' → 'Connection refused'."""
    first = str(orig or "").strip().splitlines()[0] if str(orig or "").strip() else "no connection"
    return first.rsplit(": ", 1)[-1].strip() or "no connection"
