"""What routing/tls.py adds to the rendered Caddy config: certificates only for the plan's names, the ACME
challenge path answered before any app route, redirects only once a certificate is served."""

from __future__ import annotations

from slipway.routing.base import Route, RouteTable, Upstream
from slipway.routing.render import render
from slipway.routing.tls import HTTPS_SERVER, Site, TlsPlan


def _config(plan: TlsPlan) -> dict:  # type: ignore[type-arg]
    routes = [Route(host="hello.localhost", upstreams=(Upstream("127.0.0.1:10001"),), app="hello"),
              Route(host="shop.example.com", upstreams=(Upstream("127.0.0.1:10001"),), app="hello"),
              Route(host="wait.example.com", upstreams=(Upstream("127.0.0.1:10001"),), app="hello")]
    return render(RouteTable(routes, tls=plan), http_port=8080, https_port=8443, admin="unix//tmp/a.sock")


PLAN = TlsPlan(sites=(Site("shop.example.com", "acme", https_redirect=True, hsts=True),
                      Site("www.shop.example.com", "acme", https_redirect=True, redirect_to="shop.example.com"),
                      Site("wait.example.com", "none")),
               control_plane="127.0.0.1:8300", acme_ca="https://ca.test/dir", acme_email="ops@example.com",
               acme_ca_root="/etc/ca.pem")


def test_certificates_are_managed_only_for_names_the_doctor_passed() -> None:
    tls = _config(PLAN)["apps"]["tls"]
    assert tls["certificates"]["automate"] == ["shop.example.com", "www.shop.example.com"]
    [policy] = tls["automation"]["policies"]
    assert policy["subjects"] == ["shop.example.com", "www.shop.example.com"]
    [issuer] = policy["issuers"]
    assert issuer["ca"] == "https://ca.test/dir" and issuer["email"] == "ops@example.com"
    assert issuer["trusted_roots_pem_files"] == ["/etc/ca.pem"]
    assert issuer["challenges"]["http"]["alternate_port"] == 8080


def test_the_challenge_path_and_redirects_come_before_the_app_routes() -> None:
    config = _config(PLAN)
    routes = config["apps"]["http"]["servers"]["slipway"]["routes"]
    assert routes[0]["match"] == [{"path": ["/.well-known/acme-challenge/*"]}]
    assert routes[0]["handle"][0]["status_code"] == 404
    assert routes[1]["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:8300"}]  # the doctor's token
    locations = {r["match"][0]["host"][0]: r["handle"][0]["headers"]["Location"][0] for r in routes[2:4]}
    assert locations == {"shop.example.com": "https://shop.example.com:8443{http.request.uri}",
                         "www.shop.example.com": "https://shop.example.com:8443{http.request.uri}"}
    # a name without a certificate keeps its plain HTTP route and gets no HTTPS one
    https = config["apps"]["http"]["servers"][HTTPS_SERVER]
    https_hosts = {h for r in https["routes"] for m in r.get("match", []) for h in m.get("host", [])}
    assert "wait.example.com" not in https_hosts and "hello.localhost" not in https_hosts
    assert https["listen"] == [":8443"] and https["tls_connection_policies"] == [{}]
    hsts = [r for r in https["routes"] if r["handle"][0]["handler"] == "headers"]
    assert hsts[0]["match"] == [{"host": ["shop.example.com"]}] and "terminal" not in hsts[0]


def test_no_redirect_before_a_certificate_is_served_and_no_tls_app_without_names() -> None:
    config = _config(TlsPlan(sites=(Site("wait.example.com", "none", https_redirect=False),),
                             control_plane="127.0.0.1:8300"))
    routes = config["apps"]["http"]["servers"]["slipway"]["routes"]
    assert not any(r["handle"][0].get("status_code") == 308 for r in routes)
    assert "tls" not in config["apps"] and HTTPS_SERVER not in config["apps"]["http"]["servers"]


def test_retries_after_a_failure_go_to_the_staging_ca_first() -> None:
    from slipway.config import Settings
    from slipway.domains.routes import LETS_ENCRYPT_STAGING, plan

    default = plan(Settings(), [], [])
    assert default.acme_ca.startswith("https://acme-v02.api.letsencrypt.org") and default.acme_test_ca == \
        LETS_ENCRYPT_STAGING
    private = plan(Settings(acme_ca="https://ca.internal/dir"), [], [])
    assert private.acme_test_ca == ""  # no staging endpoint known for another CA unless configured
    configured = plan(Settings(acme_ca="https://ca.internal/dir", acme_staging_ca="https://ca.internal/staging"),
                      [Site("shop.example.com")], [])
    [policy] = _config(configured)["apps"]["tls"]["automation"]["policies"]
    assert policy["issuers"][0]["test_ca"] == "https://ca.internal/staging"
