"""Browser tests: Debian's Chromium through Playwright, a page fixture that screenshots a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "browser"
#: Flags for a closed network and a root user (see the env notes): no sandbox, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def page(request, monkeypatch):
    """A fresh Chromium page; a failing test leaves a screenshot of where it stood."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"FAILED-{request.node.name}.png").unlink(missing_ok=True)
    from playwright import sync_api  # the dev extra; tests skip without it

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="de-DE")
        context.set_default_timeout(10_000)
        page = context.new_page()
        try:
            yield page
        finally:
            failed = getattr(request.node, "rep_call", None)
            if failed is not None and failed.failed:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
            context.close()
            browser.close()
            # ORM calls made while Playwright's loop ran may hold their own connection: release it.
            connections.close_all()
