"""Shared pieces of the observability benches: a throw-away platform with apps, releases and instances
rows (the real local runtime and a real database), cleaned up on exit."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from slipway.apps.models import App  # noqa: E402
from slipway.config import Settings  # noqa: E402
from slipway.db import transaction  # noqa: E402
from slipway.deploys.models import Release  # noqa: E402
from slipway.instances.models import Instance  # noqa: E402
from slipway.platform import Platform, build_platform  # noqa: E402
from slipway.runtimes.base import InstanceSpec  # noqa: E402


@contextmanager
def bench_platform(db_url: str | None = None, **settings: object) -> Iterator[Platform]:
    """A platform in a temporary $SLIPWAY_HOME; every instance it started is stopped at the end."""
    home = Path(tempfile.mkdtemp(prefix="slipway-obs-bench-"))
    plat = build_platform(Settings(home=home, database_url=db_url or "", router="none", secret_key="b" * 32,
                                   **settings))  # type: ignore[arg-type]
    try:
        yield plat
    finally:
        for instance_id in plat.runtime.instances():
            try:
                plat.runtime.stop(instance_id, 0.5)
            except Exception as exc:  # keep stopping the others
                print(f"[bench] stop {instance_id}: {exc}", file=sys.stderr)
        plat.close()
        shutil.rmtree(home, ignore_errors=True)


def add_app(plat: Platform, name: str) -> tuple[int, int]:
    """An app with one release (no build): (app id, release id)."""
    with transaction(plat.sessions) as session:
        app = App(name=name, git_url="file:///dev/null")
        session.add(app)
        session.flush()
        release = Release(app_id=app.id, version=1, kind="build", commit="0" * 40, build_kind="procfile",
                          artifact_path=str(plat.settings.home), env_enc=plat.box.encrypt("{}"))
        session.add(release)
        session.flush()
        app.live_release_id = release.id
        return app.id, release.id


def start_instance(plat: Platform, *, app_id: int, release_id: int, app: str, instance_id: str, command: str,
                   port: int | None = None) -> None:
    """Record the instance row and start it on the real local runtime (a supervised process)."""
    with transaction(plat.sessions) as session:
        session.add(Instance(id=instance_id, app_id=app_id, release_id=release_id, process_type="web",
                             port=port, status="running"))
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    if port is not None:
        env["PORT"] = str(port)
    plat.runtime.start(InstanceSpec(instance_id, app, 1, "web", command, str(plat.settings.home), env, port, 1.0))
