"""The CLI's one HTTP client of the API. Errors become a readable message and a non-zero exit.

Plain requests go through the standard library (urllib): importing httpx (with httpcore and its CLI's
dependencies) costs about as much as everything else a command does at start-up. Streams (a deploy's
log, `slipway run`) use httpx, imported when one is opened."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib.request

    import httpx


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@cache
def _opener() -> urllib.request.OpenerDirector:
    import urllib.request  # with http.client, ssl, email…: not for --help or --version

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        """The API never redirects; following one would send the token wherever it points (as with httpx,
        which the CLI used before, a 3xx is an answer, not a hop)."""

        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirects)


def _query_value(value: object) -> str:
    # as httpx encoded them, so the API sees the same query strings: true/false, "" for None
    if value is True or value is False:
        return "true" if value else "false"
    return "" if value is None else str(value)


def query(params: Mapping[str, Any]) -> str:
    from urllib.parse import urlencode

    pairs = [(key, _query_value(item)) for key, value in params.items()
             for item in (value if isinstance(value, (list, tuple)) else [value])]
    return urlencode(pairs)


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get("SLIPWAY_URL") or "http://127.0.0.1:8300").rstrip("/")
        self.token = token if token is not None else os.environ.get("SLIPWAY_TOKEN", "")
        self.timeout = timeout
        self.headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        """An httpx client on the API, for streams."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.url + "/api/v1", headers=self.headers, timeout=self.timeout)
        return self._http

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None) -> Any:
        import http.client
        import urllib.error
        import urllib.request

        url = self.url + "/api/v1" + path + ("?" + query(params) if params else "")
        headers = {**self.headers, "Accept": "application/json"}
        body = None
        if json is not None:
            body = _json_dumps(json).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        try:
            with _opener().open(request, timeout=self.timeout) as response:
                status, content_type, content = response.status, response.headers.get("content-type", ""), \
                    response.read()
        except urllib.error.HTTPError as exc:  # 3xx, 4xx, 5xx: the API's answer
            with exc:
                raise _api_error(exc.code, exc.reason, exc.read()) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # refused, DNS, TLS, timeout…
            reason = getattr(exc, "reason", exc)
            raise ApiError(0, f"cannot reach Slipway at {self.url}: {reason}",
                           "is `slipway server` running? set SLIPWAY_URL") from exc
        if status == 204 or not content:
            return None
        if content_type.startswith("application/json"):
            return _json_loads(content)
        return content.decode(errors="replace")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def events(self, path: str, **params: Any) -> Iterator[tuple[str, str]]:
        """Server-sent events as (event, data) pairs (no read timeout: a build may be quiet for long)."""
        import httpx

        try:
            with self.http.stream("GET", path, params=params, timeout=httpx.Timeout(10.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    body = response.json()
                    raise ApiError(response.status_code, body.get("error", ""), body.get("detail"))
                event, data = "message", []
                for line in response.iter_lines():
                    if not line:
                        if data:
                            yield event, "\n".join(data)
                        event, data = "message", []
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
        except httpx.TransportError as exc:
            raise ApiError(0, f"lost the connection to Slipway at {self.url}: {exc}") from exc


def _api_error(status: int, reason: str, content: bytes) -> ApiError:
    text = content.decode(errors="replace")
    try:
        body = _json_loads(content)
        message, detail = body.get("error", text), body.get("detail")
    except (ValueError, AttributeError):
        message, detail = text or reason, None
    return ApiError(status, message, detail)


_json_dumps, _json_loads = json.dumps, json.loads  # `json` is also request()'s keyword, as in httpx


def decode(data: str) -> Any:
    return json.loads(data)
