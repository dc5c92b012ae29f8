"""A deploy's reason is one line that fits on a screen; what explains it is the log tail, never a repr."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.test_api_edges import NoRuntime

from slipway.apps import service as app_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.deploys import reasons
from slipway.deploys import service as deploy_service
from slipway.deploys.models import Deploy
from slipway.errors import BuildError, DeployError
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter


def test_one_line_flattens_and_cuts_at_a_word() -> None:
    assert reasons.one_line("a\n  b\tc\r\n") == "a b c"
    long = "the web process " + "really " * 60 + "end"
    cut = reasons.one_line(long)
    assert reasons.is_one_line(cut) and cut.endswith("…") and len(cut) <= reasons.MAX_CHARS
    assert cut[:-1].rstrip().split(" ")[-1] == "really"  # whole words only
    assert reasons.one_line("x" * 500) == "x" * 199 + "…"  # one long word is cut where it must be


def test_a_builds_detail_becomes_lines_not_a_repr() -> None:
    exc = BuildError("pip install failed (exit status 1): ERROR: No matching distribution found for nope",
                     detail={"tail": ["Collecting nope", "ERROR: No matching distribution found for nope"],
                             "errors": ["ERROR: No matching distribution found for nope"]})
    reason, tail = reasons.from_error(exc)
    assert reason == exc.message
    assert tail == "Collecting nope\nERROR: No matching distribution found for nope"
    assert "{" not in (tail or "") and "[" not in (tail or "")


def test_a_multi_line_message_is_flattened_and_loses_nothing() -> None:
    exc = DeployError("release command exited with code 4\nTraceback (most recent call last):\n  boom",
                      ["last line of output"])
    reason, tail = reasons.from_error(exc)
    assert reason == "release command exited with code 4 Traceback (most recent call last): boom"
    assert tail == "release command exited with code 4\nTraceback (most recent call last):\n  boom\nlast line of output"


def test_tails_are_clipped_to_their_last_lines() -> None:
    tail = reasons.tail_text([f"line {n}" for n in range(500)])
    assert tail is not None and tail.splitlines()[-1] == "line 499"
    assert len(tail.splitlines()) == reasons.TAIL_LINES
    assert reasons.tail_text(None) is None and reasons.tail_text([]) is None
    assert reasons.tail_text({"exit": 3}) == '{\n  "exit": 3\n}'


@pytest.fixture
def plat(settings: Settings) -> Iterator[Platform]:
    p = build_platform(settings, runtime=NoRuntime(), router=MemoryRouter())  # type: ignore[arg-type]
    yield p
    p.close()


@pytest.mark.parametrize("reason", [
    "pip install failed (exit status 1):\nERROR: one\nERROR: two",
    "GET / answered 500: " + "Traceback " * 100,
    "the web process listens on 0.0.0.0:8080, not on $PORT (10003): bind to $PORT, e.g. gunicorn --bind "
    "0.0.0.0:$PORT\n" * 3,
])
def test_every_stored_reason_is_one_line(plat: Platform, reason: str) -> None:
    """The one door every outcome goes through (pipeline, cancel, the reaper of dead jobs): whatever a
    producer hands it, the stored reason is one line of at most 200 characters."""
    with transaction(plat.sessions) as session:
        app = app_service.create(session, name="hello", git_url="https://example.com/x.git", check_remote=False)
        deploy = deploy_service.request(session, app, kind="deploy")
        deploy_service.finish(session, deploy, status="failed", reason=reason, log_tail="the output")
        deploy_id = deploy.id
    with plat.sessions() as session:
        stored = session.get(Deploy, deploy_id)
        assert stored is not None and stored.reason is not None
        assert reasons.is_one_line(stored.reason), stored.reason
        assert stored.reason.split(" ")[0] == reason.split(" ")[0]
        assert stored.log_tail == "the output"


def test_a_multi_line_secret_is_masked_before_the_message_is_flattened() -> None:
    from slipway.redaction import Redactor

    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    exc = DeployError(f"bad key:\n{key}\n", [f"loaded {key}"])
    reason, tail = reasons.from_error(exc, scrub=Redactor([key]))
    assert "MIIEvQ" not in reason and "MIIEvQ" not in (tail or "")
    assert reason == "bad key: ••••••••"
