"""Shared pieces of the benchmarks: a real `slipway server` in a throw-away $SLIPWAY_HOME, tiny git apps,
load generators (wrk and a paced asyncio client) and the result line every bench prints.

Everything here talks to 127.0.0.1 only, and everything started is stopped again by `Slipway.close()`,
also on an exception, Ctrl-C or SIGTERM (see `cleanup_on_signals`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

BIN = Path(sys.executable).parent
SLIPWAY = str(BIN / "slipway")
WRK = shutil.which("wrk") or "/usr/bin/wrk"

# ---- the apps ----------------------------------------------------------------------------------------

# The integration tests' app: a stdlib ThreadingHTTPServer answering JSON with its version.
STDLIB_APP = '''\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = open("version.txt").read().strip()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms per keep-alive request

    def do_GET(self):
        body = json.dumps({"version": VERSION, "release": os.environ.get("SLIPWAY_RELEASE")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


print("listening on", os.environ["PORT"], flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

# A faster responder for throughput runs: asyncio, HTTP/1.1 keep-alive, GET only, same JSON answer; and a
# WebSocket echo (RFC 6455, replies "<version>:<message>") on any GET asking to upgrade.
FAST_APP = '''\
import asyncio, base64, hashlib, json, os, signal, struct

VERSION = open("version.txt").read().strip()
BODY = json.dumps({"version": VERSION, "release": os.environ.get("SLIPWAY_RELEASE")}).encode()
HEAD = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: "
        + str(len(BODY)).encode() + b"\\r\\n")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def websocket(reader, writer, head):
    key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\\r\\n")
                if line.lower().startswith(b"sec-websocket-key:")), b"")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\\r\\n\\r\\n")
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        mask = await reader.readexactly(4) if second & 0x80 else bytes(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if first & 0x0F == 8:
            writer.write(b"\\x88\\x00")
            await writer.drain()
            return
        if first & 0x0F == 9:  # ping -> pong
            writer.write(bytes([0x8A, len(data)]) + data)
        else:
            reply = VERSION.encode() + b":" + data[:100]
            writer.write(bytes([0x81, len(reply)]) + reply)
        await writer.drain()


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            lower = head.lower()
            if b"upgrade: websocket" in lower:
                await websocket(reader, writer, head)
                break
            close = b"connection: close" in lower
            writer.write(HEAD + (b"Connection: close\\r\\n" if close else b"") + b"\\r\\n" + BODY)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(os.environ["PORT"]), backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("listening on", os.environ["PORT"], flush=True)
    async with server:
        await stop.wait()


asyncio.run(main())
'''


def app_files(version: str, *, fast: bool = False, work_ms: float = 0.0) -> dict[str, str]:
    """A Python app (empty requirements.txt, Procfile) that answers {"version": version}.

    work_ms > 0: the stdlib app spends that much CPU per request first, like a small real handler
    (a query, a template) would."""
    app = FAST_APP if fast else STDLIB_APP
    if work_ms:
        app = app.replace("    def do_GET(self):\n", "    def do_GET(self):\n"
                          f"        end = time.process_time() + {work_ms / 1000!r}\n"
                          "        while time.process_time() < end:\n            pass\n")
        app = app.replace("import json, os\n", "import json, os, time\n")
    return {"app.py": app, "version.txt": version + "\n", "requirements.txt": "", "Procfile": "web: python app.py\n"}


class Repo:
    """A local git repository the server fetches from (file:// URL)."""

    def __init__(self, path: Path, files: dict[str, str]) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
        self.git("init", "-q", "-b", "main")
        self.commit(files, "initial")

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def git(self, *args: str) -> str:
        return subprocess.run(["git", *args], cwd=self.path, env=self.env, check=True, capture_output=True,
                              text=True).stdout

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, content in files.items():
            (self.path / name).write_text(content)
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD").strip()


# ---- ports -------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_range(size: int = 40) -> str:
    import secrets

    for _ in range(50):
        start = 20000 + secrets.randbelow(30000)
        if all(_port_free(p) for p in range(start, start + size, 4)):
            return f"{start}-{start + size - 1}"
    raise RuntimeError("no free port block")


# ---- the platform under test -------------------------------------------------------------------------

class Slipway:
    """`slipway server` (SQLite, local runtime, Caddy) in a temporary $SLIPWAY_HOME, driven by the CLI.

    Settings are the product defaults (watch, drain, grace, workers …) except the paths and ports, so the
    figures are what a user gets. `close()` stops the server, every app instance and Caddy, and removes
    the temporary directory.
    """

    def __init__(self, name: str, **settings: str) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"slipway-bench-{name}-"))
        self.home = self.tmp / "home"
        self.http_port, self.https_port = free_port(), free_port()
        self.caddy_admin = str(self.home / "caddy" / "admin.sock")  # Caddy's admin API: a unix socket only
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        self.env.update({
            "SLIPWAY_HOME": str(self.home), "SLIPWAY_LISTEN": self.api_url.removeprefix("http://"),
            "SLIPWAY_HTTP_PORT": str(self.http_port), "SLIPWAY_HTTPS_PORT": str(self.https_port),
            "SLIPWAY_CADDY_ADMIN": self.caddy_admin, "SLIPWAY_PORT_RANGE": free_range(),
            "SLIPWAY_ROUTER": "caddy", "SLIPWAY_URL": self.api_url, "SLIPWAY_LOG_LEVEL": "warning",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            **{f"SLIPWAY_{k.upper()}": v for k, v in settings.items()},
        })
        self.server: subprocess.Popen[bytes] | None = None
        self._closed = False

    # -- lifecycle

    def start(self, timeout: float = 60) -> Slipway:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.tmp / "server.log", "wb") as log:
            self.server = subprocess.Popen([SLIPWAY, "server"], env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"slipway server exited:\n{self.server_log()}")
            try:
                if httpx.get(self.api_url + "/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"slipway server did not come up:\n{self.server_log()}")

    def server_log(self) -> str:
        path = self.tmp / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def login(self) -> None:
        self.env["SLIPWAY_TOKEN"] = self.cli_json("admin", "token", "--name", "bench")["token"]

    def close(self, keep: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        try:  # instances are detached from the server by design: stop them through the runtime
            from slipway.runtimes.local.runtime import LocalRuntime

            runtime = LocalRuntime(self.home / "instances")
            for instance_id in runtime.instances():
                runtime.stop(instance_id, 1.0)
            from slipway.sandbox import Isolation, Sandbox

            Sandbox(Isolation("users", "cleanup"), self.home).remove_all_users()  # the apps' system users
        except Exception as exc:  # the sweep below still gets them
            print(f"[harness] runtime cleanup: {exc}", file=sys.stderr)
        try:  # so is Caddy
            with httpx.Client(transport=httpx.HTTPTransport(uds=self.caddy_admin), trust_env=False) as admin:
                admin.post("http://localhost/stop", timeout=5)
        except httpx.HTTPError:
            pass
        sweep(self.tmp)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- CLI

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([SLIPWAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RuntimeError(f"slipway {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n"
                               f"{result.stderr}\n--- server log ---\n{self.server_log()}")
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def cli_popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([SLIPWAY, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)

    def api(self, path: str) -> Any:
        response = httpx.get(f"{self.api_url}/api/v1{path}", timeout=10,
                             headers={"Authorization": f"Bearer {self.env['SLIPWAY_TOKEN']}"})
        response.raise_for_status()
        return response.json()

    # -- apps

    def create_app(self, name: str, repo: Repo) -> None:
        self.cli_json("apps", "create", name, "--git", repo.url, "--branch", "main")

    def host(self, app: str) -> str:
        return f"{app}.localhost"

    @property
    def router_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def served_version(self, client: httpx.Client, app: str) -> str | None:
        """The version the app answers through Caddy, or None if it does not answer 200."""
        try:
            response = client.get(self.router_url + "/", headers={"Host": self.host(app)})
        except httpx.HTTPError:
            return None
        return str(response.json().get("version")) if response.status_code == 200 else None

    def instance_port(self, app: str) -> int:
        running = [i for i in self.cli_json("ps", app) if i["state"] == "running"]
        return int(running[0]["port"])

    def caddy_pid(self) -> int | None:
        pid_file = self.home / "caddy" / "caddy.pid"
        if pid_file.exists():
            try:
                return int(pid_file.read_text().strip())
            except ValueError:
                pass
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "caddy" and str(self.home) in " ".join(proc.info["cmdline"] or []):
                return proc.pid
        return None

    def step_marks(self, app: str, deploy_id: int) -> list[tuple[float, str]]:
        """(epoch seconds, title) of each `-----> step` line of a deploy's log, plus ("end") at its last line."""
        import datetime as dt

        lines = self.api(f"/apps/{app}/deploys/{deploy_id}/log")["lines"]

        def epoch(ts: str) -> float:
            t = dt.datetime.fromisoformat(ts)
            return (t if t.tzinfo else t.replace(tzinfo=dt.UTC)).timestamp()

        marks = [(epoch(x["ts"]), x["line"][7:]) for x in lines if x["line"].startswith("-----> ")]
        return marks + ([(epoch(lines[-1]["ts"]), "end")] if lines else [])

    def step_durations(self, app: str, deploy_id: int) -> dict[str, float]:
        """Seconds spent in each step of a deploy (keyed by the step title's first word)."""
        marks = self.step_marks(app, deploy_id)
        out: dict[str, float] = {}
        for (ts, title), (nxt, _) in zip(marks, marks[1:], strict=False):
            key = title.split(" ")[0].rstrip(":")
            out[key] = out.get(key, 0.0) + nxt - ts
        return out


def sweep(root: Path) -> None:
    """Kill whatever still runs from `root` (cmdline or cwd under it): the last line of cleanup."""
    doomed = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.pid == os.getpid():
            continue
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(root) in cmd or str(proc.info["cwd"] or "").startswith(str(root)):
            doomed.append(proc)
    for proc in doomed:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(doomed, timeout=3)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass


@contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit (and SIGINT into KeyboardInterrupt) so `finally:` blocks run."""
    def raise_exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, raise_exit) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C raises KeyboardInterrupt even where SIGINT came in ignored (a job started with `&` by a script)
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def platform(name: str, **settings: str) -> Iterator[Slipway]:
    """A started, logged-in Slipway that is always cleaned up. Set BENCH_KEEP=1 to keep its files."""
    with cleanup_on_signals():
        sw = Slipway(name, **settings)
        try:
            sw.start()
            sw.login()
            yield sw
        except BaseException:
            print(f"--- server log ({sw.tmp}) ---\n{sw.server_log()}", file=sys.stderr)
            raise
        finally:
            sw.close(keep=bool(os.environ.get("BENCH_KEEP")))


def wait_until(check: Callable[[], Any], timeout: float, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(every)


# ---- statistics ----------------------------------------------------------------------------------------

def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else float("nan")


# ---- load: wrk -------------------------------------------------------------------------------------------

@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    raw: str = field(repr=False)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str, *, host: str | None = None, threads: int = 2, connections: int = 32, seconds: int = 10,
        timeout_s: int = 2) -> WrkResult:
    """One wrk run (HTTP/1.1 keep-alive) with latency percentiles."""
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s", "--latency"]
    if host:
        cmd += ["-H", f"Host: {host}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if not (total and rps and p50 and p99):
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    return WrkResult(requests=int(total.group(1)), rps=float(rps.group(1)), p50_ms=_ms(p50.group(1)),
                     p99_ms=_ms(p99.group(1)), non_2xx=int(non2xx.group(1)) if non2xx else 0,
                     socket_errors=sum(int(x) for x in sock.groups()) if sock else 0, raw=out)


# ---- load: a paced asyncio HTTP/1.1 client that keeps every request's outcome ----------------------------

@dataclass
class Sample:
    start: float       # time.monotonic() the request was due (its schedule slot)
    sent: float        # time.time() it was actually written (to line up with deploy log timestamps)
    latency: float     # seconds from the due time to the complete response (coordinated-omission safe)
    ok: bool
    detail: str        # the version served, or what went wrong


class PacedLoad:
    """`connections` keep-alive connections to host:port sending GET / with a Host header, together at
    `rate` requests/s on a fixed schedule, in a background thread, until stop(). Every request that does
    not end in a 2xx response (status, reset, EOF, timeout) is a failure; after a failure the connection
    is replaced, and every connection opened after the first `connections` is counted in `reopened`.

    By default (strict) the client never retries and never reconnects on its own: a request sent on a
    connection the server closed fails. With strict=False it behaves like a forgiving HTTP library: an
    idle connection the server closed is noticed before reuse and replaced without a failure (counted in
    `reconnects`), and a GET already sent when the close arrives, with no byte of answer, is retried once
    on a new connection as RFC 9112 9.3.1 allows (counted in `retried`).
    Latency is measured from the request's scheduled time, so a stall counts for every
    request it delays, not just one."""

    def __init__(self, port: int, host: str, *, rate: float = 200, connections: int = 8,
                 timeout: float = 5.0, strict: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # HTTPS: TLS on each connection (SNI = host), its handshake inside the first request
        self.strict = strict  # True: reuse a connection the server closed anyway, and count that failure
        self.port, self.host, self.rate, self.connections, self.timeout = port, host, rate, connections, timeout
        self.samples: list[Sample] = []
        self.reconnects = 0  # idle connections the server closed, noticed before reuse (not failures)
        self.retried = 0  # GETs retried once after the server closed their kept-alive connection unanswered
        self.opened = 0  # connections opened, the first `connections` included
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> PacedLoad:
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(self.timeout + 5)
        return self.samples

    def mark(self) -> int:
        """Index into samples: samples[mark:] are the ones started after this call."""
        return len(self.samples)

    @property
    def reopened(self) -> int:
        """Connections opened beyond the first ones: after a failure, or (strict=False) a server's close."""
        return max(0, self.opened - self.connections)

    async def _main(self) -> None:
        await asyncio.gather(*(self._conn(i) for i in range(self.connections)))

    async def _conn(self, index: int) -> None:
        interval = self.connections / self.rate
        due = time.monotonic() + interval * index / self.connections
        request = f"GET / HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: slipway-bench\r\n\r\n".encode()
        reader = writer = None
        while not self._stop.is_set():
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            if not self.strict and writer is not None and reader is not None and reader.at_eof():
                # the server closed this idle keep-alive connection (allowed by HTTP/1.1): like any real
                # client (httpcore, urllib3, browsers), notice it before reuse and open a new one
                writer.close()
                writer = None
                self.reconnects += 1
            sent = time.time()
            attempts = 1 if self.strict else 2
            for attempt in range(attempts):
                reused = writer is not None
                try:
                    if writer is None:
                        self.opened += 1
                        reader, writer = await asyncio.wait_for(
                            asyncio.open_connection("127.0.0.1", self.port, ssl=self.tls,
                                                    server_hostname=self.host if self.tls else None), self.timeout)
                    assert reader is not None
                    writer.write(request)
                    status, body = await asyncio.wait_for(_read_response(reader), self.timeout)
                    ok = 200 <= status < 300
                    detail = _version(body) if ok else f"HTTP {status}"
                    break
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    ok, detail = False, type(exc).__name__
                    closed_before_answer = isinstance(exc, ConnectionResetError | BrokenPipeError) or (
                        isinstance(exc, asyncio.IncompleteReadError) and not exc.partial)
                    if writer is not None:
                        writer.close()
                        writer = None
                    # RFC 9112 9.3.1: a GET sent on a kept-alive connection that the server closed
                    # before any byte of an answer may be retried on a new one (browsers, curl and most
                    # HTTP libraries do); counted apart in `retried`, never hidden
                    if attempt + 1 < attempts and reused and closed_before_answer:
                        self.retried += 1
                        continue
                    break
            self.samples.append(Sample(due, sent, time.monotonic() - due, ok, detail))
            if not ok and writer is not None:
                writer.close()
                writer = None
            due += interval
        if writer is not None:
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            raise ValueError("chunked responses are not expected here")
    body = await reader.readexactly(length) if length else b""
    return status, body


def _version(body: bytes) -> str:
    try:
        return str(json.loads(body).get("version"))
    except ValueError:
        return "?"


# ---- load: open loop at a fixed rate (what a service level "p99 at N req/s" means) -----------------------

@dataclass
class OpenLoopResult:
    rate: float                 # offered: requests scheduled per second
    seconds: float              # the schedule's length
    latencies: list[float]      # per request, seconds from its scheduled time to its complete answer
    send_lags: list[float]      # per request, seconds from its scheduled time to the write (the client's own lag)
    statuses: dict[str, int]    # "202", "200", "ReadTimeout" … → count
    elapsed: float              # wall time from the first due time to the last answer
    cpu_seconds: float          # CPU the generator itself used (user + system)

    @property
    def sent(self) -> int:
        return len(self.latencies)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else float("nan")

    def ok(self, codes: tuple[int, ...]) -> int:
        return sum(n for s, n in self.statuses.items() if s.isdigit() and int(s) in codes)

    def ms(self, p: float) -> float:
        return percentile(self.latencies, p) * 1000.0


def open_loop(port: int, requests: list[bytes], *, rate: float, seconds: float, connections: int = 64,
              timeout: float = 5.0) -> OpenLoopResult:
    """Send `rate` requests/s for `seconds` on a fixed schedule (request i is due at t0 + i/rate), whatever
    the answers take: open loop. Each due request goes to the next free one of `connections` keep-alive
    connections; if none is free it waits in the client — and its latency is still counted from its due
    time, so a server stall counts for every request it delays (no coordinated omission). `requests` are
    complete raw HTTP/1.1 requests, used in order (cycled if fewer than needed). `send_lags` tells whether
    the generator kept its schedule: against a bare endpoint they must stay near zero."""
    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    cpu = time.process_time()
    result = runner(_open_loop(port, requests, rate, seconds, connections, timeout))
    result.cpu_seconds = time.process_time() - cpu
    return result  # type: ignore[no-any-return]


async def _open_loop(port: int, requests: list[bytes], rate: float, seconds: float, connections: int,
                     timeout: float) -> OpenLoopResult:
    clock = time.monotonic  # (uvloop's loop.time() is cached per loop iteration, in whole milliseconds)
    total = int(rate * seconds)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    latencies, lags = [0.0] * total, [0.0] * total
    statuses: dict[str, int] = {}
    t0 = clock() + 0.2  # connections open first

    async def schedule() -> None:
        for i in range(total):
            due = t0 + i / rate
            if due > clock():
                await asyncio.sleep(due - clock())
            queue.put_nowait((i, due))
        for _ in range(connections):
            queue.put_nowait(None)

    async def connection() -> None:
        reader: asyncio.StreamReader | None
        writer: asyncio.StreamWriter | None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            i, due = item
            lags[i] = clock() - due
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                writer.write(requests[i % len(requests)])
                status, _ = await asyncio.wait_for(_read_response(reader), timeout)
                outcome = str(status)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                outcome = type(exc).__name__
                if writer is not None:
                    writer.close()
                reader = writer = None
            latencies[i] = clock() - due
            statuses[outcome] = statuses.get(outcome, 0) + 1
        if writer is not None:
            writer.close()

    await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
    return OpenLoopResult(rate=rate, seconds=seconds, latencies=latencies, send_lags=lags, statuses=statuses,
                          elapsed=clock() - t0, cpu_seconds=0.0)


# ---- output ----------------------------------------------------------------------------------------------

def row(figure: str, value: float, unit: str, *, target: str = "", met: bool | None = None,
        baseline: float | None = None, ratio: float | None = None) -> dict[str, Any]:
    """One line of the summary table run_all.py prints."""
    return {"figure": figure, "value": round(value, 4), "unit": unit, "baseline": None if baseline is None
            else round(baseline, 4), "ratio": None if ratio is None else round(ratio, 3), "target": target,
            "met": met}


def report(bench: str, rows: list[dict[str, Any]], details: dict[str, Any]) -> None:
    """The human table, then one JSON line (the last line of stdout) with every figure."""
    print()
    print(f"{'figure':44} {'value':>12} {'baseline':>10} {'ratio':>7}  target")
    for r in rows:
        value = f"{r['value']:g} {r['unit']}"
        base = "" if r["baseline"] is None else f"{r['baseline']:g}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:g}"
        met = "" if r["met"] is None else ("  ok" if r["met"] else "  MISSED")
        print(f"{r['figure']:44} {value:>12} {base:>10} {ratio:>7}  {r['target']}{met}")
    print(json.dumps({"bench": bench, "rows": rows, "details": details}, default=str), flush=True)
