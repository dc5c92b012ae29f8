"""CaddyRouter against a real Caddy: routing, atomic switches under load, WebSockets across loads, repair.

Every test starts its own Caddy and upstreams on free ports and stops all of them, even when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from slipway import errors
from slipway.routing.admin import CaddyAdmin, listen_address
from slipway.routing.base import Route, RouteTable, Upstream
from slipway.routing.caddy import CaddyProcess, CaddyRouter, find_caddy
from slipway.routing.slots import SLOTS

pytestmark = pytest.mark.integration

UPSTREAM_APP = Path(__file__).with_name("upstream_app.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def caddy_bin() -> str:
    try:
        return find_caddy()
    except errors.Unavailable as exc:
        pytest.skip(f"needs the caddy binary: {exc.message}")


@pytest.fixture
def caddy(tmp_path: Path, caddy_bin: str) -> Iterator[CaddyProcess]:
    process = CaddyProcess(caddy_bin, tmp_path / "caddy" / "admin.sock", tmp_path / "caddy")
    try:
        process.start()
        yield process
    finally:
        process.stop()
        process.close()


@pytest.fixture
def router(caddy: CaddyProcess) -> Iterator[CaddyRouter]:
    router = CaddyRouter(caddy.admin, free_port(), free_port(), process=caddy, bind_host="127.0.0.1")
    try:
        yield router
    finally:
        router.close()


@dataclass
class Upstreams:
    """Upstream app processes; stop() is idempotent and the fixture stops whatever is left."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    dials: dict[str, str] = field(default_factory=dict)

    def start(self, name: str) -> Upstream:
        port = free_port()
        self.procs[name] = subprocess.Popen([sys.executable, str(UPSTREAM_APP), name, str(port)],
                                            stdin=subprocess.DEVNULL)
        self.dials[name] = f"127.0.0.1:{port}"
        wait_for(lambda: _accepts(port), what=f"upstream {name}")
        return Upstream(self.dials[name])

    def stop(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)

    def stop_all(self) -> None:
        for name in self.procs:
            self.stop(name)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    started = Upstreams()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def client(router: CaddyRouter) -> Iterator[Callable[[str, str], httpx.Response]]:
    http = httpx.Client(base_url=f"http://127.0.0.1:{router.http_port}", timeout=30, trust_env=False)

    def get(host: str, path: str = "/") -> httpx.Response:
        return http.get(path, headers={"Host": host})

    try:
        yield get
    finally:
        http.close()


# ---- routing ------------------------------------------------------------------------------------------


def test_routes_by_host_static_404_and_503(router: CaddyRouter, upstreams: Upstreams, client, tmp_path: Path
                                           ) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>static</h1>")
    (site / "hello.txt").write_text("hello file")
    table = RouteTable([
        Route("a.localhost", (upstreams.start("one"),), app="a"),
        Route("b.localhost", (upstreams.start("two"),), app="b"),
        Route("empty.localhost", app="sleepy"),
        Route("static.localhost", static_root=str(site), app="site"),
    ])
    router.apply(table)
    assert router.table is table
    assert router.healthy()

    assert (client("a.localhost").status_code, client("a.localhost").text) == (200, "one")
    assert client("b.localhost").text == "two"
    assert client("b.localhost:1234").text == "two"  # a port in the Host header does not matter

    unknown = client("nope.localhost")
    assert unknown.status_code == 404 and "No app" in unknown.text

    empty = client("empty.localhost")
    assert empty.status_code == 503 and "sleepy has no running instances" in empty.text

    assert client("static.localhost").text == "<h1>static</h1>"
    assert client("static.localhost", "/hello.txt").text == "hello file"
    assert client("static.localhost", "/missing.txt").status_code == 404


def test_weighted_upstreams_split_traffic(router: CaddyRouter, upstreams: Upstreams, client) -> None:
    one, two = upstreams.start("one"), upstreams.start("two")
    router.apply(RouteTable([Route("a.localhost", (Upstream(one.dial, 3), Upstream(two.dial, 1)))]))
    # round robin over the route's slots (slots.py): whole rounds over them give the exact shares
    bodies = [client("a.localhost").text for _ in range(4 * SLOTS)]
    assert bodies.count("one") == 3 * SLOTS and bodies.count("two") == SLOTS


def test_rejected_config_keeps_the_old_one(router: CaddyRouter, upstreams: Upstreams, client) -> None:
    good = RouteTable([Route("a.localhost", (upstreams.start("one"),))])
    router.apply(good)
    # A router whose rendering Caddy refuses (a malformed duration), aimed at the same Caddy.
    broken = CaddyRouter(router.admin, router.http_port, router.https_port, bind_host="127.0.0.1",
                         try_duration="soon")
    try:
        with pytest.raises(errors.Unavailable) as caught:
            broken.apply(RouteTable([Route("a.localhost", (upstreams.start("two"),))]))
    finally:
        broken.close()
    assert "caddy rejected the config" in caught.value.message and "soon" in caught.value.message
    assert client("a.localhost").text == "one"
    assert router.ensure() is False  # Caddy still runs exactly our last config


# ---- switching under load ------------------------------------------------------------------------------


def _no_response(exc: httpx.HTTPError) -> bool:
    """Whether the connection closed before any byte of a response: the request was never handled."""
    return (isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc)) or (
        isinstance(exc, httpx.ReadError) and "reset by peer" in str(exc))


@dataclass
class Load:
    """Threads sending GETs until stopped: half open a fresh connection per request, half reuse one
    keep-alive connection, like browsers.

    A config load can close a connection before it carries any response byte, in two races that are Caddy's
    and the kernel's, not ours (see slipway.routing.process): a keep-alive connection idle at that instant is
    closed by the old server's graceful shutdown, and a connection still in the accept queue of the old
    config's SO_REUSEPORT socket is reset unless net.ipv4.tcp_migrate_req=1. The request was never handled,
    and RFC 9112 §9.3.1 has clients retry an idempotent one on a new connection, as browsers and curl do:
    these threads do that, once, and count it. Everything else is a failure: an error response (502, 503),
    a truncated body, a second failure, or a request that had to be retried on a connection that was
    answering already.
    """

    port: int
    host: str
    bodies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, threads: int = 4) -> None:
        for number in range(threads):
            thread = threading.Thread(target=self._run, args=(number % 2 == 0,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, keepalive: bool) -> None:
        mode = "keep-alive" if keepalive else "fresh"
        headers = {"Host": self.host} if keepalive else {"Host": self.host, "Connection": "close"}
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30, trust_env=False) as http:
            for _ in range(100_000):  # bounded; normally ended by stop() after about 2 s
                if self._stop.is_set():
                    return
                outcome = self._one(http, headers, mode, retry=True)
                with self._lock:
                    if outcome in ("one", "two"):
                        self.bodies.append(outcome)
                    else:
                        self.failures.append(f"{mode}: {outcome}")

    def _one(self, http: httpx.Client, headers: dict[str, str], mode: str, *, retry: bool) -> str:
        try:
            response = http.get("/", headers=headers)
        except httpx.HTTPError as exc:
            if not (retry and _no_response(exc)):
                return f"{type(exc).__name__}: {exc}"
            with self._lock:
                self.retried.append(f"{mode}: {type(exc).__name__}: {exc}")
            return self._one(http, headers, mode, retry=False)
        return response.text if response.status_code == 200 else f"HTTP {response.status_code}"


@pytest.fixture
def load(router: CaddyRouter) -> Iterator[Callable[[str], Load]]:
    started: list[Load] = []

    def make(host: str) -> Load:
        running = Load(router.http_port, host)
        started.append(running)
        running.start()
        return running

    try:
        yield make
    finally:
        for running in started:
            running.stop()


def test_switches_under_load_drop_nothing(router: CaddyRouter, upstreams: Upstreams, load) -> None:
    one, two = upstreams.start("one"), upstreams.start("two")
    other = upstreams.start("other")
    router.apply(RouteTable([Route("a.localhost", (one,)), Route("b.localhost", (other,))]))
    traffic = load("a.localhost")
    deadline = time.monotonic() + 2.0
    switches = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        target = two if switches % 2 == 0 else one
        router.apply(RouteTable([Route("a.localhost", (target,)), Route("b.localhost", (other,))]))
        switches += 1
    traffic.stop()
    assert traffic.failures == [], f"retried once: {traffic.retried}"
    assert switches >= 5
    assert {"one", "two"} <= set(traffic.bodies)


def test_old_upstream_stopped_right_after_switch_drops_nothing(router: CaddyRouter, upstreams: Upstreams,
                                                                load, client) -> None:
    one, two = upstreams.start("one"), upstreams.start("two")
    router.apply(RouteTable([Route("a.localhost", (one,))]))
    traffic = load("a.localhost")
    time.sleep(0.7)
    router.apply(RouteTable([Route("a.localhost", (two,))]))
    upstreams.stop("one")
    time.sleep(1.3)
    traffic.stop()
    assert traffic.failures == [], f"retried once: {traffic.retried}"
    assert traffic.bodies[-1] == "two" and "one" in traffic.bodies
    assert client("a.localhost").text == "two"


def test_dead_upstream_in_a_pool_is_retried_on_the_others(router: CaddyRouter, upstreams: Upstreams,
                                                          load) -> None:
    one, two = upstreams.start("one"), upstreams.start("two")
    router.apply(RouteTable([Route("a.localhost", (one, two))]))
    traffic = load("a.localhost")
    time.sleep(0.5)
    upstreams.stop("one")  # the route table still lists it: Caddy must retry on "two"
    time.sleep(1.0)
    traffic.stop()
    assert traffic.failures == [], f"retried once: {traffic.retried}"
    assert traffic.bodies[-1] == "two"


# ---- WebSockets across config loads ---------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[tuple[Upstream, list[object]]]:
    ws_server = pytest.importorskip("websockets.sync.server")
    connections: list[object] = []

    def echo(connection) -> None:
        connections.append(connection)
        for message in connection:
            connection.send(message)

    server = ws_server.serve(echo, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield Upstream(f"{host}:{port}"), connections
    finally:
        server.shutdown()
        thread.join(10)


def _ws_connect(router: CaddyRouter, host: str):
    ws_client = pytest.importorskip("websockets.sync.client")
    # Connect to Caddy's port but name the app's host, as a browser resolving *.localhost would.
    sock = socket.create_connection(("127.0.0.1", router.http_port), timeout=10)
    return ws_client.connect(f"ws://{host}:{router.http_port}/", sock=sock, open_timeout=10)


def test_websocket_survives_config_loads(router: CaddyRouter, upstreams: Upstreams, echo_server) -> None:
    echo, connections = echo_server
    one, two = upstreams.start("one"), upstreams.start("two")
    tables = [
        RouteTable([Route("ws.localhost", (echo,)), Route("b.localhost", (one,))]),
        RouteTable([Route("ws.localhost", (echo,)), Route("b.localhost", (two,))]),
        RouteTable([Route("ws.localhost", (echo,)), Route("b.localhost", (one, two))]),
        RouteTable([Route("ws.localhost", (echo,)), Route("b.localhost")]),
    ]
    router.apply(tables[0])
    with _ws_connect(router, "ws.localhost") as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        for number, table in enumerate(tables[1:], start=1):
            router.apply(table)
            ws.send(f"after load {number}")
            assert ws.recv(timeout=10) == f"after load {number}"
    assert len(connections) == 1  # the same connection all along, never re-established


def test_without_stream_close_delay_a_load_closes_websockets(caddy: CaddyProcess, upstreams: Upstreams,
                                                             echo_server) -> None:
    """Control for the test above: Caddy's default really does cut streams on a load."""
    from websockets.exceptions import ConnectionClosed

    echo, _ = echo_server
    one = upstreams.start("one")
    router = CaddyRouter(caddy.admin, free_port(), free_port(), process=caddy, bind_host="127.0.0.1",
                         stream_close_delay="0s")
    try:
        router.apply(RouteTable([Route("ws.localhost", (echo,))]))
        with _ws_connect(router, "ws.localhost") as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
            router.apply(RouteTable([Route("ws.localhost", (echo,)), Route("b.localhost", (one,))]))
            with pytest.raises(ConnectionClosed):
                ws.send("after load")
                ws.recv(timeout=10)
    finally:
        router.close()


# ---- losing and finding Caddy ---------------------------------------------------------------------------


def test_ensure_restarts_a_killed_caddy_and_reapplies(router: CaddyRouter, caddy: CaddyProcess,
                                                       upstreams: Upstreams, client) -> None:
    router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
    assert router.ensure() is False  # nothing to repair
    old_pid = caddy.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: not caddy.running(), what="caddy to die")
    assert not router.healthy()

    assert router.ensure() is True
    assert caddy.running() and caddy.pid != old_pid
    assert client("a.localhost").text == "one"
    assert router.ensure() is False


def test_ensure_reapplies_when_caddy_lost_its_config(router: CaddyRouter, caddy: CaddyProcess,
                                                      upstreams: Upstreams, client) -> None:
    router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
    # Someone (a restart by hand, an operator) loads a config without our routes into the same Caddy.
    with httpx.Client(trust_env=False, transport=httpx.HTTPTransport(uds=caddy.admin)) as http:
        reset = {"admin": {"listen": listen_address(caddy.admin), "config": {"persist": False}}}
        assert http.post("http://localhost/load", json=reset).status_code == 200
    with pytest.raises(httpx.TransportError):
        client("a.localhost")  # nothing listens on the HTTP port any more

    assert router.ensure() is True
    assert client("a.localhost").text == "one"


def test_apply_starts_the_process_on_first_use(tmp_path: Path, caddy_bin: str, upstreams: Upstreams) -> None:
    process = CaddyProcess(caddy_bin, tmp_path / "caddy" / "admin.sock", tmp_path / "caddy")
    router = CaddyRouter(process.admin, free_port(), free_port(), process=process, bind_host="127.0.0.1")
    try:
        assert not process.running() and not router.healthy()
        router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
        assert process.running() and not process.adopted
        with httpx.Client(trust_env=False) as http:
            assert http.get(f"http://127.0.0.1:{router.http_port}/", headers={"Host": "a.localhost"}).text == "one"
    finally:
        router.close()
        process.stop()
        process.close()


def test_second_process_adopts_the_running_caddy(router: CaddyRouter, caddy: CaddyProcess,
                                                 upstreams: Upstreams, client) -> None:
    router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
    # A new control plane after the old one was killed: same admin address, same workdir.
    second = CaddyProcess(caddy.binary, caddy.admin, caddy.workdir)
    try:
        second.start()
        assert second.adopted and second.running()
        assert second.pid == caddy.pid
        assert client("a.localhost").text == "one"  # adopting does not disturb routing

        second.stop()  # adopting means taking over: it can stop what it adopted
        wait_for(lambda: not caddy.running(), what="the adopted caddy to stop")
        assert not second.running()
    finally:
        second.stop()
        second.close()


def test_start_fails_clearly_when_caddy_cannot_start(tmp_path: Path) -> None:
    process = CaddyProcess("/bin/false", tmp_path / "caddy" / "admin.sock", tmp_path / "caddy", start_timeout=10)
    try:
        with pytest.raises(errors.Unavailable, match="caddy exited at start"):
            process.start()
        assert not process.running()
    finally:
        process.stop()
        process.close()


# ---- the admin API: a unix socket only, and a wiped config comes back ---------------------------------


def _tcp_listeners(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN}


def test_the_admin_api_listens_on_an_owner_only_socket_and_never_on_tcp(
        router: CaddyRouter, caddy: CaddyProcess, upstreams: Upstreams, client) -> None:
    router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
    sock = Path(caddy.admin)
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert caddy.pid is not None
    assert _tcp_listeners(caddy.pid) == {router.http_port}  # routing only: no admin port
    # wiping the config through the socket: Caddy's default admin address would be TCP localhost:2019, but
    # its environment keeps the admin API on our socket, and nothing listens on TCP any more
    CaddyAdmin(caddy.admin).delete_config()
    assert router._api.config() is None
    assert _tcp_listeners(caddy.pid) == set()
    with pytest.raises(httpx.TransportError):
        client("a.localhost")
    assert router.ensure(lambda: RouteTable([Route("a.localhost", (Upstream(upstreams.dials["one"]),))])) is True
    assert client("a.localhost").text == "one"


def test_ensure_applies_the_wanted_table_not_this_processs_last_one(
        router: CaddyRouter, upstreams: Upstreams, client) -> None:
    one, two = upstreams.start("one"), upstreams.start("two")
    router.apply(RouteTable([Route("a.localhost", (one,))]))
    # another control-plane process (a worker) switched the route; the database says "two"
    other = CaddyRouter(router.admin, router.http_port, router.https_port, bind_host="127.0.0.1")
    try:
        other.apply(RouteTable([Route("a.localhost", (two,))]))
    finally:
        other.close()
    assert router.ensure(lambda: RouteTable([Route("a.localhost", (two,))])) is False  # not reverted
    assert client("a.localhost").text == "two"
    # a control plane that never applied a table itself (restarted while Caddy had lost its config)
    CaddyAdmin(router.admin).delete_config()
    fresh = CaddyRouter(router.admin, router.http_port, router.https_port, bind_host="127.0.0.1")
    try:
        assert fresh.ensure(lambda: RouteTable([Route("a.localhost", (two,))])) is True
    finally:
        fresh.close()
    assert client("a.localhost").text == "two"


def test_a_caddy_of_ours_listening_on_tcp_is_replaced(tmp_path: Path, caddy_bin: str) -> None:
    """An upgrade: the Caddy an older Slipway started (admin on TCP) is stopped, a socket-only one starts."""
    workdir = tmp_path / "caddy"
    workdir.mkdir()
    port = free_port()
    (workdir / "old.json").write_text(json.dumps({"admin": {"listen": f"127.0.0.1:{port}"}}))
    old = subprocess.Popen([caddy_bin, "run", "--config", str(workdir / "old.json"), "--pidfile",
                            str(workdir / "caddy.pid")], cwd=workdir, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(workdir)})
    process = CaddyProcess(caddy_bin, workdir / "admin.sock", workdir)
    try:
        wait_for(lambda: (workdir / "caddy.pid").exists() and _answers_tcp(port), what="the old caddy")
        process.start()
        assert old.wait(20) is not None and not process.adopted
        assert process.pid is not None and _tcp_listeners(process.pid) == set()
    finally:
        if old.poll() is None:
            old.kill()
            old.wait()
        process.stop()
        process.close()


def _answers_tcp(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


# ---- switches through slot files: no config load, no connection closed -----------------------------------


def _keepalive_get(sock: socket.socket, host: str) -> str:
    """One GET on an open connection; fails (never reconnects) if the router closed it."""
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"{host}: the router closed the kept-alive connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"{host}: the router closed the connection mid-answer"
        body += chunk
    return body.decode()


def test_switches_load_no_config_and_keep_every_connection(router: CaddyRouter, caddy: CaddyProcess,
                                                           upstreams: Upstreams, tmp_path: Path) -> None:
    one, two, other = upstreams.start("one"), upstreams.start("two"), upstreams.start("other")
    for version in ("v1", "v2"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "index.html").write_text(f"site {version}")

    def table(app: tuple[Upstream, ...], site: str) -> RouteTable:
        return RouteTable([Route("a.localhost", app), Route("b.localhost", (other,)),
                           Route("s.localhost", static_root=str(tmp_path / site))])

    router.apply(table((one,), "v1"))
    admin = CaddyAdmin(caddy.admin)
    loaded = admin.config()
    conns = {host: socket.create_connection(("127.0.0.1", router.http_port), timeout=10)
             for host in ("a.localhost", "b.localhost", "s.localhost")}
    try:
        assert [_keepalive_get(c, h) for h, c in conns.items()] == ["one", "other", "site v1"]
        # a deploy (another instance), a scale (two instances), a static site's deploy (another root)
        router.apply(table((two,), "v2"))
        assert [_keepalive_get(c, h) for h, c in conns.items()] == ["two", "other", "site v2"]
        router.apply(table((one, two), "v2"))
        assert {_keepalive_get(conns["a.localhost"], "a.localhost") for _ in range(4)} == {"one", "two"}
        # the app stopped (no instance: Caddy's own 503 listener answers), then started again
        router.apply(table((), "v2"))
        assert "has no running instances" in _keepalive_get(conns["a.localhost"], "a.localhost")
        router.apply(table((one,), "v2"))
        assert _keepalive_get(conns["a.localhost"], "a.localhost") == "one"
        assert admin.config() == loaded  # not one config load: Caddy's servers never restarted
        assert _keepalive_get(conns["b.localhost"], "b.localhost") == "other"
    finally:
        admin.close()
        for conn in conns.values():
            conn.close()


def test_ensure_restores_lost_slot_files(router: CaddyRouter, upstreams: Upstreams, client) -> None:
    router.apply(RouteTable([Route("a.localhost", (upstreams.start("one"),))]))
    for path in router.upstream_dir.glob("*.dial"):
        path.write_text("127.0.0.1:1")  # edited by hand: nothing listens there
    assert router.ensure() is True
    assert client("a.localhost").text == "one"
    assert router.ensure() is False


def test_a_missing_static_root_link_is_a_404_not_another_directory(router: CaddyRouter, tmp_path: Path,
                                                                   client) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("site")
    router.apply(RouteTable([Route("s.localhost", static_root=str(site))]))
    assert client("s.localhost").text == "site"
    for path in router.upstream_dir.glob("*.root"):
        path.unlink()
    assert client("s.localhost").status_code == 404
    assert router.ensure() is True
    assert client("s.localhost").text == "site"
