"""What the health gate reads of an app is the app's to make: an endless error page, terminal escape
sequences, thousands of descriptors. The deploy still ends, with a clean one-line reason."""

from __future__ import annotations

import pytest

from slipway.config import Settings
from slipway.deploys import reasons
from tests.conftest import python_app_files
from tests.integration.conftest import Api

pytestmark = pytest.mark.integration

ENDLESS_500 = """\
import os, socket

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(os.environ["PORT"])))
server.listen()
while True:
    conn, _ = server.accept()
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 500 Oops\\r\\nContent-Type: text/plain\\r\\n\\r\\n"
                 b"\\x1b]0;pwned\\x07\\x1b[31mred alert\\x1b[0m\\r\\nsecond line\\n")
    try:
        while True:  # no length, no end: a reader that reads it all never returns
            conn.sendall(b"A" * 65536)
    except OSError:
        conn.close()
"""

ESCAPES_THEN_EXIT = """\
import sys
print("\\x1b]0;pwned\\x07\\x1b[2Jcleared \\x00 screen", flush=True)
sys.exit(5)
"""

TRICKLED_500 = """\
import os, socket, time

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", int(os.environ["PORT"])))
server.listen()
while True:
    conn, _ = server.accept()
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 500 Slow\\r\\nContent-Length: 100000\\r\\n\\r\\nslowly ")
    try:
        for _ in range(100000):  # a byte every half second: 14 hours for the whole body
            conn.sendall(b"z")
            time.sleep(0.5)
    except OSError:
        conn.close()
"""

MANY_FDS_WRONG_PORT = """\
import os, socket, time
held = [open("/dev/null") for _ in range(800)]  # descriptors the gate must not all walk every poll
for _ in range(4):
    if os.fork() == 0:
        more = [open("/dev/null") for _ in range(800)]
        time.sleep(120)
elsewhere = socket.socket()
elsewhere.bind(("127.0.0.1", 0))
elsewhere.listen()
print("listening on", elsewhere.getsockname()[1], flush=True)
time.sleep(120)
"""


def test_an_endless_error_page_is_read_only_so_far(settings: Settings, api: Api,
                                                   make_repo) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 3
    repo = make_repo(files={**python_app_files(), "app.py": ENDLESS_500})
    api.call("POST", "/apps", 201, json={"name": "endless", "git_url": repo.url})
    deploy = api.deploy("endless")  # returns: the gate never waits for the end of the body
    assert deploy["status"] == "failed"
    assert deploy["reason"].startswith("GET / answered 500: ]0;pwned[31mred alert[0m second line AAAA")
    assert reasons.is_one_line(deploy["reason"]) and "\x1b" not in deploy["reason"] and "\x07" not in deploy["reason"]
    assert "\x1b" not in (deploy["log_tail"] or "") and len(deploy["log_tail"]) <= reasons.TAIL_CHARS


def test_a_trickled_error_page_does_not_hold_the_gate(settings: Settings, api: Api,
                                                     make_repo) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 3
    repo = make_repo(files={**python_app_files(), "app.py": TRICKLED_500})
    api.call("POST", "/apps", 201, json={"name": "trickle", "git_url": repo.url})
    deploy = api.deploy("trickle")  # returns: each answer is read for about a second, then dropped
    assert deploy["status"] == "failed" and deploy["reason"].startswith("GET / answered 500: slowly z")


def test_escape_sequences_never_reach_a_reason(settings: Settings, api: Api,
                                               make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo(files={**python_app_files(), "app.py": ESCAPES_THEN_EXIT})
    api.call("POST", "/apps", 201, json={"name": "escapes", "git_url": repo.url})
    deploy = api.deploy("escapes")
    # the app's last line may not be in its log yet when the exit is seen (a loaded machine): the reason then
    # ends at the exit code; either way no control character reaches the reason or the tail
    reason, tail = deploy["reason"], deploy["log_tail"] or ""
    assert reason.startswith("the web process crashed before it answered (exited with code 5)"), reason
    assert reason.endswith("(exited with code 5)") or reason.endswith(": ]0;pwned[2Jcleared screen"), reason
    assert not any(ch in reason + tail for ch in "\x1b\x07\x00")


def test_a_tree_full_of_descriptors_is_still_told_its_port(settings: Settings, api: Api,
                                                           make_repo) -> None:  # type: ignore[no-untyped-def]
    settings.health_timeout = 60
    repo = make_repo(files={**python_app_files(), "app.py": MANY_FDS_WRONG_PORT})
    api.call("POST", "/apps", 201, json={"name": "fds", "git_url": repo.url})
    deploy = api.deploy("fds")
    assert deploy["status"] == "failed"
    assert deploy["reason"].startswith("the web process listens on 127.0.0.1:"), deploy["reason"]
    assert "not on $PORT (" in deploy["reason"]
