"""The deploy-notification receivers listen on loopback: an Admin must allow it (SLIPWAY_EGRESS_ALLOW)."""

import pytest

from slipway.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"egress_allow": "127.0.0.0/8"})
