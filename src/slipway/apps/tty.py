"""The WebSocket side of `slipway run -t` (and, later, the dashboard's terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import anyio
from fastapi import WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from slipway import events
from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.deploys.models import Release
from slipway.errors import Conflict, Invalid, SlipwayError
from slipway.instances import service as instance_service
from slipway.platform import Platform
from slipway.runtimes.base import Terminal

IDLE_EXIT = 124


def _start(platform: Platform, name: str, command: list[str], actor: str, rows: int,
           cols: int) -> tuple[Terminal, int]:
    with transaction(platform.sessions) as session:
        app = app_service.get(session, name)
        release = session.get(Release, app.live_release_id) if app.live_release_id else None
        if release is None:
            raise Conflict(f"{name} has no live release yet: deploy it first")
        if release.config.get("static_root"):
            raise Invalid(f"{name} is a static site: there is nothing to run commands in")
        session.expunge_all()
    terminal = instance_service.open_tty(platform, app=app, release=release, argv=command, rows=rows, cols=cols)
    try:
        with transaction(platform.sessions) as session:
            events.emit(session, "terminal.started", app_id=app.id, actor=actor, command=command,
                        release=release.version, **terminal.audit_fields)
    except BaseException:
        terminal.close()  # not recorded: not run either
        raise
    return terminal, app.id


def _ended(platform: Platform, app_id: int, actor: str, command: list[str], code: int, seconds: float,
           reason: str) -> None:
    with transaction(platform.sessions) as session:
        events.emit(session, "terminal.ended", app_id=app_id, actor=actor, command=command, exit_code=code,
                    seconds=round(seconds, 1), reason=reason)


async def serve(websocket: WebSocket, platform: Platform, name: str, command: list[str], *, rows: int,
                cols: int) -> None:
    principal = websocket.state.principal  # set by web/deps.authorize, which let the handshake through
    await websocket.accept()
    try:
        terminal, app_id = await run_in_threadpool(_start, platform, name, command, principal.actor, rows, cols)
    except SlipwayError as exc:
        await websocket.send_text(json.dumps({"error": exc.message}))
        await websocket.send_text(json.dumps({"exit": 125}))
        await websocket.close()
        return
    started = time.monotonic()
    idle = platform.settings.tty_idle_timeout
    last = [time.monotonic()]
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        data = terminal.read(65536)
        if data is None:
            return
        if not data:
            loop.remove_reader(terminal.fd)
        output.put_nowait(data)

    loop.add_reader(terminal.fd, readable)

    async def pump_out() -> str:
        while True:
            data = await output.get()
            if not data:
                return "exited"
            last[0] = time.monotonic()
            await websocket.send_bytes(data)

    async def pump_in() -> str:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return "disconnected"
            last[0] = time.monotonic()
            if message.get("bytes") is not None:
                terminal.write(message["bytes"])
            elif message.get("text") is not None:
                text = message["text"]
                try:
                    control = json.loads(text)
                except ValueError:
                    control = None
                if isinstance(control, dict) and "resize" in control:
                    with contextlib.suppress(TypeError, ValueError):
                        r, c = control["resize"]
                        terminal.resize(int(r), int(c))
                else:
                    terminal.write(text.encode())

    out_task, in_task = asyncio.create_task(pump_out()), asyncio.create_task(pump_in())
    reason = "exited"
    try:
        while True:
            done, _ = await asyncio.wait({out_task, in_task}, timeout=min(5.0, idle),
                                         return_when=asyncio.FIRST_COMPLETED)
            if out_task in done:
                reason = "exited" if out_task.exception() is None else "disconnected"
                break
            if in_task in done:
                reason = "disconnected"
                break
            if time.monotonic() - last[0] > idle:
                reason = "idle"
                break
    except BaseException:  # cancelled (the server going away): end the command all the same
        reason = "disconnected"
        raise
    finally:
        with anyio.CancelScope(shield=True):
            loop.remove_reader(terminal.fd)
            for task in (out_task, in_task):
                task.cancel()
            if reason != "exited":
                await run_in_threadpool(terminal.terminate)
            code = await run_in_threadpool(terminal.wait)
            if reason == "idle":
                code = IDLE_EXIT
            await run_in_threadpool(terminal.close)
            await run_in_threadpool(_ended, platform, app_id, principal.actor, command, code,
                                    time.monotonic() - started, reason)
    if reason != "disconnected":
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            if reason == "idle":
                await websocket.send_text(json.dumps({"error": f"idle for {idle:g} s: ended"}))
            await websocket.send_text(json.dumps({"exit": code}))
            await websocket.close()
