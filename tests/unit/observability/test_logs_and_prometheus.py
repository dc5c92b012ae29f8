"""Level parsing of log lines; the Prometheus text format."""

from __future__ import annotations

import pytest

from slipway.observability.logsearch import parse_level
from slipway.observability.prometheus import escape, family


@pytest.mark.parametrize(("line", "level"), [
    ('{"level": "error", "msg": "boom"}', "error"),
    ('{"severity": "WARNING", "message": "x"}', "warn"),
    ('{"levelname": "DEBUG"}', "debug"),
    ('{"level": 50, "msg": "pino fatal"}', "error"),
    ('{"level": 30, "msg": "pino info"}', "info"),
    ('{"msg": "no level"}', None),
    ("ERROR:root:database is gone", "error"),
    ("2024-05-01 12:00:00,123 WARNING [worker] slow", "warn"),
    ("[2024-05-01 12:00:00 +0000] [42] [INFO] Booting worker", "info"),
    ('time=2024-05-01 level=debug msg="tick"', "debug"),
    ("E: CRITICAL failure", "error"),
    ("Traceback (most recent call last):", None),
    ("user clicked the INFORMATION button", None),
    ("GET / 200 " + "x" * 200 + " ERROR", None),  # a level word deep in the message is not a level
])
def test_parse_level(line: str, level: str | None) -> None:
    assert parse_level(line) == level


def test_prometheus_family_format() -> None:
    text = family("slipway_app_cpu_percent", "gauge", "CPU, percent.",
                  [({"app": 'we"ird\\app\n'}, 12.5), ({"app": "b"}, 3.0)])
    assert text == (
        "# HELP slipway_app_cpu_percent CPU, percent.\n"
        "# TYPE slipway_app_cpu_percent gauge\n"
        'slipway_app_cpu_percent{app="we\\"ird\\\\app\\n"} 12.5\n'
        'slipway_app_cpu_percent{app="b"} 3\n')
    assert family("slipway_apps", "gauge", "Apps.", [({}, 2)]).endswith("\nslipway_apps 2\n")
    assert escape("a\\b") == "a\\\\b"
