from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import psutil
import pytest

from slipway.errors import Invalid
from slipway.runtimes.base import InstanceSpec
from slipway.runtimes.local import LocalRuntime, RestartPolicy
from slipway.runtimes.local.files import (
    InstanceFiles,
    StateRecord,
    SupervisorSpec,
    process_matches,
    read_state,
    write_atomic,
)


def test_state_record_round_trips_and_maps_to_instance_state() -> None:
    record = StateRecord("web-1", "backoff", pid=None, restarts=2, last_exit_code=-9,
                         last_exit_reason="killed by signal SIGKILL (9)", started_at=1.5, supervisor_pid=42)
    again = StateRecord.from_json(record.to_json())
    assert again == record
    public = again.public()
    assert (public.instance_id, public.status, public.restarts, public.last_exit_code) == ("web-1", "backoff", 2, -9)
    assert public.alive


def test_state_parsing_ignores_unknown_keys_and_rejects_garbage(tmp_path: Path) -> None:
    files = InstanceFiles(tmp_path)
    assert read_state(files) is None  # no file yet
    files.state.write_text('{"instance_id": "a", "status": "running", "added_later": true}')
    assert read_state(files) == StateRecord("a", "running")
    for garbage in ("", "{", "[]", '{"status": "running"}', '{"instance_id": "a", "status": "x", "pid": [}'):
        files.state.write_text(garbage)
        assert read_state(files) is None


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    tmp_path = tmp_path / "instance"  # a directory of our own: shared fixtures may write into tmp_path
    tmp_path.mkdir()
    target = tmp_path / "state.json"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["state.json"]


def test_supervisor_spec_round_trips() -> None:
    spec = SupervisorSpec(
        InstanceSpec("web-1", "app", 3, "web", "python app.py", "/srv", {"PORT": "1"}, 1, 2.5),
        RestartPolicy(backoff_initial=0.1), log_max_bytes=1000, log_backups=1,
        argv=["bwrap", "--", "sh"], sandboxed=True,
    )
    # everything but the environment (the app's secrets): the supervisor gets that over a pipe
    assert SupervisorSpec.from_json(spec.to_json()) == dataclasses.replace(
        spec, instance=dataclasses.replace(spec.instance, env={}))


def test_the_spec_file_holds_no_environment() -> None:
    spec = SupervisorSpec(InstanceSpec("web-1", "app", 3, "web", "python app.py", "/srv",
                                       {"DATABASE_URL": "postgres://u:hunter2@db/x"}, 1, 2.5))
    assert "hunter2" not in spec.to_json()


def test_process_matches_checks_create_time_and_cmdline() -> None:
    me = psutil.Process()
    assert process_matches(me.pid, me.create_time())
    assert process_matches(me.pid, me.create_time(), cmdline_part=sys.executable) or me.cmdline()
    assert not process_matches(me.pid, me.create_time() - 100)  # same pid, another process: reused
    assert not process_matches(me.pid, None, cmdline_part="/no/such/instance/dir")
    assert not process_matches(None, None)
    assert not process_matches(0, None)


def test_runtime_without_processes(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path / "instances")
    assert runtime.name == "local"
    assert runtime.instances() == []
    assert runtime.state("nope").status == "missing"
    runtime.stop("nope")  # idempotent: nothing to stop
    runtime.remove("nope")
    assert runtime.logs("nope") == []
    for bad in ("../etc", "Web", "", "a/b", "-x"):
        with pytest.raises(Invalid):
            runtime.state(bad)
