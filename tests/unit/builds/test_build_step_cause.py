"""The one-line cause of a failed build step is the error line that explains it, not the tool's header."""

from __future__ import annotations

from slipway.builds.steps import cause


def test_npm_error_code_headers_are_passed_over_for_the_cause() -> None:
    lines = ["npm error code EUSAGE", "npm error",
             "npm error `npm ci` can only install packages when your package.json and package-lock.json are in sync."]
    assert cause(lines) == lines[2]


def test_pip_names_its_cause_on_the_first_error_line() -> None:
    lines = ["ERROR: Could not find a version that satisfies the requirement nosuchpkg==9 (from versions: none)",
             "ERROR: No matching distribution found for nosuchpkg==9"]
    assert cause(lines) == lines[0]


def test_only_short_lines_fall_back_to_the_first_and_nothing_gives_nothing() -> None:
    assert cause(["npm error code E404", "npm error"]) == "npm error code E404"
    assert cause(["", "   "]) == ""
