"""Custom domains through the real API and database: validation, conflicts across teams, roles, audit, and
the doctor's DNS findings against a DNS server of our own."""

from __future__ import annotations

from sqlalchemy import select

from slipway.audit.models import AuditRecord
from slipway.domains.models import Domain
from tests.dnsserver import DnsServer
from tests.security_world import World

API = "/api/v1/apps/alpha/domains"


def names(world: World) -> list[str]:
    with world.platform.sessions() as session:
        return list(session.scalars(select(Domain.name).order_by(Domain.name)))


def test_add_list_and_remove_a_domain_with_a_redirecting_name(dworld: World, dns_server: DnsServer) -> None:
    dns_server.set("shop.example.com", "A", "127.0.0.2")
    response = dworld.call("developer", "POST", API, json={"name": "Shop.Example.com.",
                                                          "redirect_from": "www.shop.example.com"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "shop.example.com" and body["app"] == "alpha"
    # DNS points here, but nothing answers on the HTTP port at 127.0.0.2: the doctor says which check failed
    checks = {f["check"]: f for f in body["findings"]}
    assert checks["dns"]["ok"] and not checks["http"]["ok"] and "firewall" in checks["http"]["fix"]
    assert body["dns_status"] == "failed"
    assert {"type": "A", "name": "shop.example.com", "value": "127.0.0.2"} in body["records"]
    listed = dworld.call("viewer", "GET", API).json()
    assert [(d["name"], d["redirect_to"]) for d in listed] == [("shop.example.com", None),
                                                               ("www.shop.example.com", "shop.example.com")]
    assert listed[1]["findings"][0]["check"] == "dns" and "no A or AAAA record" in listed[1]["findings"][0]["message"]
    assert dworld.call("developer", "DELETE", f"{API}/shop.example.com").status_code == 204
    assert names(dworld) == []  # the redirecting name went with it
    with dworld.platform.sessions() as session:
        kinds = set(session.scalars(select(AuditRecord.action)))
    assert {"domain.added", "domain.removed"} <= kinds


def test_an_idn_name_is_stored_as_punycode_and_shown_in_unicode(dworld: World) -> None:
    response = dworld.call("developer", "POST", API, json={"name": "Bücher.example"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "xn--bcher-kva.example"
    assert response.json()["display_name"] == "bücher.example"
    # the same name typed either way is the same domain
    again = dworld.call("developer", "POST", API, json={"name": "xn--bcher-kva.example"})
    assert again.status_code == 409 and "already a domain of alpha" in again.json()["error"]


def test_bad_names_are_refused_with_the_reason_and_nothing_is_created(dworld: World) -> None:
    cases = {
        "http://shop.example.com/": "no scheme, port or path",
        "localhost": "fully qualified",
        "10.0.0.1": "IP address",
        "-bad.example.com": "label",
        "*.example.com": "DNS-01",
        "apps.test": "base domain",
        "evil.apps.test": "under the base domain",
        "": "required",
    }
    for name, needle in cases.items():
        response = dworld.call("developer", "POST", API, json={"name": name})
        assert response.status_code == 422, (name, response.text)
        body = response.json()
        assert needle in body["error"] + str(body["detail"]), (name, body)
    # a bad redirecting name refuses the whole request: the good primary name is not left behind
    response = dworld.call("developer", "POST", API, json={"name": "ok.example.com", "redirect_from": "bad name"})
    assert response.status_code == 422
    assert names(dworld) == []


def test_a_name_of_another_app_is_a_conflict_that_names_the_app_only_to_those_who_see_it(dworld: World) -> None:
    assert dworld.call("developer", "POST", API, json={"name": "shared.example.com"}).status_code == 201
    # team `other` (app beta) learns the name is taken, not by what
    response = dworld.call("outsider", "POST", "/api/v1/apps/beta/domains", json={"name": "shared.example.com"})
    assert response.status_code == 409
    assert response.json()["error"] == "shared.example.com is already used by an app of another team"
    assert "alpha" not in response.text
    # nor with the name as a redirect of another domain
    response = dworld.call("outsider", "POST", "/api/v1/apps/beta/domains",
                           json={"name": "beta.example.com", "redirect_from": "shared.example.com"})
    assert response.status_code == 409 and names(dworld) == ["shared.example.com"]


def test_roles_viewers_read_developers_change(dworld: World) -> None:
    assert dworld.call("viewer", "POST", API, json={"name": "v.example.com"}).status_code == 403
    assert dworld.call("developer", "POST", API, json={"name": "d.example.com"}).status_code == 201
    assert dworld.call("viewer", "GET", f"{API}/d.example.com").status_code == 200
    assert dworld.call("viewer", "DELETE", f"{API}/d.example.com").status_code == 403
    assert dworld.call("viewer", "POST", f"{API}/d.example.com/check").status_code == 403
    # another team's member sees nothing of alpha's domains
    assert dworld.call("outsider", "GET", API).status_code in (403, 404)
    assert dworld.call("developer", "GET", f"{API}/nope.example.com").status_code == 404


def test_the_doctor_finds_foreign_addresses_a_wrong_cname_and_a_caa_for_another_ca(
        dworld: World, dns_server: DnsServer) -> None:
    dns_server.set("elsewhere.example.com", "A", "127.0.0.2", "203.0.113.9")
    dns_server.set("alias.example.com", "CNAME", "someone-else.example.net.")
    dns_server.set("someone-else.example.net", "A", "198.51.100.1")
    dns_server.set("caa.example.com", "A", "127.0.0.2")
    dns_server.set("example.com", "CAA", '0 issue "digicert.com"')
    found = {}
    for name in ("elsewhere.example.com", "alias.example.com", "caa.example.com"):
        response = dworld.call("developer", "POST", API, json={"name": name})
        assert response.status_code == 201, response.text
        found[name] = {f["check"]: f for f in response.json()["findings"] if not f["ok"]}
        assert response.json()["dns_status"] == "failed"
    assert "203.0.113.9, which is not this server" in found["elsewhere.example.com"]["dns"]["message"]
    assert "http" not in found["elsewhere.example.com"]  # never fetched from an address that is not ours
    cname = found["alias.example.com"]["cname"]["message"]
    assert "CNAME to someone-else.example.net, not to slipway.apps.test" in cname
    caa = found["caa.example.com"]["caa"]
    assert "digicert.com" in caa["message"] and 'issue "letsencrypt.org"' in caa["fix"]


def test_a_failing_domain_is_checked_again_with_backoff_until_its_dns_is_fixed(
        dworld: World, dns_server: DnsServer) -> None:
    import datetime as dt

    from slipway.db import utcnow
    from slipway.domains import checks

    assert dworld.call("developer", "POST", API, json={"name": "later.example.com"}).status_code == 201
    now = utcnow()
    assert checks.recheck_failing(dworld.platform, now=now) == 0  # just checked: not due yet
    asked = len(dns_server.asked)
    assert checks.recheck_failing(dworld.platform, now=now + dt.timedelta(seconds=61)) == 1
    assert len(dns_server.asked) > asked  # really asked DNS again
    # the interval grows with the domain's age: a day-old failing name is asked once an hour
    assert checks.recheck_interval(dt.timedelta(days=1)) == dt.timedelta(hours=1)
    assert checks.recheck_interval(dt.timedelta(minutes=8)) == dt.timedelta(minutes=2)
    dns_server.set("later.example.com", "A", "127.0.0.2")
    checks.recheck_failing(dworld.platform, now=now + dt.timedelta(minutes=5))
    body = dworld.call("viewer", "GET", f"{API}/later.example.com").json()
    assert [f["check"] for f in body["findings"] if f["ok"]][:1] == ["dns"]  # DNS fixed: now only HTTP fails


def test_the_doctor_token_is_public_and_nothing_else(dworld: World) -> None:
    from slipway.domains import doctor

    nonce = "abcdefghijklmnop0123"
    response = dworld.call("anonymous", "GET", f"/.well-known/slipway-doctor/{nonce}")
    assert response.status_code == 200 and response.text == doctor.proof(dworld.platform.settings, nonce)
    for bad in ("short", "x" * 65, "a" * 20 + "%2e%2e"):
        assert dworld.call("anonymous", "GET", f"/.well-known/slipway-doctor/{bad}").status_code == 404


def test_deleting_the_app_frees_its_domains(dworld: World) -> None:
    assert dworld.call("developer", "POST", API, json={"name": "gone.example.com",
                                                      "redirect_from": "www.gone.example.com"}).status_code == 201
    assert dworld.call("owner", "DELETE", "/api/v1/apps/alpha").status_code == 204
    assert names(dworld) == []
    response = dworld.call("outsider", "POST", "/api/v1/apps/beta/domains", json={"name": "gone.example.com"})
    assert response.status_code == 201, response.text
