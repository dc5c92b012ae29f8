"""The webhook tests' app-with-a-hook fixtures, reused: pushes and webhooks meet in the deploy queue."""

from tests.unit.hooks.conftest import hooked, plat  # noqa: F401
