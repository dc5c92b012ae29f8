"""Input classes the API fuzz found answering 500, each closed for good:

- integers and numbers without bounds (an id past 32 or 64 bits overflowed the database; NaN, inf, 1e308
  durations overflowed datetimes): every one in a request schema now has a minimum and a maximum;
- names matched with `^…$`: in Python `$` also matches before a trailing newline, so "ab\\n" was a valid app
  name; every pattern now ends with `\\Z`, and every name validator refuses a trailing newline;
- "digit" strings that int() refuses ('²'.isdigit() is True);
- durations that overflow."""

from __future__ import annotations

import importlib
import pkgutil
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import slipway
from slipway.bounds import INT32_MAX, INT64_MAX, digits, row_id
from slipway.errors import Invalid


def _openapi() -> dict[str, Any]:
    from slipway.app import create_app
    from slipway.config import Settings

    app = create_app(Settings(home=Path(tempfile.mkdtemp()), router="none", workers=0, secret_key="k" * 40),
                     background=False)
    return app.openapi()


def _numbers(spec: dict[str, Any], node: Any, where: str, seen: frozenset[str]) -> Iterator[tuple[str, dict]]:
    """Every integer/number schema reachable from `node` (through $refs, unions, arrays, objects)."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _numbers(spec, spec["components"]["schemas"][name], f"{where}->{name}", seen | {name})
        return
    if node.get("type") in ("integer", "number"):
        yield where, node
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            yield from _numbers(spec, sub, where, seen)
    if "items" in node:
        yield from _numbers(spec, node["items"], f"{where}[]", seen)
    for name, sub in node.get("properties", {}).items():
        yield from _numbers(spec, sub, f"{where}.{name}", seen)
    if isinstance(node.get("additionalProperties"), dict):
        yield from _numbers(spec, node["additionalProperties"], f"{where}.*", seen)


def _request_numbers() -> list[tuple[str, str, dict]]:
    spec = _openapi()
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for param in op.get("parameters", []):
                for where, node in _numbers(spec, param["schema"], f"{method.upper()} {path} {param['name']}",
                                            frozenset()):
                    found.append((param["in"], where, node))
            for content in op.get("requestBody", {}).get("content", {}).values():
                for where, node in _numbers(spec, content.get("schema", {}), f"{method.upper()} {path} body",
                                            frozenset()):
                    found.append(("body", where, node))
    return found


def test_every_number_a_request_carries_is_bounded() -> None:
    numbers = _request_numbers()
    assert len(numbers) > 50  # the walk reaches path, query and body numbers
    low, high = {"minimum", "exclusiveMinimum"}, {"maximum", "exclusiveMaximum"}
    unbounded = [where for _, where, node in numbers if not (low & node.keys() and high & node.keys())]
    assert unbounded == [], "numbers without a minimum and a maximum:\n" + "\n".join(unbounded)
    too_big = [where for _, where, node in numbers
               if node.get("type") == "integer" and node.get("maximum", node.get("exclusiveMaximum", 0)) > INT64_MAX]
    assert too_big == []


def test_ids_in_paths_fit_the_database() -> None:
    """Row ids are INTEGER columns (32-bit on PostgreSQL): a path id past that is refused, not queried."""
    ids = [(where, node) for where_in, where, node in _request_numbers()
           if where_in == "path" and node.get("type") == "integer"]
    assert len(ids) >= 20
    assert [w for w, node in ids if node.get("maximum", INT64_MAX + 1) > INT32_MAX] == []


# ---- names: full matches only ------------------------------------------------------------------


def _all_patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for info in pkgutil.walk_packages(slipway.__path__, "slipway."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                out.append((f"{info.name}.{name}", value))
    return out


def test_no_pattern_ends_with_a_dollar() -> None:
    """`$` matches before a trailing newline: an anchored pattern ends with `\\Z` (or is used with fullmatch)."""
    patterns = _all_patterns()
    assert len(patterns) > 20
    dollar = [name for name, p in patterns if isinstance(p.pattern, str) and re.search(r"(?<!\\)\$\)*$", p.pattern)]
    # a redaction search, not a validator: that it also matches "password\n" is the safe side
    assert dollar == ["slipway.audit.recorder.SECRET"]


def _team_name(name: str) -> None:
    from slipway.auth import teams

    teams._check_name("team", name)


def _username(name: str) -> None:
    from slipway.auth.service import USERNAME

    if not USERNAME.match(name):
        raise Invalid("username")


def _channel_name(name: str) -> None:
    from slipway.notify.service import NAME

    if not NAME.match(name):
        raise Invalid("channel")


def _ssh_key_name(name: str) -> None:
    from slipway.gitpush.keys import NAME

    if not NAME.match(name):
        raise Invalid("key")


def _procfile_process(name: str) -> None:
    from slipway.builds.config import PROCESS_NAME_RE

    if not PROCESS_NAME_RE.match(name):
        raise Invalid("process")


def _event_pattern(name: str) -> None:
    from slipway.notify.service import _check_pattern

    _check_pattern(name)


def _instance_id(name: str) -> None:
    from slipway.runtimes.local.files import INSTANCE_ID

    if not INSTANCE_ID.match(name):
        raise Invalid("instance")


def _gateway_app(name: str) -> None:
    from slipway.cli.gitgateway import APP

    if not APP.match(name):
        raise Invalid("app")


def _push_sha(name: str) -> None:
    from slipway.gitpush.service import SHA

    if not SHA.match(name):
        raise Invalid("sha")


def _validators() -> dict[str, tuple[Callable[[str], object], str]]:
    from slipway.apps import validation

    return {
        "app name": (validation.app_name, "ab"),
        "env key": (validation.env_key, "AB"),
        "process type": (validation.process_type, "web"),
        "team name": (_team_name, "ab"),
        "username": (_username, "ab"),
        "channel name": (_channel_name, "ab"),
        "ssh key name": (_ssh_key_name, "ab"),
        "Procfile process": (_procfile_process, "web"),
        "event pattern": (_event_pattern, "deploy.failed"),
        "instance id": (_instance_id, "ab-1"),
        "git gateway app": (_gateway_app, "ab"),
        "pushed sha": (_push_sha, "a" * 40),
    }


@pytest.mark.parametrize("kind", sorted(_validators()))
def test_names_refuse_a_trailing_newline(kind: str) -> None:
    check, good = _validators()[kind]
    check(good)  # the plain name passes: the refusal below is about the newline
    for bad in (good + "\n", good + "\r\n", "\n" + good, good + "\nx"):
        with pytest.raises(Invalid):
            check(bad)


def test_an_app_named_with_a_newline_is_refused_by_the_api(plat_client: Any) -> None:
    client, headers = plat_client
    response = client.post("/api/v1/apps", headers=headers, json={"name": "ab\n", "git_url": ""})
    assert response.status_code == 422, response.text
    assert client.get("/api/v1/apps", headers=headers).json() == []


# ---- digits and durations ----------------------------------------------------------------------


def test_digits_are_ascii_digits() -> None:
    assert "²".isdigit()  # what made int() raise behind an isdigit() check
    assert not digits("²") and not digits("৩") and not digits("") and digits("0123")
    assert row_id("7") == 7
    assert row_id("0") is None and row_id(str(INT32_MAX + 1)) is None and row_id("²") is None
    assert row_id("9" * 40) is None


def test_durations_are_bounded() -> None:
    from slipway.notify.schemas import MuteIn, parse_duration

    assert parse_duration("30m").total_seconds() == 1800
    for bad in ("", " ", "5", "m", "5m\nx", "99999999999w", "1e9w", "²m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    with pytest.raises(ValueError):  # a ValidationError: a 422, where an OverflowError was a 500
        MuteIn.model_validate({"for": "9999999w"})


@pytest.fixture
def plat_client(settings: Any) -> Iterator[tuple[Any, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from slipway.app import create_app
    from slipway.auth import service as auth_service
    from slipway.db import transaction
    from slipway.platform import build_platform
    from slipway.routing.base import MemoryRouter

    plat = build_platform(settings, router=MemoryRouter())
    with transaction(plat.sessions) as session:
        token, _ = auth_service.create_token(session, name="t")
    try:
        yield TestClient(create_app(settings, platform=plat, background=False)), {"Authorization": f"Bearer {token}"}
    finally:
        plat.close()


# ---- what the fuzz found: empty durations, explicit nulls compared later ------------------------


@pytest.mark.parametrize("duration", ["", " ", "5", "soon", "99999999999w"])
def test_alert_rule_durations_are_checked_with_the_body(plat_client: Any, duration: str) -> None:
    client, headers = plat_client
    body = {"metric": "cpu", "threshold": 90, "for": duration, "channels": [1]}
    assert client.post("/api/v1/alert-rules", headers=headers, json=body).status_code == 422


@pytest.mark.parametrize("field", ["name", "target", "method", "interval", "timeout", "retries", "headers",
                                   "enabled", "monitor", "smoke", "status_page"])
def test_a_check_patch_with_null_is_refused(plat_client: Any, field: str) -> None:
    client, headers = plat_client
    created = client.post("/api/v1/monitors", headers=headers, json={"name": "m", "target": "http://example.com/"})
    assert created.status_code == 201, created.text
    response = client.patch(f"/api/v1/monitors/{created.json()['id']}", headers=headers, json={field: None})
    assert response.status_code == 422, response.text
    assert client.patch(f"/api/v1/monitors/{created.json()['id']}", headers=headers,
                        json={"expected_status": None, "body_contains": None}).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/apps/a/deploys/{}", "/api/v1/monitors/{}", "/api/v1/alerts/{}",
                                  "/api/v1/deliveries/{}", "/api/v1/apps/a/checks/{}"])
@pytest.mark.parametrize("value", [2**31, 2**63, 2**64, 10**30, 0, -1])
def test_ids_out_of_range_are_422(plat_client: Any, path: str, value: int) -> None:
    client, headers = plat_client
    assert client.get(path.format(value), headers=headers).status_code == 422


@pytest.mark.parametrize("ref", ["²", "9" * 30, str(2**31)])
def test_channel_refs_that_look_like_ids(plat_client: Any, ref: str) -> None:
    client, headers = plat_client
    assert client.get(f"/api/v1/channels/{ref}", headers=headers).status_code == 404


@pytest.mark.parametrize("last_id", ["²", "9" * 30])
def test_a_deploy_stream_resumes_only_from_a_real_line_id(plat_client: Any, last_id: str) -> None:
    client, headers = plat_client
    client.post("/api/v1/apps", headers=headers, json={"name": "a", "git_url": ""})
    stream_headers = {**headers, "Last-Event-ID": last_id.encode("latin-1")}
    response = client.get("/api/v1/apps/a/deploys/1/stream", headers=stream_headers)
    assert response.status_code == 404, response.text  # no such deploy: reached, and answered, past the header


def test_pydantic_patterns_are_full_matches() -> None:
    """pydantic's `pattern=` runs Rust's regex, where `$` is the end of the text: no newline slips through."""
    from pydantic import ValidationError

    from slipway.config import Settings

    assert Settings(status_path="/status", secret_key="k" * 40).status_path == "/status"
    with pytest.raises(ValidationError):
        Settings(status_path="/status\n", secret_key="k" * 40)


@pytest.mark.parametrize("value", ["99999999999d", "9999999999999999999s", "0001-01-01T00:00:00+14:00"])
def test_times_out_of_range_are_invalid(value: str) -> None:
    """A time before the first datetime overflowed (OverflowError: a 500) in both time parsers."""
    from slipway.audit.api import parse_time as audit_time
    from slipway.observability.series.service import parse_time as series_time

    with pytest.raises(Invalid):
        series_time(value)
    if "T" not in value:  # the audit keeps an ISO time's own offset: nothing to overflow there
        with pytest.raises(Invalid):
            audit_time(value)


def test_activity_since_long_ago_is_a_422(plat_client: Any) -> None:
    client, headers = plat_client
    client.post("/api/v1/apps", headers=headers, json={"name": "a", "git_url": ""})
    for path in ("/api/v1/apps/a/activity?since=99999999999d", "/api/v1/apps/a/metrics?from=99999999999d"):
        response = client.get(path, headers=headers)
        assert response.status_code in (400, 422), (path, response.status_code, response.text)


# ---- NUL characters: PostgreSQL refuses them in text (a DataError was a 500) --------------------


@pytest.mark.parametrize("url", ["/api/v1/channels/x%00y", "/api/v1/deliveries?status=a%00b",
                                 "/api/v1/apps/a/activity?user=%00"])
def test_a_nul_in_the_url_is_a_422(plat_client: Any, url: str) -> None:
    client, headers = plat_client
    response = client.get(url, headers=headers)
    assert response.status_code == 422, response.text
    assert "NUL" in response.json()["error"]


def test_a_value_the_database_refuses_is_a_422(plat_client: Any) -> None:
    """On PostgreSQL a NUL in a stored string is a DataError; on SQLite it is stored. Never a 500."""
    client, headers = plat_client
    client.post("/api/v1/apps", headers=headers, json={"name": "a", "git_url": ""})
    response = client.post("/api/v1/apps/a/mute", headers=headers, json={"for": "1h", "reason": "a\x00b"})
    assert response.status_code in (200, 422), response.text
    if "postgresql" in str(client.app.state.platform.engine.url):
        assert response.status_code == 422 and "NUL" in response.json()["error"]
