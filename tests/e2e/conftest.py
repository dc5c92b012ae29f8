"""Browser fixtures: the real app under uvicorn (real local runtime, a real worker), and Chromium.

Everything started here is stopped at teardown, even when the test fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import free_port

from slipway.app import create_app
from slipway.auth import service as auth_service
from slipway.config import Settings
from slipway.db import transaction
from slipway.platform import Platform, build_platform
from slipway.routing.base import MemoryRouter
from slipway.server import Background

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
USER, PASSWORD = "ada", "correct horse battery"


@dataclass
class Dashboard:
    url: str
    platform: Platform


@pytest.fixture
def dashboard(settings: Settings) -> Iterator[Dashboard]:
    platform = build_platform(settings, router=MemoryRouter())
    with transaction(platform.sessions) as session:
        auth_service.create_user(session, username=USER, password=PASSWORD)
    background = Background(platform, workers=1, router=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(platform=platform, background=False), host="127.0.0.1",
                                           port=port, log_config=None, log_level="warning", ws="none",
                                           timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, name="uvicorn-e2e", daemon=True)
    background.start()
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
        yield Dashboard(f"http://127.0.0.1:{port}", platform)
    finally:
        server.should_exit = True
        thread.join(15)
        background.stop()
        for instance_id in platform.runtime.instances():
            platform.runtime.stop(instance_id, 0.5)
        platform.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # an expected 401/404/422 shows as "Failed to load resource": only other console errors count
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.js_errors = errors
    try:
        yield page
    finally:
        context.close()
