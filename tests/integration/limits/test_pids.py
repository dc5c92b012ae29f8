"""The process limit, for real: a bounded fork storm stops at it on both runtimes; docker's hardening.

The storm never is a fork bomb: it starts at most STORM `sleep` children, counts how many the kernel
allowed, and kills them all (the machine is shared). Without a limit all STORM start; under the
default of 512 (set nowhere, no memory/CPU limit either) it stops just below 512.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from slipway.runtimes import cgroups
from slipway.runtimes.base import DEFAULT_PIDS, InstanceSpec, Limits
from slipway.runtimes.docker import CAPABILITIES, DockerRuntime
from slipway.runtimes.local import LocalRuntime
from tests.integration.docker.engine import BASE_IMAGE

pytestmark = pytest.mark.integration

STORM = 2000
# posix_spawn'd `sleep`s (cheap: no copy of Python per child); EAGAIN when the pids limit is reached
STORM_PY = f'''\
import os, signal, sys, time
children, why = [], "none"
for _ in range({STORM}):
    try:
        children.append(os.posix_spawn("/bin/sleep", ["sleep", "120"], {{}}))
    except OSError as exc:
        why = exc.strerror
        break
print(f"forked {{len(children)}} of {STORM} ({{why}})", flush=True)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print("storm over", flush=True)
if "--stay" in sys.argv:
    time.sleep(600)
'''


def forked(lines: list[str]) -> int:
    for line in lines:
        if "forked " in line:
            return int(line.split("forked ", 1)[1].split()[0])
    raise AssertionError("the storm printed no count:\n" + "\n".join(lines))


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def local_storm(tmp_path: Path, limits: Limits | None) -> tuple[int, str | None]:
    if not cgroups.detect_pids().ok:
        pytest.skip(f"no usable pids controller here: {cgroups.detect_pids().detail}")
    script = tmp_path / "storm.py"
    script.write_text(STORM_PY)
    runtime = LocalRuntime(tmp_path / "instances")
    instance_id = f"storm-{tmp_path.name[-12:].lower().replace('_', '-')}"
    spec = InstanceSpec(instance_id, "storm", 1, "web", f"{sys.executable} {script} --stay", str(tmp_path),
                        {"PATH": "/usr/bin:/bin"}, None, 2.0, limits=limits)
    runtime.start(spec)
    try:
        wait_for(lambda: any("storm over" in line for line in runtime.logs(instance_id)), 120, "the storm")
        record = runtime.state(instance_id)
        return forked(runtime.logs(instance_id)), getattr(record, "limits", None)
    finally:
        runtime.stop(instance_id, 1.0)
        runtime.remove(instance_id)


def test_default_process_limit_holds_without_any_other_limit_local(tmp_path: Path) -> None:
    count, _ = local_storm(tmp_path, None)  # no limits at all: not even a memory/CPU limit
    assert DEFAULT_PIDS - 16 <= count < DEFAULT_PIDS, f"{count} children under the default of {DEFAULT_PIDS}"


def test_set_process_limit_local(tmp_path: Path) -> None:
    count, _ = local_storm(tmp_path, Limits(pids=64))
    assert 48 <= count < 64, count
    # the cgroup is removed with the instance
    assert not any(p.name.startswith("storm-") for p in (cgroups.ROOT / "pids" / cgroups.PARENT).glob("storm-*"))


def test_cgroup_of_an_instance_has_pids_max(tmp_path: Path) -> None:
    if not cgroups.detect_pids().ok:
        pytest.skip(cgroups.detect_pids().detail)
    group = cgroups.create(f"pidsprobe-{tmp_path.name[-8:].lower().replace('_', '-')}", Limits())
    try:
        assert group.pids_max() == DEFAULT_PIDS and not group.unenforced
    finally:
        group.remove()


# ---- docker ----------------------------------------------------------------------------------------

def one_off(runtime: DockerRuntime, name: str, argv: list[str], limits: Limits | None = None) -> list[str]:
    spec = InstanceSpec(name, name, 1, "run", "", "/", {}, None, 1.0, limits=limits, image=BASE_IMAGE)
    lines: list[str] = []
    code = runtime.run_once(spec, argv, on_line=lines.append, timeout=180)
    assert code == 0, lines
    return lines


def test_default_process_limit_docker(engine_host: str, app_name: str) -> None:
    runtime = DockerRuntime(engine_host)
    count = forked(one_off(runtime, f"{app_name}-storm", ["python3", "-c", STORM_PY]))
    assert DEFAULT_PIDS - 16 <= count < DEFAULT_PIDS, f"{count} children under the default of {DEFAULT_PIDS}"
    count = forked(one_off(runtime, f"{app_name}-storm64", ["python3", "-c", STORM_PY], Limits(pids=64)))
    assert 48 <= count < 64, count


def _status(lines: list[str]) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines) if v}


def test_containers_run_without_new_privileges_and_with_few_capabilities(engine_host: str, app_name: str) -> None:
    runtime = DockerRuntime(engine_host)
    # an instance: what the engine recorded
    instance_id = f"{app_name}-web"
    spec = InstanceSpec(instance_id, app_name, 1, "web", "sleep 300", "/", {}, None, 1.0, image=BASE_IMAGE)
    runtime.start(spec)
    try:
        host_config = runtime.client.containers.get(instance_id).attrs["HostConfig"]
        assert host_config["PidsLimit"] == DEFAULT_PIDS
        assert "no-new-privileges" in " ".join(host_config.get("SecurityOpt") or [])
        # Docker records ALL; podman the list of its defaults that ALL removed
        dropped = {c.upper().removeprefix("CAP_") for c in host_config.get("CapDrop") or []}
        assert "ALL" in dropped or {"NET_RAW", "MKNOD", "SYS_CHROOT", "SETFCAP"} <= dropped, dropped
        added = {c.upper().removeprefix("CAP_") for c in host_config.get("CapAdd") or []}
        assert added <= set(CAPABILITIES), added
    finally:
        runtime.stop(instance_id, 1.0)
        runtime.remove(instance_id)
    # a one-off: what the kernel applies to the process inside
    status = _status(one_off(runtime, f"{app_name}-caps", ["cat", "/proc/self/status"]))
    assert status["NoNewPrivs"] == "1"
    effective = int(status["CapEff"], 16)
    names = ("CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
             "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK",
             "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN",
             "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
             "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP")
    held = {name for bit, name in enumerate(names) if effective >> bit & 1}
    assert effective >> len(names) == 0, hex(effective)  # nothing above SETFCAP either
    assert held == set(CAPABILITIES), sorted(held)
    # and it is effective: no raw sockets (NET_RAW dropped), no device nodes (MKNOD dropped)
    probe = ("import socket, os\n"
             "try:\n    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print('raw ok')\n"
             "except PermissionError: print('raw refused')\n"
             "try:\n    os.mknod('/tmp/null2', 0o666 | 0o020000, os.makedev(1, 3)); print('mknod ok')\n"
             "except PermissionError: print('mknod refused')\n")
    out = one_off(runtime, f"{app_name}-probe", ["python3", "-c", probe])
    assert "raw refused" in out and "mknod refused" in out, out


def test_local_one_offs_have_the_process_limit_too(tmp_path: Path) -> None:
    if not cgroups.detect_pids().ok:
        pytest.skip(cgroups.detect_pids().detail)
    runtime = LocalRuntime(tmp_path / "instances")
    spec = InstanceSpec("storm-run-1", "storm", 1, "run", "", str(tmp_path), {"PATH": "/usr/bin:/bin"}, None, 1.0)
    lines: list[str] = []
    assert runtime.run_once(spec, [sys.executable, "-c", STORM_PY], on_line=lines.append, timeout=120) == 0, lines
    assert DEFAULT_PIDS - 16 <= forked(lines) < DEFAULT_PIDS, lines
    # `slipway run -t`: the same under a terminal
    tty_spec = InstanceSpec("storm-tty-1", "storm", 1, "run", "", str(tmp_path), {"PATH": "/usr/bin:/bin"}, None, 1.0,
                            limits=Limits(pids=64))
    terminal = runtime.open_tty(tty_spec, [sys.executable, "-c", STORM_PY])
    output = b""
    try:
        deadline = time.monotonic() + 120
        while b"storm over" not in output and time.monotonic() < deadline:
            chunk = terminal.read()
            if chunk == b"":
                break
            output += chunk or b""
            time.sleep(0.05)
    finally:
        terminal.close()
    assert 48 <= forked(output.decode(errors="replace").splitlines()) < 64, output
    # nothing left behind: both one-offs' cgroups are gone
    assert not list((cgroups.ROOT / "pids" / cgroups.PARENT).glob("storm-*-1"))


def test_process_limit_through_the_api_and_slipway_toml(api, make_repo) -> None:  # type: ignore[no-untyped-def]
    """Set as users set it: slipway.toml's [limits.<type>] pids and the API; applied by a real deploy."""
    if not cgroups.detect_pids().ok:
        pytest.skip(cgroups.detect_pids().detail)
    from tests.conftest import python_app_files

    files = python_app_files(procfile="web: python app.py\nstorm: python storm.py --stay\n")
    repo = make_repo(files={**files, "storm.py": STORM_PY, "slipway.toml": "[limits.storm]\npids = 100\n"})
    api.call("POST", "/apps", 201, json={"name": "stormy", "git_url": repo.url})
    api.call("PUT", "/apps/stormy/scale", 200, json={"processes": {"storm": 1}})
    for bad in (0, 16385, "many", 1.5):
        assert api.call("PUT", "/apps/stormy/limits/storm", 422, json={"pids": bad}).json()["code"] == "invalid"
    out = api.call("PUT", "/apps/stormy/limits/storm", 200, json={"pids": 48}).json()  # overrides the file's 100
    assert out["limits"] == {"storm": {"pids": 48}} and out["default_pids"] == DEFAULT_PIDS
    deploy = api.deploy("stormy")
    log = api.log("stormy", deploy["id"])
    assert deploy["status"] == "succeeded", log
    assert "limits of storm: at most 48 processes (cgroup" in log, log

    def storm_lines() -> list[str]:
        text = api.call("GET", "/apps/stormy/logs", 200, params={"process_type": "storm", "lines": 50}).text
        return text.splitlines()

    wait_for(lambda: any("storm over" in line for line in storm_lines()), 120, "the storm")
    assert 32 <= forked(storm_lines()) < 48, storm_lines()
