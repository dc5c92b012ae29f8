"""The state machine of a check, deep health documents, uptime arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.observability import health
from slipway.observability.health import DEGRADED, DOWN, UP, judge_document, transition
from slipway.observability.incidents import daily, merge, uptime

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def run(results: list[str], retries: int = 3) -> list[tuple[str, str | None]]:
    state, failures, incident, seen = "unknown", 0, False, []
    for result in results:
        step = transition(state, failures, retries, result, incident_open=incident)
        state, failures = step.state, step.failures
        incident = (incident or step.action == "open") and step.action != "close"
        seen.append((state, step.action))
    return seen


def test_failures_degrade_then_go_down_and_open_one_incident() -> None:
    assert run([UP, DOWN, DOWN, DOWN, DOWN, UP]) == [
        ("healthy", None), ("degraded", None), ("degraded", None), ("down", "open"), ("down", None),
        ("healthy", "close")]


def test_a_success_before_retries_resets_the_count() -> None:
    assert [a for _, a in run([DOWN, DOWN, UP, DOWN, DOWN])] == [None] * 5


def test_retries_of_one_opens_at_the_first_failure() -> None:
    assert run([DOWN], retries=1) == [("down", "open")]


def test_a_degraded_answer_is_not_a_failure_but_ends_an_outage() -> None:
    assert run([DOWN, DEGRADED], retries=1) == [("down", "open"), ("degraded", "close")]


@pytest.mark.parametrize(("document", "status", "failing"), [
    ({"status": "ok", "checks": {"db": "ok", "redis": "fail"}}, DEGRADED, ["redis: fail"]),
    ({"status": "ok", "checks": {"db": {"status": "up"}}}, UP, []),
    ({"status": "pass", "details": {"disk": {"status": "warn"}}}, DEGRADED, ["disk: warn"]),
    ({"status": "degraded"}, DEGRADED, []),
    ({"status": "fail", "checks": {"db": "fail"}}, DOWN, ["db: fail"]),
    ({"status": "DOWN"}, DOWN, ["status: down"]),
    ({"healthy": True}, UP, []),
    (["not", "an", "object"], DOWN, ["the document is not a JSON object"]),
])
def test_deep_documents(document: object, status: str, failing: list[str]) -> None:
    assert judge_document(document) == (status, failing)


def test_worst_state() -> None:
    assert health.worst(["healthy", "down", "degraded"]) == "down"
    assert health.worst([]) == "unknown"


def hours(a: float, b: float) -> tuple[dt.datetime, dt.datetime]:
    return T0 + dt.timedelta(hours=a), T0 + dt.timedelta(hours=b)


def test_overlapping_outages_merge_and_uptime_counts_the_window_only() -> None:
    outages = merge([hours(1, 3), hours(2, 4), hours(10, 11)])
    assert outages == [hours(1, 4), hours(10, 11)]
    assert uptime(outages, *hours(0, 24)) == pytest.approx(100 * (1 - 4 / 24), abs=1e-3)
    assert uptime(outages, *hours(3, 5)) == pytest.approx(50.0)
    assert uptime([], *hours(0, 1)) == 100.0
    assert uptime([], *hours(1, 1)) is None


def test_daily_bars_have_no_data_before_monitoring_began() -> None:
    now = T0 + dt.timedelta(days=2, hours=12)
    bars = daily([hours(48 + 6, 48 + 12)], days=4, since=T0 + dt.timedelta(days=1), now=now)
    assert [b["uptime"] for b in bars] == [None, None, 100.0, pytest.approx(50.0)]
    assert bars[-1]["date"] == "2024-05-03"
