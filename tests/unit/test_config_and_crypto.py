from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from slipway.config import Settings
from slipway.crypto import Box, token_hash


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    key = settings.resolved_secret_key()
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert Settings(home=tmp_path / "home").resolved_secret_key() == key


def test_settings_come_from_slipway_env_vars(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path))
    monkeypatch.setenv("SLIPWAY_LISTEN", "0.0.0.0:9000")
    monkeypatch.setenv("SLIPWAY_BASE_DOMAIN", "apps.example.com")
    monkeypatch.setenv("SLIPWAY_HTTP_PORT", "80")
    settings = Settings()
    assert (settings.listen_host, settings.listen_port) == ("0.0.0.0", 9000)
    assert settings.db_url == f"sqlite:///{tmp_path / 'slipway.db'}"
    assert settings.dashboard_url == "http://slipway.apps.example.com:80"


@pytest.mark.parametrize("field,value", [("listen", "8300"), ("port_range", "9-5"), ("port_range", "80-90"),
                                         ("caddy_admin", "localhost"), ("caddy_admin", "127.0.0.1:2019"),
                                         ("caddy_admin", "relative/admin.sock"), ("caddy_admin", "/" + "x" * 120)])
def test_bad_settings_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: value})


def test_box_round_trip_and_rotation() -> None:
    old = Box("old-key")
    token = old.encrypt("s3cret")
    assert "s3cret" not in token
    rotated = Box("new-key", "old-key")
    assert rotated.decrypt(token) == "s3cret"
    with pytest.raises(ValueError, match="SLIPWAY_SECRET_KEY"):
        Box("other-key").decrypt(token)


def test_token_hash_is_stable_and_not_the_token() -> None:
    assert token_hash("slw_abc") == token_hash("slw_abc") != "slw_abc"
