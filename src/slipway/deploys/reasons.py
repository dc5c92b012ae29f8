"""A failed deploy explains itself in two parts: the reason, one line that fits on a screen (the cause
and the fix), and the log tail, the output that shows it, stored and shown apart (collapsed).

`one_line` is THE way a reason is made: `deploy_service.finish` passes every reason through it, so no
producer (pipeline, builds, health gate, reconciler) can store a reason a table row cannot show.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable

from slipway.errors import SlipwayError

MAX_CHARS = 200  # a reason fits on one line of a wide terminal and in a table cell
TAIL_LINES = 60  # a log tail keeps its last lines: where the cause of a failure usually is
TAIL_CHARS = 16_000
_SPACE = re.compile(r"\s+")
# control characters but tab and newline: an app's output may carry terminal escape sequences, and a
# reason or a tail is printed to users' terminals (CLI, git push) and sent to chat channels
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def one_line(text: str, *, limit: int = MAX_CHARS) -> str:
    """`text` as one line of at most `limit` characters: whitespace runs (newlines too) become one space,
    and an overlong text is cut at a word boundary, ending in '…'."""
    flat = _SPACE.sub(" ", _CONTROL.sub("", text.replace("\r", "\n"))).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:  # a word boundary not too far back; else cut mid-word
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def is_one_line(text: str) -> bool:
    """What every stored reason satisfies (the tests check producers against it)."""
    return "\n" not in text and "\r" not in text and len(text) <= MAX_CHARS


def tail_text(detail: object) -> str | None:
    """A SlipwayError's detail as plain text lines: never a Python repr of a list or a dict."""
    if detail is None or detail == "" or detail == [] or detail == {}:
        return None
    if isinstance(detail, str):
        lines = detail.splitlines()
    elif isinstance(detail, dict):
        # the builds' shape: {"errors": the first error-looking lines, "tail": the last lines}
        errors = _strings(detail.get("errors") or [])
        tail = _strings(detail.get("tail") or [])
        if errors or tail:
            shown = [line for line in errors if line not in tail]
            lines = shown + (["…"] if shown and tail else []) + tail
        else:
            lines = json.dumps(detail, indent=2, default=str, sort_keys=True).splitlines()
    elif isinstance(detail, list | tuple):
        lines = _strings(detail)
    else:
        lines = str(detail).splitlines()
    return clip_tail(lines)


def clip_tail(lines: Iterable[str]) -> str | None:
    kept = list(lines)[-TAIL_LINES:]
    text = "\n".join(_CONTROL.sub("", line.replace("\r", "")).rstrip() for line in kept).strip("\n")
    if len(text) > TAIL_CHARS:
        text = "…" + text[-(TAIL_CHARS - 1):]
    return text or None


def from_error(exc: SlipwayError, *, scrub: Callable[[str], str] = str) -> tuple[str, str | None]:
    """(reason, log tail) of a failure. A message that does not fit on one line is flattened (and cut if
    it must be); its whole text then goes on top of the tail, so nothing it said is lost.

    `scrub` (the deploy log's redaction of env values) runs before any flattening: a multi-line secret
    is still recognised as written."""
    message = scrub(exc.message).strip() or type(exc).__name__
    reason = one_line(message)
    tail = tail_text(exc.detail)
    tail = scrub(tail) if tail else None
    if reason != message:
        tail = clip_tail([*message.splitlines(), *(tail.splitlines() if tail else [])])
    return reason, tail


def _strings(items: object) -> list[str]:
    if not isinstance(items, list | tuple):
        return [str(items)]
    return [item if isinstance(item, str) else json.dumps(item, default=str) for item in items]
