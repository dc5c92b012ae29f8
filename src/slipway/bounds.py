"""Bounds for the numbers clients send, so that out-of-range input is a 422 and never a database error.

Row ids are INTEGER columns: 32-bit on PostgreSQL (SQLite takes 64 bits; Python ints have no end), so an id
past INT32_MAX can only be a 404 and is refused before it reaches a query. Every integer and number in a
request (path, query, body) carries a minimum and a maximum in the OpenAPI schema; a unit test walks the
schema and fails on any that lacks them (tests/unit/test_input_bounds.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

# a row id in a path (/deploys/{deploy_id}), a query (?before=), a body (channels: [1, 2])
PathId = Annotated[int, Path(ge=1, le=INT32_MAX)]
BeforeId = Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Only items older than this id.")]
BodyId = Annotated[int, Field(ge=1, le=INT32_MAX)]


def digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() is also true for '²' or '৩', which int() refuses or reads oddly."""
    return text.isascii() and text.isdigit()


def row_id(text: str) -> int | None:
    """`text` as a row id when it is one (ASCII digits, 1..INT32_MAX), else None."""
    if not digits(text) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= INT32_MAX else None
