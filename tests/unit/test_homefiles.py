"""The control plane's files are its own: $SLIPWAY_HOME 0700, its files 0600, no env in spec files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from slipway.config import Settings
from slipway.homefiles import secure_home
from slipway.platform import build_platform
from slipway.routing.base import MemoryRouter


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_an_old_home_is_fixed_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inst = home / "instances" / "web-1"
    inst.mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chmod(inst, 0o755)
    for name in ("slipway.db", "slipway.db-wal", "secret.key", "out.log"):
        (home / name).write_text("x")
        os.chmod(home / name, 0o644)
    (home / "git").mkdir()
    (home / "git" / "gateway.key").write_text("k")
    os.chmod(home / "git" / "gateway.key", 0o644)
    spec = {"instance": {"instance_id": "web-1", "env": {"DATABASE_URL": "postgres://u:hunter2@db/x"}}}
    (inst / "spec.json").write_text(json.dumps(spec))
    (inst / "out.log").write_text("line\n")
    os.chmod(inst / "out.log", 0o644)
    secure_home(home)
    assert mode(home) == 0o700 and mode(home / "instances") == 0o700 and mode(inst) == 0o700
    for path in (home / "slipway.db", home / "slipway.db-wal", home / "secret.key", home / "out.log",
                 home / "git" / "gateway.key", inst / "out.log"):
        assert mode(path) == 0o600, path
    assert "hunter2" not in (inst / "spec.json").read_text()  # old values do not survive a rotation
    assert json.loads((inst / "spec.json").read_text())["instance"]["instance_id"] == "web-1"
    assert mode(inst / "spec.json") == 0o600


def test_build_platform_secures_the_home(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    home.mkdir(mode=0o755)
    settings = Settings(home=home, router="none")
    plat = build_platform(settings, router=MemoryRouter())
    try:
        assert mode(home) == 0o700
        assert mode(home / "slipway.db") == 0o600
        settings.resolved_secret_key()
        assert mode(home / "secret.key") == 0o600
    finally:
        plat.close()
