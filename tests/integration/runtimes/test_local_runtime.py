"""The local runtime with real processes: supervisors, apps, signals, logs, pipes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from slipway.errors import Conflict, Unavailable
from slipway.runtimes.base import InstanceSpec, InstanceState
from slipway.runtimes.local import LocalRuntime, RestartPolicy

pytestmark = pytest.mark.integration

FAST = RestartPolicy(backoff_initial=0.05, backoff_max=0.2, reset_after=30, crashloop_crashes=5,
                     crashloop_window=120)
PY = sys.executable
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr) (.*)$")


def wait_until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec(instance_id: str, command: str, cwd: Path, *, env: dict[str, str] | None = None,
         port: int | None = None, stop_grace: float = 5.0) -> InstanceSpec:
    return InstanceSpec(instance_id, "demo", 1, "web", command, str(cwd),
                        env if env is not None else {"PATH": "/usr/bin:/bin"}, port, stop_grace)


def http_server(instance_id: str, tmp_path: Path) -> tuple[InstanceSpec, str]:
    port = free_port()
    command = f"{PY} -u -m http.server {port} --bind 127.0.0.1"
    return spec(instance_id, command, tmp_path, port=port), f"http://127.0.0.1:{port}/"


def serves(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return f"{PY} -u {path}"


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Callable[..., LocalRuntime]]:
    """LocalRuntimes over tmp roots; at teardown every instance of each is stopped, pass or fail."""
    made: list[LocalRuntime] = []

    def make(root: Path | None = None, **kwargs: object) -> LocalRuntime:
        kwargs.setdefault("policy", FAST)
        runtime = LocalRuntime(root or tmp_path / "instances", **kwargs)  # type: ignore[arg-type]
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        for instance_id in runtime.instances():
            runtime.stop(instance_id, grace=0)


@pytest.fixture
def runtime(make_runtime: Callable[..., LocalRuntime]) -> LocalRuntime:
    return make_runtime()


def supervisor_of(runtime: LocalRuntime, instance_id: str) -> psutil.Process:
    pid = int((runtime.root / instance_id / "supervisor.pid").read_text())
    return psutil.Process(pid)


def test_serves_and_is_restarted_after_sigkill(runtime: LocalRuntime, tmp_path: Path) -> None:
    web, url = http_server("web-1", tmp_path)
    runtime.start(web)
    assert runtime.instances() == ["web-1"]
    wait_until(lambda: serves(url), what="the app to serve")
    first = runtime.state("web-1")
    assert (first.status, first.restarts) == ("running", 0)
    assert first.pid and first.started_at

    supervisor = supervisor_of(runtime, "web-1")
    assert supervisor.ppid() != os.getpid()  # detached: not a child this process has to reap
    assert supervisor.pid not in {child.pid for child in psutil.Process().children(recursive=True)}
    assert os.getsid(supervisor.pid) != os.getsid(0)

    os.kill(first.pid, signal.SIGKILL)
    wait_until(lambda: runtime.state("web-1").restarts == 1 and runtime.state("web-1").status == "running",
               what="the restart")
    again = runtime.state("web-1")
    assert again.pid != first.pid
    assert (again.last_exit_code, again.last_exit_reason) == (-9, "killed by signal SIGKILL (9)")
    wait_until(lambda: serves(url), what="the restarted app to serve")
    # the supervisor reaped the dead app: its only child is the new one, and no zombie is left
    children = supervisor.children()
    assert [c.pid for c in children] == [again.pid]
    assert all(c.status() != psutil.STATUS_ZOMBIE for c in children)

    runtime.stop("web-1")
    assert runtime.state("web-1").status == "stopped"
    assert not psutil.pid_exists(again.pid) or psutil.Process(again.pid).status() == psutil.STATUS_ZOMBIE
    assert not serves(url)


def test_a_command_that_exits_at_once_reaches_crashloop(runtime: LocalRuntime, tmp_path: Path) -> None:
    runtime.start(spec("bad-1", f'{PY} -c "import sys; print(\'dying\'); sys.exit(3)"', tmp_path))
    wait_until(lambda: runtime.state("bad-1").status == "crashloop", what="crashloop")
    state = runtime.state("bad-1")
    assert state.restarts >= 4
    assert (state.last_exit_code, state.last_exit_reason) == (3, "exited with code 3")
    assert not state.alive
    # still retrying, visibly
    restarts = state.restarts
    wait_until(lambda: runtime.state("bad-1").restarts > restarts, what="another retry")
    assert any(line.endswith("stdout dying") for line in runtime.logs("bad-1"))
    runtime.stop("bad-1")
    assert runtime.state("bad-1").status == "stopped"


def test_a_missing_cwd_is_a_crash_with_a_reason(runtime: LocalRuntime, tmp_path: Path) -> None:
    runtime.start(spec("nocwd-1", "true", tmp_path / "does-not-exist"))
    wait_until(lambda: (runtime.state("nocwd-1").last_exit_reason or "").startswith("could not start"),
               what="the failure to show")
    assert runtime.state("nocwd-1").status in ("backoff", "crashloop", "running")


def test_stop_kills_an_app_that_ignores_sigterm_after_the_grace(runtime: LocalRuntime, tmp_path: Path) -> None:
    command = script(tmp_path, "stubborn.py", """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(600)
    """)
    runtime.start(spec("stubborn-1", command, tmp_path, stop_grace=60))
    wait_until(lambda: any(line.endswith("stdout ready") for line in runtime.logs("stubborn-1")),
               what="the app to ignore SIGTERM")
    pid = runtime.state("stubborn-1").pid
    assert pid
    runtime.stop("stubborn-1", grace=0.5)  # overrides the spec's 60 s
    state = runtime.state("stubborn-1")
    assert (state.status, state.pid, state.last_exit_reason) == ("stopped", None, "killed by signal SIGKILL (9)")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    runtime.stop("stubborn-1")  # idempotent
    runtime.stop("never-existed")


def test_a_graceful_app_stops_on_sigterm(runtime: LocalRuntime, tmp_path: Path) -> None:
    command = script(tmp_path, "graceful.py", """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: (print("bye", flush=True), sys.exit(0)))
        print("ready", flush=True)
        time.sleep(600)
    """)
    runtime.start(spec("graceful-1", command, tmp_path))
    wait_until(lambda: any(line.endswith("ready") for line in runtime.logs("graceful-1")), what="ready")
    runtime.stop("graceful-1")
    state = runtime.state("graceful-1")
    assert (state.status, state.last_exit_code) == ("stopped", 0)
    assert any(line.endswith("stdout bye") for line in runtime.logs("graceful-1"))


def test_logs_are_timestamped_and_rotated(make_runtime: Callable[..., LocalRuntime], tmp_path: Path) -> None:
    runtime = make_runtime(log_max_bytes=2000, log_backups=2)
    command = script(tmp_path, "chatty.py", """
        import sys, time
        for n in range(60):  # ~4.8 kB of log: three files of 2000 bytes, nothing rotated away yet
            print(f"out {n:03d}", flush=True)
            print(f"err {n:03d}", file=sys.stderr, flush=True)
        time.sleep(0.5)  # two pipes have no common order: let both drain before the last line
        print("done", flush=True)
        time.sleep(600)
    """)
    runtime.start(spec("chatty-1", command, tmp_path))
    wait_until(lambda: any(line.endswith("stdout done") for line in runtime.logs("chatty-1", 5)), what="done")
    directory = runtime.root / "chatty-1"
    logs = sorted(p.name for p in directory.glob("out.log*"))
    assert logs == ["out.log", "out.log.1", "out.log.2"]
    assert all((directory / name).stat().st_size <= 2000 for name in logs)
    assert len(runtime.logs("chatty-1", 20)) == 20
    lines = runtime.logs("chatty-1", 10_000)  # reaches into the rotated files
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert {m.group(1) for m in parsed if m} == {"stdout", "stderr"}
    texts = [m.group(2) for m in parsed if m]
    assert texts[-1] == "done"
    assert sorted(texts) == sorted([f"out {n:03d}" for n in range(60)] + [f"err {n:03d}" for n in range(60)]
                                   + ["done"])
    # each stream keeps its own order
    assert [t for t in texts if t.startswith("err")] == [f"err {n:03d}" for n in range(60)]


def test_follow_yields_lines_as_they_are_written(make_runtime: Callable[..., LocalRuntime],
                                                 tmp_path: Path) -> None:
    runtime = make_runtime(log_max_bytes=600, log_backups=1)
    command = script(tmp_path, "ticker.py", """
        import time
        for n in range(10_000):
            print(f"tick {n:05d}", flush=True)
            time.sleep(0.02)
    """)
    runtime.start(spec("ticker-1", command, tmp_path))
    seen = [LINE.match(line) for line in runtime.follow("ticker-1", stop_after=2.0)]
    ticks = [int(m.group(2).split()[1]) for m in seen if m and m.group(2).startswith("tick")]
    assert len(ticks) > 10
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # none lost, even across rotations
    assert (runtime.root / "ticker-1" / "out.log.1").exists()


def test_env_cwd_and_file_descriptors_are_exactly_as_specified(runtime: LocalRuntime, tmp_path: Path) -> None:
    workdir = tmp_path / "app dir"
    workdir.mkdir()
    report = tmp_path / "report.json"
    command = script(tmp_path, "introspect.py", f"""
        import json, os, time
        leaked = []
        for fd in range(3, 1024):
            try:
                os.fstat(fd)
                leaked.append(fd)
            except OSError:
                pass
        # /proc/self/environ is what exec() received: Python may add LC_CTYPE to os.environ itself (PEP 538)
        raw = open("/proc/self/environ", "rb").read().split(b"\\0")
        env = dict(item.decode().split("=", 1) for item in raw if item)
        info = {{"env": env, "cwd": os.getcwd(), "leaked": leaked,
                 "pgid": os.getpgid(0), "pid": os.getpid()}}
        with open({str(report)!r} + ".tmp", "w") as fh:
            json.dump(info, fh)
        os.replace({str(report)!r} + ".tmp", {str(report)!r})
        time.sleep(600)
    """)
    env = {"PATH": "/usr/bin:/bin", "PORT": "4321", "GREETING": "hello 'quoted' $world", "EMPTY": ""}
    runtime.start(spec("env-1", command, workdir, env=env))
    wait_until(report.exists, what="the report")
    info = json.loads(report.read_text())
    got = dict(info["env"])
    # /bin/sh (dash) exports PWD before exec; it can only ever equal the cwd we asked for
    assert got.pop("PWD", str(workdir)) == str(workdir)
    assert got == env
    assert info["cwd"] == str(workdir)
    assert info["leaked"] == []
    assert info["pgid"] == info["pid"] == runtime.state("env-1").pid  # its own process group


def test_start_twice_conflicts_and_remove_needs_a_stopped_instance(runtime: LocalRuntime,
                                                                   tmp_path: Path) -> None:
    sleeper = spec("sleep-1", "sleep 600", tmp_path)
    runtime.start(sleeper)
    with pytest.raises(Conflict):
        runtime.start(sleeper)
    with pytest.raises(Conflict):
        runtime.remove("sleep-1")
    runtime.stop("sleep-1", grace=1)
    runtime.start(sleeper)  # a stopped instance may start again
    assert runtime.state("sleep-1").status == "running"
    runtime.stop("sleep-1", grace=1)
    runtime.remove("sleep-1")
    assert runtime.instances() == []
    assert runtime.state("sleep-1") == InstanceState("sleep-1", "missing")


def test_keeps_serving_after_the_starting_process_is_killed(make_runtime: Callable[..., LocalRuntime],
                                                            tmp_path: Path) -> None:
    root = tmp_path / "instances"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    starter = subprocess.Popen([PY, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from slipway.runtimes.base import InstanceSpec
        from slipway.runtimes.local import LocalRuntime
        LocalRuntime(Path({str(root)!r})).start(InstanceSpec(
            "web-1", "demo", 1, "web", {PY!r} + " -m http.server {port} --bind 127.0.0.1", {str(tmp_path)!r},
            {{"PATH": "/usr/bin:/bin"}}, {port}))
        print("started", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    runtime = make_runtime(root)  # registered before anything can fail, so teardown stops the instance
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline().strip() == "started"
        supervisor = supervisor_of(runtime, "web-1")
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if starter.stdout:
            starter.stdout.close()
    assert supervisor.is_running() and supervisor.status() != psutil.STATUS_ZOMBIE
    wait_until(lambda: serves(url), what="the app to serve without its starter")
    fresh = LocalRuntime(root)
    assert fresh.instances() == ["web-1"]
    assert fresh.state("web-1").status == "running"
    fresh.stop("web-1")
    assert fresh.state("web-1").status == "stopped"
    assert not serves(url)


def test_a_killed_supervisor_is_reported_and_its_orphan_is_stopped(runtime: LocalRuntime,
                                                                   tmp_path: Path) -> None:
    runtime.start(spec("orphan-1", "sleep 600", tmp_path))
    app_pid = runtime.state("orphan-1").pid
    assert app_pid
    supervisor = supervisor_of(runtime, "orphan-1")
    supervisor.kill()
    wait_until(lambda: not supervisor.is_running() or supervisor.status() == psutil.STATUS_ZOMBIE,
               what="the supervisor to die")
    state = runtime.state("orphan-1")
    assert state.status == "stopped"
    assert state.last_exit_reason == f"supervisor died; app process {app_pid} still running"
    assert state.pid == app_pid
    with pytest.raises(Conflict):
        runtime.start(spec("orphan-1", "sleep 600", tmp_path))
    runtime.stop("orphan-1", grace=1)
    assert not psutil.pid_exists(app_pid) or psutil.Process(app_pid).status() == psutil.STATUS_ZOMBIE
    state = runtime.state("orphan-1")
    assert (state.status, state.pid, state.last_exit_reason) == ("stopped", None, "supervisor died")


def test_a_crashloop_ends_once_the_app_stays_up(make_runtime: Callable[..., LocalRuntime],
                                                tmp_path: Path) -> None:
    runtime = make_runtime(policy=RestartPolicy(backoff_initial=0.05, backoff_max=0.1, reset_after=0.5,
                                                crashloop_crashes=3, crashloop_window=60))
    command = script(tmp_path, "flaky.py", f"""
        import pathlib, sys, time
        attempts = pathlib.Path({str(tmp_path / "attempts")!r})
        attempts.write_text(attempts.read_text() + "x" if attempts.exists() else "x")
        if len(attempts.read_text()) <= 4:
            sys.exit(1)
        time.sleep(600)
    """)
    runtime.start(spec("flaky-1", command, tmp_path))
    wait_until(lambda: runtime.state("flaky-1").status == "crashloop", what="crashloop")
    wait_until(lambda: runtime.state("flaky-1").status == "running", what="recovery")
    state = runtime.state("flaky-1")
    assert (state.restarts, state.last_exit_code) == (4, 1)
    assert state.alive


def test_start_fails_clearly_when_no_supervisor_can_run(make_runtime: Callable[..., LocalRuntime],
                                                        tmp_path: Path) -> None:
    for python in ("/bin/false", str(tmp_path / "no-such-python")):
        runtime = make_runtime(python=python)
        with pytest.raises(Unavailable):
            runtime.start(spec("nosup-1", "sleep 600", tmp_path))
        assert runtime.state("nosup-1").status == "stopped"
