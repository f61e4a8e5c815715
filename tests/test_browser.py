"""Real Chromium against the live server: sign in as each role and look at the landing page."""

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from accounts.roles import Role
from tests.browser import CHROMIUM_ARGS, SCREENSHOTS, chromium_executable
from tests.factories import PASSWORD, make_customer, make_staff

pytestmark = pytest.mark.usefixtures("committed_db")


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
            "console", lambda message: message.type == "error" and problems.append(message.text)
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


LANDING = {
    Role.SUPPORT: ["Customers", "Tickets", "Approvals", "Policy"],
    Role.FINANCE: ["Customers", "Tickets", "Approvals", "Audit log", "Policy"],
    Role.ADMIN: ["Customers", "Tickets", "Approvals", "Audit log", "Policy", "Staff", "API tokens"],
    Role.AUDITOR: ["Customers", "Tickets", "Approvals", "Audit log", "Policy"],
}


@pytest.mark.parametrize("role", list(LANDING))  # the agent role works through the API only
def test_each_role_signs_in_and_sees_its_landing_page(live_server, page, role):
    make_staff(role, username=role.value)

    sign_in(page, live_server, role.value)

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Hello, {role.value.title()}")
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(
        LANDING[role]
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"landing-{role.value}.png", full_page=True)
    assert page.problems == []  # no CSP violation, no script error


def test_search_results_appear_as_you_type(live_server, page):
    make_staff(Role.SUPPORT, username="support")
    make_customer(name="Pied Piper", handle="pied-piper", billing_email="billing@piedpiper.com")
    make_customer(name="Hooli", handle="hooli", billing_email="ap@hooli.xyz")
    sign_in(page, live_server, "support")
    page.goto(f"{live_server.url}/customers/")

    page.get_by_role("searchbox", name="Find a customer").press_sequentially("pied", delay=30)

    expect(page.locator("#results")).to_contain_text("Pied Piper")
    expect(page.locator("#results")).not_to_contain_text("Hooli")
    expect(page).to_have_url(f"{live_server.url}/customers/?q=pied")
    page.get_by_role("link", name="Pied Piper").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pied Piper")
    assert page.problems == []


def test_signing_out_returns_to_the_login_page(live_server, page):
    make_staff(Role.AUDITOR, username="auditor")
    sign_in(page, live_server, "auditor")

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/customers/")
