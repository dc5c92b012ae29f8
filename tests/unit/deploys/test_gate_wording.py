"""How the health gate words what it saw, and how it reads listening sockets from /proc."""

from __future__ import annotations

import socket
import subprocess
import sys

import psutil

from slipway.deploys import gate
from slipway.runtimes.local import sockets


def test_addresses_decode_from_the_kernels_tables() -> None:
    assert sockets.decode_address("0100007F:1F90") == ("127.0.0.1", 8080)
    assert sockets.decode_address("00000000:0050") == ("0.0.0.0", 80)
    assert sockets.decode_address("00000000000000000000000000000000:1F90") == ("::", 8080)
    assert sockets.decode_address("00000000000000000000000001000000:0016") == ("::1", 22)
    table = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
             "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n"
             "   1: 0100007F:2710 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4343 1\n")
    assert sockets.listen_table(table) == {4242: ("0.0.0.0", 8080)}  # established connections are not listeners


def test_a_process_trees_listeners_are_found_through_its_children() -> None:
    """A parent that only waits; its child listens (gunicorn's master under bubblewrap and a shell)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); "
            "print('up', flush=True); time.sleep(30)")
    parent = subprocess.Popen(["/bin/sh", "-c", f'{sys.executable} -c "{code}"; true'], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == b"up"
        found = sockets.listening(parent.pid)
        assert found == [("127.0.0.1", port)]
        assert gate.shown(found[0]) == f"127.0.0.1:{port}"
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
    assert sockets.listening(parent.pid) == []  # gone: nothing, no error


def test_the_fix_names_the_apps_own_server() -> None:
    assert gate.bind_hint("gunicorn app:app -c gunicorn.conf.py") == "gunicorn --bind 0.0.0.0:$PORT"
    assert gate.bind_hint("uvicorn main:app") == "uvicorn --host 0.0.0.0 --port $PORT"
    assert gate.bind_hint("node server.js") == "app.listen(process.env.PORT)"
    assert gate.bind_hint("python manage.py runserver") == "python manage.py runserver 0.0.0.0:$PORT"
    assert gate.bind_hint("./start.sh") == "gunicorn --bind 0.0.0.0:$PORT"
    assert gate.shown(("::", 8080)) == "[::]:8080"


def test_an_error_page_reads_as_text() -> None:
    page = ("<!doctype html><html><head><title>T</title><script>var x = '<p>';</script></head>"
            "<body><h1>Server Error (500)</h1>\n<p>Missing &amp; broken</p></body></html>")
    assert gate.body_text(page) == "Server Error (500)\nMissing & broken"
    assert gate.body_text("plain\n\n  text  ") == "plain\ntext"


def test_the_apps_last_words_skip_the_supervisors_notes() -> None:
    lines = ["2026-01-01T00:00:00.000Z stdout booting", "2026-01-01T00:00:01.000Z stderr KeyError: 'DATABASE_URL'",
             "2026-01-01T00:00:01.100Z stderr [slipway] exited with code 1; restarting in 1 s"]
    assert gate.last_words(lines) == "KeyError: 'DATABASE_URL'"
    assert gate.last_words([]) == ""
