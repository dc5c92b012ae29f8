"""The dashboard in a real browser: log in, create an app, deploy it and watch the log stream,
set an env var, roll back, stop and start — against the real local runtime and a real worker."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from slipway.routing.base import MemoryRouter

from .conftest import PASSWORD, USER, Dashboard

pytestmark = pytest.mark.e2e
DEPLOY_TIMEOUT = 120_000  # ms: a first build makes a virtualenv


def serve(dashboard: Dashboard, app: str) -> dict[str, Any]:
    """What the app's routed web instance answers."""
    router = dashboard.platform.router
    assert isinstance(router, MemoryRouter)
    route = next(r for r in router.table.routes if r.app == app)
    return httpx.get(f"http://{route.upstreams[0].dial}/", timeout=5).json()  # type: ignore[no-any-return]


def wait_for_deploy(page: Any, expect: Any, status: str = "succeeded") -> None:
    """On a deploy page: the log streams in, the steps advance, the `end` event shows the outcome."""
    expect(page).to_have_url(re.compile(r"/apps/[a-z0-9-]+/deploys/\d+$"))
    expect(page.locator("#log .line").first).to_be_visible(timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#outcome")).to_have_text(status.replace("_", " "), timeout=DEPLOY_TIMEOUT)
    expect(page.locator("#deploy-status .badge").first).to_have_text(status.replace("_", " "))


def test_deploy_an_app_from_the_dashboard(dashboard: Dashboard, page: Any, make_repo: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    repo = make_repo("hello")
    base = dashboard.url

    # every page needs a session: the browser lands on the login form, and comes back after it
    page.goto(base + "/apps/hello")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fapps%2Fhello$"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", "not the password")
    page.click("button:has-text('Log in')")
    expect(page.locator(".error")).to_have_text("wrong username or password")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page).to_have_url(base + "/apps/hello")  # not created yet: a 404 page, but logged in
    expect(page.locator("h1")).to_have_text("Something went wrong")

    # a new app: a service error shows inline, then the app is created
    page.goto(base + "/")
    expect(page.locator("#apps")).to_contain_text("No apps yet")
    page.fill("#new-app input[name=name]", "Hello!")
    page.fill("#new-app input[name=git_url]", repo.url)
    page.click("#new-app button:has-text('Create')")
    expect(page.locator("#new-app .error")).to_contain_text("invalid app name")
    expect(page.locator("#new-app input[name=git_url]")).to_have_value(repo.url)
    page.fill("#new-app input[name=name]", "hello")
    page.click("#new-app button:has-text('Create')")
    expect(page).to_have_url(base + "/apps/hello")
    expect(page.locator("#live .badge").first).to_have_text("new")

    # deploy: the log streams in and the outcome arrives with the `end` event
    page.click("button:has-text('Deploy')")
    expect(page.locator("#log .line").first).to_be_visible(timeout=DEPLOY_TIMEOUT)
    page.screenshot(path="/tmp/slipway-deploy-running.png")
    wait_for_deploy(page, expect)
    log = page.locator("#log").inner_text()
    assert "-----> Fetching" in log and "-----> Building" in log and "Switching traffic to v1" in log
    assert page.locator("ol.steps li.step-done").count() == 7  # … switch, watch (the crash watch), drain
    page.screenshot(path="/tmp/slipway-deploy-page.png", full_page=True)

    # the instance runs, and the apps list shows it (the list refreshes itself)
    page.click(".crumbs a:has-text('hello')")
    expect(page.locator("#instances")).to_contain_text("running")
    expect(page.locator("#live .badge").first).to_have_text("running")
    assert serve(dashboard, "hello")["version"] == "1"

    # an env var: stored, masked in the table, rolled out with a new release
    page.fill("#env textarea[name=lines]", "GREETING=hello-from-the-browser")
    page.click("#env button:has-text('Set')")
    expect(page.locator(".flash")).to_contain_text("Set GREETING; rolling out in deploy")
    row = page.locator("#env tr[data-key=GREETING]")
    expect(row.locator("td.value")).to_have_text("••••••••")
    assert "hello-from-the-browser" not in page.content()
    page.click(".flash a:has-text('Follow it')")
    wait_for_deploy(page, expect)
    assert serve(dashboard, "hello") == {"version": "1", "greeting": "hello-from-the-browser", "release": "2"}

    # revealing is an explicit act (a POST with the CSRF token), swapped in by htmx
    page.goto(base + "/apps/hello")
    page.click("#env button:has-text('Reveal values')")
    expect(page.locator("#env tr[data-key=GREETING] td.value")).to_have_text("hello-from-the-browser")

    # a new commit, deployed, then rolled back to v1 from the releases table
    repo.commit({"version.txt": "2\n"}, "v2")
    page.click("button:has-text('Deploy')")
    wait_for_deploy(page, expect)
    assert serve(dashboard, "hello")["version"] == "2"
    page.goto(base + "/apps/hello")
    expect(page.locator("#releases tr[data-release='3']")).to_contain_text("live")
    page.click("#releases tr[data-release='1'] button:has-text('Roll back to v1')")
    wait_for_deploy(page, expect)
    assert "Building" not in page.locator("#log").inner_text()
    assert serve(dashboard, "hello") == {"version": "1", "greeting": "", "release": "4"}

    # stop, then start again
    page.goto(base + "/apps/hello")
    page.click(".actions button:has-text('Stop')")
    wait_for_deploy(page, expect)
    page.goto(base + "/apps/hello")
    expect(page.locator("#live .badge").first).to_have_text("stopped")
    expect(page.locator("#live")).to_contain_text("No instance is running")
    page.click(".actions button:has-text('Start')")
    wait_for_deploy(page, expect)
    page.goto(base + "/apps/hello")
    expect(page.locator("#live .badge").first).to_have_text("running")
    expect(page.locator("#instances")).to_contain_text("running")
    assert serve(dashboard, "hello")["version"] == "1"
    page.screenshot(path="/tmp/slipway-app-page.png", full_page=True)

    page.goto(base + "/")
    expect(page.locator("#apps tr[data-app=hello]")).to_contain_text("running")
    expect(page.locator("#apps tr[data-app=hello]")).to_contain_text("v4")
    page.screenshot(path="/tmp/slipway-apps-page.png", full_page=True)
    assert page.js_errors == []


def test_delete_an_app_after_confirming(dashboard: Dashboard, page: Any, make_repo: Callable[..., Any]) -> None:
    from playwright.sync_api import expect

    repo = make_repo("bye")
    page.goto(dashboard.url + "/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.fill("#new-app input[name=name]", "bye")
    page.fill("#new-app input[name=git_url]", repo.url)
    page.click("#new-app button:has-text('Create')")
    expect(page).to_have_url(dashboard.url + "/apps/bye")
    page.click("a:has-text('Delete app')")
    page.fill("input[name=confirm]", "wrong")
    page.click("button:has-text('Delete bye')")
    expect(page.locator(".error")).to_contain_text("type bye to confirm")
    page.fill("input[name=confirm]", "bye")
    page.click("button:has-text('Delete bye')")
    expect(page).to_have_url(dashboard.url + "/")
    expect(page.locator(".flash")).to_have_text("Deleted bye.")
    expect(page.locator("#apps")).to_contain_text("No apps yet")
    page.click("button:has-text('Log out')")
    expect(page).to_have_url(dashboard.url + "/login")
    page.goto(dashboard.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    assert page.js_errors == []
