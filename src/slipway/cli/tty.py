"""`slipway run -t`: the client side of the /api/v1/apps/{name}/run/tty WebSocket."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
from typing import Any
from urllib.parse import urlencode

from slipway.cli.client import ApiError, Client


def ws_url(client: Client, name: str, command: list[str], rows: int, cols: int) -> str:
    base = client.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    query = urlencode([("command", word) for word in command] + [("rows", rows), ("cols", cols)])
    return f"{base}/api/v1/apps/{name}/run/tty?{query}"


def run_tty(client: Client, name: str, command: list[str]) -> int:
    """Relay the local terminal to the remote command; its exit code (1 when refused, 125 when it could
    not start)."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import connect

    size = shutil.get_terminal_size()
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    stack = contextlib.ExitStack()
    try:
        ws = stack.enter_context(connect(ws_url(client, name, command, size.lines, size.columns),
                                         additional_headers=headers, open_timeout=30, max_size=None))
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ApiError(status, f"the terminal was refused (HTTP {status}): the token must be valid and may "
                               f"deploy {name} (app:deploy)") from exc
    except OSError as exc:
        raise ApiError(0, f"cannot reach Slipway at {client.url}: {exc}") from exc
    interactive = sys.stdin.isatty()
    saved: Any = None
    old_winch: Any = None
    if interactive:
        import termios
        import tty

        saved = termios.tcgetattr(sys.stdin.fileno())
        tty.setraw(sys.stdin.fileno())

        def winch(*_: object) -> None:
            size = shutil.get_terminal_size()
            with contextlib.suppress(Exception):
                ws.send(json.dumps({"resize": [size.lines, size.columns]}))

        old_winch = signal.signal(signal.SIGWINCH, winch)

    def pump_stdin() -> None:
        fd = sys.stdin.fileno()
        try:
            while True:
                data = os.read(fd, 4096)
                if not data:
                    ws.send(b"\x04")  # end of piped input: ^D, the terminal's end-of-file
                    return
                ws.send(data)
        except (OSError, ConnectionClosed):
            return

    threading.Thread(target=pump_stdin, name="stdin", daemon=True).start()
    code, error = 1, None
    out = sys.stdout.buffer
    try:
        while True:
            message = ws.recv()
            if isinstance(message, bytes):
                out.write(message)
                out.flush()
                continue
            control = json.loads(message)
            if "error" in control:
                error = control["error"]
            if "exit" in control:
                code = int(control["exit"])
                break
    except ConnectionClosed as exc:
        if exc.rcvd is not None and exc.rcvd.code == 1008:
            error = f"refused: {exc.rcvd.reason}"
        else:
            error = error or "lost the connection before the command ended"
    finally:
        if interactive:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
            signal.signal(signal.SIGWINCH, old_winch)
        with contextlib.suppress(Exception):
            stack.close()
    if error:
        print(f"!! {error}", file=sys.stderr)
    return code
