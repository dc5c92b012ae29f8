"""The recording forge on loopback."""

from tests.unit.forge.recorder import forge  # noqa: F401
