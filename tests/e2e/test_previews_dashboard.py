"""The Previews tab in a real browser: a pull request's preview is listed; what previews get is set there
(shared production vars, preview-only values shown masked, the cap); a preview is removed with a click."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.unit.hooks.payloads import signed
from tests.unit.previews.payloads import github_pull

from slipway.apps import service as app_service
from slipway.db import transaction
from slipway.hooks import service as hook_service
from slipway.previews import service as previews

from .conftest import Dashboard
from .test_observe_dashboard import log_in

pytestmark = pytest.mark.e2e


def test_previews_tab(dashboard: Dashboard, page: Any, make_repo: Any) -> None:
    from playwright.sync_api import expect

    repo = make_repo("shop")
    with transaction(dashboard.platform.sessions) as session:
        app = app_service.create(session, name="shop", git_url=repo.url, actor="test")
        hook = hook_service.ensure(session, dashboard.platform.box, app)
        hook_id, secret = hook.hook_id, hook_service.secret(dashboard.platform.box, hook)
    body, headers = signed("github", secret, github_pull("opened", 7, repo.head()), event="pull_request",
                           delivery="pr-7")
    assert httpx.post(f"{dashboard.url}/hooks/github/{hook_id}", content=body, headers=headers).status_code == 202

    log_in(page, dashboard.url, "/apps/shop/previews")
    row = page.locator("#previews tr[data-preview='7']")
    expect(row).to_contain_text("Update the README with new information.")
    expect(row).to_contain_text("changes")
    expect(row.locator("a[href='https://github.com/Codertocat/Hello-World/pull/7']")).to_be_visible()

    settings = page.locator("#preview-settings")
    settings.locator("input[name=shared_keys]").fill("PUBLIC_URL, LOG_LEVEL")
    settings.locator("input[name=max_previews]").fill("many")
    settings.locator("button:has-text('Save')").click()
    expect(page.locator(".flash")).to_contain_text("a whole number from 0 to 1000")
    settings.locator("input[name=shared_keys]").fill("PUBLIC_URL, LOG_LEVEL")
    settings.locator("input[name=max_previews]").fill("3")
    expect(settings.locator("input[name=forks]")).not_to_be_checked()  # fork previews are opt-in
    settings.locator("input[name=forks]").check()
    settings.locator("button:has-text('Save')").click()
    expect(page.locator(".flash")).to_contain_text("Saved")
    expect(settings.locator("input[name=shared_keys]")).to_have_value("LOG_LEVEL, PUBLIC_URL")  # kept sorted

    overrides = page.locator("#preview-overrides")
    overrides.locator("textarea[name=lines]").fill("DATABASE_URL=postgres://preview-db/shop\nnot a pair")
    overrides.locator("button:has-text('Set')").click()
    expect(page.locator(".flash")).to_contain_text("line 2: expected KEY=VALUE")
    overrides.locator("textarea[name=lines]").fill("DATABASE_URL=postgres://preview-db/shop")
    overrides.locator("button:has-text('Set')").click()
    expect(overrides).to_contain_text("DATABASE_URL")
    assert "preview-db" not in overrides.inner_text()  # masked
    with dashboard.platform.sessions() as session:
        config = previews.get_config(session, app_service.get(session, "shop"))
        assert config.shared_keys == ["LOG_LEVEL", "PUBLIC_URL"] and config.max_previews == 3 and config.forks
        assert previews.overrides(dashboard.platform.box, config) == {"DATABASE_URL": "postgres://preview-db/shop"}

    row.locator("button:has-text('Remove')").click()
    expect(page.locator(".flash")).to_contain_text("Preview #7 is being removed")
    with dashboard.platform.sessions() as session:
        [preview] = previews.list_previews(session, app_service.get(session, "shop"), include_closed=True)
    assert preview.state in ("closing", "closed")
    page.screenshot(path="/tmp/slipway-previews-tab.png", full_page=True)
    assert page.js_errors == []
