"""The webhook fixtures (an app with a hook on a real database) and the recording forge."""

import pytest

from slipway.config import Settings
from tests.unit.forge.recorder import forge  # noqa: F401
from tests.unit.hooks.conftest import hooked, plat  # noqa: F401


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The recording forge listens on loopback, which the egress rules refuse unless an Admin allows it."""
    return settings.model_copy(update={"egress_allow": "127.0.0.0/8"})
