"""The webhook fixtures (an app with a hook on a real database) and the recording forge."""

from tests.unit.forge.recorder import forge  # noqa: F401
from tests.unit.hooks.conftest import hooked, plat  # noqa: F401
