"""The git gateway: what sshd runs for a registered key (`git-serve`), and the repository hook (`git-hook`).

    git push slipway main
      └─ ssh → sshd → authorized_keys forces `slipway git-serve --key N …`  (SSH_ORIGINAL_COMMAND: the git call)
           └─ asks the API whether key N may push to the app → exec `git receive-pack <repo>`
                └─ proc-receive hook `slipway git-hook`: per pushed branch, asks the API to deploy the commit,
                   streams the deploy log back (git shows it as `remote: …`), then lets the branch move
                   (`ok`) or rejects the push with the deploy's reason (`ng`: git push exits 1)

Both are API clients like the rest of the CLI; they never open the database.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path
from typing import BinaryIO

from slipway.cli.client import ApiError, Client, decode

SERVICES = {"git-receive-pack": "receive-pack", "git-upload-pack": "upload-pack"}
APP = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


# ---- git-serve: the forced command ---------------------------------------------------------------------


def parse_request(original: str) -> tuple[str, str]:
    """('receive-pack' | 'upload-pack', app name) from SSH_ORIGINAL_COMMAND, e.g. "git-receive-pack 'hello'"."""
    try:
        words = shlex.split(original)
    except ValueError as exc:
        raise ValueError(f"cannot read the command {original[:200]!r}: {exc}") from exc
    if len(words) == 3 and words[0] == "git" and f"git-{words[1]}" in SERVICES:
        words = [f"git-{words[1]}", words[2]]
    if len(words) != 2 or words[0] not in SERVICES:
        raise ValueError("this key may only `git push` to (or fetch from) Slipway apps, "
                         f"not run {original[:200]!r}")
    path = words[1]
    for prefix in ("~/", "/"):
        path = path.removeprefix(prefix)
    path = path.removesuffix("/").removesuffix(".git")
    if not APP.match(path):
        raise ValueError(f"{words[1]!r} is not an app: the remote is <user>@<host>:<app>")
    return SERVICES[words[0]], path


def serve(key_id: int, url: str, secret_file: Path) -> int:
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    if not original:
        say("Hi! This key may only `git push` to Slipway apps: git remote add slipway <user>@<host>:<app>")
        return 1
    try:
        service, app = parse_request(original)
    except ValueError as exc:
        say(f"slipway: {exc}")
        return 1
    try:
        secret = bytes.fromhex(secret_file.read_text().strip())
    except (OSError, ValueError) as exc:
        say(f"slipway: the git gateway cannot read its secret ({exc}): is Slipway installed for this user?")
        return 1
    from slipway.gitpush.keys import key_token  # the server side's module (SQLAlchemy): only here

    token = key_token(secret, key_id)
    try:
        opened = Client(url, token).post(f"/apps/{app}/git/{service}")
    except ApiError as exc:
        reason = "this key is not registered any more" if exc.status == 401 else exc.message
        say(f"slipway: {reason}")
        return 1
    env = {**os.environ, "SLIPWAY_URL": url, "SLIPWAY_TOKEN": token, "SLIPWAY_GIT_APP": app}
    os.execvpe("git", ["git", service, opened["repo"]], env)
    return 1  # not reached


# ---- git-hook: the proc-receive hook -------------------------------------------------------------------


def read_pkt(stream: BinaryIO) -> bytes | None:
    """One pkt-line's payload; None for a flush packet (or the end of the stream)."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = int(head, 16)
    if size == 0:
        return None
    return stream.read(size - 4)


def write_pkt(stream: BinaryIO, payload: str | None) -> None:
    if payload is None:
        stream.write(b"0000")
    else:
        data = payload.encode()
        stream.write(b"%04x" % (len(data) + 4) + data)
    stream.flush()


def read_until_flush(stream: BinaryIO) -> list[bytes]:
    packets = []
    while (packet := read_pkt(stream)) is not None:
        packets.append(packet)
    return packets


def hook(stdin: BinaryIO, stdout: BinaryIO) -> int:
    read_until_flush(stdin)  # version=1 and git's features: we ask for none of them
    write_pkt(stdout, "version=1\0")
    write_pkt(stdout, None)
    commands = [packet.decode(errors="replace").strip().split(" ", 2) for packet in read_until_flush(stdin)]
    url, token, app = (os.environ.get(k, "") for k in ("SLIPWAY_URL", "SLIPWAY_TOKEN", "SLIPWAY_GIT_APP"))
    results = []
    for old, new, ref in commands:
        if not (url and token and app):
            results.append((ref, "push through the Slipway git remote (`slipway apps show APP`)"))
            continue
        results.append((ref, _receive(Client(url, token), app, ref, old, new)))
    for ref, failure in results:
        if failure is None:
            write_pkt(stdout, f"ok {ref}")
            write_pkt(stdout, "option fall-through")  # git moves the branch itself, with its usual checks
        else:
            write_pkt(stdout, f"ng {ref} {failure.replace(chr(10), ' ')[:400]}")
    write_pkt(stdout, None)
    return 0


def _receive(client: Client, app: str, ref: str, old: str, new: str) -> str | None:
    """None when the ref may move; else why not."""
    try:
        verdict = client.post(f"/apps/{app}/git/push", json={"ref": ref, "old": old, "new": new})
    except ApiError as exc:
        return exc.message
    say(f"-----> {verdict['message']}")
    if verdict["action"] == "reject":
        return verdict["message"]
    if verdict["action"] == "store":
        return None
    deploy = verdict["deploy"]
    say(f"-----> deploy #{deploy['id']} (slipway deploys {app} shows it; ^C stops following, not the deploy)")
    return _follow(client, app, deploy["id"])


def _follow(client: Client, app: str, deploy_id: int) -> str | None:
    outcome: dict = {}  # type: ignore[type-arg]
    try:
        for event, data in client.events(f"/apps/{app}/deploys/{deploy_id}/stream"):
            if event == "line":
                say(decode(data))
            elif event == "end":
                outcome = json.loads(data)
                break
        if not outcome:
            outcome = client.get(f"/apps/{app}/deploys/{deploy_id}")
    except ApiError as exc:
        return f"lost the deploy's log ({exc.message}): see `slipway deploys {app}`"
    if outcome.get("status") == "succeeded":
        release = f" v{outcome['release']}" if outcome.get("release") else ""
        say(f"=====> {app}{release} is live ({new_short(outcome)})")
        return None
    reason = outcome.get("reason") or outcome.get("status") or "failed"
    return f"deploy {outcome.get('status', 'failed')}: {reason.splitlines()[0] if reason else ''}"


def new_short(outcome: dict) -> str:  # type: ignore[type-arg]
    return (outcome.get("commit") or "")[:12]
