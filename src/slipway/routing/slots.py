"""Upstream slots: how a traffic switch reaches Caddy without reloading it.

Every change to Caddy's config, even `PATCH /id/<id>/upstreams` or one path under /config/, makes Caddy build
a new config and stop the old one: the old HTTP servers close every idle keep-alive connection, so a client
that sends its next request on one at that instant gets a reset or an EOF. That happens to every app at each
switch of any app. Caddy has no way to change a handler in place.

So a proxied route does not name its instances in the config. Its reverse_proxy lists SLOTS upstreams whose
dial address is Caddy's `{file.<path>}` placeholder, which Caddy replaces with the file's content on every
request that picks that upstream. A switch (deploy, rollback, scale, an instance stopped) rewrites the
files, one atomic rename each; the config stays byte-identical, so nothing is reloaded and no connection is
closed. A route without instances (an app stopped, not deployed yet) has the same slots, pointing at
UNAVAILABLE, a socket where Caddy itself answers the 503 naming the app (render.py): stopping, starting or
first deploying an app is a slot change too. The config still changes, and Caddy reloads, when a route is
added or removed (an app created or deleted), turns static or proxied, or has more instances than slots.

A static site's route serves files from `<key>.root`, a symbolic link to the live release's directory,
replaced atomically at its deploy: a missing link is a 404, never another directory.

Instances are spread over the slots in proportion to their weights (round robin over the slots then gives
each instance its share); a weight's precision is therefore 1/SLOTS.

The files live in a 0700 directory of the control plane, beside Caddy's admin socket: only Slipway (and the
Caddy it runs as the same user) can read or write them, and their names are digests, never user strings.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from slipway.routing.base import Route, RouteTable, Upstream

# Divisible by 1, 2, 3, 4, 6 and 12: up to 4 instances (and 6, 12) share the traffic exactly evenly.
SLOTS = 12
SUFFIX = ".dial"
ROOT_SUFFIX = ".root"  # a symbolic link: its "content" is the target
UNAVAILABLE = "503.sock"  # Caddy's own listener answering "no running instances"
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH = 107


def slot_count(upstreams: tuple[Upstream, ...]) -> int:
    """SLOTS, or the next multiple of it when a route has more live instances than that."""
    live = sum(1 for u in upstreams if u.weight > 0)
    return max(1, -(-live // SLOTS)) * SLOTS


def route_key(route: Route) -> str:
    """A stable, file-name-safe name for a route (host and path): the same route keeps its slots."""
    ident = f"{route.host.lower()}\n{route.path_prefix or ''}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def slot_path(directory: str | Path, route: Route, index: int) -> Path:
    return Path(directory) / f"{route_key(route)}.{index}{SUFFIX}"


def root_path(directory: str | Path, route: Route) -> Path:
    """The symbolic link a static route's file_server serves from."""
    return Path(directory) / f"{route_key(route)}{ROOT_SUFFIX}"


def unavailable_socket(directory: str | Path) -> Path | None:
    """Where Caddy answers for routes without instances; None when the path is too long for a socket (such
    routes are then rendered as a plain 503 response, and starting them is a reload)."""
    path = Path(directory) / UNAVAILABLE
    return path if len(str(path).encode()) <= MAX_SOCKET_PATH else None


def placeholder(directory: str | Path, route: Route, index: int) -> str:
    """Caddy's placeholder for one slot's dial address, read from its file at each request."""
    return "{file." + str(slot_path(directory, route, index)) + "}"


def spread(upstreams: tuple[Upstream, ...], slots: int) -> list[str]:
    """The dial address of each slot: every live upstream gets slots in proportion to its weight (largest
    remainder, at least one each), interleaved so that round robin alternates between instances."""
    live = [u for u in upstreams if u.weight > 0]
    if not live:
        return []
    total = sum(u.weight for u in live)
    shares = [u.weight * slots / total for u in live]
    counts = [max(1, int(share)) for share in shares]
    by_remainder = sorted(range(len(live)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder:
        if sum(counts) >= slots:
            break
        counts[i] += 1
    while sum(counts) > slots:  # only when the minimum of one each overshot: take from the largest
        counts[counts.index(max(counts))] -= 1
    order: list[str] = []
    left = counts[:]
    while any(left):
        for i, upstream in enumerate(live):
            if left[i]:
                order.append(upstream.dial)
                left[i] -= 1
    return order


def files(table: RouteTable, directory: str | Path) -> dict[Path, str]:
    """Every slot file the table needs, with its content (a dial address; a static root's link target)."""
    wanted: dict[Path, str] = {}
    for route in table.routes:
        if route.static_root is not None:
            wanted[root_path(directory, route)] = route.static_root
            continue
        dials = spread(route.upstreams, slot_count(route.upstreams))
        socket = unavailable_socket(directory)
        if not dials and socket is not None:
            dials = [f"unix/{socket}"] * SLOTS
        for index, dial in enumerate(dials):
            wanted[slot_path(directory, route, index)] = dial
    return wanted


def differ(wanted: dict[Path, str]) -> dict[Path, str | None]:
    """The wanted files whose content on disk is not the wanted one: path -> its content now (None: missing)."""
    changed: dict[Path, str | None] = {}
    for path, content in wanted.items():
        try:
            now: str | None = os.readlink(path) if path.suffix == ROOT_SUFFIX else path.read_text()
        except OSError:
            now = None
        if now != content:
            changed[path] = now
    return changed


def write(directory: str | Path, wanted: dict[Path, str]) -> dict[Path, str | None]:
    """Write the files that differ, each by an atomic rename (Caddy reads the old or the new address, never
    half of one); return what they held before (None: did not exist), for restore()."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    changed = differ(wanted)
    for path in changed:
        _replace(folder, path, wanted[path])
    return changed


def restore(previous: dict[Path, str | None]) -> None:
    """Undo write(): put back what the files held (a config Caddy refused must not change the old one's)."""
    for path, content in previous.items():
        if content is None:
            path.unlink(missing_ok=True)
        else:
            _replace(path.parent, path, content)


def _replace(folder: Path, path: Path, content: str) -> None:
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".slot-")
    try:
        if path.suffix == ROOT_SUFFIX:
            os.close(fd)
            os.unlink(temp)
            os.symlink(content, temp)  # rename() replaces the old link in one step
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def prune(directory: str | Path, keep: dict[Path, str]) -> None:
    """Remove slot files no route uses any more (call after the config that used them is gone)."""
    folder = Path(directory)
    if not folder.is_dir():
        return
    for path in [*folder.glob(f"*{SUFFIX}"), *folder.glob(f"*{ROOT_SUFFIX}")]:
        if path not in keep:
            path.unlink(missing_ok=True)
