"""Alert values are written one way everywhere (notifications, pages, CLI): with their unit, no raw floats."""

from __future__ import annotations

import pytest

from slipway.notify.values import format_value, with_unit


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (214.926, "MiB", "215 MiB"), (85.333, "%", "85.3%"), (0.25, "ms", "0.25 ms"), (3, "restarts", "3 restarts"),
    (12345.678, "MiB", "12346 MiB"), (1e-9, "%", "0%"), (-0.001, "%", "0%"), (7.0, "", "7"),
    (None, "MiB", "—"), (float("nan"), "%", "—"), (True, "%", "—"),
])
def test_format_value(value: object, unit: str, shown: str) -> None:
    assert format_value(value, unit) == shown  # type: ignore[arg-type]


def test_missing_text_and_thresholds_as_set() -> None:
    assert format_value(None, "MiB", missing="no data") == "no data"
    assert with_unit("200.5", "MiB") == "200.5 MiB" and with_unit("80", "%") == "80%"
