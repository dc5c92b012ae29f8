"""The TCP ports a process tree listens on, read from /proc: how the health gate sees an app that
ignores $PORT (gunicorn with `bind = "0.0.0.0:8080"` in its config file) and says so at once.

Read from the host side, starting at the instance's process as its supervisor started it (bubblewrap
when sandboxed): the app itself may run in its own PID namespace, as another user, but the host's
/proc sees every process of the tree under its host pid. A socket is an inode in /proc/<pid>/fd; the
LISTEN entries of /proc/<pid>/net/tcp{,6} (the tree's network namespace: the host's, apps share it)
map inodes to addresses. Nothing here runs or trusts what the app wrote: only the kernel's tables.
"""

from __future__ import annotations

import os
import socket

import psutil

LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column
# the tree and its descriptors are the app's to make: the gate looks at a bounded part of them, so an app
# with thousands of processes or files cannot slow the worker that runs its deploy (a server binds in
# its first processes, and early: the first descriptors)
MAX_PROCESSES = 64
MAX_FDS = 4096


def process_tree(root_pid: int) -> list[int]:
    """The pid and every descendant's (gunicorn binds in its master, node in its only process)."""
    try:
        root = psutil.Process(root_pid)
        return [root_pid, *(child.pid for child in root.children(recursive=True))][:MAX_PROCESSES]
    except psutil.Error:
        return []


def socket_inodes(pids: list[int]) -> set[int]:
    """Inodes of the sockets these processes hold open (processes we may not read are skipped)."""
    inodes: set[int] = set()
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:  # gone, or not ours to read
            continue
        for name in sorted(names, key=lambda n: int(n) if n.isdigit() else 0)[:MAX_FDS]:
            try:
                target = os.readlink(f"{fd_dir}/{name}")
            except OSError:
                continue
            if target.startswith("socket:[") and target.endswith("]"):
                inodes.add(int(target[8:-1]))
    return inodes


def decode_address(hex_address: str) -> tuple[str, int]:
    """'0100007F:1F90' → ('127.0.0.1', 8080); IPv6 addresses come as four little-endian 32-bit words."""
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, swapped), int(port_hex, 16)


def listen_table(table_text: str) -> dict[int, tuple[str, int]]:
    """inode → (address, port) of the LISTEN lines of a /proc/net/tcp or tcp6 file."""
    out: dict[int, tuple[str, int]] = {}
    for line in table_text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        try:
            out[int(fields[9])] = decode_address(fields[1])
        except ValueError:
            continue
    return out


def listening(root_pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the tree of `root_pid` listens on, sorted; [] if unreadable."""
    pids = process_tree(root_pid)
    inodes = socket_inodes(pids)
    if not inodes:
        return []
    found: set[tuple[str, int]] = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{root_pid}/net/{name}", encoding="ascii") as fh:
                table = listen_table(fh.read())
        except OSError:
            continue
        found.update(address for inode, address in table.items() if inode in inodes)
    return sorted(found, key=lambda a: (a[1], a[0]))

