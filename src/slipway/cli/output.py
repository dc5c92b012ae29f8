"""Rendering for people (Rich) or for scripts (--json).

Rich is imported on the first thing printed for a person, not with this module: `--json`, `--help`,
`--version` and usage errors never pay for it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

# Width of rendered output when it goes to a pipe or a file: no wrapping, so scripts (`| grep`, `> file`)
# get whole lines. Rich would otherwise use 80 columns (or the width of a terminal on stdin/stderr).
UNWRAPPED = 100_000


def _console(*, stderr: bool) -> Console:
    from rich.console import Console, ConsoleDimensions

    class _Console(Console):
        @property
        def size(self) -> ConsoleDimensions:
            size = super().size
            # not a terminal (decided per print: tests and callers swap sys.stdout), and COLUMNS not set
            # explicitly: lines are as long as their content
            if not self.is_terminal and "COLUMNS" not in os.environ:
                return ConsoleDimensions(UNWRAPPED, size.height)
            return size

        @size.setter
        def size(self, new_size: tuple[int, int]) -> None:
            Console.size.fset(self, new_size)  # type: ignore[attr-defined]

    return _Console(stderr=stderr, highlight=False)


class _Lazy:
    """Stands for a rich Console and makes it on first use."""

    def __init__(self, *, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _console(stderr=self._stderr)
        return getattr(self._console, name)


console: Console = _Lazy(stderr=False)  # type: ignore[assignment]
errors: Console = _Lazy(stderr=True)  # type: ignore[assignment]


def escape(text: str) -> str:
    """Rich markup escaping: values are data, never markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


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
    from rich.table import Table

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
