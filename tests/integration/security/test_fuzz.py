"""Fuzz the API from its own OpenAPI schema (schemathesis), in process, with an admin token.

Checks: no 5xx and responses that match the schema. Bounded: a few examples per operation. Excluded:
operations that reach outside the machine or run things (git remotes, command runs, channel tests,
check runs) and the endless deploy log stream."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="pip install -e '.[dev]' (schemathesis)")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from slipway.app import create_app  # noqa: E402
from slipway.config import Settings  # noqa: E402

pytestmark = pytest.mark.integration
HOME = Path(tempfile.mkdtemp(prefix="slipway-fuzz-"))
SETTINGS = Settings(home=HOME, router="none", workers=0, metrics_enabled=False, secret_key="fuzz-" + "k" * 30,
                    token_burst=100000)
APP = create_app(SETTINGS, background=False)
TOKEN: dict[str, str] = {}
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP).exclude(
    path_regex=r"(/stream$|/run$|/test$|^/api/v1/apps$|^/api/v1/apps/\{name\}$)", method=None
)


@pytest.fixture(scope="module")
def fuzz_platform() -> Iterator[None]:
    from slipway.apps import service as app_service
    from slipway.auth import service as auth_service
    from slipway.db import transaction
    from slipway.platform import build_platform
    from slipway.routing.base import MemoryRouter

    plat = build_platform(SETTINGS, router=MemoryRouter())
    with transaction(plat.sessions) as session:
        TOKEN["value"], _ = auth_service.create_token(session, name="fuzz")
        app_service.create(session, name="alpha", git_url="https://example.com/a.git", check_remote=False)
    APP.state.platform = plat
    yield
    plat.close()


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_fuzz(case, fuzz_platform) -> None:  # type: ignore[no-untyped-def]
    if "name" in (case.path_parameters or {}) and case.path_parameters["name"] != "alpha":
        case.path_parameters["name"] = "alpha"  # mostly aim at a real app
    response = case.call(headers={"Authorization": f"Bearer {TOKEN['value']}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
