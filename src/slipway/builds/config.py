"""The app's own build configuration: `slipway.toml` and `Procfile`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway import errors
from slipway.builds import paths

PROCESS_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_PROCFILE_LINE_RE = re.compile(r"^(?P<name>[^:\s]+)\s*:\s*(?P<command>.*)\Z")
_TOML_POS_RE = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\Z")
_TOML_EOF_RE = re.compile(r"^(?P<msg>.*?)\s*\(at end of document\)\Z")

# table -> allowed keys (None: any process name)
_SCHEMA: dict[str, set[str] | None] = {
    "build": {"command"},
    "start": {"command"},
    "processes": None,
    "release": {"command"},
    "health": {"path", "timeout"},
    "static": {"root"},  # the folder a static site publishes (checked against the checkout by simple.py)
    "docker": {"dockerfile", "context", "target", "build_args", "build_args_from_env", "cache", "port"},
    "limits": None,  # [limits.<process type>]: memory, memory_reservation, cpus, cpu_reservation
    "cron": None,  # [cron.<job>]: schedule, command, and the options of `slipway cron add` (cron/repo.py)
}


@dataclass
class AppConfig:
    """What slipway.toml declares (every field optional)."""

    build_command: str | None = None
    processes: dict[str, str] = field(default_factory=dict)
    release_command: str | None = None
    health_path: str | None = None
    health_timeout: float | None = None  # seconds; overrides SLIPWAY_HEALTH_TIMEOUT for this app
    docker: dict[str, Any] = field(default_factory=dict)  # [docker]: checked by builds/docker.py
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)  # normalized [limits.<type>]
    static_root: str | None = None  # [static] root: a static site served from this folder of the repository
    cron: dict[str, dict[str, Any]] = field(default_factory=dict)  # checked [cron.<job>] tables


def parse_slipway_toml(text: str, *, filename: str = "slipway.toml") -> AppConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raw = str(exc)
        m = _TOML_POS_RE.match(raw)
        if m:
            raise errors.BuildError(
                f"{filename}: invalid TOML at line {m['line']}, column {m['col']}: {m['msg']}") from exc
        m = _TOML_EOF_RE.match(raw)
        if m:
            lines = max(1, len(text.splitlines()))
            raise errors.BuildError(
                f"{filename}: invalid TOML at end of file (line {lines}): {m['msg']}") from exc
        raise errors.BuildError(f"{filename}: invalid TOML: {raw}") from exc

    unknown = sorted(set(data) - set(_SCHEMA))
    if unknown:
        raise errors.BuildError(
            f"{filename}: unknown key(s) {', '.join(unknown)}; allowed tables: {', '.join(_SCHEMA)}")
    for table, allowed in _SCHEMA.items():
        if table in data and not isinstance(data[table], dict):
            raise errors.BuildError(f"{filename}: '{table}' must be a table ([{table}])")
        if allowed is not None and table in data:
            extra = sorted(set(data[table]) - allowed)
            if extra:
                raise errors.BuildError(
                    f"{filename}: unknown key(s) in [{table}]: {', '.join(f'{table}.{k}' for k in extra)}; "
                    f"allowed: {', '.join(sorted(allowed))}")

    def string(table: str, key: str) -> str | None:
        value = data.get(table, {}).get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise errors.BuildError(f"{filename}: {table}.{key} must be a non-empty string")
        return value.strip()

    config = AppConfig(
        build_command=string("build", "command"),
        release_command=string("release", "command"),
        health_path=string("health", "path"),
        static_root=string("static", "root"),
    )
    if config.health_path is not None and not config.health_path.startswith("/"):
        raise errors.BuildError(f"{filename}: health.path must start with '/', got {config.health_path!r}")
    timeout = data.get("health", {}).get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 3600:
            raise errors.BuildError(f"{filename}: health.timeout must be a number of seconds from 1 to 3600")
        config.health_timeout = float(timeout)
    start = string("start", "command")
    if start is not None:
        if "web" in data.get("processes", {}):
            raise errors.BuildError(f"{filename}: [start] command and processes.web both declare the web process")
        config.processes["web"] = start
    for name, command in data.get("processes", {}).items():
        if not PROCESS_NAME_RE.match(name):
            raise errors.BuildError(
                f"{filename}: invalid process type name {name!r} in [processes] "
                "(letters, digits, '-' and '_')")
        if not isinstance(command, str) or not command.strip():
            raise errors.BuildError(f"{filename}: processes.{name} must be a non-empty command string")
        config.processes[name] = command.strip()
    config.docker = dict(data.get("docker", {}))
    config.limits = _limits(data.get("limits", {}), filename)
    from slipway.cron.repo import parse_tables

    config.cron = parse_tables(data.get("cron", {}), filename)
    return config


def _limits(table: dict[str, Any], filename: str) -> dict[str, dict[str, Any]]:
    from slipway.runtimes.limits import normalize

    out = {}
    for name, values in table.items():
        if not PROCESS_NAME_RE.match(name) or not isinstance(values, dict):
            raise errors.BuildError(f"{filename}: [limits.{name}] must be a table named after a process type")
        try:
            out[name] = normalize(values)
        except errors.Invalid as exc:
            raise errors.BuildError(f"{filename}: [limits.{name}] {exc.message}") from exc
    return out


def load_slipway_toml(directory: Path) -> AppConfig | None:
    text = paths.read_text(directory, "slipway.toml")  # refuses a link out of the checkout
    return None if text is None else parse_slipway_toml(text)


def parse_procfile(text: str, *, filename: str = "Procfile",
                   warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """`name: command` lines; blank lines and `#` comments are ignored. Process type names are read in
    lower case, as Heroku does (`Web:` declares the web process); `warn` is told of each renamed one."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _PROCFILE_LINE_RE.match(line)
        if not m:
            raise errors.BuildError(
                f"{filename} line {number}: expected 'name: command', got {raw.strip()!r}")
        name, command = m["name"], m["command"].strip()
        if not PROCESS_NAME_RE.match(name):
            raise errors.BuildError(
                f"{filename} line {number}: invalid process type name {name!r} "
                "(letters, digits, '-' and '_')")
        if not command:
            raise errors.BuildError(f"{filename} line {number}: process type '{name}' has no command")
        if name != name.lower():
            if warn is not None:
                warn(f"warning: {filename} line {number}: process type '{name}' is read as '{name.lower()}' "
                     "(process types are lower case)")
            name = name.lower()
        if name in processes:
            raise errors.BuildError(f"{filename} line {number}: process type '{name}' is declared twice")
        processes[name] = command
    return processes


def load_procfile(directory: Path, *, warn: Callable[[str], None] | None = None) -> dict[str, str] | None:
    text = paths.read_text(directory, "Procfile")
    return None if text is None else parse_procfile(text, warn=warn)
