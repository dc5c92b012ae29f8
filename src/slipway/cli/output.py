"""Rendering for people (Rich) or for scripts (--json)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def fail(message: str, detail: object = None) -> None:
    errors.print("[red]error:[/red] " + escape(message))
    if detail:
        errors.print(escape(detail if isinstance(detail, str) else str(detail)))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, empty: str = "nothing") -> None:
    if not rows:
        console.print(f"[dim]{empty}[/dim]")
        return
    view = Table(box=None, pad_edge=False, header_style="bold")
    for _, title in columns:
        view.add_column(title)
    for row in rows:
        # values are data, never markup: "[pruned]" or "[processes]" must print as written
        view.add_row(*("" if row.get(key) is None else escape(str(row.get(key))) for key, _ in columns))
    console.print(view)


def fields(data: dict[str, Any], keys: Sequence[tuple[str, str]]) -> None:
    width = max(len(title) for _, title in keys)
    for key, title in keys:
        value = data.get(key)
        console.print(f"[bold]{title.ljust(width)}[/bold]  {'' if value is None else escape(str(value))}")


def short(commit: str | None) -> str:
    return (commit or "")[:12]
