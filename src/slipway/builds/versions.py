"""Which interpreter a build uses: the versions on this host, and the one the app asks for.

An app asks for a Python version with (first found wins) `.python-version`, `runtime.txt`
(`python-3.12.4`) or `requires-python` in pyproject.toml; for a Node version with `engines.node` in
package.json. The host's versions are the `python3.X` / `node` executables on the server's PATH plus
those in the folders of SLIPWAY_PYTHONS / SLIPWAY_NODES, each run once to ask its real version (a name
says nothing: a pyenv shim called python3.12 may run 3.11, or nothing). When no version on the host
matches, the build stops at once with a one-line message naming what was asked, where, what the
server has, and the three ways out.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from slipway import errors, proc

PROBE_TIMEOUT = 10.0
_PYTHON_NAME_RE = re.compile(r"^python3(\.\d{1,3})?\Z")
_PATH_PYTHON_RE = re.compile(r"^python3\.\d{1,3}\Z")  # on PATH only the versioned names: python3 is one of them
_PY_PROBE = "import os, sys; print('%d.%d.%d' % sys.version_info[:3], os.path.realpath(sys.executable))"


@dataclass(frozen=True)
class Interpreter:
    kind: str  # "Python" | "Node"
    version: tuple[int, int, int]
    # what builds run: Python's own resolved sys.executable (a venv is made from it); for Node, the path it
    # was found at (its folder holds the npm, npx and corepack of the same install)
    executable: str

    @property
    def full(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def short(self) -> str:
        """What the "this server has" list shows: 3.11 for Python, 20 for Node (their release lines)."""
        return f"{self.version[0]}.{self.version[1]}" if self.kind == "Python" else str(self.version[0])


@dataclass(frozen=True)
class Request:
    """A version an app asks for, and where it asked."""

    kind: str  # "Python" | "Node"
    spec: str  # as written: "3.12", "3.12.4", ">=3.11", "^20.1"
    source: str  # the file (and key) it came from, for the messages
    setting: str  # what the user would change: ".python-version", "requires-python", "engines.node"
    matches: Callable[[tuple[int, int, int]], bool]
    exact: tuple[int, ...] | None = None  # a pinned version: an exact patch is preferred when the host has it


# ---- what the host has -------------------------------------------------------------------------


def split_folders(value: str) -> list[str]:
    """SLIPWAY_PYTHONS / SLIPWAY_NODES: folders separated by os.pathsep."""
    return [part.strip() for part in value.split(os.pathsep) if part.strip()]


def _executables(folder: str, accept: Callable[[str], object]) -> list[str]:
    """Executables in `folder` (and in its bin/) whose names `accept` approves, sorted."""
    found: list[str] = []
    for place in (folder, os.path.join(folder, "bin")):
        try:
            names = sorted(os.listdir(place))
        except OSError:
            continue
        for name in names:
            path = os.path.join(place, name)
            if accept(name) and os.path.isfile(path) and os.access(path, os.X_OK):
                found.append(path)
    return found


def _path_dirs(path_env: str | None) -> list[str]:
    """The absolute folders of PATH: a relative entry ('.', '') would depend on the current directory."""
    value = path_env if path_env is not None else os.environ.get("PATH", "")
    return [d for d in value.split(os.pathsep) if os.path.isabs(d)]


@functools.lru_cache(maxsize=256)
def _probe(executable: str, kind: str, mtime_ns: int) -> Interpreter | None:
    """Run the interpreter once to learn its real version (memoized per file and modification time)."""
    argv = [executable, "-I", "-c", _PY_PROBE] if kind == "Python" else [executable, "--version"]
    try:
        out = proc.check_output(argv, timeout=PROBE_TIMEOUT).strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None  # a broken interpreter, or a shim with nothing behind it: not one the host has
    if kind == "Python":
        version, _, real = out.partition(" ")
    else:
        version, real = out.lstrip("v"), executable
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    if m is None or not real:
        return None
    return Interpreter(kind, (int(m[1]), int(m[2]), int(m[3])), real)


def probe(executable: str, kind: str) -> Interpreter | None:
    try:
        mtime = os.stat(executable).st_mtime_ns
    except OSError:
        return None
    return _probe(os.path.abspath(executable), kind, mtime)


def _unique(candidates: Iterable[str], kind: str) -> list[Interpreter]:
    """Each interpreter once (the first path it was found at), in the order found."""
    seen: dict[str, Interpreter] = {}
    for candidate in candidates:
        found = probe(candidate, kind)
        if found is not None:
            seen.setdefault(os.path.realpath(found.executable), found)
    return list(seen.values())


def pythons(folders: Sequence[str], *, default: str, path_env: str | None = None) -> list[Interpreter]:
    """The Pythons of this host: `default` (what apps get when they ask for nothing) first, then the
    python3.X on PATH, then those in `folders`."""
    candidates = [default]
    for d in _path_dirs(path_env):
        candidates += [os.path.join(d, n) for n in _listdir(d) if _PATH_PYTHON_RE.match(n)]
    for folder in folders:
        candidates += _executables(folder, _PYTHON_NAME_RE.match)
    return _unique(candidates, "Python")


def nodes(folders: Sequence[str], *, path_env: str | None = None) -> list[Interpreter]:
    """The Nodes of this host: the first `node` on PATH (the default) first, then those in `folders`."""
    candidates = [os.path.join(d, "node") for d in _path_dirs(path_env) if os.path.isfile(os.path.join(d, "node"))]
    for folder in folders:
        candidates += _executables(folder, lambda n: n == "node")
    return _unique(candidates, "Node")


def _listdir(folder: str) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def sandbox_roots(folders: Sequence[str]) -> list[str]:
    """What a sandbox must see of the configured interpreter folders: each folder, the install prefix
    around a bin/ folder, and the prefix of each interpreter's resolved file (a link into another
    install). Resolved paths; the sandbox binds the ones its tmpfs would hide."""
    roots: list[str] = []
    for folder in folders:
        real = os.path.realpath(folder)
        roots.append(real)
        if os.path.basename(real) == "bin":
            roots.append(os.path.dirname(real))
        for exe in _executables(folder, lambda n: bool(_PYTHON_NAME_RE.match(n)) or n == "node"):
            target = Path(os.path.realpath(exe))
            roots.append(str(target.parent.parent if target.parent.name == "bin" else target.parent))
    return list(dict.fromkeys(roots))


# ---- the choice --------------------------------------------------------------------------------


def choose(request: Request | None, available: Sequence[Interpreter], *, folders_setting: str) -> Interpreter:
    """The interpreter for `request`: the default (available[0]) when it matches, unless another has
    the exact version pinned; else the newest match. BuildError (one line) when none matches."""
    if not available:
        raise errors.BuildError(f"no working {request.kind if request else 'interpreter'} on this server: "
                                f"install one or add its folder to {folders_setting}")
    if request is None:
        return available[0]
    matching = [i for i in available if request.matches(i.version)]
    if not matching:
        has = ", ".join(sorted({i.short for i in available}, key=_numeric))
        raise errors.BuildError(
            f"app asks for {request.kind} {request.spec} ({request.source}); this server has {has} — "
            f"install it, add its folder to {folders_setting}, or change {request.setting}")
    default = available[0]

    def rank(i: Interpreter) -> tuple[bool, bool, tuple[int, int, int]]:
        exact = request.exact is not None and i.version[:len(request.exact)] == request.exact
        return exact, i == default, i.version

    return max(matching, key=rank)


def describe(chosen: Interpreter, request: Request | None) -> str:
    """The build log line: `python: 3.11.7 (/usr/bin/python3.11) — asked 3.11 by .python-version`."""
    head = f"{chosen.kind.lower()}: {chosen.full} ({chosen.executable})"
    if request is None:
        return f"{head} — the server's default (the app asks for no version)"
    line = f"{head} — asked {request.spec} by {request.source}"
    if request.exact is not None and len(request.exact) == 3 and chosen.version != request.exact:
        line += f" (this server has no {'.'.join(map(str, request.exact))}: same {chosen.short} line)"
    return line


def _numeric(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


# ---- what the app asks for ---------------------------------------------------------------------

PYTHON_VERSION_FILE = ".python-version"
RUNTIME_TXT = "runtime.txt"
_PINNED_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?\Z")
_RUNTIME_RE = re.compile(r"^python-(\d+\.\d+(?:\.\d+)?)\Z")
_SMALL_FILE = 4096  # a version file is one line; anything bigger is not one


def _pinned(kind: str, spec: str, source: str, setting: str) -> Request:
    m = _PINNED_RE.match(spec)
    assert m is not None
    exact = tuple(int(g) for g in m.groups() if g is not None)
    line = exact[:2]  # 3.12.4 asks for the 3.12 line; the exact patch is preferred when the host has it
    return Request(kind, spec, source, setting, lambda v: v[:len(line)] == line, exact)


def python_request(app: Path) -> Request | None:
    """The Python version the app asks for: `.python-version`, else `runtime.txt`, else
    `requires-python` in pyproject.toml; None when it asks for none."""
    from slipway.builds import paths

    text = paths.read_text(app, PYTHON_VERSION_FILE, max_bytes=_SMALL_FILE)
    if text is not None:
        # pyenv's format: one version per line, '#' comments; the first one is the one used
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        if lines:
            spec = lines[0].removeprefix("python-").removeprefix("cpython-")
            if not _PINNED_RE.match(spec):
                raise errors.BuildError(
                    f"{PYTHON_VERSION_FILE} asks for {lines[0][:40]!r}: Slipway understands CPython versions "
                    f"such as 3.12 or 3.12.4 — change {PYTHON_VERSION_FILE}")
            return _pinned("Python", spec, PYTHON_VERSION_FILE, PYTHON_VERSION_FILE)
    text = paths.read_text(app, RUNTIME_TXT, max_bytes=_SMALL_FILE)
    if text is not None and text.strip():
        m = _RUNTIME_RE.match(text.strip())
        if m is None:
            raise errors.BuildError(
                f"{RUNTIME_TXT} must name a Python version such as python-3.12.4, "
                f"not {text.strip()[:40]!r} — change {RUNTIME_TXT}")
        return _pinned("Python", m[1], RUNTIME_TXT, RUNTIME_TXT)
    return _requires_python(app)


def _requires_python(app: Path) -> Request | None:
    import tomllib

    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import Version

    from slipway.builds import paths

    text = paths.read_text(app, "pyproject.toml")
    if text is None:
        return None
    try:
        project = tomllib.loads(text).get("project")
    except tomllib.TOMLDecodeError:
        return None  # the dependency step reports invalid TOML with its position
    spec = project.get("requires-python") if isinstance(project, dict) else None
    if spec is None:
        return None
    try:
        specifiers = SpecifierSet(str(spec))
    except InvalidSpecifier:
        raise errors.BuildError(f"requires-python {str(spec)[:60]!r} in pyproject.toml is not a valid version "
                                "specifier (e.g. >=3.11) — change requires-python") from None
    return Request("Python", str(spec), "requires-python in pyproject.toml", "requires-python",
                   lambda v: specifiers.contains(Version(".".join(map(str, v))), prereleases=True))


def node_request(package: dict[str, object]) -> Request | None:
    """The Node version package.json asks for in `engines.node` (an npm semver range); None: any."""
    import nodesemver

    engines = package.get("engines")
    spec = engines.get("node") if isinstance(engines, dict) else None
    if spec is None:
        return None
    if not isinstance(spec, str) or not spec.strip():
        raise errors.BuildError("engines.node in package.json must be a version range such as \">=20\" "
                                "— change engines.node")
    spec = spec.strip()
    try:
        valid = nodesemver.make_range(spec, loose=True) is not None
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise errors.BuildError(f"engines.node {spec[:60]!r} in package.json is not a version range "
                                "(e.g. \">=20\" or \"20.x\") — change engines.node")
    return Request("Node", spec, "engines.node in package.json", "engines.node",
                   lambda v: bool(nodesemver.satisfies(".".join(map(str, v)), spec, loose=True)))
