"""The one way Slipway runs a subprocess: an argument list (never a shell), output streamed by line."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    args: list[str]
    returncode: int
    tail: list[str]
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
    tail_lines: int = 40,
) -> Result:
    """Run `args`, feed each output line (stdout and stderr merged) to `on_line`, keep the last lines.

    The child gets its own process group so a timeout kills everything it started.
    """
    argv = [str(a) for a in args]
    tail: deque[str] = deque(maxlen=tail_lines)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout if timeout else None
    timed_out = False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    try:
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if wait == 0.0:
                timed_out = True
                break
            if not sel.select(timeout=min(wait, 1.0) if wait is not None else 1.0):
                if proc.poll() is not None:
                    # the child exited but a grandchild may still hold the pipe: keep reading until EOF
                    continue
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                tail.append(line)
                if on_line:
                    on_line(line)
        if buffer:
            line = buffer.decode(errors="replace")
            tail.append(line)
            if on_line:
                on_line(line)
    finally:
        sel.close()
        if timed_out:
            _kill_group(proc.pid)
        proc.stdout.close()
        returncode = proc.wait()
    return Result(argv, returncode, list(tail), timed_out)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def check_output(args: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = 60) -> str:
    """Run `args` and return stdout; raise CalledProcessError (with stderr) on failure."""
    completed = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if completed.returncode != 0:
        raise subprocess.CalledProcessError(completed.returncode, completed.args, completed.stdout,
                                            completed.stderr)
    return completed.stdout
