"""The schedule code against our own vectors: cron(5) fields and OR semantics, macros, two zones' DST days."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.cron import schedule
from slipway.errors import Invalid

UTC = dt.UTC


def runs(expr: str, after: str, count: int = 3, tz: str = "UTC") -> list[str]:
    return schedule.preview(expr, tz, after=dt.datetime.fromisoformat(after), count=count)


@pytest.mark.parametrize(("expr", "after", "expected"), [
    # steps over a range and a wildcard (cron(5): "0-23/2" = every other hour)
    ("*/15 * * * *", "2026-01-01T00:00:00Z", ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00",
                                               "2026-01-01T00:45:00+00:00"]),
    ("0 0-23/8 * * *", "2026-01-01T00:00:00Z", ["2026-01-01T08:00:00+00:00", "2026-01-01T16:00:00+00:00",
                                                 "2026-01-02T00:00:00+00:00"]),
    # lists and ranges
    ("5,10 4-5 * * *", "2026-01-01T00:00:00Z", ["2026-01-01T04:05:00+00:00", "2026-01-01T04:10:00+00:00",
                                                 "2026-01-01T05:05:00+00:00"]),
    # names of months and days, case-insensitive
    ("0 12 * jan,JUL sun", "2026-01-01T00:00:00Z", ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00",
                                                     "2026-01-18T12:00:00+00:00"]),
    ("0 9 * * mon-fri", "2026-01-02T10:00:00Z", ["2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00",
                                                  "2026-01-07T09:00:00+00:00"]),
    # cron(5): "30 4 1,15 * 5" runs at 4:30 on the 1st and 15th of each month, plus every Friday
    ("30 4 1,15 * 5", "2026-01-01T00:00:00Z", ["2026-01-01T04:30:00+00:00", "2026-01-02T04:30:00+00:00",
                                                "2026-01-09T04:30:00+00:00"]),
    # day 7 is Sunday as well as 0
    ("0 0 * * 7", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00",
                                            "2026-01-18T00:00:00+00:00"]),
    # a star in one day field makes the other decide alone (no OR with "every day")
    ("0 0 13 * *", "2026-01-01T00:00:00Z", ["2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00",
                                             "2026-03-13T00:00:00+00:00"]),
    # the 29th of February: leap years only
    ("0 0 29 2 *", "2026-01-01T00:00:00Z", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00",
                                             "2036-02-29T00:00:00+00:00"]),
    # macros
    ("@hourly", "2026-01-01T00:30:00Z", ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00",
                                         "2026-01-01T03:00:00+00:00"]),
    ("@daily", "2026-01-01T00:30:00Z", ["2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00",
                                        "2026-01-04T00:00:00+00:00"]),
    ("@weekly", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00",
                                         "2026-01-18T00:00:00+00:00"]),
    ("@monthly", "2026-01-15T00:00:00Z", ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00",
                                          "2026-04-01T00:00:00+00:00"]),
    ("@yearly", "2026-01-15T00:00:00Z", ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00",
                                         "2029-01-01T00:00:00+00:00"]),
])
def test_cron5_vectors(expr: str, after: str, expected: list[str]) -> None:
    assert runs(expr, after) == expected


def test_after_is_strict() -> None:
    assert runs("30 1 * * *", "2026-01-01T01:30:00Z", 1) == ["2026-01-02T01:30:00+00:00"]


def test_zone_offsets_in_the_answer() -> None:
    assert runs("0 9 * * *", "2026-06-01T00:00:00Z", 1, "Asia/Kolkata") == ["2026-06-01T09:00:00+05:30"]


# ---- DST: a 02:30 job runs once on the spring-forward day and once on the fall-back day ----------

def test_new_york_spring_forward_runs_once_right_after_the_gap() -> None:
    # 2026-03-08 02:00 EST → 03:00 EDT: 02:30 does not exist that day
    assert runs("30 2 * * *", "2026-03-07T12:00:00Z", 3, "America/New_York") == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]


def test_new_york_fall_back_runs_once() -> None:
    # 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens twice that day; the job runs at the first only
    assert runs("30 1 * * *", "2026-10-31T12:00:00Z", 3, "America/New_York") == [
        "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]


def test_new_york_fall_back_from_inside_the_repeated_hour() -> None:
    # asked after the first 01:30 (at 01:45 EDT): the second 01:30 (EST) is not a second run
    assert runs("30 1 * * *", "2026-11-01T05:45:00Z", 1, "America/New_York") == ["2026-11-02T01:30:00-05:00"]


def test_lisbon_spring_forward_and_fall_back() -> None:
    # Lisbon: 2026-03-29 01:00 WET → 02:00 WEST; 2026-10-25 02:00 WEST → 01:00 WET
    assert runs("30 1 * * *", "2026-03-28T12:00:00Z", 2, "Europe/Lisbon") == [
        "2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]
    assert runs("30 1 * * *", "2026-10-24T12:00:00Z", 3, "Europe/Lisbon") == [
        "2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00", "2026-10-27T01:30:00+00:00"]


def test_fixed_times_are_wall_clock_times_across_a_change() -> None:
    # 09:00 stays 09:00 local: the UTC instant moves by an hour
    got = runs("0 9 * * *", "2026-03-27T12:00:00Z", 2, "Europe/Lisbon")
    assert [dt.datetime.fromisoformat(t).astimezone(UTC).hour for t in got] == [9, 8]


# ---- bad input: a precise reason ---------------------------------------------------------------

@pytest.mark.parametrize(("expr", "reason"), [
    ("", "empty"),
    ("* * * *", "5 fields"),
    ("0 0 * * * *", "5 fields"),
    ("61 * * * *", "minute"),
    ("0 24 * * *", "hour"),
    ("0 0 32 * *", "day-of-month"),
    ("0 0 30 2 *", "day-of-month"),  # never happens: refused rather than looping forever
    ("0 0 * 13 *", "month"),
    ("0 0 * * 8", "day-of-week"),
    ("0 0 * * fun", "day-of-week"),
    ("@reboot", "macros"),
    ("*/0 * * * *", "minute"),
    ("x" * 300, "longer"),
])
def test_bad_expressions_say_why(expr: str, reason: str) -> None:
    with pytest.raises(Invalid) as err:
        schedule.parse(expr)
    assert reason in err.value.message.lower() or reason in err.value.message


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", ""])
def test_bad_zones(tz: str) -> None:
    with pytest.raises(Invalid, match="time zone"):
        schedule.parse("* * * * *", tz)


def test_preview_bounds_and_naive_instants() -> None:
    with pytest.raises(Invalid, match="count"):
        schedule.preview("* * * * *", count=0)
    with pytest.raises(Invalid, match="count"):
        schedule.preview("* * * * *", count=schedule.MAX_PREVIEW + 1)
    with pytest.raises(Invalid, match="offset"):
        schedule.preview("* * * * *", after=dt.datetime(2026, 1, 1))


def test_describe_in_words() -> None:
    assert "09:00" in schedule.parse("0 9 * * *").describe()
    assert schedule.parse("@daily").expression == "@daily"


# ---- a job's fields, checked before anything is written ------------------------------------------

def _spec(**change: object) -> object:
    from slipway.cron.service import JobSpec

    base = {"name": "cleanup", "schedule": "*/5 * * * *", "command": ["python", "manage.py", "clearsessions"]}
    return JobSpec(**{**base, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "reason"), [
    ({"name": "Bad_Name"}, "job name"),
    ({"name": "-x"}, "job name"),
    ({"command": []}, "empty"),
    ({"command": ["a\x00b"]}, "NUL"),
    ({"timeout": 0}, "timeout"),
    ({"concurrency": "queue"}, "concurrency"),
    ({"catch_up": "all"}, "catch-up"),
    ({"retries": 11}, "retries"),
    ({"process_type": "../x"}, "process type"),
    ({"tz": "Nowhere/Land"}, "time zone"),
    ({"schedule": "* * * *"}, "5 fields"),
])
def test_job_fields_say_why(change: dict[str, object], reason: str) -> None:
    from slipway.cron.service import validate

    with pytest.raises(Invalid) as err:
        validate(_spec(**change))  # type: ignore[arg-type]
    assert reason in err.value.message


def test_a_valid_job_parses() -> None:
    from slipway.cron.service import validate

    assert validate(_spec(tz="Europe/Lisbon", concurrency="replace")).tz.key == "Europe/Lisbon"  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400)])
def test_cli_durations(text: str, seconds: int) -> None:
    from slipway.cli.cron import seconds as parse

    assert parse(text) == seconds


# ---- slipway.toml [cron.<name>] ------------------------------------------------------------------

def test_slipway_toml_cron_tables() -> None:
    from slipway.builds.config import parse_slipway_toml

    config = parse_slipway_toml('[cron.cleanup]\nschedule = "*/5 * * * *"\ncommand = "python manage.py clearsessions"\n'
                                '[cron.report]\nschedule = "@daily"\ncommand = ["sh", "-c", "echo a | wc"]\n'
                                'tz = "Europe/Lisbon"\ntimeout = 60\n')
    assert config.cron == {
        "cleanup": {"schedule": "*/5 * * * *", "command": ["python", "manage.py", "clearsessions"]},
        "report": {"schedule": "@daily", "command": ["sh", "-c", "echo a | wc"], "tz": "Europe/Lisbon", "timeout": 60},
    }


@pytest.mark.parametrize(("toml", "reason"), [
    ('[cron.x]\nschedule = "61 * * * *"\ncommand = "true"\n', "[cron.x]: invalid schedule"),
    ('[cron.x]\ncommand = "true"\n', "schedule must be a string"),
    ('[cron.x]\nschedule = "@daily"\ncommand = "true"\nshell = true\n', "unknown key(s) shell"),
    ('[cron.x]\nschedule = "@daily"\ncommand = 3\n', "command must be"),
    ('[cron.x]\nschedule = "@daily"\ncommand = "echo \'unclosed"\n', "command:"),
    ('[cron.Bad]\nschedule = "@daily"\ncommand = "true"\n', "job name"),
    ('[cron.x]\nschedule = "@daily"\ncommand = "true"\ntimeout = "soon"\n', "[cron.x]"),
    ('cron = 3\n', "'cron' must be a table"),
])
def test_slipway_toml_cron_errors(toml: str, reason: str) -> None:
    from slipway.builds.config import parse_slipway_toml
    from slipway.errors import BuildError

    with pytest.raises(BuildError) as err:
        parse_slipway_toml(toml)
    assert reason in err.value.message
