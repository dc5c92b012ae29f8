"""The supervisor of one local instance: `python -m slipway.runtimes.local.supervisor <instance_dir>`.

It detaches itself (the control plane never has to reap it and may die at any time), runs the app,
timestamps its output into out.log, restarts it with backoff when it exits, and on SIGTERM stops it
(SIGTERM to its process group, SIGKILL after the grace) and exits. Its only interface is the files
described in files.py. One process, one thread: a selector loop over the app's pipes and a signal
wakeup pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType

from slipway.runtimes import cgroups
from slipway.runtimes.base import OOM_REASON, Limits
from slipway.runtimes.local.files import (
    InstanceFiles,
    StateRecord,
    SupervisorSpec,
    create_time_of,
    write_atomic,
)
from slipway.runtimes.local.logfile import LineSplitter, RotatingLog, format_line
from slipway.runtimes.local.policy import CrashHistory, describe_exit

TICK = 1.0  # longest sleep: the child is polled at least this often even if a SIGCHLD were missed


class Supervisor:
    def __init__(self, files: InstanceFiles, spec: SupervisorSpec, env: dict[str, str] | None = None) -> None:
        self.files, self.spec = files, spec
        # the app's environment: handed over at launch and kept in memory only (never in a file)
        self.env = dict(spec.instance.env if env is None else env)
        self.log = RotatingLog(files.log, spec.log_max_bytes, spec.log_backups)
        self.crashes = CrashHistory(spec.policy)
        self.state = StateRecord(spec.instance.instance_id, "starting", supervisor_pid=os.getpid(),
                                 supervisor_create_time=create_time_of(os.getpid()))
        self.proc: subprocess.Popen[bytes] | None = None
        self.spawned_at = 0.0  # monotonic time of the current process's start
        self.spawns = 0
        self.next_start: float | None = time.monotonic()
        self.stop_requested = False
        self.selector = selectors.DefaultSelector()
        self._wakeup_r, self._wakeup_w = os.pipe()
        self.cgroup: cgroups.Cgroup | None = None
        self.oom_base = 0  # the cgroup's OOM counter when we took it over

    def setup_limits(self) -> None:
        """Put the app under its limits; where the host cannot, say so in its log and state (never silent).

        Every instance gets a cgroup, limits set or not: the process limit (512 by default) always applies."""
        limits = self.spec.instance.limits or Limits()
        try:
            self.cgroup = cgroups.create(self.spec.instance.instance_id, limits)
            self.oom_base = self.cgroup.oom_kills()
            self.state.limits = self.cgroup.describe()
            if self.cgroup.unenforced:
                self.log.write(format_line("stderr", f"[slipway] {self.cgroup.unenforced}"))
        except cgroups.CgroupUnavailable as exc:
            # no fallback: RLIMIT_NPROC counts every process of the OS user, not of the instance
            self.state.limits = f"not enforced (degraded mode): {exc}"
            self.log.write(format_line("stderr", f"[slipway] resource limits {self.state.limits}"))

    # ---- setup -----------------------------------------------------------------------------------

    def install_signals(self) -> None:
        os.set_blocking(self._wakeup_r, False)
        os.set_blocking(self._wakeup_w, False)
        # the C-level handler writes to this pipe, which wakes select() for SIGCHLD and SIGTERM alike
        signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        self.selector.register(self._wakeup_r, selectors.EVENT_READ, None)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGCHLD, _ignore)
        # a handler, not SIG_IGN: ignored signals stay ignored across exec and the app must not inherit that
        signal.signal(signal.SIGHUP, _ignore)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested = True

    # ---- main loop -------------------------------------------------------------------------------

    def run(self) -> None:
        self.setup_limits()
        self.write_state()
        while not self.stop_requested:
            if self.proc is None and self.next_start is not None and time.monotonic() >= self.next_start:
                self.spawn()
            self.pump(self.timeout())
            self.check_child()
            self.check_stable()
        self.shutdown()

    def timeout(self) -> float:
        now = time.monotonic()
        waits = [TICK]
        if self.proc is None and self.next_start is not None:
            waits.append(self.next_start - now)
        if self.proc is not None and self.state.status == "crashloop":
            waits.append(self.spawned_at + self.spec.policy.reset_after - now)
        return max(0.0, min(waits))

    def spawn(self) -> None:
        inst = self.spec.instance
        self.next_start = None
        try:
            # Not a shell injection: `command` is the app's own Procfile line, i.e. the app's own code,
            # and it runs with the app's privileges in the app's environment, like any code of the app.
            # The shell only parses it as its author intended; `exec` makes the app replace the shell
            # so signals and exit statuses are the app's own.
            self.proc = subprocess.Popen(
                self.spec.argv or ["/bin/sh", "-c", "exec " + inst.command],
                cwd=inst.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                close_fds=True,  # the app gets 0/1/2 only
                process_group=0,  # its own group, so stop and cleanup reach everything it forks
                # into its cgroup before exec: whatever it allocates or forks is limited from the start
                preexec_fn=self._preexec,  # one thread: safe
            )
        except OSError as exc:
            self.log.write(format_line("stderr", f"[slipway] could not start: {exc}"))
            self.after_exit(None, f"could not start: {exc.strerror or exc}", ran_for=0.0)
            return
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ, ("stdout", LineSplitter()))
        self.selector.register(self.proc.stderr, selectors.EVENT_READ, ("stderr", LineSplitter()))
        self.spawned_at = time.monotonic()
        if self.spawns:
            self.state.restarts += 1
        self.spawns += 1
        self.state.status = "crashloop" if self.crashes.in_crashloop(self.spawned_at) else "running"
        self.state.pid = self.proc.pid
        self.state.app_create_time = create_time_of(self.proc.pid)
        self.state.started_at = time.time()
        self.write_state()

    def _preexec(self) -> None:
        if self.cgroup is not None:
            self.cgroup.join()
        if self.spec.sandboxed:
            # bubblewrap does not pass SIGTERM on: it must not die of it before the app inside has
            # finished its graceful stop (the app gets the signal too: same process group; inside, `env
            # --default-signal=TERM` gives it back the default disposition)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` for output or a signal; write out every complete line."""
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                _drain(self._wakeup_r)
                continue
            stream, splitter = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except OSError:
                chunk = b""
            lines = splitter.feed(chunk) if chunk else splitter.flush()
            for line in lines:
                self.log.write(format_line(stream, line))
            if not chunk:
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]

    def has_pipes(self) -> bool:
        return any(key.data is not None for key in self.selector.get_map().values())

    def exited(self) -> bool:
        """Has the app exited? Peeks without reaping, so its pid (= process group id) stays reserved."""
        assert self.proc is not None
        try:
            info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def check_child(self) -> None:
        if self.proc is None or not self.exited():
            return
        returncode = self.reap()
        reason = describe_exit(returncode)
        if returncode == -signal.SIGKILL and self.cgroup is not None:
            kills = self.cgroup.oom_kills() - self.oom_base  # the kernel's counter outlives restarts
            if kills > self.state.oom_kills:
                self.state.oom_kills = kills
                reason = OOM_REASON
        self.after_exit(returncode, reason, ran_for=time.monotonic() - self.spawned_at)

    def reap(self) -> int:
        """Kill what is left of the app's group, reap the app and read its last output."""
        assert self.proc is not None
        _killpg(self.proc.pid, signal.SIGKILL)  # leftovers would hold the port and the pipes
        returncode = self.proc.wait()
        if self.spec.sandboxed and 128 < returncode <= 128 + 64:
            returncode = 128 - returncode  # bubblewrap reports "killed by signal N" as 128+N
        deadline = time.monotonic() + 1.0  # a process that left the group may hold the pipes: don't wait
        while self.has_pipes() and time.monotonic() < deadline:
            self.pump(0.1)
        for key in list(self.selector.get_map().values()):
            if key.data is not None:
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
        self.proc = None
        return returncode

    def after_exit(self, returncode: int | None, reason: str, ran_for: float) -> None:
        now = time.monotonic()
        delay = self.crashes.record(now, ran_for)
        self.next_start = now + delay
        self.state.status = "crashloop" if self.crashes.in_crashloop(now) else "backoff"
        self.state.pid = self.state.app_create_time = None
        self.state.last_exit_code, self.state.last_exit_reason = returncode, reason
        self.log.write(format_line("stderr", f"[slipway] {reason}; restarting in {delay:g} s"))
        self.write_state()

    def check_stable(self) -> None:
        # a crash loop is over once the process has stayed up as long as a healthy one would
        if (self.proc is not None and self.state.status == "crashloop"
                and time.monotonic() - self.spawned_at >= self.spec.policy.reset_after):
            self.state.status = "running"
            self.write_state()

    def shutdown(self) -> None:
        if self.proc is not None:
            grace = self.grace()
            _killpg(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not self.exited() and time.monotonic() < deadline:
                self.pump(min(0.05, max(0.0, deadline - time.monotonic())))
            returncode = self.reap()
            self.state.last_exit_code, self.state.last_exit_reason = returncode, describe_exit(returncode)
            self.log.write(format_line("stderr", f"[slipway] stopped: {describe_exit(returncode)}"))
        self.state.status = "stopped"
        self.state.pid = self.state.app_create_time = None
        if self.cgroup is not None:
            self.cgroup.remove()
        self.write_state()
        self.log.close()

    def grace(self) -> float:
        try:
            return float(json.loads(self.files.stop_request.read_text())["grace"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.spec.instance.stop_grace

    def write_state(self) -> None:
        self.state.updated_at = time.time()
        write_atomic(self.files.state, self.state.to_json())

    def abort(self, reason: str) -> None:
        """Last resort after an unexpected error: leave no orphan app and say why in the state."""
        if self.proc is not None:
            _killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.state.status, self.state.pid = "stopped", None
        self.state.last_exit_reason = reason
        self.write_state()


def _ignore(signum: int, frame: FrameType | None) -> None:
    pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def daemonize() -> None:
    """Fork once more and let the parent exit: the caller reaps it at once and we are adopted by init.

    The caller started us with start_new_session=True, so we are already out of its session and
    process group; after this fork we are not a session leader and can never acquire a terminal.
    """
    if os.fork() > 0:
        os._exit(0)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m slipway.runtimes.local.supervisor <instance_dir>", file=sys.stderr)
        return 2
    files = InstanceFiles(Path(argv[0]).resolve())
    spec = SupervisorSpec.from_json(files.spec.read_text(encoding="utf-8"))
    stdin = sys.stdin
    handed = stdin.buffer.read() if stdin is not None and not stdin.isatty() else b""  # the env, if given
    env = json.loads(handed)["env"] if handed.strip() else None
    daemonize()
    supervisor = Supervisor(files, spec, env)
    supervisor.install_signals()
    write_atomic(files.pid, f"{os.getpid()}\n")
    try:
        supervisor.run()
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the app must not be left orphaned
        traceback.print_exc()
        supervisor.abort(f"supervisor failed: {exc!r}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
