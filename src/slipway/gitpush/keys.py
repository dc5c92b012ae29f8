"""Users' SSH public keys, the authorized_keys block that lets them `git push`, and the gateway's tokens.

sshd authenticates the key; the line we write for it forces our gateway command (`slipway git-serve
--key N`), so a key can do nothing but push to (or fetch from) an app's repository. The gateway proves to
the API that it speaks for key N with an HMAC that only someone who can read this host's Slipway secret can
compute: no secret is ever written into authorized_keys or a command line.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import os
import re
import shlex
import struct
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from slipway import events
from slipway.auth.models import User
from slipway.bounds import digits
from slipway.config import Settings
from slipway.db import utcnow
from slipway.errors import Conflict, Forbidden, Invalid, NotFound
from slipway.gitpush.models import SshKey

KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
MIN_RSA_BITS = 2048
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
BEGIN = "# --- slipway: git push keys (managed by Slipway; edits between these lines are overwritten) ---"
END = "# --- slipway: end ---"
TOKEN_PREFIX = "sshkey."


# ---- keys ----------------------------------------------------------------------------------------------


def parse(text: str) -> tuple[str, str, str]:
    """(type, base64 blob, SHA256 fingerprint) of one OpenSSH public key line, or a precise Invalid.

    Options before the key (`command="…"`, `from=…`) are refused: the line Slipway writes is its own.
    """
    line = text.strip()
    if not line:
        raise Invalid("the public key is empty: paste the one line of ~/.ssh/id_ed25519.pub (or id_rsa.pub)")
    if line.startswith("-----BEGIN"):
        raise Invalid("that is a private key or a PEM file: give the public key (the .pub file), and keep the "
                      "private key to yourself")
    if "\n" in line or "\r" in line:
        raise Invalid("give exactly one public key (one line)")
    parts = line.split()
    if parts[0] not in KEY_TYPES:
        raise Invalid(f"unsupported key type {parts[0][:40]!r}: expected one of {', '.join(KEY_TYPES)} "
                      "(options such as command=… are not accepted)")
    if len(parts) < 2:
        raise Invalid("the public key has a type but no key data")
    kind, data = parts[0], parts[1]
    if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", data):
        raise Invalid("the key data is not base64")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("the key data is not valid base64") from exc
    if _read_string(blob, 0)[0] != kind.encode():
        raise Invalid(f"the key data does not hold a {kind} key")
    if not kind.startswith("sk-"):  # security-key types: cryptography cannot load them; the shape was checked
        _check_loadable(kind, data)
    fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return kind, data, fingerprint


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if len(blob) < offset + 4:
        raise Invalid("the key data is truncated")
    (size,) = struct.unpack(">I", blob[offset:offset + 4])
    end = offset + 4 + size
    if len(blob) < end:
        raise Invalid("the key data is truncated")
    return blob[offset + 4:end], end


def _check_loadable(kind: str, data: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        key = load_ssh_public_key(f"{kind} {data}".encode())
    except (ValueError, TypeError) as exc:
        raise Invalid(f"the key data is not a valid {kind} key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise Invalid(f"RSA keys must have at least {MIN_RSA_BITS} bits (this one has {key.key_size}): "
                      "make an ed25519 key with `ssh-keygen -t ed25519`")


DISABLED_HOST_KEY = ("this key was added with a host token and is disabled: re-add it as a user with "
                     "slipway ssh-keys add")
SCOPES = ("deploy", "admin")  # what a key may be capped to (read-scope credentials cannot add keys)


def add(session: Session, *, name: str, public_key: str, user_id: int | None, actor: str, scope: str = "admin",
        team_id: int | None = None) -> SshKey:
    """A key of user `user_id`: it acts as that user with their current roles, capped by `scope` (the scope of
    the credential that adds it) and, when `team_id` is set, to that team (a token acts in one team)."""
    if user_id is None:
        raise Forbidden("SSH keys belong to users: a host token has no user. Add the key as a user, in the "
                        "dashboard's account page or with a token of your account (`slipway ssh-keys add`)")
    if scope not in SCOPES:
        raise Forbidden("a read-scope token cannot add SSH keys (a key pushes code): use a deploy- or "
                        "admin-scope token of your account, or the dashboard's account page")
    if not NAME.match(name or ""):
        raise Invalid(f"invalid key name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'")
    kind, data, fingerprint = parse(public_key)
    existing = session.scalar(select(SshKey).where(SshKey.fingerprint == fingerprint))
    if existing is not None:
        raise Conflict(f"this key ({fingerprint}) is already registered"
                       + (f" as {existing.name!r}" if existing.user_id == user_id else " by someone else"))
    if session.scalar(select(SshKey.id).where(SshKey.name == name, SshKey.user_id == user_id)) is not None:
        raise Conflict(f"you already have a key named {name!r}: remove it first or pick another name")
    key = SshKey(name=name, user_id=user_id, public_key=f"{kind} {data}", fingerprint=fingerprint,
                 created_by=actor, scope=scope, team_id=team_id)
    session.add(key)
    session.flush()
    events.emit(session, "ssh_key.added", actor=actor, key_id=key.id, name=name, fingerprint=fingerprint,
                scope=scope, team_id=team_id)
    return key


def disabled_reason(key: SshKey) -> str | None:
    """Why a key may not act at all (None: it acts as its user)."""
    if key.user_id is None or key.disabled_at is not None:
        return DISABLED_HOST_KEY
    return None


def listed(session: Session, *, user_id: int | None, every_user: bool = False) -> list[SshKey]:
    query = select(SshKey).order_by(SshKey.id)
    if not every_user:
        query = query.where(SshKey.user_id.is_(None) if user_id is None else SshKey.user_id == user_id)
    return list(session.scalars(query))


def remove(session: Session, *, key_id: int, user_id: int | None, actor: str, any_user: bool = False) -> SshKey:
    key = session.get(SshKey, key_id)
    if key is None or (not any_user and key.user_id != user_id):
        raise NotFound(f"no SSH key {key_id}")
    session.delete(key)
    events.emit(session, "ssh_key.removed", actor=actor, key_id=key.id, name=key.name,
                fingerprint=key.fingerprint)
    return key


def owner_name(session: Session, key: SshKey) -> str:
    user = session.get(User, key.user_id) if key.user_id else None
    return user.username if user else "host"


# ---- the gateway's credential ------------------------------------------------------------------------


def gateway_secret(settings: Settings) -> bytes:
    """Derived from the host's secret key: every control-plane process of this installation agrees on it."""
    return hmac.new(settings.resolved_secret_key().encode(), b"slipway git gateway v1", hashlib.sha256).digest()


def gateway_secret_file(settings: Settings) -> Path:
    return settings.path("git") / "gateway.key"


def write_gateway_secret(settings: Settings) -> Path:
    """The file `slipway git-serve` reads (mode 0600: the OS user Slipway and sshd's git user run as)."""
    path = gateway_secret_file(settings)
    value = gateway_secret(settings).hex()
    if not path.exists() or path.read_text().strip() != value:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        os.replace(tmp, path)
    return path


def key_token(secret: bytes, key_id: int) -> str:
    mac = hmac.new(secret, f"ssh-key:{key_id}".encode(), hashlib.sha256).hexdigest()
    return f"{TOKEN_PREFIX}{key_id}.{mac}"


def authenticate(session: Session, settings: Settings, token: str) -> SshKey | None:
    """The key a gateway token speaks for; None when the token is forged or the key was removed."""
    _, _, rest = token.partition(TOKEN_PREFIX)
    key_id, _, _ = rest.partition(".")
    if not digits(key_id) or len(key_id) > 12:
        return None
    if not hmac.compare_digest(token, key_token(gateway_secret(settings), int(key_id))):
        return None
    key = session.get(SshKey, int(key_id))
    if key is not None:
        key.last_used_at = utcnow()
    return key


# ---- authorized_keys ---------------------------------------------------------------------------------


def authorized_keys_path(settings: Settings) -> Path | None:
    value = settings.git_authorized_keys.strip()
    return Path(value).expanduser() if value else None


def gateway_command(settings: Settings, key_id: int) -> str:
    """What sshd runs for key `key_id` (SSH_ORIGINAL_COMMAND holds what the client asked for)."""
    argv = [sys.executable, "-m", "slipway.cli.main", "git-serve", "--key", str(key_id),
            "--url", settings.api_url, "--secret-file", str(gateway_secret_file(settings))]
    return " ".join(shlex.quote(word) for word in argv)


def render_block(settings: Settings, keys: list[SshKey]) -> list[str]:
    lines = [BEGIN]
    for key in keys:
        command = gateway_command(settings, key.id).replace("\\", "\\\\").replace('"', '\\"')
        # `restrict`: no pty, no forwarding of any kind, no ~/.ssh/rc (OpenSSH 7.2+)
        lines.append(f'command="{command}",restrict {key.public_key} slipway-key-{key.id}')
    lines.append(END)
    return lines


def merge(current: str, block: list[str]) -> str:
    """`current` with our block replaced (or appended): every line outside it is kept as it was."""
    lines = current.splitlines()
    if BEGIN in lines:
        start = lines.index(BEGIN)
        end = lines.index(END, start) if END in lines[start:] else len(lines) - 1
        lines[start:end + 1] = block
    else:
        lines += block
    return "\n".join(lines) + "\n"


def sync_authorized_keys(sessions: sessionmaker[Session], settings: Settings) -> Path | None:
    """Rewrite the managed block from the database (call it after the change is committed); untouched when
    there is nothing of ours to write. A lock file orders writers of several processes: each reads the
    database inside the lock, so the last one to write saw every committed change."""
    path = authorized_keys_path(settings)
    if path is None:
        return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".slipway-lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with sessions() as session:
            keys = listed(session, user_id=None, every_user=True)
            current = path.read_text() if path.exists() else ""
            if not keys and BEGIN not in current.splitlines():
                return None
            write_gateway_secret(settings)
            text = merge(current, render_block(settings, keys))
        if text != current:
            tmp = path.with_name(path.name + ".slipway-tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.replace(tmp, path)  # sshd never reads a half-written file
    return path
