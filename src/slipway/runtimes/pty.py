"""A process under a pseudo-terminal: the interactive one-off commands of `slipway run -t`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios


def clamp_size(rows: int, cols: int) -> tuple[int, int]:
    return max(1, min(int(rows), 1000)), max(1, min(int(cols), 1000))


def set_size(fd: int, rows: int, cols: int) -> None:
    rows, cols = clamp_size(rows, cols)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyProcess:
    """argv started on the slave side of a new PTY, in its own session (the PTY is its controlling
    terminal); read and write the master side with `read` and `write`. A runtimes.base.Terminal."""

    def __init__(self, argv: list[str], *, cwd: str, env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        master, slave = os.openpty()
        try:
            set_size(slave, rows, cols)
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                         start_new_session=True, close_fds=True,
                                         preexec_fn=_controlling_tty)  # noqa: PLW1509 - setsid then TIOCSCTTY
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.fd = master

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
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
            except OSError:
                return

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(OSError):
            set_size(self.fd, rows, cols)

    def wait(self, timeout: float | None = None) -> int:
        code = self.proc.wait(timeout)
        return 128 - code if code < 0 else code  # killed by signal N: 128+N, like a shell

    def terminate(self, grace: float = 3.0) -> None:
        """End the whole session of the command (its children too)."""
        if self.proc.poll() is None:
            for sig in (signal.SIGHUP, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def close(self) -> None:
        self.terminate()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _controlling_tty() -> None:
    # after setsid (start_new_session), make stdin (the PTY slave) the controlling terminal: job control,
    # ^C as SIGINT to the foreground group
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
