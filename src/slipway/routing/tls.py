"""What the Caddy config holds for HTTPS: the `tls` app and the HTTPS server. A pure function, no I/O.

render.py builds the HTTP server from the route table; `apply` adds to it (in front of the app routes):
  - `/.well-known/acme-challenge/*` answered by Caddy alone, never routed to an app (Caddy's HTTP-01
    solver answers the challenges it is solving before any route; whatever else asks there gets a 404);
  - `/.well-known/slipway-doctor/*` proxied to the control plane (the domain doctor's token);
  - per name: a redirect to HTTPS once a certificate is served, and redirect-only names (www → apex).
It adds an HTTPS server on the HTTPS port with the same app routes for the names that have a certificate,
and the `tls` app: certificates are managed only for the names listed (explicit subjects), so Caddy never
asks a CA for a name whose DNS the doctor has not passed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

HTTPS_SERVER = "slipway_https"
ACME_CHALLENGE = "/.well-known/acme-challenge/*"
DOCTOR_PATH = "/.well-known/slipway-doctor/*"
HSTS = "max-age=31536000"


@dataclass(frozen=True)
class Site:
    host: str
    certificate: str = "acme"  # acme (Caddy obtains it) | uploaded (loaded from the plan) | none
    https_redirect: bool = False  # HTTP → HTTPS: only once a certificate is known to be served
    hsts: bool = False
    redirect_to: str | None = None  # a name that only redirects to another (www → apex)


@dataclass(frozen=True)
class Uploaded:
    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)


@dataclass(frozen=True)
class TlsPlan:
    sites: tuple[Site, ...] = ()
    uploaded: tuple[Uploaded, ...] = ()
    control_plane: str = ""  # host:port the doctor's token requests go to
    acme_ca: str = ""
    acme_test_ca: str = ""  # tried first on retries after a failure
    acme_email: str = ""
    acme_ca_root: str = ""  # a PEM file Caddy trusts for the ACME directory


def apply(config: dict[str, Any], plan: TlsPlan, *, http_port: int, https_port: int, bind_host: str,
          server_name: str) -> None:
    """Add HTTPS to a config render.py built (in place)."""
    http = config["apps"]["http"]
    server = http["servers"][server_name]
    tls_hosts = {s.host for s in plan.sites if s.certificate != "none"}
    app_routes = [r for r in server["routes"] if _hosts(r) & tls_hosts]
    front = [_challenge_guard()]
    if plan.control_plane:
        front.append(_proxy_path(DOCTOR_PATH, plan.control_plane))
    for site in plan.sites:
        if site.redirect_to is not None:
            scheme = "https" if site.https_redirect else "http"
            front.append(_redirect(site.host, scheme, site.redirect_to, http_port if scheme == "http" else https_port))
        elif site.https_redirect and site.host in tls_hosts:
            front.append(_redirect(site.host, "https", site.host, https_port))
    server["routes"] = front + server["routes"]
    if not tls_hosts:
        return
    https_routes = [_redirect(s.host, "https", s.redirect_to, https_port)
                    for s in plan.sites if s.redirect_to is not None and s.host in tls_hosts]
    https_routes += [_hsts(s.host) for s in plan.sites if s.hsts and s.host in tls_hosts and not s.redirect_to]
    https_routes += copy.deepcopy(app_routes) + [server["routes"][-1]]  # the catch-all 404
    https_server: dict[str, Any] = {
        "listen": [f"{bind_host}:{https_port}"],
        "routes": https_routes,
        # every name has a certificate in the tls app (managed or loaded); the server picks one by SNI
        "tls_connection_policies": [{}],
        # no implicit certificates or redirects: exactly the names of the plan get them
        "automatic_https": {"disable": True},
    }
    if "logs" in server:
        https_server["logs"] = copy.deepcopy(server["logs"])
    http["servers"][HTTPS_SERVER] = https_server
    config["apps"]["tls"] = _tls_app(plan, http_port)


def _tls_app(plan: TlsPlan, http_port: int) -> dict[str, Any]:
    managed = sorted({s.host for s in plan.sites if s.certificate == "acme"})
    tls: dict[str, Any] = {"certificates": {}}
    if managed:
        tls["certificates"]["automate"] = managed
        tls["automation"] = {"policies": [{"subjects": managed, "issuers": [_issuer(plan, http_port)]}]}
    if plan.uploaded:
        tls["certificates"]["load_pem"] = [{"certificate": u.cert_pem, "key": u.key_pem, "tags": ["uploaded"]}
                                           for u in plan.uploaded]
    return tls


def _issuer(plan: TlsPlan, http_port: int) -> dict[str, Any]:
    issuer: dict[str, Any] = {
        "module": "acme",
        "ca": plan.acme_ca,
        # HTTP-01 only, on the router's HTTP port: the port the doctor checked. Caddy's HTTP server answers
        # the challenge (the solver finds the port taken by it and leaves the answering to it).
        "challenges": {"http": {"alternate_port": http_port}, "tls-alpn": {"disabled": True}},
    }
    if plan.acme_test_ca:
        issuer["test_ca"] = plan.acme_test_ca
    if plan.acme_email:
        issuer["email"] = plan.acme_email
    if plan.acme_ca_root:
        issuer["trusted_roots_pem_files"] = [plan.acme_ca_root]
    return issuer


def _hosts(route: dict[str, Any]) -> set[str]:
    return {h for m in route.get("match", []) for h in m.get("host", [])}


def _challenge_guard() -> dict[str, Any]:
    return {"match": [{"path": [ACME_CHALLENGE]}],
            "handle": [{"handler": "static_response", "status_code": 404, "body": "No such challenge.\n"}],
            "terminal": True}


def _proxy_path(path: str, dial: str) -> dict[str, Any]:
    return {"match": [{"path": [path]}], "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": dial}]}],
            "terminal": True}


def _redirect(host: str, scheme: str, target: str, port: int) -> dict[str, Any]:
    default = 443 if scheme == "https" else 80
    authority = target if port == default else f"{target}:{port}"
    return {"match": [{"host": [host]}],
            "handle": [{"handler": "static_response", "status_code": 308,
                        "headers": {"Location": [f"{scheme}://{authority}{{http.request.uri}}"]}}],
            "terminal": True}


def _hsts(host: str) -> dict[str, Any]:
    # not terminal: sets the header, then the app's route answers
    return {"match": [{"host": [host]}],
            "handle": [{"handler": "headers", "response": {"set": {"Strict-Transport-Security": [HSTS]}}}]}
