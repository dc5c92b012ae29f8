"""The dashboard's side of git-driven deploys: SSH keys on the account page, the push remote on an app's
page, scheduling a deploy and cancelling it."""

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


def test_schedule_a_deploy_and_cancel_it(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    from playwright.sync_api import expect
    from sqlalchemy import select

    from slipway.apps import service as app_service
    from slipway.db import transaction
    from slipway.deploys.models import Deploy

    repo = make_repo("later")
    with transaction(dashboard.platform.sessions) as session:
        app_service.create(session, name="later", git_url=repo.url, actor="test")
    log_in(page, dashboard.url, "/apps/later")
    page.locator("#schedule summary").click()
    form = page.locator("#schedule form")
    form.locator("input[name=at]").fill("2020-01-01T03:00")  # in the past
    form.locator("button:has-text('Schedule')").click()
    expect(page.locator(".flash")).to_contain_text("is in the past")

    page.locator("#schedule summary").click()
    form.locator("input[name=at]").fill("2099-12-01T03:00")
    form.locator("input[name=tz]").fill("Europe/Lisbon")
    form.locator("button:has-text('Schedule')").click()
    expect(page.locator(".flash")).to_contain_text("scheduled for 2099-12-01 03:00 UTC")
    row = page.locator("#deploys tbody tr").first
    expect(row).to_contain_text("scheduled")
    expect(row).to_contain_text("due 2099-12-01 03:00")
    row.locator("button:has-text('Cancel')").click()
    expect(page.locator(".flash")).to_contain_text("cancelled: it will not run")
    expect(page.locator("#deploys tbody tr").first).to_contain_text("cancelled")
    with dashboard.platform.sessions() as session:
        [deploy] = list(session.scalars(select(Deploy)))
    assert deploy.status == "cancelled" and deploy.reason == "cancelled by user:ada"
    assert page.js_errors == []
