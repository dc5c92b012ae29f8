"""Real issuance: `slipway server` with Caddy, Pebble as the ACME CA and pebble-challtestsrv as the DNS server
that both Pebble and the domain doctor ask. The app is reached over HTTPS with curl trusting Pebble's root."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from slipway.config import Settings
from slipway.domains import basetls
from tests.integration.hosts import Host, running_host
from tests.pebble import Pebble, available, running_pebble

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not available(), reason="needs Debian's pebble package (pebble, challtestsrv)")]

HEADERS_APP = '''\
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({"path": self.path, "proto": self.headers.get("X-Forwarded-Proto"),
                           "for": self.headers.get("X-Forwarded-For"), "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


@pytest.fixture
def pebble(settings: Settings, tmp_path: Path) -> Iterator[Pebble]:
    with running_pebble(tmp_path / "pebble", http_port=settings.http_port, tls_port=settings.https_port) as p:
        yield p


@pytest.fixture
def host(settings: Settings, tmp_path: Path, pebble: Pebble) -> Iterator[Host]:
    settings.router = "caddy"
    with running_host(settings, tmp_path) as h:
        h.env.update({"SLIPWAY_ACME_CA": pebble.directory, "SLIPWAY_ACME_CA_ROOT": str(pebble.api_ca),
                      "SLIPWAY_ACME_EMAIL": "ops@shop.test", "SLIPWAY_DNS_RESOLVERS": pebble.dns,
                      "SLIPWAY_PUBLIC_IPS": "127.0.0.1", "SLIPWAY_ACME_CAA_IDENTITIES": "pebble.test",
                      "SLIPWAY_DASHBOARD_DOMAIN": "dash.test"})
        yield h


def curl(host: Host, url_host: str, path: str = "/", *, cacert: Path | None = None, scheme: str = "https",
         include: bool = False) -> subprocess.CompletedProcess[str]:
    port = host.settings.https_port if scheme == "https" else host.settings.http_port
    args = ["curl", "-sS", "--max-time", "10", "--resolve", f"{url_host}:{port}:127.0.0.1",
            "-o", "-", "-w", "\n%{http_code} %{redirect_url}", f"{scheme}://{url_host}:{port}{path}"]
    if cacert is not None:
        args[1:1] = ["--cacert", str(cacert)]
    if include:
        args.insert(1, "-i")
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def wait_for(check, timeout: float = 60.0, every: float = 0.5):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def test_a_domain_whose_doctor_passes_gets_a_certificate_and_answers_over_https(
        host: Host, pebble: Pebble, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    repo = make_repo(files={"app.py": HEADERS_APP, "requirements.txt": "", "Procfile": "web: python app.py\n"})
    host.cli_json("apps", "create", "hello", "--git", repo.url, "--branch", "main")
    host.cli("deploy", "hello")

    added = host.cli_json("domains", "add", "hello", "shop.test", "--redirect-from", "www.shop.test", "--hsts")
    assert added["dns_status"] == "ok", added["findings"]
    assert {f["check"] for f in added["findings"]} >= {"dns", "caa", "http"}

    root = pebble.root_pem()
    answer = wait_for(lambda: (r := curl(host, "shop.test", "/hi", cacert=root)).returncode == 0 and r, 90)
    body, status = answer.stdout.rsplit("\n", 1)
    assert status.startswith("200"), answer.stdout
    seen = json.loads(body)
    assert seen["path"] == "/hi" and seen["proto"] == "https" and seen["for"] == "127.0.0.1"
    headers = curl(host, "shop.test", "/", cacert=root, include=True).stdout.lower()
    assert "strict-transport-security: max-age=31536000" in headers

    # the server's periodic read of the served certificates notices it by itself (every 30 s): cert.issued
    wait_for(lambda: any(d["certificate"]["served"] for d in host.cli_json("domains", "list", "hello")
                         if d["name"] == "shop.test"), 45, 1.0)
    activity = httpx.get(f"{host.settings.api_url}/api/v1/apps/hello/activity", timeout=10,
                         headers={"Authorization": f"Bearer {host.env['SLIPWAY_TOKEN']}"}).json()
    assert "cert.issued" in {a["action"] for a in activity}, activity
    # the served certificate is read back: issuer, expiry, and from then on HTTP redirects to HTTPS
    checked = host.cli_json("domains", "check", "hello", "shop.test")
    assert checked["certificate"]["served"] and "Pebble" in (checked["certificate"]["issuer"] or "")
    assert checked["certificate"]["days_left"] > 1
    plain = curl(host, "shop.test", "/x?y=1", scheme="http")
    assert plain.stdout.endswith(f"308 https://shop.test:{host.settings.https_port}/x?y=1"), plain.stdout
    www = curl(host, "www.shop.test", "/a", scheme="http")
    assert www.stdout.split("\n")[-1].startswith("308 ") and "://shop.test:" in www.stdout, www.stdout
    # the ACME challenge path never reaches an app, on its host or on the app's own host
    for name in ("shop.test", "hello.localhost"):
        guarded = httpx.get(f"http://127.0.0.1:{host.settings.http_port}/.well-known/acme-challenge/abc",
                            headers={"Host": name}, timeout=5)
        assert guarded.status_code in (404, 308) and '"path"' not in guarded.text
    table = host.cli("domains", "list", "hello").stdout  # for people: one line per name, through a pipe
    [line] = [row for row in table.splitlines() if row.startswith("shop.test ")]
    assert " ok " in line and "Pebble" in line and str(checked["certificate"]["days_left"]) in line
    assert any(row.startswith("www.shop.test → shop.test") for row in table.splitlines()), table
    assert "shop.test" in host.cli("certs", "list").stdout
    listed = host.cli_json("certs", "list")
    assert [(c["hostname"], c["ok"]) for c in listed if c["hostname"] == "shop.test"] == [("shop.test", True)]

    # the dashboard at its own name, over HTTPS: its cookies are Secure (the scheme Caddy forwarded)
    login = wait_for(lambda: (r := curl(host, "dash.test", "/login", cacert=root, include=True)).returncode == 0
                     and r, 60)
    cookies = [line.lower() for line in login.stdout.splitlines() if line.lower().startswith("set-cookie:")]
    assert cookies and all("; secure" in c for c in cookies), login.stdout
    plain_dash = curl(host, "dash.test", "/login", scheme="http")
    assert plain_dash.stdout.split("\n")[-1].startswith("308 https://dash.test:"), plain_dash.stdout
    # the config with TLS reads back from Caddy as it was loaded: the router watchdog (every 5 s) never
    # mistakes it for a lost config and reloads it (a reload would close every connection)
    time.sleep(6)
    assert "lost the route table" not in host.logs()


def test_a_domain_pointing_elsewhere_is_refused_by_the_doctor_and_never_requested(
        host: Host, pebble: Pebble, make_repo) -> None:  # type: ignore[no-untyped-def]
    host.server()
    host.login()
    host.cli_json("apps", "create", "hello", "--git", make_repo().url, "--branch", "main")
    pebble.set_a("elsewhere.test", "10.1.2.3")
    added = host.cli_json("domains", "add", "hello", "elsewhere.test")
    assert added["dns_status"] == "failed"
    [dns] = [f for f in added["findings"] if f["check"] == "dns"]
    assert not dns["ok"] and "10.1.2.3" in dns["message"] and "127.0.0.1" in dns["fix"]
    check = host.cli("domains", "check", "hello", "elsewhere.test", check=False)
    assert check.returncode == 1 and "FAIL" in check.stdout
    time.sleep(3)  # what Caddy would need to start an order, were it asked to
    assert "elsewhere.test" not in (pebble.workdir / "pebble.log").read_text(errors="replace")
    assert curl(host, "elsewhere.test", "/").returncode != 0  # no certificate is served for it


def test_an_uploaded_certificate_and_the_app_hosts_are_served_over_https(host: Host, pebble: Pebble, make_repo,  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    from tests.pebble import make_ca_and_leaf

    own = tmp_path / "own"
    own.mkdir()
    ca, leaf, key = make_ca_and_leaf(own, ["own.test"])
    bundle = tmp_path / "roots.pem"  # the ACME directory's CA and our private CA
    bundle.write_text(pebble.api_ca.read_text() + ca.read_text())
    host.env["SLIPWAY_ACME_CA_ROOT"] = str(bundle)
    # and the apps' own hosts under a public base domain, each with its certificate
    host.env.update({"SLIPWAY_BASE_DOMAIN": "apps.test", "SLIPWAY_TLS_BASE_DOMAIN": "true"})
    host.server()
    host.login()
    repo = make_repo(files={"app.py": HEADERS_APP, "requirements.txt": "", "Procfile": "web: python app.py\n"})
    host.cli_json("apps", "create", "hello", "--git", repo.url, "--branch", "main")
    host.cli("deploy", "hello")
    pebble.set_a("own.test", "10.1.2.3")  # the doctor fails: only the uploaded certificate can serve it
    assert host.cli_json("domains", "add", "hello", "own.test")["dns_status"] == "failed"
    wrong = host.cli("certs", "upload", "hello", "own.test", "--cert", str(leaf), "--key", str(own / "ca.pem"),
                     check=False)
    assert wrong.returncode != 0 and "PEM private key" in wrong.stderr + wrong.stdout
    uploaded = host.cli_json("certs", "upload", "hello", "own.test", "--cert", str(leaf), "--key", str(key))
    assert uploaded["certificate"]["source"] == "uploaded"
    answer = wait_for(lambda: (r := curl(host, "own.test", "/mine", cacert=ca)).returncode == 0 and r, 30)
    assert json.loads(answer.stdout.rsplit("\n", 1)[0])["path"] == "/mine"
    [served] = [c for c in host.cli_json("certs", "list") if c["hostname"] == "own.test"]
    assert served["ok"] and served["expected"] == "uploaded" and served["issuer"] == "slipway test CA"
    assert "own.test" not in (pebble.workdir / "pebble.log").read_text(errors="replace")  # never asked the CA
    root = pebble.root_pem()
    own_host = wait_for(lambda: (r := curl(host, "hello.apps.test", "/app", cacert=root)).returncode == 0 and r, 90)
    assert json.loads(own_host.stdout.rsplit("\n", 1)[0])["proto"] == "https"
    # asked of the CA only after the doctor passed for a name under the base domain (the wildcard's answer)
    [app_host] = [c for c in host.cli_json("certs", "list") if c["hostname"] == "hello.apps.test"]
    assert app_host["expected"] == "acme" and app_host["ok"], app_host
    state = basetls.load(host.settings.model_copy(update={"base_domain": "apps.test"}))
    assert state.passed and {f.check for f in state.findings} >= {"dns", "http"}, state


def test_a_lost_certificate_is_noticed_by_the_periodic_check(host: Host, pebble: Pebble, make_repo) -> None:  # type: ignore[no-untyped-def]
    """Caddy's storage loses the certificate and Caddy restarts while the CA cannot validate the name any more
    (its DNS now points elsewhere): Caddy serves nothing for the name, and the periodic read of the served
    certificates (no command run) marks the domain in error and emits cert.renewal_failed."""
    host.server(SLIPWAY_CERT_CHECK_INTERVAL="1")  # every round of the 30 s task reads every name again
    host.login()
    repo = make_repo(files={"app.py": HEADERS_APP, "requirements.txt": "", "Procfile": "web: python app.py\n"})
    host.cli_json("apps", "create", "hello", "--git", repo.url, "--branch", "main")
    host.cli("deploy", "hello")
    assert host.cli_json("domains", "add", "hello", "lost.test")["dns_status"] == "ok"
    root = pebble.root_pem()
    wait_for(lambda: curl(host, "lost.test", "/", cacert=root).returncode == 0, 90)
    wait_for(lambda: _lost_test(host)["certificate"]["served"], 45, 1.0)

    pebble.set_a("lost.test", "10.9.9.9")  # the CA's HTTP-01 validation can no longer reach this server
    caddy_dir = host.settings.caddy_admin_socket.parent
    stored = [p for p in caddy_dir.rglob("lost.test") if p.is_dir() and "certificates" in p.parts]
    assert stored, sorted(str(p) for p in caddy_dir.rglob("*"))
    for directory in stored:
        shutil.rmtree(directory)
    os.kill(int((caddy_dir / "caddy.pid").read_text()), signal.SIGKILL)  # the router restarts it (5 s check)
    wait_for(lambda: curl(host, "lost.test", "/", cacert=root).returncode != 0, 60)

    broken = wait_for(lambda: (d := _lost_test(host))["certificate"]["last_error"] and d, 90, 2.0)
    assert not broken["certificate"]["served"]
    activity = httpx.get(f"{host.settings.api_url}/api/v1/apps/hello/activity", timeout=10,
                         headers={"Authorization": f"Bearer {host.env['SLIPWAY_TOKEN']}"}).json()
    failed = [a for a in activity if a["action"] == "cert.renewal_failed"]
    assert len(failed) == 1, activity
    [listed] = [c for c in host.cli_json("certs", "list") if c["hostname"] == "lost.test"]
    assert not listed["ok"] and listed["error"]


def _lost_test(host: Host) -> dict[str, Any]:
    [domain] = [d for d in host.cli_json("domains", "list", "hello") if d["name"] == "lost.test"]
    return domain
