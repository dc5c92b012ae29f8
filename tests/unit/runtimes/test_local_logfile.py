from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from slipway.runtimes.local.logfile import (
    LineSplitter,
    RotatingLog,
    follow,
    format_line,
    needs_rotation,
    rotation_renames,
    tail,
    timestamp,
)


def test_line_format_is_iso_utc_stream_and_text() -> None:
    assert timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_line("stderr", "boom", when=1_700_000_000.1234) == "2023-11-14T22:13:20.123Z stderr boom\n"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z stdout hi\n", format_line("stdout", "hi"))


def test_splitter_keeps_partial_lines_and_decodes_safely() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o\r\nthree\n\n") == ["two", "three", ""]
    assert splitter.feed(b"\xff half") == []
    assert splitter.flush() == ["\ufffd half"]
    assert splitter.flush() == []


def test_splitter_cuts_runaway_lines() -> None:
    splitter = LineSplitter()
    (cut,) = splitter.feed(b"x" * 70_000)
    assert len(cut) == 70_000
    assert splitter.flush() == []


def test_rotation_decision_and_renames(tmp_path: Path) -> None:
    assert not needs_rotation(0, 5000, 100)  # a huge first line still goes into an empty file
    assert not needs_rotation(50, 50, 100)
    assert needs_rotation(51, 50, 100)
    log = tmp_path / "out.log"
    assert rotation_renames(log, 2) == [(tmp_path / "out.log.1", tmp_path / "out.log.2"),
                                        (log, tmp_path / "out.log.1")]
    assert rotation_renames(log, 0) == []


def test_rotating_log_keeps_the_configured_number_of_backups(tmp_path: Path) -> None:
    tmp_path = tmp_path / "instance"  # a directory of our own: shared fixtures may write into tmp_path
    tmp_path.mkdir()
    path = tmp_path / "out.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    for n in range(40):
        log.write(f"line {n:03d} {'x' * 20}\n")  # 30 bytes: 3 lines per file
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.log", "out.log.1", "out.log.2"]
    assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
    assert path.read_text().splitlines()[-1].startswith("line 039")
    assert tail(path, 5, backups=2) == [f"line {n:03d} {'x' * 20}" for n in range(35, 40)]
    assert tail(path, 1000, backups=2)[0].startswith("line 033")  # everything kept, oldest first


def test_rotating_log_without_backups_truncates(tmp_path: Path) -> None:
    tmp_path = tmp_path / "instance"
    tmp_path.mkdir()
    log = RotatingLog(tmp_path / "out.log", max_bytes=10, backups=0)
    log.write("123456789\n")
    log.write("abc\n")
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.log"]
    assert (tmp_path / "out.log").read_text() == "abc\n"


def test_tail_of_missing_or_empty_files(tmp_path: Path) -> None:
    assert tail(tmp_path / "none.log", 10) == []
    (tmp_path / "out.log").write_text("")
    assert tail(tmp_path / "out.log", 10) == []
    (tmp_path / "out.log").write_text("a\nb\n")
    assert tail(tmp_path / "out.log", 0) == []
    assert tail(tmp_path / "out.log", 1) == ["b"]


def test_follow_sees_new_lines_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("old line, written before follow started\n")
    log = RotatingLog(path, max_bytes=60, backups=1)

    def writer() -> None:
        time.sleep(0.2)
        for n in range(12):
            log.write(f"{n:02d} {'y' * 20}\n")  # 24 bytes: rotates every two lines
            time.sleep(0.03)

    thread = threading.Thread(target=writer)
    thread.start()
    seen = list(follow(path, stop_after=1.0, poll=0.01))
    thread.join()
    log.close()
    assert [line[:2] for line in seen] == [f"{n:02d}" for n in range(12)]


def test_follow_ends_when_told_to(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    path.write_text("")
    with open(path, "a") as fh:
        lines = follow(path, keep_going=lambda: False)
        fh.write("late\nunfinished")
        fh.flush()
        assert list(lines) == ["late", "unfinished"]
