"""The instance log: one timestamped line per output line, size-rotated; plus tail and follow for readers."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 64 * 1024  # a "line" longer than this is cut, so one runaway write cannot exhaust memory


def timestamp(when: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds and a Z, e.g. 2024-05-01T12:00:00.123Z."""
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_line(stream: str, line: str, when: float | None = None) -> str:
    return f"{timestamp(when)} {stream} {line}\n"


class LineSplitter:
    """Turns chunks of a byte stream into decoded lines; keeps the unfinished tail for the next chunk."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        if len(self._buffer) > MAX_LINE:
            complete.append(self._buffer)
            self._buffer = b""
        return [_decode(raw) for raw in complete]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        return [_decode(rest)] if rest else []


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


def rotated_name(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}") if n else path


def rotation_renames(path: Path, backups: int) -> list[tuple[Path, Path]]:
    """(source, target) renames that shift out.log → out.log.1 → … ; the oldest is overwritten."""
    return [(rotated_name(path, n - 1), rotated_name(path, n)) for n in range(backups, 0, -1)]


def needs_rotation(size: int, incoming: int, max_bytes: int) -> bool:
    # never rotate an empty file: a single line larger than max_bytes still has to go somewhere
    return size > 0 and size + incoming > max_bytes


class RotatingLog:
    """Append-only writer of out.log that rotates at `max_bytes`, keeping `backups` older files."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._fh = self._open()

    def _open(self) -> BinaryIO:
        # 0600: the app's output may hold its secrets; the supervisor (Slipway's user) writes it, not the app
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fh = open(fd, "ab")  # noqa: SIM115 - kept open for the life of the supervisor
        self._size = fh.tell()
        return fh

    def write(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace")
        if needs_rotation(self._size, len(data), self.max_bytes):
            self.rotate()
        self._fh.write(data)
        self._fh.flush()  # readers (logs, follow) and a crash of the supervisor must not lose lines
        self._size += len(data)

    def rotate(self) -> None:
        self._fh.close()
        if self.backups > 0:
            for source, target in rotation_renames(self.path, self.backups):
                if source.exists():
                    os.replace(source, target)
        else:
            self.path.unlink(missing_ok=True)
        self._fh = self._open()

    def close(self) -> None:
        self._fh.close()


def tail(path: Path, lines: int, backups: int = 1) -> list[str]:
    """The last `lines` lines of `path`, reaching into out.log.1 … when the current file is shorter."""
    result: deque[str] = deque(maxlen=max(lines, 0))
    if lines <= 0:
        return []
    for n in range(backups, -1, -1):  # oldest first, so the deque keeps the newest
        try:
            with open(rotated_name(path, n), "rb") as fh:
                _tail_into(fh, result, lines)
        except FileNotFoundError:
            continue
    return list(result)


def _tail_into(fh: BinaryIO, result: deque[str], lines: int) -> None:
    # read backwards in blocks until enough newlines are seen, so a 10 MB log is not read whole
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    block, data = 65536, b""
    while end > 0 and data.count(b"\n") <= lines:
        start = max(0, end - block)
        fh.seek(start)
        data = fh.read(end - start) + data
        end = start
    chunk = data.split(b"\n")
    if chunk and chunk[-1] == b"":
        chunk.pop()
    for raw in chunk[-lines:]:
        result.append(_decode(raw))


def follow(path: Path, *, stop_after: float | None = None, keep_going: Callable[[], bool] = lambda: True,
           poll: float = 0.1) -> Iterator[str]:
    """Yield lines appended to `path` after this call; survives rotation (the file being renamed away).

    Ends after `stop_after` seconds, or once `keep_going()` turns false and what was written is read.
    The file is opened here, not at the first next(), so nothing written in between is missed.
    """
    deadline = None if stop_after is None else time.monotonic() + stop_after
    return _follow(path, _open_at_end(path), deadline, keep_going, poll)


def _follow(path: Path, fh: BinaryIO | None, deadline: float | None, keep_going: Callable[[], bool],
            poll: float) -> Iterator[str]:
    splitter = LineSplitter()
    try:
        while True:
            if fh is None:
                fh = _open_at(path, 0)  # created after we started: read it from its start
            if fh is not None:
                yield from splitter.feed(fh.read())
                if _rotated(path, fh):
                    yield from splitter.feed(fh.read())  # the rest of the old file, then the new one
                    fh.close()
                    fh = _open_at(path, 0)
                    continue
            if deadline is not None and time.monotonic() >= deadline:
                return
            if not keep_going():
                if fh is not None:
                    yield from splitter.feed(fh.read())
                yield from splitter.flush()
                return
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
    finally:
        if fh is not None:
            fh.close()


def _open_at(path: Path, offset: int) -> BinaryIO | None:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by follow()
    except FileNotFoundError:
        return None
    fh.seek(offset)
    return fh


def _open_at_end(path: Path) -> BinaryIO | None:
    fh = _open_at(path, 0)
    if fh is not None:
        fh.seek(0, os.SEEK_END)
    return fh


def _rotated(path: Path, fh: BinaryIO) -> bool:
    """True when `path` now names a different file than the one we hold open (or was truncated)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False  # between rename and re-create: keep reading the old one for now
    held = os.fstat(fh.fileno())
    return (current.st_ino, current.st_dev) != (held.st_ino, held.st_dev) or current.st_size < fh.tell()
