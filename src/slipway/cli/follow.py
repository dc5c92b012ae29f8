"""Following a deploy from the CLI: its log, the moment it goes live, the crash watch as a countdown.

The server's deploy stream (`/deploys/{id}/stream`) sends the log lines, a `phase` event when the step
changes or traffic switches (with `live_at` and `watch_until`), and an `end` event with the outcome. The
stream is read on a thread so that the countdown keeps moving while the server is quiet (during the watch
it sends nothing); nothing here polls the server.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
import time
from typing import Any

from slipway.cli.client import Client, decode
from slipway.cli.output import console, errors, escape

UNTIL = ("stable", "live")  # how far `slipway deploy` waits; --detach does not follow at all
_TICK = 0.1  # seconds between countdown redraws on a terminal


def _seconds(later: str, earlier: str) -> float:
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def _read(client: Client, path: str, into: queue.Queue[tuple[str, Any]]) -> None:
    try:
        for event, data in client.events(path):
            into.put((event, data))
            if event == "end":
                return
        into.put(("closed", None))
    except BaseException as exc:  # noqa: BLE001 (handed to the main thread, which raises it)
        into.put(("error", exc))


class Follower:
    """Renders one deploy's stream; `run()` returns the deploy as last seen (its outcome once it ended)."""

    def __init__(self, name: str, deploy_id: int, *, quiet: bool, until: str) -> None:
        self.name, self.deploy_id, self.quiet, self.until = name, deploy_id, quiet, until
        self.terminal = console.is_terminal
        self.deploy: dict[str, Any] = {}
        self.live_announced = False
        self.stable_announced = False
        self.watch_end: float | None = None  # monotonic time at which the crash watch ends
        self.last_printed_second: int | None = None
        self._status: Any = None

    # ---- output --------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        if not self.quiet:
            console.print(text, markup=False, highlight=False)

    def _status_text(self, text: str) -> None:
        if self._status is not None:
            self._status.update(escape(text))

    # ---- events --------------------------------------------------------------------------------

    def on_line(self, line: str) -> None:
        if line.startswith("-----> "):
            self._status_text(line[7:] + "…")
        self._say(line)

    def on_phase(self, deploy: dict[str, Any]) -> None:
        self.deploy = deploy
        if deploy.get("live_at") and not self.live_announced:
            self.live_announced = True
            took = _seconds(deploy["live_at"], deploy["created_at"])
            version = f"v{deploy['release']} " if deploy.get("release") else ""
            self._say(f"live: {version}serving ({took:.1f} s)")
            if deploy.get("watch_until"):
                # the watch's length from the server's two stamps, counted down on this machine's clock
                self.watch_end = time.monotonic() + max(0.0, _seconds(deploy["watch_until"], deploy["live_at"]))
        if deploy.get("step") == "drain" and self.watch_end is not None:
            self._stable()

    def _stable(self) -> None:
        if not self.stable_announced:
            self.stable_announced = True
            self.watch_end = None
            self._status_text("draining the old instances…")
            self._say("stable")

    def tick(self) -> None:
        """Redraw the countdown: an updating status line on a terminal, a plain line per second otherwise."""
        if self.watch_end is None or self.stable_announced:
            return
        left = max(0.0, self.watch_end - time.monotonic())
        if self.terminal:
            self._status_text(f"watching for crashes: {left:.1f} s")
            return
        second = int(left + 0.999)
        if second != self.last_printed_second and second > 0:
            self.last_printed_second = second
            self._say(f"watching for crashes: {second} s")

    # ---- the loop ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        client = Client()
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        reader = threading.Thread(target=_read, daemon=True,
                                  args=(client, f"/apps/{self.name}/deploys/{self.deploy_id}/stream", events))
        reader.start()
        if self.terminal and not self.quiet:
            with console.status("queued…", spinner="dots") as status:
                self._status = status
                ended = self._loop(events)
            self._status = None
        else:
            ended = self._loop(events)
        if not ended:  # the stream closed early (e.g. --until live): the deploy as it stands now
            self.deploy = client.get(f"/apps/{self.name}/deploys/{self.deploy_id}")
        return self.deploy

    def _loop(self, events: queue.Queue[tuple[str, Any]]) -> bool:
        """True once the deploy ended; False when we stop earlier (--until live) or the stream closed."""
        while True:
            try:
                event, data = events.get(timeout=_TICK)
            except queue.Empty:
                self.tick()
                continue
            if event == "line":
                self.on_line(decode(data))
            elif event == "phase":
                self.on_phase(json.loads(data))
                if self.until == "live" and self.live_announced:
                    return False
            elif event == "end":
                self.deploy = json.loads(data)
                if self.deploy.get("status") == "succeeded" and self.watch_end is not None:
                    self._stable()
                return True
            elif event == "error":
                raise data
            else:
                return False
            self.tick()


def follow(name: str, deploy_id: int, *, quiet: bool = False, until: str = "stable") -> dict[str, Any]:
    """Follow a deploy until it ends (or, until="live", until it serves); print its outcome unless quiet.

    Returns the deploy as last seen; `succeeded(deploy, until)` says whether the command succeeded."""
    try:
        deploy = Follower(name, deploy_id, quiet=quiet, until=until).run()
    except KeyboardInterrupt:
        errors.print(f"stopped following: the deploy goes on (slipway deploys {escape(name)})")
        raise SystemExit(130) from None
    if not quiet:
        _print_outcome(name, deploy, until)
    return deploy


def succeeded(deploy: dict[str, Any], until: str = "stable") -> bool:
    if until == "live" and deploy.get("live_at") and deploy.get("status") in ("running", "succeeded"):
        return True
    return deploy.get("status") == "succeeded"


def _print_outcome(name: str, deploy: dict[str, Any], until: str) -> None:
    kind = deploy.get("kind", "deploy")
    release = f" v{deploy['release']}" if deploy.get("release") else ""
    if until == "live" and succeeded(deploy, until) and deploy.get("status") == "running":
        console.print(f"{kind} of {name}{release} is serving; the crash watch goes on "
                      f"(slipway deploys {name})", markup=False, highlight=False)
        return
    if deploy.get("status") == "succeeded":
        console.print(f"[green]✔ {kind} of {name}{release} succeeded[/green]")
        return
    reason = deploy.get("reason") or ""
    if deploy.get("status") == "rolled_back":
        errors.print(f"[red]rolled back: {escape(reason or 'the new release crashed after the switch')}[/red]")
        return
    errors.print(f"[red]✘ {kind} of {name} {deploy.get('status')}[/red]" + (": " + escape(reason) if reason else ""))
