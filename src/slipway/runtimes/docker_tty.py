"""`slipway run -t` on the docker runtime: a one-off container with a TTY, attached like `docker run -it`.

The container is created with a TTY and stdin open, attached through the Engine API's hijacked
`POST /containers/{id}/attach` connection *before* it starts (so not a byte of output is lost), then
started and resized. With a TTY the attach stream is the terminal's raw bytes, not the multiplexed
stdout/stderr frames of a container without one.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any

from slipway.errors import Conflict, NotFound, SlipwayError, Unavailable
from slipway.runtimes.pty import InputPump, clamp_size

if TYPE_CHECKING:
    from slipway.runtimes.docker import DockerRuntime

GRACE = 3.0  # seconds between SIGHUP and SIGKILL, like the local runtime's PTY


def open_tty(runtime: DockerRuntime, image: str, argv: list[str], *, name: str, options: dict[str, Any],
             rows: int, cols: int) -> ContainerTerminal:
    """A new container of `image` running argv under a TTY, attached and started; removed on close()."""
    client = runtime.client
    # not detached: docker-py then sets AttachStdin and StdinOnce, so stdin closes when the attach
    # connection does, and a shell whose control plane went away ends instead of waiting forever
    container = runtime.call("create a one-off container", lambda: client.containers.create(
        image, argv, name=name, tty=True, stdin_open=True, **options))
    try:
        attached = runtime.call("attach to the one-off container", lambda: client.api.attach_socket(
            container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}))
    except BaseException:
        with contextlib.suppress(SlipwayError):
            runtime.call("remove the one-off container", lambda: container.remove(force=True))
        raise
    terminal = ContainerTerminal(runtime, container, attached)
    try:
        runtime.call("start the one-off container", container.start)
        terminal.resize_now(rows, cols)  # before the first input can reach the command
    except BaseException:
        terminal.close()
        raise
    return terminal


class ContainerTerminal:
    """A one-off container attached with a TTY: a runtimes.base.Terminal.

    write() and resize() return at once: one worker thread sends input and resizes to the engine in the
    order they came (a resize then `stty size` must see the new size), off the caller's thread (the event
    loop of the WebSocket), which neither an engine call nor a command that reads no input may stall."""

    def __init__(self, runtime: DockerRuntime, container: Any, attached: Any) -> None:
        self._runtime = runtime
        self._container = container
        self._attached = attached  # keeps the HTTP response (and so the connection) alive
        # docker-py gives the hijacked connection as a read-only SocketIO (http, unix) or a socket (https)
        self._sock: socket.socket = getattr(attached, "_sock", attached)
        self._sock.setblocking(False)
        self._input = InputPump(self._sock.send, self._sock)
        self.fd = self._sock.fileno()
        self.name = container.name

    @property
    def audit_fields(self) -> dict[str, str]:
        return {"container": self.name}

    def read(self, size: int = 65536) -> bytes | None:
        try:
            return self._sock.recv(size)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        self._input.write(data)

    def resize(self, rows: int, cols: int) -> None:
        self._input.submit(self.resize_now, rows, cols)  # in order with the input

    def resize_now(self, rows: int, cols: int) -> None:
        rows, cols = clamp_size(rows, cols)
        with contextlib.suppress(SlipwayError):  # the container has just ended: nothing left to resize
            self._runtime.call("resize the terminal", lambda: self._runtime.client.api.resize(
                self._container.id, height=rows, width=cols))

    def terminate(self) -> None:
        # PID 1 is the engine's init (init=True), which passes the signals on to the command
        for sig in ("SIGHUP", "SIGKILL"):
            try:
                self._runtime.call("signal the one-off container", lambda s=sig: self._container.kill(signal=s))
            except (Conflict, NotFound):
                return  # not running any more
            except SlipwayError:
                continue
            if self._exit_code(GRACE) is not None:
                return

    def wait(self) -> int:
        code = self._exit_code(self._runtime.timeout)
        if code is None:  # the stream ended, yet the command runs on (it closed its terminal): end it
            self.terminate()
            code = self._exit_code(self._runtime.timeout)
        return 137 if code is None else code

    def close(self) -> None:
        self._input.close()
        _close_socket(self._attached)
        if self._exit_code(0.5) is None:
            self.terminate()
        with contextlib.suppress(SlipwayError):
            self._runtime.call("remove the one-off container", lambda: self._container.remove(force=True))

    def _exit_code(self, timeout: float) -> int | None:
        """The exit code once the container has stopped within timeout seconds; None if it still runs."""
        try:
            result = self._runtime.call("wait for the one-off container", lambda: self._container.wait(
                timeout=max(timeout, 0.1)))
        except NotFound:
            return 137  # removed under us
        except Unavailable:  # the wait timed out (or the engine went away)
            return None
        return int(result.get("StatusCode", 1))


def _close_socket(attached: Any) -> None:
    for thing in (getattr(attached, "_sock", None), attached, getattr(attached, "_response", None)):
        if thing is not None:
            with contextlib.suppress(Exception):
                thing.close()
