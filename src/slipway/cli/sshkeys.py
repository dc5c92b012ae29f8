"""ssh-keys add | list | remove: the keys that may `git push` to your apps."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, table

app = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")
DEFAULT_KEYS = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")


def _read_key(path: str | None) -> str:
    if path == "-":
        return sys.stdin.read()
    if path is None:
        for name in DEFAULT_KEYS:
            candidate = Path.home() / ".ssh" / name
            if candidate.exists():
                return candidate.read_text()
        raise typer.BadParameter(f"no ~/.ssh/{{{','.join(DEFAULT_KEYS)}}}: give the public key's path "
                                 "(make one with `ssh-keygen -t ed25519`)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise typer.BadParameter(f"{path}: no such file")
    if not file.name.endswith(".pub") and file.read_text(errors="replace").startswith("-----BEGIN"):
        raise typer.BadParameter(f"{path} is a private key: give its .pub file")
    return file.read_text(errors="replace")


@app.command("add")
def add(name: str = typer.Argument(..., help="A name for the key, e.g. laptop."),
        path: str = typer.Argument(None, help="Public key file ('-': standard input; default: ~/.ssh/id_*.pub)."),
        json_out: bool = JSON) -> None:
    """Register a public key of yours: it may then `git push` to every app you may deploy (with your roles of
    the moment, capped by this token's scope and team). Needs a token of your account, not a host token."""
    data = Client().post("/ssh-keys", json={"name": name, "public_key": _read_key(path)})
    if json_out:
        return emit_json(data)
    console.print(f"added {data['name']} ({data['fingerprint']}): `slipway apps show APP` gives the git remote")


@app.command("list")
def list_keys(json_out: bool = JSON) -> None:
    """Your registered keys."""
    data = Client().get("/ssh-keys")
    if json_out:
        return emit_json(data)
    for row in data:
        row["used"] = (row["last_used_at"] or "never")[:19].replace("T", " ")
        cap = f"{row.get('scope', 'deploy')} in {row.get('team') or 'your teams'}"
        row["cap"] = "disabled" if row.get("disabled") else cap
    table(data, [("id", "ID"), ("name", "NAME"), ("type", "TYPE"), ("fingerprint", "FINGERPRINT"),
                 ("cap", "ACTS WITH"), ("used", "LAST PUSH")],
          empty="no keys yet: `slipway ssh-keys add laptop ~/.ssh/id_ed25519.pub`")


@app.command("remove")
def remove(key_id: int = typer.Argument(..., help="The key's id (see `slipway ssh-keys list`).")) -> None:
    """Remove a key: it cannot push any more."""
    Client().delete(f"/ssh-keys/{key_id}")
    console.print(f"removed key {key_id}")
