"""Crash detection: a crash-looping app notifies once per episode, then once when it recovers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.deploys.models import Release
from slipway.events import Event
from slipway.instances.models import Instance
from slipway.notify import crash
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from slipway.runtimes.base import InstanceState


class Runtime:
    """The part of the Runtime protocol the detector reads: state(), set by the test."""

    name = "fake"

    def __init__(self) -> None:
        self.status = "running"
        self.restarts = 0

    def state(self, instance_id: str) -> InstanceState:
        return InstanceState(instance_id, self.status, restarts=self.restarts,
                             last_exit_code=1 if self.restarts else None,
                             last_exit_reason="exited with code 1" if self.restarts else None)


@pytest.fixture
def runtime() -> Runtime:
    return Runtime()


@pytest.fixture
def crashy(notify_settings: Settings, runtime: Runtime, make_repo: Callable[..., Any]) -> Iterator[Platform]:
    settings = notify_settings.model_copy(update={"notify_crash_quiet": 0.0})
    plat = build_platform(settings, runtime=runtime, router=MemoryRouter())  # type: ignore[arg-type]
    with transaction(plat.sessions) as session:
        app = app_service.create(session, name="shop", git_url=make_repo().url)
        session.flush()
        release = Release(app_id=app.id, version=1, kind="build", commit="a" * 40, build_kind="python",
                          artifact_path="/nowhere", env_enc=plat.box.encrypt("{}"))
        session.add(release)
        session.flush()
        app.live_release_id = release.id
        session.add(Instance(id="shop-web-1", app_id=app.id, release_id=release.id, process_type="web",
                             status="running"))
    try:
        yield plat
    finally:
        plat.close()


def kinds(platform: Platform) -> list[str]:
    with platform.sessions() as session:
        return list(session.scalars(select(Event.kind).where(Event.kind.like("app.%crash%") |
                                                             (Event.kind == "app.recovered")).order_by(Event.id)))


def test_one_notification_per_episode(crashy: Platform, runtime: Runtime) -> None:
    assert crash.detect(crashy) == 0 and kinds(crashy) == []
    runtime.status, runtime.restarts = "backoff", 1
    assert crash.detect(crashy) == 1
    for restarts, status in ((2, "running"), (3, "backoff"), (5, "crashloop"), (6, "crashloop")):
        runtime.status, runtime.restarts = status, restarts
        if status == "running":  # up between two crashes, but the quiet period is not over: same episode
            crashy.settings.notify_crash_quiet = 3600
        crash.detect(crashy)
    assert kinds(crashy) == ["app.crashed"]
    with crashy.sessions() as session:
        event = session.scalars(select(Event).where(Event.kind == "app.crashed")).one()
    assert event.payload["instances"][0]["last_exit"] == "exited with code 1"
    assert event.payload["reason"] == "exited with code 1"


def test_recovered_after_the_quiet_period_then_a_new_episode(crashy: Platform, runtime: Runtime) -> None:
    runtime.status = "crashloop"
    crash.detect(crashy)
    runtime.status = "running"
    crash.detect(crashy)  # quiet period 0: the episode ends at the first healthy look
    runtime.status = "backoff"
    crash.detect(crashy)
    crash.detect(crashy)
    assert kinds(crashy) == ["app.crashed", "app.recovered", "app.crashed"]


def test_an_app_being_deployed_is_left_to_the_pipeline(crashy: Platform, runtime: Runtime) -> None:
    with transaction(crashy.sessions) as session:
        app_service.get(session, "shop").deploy_lock = 999
    runtime.status = "crashloop"
    assert crash.detect(crashy) == 0 and kinds(crashy) == []
