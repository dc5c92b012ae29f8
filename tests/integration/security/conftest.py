from tests.security_world import world  # noqa: F401
