"""`slipway admin rotate-key`: every secret re-encrypted under the new key, readable throughout."""

from __future__ import annotations

import pyotp
from sqlalchemy import select

from slipway.apps import service as app_service
from slipway.auth import keys
from slipway.auth import service as auth_service
from slipway.auth.models import User
from slipway.crypto import Box
from slipway.db import Base, transaction
from slipway.hooks import service as hook_service
from tests.security_world import World


def test_every_encrypted_column_is_rotated() -> None:
    listed = {(t.name, c.name) for t, c in keys.encrypted_columns()}
    assert {("env_vars", "value_enc"), ("releases", "env_enc"), ("app_hooks", "secret_enc"),
            ("notify_channels", "secrets_enc"), ("users", "totp_secret_enc")} <= listed
    # the naming rule is what makes that complete: nothing holds a Box value outside an *_enc column
    import slipway.models  # noqa: F401

    suspicious = [(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns
                  if ("secret" in c.name or "password" in c.name) and not c.name.endswith(("_enc", "_hash"))]
    assert suspicious == []


def test_rotate_key_reencrypts_everything(world: World) -> None:
    old = world.platform.box
    with transaction(world.platform.sessions) as session:
        app = app_service.get(session, "alpha")
        app_service.set_env(session, old, app, {"TOKEN": "s3cret-value"})
        hook = hook_service.ensure(session, old, app)
        hook_secret = hook_service.secret(old, hook)
        user = session.scalar(select(User).where(User.username == "viewer"))
        totp = auth_service.begin_2fa(session, old, user)
    old_key = world.platform.settings.secret_key
    new = Box("a-brand-new-key-" + "y" * 20, old_key)
    counts = keys.rotate(world.platform.sessions, new)
    assert counts["env_vars.value_enc"] == 1 and counts["app_hooks.secret_enc"] == 1
    assert counts["users.totp_secret_enc"] == 1
    only_new = Box("a-brand-new-key-" + "y" * 20)
    with world.platform.sessions() as session:
        app = app_service.get(session, "alpha")
        assert app_service.env_plain(session, only_new, app) == {"TOKEN": "s3cret-value"}
        assert hook_service.secret(only_new, hook_service.ensure(session, only_new, app)) == hook_secret
        user = session.scalar(select(User).where(User.username == "viewer"))
        assert only_new.decrypt(user.totp_secret_enc) == totp
        assert pyotp.TOTP(totp).now()
        try:
            old.decrypt(session.scalar(select(User.totp_secret_enc).where(User.username == "viewer")))
            raise AssertionError("the old key still decrypts")
        except ValueError:
            pass
