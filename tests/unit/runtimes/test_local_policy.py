from __future__ import annotations

import pytest

from slipway.runtimes.local.policy import CrashHistory, RestartPolicy, backoff_delay, describe_exit


def test_backoff_doubles_from_one_second_up_to_a_minute() -> None:
    policy = RestartPolicy()
    assert [backoff_delay(n, policy) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_delay(10_000, policy) == 60  # no overflow on a long streak
    assert backoff_delay(0, policy) == 0


def test_backoff_resets_after_a_process_ran_long_enough() -> None:
    history = CrashHistory(RestartPolicy(reset_after=30))
    assert [history.record(now, ran_for=0.1) for now in (0, 1, 3)] == [1, 2, 4]
    assert history.record(100, ran_for=31) == 1  # it was healthy for 31 s: a fresh failure
    assert history.record(102, ran_for=0.1) == 2


def test_crashloop_needs_enough_crashes_inside_the_window() -> None:
    history = CrashHistory(RestartPolicy(crashloop_crashes=5, crashloop_window=120))
    for now in (0, 10, 20, 30):
        history.record(now, ran_for=1)
    assert not history.in_crashloop(30)
    history.record(40, ran_for=1)
    assert history.in_crashloop(40)
    assert not history.in_crashloop(125)  # the crash at t=0 left the window


def test_policy_round_trips_and_ignores_unknown_keys() -> None:
    policy = RestartPolicy(backoff_initial=0.1, crashloop_crashes=3)
    assert RestartPolicy.from_dict({**policy.to_dict(), "future_knob": 1}) == policy


@pytest.mark.parametrize(("code", "reason"), [
    (0, "exited with code 0"),
    (3, "exited with code 3"),
    (-9, "killed by signal SIGKILL (9)"),
    (-15, "killed by signal SIGTERM (15)"),
    (-200, "killed by signal signal 200 (200)"),
])
def test_describe_exit(code: int, reason: str) -> None:
    assert describe_exit(code) == reason
