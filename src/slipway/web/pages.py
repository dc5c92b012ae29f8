"""The dashboard (Jinja2 + HTMX). Placeholder until the dashboard lands."""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    return None
