"""The CLI's one HTTP client of the API. Errors become a readable message and a non-zero exit."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get("SLIPWAY_URL") or "http://127.0.0.1:8300").rstrip("/")
        self.token = token if token is not None else os.environ.get("SLIPWAY_TOKEN", "")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.http = httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach Slipway at {self.url}: {exc}",
                           "is `slipway server` running? set SLIPWAY_URL") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                message, detail = body.get("error", response.text), body.get("detail")
            except ValueError:
                message, detail = response.text or response.reason_phrase, None
            raise ApiError(response.status_code, message, detail)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def events(self, path: str, **params: Any) -> Iterator[tuple[str, str]]:
        """Server-sent events as (event, data) pairs."""
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


def decode(data: str) -> Any:
    return json.loads(data)
