"""domains add | list | check | remove, and certs list | upload: custom domains and their certificates."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from slipway.cli.client import Client
from slipway.cli.output import console, emit_json, escape, table

domains = typer.Typer(no_args_is_help=True)
certs = typer.Typer(no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print JSON for scripts.")


def _path(app: str, name: str | None = None) -> str:
    return f"/apps/{quote(app, safe='')}/domains" + (f"/{quote(name, safe='')}" if name else "")


def _certificate(cert: dict[str, Any]) -> str:
    if cert.get("last_error"):
        return "error"
    if not cert.get("not_after"):
        return "none yet"
    return f"{cert.get('issuer') or '?'}, expires {cert['not_after'][:10]} ({cert['days_left']} days left)"


def _findings(domain: dict[str, Any]) -> None:
    console.print(f"[bold]{escape(domain['display_name'])}[/bold] ({escape(domain['name'])}): "
                  f"DNS {escape(domain['dns_status'])}")
    for finding in domain["findings"]:
        mark = "[green]ok[/green]  " if finding["ok"] else "[red]FAIL[/red]"
        line = f"  {mark} {escape(finding['message'])}"
        if not finding["ok"] and finding["fix"]:
            line += f" [dim]→ {escape(finding['fix'])}[/dim]"
        console.print(line)
    cert = domain["certificate"]
    console.print(f"  certificate: {escape(_certificate(cert))}")
    if cert.get("last_error"):
        console.print(f"  [red]{escape(cert['last_error'])}[/red]")


@domains.command("add")
def add(app: str, name: str,
        redirect_from: str = typer.Option(None, "--redirect-from", help="A second name that redirects to NAME."),
        hsts: bool = typer.Option(False, "--hsts", help="Send Strict-Transport-Security over HTTPS."),
        no_https_redirect: bool = typer.Option(False, "--no-https-redirect",
                                               help="Keep answering HTTP (no redirect to HTTPS)."),
        json_out: bool = JSON) -> None:
    """Add a custom domain; the domain doctor runs at once and a certificate follows when it passes."""
    data = Client().post(_path(app), json={"name": name, "redirect_from": redirect_from, "hsts": hsts,
                                           "https_redirect": not no_https_redirect})
    if json_out:
        return emit_json(data)
    _findings(data)
    if data["dns_status"] != "ok":
        console.print("create these records, then run `slipway domains check "
                      f"{escape(app)} {escape(data['name'])}`:")
        for record in data["records"]:
            console.print(f"  {record['type']:<5} {escape(record['name'])} → {escape(record['value'])}")


@domains.command("list")
def list_domains(app: str, json_out: bool = JSON) -> None:
    """Domains of APP: DNS status and the certificate served (issuer, expiry, days left, last error)."""
    data = Client().get(_path(app))
    if json_out:
        return emit_json(data)
    rows = []
    for d in data:
        cert = d["certificate"]
        rows.append({"name": d["display_name"] + (f" → {d['redirect_to']}" if d["redirect_to"] else ""),
                     "dns": d["dns_status"], "issuer": cert.get("issuer") or "",
                     "expires": (cert.get("not_after") or "")[:10],
                     "days": "" if cert.get("days_left") is None else str(cert["days_left"]),
                     "error": cert.get("last_error") or next((f["message"] for f in d["findings"] if not f["ok"]), "")})
    table(rows, [("name", "NAME"), ("dns", "DNS"), ("issuer", "ISSUER"), ("expires", "EXPIRES"),
                 ("days", "DAYS LEFT"), ("error", "LAST ERROR")],
          empty=f"no custom domains: slipway domains add {app} shop.example.com")


@domains.command("check")
def check(app: str, name: str, json_out: bool = JSON) -> None:
    """Run the domain doctor on NAME now, and read the certificate the router serves for it."""
    data = Client().post(_path(app, name) + "/check")
    if json_out:
        return emit_json(data)
    _findings(data)
    if not all(f["ok"] for f in data["findings"]):
        raise typer.Exit(1)


@domains.command("remove")
def remove(app: str, name: str) -> None:
    """Remove NAME (and the names that redirect to it) from APP."""
    Client().delete(_path(app, name))
    console.print(f"removed {escape(name)} from {escape(app)}")


@certs.command("list")
def list_certs(json_out: bool = JSON) -> None:
    """Every hostname Slipway serves, read from the certificate the router actually presents."""
    data = Client().get("/certs")
    if json_out:
        return emit_json(data)
    rows = [{**c, "state": _state(c),
             "expires": (c.get("not_after") or "")[:10],
             "days": "" if c.get("days_left") is None else str(c["days_left"]), "app": c.get("app") or "",
             "issuer": c.get("issuer") or "", "error": c.get("error") or ""} for c in data]
    table(rows, [("hostname", "HOSTNAME"), ("kind", "KIND"), ("app", "APP"), ("state", "STATE"), ("issuer", "ISSUER"),
                 ("expires", "EXPIRES"), ("days", "DAYS LEFT"), ("error", "ERROR")],
          empty="no hostname is served over HTTPS yet")


def _state(cert: dict[str, Any]) -> str:
    if cert["expected"] == "none":
        return "http only"
    if cert["expected"] == "pending":  # the base domain's doctor has not passed: no certificate asked yet
        return "WAITING"
    return "ok" if cert["ok"] else "ERROR"


@certs.command("upload")
def upload(app: str, name: str,
           cert: Path = typer.Option(..., "--cert", exists=True, dir_okay=False, help="PEM chain (leaf first)."),
           key: Path = typer.Option(..., "--key", exists=True, dir_okay=False, help="PEM private key."),
           json_out: bool = JSON) -> None:
    """Serve your own certificate for NAME (validated, stored encrypted; Slipway warns before it expires)."""
    data = Client().request("PUT", _path(app, name) + "/certificate",
                            json={"cert": cert.read_text(), "key": key.read_text()})
    if json_out:
        return emit_json(data)
    _findings(data)


def register(root: typer.Typer) -> None:
    root.add_typer(domains, name="domains", help="Custom domains of an app, and the domain doctor.")
    root.add_typer(certs, name="certs", help="Certificates served for every hostname; upload your own.")
