"""The docker fixtures, for the limits tests that run on both runtimes."""

from tests.integration.docker.conftest import (  # noqa: F401
    app_name,
    dapi,
    docker_platform,
    docker_settings,
    engine_host,
)
