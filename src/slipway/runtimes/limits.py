"""Resource limits as users write them ("256M", 0.5, 100) and as runtimes take them (Limits: bytes, cores, pids)."""

from __future__ import annotations

import re
from typing import Any

from slipway.errors import Invalid
from slipway.runtimes.base import Limits

KEYS = ("memory", "memory_reservation", "cpus", "cpu_reservation", "pids")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
MIN_MEMORY = 6 * 1024**2  # Docker refuses less than 6 MB
MAX_MEMORY = 1024**4
MIN_CPUS, MAX_CPUS = 0.01, 512.0
# a process limit an app may choose: enough for big worker pools, but an app can never lift it to the
# point where it exhausts the host's PIDs (Linux's default pid_max is 32768 on small machines)
MIN_PIDS, MAX_PIDS = 1, 16384


def parse_memory(value: Any, what: str = "memory") -> int:
    """Bytes from 268435456, "256M", "256MB", "256MiB", "1.5G" (binary units, like Docker)."""
    if isinstance(value, bool):
        raise Invalid(f"{what}: expected a size such as 256M or 1G, got {value!r}")
    if isinstance(value, int | float):
        size = int(value)
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise Invalid(f"{what}: expected a size such as 256M or 1G, got {value!r}")
        size = int(float(m[1]) * _UNITS[m[2].lower()])
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise Invalid(f"{what}: {format_bytes(size)} is out of range (6M to 1T)")
    return size


def parse_cpus(value: Any, what: str = "cpus") -> float:
    try:
        cores = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{what}: expected a number of cores such as 0.5 or 2, got {value!r}") from None
    if isinstance(value, bool) or not MIN_CPUS <= cores <= MAX_CPUS:
        raise Invalid(f"{what}: expected a number of cores from {MIN_CPUS} to {MAX_CPUS:g}, got {value!r}")
    return round(cores, 3)


def parse_pids(value: Any, what: str = "pids") -> int:
    """A process count: 100 or "100" (threads count too, as the kernel counts them)."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise Invalid(f"{what}: expected a whole number of processes such as 256, got {value!r}")
    try:
        count = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{what}: expected a whole number of processes such as 256, got {value!r}") from None
    if not MIN_PIDS <= count <= MAX_PIDS:
        raise Invalid(f"{what}: expected {MIN_PIDS} to {MAX_PIDS} processes, got {value!r}")
    return count


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Validated limits of one process type, keeping only what is set (None/"" clears a key)."""
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise Invalid(f"unknown limit(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    out: dict[str, Any] = {}
    for key in ("memory", "memory_reservation"):
        if data.get(key) not in (None, ""):
            out[key] = parse_memory(data[key], key)
    for key in ("cpus", "cpu_reservation"):
        if data.get(key) not in (None, ""):
            out[key] = parse_cpus(data[key], key)
    if data.get("pids") not in (None, ""):
        out["pids"] = parse_pids(data["pids"])
    if "memory" in out and out.get("memory_reservation", 0) > out["memory"]:
        raise Invalid("memory_reservation is larger than the memory limit")
    if "cpus" in out and out.get("cpu_reservation", 0) > out["cpus"]:
        raise Invalid("cpu_reservation is larger than the cpus limit")
    return out


def effective(release_config: dict[str, Any], app_limits: dict[str, Any], process_type: str) -> Limits:
    """slipway.toml's [limits.<type>] of the release, overridden key by key by what was set via API/CLI."""
    declared = (release_config.get("limits") or {}).get(process_type) or {}
    return Limits.from_dict({**declared, **(app_limits.get(process_type) or {})})


def describe(limits: Limits) -> str:
    parts = []
    if limits.memory:
        parts.append(f"memory {format_bytes(limits.memory)}")
    if limits.memory_reservation:
        parts.append(f"memory reservation {format_bytes(limits.memory_reservation)}")
    if limits.cpus:
        parts.append(f"{limits.cpus:g} CPU")
    if limits.cpu_reservation:
        parts.append(f"CPU reservation {limits.cpu_reservation:g}")
    if limits.pids is not None:
        parts.append(f"at most {limits.pids} processes")
    return ", ".join(parts) or "no limits"


def describe_pids(limits: Limits) -> str:
    return f"at most {limits.pids_max} processes" + ("" if limits.pids is not None else " (the default)")


def over_capacity(limits: Limits, cores: float, memory: int) -> list[str]:
    """Warnings for limits above what the host has (accepted: the host may grow, the app may move)."""
    warnings = []
    for key in ("memory", "memory_reservation"):
        value = getattr(limits, key)
        if value and memory and value > memory:
            warnings.append(f"{key} {format_bytes(value)} is more than the host's {format_bytes(memory)}")
    for key in ("cpus", "cpu_reservation"):
        value = getattr(limits, key)
        if value and cores and value > cores:
            warnings.append(f"{key} {value:g} is more than the host's {cores:g} cores")
    return warnings


def format_bytes(size: int) -> str:
    for unit, factor in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}B"
    return f"{size} B"
