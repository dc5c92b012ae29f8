"""LocalRuntime: instances as detached, supervised processes on this machine.

The runtime itself keeps no state in memory: everything is in <root>/<instance_id>/ (see files.py),
so any number of LocalRuntime objects, in any process, over the same root see the same instances,
and a control plane that was killed re-attaches simply by being constructed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

import slipway
from slipway import proc
from slipway.errors import Conflict, Invalid, Unavailable
from slipway.runtimes import cgroups
from slipway.runtimes.base import InstanceSpec, InstanceState, Limits, LineSink
from slipway.runtimes.local import logfile, sockets
from slipway.runtimes.local.files import (
    ALIVE,
    INSTANCE_ID,
    InstanceFiles,
    StateRecord,
    SupervisorSpec,
    process_matches,
    read_state,
    write_atomic,
)
from slipway.runtimes.local.policy import RestartPolicy
from slipway.runtimes.pty import PtyProcess
from slipway.sandbox import Sandbox

SUPERVISOR_MODULE = "slipway.runtimes.local.supervisor"
SUPERVISOR_DIED = "supervisor died"


class LocalRuntime:
    name = "local"

    def __init__(self, root: Path, *, python: str = sys.executable, log_max_bytes: int = 10_000_000,
                 log_backups: int = 3, policy: RestartPolicy | None = None, start_timeout: float = 10.0,
                 poll: float = 0.05, sandbox: Sandbox | None = None) -> None:
        self.root = Path(root)
        self.sandbox = sandbox  # None or unisolated: the app runs as Slipway's user (tests, `off`)
        self.python = python
        self.log_max_bytes, self.log_backups = log_max_bytes, log_backups
        self.policy = policy or RestartPolicy()
        self.start_timeout = start_timeout
        self.poll = poll

    # ---- Runtime protocol ------------------------------------------------------------------------

    def start(self, spec: InstanceSpec) -> None:
        """Launch a detached supervisor for `spec`; return once it has made its first attempt to run it.

        Raises Conflict when the instance is already running, Unavailable when no supervisor came up.
        A command that fails at once is not an error here: it shows as backoff/crashloop in state().
        """
        files = self._files(spec.instance_id)
        record = read_state(files)
        if record is not None and (self._supervisor_alive(files, record) or self._orphan_alive(record)):
            raise Conflict(f"instance {spec.instance_id} is already running")
        files.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # --die-with-parent: the parent is the instance's supervisor (detached, it outlives the control
        # plane); if it dies, the sandbox goes with it instead of running on unsupervised and unseen
        argv = self._sandboxed(spec, ["/bin/sh", "-c", "exec " + spec.command], die_with_parent=True,
                               reset_term=True)
        sup_spec = SupervisorSpec(spec, self.policy, self.log_max_bytes, self.log_backups,
                                  argv=argv, sandboxed=argv is not None)
        write_atomic(files.spec, sup_spec.to_json())
        for stale in (files.state, files.stop_request, files.pid):
            stale.unlink(missing_ok=True)
        self._launch(files, spec.env)
        self._await_first_state(files)

    def stop(self, instance_id: str, grace: float | None = None) -> None:
        files = self._files(instance_id)
        record = read_state(files)
        if record is None:
            self._kill_unready(files)  # missing, or a supervisor that never reported: it started nothing
            return
        if grace is not None:
            write_atomic(files.stop_request, f'{{"grace": {float(grace)}}}\n')
        wait_grace = grace if grace is not None else self._stop_grace(files)
        if self._supervisor_alive(files, record):
            assert record.supervisor_pid is not None
            os.kill(record.supervisor_pid, signal.SIGTERM)
            # the supervisor needs `grace` for the app plus a moment for itself
            if self._wait(lambda: not self._supervisor_alive(files, record), wait_grace + 10.0):
                return
            # wedged (should not happen): take over its job
            _kill(record.supervisor_pid, signal.SIGKILL)
            record = read_state(files) or record
        if self._orphan_alive(record):
            self._stop_orphan(record, wait_grace)
        if record.status in ALIVE:
            record.status, record.pid, record.app_create_time = "stopped", None, None
            record.last_exit_reason = SUPERVISOR_DIED
            write_atomic(files.state, record.to_json())

    def state(self, instance_id: str) -> InstanceState:
        """The supervisor's last word, checked against reality.

        A supervisor that vanished without writing "stopped" (killed -9, machine rebooted) is reported
        as status "stopped" with reason "supervisor died": nothing restarts the app any more, which is
        what "stopped" means to a caller. If the app itself survived it, the reason says so and `pid`
        names it; stop() kills it.
        """
        files = self._files(instance_id)
        if not files.spec.exists():
            return InstanceState(instance_id, "missing")
        record = read_state(files)
        if record is None:
            return InstanceState(instance_id, "stopped", last_exit_reason="no state recorded")
        if record.status in ALIVE and not self._supervisor_alive(files, record):
            # it may have written "stopped" and exited between our read and our check: read again
            record = read_state(files) or record
        if record.status in ALIVE and not self._supervisor_alive(files, record):
            orphan = self._orphan_alive(record)
            reason = SUPERVISOR_DIED + (f"; app process {record.pid} still running" if orphan else "")
            return InstanceState(instance_id, "stopped", record.pid if orphan else None, record.restarts,
                                 record.last_exit_code, reason, record.started_at)
        return record.public()

    def instances(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "spec.json").exists())

    def logs(self, instance_id: str, lines: int = 100) -> list[str]:
        files = self._files(instance_id)
        return logfile.tail(files.log, lines, backups=self.log_backups)

    def follow(self, instance_id: str, stop_after: float | None = None) -> Iterator[str]:
        """New lines as they are written, until `stop_after` seconds or until the supervisor is gone."""
        files = self._files(instance_id)

        def supervised() -> bool:
            record = read_state(files)
            return record is not None and self._supervisor_alive(files, record)

        return logfile.follow(files.log, stop_after=stop_after, keep_going=supervised)

    def remove(self, instance_id: str) -> None:
        files = self._files(instance_id)
        if not files.dir.exists():
            return
        record = read_state(files)
        if record is not None and (self._supervisor_alive(files, record) or self._orphan_alive(record)):
            raise Conflict(f"instance {instance_id} is running; stop it first")
        shutil.rmtree(files.dir)

    # ---- optional methods ------------------------------------------------------------------------

    def listening(self, instance_id: str) -> list[tuple[str, int]]:
        """The TCP (address, port) pairs the instance's processes listen on, read from the host's /proc."""
        record = read_state(self._files(instance_id))
        if record is None or not process_matches(record.pid, record.app_create_time):
            return []
        assert record.pid is not None
        return sockets.listening(record.pid)

    def limits_support(self) -> tuple[bool, str]:
        support = cgroups.detect()
        return support.ok, support.detail

    def pids_support(self) -> tuple[bool, str]:
        support = cgroups.detect_pids()
        return support.ok, support.detail

    def capacity(self) -> tuple[float, int]:
        return float(os.cpu_count() or 1), int(psutil.virtual_memory().total)

    def run_once(self, spec: InstanceSpec, argv: list[str], *, on_line: LineSink, timeout: float) -> int:
        """A one-off process in the release's directory and environment (not supervised, no restart),
        in a cgroup of its own with the instance's limits (the process limit at least)."""
        group = self._one_off_cgroup(spec, on_line)
        # the command is the app's own code, run with the app's privileges like its Procfile lines
        full = self._sandboxed(spec, argv, die_with_parent=True) or argv
        if group is not None:
            full = group.enter(full)
        try:
            result = proc.run(full, cwd=spec.cwd, env=spec.env, timeout=timeout, on_line=on_line)
        except OSError as exc:
            on_line(f"cannot run {argv[0]}: {exc.strerror or exc}")
            return 127
        finally:
            if group is not None:
                group.kill_all()
                group.remove()
        return 124 if result.timed_out else result.returncode

    def open_tty(self, spec: InstanceSpec, argv: list[str], *, rows: int = 24, cols: int = 80) -> PtyProcess:
        """A one-off process like run_once's (same directory, environment and limits), under a new PTY."""
        group = self._one_off_cgroup(spec, None)

        def release() -> None:
            if group is not None:
                group.kill_all()
                group.remove()

        # not --die-with-parent: the thread that opens the terminal may end before the session does.
        # Sandboxed, the command takes the terminal inside its PID namespace (a shell restores the
        # terminal's process group on exit, and one from outside does not exist in there)
        full = self._sandboxed(spec, ["setsid", "--ctty", "--wait", "--", *argv], die_with_parent=False)
        enter = group.enter if group is not None else (lambda args: args)
        try:
            if full is not None:
                return PtyProcess(enter(full), cwd=spec.cwd, env=spec.env, rows=rows, cols=cols,
                                  controlling_tty=False, on_close=release)
            return PtyProcess(enter(argv), cwd=spec.cwd, env=spec.env, rows=rows, cols=cols, on_close=release)
        except OSError as exc:
            release()
            raise Invalid(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc

    @staticmethod
    def _one_off_cgroup(spec: InstanceSpec, on_line: LineSink | None) -> cgroups.Cgroup | None:
        try:
            group = cgroups.create(spec.instance_id, spec.limits or Limits())
        except cgroups.CgroupUnavailable as exc:
            if on_line is not None:
                on_line(f"[slipway] resource limits not enforced (degraded mode): {exc}")
            return None
        if group.unenforced and on_line is not None:
            on_line(f"[slipway] {group.unenforced}")
        return group

    def _sandboxed(self, spec: InstanceSpec, argv: list[str], *, die_with_parent: bool,
                   reset_term: bool = False) -> list[str] | None:
        """`argv` inside the app's sandbox (see slipway.sandbox); None when this runtime has none."""
        box = self.sandbox
        if box is None or not box.isolation.isolated:
            return None
        box.prepare(spec.app)
        ro, rw = box.runtime_paths(spec.app, spec.cwd, spec.env)
        if reset_term:  # see Supervisor._preexec: the app must get SIGTERM's default disposition back
            argv = ["env", "--default-signal=TERM", "--", *argv]
        return box.wrap(argv, app=spec.app, cwd=spec.cwd, ro=ro, rw=rw, die_with_parent=die_with_parent)

    def _files(self, instance_id: str) -> InstanceFiles:
        if not INSTANCE_ID.match(instance_id):
            raise Invalid(f"invalid instance id {instance_id!r}: use lowercase letters, digits and '-'")
        return InstanceFiles(self.root.resolve() / instance_id)

    def _launch(self, files: InstanceFiles, app_env: dict[str, str]) -> None:
        # a small environment: the supervisor lives long and needs none of the control plane's secrets
        # (the app gets exactly spec.env anyway); it must import this very slipway, installed or not
        package_root = str(Path(slipway.__file__).resolve().parent.parent)
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ") if key in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        errors_fd = os.open(files.supervisor_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(errors_fd, "ab") as errors:
            # start_new_session: out of our session and process group, so signals to us don't reach it;
            # the process then forks and exits (see supervisor.daemonize), so we reap it right here and
            # the real supervisor is adopted by init: not our child, and it survives our death.
            try:
                first = subprocess.Popen(
                    [self.python, "-m", SUPERVISOR_MODULE, str(files.dir)],
                    cwd=files.dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=errors, close_fds=True, start_new_session=True,
                )
            except OSError as exc:
                raise Unavailable(f"cannot run the supervisor with {self.python}: {exc}") from exc
        try:
            # the app's environment goes over a pipe, never into a file: the supervisor keeps it in memory
            first.communicate(json.dumps({"env": app_env}).encode(), timeout=self.start_timeout)
            returncode = first.returncode
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()
            raise Unavailable("supervisor did not detach", self._supervisor_errors(files)) from None
        if returncode != 0:
            raise Unavailable(f"supervisor failed to start (exit {returncode})",
                              self._supervisor_errors(files))

    def _await_first_state(self, files: InstanceFiles) -> None:
        # past "starting": the supervisor has tried to run the app once, so state() now has its pid
        # (status running) or the reason it could not (backoff)
        def ready() -> bool:
            record = read_state(files)
            return record is not None and record.status != "starting"

        if not self._wait(ready, self.start_timeout):
            self._kill_unready(files)
            raise Unavailable(f"supervisor of {files.dir.name} wrote no state in {self.start_timeout:g} s",
                              self._supervisor_errors(files))
        record = read_state(files)
        if record is not None and record.status == "stopped":  # it gave up at once (see supervisor.abort)
            raise Unavailable(f"supervisor of {files.dir.name} failed: {record.last_exit_reason}",
                              self._supervisor_errors(files))

    def _kill_unready(self, files: InstanceFiles) -> None:
        """A supervisor too slow to report must not live on unseen: kill it and whatever it started."""
        try:
            pid = int(files.pid.read_text())
        except (OSError, ValueError):
            return
        if process_matches(pid, None, cmdline_part=str(files.dir)):
            _kill(pid, signal.SIGKILL)
        record = read_state(files)
        if record is not None and self._orphan_alive(record):
            assert record.pid is not None
            _killpg(record.pid, signal.SIGKILL)

    def _supervisor_alive(self, files: InstanceFiles, record: StateRecord) -> bool:
        # cmdline check: the pid must be a supervisor of *this* directory, not a recycled pid
        return process_matches(record.supervisor_pid, record.supervisor_create_time,
                               cmdline_part=str(files.dir))

    def _orphan_alive(self, record: StateRecord) -> bool:
        return record.app_create_time is not None and process_matches(record.pid, record.app_create_time)

    def _stop_orphan(self, record: StateRecord, grace: float) -> None:
        assert record.pid is not None
        _killpg(record.pid, signal.SIGTERM)
        if not self._wait(lambda: not self._orphan_alive(record), grace):
            _killpg(record.pid, signal.SIGKILL)
            self._wait(lambda: not self._orphan_alive(record), 5.0)

    def _stop_grace(self, files: InstanceFiles) -> float:
        try:
            return SupervisorSpec.from_json(files.spec.read_text()).instance.stop_grace
        except (OSError, ValueError, KeyError, TypeError):
            return 10.0

    def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if condition():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.poll)

    @staticmethod
    def _supervisor_errors(files: InstanceFiles) -> str:
        try:
            return files.supervisor_log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signum)


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
