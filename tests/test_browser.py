"""Real Chromium against the live server: sign in as each role and look at the landing page."""

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from tests.browser import SCREENSHOTS, sign_in
from tests.factories import make_customer, make_staff

pytestmark = pytest.mark.usefixtures("committed_db")


LANDING = {
    Role.SUPPORT: ["Customers", "Tickets", "Approvals", "Policy"],
    Role.FINANCE: ["Customers", "Tickets", "Approvals", "Audit log", "Policy"],
    Role.ADMIN: ["Customers", "Tickets", "Approvals", "Audit log", "Policy", "Staff", "API tokens"],
    Role.AUDITOR: ["Customers", "Tickets", "Approvals", "Audit log", "Policy", "Staff"],
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
