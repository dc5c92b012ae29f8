"""How an alert's values are written, in notifications, pages and the CLI alike: one function, with the unit.

Imports nothing heavy: the CLI uses it too."""

from __future__ import annotations

# metric → its unit (what the value reads is described in notify/alerts.py)
UNITS: dict[str, str] = {
    "cpu": "%",              # app CPU, percent of one core (sum over its instances)
    "memory": "MiB",         # app resident memory
    "restarts": "restarts",  # increase of the app's restart counter over the window
    "response_time": "ms",   # the app's health-check response times
    "disk": "%",             # host disk used, percent of $SLIPWAY_HOME's filesystem
    "error_rate": "%",       # percent of the app's requests answered 5xx, per minute
}


def format_value(value: float | int | None, unit: str, *, missing: str = "—") -> str:
    """214.926, "MiB" → "215 MiB"; 85.333, "%" → "85.3%"; 0.25, "ms" → "0.25 ms"; None → missing.

    Precision follows the size (0 decimals from 100, 1 from 10, else 2), trailing zeros dropped: never an
    exponent, never a raw float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return missing
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text == "-0":
        text = "0"
    return with_unit(text, unit)


def with_unit(text: str, unit: str) -> str:
    """A number already written (e.g. a rule's threshold, exactly as set) followed by its unit."""
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"
