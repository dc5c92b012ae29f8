"""The dashboard's side of `git push`: keys on the account page, the remote on an app's page."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from slipway.gitpush import keys

from .conftest import Dashboard
from .test_observe_dashboard import log_in

pytestmark = pytest.mark.e2e


def test_add_and_remove_an_ssh_key(dashboard: Dashboard, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ada@laptop", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text()
    log_in(page, dashboard.url, "/account")
    card = page.locator("#ssh-keys")
    expect(card).to_contain_text("No keys yet")

    card.locator("input[name=name]").fill("laptop")
    card.locator("textarea[name=public_key]").fill(key.read_text())  # the private key, by mistake
    card.locator("button:has-text('Add key')").click()
    expect(page.locator(".flash")).to_contain_text("that is a private key")

    card.locator("input[name=name]").fill("laptop")
    card.locator("textarea[name=public_key]").fill(public)
    card.locator("button:has-text('Add key')").click()
    expect(page.locator(".flash")).to_contain_text("it may push to your apps")
    fingerprint = keys.parse(public)[2]
    expect(card.locator("tbody tr")).to_have_count(1)
    expect(card.locator("tbody tr").first).to_contain_text(fingerprint)
    authorized = keys.authorized_keys_path(dashboard.platform.settings)
    assert authorized is not None and public.split()[1] in authorized.read_text()

    card.locator("button:has-text('Remove')").click()
    expect(page.locator(".flash")).to_contain_text("cannot push any more")
    expect(card).to_contain_text("No keys yet")
    assert public.split()[1] not in authorized.read_text()
    assert page.js_errors == []


def test_an_app_without_a_git_url_shows_its_push_remote(dashboard: Dashboard, page: Any) -> None:
    from playwright.sync_api import expect

    log_in(page, dashboard.url, "/")
    page.fill("#new-app input[name=name]", "pushed")
    page.click("#new-app button:has-text('Create')")
    expect(page).to_have_url(dashboard.url + "/apps/pushed")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("pushes on main")
    expect(facts).to_contain_text("git remote add slipway " + dashboard.platform.settings.git_remote("pushed"))
    page.screenshot(path="/tmp/slipway-git-push-app.png", full_page=True)
