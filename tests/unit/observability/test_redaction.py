"""The one redaction function: the deploy log and the instance logs mask the same forms of a value."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from slipway.deploys.log import DeployLog
from slipway.observability.logsearch import Query, line_matches, redact_line
from slipway.redaction import MASK, NOTHING, Redactor

SECRET = "pa ss/wo+rd?&="


def test_every_printed_form_of_a_value_is_masked() -> None:
    redact = Redactor([SECRET])
    raw = SECRET.encode()
    for form in (SECRET, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
                 base64.urlsafe_b64encode(raw).decode(), quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET)):
        assert redact(f"before {form} after") == f"before {MASK} after", form


def test_short_values_stay_and_longer_values_win() -> None:
    redact = Redactor(["abc", "", "token", "token-and-more"])
    assert redact("abc token-and-more token") == f"abc {MASK} {MASK}"
    assert not Redactor(["abc", "xy"]) and NOTHING("anything") == "anything"


def test_the_deploy_log_uses_it() -> None:
    log = DeployLog(None, 0)  # type: ignore[arg-type]  # scrub() never touches the database
    log.redact([SECRET])
    assert log.scrub("Authorization: Basic " + base64.b64encode(SECRET.encode()).decode()) == \
        f"Authorization: Basic {MASK}"


def test_runtime_lines_keep_their_time_and_stream_and_are_filtered_after_masking() -> None:
    redact = Redactor(["2024", "stdout-secret"])
    line = redact_line("2024-05-01T12:00:00.000Z stdout key=stdout-secret in 2024", redact)
    assert line == f"2024-05-01T12:00:00.000Z stdout key={MASK} in {MASK}"
    assert not line_matches(line, Query(q="stdout-secret"))
