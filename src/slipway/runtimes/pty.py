"""A process under a pseudo-terminal: the interactive one-off commands of `slipway run -t`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil

WRITE_PATIENCE = 10.0  # seconds input waits for the command to read it before it is dropped


class InputPump:
    """Input to a terminal, written by one thread in the order it came, so that the caller (an event loop)
    never waits: a command that reads no input may stall this thread for WRITE_PATIENCE, never the server."""

    def __init__(self, send: Callable[[memoryview], int], selectable: Any) -> None:
        self._send, self._selectable = send, selectable
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tty-input")

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            self._thread.submit(fn, *args)

    def write(self, data: bytes) -> None:
        self.submit(self.write_now, bytes(data))

    def write_now(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self._send(view):]
            except BlockingIOError:
                try:
                    _, writable, _ = select.select([], [self._selectable], [], WRITE_PATIENCE)
                except (OSError, ValueError):  # closed meanwhile
                    return
                if not writable:
                    return  # the command has not read its input for that long: drop it, never hang
            except OSError:
                return

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)  # pending input has nobody left to read it


def clamp_size(rows: int, cols: int) -> tuple[int, int]:
    return max(1, min(int(rows), 1000)), max(1, min(int(cols), 1000))


def set_size(fd: int, rows: int, cols: int) -> None:
    rows, cols = clamp_size(rows, cols)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyProcess:
    """argv started on the slave side of a new PTY, in its own session (the PTY is its controlling
    terminal); read and write the master side with `read` and `write`. A runtimes.base.Terminal."""

    def __init__(self, argv: list[str], *, cwd: str, env: dict[str, str], rows: int = 24, cols: int = 80,
                 controlling_tty: bool = True, on_close: Callable[[], None] | None = None) -> None:
        """controlling_tty=False: the command makes the PTY its controlling terminal itself (a sandbox does,
        inside its own PID namespace, with `setsid --ctty`: a shell must find its terminal's process group
        there). on_close: called after close()."""
        self._on_close = on_close  # e.g. remove the one-off's cgroup once its session is over
        master, slave = os.openpty()
        try:
            set_size(slave, rows, cols)
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True, close_fds=True,
                                         # setsid, then TIOCSCTTY
                                         preexec_fn=_controlling_tty if controlling_tty else None)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.fd = master
        self._input = InputPump(lambda view: os.write(master, view), master)

    @property
    def audit_fields(self) -> dict[str, int]:
        return {"pid": self.proc.pid}

    def read(self, size: int = 65536) -> bytes | None:
        """Output bytes; None when there are none yet; b"" once the process side is closed (EIO on Linux)."""
        try:
            return os.read(self.fd, size)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        self._input.write(data)

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(OSError):
            set_size(self.fd, rows, cols)

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, like a shell

    def terminate(self, grace: float = 3.0) -> None:
        """End the whole session of the command (its children too)."""
        if self.proc.poll() is None:
            # its descendants too, by name: in a sandbox they are in a session of their own
            tree: list[psutil.Process] = []
            with contextlib.suppress(psutil.Error):
                tree = psutil.Process(self.proc.pid).children(recursive=True)
            for sig in (signal.SIGHUP, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, sig)
                for child in tree:
                    with contextlib.suppress(psutil.Error):
                        child.send_signal(sig)
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def close(self) -> None:
        self._input.close()
        self.terminate()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


def _controlling_tty() -> None:
    # after setsid (start_new_session), make stdin (the PTY slave) the controlling terminal: job control,
    # ^C as SIGINT to the foreground group
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
