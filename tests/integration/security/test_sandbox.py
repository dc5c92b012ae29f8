"""The sandbox, for real (bubblewrap, per-app users as root): what code from a repository can reach.

Every way the local runtime runs an app's code — a build step, the release command, an instance, a
one-off (`slipway run`) and a terminal (`slipway run -t`) — runs the same probe. It must not see
$SLIPWAY_HOME's secrets (secret.key, slipway.db), another app's release, a socket of the control plane,
the host's /tmp or another process; it gets a private /tmp, a read-only release and a writable $HOME,
and (as root) runs as the app's own system user.
"""

from __future__ import annotations

import os
import secrets as secrets_mod
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from slipway.runtimes.base import InstanceSpec
from slipway.runtimes.local.runtime import LocalRuntime
from slipway.sandbox import Isolation, Sandbox, detect
from tests.conftest import APP_PY
from tests.integration.conftest import Api

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None or detect("namespaces").mode != "namespaces",
                                reason="bubblewrap cannot create namespaces on this host")
ROOT = os.geteuid() == 0
SECRET = "canary-secret-7f3a"
ENV_CANARY = "env-canary-91c2"  # in the environment of the control plane (this test process) only


@dataclass
class Host:
    home: Path
    secrets: list[Path]  # files of the control plane, with SECRET inside
    other_release: Path  # another app's release
    socket_path: Path  # a unix socket of the control plane in $SLIPWAY_HOME
    host_tmp: Path  # a file in the host's /tmp


def probe_script(host: Host) -> str:
    """Shell: prints one line per thing it reached; PROBE-DONE at the end."""
    lines = ["cd \"$(dirname \"$0\")\" 2>/dev/null || true"]
    for path in (*host.secrets, host.other_release / "private.txt", host.socket_path, host.host_tmp):
        lines.append(f'[ -e "{path}" ] && echo "VISIBLE {path}"')
        lines.append(f'cat "{path}" 2>/dev/null | grep -q {SECRET} && echo "READ {path}"')
    lines += [
        f'ls -la "{host.home}" 2>/dev/null | grep -q secret && echo "LISTED-HOME"',
        'for p in /proc/[0-9]*; do cat "$p/comm" 2>/dev/null; done | sort -u | tr "\\n" " " | sed "s/^/COMMS /"; echo',
        f'cat /proc/[0-9]*/environ 2>/dev/null | grep -q {ENV_CANARY} && echo "ENVIRON-LEAK"',
        'echo probe > /tmp/probe-$$ && echo "TMP-WRITABLE"',
        'ls /tmp | grep -v "^probe-" | grep -v "^$" | sed "s/^/TMP-HAS /"',
        'echo x > "$HOME/probe" && echo "HOME-WRITABLE"',
        'echo x > ./probe-release 2>/dev/null && echo "RELEASE-WRITABLE"',
        'cat /etc/shadow >/dev/null 2>&1 && echo "READ /etc/shadow"',
        '[ -e /run/podman ] || [ -e /tmp/slipway-podman ] && echo "VISIBLE podman"',
        'ls -A /run /var/run 2>/dev/null | grep -v "^/" | grep -v "^$" | sed "s/^/RUN-HAS /"',
        'echo "UID $(id -u)"',
        "echo PROBE-DONE",
    ]
    return "\n".join(lines) + "\n"


def assert_contained(output: str, host: Host, *, user: int | None, process: str) -> None:
    assert "PROBE-DONE" in output, f"{process}: the probe did not run:\n{output}"
    for path in (*host.secrets, host.other_release / "private.txt", host.socket_path, host.host_tmp):
        assert f"VISIBLE {path}" not in output, f"{process} sees {path}:\n{output}"
        assert f"READ {path}" not in output, f"{process} read {path}:\n{output}"
    assert "LISTED-HOME" not in output and "ENVIRON-LEAK" not in output, output
    comms = next(line for line in output.splitlines() if "COMMS" in line).split("COMMS", 1)[1].split()
    # its own PID namespace: bubblewrap's init and the probe's own commands, nothing of the host
    assert len(comms) <= 10 and not any(c.startswith(("python", "pytest", "caddy", "sshd", "postgres"))
                                        for c in comms), f"{process} sees other processes: {comms}"
    # the host's /tmp is not there: only the directories that lead to the app's own (bound) dirs, when
    # $SLIPWAY_HOME is under /tmp as in tests
    leading = host.home.parts[2] if host.home.parts[1] == "tmp" else None
    seen = [line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("TMP-HAS ")]
    assert "TMP-WRITABLE" in output and seen in ([], [leading]), f"{process}: /tmp is not private:\n{output}"
    assert "VISIBLE podman" not in output, output
    assert "RUN-HAS" not in output, f"{process} sees daemons' sockets in /run:\n{output}"
    if user is not None:
        assert f"UID {user}\n" in output + "\n" or f"UID {user}\r" in output, f"{process} runs as:\n{output}"
        assert "READ /etc/shadow" not in output


@pytest.fixture(params=["users", "namespaces"])
def boxed(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, Host, LocalRuntime]]:
    mode = request.param
    monkeypatch.setenv("SLIPWAY_PROBE_CANARY", ENV_CANARY)
    if mode == "users" and not ROOT:
        pytest.skip("per-app users need root")
    # outside /tmp (as in production): the cover over $SLIPWAY_HOME itself must hide it, not the one over /tmp
    base = Path("/var/lib") if ROOT else tmp_path
    home = base / f"slipway-sandbox-test-{secrets_mod.token_hex(4)}"
    home.mkdir(mode=0o700)
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    secrets = [home / "secret.key", home / "slipway.db", home / "instances" / "x" / "spec.json"]
    for path in secrets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SECRET)
    other = home / "artifacts" / "victim" / "build-1"
    other.mkdir(parents=True)
    (other / "private.txt").write_text(SECRET)
    os.chmod(other / "private.txt", 0o644)  # readable to anyone who reaches it: only the mounts protect it
    host_tmp = Path("/tmp") / f"slipway-probe-{os.getpid()}-{mode}"
    host_tmp.write_text(SECRET)
    sock = socket.socket(socket.AF_UNIX)
    sock_path = home / "admin.sock"
    sock.bind(str(sock_path))
    sock.listen()
    box = Sandbox(Isolation(mode, "test"), home)
    host = Host(home, secrets, other, sock_path, host_tmp)
    release = home / "artifacts" / "attacker" / "build-1"
    release.mkdir(parents=True)
    (release / "probe.sh").write_text(probe_script(host))
    box.give("attacker", release, recursive=True)
    box.give("victim", other, recursive=True)
    runtime = LocalRuntime(home / "instances", sandbox=box)
    try:
        yield box, host, runtime
    finally:
        for instance_id in runtime.instances():
            runtime.stop(instance_id, 0.5)
        sock.close()
        host_tmp.unlink(missing_ok=True)
        box.remove_all_users()


def spec(box: Sandbox, host: Host, instance_id: str, command: str = "") -> InstanceSpec:
    release = host.home / "artifacts" / "attacker" / "build-1"
    return InstanceSpec(instance_id, "attacker", 1, "web", command, str(release),
                        {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(box.app_home("attacker")),
                         }, None, 2.0)


def expected_uid(box: Sandbox) -> int | None:
    user = box.user("attacker")
    return user.uid if user is not None else None


def test_an_instance_reaches_nothing_of_the_platform(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    # a neighbour runs too: the probe must not see it
    runtime.start(InstanceSpec("victim-web-1", "victim", 1, "web", "sleep 60", str(host.other_release),
                               {"PATH": "/usr/bin:/bin", "HOME": str(box.app_home("victim"))}, None, 1.0))
    runtime.start(spec(box, host, "attacker-web-1", "sh probe.sh; exec sleep 60"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any("PROBE-DONE" in line for line in runtime.logs("attacker-web-1")):
        time.sleep(0.1)
    output = "\n".join(line.split(" ", 2)[2] for line in runtime.logs("attacker-web-1", 200))
    assert_contained(output, host, user=expected_uid(box), process="instance")
    if box.isolation.mode == "users":
        victim_uid = box.user("victim").uid  # type: ignore[union-attr]
        assert victim_uid != expected_uid(box)


def test_a_one_off_reaches_nothing_of_the_platform(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    lines: list[str] = []
    code = runtime.run_once(spec(box, host, "attacker-run-1"), ["sh", "probe.sh"], on_line=lines.append, timeout=30)
    assert code == 0
    assert_contained("\n".join(lines), host, user=expected_uid(box), process="run_once")


def test_a_terminal_reaches_nothing_of_the_platform(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    terminal = runtime.open_tty(spec(box, host, "attacker-tty-1"), ["sh", "probe.sh"])
    output = b""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and b"PROBE-DONE" not in output:
            chunk = terminal.read()
            if chunk == b"":
                break
            output += chunk or b""
            if chunk is None:
                time.sleep(0.05)
        assert terminal.wait(10) == 0
    finally:
        terminal.close()
    assert_contained(output.decode(errors="replace").replace("\r", ""), host, user=expected_uid(box),
                     process="open_tty")


def test_files_the_app_owns_and_files_it_does_not(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    lines: list[str] = []
    runtime.run_once(spec(box, host, "attacker-run-2"), ["sh", "probe.sh"], on_line=lines.append, timeout=30)
    output = "\n".join(lines)
    assert "HOME-WRITABLE" in output  # its own home: writable
    assert "RELEASE-WRITABLE" not in output  # its release: read-only, even though its user owns it


def test_the_environment_reaches_the_instance_but_no_file(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    env_spec = spec(box, host, "attacker-env-1", 'echo "value=$API_TOKEN"; exec sleep 60')
    env_spec.env["API_TOKEN"] = "tok-" + SECRET
    runtime.start(env_spec)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("value=" in line for line in runtime.logs("attacker-env-1")):
        time.sleep(0.1)
    assert any(f"value=tok-{SECRET}" in line for line in runtime.logs("attacker-env-1"))
    instance_dir = host.home / "instances" / "attacker-env-1"
    for path in instance_dir.iterdir():
        if path.name.startswith("out.log"):
            continue  # the app's own output: it printed the value itself
        assert f"tok-{SECRET}" not in path.read_text(errors="replace"), f"{path.name} holds the env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((instance_dir / "out.log").stat().st_mode) == 0o600
    assert stat.S_IMODE(instance_dir.stat().st_mode) == 0o700
    # restarts keep the environment (the supervisor holds it in memory)
    runtime.stop("attacker-env-1", 0.5)


def test_a_deploy_sandboxes_the_build_step_and_the_release_command(api: Api, make_repo, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_PROBE_CANARY", ENV_CANARY)
    platform = api.platform
    home = platform.settings.home
    assert platform.isolation.isolated, platform.isolation.reason
    secrets = [home / "secret.key", home / "slipway.db"]
    for path in secrets:
        if not path.exists():  # the test database may live elsewhere: a canary stands in for it
            path.write_text(SECRET)
    other = home / "artifacts" / "victim" / "build-1"
    other.mkdir(parents=True)
    (other / "private.txt").write_text(SECRET)
    host_tmp = Path("/tmp") / f"slipway-probe-{os.getpid()}-deploy"
    host_tmp.write_text(SECRET)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(home / "admin.sock"))
    host = Host(home, secrets, other, home / "admin.sock", host_tmp)
    try:
        repo = make_repo(files={
            "app.py": APP_PY, "version.txt": "1\n", "requirements.txt": "", "probe.sh": probe_script(host),
            "Procfile": "web: sh -c 'sh probe.sh; exec python app.py'\n",
            "slipway.toml": '[build]\ncommand = "sh probe.sh"\n[release]\ncommand = "sh probe.sh"\n',
        })
        api.call("POST", "/apps", 201, json={"name": "attacker", "git_url": repo.url})
        api.call("PATCH", "/apps/attacker/env", 200, json={"set": {"API_TOKEN": "tok-" + SECRET}, "deploy": False})
        deploy = api.deploy("attacker")
        log = api.log("attacker", deploy["id"])
        assert deploy["status"] == "succeeded", log
        build_part, _, rest = log.partition("Running release command")
        release_part = rest.partition("Starting")[0]
        user = platform.sandbox.user("attacker") if platform.sandbox else None  # type: ignore[union-attr]
        uid = user.uid if user is not None else None
        assert_contained(build_part, host, user=uid, process="build command")
        assert_contained(release_part, host, user=uid, process="release command")
        instance = api.call("GET", "/apps/attacker/instances", 200).json()[0]["id"]
        web = "\n".join(line.split(" ", 2)[2] for line in platform.runtime.logs(instance, 200))
        assert_contained(web, host, user=uid, process="web instance")
        # the control plane's files: private; the instance's spec holds no environment
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        spec_file = home / "instances" / instance / "spec.json"
        assert stat.S_IMODE(spec_file.stat().st_mode) == 0o600
        assert f"tok-{SECRET}" not in spec_file.read_text()
        # its dependency cache is its own (not shared with other apps)
        assert (home / "cache" / "apps" / "attacker" / "python").is_dir()
        api.call("DELETE", "/apps/attacker", 204)
        if user is not None:
            import pwd

            with pytest.raises(KeyError):
                pwd.getpwnam(user.name)  # its system user went with it
        assert not (home / "cache" / "apps" / "attacker").exists()
    finally:
        sock.close()
        host_tmp.unlink(missing_ok=True)


def test_a_sandboxed_instance_does_not_outlive_its_supervisor(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    """Its parent is the detached supervisor (which outlives the control plane); if that dies, nothing of
    the app runs on unsupervised: a sandbox the runtime no longer tracks would hold its port forever."""
    import json
    import signal

    import psutil

    box, host, runtime = boxed
    runtime.start(spec(box, host, "attacker-orphan-1", "sleep 600"))
    files = host.home / "instances" / "attacker-orphan-1"
    state = json.loads((files / "state.json").read_text())

    def tree() -> list[psutil.Process]:
        top = psutil.Process(state["pid"])
        return [top, *top.children(recursive=True)]

    # the first state is written once bwrap is spawned; the app itself is exec'd a moment later inside it
    deadline = time.monotonic() + 30
    while not any(p.name() == "sleep" for p in tree()) and time.monotonic() < deadline:
        time.sleep(0.05)
    processes = tree()
    assert any(p.name() == "sleep" for p in processes), [p.cmdline() for p in processes]
    os.kill(state["supervisor_pid"], signal.SIGKILL)
    gone, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"still running after its supervisor died: {[p.cmdline() for p in alive]}"
    assert runtime.state("attacker-orphan-1").status == "stopped"


def test_deleting_an_apps_user_ends_what_runs_as_it(boxed: tuple[Sandbox, Host, LocalRuntime]) -> None:
    box, host, runtime = boxed
    if box.isolation.mode != "users":
        pytest.skip("per-app users only")
    import psutil

    lines: list[str] = []
    # a leftover that left the process group and the sandbox's reach: deleting the user still ends it
    runtime.run_once(spec(box, host, "attacker-run-3"), ["sh", "-c", "echo $(id -u)"], on_line=lines.append,
                     timeout=10)
    uid = int(lines[0])
    import subprocess

    stray = subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "600"])
    try:
        box.remove_user("attacker")
        assert stray.wait(10) == -9
        assert not [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == uid]
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_package_build_script_runs_sandboxed_with_the_app_env_redacted(  # type: ignore[no-untyped-def]
        api: Api, make_repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """package.json's build script is the app's own code, run by the build with the app's env vars: in the
    app's sandbox, and none of those values reaches the deploy log even when the script prints them."""
    import json

    monkeypatch.setenv("SLIPWAY_PROBE_CANARY", ENV_CANARY)
    platform = api.platform
    home = platform.settings.home
    assert platform.isolation.isolated, platform.isolation.reason
    secrets = [home / "secret.key"]
    if not secrets[0].exists():
        secrets[0].write_text(SECRET)
    other = home / "artifacts" / "victim" / "build-1"
    other.mkdir(parents=True)
    (other / "private.txt").write_text(SECRET)
    host_tmp = Path("/tmp") / f"slipway-probe-{os.getpid()}-npm-build"
    host_tmp.write_text(SECRET)
    host = Host(home, secrets, other, home / "no-socket", host_tmp)
    package = {"name": "probe", "version": "1.0.0",
               "scripts": {"build": "sh probe.sh && echo \"token is $API_TOKEN\"",
                           "start": "node -e \"require('http').createServer((q, s) => s.end('ok'))"
                                    ".listen(process.env.PORT)\""}}
    lock = {"name": "probe", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": {"": {"name": "probe", "version": "1.0.0"}}}
    try:
        repo = make_repo(files={"package.json": json.dumps(package), "package-lock.json": json.dumps(lock),
                                "probe.sh": probe_script(host)})
        api.call("POST", "/apps", 201, json={"name": "attacker", "git_url": repo.url})
        api.call("PATCH", "/apps/attacker/env", 200, json={"set": {"API_TOKEN": "tok-" + SECRET}, "deploy": False})
        deploy = api.deploy("attacker")
        log = api.log("attacker", deploy["id"])
        assert deploy["status"] == "succeeded", log
        build_part = log.partition("running the build script")[2].partition("build complete")[0]
        user = platform.sandbox.user("attacker") if platform.sandbox else None  # type: ignore[union-attr]
        assert_contained(build_part, host, user=user.uid if user is not None else None, process="build script")
        assert "token is " in build_part and f"tok-{SECRET}" not in log  # it had the value; the log masks it
    finally:
        host_tmp.unlink(missing_ok=True)
