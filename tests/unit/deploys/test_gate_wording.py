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


class ListeningRuntime:
    """Only what the gate asks of a runtime here: where the instance listens and what it wrote."""

    def __init__(self, addresses: list[tuple[str, int]]) -> None:
        self.addresses = addresses

    def listening(self, instance_id: str) -> list[tuple[str, int]]:
        return self.addresses

    def logs(self, instance_id: str, lines: int = 100) -> list[str]:
        return ["2026-01-01T00:00:00Z stdout [INFO] Listening at: http://0.0.0.0:8080"]


def elsewhere(addresses: list[tuple[str, int]], command: str = "gunicorn app:app") -> str | None:
    """The gate's verdict on an instance on $PORT 10003 seen twice, WRONG_PORT_GRACE apart."""
    from slipway.deploys.models import Release
    from slipway.errors import DeployError
    from slipway.instances.models import Instance

    watch = gate._Watch(Instance(id="web-1", port=10003, process_type="web"), ListeningRuntime(addresses))  # type: ignore[arg-type]
    release = Release(config={"processes": {"web": command}})
    lines: list[str] = []
    gate._fail_if_elsewhere(watch, release, lines.append)  # first sight: never a verdict yet
    if watch.elsewhere_since is not None:
        watch.elsewhere_since -= gate.WRONG_PORT_GRACE
    try:
        gate._fail_if_elsewhere(watch, release, lines.append)
    except DeployError as exc:
        assert "Listening at" in lines[0]  # the app's own words go to the deploy log
        return exc.message
    return None


def test_a_listener_elsewhere_is_named_after_a_second_look() -> None:
    assert elsewhere([("0.0.0.0", 8080)]) == ("the web process listens on 0.0.0.0:8080, not on $PORT (10003): "
                                              "bind to $PORT, e.g. gunicorn --bind 0.0.0.0:$PORT")
    assert elsewhere([("::", 3000)], "node server.js") == ("the web process listens on [::]:3000, not on $PORT "
                                                           "(10003): bind to $PORT, e.g. app.listen(process.env.PORT)")
    assert elsewhere([("::1", 10003)]) == ("the web process listens on [::1]:10003, which the router cannot reach: "
                                           "listen on 0.0.0.0:$PORT, e.g. gunicorn --bind 0.0.0.0:$PORT")
    # the right port on a reachable address (a metrics port beside it is fine), or nothing listening yet
    assert elsewhere([("0.0.0.0", 9090), ("0.0.0.0", 10003)]) is None
    assert elsewhere([("127.0.0.1", 10003)]) is None
    assert elsewhere([]) is None
