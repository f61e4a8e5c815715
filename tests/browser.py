"""Chromium for the browser tests (Debian's package where installed, else Playwright's own),
the `page` fixture every browser test uses, and signing in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from tests.factories import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str | None:
    """The system Chromium, or None to let Playwright use the browser it downloaded."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def page(live_server, request):
    """A Chromium page, started after the database is set up for the test.

    While Playwright's sync API runs, an event loop is running in this thread, and Django then
    keeps separate, context-local connections: they see the same committed data, and are
    closed here before Playwright stops.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        problems: list[str] = []
        page.on(
            "console",
            lambda message: (
                message.type == "error" and problems.append(f"{message.text} at {message.location}")
            ),
        )
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.problems = problems  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                SCREENSHOTS.mkdir(exist_ok=True)
                page.screenshot(
                    path=SCREENSHOTS / f"failed-{request.node.name}.png", full_page=True
                )
            connections.close_all()
            browser.close()


def sign_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
